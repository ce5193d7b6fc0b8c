/* roi: the per-segment ROI table and its formulas (docs/roi.md).
 *
 * Input: each rank's customers with their segment and whatever the store and the earlier
 * stages provide (revenue, costs, conversion, treatment, churn labels, churn scores, CLV).
 * Every total is an exact sum: each value becomes a 128-bit integer on a grid 2^-s chosen
 * from global bounds so that, as long as the data's bits fit in 126 bits, the grid holds
 * every value exactly; the integers are added per thread, per rank and across ranks
 * (cs_par_sum_i128_n) and rounded to double once. A total is then the correctly rounded
 * exact sum of the column (what Python's math.fsum returns), the same bits on any ranks and
 * threads. Means, rates, intervals and ROI are derived from those totals in a fixed order on
 * every rank. Trade-off: 128-bit additions per value instead of the int64 block sums of
 * cs_fixacc_t, for a grid fine enough to keep the last bit of every value.
 *
 * The command (src/cli/cmd_roi.c) reads the inputs through io and writes /roi, the CSV and
 * the Markdown; this module does no HDF5 and no MPI of its own (reductions go through par). */
#ifndef CUSTSEG_ROI_H
#define CUSTSEG_ROI_H

#include "custseg/io.h"

#include <stdio.h>

/* Inputs of one rank: n customers in input row order. An absent column is NULL. */
typedef struct cs_roi_input {
  int64_t n;                  /* this rank's customers */
  int64_t offset;             /* global row of the first one */
  int64_t n_global;           /* customers in the store */
  int k;                      /* segments (rows 0 .. k-1) */
  const int64_t *segment;     /* n: 0 .. k-1, or -1 for a customer without a segment */
  const char *segment_source; /* where the segments come from, for messages */
  const double *revenue;      /* n or NULL; NaN and +-inf are missing values */
  const double *marketing_cost;
  const double *acquisition_cost;
  const int8_t *converted;    /* n or NULL: 1, 0, or -1 unknown */
  const int8_t *treated;      /* n or NULL: 1 treated, 0 control, -1 unknown */
  const int8_t *churned;      /* n or NULL: 1, 0, or -1 unknown */
  const double *churn_score;  /* n or NULL (no --churn-results); NaN: no score */
  const double *clv;          /* n or NULL (no --clv-results); NaN: no value */
} cs_roi_input_t;

/* Recommended actions (docs/roi.md, "Recommended action"); the code is the index into
 * cs_roi_action_names. CS_ROI_ACTION_NONE for the total and unsegmented rows, and for a
 * segment without customers or whose value is not known. */
enum { CS_ROI_RETAIN = 0, CS_ROI_GROW = 1, CS_ROI_MAINTAIN = 2, CS_ROI_DEPRIORITIZE = 3,
       CS_ROI_ACTIONS = 4, CS_ROI_ACTION_NONE = -1 };
extern const char *const cs_roi_action_names[CS_ROI_ACTIONS];

/* The segment column of the two special rows. */
#define CS_ROI_TOTAL (-1)
#define CS_ROI_UNSEGMENTED (-2)

/* One row of /roi/table (an HDF5 compound of these fields, in this order, and the CSV's
 * columns). Counts that depend on an optional column are float64 so they can be NaN. */
typedef struct cs_roi_row {
  int64_t segment;   /* 0 .. k-1; CS_ROI_UNSEGMENTED; CS_ROI_TOTAL (last row) */
  int64_t customers;
  double share;
  double revenue_total, revenue_mean;
  double acquisition_cost_total, acquisition_cost_mean; /* the mean is the CAC */
  double marketing_cost_total;
  double conversions, conversion_rate;
  double churn_labelled, churn_rate_observed, churn_score_mean;
  double clv_mean, clv_total, revenue_at_risk;
  double roi;
  /* the campaign (store with `treated`) */
  double treated, control;
  double conversion_rate_treated, conversion_rate_control;
  double uplift, uplift_low, uplift_high;
  double incremental_conversions;
  double incremental_revenue, incremental_revenue_low, incremental_revenue_high;
  double campaign_cost, incremental_roi;
  int64_t action;    /* CS_ROI_RETAIN ... or CS_ROI_ACTION_NONE */
} cs_roi_row_t;

/* The table's fields, for io's compound writer and the CSV. */
extern const cs_out_field_t cs_roi_fields[];
extern const int cs_roi_n_fields;

/* The summed quantities, each on its own grid. */
/* revenue_deviation_squared: (revenue - its arm's mean in the row)^2, for the variances. */
enum { CS_ROI_Q_REVENUE, CS_ROI_Q_REVENUE_DEV2, CS_ROI_Q_MARKETING_COST,
       CS_ROI_Q_ACQUISITION_COST, CS_ROI_Q_CHURN_SCORE, CS_ROI_Q_CLV, CS_ROI_Q_RISK, CS_ROI_NQ };
extern const char *const cs_roi_quantity_names[CS_ROI_NQ];

typedef struct cs_roi_grid {
  int exponent; /* values are summed as integers trunc(x * 2^exponent) */
  int exact;    /* 1 when every value is an integer on that grid (the sum is exact) */
  int64_t unknown; /* row sums that truncation on the grid leaves unknown, given as NaN */
  int64_t overflow; /* row sums beyond the largest double, given as NaN */
} cs_roi_grid_t;

typedef struct cs_roi {
  int k;
  int64_t rows;           /* k segment rows, the unsegmented row when any, the total row */
  cs_roi_row_t *row;      /* rows entries; the last one is the total */
  int64_t unsegmented;    /* customers with segment -1 */
  cs_roi_grid_t grid[CS_ROI_NQ];
  double z;               /* the normal quantile of the 95% intervals */
  char campaign_note[1024]; /* why the total's campaign effect is NaN (docs/roi.md), or "" */
  char cost_note[512];     /* the rows whose campaign cost is negative, or "" */
  char value_note[512];    /* one customer's value that moves the store's mean, or "" */
} cs_roi_t;

/* Compute the table. Checks the input (segment codes in -1 .. k-1) and verifies the result:
 * every sum and count of the total row, accumulated over all customers, equals the sum of
 * the segment rows (and the unsegmented row), and the total row has n_global customers;
 * failing that is CS_EVERIFY. Collective; on failure *r is left empty. */
int cs_roi_compute(cs_ctx_t *ctx, const cs_roi_input_t *in, cs_roi_t *r);
void cs_roi_free(cs_roi_t *r);

/* The 95% Newcombe hybrid score interval (method 10 of Newcombe 1998, from Wilson score
 * intervals) for p1 - p2 with p1 = x1/n1, p2 = x2/n2, with normal quantile z. NaN when n1 or
 * n2 is 0. Local. */
void cs_roi_newcombe(double x1, double n1, double x2, double n2, double z, double *lo,
                     double *hi);

/* Whether a row's incremental ROI is settled: its incremental revenue's 95% limits are known
 * and both lie on one side of the campaign cost (low > cost: the campaign paid for itself,
 * high < cost: it did not). An interval that holds 0 but not the cost settles it as well; one
 * that holds the cost, or none, leaves the return open however large the point value. The
 * report and the Markdown table mark an unsettled incremental ROI with a dagger. Local. */
int cs_roi_return_settled(double revenue_low, double revenue_high, double campaign_cost);

/* The table as CSV (a header line of the field names, one line per row; the action as its
 * name, empty for the total row; NaN as "nan") and as Markdown (a title naming the store
 * path as a code span, a KPI table and a campaign table). Local; return 0 or -1 on a write
 * error. */
int cs_roi_write_csv(FILE *f, const cs_roi_t *r);
int cs_roi_write_markdown(FILE *f, const cs_roi_t *r, const char *store);

#endif
