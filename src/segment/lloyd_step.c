/* segment/lloyd_step.c: one full Lloyd step and the inertia from its sums.
 *
 * One pass per iteration fuses the assignment (kernels/assign.c) with the partial M-step:
 * per-thread sums of w*x per segment, weights, counts and the exact inertia, as fixed-point
 * integers (int64 inside a block of rows, flushed to 128-bit totals), then one packed
 * allreduce of K*(D+3)+1 integers. Integer sums do not depend on order, so the centroids are
 * bit-identical for any ranks x threads; each row's distance arithmetic is the same wherever
 * it lands. Ties go to the lowest centroid index. The driver (restarts, convergence,
 * re-seeding) is lloyd.c; the bounded steps of the accelerated variants are bounds.c. */
#include "custseg/segment.h"

#include "lloyd_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* E-step and partial M-step against centroids c; fills labels and the reduced sums. A block
 * has CS_ACC_COPIES x CS_FIXED_BLOCK rows: each copy of the kernel's int64 sums then takes at
 * most CS_FIXED_BLOCK of them, the bound the fixed-point scales allow.
 * Incremental sums: once acc holds the sums of the current labels (l->sums_valid) and the run
 * is unweighted, a block adds only its changed rows, gathered, into the new segments' sums
 * and from the old ones'; every row converts to the same integers either way, so the totals
 * are the ones a full accumulation gives, and late iterations (few changes) skip the
 * accumulation pass almost entirely. */
#define STEP_ROWS ((int64_t)CS_FIXED_BLOCK * CS_ACC_COPIES)

/* Fold a block's kernel sums (CS_ACC_COPIES copies of K x (D + 1)) into tot with sign sg. */
static void fold_block(const lloyd_t *l, const int64_t *ext, cs_fixed_t *tot, int64_t w_unit,
                       int sg) {
  const int k = l->k, d = l->d, ds = d + 1;
  for (int cp = 0; cp < CS_ACC_COPIES; cp++)
    for (int q = 0; q < k; q++) {
      const int64_t *e = ext + ((int64_t)cp * k + q) * ds;
      cs_fixed_t *sq = tot + (int64_t)q * d;
      for (int j = 0; j < d; j++) sq[j] += sg * (cs_fixed_t)e[j];
      tot[OFF_N(l) + q] += sg * (cs_fixed_t)e[d];
      if (!l->m->w) /* unweighted: w = 1, so the weight is the count */
        tot[OFF_W(l) + q] += sg * (cs_fixed_t)e[d] * w_unit;
    }
}

/* Up to this many changed rows in a block go straight into the 128-bit totals: 2 x d adds a
 * row against two folds of the CS_ACC_COPIES x K x (D + 1) kernel sums. */
#define FEW_CHANGES 64

/* Changed rows (x, new and old label) into tot: + to the new segment, - from the old. Each
 * value converts as acc_rows converts it (x * 2^sx_j is exact in float and in double, then
 * truncated), so the totals equal the folded kernel sums. Unweighted runs only; ||x||^2 is
 * added by add_norms. */
static void add_changes(const lloyd_t *l, const float *gx, const int32_t *gnew,
                        const int32_t *gold, int64_t nc, int64_t w_unit, cs_fixed_t *tot) {
  const int d = l->d;
  for (int64_t r = 0; r < nc; r++) {
    cs_fixed_t *sn = tot + (int64_t)gnew[r] * d, *so = tot + (int64_t)gold[r] * d;
    for (int j = 0; j < d; j++) {
      cs_fixed_t v = (int64_t)((double)gx[r * d + j] * l->xs[j]);
      sn[j] += v;
      so[j] -= v;
    }
    tot[OFF_N(l) + gnew[r]] += 1;
    tot[OFF_N(l) + gold[r]] -= 1;
    tot[OFF_W(l) + gnew[r]] += w_unit;
    tot[OFF_W(l) + gold[r]] -= w_unit;
  }
}

/* Sum w ||x||^2 of rows into tot, 128-bit per row: its exponent is not bounded by int64 sums
 * (one extreme customer had made the grid coarser than every other customer's term, and the
 * inertia 0). q[r] is row r's 2^sd ||x||^2 (unweighted, precomputed), or NULL to convert
 * w ||x||^2 of rows i0 + r; + to seg_new[r], - from seg_old[r] when not NULL. */
static void add_norms(const lloyd_t *l, const cs_fixed_t *q, int64_t i0, int64_t n,
                      const int32_t *seg_new, const int32_t *seg_old, cs_fixed_t *tot) {
  cs_fixed_t *tq = tot + OFF_Q(l);
  for (int64_t r = 0; r < n; r++) {
    const cs_fixed_t v = q ? q[r] : cs_to_fixed(l->xnorm[i0 + r] * l->m->w[i0 + r], l->sc.sd);
    tq[seg_new[r]] += v;
    if (seg_old) tq[seg_old[r]] -= v;
  }
}

int cs__step_full(lloyd_t *l, const double *c, int count_changes) {
  int status = CS_OK;
  const cs_matrix_t *m = l->m;
  const int k = l->k, d = l->d, ds = d + 1;
  const int64_t L = l->L, nb = (m->n + STEP_ROWS - 1) / STEP_ROWS;
  const int64_t ext_len = (int64_t)CS_ACC_COPIES * k * ds;
  const int incremental = l->sums_valid && !m->w;
  int fails = 0;
  CS_CHECK(cs_panel_set(&l->panel, c, k, d) == CS_OK, CS_ENOMEM, "out of memory (panel)");
  memset(l->tacc, 0, (size_t)l->nthreads * (size_t)L * sizeof *l->tacc);
  if (l->u) CS_TRY(cs__bounds_prepare(l, c));
  const double ws = ldexp(1.0, l->sc.sw);
  /* trunc(1 * 2^sw): what a weight of 1 adds (unweighted runs only: sw <= 52 there) */
  const int64_t w_unit = m->w ? 0 : (int64_t)ws;
#pragma omp parallel reduction(+ : fails)
  {
    int t = omp_get_thread_num();
    cs_fixed_t *tot = l->tacc + (int64_t)t * L;
    int64_t *ext = malloc((size_t)ext_len * sizeof *ext);
    int64_t *bw = malloc((size_t)k * sizeof *bw);
    int32_t *lab = malloc(STEP_ROWS * sizeof *lab);
    float *sc2 = l->u ? malloc(2 * STEP_ROWS * sizeof *sc2) : NULL;
    /* Incremental: the changed rows gathered (x, ||x||^2 as integers, old label). */
    float *gx = incremental ? malloc((size_t)STEP_ROWS * (size_t)d * sizeof *gx) : NULL;
    cs_fixed_t *gq = incremental ? malloc(STEP_ROWS * sizeof *gq) : NULL;
    int32_t *gnew = incremental ? malloc(STEP_ROWS * sizeof *gnew) : NULL;
    int32_t *gold = incremental ? malloc(STEP_ROWS * sizeof *gold) : NULL;
    int ok = ext && bw && lab && (!l->u || sc2) && (!incremental || (gx && gq && gnew && gold));
    fails += !ok;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      if (!ok) continue;
      int64_t i0 = b * STEP_ROWS, n = m->n - i0 < STEP_ROWS ? m->n - i0 : STEP_ROWS;
      const float *x = m->x + i0 * d;
      int32_t *prev = l->labels + i0;
      cs_kernel_assign(x, n, d, &l->panel, lab, sc2);
      if (l->u) cs__bounds_after_full(l, i0, n, lab, sc2);
      int64_t changed = 0;
      if (incremental) {
        for (int64_t h = 0; h < n; h += 16) {
          const int64_t he = n - h < 16 ? n : h + 16;
          int32_t diff = 0;
          for (int64_t i = h; i < he; i++) diff |= prev[i] ^ lab[i]; /* vectorized */
          if (!diff) continue;
          for (int64_t i = h; i < he; i++) {
            if (prev[i] == lab[i]) continue;
            memcpy(gx + changed * d, x + i * d, (size_t)d * sizeof *gx);
            gq[changed] = l->xq[i0 + i];
            gnew[changed] = lab[i];
            gold[changed] = prev[i];
            prev[i] = lab[i];
            changed++;
          }
        }
        add_norms(l, gq, 0, changed, gnew, gold, tot);
        if (changed && changed <= FEW_CHANGES) {
          add_changes(l, gx, gnew, gold, changed, w_unit, tot);
        } else if (changed) {
          cs_acc_t acc = {k, NULL, l->xs, l->xsf, ext};
          memset(ext, 0, (size_t)ext_len * sizeof *ext);
          cs_kernel_accumulate(gx, changed, d, gnew, &acc);
          fold_block(l, ext, tot, w_unit, +1);
          memset(ext, 0, (size_t)ext_len * sizeof *ext);
          cs_kernel_accumulate(gx, changed, d, gold, &acc);
          fold_block(l, ext, tot, w_unit, -1);
        }
      } else {
        memset(ext, 0, (size_t)ext_len * sizeof *ext);
        cs_acc_t acc = {k, m->w ? m->w + i0 : NULL, l->xs, l->xsf, ext};
        cs_kernel_accumulate(x, n, d, lab, &acc);
        add_norms(l, m->w ? NULL : l->xq + i0, i0, n, lab, NULL, tot);
        if (m->w) {
          /* Weighted: Sum w per segment, CS_FIXED_BLOCK rows at a time (int64 bound), folded
           * into the totals. */
          for (int64_t h0 = 0; h0 < n; h0 += CS_FIXED_BLOCK) {
            memset(bw, 0, (size_t)k * sizeof *bw);
            for (int64_t i = h0; i < n && i < h0 + CS_FIXED_BLOCK; i++)
              bw[lab[i]] += (int64_t)(m->w[i0 + i] * ws);
            for (int q = 0; q < k; q++) tot[OFF_W(l) + q] += bw[q];
          }
        }
        fold_block(l, ext, tot, w_unit, +1);
        for (int64_t i = 0; i < n; i++) {
          changed += prev[i] != lab[i];
          prev[i] = lab[i];
        }
      }
      if (count_changes) tot[OFF_CHANGES(l)] += changed;
    }
    free(ext);
    free(bw);
    free(lab);
    free(sc2);
    free(gx);
    free(gq);
    free(gnew);
    free(gold);
  }
  CS_TRY(cs_par_agree(l->ctx, fails ? cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                   "out of memory (k-means step)") : CS_OK));
  /* Full: acc = the reduced sums. Incremental: acc += the reduced changes. */
  if (!incremental) memset(l->acc, 0, (size_t)L * sizeof *l->acc);
  cs_fixed_t *red = incremental ? l->tacc : l->acc;
  for (int t = incremental ? 1 : 0; t < l->nthreads; t++)
    for (int64_t v = 0; v < L; v++) red[v] += l->tacc[(int64_t)t * L + v];
  CS_TRY(cs_par_sum_i128_n(l->ctx, red, L));
  if (incremental) {
    for (int64_t v = 0; v < OFF_CHANGES(l); v++) l->acc[v] += red[v];
    l->acc[OFF_CHANGES(l)] = red[OFF_CHANGES(l)];
  }
  l->sums_valid = 1;
  l->bounds_valid = l->u != NULL;
  l->full_next = 0;
  l->epoch = 0;
  l->distance_rows += m->n * k;
  CS_TRY(cs__finish_inertia(l, c));
fail:
  return status;
}

/* Inertia of the current assignment against c, from the sums. */
int cs__finish_inertia(lloyd_t *l, const double *c) {
  const int k = l->k, d = l->d;
  /* sum_k [ Q_k - 2 c_k . S_k + W_k ||c_k||^2 ]: no per-row distance pass, and evaluated
   * identically on every rank. */
  double in = 0;
  for (int q = 0; q < k; q++) {
    double wq = cs_from_fixed(l->acc[OFF_W(l) + q], l->sc.sw), dot = 0, cc = 0;
    const double *cq = c + (int64_t)q * d;
    for (int j = 0; j < d; j++) {
      dot += cq[j] * cs_from_fixed(l->acc[(int64_t)q * d + j], l->sx[j]);
      cc += cq[j] * cq[j];
    }
    double e = cs_from_fixed(l->acc[OFF_Q(l) + q], l->sc.sd) - 2 * dot + wq * cc;
    in += e > 0 ? e : 0;
  }
  l->inertia = in;
  return CS_OK;
}
