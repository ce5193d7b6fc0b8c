/* cli/cmd_roi.c: `custseg roi`, the per-segment ROI table (docs/roi.md).
 *
 * Reads the store's reserved columns (revenue, costs, conversion, treatment, churn label),
 * the segments of a `segment` results file and, when given, the churn scores and CLVs of
 * `churn` and `clv` results files, all of the same store (checked by its fingerprint), in
 * input row order, each rank its own rows. src/roi computes the table; this file writes /roi
 * and /run to the results file, and the CSV and Markdown tables (rank 0, temporary name and
 * rename, after the results file is published; a later failure removes what was published). */
#include "cli.h"

#include "custseg/roi.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A results file of an earlier stage (its existence was checked with the options) must come
 * from this very store. */
static int check_results(cs_ctx_t *ctx, const cs_stage_t *st, const char *path,
                         const char *stage) {
  int status = CS_OK;
  char fp[64];
  CS_TRY(cs_io_read_attr_str(ctx, path, "/run", "input_fingerprint", fp, sizeof fp));
  CS_CHECK(!strcmp(fp, st->fingerprint), CS_EDATA,
           "%s was not computed from %s (its input fingerprint is '%s', this store's %s): "
           "run %s on this store first", path, st->store->path, fp, st->fingerprint, stage);
  CS_TRY(cs_stage_warn_if_changed(ctx, st, path));
fail:
  return status;
}

/* A reserved column as doubles (*v = NULL when the store has no such column); `money`: its
 * values are amounts, so a categorical column (codes, not amounts) is refused. Collective. */
static int read_column(cs_ctx_t *ctx, cs_stage_t *st, const char *name, int money, double **v) {
  int status = CS_OK;
  const cs_column_t *c = cs_store_column(st->store, name);
  *v = NULL;
  if (!c) return CS_OK; /* the same metadata on every rank */
  CS_CHECK(c->dtype != CS_DT_NONE, CS_EDATA, "%s: /customers/%s is not numeric: %s",
           st->store->path, name, c->type_desc);
  if (money && c->n_categories > 0) {
    /* The level that is not a number is what made it text (import's 'n/a'). */
    const char *text = c->categories[0];
    for (int q = 0; q < c->n_categories; q++) {
      char *end = NULL;
      (void)strtod(c->categories[q], &end);
      if (end == c->categories[q] || *end) {
        text = c->categories[q];
        break;
      }
    }
    CS_FAIL(CS_EDATA,
            "%s: /customers/%s is categorical (%d levels, such as '%s'), not amounts: a money "
            "column must hold numbers (import stores a column with text in it as categorical; "
            "declare it as float64 in import's --schema and list its missing-value marks in "
            "--na-values; amounts such as '1.234,56' or '$5' must be converted to 1234.56 and "
            "5 before the import)",
            st->store->path, name, c->n_categories, text);
  }
  *v = cs_alloc(cs_bytes(st->part.n_local ? st->part.n_local : 1, sizeof **v), name);
  CS_TRY(cs_par_agree(ctx, *v ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_par_agree(ctx, cs_store_read(st->store, name, st->part.offset, st->part.n_local,
                                         CS_DT_F64, *v)));
fail:
  return status;
}

/* A 0/1 column (converted, treated, churned) as 1, 0 or -1 (any other value: unknown); a
 * categorical one by cs_features_flag_values (`positive`: the level meaning 1, or NULL). */
static int read_flag(cs_ctx_t *ctx, cs_stage_t *st, const char *name, const char *positive,
                     int8_t **flag) {
  int status = CS_OK;
  double *v = NULL, one = 1, zero = 0;
  *flag = NULL;
  const cs_column_t *c = cs_store_column(st->store, name);
  /* "holdout" and "control" are the untreated group of a campaign */
  const cs_flag_role_t role = strcmp(name, "treated") ? CS_FLAG_EVENT : CS_FLAG_TREATED;
  if (c) CS_TRY(cs_features_flag_values(st->store->path, c, role, positive, NULL, &one, &zero));
  CS_TRY(read_column(ctx, st, name, 0, &v));
  if (!v) return CS_OK;
  *flag = cs_alloc(cs_bytes(st->part.n_local ? st->part.n_local : 1, 1), name);
  CS_TRY(cs_par_agree(ctx, *flag ? CS_OK : CS_ENOMEM));
  /* Values that are neither the flag's two nor an unknown marker (-1, NaN) are said, as
   * churn train says them of its label: counted, with the first row and value. */
  int64_t odd[2] = {0, INT64_MIN}; /* count, -(first row) */
  double first = 0;
  for (int64_t i = 0; i < st->part.n_local; i++) {
    (*flag)[i] = v[i] == one ? 1 : v[i] == zero ? 0 : -1;
    if ((*flag)[i] < 0 && v[i] == v[i] && v[i] != -1 && !odd[0]++) {
      first = v[i];
      odd[1] = -(st->part.offset + i);
    }
  }
  const int64_t mine = odd[1];
  CS_TRY(cs_par_allreduce(ctx, odd, 1, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, odd + 1, 1, CS_DT_I64, CS_OP_MAX));
  if (odd[0]) {
    double val = mine == odd[1] ? first : -INFINITY; /* offered by the rank holding the row */
    CS_TRY(cs_par_allreduce(ctx, &val, 1, CS_DT_F64, CS_OP_MAX));
    if (ctx->rank == 0)
      cs_log_warn("roi: %s: column '%s' has %lld value(s) that are neither 0/1 (or its two "
                  "levels) nor unknown (-1, NaN), first %g at row %lld: counted as unknown",
                  st->store->path, name,
                  (long long)odd[0], val, (long long)-odd[1]);
  }
fail:
  cs_free(v);
  return status;
}

/* Rank 0 makes the CSV or Markdown table in memory; io publishes it. Collective. */
static int publish_text(cs_ctx_t *ctx, const char *path, const cs_roi_t *r, int markdown,
                        const char *store) {
  int status = CS_OK;
  char *text = NULL;
  size_t len = 0;
  if (ctx->rank == 0) {
    FILE *f = open_memstream(&text, &len);
    int ok = f && (markdown ? cs_roi_write_markdown(f, r, store) : cs_roi_write_csv(f, r)) == 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory making the %s "
                                   "table", markdown ? "Markdown" : "CSV");
  }
  status = cs_par_agree(ctx, status);
  if (status == CS_OK)
    status = cs_io_publish_text(ctx, path, text ? text : "", len,
                                markdown ? "the Markdown table" : "the CSV table");
  free(text);
  return status;
}

static cJSON *row_json(const cs_roi_row_t *o) {
  cJSON *j = cJSON_CreateObject();
  for (int f = 0; f < cs_roi_n_fields; f++) {
    const cs_out_field_t *fd = &cs_roi_fields[f];
    const char *p = (const char *)o + fd->offset;
    if (fd->type == CS_DT_I64) {
      int64_t v;
      memcpy(&v, p, sizeof v);
      if (!strcmp(fd->name, "action")) {
        if (v >= 0 && v < CS_ROI_ACTIONS)
          cJSON_AddStringToObject(j, "action", cs_roi_action_names[v]);
        else
          cJSON_AddNullToObject(j, "action");
      } else
        cJSON_AddNumberToObject(j, fd->name, (double)v);
    } else {
      double v;
      memcpy(&v, p, sizeof v);
      if (isfinite(v))
        cJSON_AddNumberToObject(j, fd->name, v);
      else
        cJSON_AddNullToObject(j, fd->name);
    }
  }
  return j;
}

static const char *const reserved[] = {"revenue", "marketing_cost", "acquisition_cost",
                                       "converted", "treated", "churned"};
enum { N_RESERVED = 6 };

/* The label column of a `churn train` results file (/churn/model@label_column) and, for a
 * categorical one, its churned level (@label_positive); "churned" and "" stay in `label` and
 * `positive` for other results (churn score's). Collective. */
static int churn_label(cs_ctx_t *ctx, const char *churn, char *label, size_t len, char *positive,
                       size_t plen) {
  /* /churn/score says it (both churn train and churn score write it there); a file of an
   * older version only in /churn/model, which churn score files lack. */
  char v[CS_NAME_MAX] = "";
  const char *where = "/churn/score";
  int status = cs_io_read_attr_str(ctx, churn, where, "label_column", v, sizeof v);
  if (status == CS_OK && !*v) {
    int exists = 0;
    where = "/churn/model";
    status = cs_io_object_exists(ctx, churn, where, &exists);
    if (status == CS_OK && exists)
      status = cs_io_read_attr_str(ctx, churn, where, "label_column", v, sizeof v);
    if (status == CS_OK && !exists) return CS_OK;
  }
  if (status == CS_OK && *v) snprintf(label, len, "%s", v);
  if (status == CS_OK)
    status = cs_io_read_attr_str(ctx, churn, where, "label_positive", positive, plen);
  return status;
}

/* The store columns read, each once: the reserved ones present, the churn label in place of
 * `churned` (it may itself be one of the others). Returns their number. */
static int columns_read(const cs_stage_t *st, const char *label, const char *cols[N_RESERVED]) {
  int nc = 0;
  for (int j = 0; j < N_RESERVED; j++) {
    const char *name = strcmp(reserved[j], "churned") ? reserved[j] : label;
    int seen = 0;
    for (int e = 0; e < nc; e++) seen |= !strcmp(cols[e], name);
    if (!seen && cs_store_column(st->store, name)) cols[nc++] = name;
  }
  return nc;
}

static int write_roi(cs_out_t *out, const cs_roi_t *r, const cs_stage_t *st, const char *seg,
                     const char *churn, const char *clv, const char *label,
                     const char *revenue_units) {
  int status = CS_OK;
  const char *g = "/roi", *t = "/roi/table";
  const char *cols[N_RESERVED], *cost[2];
  int nc = columns_read(st, label, cols), ncost = 0;
  if (cs_store_column(st->store, "acquisition_cost")) cost[ncost++] = "acquisition_cost";
  if (cs_store_column(st->store, "marketing_cost")) cost[ncost++] = "marketing_cost";
  CS_TRY(cs_out_group(out, g));
  CS_TRY(cs_out_table(out, t, cs_roi_fields, cs_roi_n_fields, sizeof(cs_roi_row_t), r->rows,
                      r->row));
  CS_TRY(cs_out_attr_strings(out, t, "action_categories", cs_roi_action_names, CS_ROI_ACTIONS));
  CS_TRY(cs_out_attr_str(out, t, "segment_codes",
                         "0..K-1: segments; -2: customers without a segment; -1: total (last row)"));
  CS_TRY(cs_out_attr_i64(out, g, "customers", st->store->n));
  CS_TRY(cs_out_attr_i64(out, g, "segments", r->k));
  CS_TRY(cs_out_attr_i64(out, g, "unsegmented", r->unsegmented));
  CS_TRY(cs_out_attr_str(out, g, "segment_results", seg));
  CS_TRY(cs_out_attr_str(out, g, "churn_results", churn ? churn : ""));
  CS_TRY(cs_out_attr_str(out, g, "clv_results", clv ? clv : ""));
  CS_TRY(cs_out_attr_strings(out, g, "store_columns", cols, nc));
  CS_TRY(cs_out_attr_strings(out, g, "roi_cost_columns", cost, ncost));
  const double conf = 0.95;
  CS_TRY(cs_out_attr_f64(out, g, "confidence", &conf, 1));
  CS_TRY(cs_out_attr_f64(out, g, "z", &r->z, 1));
  CS_TRY(cs_out_attr_str(out, g, "uplift_interval", "newcombe-wilson"));
  CS_TRY(cs_out_attr_str(out, g, "campaign_cost_column", "marketing_cost"));
  /* What the revenue covers (the store's /customers/revenue@units, "" when it does not say):
   * ROI sets it against acquisition cost spent once, so the period is part of reading it. */
  CS_TRY(cs_out_attr_str(out, g, "revenue_units", revenue_units));
  for (int q = 0; q < CS_ROI_NQ; q++) {
    char name[64];
    snprintf(name, sizeof name, "%s_grid_exponent", cs_roi_quantity_names[q]);
    CS_TRY(cs_out_attr_i64(out, g, name, r->grid[q].exponent));
    snprintf(name, sizeof name, "%s_exact", cs_roi_quantity_names[q]);
    CS_TRY(cs_out_attr_i64(out, g, name, r->grid[q].exact));
  }
fail:
  return status;
}

int cs_cmd_roi(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0, csv_done = 0, md_done = 0;
  cs_stage_t st = {0};
  cs_roi_t r = {0};
  cs_out_t *out = NULL;
  cJSON *sum = NULL;
  double *sizes = NULL, *col[3] = {NULL, NULL, NULL}, *score = NULL, *clv_v = NULL;
  int8_t *flag[3] = {NULL, NULL, NULL};
  int64_t *lab = NULL;
  const char *seg = cs_opt_str(o, "segment-results"), *churn = cs_opt_str(o, "churn-results"),
             *clv = cs_opt_str(o, "clv-results"), *csv = cs_opt_str(o, "roi-csv"),
             *md = cs_opt_str(o, "roi-markdown");
  CS_CHECK(seg, CS_EUSAGE, "roi needs --segment-results FILE (a `custseg segment` results file "
                           "of this store)");
  CS_TRY(cs_stage_open(ctx, o, &st));
  if (csv) CS_TRY(cs_io_check_writable(ctx, csv, "CSV table"));
  if (md) CS_TRY(cs_io_check_writable(ctx, md, "Markdown table"));

  cs_timer_start(&ctx->timers, "read");
  const int64_t n = st.part.n_local, nb = n ? n : 1, N = st.store->n;
  CS_TRY(check_results(ctx, &st, seg, "custseg segment"));
  if (churn) CS_TRY(check_results(ctx, &st, churn, "custseg churn train (or churn score)"));
  if (clv) CS_TRY(check_results(ctx, &st, clv, "custseg clv"));
  int64_t k = 0;
  CS_TRY(cs_stage_segment_sizes(ctx, seg, &sizes, &k));
  lab = cs_alloc(cs_bytes(nb, sizeof *lab), "segments");
  CS_TRY(cs_par_agree(ctx, lab ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_io_read_rows(ctx, seg, "/segments/labels", N, st.part.offset, n, lab));
  for (int j = 0; j < 3; j++) CS_TRY(read_column(ctx, &st, reserved[j], 1, &col[j]));
  /* The observed churn comes from the churn model's own label column when there is one. */
  char label[CS_NAME_MAX] = "churned", positive[128] = "";
  if (churn) CS_TRY(churn_label(ctx, churn, label, sizeof label, positive, sizeof positive));
  const char *flags[3] = {reserved[3], reserved[4], label};
  for (int j = 0; j < 3; j++) CS_TRY(read_flag(ctx, &st, flags[j], j == 2 ? positive : NULL, &flag[j]));
  if (churn) {
    score = cs_alloc(cs_bytes(nb, sizeof *score), "churn scores");
    CS_TRY(cs_par_agree(ctx, score ? CS_OK : CS_ENOMEM));
    CS_TRY(cs_io_read_rows_f64(ctx, churn, "/churn/score", N, st.part.offset, n, score));
    CS_TRY(cs_stage_check_values(ctx, churn, "/churn/score", score, n, st.part.offset, 0, 1,
                                 "probabilities (0 .. 1)"));
  }
  if (clv) {
    clv_v = cs_alloc(cs_bytes(nb, sizeof *clv_v), "CLV");
    CS_TRY(cs_par_agree(ctx, clv_v ? CS_OK : CS_ENOMEM));
    CS_TRY(cs_io_read_rows_f64(ctx, clv, "/clv/value", N, st.part.offset, n, clv_v));
    CS_TRY(cs_stage_check_values(ctx, clv, "/clv/value", clv_v, n, st.part.offset, 0,
                                 DBL_MAX, "finite and at least 0"));
  }
  cs_timer_stop(&ctx->timers, "read");

  cs_timer_start(&ctx->timers, "sums");
  char source[4200];
  snprintf(source, sizeof source, "%s:/segments/labels", seg);
  const cs_roi_input_t in = {.n = n, .offset = st.part.offset, .n_global = N, .k = (int)k,
                             .segment = lab, .segment_source = source,
                             .revenue = col[0], .marketing_cost = col[1],
                             .acquisition_cost = col[2], .converted = flag[0],
                             .treated = flag[1], .churned = flag[2], .churn_score = score,
                             .clv = clv_v};
  CS_TRY(cs_roi_compute(ctx, &in, &r));
  cs_timer_stop(&ctx->timers, "sums");
  for (int64_t g = 0; g < k; g++)
    CS_CHECK((double)r.row[g].customers == sizes[g], CS_EDATA,
             "%s: /segments/sizes gives segment %lld %.0f customers but /segments/labels %lld",
             seg, (long long)g, sizes[g], (long long)r.row[g].customers);
  const cs_roi_row_t *tot = &r.row[r.rows - 1];
  char exact[256] = "";
  for (int q = 0; q < CS_ROI_NQ; q++)
    if (!r.grid[q].exact) {
      snprintf(exact + strlen(exact), sizeof exact - strlen(exact), "%s%s", exact[0] ? ", " : "",
               cs_roi_quantity_names[q]);
      /* Not silent when it matters: one extreme value coarsens the grid for every segment
       * (a grid of 2^-97 for revenue at risk is normal and harmless; 2^-20 of a unit is not),
       * and always said when a sum became NaN for it. */
      if (ctx->rank == 0 && (r.grid[q].exponent < 20 || r.grid[q].unknown > 0))
        cs_log_warn("roi: %s spans too wide a range to be summed exactly: its values are truncated "
                    "to multiples of %g, which leaves %lld of its row sums unknown (given as NaN, "
                    "and every figure made from them; an extreme value in the column?)",
                    cs_roi_quantity_names[q], ldexp(1.0, -r.grid[q].exponent),
                    (long long)r.grid[q].unknown);
    }
  for (int q = 0; q < CS_ROI_NQ; q++)
    if (ctx->rank == 0 && r.grid[q].overflow > 0)
      cs_log_warn("roi: %lld row sum%s of %s %s beyond the largest double (about 1.8e308), given "
                  "as NaN with every figure made from %s (values near that limit in the column?)",
                  (long long)r.grid[q].overflow, r.grid[q].overflow == 1 ? "" : "s",
                  cs_roi_quantity_names[q], r.grid[q].overflow == 1 ? "is" : "are",
                  r.grid[q].overflow == 1 ? "it" : "them");
  /* A table of sizes and churn only, all its money n/a, is no silent outcome: exports name
   * these columns otherwise (MonthlyCharges), and roi reads them by name. */
  if (ctx->rank == 0 && !col[0] && !col[1] && !col[2] && !flag[0])
    cs_log_warn("roi: %s has none of the columns revenue, marketing_cost, acquisition_cost and "
                "converted, so every money, conversion and ROI figure of the table is NaN (n/a): "
                "roi reads them by these names (docs/roi.md), so give a column of yours one of "
                "them (custseg import --rename MonthlyCharges=revenue, say; a column so named "
                "is no default feature)", st.store->path);
  if (r.campaign_note[0] && ctx->rank == 0) cs_log_warn("roi: %s", r.campaign_note);
  if (r.cost_note[0] && ctx->rank == 0) cs_log_warn("roi: %s", r.cost_note);
  if (r.value_note[0] && ctx->rank == 0) cs_log_warn("roi: %s", r.value_note);
  cs_log_info("roi: %lld customers, %lld segments%s; revenue %.2f, conversions %.0f, ROI %.4g",
              (long long)N, (long long)k, r.unsegmented ? " and customers without one" : "",
              tot->revenue_total, tot->conversions, tot->roi);
  cs_log_info("verification: segment rows add up to the total in every count and sum (%lld "
              "customers); sums exact%s%s", (long long)N, exact[0] ? " except, on a grid: " : "",
              exact);

  cs_timer_start(&ctx->timers, "write");
  char revenue_units[256] = "";
  if (cs_store_column(st.store, "revenue"))
    CS_TRY(cs_io_read_attr_str(ctx, st.store->path, "/customers/revenue", "units", revenue_units,
                               sizeof revenue_units));
  CS_TRY(cs_out_create(ctx, cs_opt_str(o, "output"), &out));
  CS_TRY(write_roi(out, &r, &st, seg, churn, clv, label, revenue_units));
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  if (csv) CS_TRY(publish_text(ctx, csv, &r, 0, st.store->path));
  csv_done = 1;
  if (md) CS_TRY(publish_text(ctx, md, &r, 1, st.store->path));
  md_done = 1;
  cs_timer_stop(&ctx->timers, "write");

  cJSON *jr = cJSON_AddObjectToObject(sum, "roi");
  cJSON_AddNumberToObject(jr, "segments", (double)k);
  cJSON_AddNumberToObject(jr, "customers", (double)N);
  cJSON_AddNumberToObject(jr, "unsegmented", (double)r.unsegmented);
  cJSON *inputs = cJSON_AddObjectToObject(jr, "inputs");
  cJSON_AddStringToObject(inputs, "segment_results", seg);
  if (churn) cJSON_AddStringToObject(inputs, "churn_results", churn);
  else cJSON_AddNullToObject(inputs, "churn_results");
  if (clv) cJSON_AddStringToObject(inputs, "clv_results", clv);
  else cJSON_AddNullToObject(inputs, "clv_results");
  cJSON *sc = cJSON_AddArrayToObject(inputs, "store_columns");
  const char *cols[N_RESERVED];
  const int nc = columns_read(&st, label, cols);
  for (int c = 0; c < nc; c++) cJSON_AddItemToArray(sc, cJSON_CreateString(cols[c]));
  cJSON *ex = cJSON_AddObjectToObject(jr, "sums");
  for (int q = 0; q < CS_ROI_NQ; q++) {
    cJSON *e = cJSON_AddObjectToObject(ex, cs_roi_quantity_names[q]);
    cJSON_AddNumberToObject(e, "grid_exponent", r.grid[q].exponent);
    cJSON_AddBoolToObject(e, "exact", r.grid[q].exact);
    cJSON_AddNumberToObject(e, "unknown_sums", (double)r.grid[q].unknown);
    cJSON_AddNumberToObject(e, "overflowed_sums", (double)r.grid[q].overflow);
  }
  cJSON *rows = cJSON_AddArrayToObject(jr, "table");
  for (int64_t i = 0; i < r.rows; i++) cJSON_AddItemToArray(rows, row_json(&r.row[i]));
  cJSON *outs = cJSON_AddObjectToObject(jr, "outputs");
  if (csv) cJSON_AddStringToObject(outs, "csv", csv);
  else cJSON_AddNullToObject(outs, "csv");
  if (md) cJSON_AddStringToObject(outs, "markdown", md);
  else cJSON_AddNullToObject(outs, "markdown");
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) {
    cs_io_remove(ctx, cs_opt_str(o, "output"));
    if (csv && csv_done) cs_io_remove(ctx, csv);
    if (md && md_done) cs_io_remove(ctx, md);
  }
  cJSON_Delete(sum);
  cs_roi_free(&r);
  free(sizes);
  for (int j = 0; j < 3; j++) {
    cs_free(col[j]);
    cs_free(flag[j]);
  }
  cs_free(lab);
  cs_free(score);
  cs_free(clv_v);
  cs_stage_close(&st);
  return status;
}
