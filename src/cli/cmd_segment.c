/* cli/cmd_segment.c: `custseg segment`: store -> features -> k-means -> /segments. */
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
  char path[4096], units[64], names[8192];
  const char *dataset = "/segments/centroids_standardized";
  snprintf(path, sizeof path, "%s", spec);
  char *colon = strrchr(path, ':');
  if (colon && colon[1] == '/') {
    *colon = '\0';
    dataset = colon + 1 - path + spec;
  }
  double *c = NULL;
  int64_t rows = 0, cols = 0;
  CS_TRY(cs_io_read_matrix(ctx, path, dataset, &c, &rows, &cols, units, sizeof units, names,
                           sizeof names));
  CS_CHECK(rows == k && cols == f->d, CS_EUSAGE,
           "--init-centroids %s:%s is %lld x %lld, but --k %d with %d features needs %d x %d",
           path, dataset, (long long)rows, (long long)cols, k, f->d, k, f->d);
  if (names[0]) {
    /* When the file names its features they must be ours, in our order. */
    char mine[8192] = "";
    for (int j = 0; j < f->d; j++) {
      size_t u = strlen(mine);
      snprintf(mine + u, sizeof mine - u, "%s%s", j ? "," : "", f->names[j]);
    }
    CS_CHECK(!strcmp(mine, names), CS_EUSAGE,
             "--init-centroids %s:%s is for features [%s], this run uses [%s]", path, dataset,
             names, mine);
  }
  if (!strcmp(units, "original"))
    for (int q = 0; q < k; q++)
      for (int j = 0; j < f->d; j++)
        c[(int64_t)q * f->d + j] = cs_features_from_original(f, j, c[(int64_t)q * f->d + j]);
  else
    CS_CHECK(!units[0] || !strcmp(units, "standardized"), CS_EUSAGE,
             "--init-centroids %s:%s: units attribute '%s' is neither 'original' nor "
             "'standardized'", path, dataset, units);
  for (int64_t v = 0; v < (int64_t)k * f->d; v++)
    CS_CHECK(isfinite(c[v]), CS_EUSAGE, "--init-centroids %s:%s has a non-finite value", path,
             dataset);
  *out = c;
  return CS_OK;
fail:
  free(c);
  return status;
}

int cs_cmd_segment(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cs_stage_t st = {0};
  cs_features_t *f = NULL;
  cs_matrix_t m = {0};
  cs_kmeans_result_t r = {0};
  cs_out_t *out = NULL;
  double *init = NULL;
  cs_kindices_t *table = NULL;
  cJSON *sum = NULL;
  const char *output = cs_opt_str(o, "output");
  const char *algorithm = cs_opt_str(o, "algorithm");
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
  CS_CHECK(k_lo >= 1 && k <= 100000, CS_EUSAGE, "--k must be in 1..100000, got %lld", k_lo < 1 ? k_lo : (long long)k);
  double min_share = cs_opt_real(o, "min-segment-share");
  CS_CHECK(min_share >= 0 && min_share < 1, CS_EUSAGE, "--min-segment-share must be in [0, 1)");
  CS_CHECK(cs_opt_int(o, "n-init") >= 1, CS_EUSAGE, "--n-init must be at least 1");
  const char *init_word = cs_opt_str(o, "init");
  cs_init_t init_kind = !strcmp(init_word, "kmeans++")                                  ? CS_INIT_KMEANSPP
                        : !strcmp(init_word, "kmeans||") || !strcmp(init_word, "kmeans-par") ? CS_INIT_PARALLEL
                        : !strcmp(init_word, "auto")                                    ? CS_INIT_AUTO
                                                                                        : -1;
  CS_CHECK((int)init_kind >= 0, CS_EUSAGE, "--init must be auto, kmeans++ or kmeans|| (alias "
           "kmeans-par), not '%s'", init_word);
  CS_CHECK(cs_opt_real(o, "tol") >= 0, CS_EUSAGE, "--tol must be >= 0");
  /* Every option checked before any data is read. */
  CS_CHECK(cs_opt_int(o, "max-iter") >= 1, CS_EUSAGE, "--max-iter must be at least 1");
  CS_CHECK(!(cs_opt_str(o, "init-centroids") && k_hi > k_lo), CS_EUSAGE,
           "--init-centroids needs a single --k, not a range");
  CS_TRY(cs_stage_open(ctx, o, &st));
  CS_TRY(cs_stage_rfm(ctx, &st, cs_opt_str(o, "features")));
  CS_CHECK(st.store->n > 0, CS_EDATA, "%s: the store holds no customers", st.store->path);
  cs_store_t *store = st.store;
  cs_part_t part = st.part;
  cs_timer_start(&ctx->timers, "features");
  CS_TRY(cs_features_build(ctx, store, &part, &spec, NULL, &f, &m));
  cs_timer_stop(&ctx->timers, "features");
  cs_log_info("segment: %lld customers x %d features (%lld used), K = %lld",
              (long long)store->n, f->d, (long long)f->n_used, (long long)k);

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
  }
  int n_k = (int)(k_hi - k_lo + 1);
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
  CS_TRY(cs_segment_verify(ctx, &m, f->n_used, &r));

  const char *algo_used = algo_names[r.algorithm];
  cs_timer_start(&ctx->timers, "write");
  CS_TRY(cs_out_create(ctx, output, &out));
  CS_TRY(cs_segment_write(ctx, out, &part, &m, f, &r, algo_used));
  CS_TRY(cs_segment_write_indices(out, table, n_k, &chosen));
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  cs_timer_stop(&ctx->timers, "write");

  cJSON *fe = cJSON_AddObjectToObject(sum, "features");
  cJSON_AddNumberToObject(fe, "d", f->d);
  cJSON_AddNumberToObject(fe, "customers_used", (double)f->n_used);
  cJSON_AddNumberToObject(fe, "rows_with_missing", (double)f->rows_with_missing);
  cJSON *km = cJSON_AddObjectToObject(sum, "kmeans");
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r.verification_hash);
  cJSON_AddNumberToObject(km, "k", r.k);
  cJSON_AddNumberToObject(km, "iterations", r.iterations);
  cJSON_AddNumberToObject(km, "inertia", r.inertia);
  cJSON_AddStringToObject(km, "algorithm", algo_used);
  {
    int64_t dr[2] = {r.distance_rows, m.n};
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
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) cs_io_remove(ctx, output); /* all outputs or none */
  cJSON_Delete(sum);
  free(init);
  free(table);
  cs_kmeans_result_free(&r);
  cs_matrix_free(&m);
  cs_features_free(f);
  cs_stage_close(&st);
  return status;
}
