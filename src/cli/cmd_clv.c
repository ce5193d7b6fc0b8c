/* cli/cmd_clv.c: `custseg clv`, customer lifetime value from purchase history.
 *
 * Reads each rank's customers' transactions, builds the RFM summary, fits BG/NBD and
 * Gamma-Gamma across ranks (src/clv) and writes the model and one value per customer in
 * input row order. Formulas and conventions: docs/clv.md. */
#include "cli.h"

#include "custseg/clv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_col(cs_out_t *out, const cs_part_t *part, const char *name, cs_dtype_t type,
                     const void *v, const char *units) {
  int status = CS_OK;
  cs_dset_t *ds;
  CS_TRY(cs_out_dataset(out, name, type, part->n_global, &ds));
  CS_TRY(cs_out_write(ds, part->offset, part->n_local, v));
  if (units) CS_TRY(cs_out_attr_str(out, name, "units", units));
fail:
  return status;
}

/* Per-customer RFM in model units (NaN for customers without a calibration purchase). */
static int write_rfm(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_rfm_t *r,
                     double unit_days, const char *unit) {
  int status = CS_OK;
  int64_t n = r->n ? r->n : 1;
  double *v = cs_alloc(cs_bytes(4 * n, sizeof *v), "RFM output");
  CS_TRY(cs_par_agree(ctx, v ? CS_OK : CS_ENOMEM));
  double *x = v, *rec = v + n, *age = v + 2 * n, *mon = v + 3 * n;
  for (int64_t i = 0; i < r->n; i++) {
    int ok = r->x[i] >= 0;
    x[i] = ok ? (double)r->x[i] : NAN;
    rec[i] = ok ? (double)r->recency[i] / unit_days : NAN;
    age[i] = ok ? (double)r->age[i] / unit_days : NAN;
    mon[i] = ok ? r->monetary[i] : NAN;
  }
  CS_TRY(write_col(out, part, "/clv/frequency", CS_DT_F64, x, "repeat purchases"));
  CS_TRY(write_col(out, part, "/clv/recency", CS_DT_F64, rec, unit));
  CS_TRY(write_col(out, part, "/clv/age", CS_DT_F64, age, unit));
  CS_TRY(write_col(out, part, "/clv/monetary", CS_DT_F64, mon, "mean repeat amount"));
fail:
  cs_free(v);
  return status;
}

static int write_model(cs_out_t *out, const cs_clv_fit_t *f, const cs_clv_opts_t *co,
                       int merge_same_day, const char *unit, const char *cal_end,
                       const char *holdout_end) {
  int status = CS_OK;
  const char *g = "/clv/model";
  const double v[][2] = {{f->bg.r, f->bg_se[0]},     {f->bg.alpha, f->bg_se[1]},
                         {f->bg.a, f->bg_se[2]},     {f->bg.b, f->bg_se[3]},
                         {f->gg.p, f->gg_se[0]},     {f->gg.q, f->gg_se[1]},
                         {f->gg.gamma, f->gg_se[2]}};
  static const char *const names[] = {"r", "alpha", "a", "b", "p", "q", "gamma"};
  CS_TRY(cs_out_group(out, g));
  for (int k = 0; k < 7; k++) {
    char se[32];
    snprintf(se, sizeof se, "%s_se", names[k]);
    CS_TRY(cs_out_attr_f64(out, g, names[k], &v[k][0], 1));
    CS_TRY(cs_out_attr_f64(out, g, se, &v[k][1], 1));
  }
  CS_TRY(cs_out_attr_f64(out, g, "bgnbd_loglik", &f->bg_loglik, 1));
  CS_TRY(cs_out_attr_f64(out, g, "gg_loglik", &f->gg_loglik, 1));
  CS_TRY(cs_out_attr_str(out, g, "time_unit", unit));
  CS_TRY(cs_out_attr_str(out, g, "calibration_end", cal_end));
  CS_TRY(cs_out_attr_str(out, g, "holdout_end", holdout_end));
  CS_TRY(cs_out_attr_i64(out, g, "customers", f->customers));
  CS_TRY(cs_out_attr_i64(out, g, "calibration_customers", f->calibrated));
  CS_TRY(cs_out_attr_i64(out, g, "repeat_buyers", f->repeat_buyers));
  CS_TRY(cs_out_attr_i64(out, g, "gg_customers", f->gg_customers));
  /* What /clv/value covers: without these a reader of the file cannot tell its horizon. */
  CS_TRY(cs_out_attr_i64(out, g, "horizon_months", co->horizon_months));
  CS_TRY(cs_out_attr_f64(out, g, "monthly_discount", &co->monthly_discount, 1));
  CS_TRY(cs_out_attr_f64(out, g, "month_length_units", &co->month_units, 1));
  CS_TRY(cs_out_attr_i64(out, g, "merge_same_day", merge_same_day));
fail:
  return status;
}

static cJSON *model_json(const cs_clv_fit_t *f, const char *unit, const char *cal_end,
                         const char *holdout_end) {
  cJSON *j = cJSON_CreateObject(), *bg = cJSON_AddObjectToObject(j, "bgnbd"),
        *gg = cJSON_AddObjectToObject(j, "gamma_gamma"), *n = cJSON_AddObjectToObject(j, "counts");
  cJSON_AddStringToObject(j, "time_unit", unit);
  cJSON_AddStringToObject(j, "calibration_end", cal_end);
  cJSON_AddStringToObject(j, "holdout_end", holdout_end);
  const double bv[] = {f->bg.r, f->bg.alpha, f->bg.a, f->bg.b};
  static const char *const bn[] = {"r", "alpha", "a", "b"}, *const gn[] = {"p", "q", "gamma"};
  const double gv[] = {f->gg.p, f->gg.q, f->gg.gamma};
  for (int k = 0; k < 4; k++) {
    cJSON *e = cJSON_AddObjectToObject(bg, bn[k]);
    cJSON_AddNumberToObject(e, "value", bv[k]);
    cJSON_AddNumberToObject(e, "standard_error", f->bg_se[k]);
  }
  cJSON_AddNumberToObject(bg, "loglik", f->bg_loglik);
  cJSON_AddNumberToObject(bg, "iterations", f->bg_opt.iterations);
  cJSON_AddBoolToObject(bg, "converged", f->bg_opt.converged);
  for (int k = 0; k < 3; k++) {
    cJSON *e = cJSON_AddObjectToObject(gg, gn[k]);
    cJSON_AddNumberToObject(e, "value", gv[k]);
    cJSON_AddNumberToObject(e, "standard_error", f->gg_se[k]);
  }
  cJSON_AddNumberToObject(gg, "loglik", f->gg_loglik);
  cJSON_AddNumberToObject(gg, "iterations", f->gg_opt.iterations);
  cJSON_AddBoolToObject(gg, "converged", f->gg_opt.converged);
  cJSON_AddNumberToObject(n, "customers", (double)f->customers);
  cJSON_AddNumberToObject(n, "calibration_customers", (double)f->calibrated);
  cJSON_AddNumberToObject(n, "without_calibration_purchase",
                          (double)(f->customers - f->calibrated));
  cJSON_AddNumberToObject(n, "repeat_buyers", (double)f->repeat_buyers);
  cJSON_AddNumberToObject(n, "gg_customers", (double)f->gg_customers);
  cJSON_AddNumberToObject(n, "gg_left_out", (double)(f->repeat_buyers - f->gg_customers));
  cJSON_AddNumberToObject(n, "distinct_x_tx_T", (double)f->groups);
  return j;
}

int cs_cmd_clv(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cs_stage_t st = {0};
  cs_txn_t txn = {0};
  cs_rfm_t rfm = {0};
  cs_clv_fit_t fit;
  cs_clv_pred_t pred = {0};
  cs_out_t *out = NULL;
  cJSON *sum = NULL;
  const char *unit = cs_opt_str(o, "time-unit");
  const double month_weeks = cs_opt_real(o, "month-weeks"), d = cs_opt_real(o, "monthly-discount");
  CS_CHECK(month_weeks > 0 && isfinite(month_weeks), CS_EUSAGE, "--month-weeks must be > 0, got %s",
           cs_opt_str(o, "month-weeks"));
  CS_CHECK(d > -1 && isfinite(d), CS_EUSAGE, "--monthly-discount must be > -1, got %g", d);
  double unit_days = !strcmp(unit, "day")    ? 1.0
                     : !strcmp(unit, "week") ? 7.0
                     : !strcmp(unit, "month") ? 7.0 * month_weeks
                                              : 0.0;
  CS_CHECK(unit_days > 0, CS_EUSAGE, "--time-unit must be day, week or month, not '%s'", unit);
  cs_rfm_opts_t ro = {.merge_same_day = cs_opt_bool(o, "merge-same-day")};
  const char *cal = cs_opt_str(o, "calibration-end"), *hold = cs_opt_str(o, "holdout-end");
  /* The date's own message, prefixed with the option it came from (the first error set is
   * the one kept, so the date's is cleared first). */
  char why[CS_MSG_MAX];
  if (cal && cs_parse_day(cal, &ro.cal_end) != CS_OK) {
    snprintf(why, sizeof why, "%s", cs_error_get()->msg);
    cs_error_clear();
    CS_FAIL(CS_EUSAGE, "--calibration-end: %s", why);
  }
  if (hold && cs_parse_day(hold, &ro.holdout_end) != CS_OK) {
    snprintf(why, sizeof why, "%s", cs_error_get()->msg);
    cs_error_clear();
    CS_FAIL(CS_EUSAGE, "--holdout-end: %s", why);
  }
  CS_CHECK(!cal || !hold || ro.holdout_end > ro.cal_end, CS_EUSAGE,
           "--holdout-end %s must be after the calibration end %s", hold, cal);

  CS_TRY(cs_stage_open(ctx, o, &st));
  CS_TRY(cs_stage_checked(ctx, &st, NULL));
  cs_timer_start(&ctx->timers, "read");
  CS_TRY(cs_txn_load(ctx, st.store, &st.part, &txn));
  cs_timer_stop(&ctx->timers, "read");
  int64_t last;
  CS_TRY(cs_txn_last_day(ctx, &txn, &last));
  CS_CHECK(last != INT64_MIN, CS_EDATA, "%s: /transactions is empty", st.store->path);
  if (!cal) ro.cal_end = last;
  if (!hold) ro.holdout_end = ro.cal_end; /* no holdout */
  CS_CHECK(!hold || ro.holdout_end > ro.cal_end, CS_EUSAGE,
           "--holdout-end %s must be after the calibration end", hold);
  char cal_txt[32], hold_txt[32] = "", last_txt[32];
  cs_format_day(ro.cal_end, cal_txt, sizeof cal_txt);
  if (hold) cs_format_day(ro.holdout_end, hold_txt, sizeof hold_txt);
  cs_format_day(last, last_txt, sizeof last_txt);
  /* Days past the data are read as days without purchases: a shortfall that looks like a
   * model's error (expected holdout purchases twice the actual ones, CDNOW to 1999). */
  if (ro.holdout_end > last && hold)
    cs_log_warn("clv: --holdout-end %s is %lld days after the last purchase in the store (%s): "
                "the holdout's actual purchases stop there, so they fall short of the expected "
                "ones (/clv/holdout_actual against /clv/holdout_expected) for want of data", hold_txt,
                (long long)(ro.holdout_end - last), last_txt);
  if (ro.cal_end > last)
    cs_log_warn("clv: the calibration end %s is %lld days after the last purchase in the store "
                "(%s): those days count as days without purchases, which lowers every "
                "customer's P(alive) and expected purchases", cal_txt,
                (long long)(ro.cal_end - last), last_txt);
  if (d < 0)
    cs_log_warn("clv: --monthly-discount %g is negative: each month of the horizon counts %.3g "
                "times the one before, so the CLV grows faster than the purchases", d, 1 / (1 + d));
  cs_clv_opts_t co = {.unit_days = unit_days,
                      .horizon_months = (int)cs_opt_int(o, "horizon-months"),
                      .month_units = 7.0 * month_weeks / unit_days,
                      .monthly_discount = d,
                      .holdout_units = hold ? (double)(ro.holdout_end - ro.cal_end) / unit_days
                                            : 0.0};
  cs_log_info("clv: calibration up to %s%s%s, time unit %s", cal_txt, hold ? ", holdout to " : "",
              hold_txt, unit);

  cs_timer_start(&ctx->timers, "rfm");
  CS_TRY(cs_par_agree(ctx, cs_rfm_compute(&txn, &ro, &rfm)));
  cs_txn_free(&txn);
  cs_timer_stop(&ctx->timers, "rfm");
  int64_t counts[2] = {0, 0}; /* customers with a calibration purchase; of them, observed > 0 days */
  for (int64_t i = 0; i < rfm.n; i++) {
    counts[0] += rfm.x[i] >= 0;
    counts[1] += rfm.x[i] >= 0 && rfm.age[i] > 0;
  }
  CS_TRY(cs_par_allreduce(ctx, counts, 2, CS_DT_I64, CS_OP_SUM));
  CS_CHECK(counts[0] > 0, CS_EDATA, "%s: the calibration end %s is before every purchase",
           st.store->path, cal_txt);
  /* Every customer first bought on the calibration end: the likelihood does not depend on
   * the parameters, and the fit would stop at its start as if converged. */
  CS_CHECK(counts[1] > 0, CS_EDATA, "%s: every customer's first purchase is on the calibration "
           "end %s, so no one was observed for any time: choose a later --calibration-end",
           st.store->path, cal_txt);
  cs_timer_start(&ctx->timers, "fit");
  CS_TRY(cs_clv_fit(ctx, &rfm, &co, &fit));
  cs_timer_stop(&ctx->timers, "fit");
  cs_log_info("clv: BG/NBD r %.6g alpha %.6g a %.6g b %.6g, log-likelihood %.4f", fit.bg.r,
              fit.bg.alpha, fit.bg.a, fit.bg.b, fit.bg_loglik);
  cs_log_info("clv: Gamma-Gamma p %.6g q %.6g gamma %.6g, log-likelihood %.4f", fit.gg.p,
              fit.gg.q, fit.gg.gamma, fit.gg_loglik);
  cs_timer_start(&ctx->timers, "predict");
  CS_TRY(cs_clv_predict(ctx, &rfm, &co, &fit, &pred));
  cs_timer_stop(&ctx->timers, "predict");
  /* Verification: a degenerate fit (e.g. too few customers) shows as impossible values; so
   * does a horizon too long for the expected-purchases series (a fit that is fine had been
   * blamed), or a negative discount compounding over it (CLV of inf, exit 0). */
  int64_t bad[4] = {0, 0, 0, 0}; /* P(alive); expected purchases; CLV; any of them */
  for (int64_t i = 0; i < rfm.n; i++)
    if (rfm.x[i] >= 0) {
      const int b0 = !(pred.p_alive[i] >= 0 && pred.p_alive[i] <= 1);
      const int b1 = !(pred.expected_purchases[i] >= 0) || !isfinite(pred.expected_purchases[i]);
      const int b2 = isinf(pred.value[i]) != 0; /* -1 for -inf (glibc); NaN: no spend model */
      bad[0] += b0, bad[1] += b1, bad[2] += b2, bad[3] += b0 || b1 || b2;
    }
  CS_TRY(cs_par_allreduce(ctx, bad, 4, CS_DT_I64, CS_OP_SUM));
  /* The fit is the cause of non-finite expected purchases when it did not converge (3
   * customers: a gradient of 1e60, and the horizon had been blamed, "the fit itself is
   * sound"), and of an infinite CLV unless a negative discount compounds to it. */
  if (bad[0] || (bad[1] && !fit.bg_opt.converged) || (bad[2] && !(d < 0))) {
    char what[160] = "";
    const char *part[3] = {"P(alive) outside [0, 1]", "negative or non-finite expected purchases",
                           "an infinite CLV"};
    for (int j = 0; j < 3; j++)
      if (bad[j])
        snprintf(what + strlen(what), sizeof what - strlen(what), "%s%s", *what ? " or " : "",
                 part[j]);
    /* Only the CLV infinite with finite purchases: the spend model's mean is (q <= 1). */
    if (!bad[0] && !bad[1])
      CS_FAIL(CS_EVERIFY, "verification: %lld customers get %s; the Gamma-Gamma spend fit is "
              "degenerate (p %.4g, q %.4g, gamma %.4g%s)", (long long)bad[3], what, fit.gg.p,
              fit.gg.q, fit.gg.gamma, fit.gg_opt.converged ? "" : ", not converged");
    CS_FAIL(CS_EVERIFY, "verification: %lld customers get %s; the BG/NBD fit is degenerate (r "
            "%.4g, alpha %.4g, a %.4g, b %.4g%s)", (long long)bad[3], what, fit.bg.r,
            fit.bg.alpha, fit.bg.a, fit.bg.b, fit.bg_opt.converged ? "" : ", not converged");
  }
  CS_CHECK(bad[1] == 0, CS_EVERIFY,
           "verification: %lld customers get negative or non-finite expected purchases over the "
           "horizon of %d months of %g weeks (%g %ss); the fit itself is sound (every P(alive) "
           "in [0, 1]): give a shorter --horizon-months or --month-weeks", (long long)bad[1],
           co.horizon_months, month_weeks, co.horizon_months * co.month_units, unit);
  CS_CHECK(bad[2] == 0, CS_EVERIFY,
           "verification: %lld customers get an infinite CLV: --monthly-discount %g over %d "
           "months%s; give a shorter --horizon-months%s", (long long)bad[2], d,
           co.horizon_months, d < 0 ? " weighs each month more than the one before" : "",
           d < 0 ? " or a discount >= 0" : "");

  cs_timer_start(&ctx->timers, "write");
  CS_TRY(cs_out_create(ctx, cs_opt_str(o, "output"), &out));
  CS_TRY(cs_out_group(out, "/clv"));
  CS_TRY(write_model(out, &fit, &co, ro.merge_same_day, unit, cal_txt, hold_txt));
  CS_TRY(write_rfm(ctx, out, &st.part, &rfm, unit_days, unit));
  CS_TRY(write_col(out, &st.part, "/clv/p_alive", CS_DT_F64, pred.p_alive, "probability"));
  CS_TRY(write_col(out, &st.part, "/clv/expected_purchases", CS_DT_F64, pred.expected_purchases,
                   "purchases over the horizon"));
  CS_TRY(write_col(out, &st.part, "/clv/expected_spend", CS_DT_F64, pred.expected_spend,
                   "amount per purchase"));
  CS_TRY(write_col(out, &st.part, "/clv/value", CS_DT_F64, pred.value,
                   "discounted amount over the horizon"));
  if (hold) {
    CS_TRY(write_col(out, &st.part, "/clv/holdout_expected", CS_DT_F64, pred.holdout_expected,
                     "purchases in the holdout"));
    CS_TRY(write_col(out, &st.part, "/clv/holdout_actual", CS_DT_I64, rfm.holdout,
                     "purchases in the holdout"));
    double table[8][4];
    for (int b = 0; b < 8; b++) {
      double n = (double)pred.by_x_customers[b];
      table[b][0] = b;
      table[b][1] = n;
      table[b][2] = n > 0 ? (double)pred.by_x_actual[b] / n : NAN;
      table[b][3] = n > 0 ? pred.by_x_expected[b] / n : NAN;
    }
    CS_TRY(cs_out_small(out, "/clv/holdout_by_frequency", CS_DT_F64, 8, 4, table));
    CS_TRY(cs_out_attr_str(out, "/clv/holdout_by_frequency", "columns",
                           "calibration frequency (7 = 7+), customers, mean actual holdout "
                           "purchases, mean expected holdout purchases"));
  }
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  cs_timer_stop(&ctx->timers, "write");
  cJSON *cj = model_json(&fit, unit, cal_txt, hold_txt);
  cJSON_AddItemToObject(sum, "clv", cj);
  cJSON_AddNumberToObject(cj, "month_length_units", co.month_units);
  cJSON_AddNumberToObject(cj, "horizon_months", co.horizon_months);
  cJSON_AddNumberToObject(cj, "monthly_discount", co.monthly_discount);
  cJSON_AddBoolToObject(cj, "merge_same_day", ro.merge_same_day);
  if (hold) {
    cJSON *t = cJSON_AddArrayToObject(cj, "holdout_by_frequency");
    for (int b = 0; b < 8; b++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "frequency", b);
      cJSON_AddNumberToObject(e, "customers", (double)pred.by_x_customers[b]);
      cJSON_AddNumberToObject(e, "actual", (double)pred.by_x_actual[b]);
      cJSON_AddNumberToObject(e, "expected", pred.by_x_expected[b]);
      cJSON_AddItemToArray(t, e);
    }
  }
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) cs_io_remove(ctx, cs_opt_str(o, "output"));
  cJSON_Delete(sum);
  cs_clv_pred_free(&pred);
  cs_rfm_free(&rfm);
  cs_txn_free(&txn);
  cs_stage_close(&st);
  return status;
}
