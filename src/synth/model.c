/* synth/model.c: segment profiles, the churn and campaign models, and one row's draws.
 *
 * Eight archetypes (loosely the seeds' persona examples) give K <= 8 distinct segments; for
 * K > 8 archetype k mod 8 is perturbed with draws keyed by (seed, k), so every K is legal and
 * still reproducible. Churn is a logistic model linear in the raw generated columns, so a
 * model fitted on standardized columns can recover it exactly (the truth is stored). */
#include "custseg/synth.h"

#include "custseg/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const cs_synth_region_names[CS_SYNTH_REGIONS] = {"north", "south", "east", "west",
                                                             "central"};

const cs_synth_coldef_t cs_synth_columns[CS_SC_N] = {
    [CS_SC_CUSTOMER_ID] = {"/customers/customer_id", CS_DT_I64, "id"},
    [CS_SC_AGE] = {"/customers/age", CS_DT_I16, "years"},
    [CS_SC_INCOME] = {"/customers/income", CS_DT_F64, "currency per year"},
    [CS_SC_HOUSEHOLD] = {"/customers/household_size", CS_DT_U8, "persons"},
    [CS_SC_REGION] = {"/customers/region", CS_DT_I8, "category"},
    [CS_SC_URBAN] = {"/customers/urban", CS_DT_U8, "0/1"},
    [CS_SC_TENURE] = {"/customers/tenure_months", CS_DT_I32, "months"},
    [CS_SC_RECENCY] = {"/customers/recency_days", CS_DT_I32, "days since last purchase"},
    [CS_SC_FREQUENCY] = {"/customers/frequency", CS_DT_I32, "purchases in the last 12 months"},
    [CS_SC_MONETARY] = {"/customers/monetary", CS_DT_F64, "currency per purchase"},
    [CS_SC_EMAIL_OPEN] = {"/customers/email_open_rate", CS_DT_F32, "fraction"},
    [CS_SC_WEB_VISITS] = {"/customers/web_visits", CS_DT_I32, "visits per month"},
    [CS_SC_SUPPORT] = {"/customers/support_tickets", CS_DT_I16, "tickets per year"},
    [CS_SC_DISCOUNT] = {"/customers/discount_usage", CS_DT_F32, "fraction of orders"},
    [CS_SC_CHURNED] = {"/customers/churned", CS_DT_I8, "0/1, -1 unknown"},
    [CS_SC_REVENUE] = {"/customers/revenue", CS_DT_F64, "currency, last 12 months"},
    [CS_SC_MARKETING_COST] = {"/customers/marketing_cost", CS_DT_F64, "currency"},
    [CS_SC_ACQUISITION_COST] = {"/customers/acquisition_cost", CS_DT_F64, "currency"},
    [CS_SC_TREATED] = {"/customers/treated", CS_DT_U8, "0/1"},
    [CS_SC_CONVERTED] = {"/customers/converted", CS_DT_U8, "0/1"},
    [CS_SC_TRUTH_SEGMENT] = {"/truth/segment", CS_DT_I32, "segment index"},
    [CS_SC_TRUTH_CHURN_P] = {"/truth/churn_probability", CS_DT_F64, "probability"},
    [CS_SC_TRUTH_CONVERSION_P] = {"/truth/conversion_probability", CS_DT_F64, "probability"},
};

/* name, weight, age mu/sd, income median, household extra, urban, tenure, recency, frequency,
 * monetary, email open, web visits, support, discount, home region, conversion base, uplift,
 * CAC, contact cost */
static const struct {
  const char *name;
  double w, age_mu, age_sd, income, hh, urban, tenure, recency, freq, monetary, open, web,
      support, discount;
  int home;
  double conv, uplift, cac, contact;
} archetypes[8] = {
    {"loyal high-value", .10, 48, 10, 85000, 1.5, .60, 70, 12, 24, 95, .55, 12, .6, .10, 0, .12, .03, 120, 6},
    {"bargain hunters", .20, 38, 12, 45000, 2.0, .50, 30, 25, 14, 28, .35, 15, .8, .70, 1, .08, .10, 40, 3},
    {"new urban digital", .18, 27, 5, 52000, .4, .90, 5, 15, 6, 45, .25, 25, .4, .30, 2, .06, .07, 60, 4},
    {"at-risk", .15, 44, 14, 60000, 1.2, .50, 36, 120, 3, 55, .08, 2, 2.5, .25, 3, .02, .05, 80, 5},
    {"dormant", .12, 52, 15, 40000, 1.0, .35, 48, 300, 1, 35, .04, .5, .3, .15, 4, .01, .005, 70, 4},
    {"families mainstream", .15, 41, 7, 70000, 2.8, .40, 40, 30, 12, 65, .30, 6, 1.0, .35, 0, .07, .04, 90, 5},
    {"premium seniors", .06, 68, 7, 95000, .7, .30, 90, 20, 10, 140, .45, 3, .7, .05, 1, .10, .02, 150, 7},
    {"students", .04, 21, 2, 18000, .3, .80, 10, 40, 5, 18, .20, 20, .3, .55, 2, .05, .06, 25, 2},
};

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }
static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }
static double logit(double p) { return log(p / (1.0 - p)); }

int cs_synth_model_init(const cs_synth_opts_t *o, cs_synth_model_t *m) {
  int status = CS_OK;
  memset(m, 0, sizeof *m);
  CS_CHECK(o->customers >= 0, CS_EUSAGE, "--customers must be >= 0, got %lld",
           (long long)o->customers);
  CS_CHECK(o->segments >= 1 && o->segments <= CS_SYNTH_MAX_SEGMENTS, CS_EUSAGE,
           "--segments must be in 1..%d, got %d", CS_SYNTH_MAX_SEGMENTS, o->segments);
  CS_CHECK(o->missing_rate >= 0 && o->missing_rate < 1, CS_EUSAGE,
           "--missing-rate must be in [0, 1), got %g", o->missing_rate);
  CS_CHECK(o->unlabelled_rate >= 0 && o->unlabelled_rate < 1, CS_EUSAGE,
           "--unlabelled-rate must be in [0, 1), got %g", o->unlabelled_rate);
  CS_CHECK(o->id_base >= 0 && o->id_base < ((int64_t)1 << 53) &&
               o->customers < ((int64_t)1 << 53) - o->id_base, CS_EUSAGE,
           "--id-base %lld + --customers %lld must stay below 2^53", (long long)o->id_base,
           (long long)o->customers);
  CS_CHECK(o->chunk_rows >= 1, CS_EUSAGE, "--chunk-rows must be >= 1, got %lld",
           (long long)o->chunk_rows);
  m->opts = *o;
  m->k = o->segments;
  double wsum = 0;
  for (int k = 0; k < m->k; k++) {
    cs_synth_segment_t *s = &m->seg[k];
    int a = k % 8;
    if (k < 8)
      snprintf(s->name, sizeof s->name, "%s", archetypes[a].name);
    else
      snprintf(s->name, sizeof s->name, "%s #%d", archetypes[a].name, k / 8 + 1);
    s->weight = archetypes[a].w;
    s->age_mu = archetypes[a].age_mu;
    s->age_sd = archetypes[a].age_sd;
    s->income_median = archetypes[a].income;
    s->household_extra = archetypes[a].hh;
    s->urban = archetypes[a].urban;
    s->tenure_mean = archetypes[a].tenure;
    s->recency_mean = archetypes[a].recency;
    s->frequency_mean = archetypes[a].freq;
    s->monetary_mean = archetypes[a].monetary;
    s->email_open = archetypes[a].open;
    s->web_visits = archetypes[a].web;
    s->support = archetypes[a].support;
    s->discount = archetypes[a].discount;
    s->conv_base = archetypes[a].conv;
    s->conv_uplift = archetypes[a].uplift;
    s->cac_mean = archetypes[a].cac;
    s->contact_cost = archetypes[a].contact;
    for (int r = 0; r < CS_SYNTH_REGIONS; r++)
      s->region_p[r] = r == archetypes[a].home ? 0.4 : 0.15;
    if (k >= 8) {
      /* Variants: every scale parameter moved by a log-normal factor keyed by (seed, k). */
      cs_rng_t g;
      cs_rng_init(&g, o->seed, 0x5E6u, (uint64_t)k);
      double *scale[] = {&s->weight, &s->income_median, &s->household_extra, &s->tenure_mean,
                         &s->recency_mean, &s->frequency_mean, &s->monetary_mean,
                         &s->web_visits, &s->support, &s->cac_mean, &s->contact_cost};
      for (size_t i = 0; i < sizeof scale / sizeof *scale; i++)
        *scale[i] *= exp(0.35 * cs_rng_normal(&g));
      s->age_mu = clampd(s->age_mu + 6.0 * cs_rng_normal(&g), 20, 80);
      s->urban = clampd(s->urban + 0.15 * cs_rng_normal(&g), 0.05, 0.95);
      s->email_open = clampd(s->email_open * exp(0.3 * cs_rng_normal(&g)), 0.02, 0.9);
      s->discount = clampd(s->discount * exp(0.3 * cs_rng_normal(&g)), 0.02, 0.9);
    }
    wsum += s->weight;
  }
  double c = 0;
  for (int k = 0; k < m->k; k++) {
    m->seg[k].weight /= wsum;
    c += m->seg[k].weight;
    m->weight_cum[k] = c;
  }
  m->weight_cum[m->k - 1] = 1.0;

  /* Churn: logit p = b0 + sum b_j x_j over raw columns (units as stored). */
  static const int cols[CS_SYNTH_CHURN_TERMS] = {CS_SC_RECENCY, CS_SC_TENURE, CS_SC_FREQUENCY,
                                                 CS_SC_SUPPORT, CS_SC_EMAIL_OPEN, CS_SC_DISCOUNT};
  static const double coef[CS_SYNTH_CHURN_TERMS] = {0.008, -0.015, -0.04, 0.35, -1.5, 0.8};
  m->churn_intercept = -1.0;
  for (int j = 0; j < CS_SYNTH_CHURN_TERMS; j++) {
    m->churn_col[j] = cols[j];
    m->churn_coef[j] = coef[j];
  }
fail:
  return status;
}

/* The hidden segment is the first draw of the row's stream. */
static int draw_segment(const cs_synth_model_t *m, cs_rng_t *g) {
  double u = cs_rng_uniform(g);
  int k = 0;
  while (k < m->k - 1 && u >= m->weight_cum[k]) k++;
  return k;
}

int cs_synth_segment_of(const cs_synth_model_t *m, int64_t row) {
  cs_rng_t g;
  cs_rng_init(&g, m->opts.seed, 1u, (uint64_t)row);
  return draw_segment(m, &g);
}

void cs_synth_row(const cs_synth_model_t *m, int64_t row, double v[CS_SC_N]) {
  cs_rng_t g;
  cs_rng_init(&g, m->opts.seed, 1u, (uint64_t)row);
  int k = draw_segment(m, &g);
  const cs_synth_segment_t *s = &m->seg[k];

  v[CS_SC_CUSTOMER_ID] = (double)(m->opts.id_base + row);
  v[CS_SC_AGE] = round(clampd(s->age_mu + s->age_sd * cs_rng_normal(&g), 18, 95));
  v[CS_SC_INCOME] = round(s->income_median * exp(0.25 * cs_rng_normal(&g)));
  v[CS_SC_HOUSEHOLD] = (double)(1 + cs_rng_poisson(&g, s->household_extra));
  if (v[CS_SC_HOUSEHOLD] > 9) v[CS_SC_HOUSEHOLD] = 9;
  double ur = cs_rng_uniform(&g), acc = 0;
  int region = CS_SYNTH_REGIONS - 1;
  for (int r = 0; r < CS_SYNTH_REGIONS; r++) {
    acc += s->region_p[r];
    if (ur < acc) {
      region = r;
      break;
    }
  }
  v[CS_SC_REGION] = region;
  v[CS_SC_URBAN] = cs_rng_bernoulli(&g, s->urban);
  /* Tenure and recency: gamma around the segment's mean (coefficient of variation 0.4). */
  v[CS_SC_TENURE] = floor(1.0 + (s->tenure_mean - 1.0) * cs_rng_gamma(&g, 6.0) / 6.0);
  v[CS_SC_RECENCY] = floor(s->recency_mean * cs_rng_gamma(&g, 6.0) / 6.0);
  v[CS_SC_FREQUENCY] = (double)cs_rng_poisson(&g, s->frequency_mean);
  v[CS_SC_MONETARY] = round(100.0 * s->monetary_mean * exp(0.25 * cs_rng_normal(&g) - 0.03)) / 100.0;
  v[CS_SC_EMAIL_OPEN] = (float)sigmoid(logit(s->email_open) + 0.35 * cs_rng_normal(&g));
  v[CS_SC_WEB_VISITS] = (double)cs_rng_poisson(&g, s->web_visits);
  v[CS_SC_SUPPORT] = (double)cs_rng_poisson(&g, s->support);
  v[CS_SC_DISCOUNT] = (float)sigmoid(logit(s->discount) + 0.35 * cs_rng_normal(&g));

  double z = m->churn_intercept;
  for (int j = 0; j < CS_SYNTH_CHURN_TERMS; j++) z += m->churn_coef[j] * v[m->churn_col[j]];
  double pchurn = sigmoid(z);
  v[CS_SC_TRUTH_CHURN_P] = pchurn;
  int churned = cs_rng_bernoulli(&g, pchurn);
  v[CS_SC_CHURNED] = cs_rng_bernoulli(&g, m->opts.unlabelled_rate) ? -1 : churned;

  v[CS_SC_REVENUE] = round(100.0 * v[CS_SC_FREQUENCY] * v[CS_SC_MONETARY]) / 100.0;
  v[CS_SC_ACQUISITION_COST] = round(100.0 * s->cac_mean * exp(0.3 * cs_rng_normal(&g) - 0.045)) / 100.0;
  int treated = cs_rng_bernoulli(&g, 0.5);
  v[CS_SC_TREATED] = treated;
  v[CS_SC_MARKETING_COST] = treated ? round(100.0 * s->contact_cost * (0.8 + 0.4 * cs_rng_uniform(&g))) / 100.0
                                    : 0.5;
  double pconv = clampd(s->conv_base + (treated ? s->conv_uplift : 0.0), 0.0, 1.0);
  v[CS_SC_TRUTH_CONVERSION_P] = pconv;
  v[CS_SC_CONVERTED] = cs_rng_bernoulli(&g, pconv);
  v[CS_SC_TRUTH_SEGMENT] = k;

  /* Missing values last, from their own stream, so the rate does not move any other draw. */
  if (m->opts.missing_rate > 0) {
    cs_rng_t h;
    cs_rng_init(&h, m->opts.seed, 2u, (uint64_t)row);
    if (cs_rng_uniform(&h) < m->opts.missing_rate) v[CS_SC_INCOME] = NAN;
    if (cs_rng_uniform(&h) < m->opts.missing_rate) v[CS_SC_EMAIL_OPEN] = NAN;
  }
}
