/* roi/table.c: the formulas of the ROI table, from the exact totals of a row.
 *
 * Every derived value (means, rates, ROI, the uplift and its interval, the incremental
 * revenue and ROI, the action) is computed from the rounded totals and integer counts in the
 * order written in docs/roi.md, the same on every rank, so a reader can recompute each one
 * from the same inputs with the same operations. A quantity whose input is absent (a column
 * the store lacks, a results file not given) or whose denominator is 0 is NaN. */
#include "roi_impl.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const cs_roi_action_names[CS_ROI_ACTIONS] = {"retain", "grow", "maintain",
                                                         "deprioritize"};

#define F(name, type) {#name, type, offsetof(cs_roi_row_t, name)}
const cs_out_field_t cs_roi_fields[] = {
    F(segment, CS_DT_I64),
    F(customers, CS_DT_I64),
    F(share, CS_DT_F64),
    F(revenue_total, CS_DT_F64),
    F(revenue_mean, CS_DT_F64),
    F(acquisition_cost_total, CS_DT_F64),
    F(acquisition_cost_mean, CS_DT_F64),
    F(marketing_cost_total, CS_DT_F64),
    F(conversions, CS_DT_F64),
    F(conversion_rate, CS_DT_F64),
    F(churn_labelled, CS_DT_F64),
    F(churn_rate_observed, CS_DT_F64),
    F(churn_score_mean, CS_DT_F64),
    F(clv_mean, CS_DT_F64),
    F(clv_total, CS_DT_F64),
    F(revenue_at_risk, CS_DT_F64),
    F(roi, CS_DT_F64),
    F(treated, CS_DT_F64),
    F(control, CS_DT_F64),
    F(conversion_rate_treated, CS_DT_F64),
    F(conversion_rate_control, CS_DT_F64),
    F(uplift, CS_DT_F64),
    F(uplift_low, CS_DT_F64),
    F(uplift_high, CS_DT_F64),
    F(incremental_conversions, CS_DT_F64),
    F(incremental_revenue, CS_DT_F64),
    F(incremental_revenue_low, CS_DT_F64),
    F(incremental_revenue_high, CS_DT_F64),
    F(campaign_cost, CS_DT_F64),
    F(incremental_roi, CS_DT_F64),
    F(action, CS_DT_I64),
};
#undef F
const int cs_roi_n_fields = (int)(sizeof cs_roi_fields / sizeof *cs_roi_fields);

/* a / b for a count b; NaN when b is 0. */
static double ratio(double a, int64_t b) { return b > 0 ? a / (double)b : NAN; }

/* Wilson's score interval for x successes out of n (n > 0), within [0, 1]. */
static void wilson(double x, double n, double z, double *lo, double *hi) {
  const double p = x / n, z2 = z * z, den = n + z2;
  const double centre = (x + z2 / 2) / den;
  const double half = z * sqrt(n * p * (1 - p) + z2 / 4) / den;
  *lo = fmax(centre - half, 0.0);
  *hi = fmin(centre + half, 1.0);
}

void cs_roi_newcombe(double x1, double n1, double x2, double n2, double z, double *lo,
                     double *hi) {
  if (!(n1 > 0) || !(n2 > 0)) {
    *lo = *hi = NAN;
    return;
  }
  double l1, u1, l2, u2;
  wilson(x1, n1, z, &l1, &u1);
  wilson(x2, n2, z, &l2, &u2);
  const double p1 = x1 / n1, p2 = x2 / n2, d = p1 - p2;
  *lo = d - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
  *hi = d + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

/* The sample variance of a group from its exact sum of squared deviations from its mean:
 * ss / (n - 1). Squares that are each finite but whose sum overflows leave none, as one
 * square that overflows does (an infinite interval otherwise). */
static double variance(double ss, int64_t n) {
  if (n < 2 || !isfinite(ss)) return NAN;
  return ss / (double)(n - 1);
}

void cs__roi_row(const cs__roi_sums_t *s, const cs__roi_have_t *have, int64_t segment,
                 int64_t n_global, double z, cs_roi_row_t *o) {
  const int64_t *c = s->count;
  const double *x = s->sum;
  o->segment = segment;
  o->customers = c[CS__N];
  o->share = n_global > 0 ? (double)c[CS__N] / (double)n_global : NAN;
  o->revenue_total = have->revenue ? x[CS__REV] : NAN;
  o->revenue_mean = have->revenue ? ratio(x[CS__REV], c[CS__REV_N]) : NAN;
  o->acquisition_cost_total = have->acquisition_cost ? x[CS__ACQ] : NAN;
  o->acquisition_cost_mean = have->acquisition_cost ? ratio(x[CS__ACQ], c[CS__ACQ_N]) : NAN;
  o->marketing_cost_total = have->marketing_cost ? x[CS__MKT] : NAN;
  o->conversions = have->converted ? (double)c[CS__CONV] : NAN;
  o->conversion_rate = have->converted ? ratio((double)c[CS__CONV], c[CS__CONV_N]) : NAN;
  o->churn_labelled = have->churned ? (double)c[CS__LABELLED] : NAN;
  o->churn_rate_observed = have->churned ? ratio((double)c[CS__CHURNED], c[CS__LABELLED]) : NAN;
  o->churn_score_mean = have->churn_score ? ratio(x[CS__SCORE], c[CS__SCORE_N]) : NAN;
  o->clv_mean = have->clv ? ratio(x[CS__CLV], c[CS__CLV_N]) : NAN;
  o->clv_total = have->clv ? x[CS__CLV] : NAN;
  o->revenue_at_risk = have->churn_score && have->clv ? x[CS__RISK] : NAN;
  /* ROI on everything spent on the segment's customers: (revenue - cost) / cost. */
  o->roi = NAN;
  if (have->revenue && (have->acquisition_cost || have->marketing_cost)) {
    const double cost = (have->acquisition_cost ? x[CS__ACQ] : 0.0) +
                        (have->marketing_cost ? x[CS__MKT] : 0.0);
    if (cost > 0) o->roi = (x[CS__REV] - cost) / cost;
  }

  /* The campaign: treated against control customers of the same row. */
  o->treated = o->control = NAN;
  o->conversion_rate_treated = o->conversion_rate_control = NAN;
  o->uplift = o->uplift_low = o->uplift_high = o->incremental_conversions = NAN;
  o->incremental_revenue = o->incremental_revenue_low = o->incremental_revenue_high = NAN;
  o->campaign_cost = o->incremental_roi = NAN;
  o->action = CS_ROI_ACTION_NONE;
  if (!have->treated) return;
  const double nt = (double)c[CS__TREATED];
  o->treated = nt;
  o->control = (double)c[CS__CONTROL];
  if (have->converted) {
    o->conversion_rate_treated = ratio((double)c[CS__CONV_T], c[CS__CONV_N_T]);
    o->conversion_rate_control = ratio((double)c[CS__CONV_C], c[CS__CONV_N_C]);
    o->uplift = o->conversion_rate_treated - o->conversion_rate_control;
    cs_roi_newcombe((double)c[CS__CONV_T], (double)c[CS__CONV_N_T], (double)c[CS__CONV_C],
                    (double)c[CS__CONV_N_C], z, &o->uplift_low, &o->uplift_high);
    o->incremental_conversions = o->uplift * nt;
  }
  if (have->revenue) {
    const double mt = ratio(x[CS__REV_T], c[CS__REV_N_T]), mc = ratio(x[CS__REV_C], c[CS__REV_N_C]);
    const double d = mt - mc;
    const double vt = variance(x[CS__DEV2_T], c[CS__REV_N_T]);
    const double vc = variance(x[CS__DEV2_C], c[CS__REV_N_C]);
    /* A deviation whose square overflows (beyond 1.3e154) leaves no variance to estimate; so
     * do deviations below 1.5e-154 (not 0) whose squares leave it below the normal doubles. */
    const double se2 = vt / (double)c[CS__REV_N_T] + vc / (double)c[CS__REV_N_C];
    const double se = c[CS__DEV2_OVER] || (c[CS__DEV2_TINY] && !(se2 >= DBL_MIN)) ? NAN : sqrt(se2);
    o->incremental_revenue = d * nt;
    o->incremental_revenue_low = (d - z * se) * nt;
    o->incremental_revenue_high = (d + z * se) * nt;
  }
  if (have->marketing_cost)
    o->campaign_cost = (ratio(x[CS__MKT_T], c[CS__MKT_N_T]) - ratio(x[CS__MKT_C], c[CS__MKT_N_C])) * nt;
  if (o->campaign_cost > 0)
    o->incremental_roi = (o->incremental_revenue - o->campaign_cost) / o->campaign_cost;
}

/* The limits of a weighted sum of independent estimates v_r, recovered from the rows' own
 * 95% limits (MOVER, Zou & Donner 2008, the principle of Newcombe's interval itself): the
 * sum less sqrt(sum (w (v_r - low_r))^2), plus sqrt(sum (w (high_r - v_r))^2). */
typedef struct {
  double lo2, hi2;
} mover_t;

static void mover_add(mover_t *m, double w, double v, double lo, double hi) {
  m->lo2 += (w * (v - lo)) * (w * (v - lo));
  m->hi2 += (w * (hi - v)) * (w * (hi - v));
}

/* The campaign's fields whose total is a sum over the rows. */
enum { F_UPLIFT, F_REVENUE, F_COST, N_FIELDS };

/* Why row o (with treated customers) has no estimate of field f, or NULL. */
static const char *no_estimate(const cs_roi_row_t *o, int f) {
  if (!(o->control > 0)) return "has no control customers to compare the treated ones with";
  if (f == F_UPLIFT)
    return isnan(o->uplift) ? (isnan(o->conversion_rate_control)
                                   ? "has no control customer with a known conversion"
                                   : "has no treated customer with a known conversion")
           : isnan(o->uplift_low) || isnan(o->uplift_high) ? "has no interval for its uplift"
                                                            : NULL;
  if (f == F_COST)
    return isnan(o->campaign_cost) ? "has no treated or no control customer with a "
                                     "marketing_cost value"
                                   : NULL;
  return isnan(o->incremental_revenue) || isnan(o->incremental_revenue_low) ||
                 isnan(o->incremental_revenue_high)
             ? "has fewer than 2 treated or 2 control customers with a revenue value (or "
               "revenues more than about 1.3e154 from their group's mean, or all within about "
               "1.5e-154 of it but not equal, or revenue sums left "
               "unknown by an extreme value, warned of above)"
             : NULL;
}

int cs_roi_return_settled(double revenue_low, double revenue_high, double campaign_cost) {
  if (!isfinite(revenue_low) || !isfinite(revenue_high) || !isfinite(campaign_cost)) return 0;
  return revenue_low > campaign_cost || revenue_high < campaign_cost;
}

/* A row in words, for the log. */
static void row_words(const cs_roi_row_t *o, char *buf, size_t size) {
  if (o->segment == CS_ROI_UNSEGMENTED)
    snprintf(buf, size, "the group of customers without a segment");
  else
    snprintf(buf, size, "segment %lld", (long long)o->segment);
}

void cs__roi_campaign_total(const cs_roi_row_t *rows, int64_t n, const cs__roi_have_t *have,
                            cs_roi_row_t *t, char *note, size_t note_size) {
  /* Comparing all treated with all control customers at once would mix the differences
   * between segments into the effect whenever segments are treated in different shares
   * (a targeted campaign): the total is the sum of the rows' effects instead. */
  mover_t up = {0}, rev = {0};
  double conv = 0, rv = 0, cost = 0, nt = 0;
  int64_t bad[N_FIELDS] = {-1, -1, -1}; /* the first row without an estimate of each field */
  const char *why[N_FIELDS] = {NULL, NULL, NULL};
  const int wanted[N_FIELDS] = {have->converted, have->revenue, have->marketing_cost};
  note[0] = '\0';
  for (int64_t r = 0; r < n; r++) nt += rows[r].treated > 0 ? rows[r].treated : 0;
  for (int64_t r = 0; r < n; r++) {
    const cs_roi_row_t *o = &rows[r];
    if (!(o->treated > 0)) continue; /* no treated customer: the campaign added nothing here */
    for (int f = 0; f < N_FIELDS; f++)
      if (bad[f] < 0 && wanted[f] && (why[f] = no_estimate(o, f))) bad[f] = r;
    mover_add(&up, o->treated / nt, o->uplift, o->uplift_low, o->uplift_high);
    mover_add(&rev, 1.0, o->incremental_revenue, o->incremental_revenue_low,
              o->incremental_revenue_high);
    conv += o->incremental_conversions;
    rv += o->incremental_revenue;
    cost += o->campaign_cost;
  }
  if (!(nt > 0)) { /* no treated customer at all: the total's own values (NaN) stand */
    if (have->treated)
      snprintf(note, note_size, "the campaign's effect is unknown (NaN) in every row: no "
               "customer is treated (treated = 1)");
    return;
  }
  /* A field stays NaN where its input column is absent (the total's own formula says so). */
  if (!isnan(t->uplift)) { /* the n_t-weighted mean of the rows' uplifts */
    t->incremental_conversions = conv;
    t->uplift = conv / nt;
    t->uplift_low = t->uplift - sqrt(up.lo2);
    t->uplift_high = t->uplift + sqrt(up.hi2);
  }
  if (!isnan(t->incremental_revenue)) {
    t->incremental_revenue = rv;
    t->incremental_revenue_low = rv - sqrt(rev.lo2);
    t->incremental_revenue_high = rv + sqrt(rev.hi2);
  }
  if (!isnan(t->campaign_cost)) t->campaign_cost = cost;
  /* A row without an estimate or limits of a field leaves the total's field unknown: a sum
   * without that row's part, or without its spread, would pass for the campaign's. */
  if (bad[F_UPLIFT] >= 0)
    t->uplift = t->uplift_low = t->uplift_high = t->incremental_conversions = NAN;
  if (bad[F_REVENUE] >= 0)
    t->incremental_revenue = t->incremental_revenue_low = t->incremental_revenue_high = NAN;
  if (bad[F_COST] >= 0) t->campaign_cost = NAN;
  t->incremental_roi = t->campaign_cost > 0
                           ? (t->incremental_revenue - t->campaign_cost) / t->campaign_cost
                           : NAN;
  /* Why a total is NaN, in words for the log. */
  if (!(t->control > 0)) {
    snprintf(note, note_size, "the campaign's total effect is unknown (NaN): no customer is in "
             "the control group");
    return;
  }
  /* One clause per distinct (row, reason), naming the fields it leaves unknown. */
  static const char *const field[N_FIELDS] = {"uplift", "incremental revenue", "campaign cost"};
  size_t o = 0;
  for (int f = 0; f < N_FIELDS && o < note_size; f++) {
    int done = bad[f] < 0;
    for (int g = 0; g < f && !done; g++) done = bad[g] == bad[f] && why[g] == why[f];
    if (done) continue;
    char row[64], names[96] = "";
    row_words(&rows[bad[f]], row, sizeof row);
    int nf = 0;
    for (int g = f; g < N_FIELDS; g++)
      if (bad[g] == bad[f] && why[g] == why[f]) nf++;
    for (int g = f, i = 0; g < N_FIELDS; g++)
      if (bad[g] == bad[f] && why[g] == why[f]) {
        const size_t u = strlen(names);
        snprintf(names + u, sizeof names - u, "%s%s", i == 0 ? "" : i == nf - 1 ? " and " : ", ",
                 field[g]);
        i++;
      }
    o += (size_t)snprintf(note + o, note_size - o, "%sthe campaign's total %s %s unknown (NaN): "
                          "%s %s", o ? "; " : "", names, nf > 1 ? "are" : "is", row, why[f]);
  }
}

/* The rules of docs/roi.md, "Recommended action", first match wins. NaN compares false. */
int64_t cs__roi_action(const cs_roi_row_t *o, const cs_roi_row_t *t, const cs__roi_have_t *have) {
  const double value = have->clv ? o->clv_mean : o->revenue_mean;
  const double value_t = have->clv ? t->clv_mean : t->revenue_mean;
  const double risk = have->churn_score ? o->churn_score_mean : o->churn_rate_observed;
  const double risk_t = have->churn_score ? t->churn_score_mean : t->churn_rate_observed;
  const int responds = o->uplift_low > 0;
  /* Not responding needs a measured uplift: without campaign data (no treated column, or no
   * treated or no control customers) it is unknown, and a segment of low value that is not
   * likely to leave is no one to drop (it had been 'deprioritize', loyal customers too). */
  const int unresponsive = o->uplift_low <= 0;
  /* A negative campaign cost is suspect data (cs__roi_cost_note): no advice to grow on it. */
  if (responds && o->campaign_cost >= 0 && o->incremental_revenue_low > o->campaign_cost)
    return CS_ROI_GROW;
  /* No customers, or a value not known: no advice rather than "maintain" by default. */
  if (!(o->customers > 0) || isnan(value) || isnan(value_t)) return CS_ROI_ACTION_NONE;
  if (risk > risk_t && value >= value_t) return CS_ROI_RETAIN;
  if (value < value_t && (risk > risk_t || unresponsive)) return CS_ROI_DEPRIORITIZE;
  return CS_ROI_MAINTAIN;
}

void cs__roi_cost_note(const cs_roi_row_t *rows, int64_t n, char *note, size_t note_size) {
  int64_t first = -1, count = 0;
  note[0] = '\0';
  for (int64_t r = 0; r < n; r++)
    if (rows[r].campaign_cost < 0 && count++ == 0) first = r;
  if (!count) return;
  char row[64];
  row_words(&rows[first], row, sizeof row);
  int o = snprintf(note, note_size, "the campaign cost of %s is negative (%.2f: its treated "
                   "customers cost less marketing_cost than its control customers), so its "
                   "incremental_roi is NaN", row, rows[first].campaign_cost);
  if (count > 1 && o >= 0 && (size_t)o < note_size)
    snprintf(note + o, note_size - (size_t)o, "; %lld rows in all have a negative campaign cost",
             (long long)count);
}

void cs__roi_value_note(const cs_roi_row_t *total, const cs__roi_have_t *have,
                        const double largest[2], char *note, size_t note_size) {
  note[0] = '\0';
  const int clv = have->clv;
  const double sum = clv ? total->clv_total : total->revenue_total, top = largest[clv];
  if (!(total->customers >= CS__ROI_ONE_MIN && sum > 0 && top >= CS__ROI_ONE_SHARE * sum)) return;
  const char *what = clv ? "CLV" : "revenue";
  snprintf(note, note_size, "one customer's %s (%.6g) is %.1f%% of all customers' (%.6g): the "
           "recommended actions compare each segment's mean %s with the store's mean, which "
           "this one value moves; check it (an entry error, a test account?) before acting on "
           "the actions", what, top, 100.0 * top / sum, sum, what);
}
