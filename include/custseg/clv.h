/* clv: purchase-history models and customer lifetime value.
 *
 * BG/NBD (Fader, Hardie & Lee 2005) for repeat purchases and Gamma-Gamma (Fader & Hardie
 * 2013, note 025) for spend. The per-customer formulas here are local and deterministic; the
 * fit sums them across ranks as exact fixed-point integers (src/clv/fit.c), so every rank runs
 * the same optimizer on the same numbers. Formulas: docs/clv.md.
 *
 * Notation (model time units): x repeat purchases in calibration, t_x the time of the last
 * from the first, T the time from the first purchase to the end of calibration, zbar the
 * mean amount of the x repeat purchases. */
#ifndef CUSTSEG_CLV_H
#define CUSTSEG_CLV_H

#include "custseg/core.h"
#include "custseg/txn.h"

typedef struct cs_bgnbd { double r, alpha, a, b; } cs_bgnbd_t;
typedef struct cs_gg { double p, q, gamma; } cs_gg_t;

/* ---- log-gamma differences for integer counts (src/clv/special.c) ---------------------- */
/* For a parameter v > 0 and x = 0..xmax: lg[x] = lnΓ(v+x) − lnΓ(v) = Σ_{i<x} ln(v+i) and
 * dg[x] = ψ(v+x) − ψ(v) = Σ_{i<x} 1/(v+i). */
typedef struct cs_lgdiff {
  int64_t xmax;
  double v;
  double *lg, *dg; /* xmax + 1 each */
} cs_lgdiff_t;
int cs_lgdiff_init(cs_lgdiff_t *t, double v, int64_t xmax); /* CS_ENOMEM on failure */
void cs_lgdiff_free(cs_lgdiff_t *t);
double cs_digamma(double v); /* ψ(v), v > 0 */
/* lnΓ(a+q) − lnΓ(a) and ψ(a+q) − ψ(a) for a > 0, a + q > 0, accurate for any size of a
 * (Stirling's series from a = 100, where the two lgamma or ψ values would cancel). */
double cs_lgamma_shift(double a, double q);
double cs_digamma_shift(double a, double q);
/* Gauss ₂F₁(a, b; c; z) by its power series, for 0 <= z < 1 and c > 0 where every term has
 * one sign (a, b, c > 0); relative accuracy about 1e-15. */
double cs_hyp2f1(double a, double b, double c, double z);

/* ---- BG/NBD (src/clv/bgnbd.c) ------------------------------------------------------------ */
/* Tables for one parameter vector, valid for x <= xmax: lnΓ differences in r, b and a+b. */
typedef struct cs_bgnbd_tables {
  cs_lgdiff_t r, b, ab;
} cs_bgnbd_tables_t;
int cs_bgnbd_tables_init(cs_bgnbd_tables_t *t, const cs_bgnbd_t *m, int64_t xmax);
void cs_bgnbd_tables_free(cs_bgnbd_tables_t *t);
/* ln L of one customer (Fader, Hardie & Lee 2005 eq. 6, note 027's stable log form, no
 * constant dropped); when g is not NULL, g[0..3] = d lnL / d(ln r, ln alpha, ln a, ln b). */
double cs_bgnbd_loglik(const cs_bgnbd_t *m, const cs_bgnbd_tables_t *t, int64_t x, double tx,
                       double T, double *g);
/* P(alive | x, t_x, T): 1 for x = 0. */
double cs_bgnbd_p_alive(const cs_bgnbd_t *m, int64_t x, double tx, double T);
/* E[X(t)] of a new customer (eq. 9). */
double cs_bgnbd_expected_new(const cs_bgnbd_t *m, double t);
/* E[Y(t) | x, t_x, T]: expected purchases in (T, T+t] (eq. 10, through Euler's transform so
 * that it stays finite for x in the thousands). */
double cs_bgnbd_expected_cond(const cs_bgnbd_t *m, int64_t x, double tx, double T, double t);

/* ---- Gamma-Gamma (src/clv/gamma_gamma.c) -------------------------------------------------- */
/* Tables by x = 1..xmax of the terms that depend on x only (lnΓ(px+q) − lnΓ(px) etc.). */
typedef struct cs_gg_tables {
  int64_t xmax;
  double *c, *dp, *dq; /* per x: constant part of ln f, its d/dp and d/dq */
} cs_gg_tables_t;
int cs_gg_tables_init(cs_gg_tables_t *t, const cs_gg_t *m, int64_t xmax);
void cs_gg_tables_free(cs_gg_tables_t *t);
/* ln f(zbar | x) of one repeat buyer (x >= 1, zbar > 0), constants kept; when g is not NULL,
 * g[0..2] = d ln f / d(ln p, ln q, ln gamma). */
double cs_gg_loglik(const cs_gg_t *m, const cs_gg_tables_t *t, int64_t x, double zbar,
                    double *g);
/* E[Z | x, zbar]; the population mean p gamma / (q - 1) for x = 0. Needs q > 1. */
double cs_gg_expected_spend(const cs_gg_t *m, int64_t x, double zbar);

/* ---- CLV (src/clv/bgnbd.c) ---------------------------------------------------------------- */
/* Σ_{m=1..months} spend · (E[Y(m k)] − E[Y((m−1) k)]) / (1 + d)^m, k = month_len model units. */
double cs_clv_value(const cs_bgnbd_t *m, int64_t x, double tx, double T, double spend,
                    int months, double month_len, double monthly_discount);

/* ---- a small deterministic optimizer (src/clv/optim.c) ------------------------------------ */
/* f(theta) to minimize and its gradient; returns CS_OK or a status (then the optimizer stops
 * and returns it). Called in lockstep on every rank: it may be collective. */
typedef int (*cs_optim_fn)(const double *theta, double *f, double *grad, void *arg);
typedef struct cs_optim_opts {
  int max_iter;    /* iterations at most (default 200 when 0) */
  double gtol;     /* stop when max |grad| < gtol (default 1e-8 when 0) */
  const char *what; /* name in progress lines, e.g. "BG/NBD" */
} cs_optim_opts_t;
typedef struct cs_optim_result {
  double f, gmax;
  int iterations, evaluations, converged;
} cs_optim_result_t;
/* BFGS with a backtracking (Armijo) line search on n <= 8 unconstrained parameters; theta is
 * the start and the result. Deterministic: the same inputs give the same bits. Progress per
 * iteration through cs_log_info. */
int cs_optim_minimize(int n, double *theta, cs_optim_fn fn, void *arg, const cs_optim_opts_t *o,
                      cs_optim_result_t *res);
/* The n x n Hessian of f at theta by central differences of the gradient (step h_j =
 * 1e-5 max(1, |theta_j|)), symmetrized. */
int cs_optim_hessian(int n, const double *theta, cs_optim_fn fn, void *arg, double *hess);
/* Inverse of a symmetric positive definite n x n matrix in place; 0 when not SPD. */
int cs_spd_inverse(int n, double *a);

/* ---- the distributed stage (src/clv/fit.c) ------------------------------------------------ */
typedef struct cs_clv_opts {
  double unit_days;        /* days per model time unit */
  int horizon_months;      /* CLV horizon */
  double month_units;      /* a month in model time units */
  double monthly_discount; /* d */
  double holdout_units;    /* holdout length in model units; 0 = no holdout */
} cs_clv_opts_t;

typedef struct cs_clv_fit {
  cs_bgnbd_t bg;
  double bg_se[4], bg_loglik;
  cs_optim_result_t bg_opt;
  cs_gg_t gg;
  double gg_se[3], gg_loglik;
  cs_optim_result_t gg_opt;
  int64_t customers;      /* all customers */
  int64_t calibrated;     /* with a purchase up to the calibration end (fitted by BG/NBD) */
  int64_t repeat_buyers;  /* x > 0 */
  int64_t gg_customers;   /* repeat buyers with a positive mean spend (fitted by Gamma-Gamma) */
  int64_t groups;         /* distinct (x, recency, age) over all ranks' local groups */
  int64_t xmax;
} cs_clv_fit_t;

/* Per local customer, NaN for customers without a calibration purchase. */
typedef struct cs_clv_pred {
  double *p_alive, *expected_purchases, *expected_spend, *value, *holdout_expected;
  /* Holdout validation by calibration frequency 0..7+ (global): customers, actual purchases,
   * expected purchases. */
  int64_t by_x_customers[8], by_x_actual[8];
  double by_x_expected[8];
} cs_clv_pred_t;

/* Fit BG/NBD on every customer with a calibration purchase and Gamma-Gamma on the repeat
 * buyers with a positive mean spend. Identical on every rank whatever the decomposition.
 * Collective. */
int cs_clv_fit(cs_ctx_t *ctx, const cs_rfm_t *r, const cs_clv_opts_t *o, cs_clv_fit_t *fit);
/* Per-customer predictions (and the global holdout table). Collective. */
int cs_clv_predict(cs_ctx_t *ctx, const cs_rfm_t *r, const cs_clv_opts_t *o,
                   const cs_clv_fit_t *fit, cs_clv_pred_t *pred);
void cs_clv_pred_free(cs_clv_pred_t *pred);

#endif
