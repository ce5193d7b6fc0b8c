/* clv/bgnbd.c: the BG/NBD purchase model (Fader, Hardie & Lee 2005) per customer: the
 * log-likelihood with its gradient, P(alive), the expected purchases of a new customer
 * (eq. 9) and of a known one (eq. 10), and the discounted monthly CLV sum.
 *
 * Trade-offs: the likelihood reads lnΓ and ψ differences from per-parameter tables
 * (special.c), so a pass over 10^8 customers costs a few logs each and no lgamma; every
 * quantity that can overflow (A4/A3 in P(alive), ((α+T)/(α+T+t))^{r+x} ₂F₁(...) in eq. 10)
 * is evaluated in logs or through Euler's transformation, so x in the thousands (daily data)
 * is fine. All functions are local, single-threaded and deterministic. */
#include "custseg/clv.h"

#include <math.h>
#include <string.h>

int cs_bgnbd_tables_init(cs_bgnbd_tables_t *t, const cs_bgnbd_t *m, int64_t xmax) {
  int status = CS_OK;
  memset(t, 0, sizeof *t);
  CS_TRY(cs_lgdiff_init(&t->r, m->r, xmax));
  CS_TRY(cs_lgdiff_init(&t->b, m->b, xmax));
  CS_TRY(cs_lgdiff_init(&t->ab, m->a + m->b, xmax));
  return CS_OK;
fail:
  cs_bgnbd_tables_free(t);
  return status;
}

void cs_bgnbd_tables_free(cs_bgnbd_tables_t *t) {
  cs_lgdiff_free(&t->r);
  cs_lgdiff_free(&t->b);
  cs_lgdiff_free(&t->ab);
}

/* ln(A4/A3) = ln a − ln(b+x−1) + (r+x) ln((α+T)/(α+t_x)) for x > 0, the log-odds of "dropped
 * out after the last purchase" against "still alive"; log1p keeps the ratio exact when
 * T − t_x is small against α + t_x. */
static double log_a4_over_a3(const cs_bgnbd_t *m, int64_t x, double tx, double T) {
  double rx = m->r + (double)x;
  return log(m->a) - log(m->b + (double)x - 1.0) + rx * log1p((T - tx) / (m->alpha + tx));
}

double cs_bgnbd_loglik(const cs_bgnbd_t *m, const cs_bgnbd_tables_t *t, int64_t x, double tx,
                       double T, double *g) {
  if (x < 0 || x > t->r.xmax || x > t->b.xmax || x > t->ab.xmax) {
    if (g) g[0] = g[1] = g[2] = g[3] = NAN;
    return NAN;
  }
  const double r = m->r, al = m->alpha, a = m->a, b = m->b, xd = (double)x, rx = r + xd;
  /* ln A1 + ln A2 + ln A3, the whole of ln L when x = 0. */
  const double lat = log(al + T), lal = log(al);
  double ll = t->r.lg[x] + r * lal + t->b.lg[x] - t->ab.lg[x] - rx * lat;
  /* With x > 0, ln L adds logaddexp(ln A3, ln A4) − ln A3 = log1p(exp(d)), d = ln(A4/A3);
   * w = A4 / (A3 + A4) is the weight of the A4 branch in the gradient. */
  double w = 0.0, dlog = 0.0;
  if (x > 0) {
    double d = log_a4_over_a3(m, x, tx, T);
    if (d > 0) {
      double e = exp(-d);
      ll += d + log1p(e);
      w = 1.0 / (1.0 + e);
    } else {
      double e = exp(d);
      ll += log1p(e);
      w = e / (1.0 + e);
    }
    dlog = log1p((T - tx) / (al + tx)); /* ln(α+T) − ln(α+t_x) */
  }
  if (g) {
    /* d/dr: ψ(r+x) − ψ(r) + ln α − (1−w) ln(α+T) − w ln(α+t_x). */
    g[0] = r * (t->r.dg[x] + lal - lat + w * dlog);
    /* α d/dα: r − (r+x) [(1−w) α/(α+T) + w α/(α+t_x)]. */
    g[1] = r - rx * ((1.0 - w) * al / (al + T) + (x > 0 ? w * al / (al + tx) : 0.0));
    /* a d/da: −a (ψ(a+b+x) − ψ(a+b)) + w. */
    g[2] = -a * t->ab.dg[x] + w;
    /* b d/db: b (ψ(b+x) − ψ(b) − ψ(a+b+x) + ψ(a+b)) − w b/(b+x−1). */
    g[3] = b * (t->b.dg[x] - t->ab.dg[x]) - (x > 0 ? w * b / (b + xd - 1.0) : 0.0);
  }
  return ll;
}

double cs_bgnbd_p_alive(const cs_bgnbd_t *m, int64_t x, double tx, double T) {
  if (x <= 0) return 1.0;
  /* 1/(1 + exp(d)) without overflow: for d > 0 use exp(−d)/(1 + exp(−d)). */
  double d = log_a4_over_a3(m, x, tx, T);
  if (d > 0) {
    double e = exp(-d);
    return e / (1.0 + e);
  }
  return 1.0 / (1.0 + exp(d));
}

/* The bracket of eqs. 9 and 10 over a − 1, after Euler's transformation:
 *
 *   G = [1 − (1−z)^B ₂F₁(A, B; C; z)] / B,  A = a+b−1−r, B = a−1, C = a+b+x−1,
 *
 * since (1−z)^{r+x} ₂F₁(r+x, b+x; C; z) = (1−z)^{a−1} ₂F₁(A, B; C; z). The numerator
 * parameters do not grow with x, so nothing overflows, and C grows with x, so the series is
 * short. Writing ₂F₁ = 1 + B H, H = Σ_{n>=1} (A)_n (B+1)_{n−1} z^n / ((C)_n n!), gives
 *
 *   G = −expm1(B L)/B − (1−z)^B H,  L = ln(1−z),
 *
 * which has no 1 − (1 − small) cancellation and a finite limit at a = 1 (−L − H), where the
 * paper's (a+b+x−1)/(a−1) prefactor is 0/0. B = a − 1 > −1, so (B+n) > 0 for n >= 1; A < 0
 * (a + b < 1 + r) makes the first terms alternate, which the stopping rule allows for (see
 * cs_hyp2f1). The functions below return C·G, summing C·H = Σ (A)_n (B+1)_{n−1} zⁿ /
 * ((C+1)_{n−1} n!) so that no 1/C appears: C = a + b − 1 + x > −1 always (a, b > 0), and for
 * −1 < C <= 0 (a + b <= 1, x = 0: a short calibration period of CDNOW fits a = 0.057,
 * b = 0.20) the series still converges and is the analytic continuation of the C > 0 formula
 * (C·₂F₁ has no pole at C = 0); it equals the defining integral E_p[(1 − (1 + p t/(α+T))^−(r+x))
 * / p], p ~ Beta(a, b+x), to 1e-14 (tests/unit/test_clv_math.c). NAN without convergence. */
/* log(e^x + e^y). */
static double log_add(double x, double y) {
  return x > y ? x + log1p(exp(y - x)) : y + log1p(exp(x - y));
}

/* euler_bracket below for large B z (a large a: little dropout), where the terms of H grow to
 * about e^{Bz} and overflow while (1−z)^B underflows, though their product is of the result's
 * size: each term is kept as m e^k and the sum as (s + c) e^{ks}, and (1−z)^B is applied in
 * the exponent. The same series and stopping rule; costs about B z terms. */
static double euler_bracket_scaled(double A, double B, double C, double z, double L, double e) {
  const double lf = B * L, le = e != 0.0 ? log(fabs(e)) : -INFINITY; /* e: C times the first part */
  const double nsign = fmax(0.0, -A);
  double m = A * z, k = 0.0, s = 0.0, c = 0.0, ks = 0.0;
  int have = 0;
  for (int n = 1; n <= 10000000; n++) {
    if (m == 0.0) break;
    if (!isfinite(m)) return NAN;
    if (!have) {
      s = m;
      ks = k;
      have = 1;
    } else {
      if (k > ks) { /* the new term is the larger scale */
        double f = exp(ks - k);
        s *= f;
        c *= f;
        ks = k;
      }
      double t = m * exp(k - ks), t2 = s + t; /* Neumaier compensated sum */
      c += fabs(s) >= fabs(t) ? (s - t2) + t : (t - t2) + s;
      s = t2;
    }
    double dn = (double)n;
    double rho = (A + dn) * (B + dn) * z / ((C + dn) * (dn + 1.0));
    if (dn > nsign && rho >= 0.0 && rho < 1.0) {
      double rmax = fmax(rho, z);
      double lhs = log(fabs(m * rho)) + k + lf, ls = log(fabs(s + c)) + ks + lf;
      if (lhs <= log(1e-17 * (1.0 - rmax)) + log_add(ls, le)) {
        m = 0.0;
        break;
      }
    }
    m *= rho;
    if (m != 0.0 && (fabs(m) > 1e200 || fabs(m) < 1e-200)) { /* keep m a normal number */
      k += log(fabs(m));
      m = m > 0 ? 1.0 : -1.0;
    }
  }
  if (m != 0.0 || !have) return have ? NAN : e;
  double sum = s + c;
  return sum == 0.0 ? e : e - copysign(exp(lf + ks + log(fabs(sum))), sum);
}

static double euler_bracket(double A, double B, double C, double z) {
  if (!(C > -1.0) || !(z >= 0.0 && z < 1.0)) return NAN;
  if (z == 0.0) return 0.0;
  const double L = log1p(-z);
  const double e = C * (B != 0.0 ? -expm1(B * L) / B : -L);
  const double nsign = fmax(0.0, -A); /* terms are one-signed once n > nsign */
  double term = A * z, s = 0.0, c = 0.0; /* C times H's first term */
  for (int n = 1; n <= 100000; n++) {
    if (term == 0.0) break; /* A a non-positive integer: the series ends */
    if (!isfinite(term) || fabs(term) > 1e280 || fabs(s) > 1e280)
      return euler_bracket_scaled(A, B, C, z, L, e);
    double t2 = s + term; /* Neumaier compensated sum */
    c += fabs(s) >= fabs(term) ? (s - t2) + term : (term - t2) + s;
    s = t2;
    double dn = (double)n;
    double rho = (A + dn) * (B + dn) * z / ((C + dn) * (dn + 1.0));
    if (dn > nsign && rho >= 0.0 && rho < 1.0) {
      /* The rest of the series is at most |term ρ| / (1 − ρ'), ρ' = max(ρ, z) bounding
       * the later ratios; measured against the result's scale, not H's, which may be tiny. */
      double rmax = fmax(rho, z);
      if (fabs(term * rho) <= 1e-17 * (1.0 - rmax) * (fabs(s + c) + fabs(e))) {
        term = 0.0;
        break;
      }
    }
    term *= rho;
  }
  if (term != 0.0) return NAN; /* not converged in 100000 terms: z extremely close to 1 */
  return e - exp(B * L) * (s + c);
}

/* log1p(u) − u without the cancellation of the two for small u (its power series). */
static double log1p_minus_u(double u) {
  if (fabs(u) > 0.1) return log1p(u) - u;
  double un = u * u, s = 0.0;
  for (int n = 2; n < 60; n++, un *= u) {
    double t = (n % 2 ? un : -un) / n;
    s += t;
    if (fabs(t) <= 1e-17 * fabs(s)) break;
  }
  return s;
}

/* From this a on, the integral below replaces the series: the series needs about (a−1) z
 * terms and loses digits as they grow (1.6e-10 relative at a = 2e5, z = 0.41), while the
 * integral costs 49 points and was within 5e-16 of mpmath's for every a from 100 to 1e5
 * tried (b from a to 30 a, x from 0 to 1000). */
#define NARROW_A 1000.0

/* E[Y(t)] / P(alive) for a large a (a >= NARROW_A): the defining integral
 * E_p[(1 − (1 + p s)^−k) / p], p ~ Beta(a, b+x), s = t/(α+T), k = r + x. Such a Beta is a
 * narrow bell (its relative width about 1/√a; a fit of customers who all drop out at one
 * rate heads to a, b → ∞, 4e12 in an audit, where the series needs ~10^12 terms): the
 * trapezoidal rule over its mode ± 12 standard deviations in steps of half a deviation
 * integrates such a bell to rounding (the density is e^−72 at the ends; the rule's error on a
 * Gaussian at that step is below e^−78), as the weights are taken relative to the mode
 * with log1p(u) − u, whose first-order terms cancel there exactly. NAN when the bell reaches
 * 0 or 1 (then the series is used). */
static double narrow_beta(double a, double bx, double k, double s) {
  const double n = a + bx - 2.0, mode = (a - 1.0) / n, sd = sqrt(mode * (1.0 - mode) / n);
  if (!(mode - 12.5 * sd > 0.0 && mode + 12.5 * sd < 1.0)) return NAN;
  double sw = 0.0, sf = 0.0;
  for (int i = -24; i <= 24; i++) {
    const double d = 0.5 * sd * i, p = mode + d;
    const double w = exp((a - 1.0) * log1p_minus_u(d / mode) +
                         (bx - 1.0) * log1p_minus_u(-d / (1.0 - mode)));
    sw += w;
    sf += w * (-expm1(-k * log1p(p * s)) / p);
  }
  return sf / sw;
}

/* E[Y(t)] / P(alive) = (a+b+x−1)/(a−1) [1 − ...] of eq. 10 (eq. 9 when x = 0 and T = 0). */
static double cond_unweighted(const cs_bgnbd_t *m, int64_t x, double T, double t) {
  if (t == 0.0) return 0.0;
  const double a = m->a, b = m->b;
  const double C = a + b + (double)x - 1.0;
  double z = t / (m->alpha + T + t);
  if (a >= NARROW_A) {
    double v = narrow_beta(a, b + (double)x, m->r + (double)x, t / (m->alpha + T));
    if (!isnan(v)) return v;
  }
  return euler_bracket(a + b - 1.0 - m->r, a - 1.0, C, z);
}

double cs_bgnbd_expected_new(const cs_bgnbd_t *m, double t) {
  if (!(t >= 0.0)) return NAN;
  return cond_unweighted(m, 0, 0.0, t);
}

double cs_bgnbd_expected_cond(const cs_bgnbd_t *m, int64_t x, double tx, double T, double t) {
  if (x < 0 || !(t >= 0.0)) return NAN;
  return cond_unweighted(m, x, T, t) * cs_bgnbd_p_alive(m, x, tx, T);
}

double cs_clv_value(const cs_bgnbd_t *m, int64_t x, double tx, double T, double spend,
                    int months, double month_len, double monthly_discount) {
  /* P(alive) is a common factor of every E[Y]; take it out of the monthly differences. */
  const double pa = cs_bgnbd_p_alive(m, x, tx, T);
  double prev = 0.0, sum = 0.0; /* E[Y(0)] = 0 */
  for (int mo = 1; mo <= months; mo++) {
    double cur = cond_unweighted(m, x, T, (double)mo * month_len);
    sum += (cur - prev) / pow(1.0 + monthly_discount, (double)mo);
    prev = cur;
  }
  return spend * pa * sum;
}
