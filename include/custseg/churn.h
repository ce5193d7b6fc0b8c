/* churn: L2-regularized logistic regression trained across ranks, scores, honest metrics.
 *
 * Training is Newton's method (IRLS): the gradient, the (D+1) x (D+1) Hessian and the loss
 * travel in one packed reduction of exact fixed-point sums per iteration, so coefficients
 * are bit-identical for any ranks x threads. The train/holdout split is a hash of
 * customer_id (xxHash), so it does not depend on the decomposition either. Metrics are
 * computed on the holdout without gathering scores: AUC from a 2^20-bin histogram with its
 * error bound, log-loss and Brier from exact sums, calibration and gains from the same
 * histogram. */
#ifndef CUSTSEG_CHURN_H
#define CUSTSEG_CHURN_H

#include "custseg/features.h"

typedef struct cs_churn_opts {
  double l2;            /* penalty lambda on the coefficients (= 1 / C of scikit-learn) */
  int balanced;         /* class weights n / (2 n_class) */
  double holdout;       /* share of labelled customers held out */
  uint64_t seed;        /* split hash seed */
  int max_iter;
  double tol;           /* on the largest Newton step */
  int64_t hessian_rows; /* Hessian sample size of the Newton steps; 0 = every training row */
  const char *label_positive; /* a categorical label's churned level (NULL: the one reading yes) */
  /* A split given by a store column (--holdout-column) instead of the hash: one flag per row
   * of this rank's part (split[row - split_offset]: 1 holdout, 0 training); NULL: the hash. */
  uint8_t *split;
  int64_t split_offset;
} cs_churn_opts_t;

typedef struct cs_churn_model {
  int p;                /* 1 + D: intercept first */
  double *coef;         /* p */
  double *se;           /* p standard errors (inverse penalized Hessian) */
  int iterations, converged, separable;
  double loss;          /* penalized training loss at the optimum */
  double class_weight[2];
} cs_churn_model_t;

/* Labels per matrix row: 0/1, or -1 unknown; holdout flag per row. */
typedef struct cs_churn_data {
  int8_t *y;
  uint8_t *holdout;
  int64_t counts[2][3]; /* [train, holdout] x [negatives, positives, unknown] (global) */
  char level[2][128];   /* a categorical label's levels meaning stayed and churned, else "" */
} cs_churn_data_t;

#define CS_CHURN_CAL_BINS 10
#define CS_CHURN_DECILES 10
typedef struct cs_churn_metrics {
  int64_t n, positives;
  double auc, auc_error_bound, logloss, brier;
  double cal_mean_pred[CS_CHURN_CAL_BINS], cal_observed[CS_CHURN_CAL_BINS];
  int64_t cal_count[CS_CHURN_CAL_BINS];
  double gain[CS_CHURN_DECILES];  /* share of positives captured in the top (i+1)/10 */
  double lift[CS_CHURN_DECILES];  /* cumulative lift at depth (i+1)/10 */
} cs_churn_metrics_t;

/* Whether a customer (its id and store row, a row of this rank's part) is in the holdout:
 * split[row] when the split is a column, else XXH3_64(id, seed) < holdout * 2^64. Local. */
int cs_churn_in_holdout(int64_t customer_id, int64_t row, const cs_churn_opts_t *o);
/* Read the split from /customers/<column> (0 training, 1 holdout; any other value, missing
 * included, is an error naming the row) into o->split for this rank's part; freed by
 * cs_churn_opts_free. Collective. */
int cs_churn_read_split(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                        const char *column, cs_churn_opts_t *o);
void cs_churn_opts_free(cs_churn_opts_t *o);
/* For each of the matrix's d features, its standard deviation over the training customers
 * (labelled, not holdout) in the matrix's units, in sd[d]: near 0 in scaled units, a few
 * extreme values elsewhere in the store set the feature's scale and the training customers
 * hardly differ in it. Double sums reduced across ranks (used for a warning only).
 * Collective. */
int cs_churn_train_spread(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                          double *sd);
/* Read `label_column` (default churned) for the matrix rows (a categorical label through
 * cs_features_flag_values) and split. Collective. */
int cs_churn_labels(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, const cs_matrix_t *m,
                    const char *label_column, const cs_churn_opts_t *o, cs_churn_data_t *data);
void cs_churn_data_free(cs_churn_data_t *data);
/* Train on the labelled training rows. Errors: no labelled customers, one class only.
 * Collective. */
int cs_churn_train(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                   const cs_churn_opts_t *o, cs_churn_model_t *model);
void cs_churn_model_free(cs_churn_model_t *model);
/* Probability for every matrix row. Local; fails only when out of memory. */
int cs_churn_score(const cs_churn_model_t *model, const cs_matrix_t *m, float *score);
/* Metrics over rows with y in {0,1} and holdout == want_holdout. Collective. */
int cs_churn_metrics(cs_ctx_t *ctx, const float *score, const cs_churn_data_t *data, int64_t n,
                     int want_holdout, cs_churn_metrics_t *out);

#endif
