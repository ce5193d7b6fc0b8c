/* inspect: what is in a customer store and what is wrong with it, computed in parallel.
 * Column statistics, categorical codes, non-finite values, duplicate customer ids (by a
 * hash-partitioned exchange, so no rank holds more than its share of ids) and the input
 * fingerprint every run records. */
#ifndef CUSTSEG_INSPECT_H
#define CUSTSEG_INSPECT_H

#include "custseg/io.h"

typedef struct cs_colstats {
  const cs_column_t *col;
  int64_t finite;        /* finite values */
  int64_t missing;       /* NaN */
  int64_t infinite;      /* +-inf */
  int64_t bad_codes;     /* categorical codes outside [0, n_categories) */
  double min, max, mean; /* over finite values; NaN when there are none */
} cs_colstats_t;

typedef struct cs_ids_report {
  int64_t duplicates;        /* ids that occur more than once */
  int64_t example_id;        /* the smallest duplicated id ... */
  int64_t example_rows[2];   /* ... and its first two rows */
  uint64_t fingerprint;      /* order-independent hash of (row, id) and the column layout */
} cs_ids_report_t;

/* Statistics of the named columns (numeric ones) over all rows, read in chunks of
 * `chunk_rows` per rank. stats[i] for names[i]. Collective. */
int cs_inspect_columns(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                       const char *const *names, int n, int64_t chunk_rows,
                       cs_colstats_t *stats);
/* Duplicate ids and the input fingerprint. Collective. */
int cs_inspect_ids(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, cs_ids_report_t *r);

#endif
