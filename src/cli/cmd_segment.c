/* cli/cmd_segment.c: `custseg segment`: store -> features -> k-means -> /segments; with
 * --previous, renumbered after the previous run and compared with it (docs/segments.md). */
#include "cli.h"

#include "custseg/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --init-centroids FILE[:DATASET] -> K x D standardized centroids. Collective. */
static int load_init(cs_ctx_t *ctx, const char *spec, const cs_features_t *f, int k,
                     double **out) {
  int status = CS_OK;
  char path[4096], units[64], ignored[2], what[4200], *names = NULL;
  const char *dataset = "/segments/centroids_standardized";
  snprintf(path, sizeof path, "%s", spec);
  char *colon = strrchr(path, ':');
  if (colon && colon[1] == '/') {
    *colon = '\0';
    dataset = colon + 1 - path + spec;
  }
  double *c = NULL;
  int64_t rows = 0, cols = 0;
  CS_TRY(cs_io_read_matrix(ctx, path, dataset, &c, &rows, &cols, units, sizeof units, ignored,
                           sizeof ignored));
  CS_TRY(cs_io_read_attr_list(ctx, path, dataset, "features", &names));
  CS_CHECK(rows == k && cols == f->d, CS_EUSAGE,
           "--init-centroids %s:%s is %lld x %lld, but --k %d with %d features needs %d x %d",
           path, dataset, (long long)rows, (long long)cols, k, f->d, k, f->d);
  snprintf(what, sizeof what, "--init-centroids %s:%s", path, dataset);
  CS_TRY(cs_segment_centroids_in(f, c, k, units, names, what));
  *out = c;
  free(names);
  return CS_OK;
fail:
  free(c);
  free(names);
  return status;
}

/* This rank's customer ids, read once (the migration and the results file both use them). */
static int read_ids(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, int64_t **ids) {
  int status = CS_OK;
  if (*ids) return CS_OK;
  *ids = cs_alloc(cs_bytes(part->n_local ? part->n_local : 1, sizeof **ids), "customer ids");
  CS_TRY(cs_par_agree(ctx, *ids ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_store_read(store, "customer_id", part->offset, part->n_local, CS_DT_I64, *ids));
fail:
  return status;
}

/* The dry pass of `run`: the files a fit would start from (--previous, --init-centroids)
 * against the features' layout, reading no rows of the store. Collective. */
/* The message for a --previous run's K (the default K) beyond the n customers. */
static const char *prev_k_msg(const char *previous, long long k, int64_t n) {
  static char msg[4096 + 160];
  snprintf(msg, sizeof msg, "--previous %s has K = %lld segments, more than the number of "
           "customers (%lld); give --k", previous, k, (long long)n);
  return msg;
}

/* The error for --k K_LO..K_HI beyond the n_used customers (of the store's n_store). */
static int k_too_large(long long k_lo, long long k_hi, int64_t n_used, int64_t n_store) {
  char kk[48], used[160] = "";
  if (k_hi > k_lo)
    snprintf(kk, sizeof kk, "--k %lld..%lld: K = %lld", k_lo, k_hi, k_hi);
  else
    snprintf(kk, sizeof kk, "--k %lld", k_hi);
  if (n_used < n_store)
    snprintf(used, sizeof used, " used, of the store's %lld: --missing drop left out those "
             "with a missing value", (long long)n_store);
  return cs_error_set(CS_EDATA, __FILE__, __LINE__, "%s is larger than the number of customers "
                      "(%lld%s)", kk, (long long)n_used, used);
}

static int check_start(cs_ctx_t *ctx, const cs_stage_t *st, const cs_feature_spec_t *spec,
                       cs_previous_t *prev, const char *init, int k) {
  int status = CS_OK;
  cs_features_t *lf = NULL;
  double *c = NULL;
  CS_TRY(cs_par_agree(ctx, cs_features_check(st->store, spec, &lf)));
  /* Names, count and the values' checks (a weight-0 feature's NaN), with centre 0 and spread
   * 1: the same refusals as the stage's, on a copy of the centroids. */
  if (prev) CS_TRY(cs_previous_standardize(prev, lf));
  if (init) CS_TRY(load_init(ctx, init, lf, k, &c));
fail:
  free(c);
  cs_features_free(lf);
  return status;
}

/* Whether option `name` was given (flag or config file) rather than left at its default. */
static int given(const cs_opts_t *o, const char *name) {
  for (int i = 0; i < cs_n_optdefs; i++)
    if (!strcmp(cs_optdefs[i].name, name)) return o->source[i] != CS_SRC_DEFAULT;
  return 0;
}

/* The log lines and the summary's `migration` object of a run with --previous. Local. */
static void log_migration(const cs_migration_t *mig, const cs_kmeans_result_t *r,
                          const char *previous) {
  char list[2][256];
  for (int w = 0; w < 2; w++) {
    int n = w ? mig->n_vanished : mig->n_appeared;
    const int *v = w ? mig->vanished : mig->appeared;
    size_t used = 0;
    list[w][0] = '\0';
    int i = 0;
    for (; i < n && used + 32 < sizeof list[w]; i++)
      used += (size_t)snprintf(list[w] + used, sizeof list[w] - used, "%s%d", i ? "," : "", v[i]);
    if (i < n) /* the rest are in the results file (/segments/previous) */
      snprintf(list[w] + used, sizeof list[w] - used, ",... (%d in all)", n);
    if (!n) snprintf(list[w], sizeof list[w], "none");
  }
  cs_log_info("previous: %d segments matched to %d previous ones (total centroid distance "
              "%.4g, standardized); appeared: %s; vanished: %s",
              mig->kn - mig->n_appeared, mig->kp, mig->match_cost, list[0], list[1]);
  char unassigned[2][96] = {"", ""};
  const int64_t un[2] = {mig->added_unassigned, mig->departed_unassigned};
  const char *const where[2] = {"in the previous run", "in this run"};
  for (int w = 0; w < 2; w++)
    if (un[w])
      snprintf(unassigned[w], sizeof unassigned[w], " (%lld of them without a segment %s)",
               (long long)un[w], where[w]);
  if (mig->both)
    cs_log_info("migration: %lld customers in both runs, %.2f%% of them in the segment matched "
                "to their previous one; %lld new%s, %lld departed%s; adjusted Rand index %.6f",
                (long long)mig->both, 100.0 * (double)mig->stayed / (double)mig->both,
                (long long)mig->added, unassigned[0], (long long)mig->departed, unassigned[1],
                mig->ari);
  else if (un[0] || un[1]) /* shared ids, but none with a segment in both runs */
    cs_log_warn("--previous %s: no customer has a segment in both runs (%lld new%s, %lld "
                "departed%s), so none can be followed between them, and its segment ids are "
                "kept on the centroids alone", previous, (long long)mig->added, unassigned[0],
                (long long)mig->departed, unassigned[1]);
  else /* another store's results, or ids renumbered since: nothing can be followed */
    cs_log_warn("--previous %s shares no customer_id with this store (%lld customers with a "
                "segment there, %lld here): no customer can be followed between the runs, and "
                "its segment ids are kept on the centroids alone; is it the results of this "
                "customer base?", previous, (long long)mig->departed, (long long)mig->added);
  int64_t ld = mig->kn + 1;
  for (int q = 0; q < mig->kn; q++) {
    int p = mig->previous_id[q];
    char line[256];
    if (p >= 0)
      snprintf(line, sizeof line, "previous %d, %lld stayed, %lld from other segments, %lld new; "
               "centroid drift %.4g (original units), %.4g (standardized)", p,
               (long long)mig->matrix[(int64_t)p * ld + q],
               (long long)(r->sizes[q] - mig->matrix[(int64_t)p * ld + q] -
                           mig->matrix[(int64_t)mig->kp * ld + q]),
               (long long)mig->matrix[(int64_t)mig->kp * ld + q], mig->drift[q],
               mig->drift_standardized[q]);
    else
      snprintf(line, sizeof line, "appeared, %lld new", (long long)mig->matrix[(int64_t)mig->kp * ld + q]);
    if (mig->kn <= 32)
      cs_log_info("migration: segment %d (%lld customers): %s", q, (long long)r->sizes[q], line);
    else
      cs_log_debug("migration: segment %d (%lld customers): %s", q, (long long)r->sizes[q], line);
  }
  for (int q = 0; q < mig->kn; q++) {
    int to, p = mig->previous_id[q];
    if (!cs_migration_weak(mig, q, &to)) continue;
    int64_t rem = 0, ret = 0, most = 0;
    int from = -1; /* the previous segment most of q's returning customers came from */
    for (int j = 0; j < mig->kn; j++) rem += mig->matrix[(int64_t)p * ld + j];
    for (int i = 0; i < mig->kp; i++) {
      const int64_t x = mig->matrix[(int64_t)i * ld + q];
      ret += x;
      if (x > most) most = x, from = i;
    }
    if (rem == 0) {
      cs_log_warn("migration: segment %d keeps the id of previous segment %d on its centroid, "
                  "but none of that segment's customers is present any more, and its %lld "
                  "customers present last time came from other segments (%lld from previous "
                  "segment %d): it may be another group under the same id; compare the personas",
                  q, p, (long long)ret, (long long)most, from);
      continue;
    }
    cs_log_warn("migration: segment %d keeps the id of previous segment %d on its centroid, but "
                "holds %lld of that segment's %lld customers still present (the most of the "
                "others went to segment %d), and of its own customers present last time (%lld), only those "
                "came from it: it may be another group under the same id; compare the personas",
                q, p, (long long)mig->matrix[(int64_t)p * ld + q], (long long)rem, to,
                (long long)ret);
  }
}

static void summary_migration(cJSON *sum, const cs_previous_t *prev, const cs_migration_t *mig) {
  cJSON *mj = cJSON_AddObjectToObject(sum, "migration");
  cJSON_AddStringToObject(mj, "previous", prev->path);
  cJSON_AddStringToObject(mj, "previous_verification_hash", prev->verification_hash);
  cJSON_AddNumberToObject(mj, "previous_k", mig->kp);
  cJSON_AddNumberToObject(mj, "k", mig->kn);
  cJSON_AddBoolToObject(mj, "warm_start", mig->warm_start);
  cJSON_AddNumberToObject(mj, "customers_both", (double)mig->both);
  cJSON_AddNumberToObject(mj, "customers_new", (double)mig->added);
  cJSON_AddNumberToObject(mj, "customers_departed", (double)mig->departed);
  cJSON_AddNumberToObject(mj, "customers_departed_unassigned", (double)mig->departed_unassigned);
  cJSON_AddNumberToObject(mj, "customers_new_unassigned", (double)mig->added_unassigned);
  cJSON_AddNumberToObject(mj, "customers_stayed", (double)mig->stayed);
  cJSON_AddNumberToObject(mj, "adjusted_rand_index", mig->ari);
  cJSON_AddNumberToObject(mj, "match_cost", mig->match_cost);
  cJSON *a = cJSON_AddArrayToObject(mj, "previous_id");
  cJSON *dr = cJSON_AddArrayToObject(mj, "drift");
  cJSON *ds = cJSON_AddArrayToObject(mj, "drift_standardized");
  for (int q = 0; q < mig->kn; q++) {
    cJSON_AddItemToArray(a, cJSON_CreateNumber(mig->previous_id[q]));
    cJSON_AddItemToArray(dr, cJSON_CreateNumber(mig->drift[q]));
    cJSON_AddItemToArray(ds, cJSON_CreateNumber(mig->drift_standardized[q]));
  }
  a = cJSON_AddArrayToObject(mj, "appeared");
  for (int i = 0; i < mig->n_appeared; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(mig->appeared[i]));
  a = cJSON_AddArrayToObject(mj, "vanished");
  for (int i = 0; i < mig->n_vanished; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(mig->vanished[i]));
  a = cJSON_AddArrayToObject(mj, "weak");
  for (int q = 0, to; q < mig->kn; q++)
    if (cs_migration_weak(mig, q, &to)) cJSON_AddItemToArray(a, cJSON_CreateNumber(q));
  cJSON *mx = cJSON_AddArrayToObject(mj, "matrix");
  for (int p = 0; p <= mig->kp; p++) {
    cJSON *row = cJSON_CreateArray();
    for (int q = 0; q <= mig->kn; q++)
      cJSON_AddItemToArray(row, cJSON_CreateNumber((double)mig->matrix[(int64_t)p * (mig->kn + 1) + q]));
    cJSON_AddItemToArray(mx, row);
  }
}

/* Log lines of the personas (every segment up to K = 32, else at debug level). Local. */
static void log_personas(const cs_personas_t *ps, const cs_kmeans_result_t *r) {
  for (int q = 0; q < ps->k; q++) {
    char line[CS_PERSONA_LABEL_MAX + 256];
    size_t used = (size_t)snprintf(line, sizeof line, "%s (", ps->labels[q]);
    for (int t = 0; t < CS_PERSONA_TOP && used < sizeof line; t++) {
      int j = ps->top[(int64_t)q * CS_PERSONA_TOP + t];
      if (j < 0) break;
      used += (size_t)snprintf(line + used, sizeof line - used, "%s%s %+.2f sd", t ? ", " : "",
                               ps->names[j], ps->zdiff[(int64_t)q * ps->p + j]);
    }
    if (used < sizeof line) snprintf(line + used, sizeof line - used, ")");
    if (ps->k <= 32)
      cs_log_info("persona: segment %d (%lld customers): %s", q, (long long)r->sizes[q], line);
    else
      cs_log_debug("persona: segment %d (%lld customers): %s", q, (long long)r->sizes[q], line);
  }
}

/* The summary's `personas`: per segment its label and top columns. */
static void summary_personas(cJSON *sum, const cs_personas_t *ps) {
  cJSON *a = cJSON_AddArrayToObject(sum, "personas");
  for (int q = 0; q < ps->k; q++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "segment", q);
    cJSON_AddStringToObject(e, "label", ps->labels[q]);
    cJSON *top = cJSON_AddArrayToObject(e, "top");
    for (int t = 0; t < CS_PERSONA_TOP; t++) {
      int j = ps->top[(int64_t)q * CS_PERSONA_TOP + t];
      if (j < 0) break;
      int64_t c = (int64_t)q * ps->p + j;
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "column", ps->names[j]);
      cJSON_AddNumberToObject(x, "zdiff", ps->zdiff[c]);
      cJSON_AddNumberToObject(x, "mean", ps->mean[c]);
      if (ps->level[j] < 0) cJSON_AddNumberToObject(x, "median", ps->median[c]);
      cJSON_AddNumberToObject(x, "population_mean", ps->population_mean[j]);
      cJSON_AddItemToArray(top, x);
    }
    cJSON_AddItemToArray(a, e);
  }
}

/* A previous run fitted with other feature settings (scale, weights, weight column) is
 * compared in another feature space: the ids are still matched, but the migration mixes the
 * change of settings with the change of customers. Warned of, not refused (a deliberate
 * change of settings keeps the ids this way). Collective. */
static int warn_previous_settings(cs_ctx_t *ctx, const char *previous, const cs_features_t *f) {
  static const char *const scales[] = {"zscore", "robust", "none"};
  int status = CS_OK, has = 0;
  cs_features_t *pf = NULL;
  CS_TRY(cs_io_object_exists(ctx, previous, "/segments/feature_stats", &has));
  if (!has) return CS_OK; /* a file of an older version: its names were checked */
  CS_TRY(cs_features_read(ctx, previous, "/segments/feature_stats", &pf));
  char what[1024] = "";
  size_t o = 0;
  if (pf->scale != f->scale)
    o += (size_t)snprintf(what + o, sizeof what - o, "--scale %s there, %s here",
                          scales[pf->scale], scales[f->scale]);
  for (int c = 0; c < f->n_cols && o < sizeof what; c++)
    for (int e = 0; e < pf->n_cols && o < sizeof what; e++)
      if (!strcmp(f->cols[c].name, pf->cols[e].name) && f->cols[c].weight != pf->cols[e].weight)
        o += (size_t)snprintf(what + o, sizeof what - o, "%sweight of '%s' %g there, %g here",
                              o ? "; " : "", f->cols[c].name, pf->cols[e].weight,
                              f->cols[c].weight);
  if (o < sizeof what && strcmp(pf->weight_column, f->weight_column))
    snprintf(what + o, sizeof what - o, "%s--weight-column '%s' there, '%s' here", o ? "; " : "",
             pf->weight_column, f->weight_column);
  if (what[0] && ctx->rank == 0)
    cs_log_warn("--previous %s was fitted with other feature settings (%s): its segments are "
                "matched and compared across that change as well as the customers'", previous,
                what);
  /* The data's own distribution, column by column (the rule of churn score's drift): spend
   * recorded in cents instead of dollars moves every centroid although no customer moved. */
  char moved[1024] = "";
  size_t mo = 0;
  for (int c = 0; c < f->n_cols && mo < sizeof moved; c++)
    for (int e = 0; e < pf->n_cols && mo < sizeof moved; e++) {
      const cs_feature_col_t *a = &pf->cols[e], *b = &f->cols[c];
      if (strcmp(a->name, b->name) || a->n_levels || b->n_levels || a->log1p != b->log1p ||
          !(a->std > 0) || !isfinite(a->mean) || !isfinite(b->mean) || !isfinite(b->std))
        continue;
      const double shift = (b->mean - a->mean) / a->std, ratio = b->std / a->std;
      if (fabs(shift) > 1 || ratio > 4 || ratio < 0.25)
        mo += (size_t)snprintf(moved + mo, sizeof moved - mo, "%s'%s' mean %.3g there, %.3g here "
                               "(%.3g of its standard deviations), spread %.3g times",
                               mo ? "; " : "", b->name, a->mean, b->mean, shift, ratio);
    }
  if (mo >= sizeof moved) memcpy(moved + sizeof moved - 5, " ...", 5); /* cut: say so */
  if (moved[0] && ctx->rank == 0)
    cs_log_warn("--previous %s: features have moved since that run: %s (new units or a new "
                "source? its segments are matched and compared across that change)",
                previous, moved);
fail:
  cs_features_free(pf);
  return status;
}

/* The personas CSV, made in memory on rank 0 and published atomically by io. Collective. */
static int publish_personas_csv(cs_ctx_t *ctx, const char *path, const cs_personas_t *ps,
                                const int64_t *sizes) {
  char *text = NULL;
  size_t len = 0;
  int local = CS_OK;
  if (ctx->rank == 0) {
    FILE *fp = open_memstream(&text, &len);
    int ok = fp && cs_segment_personas_csv(fp, ps, sizes) == 0;
    if (fp && fclose(fp) != 0) ok = 0;
    if (!ok)
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory for the personas CSV");
  }
  int status = cs_par_agree(ctx, local);
  if (status == CS_OK) status = cs_io_publish_text(ctx, path, text, len, "personas CSV");
  free(text);
  return status;
}

const char *cs_segment_resume_hint = NULL;
int (*cs_segment_checkpointed)(cs_ctx_t *ctx) = NULL;

int cs_cmd_segment(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0, csv_written = 0;
  cs_stage_t st = {0};
  cs_personas_t ps = {0};
  cs_features_t *f = NULL;
  cs_matrix_t m = {0};
  cs_kmeans_result_t r = {0};
  cs_out_t *out = NULL;
  double *init = NULL;
  cs_kindices_t *table = NULL;
  cJSON *sum = NULL;
  cs_previous_t prev = {0};
  cs_migration_t mig = {0};
  int64_t *ids = NULL;
  char ckpath[4096];
  cs_kmeans_state_t rstate = {0};
  const char *output = cs_opt_str(o, "output");
  const char *previous = cs_opt_str(o, "previous");
  const char *algorithm = cs_opt_str(o, "algorithm");
  const char *personas_csv = cs_opt_str(o, "personas-csv");
  cs_feature_spec_t spec;
  CS_TRY(cs_stage_feature_spec(o, &spec));
  static const char *const algo_names[] = {"lloyd", "hamerly", "yinyang", "auto"};
  int algo_i = -1;
  for (int a = 0; a < 4; a++)
    if (!strcmp(algorithm, algo_names[a])) algo_i = a;
  CS_CHECK(algo_i >= 0, CS_EUSAGE, "--algorithm must be lloyd, hamerly, yinyang or auto, not '%s'",
           algorithm);
  cs_algo_t algo = (cs_algo_t)algo_i;
  long long k_lo = 0, k_hi = 0;
  {
    const char *ks = cs_opt_str(o, "k");
    int used = 0;
    if (sscanf(ks, "%lld..%lld%n", &k_lo, &k_hi, &used) == 2 && ks[used] == '\0') {
      CS_CHECK(k_lo >= 1 && k_hi >= k_lo && k_hi <= 1000, CS_EUSAGE,
               "--k range must be A..B with 1 <= A <= B <= 1000, got '%s'", ks);
    } else if (sscanf(ks, "%lld%n", &k_lo, &used) == 1 && ks[used] == '\0') {
      k_hi = k_lo;
    } else {
      CS_FAIL(CS_EUSAGE, "--k must be a number or a range A..B, not '%s'", ks);
    }
  }
  int64_t k = k_hi;
  CS_CHECK(k_lo >= 1 && k <= 100000, CS_EUSAGE, "--k must be in 1..100000, got %s",
           cs_opt_str(o, "k"));
  double min_share = cs_opt_real(o, "min-segment-share");
  CS_CHECK(min_share >= 0 && min_share < 1, CS_EUSAGE,
           "--min-segment-share must be in [0, 1), got %g", min_share);
  const char *init_word = cs_opt_str(o, "init");
  cs_init_t init_kind = !strcmp(init_word, "kmeans++")                                  ? CS_INIT_KMEANSPP
                        : !strcmp(init_word, "kmeans||") || !strcmp(init_word, "kmeans-par") ? CS_INIT_PARALLEL
                        : !strcmp(init_word, "auto")                                    ? CS_INIT_AUTO
                                                                                        : -1;
  CS_CHECK((int)init_kind >= 0, CS_EUSAGE, "--init must be auto, kmeans++ or kmeans|| (alias "
           "kmeans-par), not '%s'", init_word);
  CS_CHECK(cs_opt_real(o, "tol") >= 0, CS_EUSAGE, "--tol must be >= 0, got %s",
           cs_opt_str(o, "tol"));
  /* Every option checked before any data is read. */
  CS_CHECK(!(cs_opt_str(o, "init-centroids") && k_hi > k_lo), CS_EUSAGE,
           "--init-centroids needs a single --k, not a range");
  CS_CHECK(!(previous && cs_opt_str(o, "init-centroids")), CS_EUSAGE,
           "--previous starts from the previous run's centroids: give --previous or "
           "--init-centroids, not both");
  CS_CHECK(!previous || k_hi <= CS_PREVIOUS_MAX_K, CS_EUSAGE,
           "--previous matches at most %d segments, not --k %lld", CS_PREVIOUS_MAX_K,
           (long long)k_hi);
  const char *resume = cs_opt_str(o, "resume");
  CS_CHECK(!(resume && k_hi > k_lo), CS_EUSAGE, "--resume continues a single-K fit, not a --k range");
  const char *mismatch = cs_opt_str(o, "resume-mismatch");
  CS_CHECK(!strcmp(mismatch, "error") || !strcmp(mismatch, "restart"), CS_EUSAGE,
           "--resume-mismatch must be error or restart, not '%s'", mismatch);
  CS_CHECK(cs_opt_real(o, "checkpoint-every") >= 0, CS_EUSAGE, "--checkpoint-every must be >= 0, got %s",
           cs_opt_str(o, "checkpoint-every"));
  if (cs_opt_str(o, "checkpoint"))
    snprintf(ckpath, sizeof ckpath, "%s", cs_opt_str(o, "checkpoint"));
  else { /* checked as the options' files are when parsed: a successful fit removes it */
    snprintf(ckpath, sizeof ckpath, "%s.ckpt", output);
    if (k_lo == k_hi) /* (a K range neither writes nor removes it) */
      CS_TRY(cs_par_agree(ctx, cs_opts_check_derived(
                                 o, ckpath, "checkpoint (--output with '.ckpt' added; name "
                                            "another with --checkpoint)")));
  }
  /* The output first: the default checkpoint lives beside it, and its message names the
   * file the user gave. */
  if (output) CS_TRY(cs_io_check_writable(ctx, output, "output"));
  CS_TRY(cs_io_check_writable(ctx, ckpath, cs_opt_str(o, "checkpoint")
                                               ? "checkpoint"
                                               : "checkpoint (--output with '.ckpt' added; "
                                                 "name another with --checkpoint)"));
  CS_TRY(cs_stage_open(ctx, o, &st));
  if (personas_csv) CS_TRY(cs_io_check_writable(ctx, personas_csv, "personas CSV"));
  if (previous) { /* before the features are read, so a bad file fails fast */
    cs_timer_start(&ctx->timers, "read");
    CS_TRY(cs_previous_read(ctx, previous, &prev));
    if (!ctx->check_only) CS_TRY(cs_previous_check(ctx, &prev)); /* reads every id and label */
    cs_timer_stop(&ctx->timers, "read");
  }
  CS_TRY(cs_stage_rfm(ctx, &st, cs_opt_str(o, "features")));
  /* run's dry pass: K beyond the store's customers is known without reading them (found
   * later, run had already cleared the last run's results from --output-dir) */
  if (ctx->check_only && previous && !given(o, "k")) /* K is the previous run's */
    CS_CHECK(prev.k <= st.store->n, CS_EDATA, "%s", prev_k_msg(previous, prev.k, st.store->n));
  else if (ctx->check_only && k_hi > st.store->n)
    CS_TRY(k_too_large(k_lo, k_hi, st.store->n, st.store->n));
  if (ctx->check_only)
    CS_TRY(check_start(ctx, &st, &spec, previous ? &prev : NULL, cs_opt_str(o, "init-centroids"),
                       (int)k));
  CS_TRY(cs_stage_checked(ctx, &st, &spec));
  cs_store_t *store = st.store;
  cs_part_t part = st.part;
  if (ctx->rank == 0) cs_features_warn_wide(store, &spec, part.n_local, "segment");
  cs_timer_start(&ctx->timers, "features");
  CS_TRY(cs_features_build(ctx, store, &part, &spec, NULL, &f, &m));
  cs_timer_stop(&ctx->timers, "features");
  /* Uncentred columns far from 0 lose their differences in the float32 distances: a review
   * measured 0.08% of rows off their nearest centroid at mean 100 sd (zscore centres). */
  for (int i = 0; spec.scale == CS_SCALE_NONE && i < f->n_cols; i++) {
    const cs_feature_col_t *c = &f->cols[i];
    if (!c->n_levels && c->std > 0 && fabs(c->mean) > 30 * c->std) {
      cs_log_warn("--scale none: feature '%s' has mean %g and standard deviation %g; so far "
                  "from 0 the float32 distances lose precision and some customers may not get "
                  "their nearest segment (--scale zscore centres the features)", c->name,
                  c->mean, c->std);
      break;
    }
  }
  if (previous) {
    CS_TRY(cs_par_agree(ctx, cs_previous_standardize(&prev, f)));
    CS_TRY(warn_previous_settings(ctx, previous, f));
    if (!given(o, "k")) { /* by default, the previous run's K */
      k_lo = k_hi = k = prev.k;
      CS_CHECK(k <= f->n_used, CS_EDATA, "%s", prev_k_msg(previous, k, f->n_used));
      char kv[24];
      snprintf(kv, sizeof kv, "%lld", (long long)k);
      CS_TRY(cs_opts_set(o, "k", kv, CS_SRC_PREVIOUS)); /* recorded as used (summary, /run) */
    }
  }
  char ktxt[48];
  snprintf(ktxt, sizeof ktxt, k_lo == k_hi ? "%lld" : "%lld..%lld", k_lo, k_hi);
  cs_log_info("segment: %lld customers x %d features (%lld used), K = %s", (long long)store->n,
              f->d, (long long)f->n_used, ktxt);

  cs_kmeans_opts_t ko = {.k = (int)k,
                         .n_init = (int)cs_opt_int(o, "n-init"),
                         .max_iter = (int)cs_opt_int(o, "max-iter"),
                         .tol = cs_opt_real(o, "tol"),
                         .seed = (uint64_t)cs_opt_int(o, "seed"),
                         .init = init_kind,
                         .algorithm = algo};
  if (cs_opt_str(o, "init-centroids")) {
    CS_TRY(load_init(ctx, cs_opt_str(o, "init-centroids"), f, (int)k, &init));
    ko.init = CS_INIT_GIVEN;
    ko.init_centroids = init;
  } else if (previous && k_lo == k_hi && k == prev.k && !given(o, "init")) {
    /* Warm start: the previous centroids, re-standardized with this run's statistics. */
    ko.init = CS_INIT_GIVEN;
    ko.init_centroids = prev.standardized;
    mig.warm_start = 1;
  }
  if (cs_opt_str(o, "init-centroids") && given(o, "init")) /* it had been recorded as used */
    cs_log_warn("--init %s is ignored: the fit starts from --init-centroids %s",
                cs_opt_str(o, "init"), cs_opt_str(o, "init-centroids"));
  if (ko.init == CS_INIT_GIVEN && ko.n_init > 1 && given(o, "n-init"))
    cs_log_warn("--n-init %d is ignored: the fit has one start, %s", ko.n_init,
                mig.warm_start ? "the previous run's centroids (--previous; --init kmeans++ "
                                 "starts afresh, with restarts)"
                               : "--init-centroids");
  if (previous)
    cs_log_info("previous: %s: K = %d, %s%s%s", prev.path, prev.k,
                prev.verification_hash[0] ? "hash " : "no verification hash",
                prev.verification_hash,
                mig.warm_start      ? "; warm start from its centroids (original units)"
                : k_lo != k_hi      ? "; a K range here, so no warm start"
                : k != prev.k       ? "; another K here, so no warm start"
                                    : "; --init given, so no warm start");
  int n_k = (int)(k_hi - k_lo + 1);
  /* Checkpoints (single K): on SIGTERM/SIGUSR1, and every --checkpoint-every seconds. */
  cs_ckpt_t ck = {.ctx = ctx, .path = ckpath, .opts = o, .written = cs_segment_checkpointed};
  char note[sizeof ckpath * 2 + 64];
  snprintf(ck.fingerprint, sizeof ck.fingerprint, "%s", st.fingerprint);
  snprintf(ck.file_ident, sizeof ck.file_ident, "%s", st.file_ident);
  cs_ckpt_config_hash(o, ck.config_hash);
  CS_TRY(cs_ckpt_inputs(ctx, &ck));
  if (n_k == 1) {
    if (cs_segment_resume_hint)
      snprintf(note, sizeof note, "checkpoint written to %s; %s", ckpath, cs_segment_resume_hint);
    else
      snprintf(note, sizeof note, "checkpoint written to %s; run the same command with --resume %s",
               ckpath, ckpath);
    ko.checkpoint = cs_ckpt_callback;
    ko.checkpoint_arg = &ck;
    ko.checkpoint_every = cs_opt_real(o, "checkpoint-every");
    ko.checkpoint_note = note;
  }
  if (resume) {
    cs_ckpt_t rk = ck;
    rk.path = resume;
    int rs = cs_ckpt_read(ctx, &rk, (int)k, f->d, ko.n_init, ko.max_iter, &rstate);
    /* A checkpoint of another run (a leftover the job template found) is set aside on
     * request; a damaged one still fails. Every rank read the same file: the same outcome. */
    if (rs == CS_EUSAGE && !strcmp(mismatch, "restart")) {
      char why[CS_MSG_MAX];
      snprintf(why, sizeof why, "%s", cs_error_get()->msg);
      char *advice = strstr(why, "): "); /* the refusal's advice does not apply here */
      if (advice) advice[1] = '\0';
      const int same = cs_same_file(resume, ckpath); /* the job templates' case */
      if (ctx->rank == 0)
        cs_log_warn("resume: %s; starting the fit from the start instead (--resume-mismatch "
                    "restart); %s%s", why, same ? "the checkpoint will be overwritten"
                                            : "it is left as it is, and this run checkpoints to ",
                    same ? "" : ckpath);
      cs_error_clear();
      rs = CS_OK;
    } else {
      ko.resume = &rstate;
    }
    CS_TRY(rs);
  }
  /* A range is checked whole before any K is fitted; the customers are those used (after
   * --missing drop), which the message says when they are fewer than the store's. */
  if (k_hi > f->n_used) CS_TRY(k_too_large(k_lo, k_hi, f->n_used, store->n));
  table = calloc((size_t)n_k, sizeof *table);
  CS_TRY(cs_par_agree(ctx, table ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  cs_timer_start(&ctx->timers, "kmeans");
  if (n_k > 1) {
    CS_TRY(cs_kmeans_select(ctx, &m, f->n_used, &ko, (int)k_lo, (int)k_hi, min_share,
                            cs_opt_int(o, "silhouette-sample"), table, &r));
  } else {
    CS_TRY(cs_kmeans_fit(ctx, &m, f->n_used, &ko, &r));
  }
  cs_timer_stop(&ctx->timers, "kmeans");
  cs_kindices_t chosen;
  cs_timer_start(&ctx->timers, "indices");
  if (n_k > 1)
    chosen = table[r.k - k_lo];
  else {
    CS_TRY(cs_kmeans_indices(ctx, &m, &r, cs_opt_int(o, "silhouette-sample"), ko.seed, &chosen));
    table[0] = chosen;
    if (chosen.min_share < min_share)
      cs_log_warn("the smallest segment holds %.2f%% of customers, below --min-segment-share "
                  "%.2f%%: consider a smaller K", 100 * chosen.min_share, 100 * min_share);
  }
  cs_timer_stop(&ctx->timers, "indices");
  if (previous) {
    /* Renumber this run's segments after the previous ones, then join the customers. */
    cs_timer_start(&ctx->timers, "migration");
    CS_TRY(cs_segment_rematch(ctx, &m, f, &prev, &r, &mig));
    CS_TRY(read_ids(ctx, store, &part, &ids));
    CS_TRY(cs_segment_migration(ctx, &part, ids, &m, &prev, &r, &mig));
    cs_timer_stop(&ctx->timers, "migration");
    log_migration(&mig, &r, previous);
  }
  CS_TRY(cs_segment_verify(ctx, &m, f->n_used, &r));
  /* After any renumbering, so the personas carry the final segment ids. */
  cs_timer_start(&ctx->timers, "personas");
  CS_TRY(cs_segment_personas(ctx, store, &part, f, &m, &r, &ps));
  cs_timer_stop(&ctx->timers, "personas");
  log_personas(&ps, &r);

  const char *algo_used = algo_names[r.algorithm];
  cs_timer_start(&ctx->timers, "write");
  CS_TRY(read_ids(ctx, store, &part, &ids));
  CS_TRY(cs_out_create(ctx, output, &out));
  CS_TRY(cs_segment_write(ctx, out, &part, &m, f, &r, ids, algo_used));
  CS_TRY(cs_segment_write_indices(out, table, n_k, &chosen));
  if (previous) CS_TRY(cs_segment_write_previous(out, &prev, &mig));
  CS_TRY(cs_segment_write_personas(out, &ps));
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  if (personas_csv) {
    CS_TRY(publish_personas_csv(ctx, personas_csv, &ps, r.sizes));
    csv_written = 1;
  }
  cs_timer_stop(&ctx->timers, "write");

  cJSON *fe = cJSON_AddObjectToObject(sum, "features");
  cJSON_AddNumberToObject(fe, "d", f->d);
  cJSON_AddNumberToObject(fe, "customers_used", (double)f->n_used);
  cJSON_AddNumberToObject(fe, "rows_with_missing", (double)f->rows_with_missing);
  /* The feature space itself (select-k compares it across a sweep's fits). */
  cJSON *fn = cJSON_AddArrayToObject(fe, "names");
  for (int j = 0; j < f->d; j++) cJSON_AddItemToArray(fn, cJSON_CreateString(f->names[j]));
  cJSON *km = cJSON_AddObjectToObject(sum, "kmeans");
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r.verification_hash);
  cJSON_AddNumberToObject(km, "k", r.k);
  cJSON_AddNumberToObject(km, "iterations", r.iterations);
  cJSON_AddNumberToObject(km, "inertia", r.inertia);
  cJSON_AddStringToObject(km, "algorithm", algo_used);
  {
    int64_t dr[2] = {r.distances, m.n * (int64_t)r.k};
    CS_TRY(cs_par_allreduce(ctx, dr, 2, CS_DT_I64, CS_OP_SUM));
    /* Full distance evaluations per customer per pass (1.0 for Lloyd). */
    cJSON_AddNumberToObject(km, "distance_fraction",
                            dr[1] && r.passes ? (double)dr[0] / ((double)dr[1] * r.passes) : 0);
  }
  cJSON_AddBoolToObject(km, "converged", r.converged);
  cJSON_AddNumberToObject(km, "restart", r.restart);
  cJSON_AddNumberToObject(km, "relocations", (double)r.relocations);
  cJSON_AddNumberToObject(km, "seconds_per_iteration", r.seconds_per_iteration);
  cJSON_AddStringToObject(km, "verification_hash", hash);
  cJSON_AddNumberToObject(km, "calinski_harabasz", chosen.calinski_harabasz);
  cJSON_AddNumberToObject(km, "davies_bouldin", chosen.davies_bouldin);
  cJSON_AddNumberToObject(km, "silhouette", chosen.silhouette);
  cJSON_AddNumberToObject(km, "silhouette_sample", (double)chosen.silhouette_sample);
  cJSON_AddNumberToObject(km, "min_segment_share", chosen.min_share);
  if (n_k > 1) {
    cJSON_AddNumberToObject(km, "recommended_k", r.k);
    cJSON *ks = cJSON_AddArrayToObject(km, "k_selection");
    for (int i = 0; i < n_k; i++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "k", table[i].k);
      cJSON_AddNumberToObject(e, "inertia", table[i].inertia);
      cJSON_AddNumberToObject(e, "calinski_harabasz", table[i].calinski_harabasz);
      cJSON_AddNumberToObject(e, "davies_bouldin", table[i].davies_bouldin);
      cJSON_AddNumberToObject(e, "silhouette", table[i].silhouette);
      cJSON_AddNumberToObject(e, "min_segment_share", table[i].min_share);
      cJSON_AddNumberToObject(e, "iterations", table[i].iterations);
      cJSON_AddItemToArray(ks, e);
    }
  }
  cJSON *sz = cJSON_AddArrayToObject(km, "sizes");
  for (int q = 0; q < r.k; q++) cJSON_AddItemToArray(sz, cJSON_CreateNumber((double)r.sizes[q]));
  if (previous) summary_migration(sum, &prev, &mig);
  summary_personas(sum, &ps);
  if (personas_csv) cJSON_AddStringToObject(sum, "personas_csv", personas_csv);
  CS_TRY(cs_summary_finish(ctx, o, sum));
  /* Finished: the results stay whatever comes next (a Ctrl-C after the checkpoint below is
   * gone must not withdraw them too), and a checkpoint of this run is stale now. */
  cs_signal_keep_published();
  if (n_k == 1) cs_io_remove(ctx, ckpath);
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) cs_io_remove(ctx, output); /* all outputs or none */
  if (status < 0 && csv_written) cs_io_remove(ctx, personas_csv);
  cJSON_Delete(sum);
  free(init);
  free(table);
  cs_free(ids);
  cs_migration_free(&mig);
  cs_segment_personas_free(&ps);
  cs_previous_free(&prev);
  cs_kmeans_result_free(&r);
  cs_ckpt_state_free(&rstate);
  cs_matrix_free(&m);
  cs_features_free(f);
  cs_stage_close(&st);
  return status;
}
