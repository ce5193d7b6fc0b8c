/* import/transactions.c: a transactions file -> /transactions and /customers/txn_offset.
 *
 * Shops write transactions in any order, so every row goes into an external sort by
 * (customer id, time, line) as it is read and checked. The store wants them grouped by
 * customer in /customers row order, which is not id order in general: the sorted rows are
 * joined with the customers' (id, row) pairs (also sorted by id) to find each row's customer
 * (a transaction of an unknown customer is a bad row), and sorted once more by (row, time,
 * line). When the customers file lists its ids in increasing order (the row order is the id
 * order) that second sort is skipped: the join runs twice instead, once to count the rows
 * (the datasets need their length up front) and once to write them. Without a customers file
 * the customers are the distinct ids of the transactions, in increasing order.
 * Trade-off: rows with the same customer and time keep their file order (the line number
 * breaks ties), so the output does not depend on the sort's memory limit. */
#include "import_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct idrow {
  int64_t id, row;
} idrow_t;

static int cmp_by_id(const void *pa, const void *pb) {
  const cs__txn_t *a = pa, *b = pb;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  if (a->time != b->time) return a->time < b->time ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

static int cmp_by_row(const void *pa, const void *pb) {
  const cs__txn_t *a = pa, *b = pb;
  if (a->row != b->row) return a->row < b->row ? -1 : 1;
  if (a->time != b->time) return a->time < b->time ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

static const char *file_of(const cs__imp_t *imp) { return imp->o->transactions_csv; }

/* ---- reading --------------------------------------------------------------------------------- */
typedef struct names {
  int n;
  char **v;
} names_t;

static void names_free(names_t *nm) {
  for (int i = 0; i < nm->n; i++) free(nm->v[i]);
  free(nm->v);
  memset(nm, 0, sizeof *nm);
}

/* A column name: from --txn-columns (where "--txn-columns") every name must be given once;
 * in the file's header only the three columns imported must be (find_role), the others may
 * be unnamed or repeated, as they are not imported. */
static int names_add(const cs__imp_t *imp, names_t *nm, const char *name, const char *where) {
  for (int i = 0; i < nm->n && where[0] == '-'; i++)
    if (!strcmp(nm->v[i], name))
      return cs_error_set(where[0] == '-' ? CS_EUSAGE : CS_EDATA, __FILE__, __LINE__,
                          "%s: column '%s' appears twice (fields %d and %d)", where, name, i + 1,
                          nm->n + 1);
  if (!*name && where[0] == '-')
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s: column %d has no name", where,
                        nm->n + 1);
  char **v = realloc(nm->v, (size_t)(nm->n + 1) * sizeof *v);
  if (!v || !(v[nm->n] = strdup(name))) {
    if (v) nm->v = v;
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  nm->v = v;
  nm->n++;
  (void)imp;
  return CS_OK;
}

static int find_role(const cs__imp_t *imp, const names_t *nm, const char *name, const char *opt,
                     int *idx) {
  for (int i = 0; i < nm->n; i++)
    if (!strcmp(nm->v[i], name)) {
      for (int j = i + 1; j < nm->n; j++)
        if (!strcmp(nm->v[j], name))
          return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                              "%s:1: column '%s' appears twice (fields %d and %d)",
                              file_of(imp), name, i + 1, j + 1);
      *idx = i;
      return CS_OK;
    }
  char list[512], hint[160];
  cs__header_list((const char *const *)nm->v, nm->n, list, sizeof list, hint, sizeof hint, "--txn-delimiter");
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s:1: no column '%s' (the columns are: %s; name it with %s, or name the "
                      "file's columns with --txn-columns%s)", file_of(imp), name, list, opt, hint);
}

/* Check one row's fields (id_raw as in the file, the others without the spaces and tabs
 * around them) and put it into the sort. 0: added, 1: skipped, < 0: error. */
static int check_row(cs__imp_t *imp, const cs_csv_record_t *rec, const int role[3],
                     const names_t *nm, const char *id_raw, const char *id, const char *date,
                     const char *amount) {
  const cs_import_opts_t *o = imp->o;
  const char *f = file_of(imp);
  long long line = (long long)rec->line;
  int64_t *bad = &imp->res->txn_bad;
  cs__txn_t t = {.line = rec->line};
  /* As in the customers file: a quoted " 42" is 42, a blank id is none, and a hashed id is
   * the hash of the text as it is there. */
  if (!*id)
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': no customer id", f, line, nm->v[role[0]]);
  int rc = cs__parse_id(o->hash_ids ? id_raw : id, o->hash_ids, &t.id);
  if (rc)
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is %s", f, line, nm->v[role[0]], id,
                      cs__id_error(id, rc));
  rc = cs_date_parse(&o->txn_date_format, date, &t.time);
  if (rc == -2) {
    const int unix_time = o->txn_date_format.kind == 2;
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is outside the years 0000-9999 as "
                      "%s%s", f, line, nm->v[role[1]], date,
                      unix_time ? "seconds since 1970 (--txn-date-format unix)"
                                : "days since 1970 (--txn-date-format days)",
                      !(t.time > 0) ? ""
                      : unix_time   ? "; milliseconds? divide them by 1000 first"
                                    : "; seconds? use --txn-date-format unix");
  }
  if (rc)
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is not a date in the format %s "
                      "(--txn-date-format)", f, line, nm->v[role[1]], date,
                      o->txn_date_format.text);
  if (!*amount)
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': no amount", f, line, nm->v[role[2]]);
  if (cs__parse_float(amount, &t.amount))
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is not a number%s", f, line,
                      nm->v[role[2]], amount,
                      cs__localized_number(amount)
                          ? " (a decimal comma, digit grouping or a currency sign: custseg reads "
                            "amounts as 1234.5; convert the column before the import)"
                          : "");
  if (t.amount < 0)
    return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s is negative (amounts must be >= 0)", f,
                      line, nm->v[role[2]], amount);
  t.amount += 0.0; /* "-0" is 0 */
  /* Amounts are what CLV's spend model reads: 1.234 meaning 1234 is said, as for customers. */
  const int whole = !strpbrk(amount, ".eE") && t.amount < 1e15;
  cs__grouping_note(&imp->amount_grouping, amount, whole, whole ? (int64_t)t.amount : 0, line);
  /* A date a digit off ("0024-01-05", "2204-01-05") is a valid date: kept, and said. */
  static double ahead = 0;
  if (ahead == 0) ahead = floor((double)time(NULL) / 86400.0) + 366;
  if ((t.time < -25567 /* 1900-01-01 */ || t.time > ahead) && !imp->odd_dates++) {
    imp->odd_date_line = rec->line;
    snprintf(imp->odd_date_text, sizeof imp->odd_date_text, "%s", date);
  }
  return cs_xsort_add(imp->txn, &t);
}

/* Check one row and put it into the sort. 0: added, 1: skipped, < 0: error. */
static int read_row(cs__imp_t *imp, const cs_csv_record_t *rec, int nf, const int role[3],
                    const names_t *nm) {
  if (rec->n != nf)
    return CS_BAD_ROW(imp, &imp->res->txn_bad, "%s:%lld: %d fields, but %s %d", file_of(imp),
                      (long long)rec->line, rec->n,
                      imp->o->txn_columns ? "--txn-columns names" : "the header has", nf);
  char buf[3][128];
  const char *v[3];
  int status = CS_OK;
  for (int k = 0; k < 3; k++)
    if (!(v[k] = cs__strip_blanks(rec->field[role[k]], buf[k], sizeof buf[k])))
      status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  if (status == CS_OK)
    status = check_row(imp, rec, role, nm, rec->field[role[0]], v[0], v[1], v[2]);
  for (int k = 0; k < 3; k++)
    if (v[k] && v[k] != rec->field[role[k]] && v[k] != buf[k]) free((char *)v[k]);
  return status;
}

int cs__txn_scan(cs__imp_t *imp) {
  int status = CS_OK, rc;
  const cs_import_opts_t *o = imp->o;
  const char *f = file_of(imp);
  cs_csv_t *r = NULL;
  cs_csv_record_t rec;
  names_t nm = {0};
  int role[3] = {0, 0, 0};
  cs_progress_t prog;
  CS_CHECK(o->txn_header || o->txn_columns, CS_EUSAGE,
           "--txn-header no needs --txn-columns (the names of the file's columns)");
  CS_TRY(cs_csv_open(f, &o->txn_delim, &r));
  if (o->txn_columns) {
    char *copy = strdup(o->txn_columns), *save = NULL;
    CS_CHECK(copy, CS_ENOMEM, "out of memory");
    for (char *t = strtok_r(copy, ",", &save); t && status == CS_OK; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      size_t len = strlen(t);
      while (len && t[len - 1] == ' ') t[--len] = '\0';
      status = names_add(imp, &nm, t, "--txn-columns");
    }
    free(copy);
    CS_TRY(status);
  }
  CS_TRY(rc = cs_csv_next(r, &rec));
  CS_CHECK(rc == 1, CS_EDATA, "%s: the file is empty%s", f,
           o->txn_header ? " (a header line with the column names is needed)" : "");
  if (o->txn_header) {
    char where[4200];
    snprintf(where, sizeof where, "%s:1", f);
    if (o->txn_columns)
      CS_CHECK(rec.n == nm.n, CS_EDATA, "%s:1: the header has %d fields but --txn-columns names "
               "%d (with --txn-header no the first line is data)", f, rec.n, nm.n);
    else
      for (int j = 0; j < rec.n; j++) CS_TRY(names_add(imp, &nm, rec.field[j], where));
    CS_TRY(rc = cs_csv_next(r, &rec));
  }
  CS_TRY(find_role(imp, &nm, o->txn_id_column, "--txn-id-column", &role[0]));
  CS_TRY(find_role(imp, &nm, o->txn_date_column, "--txn-date-column", &role[1]));
  CS_TRY(find_role(imp, &nm, o->txn_amount_column, "--txn-amount-column", &role[2]));
  CS_TRY(cs__sort_new(imp, sizeof(cs__txn_t), cmp_by_id, 3, &imp->txn));
  cs_progress_start(&prog, "import: reading transactions (bytes)", cs_csv_size(r));
  for (; rc == 1; rc = cs_csv_next(r, &rec)) {
    imp->res->txn_rows++;
    CS_TRY(read_row(imp, &rec, nm.n, role, &nm));
    cs__progress(&prog, imp->res->txn_rows, cs_csv_bytes_read(r));
  }
  CS_TRY(rc);
  cs_progress_update(&prog, cs_csv_bytes_read(r));
  if (imp->odd_dates)
    cs_log_warn("%s: %lld transactions are dated before 1900 or more than a year from today, "
                "the first '%s' (line %lld): a mistyped year? They are imported as they are, "
                "and CLV's calibration period runs to the last purchase day", f,
                (long long)imp->odd_dates, imp->odd_date_text, (long long)imp->odd_date_line);
  {
    char what[CS_NAME_MAX + 64];
    snprintf(what, sizeof what, "%s: the amount column '%s'", f, nm.v[role[2]]);
    cs__grouping_warn(&imp->amount_grouping, what);
  }
  CS_TRY(cs_xsort_finish(imp->txn));
fail:
  names_free(&nm);
  cs_csv_close(r);
  return status;
}

/* ---- writing ------------------------------------------------------------------------------- */
typedef struct txw {
  cs__colw_t id, time, amount, offset;
  int64_t next_row, count, n_cust;
  cs_progress_t prog;
} txw_t;

static int txw_open(cs__imp_t *imp, txw_t *w, cs_out_t *out, int64_t m, int64_t n) {
  int status = CS_OK;
  memset(w, 0, sizeof *w);
  w->n_cust = n;
  cs__set_write_rows(imp, 4 * (int64_t)sizeof(int64_t)); /* id, time, amount, offset */
  CS_TRY(cs__colw_open(imp, &w->id, out, "/transactions/customer_id", CS_DT_I64, m));
  CS_TRY(cs__colw_open(imp, &w->time, out, "/transactions/time", CS_DT_F64, m));
  CS_TRY(cs__colw_open(imp, &w->amount, out, "/transactions/amount", CS_DT_F64, m));
  CS_TRY(cs__colw_open(imp, &w->offset, out, "/customers/txn_offset", CS_DT_I64, n + 1));
  cs_progress_start(&w->prog, "import: writing transactions (rows)", m);
fail:
  return status;
}

/* The next transaction, in (row, time) order: offsets up to its customer, then the row. */
static int txw_push(txw_t *w, const cs__txn_t *t) {
  int status = CS_OK;
  CS_CHECK(t->row >= w->next_row - 1 && t->row < w->n_cust, CS_EINTERNAL,
           "transactions out of order while writing (row %lld after %lld)", (long long)t->row,
           (long long)(w->next_row - 1));
  for (; w->next_row <= t->row; w->next_row++) CS_TRY(cs__colw_push(&w->offset, &w->count));
  CS_TRY(cs__colw_push(&w->id, &t->id));
  CS_TRY(cs__colw_push(&w->time, &t->time));
  CS_TRY(cs__colw_push(&w->amount, &t->amount));
  w->count++;
  cs__progress(&w->prog, w->count, w->count);
fail:
  return status;
}

static int txw_close(txw_t *w) {
  int status = CS_OK;
  for (; w->next_row <= w->n_cust; w->next_row++) CS_TRY(cs__colw_push(&w->offset, &w->count));
  CS_TRY(cs__colw_close(&w->id));
  CS_TRY(cs__colw_close(&w->time));
  CS_TRY(cs__colw_close(&w->amount));
  CS_TRY(cs__colw_close(&w->offset));
  cs_progress_update(&w->prog, w->count);
fail:
  return status;
}

static void txw_free(txw_t *w) {
  cs__colw_free(&w->id);
  cs__colw_free(&w->time);
  cs__colw_free(&w->amount);
  cs__colw_free(&w->offset);
}

/* What the join does with each matched transaction. */
typedef enum { JOIN_COUNT, JOIN_WRITE, JOIN_SORT } join_mode_t;

/* Give each transaction (by id) its customer's row from imp->ids (by id). Unknown customers
 * are bad rows when `report`, else passed over silently (already counted). */
static int join(cs__imp_t *imp, join_mode_t mode, int report, txw_t *w, cs_xsort_t *by_row,
                int64_t *m) {
  int status = CS_OK, ha, ht;
  idrow_t a = {0, 0};
  cs__txn_t t;
  cs_xsort_stats_t st;
  cs_progress_t prog;
  int64_t k = 0;
  *m = 0;
  cs_xsort_get_stats(imp->txn, &st);
  if (mode != JOIN_WRITE) /* writing has its own progress line */
    cs_progress_start(&prog, "import: matching transactions to customers (rows)", st.records);
  CS_TRY(cs_xsort_rewind(imp->ids));
  CS_TRY(cs_xsort_rewind(imp->txn));
  CS_TRY(ha = cs_xsort_next(imp->ids, &a));
  while ((ht = cs_xsort_next(imp->txn, &t)) == 1) {
    k++;
    if (mode != JOIN_WRITE) cs__progress(&prog, k, k);
    while (ha == 1 && a.id < t.id) CS_TRY(ha = cs_xsort_next(imp->ids, &a));
    if (ha != 1 || a.id != t.id) {
      if (report)
        CS_TRY(CS_BAD_ROW(imp, &imp->res->txn_unknown,
                          "%s:%lld: column '%s': customer %lld%s is not in %s", file_of(imp),
                          (long long)t.line, imp->o->txn_id_column, (long long)t.id,
                          imp->o->hash_ids ? " (the hash of its text)" : "",
                          imp->o->customers_csv));
      continue;
    }
    t.row = a.row;
    (*m)++;
    if (mode == JOIN_WRITE) CS_TRY(txw_push(w, &t));
    if (mode == JOIN_SORT) CS_TRY(cs_xsort_add(by_row, &t));
  }
  CS_TRY(ht);
  if (mode != JOIN_WRITE) cs_progress_update(&prog, k);
fail:
  return status;
}

/* Why a transactions file gave no purchase, when none was of an unknown customer. */
static const char *why_none(const cs__imp_t *imp) {
  return imp->o->skip_bad_rows ? "no purchase after the header line, or every row skipped as bad"
                               : "no purchase after the header line";
}

/* Purchases were read but none is of a customer of the customers file (all skipped by
 * --skip-bad-rows): two exports keyed by different ids had made a store of empty purchase
 * histories, exit 0, that CLV then refused; so had a transactions file of a header alone, or
 * of bad rows only (an error without a customers file). */
static int none_matched(const cs__imp_t *imp, int64_t matched) {
  const cs_import_result_t *res = imp->res;
  if (matched > 0) return CS_OK;
  if (res->txn_unknown == 0)
    return cs_error_set(CS_EDATA, __FILE__, __LINE__, "%s: no purchase to import: %s (leave out "
                        "--transactions-csv for a store without purchase histories)",
                        file_of(imp), why_none(imp));
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s: none of its %lld purchases is of a customer in %s (%lld of unknown "
                      "customers, %lld skipped as bad otherwise): are the two files keyed by "
                      "the same customer ids?", file_of(imp), (long long)res->txn_rows,
                      imp->o->customers_csv, (long long)res->txn_unknown,
                      (long long)res->txn_bad);
}

/* No customers file: the customers are the distinct ids, in increasing order. */
static int write_from_ids(cs__imp_t *imp, cs_out_t *out) {
  int status = CS_OK, rc;
  cs__txn_t t;
  cs__colw_t cid = {0};
  txw_t w = {0};
  int64_t m = 0, n = 0, prev = 0;
  CS_TRY(cs_xsort_rewind(imp->txn));
  while ((rc = cs_xsort_next(imp->txn, &t)) == 1) {
    n += m == 0 || t.id != prev;
    prev = t.id;
    m++;
  }
  CS_TRY(rc);
  /* A store of no customers fails every later command; said here, as for a customers file. */
  CS_CHECK(n > 0, CS_EDATA, "%s: no customer to import: %s", file_of(imp), why_none(imp));
  imp->n_customers = n;
  imp->res->transactions = m;
  CS_TRY(txw_open(imp, &w, out, m, n));
  CS_TRY(cs__colw_open(imp, &cid, out, "/customers/customer_id", CS_DT_I64, n));
  CS_TRY(cs_xsort_rewind(imp->txn));
  int64_t row = -1;
  for (int64_t k = 0; (rc = cs_xsort_next(imp->txn, &t)) == 1; k++) {
    if (k == 0 || t.id != prev) {
      row++;
      CS_TRY(cs__colw_push(&cid, &t.id));
    }
    prev = t.id;
    t.row = row;
    CS_TRY(txw_push(&w, &t));
  }
  CS_TRY(rc);
  CS_TRY(cs__colw_close(&cid));
  CS_TRY(txw_close(&w));
  cs_import_column_t *c = realloc(imp->res->columns, sizeof *c);
  CS_CHECK(c, CS_ENOMEM, "out of memory");
  imp->res->columns = c;
  imp->res->n_columns = 1;
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "customer_id");
  snprintf(c->type, sizeof c->type, "int64");
fail:
  cs__colw_free(&cid);
  txw_free(&w);
  return status;
}

int cs__txn_write(cs__imp_t *imp, cs_out_t *out) {
  int status = CS_OK, rc;
  txw_t w = {0};
  cs_xsort_t *by_row = NULL;
  cs__txn_t t;
  int64_t m = 0, again = 0;
  if (!imp->o->customers_csv) return write_from_ids(imp, out);
  if (imp->ids_ascending) {
    /* Row order is id order: count (reporting unknown customers), then write. */
    CS_TRY(join(imp, JOIN_COUNT, 1, NULL, NULL, &m));
    CS_TRY(none_matched(imp, m));
    CS_TRY(txw_open(imp, &w, out, m, imp->n_customers));
    CS_TRY(join(imp, JOIN_WRITE, 0, &w, NULL, &again));
  } else {
    CS_TRY(cs__sort_new(imp, sizeof(cs__txn_t), cmp_by_row, 4, &by_row));
    CS_TRY(join(imp, JOIN_SORT, 1, NULL, by_row, &m));
    CS_TRY(none_matched(imp, m));
    cs__sort_done(imp, &imp->ids);
    cs__sort_done(imp, &imp->txn);
    CS_TRY(cs_xsort_finish(by_row));
    imp->res->txn_resorted = 1;
    CS_TRY(txw_open(imp, &w, out, m, imp->n_customers));
    while ((rc = cs_xsort_next(by_row, &t)) == 1) CS_TRY(txw_push(&w, &t));
    CS_TRY(rc);
  }
  CS_TRY(txw_close(&w));
  imp->res->transactions = m;
fail:
  cs__sort_done(imp, &by_row);
  txw_free(&w);
  return status;
}
