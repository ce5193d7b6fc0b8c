/* cli/cmd_demo.c: `custseg demo`: the README's first command. It writes the embedded
 * inputs/demo.ini into --output-dir, generates a population with purchase histories there
 * (`generate`), runs the same pipeline as `custseg run --config DIR/demo.ini` (cmd_run.c)
 * and prints the ROI table and the report's path (docs/pipeline.md). It holds the directory's
 * run lock throughout; one that fails before its store exists leaves nothing of its own. */
#include "run_impl.h"

#include "custseg/demo_ini.h" /* cs_demo_ini: inputs/demo.ini, embedded by CMake */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CS_DEMO_MIN_CUSTOMERS 100

/* Rank 0 copies `path` to standard output (the ROI table). */
static void print_file(const cs_ctx_t *ctx, const char *path) {
  if (ctx->rank != 0) return;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, got, stdout);
  fclose(f);
  fflush(stdout);
}

int cs_cmd_demo(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK;
  const char *dir = cs_opt_str(o, "output-dir");
  cJSON *summary = NULL;
  cs_opts_t ro = {0};
  char ini[4200] = "", store[4200], customers[32], path[4200];
  int created = 0, generated = 0, ini_new = 0;
  args_t a;
  CS_CHECK(dir, CS_EUSAGE, "demo needs --output-dir DIR");
  int64_t n = cs_opt_int(o, "customers"); /* its default for demo: 10^6 (options.c) */
  /* Its job fits K up to 8 and a churn model with a holdout: with 7 customers it had failed
   * after generating them, naming its own demo.ini (100 run through, on any seed tried). */
  CS_CHECK(n >= CS_DEMO_MIN_CUSTOMERS, CS_EUSAGE,
           "--customers must be at least %d for the demo (it fits up to 8 segments and a churn "
           "model with a holdout), not %lld", CS_DEMO_MIN_CUSTOMERS, (long long)n);
  CS_TRY(cs__run_make_dir(ctx, dir, &created));
  CS_TRY(cs__run_lock(ctx, dir)); /* before demo.ini and the store are written */
  /* demo's own files too: the store it generates, its config and generate's summary */
  CS_TRY(cs__run_check_summary(ctx, cs_opt_str(o, "summary"), dir,
                       (const char *const[]){"customers.h5", "demo.ini", "generate.json", NULL}));
  snprintf(ini, sizeof ini, "%s/demo.ini", dir);
  snprintf(store, sizeof store, "%s/customers.h5", dir);
  snprintf(customers, sizeof customers, "%lld", (long long)n);
  ini_new = ctx->rank == 0 && access(ini, F_OK) != 0; /* an earlier demo's stays */
  CS_TRY(cs__run_write_text(ctx, ini, cs_demo_ini));

  a.n = a.np = 0;
  cs__run_add(&a, "--config");
  cs__run_add(&a, ini);
  cs__run_add(&a, "--customers");
  cs__run_add(&a, customers);
  cs__run_add(&a, "--output");
  cs__run_add(&a, store);
  cs__run_add_path(&a, "--summary", dir, "generate.json");
  if (cs_opt_bool(o, "quiet")) cs__run_add(&a, "--quiet");
  cs_log_info("demo: generating %s customers with purchase histories", customers);
  CS_TRY(cs__run_command(ctx, "generate", cs_cmd_generate, a.n, (char **)a.v, NULL));
  generated = 1;

  /* The pipeline reads the embedded config, as `custseg run --config DIR/demo.ini` would. */
  char mb[32];
  snprintf(mb, sizeof mb, "%lld", (long long)cs_opt_int(o, "read-cache-mb"));
  char *rv[] = {"--config", ini, "--stages", (char *)cs_opt_str(o, "stages"), "--read-cache-mb",
                mb, "--quiet"};
  CS_TRY(cs_par_agree(ctx, cs_opts_parse(&ro, "run", cs_opt_bool(o, "quiet") ? 7 : 6, rv)));
  CS_CHECK(summary = cs_summary_new(ctx, o), CS_ENOMEM, "out of memory");
  CS_TRY(cs__run_pipeline(ctx, &ro, store, dir, summary, NULL));
  CS_TRY(cs__run_finish(ctx, o, dir, summary));

  /* The run cleared DIR of earlier results: a table or report there is this run's. */
  snprintf(path, sizeof path, "%s/roi.md", dir);
  if (ctx->rank == 0 && access(path, R_OK) == 0) {
    printf("\nROI per segment (%s; formulas in docs/roi.md):\n\n", path);
    fflush(stdout);
    print_file(ctx, path);
  }
  if (ctx->rank == 0) {
    snprintf(path, sizeof path, "%s/report.html", dir);
    printf("\ndemo: results in %s (run.json lists the stages)", dir);
    if (access(path, R_OK) == 0) printf("; report: %s (open it in a browser)", path);
    printf("\n");
    fflush(stdout);
  }
fail:
  /* Failed or stopped before there was a store: nothing of this demo stays (its config had
   * been left, alone in the directory it made), while it still holds the lock; an earlier
   * demo's config in the same directory is kept with that demo's results. */
  if (status != CS_OK && !generated && ctx->rank == 0 && ini_new) {
    unlink(ini);
    if (created) {
      cs_io_unclaim_all(); /* its lock files, so that the directory is empty */
      rmdir(dir);
    }
  }
  cs_io_unclaim_all(); /* the directory's lock and every output's (io/claim.c) */
  cs_opts_free(&ro);
  cJSON_Delete(summary);
  return status;
}
