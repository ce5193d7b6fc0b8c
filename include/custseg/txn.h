/* txn: a rank's share of /transactions, checked as it is read, and the RFM kernels over it.
 *
 * Each rank reads /customers/txn_offset for its customers (n_local + 1 values) and then
 * exactly the transaction rows they index, in one read per column (each rank its own rows).
 * The reader checks what the format promises (docs/format.md): offsets that start at 0,
 * never decrease and end at the number of transactions; a customer_id on every transaction
 * equal to its owner's; finite times sorted per customer; finite, non-negative amounts. RFM
 * works in whole days (floor(time)), the convention of the BG/NBD papers. */
#ifndef CUSTSEG_TXN_H
#define CUSTSEG_TXN_H

#include "custseg/io.h"

typedef struct cs_txn {
  int64_t n_cust; /* local customers (part->n_local) */
  int64_t n;      /* local transactions */
  int64_t first;  /* global row of the first local transaction */
  int64_t *start; /* n_cust + 1 offsets into time and amount; start[0] = 0 */
  double *time, *amount;
} cs_txn_t;

/* Read and check the transactions of the rank's customers. Errors name the file, dataset,
 * row and value. Collective. */
int cs_txn_load(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, cs_txn_t *t);
void cs_txn_free(cs_txn_t *t);
/* The last purchase day over all ranks (INT64_MIN when there is no transaction).
 * Collective. */
int cs_txn_last_day(cs_ctx_t *ctx, const cs_txn_t *t, int64_t *day);
/* A day number (days since 1970-01-01) from "YYYY-MM-DD" or an integer. Local. */
int cs_parse_day(const char *text, int64_t *day);
/* "YYYY-MM-DD" of a day number into buf (>= 16 bytes). Local. */
void cs_format_day(int64_t day, char *buf, size_t len);

typedef struct cs_rfm_opts {
  int64_t cal_end;     /* last day of calibration (inclusive) */
  int64_t holdout_end; /* last day of the holdout (inclusive); <= cal_end: no holdout */
  int merge_same_day;  /* purchases on one day are one purchase of their summed amount */
} cs_rfm_opts_t;

/* Per customer, in whole days. x < 0 marks a customer with no purchase up to cal_end (no
 * transactions at all, or all after it); such a customer has no recency, age or monetary. */
typedef struct cs_rfm {
  int64_t n;
  int64_t *x;       /* repeat purchases in calibration (purchase days after the first) */
  int64_t *recency; /* last calibration purchase day - first purchase day */
  int64_t *age;     /* cal_end - first purchase day */
  double *monetary; /* mean amount of the x repeat purchases; 0 when x = 0 */
  int64_t *holdout; /* purchases in (cal_end, holdout_end] */
  double *ipt_mean, *ipt_sd; /* days between successive calibration purchases (NaN if x = 0) */
} cs_rfm_t;

/* The RFM summary of every local customer. OpenMP over customers. Local. */
int cs_rfm_compute(const cs_txn_t *t, const cs_rfm_opts_t *o, cs_rfm_t *r);
void cs_rfm_free(cs_rfm_t *r);

#endif
