/* cli/run_checks.c: what `custseg run` (and `demo`) verifies before it touches --output-dir
 * (docs/pipeline.md): every stage's options parse, the --summary is none of run's own files
 * and is writable, and no file a stage reads is one run writes or removes. All three fail as
 * usage errors before the first stage, so a mistake costs no work and loses no results. */
#include "run_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

const char *const cs__run_stage_names[N_STAGES] = {"segment", "churn", "clv", "roi", "report"};
const char *const cs__run_stage_commands[N_STAGES] = {"segment", "churn-train", "clv", "roi",
                                                      "report"};
const char *const cs__run_stage_files[N_STAGES][5] = {
    {"segments.h5", "segments.json", "personas.csv", NULL},
    {"churn.h5", "churn.json", NULL},
    {"clv.h5", "clv.json", NULL},
    {"roi.h5", "roi.json", "roi.csv", "roi.md", NULL},
    {"report.html", "report.json", NULL}};

const char *const cs__run_own_files[] = {"run.json", "stage_times.json", "run.progress",
                                         "segments.h5.ckpt", NULL};

/* Paths run sets itself for each stage (or, for a stage whose results are absent, leaves
 * unset): a value from the config file is warned of and not used (cs_opts_ignore_config). */
const char *const cs__run_fixed_opts[] = {"output", "summary", "personas-csv", "checkpoint",
                                          "resume", "roi-csv", "roi-markdown", "timings",
                                          "segment-results", "churn-results", "clv-results",
                                          "roi-results", NULL};

static int is_fixed_opt(const char *name) {
  for (int f = 0; cs__run_fixed_opts[f]; f++)
    if (!strcmp(name, cs__run_fixed_opts[f])) return 1;
  return 0;
}

/* The name of the file run writes or removes in DIR that `file` is (the stages' results,
 * run's own files, then `more`, NULL-terminated or NULL), or NULL; its path in *path. */
static const char *run_output(const char *dir, const char *file, const char *const *more,
                              char *path, size_t size) {
  for (int i = 0; i < N_STAGES + 2; i++) {
    const char *const *list = i < N_STAGES ? cs__run_stage_files[i] : i == N_STAGES ? cs__run_own_files : more;
    for (int f = 0; list && list[f]; f++) {
      snprintf(path, size, "%s/%s", dir, list[f]);
      if (cs_same_file(file, path) || cs_is_companion(file, path)) return list[f];
    }
  }
  snprintf(path, size, "%s/.run.lock", dir); /* run_lock.c */
  return cs_same_file(file, path) ? ".run.lock" : NULL;
}

int cs__run_check_stage_options(cs_ctx_t *ctx, const cs_opts_t *o, const stage_run_t *st) {
  int status = CS_OK;
  args_t a;
  /* What the config alone gives run (its general part, or [run]): a stage's value that
   * differs came from the stage's own section. */
  cs_opts_t go = {0};
  cs__run_common_args(&a, o);
  CS_TRY(cs_par_agree(ctx, cs_opts_parse(&go, "run", a.n, (char **)a.v)));
  for (int i = 0; i < N_STAGES && status == CS_OK; i++) {
    if (!st[i].on) continue;
    cs_opts_t so = {0};
    cs__run_common_args(&a, o);
    status = cs_par_agree(ctx, cs_opts_parse(&so, cs__run_stage_commands[i], a.n, (char **)a.v));
    /* Paths run sets itself: a value from the config file would be overridden without a word. */
    for (int j = 0; status == CS_OK && ctx->rank == 0 && j < cs_n_optdefs; j++) {
      int is_fixed = !strcmp(cs_optdefs[j].name, "input") &&
                     (!cs_opt_str(o, "input") || !so.value[j] || strcmp(so.value[j], cs_opt_str(o, "input")));
      is_fixed |= is_fixed_opt(cs_optdefs[j].name);
      /* (the general part's summary = is run's own) */
      const char *general = cs_opts_applies("run", &cs_optdefs[j]) ? go.value[j] : NULL;
      if (is_fixed && so.source && so.source[j] == CS_SRC_CONFIG &&
          !(general && so.value[j] && !strcmp(general, so.value[j])))
        cs_log_warn("config '%s': %s = %s is not used by the %s stage of run, which sets its "
                    "input and the paths of its results under --output-dir", cs_opt_str(o, "config"),
                    cs_optdefs[j].name, so.value[j], cs__run_stage_commands[i]);
      /* One process runs every stage, with the threads set once (it had been recorded in the
       * stage's summary as if used). */
      if (!strcmp(cs_optdefs[j].name, "threads") && so.source && so.source[j] == CS_SRC_CONFIG &&
          so.value[j] && (!general || strcmp(general, so.value[j])))
        cs_log_warn("config '%s': threads = %s in the %s stage's section is not used: run sets "
                    "the threads once for every stage (--threads, or threads in the config's "
                    "general part)", cs_opt_str(o, "config"), so.value[j], cs__run_stage_commands[i]);
    }
    cs_opts_free(&so);
  }
fail:
  cs_opts_free(&go);
  return status;
}

/* A --summary elsewhere than DIR/run.json would replace a stage's results, and one found
 * unwritable only at the end would lose the run's record. */
int cs__run_check_summary(cs_ctx_t *ctx, const char *summary, const char *dir,
                          const char *const *more) {
  int status = CS_OK;
  if (!summary) return CS_OK;
  if (ctx->rank == 0) {
    char path[4200];
    const char *out = run_output(dir, summary, more, path, sizeof path);
    if (out && strcmp(out, "run.json"))
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                            "--summary %s is %s%s, a file run writes in --output-dir: "
                            "choose another name (the default is %s/run.json)", summary,
                            cs_same_file(summary, path) ? "" : "a working file of ", path, dir);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_io_check_writable(ctx, summary, "summary"));
fail:
  return status;
}

/* The files the stages read besides run's own results are the store, the config, and a
 * --previous or --init-centroids from the config. Last month's segments.h5 named as
 * `previous` in this month's output directory would otherwise be removed before the first
 * stage. *ident covers their real names, sizes and modification times: a stage kept by
 * --continue read the same files. */
int cs__run_check_stage_inputs(cs_ctx_t *ctx, const cs_opts_t *o, const char *input,
                               const char *dir, const stage_run_t *st, int64_t *ident) {
  int status = CS_OK;
  XXH3_state_t *h = XXH3_createState();
  if (h) XXH3_64bits_reset(h);
  status = cs_par_agree(ctx, h ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory"));
  const char *summary = cs_opt_str(o, "summary");
  /* s = -1: run's own --input and --config (whatever the stages); then each stage that is on,
   * with its config section. */
  for (int s = -1; s < N_STAGES && status == CS_OK; s++) {
    if (s >= 0 && !st[s].on) continue;
    cs_opts_t so = {0};
    if (s >= 0) {
      args_t a;
      cs__run_common_args(&a, o);
      if (s != ST_REPORT) { /* report reads the results only */
        cs__run_add(&a, "--input");
        cs__run_add(&a, input);
      }
      status = cs_par_agree(ctx, cs_opts_parse(&so, cs__run_stage_commands[s], a.n, (char **)a.v));
    }
    const cs_opts_t *so_ = s >= 0 ? &so : o;
    int local = status; /* rank 0 compares the paths; every rank then agrees on the result */
    for (int r = 0; local == CS_OK && ctx->rank == 0; r++) {
      const char *name;
      char file[4096], path[4200];
      const int given = cs_opts_read_file(so_, r, &name, file, sizeof file);
      if (given < 0) break;
      if (!given || is_fixed_opt(name) ||
          (s >= 0 && (!strcmp(name, "input") || !strcmp(name, "config"))))
        continue;
      struct stat sb;
      int64_t id[2] = {-1, -1};
      char real[PATH_MAX];
      if (stat(file, &sb) == 0)
        id[0] = (int64_t)sb.st_size,
        id[1] = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
      /* The store and the config are in the key already (their identity, their bytes). */
      if (s >= 0) {
        const char *key_name = realpath(file, real) ? real : file;
        XXH3_64bits_update(h, name, strlen(name) + 1);
        XXH3_64bits_update(h, key_name, strlen(key_name) + 1);
        XXH3_64bits_update(h, id, sizeof id);
      }
      /* Nor may the --summary be a file a stage reads (it is removed before the first). */
      if (s >= 0 && cs_opts_check_file(so_, name, file) != CS_OK) {
        local = cs_error_get()->status; /* missing, unreadable or not a regular file */
      } else if (summary && cs_same_file(file, summary)) {
        local = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                             "--summary %s is the --%s file %s: it would be removed before it "
                             "is read", summary, name, file);
        cs_opts_blame_config(so_);
      } else if (run_output(dir, file, NULL, path, sizeof path)) {
        local = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                             "--%s %s is %s%s, a file run writes in --output-dir: move it "
                             "or choose another --output-dir", name, file,
                             cs_same_file(file, path) ? "" : "a working file of ", path);
        cs_opts_blame_config(so_);
      }
    }
    cs_opts_free(&so);
    if (status == CS_OK) status = cs_par_agree(ctx, local);
  }
  if (h) *ident = (int64_t)XXH3_64bits_digest(h);
  XXH3_freeState(h);
  return status;
}
