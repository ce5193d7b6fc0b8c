/* roi/sums.c: the exact per-segment sums behind the ROI table, and their verification.
 *
 * One pass finds, per quantity, the largest magnitude and the finest bit of any value over
 * all ranks (one packed max allreduce); that gives a grid 2^-s on which every value is an
 * integer, as long as the largest value, the finest bit and the number of customers fit in
 * 126 bits (otherwise the grid is the finest that fits, and the sum is truncated on it; the
 * grid and whether it was exact are reported). A second pass adds every value, as a 128-bit
 * integer, to its segment's row and to the total row, per thread; threads are added in
 * order and ranks by cs_par_sum_i128_n, all in one packed reduction. Integer addition is
 * associative, so the totals are the same bits on any ranks and threads, and the total row,
 * accumulated over all customers on its own, must equal the sum of the segment rows. Two more
 * passes do the same for the squared deviations of the revenues from their arm's mean, which
 * the campaign's revenue intervals need (deviation_sums).
 * Trade-off: a 128-bit add per value and slot (the pass is memory-bound anyway) and per-thread
 * copies of (K + 2) x 34 integers, for totals that are the correctly rounded exact sums. */
#include "roi_impl.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_roi_quantity_names[CS_ROI_NQ] = {
    "revenue", "revenue_deviation_squared", "marketing_cost", "acquisition_cost",
    "churn_score", "clv", "revenue_at_risk"};

int cs__roi_slot_quantity(int slot) {
  switch (slot) {
  case CS__REV: case CS__REV_T: case CS__REV_C: return CS_ROI_Q_REVENUE;
  case CS__DEV2_T: case CS__DEV2_C: return CS_ROI_Q_REVENUE_DEV2;
  case CS__MKT: case CS__MKT_T: case CS__MKT_C: return CS_ROI_Q_MARKETING_COST;
  case CS__ACQ: return CS_ROI_Q_ACQUISITION_COST;
  case CS__SCORE: return CS_ROI_Q_CHURN_SCORE;
  case CS__CLV: return CS_ROI_Q_CLV;
  case CS__RISK: return CS_ROI_Q_RISK;
  default: return -1;
  }
}

/* The count of the values a sum slot adds up (its terms). */
static int slot_terms(int slot) {
  switch (slot) {
  case CS__REV: return CS__REV_N;
  case CS__REV_T: case CS__DEV2_T: return CS__REV_N_T;
  case CS__REV_C: case CS__DEV2_C: return CS__REV_N_C;
  case CS__MKT: return CS__MKT_N;
  case CS__MKT_T: return CS__MKT_N_T;
  case CS__MKT_C: return CS__MKT_N_C;
  case CS__ACQ: return CS__ACQ_N;
  case CS__SCORE: return CS__SCORE_N;
  case CS__CLV: return CS__CLV_N;
  default: return CS__RISK_N;
  }
}

/* Exponents of x != 0 (finite): |x| < 2^*hi, and the lowest set bit of x is 2^*lo. */
static inline void bit_range(double x, int *hi, int *lo) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  int e = (int)((b >> 52) & 0x7ff);
  uint64_t m = b & ((UINT64_C(1) << 52) - 1);
  if (e == 0) { /* subnormal: m x 2^-1074 */
    *hi = 64 - __builtin_clzll(m) - 1074;
    *lo = __builtin_ctzll(m) - 1074;
  } else {      /* (2^52 + m) x 2^(e - 1075) */
    m |= UINT64_C(1) << 52;
    *hi = e - 1022;
    *lo = __builtin_ctzll(m) + e - 1075;
  }
}

/* Per quantity: the largest hi and the largest -lo over the values seen. */
typedef struct ranges {
  int64_t v[2 * CS_ROI_NQ];
} ranges_t;

static inline void range_add(ranges_t *r, int q, double x) {
  if (x == 0 || !isfinite(x)) return;
  int hi, lo;
  bit_range(x, &hi, &lo);
  if (hi > r->v[2 * q]) r->v[2 * q] = hi;
  if (-lo > r->v[2 * q + 1]) r->v[2 * q + 1] = -lo;
}

#define NO_VALUE (-100000)

static inline int finite_or_absent(const double *a, int64_t i, double *x) {
  if (!a) return 0;
  *x = a[i];
  return isfinite(*x);
}

/* The grid of one quantity from its global ranges and the number of terms. */
static cs_roi_grid_t choose_grid(int64_t hi, int64_t neg_lo, int64_t n_terms) {
  cs_roi_grid_t g = {.exponent = 0, .exact = 1};
  if (hi == NO_VALUE) return g; /* no non-zero value: every sum is 0 */
  int e_n = 64 - __builtin_clzll((uint64_t)(n_terms > 1 ? n_terms : 1)); /* n < 2^e_n */
  int64_t s = neg_lo, cap = 126 - hi - e_n;
  if (s > cap) {
    s = cap;
    g.exact = 0;
  }
  if (s > 1000) {
    s = 1000;
    g.exact = 0;
  }
  if (s < -1000) s = -1000; /* values of 2^1000 and more: still integers on this grid */
  g.exponent = (int)s;
  return g;
}

/* Whether a sum of n values truncated to the grid 2^-s (each losing less than one step) is
 * still known: its possible loss, n x 2^-s, is at most 2^-20 of the unit or of the sum (six
 * significant digits). Otherwise one extreme value has coarsened the grid so far that the sum,
 * often 0, would be confidently wrong. */
static int known(double sum, int64_t n, int s) {
  const double loss = ldexp((double)n, -s);
  return loss <= 0x1p-20 || loss <= ldexp(fabs(sum), -20);
}

/* A row's exact sum `a` of n values on grid gr, rounded to double once; NaN, counted in the grid,
 * when it is beyond the largest double or truncation on the grid leaves it unknown. */
static double settle(cs_fixed_t a, int64_t n, cs_roi_grid_t *gr) {
  const double v = cs_from_fixed(a, gr->exponent);
  if (!isfinite(v)) {
    gr->overflow++;
    return NAN;
  }
  if (!gr->exact && !known(v, n, gr->exponent)) {
    gr->unknown++;
    return NAN;
  }
  return v;
}

static inline cs_fixed_t to_fixed(double x, double scale) {
  double y = x * scale;
  return fabs(y) < 0x1p63 ? (cs_fixed_t)(int64_t)y : (cs_fixed_t)y;
}

/* Values of customer i in the scaled integers, added to its segment row and the total row. */
typedef struct pass {
  const cs_roi_input_t *in;
  double scale[CS_ROI_NQ];
  int k;
} pass_t;

static void add_customer(const pass_t *p, int64_t i, cs_fixed_t *a, cs_fixed_t *t) {
  const cs_roi_input_t *in = p->in;
#define ADD(slot, v) \
  do {               \
    cs_fixed_t v_ = (v); \
    a[slot] += v_;   \
    t[slot] += v_;   \
  } while (0)
  const int tr = in->treated ? in->treated[i] : -1;
  double x = 0, y = 0;
  ADD(CS__N, 1);
  if (finite_or_absent(in->revenue, i, &x)) {
    cs_fixed_t f = to_fixed(x, p->scale[CS_ROI_Q_REVENUE]);
    ADD(CS__REV_N, 1);
    ADD(CS__REV, f);
    if (tr == 1) {
      ADD(CS__REV_N_T, 1);
      ADD(CS__REV_T, f);
    } else if (tr == 0) {
      ADD(CS__REV_N_C, 1);
      ADD(CS__REV_C, f);
    }
  }
  if (finite_or_absent(in->marketing_cost, i, &x)) {
    cs_fixed_t f = to_fixed(x, p->scale[CS_ROI_Q_MARKETING_COST]);
    ADD(CS__MKT_N, 1);
    ADD(CS__MKT, f);
    if (tr == 1) {
      ADD(CS__MKT_N_T, 1);
      ADD(CS__MKT_T, f);
    } else if (tr == 0) {
      ADD(CS__MKT_N_C, 1);
      ADD(CS__MKT_C, f);
    }
  }
  if (finite_or_absent(in->acquisition_cost, i, &x)) {
    ADD(CS__ACQ_N, 1);
    ADD(CS__ACQ, to_fixed(x, p->scale[CS_ROI_Q_ACQUISITION_COST]));
  }
  if (in->converted && in->converted[i] >= 0) {
    const int c = in->converted[i];
    ADD(CS__CONV_N, 1);
    ADD(CS__CONV, c);
    if (tr == 1) {
      ADD(CS__CONV_N_T, 1);
      ADD(CS__CONV_T, c);
    } else if (tr == 0) {
      ADD(CS__CONV_N_C, 1);
      ADD(CS__CONV_C, c);
    }
  }
  if (tr == 1) ADD(CS__TREATED, 1);
  if (tr == 0) ADD(CS__CONTROL, 1);
  if (in->churned && in->churned[i] >= 0) {
    ADD(CS__LABELLED, 1);
    ADD(CS__CHURNED, in->churned[i]);
  }
  int has_p = finite_or_absent(in->churn_score, i, &x);
  int has_v = finite_or_absent(in->clv, i, &y);
  if (has_p) {
    ADD(CS__SCORE_N, 1);
    ADD(CS__SCORE, to_fixed(x, p->scale[CS_ROI_Q_CHURN_SCORE]));
  }
  if (has_v) {
    ADD(CS__CLV_N, 1);
    ADD(CS__CLV, to_fixed(y, p->scale[CS_ROI_Q_CLV]));
  }
  if (has_p && has_v && isfinite(x * y)) {
    ADD(CS__RISK_N, 1);
    ADD(CS__RISK, to_fixed(x * y, p->scale[CS_ROI_Q_RISK]));
  }
#undef ADD
}

static const char *slot_name(int slot) {
  static const char *const names[CS__SLOTS] = {
      "customers", "revenue values", "treated revenue values", "control revenue values",
      "marketing cost values", "treated marketing cost values", "control marketing cost values",
      "acquisition cost values", "known conversions", "conversions", "treated known conversions",
      "treated conversions", "control known conversions", "control conversions", "treated",
      "control", "churn labels", "churned", "churn scores", "CLV values", "churn x CLV values",
      "revenue deviations whose square overflows",
      "revenue deviations whose square is below the normal doubles", "revenue", "treated revenue", "control revenue",
      "treated revenue squared deviations", "control revenue squared deviations", "marketing cost",
      "treated marketing cost",
      "control marketing cost", "acquisition cost", "churn score", "CLV", "revenue at risk"};
  return slot >= 0 && slot < CS__SLOTS ? names[slot] : "?";
}

/* The squared deviation of revenue x (of a treated or control customer) from its arm's mean
 * in row g; 0 when the square overflows (|d| > about 1.3e154), which *over records. *tiny
 * records a deviation that is not 0 but whose square is below the normal doubles (|d| <
 * about 1.5e-154): harmless beside others, but where all are such (revenues near 1e-200) the
 * variance is not representable, and it had given an interval of width 0 without a warning
 * (cs__roi_row). */
static inline double deviation2(const double *mean, int64_t g, int tr, double x, int *over,
                                int *tiny) {
  const double d = x - mean[2 * g + (tr == 0)], sq = d * d;
  *over = !isfinite(sq);
  *tiny = d != 0.0 && sq < DBL_MIN;
  return *over ? 0.0 : sq;
}

/* Whether customer i, treated or control (*tr), has a revenue *x whose arm in its row *g (its
 * segment's, or the unsegmented row k) has a mean: an arm whose revenue sum is unknown or
 * beyond the largest double has no variance either. */
static inline int in_arm(const cs_roi_input_t *in, const double *mean, int64_t i, int k,
                         double *x, int *tr, int64_t *g) {
  *tr = in->treated[i];
  if ((*tr != 0 && *tr != 1) || !finite_or_absent(in->revenue, i, x)) return 0;
  *g = in->segment[i] < 0 ? k : in->segment[i];
  return isfinite(mean[2 * *g + (*tr == 0)]);
}

/* Passes 3 and 4: per row and arm (treated, control), the sum of the squared deviations of the
 * revenues from the arm's mean, exact as the other sums, on a grid of its own row and arm:
 * nothing adds these sums across rows, so one extreme revenue coarsens only its own arm's grid
 * (a shared grid had left every segment's revenue interval NaN for one revenue of 1e20 in one
 * segment). The means come from the exact sums, so every rank uses the same ones. Subtracting
 * the mean before squaring keeps the variance when the revenues are large next to their
 * spread: from sums of squares, (S2 - S^2 / n) cancelled away every digit of it (revenues of
 * 1e8 with cents, as in IDR or KRW, gave intervals three times too wide). The segment rows and
 * the unsegmented row only: the total's campaign interval is made from theirs
 * (cs__roi_campaign_total), and its own deviations, from the pooled mean, would include the
 * spread between segments; its sums are NaN. r->grid[q] reports the coarsest of the grids,
 * whether all were exact, and the unknown and overflowed sums of all. */
static int deviation_sums(cs_ctx_t *ctx, const cs_roi_input_t *in, int k, int threads,
                          cs__roi_sums_t *sums, cs_roi_t *r) {
  int status = CS_OK;
  const int64_t nrows = (int64_t)k + 1, stride = nrows * 4; /* treated, control, over, tiny */
  const int64_t arms = nrows * 2;                             /* (row, arm): 2 g + (tr == 0) */
  const int q = CS_ROI_Q_REVENUE_DEV2;
  double *mean = malloc((size_t)arms * sizeof *mean), *scale = malloc((size_t)arms * sizeof *scale);
  cs_fixed_t *acc = calloc((size_t)threads * (size_t)stride, sizeof *acc);
  int64_t *range = malloc((size_t)(threads + 1) * (size_t)arms * 2 * sizeof *range);
  cs_roi_grid_t *grid = calloc((size_t)arms, sizeof *grid);
  CS_TRY(cs_par_agree(ctx, mean && scale && acc && range && grid
                               ? CS_OK
                               : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                              "out of memory for the ROI variances")));
  for (int64_t g = 0; g < nrows; g++) {
    const cs__roi_sums_t *s = &sums[g];
    mean[2 * g] = s->count[CS__REV_N_T] ? s->sum[CS__REV_T] / (double)s->count[CS__REV_N_T] : 0;
    mean[2 * g + 1] = s->count[CS__REV_N_C] ? s->sum[CS__REV_C] / (double)s->count[CS__REV_N_C] : 0;
  }
  /* Per thread, then in the last block for all: per (row, arm) the largest hi and -lo. */
  for (int64_t j = 0; j < (int64_t)(threads + 1) * arms * 2; j++) range[j] = NO_VALUE;
  int64_t *all = range + (int64_t)threads * arms * 2;
#pragma omp parallel
  {
    int64_t *mine = range + (int64_t)omp_get_thread_num() * arms * 2;
    int over, tiny, hi, lo;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < in->n; i++) {
      double x, v;
      int tr;
      int64_t g;
      if (!in_arm(in, mean, i, k, &x, &tr, &g)) continue;
      if ((v = deviation2(mean, g, tr, x, &over, &tiny)) == 0 || !isfinite(v)) continue;
      bit_range(v, &hi, &lo);
      int64_t *m = mine + (2 * g + (tr == 0)) * 2;
      if (hi > m[0]) m[0] = hi;
      if (-lo > m[1]) m[1] = -lo;
    }
  }
  for (int t = 0; t < threads; t++)
    for (int64_t j = 0; j < arms * 2; j++)
      if (range[(int64_t)t * arms * 2 + j] > all[j]) all[j] = range[(int64_t)t * arms * 2 + j];
  CS_TRY(cs_par_allreduce(ctx, all, arms * 2, CS_DT_I64, CS_OP_MAX));
  for (int64_t j = 0; j < arms; j++) {
    const int slot = j % 2 ? CS__DEV2_C : CS__DEV2_T;
    grid[j] = choose_grid(all[2 * j], all[2 * j + 1], sums[j / 2].count[slot_terms(slot)]);
    scale[j] = ldexp(1.0, grid[j].exponent);
  }
#pragma omp parallel
  {
    cs_fixed_t *mine = acc + (int64_t)omp_get_thread_num() * stride;
    int over, tiny;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < in->n; i++) {
      double x;
      int tr;
      int64_t g;
      if (!in_arm(in, mean, i, k, &x, &tr, &g)) continue;
      mine[g * 4 + (tr == 0)] +=
          to_fixed(deviation2(mean, g, tr, x, &over, &tiny), scale[2 * g + (tr == 0)]);
      mine[g * 4 + 2] += over;
      mine[g * 4 + 3] += tiny;
    }
  }
  for (int t = 1; t < threads; t++)
    for (int64_t j = 0; j < stride; j++) acc[j] += acc[(int64_t)t * stride + j];
  CS_TRY(cs_par_sum_i128_n(ctx, acc, stride));
  r->grid[q] = (cs_roi_grid_t){.exponent = 0, .exact = 1};
  int any = 0;
  for (int64_t g = 0; g < nrows; g++) {
    cs__roi_sums_t *s = &sums[g];
    for (int a = 0; a < 2; a++) {
      const int slot = a ? CS__DEV2_C : CS__DEV2_T;
      cs_roi_grid_t *gr = &grid[2 * g + a];
      s->sum[slot] = settle(acc[g * 4 + a], s->count[slot_terms(slot)], gr);
      if (all[2 * (2 * g + a)] != NO_VALUE && (!any || gr->exponent < r->grid[q].exponent)) {
        r->grid[q].exponent = gr->exponent;
        any = 1;
      }
      r->grid[q].exact &= gr->exact;
      r->grid[q].unknown += gr->unknown;
      r->grid[q].overflow += gr->overflow;
    }
    s->count[CS__DEV2_OVER] = (int64_t)acc[g * 4 + 2];
    s->count[CS__DEV2_TINY] = (int64_t)acc[g * 4 + 3];
  }
  sums[k + 1].sum[CS__DEV2_T] = sums[k + 1].sum[CS__DEV2_C] = NAN; /* the total: see above */
fail:
  free(mean);
  free(scale);
  free(acc);
  free(range);
  free(grid);
  return status;
}

int cs_roi_compute(cs_ctx_t *ctx, const cs_roi_input_t *in, cs_roi_t *r) {
  int status = CS_OK;
  const int k = in->k;
  const int64_t nrows = (int64_t)k + 2, stride = nrows * CS__SLOTS; /* k, unsegmented, total */
  const int threads = omp_get_max_threads();
  cs_fixed_t *acc = NULL;
  cs__roi_sums_t *sums = NULL;
  memset(r, 0, sizeof *r);
  r->k = k;
  r->z = 1.959963984540054; /* the 0.975 quantile of the standard normal */

  /* The segment codes: -1 .. k-1 (the lowest failing rank reports its first bad row). */
  int local = CS_OK;
  for (int64_t i = 0; i < in->n && local == CS_OK; i++)
    if (in->segment[i] < -1 || in->segment[i] >= k)
      local = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                           "%s: segment %lld of the customer at row %lld is outside -1 .. %d",
                           in->segment_source ? in->segment_source : "segments",
                           (long long)in->segment[i], (long long)(in->offset + i), k - 1);
  CS_TRY(cs_par_agree(ctx, local));

  /* Pass 1: the bit ranges of every quantity, and the largest revenue and CLV. */
  ranges_t all;
  double largest[2] = {-INFINITY, -INFINITY};
  for (int j = 0; j < 2 * CS_ROI_NQ; j++) all.v[j] = NO_VALUE;
#pragma omp parallel
  {
    ranges_t mine = all;
    double top[2] = {-INFINITY, -INFINITY};
#pragma omp for schedule(static)
    for (int64_t i = 0; i < in->n; i++) {
      double x = 0, y = 0;
      if (finite_or_absent(in->revenue, i, &x)) {
        top[0] = fmax(top[0], x);
        range_add(&mine, CS_ROI_Q_REVENUE, x);
      }
      if (finite_or_absent(in->marketing_cost, i, &x))
        range_add(&mine, CS_ROI_Q_MARKETING_COST, x);
      if (finite_or_absent(in->acquisition_cost, i, &x))
        range_add(&mine, CS_ROI_Q_ACQUISITION_COST, x);
      int has_p = finite_or_absent(in->churn_score, i, &x);
      int has_v = finite_or_absent(in->clv, i, &y);
      if (has_p) range_add(&mine, CS_ROI_Q_CHURN_SCORE, x);
      if (has_v) {
        top[1] = fmax(top[1], y);
        range_add(&mine, CS_ROI_Q_CLV, y);
      }
      if (has_p && has_v) range_add(&mine, CS_ROI_Q_RISK, x * y);
    }
#pragma omp critical
    {
      for (int j = 0; j < 2 * CS_ROI_NQ; j++)
        if (mine.v[j] > all.v[j]) all.v[j] = mine.v[j];
      for (int j = 0; j < 2; j++) largest[j] = fmax(largest[j], top[j]);
    }
  }
  CS_TRY(cs_par_allreduce(ctx, all.v, 2 * CS_ROI_NQ, CS_DT_I64, CS_OP_MAX));
  CS_TRY(cs_par_allreduce(ctx, largest, 2, CS_DT_F64, CS_OP_MAX));
  pass_t p = {.in = in, .k = k};
  for (int q = 0; q < CS_ROI_NQ; q++) {
    r->grid[q] = choose_grid(all.v[2 * q], all.v[2 * q + 1], in->n_global);
    p.scale[q] = ldexp(1.0, r->grid[q].exponent);
  }

  /* Pass 2: the sums, per thread, then in thread order, then across ranks. */
  acc = calloc((size_t)threads * (size_t)stride, sizeof *acc);
  CS_TRY(cs_par_agree(ctx, acc ? CS_OK
                               : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                              "out of memory for %lld ROI sums",
                                              (long long)(threads * stride))));
#pragma omp parallel
  {
    cs_fixed_t *mine = acc + (int64_t)omp_get_thread_num() * stride;
    cs_fixed_t *tot = mine + (int64_t)(k + 1) * CS__SLOTS;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < in->n; i++) {
      const int64_t g = in->segment[i] < 0 ? k : in->segment[i];
      add_customer(&p, i, mine + g * CS__SLOTS, tot);
    }
  }
  for (int t = 1; t < threads; t++)
    for (int64_t j = 0; j < stride; j++) acc[j] += acc[(int64_t)t * stride + j];
  CS_TRY(cs_par_sum_i128_n(ctx, acc, stride));

  /* Verification: the total row, accumulated on its own, is the sum of the other rows. */
  const cs_fixed_t *total = acc + (int64_t)(k + 1) * CS__SLOTS;
  for (int j = 0; j < CS__SLOTS; j++) {
    cs_fixed_t s = 0;
    for (int64_t g = 0; g <= k; g++) s += acc[g * CS__SLOTS + j];
    CS_CHECK(s == total[j], CS_EVERIFY,
             "verification: the segment rows' %s do not add up to the total row's",
             slot_name(j));
  }
  CS_CHECK(total[CS__N] == in->n_global, CS_EVERIFY,
           "verification: the table counts %lld customers, the store has %lld",
           (long long)total[CS__N], (long long)in->n_global);

  /* Rows: segments, the unsegmented customers when there are any, the total. */
  r->unsegmented = (int64_t)acc[(int64_t)k * CS__SLOTS + CS__N];
  r->rows = k + (r->unsegmented > 0) + 1;
  sums = calloc((size_t)nrows, sizeof *sums);
  r->row = calloc((size_t)r->rows, sizeof *r->row);
  CS_TRY(cs_par_agree(ctx, sums && r->row ? CS_OK
                                          : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                         "out of memory")));
  for (int64_t g = 0; g < nrows; g++) {
    const cs_fixed_t *a = acc + g * CS__SLOTS;
    for (int j = 0; j < CS__COUNTS; j++) sums[g].count[j] = (int64_t)a[j];
    for (int j = CS__COUNTS; j < CS__SLOTS; j++) {
      if (j == CS__DEV2_T || j == CS__DEV2_C) continue; /* deviation_sums */
      sums[g].sum[j] = settle(a[j], sums[g].count[slot_terms(j)], &r->grid[cs__roi_slot_quantity(j)]);
    }
  }
  if (in->revenue && in->treated) CS_TRY(deviation_sums(ctx, in, k, threads, sums, r));
  const cs__roi_have_t have = {
      .revenue = !!in->revenue, .marketing_cost = !!in->marketing_cost,
      .acquisition_cost = !!in->acquisition_cost, .converted = !!in->converted,
      .treated = !!in->treated, .churned = !!in->churned, .churn_score = !!in->churn_score,
      .clv = !!in->clv};
  cs_roi_row_t *tot_row = &r->row[r->rows - 1];
  cs__roi_row(&sums[k + 1], &have, CS_ROI_TOTAL, in->n_global, r->z, tot_row);
  for (int g = 0; g < k; g++) {
    cs__roi_row(&sums[g], &have, g, in->n_global, r->z, &r->row[g]);
    r->row[g].action = cs__roi_action(&r->row[g], tot_row, &have);
  }
  if (r->unsegmented > 0)
    cs__roi_row(&sums[k], &have, CS_ROI_UNSEGMENTED, in->n_global, r->z, &r->row[k]);
  cs__roi_campaign_total(r->row, r->rows - 1, &have, tot_row, r->campaign_note,
                         sizeof r->campaign_note);
  cs__roi_cost_note(r->row, r->rows - 1, r->cost_note, sizeof r->cost_note);
  cs__roi_value_note(tot_row, &have, largest, r->value_note, sizeof r->value_note);
fail:
  free(acc);
  free(sums);
  if (status < 0) cs_roi_free(r);
  return status;
}

void cs_roi_free(cs_roi_t *r) {
  free(r->row);
  r->row = NULL;
  r->rows = 0;
}
