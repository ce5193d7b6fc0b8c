/* cli/stage.c: what every model stage does around its model: check the outputs can be
 * written, open the store, refuse duplicate ids, take the feature options, and record the
 * run (/run attributes, summary input block). One place, so the stages cannot drift apart. */
#include "cli.h"

#include "custseg/inspect.h"
#include "custseg/txn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The last store whose ids were checked, for the life of the process: the stages of one
 * `custseg run` open the same store, so its duplicate-id check (an all-to-all exchange and a
 * sort of every id) runs once. Keyed by the file's identity (device, inode, size,
 * modification time) as each rank sees it, and used only when every rank finds it unchanged. */
static struct {
  int valid;
  struct stat st;
  char fingerprint[32];
} ids_memo;

static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int cs_stage_check_ids(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, char fp[32]) {
  int status = CS_OK;
  struct stat now;
  int64_t hit = ids_memo.valid && stat(store->path, &now) == 0 && same_file(&now, &ids_memo.st);
  CS_TRY(cs_par_allreduce(ctx, &hit, 1, CS_DT_I64, CS_OP_MIN));
  if (hit) {
    memcpy(fp, ids_memo.fingerprint, 32);
    return CS_OK;
  }
  cs_ids_report_t ids;
  CS_TRY(cs_inspect_ids(ctx, store, part, &ids));
  CS_CHECK(ids.duplicates == 0, CS_EDATA,
           "%s: %lld duplicated customer_id values (e.g. %lld at rows %lld and %lld)",
           store->path, (long long)ids.duplicates, (long long)ids.example_id,
           (long long)ids.example_rows[0], (long long)ids.example_rows[1]);
  snprintf(fp, 32, "%016llx", (unsigned long long)ids.fingerprint);
  ids_memo.valid = stat(store->path, &ids_memo.st) == 0;
  memcpy(ids_memo.fingerprint, fp, 32);
fail:
  return status;
}

int cs_stage_open(cs_ctx_t *ctx, const cs_opts_t *o, cs_stage_t *st) {
  int status = CS_OK;
  st->store = NULL;
  const char *input = cs_opt_str(o, "input"), *output = cs_opt_str(o, "output");
  CS_CHECK(input, CS_EUSAGE, "%s needs --input STORE", o->command);
  CS_CHECK(output, CS_EUSAGE, "%s needs --output RESULTS", o->command);
  CS_TRY(cs_io_check_writable(ctx, output, "output"));
  if (cs_opt_str(o, "summary"))
    CS_TRY(cs_io_check_writable(ctx, cs_opt_str(o, "summary"), "summary"));
  cs_timer_start(&ctx->timers, "read");
  CS_TRY(cs_store_open(ctx, input, &st->store));
  /* Every stage command works on customers (churn score had scored none with exit 0). */
  CS_CHECK(st->store->n > 0, CS_EDATA, "%s: the store holds no customers", st->store->path);
  CS_TRY(cs_par_partition(ctx, st->store->n, &st->part));
  CS_TRY(cs_stage_check_ids(ctx, st->store, &st->part, st->fingerprint));
  memset(st->file_ident, 0, sizeof st->file_ident);
  /* An identity, compared as text with what checkpoints and results files hold: keep its
   * form (the report shows the time as a date). */
  if (ctx->rank == 0) cs_file_ident(input, st->file_ident, sizeof st->file_ident);
  CS_TRY(cs_par_bcast(ctx, st->file_ident, sizeof st->file_ident, 0));
  cs_timer_stop(&ctx->timers, "read");
  /* Per-customer bytes of each command's results (labels and ids; scores; the CLV columns),
   * plus room for the small datasets, checked before any compute. */
  static const struct { const char *command; int bytes; } per_customer[] = {
      {"segment", 12}, {"churn-train", 8}, {"churn-score", 8}, {"clv", 88}};
  int64_t need = 1 << 20;
  for (size_t i = 0; i < sizeof per_customer / sizeof *per_customer; i++)
    if (!strcmp(o->command, per_customer[i].command))
      need += st->store->n * per_customer[i].bytes;
  CS_TRY(cs_io_check_space(ctx, output, need, "output"));
fail:
  return status;
}

void cs_stage_close(cs_stage_t *st) {
  cs_store_close(st->store);
  st->store = NULL;
}

int cs_stage_checked(cs_ctx_t *ctx, const cs_stage_t *st, const cs_feature_spec_t *spec) {
  int status = CS_OK;
  if (!ctx->check_only) return CS_OK;
  if (spec) CS_TRY(cs_par_agree(ctx, cs_features_check(st->store, spec, NULL)));
  return CS_ECHECKED; /* the command's options are checked: stop here */
fail:
  return status;
}

int cs_stage_feature_spec(const cs_opts_t *o, cs_feature_spec_t *spec) {
  int status = CS_OK;
  *spec = (cs_feature_spec_t){
      .features = cs_opt_str(o, "features"),
      .log1p = cs_opt_str(o, "log1p"),
      .weights = cs_opt_str(o, "feature-weights"),
      .weight_column = cs_opt_str(o, "weight-column"),
  };
  /* The churn label and the churn split are no features of any model (segment and churn
   * train take both options). */
  const char *label = cs_opt_str(o, "label-column"), *hcol = cs_opt_str(o, "holdout-column");
  int ne = 0;
  if (label) spec->exclude[ne++] = (cs_feature_exclude_t){label, "the churn label (--label-column)", 0};
  if (hcol) spec->exclude[ne++] = (cs_feature_exclude_t){hcol, "the split (--holdout-column)", 0};
  /* The customers' weights weigh the fit; by default they are not also a coordinate of it
   * (they had been, unsaid). */
  if (spec->weight_column)
    spec->exclude[ne++] = (cs_feature_exclude_t){spec->weight_column, "the customer weights "
                                                 "(--weight-column)", 1};
  CS_TRY(cs_features_parse_scale(cs_opt_str(o, "scale"), &spec->scale));
  CS_TRY(cs_features_parse_missing(cs_opt_str(o, "missing"), &spec->missing));
fail:
  return status;
}

int cs_stage_record(cs_ctx_t *ctx, cs_out_t *out, const cs_stage_t *st, cJSON *sum) {
  int status = CS_OK;
  CS_TRY(cs_out_group(out, "/run"));
  CS_TRY(cs_out_attr_str(out, "/run", "input", st->store->path));
  CS_TRY(cs_out_attr_str(out, "/run", "input_fingerprint", st->fingerprint));
  CS_TRY(cs_out_attr_str(out, "/run", "input_file", st->file_ident));
  CS_TRY(cs_out_attr_i64(out, "/run", "ranks", ctx->size));
  CS_TRY(cs_out_attr_i64(out, "/run", "threads", ctx->threads));
  char *cfg = cJSON_PrintUnformatted(cJSON_GetObjectItem(sum, "config"));
  status = cs_out_attr_str(out, "/run", "config", cfg ? cfg : "{}");
  free(cfg);
  CS_TRY(status);
  cJSON *in = cJSON_AddObjectToObject(sum, "input");
  cJSON_AddStringToObject(in, "path", st->store->path);
  cJSON_AddStringToObject(in, "fingerprint", st->fingerprint);
  cJSON_AddNumberToObject(in, "customers", (double)st->store->n);
  if (st->file_ident[0]) cJSON_AddStringToObject(in, "file", st->file_ident);
fail:
  return status;
}

int cs_stage_publish(cs_ctx_t *ctx, const cs_opts_t *o, const cs_stage_t *st, cs_out_t **out,
                     cJSON **sum) {
  int status = CS_OK;
  *sum = cs_summary_new(ctx, o);
  CS_TRY(cs_stage_record(ctx, *out, st, *sum));
  cs_out_t *done = *out;
  *out = NULL; /* cs_out_commit frees it, on failure too */
  CS_TRY(cs_out_commit(done));
fail:
  return status;
}

int cs_stage_rfm(cs_ctx_t *ctx, cs_stage_t *st, const char *features) {
  int status = CS_OK;
  cs_txn_t txn = {0};
  cs_rfm_t r = {0};
  double *v = NULL;
  static const char *const names[] = {"rfm_frequency", "rfm_recency",  "rfm_age",
                                      "rfm_monetary",  "rfm_ipt_mean", "rfm_ipt_sd"};
  if (!features || !strstr(features, "rfm_")) return CS_OK;
  /* run's dry pass: the columns without their values, for the checks of the feature names
   * (a store without /transactions fails below, before any read). */
  for (int k = 0; ctx->check_only && st->store->txn_rows >= 0 && k < 6; k++)
    CS_TRY(cs_store_add_computed(st->store, names[k], 0, 0, NULL, NULL, 0));
  if (ctx->check_only && st->store->txn_rows >= 0) return CS_OK;
  cs_timer_start(&ctx->timers, "rfm");
  CS_TRY(cs_txn_load(ctx, st->store, &st->part, &txn));
  cs_rfm_opts_t ro = {.merge_same_day = 1};
  CS_TRY(cs_txn_last_day(ctx, &txn, &ro.cal_end));
  ro.holdout_end = ro.cal_end;
  CS_TRY(cs_par_agree(ctx, cs_rfm_compute(&txn, &ro, &r)));
  char day[32];
  cs_format_day(ro.cal_end, day, sizeof day);
  cs_log_info("rfm: features from %lld transactions up to %s (same-day purchases merged)",
              (long long)st->store->txn_rows, day);
  int64_t n = r.n ? r.n : 1;
  v = malloc((size_t)n * sizeof *v);
  CS_TRY(cs_par_agree(ctx, v ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                    "out of memory")));
  /* Customers with no purchase have no RFM: NaN, handled by --missing like any gap. */
  for (int k = 0; k < 6; k++) {
    for (int64_t i = 0; i < r.n; i++) {
      int ok = r.x[i] >= 0;
      v[i] = !ok     ? NAN
             : k == 0 ? (double)r.x[i]
             : k == 1 ? (double)r.recency[i]
             : k == 2 ? (double)r.age[i]
             : k == 3 ? r.monetary[i]
             : k == 4 ? r.ipt_mean[i]
                      : r.ipt_sd[i];
    }
    CS_TRY(cs_par_agree(ctx, cs_store_add_computed(st->store, names[k], st->part.offset, r.n, v,
                                                   NULL, 0)));
  }
  cs_timer_stop(&ctx->timers, "rfm");
fail:
  free(v);
  cs_rfm_free(&r);
  cs_txn_free(&txn);
  return status;
}

int cs_stage_warn_if_changed(cs_ctx_t *ctx, const cs_stage_t *st, const char *results) {
  int status = CS_OK;
  char was[64];
  CS_TRY(cs_io_read_attr_str(ctx, results, "/run", "input_file", was, sizeof was));
  if (ctx->rank == 0 && was[0] && st->file_ident[0] && strcmp(was, st->file_ident))
    cs_log_warn("%s was computed from a store file with the same customers but another size or "
                "modification time (%s; %s now has %s): the values may differ; rerun that stage "
                "if they changed", results, was, st->store->path, st->file_ident);
fail:
  return status;
}

int cs_stage_check_values(cs_ctx_t *ctx, const char *path, const char *dataset, const double *v,
                          int64_t n, int64_t offset, double lo, double hi, const char *what) {
  int status = CS_OK;
  struct {
    int64_t count, row;
    double value;
  } mine = {0, -1, 0.0}, *all = NULL;
  for (int64_t i = 0; i < n; i++)
    if (!isnan(v[i]) && !(v[i] >= lo && v[i] <= hi) && mine.count++ == 0) {
      mine.row = offset + i;
      mine.value = v[i];
    }
  all = calloc((size_t)ctx->size, sizeof *all);
  CS_TRY(cs_par_agree(ctx, all ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                      "out of memory")));
  CS_TRY(cs_par_allgather(ctx, &mine, sizeof mine, all));
  int64_t total = 0, first = -1;
  for (int r = 0; r < ctx->size; r++) {
    total += all[r].count;
    if (first < 0 && all[r].count) first = r;
  }
  /* %.17g: a value just past a limit (1.0000000000000002) is not printed as the limit. */
  CS_CHECK(total == 0, CS_EDATA,
           "%s:%s has %lld value%s that %s not %s, first %.17g at row %lld: not as custseg "
           "wrote it (edited, or made by another tool?); write it again with custseg",
           path, dataset, (long long)total, total == 1 ? "" : "s", total == 1 ? "is" : "are",
           what, all[first].value, (long long)all[first].row);
fail:
  free(all);
  return status;
}

int cs_stage_segment_sizes(cs_ctx_t *ctx, const char *results, double **sizes, int64_t *k) {
  int status = CS_OK;
  int64_t cols = 0;
  char units[64], feats[64];
  CS_TRY(cs_io_read_matrix(ctx, results, "/segments/sizes", sizes, k, &cols, units, sizeof units,
                           feats, sizeof feats));
  CS_CHECK(cols == 1 && *k >= 1 && *k <= 100000, CS_EDATA,
           "%s:/segments/sizes must list 1 .. 100000 segments, found %lld x %lld", results,
           (long long)*k, (long long)cols);
fail:
  return status;
}

int cs_stage_segments(cs_ctx_t *ctx, cs_stage_t *st, const char *results) {
  int status = CS_OK;
  int64_t *lab = NULL;
  double *v = NULL, *sizes = NULL;
  char **names = NULL;
  int64_t k = 0;
  char fp[64];
  /* run's dry pass, before the segment stage made the file: the column without values,
   * categorical like the real one (K unknown: one level). */
  static const char *const one_level[] = {"segment_0"};
  if (ctx->check_only)
    return cs_store_add_computed(st->store, "segment", 0, 0, NULL, one_level, 1);
  CS_TRY(cs_io_read_attr_str(ctx, results, "/run", "input_fingerprint", fp, sizeof fp));
  CS_CHECK(!strcmp(fp, st->fingerprint), CS_EDATA,
           "%s was not computed from %s (its input fingerprint is '%s', this store's %s): "
           "segment this store first", results, st->store->path, fp, st->fingerprint);
  CS_TRY(cs_stage_warn_if_changed(ctx, st, results));
  int64_t n = st->part.n_local ? st->part.n_local : 1;
  lab = malloc((size_t)n * sizeof *lab);
  v = malloc((size_t)n * sizeof *v);
  CS_TRY(cs_par_agree(ctx, lab && v ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                           "out of memory")));
  /* K from /segments/sizes; every label must be a segment or -1 (no segment). */
  CS_TRY(cs_stage_segment_sizes(ctx, results, &sizes, &k));
  CS_TRY(cs_io_read_rows(ctx, results, "/segments/labels", st->store->n, st->part.offset,
                         st->part.n_local, lab));
  int64_t bad = -1;
  for (int64_t i = 0; i < st->part.n_local; i++) {
    if ((lab[i] < -1 || lab[i] >= k) && bad < 0) bad = i;
    v[i] = (double)lab[i]; /* -1 (no segment) is out of range: a missing value */
  }
  CS_TRY(cs_par_agree(ctx, bad < 0 ? CS_OK : cs_error_set(CS_EDATA, __FILE__, __LINE__,
                     "%s:/segments/labels: segment %lld of the customer at row %lld is outside "
                     "-1 .. %lld", results, (long long)lab[bad],
                     (long long)(st->part.offset + bad), (long long)(k - 1))));
  names = calloc((size_t)k, sizeof *names);
  CS_TRY(cs_par_agree(ctx, names ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                        "out of memory")));
  for (int64_t j = 0; j < k; j++) {
    names[j] = malloc(24);
    CS_TRY(cs_par_agree(ctx, names[j] ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                             "out of memory")));
    snprintf(names[j], 24, "segment_%lld", (long long)j);
  }
  CS_TRY(cs_par_agree(ctx, cs_store_add_computed(st->store, "segment", st->part.offset,
                                                 st->part.n_local, v,
                                                 (const char *const *)names, (int)k)));
  cs_log_info("churn: with the segment of every customer (%lld segments, from %s)", (long long)k,
              results);
fail:
  for (int64_t j = 0; names && j < k; j++) free(names[j]);
  free(names);
  free(lab);
  free(v);
  free(sizes);
  return status;
}
