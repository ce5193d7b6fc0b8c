/* churn/logit.c: labels, the split (a hash or a column), Newton/IRLS training and scoring.
 *
 * Trade-off: the Hessian is accumulated exactly (fixed-point, 128-bit) for every training
 * row, which costs (D+1)(D+2)/2 integer conversions per row per iteration, in exchange for
 * coefficients that are bit-identical on any decomposition and converge in a handful of
 * iterations (Newton, with step halving if the penalized loss ever rises). */
#include "custseg/churn.h"

#include "vmath.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void cs_churn_data_free(cs_churn_data_t *data) {
  cs_free(data->y);
  cs_free(data->holdout);
  memset(data, 0, sizeof *data);
}

void cs_churn_model_free(cs_churn_model_t *model) {
  free(model->coef);
  free(model->se);
  memset(model, 0, sizeof *model);
}

int cs_churn_in_holdout(int64_t customer_id, int64_t row, const cs_churn_opts_t *o) {
  if (o->split) return o->split[row - o->split_offset];
  if (!(o->holdout > 0)) return 0;
  uint64_t cut = (uint64_t)(o->holdout * 18446744073709551616.0);
  return XXH3_64bits_withSeed(&customer_id, sizeof customer_id, o->seed) < cut;
}

int cs_churn_read_split(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                        const char *column, cs_churn_opts_t *o) {
  int status = CS_OK;
  double *raw = NULL;
  const cs_column_t *c = cs_store_column(store, column);
  CS_CHECK(c && c->dtype != CS_DT_NONE, CS_EDATA,
           "%s: --holdout-column: no numeric column /customers/%s", store->path, column);
  double one, zero; /* a categorical column's codes of holdout and training */
  CS_TRY(cs_features_flag_values(store->path, c, CS_FLAG_SPLIT, NULL, NULL, &one, &zero));
  if (ctx->check_only) return CS_OK; /* run's dry pass: the schema only */
  const int64_t nl = part->n_local;
  raw = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *raw), "holdout column");
  o->split = cs_alloc(cs_bytes(nl ? nl : 1, 1), "split");
  o->split_offset = part->offset;
  CS_TRY(cs_par_agree(ctx, raw && o->split ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_store_read(store, column, part->offset, nl, CS_DT_F64, raw));
  int64_t bad = -1;
  for (int64_t i = 0; i < nl && bad < 0; i++) {
    if (raw[i] == zero || raw[i] == one)
      o->split[i] = (uint8_t)(raw[i] == one);
    else
      bad = i;
  }
  CS_TRY(cs_par_agree(ctx, bad < 0 ? CS_OK
                                   : cs_error_set(CS_EDATA, __FILE__, __LINE__,
                                                  "%s: --holdout-column '%s' has %g at row %lld "
                                                  "(0 is training, 1 holdout)",
                                                  store->path, column, raw[bad],
                                                  (long long)(part->offset + bad))));
fail:
  cs_free(raw);
  if (status < 0) cs_churn_opts_free(o);
  return status;
}

void cs_churn_opts_free(cs_churn_opts_t *o) {
  cs_free(o->split);
  o->split = NULL;
}

int cs_churn_labels(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, const cs_matrix_t *m,
                    const char *label_column, const cs_churn_opts_t *o, cs_churn_data_t *data) {
  int status = CS_OK;
  double *raw = NULL;
  memset(data, 0, sizeof *data);
  const cs_column_t *c = cs_store_column(store, label_column);
  const char *like = c ? NULL : cs_features_label_like(store, label_column);
  CS_CHECK(c, CS_EDATA, "%s: no label column /customers/%s (churn needs 0/1 labels)%s%s%s",
           store->path, label_column, like ? "; the store has '" : "", like ? like : "",
           like ? "': name it with --label-column" : "");
  CS_CHECK(c->dtype != CS_DT_NONE, CS_EDATA,
           "%s: the label column /customers/%s is %s, which custseg does not read (store it as "
           "integers, or as float32 or float64)", store->path, label_column, c->type_desc);
  CS_CHECK(o->holdout >= 0 && o->holdout < 1, CS_EUSAGE, "--holdout must be in [0, 1), got %g",
           o->holdout);
  raw = cs_alloc(cs_bytes(part->n_local ? part->n_local : 1, sizeof *raw), "labels");
  data->y = cs_alloc(cs_bytes(m->n ? m->n : 1, 1), "labels");
  data->holdout = cs_alloc(cs_bytes(m->n ? m->n : 1, 1), "split");
  CS_TRY(cs_par_agree(ctx, raw && data->y && data->holdout ? CS_OK : CS_ENOMEM));
  double one, zero; /* the values meaning churned and stayed */
  CS_TRY(cs_features_flag_values(store->path, c, CS_FLAG_EVENT, o->label_positive,
                                 ctx->in_run ? "label-positive in [churn-train]" : "--label-positive", &one,
                                 &zero));
  for (int j = 0; j < 2; j++) /* the level names, or "1"/"0" of a numeric label turned over */
    if (c->n_categories || one == 0)
      snprintf(data->level[j], sizeof data->level[j], "%s",
               c->n_categories ? c->categories[(int)(j ? one : zero)] : j ? "0" : "1");
  CS_TRY(cs_store_read(store, label_column, part->offset, part->n_local, CS_DT_F64, raw));
  /* cnt[6..7]: values that are neither 0/1 nor an unknown marker (-1, NaN; a missing code
   * of a categorical label), and the first row holding one (min over ranks via -row). */
  int64_t cnt[8] = {0, 0, 0, 0, 0, 0, 0, INT64_MIN};
  double odd = 0;
  for (int64_t i = 0; i < m->n; i++) {
    double v = raw[m->row[i] - part->offset];
    int8_t y = v == zero ? 0 : v == one ? 1 : -1;
    int h = cs_churn_in_holdout(m->id[i], m->row[i], o);
    data->y[i] = y;
    data->holdout[i] = (uint8_t)h;
    cnt[3 * h + (y < 0 ? 2 : y)]++;
    if (y < 0 && v == v && v != -1) {
      if (!cnt[6]++) odd = v, cnt[7] = -m->row[i];
    }
  }
  int64_t first = cnt[7];
  CS_TRY(cs_par_allreduce(ctx, cnt, 7, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, &first, 1, CS_DT_I64, CS_OP_MAX));
  if (cnt[6]) {
    /* The value at that row: only the rank holding it offers it to the max. */
    double val = cnt[7] == first ? odd : -INFINITY;
    CS_TRY(cs_par_allreduce(ctx, &val, 1, CS_DT_F64, CS_OP_MAX));
    if (cs_log_rank() == 0)
      cs_log_warn("%s: label column '%s' has %lld value(s) other than 0, 1 and unknown (-1, "
                  "NaN), first %g at row %lld: treated as unknown", store->path, label_column,
                  (long long)cnt[6], val, (long long)-first);
  }
  memcpy(data->counts, cnt, sizeof data->counts);
fail:
  cs_free(raw);
  if (status < 0) cs_churn_data_free(data);
  return status;
}

static inline double sigmoid(double z) {
  return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* Features are padded to a multiple of LANES doubles so that every per-row loop below is a
 * whole number of vectors; the order of the sums depends on the row only, never on the
 * decomposition. */
enum { LANES = 8 };

static inline int padded(int p) { return (p + LANES - 1) / LANES * LANES; }

/* xr[0] = 1, xr[1..d] = x, zeros up to pp. */
static inline void widen(const float *x, int d, int pp, double *restrict xr) {
  xr[0] = 1.0;
  for (int j = 0; j < d; j++) xr[1 + j] = x[j];
  for (int j = d + 1; j < pp; j++) xr[j] = 0.0;
}

static inline int imin(int a, int b) { return a < b ? a : b; }

/* c . xr with LANES partial sums combined in a fixed order. */
static inline double dot(const double *restrict c, const double *restrict xr, int pp) {
  double s[LANES] = {0};
  for (int v = 0; v < pp; v += LANES)
    for (int l = 0; l < LANES; l++) s[l] += c[v + l] * xr[v + l];
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* A zeroed, LANES-aligned array of n doubles or int64s (NULL when out of memory). */
static void *lanes_alloc(int64_t n) {
  size_t bytes = (size_t)((n + LANES - 1) / LANES * LANES) * 8;
  void *v = aligned_alloc(LANES * 8, bytes);
  if (v) memset(v, 0, bytes);
  return v;
}

int cs_churn_train_spread(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                          double *sd) {
  int status = CS_OK;
  const int d = m->d;
  /* Per feature: count, sum and sum of squares over the training rows (plain double sums:
   * the result only decides a warning, far from its threshold). */
  double *s = calloc((size_t)3 * (size_t)d, sizeof *s);
  CS_TRY(cs_par_agree(ctx, s ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int64_t i = 0; i < m->n; i++) {
    if (data->y[i] < 0 || data->holdout[i]) continue;
    for (int j = 0; j < d; j++) {
      const double x = m->x[i * d + j];
      s[3 * j] += 1, s[3 * j + 1] += x, s[3 * j + 2] += x * x;
    }
  }
  CS_TRY(cs_par_allreduce(ctx, s, 3 * d, CS_DT_F64, CS_OP_SUM));
  for (int j = 0; j < d; j++) {
    const double *v = s + 3 * j;
    double var = v[0] > 0 ? v[2] / v[0] - (v[1] / v[0]) * (v[1] / v[0]) : 0;
    sd[j] = sqrt(var > 0 ? var : 0);
  }
fail:
  free(s);
  return status;
}

int cs_churn_score(const cs_churn_model_t *model, const cs_matrix_t *m, float *score) {
  const int d = model->p - 1, pp = padded(model->p);
  /* The padded coefficients, then one row buffer per thread. */
  double *buf = lanes_alloc((int64_t)pp * (1 + omp_get_max_threads()));
  if (!buf) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (churn scores)");
  memcpy(buf, model->coef, (size_t)model->p * sizeof *buf);
#pragma omp parallel
  {
    double *xr = buf + (size_t)pp * (1 + omp_get_thread_num());
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m->n; i++) {
      widen(m->x + i * d, d, pp, xr);
      score[i] = (float)sigmoid(dot(buf, xr, pp));
    }
  }
  free(buf);
  return CS_OK;
}

/* Cholesky factor of a p x p SPD matrix in place (lower); 0 when not positive definite. */
static int cholesky(double *a, int p) {
  for (int j = 0; j < p; j++) {
    double s = a[j * p + j];
    for (int k = 0; k < j; k++) s -= a[j * p + k] * a[j * p + k];
    if (!(s > 0)) return 0;
    a[j * p + j] = sqrt(s);
    for (int i = j + 1; i < p; i++) {
      double t = a[i * p + j];
      for (int k = 0; k < j; k++) t -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = t / a[j * p + j];
    }
  }
  return 1;
}

static void chol_solve(const double *l, int p, double *b) {
  for (int i = 0; i < p; i++) {
    double s = b[i];
    for (int k = 0; k < i; k++) s -= l[i * p + k] * b[k];
    b[i] = s / l[i * p + i];
  }
  for (int i = p - 1; i >= 0; i--) {
    double s = b[i];
    for (int k = i + 1; k < p; k++) s -= l[k * p + i] * b[k];
    b[i] = s / l[i * p + i];
  }
}

/* Seed offset of the Hessian sample's hash (see cs_churn_train). */
#define HESSIAN_SEED 0x9e3779b97f4a7c15ULL

typedef struct pass {
  int p, pp;      /* coefficients, and p padded to LANES */
  int64_t nv;     /* totals: p gradient + p(p+1)/2 Hessian + loss + misclassified */
  int64_t na;     /* block accumulator: pp gradient + Hessian rows + loss + misclassified */
  int64_t *off;   /* Hessian row j at acc + off[j], covering columns j / LANES * LANES .. pp */
  int sg, sh, sl; /* fixed-point exponents of gradient, Hessian, loss */
  double tame;    /* rows whose |x| stay within it take the int64 path; others 128 bits */
  cs_fixed_t *v;
} pass_t;

/* -log of a predicted probability, capped at -log(1e-15) as the loss's fixed-point scale
 * assumes. */
static const double LOSS_CAP = 34.538776394910684;

/* One pass over the training rows at coef: gradient, loss and the Hessian (of the rows
 * flagged in hsample, all when NULL; with only_sample, everything over the flagged rows). Rows are taken in
 * blocks of CS_FIXED_BLOCK; inside a block every term is added to an int64 as
 * trunc(value 2^s), the Hessian a whole padded row at a time (so the loops vectorize), and
 * each block is flushed into the thread's 128-bit totals. Collective. */
static int evaluate(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                    const uint8_t *hsample, int only_sample, const double *cw, pass_t *ps,
                    const double *coef, double *g, double *h, double *loss, int *separable) {
  int status = CS_OK;
  const int p = ps->p, pp = ps->pp, d = p - 1, nt = omp_get_max_threads();
  const int64_t nh = (int64_t)p * (p + 1) / 2, nv = ps->nv, na = ps->na;
  const int64_t nb = (m->n + CS_FIXED_BLOCK - 1) / CS_FIXED_BLOCK;
  /* A thread's part: its row, its block sums, and z, the probability, log(1 + exp(-|z|))
   * and the row index of the block's training rows. */
  const int64_t per =
      pp + (na + LANES - 1) / LANES * LANES + 4 * CS_FIXED_BLOCK + (int64_t)pp * CS_FIXED_BLOCK;
  const double gs = ldexp(1.0, ps->sg), hs = ldexp(1.0, ps->sh), ls = ldexp(1.0, ps->sl);
  double *buf = lanes_alloc(pp + per * nt); /* coefficients, then each thread's part */
  cs_fixed_t *tot = calloc((size_t)(nv * nt), sizeof *tot);
  double *edges = malloc(2 * (size_t)nt * sizeof *edges);
  CS_TRY(cs_par_agree(ctx, buf && tot && edges ? CS_OK
                                               : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                              "out of memory (churn pass)")));
  memcpy(buf, coef, (size_t)p * sizeof *buf);
  /* A thread the runtime does not start (OMP_THREAD_LIMIT, OMP_DYNAMIC) adds nothing. */
  for (int t = 0; t < 2 * nt; t++) edges[t] = -INFINITY;
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    double *xr = buf + pp + per * t;
    int64_t *acc = (int64_t *)(xr + pp);
    double *zb = xr + pp + (na + LANES - 1) / LANES * LANES, *eb = zb + CS_FIXED_BLOCK,
           *lb = eb + CS_FIXED_BLOCK;
    int64_t *ib = (int64_t *)(lb + CS_FIXED_BLOCK);
    uint8_t wild[CS_FIXED_BLOCK]; /* the row has a value beyond ps->tame */
    double *xb = lb + 2 * CS_FIXED_BLOCK; /* the block's widened training rows */
    cs_fixed_t *tt = tot + nv * t;
    /* Separable along the current direction: every churner scores above every stayer. */
    double e0 = -INFINITY, e1 = -INFINITY; /* max z of stayers, -min z of churners */
#pragma omp for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
      int64_t i0 = b * CS_FIXED_BLOCK, i1 = i0 + CS_FIXED_BLOCK < m->n ? i0 + CS_FIXED_BLOCK : m->n;
      memset(acc, 0, (size_t)na * sizeof *acc);
      /* Stage 1: the linear scores of the block's training rows; stage 2: exp and log over
       * all of them at once (vmath.h); stage 3: the sums, row by row. */
      int nu = 0;
      for (int64_t i = i0; i < i1; i++) {
        int y = data->y[i];
        if (y < 0 || data->holdout[i] || (only_sample && !hsample[i])) continue;
        double *x = xb + (size_t)nu * pp;
        widen(m->x + i * d, d, pp, x);
        double ax = 0;
        for (int j = 1; j <= d; j++) ax = fmax(ax, fabs(x[j]));
        wild[nu] = ax > ps->tame;
        ib[nu] = i;
        zb[nu++] = dot(buf, x, pp);
      }
      for (int k = nu; k % LANES; k++) zb[k] = 0.0; /* whole vectors, no scalar tail */
      for (int k = 0; k < nu; k += LANES) {
        v8d z, e, q;
        memcpy(&z, zb + k, sizeof z);
        e = v8_exp_nonpos(v8_select(z < v8_splat(0.0), z, -z)); /* exp(-|z|) */
        q = v8_splat(1.0) / (v8_splat(1.0) + e);
        q = v8_select(z >= v8_splat(0.0), q, e * q); /* the churn probability */
        memcpy(eb + k, &q, sizeof q);
        e = v8_log1p_unit(e);
        memcpy(lb + k, &e, sizeof e);
      }
      for (int k = 0; k < nu; k++) {
        const int64_t i = ib[k];
        const int y = data->y[i];
        const double *restrict x = xb + (size_t)k * pp;
        double z = zb[k], pr = eb[k], w = cw[y];
        double r = w * ((double)y - pr) * gs, hw = w * pr * (1 - pr) * hs;
        if (wild[k]) { /* each term straight into the 128-bit totals */
          for (int j = 0; j < p; j++) tt[j] += (cs_fixed_t)(r * x[j]);
          cs_fixed_t *th = tt + p;
          for (int j = 0; j < (!hsample || hsample[i] ? p : 0); j++)
            for (int c = j; c < p; c++) *th++ += (cs_fixed_t)(hw * x[j] * x[c]);
        } else {
        for (int v = 0; v < pp; v += LANES)
          for (int l = 0; l < LANES; l++) acc[v + l] += (int64_t)(r * x[v + l]);
        for (int j = 0; j < (!hsample || hsample[i] ? p : 0); j++) {
          const double hj = hw * x[j];
          int64_t *row = acc + ps->off[j] - j / LANES * LANES;
          for (int v = j / LANES * LANES; v < pp; v += LANES)
            for (int l = 0; l < LANES; l++) row[v + l] += (int64_t)(hj * x[v + l]);
        }
        }
        /* -log P(y) = softplus(-z) for a churner, softplus(z) for a stayer. */
        double l = lb[k] + (y ? (z < 0 ? -z : 0) : (z > 0 ? z : 0));
        acc[na - 2] += (int64_t)(w * (l < LOSS_CAP ? l : LOSS_CAP) * ls);
        acc[na - 1] += (z > 0) != (y == 1);
        if (y) e1 = -z > e1 ? -z : e1;
        else e0 = z > e0 ? z : e0;
      }
      for (int j = 0; j < p; j++) tt[j] += acc[j];
      cs_fixed_t *th = tt + p;
      for (int j = 0; j < p; j++)
        for (int k = j; k < p; k++) *th++ += acc[ps->off[j] + k - j / LANES * LANES];
      tt[p + nh] += acc[na - 2];
      tt[p + nh + 1] += acc[na - 1];
    }
    edges[2 * t] = e0;
    edges[2 * t + 1] = e1;
  }
  memset(ps->v, 0, (size_t)nv * sizeof *ps->v);
  double edge[2] = {-INFINITY, -INFINITY};
  for (int t = 0; t < nt; t++) {
    for (int64_t v = 0; v < nv; v++) ps->v[v] += tot[nv * t + v];
    edge[0] = fmax(edge[0], edges[2 * t]);
    edge[1] = fmax(edge[1], edges[2 * t + 1]);
  }
  CS_TRY(cs_par_sum_i128_n(ctx, ps->v, nv));
  CS_TRY(cs_par_allreduce(ctx, edge, 2, CS_DT_F64, CS_OP_MAX));
  *separable = edge[0] < -edge[1];
  for (int j = 0; j < p; j++) g[j] = cs_from_fixed(ps->v[j], ps->sg);
  int64_t t = p;
  for (int j = 0; j < p; j++)
    for (int k = j; k < p; k++) {
      h[j * p + k] = h[k * p + j] = cs_from_fixed(ps->v[t], ps->sh);
      t++;
    }
  *loss = cs_from_fixed(ps->v[p + nh], ps->sl);
fail:
  free(buf);
  free(tot);
  free(edges);
  return status;
}

/* A few Newton steps on the Hessian sample alone (its passes touch a sixth or less of the
 * rows), with the penalty scaled to the sample, to start the full iterations close to the
 * optimum. Stops when the steps are below 1e-3 or the loss stops falling (then the last
 * good point is kept). Deterministic like every pass. Collective. */
/* A Hessian sample smaller than this many training customers per coefficient is not used. */
enum { MIN_SAMPLE_PER_COEF = 50 };
/* A converging step below this needs no pass of its own for the loss and standard errors. */
#define TINY_STEP 1e-6

static int warm_start(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                      const uint8_t *hsample, cs_churn_model_t *model, pass_t *ps, double l2,
                      double *g, double *h, double *step) {
  int status = CS_OK, p = model->p, separable;
  double prev_loss = INFINITY;
  for (int it = 1; it <= 20; it++) {
    double data_loss, pen = 0;
    CS_TRY(evaluate(ctx, m, data, hsample, 1, model->class_weight, ps, model->coef, g, h,
                    &data_loss, &separable));
    for (int j = 1; j < p; j++) pen += model->coef[j] * model->coef[j];
    double loss = data_loss + 0.5 * l2 * pen;
    if (!(loss < prev_loss)) { /* no progress: undo the last step */
      for (int j = 0; j < p; j++) model->coef[j] -= step[j];
      break;
    }
    prev_loss = loss;
    for (int j = 1; j < p; j++) {
      h[j * p + j] += l2;
      g[j] -= l2 * model->coef[j];
    }
    if (!cholesky(h, p)) break; /* the full iterations will say why */
    memcpy(step, g, (size_t)p * sizeof *step);
    chol_solve(h, p, step);
    double smax = 0;
    for (int j = 0; j < p; j++) {
      smax = fmax(smax, fabs(step[j]));
      model->coef[j] += step[j];
    }
    cs_log_info("churn: warm start %2d on the sample  loss %.10g  |step| %.3e", it, loss, smax);
    if (smax < 1e-3) break;
  }
fail:
  return status;
}

int cs_churn_train(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                   const cs_churn_opts_t *o, cs_churn_model_t *model) {
  int status = CS_OK;
  const int d = m->d, p = d + 1;
  pass_t ps = {0};
  double *g = NULL, *h = NULL, *step = NULL, *prev = NULL;
  uint8_t *hsample = NULL;
  memset(model, 0, sizeof *model);
  int64_t neg = data->counts[0][0], pos = data->counts[0][1];
  CS_CHECK(neg + pos > 0, CS_EDATA,
           "no labelled customers to train on (labels must be 0 or 1; %lld unknown)",
           (long long)(data->counts[0][2] + data->counts[1][2]));
  CS_CHECK(neg > 0 && pos > 0, CS_EDATA,
           "only one class among the %lld labelled training customers (%lld churned, %lld not): "
           "a churn model needs both", (long long)(neg + pos), (long long)pos, (long long)neg);
  CS_CHECK(o->l2 >= 0 && isfinite(o->l2), CS_EUSAGE, "--l2 must be >= 0");
  model->p = p;
  model->class_weight[0] = o->balanced ? (double)(neg + pos) / (2.0 * neg) : 1.0;
  model->class_weight[1] = o->balanced ? (double)(neg + pos) / (2.0 * pos) : 1.0;
  model->coef = calloc((size_t)p, sizeof *model->coef);
  model->se = calloc((size_t)p, sizeof *model->se);
  ps.p = p;
  ps.pp = padded(p);
  ps.nv = p + (int64_t)p * (p + 1) / 2 + 2;
  ps.v = calloc((size_t)ps.nv, sizeof *ps.v);
  ps.off = malloc((size_t)p * sizeof *ps.off);
  if (ps.off) {
    ps.na = ps.pp;
    for (int j = 0; j < p; j++) {
      ps.off[j] = ps.na;
      ps.na += ps.pp - j / LANES * LANES;
    }
    ps.na += 2;
  }
  g = malloc((size_t)p * sizeof *g);
  h = malloc((size_t)p * (size_t)p * sizeof *h);
  step = malloc((size_t)p * sizeof *step);
  prev = malloc((size_t)p * sizeof *prev);
  CS_TRY(cs_par_agree(ctx, model->coef && model->se && ps.v && ps.off && g && h && step && prev
                               ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  /* The fixed-point grids fit the largest value the sums take, which is over the training
   * rows alone: an extreme value of a holdout or unlabelled customer had coarsened them
   * until the Hessian lost its rank. */
  double mx = 1, cwmax = fmax(model->class_weight[0], model->class_weight[1]);
#pragma omp parallel for schedule(static) reduction(max : mx)
  for (int64_t i = 0; i < m->n; i++) {
    if (data->y[i] < 0 || data->holdout[i]) continue;
    for (int j = 0; j < d; j++) {
      double a = fabs((double)m->x[i * d + j]);
      mx = a > mx ? a : mx;
    }
  }
  CS_TRY(cs_par_allreduce(ctx, &mx, 1, CS_DT_F64, CS_OP_MAX));
  /* The grids bound the totals by mx, but an int64 term only by `tame` (rows with a larger
   * value add theirs in 128 bits): with one grid bounded by the largest term, one customer
   * at a robust z of 7e8 had truncated every other customer's Hessian terms to 0 (a
   * "singular" Hessian; at 7e6 standard errors 2% off, silently). Below 64, the grids are
   * those of the largest term, as before. */
  ps.tame = fmin(mx, 64.0);
  ps.sg = imin(cs_fixed_exponent_wide(cwmax * mx, neg + pos), cs_fixed_exponent(cwmax * ps.tame, 1));
  ps.sh = imin(cs_fixed_exponent_wide(0.25 * cwmax * mx * mx, neg + pos),
               cs_fixed_exponent(0.25 * cwmax * ps.tame * ps.tame, 1));
  ps.sl = cs_fixed_exponent(35.0 * cwmax, neg + pos);
  /* Sub-sampled Newton: with more than o->hessian_rows training customers the Hessian of
   * the iterations comes from about that many of them, chosen by a hash of customer_id (so
   * the same on any decomposition) and scaled up; the gradient and loss always use every
   * row, so the optimum is the same. The standard errors come from a last pass with the
   * full Hessian. */
  double hscale = 1.0;
  if (o->hessian_rows > 0 && neg + pos > o->hessian_rows) {
    uint64_t cut =
        (uint64_t)((double)o->hessian_rows / (double)(neg + pos) * 18446744073709551616.0);
    int64_t ns = 0;
    hsample = malloc((size_t)(m->n ? m->n : 1));
    CS_TRY(cs_par_agree(ctx, hsample ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                             "out of memory (Hessian sample)")));
    for (int64_t i = 0; i < m->n; i++) {
      hsample[i] = XXH3_64bits_withSeed(&m->id[i], sizeof m->id[i], o->seed ^ HESSIAN_SEED) < cut;
      ns += hsample[i] && data->y[i] >= 0 && !data->holdout[i];
    }
    CS_TRY(cs_par_allreduce(ctx, &ns, 1, CS_DT_I64, CS_OP_SUM));
    if (ns < MIN_SAMPLE_PER_COEF * (int64_t)p) {
      /* A Hessian of a handful of rows steers the steps anywhere (one row: a warm start of
       * |step| 1e8 and 300 iterations without converging). */
      cs_log_warn("churn: --hessian-sample %lld selects %lld training customers, fewer than %d "
                  "per coefficient (%d coefficients): the full Hessian is used instead",
                  (long long)o->hessian_rows, (long long)ns, MIN_SAMPLE_PER_COEF, p);
      free(hsample);
      hsample = NULL;
    } else {
      hscale = (double)(neg + pos) / (double)ns;
      cs_log_info("churn: Newton steps use the Hessian of %lld sampled training customers",
                  (long long)ns);
    }
  }
  /* Start at the intercept of the base rate. */
  model->coef[0] = log((double)pos / (double)neg);
  if (hsample)
    CS_TRY(warm_start(ctx, m, data, hsample, model, &ps, o->l2 / hscale, g, h, step));
  double loss = INFINITY, prev_loss = INFINITY;
  int separable = 0, halvings = 0, full = !hsample;
  double last_step = INFINITY, decrement = 0;
  for (int it = 1; it <= o->max_iter; it++) {
    CS_TRY(cs_par_stop_on_signal(ctx, "while training the churn model (nothing of it was "
                                      "published)"));
    double data_loss;
    /* The full Hessian once the previous step says this pass is likely the last (a sampled
     * Newton step shrinks about a hundredfold), so the standard errors come for free. */
    full = full || last_step < 100 * o->tol;
    CS_TRY(evaluate(ctx, m, data, full ? NULL : hsample, 0, model->class_weight, &ps,
                    model->coef, g, h, &data_loss, &separable));
    if (!full)
      for (int64_t j = 0; j < (int64_t)p * p; j++) h[j] *= hscale;
    double pen = 0;
    for (int j = 1; j < p; j++) pen += model->coef[j] * model->coef[j];
    loss = data_loss + 0.5 * o->l2 * pen;
    if (it > 1 && loss > prev_loss * (1 + 1e-12) && halvings < 30) {
      /* The step overshot: go back half way and evaluate again. A sampled Hessian that
       * overshoots steers badly: the full one from here on. */
      full = 1;
      for (int j = 0; j < p; j++) {
        step[j] *= 0.5;
        model->coef[j] = prev[j] + step[j];
      }
      halvings++;
      it--;
      continue;
    }
    halvings = 0;
    /* Newton step on the penalized loss: (H + l2 I') step = g - l2 coef' (no intercept
     * penalty). */
    double gmax = 0;
    for (int j = 0; j < p; j++) {
      if (j > 0) {
        h[j * p + j] += o->l2;
        g[j] -= o->l2 * model->coef[j];
      }
      gmax = fmax(gmax, fabs(g[j]));
    }
    CS_CHECK(cholesky(h, p), CS_EDATA,
             "the churn model's Hessian is singular after %d iterations: a feature is constant "
             "or duplicated among the training customers, or (%s) the classes are separable "
             "and the coefficients grow without bound; use %s or drop the feature", it,
             o->l2 > 0 ? "the --l2 penalty being too small to matter" : "without --l2",
             o->l2 > 0 ? "a larger --l2" : "--l2 > 0");
    memcpy(step, g, (size_t)p * sizeof *step);
    chol_solve(h, p, step);
    double smax = 0;
    for (int j = 0; j < p; j++) smax = fmax(smax, fabs(step[j]));
    cs_log_info("churn: iteration %2d  loss %.10g  |gradient| %.3e  |step| %.3e", it, loss, gmax,
                smax);
    model->iterations = it;
    last_step = smax;
    /* The step that meets --newton-tol is taken; one that --max-iter cuts off is not, so
     * the coefficients written are ones the loss and Hessian were evaluated at. */
    if (smax >= o->tol && it == o->max_iter) break;
    decrement = 0;
    for (int j = 0; j < p; j++) decrement += g[j] * step[j];
    memcpy(prev, model->coef, (size_t)p * sizeof *prev);
    prev_loss = loss;
    for (int j = 0; j < p; j++) model->coef[j] += step[j];
    if (smax < o->tol) {
      model->converged = 1;
      break;
    }
  }
  /* The loss and the standard errors at the coefficients written. After a full pass whose
   * converging step is below TINY_STEP, the Newton model gives the loss (down by half the
   * decrement g'H^-1 g, exact to the step's cube) and the factor of that pass the standard
   * errors (off by the order of the step); otherwise one more full pass. */
  if (model->converged && full && last_step < TINY_STEP) {
    loss -= 0.5 * decrement;
  } else if (model->converged || !full) {
    double data_loss, pen = 0;
    CS_TRY(evaluate(ctx, m, data, NULL, 0, model->class_weight, &ps, model->coef, g, h,
                    &data_loss, &separable));
    for (int j = 1; j < p; j++) pen += model->coef[j] * model->coef[j];
    loss = data_loss + 0.5 * o->l2 * pen;
    for (int j = 1; j < p; j++) h[j * p + j] += o->l2;
    CS_CHECK(cholesky(h, p), CS_EDATA, "the churn model's Hessian is singular at the optimum");
  }
  model->loss = loss;
  /* Standard errors from the inverse of the penalized Hessian at the optimum (h holds its
   * Cholesky factor). */
  for (int j = 0; j < p; j++) {
    memset(step, 0, (size_t)p * sizeof *step);
    step[j] = 1.0;
    chol_solve(h, p, step);
    model->se[j] = sqrt(step[j]);
  }
  model->separable = separable;
  if (model->separable)
    cs_log_warn("churn: the training customers are perfectly separable; the coefficients stay "
                "finite only because of the L2 penalty (--l2 %g)", o->l2);
  if (!model->converged)
    cs_log_warn("churn: not converged after %d iterations (--max-iter)", model->iterations);
fail:
  free(ps.v);
  free(ps.off);
  free(hsample);
  free(g);
  free(h);
  free(step);
  free(prev);
  if (status < 0) cs_churn_model_free(model);
  return status;
}
