/* clv/fit.c: BG/NBD and Gamma-Gamma fitted across ranks, and the per-customer predictions.
 *
 * Customers with the same (x, recency, age) in whole days have the same BG/NBD likelihood and
 * predictions, so each rank evaluates its distinct triples once (daily data repeat a lot).
 * The sums are exact: every value is rounded once to a fixed-point integer (exponent from the
 * global maximum) and multiplied by its count as an integer, so the totals, and therefore
 * every optimizer step, are the same bits whatever the ranks, threads or grouping. */
#include "custseg/clv.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* out[b * ncols + c] = Σ over rows r in bin b (bin NULL: one bin) of mult[r] (NULL: 1) x
 * v[r * ncols + c], exactly; n_terms bounds the global number of terms (with multiplicity).
 * *finite = 0 (and out is left zero) when any value on any rank is not finite. Collective. */
static int fixed_sums(cs_ctx_t *ctx, const double *v, int64_t rows, int ncols,
                      const int64_t *mult, const int *bin, int nbins, int64_t n_terms,
                      double *out, int *finite) {
  int status = CS_OK;
  const int nv = nbins * ncols;
  cs_fixed_t *acc = calloc((size_t)nv, sizeof *acc);
  double mx[2] = {0, 0}; /* max |v|, count of non-finite values */
  CS_TRY(cs_par_agree(ctx, acc ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                      "out of memory")));
  for (int64_t k = 0; k < rows * ncols; k++) {
    double a = fabs(v[k]);
    if (!isfinite(a)) mx[1] += 1;
    else if (a > mx[0]) mx[0] = a;
  }
  CS_TRY(cs_par_allreduce(ctx, mx, 2, CS_DT_F64, CS_OP_MAX));
  memset(out, 0, (size_t)nv * sizeof *out);
  *finite = mx[1] == 0;
  if (!*finite) goto fail;
  /* Each scaled term is below 2^52 (cs_fixed_exponent), so it converts through int64, in
   * hardware, and widens exactly. */
  const double scale = ldexp(1.0, cs_fixed_exponent(mx[0], n_terms > 0 ? n_terms : 1));
#pragma omp parallel
  {
    cs_fixed_t *part = calloc((size_t)nv, sizeof *part);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const int b = bin ? bin[r] : 0;
      const cs_fixed_t w = mult ? mult[r] : 1;
      for (int c = 0; c < ncols; c++)
        part[b * ncols + c] += w * (cs_fixed_t)(int64_t)(v[r * ncols + c] * scale);
    }
#pragma omp critical
    for (int k = 0; k < nv; k++) acc[k] += part[k];
    free(part);
  }
  CS_TRY(cs_par_sum_i128_n(ctx, acc, nv));
  for (int k = 0; k < nv; k++) out[k] = (double)acc[k] / scale;
fail:
  free(acc);
  return status;
}

/* ---- grouping ------------------------------------------------------------------------------ */
/* Distinct (x, recency, age) of the local customers with x >= 0: group g covers
 * perm[start[g] .. start[g + 1]). */
typedef struct groups {
  int64_t n;
  int64_t *x, *count, *start, *perm;
  double *tx, *T; /* in model units */
} groups_t;

static void groups_free(groups_t *g) {
  free(g->x);
  free(g->count);
  free(g->start);
  free(g->perm);
  free(g->tx);
  free(g->T);
  memset(g, 0, sizeof *g);
}

/* LSD radix sort of (key, idx) pairs by key, 16 bits a pass; passes over digits that are
 * the same everywhere are skipped. Stable, so equal keys keep their idx order. */
typedef struct kv { uint64_t key; int64_t idx; } kv_t;

static int radix_sort(kv_t *a, int64_t n) {
  kv_t *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
  int64_t *cnt = malloc(65536 * sizeof *cnt);
  if (!tmp || !cnt) {
    free(tmp);
    free(cnt);
    return 0;
  }
  uint64_t all_or = 0, all_and = ~0ULL;
  for (int64_t i = 0; i < n; i++) {
    all_or |= a[i].key;
    all_and &= a[i].key;
  }
  for (int shift = 0; shift < 64; shift += 16) {
    if ((((all_or ^ all_and) >> shift) & 0xFFFF) == 0) continue; /* one digit value */
    memset(cnt, 0, 65536 * sizeof *cnt);
    for (int64_t i = 0; i < n; i++) cnt[(a[i].key >> shift) & 0xFFFF]++;
    int64_t sum = 0;
    for (int d = 0; d < 65536; d++) {
      int64_t c = cnt[d];
      cnt[d] = sum;
      sum += c;
    }
    for (int64_t i = 0; i < n; i++) tmp[cnt[(a[i].key >> shift) & 0xFFFF]++] = a[i];
    memcpy(a, tmp, (size_t)n * sizeof *a);
  }
  free(tmp);
  free(cnt);
  return 1;
}

/* x below 2^20 and recency and age below 2^22 days (11,000 years) pack into one key. */
#define KEY_BITS_T 22
#define KEY_BITS_X 20

static int groups_build(const cs_rfm_t *r, double unit_days, groups_t *g) {
  int64_t m = 0;
  memset(g, 0, sizeof *g);
  kv_t *k = malloc((size_t)(r->n ? r->n : 1) * sizeof *k);
  if (!k) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (CLV groups)");
  for (int64_t i = 0; i < r->n; i++) {
    if (r->x[i] < 0) continue;
    if (r->x[i] >= (1LL << KEY_BITS_X) || r->recency[i] >= (1LL << KEY_BITS_T) ||
        r->age[i] >= (1LL << KEY_BITS_T) || r->recency[i] < 0) {
      free(k);
      return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                          "a customer with %lld repeat purchases over %lld days is beyond "
                          "this build's limits (2^20 purchases, 2^22 days)",
                          (long long)r->x[i], (long long)r->age[i]);
    }
    k[m++] = (kv_t){((uint64_t)r->x[i] << (2 * KEY_BITS_T)) |
                        ((uint64_t)r->recency[i] << KEY_BITS_T) | (uint64_t)r->age[i],
                    i};
  }
  size_t cap = (size_t)(m ? m : 1);
  g->x = malloc(cap * sizeof *g->x);
  g->count = malloc(cap * sizeof *g->count);
  g->start = malloc((cap + 1) * sizeof *g->start);
  g->perm = malloc(cap * sizeof *g->perm);
  g->tx = malloc(cap * sizeof *g->tx);
  g->T = malloc(cap * sizeof *g->T);
  if (!(g->x && g->count && g->start && g->perm && g->tx && g->T) || !radix_sort(k, m)) {
    free(k);
    groups_free(g);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (CLV groups)");
  }
  const uint64_t tmask = (1ULL << KEY_BITS_T) - 1;
  for (int64_t i = 0; i < m; i++) {
    g->perm[i] = k[i].idx;
    if (i == 0 || k[i].key != k[i - 1].key) {
      g->x[g->n] = (int64_t)(k[i].key >> (2 * KEY_BITS_T));
      g->tx[g->n] = (double)((k[i].key >> KEY_BITS_T) & tmask) / unit_days;
      g->T[g->n] = (double)(k[i].key & tmask) / unit_days;
      g->start[g->n++] = i;
    }
  }
  g->start[g->n] = m;
  for (int64_t j = 0; j < g->n; j++) g->count[j] = g->start[j + 1] - g->start[j];
  free(k);
  return CS_OK;
}

/* ---- the two likelihoods as optimizer callbacks ------------------------------------------- */
typedef struct lik {
  cs_ctx_t *ctx;
  const groups_t *g;       /* BG/NBD: groups */
  const int64_t *gx;       /* Gamma-Gamma: x and mean spend of each fitted customer */
  const double *gz;
  int64_t rows, n_total, xmax;
  double *vals;            /* rows x (1 + parameters) */
  double loglik;           /* at the last evaluation */
} lik_t;

static int bg_fn(const double *theta, double *f, double *grad, void *arg) {
  int status = CS_OK;
  lik_t *L = arg;
  cs_bgnbd_t m = {exp(theta[0]), exp(theta[1]), exp(theta[2]), exp(theta[3])};
  cs_bgnbd_tables_t t;
  memset(&t, 0, sizeof t);
  /* Each evaluation is collective: a signal (SIGTERM, Slurm's SIGUSR1) stops the fit here. */
  CS_TRY(cs_par_stop_on_signal(L->ctx, "while fitting the CLV models (nothing was published)"));
  CS_TRY(cs_par_agree(L->ctx, cs_bgnbd_tables_init(&t, &m, L->xmax)));
  const groups_t *g = L->g;
#pragma omp parallel for schedule(dynamic, 256)
  for (int64_t j = 0; j < g->n; j++)
    L->vals[j * 5] = cs_bgnbd_loglik(&m, &t, g->x[j], g->tx[j], g->T[j], L->vals + j * 5 + 1);
  double sum[5];
  int finite;
  CS_TRY(fixed_sums(L->ctx, L->vals, g->n, 5, g->count, NULL, 1, L->n_total, sum, &finite));
  L->loglik = finite ? sum[0] : -INFINITY;
  /* Minimize the mean negative log-likelihood; a non-finite value makes the line search
   * step back. */
  *f = finite ? -sum[0] / (double)L->n_total : INFINITY;
  for (int k = 0; k < 4; k++) grad[k] = finite ? -sum[1 + k] / (double)L->n_total : 0.0;
fail:
  cs_bgnbd_tables_free(&t);
  return status;
}

static int gg_fn(const double *theta, double *f, double *grad, void *arg) {
  int status = CS_OK;
  lik_t *L = arg;
  cs_gg_t m = {exp(theta[0]), exp(theta[1]), exp(theta[2])};
  cs_gg_tables_t t;
  memset(&t, 0, sizeof t);
  /* Each evaluation is collective: a signal (SIGTERM, Slurm's SIGUSR1) stops the fit here. */
  CS_TRY(cs_par_stop_on_signal(L->ctx, "while fitting the CLV models (nothing was published)"));
  CS_TRY(cs_par_agree(L->ctx, cs_gg_tables_init(&t, &m, L->xmax)));
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < L->rows; j++)
    L->vals[j * 4] = cs_gg_loglik(&m, &t, L->gx[j], L->gz[j], L->vals + j * 4 + 1);
  double sum[4];
  int finite;
  CS_TRY(fixed_sums(L->ctx, L->vals, L->rows, 4, NULL, NULL, 1, L->n_total, sum, &finite));
  L->loglik = finite ? sum[0] : -INFINITY;
  *f = finite ? -sum[0] / (double)L->n_total : INFINITY;
  for (int k = 0; k < 3; k++) grad[k] = finite ? -sum[1 + k] / (double)L->n_total : 0.0;
fail:
  cs_gg_tables_free(&t);
  return status;
}

/* The spend fit divides the mean amounts zbar by 2^e (exact), e the rounded mean of their
 * binary exponents over all repeat buyers: an integer sum, so the same on any number of ranks.
 * It starts from p = q = γ = 1, and amounts near 1e13 or 1e-12 had left that start so far from
 * the optimum that the fit ended elsewhere (p 2e8, a log-likelihood 35 below the optimum's) and
 * called it converged. e is kept where the smallest amount stays a normal double (so that the
 * division is exact) and x zbar stays finite for the largest (x up to xmax); amounts spread
 * too widely for both keep e = 0, the fit in their own unit. Collective. */
static int spend_exponent(cs_ctx_t *ctx, double *gz, int64_t nl, int64_t total, int64_t xmax,
                          int *e) {
  int status = CS_OK;
  int64_t sum = 0, range[2] = {INT64_MIN, INT64_MIN}; /* max exponent, −min exponent */
  for (int64_t i = 0; i < nl; i++) {
    int ex;
    (void)frexp(gz[i], &ex);
    sum += ex;
    range[0] = ex > range[0] ? ex : range[0];
    range[1] = -ex > range[1] ? -ex : range[1];
  }
  CS_TRY(cs_par_allreduce(ctx, &sum, 1, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, range, 2, CS_DT_I64, CS_OP_MAX));
  int64_t m = total > 0 ? (int64_t)llround((double)sum / (double)total) : 0;
  /* zbar = f 2^ex with f in [0.5, 1): zbar 2^-m >= 2^-1022 (normal) needs m <= ex_min + 1021;
   * x zbar 2^-m < 2^1020, with x < 2^bx, needs m >= ex_max + bx - 1020. */
  int bx;
  (void)frexp((double)(xmax > 1 ? xmax : 1), &bx);
  const int64_t lo = range[0] + bx - 1020, hi = 1021 - range[1];
  m = lo > hi ? 0 : m < lo ? lo : m > hi ? hi : m;
  *e = (int)m;
  for (int64_t i = 0; i < nl; i++) gz[i] = ldexp(gz[i], -*e);
fail:
  return status;
}

/* Minimize, then standard errors from the inverse Hessian of the total negative
 * log-likelihood in log-parameters (delta method to the parameters). */
static int fit_one(int n, double *theta, cs_optim_fn fn, lik_t *L, const char *what,
                   cs_optim_result_t *res, double *se) {
  int status = CS_OK;
  double hess[64];
  cs_optim_opts_t oo = {.max_iter = 500, .gtol = 1e-9, .what = what};
  CS_TRY(cs_optim_minimize(n, theta, fn, L, &oo, res));
  CS_TRY(cs_optim_hessian(n, theta, fn, L, hess));
  for (int k = 0; k < n * n; k++) hess[k] *= (double)L->n_total;
  int spd = cs_spd_inverse(n, hess);
  for (int k = 0; k < n; k++) se[k] = spd ? exp(theta[k]) * sqrt(hess[k * n + k]) : NAN;
  if (!spd) cs_log_warn("%s: the Hessian at the optimum is not positive definite; no standard "
                        "errors", what);
  double f, g[8]; /* the log-likelihood at the final parameters */
  CS_TRY(fn(theta, &f, g, L));
  if (!res->converged)
    cs_log_warn("%s: not converged after %d iterations (max |gradient| %.3e)", what,
                res->iterations, res->gmax);
fail:
  return status;
}

int cs_clv_fit(cs_ctx_t *ctx, const cs_rfm_t *r, const cs_clv_opts_t *o, cs_clv_fit_t *fit) {
  int status = CS_OK;
  groups_t g = {0};
  lik_t L = {.ctx = ctx};
  int64_t *gx = NULL;
  double *gz = NULL;
  memset(fit, 0, sizeof *fit);
  int64_t cnt[5] = {r->n, 0, 0, 0, 0}; /* customers, calibrated, repeat, gg, groups */
  int64_t xmax = 0;
  for (int64_t i = 0; i < r->n; i++) {
    if (r->x[i] < 0) continue;
    cnt[1]++;
    cnt[2] += r->x[i] > 0;
    cnt[3] += r->x[i] > 0 && r->monetary[i] > 0;
    if (r->x[i] > xmax) xmax = r->x[i];
  }
  CS_TRY(cs_par_agree(ctx, groups_build(r, o->unit_days, &g)));
  cnt[4] = g.n;
  CS_TRY(cs_par_allreduce(ctx, cnt, 5, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, &xmax, 1, CS_DT_I64, CS_OP_MAX));
  fit->customers = cnt[0];
  fit->calibrated = cnt[1];
  fit->repeat_buyers = cnt[2];
  fit->gg_customers = cnt[3];
  fit->groups = cnt[4];
  fit->xmax = xmax;
  CS_CHECK(fit->calibrated > 0, CS_EDATA, "no customer has a purchase up to the calibration "
           "end: it is before every purchase");
  cs_log_info("clv: %lld customers, %lld with a calibration purchase (%lld distinct (x, t_x, T) "
              "summed over ranks), %lld repeat buyers, %lld of them with a positive mean spend",
              (long long)fit->customers, (long long)fit->calibrated, (long long)fit->groups,
              (long long)fit->repeat_buyers, (long long)fit->gg_customers);

  /* BG/NBD */
  L.g = &g;
  L.rows = g.n;
  L.n_total = fit->calibrated;
  L.xmax = xmax;
  L.vals = malloc((size_t)(g.n ? g.n : 1) * 5 * sizeof *L.vals);
  CS_TRY(cs_par_agree(ctx, L.vals ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                         "out of memory")));
  double th[4] = {0, 0, 0, 0};
  CS_TRY(fit_one(4, th, bg_fn, &L, "BG/NBD", &fit->bg_opt, fit->bg_se));
  fit->bg = (cs_bgnbd_t){exp(th[0]), exp(th[1]), exp(th[2]), exp(th[3])};
  fit->bg_loglik = L.loglik;
  free(L.vals);
  L.vals = NULL;

  /* Gamma-Gamma on repeat buyers with a positive mean spend */
  fit->gg = (cs_gg_t){NAN, NAN, NAN};
  fit->gg_loglik = NAN;
  for (int k = 0; k < 3; k++) fit->gg_se[k] = NAN;
  if (fit->gg_customers > 0) {
    int64_t m = 0, nl = 0;
    for (int64_t i = 0; i < r->n; i++) nl += r->x[i] > 0 && r->monetary[i] > 0;
    gx = malloc((size_t)(nl ? nl : 1) * sizeof *gx);
    gz = malloc((size_t)(nl ? nl : 1) * sizeof *gz);
    L.vals = malloc((size_t)(nl ? nl : 1) * 4 * sizeof *L.vals);
    CS_TRY(cs_par_agree(ctx, gx && gz && L.vals ? CS_OK
                                                : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                               "out of memory")));
    for (int64_t i = 0; i < r->n; i++)
      if (r->x[i] > 0 && r->monetary[i] > 0) {
        gx[m] = r->x[i];
        gz[m++] = r->monetary[i];
      }
    int e = 0;
    CS_TRY(spend_exponent(ctx, gz, nl, fit->gg_customers, xmax, &e));
    L.g = NULL;
    L.gx = gx;
    L.gz = gz;
    L.rows = nl;
    L.n_total = fit->gg_customers;
    double tg[3] = {0, 0, 0};
    CS_TRY(fit_one(3, tg, gg_fn, &L, "Gamma-Gamma", &fit->gg_opt, fit->gg_se));
    /* Back to the amounts' unit: γ scales with them, and each customer's density of zbar
     * carries the factor 2^-e of the change of variable. */
    fit->gg = (cs_gg_t){exp(tg[0]), exp(tg[1]), ldexp(exp(tg[2]), e)};
    fit->gg_se[2] = ldexp(fit->gg_se[2], e);
    fit->gg_loglik = L.loglik - (double)fit->gg_customers * e * M_LN2;
    if (!(fit->gg.q > 1)) {
      /* The same fit on every rank, so every rank takes this branch. */
      double zmax = 0.0;
      for (int64_t i = 0; i < nl; i++) zmax = fmax(zmax, ldexp(gz[i], e));
      CS_TRY(cs_par_allreduce(ctx, &zmax, 1, CS_DT_F64, CS_OP_MAX));
      cs_log_warn("Gamma-Gamma: q = %.4g <= 1, so the expected spend is undefined (NaN): the "
                  "repeat buyers' mean amounts have too heavy a tail for a finite mean (the "
                  "largest is %.6g; an extreme or sentinel value in /transactions/amount "
                  "gives such a tail)", fit->gg.q, zmax);
    }
  } else {
    cs_log_warn("Gamma-Gamma: no repeat buyer with a positive mean spend; no spend model");
  }
fail:
  free(L.vals);
  free(gx);
  free(gz);
  groups_free(&g);
  return status;
}

void cs_clv_pred_free(cs_clv_pred_t *p) {
  cs_free(p->p_alive);
  cs_free(p->expected_purchases);
  cs_free(p->expected_spend);
  cs_free(p->value);
  cs_free(p->holdout_expected);
  memset(p, 0, sizeof *p);
}

int cs_clv_predict(cs_ctx_t *ctx, const cs_rfm_t *r, const cs_clv_opts_t *o,
                   const cs_clv_fit_t *fit, cs_clv_pred_t *p) {
  int status = CS_OK;
  groups_t g = {0};
  double *gv = NULL;
  int *bin = NULL;
  memset(p, 0, sizeof *p);
  int64_t m = r->n ? r->n : 1;
  p->p_alive = cs_alloc(cs_bytes(m, sizeof(double)), "CLV");
  p->expected_purchases = cs_alloc(cs_bytes(m, sizeof(double)), "CLV");
  p->expected_spend = cs_alloc(cs_bytes(m, sizeof(double)), "CLV");
  p->value = cs_alloc(cs_bytes(m, sizeof(double)), "CLV");
  p->holdout_expected = cs_alloc(cs_bytes(m, sizeof(double)), "CLV");
  bin = malloc((size_t)m * sizeof *bin);
  CS_TRY(cs_par_agree(ctx, p->p_alive && p->expected_purchases && p->expected_spend && p->value &&
                               p->holdout_expected && bin
                           ? groups_build(r, o->unit_days, &g)
                           : CS_ENOMEM));
  gv = malloc((size_t)(g.n ? g.n : 1) * 4 * sizeof *gv);
  CS_TRY(cs_par_agree(ctx, gv ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                     "out of memory")));
  const cs_bgnbd_t *bg = &fit->bg;
  const double horizon = o->horizon_months * o->month_units;
  /* A long horizon makes this loop long (docs/clv.md, Known problems): on SIGTERM or SIGUSR1
   * the remaining customers are skipped and the ranks stop together after it. */
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t j = 0; j < g.n; j++) {
    if (cs_signal_pending()) continue;
    double *v = gv + 4 * j;
    v[0] = cs_bgnbd_p_alive(bg, g.x[j], g.tx[j], g.T[j]);
    v[1] = cs_bgnbd_expected_cond(bg, g.x[j], g.tx[j], g.T[j], horizon);
    v[2] = cs_clv_value(bg, g.x[j], g.tx[j], g.T[j], 1.0, o->horizon_months, o->month_units,
                        o->monthly_discount);
    v[3] = o->holdout_units > 0 ? cs_bgnbd_expected_cond(bg, g.x[j], g.tx[j], g.T[j],
                                                         o->holdout_units)
                                : NAN;
  }
  CS_TRY(cs_par_stop_on_signal(ctx, "while predicting the CLV (nothing was published)"));
  for (int64_t i = 0; i < r->n; i++)
    p->p_alive[i] = p->expected_purchases[i] = p->expected_spend[i] = p->value[i] =
        p->holdout_expected[i] = NAN;
  const int spend_ok = fit->gg.q > 1;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < g.n; j++)
    for (int64_t k = g.start[j]; k < g.start[j + 1]; k++) {
      int64_t i = g.perm[k];
      const double *v = gv + 4 * j;
      double spend = spend_ok ? cs_gg_expected_spend(&fit->gg, r->x[i], r->monetary[i]) : NAN;
      p->p_alive[i] = v[0];
      p->expected_purchases[i] = v[1];
      p->expected_spend[i] = spend;
      p->value[i] = spend * v[2];
      p->holdout_expected[i] = v[3];
    }
  /* Holdout validation table by calibration frequency 0..7+. */
  if (o->holdout_units > 0) {
    double *hv = malloc((size_t)m * 2 * sizeof *hv);
    CS_TRY(cs_par_agree(ctx, hv ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                       "out of memory")));
    int64_t rows = 0;
    for (int64_t i = 0; i < r->n; i++)
      if (r->x[i] >= 0) {
        bin[rows] = r->x[i] < 7 ? (int)r->x[i] : 7;
        hv[2 * rows] = p->holdout_expected[i];
        hv[2 * rows + 1] = (double)r->holdout[i];
        rows++;
      }
    double out[16];
    int finite;
    status = fixed_sums(ctx, hv, rows, 2, NULL, bin, 8, fit->calibrated, out, &finite);
    free(hv);
    CS_TRY(status);
    int64_t cnt[8] = {0};
    for (int64_t k = 0; k < rows; k++) cnt[bin[k]]++;
    CS_TRY(cs_par_allreduce(ctx, cnt, 8, CS_DT_I64, CS_OP_SUM));
    for (int b = 0; b < 8; b++) {
      p->by_x_customers[b] = cnt[b];
      p->by_x_expected[b] = finite ? out[2 * b] : NAN;
      p->by_x_actual[b] = (int64_t)llround(out[2 * b + 1]);
    }
  }
fail:
  free(gv);
  free(bin);
  groups_free(&g);
  if (status < 0) cs_clv_pred_free(p);
  return status;
}
