/* features/pipeline.c: columns -> standardized float32 feature matrix, per rank.
 *
 * Each feature column is read once into a rank-local double buffer; its global statistics
 * come from exact (fixed-point, 128-bit) sums and exact distributed order statistics, so the
 * centre and spread of every feature, and therefore every matrix entry, are bit-identical
 * for any number of ranks. Memory: the matrix plus one column of doubles and four columns of
 * floats (the stage, below) per rank. Every per-row loop runs under OpenMP. */
#include "custseg/features.h"

#include "layout.h"
#include "quantile.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cs_features_parse_scale(const char *s, cs_scale_t *v) {
  if (!s || !strcmp(s, "zscore")) *v = CS_SCALE_ZSCORE;
  else if (!strcmp(s, "robust")) *v = CS_SCALE_ROBUST;
  else if (!strcmp(s, "none")) *v = CS_SCALE_NONE;
  else
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                        "--scale must be zscore, robust or none, not '%s'", s);
  return CS_OK;
}

int cs_features_parse_missing(const char *s, cs_missing_t *v) {
  if (!s || !strcmp(s, "impute")) *v = CS_MISSING_IMPUTE;
  else if (!strcmp(s, "drop")) *v = CS_MISSING_DROP;
  else if (!strcmp(s, "error")) *v = CS_MISSING_ERROR;
  else
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                        "--missing must be impute, drop or error, not '%s'", s);
  return CS_OK;
}

void cs_features_free(cs_features_t *f) {
  if (!f) return;
  for (int i = 0; f->cols && i < f->n_cols; i++) {
    for (int l = 0; f->cols[i].levels && l < f->cols[i].n_levels; l++) free(f->cols[i].levels[l]);
    free(f->cols[i].levels);
    free(f->cols[i].code_map);
  }
  free(f->cols);
  free(f->names);
  free(f->center);
  free(f->spread);
  free(f->weight);
  free(f->col_of);
  free(f);
}

void cs_matrix_free(cs_matrix_t *m) {
  cs_free(m->x);
  cs_free(m->w);
  cs_free(m->row);
  cs_free(m->id);
  memset(m, 0, sizeof *m);
}

void cs_matrix_max(const cs_matrix_t *m, double mx[2]) {
  const int64_t nv = m->n * m->d;
  float ax = 0.0f;
  double aw = m->w ? 0.0 : 1.0;
#pragma omp parallel for simd schedule(static) reduction(max : ax)
  for (int64_t v = 0; v < nv; v++) {
    float a = fabsf(m->x[v]);
    ax = a > ax ? a : ax;
  }
  if (m->w) {
#pragma omp parallel for simd schedule(static) reduction(max : aw)
    for (int64_t i = 0; i < m->n; i++) aw = m->w[i] > aw ? m->w[i] : aw;
  }
  mx[0] = fmax(mx[0], (double)ax);
  mx[1] = aw;
}

/* Exact sum of trunc(v * 2^s) over the finite entries x of buf, where v is x * pre, or the
 * squared deviation of x * pre from `center` when `squared` (pre: cs_fixed_prescale). Integer
 * sums, so the result is the same for any split over threads; int64 partials of
 * CS_FIXED_BLOCK entries, as cs_fixacc_t. */
static cs_fixed_t fixed_sum(const double *buf, int64_t n, double pre, double center, int squared,
                            int s) {
  const double scale = ldexp(1.0, s);
  const int64_t nb = (n + CS_FIXED_BLOCK - 1) / CS_FIXED_BLOCK;
  cs_fixed_t total = 0;
#pragma omp parallel
  {
    cs_fixed_t mine = 0;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      const int64_t lo = b * CS_FIXED_BLOCK, hi = lo + CS_FIXED_BLOCK < n ? lo + CS_FIXED_BLOCK : n;
      int64_t part = 0;
#pragma omp simd reduction(+ : part)
      for (int64_t i = lo; i < hi; i++) {
        double x = buf[i];
        double y = x * pre, e = squared ? (y - center) * (y - center) : y;
        part += fabs(x) <= DBL_MAX ? (int64_t)(e * scale) : 0;
      }
      mine += part;
    }
#pragma omp critical(cs_features_fixed_sum)
    total += mine;
  }
  return total;
}

/* Global statistics of one numeric column (finite values of buf[0..n)). Collective. */
static int column_stats(cs_ctx_t *ctx, const char *path, const double *buf, int64_t n,
                        cs_scale_t scale, cs_feature_col_t *c) {
  int status = CS_OK;
  double hi = -INFINITY, neg_lo = -INFINITY;
  int64_t cnt = 0;
#pragma omp parallel for simd schedule(static) reduction(max : hi, neg_lo) reduction(+ : cnt)
  for (int64_t i = 0; i < n; i++) {
    double x = buf[i];
    int finite = fabs(x) <= DBL_MAX;
    cnt += finite;
    double v = finite ? x : -INFINITY, w = finite ? -x : -INFINITY;
    hi = v > hi ? v : hi;
    neg_lo = w > neg_lo ? w : neg_lo;
  }
  /* max, -min, max |x| (0 where this rank holds no finite value: -inf would make it inf) */
  double mx[3] = {hi, neg_lo, cnt ? fmax(fabs(hi), fabs(neg_lo)) : 0.0};
  CS_TRY(cs_par_allreduce(ctx, mx, 3, CS_DT_F64, CS_OP_MAX));
  CS_TRY(cs_par_allreduce(ctx, &cnt, 1, CS_DT_I64, CS_OP_SUM));
  /* Only a training split can get here without a finite value: the caller refuses a store
   * whose every value is missing before it asks for statistics. */
  CS_CHECK(cnt > 0, CS_EDATA,
           "%s: feature '%s' has no finite values among the customers the model is fitted on "
           "(the training split)", path, c->name);
  c->max = mx[0];
  c->min = -mx[1];
  /* The sums run on the values times a power of two that brings the largest near 1: the
   * same integers as on the values themselves, but neither the grid's cap (values near
   * 1e-150 had got a standard deviation 85% too small) nor the squares' overflow (a spread
   * near 1e154 had given an infinite one) depends on the column's unit. */
  const double pre = cs_fixed_prescale(mx[2]);
  int s = cs_fixed_exponent(mx[2] * pre, cnt);
  cs_fixed_t sum = fixed_sum(buf, n, pre, 0.0, 0, s);
  CS_TRY(cs_par_sum_i128(ctx, &sum));
  const double mean = cs_from_fixed(sum, s) / (double)cnt; /* in the prescaled unit */
  c->mean = mean / pre;
  /* Second pass on deviations: no cancellation, still exact in its grid. */
  double dev = fmax(c->max * pre - mean, mean - c->min * pre);
  int s2 = cs_fixed_exponent(dev * dev, cnt);
  cs_fixed_t ss = fixed_sum(buf, n, pre, mean, 1, s2);
  CS_TRY(cs_par_sum_i128(ctx, &ss));
  c->std = sqrt(cs_from_fixed(ss, s2) / (double)cnt) / pre;
  /* The same on every rank (global sums), so the error is collective. */
  CS_CHECK(isfinite(c->std), CS_EDATA,
           "%s: feature '%s' has a standard deviation beyond the largest double (values from "
           "%g to %g); rescale the column or leave it out", path, c->name, c->min, c->max);
  if (scale == CS_SCALE_ROBUST) {
    double q[3], probs[3] = {0.25, 0.5, 0.75};
    CS_TRY(cs_quantiles(ctx, buf, n, cnt, probs, 3, q));
    c->median = q[1];
    c->iqr = q[2] - q[0];
  }
fail:
  return status;
}

static double center_of(const cs_features_t *f, const cs_feature_col_t *c) {
  return f->scale == CS_SCALE_ZSCORE ? c->mean : f->scale == CS_SCALE_ROBUST ? c->median : 0.0;
}
static double spread_of(const cs_features_t *f, const cs_feature_col_t *c) {
  return f->scale == CS_SCALE_ZSCORE ? c->std : f->scale == CS_SCALE_ROBUST ? c->iqr : 1.0;
}

/* A feature of weight 0 takes no part in the fit: its standardized value is 0 for every
 * customer, so a centroid says nothing of it in original units (NaN; docs/segments.md). */
double cs_features_to_original(const cs_features_t *f, int j, double z) {
  const cs_feature_col_t *c = &f->cols[f->col_of[j]];
  if (!(f->weight[j] > 0)) return NAN;
  double x = f->center[j] + f->spread[j] * z / f->weight[j];
  return c->log1p ? expm1(x) : x;
}

double cs_features_from_original(const cs_features_t *f, int j, double x) {
  const cs_feature_col_t *c = &f->cols[f->col_of[j]];
  if (!(f->weight[j] > 0)) return 0.0;
  if (c->log1p) x = log1p(x);
  return (x - f->center[j]) / f->spread[j] * f->weight[j];
}

/* Read one column into buf (doubles), apply log1p and flag missing entries. Collective. */
static int read_column(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                       const cs_feature_col_t *c, double *buf, uint8_t *miss, int64_t *n_miss) {
  int status = CS_OK;
  const int64_t nl = part->n_local;
  CS_TRY(cs_store_read(store, c->name, part->offset, nl, CS_DT_F64, buf));
  int64_t m = 0, first_bad = INT64_MAX; /* local index of the first value log1p refuses */
  int64_t n_unseen = 0, first_unseen = INT64_MAX; /* codes of levels the model lacks */
#pragma omp parallel for schedule(static) reduction(+ : m, n_unseen) \
    reduction(min : first_bad, first_unseen)
  for (int64_t i = 0; i < nl; i++) {
    double x = buf[i];
    if (c->code_map) { /* this store's code to the model's */
      const double y =
          x >= 0 && x < c->n_codes && x == floor(x) ? (double)c->code_map[(int64_t)x] : NAN;
      if (y < 0) { /* an error below; buf keeps the store's code for its message */
        if (i < first_unseen) first_unseen = i;
        n_unseen++;
        miss[i] = 1;
        m++;
        continue;
      }
      x = y;
    } else if (c->n_levels) {
      if (!(x >= 0 && x < c->n_levels && x == floor(x))) x = NAN;
    } else if (c->log1p && isfinite(x)) {
      if (x <= -1) { /* an error below; keep the value for its message */
        if (i < first_bad) first_bad = i;
        miss[i] = 1;
        m++;
        continue;
      }
      x = log1p(x);
    }
    if (!isfinite(x)) {
      x = NAN;
      miss[i] = 1;
      m++;
    }
    buf[i] = x;
  }
  int64_t bad_row = first_bad < INT64_MAX ? part->offset + first_bad : -1;
  double bad = bad_row >= 0 ? buf[first_bad] : 0;
  int local = CS_OK;
  if (bad_row >= 0)
    local = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                         "%s: --log1p column '%s' has %g at row %lld (log1p needs values > -1)",
                         store->path, c->name, bad, (long long)bad_row);
  if (c->code_map) { /* the lowest failing rank's message is kept: it has the first row */
    int64_t total = n_unseen;
    CS_TRY(cs_par_allreduce(ctx, &total, 1, CS_DT_I64, CS_OP_SUM));
    if (n_unseen && local == CS_OK)
      local = cs__features_unseen_level(store, c, (int)buf[first_unseen], total,
                                        part->offset + first_unseen);
  }
  CS_TRY(cs_par_agree(ctx, local));
  *n_miss = m;
fail:
  return status;
}

/* Missing values under --missing error: name the first column and row. Collective. */
static int refuse_missing(cs_ctx_t *ctx, const cs_store_t *store, const cs_feature_col_t *c,
                          const uint8_t *miss, const cs_part_t *part, int64_t total,
                          int fitted) {
  int64_t first = INT64_MAX;
  for (int64_t i = 0; i < part->n_local && first == INT64_MAX; i++)
    if (miss[i]) first = part->offset + i;
  int status = cs_par_allreduce(ctx, &first, 1, CS_DT_I64, CS_OP_MIN);
  if (status < 0) return status;
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s: feature '%s' has %lld missing or non-finite values (first at row "
                      "%lld) and %s",
                      store->path, c->name, (long long)total, (long long)first,
                      fitted ? "the model's statistics were fitted with --missing error, which "
                               "scoring keeps (retrain with --missing impute or drop)"
                             : "--missing is error");
}

/* The standard deviation of n = a[2] values z from their exact sums a[0] (grid 2^-s1) and
 * a[1] of z^2 (grid 2^-s2): (n S2 - S1^2) / n^2 in quad precision, since it cancels to
 * nothing for a constant column; a variance within the grids' truncation (a term of a[0] is
 * off by less than one step, one of a[1] by less than two) is 0. */
static double drift_spread(const cs_fixed_t *a, int s1, int s2) {
  const __float128 n = (__float128)a[2], s1q = (__float128)a[0];
  const __float128 v = (n * (__float128)a[1] * (__float128)ldexp(1.0, 2 * s1 - s2) - s1q * s1q) /
                       (n * n); /* in units of 2^-2s1 */
  const double var = ldexp((double)v, -2 * s1);
  const double mu = fabs(cs_from_fixed(a[0], s1) / (double)a[2]);
  const double err = ldexp(2.0, -s2) + (2 * mu + ldexp(1.0, -s1)) * ldexp(1.0, -s1);
  return var > err ? sqrt(var) : 0.0;
}

/* Scaled columns wait in a column-major stage of STAGE_COLS columns and go into the row-major
 * matrix together, so each pass over the matrix writes STAGE_COLS values of a row instead of
 * one (a pass touches every cache line of the matrix however few values it writes). */
enum { STAGE_COLS = 4, STAGE_ROWS = 2048 };

static void flush_stage(cs_matrix_t *m, const float *stage, const int *col, int ns) {
  const int64_t nl = m->n;
  const int d = m->d;
  if (!ns) return;
#pragma omp parallel for schedule(static)
  for (int64_t i0 = 0; i0 < nl; i0 += STAGE_ROWS) {
    const int64_t i1 = i0 + STAGE_ROWS < nl ? i0 + STAGE_ROWS : nl;
    for (int s = 0; s < ns; s++) {
      const float *src = stage + (int64_t)s * nl;
      float *dst = m->x + col[s];
      for (int64_t i = i0; i < i1; i++) dst[i * d] = src[i];
    }
  }
}

int cs_features_build(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                      const cs_feature_spec_t *spec, const cs_features_t *fitted,
                      cs_features_t **out, cs_matrix_t *m) {
  int status = CS_OK;
  cs_features_t *f = calloc(1, sizeof *f);
  double *buf = NULL, *sbuf = NULL; /* sbuf: the column as the statistics see it */
  uint8_t *miss = NULL, *row_miss = NULL, *fit = NULL;
  cs_fixed_t *drift = NULL; /* exact sums, so the drift is the same on any number of ranks */
  int drift_s1 = 0, drift_s2 = 0;
  float *stage = NULL; /* up to STAGE_COLS scaled columns, column-major, before the matrix */
  int staged_col[STAGE_COLS], n_staged = 0;
  int64_t nl = part->n_local;
  memset(m, 0, sizeof *m);
  *out = NULL;
  int local = f ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  if (local == CS_OK) {
    f->scale = fitted ? fitted->scale : spec->scale;
    f->missing = fitted ? fitted->missing : spec->missing;
    const char *wc = fitted ? fitted->weight_column : spec->weight_column;
    snprintf(f->weight_column, sizeof f->weight_column, "%s", wc ? wc : "");
    local = cs__features_layout(store, spec, fitted, f);
  }
  CS_TRY(cs_par_agree(ctx, local));
  f->n_total = store->n;
  m->feat = f;
  m->d = f->d;
  m->n = nl;
  buf = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *buf), "feature column");
  sbuf = buf;
  miss = cs_alloc(cs_bytes(nl ? nl : 1, 1), "missing flags");
  row_miss = cs_calloc(cs_bytes(nl ? nl : 1, 1), "missing flags");
  m->x = cs_alloc(cs_bytes((nl * f->d) > 0 ? nl * f->d : 1, sizeof *m->x), "feature matrix");
  stage = cs_alloc(cs_bytes(STAGE_COLS * (nl ? nl : 1), sizeof *stage), "feature columns");
  m->row = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *m->row), "rows");
  m->id = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *m->id), "customer ids");
  local = buf && miss && row_miss && m->x && stage && m->row && m->id ? CS_OK : CS_ENOMEM;
  CS_TRY(cs_par_agree(ctx, local));
  CS_TRY(cs_store_read(store, "customer_id", part->offset, nl, CS_DT_I64, m->id));
  for (int64_t i = 0; i < nl; i++) m->row[i] = part->offset + i;

  /* Rows whose values fit the statistics (all, unless the caller holds some out). */
  if (!fitted && spec->fit_row) {
    fit = cs_alloc(cs_bytes(nl ? nl : 1, 1), "fit rows");
    sbuf = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *sbuf), "fit column");
    CS_TRY(cs_par_agree(ctx, fit && sbuf ? CS_OK : CS_ENOMEM));
    int64_t n_fit = 0;
    for (int64_t i = 0; i < nl; i++) {
      fit[i] = (uint8_t)(spec->fit_row(m->id[i], m->row[i], spec->fit_arg) != 0);
      n_fit += fit[i];
    }
    CS_TRY(cs_par_allreduce(ctx, &n_fit, 1, CS_DT_I64, CS_OP_SUM));
    CS_CHECK(n_fit > 0, CS_EDATA, "%s: no customer is in the training split, on which the "
             "model's feature statistics are fitted: every one is in the holdout (--holdout or "
             "--holdout-column)", store->path);
  }
  /* With fitted statistics: per column, the sum, the sum of squares and the count of this
   * store's known values in their standard deviations (drift), and the count of those beyond
   * CS_DRIFT_FAR of them, left out of the three; reduced once at the end. The sums are fixed
   * point on grids set by the bounds CS_DRIFT_FAR and its square. */
  if (fitted) {
    drift_s1 = cs_fixed_exponent_wide(CS_DRIFT_FAR, store->n);
    drift_s2 = cs_fixed_exponent_wide(CS_DRIFT_FAR * CS_DRIFT_FAR, store->n);
    drift = calloc((size_t)(4 * f->n_cols + 1), sizeof *drift);
    CS_TRY(cs_par_agree(ctx, drift ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                          "out of memory")));
  }
  cs_progress_t prog;
  cs_progress_start(&prog, "features (columns)", f->n_cols);
  for (int ci = 0; ci < f->n_cols; ci++) {
    cs_feature_col_t *c = &f->cols[ci];
    c->drift_shift = c->drift_ratio = NAN;
    c->drift_far = 0;
    int64_t n_miss = 0;
    memset(miss, 0, (size_t)(nl ? nl : 1));
    CS_TRY(read_column(ctx, store, part, c, buf, miss, &n_miss));
    CS_TRY(cs_par_allreduce(ctx, &n_miss, 1, CS_DT_I64, CS_OP_SUM));
    c->missing = n_miss;
    /* A feature of weight 0 takes no part in the fit: its missing values drop no customer and
     * stop no run (they had, and left a model's scores NaN where it was missing). */
    const int inert = c->weight == 0;
    if (n_miss && f->missing == CS_MISSING_ERROR && !inert) {
      CS_TRY(refuse_missing(ctx, store, c, miss, part, n_miss, fitted != NULL));
    }
    /* Fitted statistics (a model's) need no value here: a batch to score may lack a field
     * altogether, and the model's policy fills it (impute: the training mean). */
    CS_CHECK(fitted || store->n == 0 || n_miss < store->n, CS_EDATA,
             "%s: feature '%s' has no finite values", store->path, c->name);
    if (fitted && store->n > 0 && n_miss == store->n && cs_log_rank() == 0)
      cs_log_warn("%s: feature '%s' has no value in this store: %s", store->path, c->name,
                  f->missing == CS_MISSING_DROP
                      ? "every customer is left out (the model's --missing drop)"
                  : c->n_levels ? "every customer gets none of its levels (all zeros, the "
                                  "model's --missing impute)"
                                : "every customer gets the model's training mean for it "
                                  "(--missing impute)");
    if (c->n_levels) {
      /* One-hot: 0/1 per level, not scaled; a missing code is imputed as all zeros. */
      for (int l = 0; l < c->n_levels; l++) {
        int j = c->first + l;
        f->center[j] = 0.0;
        f->spread[j] = 1.0;
      }
      const float one = (float)fmin(c->weight, FLT_MAX); /* clamped as a scaled value is */
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < nl; i++) {
        float *row = m->x + i * f->d + c->first;
        for (int l = 0; l < c->n_levels; l++) row[l] = 0.0f;
        if (!miss[i]) row[(int)buf[i]] = one;
        row_miss[i] |= miss[i] & !inert;
      }
    } else {
      if (!fitted) {
        if (fit) {
#pragma omp parallel for schedule(static)
          for (int64_t i = 0; i < nl; i++) sbuf[i] = fit[i] ? buf[i] : NAN;
        }
        CS_TRY(column_stats(ctx, store->path, sbuf, nl, f->scale, c));
      }
      int j = c->first;
      f->center[j] = center_of(f, c);
      f->spread[j] = spread_of(f, c);
      /* Zero, or below what the exact-sum grid resolves for values of this size (relative to
       * the values, so a column of tiny values that do vary passes). */
      const double mag = fmax(fabs(c->min), fabs(c->max));
      /* The statistics are summed on a grid of the column's own (column_stats), but the
       * standardized values are (x - centre) * weight / spread in doubles: a range beyond the
       * largest double, or a spread whose inverse is (values near 1e-309), cannot be
       * standardized, and had come out as +-FLT_MAX (global values: collective). */
      CS_CHECK(inert || isfinite(c->max - c->min), CS_EDATA,
               "%s: feature '%s' spans more than the largest double (from %g to %g); rescale the "
               "column or leave it out", store->path, c->name, c->min, c->max);
      CS_CHECK(inert || !(f->spread[j] > 0) || isfinite(c->weight / f->spread[j]), CS_EDATA,
               "%s: feature '%s' varies (from %.17g to %.17g) on a scale too small for its "
               "standardized values (spread %g, weight %g); multiply the column by a power of "
               "ten", store->path, c->name, c->min, c->max, f->spread[j], c->weight);
      /* A spread tiny next to the values (1e15 + N(0, 1)): only an offset helps; values near
       * the smallest doubles whose spread underflows to 0: scaling helps. */
      CS_CHECK(inert || !(c->std <= 1e-12 * mag && f->scale != CS_SCALE_NONE && c->min < c->max),
               CS_EDATA,
               mag < 1e-100 ? "%s: feature '%s' varies (from %.17g to %.17g) but its standard "
                              "deviation is below what double precision holds for values this "
                              "small; multiply the column by a power of ten"
                            : "%s: feature '%s' varies (from %.17g to %.17g) but its standard "
                              "deviation is below 1e-12 of its magnitude, too little for the "
                              "sums behind its variance; subtract an offset (its minimum, say) "
                              "from the column",
               store->path, c->name, c->min, c->max);
      CS_CHECK(inert || !(c->std <= 1e-12 * fmax(fabs(c->min), fabs(c->max)) &&
                          f->scale != CS_SCALE_NONE),
               CS_EDATA,
               "%s: feature '%s' has zero variance (constant %g)%s%s; leave it out of --features",
               store->path, c->name, c->mean,
               fit ? " among the customers the model is fitted on (the training split)" : "",
               /* 64-bit integers near 2^64 that differ by less than 2^11 are one double */
               fabs(c->mean) >= 0x1p53 ? " as a double, which holds integers exactly only up "
                                         "to 2^53 (if its values differ, subtract an offset, "
                                         "its minimum say, from the column)"
                                       : "");
      CS_CHECK(inert || (f->spread[j] > 0 && isfinite(f->spread[j])), CS_EDATA,
               "%s: feature '%s' has zero interquartile range (median %g, more than half the "
               "values equal); use --scale zscore or leave it out", store->path, c->name,
               c->median);
      double ctr = f->center[j], inv = inert ? 0.0 : c->weight / f->spread[j];
      float fill = (float)((c->mean - ctr) * inv);
      float *slot = stage + (int64_t)n_staged * nl;
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < nl; i++) {
        /* Clamped to float's range: with statistics fitted on another store (churn score),
         * a value far outside them would become +-inf, and inf - inf a NaN score. */
        slot[i] = miss[i] ? fill : (float)fmin(fmax((buf[i] - ctr) * inv, -FLT_MAX), FLT_MAX);
        row_miss[i] |= miss[i] & !inert;
      }
      if (drift && c->std > 0) {
        cs_fixed_t *a = drift + 4 * ci;
        for (int64_t i = 0; i < nl; i++)
          if (!miss[i]) {
            const double z = (buf[i] - c->mean) / c->std;
            if (fabs(z) > CS_DRIFT_FAR)
              a[3] += 1;
            else { /* z^2 = hi + lo exactly, so a constant column's sums cancel exactly */
              const double hi = z * z, lo = fma(z, z, -hi);
              a[0] += cs_to_fixed(z, drift_s1);
              a[1] += cs_to_fixed(hi, drift_s2) + cs_to_fixed(lo, drift_s2);
              a[2] += 1;
            }
          }
      }
      staged_col[n_staged++] = j;
      if (n_staged == STAGE_COLS) {
        flush_stage(m, stage, staged_col, n_staged);
        n_staged = 0;
      }
    }
    cs_progress_update(&prog, ci + 1);
  }
  flush_stage(m, stage, staged_col, n_staged);
  if (drift) {
    CS_TRY(cs_par_sum_i128_n(ctx, drift, 4 * f->n_cols));
    for (int ci = 0; ci < f->n_cols; ci++) {
      const cs_fixed_t *a = drift + 4 * ci;
      f->cols[ci].drift_far = (int64_t)a[3];
      if (f->cols[ci].n_levels || !(a[2] > 0)) continue;
      f->cols[ci].drift_shift = cs_from_fixed(a[0], drift_s1) / (double)a[2];
      /* one known value has no spread to compare (it had been "0 times theirs", warned of) */
      f->cols[ci].drift_ratio = a[2] > 1 ? drift_spread(a, drift_s1, drift_s2) : NAN;
    }
  }

  /* Per-customer weights. */
  if (f->weight_column[0]) {
    /* The column is checked by cs__features_layout(). */
    m->w = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *m->w), "weights");
    CS_TRY(cs_par_agree(ctx, m->w ? CS_OK : CS_ENOMEM));
    CS_TRY(cs_store_read(store, f->weight_column, part->offset, nl, CS_DT_F64, m->w));
    int64_t bad = INT64_MAX, positive = 0;
    for (int64_t i = 0; i < nl && bad == INT64_MAX; i++) {
      if (!(m->w[i] >= 0 && isfinite(m->w[i]))) bad = part->offset + i;
      positive += m->w[i] > 0;
    }
    CS_TRY(cs_par_allreduce(ctx, &bad, 1, CS_DT_I64, CS_OP_MIN));
    CS_CHECK(bad == INT64_MAX, CS_EDATA,
             "%s: --weight-column '%s' needs finite values >= 0; row %lld is not", store->path,
             f->weight_column, (long long)bad);
    CS_TRY(cs_par_allreduce(ctx, &positive, 1, CS_DT_I64, CS_OP_SUM));
    CS_CHECK(positive > 0 || store->n == 0, CS_EDATA,
             "%s: --weight-column '%s' is 0 for every customer: no customer could pull a "
             "centroid", store->path, f->weight_column);
  }

  int64_t with_missing = 0;
  for (int64_t i = 0; i < nl; i++) with_missing += row_miss[i];
  if (f->missing == CS_MISSING_DROP && with_missing) {
    int64_t k = 0;
    for (int64_t i = 0; i < nl; i++) {
      if (row_miss[i]) continue;
      if (k != i) {
        memmove(m->x + k * f->d, m->x + i * f->d, (size_t)f->d * sizeof *m->x);
        m->row[k] = m->row[i];
        m->id[k] = m->id[i];
        if (m->w) m->w[k] = m->w[i];
      }
      k++;
    }
    m->n = k;
  }
  int64_t counts[2] = {with_missing, m->n};
  CS_TRY(cs_par_allreduce(ctx, counts, 2, CS_DT_I64, CS_OP_SUM));
  f->rows_with_missing = counts[0];
  f->n_used = counts[1];
  if (counts[0])
    cs_log_info("features: %lld customers have a missing feature value (%s)",
                (long long)counts[0],
                f->missing == CS_MISSING_DROP ? "dropped" : "imputed with the column mean");
  CS_CHECK(f->n_used > 0 || store->n == 0, CS_EDATA,
           "%s: no customer left after dropping rows with missing values", store->path);
  *out = f;
  f = NULL;
fail:
  if (sbuf && sbuf != buf) cs_free(sbuf);
  free(drift);
  cs_free(fit);
  cs_free(stage);
  cs_free(buf);
  cs_free(miss);
  cs_free(row_miss);
  cs_features_free(f);
  if (status < 0) cs_matrix_free(m);
  return status;
}
