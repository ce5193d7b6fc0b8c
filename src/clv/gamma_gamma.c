/* clv/gamma_gamma.c: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, JMR; Fader &
 * Hardie 2013, note 025) per customer: the density of the mean spend zbar of x repeat
 * transactions with its gradient, and the posterior mean spend.
 *
 * The terms that depend on x alone (lnΓ(px+q) − lnΓ(px) − lnΓ(q) and their p and q
 * derivatives) are tabulated once per parameter vector, so a pass over the customers costs
 * two logs and a log1p each. The terms in px are written so that none grows with p: the
 * fit can run along p → ∞, γ → 0 with pγ fixed (an extreme amount), where px ln x,
 * (px−1) ln zbar and (px+q) ln(γ + x zbar) are each huge and their sum is not.
 * lgamma_r is used instead of lgamma so nothing writes the global signgam.
 * Local, single-threaded, deterministic. */
#include "custseg/clv.h"

#include <math.h>
#include <string.h>

int cs_gg_tables_init(cs_gg_tables_t *t, const cs_gg_t *m, int64_t xmax) {
  memset(t, 0, sizeof *t);
  if (xmax < 0)
    return cs_error_set(CS_EINTERNAL, __FILE__, __LINE__, "gamma-gamma: xmax %lld < 0",
                        (long long)xmax);
  size_t bytes = cs_bytes(xmax + 1, sizeof(double)); /* index 0 unused: x >= 1 */
  t->c = cs_alloc(bytes, "gamma-gamma table");
  t->dp = cs_alloc(bytes, "gamma-gamma table");
  t->dq = cs_alloc(bytes, "gamma-gamma table");
  if (!t->c || !t->dp || !t->dq) {
    cs_gg_tables_free(t);
    return CS_ENOMEM;
  }
  t->xmax = xmax;
  const double p = m->p, q = m->q;
  int sg;
  const double lgq = lgamma_r(q, &sg), psq = cs_digamma(q);
  t->c[0] = t->dp[0] = t->dq[0] = NAN;
  for (int64_t x = 1; x <= xmax; x++) {
    double xd = (double)x, px = p * xd;
    t->c[x] = cs_lgamma_shift(px, q) - lgq;
    t->dp[x] = xd * cs_digamma_shift(px, q);
    t->dq[x] = cs_digamma(px + q) - psq;
  }
  return CS_OK;
}

void cs_gg_tables_free(cs_gg_tables_t *t) {
  cs_free(t->c);
  cs_free(t->dp);
  cs_free(t->dq);
  memset(t, 0, sizeof *t);
}

double cs_gg_loglik(const cs_gg_t *m, const cs_gg_tables_t *t, int64_t x, double zbar,
                    double *g) {
  if (x < 1 || x > t->xmax || !(zbar > 0.0)) {
    if (g) g[0] = g[1] = g[2] = NAN;
    return NAN;
  }
  const double p = m->p, q = m->q, gam = m->gamma, xd = (double)x, px = p * xd;
  const double lz = log(zbar), lgz = log(gam + xd * zbar), lg = log(gam);
  /* px ln x + (px−1) ln zbar − (px+q) ln(γ + x zbar) = −ln zbar − q ln(γ + x zbar) − px l,
   * l = ln(1 + γ/(x zbar)) */
  const double l = log1p(gam / (xd * zbar));
  double ll = t->c[x] + q * lg - lz - q * lgz - px * l;
  if (g) {
    g[0] = p * (t->dp[x] - xd * l);
    g[1] = q * (t->dq[x] + lg - lgz);
    /* γ d/dγ of q ln γ − (px+q) ln(γ + x zbar). */
    g[2] = q - (px + q) * gam / (gam + xd * zbar);
  }
  return ll;
}

/* The posterior mean of 1/ν times p: p (γ + x zbar) / (px + q − 1). It is finite only when
 * px + q > 1, so for x = 0 (the population mean p γ / (q − 1)) it needs q > 1; a fit with
 * q <= 1 has no finite mean spend, and INFINITY says so instead of a negative number. */
double cs_gg_expected_spend(const cs_gg_t *m, int64_t x, double zbar) {
  if (x < 0) return NAN;
  const double xd = (double)x;
  const double den = m->p * xd + m->q - 1.0;
  if (!(den > 0.0)) return isnan(den) ? NAN : INFINITY;
  if (x == 0) return m->p * m->gamma / den;
  return m->p * (m->gamma + xd * zbar) / den;
}
