/* features/advice.c: what to tell a user whose scaled features fall outside the range a
 * consumer of the matrix needs (k-means: 1e-18 .. 1e18 in magnitude): which feature, and
 * whether its column or its --feature-weights weight took it there. */
#include "custseg/features.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

/* Feature j's largest magnitude without its --feature-weights weight, from v, its largest
 * in the matrix: a one-hot column's values are 0 and its weight; a value held clamped at the
 * float32 limit (or beyond it) is taken from the column's range instead. */
static double unweighted_reach(const cs_features_t *f, int j, double v) {
  const cs_feature_col_t *c = &f->cols[f->col_of[j]];
  if (c->n_levels) return 1;
  if (!(f->weight[j] > 0)) return 0;
  if (v < FLT_MAX) return v / f->weight[j];
  return fmax(fabs(c->max - f->center[j]), fabs(c->min - f->center[j])) / f->spread[j];
}

void cs_features_range_advice(const cs_features_t *f, const double *fmx, double mx, double lo,
                              double hi, char *why, size_t len) {
  const int d = f->d;
  if (mx > hi) {
    /* A feature is blamed on its weight only when it is within the range without it: the
     * matrix holds values clamped at the float32 limit (a weight of 1e25 on a column reaching
     * 1e20 had been blamed alone), and a one-hot column holds its weight itself (1e39 becomes
     * inf, which had been blamed on the scale). Under zscore a weight of 1e30 had been told to
     * "use --scale zscore". */
    int jm = 0, jc = -1, jw = -1, nw = 0; /* the largest; beyond by its column; by its weight */
    for (int j = 0; j < d; j++) {
      jm = fmx[j] > fmx[jm] ? j : jm;
      if (!(fmx[j] > hi)) continue;
      if (unweighted_reach(f, j, fmx[j]) > hi) {
        if (jc < 0 || fmx[j] > fmx[jc]) jc = j;
      } else if (jw < 0 || fmx[j] > fmx[jw]) {
        jw = j;
      }
    }
    /* other columns beyond by their weights (a one-hot column's levels share its weight) */
    for (int j = 0; jw >= 0 && j < d; j++)
      nw += fmx[j] > hi && f->col_of[j] != f->col_of[jw] && !(unweighted_reach(f, j, fmx[j]) > hi);
    int pos = 0;
    char at[32] = "it"; /* the largest value, or another feature's own */
    if (jc >= 0 && jc != jm) snprintf(at, sizeof at, "%g", fmx[jc]);
    if (jc >= 0)
      pos = snprintf(why, len, "feature '%s' reaches %s; use --scale zscore or rescale the "
                     "column%s", f->names[jc], at,
                     f->weight[jc] > 1 ? ", and mind its --feature-weights weight" : "");
    char beyond[40];
    snprintf(beyond, sizeof beyond, "beyond %g", hi);
    if (jw >= 0 && pos >= 0 && (size_t)pos < len)
      snprintf(why + pos, len - (size_t)pos, "%sfeature '%s' reaches %s with its "
               "--feature-weights weight %g: lower the weight%s%s%s", jc >= 0 ? "; " : "",
               f->names[jw], jw == jm ? "it" : beyond, f->weight[jw],
               nw ? " (and those of the other features " : "", nw ? beyond : "", nw ? ")" : "");
  } else if (mx > 0 && mx < lo) {
    /* Every feature below the range: the weights, when one of them is what took it there. */
    double wl = 0;
    int by_weight = 0;
    for (int j = 0; j < d; j++) {
      if (f->weight[j] > wl) wl = f->weight[j];
      by_weight |= f->weight[j] > 0 && f->weight[j] < 1 && unweighted_reach(f, j, fmx[j]) >= lo;
    }
    if (by_weight)
      snprintf(why, len, "the --feature-weights weights, the largest %g, take every feature "
               "below %g: raise them", wl, lo);
  }
}
