/* segment/output.c: the /segments group of the results file, and the run's invariants. */
#include "custseg/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cs_segment_write(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_matrix_t *m,
                     const cs_features_t *f, const cs_kmeans_result_t *r, const int64_t *ids,
                     const char *algorithm) {
  int status = CS_OK;
  int k = r->k, d = r->d;
  int32_t *lab = cs_alloc(cs_bytes(part->n_local ? part->n_local : 1, sizeof *lab), "labels");
  double *orig = malloc((size_t)k * (size_t)d * sizeof *orig);
  const char **names = malloc((size_t)d * sizeof *names);
  cs_dset_t *ds = NULL;
  CS_TRY(cs_par_agree(ctx, lab && orig && names ? CS_OK
                                : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  /* Labels in input row order; customers dropped for missing values get -1. */
  for (int64_t i = 0; i < part->n_local; i++) lab[i] = -1;
  for (int64_t i = 0; i < m->n; i++) lab[m->row[i] - part->offset] = r->labels[i];
  CS_TRY(cs_out_dataset(out, "/segments/labels", CS_DT_I32, part->n_global, &ds));
  CS_TRY(cs_out_write(ds, part->offset, part->n_local, lab));
  /* The ids beside the labels, so a later run can join on them (--previous). */
  CS_TRY(cs_out_dataset(out, "/segments/customer_id", CS_DT_I64, part->n_global, &ds));
  CS_TRY(cs_out_write(ds, part->offset, part->n_local, ids));
  for (int q = 0; q < k; q++)
    for (int j = 0; j < d; j++)
      orig[(int64_t)q * d + j] = cs_features_to_original(f, j, r->centroids[(int64_t)q * d + j]);
  for (int j = 0; j < d; j++) names[j] = f->names[j];
  CS_TRY(cs_out_small(out, "/segments/centroids", CS_DT_F64, k, d, orig));
  CS_TRY(cs_out_attr_strings(out, "/segments/centroids", "features", names, d));
  CS_TRY(cs_out_attr_str(out, "/segments/centroids", "units", "original"));
  CS_TRY(cs_out_small(out, "/segments/centroids_standardized", CS_DT_F64, k, d, r->centroids));
  CS_TRY(cs_out_attr_strings(out, "/segments/centroids_standardized", "features", names, d));
  CS_TRY(cs_out_attr_str(out, "/segments/centroids_standardized", "units", "standardized"));
  CS_TRY(cs_out_small(out, "/segments/sizes", CS_DT_I64, k, 0, r->sizes));
  CS_TRY(cs_out_small(out, "/segments/weight_sums", CS_DT_F64, k, 0, r->weight_sums));
  CS_TRY(cs_out_small(out, "/segments/inertia_trace", CS_DT_F64, r->iterations, 0, r->trace));
  CS_TRY(cs_features_write(out, f, "/segments/feature_stats"));
  CS_TRY(cs_out_attr_i64(out, "/segments", "k", k));
  CS_TRY(cs_out_attr_f64(out, "/segments", "inertia", &r->inertia, 1));
  CS_TRY(cs_out_attr_i64(out, "/segments", "iterations", r->iterations));
  CS_TRY(cs_out_attr_i64(out, "/segments", "converged", r->converged));
  CS_TRY(cs_out_attr_i64(out, "/segments", "relocations", r->relocations));
  CS_TRY(cs_out_attr_str(out, "/segments", "algorithm", algorithm));
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)r->verification_hash);
  CS_TRY(cs_out_attr_str(out, "/segments", "verification_hash", hash));
fail:
  cs_free(lab);
  free(orig);
  free(names);
  return status;
}

int cs_segment_write_previous(cs_out_t *out, const cs_previous_t *prev,
                              const cs_migration_t *mig) {
  int status = CS_OK;
  const char *g = "/segments/previous";
  int kn = mig->kn, kp = mig->kp;
  int64_t *v = malloc((size_t)(kn + kp + 1) * sizeof *v);
  CS_CHECK(v, CS_ENOMEM, "out of memory");
  CS_TRY(cs_out_group(out, g));
  CS_TRY(cs_out_attr_str(out, g, "file", prev->path));
  CS_TRY(cs_out_attr_str(out, g, "verification_hash", prev->verification_hash));
  CS_TRY(cs_out_attr_i64(out, g, "k", kp));
  CS_TRY(cs_out_attr_i64(out, g, "warm_start", mig->warm_start));
  CS_TRY(cs_out_attr_f64(out, g, "adjusted_rand_index", &mig->ari, 1));
  CS_TRY(cs_out_attr_f64(out, g, "match_cost", &mig->match_cost, 1));
  CS_TRY(cs_out_attr_i64(out, g, "customers_both", mig->both));
  CS_TRY(cs_out_attr_i64(out, g, "customers_new", mig->added));
  CS_TRY(cs_out_attr_i64(out, g, "customers_departed", mig->departed));
  CS_TRY(cs_out_attr_i64(out, g, "customers_departed_unassigned", mig->departed_unassigned));
  CS_TRY(cs_out_attr_i64(out, g, "customers_new_unassigned", mig->added_unassigned));
  CS_TRY(cs_out_attr_i64(out, g, "customers_stayed", mig->stayed));
  CS_TRY(cs_out_small(out, "/segments/previous/migration", CS_DT_I64, kp + 1, kn + 1,
                      mig->matrix));
  CS_TRY(cs_out_attr_str(out, "/segments/previous/migration", "rows",
                         "previous segment 0..k-1, then new customers"));
  CS_TRY(cs_out_attr_str(out, "/segments/previous/migration", "columns",
                         "segment 0..K-1 of this run, then departed customers"));
  for (int q = 0; q < kn; q++) v[q] = mig->previous_id[q];
  CS_TRY(cs_out_small(out, "/segments/previous/previous_id", CS_DT_I64, kn, 0, v));
  CS_TRY(cs_out_small(out, "/segments/previous/drift", CS_DT_F64, kn, 0, mig->drift));
  CS_TRY(cs_out_attr_str(out, "/segments/previous/drift", "units", "original"));
  CS_TRY(cs_out_small(out, "/segments/previous/drift_standardized", CS_DT_F64, kn, 0,
                      mig->drift_standardized));
  CS_TRY(cs_out_attr_str(out, "/segments/previous/drift_standardized", "units", "standardized"));
  for (int i = 0; i < mig->n_appeared; i++) v[i] = mig->appeared[i];
  CS_TRY(cs_out_small(out, "/segments/previous/appeared", CS_DT_I64, mig->n_appeared, 0, v));
  for (int i = 0; i < mig->n_vanished; i++) v[i] = mig->vanished[i];
  CS_TRY(cs_out_small(out, "/segments/previous/vanished", CS_DT_I64, mig->n_vanished, 0, v));
  int n_weak = 0;
  for (int q = 0, to; q < kn; q++)
    if (cs_migration_weak(mig, q, &to)) v[n_weak++] = q;
  CS_TRY(cs_out_small(out, "/segments/previous/weak", CS_DT_I64, n_weak, 0, v));
fail:
  free(v);
  return status;
}

int cs_segment_write_indices(cs_out_t *out, const cs_kindices_t *table, int n,
                             const cs_kindices_t *chosen) {
  int status = CS_OK;
  double *t = NULL;
  CS_TRY(cs_out_attr_f64(out, "/segments", "calinski_harabasz", &chosen->calinski_harabasz, 1));
  CS_TRY(cs_out_attr_f64(out, "/segments", "davies_bouldin", &chosen->davies_bouldin, 1));
  CS_TRY(cs_out_attr_f64(out, "/segments", "silhouette", &chosen->silhouette, 1));
  CS_TRY(cs_out_attr_i64(out, "/segments", "silhouette_sample", chosen->silhouette_sample));
  if (n <= 1) return CS_OK;
  t = malloc((size_t)n * 7 * sizeof *t);
  CS_CHECK(t, CS_ENOMEM, "out of memory");
  for (int i = 0; i < n; i++) {
    double row[7] = {table[i].k, table[i].inertia, table[i].calinski_harabasz,
                     table[i].davies_bouldin, table[i].silhouette, table[i].min_share,
                     table[i].iterations};
    memcpy(t + 7 * i, row, sizeof row);
  }
  CS_TRY(cs_out_small(out, "/segments/k_selection", CS_DT_F64, n, 7, t));
  CS_TRY(cs_out_attr_strings(out, "/segments/k_selection", "columns",
                             (const char *[]){"k", "inertia", "calinski_harabasz", "davies_bouldin",
                                              "silhouette", "min_share", "iterations"},
                             7));
  CS_TRY(cs_out_attr_i64(out, "/segments/k_selection", "recommended_k", chosen->k));
fail:
  free(t);
  return status;
}

int cs_segment_verify(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_used,
                      const cs_kmeans_result_t *r) {
  int status = CS_OK;
  int64_t total = 0, bad = 0;
  for (int q = 0; q < r->k; q++) total += r->sizes[q];
  for (int64_t i = 0; i < m->n; i++) bad += r->labels[i] < 0 || r->labels[i] >= r->k;
  CS_TRY(cs_par_allreduce(ctx, &bad, 1, CS_DT_I64, CS_OP_SUM));
  CS_CHECK(total == n_used, CS_EVERIFY, "verification: segment sizes add up to %lld, not %lld",
           (long long)total, (long long)n_used);
  CS_CHECK(bad == 0, CS_EVERIFY, "verification: %lld labels out of range", (long long)bad);
  for (int it = 1; it < r->iterations; it++)
    CS_CHECK(r->trace[it] <= r->trace[it - 1] * (1 + 1e-6) + 1e-300, CS_EVERIFY,
             "verification: inertia rose from %.10g to %.10g at iteration %d", r->trace[it - 1],
             r->trace[it], it + 1);
  cs_log_info("verification: sizes add up to %lld, labels in range, inertia never rose; "
              "hash %016llx", (long long)total, (unsigned long long)r->verification_hash);
fail:
  return status;
}
