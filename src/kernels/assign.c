/* kernels/assign.c: nearest-centroid assignment.
 *
 * Portable path: one row at a time against the whole centroid panel: for each feature j the
 * row's value is broadcast and multiplied into CS_KERNEL_LANES-wide accumulators over
 * centroids (GCC vector extensions, so AVX2/AVX-512 where the build targets it and SSE
 * otherwise). AVX-512 paths: K <= 16 puts 16 rows in the lanes (assign_xt16), larger K
 * several rows against several panel vectors (CS_ASSIGN_AVX512); K <= 16 with d <= 16 goes
 * centroid-outer over the transposed block (assign_xt16q). Every path computes a
 * row's score for centroid q as hn[q] - fma-chain(x_j * c_qj, j = 0..d-1), so all give the
 * same bits (tests/unit/test_kernels.c checks them against a scalar fmaf reference). The panel
 * (d x kp floats) stays in L1/L2 for customer-sized K and D; no n x K block is ever written.
 * ||x||^2 is dropped from the argmin (it does not change the winner). */
#include "custseg/kernels.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef float cs_vf __attribute__((vector_size(CS_KERNEL_LANES * sizeof(float))));

void cs_panel_free(cs_panel_t *p) {
  cs_free(p->ct);
  cs_free(p->hn);
  memset(p, 0, sizeof *p);
}

int cs_panel_set(cs_panel_t *p, const double *c, int k, int d) {
  int kp = (k + CS_KERNEL_LANES - 1) / CS_KERNEL_LANES * CS_KERNEL_LANES;
  if (p->kp != kp || p->d != d) {
    cs_panel_free(p);
    p->ct = cs_alloc(cs_bytes((int64_t)kp * d, sizeof *p->ct), "centroid panel");
    p->hn = cs_alloc(cs_bytes(kp, sizeof *p->hn), "centroid norms");
    if (!p->ct || !p->hn) return CS_ENOMEM;
  }
  p->k = k;
  p->kp = kp;
  p->d = d;
  for (int q = 0; q < kp; q++) {
    double nn = 0.0;
    for (int j = 0; j < d; j++) {
      float v = q < k ? (float)c[(int64_t)q * d + j] : 0.0f;
      p->ct[(int64_t)j * kp + q] = v;
      nn += (double)v * v;
    }
    p->hn[q] = q < k ? (float)(0.5 * nn) : FLT_MAX;
  }
  return CS_OK;
}

/* Rows [i0, i1) of x into a's sums (see cs_acc_t); label[i] is row i's segment. */
static void acc_rows(const float *restrict x, int64_t i0, int64_t i1, int d,
                            const int32_t *restrict label, const cs_acc_t *restrict a) {
  const int ds = d + 1;
  const int64_t copy = (int64_t)a->k * ds;
  int64_t *restrict sums = a->sums;
#if defined(__AVX512F__) && defined(__AVX512DQ__)
  if (!a->w) {
    /* Unweighted: each scale is a power of two, so x * scale_j is exact in float as in double
     * (and below 2^52 by the choice of scale): convert float -> int64 directly. Whole vectors
     * go unmasked: a masked store does not forward to a later load of the same sums. */
    for (int64_t i = i0; i < i1; i++) {
      const float *xi = x + i * d;
      int64_t *s = sums + (i & (CS_ACC_COPIES - 1)) * copy + (int64_t)label[i] * ds;
      int j = 0;
      for (; j + 8 <= d; j += 8) {
        __m512i q = _mm512_cvttps_epi64(_mm256_mul_ps(_mm256_loadu_ps(xi + j),
                                                      _mm256_loadu_ps(a->scalef + j)));
        _mm512_storeu_si512(s + j, _mm512_add_epi64(_mm512_loadu_si512(s + j), q));
      }
      if (j < d) {
        __mmask8 m = (__mmask8)((1u << (d - j)) - 1);
        __m512i q = _mm512_cvttps_epi64(_mm256_mul_ps(_mm256_maskz_loadu_ps(m, xi + j),
                                                      _mm256_maskz_loadu_ps(m, a->scalef + j)));
        _mm512_mask_storeu_epi64(s + j, m, _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, s + j), q));
      }
      s[d] += 1;
    }
    return;
  }
  for (int64_t i = i0; i < i1; i++) {
    const float *xi = x + i * d;
    int64_t *s = sums + (i & (CS_ACC_COPIES - 1)) * copy + (int64_t)label[i] * ds;
    const __m512d wi = _mm512_set1_pd(a->w[i]);
    for (int j = 0; j < d; j += 8) {
      __mmask8 m = d - j >= 8 ? 0xFF : (__mmask8)((1u << (d - j)) - 1);
      __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, xi + j));
      __m512d f = _mm512_mul_pd(_mm512_maskz_loadu_pd(m, a->scale + j), wi);
      __m512i q = _mm512_cvttpd_epi64(_mm512_mul_pd(v, f));
      _mm512_mask_storeu_epi64(s + j, m, _mm512_add_epi64(_mm512_maskz_loadu_epi64(m, s + j), q));
    }
    s[d] += 1;
  }
#else
  for (int64_t i = i0; i < i1; i++) {
    const float *xi = x + i * d;
    int64_t *s = sums + (i & (CS_ACC_COPIES - 1)) * copy + (int64_t)label[i] * ds;
    if (a->w)
      for (int j = 0; j < d; j++) s[j] += (int64_t)((double)xi[j] * (a->scale[j] * a->w[i]));
    else
      for (int j = 0; j < d; j++) s[j] += (int64_t)((double)xi[j] * a->scale[j]);
    s[d] += 1;
  }
#endif
}

/* Portable path: one row at a time, vectorized over centroids by GCC vector extensions. */
static void assign_generic(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,
                           int32_t *restrict label, float *restrict score2) {
  const int kp = p->kp, nv = kp / CS_KERNEL_LANES;
  const cs_vf *ct = (const cs_vf *)__builtin_assume_aligned(p->ct, 64);
  const cs_vf *hn = (const cs_vf *)__builtin_assume_aligned(p->hn, 64);
  enum { MAXV = 64 }; /* up to 1024 centroids in registers/stack */
  for (int64_t i = 0; i < n; i++) {
    const float *xi = x + i * d;
    cs_vf acc[MAXV];
    float best = FLT_MAX, second = FLT_MAX;
    int32_t arg = 0;
    /* Centroids in groups of MAXV vectors (one group for K <= 1024). */
    for (int g0 = 0; g0 < nv; g0 += MAXV) {
      int gn = nv - g0 < MAXV ? nv - g0 : MAXV;
      for (int v = 0; v < gn; v++) acc[v] = (cs_vf){0};
      for (int j = 0; j < d; j++) {
        cs_vf xb = (cs_vf){0} + xi[j];
        const cs_vf *row = ct + (int64_t)j * nv + g0;
        for (int v = 0; v < gn; v++) acc[v] += xb * row[v];
      }
      for (int v = 0; v < gn; v++) {
        cs_vf s = hn[g0 + v] - acc[v];
        for (int l = 0; l < CS_KERNEL_LANES; l++) {
          float sc = s[l];
          if (sc < best) {
            second = best;
            best = sc;
            arg = (g0 + v) * CS_KERNEL_LANES + l;
          } else if (sc < second) {
            second = sc;
          }
        }
      }
    }
    label[i] = arg;
    if (score2) {
      score2[2 * i] = best;
      score2[2 * i + 1] = second;
    }
  }
}

#if defined(__AVX512F__)
/* AVX-512 path: R rows at a time (independent FMA chains hide latency) against V vectors of
 * 16 centroids; each row's chain is still d FMAs in feature order, so a row's scores do not
 * depend on its neighbours. Short blocks repeat their last row. Running best value and index
 * per lane use a strict < so, lane by lane, the lower centroid index wins ties; the final
 * horizontal step takes the smallest index among the lanes holding the minimum. */
#define CS_ASSIGN_AVX512(R, V, S2, NAME)                                                        \
  static void NAME(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,     \
                   int32_t *restrict label, float *restrict score2) {                           \
    const int nv = p->kp / 16;                                                                  \
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); \
    (void)score2;                                                                               \
    for (int64_t i0 = 0; i0 < n; i0 += R) {                                                     \
      const float *xr[R];                                                                       \
      for (int r = 0; r < R; r++) xr[r] = x + (i0 + r < n ? i0 + r : n - 1) * d;                \
      __m512 bestv[R], secv[R];                                                                 \
      __m512i besti[R];                                                                         \
      for (int r = 0; r < R; r++) {                                                             \
        bestv[r] = _mm512_set1_ps(FLT_MAX);                                                     \
        secv[r] = _mm512_set1_ps(FLT_MAX);                                                      \
        besti[r] = _mm512_setzero_si512();                                                      \
      }                                                                                         \
      for (int g = 0; g < nv; g += V) {                                                         \
        __m512 acc[R][V];                                                                       \
        for (int r = 0; r < R; r++)                                                             \
          for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();                          \
        for (int j = 0; j < d; j++) {                                                           \
          __m512 c[V];                                                                          \
          for (int v = 0; v < V; v++) c[v] = _mm512_load_ps(p->ct + ((int64_t)j * nv + g + v) * 16); \
          for (int r = 0; r < R; r++) {                                                         \
            __m512 xb = _mm512_set1_ps(xr[r][j]);                                               \
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(xb, c[v], acc[r][v]);       \
          }                                                                                     \
        }                                                                                       \
        for (int v = 0; v < V; v++) {                                                           \
          __m512 h = _mm512_load_ps(p->hn + (int64_t)(g + v) * 16);                             \
          __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32((g + v) * 16));                \
          for (int r = 0; r < R; r++) {                                                         \
            __m512 s = _mm512_sub_ps(h, acc[r][v]);                                             \
            __mmask16 lt = _mm512_cmp_ps_mask(s, bestv[r], _CMP_LT_OQ);                        \
            if (S2) secv[r] = _mm512_min_ps(secv[r], _mm512_mask_blend_ps(lt, s, bestv[r]));   \
            bestv[r] = _mm512_mask_blend_ps(lt, bestv[r], s);                                   \
            besti[r] = _mm512_mask_blend_epi32(lt, besti[r], idx);                              \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
      for (int r = 0; r < R && i0 + r < n; r++) {                                               \
        float m = _mm512_reduce_min_ps(bestv[r]);                                               \
        __mmask16 eq = _mm512_cmp_ps_mask(bestv[r], _mm512_set1_ps(m), _CMP_EQ_OQ);             \
        __m512i cand = _mm512_mask_blend_epi32(eq, _mm512_set1_epi32(INT32_MAX), besti[r]);     \
        int32_t win = _mm512_reduce_min_epi32(cand);                                            \
        label[i0 + r] = win;                                                                    \
        if (S2) {                                                                               \
          /* Second best: the other lanes' bests and every lane's runner-up. */                \
          __mmask16 me = _mm512_cmp_epi32_mask(besti[r], _mm512_set1_epi32(win), _MM_CMPINT_EQ); \
          __m512 others = _mm512_mask_blend_ps(me, bestv[r], _mm512_set1_ps(FLT_MAX));         \
          score2[2 * (i0 + r)] = m;                                                             \
          score2[2 * (i0 + r) + 1] = _mm512_reduce_min_ps(_mm512_min_ps(others, secv[r]));     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
  }
/* The tail of a 16-row block of the transposed kernels: rows i0..i0+15's labels (clipped to
 * n) and, with s2, their best and second scores interleaved into score2. */
static inline __attribute__((always_inline)) void store16(int32_t *restrict label,
                                                          float *restrict score2, int64_t i0,
                                                          int64_t n, __m512i arg, __m512 best,
                                                          __m512 sec, int s2) {
  const int64_t m = n - i0 < 16 ? n - i0 : 16;
  _mm512_mask_storeu_epi32(label + i0, (__mmask16)((1u << m) - 1), arg);
  if (!s2) return;
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_add_epi32(lo_idx, _mm512_set1_epi32(8));
  const __mmask16 klo = (__mmask16)(m >= 8 ? 0xFFFFu : (1u << (2 * m)) - 1);
  const __mmask16 khi = (__mmask16)(m >= 16 ? 0xFFFFu : m > 8 ? (1u << (2 * (m - 8))) - 1 : 0);
  _mm512_mask_storeu_ps(score2 + 2 * i0, klo, _mm512_permutex2var_ps(best, lo_idx, sec));
  _mm512_mask_storeu_ps(score2 + 2 * i0 + 16, khi, _mm512_permutex2var_ps(best, hi_idx, sec));
}

/* Transpose 16 vectors of 16 floats in registers: on return v[q] lane r holds the old v[r]
 * lane q (four stages of 16 in-lane and cross-lane shuffles). */
static inline void transpose16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int g = 0; g < 16; g += 4) {
#define CS_PD(a) _mm512_castps_pd(a)
    v[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(CS_PD(t[g]), CS_PD(t[g + 2])));
    v[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(CS_PD(t[g]), CS_PD(t[g + 2])));
    v[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(CS_PD(t[g + 1]), CS_PD(t[g + 3])));
    v[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(CS_PD(t[g + 1]), CS_PD(t[g + 3])));
#undef CS_PD
  }
  for (int h = 0; h < 16; h += 8)
    for (int m = 0; m < 4; m++) {
      t[h + m] = _mm512_shuffle_f32x4(v[h + m], v[h + 4 + m], 0x88);
      t[h + 4 + m] = _mm512_shuffle_f32x4(v[h + m], v[h + 4 + m], 0xdd);
    }
  for (int m = 0; m < 8; m++) {
    v[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
    v[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
  }
}

/* K <= 16 (one panel vector). Vectorizing over the centroids would leave one 16-lane FMA per
 * feature and a horizontal min/argmin per row that costs as much. Instead 16 rows go into the
 * lanes: each 16-row x 16-feature block of x is transposed in registers, and each centroid's
 * values are broadcast from the panel, so acc[q] lane r = x_r . c_q by the same FMA chain in
 * feature order as every other path (fma is symmetric in its factors). The argmin then runs
 * down the centroids, one row per lane: strict < in increasing centroid order, so ties go to
 * the lowest index; the runner-up is min(second, max(score, best)). Rows PF ahead are
 * prefetched (measured: 20-30% at 2M x 16 from memory). Short blocks repeat their last row.
 * Accumulating each tile right after its argmin, while in L1, was measured slower (18.2
 * against 16.3 ms per Lloyd iteration at 2M x 16, medians of 8) than a separate pass. */
#define CS_ASSIGN_XT16(S2, NAME, PF)                                                                \
  static void NAME(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,     \
                   int32_t *restrict label, float *restrict score2) {                           \
    const int k = p->k;                                                                         \
    const float *ct = p->ct;                                                                    \
    (void)score2;                                                                               \
    for (int64_t i0 = 0; i0 < n; i0 += 16) {                                                    \
      __m512 acc[16];                                                                           \
      for (int q = 0; q < 16; q++) acc[q] = _mm512_setzero_ps();                                \
      if (i0 + PF + 16 <= n) {                                                                  \
        const char *pf = (const char *)(x + (i0 + PF) * d);                                     \
        for (int b = 0; b < 16 * d * 4; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);            \
      }                                                                                         \
      for (int j0 = 0; j0 < d; j0 += 16) {                                                      \
        int w = d - j0 < 16 ? d - j0 : 16;                                                      \
        __mmask16 fm = (__mmask16)((1u << w) - 1);                                              \
        __m512 xt[16];                                                                          \
        for (int r = 0; r < 16; r++)                                                            \
          xt[r] = _mm512_maskz_loadu_ps(fm, x + (i0 + r < n ? i0 + r : n - 1) * d + j0);        \
        transpose16(xt);                                                                        \
        for (int jj = 0; jj < w; jj++) {                                                        \
          const float *cj = ct + (int64_t)(j0 + jj) * 16;                                       \
          for (int q = 0; q < 16; q++) acc[q] = _mm512_fmadd_ps(xt[jj], _mm512_set1_ps(cj[q]), acc[q]); \
        }                                                                                       \
      }                                                                                         \
      __m512 best = _mm512_sub_ps(_mm512_set1_ps(p->hn[0]), acc[0]);                            \
      __m512 sec = _mm512_set1_ps(FLT_MAX);                                                     \
      __m512i arg = _mm512_setzero_si512();                                                     \
      for (int q = 1; q < k; q++) {                                                             \
        __m512 s = _mm512_sub_ps(_mm512_set1_ps(p->hn[q]), acc[q]);                             \
        __mmask16 lt = _mm512_cmp_ps_mask(s, best, _CMP_LT_OQ);                                 \
        if (S2) sec = _mm512_min_ps(sec, _mm512_max_ps(s, best));                               \
        best = _mm512_mask_blend_ps(lt, best, s);                                               \
        arg = _mm512_mask_blend_epi32(lt, arg, _mm512_set1_epi32(q));                           \
      }                                                                                         \
      store16(label, score2, i0, n, arg, best, sec, S2);                                        \
    }                                                                                           \
  }
/* K <= 16 and d <= 16: the same transposed block, but centroid-outer in groups of four, each
 * group's four FMA chains (feature order, as above) followed at once by its argmin steps. Only
 * four accumulators are live beside the 16 transposed rows, so nothing spills; a centroid's
 * score and the order of the argmin steps are those of assign_xt16, so the bits are too. */
#define CS_ASSIGN_XT16Q(S2, NAME, PF)                                                             \
  static void NAME(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,     \
                   int32_t *restrict label, float *restrict score2) {                           \
    const int k = p->k;                                                                         \
    const float *ct = p->ct;                                                                    \
    const __mmask16 fm = (__mmask16)((1u << d) - 1);                                            \
    (void)score2;                                                                               \
    for (int64_t i0 = 0; i0 < n; i0 += 16) {                                                    \
      if (i0 + PF + 16 <= n) {                                                                  \
        const char *pf = (const char *)(x + (i0 + PF) * d);                                     \
        for (int b = 0; b < 16 * d * 4; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);            \
      }                                                                                         \
      __m512 xt[16];                                                                            \
      for (int r = 0; r < 16; r++)                                                              \
        xt[r] = _mm512_maskz_loadu_ps(fm, x + (i0 + r < n ? i0 + r : n - 1) * d);               \
      transpose16(xt);                                                                          \
      __m512 best = _mm512_set1_ps(FLT_MAX), sec = _mm512_set1_ps(FLT_MAX);                     \
      __m512i arg = _mm512_setzero_si512();                                                     \
      for (int q0 = 0; q0 < k; q0 += 4) {                                                       \
        __m512 a[4];                                                                            \
        for (int t = 0; t < 4; t++) a[t] = _mm512_setzero_ps();                                 \
        _Pragma("GCC unroll 16") for (int j = 0; j < 16; j++) {                                 \
          if (j == d) break;                                                                    \
          for (int t = 0; t < 4; t++)                                                           \
            a[t] = _mm512_fmadd_ps(xt[j], _mm512_set1_ps(ct[j * 16 + q0 + t]), a[t]);           \
        }                                                                                       \
        for (int t = 0; t < 4 && q0 + t < k; t++) {                                             \
          const int q = q0 + t;                                                                 \
          __m512 s = _mm512_sub_ps(_mm512_set1_ps(p->hn[q]), a[t]);                             \
          if (q == 0) {                                                                         \
            best = s;                                                                           \
            continue;                                                                           \
          }                                                                                     \
          __mmask16 lt = _mm512_cmp_ps_mask(s, best, _CMP_LT_OQ);                               \
          if (S2) sec = _mm512_min_ps(sec, _mm512_max_ps(s, best));                             \
          best = _mm512_mask_blend_ps(lt, best, s);                                             \
          arg = _mm512_mask_blend_epi32(lt, arg, _mm512_set1_epi32(q));                         \
        }                                                                                       \
      }                                                                                         \
      store16(label, score2, i0, n, arg, best, sec, S2);                                        \
    }                                                                                           \
  }
CS_ASSIGN_XT16Q(0, assign_xt16q, 64)
CS_ASSIGN_XT16Q(1, assign2_xt16q, 64)
CS_ASSIGN_XT16(0, assign_xt16, 64)
CS_ASSIGN_XT16(1, assign2_xt16, 64)
CS_ASSIGN_AVX512(8, 1, 0, assign_r8_v1)
CS_ASSIGN_AVX512(4, 2, 0, assign_r4_v2)
CS_ASSIGN_AVX512(2, 4, 0, assign_r2_v4)
CS_ASSIGN_AVX512(8, 1, 1, assign2_r8_v1)
CS_ASSIGN_AVX512(4, 2, 1, assign2_r4_v2)
CS_ASSIGN_AVX512(2, 4, 1, assign2_r2_v4)
#endif

void cs_kernel_assign(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,
                      int32_t *restrict label, float *restrict score2) {
#if defined(__AVX512F__)
  if (CS_KERNEL_LANES == 16) {
    int nv = p->kp / 16;
    if (nv == 1 && d <= 16) {
      if (score2) assign2_xt16q(x, n, d, p, label, score2);
      else assign_xt16q(x, n, d, p, label, NULL);
      return;
    }
    if (nv == 1) {
      if (score2) assign2_xt16(x, n, d, p, label, score2);
      else assign_xt16(x, n, d, p, label, NULL);
      return;
    }
    if (score2) {
      if (nv % 4 == 0) assign2_r2_v4(x, n, d, p, label, score2);
      else if (nv % 2 == 0) assign2_r4_v2(x, n, d, p, label, score2);
      else assign2_r8_v1(x, n, d, p, label, score2);
    } else {
      if (nv % 4 == 0) assign_r2_v4(x, n, d, p, label, NULL);
      else if (nv % 2 == 0) assign_r4_v2(x, n, d, p, label, NULL);
      else assign_r8_v1(x, n, d, p, label, NULL);
    }
    return;
  }
#endif
  assign_generic(x, n, d, p, label, score2);
}

void cs_kernel_accumulate(const float *restrict x, int64_t n, int d, const int32_t *restrict label,
                          const cs_acc_t *restrict acc) {
  acc_rows(x, 0, n, d, label, acc);
}
