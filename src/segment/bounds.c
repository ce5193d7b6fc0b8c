/* segment/bounds.c: the accelerated k-means variants, Hamerly (2010) and Yinyang (Ding et
 * al. 2015), as one mechanism: the centroids are split into ng groups (one group: Hamerly;
 * about K/10: Yinyang), and each row keeps an upper bound u on the distance to its own
 * centroid and one lower bound per group on the distance to that group's other centroids.
 * After an update, u grows by the own centroid's drift and each group bound shrinks by the
 * group's largest drift (applied lazily, from cumulative drifts per epoch, so a row whose
 * bounds prove its label is read but not written, and its x is not touched); otherwise u is
 * made exact, and only the groups whose bound still fails (and the own group) are scored, by
 * the same kernel and panel arithmetic as Lloyd, so the labels are Lloyd's.
 *
 * The kernel works in float32, so a bound proves something only with a margin that covers the
 * kernel's rounding: scores carry at most (d + 4) 2^-24 (|x| cmax + cmax^2) of error each, and
 * a group is ruled out only when lower^2 - upper^2 exceeds 8 times that; then the kernel would
 * not have picked any of its centroids. Bounds are stored as floats rounded down (lower) and
 * doubles scaled up by 1 + 1e-12 (upper; one set from a kernel score carries the margin too,
 * so a full step's u costs no second read of x); drifts are scaled up by 1 + 1e-12 and the
 * differences of cumulative drifts get a guard of 2^-44 of their size (more than the rounding
 * of CS_EPOCHS additions).
 *
 * Sums change only by the rows that moved, as the same exact integers a full step adds, so
 * the result equals a full step's on any number of ranks and threads. */
#include "lloyd_impl.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define MAX_GROUPS 64
/* A bounded step that scored more than 1 / FULL_SHARE_DEN of the rows is followed by a full
 * step: measured at 1M x 32, K = 64, a bounded step scoring 19% of the rows took 20 ms, one
 * scoring 58% took 51 ms, and a full step 30 ms. */
#define FULL_SHARE_DEN 4
/* Rows per block of the bounded step. A block's int64 sums are flushed once the rows changed
 * since the last flush, plus one more block, could exceed CS_FIXED_BLOCK terms per entry. */
#define BOUND_ROWS 256

static double cmax(const lloyd_t *l, const double *c) {
  double mx = 0;
  for (int q = 0; q < l->k; q++) {
    double s = 0;
    for (int j = 0; j < l->d; j++) s += c[(int64_t)q * l->d + j] * c[(int64_t)q * l->d + j];
    mx = mx > sqrt(s) ? mx : sqrt(s);
  }
  return mx;
}

static inline double margin(const lloyd_t *l, int64_t i, double cm) {
  return (l->d + 4) * 0x1.0p-24 * (l->xlen[i] * cm + cm * cm);
}

/* Every centroid at distance >= lb from row i loses to one at distance <= u. */
static inline int beats(double u, double lb, double e) { return lb > u && lb * lb - u * u > 8 * e; }

/* The label is proven by the smallest group bound or by the half gap around the own centroid
 * (no other centroid is closer than twice that to it). */
static inline int proven(double u, double lb, double half_gap, double e) {
  double hg = 2 * half_gap - u;
  return beats(u, lb > hg ? lb : hg, e);
}

/* A float <= v: v is moved away from +inf by 2^-23 of itself before rounding to nearest,
 * which is more than the rounding can give back. */
static inline float round_down(double v) {
  if (!(v < FLT_MAX)) return v > FLT_MAX ? (v == INFINITY ? INFINITY : FLT_MAX) : (float)v;
  return (float)(v * (v > 0 ? 1 - 0x1p-23 : 1 + 0x1p-23));
}

/* A lower bound on row i's distance to a centroid whose kernel score is s
 * (||x - c||^2 = ||x||^2 + 2 s, less the margin). */
static inline float lower_from_score(const lloyd_t *l, int64_t i, float s, double cm) {
  if (s >= FLT_MAX) return INFINITY;
  double d2 = l->xnorm[i] + 2.0 * (double)s - 4 * margin(l, i, cm);
  return round_down(sqrt(d2 > 0 ? d2 : 0));
}

/* An upper bound on row i's distance to the centroid whose kernel score is s, with the same
 * margin: the kernel's best score gives u without reading x again. */
static inline double upper_from_score(const lloyd_t *l, int64_t i, float s, double cm) {
  double d2 = l->xnorm[i] + 2.0 * (double)s + 4 * margin(l, i, cm);
  return sqrt(d2 > 0 ? d2 : 0) * (1 + 1e-12);
}

static inline double upper_exact(const lloyd_t *l, const double *c, int64_t i, int q) {
  return sqrt(cs_kernel_sqdist(l->m->x + i * l->d, c + (int64_t)q * l->d, l->d)) * (1 + 1e-12);
}

/* The smallest of row i's group bounds (ng > 1), after they were rewritten. */
static inline void set_lbmin(lloyd_t *l, int64_t i) {
  if (!l->lbmin) return;
  const float *lbi = l->lb + i * l->ng;
  float mn = INFINITY;
  for (int g = 0; g < l->ng; g++) mn = lbi[g] < mn ? lbi[g] : mn;
  l->lbmin[i] = mn;
}

/* Half the distance from each centroid to its nearest other centroid. */
static void half_gaps(lloyd_t *l, const double *c) {
  for (int q = 0; q < l->k; q++) {
    double best = INFINITY;
    for (int p = 0; p < l->k; p++)
      if (p != q) {
        double e = cs_kernel_sqdist_dd(c + (int64_t)q * l->d, c + (int64_t)p * l->d, l->d);
        best = e < best ? e : best;
      }
    l->half_gap[q] = l->k > 1 ? 0.5 * sqrt(best) : INFINITY;
  }
}

/* Add (sign +1) or remove (-1) row i's contribution to segment q in block sums, and its
 * Sum w ||x||^2 term in the 128-bit totals: the same integers the full step adds (see
 * cs_kernel_accumulate and add_norms). */
static inline void add_row(const lloyd_t *l, int64_t *blk, cs_fixed_t *tot, int64_t i, int q,
                           int sign) {
  const cs_matrix_t *m = l->m;
  const int d = l->d;
  const float *xi = m->x + i * d;
  double w = m->w ? m->w[i] : 1.0;
  int64_t *sq = blk + (int64_t)q * d;
  if (m->w)
    for (int j = 0; j < d; j++) sq[j] += sign * (int64_t)((double)xi[j] * (l->xs[j] * w));
  else
    for (int j = 0; j < d; j++) sq[j] += sign * (int64_t)((double)xi[j] * l->xs[j]);
  blk[OFF_W(l) + q] += sign * (m->w ? (int64_t)(w * l->ws) : (int64_t)l->ws);
  blk[OFF_N(l) + q] += sign;
  tot[OFF_Q(l) + q] += sign * (m->w ? cs_to_fixed(l->xnorm[i] * w, l->sc.sd) : l->xq[i]);
}

/* Group the centroids: Lloyd over the K centroids with ng centres started at evenly spaced
 * centroids, 5 iterations, ties to the lowest centre; empty groups dropped. */
static void make_groups(lloyd_t *l, const double *c, int ng) {
  const int k = l->k, d = l->d;
  for (int q = 0; q < k; q++) l->gof[q] = ng > 1 ? (int)((int64_t)q * ng / k) : 0;
  if (ng > 1) {
    double *cen = calloc((size_t)ng * (size_t)d, sizeof *cen);
    int *cnt = calloc((size_t)ng, sizeof *cnt);
    if (cen && cnt) {
      for (int g = 0; g < ng; g++)
        memcpy(cen + (int64_t)g * d, c + (int64_t)((int64_t)g * k / ng) * d, (size_t)d * sizeof *cen);
      for (int it = 0; it < 5; it++) {
        for (int q = 0; q < k; q++) {
          double best = INFINITY;
          for (int g = 0; g < ng; g++) {
            double e = cs_kernel_sqdist_dd(c + (int64_t)q * d, cen + (int64_t)g * d, d);
            if (e < best) {
              best = e;
              l->gof[q] = g;
            }
          }
        }
        memset(cnt, 0, (size_t)ng * sizeof *cnt);
        for (int q = 0; q < k; q++) cnt[l->gof[q]]++;
        for (int g = 0; g < ng; g++)
          if (cnt[g]) memset(cen + (int64_t)g * d, 0, (size_t)d * sizeof *cen);
        for (int q = 0; q < k; q++)
          for (int j = 0; j < d; j++) cen[(int64_t)l->gof[q] * d + j] += c[(int64_t)q * d + j] / cnt[l->gof[q]];
      }
    } /* out of memory: the evenly spaced split above stands (still correct, just slower) */
    free(cen);
    free(cnt);
  }
  /* Renumber the non-empty groups in order and list their members. */
  int map[MAX_GROUPS], n = 0;
  for (int g = 0; g < MAX_GROUPS; g++) map[g] = -1;
  for (int q = 0; q < k; q++)
    if (map[l->gof[q]] < 0) map[l->gof[q]] = n++;
  for (int q = 0; q < k; q++) l->gof[q] = map[l->gof[q]];
  l->ng = n;
  memset(l->gstart, 0, (size_t)(MAX_GROUPS + 1) * sizeof *l->gstart);
  for (int q = 0; q < k; q++) l->gstart[l->gof[q] + 1]++;
  for (int g = 0; g < n; g++) l->gstart[g + 1] += l->gstart[g];
  int fill[MAX_GROUPS];
  memcpy(fill, l->gstart, (size_t)n * sizeof *fill);
  for (int q = 0; q < k; q++) l->gmem[fill[l->gof[q]]++] = q;
}

int cs__bounds_setup(lloyd_t *l, const double *c, int ng) {
  int status = CS_OK;
  const int64_t n = l->m->n ? l->m->n : 1;
  if (ng < 1) ng = 1;
  if (ng > l->k) ng = l->k;
  if (ng > MAX_GROUPS) ng = MAX_GROUPS;
  if (!l->u) {
    l->u = cs_alloc(cs_bytes(n, sizeof *l->u), "upper bounds");
    l->lb = cs_alloc(cs_bytes(n * ng, sizeof *l->lb), "lower bounds");
    l->stamp = cs_alloc(cs_bytes(n, sizeof *l->stamp), "bound epochs");
    l->ustamp = cs_alloc(cs_bytes(n, sizeof *l->ustamp), "bound epochs");
    l->cc = calloc((size_t)CS_EPOCHS * (size_t)l->k, sizeof *l->cc);
    l->cg = calloc((size_t)CS_EPOCHS * MAX_GROUPS, sizeof *l->cg);
    l->cgm = calloc(CS_EPOCHS, sizeof *l->cgm);
    l->lbmin = ng > 1 ? cs_alloc(cs_bytes(n, sizeof *l->lbmin), "lower bounds") : NULL;
    l->drift = calloc((size_t)l->k, sizeof *l->drift);
    l->half_gap = calloc((size_t)l->k, sizeof *l->half_gap);
    l->gdrift = calloc(MAX_GROUPS, sizeof *l->gdrift);
    l->gof = calloc((size_t)l->k, sizeof *l->gof);
    l->gstart = calloc(MAX_GROUPS + 1, sizeof *l->gstart);
    l->gmem = calloc((size_t)l->k, sizeof *l->gmem);
    l->gpanel = calloc(MAX_GROUPS, sizeof *l->gpanel);
    l->ng = ng;
    CS_TRY(cs_par_agree(l->ctx, l->u && l->lb && l->stamp && l->ustamp && l->cc && l->cg && l->cgm &&
                                        (ng == 1 || l->lbmin) && l->drift && l->half_gap && l->gdrift && l->gof &&
                                        l->gstart && l->gmem && l->gpanel
                                    ? CS_OK
                                    : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                   "out of memory (k-means bounds, %d groups)", ng)));
  }
  /* The row bounds were allocated for l->ng groups; regrouping never asks for more. */
  make_groups(l, c, ng < l->ng ? ng : l->ng);
  l->bounds_valid = 0;
fail:
  return status;
}

void cs__bounds_free(lloyd_t *l) {
  cs_free(l->u);
  cs_free(l->lb);
  cs_free(l->stamp);
  cs_free(l->ustamp);
  cs_free(l->lbmin);
  free(l->cc);
  free(l->cg);
  free(l->cgm);
  free(l->drift);
  free(l->half_gap);
  free(l->gdrift);
  free(l->gof);
  free(l->gstart);
  free(l->gmem);
  if (l->gpanel)
    for (int g = 0; g < MAX_GROUPS; g++) cs_panel_free(&l->gpanel[g]);
  free(l->gpanel);
  l->u = NULL;
  l->lb = NULL;
  l->lbmin = NULL;
  l->gpanel = NULL;
}

int cs__bounds_prepare(lloyd_t *l, const double *c) {
  int status = CS_OK;
  const int d = l->d;
  double *tmp = malloc((size_t)l->k * (size_t)d * sizeof *tmp);
  CS_CHECK(tmp, CS_ENOMEM, "out of memory (group panels)");
  for (int g = 0; g < l->ng; g++) {
    int s = l->gstart[g], ns = l->gstart[g + 1] - s;
    for (int r = 0; r < ns; r++)
      memcpy(tmp + (int64_t)r * d, c + (int64_t)l->gmem[s + r] * d, (size_t)d * sizeof *tmp);
    CS_CHECK(cs_panel_set(&l->gpanel[g], tmp, ns, d) == CS_OK, CS_ENOMEM, "out of memory (panel)");
  }
  half_gaps(l, c);
  l->cmax_cached = cmax(l, c);
fail:
  free(tmp);
  return status;
}

void cs__bounds_after_full(lloyd_t *l, int64_t i0, int64_t n,
                           const int32_t *lab, const float *sc2) {
  const int ng = l->ng;
  const double cm = l->cmax_cached;
  for (int64_t i = 0; i < n; i++) {
    /* Every group's bound starts at the runner-up distance: valid for all of them, and free
     * (scoring each group here for exact group bounds was measured slower overall, 1.16 s
     * against 0.92 s to converge at 1M x 32, K = 64, medians of 3). */
    const float lo = lower_from_score(l, i0 + i, sc2[2 * i + 1], cm);
    for (int g = 0; g < ng; g++) l->lb[(i0 + i) * ng + g] = lo;
    if (l->lbmin) l->lbmin[i0 + i] = lo;
    l->u[i0 + i] = upper_from_score(l, i0 + i, sc2[2 * i], cm);
    l->stamp[i0 + i] = 0;
    l->ustamp[i0 + i] = 0;
  }
}

void cs__bounds_moved(lloyd_t *l, const double *c, const double *c_new, int ne) {
  const int k = l->k, d = l->d, ng = l->ng;
  if (ne || l->epoch + 1 >= CS_EPOCHS) { /* re-seeded, or out of epochs: next step is full */
    l->bounds_valid = 0;
    return;
  }
  for (int g = 0; g < ng; g++) l->gdrift[g] = 0;
  double gap_min = INFINITY, drift_max = 0;
  for (int q = 0; q < k; q++) gap_min = l->half_gap[q] < gap_min ? l->half_gap[q] : gap_min;
  for (int q = 0; q < k; q++) {
    l->drift[q] = sqrt(cs_kernel_sqdist_dd(c_new + (int64_t)q * d, c + (int64_t)q * d, d)) * (1 + 1e-12);
    int g = l->gof[q];
    l->gdrift[g] = l->gdrift[g] > l->drift[q] ? l->gdrift[g] : l->drift[q];
    drift_max = l->drift[q] > drift_max ? l->drift[q] : drift_max;
  }
  /* A centroid moved by more than half the smallest gap between centroids: most bounds will
   * fail, and a full step costs less than a bounded one that scores most rows anyway. */
  if (drift_max > gap_min) l->full_next = 1;
  const int e = ++l->epoch;
  for (int q = 0; q < k; q++) l->cc[(int64_t)e * k + q] = l->cc[(int64_t)(e - 1) * k + q] + l->drift[q];
  double mx = 0;
  for (int g = 0; g < ng; g++) {
    l->cg[(int64_t)e * ng + g] = l->cg[(int64_t)(e - 1) * ng + g] + l->gdrift[g];
    mx = l->gdrift[g] > mx ? l->gdrift[g] : mx;
  }
  l->cgm[e] = l->cgm[e - 1] + mx;
}

/* The first bound test of the scan below (the smallest group bound when ng > 1, the one
 * group's bound when ng == 1) for rows i..i+7 at once, in the same double arithmetic: the
 * lanes it does not prove go through the scalar test. Without AVX-512 every lane does. */
static inline unsigned first_fail8(const lloyd_t *l, int64_t i, const double *cc_now, double cg0_now,
                                   double cgm_now, double guard, double cm) {
#if defined(__AVX512F__)
  const __m256i a = _mm256_loadu_si256((const __m256i *)(l->labels + i));
  const __m256i st = _mm256_loadu_si256((const __m256i *)(l->stamp + i));
  const __m256i us = _mm256_loadu_si256((const __m256i *)(l->ustamp + i));
  const __m256i ia = _mm256_add_epi32(_mm256_mullo_epi32(us, _mm256_set1_epi32(l->k)), a);
  const __m512d g = _mm512_set1_pd(guard);
  const __m512d drift = _mm512_sub_pd(_mm512_i32gather_pd(a, cc_now, 8), _mm512_i32gather_pd(ia, l->cc, 8));
  const __m512d u = _mm512_add_pd(_mm512_add_pd(_mm512_loadu_pd(l->u + i), drift), g);
  const __m512d e = _mm512_mul_pd(_mm512_set1_pd((l->d + 4) * 0x1.0p-24),
                                  _mm512_add_pd(_mm512_mul_pd(_mm512_loadu_pd(l->xlen + i), _mm512_set1_pd(cm)),
                                                _mm512_set1_pd(cm * cm)));
  __m512d glob;
  if (l->ng > 1)
    glob = _mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(l->lbmin + i)),
                                       _mm512_sub_pd(_mm512_set1_pd(cgm_now), _mm512_i32gather_pd(st, l->cgm, 8))), g);
  else
    glob = _mm512_sub_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(l->lb + i)),
                                       _mm512_sub_pd(_mm512_set1_pd(cg0_now), _mm512_i32gather_pd(st, l->cg, 8))), g);
  const __m512d hg = _mm512_sub_pd(_mm512_mul_pd(_mm512_set1_pd(2.0), _mm512_i32gather_pd(a, l->half_gap, 8)), u);
  const __m512d lb = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(glob, hg, _CMP_GT_OQ), hg, glob);
  const __mmask8 gt = _mm512_cmp_pd_mask(lb, u, _CMP_GT_OQ);
  const __m512d gap = _mm512_sub_pd(_mm512_mul_pd(lb, lb), _mm512_mul_pd(u, u));
  const __mmask8 pass = _mm512_mask_cmp_pd_mask(gt, gap, _mm512_mul_pd(_mm512_set1_pd(8.0), e), _CMP_GT_OQ);
  return (unsigned)(uint8_t)~pass;
#else
  (void)l, (void)i, (void)cc_now, (void)cg0_now, (void)cgm_now, (void)guard, (void)cm;
  return 0xFF;
#endif
}

typedef struct gres {
  float best, second;
  int32_t arg; /* global centroid index of best */
} gres_t;

int cs__step_bounded(lloyd_t *l, const double *c, int count_changes) {
  int status = CS_OK;
  const cs_matrix_t *m = l->m;
  const int d = l->d;
  const int64_t L = l->L, nb = (m->n + BOUND_ROWS - 1) / BOUND_ROWS;
  CS_TRY(cs__bounds_prepare(l, c));
  const int ng = l->ng, now = l->epoch;
  const double cm = l->cmax_cached;
  const double *cc_now = l->cc + (int64_t)now * l->k, *cg_now = l->cg + (int64_t)now * ng;
  const double cgm_now = l->cgm[now];
  double cmx = 0;
  for (int q = 0; q < l->k; q++) cmx = cc_now[q] > cmx ? cc_now[q] : cmx;
  for (int g = 0; g < ng; g++) cmx = cg_now[g] > cmx ? cg_now[g] : cmx;
  cmx = cgm_now > cmx ? cgm_now : cmx;
  const double guard = 0x1p-44 * cmx;
  memset(l->tacc, 0, (size_t)l->nthreads * (size_t)L * sizeof *l->tacc);
  int64_t dist = 0, fails = 0, scored = 0;
#pragma omp parallel reduction(+ : dist) reduction(+ : fails) reduction(+ : scored)
  {
    int t = omp_get_thread_num();
    cs_fixed_t *tot = l->tacc + (int64_t)t * L;
    int64_t *blk = calloc((size_t)(L > 0 ? L : 1), sizeof *blk);
    int64_t *cand = malloc(BOUND_ROWS * sizeof *cand);
    double *gl = malloc(BOUND_ROWS * sizeof *gl);
    uint64_t *cmask = malloc(BOUND_ROWS * sizeof *cmask);
    int32_t *which = malloc(BOUND_ROWS * sizeof *which);
    int32_t *lab = malloc(BOUND_ROWS * sizeof *lab);
    float *sc2 = malloc(2 * BOUND_ROWS * sizeof *sc2);
    float *buf = malloc((size_t)BOUND_ROWS * (size_t)d * sizeof *buf);
    gres_t *res = malloc((size_t)BOUND_ROWS * (size_t)ng * sizeof *res);
    int64_t pending = 0; /* rows changed since blk was last flushed */
    if (!blk || !cand || !gl || !cmask || !which || !lab || !sc2 || !buf || !res) {
      fails++;
    } else {
#pragma omp for schedule(static)
      for (int64_t b = 0; b < nb; b++) {
        const int64_t i0 = b * BOUND_ROWS, i1 = m->n < i0 + BOUND_ROWS ? m->n : i0 + BOUND_ROWS;
        int nc = 0;
        /* 1. Bring the bounds up to the current epoch and keep the rows they do not prove
         * (proven rows are read, not written), eight at a time through first_fail8; a kept
         * row's x and ||x||^2 are prefetched as it is kept, so their loads overlap the rest of
         * the scan. Then make u exact for those, and keep the rows still not proven, with the
         * groups to score. */
        int nt = 0;
        for (int64_t i8 = i0; i8 < i1; i8 += 8) {
          unsigned f = i8 + 8 <= i1 ? first_fail8(l, i8, cc_now, cg_now[0], cgm_now, guard, cm)
                                    : (1u << (i1 - i8)) - 1;
          for (; f; f &= f - 1) {
            const int64_t i = i8 + __builtin_ctz(f);
            const int a = l->labels[i], st = l->stamp[i];
            const double *cs0 = l->cg + (int64_t)st * ng;
            const float *lbi = l->lb + i * ng;
            const double u =
                l->u[i] + (cc_now[a] - l->cc[(int64_t)l->ustamp[i] * l->k + a]) + guard;
            const double e = margin(l, i, cm);
            double glob;
            if (ng > 1) {
              /* The smallest bound less the largest drifts: one number, often enough. */
              glob = (double)l->lbmin[i] - (cgm_now - l->cgm[st]) - guard;
              if (proven(u, glob, l->half_gap[a], e)) continue;
            }
            glob = INFINITY;
            for (int g = 0; g < ng; g++) {
              double v = (double)lbi[g] - (cg_now[g] - cs0[g]) - guard;
              glob = v < glob ? v : glob;
            }
            if (proven(u, glob, l->half_gap[a], e)) continue;
            /* The row will be read below: start its loads now, while the scan goes on. */
            const char *px = (const char *)(m->x + i * d);
            for (int off = 0; off < d * (int)sizeof(float); off += 64) __builtin_prefetch(px + off);
            __builtin_prefetch(l->xnorm + i);
            cand[nt] = i;
            gl[nt++] = glob;
          }
        }
        /* u exact (its own epoch stamp: the group bounds are left as they are). */
        for (int r = 0; r < nt; r++) {
          const int64_t i = cand[r];
          const int a = l->labels[i], st = l->stamp[i];
          const double *cs0 = l->cg + (int64_t)st * ng;
          const float *lbi = l->lb + i * ng;
          const double u = upper_exact(l, c, i, a), e = margin(l, i, cm);
          l->u[i] = u;
          l->ustamp[i] = now;
          if (proven(u, gl[r], l->half_gap[a], e)) continue;
          uint64_t mask = 1ull << l->gof[a];
          for (int g = 0; g < ng; g++)
            if (!beats(u, (double)lbi[g] - (cg_now[g] - cs0[g]) - guard, e)) mask |= 1ull << g;
          cand[nc] = i; /* nc <= r: the list is compacted in place */
          cmask[nc++] = mask;
        }
        scored += nc;
        /* 2. Score each group against the rows that need it. */
        for (int g = 0; g < ng && nc; g++) {
          int nr = 0;
          for (int r = 0; r < nc; r++)
            if (cmask[r] >> g & 1) {
              memcpy(buf + (int64_t)nr * d, m->x + cand[r] * d, (size_t)d * sizeof *buf);
              which[nr++] = r;
            }
          if (!nr) continue;
          cs_kernel_assign(buf, nr, d, &l->gpanel[g], lab, sc2);
          dist += (int64_t)nr * (l->gstart[g + 1] - l->gstart[g]);
          for (int r = 0; r < nr; r++)
            res[(int64_t)which[r] * ng + g] =
                (gres_t){sc2[2 * r], sc2[2 * r + 1], l->gmem[l->gstart[g] + lab[r]]};
        }
        /* 3. The winner over the scored groups (lowest index among equal scores), new bounds,
         * and the sums moved by the rows that changed. */
        for (int r = 0; r < nc; r++) {
          const int64_t i = cand[r];
          float bv = FLT_MAX;
          int q = -1;
          for (int g = 0; g < ng; g++)
            if (cmask[r] >> g & 1) {
              const gres_t *gr = &res[(int64_t)r * ng + g];
              if (q < 0 || gr->best < bv || (gr->best == bv && gr->arg < q)) {
                bv = gr->best;
                q = gr->arg;
              }
            }
          /* Scored groups get fresh bounds, the others are brought up to now. */
          float *lbi = l->lb + i * ng;
          const double *cs0 = l->cg + (int64_t)l->stamp[i] * ng;
          for (int g = 0; g < ng; g++)
            if (cmask[r] >> g & 1) {
              const gres_t *gr = &res[(int64_t)r * ng + g];
              lbi[g] = lower_from_score(l, i, l->gof[q] == g ? gr->second : gr->best, cm);
            } else {
              lbi[g] = round_down((double)lbi[g] - (cg_now[g] - cs0[g]) - guard);
            }
          l->stamp[i] = now;
          set_lbmin(l, i);
          l->u[i] = upper_from_score(l, i, bv, cm);
          const int a = l->labels[i];
          if (q == a) continue;
          add_row(l, blk, tot, i, a, -1);
          add_row(l, blk, tot, i, q, +1);
          blk[OFF_CHANGES(l)] += 1;
          l->labels[i] = q;
          pending++;
        }
        if (pending && pending + BOUND_ROWS > CS_FIXED_BLOCK) {
          for (int64_t v = 0; v < L; v++) tot[v] += blk[v];
          memset(blk, 0, (size_t)L * sizeof *blk);
          pending = 0;
        }
      }
      for (int64_t v = 0; v < L; v++) tot[v] += blk[v];
    }
    free(blk);
    free(cand);
    free(gl);
    free(cmask);
    free(which);
    free(lab);
    free(sc2);
    free(buf);
    free(res);
  }
  CS_TRY(cs_par_agree(l->ctx, fails ? cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                   "out of memory (k-means step)") : CS_OK));
  l->distance_rows += dist;
  /* Most rows scored: the next step is a full one (which also makes every bound exact again).
   * The same decision on every rank: the counts are reduced. */
  int64_t share[2] = {scored, m->n};
  CS_TRY(cs_par_allreduce(l->ctx, share, 2, CS_DT_I64, CS_OP_SUM));
  if (share[0] * FULL_SHARE_DEN > share[1]) l->full_next = 1;
  /* acc holds last iteration's totals: add the reduced changes. */
  cs_fixed_t *delta = calloc((size_t)L, sizeof *delta);
  CS_TRY(cs_par_agree(l->ctx, delta ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int t = 0; t < l->nthreads; t++)
    for (int64_t v = 0; v < L; v++) delta[v] += l->tacc[(int64_t)t * L + v];
  status = cs_par_sum_i128_n(l->ctx, delta, L);
  for (int64_t v = 0; status == CS_OK && v < OFF_CHANGES(l); v++) l->acc[v] += delta[v];
  l->acc[OFF_CHANGES(l)] = count_changes ? delta[OFF_CHANGES(l)] : 0;
  free(delta);
  CS_TRY(status);
  CS_TRY(cs__finish_inertia(l, c));
fail:
  return status;
}
