/* segment/lloyd_impl.h: state shared by the Lloyd driver (lloyd.c), its full step
 * (lloyd_step.c) and the bounded steps of the accelerated variants (bounds.c). Private to
 * src/segment. */
#ifndef CUSTSEG_SEGMENT_LLOYD_IMPL_H
#define CUSTSEG_SEGMENT_LLOYD_IMPL_H

#include "custseg/kernels.h"
#include "custseg/segment.h"

typedef struct lloyd {
  cs_ctx_t *ctx;
  double *xnorm;       /* ||x_i||^2 per local row, computed once */
  double *xlen;        /* ||x_i|| (the bounds' rounding margins) */
  cs_fixed_t *xq;      /* the same as fixed-point integers, 2^sd (unweighted runs) */
  const cs_matrix_t *m;
  int k, d, nthreads;
  int64_t L;           /* packed length */
  cs_kscale_t sc;
  cs_panel_t panel;
  cs_fixed_t *tacc;    /* nthreads x L */
  cs_fixed_t *acc;     /* L, reduced */
  double inertia;      /* of the last step */
  /* Bounds of the accelerated variants (u == NULL for plain Lloyd). The centroids are split
   * into ng groups (ng = 1: Hamerly; ng ~ K/10: Yinyang). Per row: u >= distance to its own
   * centroid as of epoch ustamp[i], lb[i * ng + g] <= distance to every centroid of group g
   * other than its own as of epoch stamp[i] (floats rounded down). Each centroid update is an epoch; cc and cg hold
   * per epoch the cumulative drift of each centroid and the cumulative largest drift of each
   * group, so a row's bounds are brought up to date by two differences, and rows whose label
   * is proven are only read, never written. bounds_valid after a full step (epoch 0). */
  double *u;
  float *lb;
  float *lbmin;        /* ng > 1: min over the row's group bounds, checked first */
  int32_t *stamp, *ustamp; /* epochs of the group bounds and of u */
  double *drift, *half_gap, *gdrift;
  double *cc, *cg, *cgm; /* CS_EPOCHS x k, CS_EPOCHS x ng, CS_EPOCHS (largest drift) */
  int epoch;
  int ng;
  int *gof;            /* group of each centroid */
  int *gstart, *gmem;  /* members of group g: gmem[gstart[g] .. gstart[g+1]), increasing */
  cs_panel_t *gpanel;  /* one panel per group */
  int bounds_valid;
  int full_next;       /* the bounds would fail for most rows: take a full step next */
  int64_t distance_rows;  /* row x centroid distances computed (statistics) */
  double cmax_cached;     /* largest centroid norm of the current step */
  int *sx;                /* per feature: the exponent of Sum w x_j */
  double *xs;             /* 2^sx[j] */
  float *xsf;             /* the same as floats */
  double ws, qs;          /* 2^sw, 2^sd */
  int32_t *labels;
  /* acc holds the exact reduced sums of the current labels on every rank (set by every step,
   * cleared when the labels are reset): an unweighted step then adds only the rows whose label
   * changed (+ to the new segment, - from the old), which gives the same integers. */
  int sums_valid;
} lloyd_t;

/* Offsets in the packed vector: per segment Sum w x (K x D), Sum w, count, Sum w ||x||^2,
 * then the number of changed labels. */
#define OFF_W(l) ((int64_t)(l)->k * (l)->d)
#define OFF_N(l) (OFF_W(l) + (l)->k)
#define OFF_Q(l) (OFF_N(l) + (l)->k)
#define OFF_CHANGES(l) (OFF_Q(l) + (l)->k)

/* Epochs kept; when they run out, the next step is a full one (which starts again at 0). */
#define CS_EPOCHS 256

/* A full step against c (lloyd_step.c): every row's label and the reduced sums (only the
 * changed rows' when the sums of the current labels are valid and the run is unweighted), the
 * changed labels counted when count_changes. Collective. */
int cs__step_full(lloyd_t *l, const double *c, int count_changes);
/* Inertia of the current assignment against c, from the reduced sums. */
int cs__finish_inertia(lloyd_t *l, const double *c);

/* Allocate the bounds for ng groups (clamped to 1..min(K, 64)) and split the centroids c
 * into groups: a few Lloyd iterations over the centroids themselves, started at evenly spaced
 * centroids; identical on every rank. Collective (agrees on allocation). */
int cs__bounds_setup(lloyd_t *l, const double *c, int ng);
void cs__bounds_free(lloyd_t *l);
/* Before a step against c: group panels, half gaps, largest centroid norm. Local. */
int cs__bounds_prepare(lloyd_t *l, const double *c);
/* After a full step's kernel on rows [i0, i0 + n) (labels lab, best/second scores sc2 from
 * the full panel): set their bounds. Local. */
void cs__bounds_after_full(lloyd_t *l, int64_t i0, int64_t n,
                           const int32_t *lab, const float *sc2);
/* After the centroids moved from c to c_new (ne > 0: some were re-seeded): drifts, a new
 * epoch, or invalid bounds. Local. */
void cs__bounds_moved(lloyd_t *l, const double *c, const double *c_new, int ne);
/* A step that skips rows whose bounds prove their label, and centroid groups whose bounds
 * prove they cannot win; returns Lloyd's labels and sums. Collective. */
int cs__step_bounded(lloyd_t *l, const double *c, int count_changes);

#endif
