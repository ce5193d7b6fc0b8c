/* clv/special.c: the special functions behind the CLV models: log-gamma differences at
 * integer offsets, the digamma function and Gauss's hypergeometric series.
 *
 * The likelihoods only need lnΓ(v+x) − lnΓ(v) for integer counts x, so one table per
 * parameter, built by a running (compensated) sum of ln(v+i), replaces a lgamma call per
 * customer and keeps the difference accurate where lgamma(v+x) − lgamma(v) would cancel.
 * Everything here is local, single-threaded and deterministic. */
#include "custseg/clv.h"

#include <math.h>
#include <string.h>

/* Neumaier's compensated sum: the tables are running sums of up to xmax terms, and
 * compensation keeps their error at a few ulps instead of growing with xmax. */
typedef struct {
  double s, c;
} ksum_t;
static inline void ksum_add(ksum_t *k, double v) {
  double t = k->s + v;
  if (fabs(k->s) >= fabs(v)) k->c += (k->s - t) + v;
  else k->c += (v - t) + k->s;
  k->s = t;
}

int cs_lgdiff_init(cs_lgdiff_t *t, double v, int64_t xmax) {
  memset(t, 0, sizeof *t);
  if (xmax < 0)
    return cs_error_set(CS_EINTERNAL, __FILE__, __LINE__, "lgdiff: xmax %lld < 0",
                        (long long)xmax);
  size_t bytes = cs_bytes(xmax + 1, sizeof(double));
  t->lg = cs_alloc(bytes, "lnΓ difference table");
  t->dg = cs_alloc(bytes, "digamma difference table");
  if (!t->lg || !t->dg) {
    cs_lgdiff_free(t);
    return CS_ENOMEM;
  }
  t->xmax = xmax;
  t->v = v;
  ksum_t lg = {0, 0}, dg = {0, 0};
  t->lg[0] = 0.0;
  t->dg[0] = 0.0;
  for (int64_t x = 1; x <= xmax; x++) {
    double vi = v + (double)(x - 1);
    ksum_add(&lg, log(vi));
    ksum_add(&dg, 1.0 / vi);
    t->lg[x] = lg.s + lg.c;
    t->dg[x] = dg.s + dg.c;
  }
  return CS_OK;
}

void cs_lgdiff_free(cs_lgdiff_t *t) {
  cs_free(t->lg);
  cs_free(t->dg);
  memset(t, 0, sizeof *t);
}

/* From this a on, lnΓ(a+q) − lnΓ(a) and ψ(a+q) − ψ(a) come from Stirling's series: lgamma(a)
 * and ψ(a) grow with a, and their difference, of the size of q ln a and q/a, loses digits to
 * them (1e-11 relative at a = 1e6; at a near 1e166, where a Gamma-Gamma fit over one amount
 * of 1e300 ran, everything: a log-likelihood of +8e153). The series' first omitted terms,
 * 1/(1680 a⁷) and 1/(240 a⁸), are below 1e-17 from a = 100. */
#define SHIFT_ASYMPTOTIC 100.0

/* Stirling's corrections lnΓ(z) − [(z−½) ln z − z + ½ ln 2π] = 1/(12z) − 1/(360z³) + 1/(1260z⁵)
 * and ψ(z) − ln z = −1/(2z) − 1/(12z²) + 1/(120z⁴) − 1/(252z⁶), z >= 100, as their differences
 * between z = a+q and z = a: each term's 1/a^k − 1/(a+q)^k is expm1(k u)/(a+q)^k with
 * u = ln(1 + q/a), so a tiny q does not leave the difference of two nearly equal numbers. */
static double stirling_lg_shift(double a, double q) {
  const double u = log1p(q / a), z = a + q, z2 = z * z;
  return (-expm1(u) / 12.0 + (expm1(3 * u) / 360.0 - expm1(5 * u) / (1260.0 * z2)) / z2) / z;
}
static double stirling_psi_shift(double a, double q) {
  const double u = log1p(q / a), z = a + q, w = 1.0 / (z * z);
  return expm1(u) / (2.0 * z) +
         w * (expm1(2 * u) / 12.0 - w * (expm1(4 * u) / 120.0 - w * expm1(6 * u) / 252.0));
}

double cs_lgamma_shift(double a, double q) {
  if (!(a > 0.0) || !(a + q > 0.0)) return NAN;
  if (a < SHIFT_ASYMPTOTIC || a + q < SHIFT_ASYMPTOTIC) {
    int sg;
    return lgamma_r(a + q, &sg) - lgamma_r(a, &sg);
  }
  /* (a+q−½) ln(a+q) − (a−½) ln a − q, with ln(a+q) = ln a + log1p(q/a) */
  return q * log(a) + (a + q - 0.5) * log1p(q / a) - q + stirling_lg_shift(a, q);
}

double cs_digamma_shift(double a, double q) {
  if (!(a > 0.0) || !(a + q > 0.0)) return NAN;
  if (a < SHIFT_ASYMPTOTIC || a + q < SHIFT_ASYMPTOTIC) return cs_digamma(a + q) - cs_digamma(a);
  return log1p(q / a) + stirling_psi_shift(a, q);
}

double cs_digamma(double v) {
  if (!(v > 0.0)) return NAN; /* the models only need positive arguments */
  if (isinf(v)) return v;
  /* ψ(v) = ψ(v+n) − Σ_{i<n} 1/(v+i): shift up to v >= 6, where the asymptotic series
   * below (Bernoulli terms through v^-20) is accurate to ~2e-15. Very small v is
   * dominated by −1/v, which the first step gives exactly. */
  double shift = 0.0;
  while (v < 6.0) {
    shift += 1.0 / v;
    v += 1.0;
  }
  double w = 1.0 / (v * v);
  /* B_2k / (2k) for k = 1..10, innermost last. */
  static const double c[10] = {
      1.0 / 12,          -1.0 / 120,      1.0 / 252,          -1.0 / 240,
      1.0 / 132,         -691.0 / 32760,  1.0 / 12,           -3617.0 / 8160,
      43867.0 / 14364,   -174611.0 / 6600};
  double p = c[9];
  for (int k = 8; k >= 0; k--) p = c[k] + w * p;
  return log(v) - 0.5 / v - w * p - shift;
}

/* ₂F₁ as its power series, for any real a, b and c > 0, 0 <= z < 1.
 *
 * Term n+1 is term n times ρ_n = (a+n)(b+n) z / ((c+n)(n+1)). With a, b, c > 0 every term is
 * positive; with a or b negative (Euler's transform of the BG/NBD expectation has a−1 < 0
 * when a < 1) the terms change sign only while n < max(−a, −b), and are one-signed after
 * that, with ρ_n → z. So the sum stops only once n is past that point, ρ_n < 1, and the
 * tail bound |term| ρ/(1−ρ) with ρ = max(ρ_n, z) (ρ_n tends to z monotonically for large n)
 * is below 1e-17 of the sum. The sum is compensated; what cannot be fixed is cancellation
 * when early mixed-sign terms are much larger than the result, which for the BG/NBD
 * parameters (|a|, |b| of order 1, c > 0) costs at most a digit or so. A negative integer
 * a or b ends the series exactly (a polynomial). NAN when c <= 0, z outside [0, 1), a term
 * overflows (a, b >> c, e.g. eq. 10 untransformed at x ~ 1000) or the series has not
 * converged in 100000 terms (z extremely close to 1). */
double cs_hyp2f1(double a, double b, double c, double z) {
  if (!(c > 0.0) || !(z >= 0.0 && z < 1.0) || !isfinite(a) || !isfinite(b)) return NAN;
  if (z == 0.0) return 1.0;
  double nsign = fmax(0.0, fmax(-a, -b)); /* terms are one-signed once n > nsign */
  ksum_t s = {1.0, 0.0};
  double term = 1.0;
  for (int n = 0; n < 100000; n++) {
    double dn = (double)n;
    double rho = (a + dn) * (b + dn) * z / ((c + dn) * (dn + 1.0));
    term *= rho;
    if (term == 0.0) return s.s + s.c; /* a or b a non-positive integer: a polynomial */
    if (!isfinite(term)) return NAN;   /* overflow: the caller needs a transformation */
    ksum_add(&s, term);
    if (dn + 1.0 > nsign && rho > 0.0 && rho < 1.0) {
      double rmax = fmax(rho, z);
      if (fabs(term) * rmax <= 1e-17 * (1.0 - rmax) * fabs(s.s + s.c)) return s.s + s.c;
    }
  }
  return NAN;
}
