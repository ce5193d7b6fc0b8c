/* report/model_sections.c: the sections of the model results (ROI and revenue at risk, the
 * churn model, customer lifetime value) and the CLV distribution per segment, the report's
 * one per-customer computation: integer histograms per segment on a logarithmic grid fixed by
 * the largest value (an exact max reduction), summed across ranks, so every count, quantile
 * and byte of the page is the same on any number of ranks. Trade-off: quantiles are the
 * geometric middle of a bin of relative width 0.68 %, not exact order statistics (no sort,
 * no gather of N values). */
#include "report_impl.h"

#include "custseg/par.h"
#include "custseg/roi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_report_roi_fields[CS_REPORT_ROI_FIELDS] = {
    "segment",          "customers",        "share",         "revenue_total",
    "revenue_mean",     "acquisition_cost_mean", "conversion_rate", "churn_rate_observed",
    "churn_score_mean", "clv_mean",         "clv_total",     "revenue_at_risk",
    "roi",              "uplift",           "uplift_low",    "uplift_high",
    "incremental_roi",  "action",           "incremental_revenue", "incremental_revenue_low",
    "incremental_revenue_high", "campaign_cost", "treated", "control",
    "conversion_rate_treated", "conversion_rate_control"};
enum {
  F_SEGMENT, F_CUSTOMERS, F_SHARE, F_REVENUE_TOTAL, F_REVENUE_MEAN, F_CAC_MEAN, F_CONVERSION,
  F_CHURN_OBSERVED, F_CHURN_SCORE, F_CLV_MEAN, F_CLV_TOTAL, F_AT_RISK, F_ROI, F_UPLIFT,
  F_UPLIFT_LOW, F_UPLIFT_HIGH, F_INCREMENTAL_ROI, F_ACTION, F_INC_REVENUE, F_INC_REVENUE_LOW,
  F_INC_REVENUE_HIGH, F_CAMPAIGN_COST, F_TREATED, F_CONTROL, F_CONVERSION_TREATED,
  F_CONVERSION_CONTROL
};

/* ---- the CLV distribution ------------------------------------------------------------------ */
int cs_report_clv_distribution(cs_ctx_t *ctx, int64_t n, const int64_t *label,
                               const double *value, int k, cs_report_clv_t *out) {
  int status = CS_OK;
  const int groups = k + 1, S = CS_REPORT_CLV_SLOTS;
  int64_t bad = -1;
  double hi = 0;
  memset(out, 0, sizeof *out);
  out->count = calloc((size_t)groups * S, sizeof *out->count);
  CS_TRY(cs_par_agree(ctx, out->count ? CS_OK
                                      : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                     "out of memory")));
  for (int64_t i = 0; i < n; i++) {
    if (label[i] < -1 || label[i] >= k) bad = i;
    if (isfinite(value[i]) && value[i] > hi) hi = value[i];
  }
  CS_TRY(cs_par_agree(ctx, bad < 0 ? CS_OK
                                   : cs_error_set(CS_EDATA, __FILE__, __LINE__,
                                                  "segment label %lld out of range 0..%d",
                                                  (long long)label[bad], k - 1)));
  CS_TRY(cs_par_allreduce(ctx, &hi, 1, CS_DT_F64, CS_OP_MAX));
  /* The bins are a function of hi alone, the same on every rank. */
  const double lo = hi * 1e-6, span = hi > 0 ? log(hi / lo) : 1;
  int64_t *cnt = out->count;
#pragma omp parallel for schedule(static) reduction(+ : cnt[:(size_t)groups * S])
  for (int64_t i = 0; i < n; i++) {
    int64_t *row = cnt + (size_t)(label[i] < 0 ? k : label[i]) * S;
    double v = value[i];
    if (!isfinite(v))
      row[0]++;
    else if (v <= lo)
      row[1]++;
    else {
      int j = (int)(CS_REPORT_CLV_BINS * (log(v / lo) / span));
      row[2 + (j < 0 ? 0 : j >= CS_REPORT_CLV_BINS ? CS_REPORT_CLV_BINS - 1 : j)]++;
    }
  }
  CS_TRY(cs_par_allreduce(ctx, out->count, (int64_t)groups * S, CS_DT_I64, CS_OP_SUM));
  out->groups = groups;
  out->lo = lo;
  out->hi = hi;
fail:
  if (status < 0) {
    free(out->count);
    out->count = NULL;
  }
  return status;
}

/* A value with its 95% limits, "v [lo, hi]", or the value alone without limits, or a dash. */
/* Whether a row's incremental ROI is settled (cs_roi_return_settled) by the fields of
 * /roi/table. */
static int return_settled(const cs_report_t *r, const double *row) {
  return r->roi_present[F_INC_REVENUE_LOW] && r->roi_present[F_INC_REVENUE_HIGH] &&
         r->roi_present[F_CAMPAIGN_COST] &&
         cs_roi_return_settled(row[F_INC_REVENUE_LOW], row[F_INC_REVENUE_HIGH],
                               row[F_CAMPAIGN_COST]);
}

static void interval_cell(cs__buf_t *b, const cs_report_t *r, const double *row, int v, int lo,
                          int hi, cs__fmt_t fmt) {
  char a[48], l[48], h[48];
  const double x = r->roi_present[v] ? row[v] : NAN;
  if (!isfinite(x)) {
    cs__put(b, "<td>\xe2\x80\x93</td>");
    return;
  }
  cs__num(a, sizeof a, x, fmt);
  if (r->roi_present[lo] && r->roi_present[hi] && isfinite(row[lo]) && isfinite(row[hi])) {
    cs__num(l, sizeof l, row[lo], fmt);
    cs__num(h, sizeof h, row[hi], fmt);
    cs__put(b, "<td>%s [%s, %s]</td>", a, l, h);
  } else {
    cs__put(b, "<td>%s</td>", a);
  }
}

/* The lower edge of bin j of [lo, hi] (j = CS_REPORT_CLV_BINS gives hi). */
static double clv_edge(const cs_report_clv_t *c, double j) {
  return c->lo * pow(c->hi / c->lo, j / CS_REPORT_CLV_BINS);
}

double cs_report_clv_quantile(const cs_report_clv_t *c, int group, double q) {
  const int64_t *row = c->count + (size_t)group * CS_REPORT_CLV_SLOTS;
  int64_t total = 0, seen = 0;
  for (int s = 1; s < CS_REPORT_CLV_SLOTS; s++) total += row[s];
  if (total == 0 || !(c->hi > 0)) return NAN;
  /* The customer of rank ceil(q total) (at least the first), as numpy's 'inverted_cdf'. */
  int64_t want = (int64_t)ceil(q * (double)total);
  if (want < 1) want = 1;
  for (int s = 1; s < CS_REPORT_CLV_SLOTS; s++) {
    seen += row[s];
    if (seen >= want) return s == 1 ? 0 : clv_edge(c, s - 2 + 0.5);
  }
  return c->hi;
}

/* Whether field f of /roi/table holds a number in any row. */
static int any_finite(const cs_report_t *r, int f) {
  for (int64_t i = 0; r->roi_present[f] && i < r->roi_rows; i++)
    if (isfinite(r->roi[i * CS_REPORT_ROI_FIELDS + f])) return 1;
  return 0;
}

void cs__section_roi(cs__buf_t *b, const cs_report_t *r, const char *roi_path) {
  cs__section_begin(b, cs_report_section_ids[S_ROI], cs__section_titles[S_ROI]);
  const int F = CS_REPORT_ROI_FIELDS;
  int n = 0;
  char (*names)[CS__NAME_MAX] = calloc((size_t)r->roi_rows + 1, sizeof *names);
  const char **lab = calloc((size_t)r->roi_rows + 1, sizeof *lab),
             **col = calloc((size_t)r->roi_rows + 1, sizeof *col);
  double *roi = calloc((size_t)r->roi_rows + 1, sizeof *roi),
         *risk = calloc((size_t)r->roi_rows + 1, sizeof *risk);
  if (names && lab && col && roi && risk) {
    for (int64_t i = 0; i < r->roi_rows; i++) {
      double g = r->roi[i * F + F_SEGMENT];
      if (g == -1) continue; /* the total row */
      cs__seg_name(r, g >= 0 ? (int)g : (int)r->sizes.rows, names[n], sizeof names[n]);
      lab[n] = names[n];
      col[n] = g >= 0 ? cs__segment_colour((int)g) : "#8c959f";
      roi[n] = r->roi[i * F + F_ROI];
      risk[n] = r->roi[i * F + F_AT_RISK];
      n++;
    }
    /* A chart of nothing but "no value" bars is replaced by the reason. */
    int have_roi = 0, have_risk = 0;
    for (int i = 0; i < n; i++) have_roi |= isfinite(roi[i]), have_risk |= isfinite(risk[i]);
    cs__put(b, "<div class=\"grid\">");
    if (have_roi)
      cs__svg_hbars(b, "ROI per segment ((revenue \xe2\x88\x92 cost) / cost)", n, lab, roi, col,
                    CS__G, NULL);
    else
      cs__put(b, "<p class=\"note\">No ROI: it needs revenue and a cost, and the store has %s "
              "(docs/roi.md).</p>", !r->roi_present[F_REVENUE_TOTAL] ||
                                            !any_finite(r, F_REVENUE_TOTAL)
                                        ? "no revenue column"
                                        : "neither acquisition_cost nor marketing_cost");
    if (have_risk)
      cs__svg_hbars(b, "Revenue at risk (churn score \xc3\x97 CLV)", n, lab, risk, col,
                    CS__MONEY, NULL);
    else
      cs__put(b, "<p class=\"note\">No revenue at risk: it needs churn scores and CLV, and "
              "the table was built without %s (custseg roi --churn-results, --clv-results).</p>",
              any_finite(r, F_CHURN_SCORE) ? "CLV results"
              : any_finite(r, F_CLV_MEAN)  ? "churn results"
                                           : "either");
    cs__put(b, "</div>\n");
  }
  free(names);
  free(lab);
  free(col);
  free(roi);
  free(risk);
  /* The table: one row per segment, then the total. */
  static const struct { int f; const char *head; cs__fmt_t fmt; } cols[] = {
      {F_CUSTOMERS, "customers", CS__INT},     {F_SHARE, "share", CS__PCT},
      {F_REVENUE_TOTAL, "revenue", CS__MONEY}, {F_REVENUE_MEAN, "revenue / customer", CS__MONEY},
      {F_CAC_MEAN, "CAC / customer", CS__MONEY}, {F_CONVERSION, "conversion", CS__PCT},
      {F_CHURN_OBSERVED, "churn (observed)", CS__PCT},
      {F_CHURN_SCORE, "churn (predicted)", CS__PCT}, {F_CLV_MEAN, "CLV / customer", CS__MONEY},
      {F_AT_RISK, "revenue at risk (churn \xc3\x97 CLV)", CS__MONEY},
      {F_ROI, "ROI (descriptive, ratio)", CS__RATIO}};
  const int nc = (int)(sizeof cols / sizeof *cols);
  /* The action second, so that no window width or screenshot loses it; the campaign's
   * money figures with their intervals, so an incremental ROI is read with its uncertainty. */
  cs__put(b, "<h3>ROI table</h3>");
  /* What a reader needs before the figures: the period of the revenue, and what the actions
   * compare (docs/roi.md, Recommended action). */
  cs__put(b, "<p class=\"note\">");
  if (r->revenue_units[0])
    cs__escf(b, "Revenue: %s (the store's /customers/revenue@units). ", r->revenue_units);
  else if (any_finite(r, F_REVENUE_TOTAL))
    cs__put(b, "Revenue: the store does not say over which period (no units attribute on "
            "/customers/revenue); ROI sets it against acquisition cost spent once, so read it "
            "for that period. ");
  cs__escf(b, "The action compares each segment's %s and %s with the total row's, and the "
           "campaign's uplift interval where there is one; read the figures, not the label "
           "alone.",
           any_finite(r, F_CLV_MEAN) ? "CLV / customer" : "revenue / customer",
           any_finite(r, F_CHURN_SCORE) ? "predicted churn" : "observed churn");
  cs__put(b, "</p>\n<div class=\"scroll\"><table><tr>");
  cs__th(b, "segment", 1);
  cs__th(b, "action", 1);
  for (int c = 0; c < nc; c++) cs__th(b, cols[c].head, 0);
  /* The groups the uplift compares, so a wide interval is read with its group sizes. */
  static const struct { int f; const char *head; cs__fmt_t fmt; } campaign[] = {
      {F_TREATED, "treated", CS__INT}, {F_CONTROL, "control", CS__INT},
      {F_CONVERSION_TREATED, "conversion treated", CS__PCT},
      {F_CONVERSION_CONTROL, "conversion control", CS__PCT}};
  int ncamp = 0; /* without a treated flag in the store (NaN counts): no such columns */
  for (int64_t i = 0; r->roi_present[F_TREATED] && i < r->roi_rows; i++)
    if (isfinite(r->roi[i * F + F_TREATED])) ncamp = (int)(sizeof campaign / sizeof *campaign);
  for (int c = 0; c < ncamp; c++) cs__th(b, campaign[c].head, 0);
  cs__th(b, "uplift [95%]", 0);
  cs__th(b, "incremental revenue [95%]", 0);
  cs__th(b, "campaign cost", 0);
  cs__th(b, "incremental ROI (ratio)", 0);
  cs__put(b, "</tr>\n");
  char name[CS__NAME_MAX];
  int dagger = 0;
  for (int64_t i = 0; i < r->roi_rows; i++) {
    const double *row = r->roi + i * F;
    int g = (int)row[F_SEGMENT];
    cs__put(b, "<tr%s>", g == -1 ? " class=\"total\"" : "");
    if (g == -1)
      cs__td_text(b, "Total");
    else if (g >= 0) /* short names keep the wide table on the page; labels are above */
      cs__td_swatch(b, g, (snprintf(name, sizeof name, "Segment %d", g), name));
    else
      cs__td_text(b, "No segment");
    double a = row[F_ACTION];
    cs__td_text(b, a >= 0 && a < r->n_actions ? r->actions[(int)a] : "\xe2\x80\x93");
    for (int c = 0; c < nc; c++) cs__td_num(b, r->roi_present[cols[c].f] ? row[cols[c].f] : NAN, cols[c].fmt);
    for (int c = 0; c < ncamp; c++)
      cs__td_num(b, r->roi_present[campaign[c].f] ? row[campaign[c].f] : NAN, campaign[c].fmt);
    interval_cell(b, r, row, F_UPLIFT, F_UPLIFT_LOW, F_UPLIFT_HIGH, CS__PP);
    interval_cell(b, r, row, F_INC_REVENUE, F_INC_REVENUE_LOW, F_INC_REVENUE_HIGH, CS__MONEY);
    cs__td_num(b, r->roi_present[F_CAMPAIGN_COST] ? row[F_CAMPAIGN_COST] : NAN, CS__MONEY);
    const double iroi = r->roi_present[F_INCREMENTAL_ROI] ? row[F_INCREMENTAL_ROI] : NAN;
    if (isfinite(iroi) && !return_settled(r, row)) {
      char v[48], text[64]; /* a point estimate whose return is not established */
      cs__num(v, sizeof v, iroi, CS__G);
      snprintf(text, sizeof text, "%s \xe2\x80\xa0", v);
      cs__put(b, "<td>");
      cs__esc(b, text);
      cs__put(b, "</td>");
      dagger = 1;
    } else
      cs__td_num(b, iroi, CS__G);
    cs__put(b, "</tr>\n");
  }
  cs__put(b, "</table></div>\n");
  if (dagger)
    cs__put(b, "<p class=\"note\">\xe2\x80\xa0 The incremental revenue's 95%% interval holds the "
            "campaign cost, or is unknown: whether the campaign paid for itself in that row is "
            "not established, whatever the incremental ROI's point value.</p>\n");
  cs__source(b, "%s: /roi/table (formulas, intervals and the action rules in docs/roi.md); shares of "
            "all customers of the store, those without a segment included; ROI is all "
            "revenue against all cost of the row's customers, not a campaign's effect, as a ratio "
            "(0.25: a return of 25%% of the cost); revenue "
            "at risk is the predicted churn times the discounted CLV over its horizon (the CLV "
            "section), not the recorded revenue; uplift in "
            "percentage points (treated minus control conversion rate, each over the group's "
            "customers whose conversion is known, while the treated and control columns count "
            "all of them; in the total row the "
            "other rows' uplifts, the no-segment row's included, weighted by their treated "
            "customers); "
            "\xe2\x80\x93 marks a value whose input is absent or whose denominator is 0.",
         roi_path);
  cs__section_end(b);
}

void cs__section_churn(cs__buf_t *b, const cs_report_t *r, const char *churn_path) {
  cs__section_begin(b, cs_report_section_ids[S_CHURN], cs__section_titles[S_CHURN]);
  const cs_io_attrs_t *m = &r->churn_metrics;
  char text[128], a[48], e[48];
  cs__put(b, "<dl class=\"facts\">");
  cs__fact(b, "metrics of", r->churn_split);
  cs__fact_num(b, "customers", cs__attr_num(m, "customers"), CS__INT);
  cs__fact_num(b, "churners", cs__attr_num(m, "positives"), CS__INT);
  snprintf(a, sizeof a, "%.4f", cs__attr_num(m, "auc"));
  snprintf(e, sizeof e, "%.1e", cs__attr_num(m, "auc_error_bound"));
  snprintf(text, sizeof text, "%s (error bound %s)", a, e);
  cs__fact(b, "AUC", isfinite(cs__attr_num(m, "auc")) ? text : NULL);
  cs__fact_num(b, "log-loss", cs__attr_num(m, "logloss"), CS__G);
  cs__fact_num(b, "Brier score", cs__attr_num(m, "brier"), CS__G);
  cs__put(b, "</dl>\n<div class=\"grid\">");
  const cs_report_matrix_t *gm = &r->gains, *cm = &r->calibration;
  int ng = (int)gm->rows, nk = (int)cm->rows;
  double *x = calloc((size_t)ng + 1, sizeof *x), *gain = calloc((size_t)ng + 1, sizeof *gain),
         *lift = calloc((size_t)ng + 1, sizeof *lift), *one = calloc((size_t)ng + 1, sizeof *one);
  double *px = calloc((size_t)nk + 1, sizeof *px), *py = calloc((size_t)nk + 1, sizeof *py);
  if (x && gain && lift && one && px && py && gm->cols >= 3 && cm->cols >= 3) {
    /* Gains start at the origin; lift is per depth. */
    for (int i = 0; i < ng; i++) {
      x[i + 1] = gm->v[i * 3];
      gain[i + 1] = gm->v[i * 3 + 1];
      lift[i] = gm->v[i * 3 + 2];
      one[i] = 1;
    }
    static const double diag[2] = {0, 1};
    cs__series_t gs[2] = {{.name = "model", .x = x, .y = gain, .n = ng + 1, .colour = "#e15759",
                           .points = 1},
                          {.name = "random", .x = diag, .y = diag, .n = 2, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t ga = {.title = "Cumulative gains", .xlabel = "share of customers, highest score first",
                     .ylabel = "share of churners found", .xfmt = CS__PCT, .yfmt = CS__PCT,
                     .xmark = NAN, .xmin = 0, .xmax = 1, .ymin = 0, .ymax = 1,
                     .width = 372, .legend_low = 1};
    cs__svg_lines(b, &ga, gs, 2);
    cs__series_t ls[2] = {{.name = "model", .x = x + 1, .y = lift, .n = ng, .colour = "#e15759",
                           .points = 1},
                          {.name = "random", .x = x + 1, .y = one, .n = ng, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t la = {.title = "Lift", .xlabel = "share of customers, highest score first",
                     .ylabel = "lift (gain / share)", .xfmt = CS__PCT, .yfmt = CS__G,
                     .y_from_zero = 1, .xmark = NAN, .xmin = 0, .xmax = 1, .ymin = NAN,
                     .ymax = NAN, .width = 372};
    cs__svg_lines(b, &la, ls, 2);
    double top = 0;
    for (int i = 0; i < nk; i++) {
      int has = cm->v[i * 3 + 2] > 0;
      px[i] = has ? cm->v[i * 3] : NAN;
      py[i] = has ? cm->v[i * 3 + 1] : NAN;
      if (has) top = fmax(top, fmax(px[i], py[i]));
    }
    top = top > 0 ? fmin(1, ceil(top * 10) / 10) : 1;
    const double dd[2] = {0, top};
    cs__series_t cs[2] = {{.name = "model", .x = px, .y = py, .n = nk, .colour = "#4e79a7",
                           .points = 1},
                          {.name = "perfect", .x = dd, .y = dd, .n = 2, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t ca = {.title = "Calibration", .xlabel = "mean predicted churn probability (bin)",
                     .ylabel = "observed churn rate", .xfmt = CS__PCT, .yfmt = CS__PCT,
                     .xmark = NAN, .xmin = 0, .xmax = top, .ymin = 0, .ymax = top,
                     .width = 372, .legend_low = 1};
    cs__svg_lines(b, &ca, cs, 2);
  }
  free(x);
  free(gain);
  free(lift);
  free(one);
  free(px);
  free(py);
  cs__put(b, "</div>\n");
  /* The customers behind each calibration point: a point of 4 customers at 100% had read as
   * the model under-predicting the riskiest. */
  if (cm->rows > 0 && cm->cols >= 3) {
    cs__put(b, "<h3>Calibration bins</h3><div class=\"scroll\"><table><tr>");
    cs__th(b, "mean predicted", 0);
    cs__th(b, "observed churn", 0);
    cs__th(b, "customers", 0);
    cs__th(b, "", 1);
    cs__put(b, "</tr>\n");
    for (int64_t i = 0; i < cm->rows; i++) {
      const double *v = cm->v + i * cm->cols;
      if (!(v[2] > 0)) continue;
      cs__put(b, "<tr>");
      cs__td_num(b, v[0], CS__PCT);
      cs__td_num(b, v[1], CS__PCT);
      cs__td_num(b, v[2], CS__INT);
      cs__td_text(b, v[2] < 30 ? "few customers: the observed rate is noisy" : "");
      cs__put(b, "</tr>\n");
    }
    cs__put(b, "</table></div>\n");
  }
  char where[96];
  snprintf(where, sizeof where, "/churn/metrics/%s", r->churn_split);
  cs__put(b, "<p class=\"src\">");
  cs__esc(b, churn_path);
  cs__put(b, ": ");
  cs__esc(b, where);
  cs__put(b, " (attributes; gains: depth, gain, lift per decile; calibration: mean predicted, "
             "observed, customers per bin of the score, empty bins left out).</p>\n");
  cs__section_end(b);
}

void cs__section_clv(cs__buf_t *b, const cs_report_t *r, const char *clv_path) {
  cs__section_begin(b, cs_report_section_ids[S_CLV], cs__section_titles[S_CLV]);
  const cs_report_clv_t *c = &r->clv;
  const cs_io_attrs_t *m = &r->clv_model;
  cs__put(b, "<dl class=\"facts\">");
  cs__fact(b, "model time unit", cs_io_attr(m, "time_unit"));
  cs__fact(b, "calibration end", cs_io_attr(m, "calibration_end"));
  cs__fact(b, "holdout end", cs_io_attr(m, "holdout_end"));
  char text[256];
  snprintf(text, sizeof text, "r %.4g, \xce\xb1 %.4g, a %.4g, b %.4g", cs__attr_num(m, "r"),
           cs__attr_num(m, "alpha"), cs__attr_num(m, "a"), cs__attr_num(m, "b"));
  cs__fact(b, "BG/NBD", text);
  snprintf(text, sizeof text, "p %.4g, q %.4g, \xce\xb3 %.4g", cs__attr_num(m, "p"),
           cs__attr_num(m, "q"), cs__attr_num(m, "gamma"));
  cs__fact(b, "Gamma-Gamma", text);
  if (cs_io_attr(m, "horizon_months")) { /* results written before 2026-12-04 lack them */
    snprintf(text, sizeof text, "%.0f months of %.4g %ss, discounted %.4g%% a month",
             cs__attr_num(m, "horizon_months"), cs__attr_num(m, "month_length_units"),
             cs_io_attr(m, "time_unit") ? cs_io_attr(m, "time_unit") : "unit",
             100 * cs__attr_num(m, "monthly_discount"));
    cs__fact(b, "CLV horizon", text);
    cs__fact(b, "same-day purchases",
             cs__attr_num(m, "merge_same_day") != 0 ? "merged into one" : "counted apart");
  }
  cs__put(b, "</dl>\n");
  int k = (int)r->sizes.rows, groups = 0;
  const int S = CS_REPORT_CLV_SLOTS, nb = 48;
  int *gid = calloc((size_t)c->groups + 1, sizeof *gid);
  char (*names)[CS__NAME_MAX] = calloc((size_t)c->groups + 1, sizeof *names);
  const char **lab = calloc((size_t)c->groups + 1, sizeof *lab),
             **col = calloc((size_t)c->groups + 1, sizeof *col);
  double *q = calloc((size_t)c->groups * 5 + 1, sizeof *q);
  int64_t *coarse = calloc((size_t)c->groups * nb + 1, sizeof *coarse);
  static const double qs[5] = {0.05, 0.25, 0.5, 0.75, 0.95};
  if (gid && names && lab && col && q && coarse && c->count) {
    /* The display range: from the 1st percentile of all positive values to the largest
     * (a few customers with tiny values would otherwise stretch the axis over decades). */
    int64_t positive = 0, seen = 0;
    int first = 0;
    for (int g = 0; g < c->groups; g++)
      for (int j = 0; j < CS_REPORT_CLV_BINS; j++) positive += c->count[(size_t)g * S + 2 + j];
    for (int j = 0; j < CS_REPORT_CLV_BINS && positive; j++) {
      for (int g = 0; g < c->groups; g++) seen += c->count[(size_t)g * S + 2 + j];
      if (seen * 100 >= positive) {
        first = j;
        break;
      }
    }
    for (int g = 0; g < c->groups; g++) {
      const int64_t *row = c->count + (size_t)g * S;
      int64_t all = 0;
      for (int s = 0; s < S; s++) all += row[s];
      if (g == k && all == 0) continue; /* no customer without a segment */
      gid[groups] = g;
      cs__seg_name(r, g, names[groups], sizeof names[groups]);
      lab[groups] = names[groups];
      col[groups] = g < k ? cs__segment_colour(g) : "#8c959f";
      for (int i = 0; i < 5; i++) q[groups * 5 + i] = cs_report_clv_quantile(c, g, qs[i]);
      for (int j = 0; j < CS_REPORT_CLV_BINS; j++) /* values below the range in its first bin */
        coarse[(size_t)groups * nb + (j < first ? 0 : (j - first) * nb / (CS_REPORT_CLV_BINS - first))] +=
            row[2 + j];
      groups++;
    }
    if (c->hi > 0)
      cs__svg_boxes(b, "CLV per customer by segment (logarithmic axis)",
                    "discounted CLV over the horizon (box: 25th\xe2\x80\x93" "75th percentile, "
                    "bar: median, whiskers: 5th\xe2\x80\x93" "95th; shaded: histogram, square-root "
                    "heights)",
                    groups, lab, col, q, coarse, nb, clv_edge(c, first), c->hi);
    else
      cs__put(b, "<p class=\"note\">No customer has a positive CLV.</p>\n");
    /* The table of quantiles. */
    cs__put(b, "<div class=\"scroll\"><table><tr>");
    const char *const head[] = {"segment", "with a value", "no value", "zero", "5th pct",
                                "25th pct", "median", "75th pct", "95th pct", "mean"};
    for (int i = 0; i < 10; i++) cs__th(b, head[i], i == 0);
    cs__put(b, "</tr>\n");
    for (int i = 0; i < groups; i++) {
      int g = gid[i];
      const int64_t *row = c->count + (size_t)g * S;
      int64_t with = 0;
      for (int s = 1; s < S; s++) with += row[s];
      double mean = NAN;
      for (int64_t t = 0; r->has_roi && t < r->roi_rows; t++) {
        double seg = r->roi[t * CS_REPORT_ROI_FIELDS + F_SEGMENT];
        if (seg == (g < k ? g : -2)) mean = r->roi[t * CS_REPORT_ROI_FIELDS + F_CLV_MEAN];
      }
      cs__put(b, "<tr>");
      if (g < k)
        cs__td_swatch(b, g, names[i]);
      else
        cs__td_text(b, names[i]);
      cs__td_num(b, (double)with, CS__INT);
      cs__td_num(b, (double)row[0], CS__INT);
      cs__td_num(b, (double)row[1], CS__INT);
      for (int j = 0; j < 5; j++) cs__td_num(b, q[i * 5 + j], CS__MONEY);
      cs__td_num(b, mean, CS__MONEY);
      cs__put(b, "</tr>\n");
    }
    cs__put(b, "</table></div>\n");
  }
  free(gid);
  free(names);
  free(lab);
  free(col);
  free(q);
  free(coarse);
  cs__put(b, "<p class=\"src\">");
  cs__esc(b, clv_path);
  cs__put(b, ": /clv/value per customer grouped by /segments/labels, counted in 2,048 "
             "logarithmic bins from 10<sup>&#8722;6</sup> of the largest value up to it "
             "(percentiles are bin middles, within 0.34%%); \xe2\x80\x9cno value\xe2\x80\x9d: no "
             "purchase up to the calibration end; \xe2\x80\x9czero\xe2\x80\x9d: at most "
             "10<sup>&#8722;6</sup> of the largest. Model: /clv/model attributes. Mean: "
             "clv_mean of /roi/table when given.</p>\n");
  cs__section_end(b);
}

