/* txn/load.c: reading a rank's transactions and checking them; day numbers.
 *
 * Every check runs on the rank that holds the rows, and the verdict is agreed before the next
 * collective step, so a bad row on one rank stops every rank with the same one-line error. */
#include "custseg/txn.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_txn_free(cs_txn_t *t) {
  cs_free(t->start);
  cs_free(t->time);
  cs_free(t->amount);
  memset(t, 0, sizeof *t);
}

/* The first problem among the local rows, as an error; CS_OK when none. */
static int check_rows(const cs_store_t *s, const cs_part_t *part, const cs_txn_t *t,
                      const int64_t *off, const int64_t *ids, const int64_t *tid) {
  const char *p = s->path;
  if (part->offset == 0 && off[0] != 0)
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "%s: /customers/txn_offset[0] is %lld, must be 0", p, (long long)off[0]);
  for (int64_t i = 0; i <= part->n_local; i++) {
    if (off[i] < 0 || off[i] > s->txn_rows)
      return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                          "%s: /customers/txn_offset[%lld] = %lld is outside [0, %lld] (the "
                          "transaction count)", p, (long long)(part->offset + i),
                          (long long)off[i], (long long)s->txn_rows);
    if (i > 0 && off[i] < off[i - 1])
      return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                          "%s: /customers/txn_offset decreases at row %lld (%lld after %lld)", p,
                          (long long)(part->offset + i), (long long)off[i],
                          (long long)off[i - 1]);
  }
  if (part->offset + part->n_local == part->n_global && off[part->n_local] != s->txn_rows)
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "%s: /customers/txn_offset ends at %lld but /transactions has %lld rows",
                        p, (long long)off[part->n_local], (long long)s->txn_rows);
  for (int64_t i = 0; i < t->n_cust; i++)
    for (int64_t k = t->start[i]; k < t->start[i + 1]; k++) {
      long long row = (long long)(t->first + k);
      if (tid[k] != ids[i])
        return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                            "%s: /transactions/customer_id[%lld] is %lld, but txn_offset gives "
                            "that row to customer %lld (row %lld): unsorted transactions or a "
                            "transaction of an unknown customer", p, row, (long long)tid[k],
                            (long long)ids[i], (long long)(part->offset + i));
      if (!isfinite(t->time[k]))
        return cs_error_set(CS_EDATA, __FILE__, __LINE__, "%s: /transactions/time[%lld] is %g",
                            p, row, t->time[k]);
      /* Days since 1970 become int64 days (floor): beyond that range they would overflow. */
      if (fabs(t->time[k]) > 1e9)
        return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                            "%s: /transactions/time[%lld] is %g days since 1970-01-01, beyond "
                            "±10^9 days (a time in other units, e.g. seconds or milliseconds?)",
                            p, row, t->time[k]);
      if (k > t->start[i] && t->time[k] < t->time[k - 1])
        return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                            "%s: /transactions/time[%lld] = %.10g is before the previous "
                            "transaction of customer %lld (%.10g): sort by customer, then time",
                            p, row, t->time[k], (long long)ids[i], t->time[k - 1]);
      if (!(t->amount[k] >= 0) || !isfinite(t->amount[k]))
        return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                            "%s: /transactions/amount[%lld] is %g (amounts must be finite and "
                            ">= 0)", p, row, t->amount[k]);
    }
  return CS_OK;
}

int cs_txn_load(cs_ctx_t *ctx, cs_store_t *s, const cs_part_t *part, cs_txn_t *t) {
  int status = CS_OK;
  int64_t *off = NULL, *ids = NULL, *tid = NULL;
  memset(t, 0, sizeof *t);
  CS_CHECK(s->txn_rows >= 0, CS_EDATA, "%s: no /transactions (CLV and RFM need purchase "
           "history; see docs/format.md)", s->path);
  int64_t nl = part->n_local;
  off = cs_alloc(cs_bytes(nl + 1, sizeof *off), "transaction offsets");
  ids = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *ids), "customer ids");
  t->start = cs_alloc(cs_bytes(nl + 1, sizeof *t->start), "transaction offsets");
  CS_TRY(cs_par_agree(ctx, off && ids && t->start ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_store_read(s, "txn_offset", part->offset, nl + 1, CS_DT_I64, off));
  CS_TRY(cs_store_read(s, "customer_id", part->offset, nl, CS_DT_I64, ids));
  /* Offsets are checked in full with the rows below; here only what the read needs. */
  int pre = CS_OK;
  for (int64_t i = 0; i <= nl && pre == CS_OK; i++)
    if (off[i] < 0 || off[i] > s->txn_rows || (i && off[i] < off[i - 1])) pre = 1;
  if (pre) {
    t->n_cust = 0;
    pre = check_rows(s, part, t, off, ids, NULL);
  }
  CS_TRY(cs_par_agree(ctx, pre));
  t->n_cust = nl;
  t->first = off[0];
  t->n = off[nl] - off[0];
  for (int64_t i = 0; i <= nl; i++) t->start[i] = off[i] - off[0];
  t->time = cs_alloc(cs_bytes(t->n ? t->n : 1, sizeof *t->time), "transaction times");
  t->amount = cs_alloc(cs_bytes(t->n ? t->n : 1, sizeof *t->amount), "transaction amounts");
  tid = cs_alloc(cs_bytes(t->n ? t->n : 1, sizeof *tid), "transaction ids");
  CS_TRY(cs_par_agree(ctx, t->time && t->amount && tid ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_store_read_txn(s, "customer_id", t->first, t->n, CS_DT_I64, tid));
  CS_TRY(cs_store_read_txn(s, "time", t->first, t->n, CS_DT_F64, t->time));
  CS_TRY(cs_store_read_txn(s, "amount", t->first, t->n, CS_DT_F64, t->amount));
  CS_TRY(cs_par_agree(ctx, check_rows(s, part, t, off, ids, tid)));
fail:
  cs_free(off);
  cs_free(ids);
  cs_free(tid);
  if (status < 0) cs_txn_free(t);
  return status;
}

int cs_txn_last_day(cs_ctx_t *ctx, const cs_txn_t *t, int64_t *day) {
  int64_t last = INT64_MIN;
  /* Each customer's transactions are sorted, so only the last of each counts. */
  for (int64_t i = 0; i < t->n_cust; i++)
    if (t->start[i + 1] > t->start[i]) {
      int64_t d = (int64_t)floor(t->time[t->start[i + 1] - 1]);
      if (d > last) last = d;
    }
  int status = cs_par_allreduce(ctx, &last, 1, CS_DT_I64, CS_OP_MAX);
  *day = last;
  return status;
}


int cs_parse_day(const char *text, int64_t *day) {
  int y, m, d, n = 0;
  char *end;
  if (sscanf(text, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && text[n] == '\0') {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
      return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "'%s' is not a valid date", text);
    *day = cs_days_from_civil(y, m, d);
    return CS_OK;
  }
  long long v = strtoll(text, &end, 10);
  if (end == text || *end != '\0')
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                        "'%s' is neither a date YYYY-MM-DD nor a day number", text);
  /* Days of the years 1 to 9999 only: 20240101 had been taken as a day in the year 57385. */
  const int64_t first = cs_days_from_civil(1, 1, 1), last = cs_days_from_civil(9999, 12, 31);
  if (v < first || v > last) {
    char hint[64] = "";
    if (strlen(text) == 8 && sscanf(text, "%4d%2d%2d", &y, &m, &d) == 3 && m >= 1 && m <= 12 &&
        d >= 1 && d <= 31)
      snprintf(hint, sizeof hint, "; for a date write it %.4s-%.2s-%.2s", text, text + 4, text + 6);
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                        "'%s' as a day number is outside the years 1 to 9999 (%lld..%lld)%s", text,
                        (long long)first, (long long)last, hint);
  }
  *day = v;
  return CS_OK;
}

void cs_format_day(int64_t day, char *buf, size_t len) {
  /* civil_from_days */
  int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  snprintf(buf, len, "%04" PRId64 "-%02" PRId64 "-%02" PRId64, y + (m <= 2), m, d);
}
