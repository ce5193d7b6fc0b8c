/* segment: distributed k-means over the feature matrix.
 *
 * Every rank holds its rows; only K x (D + 3) + 1 numbers cross ranks per iteration, in one
 * packed reduction of exact 128-bit fixed-point sums, so centroids, labels, inertia and the
 * iteration count are bit-identical for any number of ranks and threads (docs/segments.md, Determinism).
 * Initialisation draws are keyed by customer id, never by rank or thread. */
#ifndef CUSTSEG_SEGMENT_H
#define CUSTSEG_SEGMENT_H

#include "custseg/features.h"
#include "custseg/kernels.h"

/* AUTO: k-means++ (better starts on well-separated data, measured), k-means|| only when
 * N x K exceeds 10^10, where K passes over the data become too many. */
typedef enum { CS_INIT_KMEANSPP = 0, CS_INIT_GIVEN, CS_INIT_PARALLEL, CS_INIT_AUTO } cs_init_t;
/* AUTO: Hamerly above 32 centroids, Lloyd up to 32, where the vectorized kernel is cheaper
 * than keeping bounds; Yinyang only when asked for (measured slower than Hamerly at every K
 * tried here: docs/segments.md, section 4). */
typedef enum { CS_ALGO_LLOYD = 0, CS_ALGO_HAMERLY, CS_ALGO_YINYANG, CS_ALGO_AUTO } cs_algo_t;

typedef struct cs_kmeans_opts {
  int k;
  int n_init;           /* restarts; the lowest final inertia wins */
  int max_iter;
  double tol;           /* on the centroid shift, relative to the mean feature variance */
  uint64_t seed;
  cs_init_t init;
  const double *init_centroids; /* K x D standardized, for CS_INIT_GIVEN */
  cs_algo_t algorithm;  /* Hamerly gives Lloyd's labels and centroids with fewer distances */
} cs_kmeans_opts_t;

typedef struct cs_kmeans_result {
  int k, d;
  double *centroids;    /* K x D, standardized units */
  int32_t *labels;      /* per matrix row (local) */
  int64_t *sizes;       /* customers per segment */
  double *weight_sums;  /* sum of customer weights per segment (= sizes when unweighted) */
  double inertia;       /* sum of w * ||x - c||^2 for the final labels and centroids */
  int iterations;
  int converged;
  int restart;          /* which restart won */
  int64_t relocations;  /* empty clusters re-seeded */
  double *trace;        /* inertia per iteration (iterations values) */
  double seconds_per_iteration; /* median over iterations */
  int64_t distance_rows;        /* local rows whose distances to all centroids were computed */
  int passes;                   /* assignment passes (iterations, plus the final one) */
  cs_algo_t algorithm;          /* the variant that ran (never AUTO) */
  uint64_t verification_hash;   /* order-independent hash of (customer_id, label) */
} cs_kmeans_result_t;

/* Fit k-means on the matrix (all ranks' rows). Errors: K < 1, K larger than the number of
 * customers. Collective. */
int cs_kmeans_fit(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_global,
                  const cs_kmeans_opts_t *o, cs_kmeans_result_t *r);
void cs_kmeans_result_free(cs_kmeans_result_t *r);

/* Validity indices of one fitted result (docs/segments.md has the formulas). */
typedef struct cs_kindices {
  int k;
  double inertia, calinski_harabasz, davies_bouldin, silhouette;
  int64_t silhouette_sample;  /* customers in the silhouette sample */
  double min_share;           /* smallest segment's share of customers */
  int iterations, converged;
} cs_kindices_t;

/* Calinski-Harabasz and Davies-Bouldin from one pass over the rows (exact sums), and the
 * silhouette on a sample of about `sample` customers chosen by a hash of customer id and
 * seed (so the same customers on any decomposition). Collective. */
int cs_kmeans_indices(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_kmeans_result_t *r,
                      int64_t sample, uint64_t seed, cs_kindices_t *out);

/* Fit every K in [k_min, k_max] and keep the recommended one: going up from k_min, the
 * first K whose smallest segment holds at least min_share of the customers, replaced by a
 * larger qualifying K only when that K's silhouette is higher by more than 0.005 (so extra
 * segments must earn their keep). table (k_max - k_min + 1 entries) receives every K's
 * indices; *best the chosen fit. Collective. */
int cs_kmeans_select(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_global,
                     const cs_kmeans_opts_t *o, int k_min, int k_max, double min_share,
                     int64_t sample, cs_kindices_t *table, cs_kmeans_result_t *best);

/* Write /segments: labels (int32, N, input row order, -1 for customers without a feature
 * row), centroids in original and standardized units, sizes, feature statistics and the
 * run's attributes. Collective. */
int cs_segment_write(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_matrix_t *m,
                     const cs_features_t *f, const cs_kmeans_result_t *r, const char *algorithm);
/* Write the indices of the chosen fit as /segments attributes and, when several K were
 * fitted, the table /segments/k_selection (columns k, inertia, calinski_harabasz,
 * davies_bouldin, silhouette, min_share, iterations) with attribute recommended_k. Collective. */
int cs_segment_write_indices(cs_out_t *out, const cs_kindices_t *table, int n,
                             const cs_kindices_t *chosen);
/* Invariants that set the exit status: sizes add up to the customers used, inertia never
 * rose between iterations (relative slack 1e-6 for float32 assignment), labels in range.
 * Collective. */
int cs_segment_verify(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_used,
                      const cs_kmeans_result_t *r);

/* ---- internal pieces shared by the segment sources ---- */
/* k-means|| (5 rounds, oversampling 2K) with draws keyed by customer id; K x D centroids.
 * Collective. */
int cs__kmeans_par(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                   double *centroids);
/* Fixed-point exponents for one run: Sum w x, Sum w, Sum w d^2. */
typedef struct cs_kscale {
  int sx, sw, sd;
} cs_kscale_t;

/* k-means++ (greedy, 2 + ln K candidates per step) with draws keyed by (seed, restart,
 * customer id). Writes K x D centroids. Collective. */
int cs__kmeans_pp(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                  double *centroids);

#endif
