/* features: from store columns to the feature matrix every model stage uses.
 *
 * Selected columns become a float32 row-major block per rank (n_local x d). Per column:
 * optional log1p, then scaling with global statistics reduced exactly across ranks (z-score:
 * mean and standard deviation; robust: median and interquartile range, found by exact
 * distributed bisection; none), an optional feature weight, and a missing-value policy.
 * Categorical columns (integer with `categories`) become one 0/1 feature per level, not
 * scaled. The fitted statistics are a plain struct that can be stored with the results and
 * applied to another store, so training and scoring see the same features. */
#ifndef CUSTSEG_FEATURES_H
#define CUSTSEG_FEATURES_H

#include "custseg/io.h"

#define CS_MAX_FEATURES 256
#define CS_FEATURE_NAME_MAX 128

/* Columns that are never candidate features by default: the id, the transaction index and
 * the reserved outcome columns (docs/format.md). */
int cs_features_is_reserved(const char *name);
/* The first column of the store (name order) other than `except` whose name says it is a
 * churn label under another name (`Churn`, `churn`, `Attrition`, `Exited`: exports rarely
 * call it `churned`), or NULL. For hints in messages. Local. */
const char *cs_features_label_like(const cs_store_t *store, const char *except);

/* A column that must never be a feature of a model (its label, its split), and why; or, with
 * named_ok, one that is only left out of the default features (the customer weights). */
typedef struct cs_feature_exclude {
  const char *column; /* NULL ends a list */
  const char *why;    /* "the churn label (--label-column)" */
  int named_ok;       /* --features may still name it */
} cs_feature_exclude_t;

/* Resolve a comma-separated feature list (NULL or "" = every candidate column: numeric, not
 * reserved and not in `exclude`) against the store. `exclude` (ended by a NULL column, may be
 * NULL) lists the columns that must never be features of this model: naming one in the list
 * is a usage error. Other errors: an unknown name, a non-numeric
 * column, a duplicate, too many. names[i] point into the store's column table. Local (the
 * store's metadata is the same on every rank, so so is the answer). */
int cs_features_resolve(const cs_store_t *store, const char *list,
                        const cs_feature_exclude_t *exclude, const char **names, int *n_names);

/* Which values of a 0/1 flag column (churned, converted, treated, a churn label) mean 1 and
 * 0: 1 and 0 for a numeric column (0 and 1 when `positive` is "0"; another `positive` is an
 * error). For a categorical one (codes in level order, which is byte
 * order when inferred, so "stayed" < "left" would invert a label), the code of the level named
 * `positive` (case-insensitive) when given, else of the one level that reads as yes (yes, y,
 * true, t, 1; by role: treatment, treated, test for a campaign's `treated`, holdout, test for
 * a churn split), else the other of the one that reads as no (no, n, false, f, 0; control,
 * holdout for `treated`; train, training for a split), else of the level named as the column
 * ("churned" in churned); the other level is 0. Errors (naming the store, the column and its levels, and
 * `option`, the command's way to name the level, when it has one): not two levels, no level
 * `positive`, or no level decided by those words. Local. */
typedef enum { CS_FLAG_EVENT = 0, CS_FLAG_TREATED, CS_FLAG_SPLIT } cs_flag_role_t;
int cs_features_flag_values(const char *store_path, const cs_column_t *c, cs_flag_role_t role,
                            const char *positive, const char *option, double *one, double *zero);

typedef enum { CS_SCALE_ZSCORE = 0, CS_SCALE_ROBUST, CS_SCALE_NONE } cs_scale_t;
typedef enum { CS_MISSING_IMPUTE = 0, CS_MISSING_DROP, CS_MISSING_ERROR } cs_missing_t;

/* What the user asked for (all strings may be NULL). */
typedef struct cs_feature_spec {
  const char *features;      /* comma list, NULL = candidates */
  const char *log1p;         /* comma list of columns to transform with log1p */
  const char *weights;       /* "name:w,name:w" feature weights (default 1) */
  const char *weight_column; /* per-customer weights (>= 0, finite) */
  cs_scale_t scale;
  cs_missing_t missing;
  /* Optional: fit the statistics on the customers for which fit_row(id, row, arg) is true
   * only (e.g. the training part of a split, so the holdout never informs the model); row is
   * the customer's row in the store. */
  int (*fit_row)(int64_t customer_id, int64_t row, const void *arg);
  const void *fit_arg;
  /* Columns that are never features here (e.g. the churn label); a NULL column ends it. */
  cs_feature_exclude_t exclude[4];
} cs_feature_spec_t;

/* One input column and its fitted statistics (after log1p, before scaling). */
/* A known value this many training standard deviations from the training mean is counted
 * apart from the drift's mean shift and spread ratio (one typo such as 1e300 would otherwise
 * set both). */
#define CS_DRIFT_FAR 1000.0

typedef struct cs_feature_col {
  char name[CS_NAME_MAX];
  int log1p;
  int n_levels;          /* > 0: categorical, one-hot into n_levels features */
  char **levels;
  double weight;
  double mean, std, median, iqr;
  double min, max;
  int64_t missing;       /* NaN, +-inf, or a category code out of range */
  int first;             /* index of its first output feature */
  /* Built with fitted statistics from a store whose levels are the model's in another order,
   * or a subset of them: the model's level of each of this store's n_codes codes (NULL when
   * the codes are the model's). */
  int32_t *code_map;
  int n_codes;
  /* Built with fitted statistics (a stored model applied to another store): this store's
   * known values against them, (mean - theirs) / their std and std / their std; NaN for a
   * categorical column, or when not built that way. */
  double drift_shift, drift_ratio;
  int64_t drift_far;     /* values beyond CS_DRIFT_FAR training standard deviations, left out */
} cs_feature_col_t;

typedef struct cs_features {
  cs_scale_t scale;
  cs_missing_t missing;
  char weight_column[CS_NAME_MAX]; /* "" when none */
  int n_cols;
  cs_feature_col_t *cols;
  int d;                           /* output features */
  char (*names)[CS_FEATURE_NAME_MAX];
  double *center, *spread, *weight;  /* per output feature: z = (x - center) / spread * weight */
  int *col_of;                       /* input column of each output feature */
  int64_t n_total;                   /* customers in the store */
  int64_t n_used;                    /* customers with a feature row (all unless drop) */
  int64_t rows_with_missing;
} cs_features_t;

/* Advice for scaled features outside lo .. hi in magnitude (fmx: each output feature's
 * largest magnitude in the matrix, over all ranks; mx: their largest): which feature, and
 * whether its column or its --feature-weights weight took it there (the weight is blamed
 * only for a feature within the range without it; a one-hot column's values are its weight).
 * Written into why (len bytes) when there is something to say; left as it is otherwise. */
void cs_features_range_advice(const cs_features_t *f, const double *fmx, double mx, double lo,
                              double hi, char *why, size_t len);

/* The per-rank matrix. */
typedef struct cs_matrix {
  int64_t n;       /* rows held (local customers, minus dropped ones) */
  int d;
  float *x;        /* n x d, row-major, 64-byte aligned */
  double *w;       /* per-row weights, NULL when unweighted */
  const struct cs_features *feat; /* the pipeline that built it, for messages (names,
                                      weights, the weight column); NULL when unknown */
  int64_t *row;    /* global row of each matrix row (input order) */
  int64_t *id;     /* customer_id of each matrix row */
} cs_matrix_t;

/* Fit the statistics on `store` (or reuse `fitted` when not NULL, to apply a stored model)
 * and build this rank's matrix. Errors: see docs (unknown/non-numeric column, zero variance,
 * no finite values, missing values under --missing error, bad weights). Collective. */
int cs_features_build(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                      const cs_feature_spec_t *spec, const cs_features_t *fitted,
                      cs_features_t **out, cs_matrix_t *m);
void cs_features_free(cs_features_t *f);
/* The column of f with the most levels (one-hot features), for messages of size. Local. */
int cs_features_widest(const cs_features_t *f);
/* Warn (as `who`) when the features `spec` selects from the store's schema number more than
 * CS_FEATURES_MANY: a text column of thousands of levels (an id or free text imported as
 * categorical) is a one-hot block as wide, said before the matrix of `rows` rows is made
 * (10^5 levels had run for minutes in GBs without a word). Layout errors are left to the
 * build. Local (call it on one rank). */
#define CS_FEATURES_MANY 1000
void cs_features_warn_wide(const cs_store_t *store, const cs_feature_spec_t *spec, int64_t rows,
                           const char *who);
/* The checks of cs_features_build that need only the store's schema (names, types, levels,
 * --log1p, --feature-weights, --weight-column), reading no rows: run's dry pass. With
 * `layout`, also the features' names, count and weights, with centre 0 and spread 1 in place
 * of statistics (free with cs_features_free). Local. */
int cs_features_check(const cs_store_t *store, const cs_feature_spec_t *spec,
                      cs_features_t **layout);
void cs_matrix_free(cs_matrix_t *m);
/* Raise mx[0] to the largest |x| of this rank's matrix and set mx[1] to its largest weight,
 * 1 without weights (the bounds that size the exact fixed-point sums over it; weights all
 * 1e-20 had been bounded by 1 and summed to 0). Local; OpenMP. */
void cs_matrix_max(const cs_matrix_t *m, double mx[2]);
/* Standardized -> original units for one output feature (inverse scaling and log1p); NaN for
 * a feature of weight 0, which takes no part in the fit. */
double cs_features_to_original(const cs_features_t *f, int j, double z);
/* Original -> standardized units (the forward transform of one value); 0 for weight 0. */
double cs_features_from_original(const cs_features_t *f, int j, double x);
/* Store the statistics under `group` (names, center, spread, weight, per-column stats). */
int cs_features_write(cs_out_t *out, const cs_features_t *f, const char *group);
/* Read statistics written by cs_features_write (e.g. a model's), to apply them to another
 * store with cs_features_build(..., fitted, ...). Collective. */
int cs_features_read(cs_ctx_t *ctx, const char *path, const char *group, cs_features_t **out);
/* Parse the scale / missing option words. Local. */
int cs_features_parse_scale(const char *s, cs_scale_t *v);
int cs_features_parse_missing(const char *s, cs_missing_t *v);

/* Exact order statistics of many cells at once (quantile.c; robust scaling, the medians of
 * the segment personas). This rank's rows [0, n) of ncol columns (cols[c][i]; non-finite
 * values are left out); row i belongs to group group[i] (NULL: every row to group 0;
 * negative: to none). For cell (g, c), g < ngroup, and j < nr, out[(g * ncol + c) * nr + j]
 * gets the value of 0-based rank rank[(g * ncol + c) * nr + j] among the cell's finite values
 * on all ranks in ascending order (-0.0 before +0.0), or NaN when the cell has fewer values.
 * Radix selection on the bytes of the doubles, most significant first: 8 rounds, each one
 * pass (OpenMP) over the keys still in play and one packed reduction of 256-bin histograms,
 * so the answer is exact and the same on any ranks x threads. Work space: one 64-bit key per
 * value and threads x ngroup x ncol x nr x 2 KiB of histograms. Collective. */
int cs_features_order_stats(cs_ctx_t *ctx, int64_t n, int ncol, const double *const *cols,
                            const int32_t *group, int ngroup, int nr, const int64_t *rank,
                            double *out);

#endif
