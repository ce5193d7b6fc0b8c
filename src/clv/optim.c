/* clv/optim.c: a small deterministic quasi-Newton minimizer for the CLV model fits (4 or 3
 * log-parameters), a finite-difference Hessian for standard errors, and an SPD inverse.
 *
 * The objective is a collective sum over all customers, so every evaluation is a full pass
 * over the data: the line search backtracks by safeguarded quadratic interpolation rather
 * than by fixed halving, and the first step is scaled so that no parameter moves by more
 * than 1. Every rank runs the same arithmetic on the same (exactly summed) numbers, in a
 * fixed order and with no threads, so every rank takes the same path to the same bits. */
#include "custseg/clv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NMAX = 8 };
#define ARMIJO_C1 1e-4
#define MAX_STEP 10.0 /* largest trial move of any parameter (in log space: a factor e^10) */
#define MAX_BACKTRACK 60
#define F_NOISE 1e-12 /* relative rounding allowed in f by the approximate Wolfe test */
#define AW_DELTA 0.1
#define AW_SIGMA 0.9

static double maxabs(int n, const double *v) {
  double m = 0.0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

static int all_finite(int n, const double *v) {
  for (int i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static double dot(int n, const double *a, const double *b) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static void set_identity(int n, double *h) {
  memset(h, 0, sizeof(double) * (size_t)n * (size_t)n);
  for (int i = 0; i < n; i++) h[i * n + i] = 1.0;
}

int cs_optim_minimize(int n, double *theta, cs_optim_fn fn, void *arg, const cs_optim_opts_t *o,
                      cs_optim_result_t *res) {
  int status = CS_OK;
  const int max_iter = o && o->max_iter > 0 ? o->max_iter : 200;
  const double gtol = o && o->gtol > 0 ? o->gtol : 1e-8;
  const char *what = o && o->what ? o->what : "optimizer";
  double x[NMAX], g[NMAX], xn[NMAX], gn[NMAX], d[NMAX], s[NMAX], y[NMAX], hy[NMAX];
  double h[NMAX * NMAX], f, fn_new;
  cs_optim_result_t r = {0};
  if (n < 1 || n > NMAX)
    CS_FAIL(CS_EINTERNAL, "%s: %d parameters (the optimizer takes 1 to %d)", what, n, NMAX);
  memcpy(x, theta, sizeof(double) * (size_t)n);
  CS_TRY(fn(x, &f, g, arg));
  r.evaluations = 1;
  CS_CHECK(isfinite(f) && all_finite(n, g), CS_EDATA,
           "%s: the objective or its gradient is not finite at the starting point", what);
  set_identity(n, h);
  /* h is the plain identity until the first curvature pair scales it (Nocedal & Wright
   * eq. 6.20); `fresh` marks that state, where the step length is set by the gradient. */
  int fresh = 1;
  for (;;) {
    r.gmax = maxabs(n, g);
    cs_log_info("%s: iteration %d  f %.10g  max|grad| %.3e", what, r.iterations, f, r.gmax);
    if (r.gmax < gtol) {
      r.converged = 1;
      break;
    }
    if (r.iterations >= max_iter) break;
    int accepted = 0;
    for (int attempt = 0; attempt < 2 && !accepted; attempt++) {
      for (int i = 0; i < n; i++) d[i] = -dot(n, &h[i * n], g);
      double gd = dot(n, g, d);
      if (!(gd < 0.0)) { /* not a descent direction: fall back to steepest descent */
        set_identity(n, h);
        fresh = 1;
        for (int i = 0; i < n; i++) d[i] = -g[i];
        gd = -dot(n, g, g);
      }
      double dmax = maxabs(n, d), xmax = maxabs(n, x);
      double alpha = fresh ? fmin(1.0, 1.0 / dmax) : 1.0;
      if (alpha * dmax > MAX_STEP) alpha = MAX_STEP / dmax;
      for (int ls = 0; ls < MAX_BACKTRACK; ls++) {
        for (int i = 0; i < n; i++) xn[i] = x[i] + alpha * d[i];
        CS_TRY(fn(xn, &fn_new, gn, arg));
        r.evaluations++;
        int finite = isfinite(fn_new) && all_finite(n, gn);
        if (finite && fn_new <= f + ARMIJO_C1 * alpha * gd) {
          accepted = 1;
          break;
        }
        /* Near the minimum a sum over many customers is flat to within its rounding, and
         * Armijo's test only sees noise (the "precision loss" stalls lifetimes users hit).
         * Hager & Zhang's approximate Wolfe test then judges the step by the gradient: f
         * not higher than rounding allows, and the slope along d reduced to a small
         * fraction of gd or turned slightly positive (near the minimum along d). */
        double gdn = dot(n, gn, d);
        if (finite && fn_new <= f + F_NOISE * fabs(f) && gdn >= AW_SIGMA * gd &&
            gdn <= (2 * AW_DELTA - 1) * gd) {
          accepted = 1;
          break;
        }
        /* Minimizer of the quadratic through f, f'(0) = gd and f(alpha), kept within
         * [alpha/10, alpha/2]; a non-finite trial point just shrinks by 10. */
        double next = 0.1 * alpha;
        if (finite) {
          double den = 2.0 * (fn_new - f - gd * alpha);
          double q = den > 0.0 ? -gd * alpha * alpha / den : 0.5 * alpha;
          next = fmin(fmax(q, 0.1 * alpha), 0.5 * alpha);
        }
        alpha = next;
        if (alpha * dmax <= 1e-16 * (1.0 + xmax)) break; /* no representable move left */
      }
      if (!accepted && fresh) break; /* steepest descent failed too */
      if (!accepted) {               /* a stale curvature model: retry once from scratch */
        set_identity(n, h);
        fresh = 1;
      }
    }
    if (!accepted) {
      cs_log_info("%s: line search found no decrease at iteration %d (max|grad| %.3e)", what,
                  r.iterations, r.gmax);
      break;
    }
    for (int i = 0; i < n; i++) {
      s[i] = xn[i] - x[i];
      y[i] = gn[i] - g[i];
    }
    double ys = dot(n, y, s);
    if (ys > 0.0) { /* skip the update when the pair carries no positive curvature */
      if (fresh) { /* scale the identity to the curvature seen along s */
        double yy = dot(n, y, y);
        set_identity(n, h);
        for (int i = 0; i < n; i++) h[i * n + i] = ys / yy;
        fresh = 0;
      }
      /* H+ = H − ρ (s (Hy)ᵀ + (Hy) sᵀ) + (ρ² yᵀHy + ρ) s sᵀ, ρ = 1 / yᵀs. */
      double rho = 1.0 / ys;
      for (int i = 0; i < n; i++) hy[i] = dot(n, &h[i * n], y);
      double c = rho * rho * dot(n, y, hy) + rho;
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
          h[i * n + j] += -rho * (s[i] * hy[j] + hy[i] * s[j]) + c * s[i] * s[j];
    }
    memcpy(x, xn, sizeof(double) * (size_t)n);
    memcpy(g, gn, sizeof(double) * (size_t)n);
    f = fn_new;
    r.iterations++;
  }
  memcpy(theta, x, sizeof(double) * (size_t)n);
  r.f = f;
  if (res) *res = r;
  return CS_OK;
fail:
  if (res) *res = r;
  return status;
}

int cs_optim_hessian(int n, const double *theta, cs_optim_fn fn, void *arg, double *hess) {
  int status = CS_OK;
  double tp[NMAX], gp[NMAX], gm[NMAX], f;
  if (n < 1 || n > NMAX)
    CS_FAIL(CS_EINTERNAL, "hessian: %d parameters (1 to %d supported)", n, NMAX);
  memcpy(tp, theta, sizeof(double) * (size_t)n);
  for (int j = 0; j < n; j++) {
    double h = 1e-5 * fmax(1.0, fabs(theta[j]));
    double up = theta[j] + h, down = theta[j] - h;
    tp[j] = up;
    CS_TRY(fn(tp, &f, gp, arg));
    tp[j] = down;
    CS_TRY(fn(tp, &f, gm, arg));
    tp[j] = theta[j];
    for (int i = 0; i < n; i++) hess[i * n + j] = (gp[i] - gm[i]) / (up - down);
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) {
      double v = 0.5 * (hess[i * n + j] + hess[j * n + i]);
      hess[i * n + j] = hess[j * n + i] = v;
    }
  return CS_OK;
fail:
  return status;
}

/* Cholesky A = L Lᵀ, then A⁻¹ = L⁻ᵀ L⁻¹. Works on a copy so that `a` is untouched when it
 * turns out not to be positive definite. */
int cs_spd_inverse(int n, double *a) {
  if (n < 1) return 0;
  double stack[2 * NMAX * NMAX];
  size_t nn = (size_t)n * (size_t)n;
  double *buf = n <= NMAX ? stack : malloc(2 * nn * sizeof(double));
  if (!buf) {
    cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "spd_inverse: out of memory for n = %d", n);
    return 0;
  }
  double *l = buf, *li = buf + nn; /* L and L⁻¹, lower triangles */
  memset(buf, 0, 2 * nn * sizeof(double));
  int ok = 1;
  for (int j = 0; j < n && ok; j++) {
    double dj = a[j * n + j];
    for (int k = 0; k < j; k++) dj -= l[j * n + k] * l[j * n + k];
    if (!(dj > 0.0) || !isfinite(dj)) {
      ok = 0;
      break;
    }
    l[j * n + j] = sqrt(dj);
    for (int i = j + 1; i < n; i++) {
      double v = a[i * n + j];
      for (int k = 0; k < j; k++) v -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = v / l[j * n + j];
    }
  }
  if (ok) {
    for (int j = 0; j < n; j++) { /* forward substitution, column by column */
      li[j * n + j] = 1.0 / l[j * n + j];
      for (int i = j + 1; i < n; i++) {
        double v = 0.0;
        for (int k = j; k < i; k++) v -= l[i * n + k] * li[k * n + j];
        li[i * n + j] = v / l[i * n + i];
      }
    }
    for (int i = 0; i < n; i++)
      for (int j = 0; j <= i; j++) {
        double v = 0.0;
        for (int k = i; k < n; k++) v += li[k * n + i] * li[k * n + j];
        a[i * n + j] = a[j * n + i] = v;
      }
  }
  if (buf != stack) free(buf);
  return ok;
}
