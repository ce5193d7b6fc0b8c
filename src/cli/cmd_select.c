/* cli/cmd_select.c: `custseg select-k`: the K choice over fits made one per job (a Slurm job
 * array: jobs/segment_sweep.sbatch). Reads the JSON summaries of the `segment` runs in a
 * directory, checks they are fits of one input with one K each, applies the same rule as
 * `segment --k A..B` (cs_kselect_takes), and copies the chosen results file to --output.
 * Small work: rank 0 reads, every rank agrees on the outcome. */
#include "cli.h"

#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The options every fit of a sweep must share, as `segment --k A..B` gives every K the same:
 * first those that make the feature space, then those of the fit and its indices (the seed
 * also draws the silhouette's sample). Fits that differ in one are not comparable. */
static const char *const space_opts[] = {"features", "log1p", "feature-weights", "weight-column",
                                         "scale", "missing", "seed", "init", "n-init", "tol",
                                         "max-iter", "silhouette-sample"};
#define N_SPACE (sizeof space_opts / sizeof *space_opts)
#define N_FEATURE_SPACE 6 /* the first ones: the feature space */

typedef struct fit {
  cs_kindices_t ix;
  char results[4096];
  char summary[4096];
  char fingerprint[64];
  char hash[32];            /* kmeans.verification_hash */
  char file[128];           /* input.file: the store file's size and time ("" in older ones) */
  char space[N_SPACE][512]; /* the values of space_opts, "" when unset */
  char *names;              /* features.names joined by CS_LIST_SEP (malloc'ed; NULL in older
                               summaries) */
} fit_t;

static int by_k(const void *a, const void *b) {
  const fit_t *x = a, *y = b;
  return (x->ix.k > y->ix.k) - (x->ix.k < y->ix.k);
}

static double num(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* One summary file into f: 1; 0 when it is not a single-K segment summary (skipped); < 0,
 * with the error set, when it cannot be read or is not JSON. */
static int read_fit(const char *path, fit_t *f) {
  /* A summary that cannot be read or parsed is an error: skipped, it had let one damaged
   * file of a job array's sweep change the chosen K without a word. */
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return cs_error_set(CS_ENOENT, __FILE__, __LINE__, "--sweep: cannot open '%s': %s", path,
                        strerror(errno));
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  rewind(fp);
  char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
  int ok = text && fread(text, 1, (size_t)len, fp) == (size_t)len;
  fclose(fp);
  if (!ok) {
    free(text);
    return cs_error_set(CS_EDATA, __FILE__, __LINE__, "--sweep: cannot read '%s'", path);
  }
  text[len] = '\0';
  cJSON *s = cJSON_Parse(text);
  free(text);
  if (!s)
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "--sweep: '%s' is not JSON (a damaged summary?): repair or remove it, or "
                        "run that K again", path);
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(s, "command");
  const cJSON *km = cJSON_GetObjectItemCaseSensitive(s, "kmeans");
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(s, "config");
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "input");
  /* config.NAME is {"value": ..., "source": ...} */
  const cJSON *out =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "output"), "value");
  const cJSON *fpj = cJSON_GetObjectItemCaseSensitive(in, "fingerprint");
  ok = cJSON_IsString(cmd) && !strcmp(cmd->valuestring, "segment") && cJSON_IsObject(km) &&
       !cJSON_GetObjectItemCaseSensitive(km, "k_selection") && cJSON_IsString(out) &&
       cJSON_IsString(fpj);
  if (ok) {
    memset(f, 0, sizeof *f);
    f->ix.k = (int)num(km, "k");
    f->ix.inertia = num(km, "inertia");
    f->ix.calinski_harabasz = num(km, "calinski_harabasz");
    f->ix.davies_bouldin = num(km, "davies_bouldin");
    f->ix.silhouette = num(km, "silhouette");
    f->ix.min_share = num(km, "min_segment_share");
    f->ix.iterations = (int)num(km, "iterations");
    const cJSON *hj = cJSON_GetObjectItemCaseSensitive(km, "verification_hash");
    snprintf(f->hash, sizeof f->hash, "%s", cJSON_IsString(hj) ? hj->valuestring : "");
    /* The results path as the job typed it, from its own directory; when that is not found
     * from here, the file of that name next to the summary (the sweep's layout). */
    snprintf(f->results, sizeof f->results, "%s", out->valuestring);
    if (access(f->results, R_OK) != 0) {
      const char *slash = strrchr(path, '/'), *base = strrchr(out->valuestring, '/');
      snprintf(f->results, sizeof f->results, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path,
               base ? base + 1 : out->valuestring);
    }
    snprintf(f->summary, sizeof f->summary, "%s", path);
    for (size_t j = 0; j < N_SPACE; j++) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(cfg, space_opts[j]), "value");
      char *vt = v && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : NULL;
      snprintf(f->space[j], sizeof f->space[j], "%s", vt ? vt : "");
      free(vt);
    }
    snprintf(f->fingerprint, sizeof f->fingerprint, "%s", fpj->valuestring);
    const cJSON *fj = cJSON_GetObjectItemCaseSensitive(in, "file");
    snprintf(f->file, sizeof f->file, "%s", cJSON_IsString(fj) ? fj->valuestring : "");
    /* The features the fit used: --label-column, --holdout-column or a column added to the
     * store change them without any option above differing. */
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s, "features"), "names");
    f->names = NULL;
    if (cJSON_IsArray(names)) {
      size_t bytes = 1;
      const cJSON *e;
      cJSON_ArrayForEach(e, names) bytes += (cJSON_IsString(e) ? strlen(e->valuestring) : 0) + 1;
      f->names = calloc(bytes, 1);
      cJSON_ArrayForEach(e, names) {
        if (!f->names) break;
        if (e != names->child) strcat(f->names, CS_LIST_SEP_S);
        if (cJSON_IsString(e)) strcat(f->names, e->valuestring);
      }
    }
  }
  cJSON_Delete(s);
  return ok;
}

/* Rank 0: the fits of the sweep directory, sorted by K, checked; the index of the choice. */
static int collect(const cs_opts_t *o, const char *dir, double min_share, fit_t **fits, int *n,
                   int *pick) {
  int status = CS_OK, cap = 0;
  DIR *d = opendir(dir);
  CS_CHECK(d, CS_ENOENT, "--sweep '%s' is not a readable directory", dir);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      fit_t *grown = realloc(*fits, (size_t)cap * sizeof **fits);
      if (!grown) {
        closedir(d);
        CS_FAIL(CS_ENOMEM, "out of memory");
      }
      *fits = grown;
    }
    char path[4096 + 256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat sb; /* a directory named *.json is no summary */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) continue;
    const int got = read_fit(path, &(*fits)[*n]);
    if (got < 0) {
      closedir(d);
      status = got;
      goto fail; /* frees the fits read so far */
    }
    *n += got;
  }
  closedir(d);
  CS_CHECK(*n > 0, CS_EDATA, "--sweep '%s': no summaries of single-K segment runs (*.json)", dir);
  qsort(*fits, (size_t)*n, sizeof **fits, by_k);
  int ref = -1; /* the first fit whose summary lists its features */
  for (int i = 0; i < *n; i++) {
    const fit_t *f = &(*fits)[i];
    CS_CHECK(!strcmp(f->fingerprint, (*fits)[0].fingerprint), CS_EDATA,
             "%s: a fit of another input (fingerprint %s, not %s as %s)", f->summary,
             f->fingerprint, (*fits)[0].fingerprint, (*fits)[0].summary);
    /* The same customers with other values (next month's store under the same name): a sweep
     * directory used again mixed last month's fits into this month's choice. */
    for (int j = 0; j < i; j++)
      CS_CHECK(!f->file[0] || !(*fits)[j].file[0] || !strcmp(f->file, (*fits)[j].file), CS_EDATA,
               "%s and %s are fits of two versions of the store file (%s; %s): the sweep "
               "directory holds an earlier sweep's files; empty it and run the sweep again",
               (*fits)[j].summary, f->summary, (*fits)[j].file, f->file);
    CS_CHECK(i == 0 || f->ix.k != (*fits)[i - 1].ix.k, CS_EDATA, "%s and %s: two fits of K = %d",
             (*fits)[i - 1].summary, f->summary, f->ix.k);
    for (size_t j = 0; j < N_SPACE; j++)
      CS_CHECK(!strcmp(f->space[j], (*fits)[0].space[j]), CS_EDATA,
               "%s: a fit %s (%s %s, not %s as %s): the indices of the K values would not be "
               "comparable", f->summary,
               j < N_FEATURE_SPACE ? "in another feature space" : "made with other fit options",
               space_opts[j], f->space[j][0] ? f->space[j] : "unset",
               (*fits)[0].space[j][0] ? (*fits)[0].space[j] : "unset", (*fits)[0].summary);
    /* Against the first fit that lists its features (older summaries do not). */
    if (ref < 0 && f->names) ref = i;
    const char *a = f->names, *b = ref >= 0 ? (*fits)[ref].names : NULL;
    if (a && b && strcmp(a, b)) {
      char more[CS_FEATURE_NAME_MAX + 48], less[CS_FEATURE_NAME_MAX + 48];
      int nm = cs_list_missing(a, b, more, sizeof more), nl = cs_list_missing(b, a, less, sizeof less);
      CS_FAIL(CS_EDATA, "%s: a fit in another feature space (next to %s, its features%s%s%s%s%s): "
              "the indices of the K values would not be comparable", f->summary,
              (*fits)[ref].summary, nm ? " also have " : "", nm ? more : "",
              nm && nl ? " and" : "", nl ? " lack " : "",
              nl ? less : (nm ? "" : " are in another order"));
    }
  }
  /* Nothing of the sweep is written over (the next select-k reads it again). */
  static const char *const outs[] = {"output", "summary"};
  for (int i = 0; i < *n; i++)
    for (size_t j = 0; j < 2; j++) {
      const char *p = cs_opt_str(o, outs[j]);
      CS_CHECK(!p || (!cs_same_file(p, (*fits)[i].summary) && !cs_same_file(p, (*fits)[i].results)),
               CS_EUSAGE, "--%s '%s' is a file of the sweep (%s); write it elsewhere", outs[j], p,
               cs_same_file(p, (*fits)[i].summary) ? (*fits)[i].summary : (*fits)[i].results);
    }
  *pick = -1;
  for (int i = 0; i < *n; i++)
    if (cs_kselect_takes(*pick < 0 ? NULL : &(*fits)[*pick].ix, &(*fits)[i].ix, min_share)) *pick = i;
  if (*pick < 0) {
    cs_log_warn("no K of the sweep has every segment above %.2f%% of customers; using the "
                "smallest, K = %d", 100 * min_share, (*fits)[0].ix.k);
    *pick = 0;
  }
  cs_kselect_warn(&(*fits)[*pick].ix, (*fits)[0].ix.k);
fail:
  for (int i = 0; i < *n; i++) { /* only compared here; the fits are broadcast without them */
    free((*fits)[i].names);
    (*fits)[i].names = NULL;
  }
  return status;
}

int cs_cmd_select_k(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK;
  fit_t *fits = NULL;
  int n = 0, pick = -1;
  cJSON *sum = NULL;
  const char *dir = cs_opt_str(o, "sweep"), *output = cs_opt_str(o, "output");
  double min_share = cs_opt_real(o, "min-segment-share");
  CS_CHECK(dir, CS_EUSAGE, "select-k needs --sweep DIR (the summaries of the sweep's fits)");
  CS_CHECK(output, CS_EUSAGE, "select-k needs --output RESULTS");
  CS_CHECK(min_share >= 0 && min_share < 1, CS_EUSAGE, "--min-segment-share must be in [0, 1), got %s",
           cs_opt_str(o, "min-segment-share"));
  CS_TRY(cs_io_check_writable(ctx, output, "output"));
  if (cs_opt_str(o, "summary")) CS_TRY(cs_io_check_writable(ctx, cs_opt_str(o, "summary"), "summary"));
  if (ctx->rank == 0) status = collect(o, dir, min_share, &fits, &n, &pick);
  CS_TRY(cs_par_agree(ctx, status));
  int64_t meta[2] = {n, pick};
  CS_TRY(cs_par_bcast(ctx, meta, sizeof meta, 0));
  if (ctx->rank != 0) fits = calloc((size_t)meta[0], sizeof *fits);
  CS_TRY(cs_par_agree(ctx, fits ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  n = (int)meta[0];
  pick = (int)meta[1];
  CS_TRY(cs_par_bcast(ctx, fits, (size_t)n * sizeof *fits, 0));
  for (int i = 0; i < n; i++)
    cs_log_info("select-k: K = %2d  inertia %.6g  CH %.6g  DB %.4f  silhouette %.4f  smallest "
                "segment %.2f%%  (%s)%s", fits[i].ix.k, fits[i].ix.inertia,
                fits[i].ix.calinski_harabasz, fits[i].ix.davies_bouldin, fits[i].ix.silhouette,
                100 * fits[i].ix.min_share, fits[i].results, i == pick ? "  <- chosen" : "");
  /* The chosen results file is the fit its summary describes (same input, same K, same
   * labels: a fit run again into the same file without its summary had been copied). */
  char fp[64] = "", hash[32] = "";
  int64_t k_file = -1;
  CS_TRY(cs_io_read_attr_str(ctx, fits[pick].results, "/run", "input_fingerprint", fp, sizeof fp));
  CS_TRY(cs_io_read_attr_str(ctx, fits[pick].results, "/segments", "verification_hash", hash,
                             sizeof hash));
  CS_TRY(cs_io_dataset_length(ctx, fits[pick].results, "/segments/sizes", &k_file));
  CS_CHECK(!strcmp(fp, fits[pick].fingerprint) && k_file == fits[pick].ix.k &&
               (!fits[pick].hash[0] || !strcmp(hash, fits[pick].hash)),
           CS_EDATA,
           "%s is not the fit %s describes (input fingerprint %s, K = %lld and verification "
           "hash %s, not %s, K = %d and %s): run that K again with its summary",
           fits[pick].results, fits[pick].summary, fp, (long long)k_file, hash,
           fits[pick].fingerprint, fits[pick].ix.k, fits[pick].hash);
  CS_TRY(cs_io_copy_file(ctx, fits[pick].results, output));
  cs_log_info("select-k: recommended K = %d: %s copied to %s", fits[pick].ix.k,
              fits[pick].results, output);
  sum = cs_summary_new(ctx, o);
  cJSON *sk = cJSON_AddObjectToObject(sum, "select_k");
  cJSON_AddNumberToObject(sk, "recommended_k", fits[pick].ix.k);
  cJSON_AddStringToObject(sk, "chosen_results", fits[pick].results);
  cJSON_AddStringToObject(sk, "input_fingerprint", fits[pick].fingerprint);
  cJSON *tab = cJSON_AddArrayToObject(sk, "k_selection");
  for (int i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "k", fits[i].ix.k);
    cJSON_AddNumberToObject(e, "inertia", fits[i].ix.inertia);
    cJSON_AddNumberToObject(e, "calinski_harabasz", fits[i].ix.calinski_harabasz);
    cJSON_AddNumberToObject(e, "davies_bouldin", fits[i].ix.davies_bouldin);
    cJSON_AddNumberToObject(e, "silhouette", fits[i].ix.silhouette);
    cJSON_AddNumberToObject(e, "min_segment_share", fits[i].ix.min_share);
    cJSON_AddStringToObject(e, "results", fits[i].results);
    cJSON_AddItemToArray(tab, e);
  }
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  cJSON_Delete(sum);
  free(fits);
  return status;
}
