/* import/import.c: `cs_import_run`, the order of the steps, and what they share.
 *
 * Order: read and check the customers file (pass 1: types, levels, bad rows, repeated ids),
 * read and check the transactions file into a sort, and only then create the output (under
 * its temporary name), write /customers (pass 2), join and order the transactions and write
 * them. Most bad input is therefore found before any output exists; what is found later
 * (transactions of unknown customers) removes the temporary file like any other failure.
 * Trade-off: the customers file is read twice instead of being staged in a temporary copy;
 * the second read is sequential and usually served from the page cache. */
#include "import_int.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CS_IMPORT_WRITE_BYTES ((int64_t)8 << 20) /* write buffers of one step, all columns */
#define CS_IMPORT_WARN_MAX 10                     /* skipped rows logged one by one */

int cs__bad_row(cs__imp_t *imp, int64_t *counter, const char *file, int line, const char *fmt,
                ...) {
  char msg[16384]; /* cs_error_set elides what is too long for the record */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!imp->o->skip_bad_rows) return cs_error_set(CS_EDATA, file, line, "%s", msg);
  (*counter)++;
  if (imp->quiet_skip) return 1;
  if (imp->warned < CS_IMPORT_WARN_MAX)
    cs_log_warn("skipped %s", msg);
  else if (imp->warned == CS_IMPORT_WARN_MAX)
    cs_log_warn("more rows skipped; they are counted, not listed");
  imp->warned++;
  return 1;
}

int cs__not_utf8(const char *file, int64_t line, const char *what, const char *s, int bad,
                 const char *src, int src_line) {
  return cs_error_set(CS_EDATA, src, src_line,
                      "%s:%lld: %s: text that is not UTF-8 (byte 0x%02X after '%.*s'); the "
                      "store's strings are UTF-8: convert the file first, e.g. with iconv -f "
                      "latin1 -t utf-8", file, (long long)line, what,
                      (unsigned char)s[bad], bad > 40 ? 40 : bad, s + (bad > 40 ? bad - 40 : 0));
}

int cs__sort_new(cs__imp_t *imp, size_t rec_size, cs_xsort_cmp_t cmp, int eighths,
                 cs_xsort_t **out) {
  size_t mem = (size_t)(imp->o->sort_memory / 8 * eighths);
  return cs_xsort_new(rec_size, cmp, mem, imp->tmp_dir, imp->tag, out);
}

void cs__sort_done(cs__imp_t *imp, cs_xsort_t **s) {
  if (!*s) return;
  cs_xsort_stats_t st;
  cs_xsort_get_stats(*s, &st);
  cs_xsort_stats_t *t = &imp->res->sort;
  t->records += st.records;
  t->runs += st.runs;
  t->merges += st.merges;
  t->bytes_spilled += st.bytes_spilled;
  cs_xsort_free(*s);
  *s = NULL;
}

/* ---- columns written in steps ---------------------------------------------------------------- */
void cs__set_write_rows(cs__imp_t *imp, int64_t row_bytes) {
  int64_t rows = CS_IMPORT_WRITE_BYTES / (row_bytes > 0 ? row_bytes : 1);
  if (rows < 1024) rows = 1024;
  imp->rows_per_write = imp->o->chunk_rows < rows ? imp->o->chunk_rows : rows;
}

int cs__colw_open(cs__imp_t *imp, cs__colw_t *w, cs_out_t *out, const char *path, cs_dtype_t type,
                  int64_t total) {
  int status = CS_OK;
  memset(w, 0, sizeof *w);
  w->type = type;
  w->size = cs_dtype_size(type);
  w->total = total;
  w->cap = imp->rows_per_write < total ? imp->rows_per_write : total;
  if (w->cap < 1) w->cap = 1;
  w->buf = malloc((size_t)w->cap * w->size);
  CS_CHECK(w->buf, CS_ENOMEM, "out of memory (write buffer of %s)", path);
  CS_TRY(cs_out_dataset(out, path, type, total, &w->ds));
fail:
  return status;
}

static int colw_flush(cs__colw_t *w) {
  int status = CS_OK;
  if (!w->n) return CS_OK;
  CS_CHECK(w->written + w->n <= w->total, CS_EINTERNAL, "import wrote more rows than counted");
  CS_TRY(cs_out_write(w->ds, w->written, w->n, w->buf));
  w->written += w->n;
  w->n = 0;
fail:
  return status;
}

int cs__colw_push(cs__colw_t *w, const void *value) {
  if (w->n == w->cap) {
    int status = colw_flush(w);
    if (status < 0) return status;
  }
  memcpy(w->buf + (size_t)w->n * w->size, value, w->size);
  w->n++;
  return CS_OK;
}

int cs__colw_close(cs__colw_t *w) {
  int status = colw_flush(w);
  if (status == CS_OK && w->written != w->total)
    status = cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                          "import wrote %lld rows of a column counted as %lld",
                          (long long)w->written, (long long)w->total);
  return status;
}

void cs__colw_free(cs__colw_t *w) {
  free(w->buf);
  w->buf = NULL;
}

/* ---- the run --------------------------------------------------------------------------------- */
/* The temporary directory (the output's unless --tmp-dir) must take files. */
static int setup_tmp(cs__imp_t *imp) {
  const cs_import_opts_t *o = imp->o;
  char a[4096], b[4096];
  snprintf(a, sizeof a, "%s", o->output);
  snprintf(b, sizeof b, "%s", o->output);
  snprintf(imp->tmp_dir, sizeof imp->tmp_dir, "%s", o->tmp_dir ? o->tmp_dir : dirname(a));
  snprintf(imp->tag, sizeof imp->tag, "%s.sort", basename(b));
  char probe[4096 + 600];
  snprintf(probe, sizeof probe, "%s/.%s.XXXXXX", imp->tmp_dir, imp->tag);
  errno = 0;
  int fd = mkstemp(probe);
  if (fd < 0)
    return cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                        "cannot create temporary files in '%s': %s (choose another with "
                        "--tmp-dir)", imp->tmp_dir, strerror(errno));
  close(fd);
  unlink(probe);
  return CS_OK;
}

static void log_result(const cs__imp_t *imp) {
  const cs_import_opts_t *o = imp->o;
  const cs_import_result_t *r = imp->res;
  if (o->customers_csv)
    cs_log_info("import: %s: %lld rows, %lld customers (%lld bad rows and %lld repeated ids "
                "skipped), %d columns", o->customers_csv, (long long)r->cust_rows,
                (long long)r->customers, (long long)r->cust_bad, (long long)r->cust_duplicates,
                r->n_columns);
  for (int i = 0; i < r->n_columns; i++) {
    const cs_import_column_t *c = &r->columns[i];
    char levels[48] = "";
    if (c->categorical) snprintf(levels, sizeof levels, ", categorical, %d levels", c->categorical);
    cs_log_debug("  column %-24s %s%s, %s, %lld missing", c->name, c->type, levels,
                 c->declared ? "declared" : "inferred", (long long)c->missing);
  }
  if (o->transactions_csv)
    cs_log_info("import: %s: %lld rows, %lld transactions (%lld bad rows and %lld of unknown "
                "customers skipped)%s", o->transactions_csv, (long long)r->txn_rows,
                (long long)r->transactions, (long long)r->txn_bad, (long long)r->txn_unknown,
                o->customers_csv ? "" : ", customers are their distinct ids");
  cs_log_debug("import: sorted %lld records: %lld runs on disk, %lld merges, %.1f MB spilled",
               (long long)r->sort.records, (long long)r->sort.runs, (long long)r->sort.merges,
               (double)r->sort.bytes_spilled / 1e6);
}

int cs_import_run(cs_ctx_t *self, const cs_import_opts_t *o, cs_import_result_t *res) {
  int status = CS_OK;
  cs__imp_t imp = {.o = o, .self = self, .res = res, .ids_ascending = 1};
  cs_out_t *out = NULL;
  memset(res, 0, sizeof *res);
  res->transactions = -1;
  CS_CHECK(o->customers_csv || o->transactions_csv, CS_EUSAGE,
           "import needs --customers-csv FILE, --transactions-csv FILE or both");
  CS_TRY(setup_tmp(&imp));
  CS_TRY(cs__na_parse(o->na_values, &imp.na));
  if (o->schema) CS_TRY(cs__schema_read(o->schema, &imp.schema));

  if (o->customers_csv) CS_TRY(cs__cust_scan(&imp));
  /* The levels become one HDF5 attribute, which cannot reach 2 GiB here: a column of long free
   * text read as categorical had crashed in MPI's type constructor, leaving files behind. */
  for (int k = 0; k < imp.ncols; k++)
    CS_CHECK(imp.cols[k].kind != CS_K_CAT ||
                 imp.cols[k].dict.arena_len + 16 * (size_t)imp.cols[k].dict.n < (size_t)1 << 31,
             CS_EDATA, "%s: column '%s': its %d categorical levels take %zu bytes, more than the "
             "2 GiB one attribute can hold: is it free text? declare it skip in --schema",
             o->customers_csv, imp.cols[k].csv_name, imp.cols[k].dict.n,
             imp.cols[k].dict.arena_len);
  if (o->transactions_csv) CS_TRY(cs__txn_scan(&imp));

  CS_TRY(cs_out_create(self, o->output, &out));
  CS_TRY(cs_out_group(out, "/customers"));
  CS_TRY(cs_out_attr_i64(out, "/customers", "schema_version", CS_SCHEMA_VERSION));
  CS_TRY(cs_out_attr_str(out, "/customers", "generator", "custseg import"));
  if (o->hash_ids)
    CS_TRY(cs_out_attr_str(out, "/customers", "customer_id_hash",
                           "XXH3-64 of the id's text (--hash-ids), shifted right by 1"));
  if (o->customers_csv)
    CS_TRY(cs_out_attr_str(out, "/customers", "customers_csv", o->customers_csv));
  if (o->transactions_csv)
    CS_TRY(cs_out_attr_str(out, "/customers", "transactions_csv", o->transactions_csv));
  if (o->customers_csv) CS_TRY(cs__cust_write(&imp, out, o->transactions_csv != NULL));
  if (o->transactions_csv) CS_TRY(cs__txn_write(&imp, out));
  res->customers = imp.n_customers;
  status = cs_out_commit(out); /* frees out, removes the temporary file on failure */
  out = NULL;
  CS_TRY(status);
  cs__sort_done(&imp, &imp.skip); /* their figures go into the result */
  cs__sort_done(&imp, &imp.ids);
  cs__sort_done(&imp, &imp.txn);
  log_result(&imp);
fail:
  if (out) cs_out_abort(out);
  cs__cust_free(&imp);
  cs__sort_done(&imp, &imp.skip);
  cs__sort_done(&imp, &imp.ids);
  cs__sort_done(&imp, &imp.txn);
  cs__schema_free(&imp.schema);
  cs__na_free(&imp.na);
  return status;
}

void cs_import_result_free(cs_import_result_t *res) {
  free(res->columns);
  res->columns = NULL;
  res->n_columns = 0;
}

int cs__cmp_first_i64(const void *pa, const void *pb) {
  int64_t a, b;
  memcpy(&a, pa, sizeof a);
  memcpy(&b, pb, sizeof b);
  return (a > b) - (a < b);
}
