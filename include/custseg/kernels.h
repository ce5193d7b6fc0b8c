/* kernels: plain, vectorized, MPI-free and HDF5-free functions over restrict pointers.
 *
 * Determinism rule: a row's arithmetic never depends on where it sits in a block, which rank
 * holds it or which thread runs it. The assignment kernel processes one row at a time and
 * vectorizes over centroids (the panel is padded to a multiple of CS_KERNEL_LANES, so every
 * row runs exactly the same instruction sequence); accumulations use exact fixed-point sums. */
#ifndef CUSTSEG_KERNELS_H
#define CUSTSEG_KERNELS_H

#include "custseg/core.h"

#define CS_KERNEL_LANES 16

/* Centroids prepared for assignment: ct[j * kp + k] = c[k][j] (float), hn[k] = ||c_k||^2 / 2;
 * padding centroids have hn = FLT_MAX so they never win. */
typedef struct cs_panel {
  int k, kp, d;
  float *ct; /* d x kp */
  float *hn; /* kp */
} cs_panel_t;

/* Build (or rebuild) the panel from K x D double centroids. Local; returns CS_ENOMEM. */
int cs_panel_set(cs_panel_t *p, const double *c, int k, int d);
void cs_panel_free(cs_panel_t *p);

/* For each of n rows of x (n x d, row-major): label = argmin_k ||x - c_k||^2 (ties to the
 * lowest k), computed as argmin_k (hn[k] - x.c_k) in float32. When `score2` is not NULL it
 * receives, per row, the best and second-best scores (2 floats per row) for pruning. Local. */
void cs_kernel_assign(const float *restrict x, int64_t n, int d, const cs_panel_t *restrict p,
                      int32_t *restrict label, float *restrict score2);

/* Rows are spread over this many copies of the sums (row i of a call to copy i % copies), so
 * consecutive rows of one segment do not wait on each other's stores. */
#define CS_ACC_COPIES 4

/* What a partial M-step adds up. sums holds CS_ACC_COPIES copies of k x (d + 1) int64; row i
 * of a call adds to its segment's row of copy i % CS_ACC_COPIES: trunc(w_i x_ij * scale_j) in
 * columns 0..d-1 (w = 1 when w is NULL; the same integers Hamerly's row updates use) and 1 in
 * column d. Each feature has its own scale, so a column of small values keeps its digits
 * beside one of large values. The caller adds the copies (integers: any order gives the same
 * total) and bounds |w x_j| * scale_j * ceil(n / copies) below 2^63. */
typedef struct cs_acc {
  int k;
  const double *w;       /* per-row weights, or NULL */
  const double *scale;   /* d powers of two, 2^s_j */
  const float *scalef;   /* the same as floats (exact) */
  int64_t *sums;
} cs_acc_t;

/* Add n labelled rows to acc (the partial M-step). Local. */
void cs_kernel_accumulate(const float *restrict x, int64_t n, int d, const int32_t *restrict label,
                          const cs_acc_t *restrict acc);

/* Squared distance (double) between a float row and a double centroid, summed in four
 * interleaved partial sums combined in a fixed order: the same for every row and every
 * call site, and free of a d-long dependency chain. Local. */
static inline double cs_kernel_sqdist(const float *restrict x, const double *restrict c, int d) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int j = 0;
  for (; j + 4 <= d; j += 4) {
    double e0 = (double)x[j] - c[j], e1 = (double)x[j + 1] - c[j + 1];
    double e2 = (double)x[j + 2] - c[j + 2], e3 = (double)x[j + 3] - c[j + 3];
    s0 += e0 * e0;
    s1 += e1 * e1;
    s2 += e2 * e2;
    s3 += e3 * e3;
  }
  for (; j < d; j++) {
    double e = (double)x[j] - c[j];
    s0 += e * e;
  }
  return (s0 + s1) + (s2 + s3);
}

/* Squared distance between two double vectors (centroids). Local. */
static inline double cs_kernel_sqdist_dd(const double *restrict a, const double *restrict b, int d) {
  double s = 0.0;
  for (int j = 0; j < d; j++) {
    double e = a[j] - b[j];
    s += e * e;
  }
  return s;
}

#endif
