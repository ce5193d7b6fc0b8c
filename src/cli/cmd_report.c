/* cli/cmd_report.c: `custseg report`, one self-contained HTML page about a pipeline's
 * results (docs/report.md).
 *
 * Reads the segment results (required) and, when given, the churn, CLV and ROI results,
 * checks that every file is of its kind and comes from the same store (the /run input
 * fingerprints agree, the ROI table's segment counts and the columns of a --previous run's
 * migration matrix are the segment file's sizes), and
 * hands everything to src/report. The small objects are read by rank 0 and broadcast (io);
 * the per-customer CLVs and labels are read in parallel, each rank its rows, and reduced to
 * integer histograms (src/report through par). Rank 0 builds the page and publishes it under
 * a temporary name and rename; a failure leaves no report behind. Trade-off: no --input:
 * everything the page shows is in the results files, so the store is not opened (the
 * fingerprints tie the files to one store without reading it again). */
#include "cli.h"

#include "custseg/build_info.h"
#include "custseg/report.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A results file given by --option (present, readable and of its kind: checked when the
 * command starts, cs_opts_check_inputs) has /run, and, unless it is the reference itself, the
 * reference's input fingerprint. Collective. */
static int open_results(cs_ctx_t *ctx, const char *path, const char *option,
                        const cs_report_file_t *ref, cs_report_file_t *f) {
  int status = CS_OK, yes = 0;
  f->path = path;
  CS_TRY(cs_io_object_exists(ctx, path, "/run", &yes));
  CS_CHECK(yes, CS_EFORMAT, "--%s %s has no /run group (not written by custseg?)", option, path);
  CS_TRY(cs_io_read_attrs(ctx, path, "/run", &f->run));
  const char *fp = cs_io_attr(&f->run, "input_fingerprint");
  CS_CHECK(fp && fp[0], CS_EFORMAT, "--%s %s: /run has no input_fingerprint attribute", option,
           path);
  if (ref) {
    const char *want = cs_io_attr(&ref->run, "input_fingerprint");
    CS_CHECK(!strcmp(fp, want), CS_EDATA,
             "--%s %s comes from another store than --segment-results %s (/run "
             "input_fingerprint '%s', not '%s')", option, path, ref->path, fp, want);
    /* The same customers, but the store file had changed between the two runs: the values
     * behind the two files may differ (absent in files of older builds). */
    const char *was = cs_io_attr(&ref->run, "input_file"), *now = cs_io_attr(&f->run, "input_file");
    if (ctx->rank == 0 && was && now && was[0] && now[0] && strcmp(was, now))
      cs_log_warn("--%s %s and --segment-results %s were computed from different states of the "
                  "store file (%s; %s): the customers are the same, the values may not be",
                  option, path, ref->path, now, was);
  }
fail:
  return status;
}

/* A small numeric dataset with the string-array attribute `names_attr` of `names_object`
 * (NULL: none) as its column names. Collective. */
static int read_matrix(cs_ctx_t *ctx, const char *path, const char *dataset,
                       const char *names_object, const char *names_attr, cs_report_matrix_t *m) {
  int status = CS_OK;
  char units[64], feats[8];
  CS_TRY(cs_io_read_matrix(ctx, path, dataset, &m->v, &m->rows, &m->cols, units, sizeof units,
                           feats, sizeof feats));
  if (names_attr)
    CS_TRY(cs_io_read_attr_strings(ctx, path, names_object, names_attr, &m->names, &m->n_names));
fail:
  return status;
}

/* The shape check every matrix of the page gets: a clear error naming file and dataset. */
static int expect_shape(const char *path, const char *dataset, const cs_report_matrix_t *m,
                        int64_t rows, int64_t cols) {
  if (m->rows == rows && (cols < 0 || m->cols == cols)) return CS_OK;
  return cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                      "%s:%s is %lld x %lld, expected %lld x %lld", path, dataset,
                      (long long)m->rows, (long long)m->cols, (long long)rows,
                      (long long)(cols < 0 ? m->cols : cols));
}

static int read_segments(cs_ctx_t *ctx, const char *seg, cs_report_t *r) {
  int status = CS_OK, yes = 0;
  CS_TRY(cs_io_read_attrs(ctx, seg, "/segments", &r->seg));
  CS_TRY(read_matrix(ctx, seg, "/segments/sizes", NULL, NULL, &r->sizes));
  const int64_t k = r->sizes.rows;
  CS_CHECK(r->sizes.cols == 1 && k >= 1 && k <= 100000, CS_EFORMAT,
           "%s:/segments/sizes must list 1 .. 100000 segments, found %lld x %lld", seg,
           (long long)k, (long long)r->sizes.cols);
  CS_TRY(read_matrix(ctx, seg, "/segments/centroids", "/segments/centroids", "features",
                     &r->centroids));
  CS_TRY(expect_shape(seg, "/segments/centroids", &r->centroids, k, -1));
  CS_TRY(read_matrix(ctx, seg, "/segments/centroids_standardized",
                     "/segments/centroids_standardized", "features", &r->centroids_std));
  CS_TRY(expect_shape(seg, "/segments/centroids_standardized", &r->centroids_std, k,
                      r->centroids.cols));
  r->recommended_k = NAN;
  CS_TRY(cs_io_object_exists(ctx, seg, "/segments/k_selection", &yes));
  if (yes) {
    cs_io_attrs_t a = {0};
    CS_TRY(read_matrix(ctx, seg, "/segments/k_selection", "/segments/k_selection", "columns",
                       &r->k_selection));
    status = cs_io_read_attrs(ctx, seg, "/segments/k_selection", &a);
    const char *rk = cs_io_attr(&a, "recommended_k");
    if (rk) r->recommended_k = strtod(rk, NULL);
    cs_io_free_attrs(&a);
    CS_TRY(status);
  }
  /* Personas: /segments/personas as the segment stage writes it (mean, median, zdiff K x P,
   * population_mean and population_sd P, top K x 3; attributes columns P and labels K). */
  CS_TRY(cs_io_object_exists(ctx, seg, "/segments/personas", &yes));
  if (yes) {
    const char *g = "/segments/personas";
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/mean", g, "columns", &r->p_mean));
    const int64_t p = r->p_mean.cols;
    CS_TRY(expect_shape(seg, "/segments/personas/mean", &r->p_mean, k, -1));
    CS_CHECK(r->p_mean.n_names == p, CS_EFORMAT,
             "%s:/segments/personas has %d columns names for %lld columns", seg,
             r->p_mean.n_names, (long long)p);
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/median", NULL, NULL, &r->p_median));
    CS_TRY(expect_shape(seg, "/segments/personas/median", &r->p_median, k, p));
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/zdiff", NULL, NULL, &r->p_zdiff));
    CS_TRY(expect_shape(seg, "/segments/personas/zdiff", &r->p_zdiff, k, p));
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/population_mean", NULL, NULL,
                       &r->p_pop_mean));
    CS_TRY(expect_shape(seg, "/segments/personas/population_mean", &r->p_pop_mean, p, 1));
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/population_sd", NULL, NULL,
                       &r->p_pop_sd));
    CS_TRY(expect_shape(seg, "/segments/personas/population_sd", &r->p_pop_sd, p, 1));
    CS_TRY(read_matrix(ctx, seg, "/segments/personas/top", NULL, NULL, &r->p_top));
    CS_TRY(expect_shape(seg, "/segments/personas/top", &r->p_top, k, -1));
    CS_TRY(cs_io_read_attr_strings(ctx, seg, g, "labels", &r->p_labels, &r->n_labels));
    CS_CHECK(r->n_labels == 0 || r->n_labels == k, CS_EFORMAT,
             "%s:/segments/personas has %d labels for %lld segments", seg, r->n_labels,
             (long long)k);
    r->has_personas = 1;
  }
fail:
  return status;
}

/* /segments/previous (written by segment --previous): the comparison with the previous run,
 * checked for shape and against /segments/sizes, so the page never shows a matrix that does
 * not add up. Absent: has_previous stays 0. Collective. */
static int read_previous(cs_ctx_t *ctx, const char *seg, cs_report_t *r) {
  int status = CS_OK, yes = 0;
  const char *g = "/segments/previous";
  CS_TRY(cs_io_object_exists(ctx, seg, g, &yes));
  if (!yes) return CS_OK;
  CS_TRY(cs_io_read_attrs(ctx, seg, g, &r->prev));
  const char *kp_text = cs_io_attr(&r->prev, "k");
  const int64_t k = r->sizes.rows, kp = kp_text ? strtoll(kp_text, NULL, 10) : 0;
  CS_CHECK(kp >= 1 && kp <= 100000, CS_EFORMAT,
           "%s:%s has no k attribute of 1 .. 100000 (the previous run's K)", seg, g);
  const struct { const char *name; cs_report_matrix_t *m; int64_t rows, cols; } ds[] = {
      {"/segments/previous/migration", &r->migration, kp + 1, k + 1},
      {"/segments/previous/previous_id", &r->previous_id, k, 1},
      {"/segments/previous/drift", &r->drift, k, 1},
      {"/segments/previous/drift_standardized", &r->drift_std, k, 1},
      {"/segments/previous/appeared", &r->appeared, -1, 1},
      {"/segments/previous/vanished", &r->vanished, -1, 1},
      {"/segments/previous/weak", &r->weak, -1, 1}}; /* absent before 2026-12: none listed */
  for (size_t i = 0; i < sizeof ds / sizeof *ds; i++) {
    if (ds[i].m == &r->weak) {
      CS_TRY(cs_io_object_exists(ctx, seg, ds[i].name, &yes));
      if (!yes) continue;
    }
    CS_TRY(read_matrix(ctx, seg, ds[i].name, NULL, NULL, ds[i].m));
    CS_TRY(expect_shape(seg, ds[i].name, ds[i].m, ds[i].rows < 0 ? ds[i].m->rows : ds[i].rows,
                        ds[i].cols));
  }
  for (int64_t q = 0; q < k; q++) {
    double sum = 0;
    for (int64_t p = 0; p < kp; p++) sum += r->migration.v[p * (k + 1) + q];
    sum += r->migration.v[kp * (k + 1) + q];
    CS_CHECK(sum == r->sizes.v[q], CS_EDATA,
             "%s:/segments/previous/migration column %lld adds up to %.0f customers, "
             "/segments/sizes has %.0f", seg, (long long)q, sum, r->sizes.v[q]);
  }
  r->has_previous = 1;
fail:
  return status;
}

/* /roi/table, checked against the segment file's sizes (the same segments). Collective. */
static int read_roi(cs_ctx_t *ctx, const char *path, const char *seg, cs_report_t *r) {
  int status = CS_OK;
  const int F = CS_REPORT_ROI_FIELDS;
  CS_TRY(cs_io_read_table_f64(ctx, path, "/roi/table", cs_report_roi_fields, F, &r->roi,
                              &r->roi_rows, r->roi_present));
  CS_CHECK(r->roi_present[0] && r->roi_present[1], CS_EFORMAT,
           "%s:/roi/table has no segment and customers fields", path);
  CS_TRY(cs_io_read_attr_strings(ctx, path, "/roi/table", "action_categories", &r->actions,
                                 &r->n_actions));
  CS_TRY(cs_io_read_attr_str(ctx, path, "/roi", "revenue_units", r->revenue_units,
                             sizeof r->revenue_units));
  int64_t seen = 0;
  for (int64_t i = 0; i < r->roi_rows; i++) {
    double g = r->roi[i * F], n = r->roi[i * F + 1];
    if (g < 0) continue;
    CS_CHECK(g < (double)r->sizes.rows && n == r->sizes.v[(int64_t)g], CS_EDATA,
             "%s:/roi/table does not match --segment-results %s (segment %.0f: %.0f customers, "
             "/segments/sizes has %s): was the ROI computed from other segment results?",
             path, seg, g, n, g < (double)r->sizes.rows ? "another count" : "no such segment");
    seen++;
  }
  CS_CHECK(seen == r->sizes.rows, CS_EDATA,
           "%s:/roi/table has %lld segment rows, --segment-results %s has %lld segments", path,
           (long long)seen, seg, (long long)r->sizes.rows);
  r->has_roi = 1;
fail:
  return status;
}

/* The ROI table's churn and CLV figures come from the files its roi run read (/roi@
 * churn_results, clv_results): another --churn-results or --clv-results here makes the page's
 * churn or CLV section disagree with its ROI table; warned of (a stored path that no longer
 * resolves from here is not compared). Collective. */
static int warn_roi_inputs(cs_ctx_t *ctx, const char *roi, const char *churn, const char *clv) {
  int status = CS_OK;
  const char *const attr[2] = {"churn_results", "clv_results"}, *given[2] = {churn, clv};
  for (int i = 0; i < 2; i++) {
    char used[4096] = "";
    if (!given[i]) continue;
    CS_TRY(cs_io_read_attr_str(ctx, roi, "/roi", attr[i], used, sizeof used));
    if (ctx->rank == 0 && used[0] && access(used, F_OK) == 0 && !cs_same_file(used, given[i]))
      cs_log_warn("--roi-results %s was computed from %s '%s', not --%s '%s': the ROI table's "
                  "%s figures come from other results than the %s section", roi, attr[i], used,
                  i ? "clv-results" : "churn-results", given[i], i ? "CLV" : "churn",
                  i ? "CLV" : "churn");
  }
fail:
  return status;
}

static int read_churn(cs_ctx_t *ctx, const char *path, cs_report_t *r) {
  int status = CS_OK, yes = 0;
  r->has_churn = 1;
  static const char *const splits[] = {"holdout", "train"};
  for (int s = 0; s < 2 && !r->has_churn_metrics; s++) {
    char group[64], ds[96];
    snprintf(group, sizeof group, "/churn/metrics/%s", splits[s]);
    CS_TRY(cs_io_object_exists(ctx, path, group, &yes));
    if (!yes) continue;
    cs_io_free_attrs(&r->churn_metrics);
    CS_TRY(cs_io_read_attrs(ctx, path, group, &r->churn_metrics));
    const char *n = cs_io_attr(&r->churn_metrics, "customers");
    if (!n || atof(n) <= 0) continue; /* e.g. --holdout 0: no holdout customers */
    cs_report_matrix_free(&r->gains);
    cs_report_matrix_free(&r->calibration);
    snprintf(ds, sizeof ds, "%s/gains", group);
    CS_TRY(read_matrix(ctx, path, ds, NULL, NULL, &r->gains));
    CS_CHECK(r->gains.cols == 3, CS_EFORMAT, "%s:%s must have 3 columns", path, ds);
    snprintf(ds, sizeof ds, "%s/calibration", group);
    CS_TRY(read_matrix(ctx, path, ds, NULL, NULL, &r->calibration));
    CS_CHECK(r->calibration.cols == 3, CS_EFORMAT, "%s:%s must have 3 columns", path, ds);
    r->churn_split = splits[s];
    r->has_churn_metrics = 1;
  }
fail:
  return status;
}

/* The CLV histograms: labels and values of this rank's rows, reduced. Collective. */
static int read_clv(cs_ctx_t *ctx, const char *path, const char *seg, cs_report_t *r) {
  int status = CS_OK;
  int64_t n_all = -1, *lab = NULL;
  double *val = NULL;
  cs_part_t part;
  CS_TRY(cs_io_read_attrs(ctx, path, "/clv/model", &r->clv_model));
  CS_TRY(cs_io_dataset_length(ctx, seg, "/segments/labels", &n_all));
  CS_CHECK(n_all >= 0, CS_EFORMAT, "%s has no dataset /segments/labels", seg);
  CS_TRY(cs_par_partition(ctx, n_all, &part));
  const int64_t nb = part.n_local ? part.n_local : 1;
  lab = cs_alloc(cs_bytes(nb, sizeof *lab), "segment labels");
  val = cs_alloc(cs_bytes(nb, sizeof *val), "CLV values");
  CS_TRY(cs_par_agree(ctx, lab && val ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_io_read_rows(ctx, seg, "/segments/labels", n_all, part.offset, part.n_local, lab));
  CS_TRY(cs_io_read_rows_f64(ctx, path, "/clv/value", n_all, part.offset, part.n_local, val));
  CS_TRY(cs_stage_check_values(ctx, path, "/clv/value", val, part.n_local, part.offset, 0,
                               DBL_MAX, "finite and at least 0"));
  status = cs_report_clv_distribution(ctx, part.n_local, lab, val, (int)r->sizes.rows, &r->clv);
  if (status == CS_EDATA) {
    /* Name the file the labels came from (the distribution only knows the value). */
    const size_t n = strlen(seg) + 32;
    char *prefix = malloc(n);
    if (prefix) {
      snprintf(prefix, n, "%s:/segments/labels: ", seg);
      cs_error_rewrite(prefix, NULL, "");
      free(prefix);
    }
  }
  CS_TRY(status);
  r->has_clv = 1;
fail:
  cs_free(lab);
  cs_free(val);
  return status;
}

/* --timings FILE: a JSON object {stage: seconds} (a value may also be an object with
 * "seconds", or with "max" as in a summary's timings_seconds). Every rank reads it. */
static int read_timings(cs_ctx_t *ctx, const char *path, cs_report_t *r) {
  int status = CS_OK;
  char *text = NULL;
  cJSON *j = NULL;
  FILE *f = fopen(path, "rb");
  long size = -1;
  if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
  if (f && size >= 0 && size < (16 << 20) && fseek(f, 0, SEEK_SET) == 0 &&
      (text = calloc(1, (size_t)size + 1)) && fread(text, 1, (size_t)size, f) == (size_t)size)
    j = cJSON_Parse(text);
  int local = CS_OK;
  if (!f)
    local = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot open --timings '%s': %s", path,
                         strerror(errno));
  else if (!cJSON_IsObject(j))
    local = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                         "--timings %s is not a JSON object {stage: seconds}", path);
  int n = cJSON_GetArraySize(j);
  if (local == CS_OK) {
    r->timing_name = calloc((size_t)n + 1, sizeof *r->timing_name);
    r->timing_seconds = calloc((size_t)n + 1, sizeof *r->timing_seconds);
    if (!r->timing_name || !r->timing_seconds)
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  const cJSON *e = NULL;
  int i = 0;
  if (local == CS_OK)
    cJSON_ArrayForEach(e, j) {
      const cJSON *v = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "seconds") : e;
      if (cJSON_IsObject(e) && !v) v = cJSON_GetObjectItemCaseSensitive(e, "max");
      if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) {
        local = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                             "--timings %s: '%s' is not a number of seconds", path, e->string);
        break;
      }
      r->timing_name[i] = strdup(e->string ? e->string : "?");
      r->timing_seconds[i] = v->valuedouble;
      r->n_timings = ++i;
      if (!r->timing_name[i - 1]) {
        local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
        break;
      }
    }
  r->timing_source = path;
  CS_TRY(cs_par_agree(ctx, local));
fail:
  if (f) fclose(f);
  free(text);
  cJSON_Delete(j);
  return status;
}

int cs_cmd_report(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, published = 0;
  cs_report_t r = {0};
  const char **warned = NULL;
  char *html = NULL;
  size_t len = 0;
  int shown[CS_REPORT_SECTIONS] = {0};
  cJSON *sum = NULL;
  const char *seg = cs_opt_str(o, "segment-results"), *churn = cs_opt_str(o, "churn-results"),
             *clv = cs_opt_str(o, "clv-results"), *roi = cs_opt_str(o, "roi-results"),
             *output = cs_opt_str(o, "output"), *timings = cs_opt_str(o, "timings");
  CS_CHECK(seg, CS_EUSAGE, "report needs --segment-results FILE (a `custseg segment` results "
                           "file)");
  CS_CHECK(output, CS_EUSAGE, "report needs --output FILE (the HTML page to write)");
  CS_TRY(cs_io_check_writable(ctx, output, "report"));
  if (cs_opt_str(o, "summary"))
    CS_TRY(cs_io_check_writable(ctx, cs_opt_str(o, "summary"), "summary"));

  cs_timer_start(&ctx->timers, "read");
  r.version = CS_VERSION;
  r.file[0].role = "segment";
  CS_TRY(open_results(ctx, seg, "segment-results", NULL, &r.file[0]));
  r.n_files = 1;
  const struct { const char *path, *option, *role; } more[] = {
      {churn, "churn-results", "churn"}, {clv, "clv-results", "clv"}, {roi, "roi-results", "roi"}};
  for (int i = 0; i < 3; i++) {
    if (!more[i].path) continue;
    cs_report_file_t *f = &r.file[r.n_files++];
    f->role = more[i].role;
    CS_TRY(open_results(ctx, more[i].path, more[i].option, &r.file[0], f));
  }
  CS_TRY(read_segments(ctx, seg, &r));
  CS_TRY(read_previous(ctx, seg, &r));
  if (roi) CS_TRY(read_roi(ctx, roi, seg, &r));
  if (roi) CS_TRY(warn_roi_inputs(ctx, roi, churn, clv));
  if (churn) CS_TRY(read_churn(ctx, churn, &r));
  if (timings) CS_TRY(read_timings(ctx, timings, &r));
  cs_timer_stop(&ctx->timers, "read");
  if (clv) {
    cs_timer_start(&ctx->timers, "clv");
    CS_TRY(read_clv(ctx, clv, seg, &r));
    cs_timer_stop(&ctx->timers, "clv");
  }

  cs_timer_start(&ctx->timers, "render");
  /* The warnings given so far in this process, each text once (rank 0 holds them, and
   * renders the page): for run and demo every stage's. */
  warned = calloc((size_t)cs_log_warnings() + 1, sizeof *warned);
  CS_TRY(cs_par_agree(ctx, warned ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                         "out of memory")));
  for (int i = 0; i < cs_log_warnings(); i++) {
    const char *t = cs_log_warning_text(cs_log_warning_id(i));
    int seen = 0;
    for (int j = 0; j < r.n_warnings && !seen; j++) seen = warned[j] == t;
    if (!seen) warned[r.n_warnings++] = t;
  }
  r.warnings = warned;
  CS_TRY(cs_par_agree(ctx, ctx->rank == 0 ? cs_report_render(&r, &html, &len, shown) : CS_OK));
  CS_TRY(cs_par_bcast(ctx, shown, sizeof shown, 0));
  cs_timer_stop(&ctx->timers, "render");
  cs_timer_start(&ctx->timers, "write");
  CS_TRY(cs_io_publish_text(ctx, output, html, len, "report"));
  published = 1;
  cs_timer_stop(&ctx->timers, "write");
  char list[256] = "", absent[256] = "";
  for (int i = 0; i < CS_REPORT_SECTIONS; i++) {
    char *to = shown[i] ? list : absent;
    snprintf(to + strlen(to), sizeof list - strlen(to), "%s%s", to[0] ? ", " : "",
             cs_report_section_ids[i]);
  }
  cs_log_info("report: %s (%zu bytes): %s%s%s", output, len, list,
              absent[0] ? "; noted as absent: " : "", absent);

  sum = cs_summary_new(ctx, o);
  cJSON *jr = cJSON_AddObjectToObject(sum, "report");
  cJSON_AddStringToObject(jr, "output", output);
  cJSON_AddNumberToObject(jr, "bytes", (double)len);
  cJSON *inputs = cJSON_AddObjectToObject(jr, "inputs");
  for (int f = 0; f < r.n_files; f++) cJSON_AddStringToObject(inputs, r.file[f].role, r.file[f].path);
  cJSON_AddStringToObject(inputs, "input_fingerprint",
                          cs_io_attr(&r.file[0].run, "input_fingerprint"));
  cJSON *secs = cJSON_AddObjectToObject(jr, "sections");
  for (int i = 0; i < CS_REPORT_SECTIONS; i++)
    cJSON_AddBoolToObject(secs, cs_report_section_ids[i], shown[i]);
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (status < 0 && published) cs_io_remove(ctx, output);
  cJSON_Delete(sum);
  free(html);
  free(warned);
  cs_report_free(&r);
  return status;
}
