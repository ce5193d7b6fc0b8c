/* segment/match.c: comparing two segmentations: the minimum-cost matching of their segments
 * (the Hungarian algorithm) and the adjusted Rand index of their contingency table.
 *
 * Trade-off: the O(R^2 C) shortest-augmenting-path form of the Hungarian algorithm with
 * potentials (Kuhn-Munkres as Jonker-Volgenant write it), in double, on a small replicated
 * matrix: every rank runs it on the same bits, so every rank finds the same matching without
 * communication. Among equal-cost choices the scan takes the lowest column index, so ties are
 * resolved the same way every time. The adjusted Rand index is computed from pair counts in
 * 128-bit integers, exact up to the final division. Local, MPI-free. */
#include "custseg/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rows <= cols: every row gets a distinct column. a is rows x cols with leading dimension
 * lda (elements between consecutive rows) and column stride sc. */
static int hungarian(const double *a, int rows, int cols, int64_t lda, int64_t sc, int *assign) {
  int status = CS_OK;
  int n = rows, m = cols;
  double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)m + 1, sizeof *v);
  double *minv = malloc(((size_t)m + 1) * sizeof *minv);
  int *p = calloc((size_t)m + 1, sizeof *p), *way = calloc((size_t)m + 1, sizeof *way);
  char *used = malloc((size_t)m + 1);
  CS_CHECK(u && v && minv && p && way && used, CS_ENOMEM, "out of memory in segment matching");
  /* 1-based: row i of the algorithm is row i-1 of a; p[j] is the row holding column j. */
  for (int i = 1; i <= n; i++) {
    int j0 = 0;
    p[0] = i;
    for (int j = 0; j <= m; j++) minv[j] = INFINITY;
    memset(used, 0, (size_t)m + 1);
    do {
      used[j0] = 1;
      int i0 = p[j0], j1 = -1;
      double delta = INFINITY;
      const double *row = a + (int64_t)(i0 - 1) * lda;
      for (int j = 1; j <= m; j++) {
        if (used[j]) continue;
        double cur = row[(int64_t)(j - 1) * sc] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      CS_CHECK(j1 > 0, CS_EINTERNAL, "segment matching found no augmenting column");
      for (int j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  for (int i = 0; i < n; i++) assign[i] = -1;
  for (int j = 1; j <= m; j++)
    if (p[j]) assign[p[j] - 1] = j - 1;
fail:
  free(u);
  free(v);
  free(minv);
  free(p);
  free(way);
  free(used);
  return status;
}

int cs_segment_match(const double *cost, int rows, int cols, int *assign) {
  int status = CS_OK;
  int *t = NULL;
  CS_CHECK(rows >= 0 && cols >= 0, CS_EINTERNAL, "segment matching of %d x %d", rows, cols);
  for (int64_t e = 0; e < (int64_t)rows * cols; e++)
    CS_CHECK(isfinite(cost[e]), CS_EDATA, "segment matching: cost %lld x %lld is not finite",
             (long long)(e / cols), (long long)(e % cols));
  for (int i = 0; i < rows; i++) assign[i] = -1;
  if (rows == 0 || cols == 0) return CS_OK;
  if (rows <= cols) return hungarian(cost, rows, cols, cols, 1, assign);
  /* More rows than columns: match every column to a row (the transposed problem). */
  t = malloc((size_t)cols * sizeof *t);
  CS_CHECK(t, CS_ENOMEM, "out of memory in segment matching");
  CS_TRY(hungarian(cost, cols, rows, 1, cols, t));
  for (int j = 0; j < cols; j++) assign[t[j]] = j;
fail:
  free(t);
  return status;
}

double cs_segment_ari(const int64_t *table, int rows, int cols, int64_t ld) {
  /* Pair counts as scikit-learn's pair_confusion_matrix forms them (ordered pairs):
   * tp = sum n_ij^2 - n, fp = sum_j b_j^2 - sum n_ij^2 (pairs together here, apart there),
   * fn = sum_i a_i^2 - sum n_ij^2, tn = n^2 - tp - fp - fn - n. */
  __int128 n = 0, sq = 0, sa = 0, sb = 0;
  for (int i = 0; i < rows; i++) {
    __int128 a = 0;
    for (int j = 0; j < cols; j++) {
      __int128 x = table[(int64_t)i * ld + j];
      a += x;
      sq += x * x;
    }
    n += a;
    sa += a * a;
  }
  for (int j = 0; j < cols; j++) {
    __int128 b = 0;
    for (int i = 0; i < rows; i++) b += table[(int64_t)i * ld + j];
    sb += b * b;
  }
  if (n < 2) return NAN;
  __int128 tp = sq - n, fp = sb - sq, fn = sa - sq, tn = n * n - fp - fn - sq;
  if (fp == 0 && fn == 0) return 1.0;
  __int128 num = tp * tn - fn * fp;
  __int128 den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn);
  return 2.0 * (double)num / (double)den;
}
