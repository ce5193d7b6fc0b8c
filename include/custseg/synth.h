/* synth: the synthetic population generator behind `custseg generate`.
 *
 * Customers are drawn from K hidden segments with distinct marketing profiles; churn comes
 * from a known logistic model of the generated columns, conversion from a known per-segment
 * base rate plus a campaign effect for treated customers. Every draw is keyed by
 * (seed, global row) through the counter-based generator, so a row's values do not depend on
 * which rank or thread produced it and the file is identical for any decomposition. */
#ifndef CUSTSEG_SYNTH_H
#define CUSTSEG_SYNTH_H

#include "custseg/core.h"
#include "custseg/par.h"

typedef struct cs_synth_opts {
  int64_t customers;       /* N */
  int segments;            /* hidden segments K (1..64) */
  uint64_t seed;
  int64_t id_base;         /* customer_id of row 0; ids are id_base + row */
  double missing_rate;     /* fraction of income and email_open_rate set to NaN */
  double unlabelled_rate;  /* fraction of churned set to -1 (unknown) */
  int64_t chunk_rows;      /* rows per rank per write (memory bound) */
  int transactions;        /* also write /transactions (BG/NBD + Gamma-Gamma histories) */
  int txn_uniform;         /* every segment shares the base purchase parameters */
} cs_synth_opts_t;

/* Generated columns: their dataset path, stored type and meaning (docs/format.md). */
enum cs_synth_col {
  CS_SC_CUSTOMER_ID, CS_SC_AGE, CS_SC_INCOME, CS_SC_HOUSEHOLD, CS_SC_REGION, CS_SC_URBAN,
  CS_SC_TENURE, CS_SC_RECENCY, CS_SC_FREQUENCY, CS_SC_MONETARY, CS_SC_EMAIL_OPEN,
  CS_SC_WEB_VISITS, CS_SC_SUPPORT, CS_SC_DISCOUNT, CS_SC_CHURNED, CS_SC_REVENUE,
  CS_SC_MARKETING_COST, CS_SC_ACQUISITION_COST, CS_SC_TREATED, CS_SC_CONVERTED,
  CS_SC_TRUTH_SEGMENT, CS_SC_TRUTH_CHURN_P, CS_SC_TRUTH_CONVERSION_P,
  CS_SC_N
};

typedef struct cs_synth_coldef {
  const char *path;   /* "/customers/age" */
  cs_dtype_t type;
  const char *unit;   /* attribute "units" */
} cs_synth_coldef_t;

extern const cs_synth_coldef_t cs_synth_columns[CS_SC_N];

#define CS_SYNTH_MAX_SEGMENTS 64
#define CS_SYNTH_REGIONS 5
#define CS_SYNTH_CHURN_TERMS 6

typedef struct cs_synth_segment {
  char name[48];
  double weight;
  double age_mu, age_sd, income_median, household_extra, urban, tenure_mean, recency_mean;
  double frequency_mean, monetary_mean, email_open, web_visits, support, discount;
  double region_p[CS_SYNTH_REGIONS];
  double conv_base, conv_uplift, cac_mean, contact_cost;
} cs_synth_segment_t;

typedef struct cs_synth_model {
  cs_synth_opts_t opts;
  int k;
  cs_synth_segment_t seg[CS_SYNTH_MAX_SEGMENTS];
  double weight_cum[CS_SYNTH_MAX_SEGMENTS];
  double churn_intercept;
  double churn_coef[CS_SYNTH_CHURN_TERMS];     /* per unit of the raw column */
  int churn_col[CS_SYNTH_CHURN_TERMS];         /* enum cs_synth_col */
} cs_synth_model_t;

extern const char *const cs_synth_region_names[CS_SYNTH_REGIONS];

/* Check options and build the model (profiles, weights, churn coefficients). Local. */
int cs_synth_model_init(const cs_synth_opts_t *opts, cs_synth_model_t *m);
/* The hidden segment of global row `row`. Local, pure. */
int cs_synth_segment_of(const cs_synth_model_t *m, int64_t row);
/* All generated values of global row `row`, indexed by enum cs_synth_col. Local, pure. */
void cs_synth_row(const cs_synth_model_t *m, int64_t row, double out[CS_SC_N]);
/* ---- purchase histories (synth/txn.c) ---- */
/* First purchases fall in [CS_SYNTH_TXN_START, + CS_SYNTH_TXN_COHORT_DAYS); the history is
 * observed up to CS_SYNTH_TXN_START + CS_SYNTH_TXN_DAYS (exclusive). */
#define CS_SYNTH_TXN_START 19723 /* 2024-01-01 */
#define CS_SYNTH_TXN_COHORT_DAYS 84
#define CS_SYNTH_TXN_DAYS 546     /* 78 weeks */
/* Purchase parameters of segment k, in weeks: r, alpha, a, b (BG/NBD), p, q, gamma
 * (Gamma-Gamma). */
void cs_synth_txn_params(const cs_synth_model_t *m, int k, double par[7]);
/* Write /customers/txn_offset, /transactions and the purchase truth into `out` (created
 * by cs_synth_generate), each rank its rows, chunk by chunk. Collective. */
struct cs_out;
int cs_synth_write_txn(cs_ctx_t *ctx, struct cs_out *out, const cs_synth_model_t *m,
                       const cs_part_t *part);
/* Write the store to `output` (atomically) in parallel, each rank its own rows. Collective. */
int cs_synth_generate(cs_ctx_t *ctx, const cs_synth_opts_t *opts, const char *output);

#endif
