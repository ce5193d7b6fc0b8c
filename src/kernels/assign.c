/* kernels/assign.c: nearest-centroid assignment.
 *
 * One row at a time against the whole centroid panel: for each feature j the row's value is
 * broadcast and multiplied into CS_KERNEL_LANES-wide accumulators over centroids (GCC vector
 * extensions, so AVX2/AVX-512 where the build targets it and SSE otherwise). The panel
 * (d x kp floats) stays in L1/L2 for customer-sized K and D; no n x K block is ever written.
 * ||x||^2 is dropped from the argmin (it does not change the winner). */
#include "custseg/kernels.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

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

void cs_kernel_assign(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,
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
