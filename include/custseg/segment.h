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

#include <stdio.h>

/* AUTO: k-means++ (better starts on well-separated data, measured), k-means|| only when
 * N x K exceeds 10^10, where K passes over the data become too many. */
typedef enum { CS_INIT_KMEANSPP = 0, CS_INIT_GIVEN, CS_INIT_PARALLEL, CS_INIT_AUTO } cs_init_t;
/* AUTO: Hamerly above 32 centroids, Lloyd up to 32, where the vectorized kernel is cheaper
 * than keeping bounds; Yinyang only when asked for (measured slower than Hamerly at every K
 * tried here: docs/segments.md, section 4). */
typedef enum { CS_ALGO_LLOYD = 0, CS_ALGO_HAMERLY, CS_ALGO_YINYANG, CS_ALGO_AUTO } cs_algo_t;

/* Where a fit stands at an iteration boundary: enough to continue it and end with exactly
 * the result of an uninterrupted fit (draws are keyed by seed, restart and customer, so no
 * random state is needed). Arrays belong to the caller or to the fit that reports them. */
typedef struct cs_kmeans_state {
  int k, d;
  int restart;              /* the restart in progress */
  int iteration;            /* its completed centroid updates */
  double *centroids;        /* K x D, standardized, after those updates */
  double *trace;            /* `iteration` inertia values */
  int64_t relocations;      /* its re-seeded segments so far */
  int best_restart;         /* the best finished restart, or -1 */
  double best_inertia;
  int best_iterations, best_converged;
  int64_t best_relocations;
  double *best_centroids;   /* K x D, its final centroids (NULL when best_restart < 0) */
  double *best_trace;       /* best_iterations values */
} cs_kmeans_state_t;

/* Called at an iteration boundary to store the state (collective: every rank calls it with
 * the same state). */
typedef int (*cs_kmeans_checkpoint_fn)(void *arg, const cs_kmeans_state_t *s);

typedef struct cs_kmeans_opts {
  int k;
  int n_init;           /* restarts; the lowest final inertia wins */
  int max_iter;
  double tol;           /* on the centroid shift, relative to the mean feature variance */
  uint64_t seed;
  cs_init_t init;
  const double *init_centroids; /* K x D standardized, for CS_INIT_GIVEN */
  cs_algo_t algorithm;  /* Hamerly gives Lloyd's labels and centroids with fewer distances */
  /* Checkpoints: at each iteration boundary the ranks agree on a pending signal (then the
   * state goes to `checkpoint` and the fit returns CS_EINTERRUPTED; without a callback it
   * just returns) and, every `checkpoint_every` seconds (0: never), store the state and go
   * on. `resume`: continue from a stored state instead of starting. */
  cs_kmeans_checkpoint_fn checkpoint;
  void *checkpoint_arg;
  double checkpoint_every;
  const char *checkpoint_note;  /* appended to the interruption message (where it was written) */
  const cs_kmeans_state_t *resume;
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
  int64_t distances;            /* local row x centroid distances computed (statistics) */
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

/* The average silhouette below which Kaufman and Rousseeuw (Finding Groups in Data, 1990)
 * find no substantial structure: a K > 1 replaces K = 1 only above it. */
#define CS_KSELECT_STRUCTURE 0.25

/* The K rule, one step: going up in K, whether K with indices t replaces the choice held so
 * far (NULL: none yet). Also used by `custseg select-k` over a job array's fits. Local. */
int cs_kselect_takes(const cs_kindices_t *held, const cs_kindices_t *t, double min_share);
/* A warning from rank 0 when the chosen K > 1 has a silhouette below CS_KSELECT_STRUCTURE, or
 * none; k_min is the range's smallest K. Local. */
void cs_kselect_warn(const cs_kindices_t *chosen, int k_min);

/* Fit every K in [k_min, k_max] and keep the recommended one: going up from k_min, the
 * first K whose smallest segment holds at least min_share of the customers, replaced by a
 * larger qualifying K only when that K's silhouette is higher by more than 0.005 (so extra
 * segments must earn their keep). table (k_max - k_min + 1 entries) receives every K's
 * indices; *best the chosen fit. Collective. */
int cs_kmeans_select(cs_ctx_t *ctx, const cs_matrix_t *m, int64_t n_global,
                     const cs_kmeans_opts_t *o, int k_min, int k_max, double min_share,
                     int64_t sample, cs_kindices_t *table, cs_kmeans_result_t *best);

/* Write /segments: labels (int32, N, input row order, -1 for customers without a feature
 * row), customer_id (int64, N, input row order: ids[i] is the id of this rank's row
 * part->offset + i), centroids in original and standardized units, sizes, feature statistics
 * and the run's attributes. Collective. */
int cs_segment_write(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_matrix_t *m,
                     const cs_features_t *f, const cs_kmeans_result_t *r, const int64_t *ids,
                     const char *algorithm);
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

/* ---- re-segmentation: --previous RESULTS (docs/segments.md, Re-segmentation) ----------- */
/* Largest K, of this run or of the previous one, that can be matched (O(K^3) matching and a
 * (K + 1)^2 migration matrix replicated on every rank). */
#define CS_PREVIOUS_MAX_K 1000

/* When `names` (a file's feature names joined by CS_LIST_SEP, as cs_io_read_attr_list gives
 * them) are f's names in another order:
 * reorder the columns of c (k x d, row-major) in place into f's order and set *moved;
 * otherwise leave c as it is, *moved = 0. CS_ENOMEM only. Local. */
int cs_segment_centroids_reorder(const cs_features_t *f, double *c, int64_t k, const char *names,
                                 int *moved);
/* Centroids read from a file (k x d, row-major) into this run's standardized units, in
 * place: `units` "original" means original units (transformed like a customer's values with
 * f's statistics), "standardized" or "" means as they are; `names` (the dataset's feature
 * names joined by CS_LIST_SEP, "" when it has none) must be f's names, in f's order or in another
 * (then the columns are reordered by name, cs_segment_centroids_reorder). Errors
 * (CS_EUSAGE) start with `what`, e.g. "--init-centroids seg.h5:/segments/centroids": other
 * features, unknown units, a non-finite value. Local. */
int cs_segment_centroids_in(const cs_features_t *f, double *c, int64_t k, const char *units,
                            const char *names, const char *what);

/* A previous run's results file, as this run needs it. */
typedef struct cs_previous {
  char path[4096];
  char verification_hash[32]; /* its /segments@verification_hash */
  int k, d;
  char *features;             /* its feature names, joined by CS_LIST_SEP */
  double *centroids;          /* k x d, original units (its /segments/centroids) */
  double *standardized;       /* the same in this run's standardized units */
  int64_t n;                  /* rows of its /segments/labels and /segments/customer_id */
} cs_previous_t;

/* Read what this run needs of a previous results file, before any data of this run is read:
 * its centroids (which must be in original units and name their features), K (at most
 * CS_PREVIOUS_MAX_K), its verification hash, and the length of /segments/customer_id (results
 * written before it existed cannot be joined: an error). Collective; *prev is the same on
 * every rank; free with cs_previous_free (also after a failure). */
int cs_previous_read(cs_ctx_t *ctx, const char *path, cs_previous_t *prev);
/* Check that the previous run had this run's features, by name (its centroid columns put in
 * this run's order when the order differs), and fill prev->standardized with its centroids
 * in this run's standardized units. Errors (CS_EUSAGE) name both feature lists. With a layout
 * of cs_features_check (centre 0, spread 1) it makes the same refusals. Local (same answer on
 * every rank). */
int cs_previous_standardize(cs_previous_t *prev, const cs_features_t *f);
void cs_previous_free(cs_previous_t *prev);

/* This run against the previous one. */
typedef struct cs_migration {
  int kp, kn;                 /* previous K, this run's K */
  int *previous_id;           /* kn: previous segment matched to each segment, -1: appeared */
  int *appeared, n_appeared;  /* this run's segments matched to none, ascending */
  int *vanished, n_vanished;  /* previous segments matched to none, ascending */
  double *drift;              /* kn: distance to the matched previous centroid, original
                                 units (NaN when appeared) */
  double *drift_standardized; /* kn: the same in this run's standardized units */
  double match_cost;          /* sum of drift_standardized over the matched segments */
  int64_t *matrix;            /* (kp + 1) x (kn + 1): [p][q] customers in previous segment p
                                 and segment q; row kp: new customers; column kn: departed */
  int64_t both, added, departed; /* customers in both runs, only here, only there */
  int64_t departed_unassigned; /* of departed: in this run's store without a segment (-1) */
  int64_t added_unassigned;    /* of added: in the previous file without a segment (-1) */
  int64_t stayed;             /* customers in both runs whose segment is matched to their
                                 previous one */
  double ari;                 /* adjusted Rand index over the customers in both runs */
  int warm_start;             /* 1 when the fit started from the previous centroids */
} cs_migration_t;
void cs_migration_free(cs_migration_t *mig);
/* Whether segment q keeps its previous segment's id on centroids alone: fewer than half of the
 * previous segment's customers still present are in q, and at most half of q's customers
 * who were present before came from it (a new group near a segment that merged elsewhere);
 * or none of the previous segment's customers is present and q holds customers present
 * before, all from other segments (a group moved in under an id whose customers left).
 * *to: among the other segments, the one most of the previous segment's customers went to;
 * -1 when none is present. */
int cs_migration_weak(const cs_migration_t *mig, int q, int *to);

/* Match this run's segments to the previous ones by minimum total distance between
 * centroids (this run's standardized units, Hungarian algorithm), then renumber this run's
 * segments in place (centroids, sizes, weight sums, labels, and the verification hash
 * recomputed): segments matched to previous ones first, in the order of the previous ids (so
 * with an unchanged K segment j is the one matched to previous segment j), then the
 * unmatched ones in their own order. Fills previous_id, appeared, vanished, the drifts and
 * match_cost of *mig. Collective (identical on every rank). */
int cs_segment_rematch(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_features_t *f,
                       const cs_previous_t *prev, cs_kmeans_result_t *r, cs_migration_t *mig);
/* The migration matrix by a join on customer_id of the previous /segments/labels (read by
 * row blocks) and this run's labels (ids: the store's customer_id of this rank's rows of
 * part): (id, label) pairs are sent to the rank owning the id's hash, counted there, and the
 * (kp + 1) x (kn + 1) table reduced exactly; then the counts and the adjusted Rand index. A
 * customer with label -1 in a run counts as absent from it, and is counted apart when the
 * run has it (departed_unassigned, added_unassigned). Checks that the table's margins equal
 * both runs' segment sizes (CS_EVERIFY). Call after cs_segment_rematch. Collective. */
int cs_segment_migration(cs_ctx_t *ctx, const cs_part_t *part, const int64_t *ids,
                         const cs_matrix_t *m, const cs_previous_t *prev,
                         const cs_kmeans_result_t *r, cs_migration_t *mig);
/* The previous run's labels and ids as the join will use them, checked before the fit: a
 * label outside -1..K-1 or a repeated customer id is CS_EDATA naming the file. The same
 * exchange as cs_segment_migration, without this run's rows. Collective. */
int cs_previous_check(cs_ctx_t *ctx, const cs_previous_t *prev);
/* Write /segments/previous (the file, its hash, the matching, drifts and migration matrix).
 * Collective. */
int cs_segment_write_previous(cs_out_t *out, const cs_previous_t *prev,
                              const cs_migration_t *mig);

/* Minimum-cost assignment of rows to columns of a rows x cols cost matrix (row-major, finite
 * values; rectangular allowed): assign[i] is the column of row i, or -1 when there are more
 * rows than columns and row i is left out. min(rows, cols) pairs are made. Ties go the same
 * way on every call (lowest column first in each scan). Local. */
int cs_segment_match(const double *cost, int rows, int cols, int *assign);
/* Adjusted Rand index (Hubert and Arabie) of a rows x cols contingency table of counts
 * (leading dimension ld), exact pair counts in 128-bit integers; 1 when both partitions
 * agree on every pair, NaN with fewer than 2 customers. The same formula as scikit-learn's
 * adjusted_rand_score. Local. */
double cs_segment_ari(const int64_t *table, int rows, int cols, int64_t ld);

/* ---- personas: each segment in the units of the store (docs/segments.md, Personas) ----- */
#define CS_PERSONA_TOP 3       /* distinguishing columns per segment */
#define CS_PERSONA_LABEL_MAX 512

/* Per segment and persona column: the feature columns as the store holds them (before log1p,
 * scaling and weights; rfm_* computed columns included), a categorical column as one column
 * `name=level` per level whose values are 0/1 (the level's share). Arrays are row-major
 * k x p unless said otherwise; free with cs_segment_personas_free. */
typedef struct cs_personas {
  int k, p;
  char (*names)[CS_FEATURE_NAME_MAX]; /* p: "income", "region=north" */
  int *col_of;                        /* p: input column (index into the features' cols) */
  int *level;                         /* p: level of a categorical column, -1 when numeric */
  int64_t *count;                     /* k x p: customers with a finite value */
  double *mean, *median, *zdiff;      /* k x p; median NaN for a level; NaN without values */
  double *population_mean, *population_sd; /* p: over every customer with a segment */
  int32_t *top;                       /* k x CS_PERSONA_TOP: persona columns, -1 padding */
  char (*labels)[CS_PERSONA_LABEL_MAX]; /* k: "high monetary · recent · low support" */
} cs_personas_t;

/* The personas of a fit with its final segment ids (after cs_segment_rematch): reads the
 * feature columns of this rank's rows [part->offset, + part->n_local) from the store again,
 * labels them with r->labels through m->row (customers without a feature row have no
 * segment and are left out, also of the population), then exact sums (128-bit fixed point,
 * one packed reduction), the population standard deviations (a second one) and the medians
 * (cs_features_order_stats: 64 packed reductions for all segments x columns), so every
 * value is the same on any ranks x threads. Missing values (non-finite, or a category code
 * out of range) are left out of that column's statistics. Collective; *out is the same on
 * every rank. */
int cs_segment_personas(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                        const cs_features_t *f, const cs_matrix_t *m,
                        const cs_kmeans_result_t *r, cs_personas_t *out);
void cs_segment_personas_free(cs_personas_t *ps);
/* The three most distinguishing columns of one segment and its label (the rule of
 * docs/segments.md, Personas): top[0..CS_PERSONA_TOP) gets the columns of largest |zdiff|
 * (finite values only; ties to the lower column; -1 when fewer columns qualify), label the
 * words for them joined by " · " ("high NAME" when zdiff > 0, "low NAME" when < 0, "typical
 * NAME" when 0; "more NAME" for a categorical level, level[j] >= 0, whose share is above the
 * population's, and no word (not in top) for one below it; or a word
 * of the vocabulary for a well-known column, e.g. recency_days low: "recent"); "no
 * distinguishing column" when none qualifies. level may be NULL (no levels). Local, pure. */
void cs_segment_persona_label(const char (*names)[CS_FEATURE_NAME_MAX], const int32_t *level,
                              const double *zdiff, int p, int32_t *top, char *label,
                              size_t len);
/* The labels of all k segments (zdiff and top k x p and k x CS_PERSONA_TOP, row-major): each
 * by cs_segment_persona_label; segments that would share a label get the fewest further
 * columns' words (from up to 6 columns, whole words within 488 bytes) that tell every one of
 * them apart, and where no
 * number does, " (segment Q)" after the label. Local, pure. */
void cs_segment_persona_labels(const char (*names)[CS_FEATURE_NAME_MAX], const int32_t *level,
                               const double *zdiff, int k, int p, int32_t *top,
                               char (*labels)[CS_PERSONA_LABEL_MAX]);
/* Write /segments/personas: datasets mean, median, zdiff (float64 k x p), count (int64
 * k x p), population_mean, population_sd (float64 p), top (int32 k x CS_PERSONA_TOP) and
 * the group's attributes columns (p strings) and labels (k strings). Collective. */
int cs_segment_write_personas(cs_out_t *out, const cs_personas_t *ps);
/* The personas as CSV, one row per segment: segment, customers (sizes[q]), label, then
 * mean_<column>, median_<column> for each column (the shortest text that reads back to the
 * same double; NaN as "nan"). Returns 0, or -1 when a write failed. Local. */
int cs_segment_personas_csv(FILE *fp, const cs_personas_t *ps, const int64_t *sizes);

/* ---- internal pieces shared by the segment sources ---- */
/* k-means|| (5 rounds, oversampling 2K) with draws keyed by customer id; K x D centroids.
 * Collective. */
int cs__kmeans_par(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                   double *centroids);
/* Fixed-point exponents for one run: Sum w, Sum w ||x||^2 (Sum w x has one per feature). */
typedef struct cs_kscale {
  int sw, sd;
} cs_kscale_t;

/* k-means++ (greedy, 2 + ln K candidates per step) with draws keyed by (seed, restart,
 * customer id). Writes K x D centroids. Collective. */
int cs__kmeans_pp(cs_ctx_t *ctx, const cs_matrix_t *m, int k, uint64_t seed, int restart,
                  double *centroids);
/* Between seeding steps: the ranks agree on a pending SIGTERM/SIGUSR1 and stop with
 * CS_EINTERRUPTED naming `init`, the restart and the step (the caller adds what was
 * checkpointed). Collective. */
int cs__seed_poll(cs_ctx_t *ctx, const char *init, int restart, int step, int steps);

#endif
