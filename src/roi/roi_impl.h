/* roi/roi_impl.h: what sums.c (the exact per-segment sums) hands to table.c (the formulas).
 * Private to src/roi. */
#ifndef CUSTSEG_ROI_IMPL_H
#define CUSTSEG_ROI_IMPL_H

#include "custseg/roi.h"

/* The per-row slots. Counts first, then the fixed-point sums (each with the grid of its
 * quantity, cs__roi_slot_quantity). _T: treated customers, _C: control customers. */
enum {
  /* counts */
  CS__N,                                   /* customers */
  CS__REV_N, CS__REV_N_T, CS__REV_N_C,     /* customers with a revenue value */
  CS__MKT_N, CS__MKT_N_T, CS__MKT_N_C,     /* ... with a marketing cost */
  CS__ACQ_N,                               /* ... with an acquisition cost */
  CS__CONV_N, CS__CONV,                    /* known conversion (0/1), converted (1) */
  CS__CONV_N_T, CS__CONV_T, CS__CONV_N_C, CS__CONV_C,
  CS__TREATED, CS__CONTROL,                /* treated = 1, treated = 0 */
  CS__LABELLED, CS__CHURNED,               /* churned 0/1, churned 1 */
  CS__SCORE_N, CS__CLV_N, CS__RISK_N,      /* with a churn score, a CLV, both */
  CS__DEV2_OVER,  /* treated/control revenues whose squared deviation from the mean overflows */
  CS__DEV2_TINY,  /* ... whose deviation is not 0 but its square not a normal double */
  CS__COUNTS,
  /* fixed-point sums */
  CS__REV = CS__COUNTS, CS__REV_T, CS__REV_C,
  CS__DEV2_T, CS__DEV2_C, /* sum of (revenue - the arm's mean revenue in the row)^2 */
  CS__MKT, CS__MKT_T, CS__MKT_C,
  CS__ACQ,
  CS__SCORE, CS__CLV, CS__RISK,
  CS__SLOTS
};

/* The quantity (CS_ROI_Q_...) whose grid a sum slot uses. */
int cs__roi_slot_quantity(int slot);

/* Reduced sums of one row: counts exactly, sums rounded once from the exact integers. */
typedef struct cs__roi_sums {
  int64_t count[CS__COUNTS];
  double sum[CS__SLOTS]; /* indices CS__COUNTS .. CS__SLOTS-1 are used */
} cs__roi_sums_t;

/* Which inputs exist (a column of the store or a results file). */
typedef struct cs__roi_have {
  int revenue, marketing_cost, acquisition_cost, converted, treated, churned, churn_score, clv;
} cs__roi_have_t;

/* table.c: fill row `out` (segment code `segment`) from its sums and the total's. Local. */
void cs__roi_row(const cs__roi_sums_t *s, const cs__roi_have_t *have, int64_t segment,
                 int64_t n_global, double z, cs_roi_row_t *out);
/* table.c: the recommended action of a segment row against the total row. Local. */
/* The total row's campaign effect from the other rows (rows[0 .. n-1]), stratified by row.
 * A row with treated customers but no estimate of its own makes the total's NaN: `note` then
 * says which row and why (else ""). Local. */
void cs__roi_campaign_total(const cs_roi_row_t *rows, int64_t n, const cs__roi_have_t *have,
                            cs_roi_row_t *total, char *note, size_t note_size);
/* Name in `note` the first of the n rows whose campaign cost is negative (control customers
 * cost more than treated ones: the incremental ROI is NaN), and how many there are; "" when
 * none. */
void cs__roi_cost_note(const cs_roi_row_t *rows, int64_t n, char *note, size_t note_size);
/* When the actions' value column (CLV when present, else revenue) has one customer's value
 * `largest` of at least CS__ROI_ONE_SHARE of the total row's sum, over at least
 * CS__ROI_ONE_MIN customers, say in `note` that it moves the mean every segment is compared
 * with; "" otherwise. Local. */
#define CS__ROI_ONE_SHARE 0.05
#define CS__ROI_ONE_MIN 1000
void cs__roi_value_note(const cs_roi_row_t *total, const cs__roi_have_t *have,
                        const double largest[2], char *note, size_t note_size);
int64_t cs__roi_action(const cs_roi_row_t *row, const cs_roi_row_t *total,
                       const cs__roi_have_t *have);

#endif
