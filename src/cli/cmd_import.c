/* cli/cmd_import.c: `custseg import`, CSV files -> customer store (docs/import.md).
 *
 * Rank 0 does the whole import (src/import), writing the store through io on a communicator
 * of its own; the other ranks wait in a sleeping barrier and then agree on the outcome, so
 * under mpirun the command behaves like every other one (one error line, the same exit status
 * on every rank, no output left behind) and writes the same file on any number of ranks.
 * Trade-off: no parallel speed-up. A CSV file is one sequential stream whose records cannot be
 * found without reading everything before them (quoted fields may hold line breaks), and the
 * sorts are disk-bound; splitting them across ranks would need a shared temporary directory
 * and a distributed merge for a step that runs once per data delivery. */
#include "cli.h"

#include "custseg/import.h"
#include "custseg/io.h"

#include <string.h>

#define CS_IMPORT_MIN_SORT_MEMORY 16384

/* The options, checked on every rank (they all parse the same command line). */
static int read_options(const cs_opts_t *o, cs_import_opts_t *io) {
  int status = CS_OK;
  memset(io, 0, sizeof *io);
  io->output = cs_opt_str(o, "output");
  io->customers_csv = cs_opt_str(o, "customers-csv");
  io->transactions_csv = cs_opt_str(o, "transactions-csv");
  io->schema = cs_opt_str(o, "schema");
  io->id_column = cs_opt_str(o, "id-column");
  io->rename = cs_opt_str(o, "rename");
  io->na_values = cs_opt_str(o, "na-values");
  io->infer_rows = cs_opt_int(o, "infer-rows");
  io->max_categories = cs_opt_int(o, "max-categories");
  io->txn_columns = cs_opt_str(o, "txn-columns");
  io->txn_header = cs_opt_bool(o, "txn-header");
  io->txn_id_column = cs_opt_str(o, "txn-id-column");
  io->txn_date_column = cs_opt_str(o, "txn-date-column");
  io->txn_amount_column = cs_opt_str(o, "txn-amount-column");
  io->skip_bad_rows = cs_opt_bool(o, "skip-bad-rows");
  io->hash_ids = cs_opt_bool(o, "hash-ids");
  io->sort_memory = cs_opt_int(o, "sort-memory");
  io->tmp_dir = cs_opt_str(o, "tmp-dir");
  io->chunk_rows = cs_opt_int(o, "chunk-rows");
  CS_CHECK(io->output, CS_EUSAGE, "import needs --output FILE");
  CS_CHECK(io->customers_csv || io->transactions_csv, CS_EUSAGE,
           "import needs --customers-csv FILE, --transactions-csv FILE, or both");
  CS_CHECK(!io->schema || io->customers_csv, CS_EUSAGE,
           "--schema describes the columns of --customers-csv, which is not given");
  CS_CHECK(!io->rename || io->customers_csv, CS_EUSAGE,
           "--rename names columns of --customers-csv, which is not given");
  for (int i = 0; i < cs_n_optdefs && !io->transactions_csv; i++) {
    const char *name = cs_optdefs[i].name;
    CS_CHECK(strncmp(name, "txn-", 4) || !cs_opt_given(o, name), CS_EUSAGE,
             "--%s describes --transactions-csv, which is not given", name);
  }
  static const char *const delims[] = {"delimiter", "txn-delimiter"};
  cs_csv_dialect_t *d[] = {&io->delim, &io->txn_delim};
  for (int i = 0; i < 2; i++) {
    const char *v = cs_opt_str(o, delims[i]);
    CS_CHECK(cs_csv_dialect_parse(v, d[i]) == CS_OK, CS_EUSAGE,
             strlen(v) == 1 ? "--%s: '%s' cannot be the delimiter (the quote, a line end or a "
                              "space; columns separated by spaces: whitespace)"
                            : "--%s: '%s' is neither one character nor comma, tab, semicolon, "
                              "pipe or whitespace",
             delims[i], v);
  }
  CS_TRY(cs_date_format_parse(cs_opt_str(o, "txn-date-format"), &io->txn_date_format));
  CS_CHECK(!io->transactions_csv || io->txn_header || io->txn_columns, CS_EUSAGE,
           "--txn-header no needs --txn-columns (the names of the file's columns)");
  CS_CHECK(io->infer_rows >= 1, CS_EUSAGE, "--infer-rows must be at least 1, got %s",
           cs_opt_str(o, "infer-rows"));
  CS_CHECK(io->max_categories >= 1 && io->max_categories <= 999999, CS_EUSAGE,
           "--max-categories must be in 1..999999 (the store's limit), got %lld",
           (long long)io->max_categories);
  CS_CHECK(io->sort_memory >= CS_IMPORT_MIN_SORT_MEMORY, CS_EUSAGE,
           "--sort-memory must be at least %d bytes, got %lld", CS_IMPORT_MIN_SORT_MEMORY,
           (long long)io->sort_memory);
fail:
  return status;
}

static void add_result(cJSON *sum, const cs_import_opts_t *io, const cs_import_result_t *res) {
  cJSON *r = cJSON_AddObjectToObject(sum, "result");
  cJSON_AddStringToObject(r, "output", io->output);
  cJSON_AddNumberToObject(r, "customers", (double)res->customers);
  if (res->transactions >= 0) cJSON_AddNumberToObject(r, "transactions", (double)res->transactions);
  cJSON *cols = cJSON_AddArrayToObject(r, "columns");
  for (int i = 0; i < res->n_columns; i++) {
    const cs_import_column_t *c = &res->columns[i];
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", c->name);
    cJSON_AddStringToObject(e, "type", c->type);
    cJSON_AddNumberToObject(e, "categories", c->categorical);
    cJSON_AddStringToObject(e, "origin", c->declared ? "declared" : "inferred");
    cJSON_AddNumberToObject(e, "missing", (double)c->missing);
    cJSON_AddItemToArray(cols, e);
  }
  if (io->customers_csv) {
    cJSON *f = cJSON_AddObjectToObject(r, "customers_csv");
    cJSON_AddStringToObject(f, "path", io->customers_csv);
    cJSON_AddNumberToObject(f, "rows", (double)res->cust_rows);
    cJSON_AddNumberToObject(f, "skipped_bad", (double)res->cust_bad);
    cJSON_AddNumberToObject(f, "skipped_repeated_id", (double)res->cust_duplicates);
  }
  if (io->transactions_csv) {
    cJSON *f = cJSON_AddObjectToObject(r, "transactions_csv");
    cJSON_AddStringToObject(f, "path", io->transactions_csv);
    cJSON_AddNumberToObject(f, "rows", (double)res->txn_rows);
    cJSON_AddNumberToObject(f, "skipped_bad", (double)res->txn_bad);
    cJSON_AddNumberToObject(f, "skipped_unknown_customer", (double)res->txn_unknown);
    cJSON_AddBoolToObject(f, "sorted_twice", res->txn_resorted);
  }
  cJSON *s = cJSON_AddObjectToObject(r, "sort");
  cJSON_AddNumberToObject(s, "records", (double)res->sort.records);
  cJSON_AddNumberToObject(s, "runs", (double)res->sort.runs);
  cJSON_AddNumberToObject(s, "merges", (double)res->sort.merges);
  cJSON_AddNumberToObject(s, "bytes_spilled", (double)res->sort.bytes_spilled);
}

int cs_cmd_import(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cJSON *sum = NULL;
  cs_import_opts_t io;
  cs_import_result_t res = {0};
  const char *summary = cs_opt_str(o, "summary");
  CS_TRY(read_options(o, &io));
  CS_TRY(cs_io_check_writable(ctx, io.output, "output"));
  if (summary) CS_TRY(cs_io_check_writable(ctx, summary, "summary"));

  cs_timer_start(&ctx->timers, "import");
  int local = CS_OK;
  if (ctx->rank == 0) {
    cs_ctx_t self;
    local = cs_par_self(ctx, &self);
    if (local == CS_OK) local = cs_import_run(&self, &io, &res);
    cs_par_self_free(&self);
  }
  int waited = cs_par_idle_barrier(ctx);
  CS_TRY(cs_par_agree(ctx, local < 0 ? local : waited));
  written = 1;
  cs_timer_stop(&ctx->timers, "import");
  cs_log_info("import: wrote %s", io.output);

  sum = cs_summary_new(ctx, o);
  add_result(sum, &io, &res);
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (status < 0 && written) cs_io_remove(ctx, io.output); /* all outputs or none */
  cJSON_Delete(sum);
  cs_import_result_free(&res);
  return status;
}
