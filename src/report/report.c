/* report/report.c: the sections of the report page, and the CLV distribution per segment.
 *
 * Each section reads only the cs_report_t the command filled from the results files, and a
 * section whose input is absent becomes its heading and a one-line note, so the page always
 * has the same outline. The CLV distribution is the one per-customer computation: integer
 * histograms per segment on a logarithmic grid fixed by the largest value (an exact max
 * reduction), summed across ranks, so every count, quantile and byte of the page is the same
 * on any number of ranks. Trade-off: quantiles are the geometric middle of a bin of relative
 * width 0.68 %, not exact order statistics (no sort, no gather of N values). */
#include "report_impl.h"

#include "custseg/par.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_report_roi_fields[CS_REPORT_ROI_FIELDS] = {
    "segment",          "customers",        "share",         "revenue_total",
    "revenue_mean",     "acquisition_cost_mean", "conversion_rate", "churn_rate_observed",
    "churn_score_mean", "clv_mean",         "clv_total",     "revenue_at_risk",
    "roi",              "uplift",           "uplift_low",    "uplift_high",
    "incremental_roi",  "action"};
enum {
  F_SEGMENT, F_CUSTOMERS, F_SHARE, F_REVENUE_TOTAL, F_REVENUE_MEAN, F_CAC_MEAN, F_CONVERSION,
  F_CHURN_OBSERVED, F_CHURN_SCORE, F_CLV_MEAN, F_CLV_TOTAL, F_AT_RISK, F_ROI, F_UPLIFT,
  F_UPLIFT_LOW, F_UPLIFT_HIGH, F_INCREMENTAL_ROI, F_ACTION
};

const char *const cs_report_section_ids[CS_REPORT_SECTIONS] = {
    "run-facts", "segment-sizes", "changes", "personas", "centroid-heatmap",
    "k-selection", "roi", "churn", "clv"};
static const char *const section_titles[CS_REPORT_SECTIONS] = {
    "Run facts", "Segment sizes", "Changes since the previous run", "Personas",
    "Centroid heatmap",
    "Choice of K", "ROI and revenue at risk", "Churn model", "Customer lifetime value"};
enum { S_RUN, S_SIZES, S_CHANGES, S_PERSONAS, S_HEATMAP, S_KSEL, S_ROI, S_CHURN, S_CLV };

/* ---- the CLV distribution ------------------------------------------------------------------ */
int cs_report_clv_distribution(cs_ctx_t *ctx, int64_t n, const int64_t *label,
                               const double *value, int k, cs_report_clv_t *out) {
  int status = CS_OK;
  const int groups = k + 1, S = CS_REPORT_CLV_SLOTS;
  int64_t bad = -1;
  double hi = 0;
  memset(out, 0, sizeof *out);
  out->count = calloc((size_t)groups * S, sizeof *out->count);
  CS_TRY(cs_par_agree(ctx, out->count ? CS_OK
                                      : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                     "out of memory")));
  for (int64_t i = 0; i < n; i++) {
    if (label[i] < -1 || label[i] >= k) bad = i;
    if (isfinite(value[i]) && value[i] > hi) hi = value[i];
  }
  CS_TRY(cs_par_agree(ctx, bad < 0 ? CS_OK
                                   : cs_error_set(CS_EDATA, __FILE__, __LINE__,
                                                  "segment label %lld out of range 0..%d",
                                                  (long long)label[bad], k - 1)));
  CS_TRY(cs_par_allreduce(ctx, &hi, 1, CS_DT_F64, CS_OP_MAX));
  /* The bins are a function of hi alone, the same on every rank. */
  const double lo = hi * 1e-6, span = hi > 0 ? log(hi / lo) : 1;
  int64_t *cnt = out->count;
#pragma omp parallel for schedule(static) reduction(+ : cnt[:(size_t)groups * S])
  for (int64_t i = 0; i < n; i++) {
    int64_t *row = cnt + (size_t)(label[i] < 0 ? k : label[i]) * S;
    double v = value[i];
    if (!isfinite(v))
      row[0]++;
    else if (v <= lo)
      row[1]++;
    else {
      int j = (int)(CS_REPORT_CLV_BINS * (log(v / lo) / span));
      row[2 + (j < 0 ? 0 : j >= CS_REPORT_CLV_BINS ? CS_REPORT_CLV_BINS - 1 : j)]++;
    }
  }
  CS_TRY(cs_par_allreduce(ctx, out->count, (int64_t)groups * S, CS_DT_I64, CS_OP_SUM));
  out->groups = groups;
  out->lo = lo;
  out->hi = hi;
fail:
  if (status < 0) {
    free(out->count);
    out->count = NULL;
  }
  return status;
}

/* The lower edge of bin j of [lo, hi] (j = CS_REPORT_CLV_BINS gives hi). */
static double clv_edge(const cs_report_clv_t *c, double j) {
  return c->lo * pow(c->hi / c->lo, j / CS_REPORT_CLV_BINS);
}

double cs_report_clv_quantile(const cs_report_clv_t *c, int group, double q) {
  const int64_t *row = c->count + (size_t)group * CS_REPORT_CLV_SLOTS;
  int64_t total = 0, seen = 0;
  for (int s = 1; s < CS_REPORT_CLV_SLOTS; s++) total += row[s];
  if (total == 0 || !(c->hi > 0)) return NAN;
  /* The customer of rank ceil(q total) (at least the first), as numpy's 'inverted_cdf'. */
  int64_t want = (int64_t)ceil(q * (double)total);
  if (want < 1) want = 1;
  for (int s = 1; s < CS_REPORT_CLV_SLOTS; s++) {
    seen += row[s];
    if (seen >= want) return s == 1 ? 0 : clv_edge(c, s - 2 + 0.5);
  }
  return c->hi;
}

/* ---- helpers ------------------------------------------------------------------------------- */
static double attr_num(const cs_io_attrs_t *a, const char *name) {
  const char *v = cs_io_attr(a, name);
  char *end;
  double d = v ? strtod(v, &end) : NAN;
  return v && end != v ? d : NAN;
}

/* "Segment g" or "Segment g · label" (persona labels), "No segment" for group k. */
static void seg_name(const cs_report_t *r, int g, char *out, size_t len) {
  int64_t k = r->sizes.rows;
  if (g >= k)
    snprintf(out, len, "No segment");
  else if (r->has_personas && g < r->n_labels && r->p_labels[g][0])
    snprintf(out, len, "%d \xc2\xb7 %s", g, r->p_labels[g]);
  else
    snprintf(out, len, "Segment %d", g);
}

static void fact(cs__buf_t *b, const char *name, const char *value) {
  cs__put(b, "<dt>");
  cs__esc(b, name);
  cs__put(b, "</dt><dd>");
  cs__esc(b, value && *value ? value : "\xe2\x80\x93");
  cs__put(b, "</dd>");
}

static void fact_num(cs__buf_t *b, const char *name, double v, cs__fmt_t f) {
  char num[64];
  cs__num(num, sizeof num, v, f);
  fact(b, name, num);
}

static void th(cs__buf_t *b, const char *text, int left) {
  cs__put(b, "<th%s>", left ? " class=\"l\"" : "");
  cs__esc(b, text);
  cs__put(b, "</th>");
}

static void td_num(cs__buf_t *b, double v, cs__fmt_t f) {
  char num[64];
  cs__num(num, sizeof num, v, f);
  cs__put(b, "<td>%s</td>", num);
}

static void td_text(cs__buf_t *b, const char *s) {
  cs__put(b, "<td class=\"l\">");
  cs__esc(b, s);
  cs__put(b, "</td>");
}

static void td_swatch(cs__buf_t *b, int g, const char *name) {
  cs__put(b, "<td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span>",
          cs__segment_colour(g));
  cs__esc(b, name);
  cs__put(b, "</td>");
}

/* A header row's first cell (left-aligned) and one cell per segment, named by seg_name. */
static void th_segments(cs__buf_t *b, const cs_report_t *r, const char *first) {
  char name[160];
  th(b, first, 1);
  for (int g = 0; g < (int)r->sizes.rows; g++) {
    seg_name(r, g, name, sizeof name);
    th(b, name, 0);
  }
}

static void source(cs__buf_t *b, const char *fmt, const char *path) {
  cs__put(b, "<p class=\"src\">");
  cs__escf(b, fmt, path);
  cs__put(b, "</p>\n");
}

/* ---- sections ------------------------------------------------------------------------------ */
static void section_run(cs__buf_t *b, const cs_report_t *r) {
  const cs_io_attrs_t *s = &r->seg;
  cs__section_begin(b, cs_report_section_ids[S_RUN], section_titles[S_RUN]);
  char text[256];
  cs__put(b, "<div class=\"grid\"><div><h3>Segmentation</h3><dl class=\"facts\">");
  fact(b, "input store", cs_io_attr(&r->file[0].run, "input"));
  fact(b, "input fingerprint", cs_io_attr(&r->file[0].run, "input_fingerprint"));
  double total = 0;
  for (int64_t g = 0; g < r->sizes.rows; g++) total += r->sizes.v[g];
  fact_num(b, "customers with a segment", total, CS__INT);
  fact_num(b, "segments (K)", attr_num(s, "k"), CS__INT);
  fact(b, "algorithm", cs_io_attr(s, "algorithm"));
  snprintf(text, sizeof text, "%.0f%s", attr_num(s, "iterations"),
           attr_num(s, "converged") == 1 ? " (converged)" : " (stopped at --max-iter)");
  fact(b, "iterations", isfinite(attr_num(s, "iterations")) ? text : NULL);
  fact(b, "verification hash", cs_io_attr(s, "verification_hash"));
  fact_num(b, "inertia", attr_num(s, "inertia"), CS__G);
  fact_num(b, "Calinski\xe2\x80\x93Harabasz", attr_num(s, "calinski_harabasz"), CS__G);
  fact_num(b, "Davies\xe2\x80\x93" "Bouldin", attr_num(s, "davies_bouldin"), CS__G);
  fact_num(b, "silhouette (sampled)", attr_num(s, "silhouette"), CS__G);
  cs__put(b, "</dl></div>\n");
  /* stage timings */
  cs__put(b, "<div><h3>Stage timings</h3>");
  if (r->n_timings) {
    total = 0;
    cs__put(b, "<table><tr>");
    th(b, "stage", 1);
    th(b, "seconds", 0);
    cs__put(b, "</tr>");
    for (int i = 0; i < r->n_timings; i++) {
      cs__put(b, "<tr>");
      td_text(b, r->timing_name[i]);
      td_num(b, r->timing_seconds[i], CS__SEC);
      cs__put(b, "</tr>");
      if (isfinite(r->timing_seconds[i])) total += r->timing_seconds[i];
    }
    cs__put(b, "<tr class=\"total\"><td class=\"l\">total</td>");
    td_num(b, total, CS__SEC);
    cs__put(b, "</tr></table>");
    source(b, "from %s", r->timing_source);
  } else {
    cs__put(b, "<p class=\"note\">No stage timings: pass --timings FILE (a JSON object "
               "{stage: seconds}, as custseg run writes) to show them.</p>");
  }
  cs__put(b, "</div></div>\n<h3>Results files</h3><div class=\"scroll\"><table><tr>");
  const char *const head[] = {"stage", "file", "input fingerprint", "ranks", "threads",
                              "other /run attributes"};
  for (int i = 0; i < 6; i++) th(b, head[i], i != 3 && i != 4);
  cs__put(b, "</tr>\n");
  for (int f = 0; f < r->n_files; f++) {
    const cs_io_attrs_t *a = &r->file[f].run;
    cs__put(b, "<tr>");
    td_text(b, r->file[f].role);
    td_text(b, r->file[f].path);
    td_text(b, cs_io_attr(a, "input_fingerprint"));
    td_num(b, attr_num(a, "ranks"), CS__INT);
    td_num(b, attr_num(a, "threads"), CS__INT);
    cs__put(b, "<td class=\"l\">");
    int shown = 0;
    for (int i = 0; i < a->n; i++) {
      static const char *const skip[] = {"config", "input", "input_fingerprint", "ranks",
                                         "threads"};
      int known = 0;
      for (size_t j = 0; j < sizeof skip / sizeof *skip; j++) known |= !strcmp(a->name[i], skip[j]);
      if (known) continue;
      cs__put(b, "%s<span class=\"tag\">", shown++ ? " " : "");
      cs__esc(b, a->name[i]);
      cs__put(b, "</span> ");
      cs__esc(b, a->value[i]);
    }
    cs__put(b, "%s</td></tr>\n", shown ? "" : "\xe2\x80\x93");
  }
  cs__put(b, "</table></div>\n");
  source(b, "The /run attributes of each file; the %s row's come from the segment results.",
         "segment");
  cs__section_end(b);
}

static void section_sizes(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  int k = (int)r->sizes.rows;
  double total = 0;
  for (int g = 0; g < k; g++) total += r->sizes.v[g];
  cs__section_begin(b, cs_report_section_ids[S_SIZES], section_titles[S_SIZES]);
  char (*names)[160] = calloc((size_t)k, sizeof *names);
  char (*vals)[64] = calloc((size_t)k, sizeof *vals);
  const char **lab = calloc((size_t)k, sizeof *lab), **val = calloc((size_t)k, sizeof *val),
             **col = calloc((size_t)k, sizeof *col);
  if (names && vals && lab && val && col) {
    for (int g = 0; g < k; g++) {
      char num[48];
      seg_name(r, g, names[g], sizeof names[g]);
      cs__num(num, sizeof num, r->sizes.v[g], CS__INT);
      snprintf(vals[g], sizeof vals[g], "%s (%.1f%%)", num,
               total > 0 ? 100 * r->sizes.v[g] / total : 0.0);
      lab[g] = names[g];
      val[g] = vals[g];
      col[g] = cs__segment_colour(g);
    }
    cs__svg_hbars(b, "Customers per segment", k, lab, r->sizes.v, col, CS__INT, val);
  }
  free(names);
  free(vals);
  free(lab);
  free(val);
  free(col);
  source(b, "%s: /segments/sizes (customers per segment; shares of the customers with a "
            "segment).", seg_path);
  cs__section_end(b);
}

/* "Previous segment p", "New customers" for p = K'. */
static void prev_name(int p, int kp, char *out, size_t len) {
  if (p >= kp)
    snprintf(out, len, "New customers");
  else
    snprintf(out, len, "Previous segment %d", p);
}

/* Segment ids of a 1-column matrix (appeared, vanished) as a list of names, or "none". */
static void id_list(const cs_report_t *r, const cs_report_matrix_t *ids, int previous,
                    char *out, size_t len) {
  char name[160];
  size_t o = 0;
  out[0] = '\0';
  for (int64_t i = 0; i < ids->rows && o < len; i++) {
    int g = (int)ids->v[i];
    if (previous)
      prev_name(g, g + 1, name, sizeof name);
    else
      seg_name(r, g, name, sizeof name);
    o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", name);
  }
  if (!ids->rows) snprintf(out, len, "none");
}

static void section_changes(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_io_attrs_t *a = &r->prev;
  const int k = (int)r->sizes.rows, kp = (int)r->migration.rows - 1, w = k + 1;
  const double *m = r->migration.v;
  char num[64], text[512], name[160], colour[8];
  cs__section_begin(b, cs_report_section_ids[S_CHANGES], section_titles[S_CHANGES]);
  /* The facts. */
  const double both = attr_num(a, "customers_both"), stayed = attr_num(a, "customers_stayed"),
               ari = attr_num(a, "adjusted_rand_index");
  cs__put(b, "<div class=\"grid\"><div><dl class=\"facts\">");
  fact(b, "previous results", cs_io_attr(a, "file"));
  fact_num(b, "previous K", (double)kp, CS__INT);
  fact(b, "previous verification hash", cs_io_attr(a, "verification_hash"));
  fact(b, "start", attr_num(a, "warm_start") == 1
                       ? "warm, from the previous centroids"
                       : "cold (another K, a K range or --init)");
  snprintf(text, sizeof text, "%.6f", ari);
  fact(b, "adjusted Rand index", isfinite(ari) ? text : NULL);
  fact_num(b, "customers in both runs", both, CS__INT);
  const double counts[2] = {stayed, both - stayed};
  const char *const what[2] = {"stayed (in the matched segment)", "moved"};
  for (int i = 0; i < 2; i++) {
    char share[32];
    cs__num(num, sizeof num, counts[i], CS__INT);
    cs__num(share, sizeof share, both > 0 ? counts[i] / both : NAN, CS__PCT);
    snprintf(text, sizeof text, "%s (%s of both)", num, share);
    fact(b, what[i], text);
  }
  fact_num(b, "new customers", attr_num(a, "customers_new"), CS__INT);
  fact_num(b, "departed customers", attr_num(a, "customers_departed"), CS__INT);
  id_list(r, &r->appeared, 0, text, sizeof text);
  fact(b, "segments that appeared", text);
  id_list(r, &r->vanished, 1, text, sizeof text);
  fact(b, "previous segments that vanished", text);
  cs__put(b, "</dl></div>\n");
  /* Drift per segment in standardized units (the matching's cost), each bar named with the
   * previous segment it continues; the original-unit drift is under the matrix. */
  char (*names)[192] = calloc((size_t)k, sizeof *names);
  const char **lab = calloc((size_t)k, sizeof *lab), **col = calloc((size_t)k, sizeof *col);
  if (names && lab && col) {
    for (int q = 0; q < k; q++) {
      int p = (int)r->previous_id.v[q];
      char was[32];
      if (p < 0)
        snprintf(was, sizeof was, " (appeared)");
      else
        snprintf(was, sizeof was, p == q ? "" : " (was %d)", p);
      if (r->has_personas && q < r->n_labels && r->p_labels[q][0])
        snprintf(names[q], sizeof names[q], "%d%s \xc2\xb7 %s", q, was, r->p_labels[q]);
      else
        snprintf(names[q], sizeof names[q], "Segment %d%s", q, was);
      lab[q] = names[q];
      col[q] = cs__segment_colour(q);
    }
    cs__svg_hbars(b, "Centroid drift per segment (standardized units)", k, lab,
                  r->drift_std.v, col, CS__G, NULL);
  }
  free(names);
  free(lab);
  free(col);
  cs__put(b, "</div>\n");
  /* The migration matrix: counts tinted by the share of their row. */
  cs__put(b, "<h3>Where the customers went (previous segment \xe2\x86\x92 segment of this "
             "run)</h3><div class=\"scroll\"><table class=\"migration\"><tr>");
  th_segments(b, r, "previous \xe2\x86\x93 / now \xe2\x86\x92");
  th(b, "departed", 0);
  th(b, "total", 0);
  cs__put(b, "</tr>\n");
  double *coltot = calloc((size_t)w + 1, sizeof *coltot);
  for (int p = 0; p <= kp; p++) {
    double row = 0;
    for (int q = 0; q < w; q++) row += m[(size_t)p * w + q];
    prev_name(p, kp, name, sizeof name);
    int continued = p == kp;
    for (int q = 0; q < k; q++) continued |= (int)r->previous_id.v[q] == p;
    if (!continued) snprintf(name + strlen(name), sizeof name - strlen(name), " (vanished)");
    cs__put(b, "<tr>");
    td_text(b, name);
    for (int q = 0; q < w; q++) {
      double c = m[(size_t)p * w + q], share = row > 0 ? c / row : 0;
      if (coltot) coltot[q] += c;
      if (p == kp && q == k) { /* new and departed: no such customer */
        cs__put(b, "<td style=\"background:#f0f2f5\">\xe2\x80\x93</td>");
        continue;
      }
      int matched = q < k && p < kp && (int)r->previous_id.v[q] == p;
      char pct[32], rowname[160];
      cs__diverging(-0.6 * share, colour);
      cs__num(num, sizeof num, c, CS__INT);
      cs__num(pct, sizeof pct, share, CS__PCT);
      if (q < k)
        seg_name(r, q, rowname, sizeof rowname);
      else
        snprintf(rowname, sizeof rowname, "departed");
      cs__put(b, "<td style=\"background:%s%s\" title=\"", colour,
              matched ? ";font-weight:700;outline:2px solid #24344d;outline-offset:-2px" : "");
      cs__escf(b, "%s of %s%s: %s", pct, p < kp ? "previous segment " : "new customers",
               p < kp ? (snprintf(text, sizeof text, "%d", p), text) : "", rowname);
      cs__put(b, "\">%s</td>", num);
    }
    cs__num(num, sizeof num, row, CS__INT);
    cs__put(b, "<td class=\"total\">%s</td></tr>\n", num);
    if (coltot) coltot[w] += row;
  }
  cs__put(b, "<tr class=\"total\"><td class=\"l\">total</td>");
  for (int q = 0; coltot && q <= w; q++) td_num(b, coltot[q], CS__INT);
  cs__put(b, "</tr>\n<tr><td class=\"l\">continues previous segment</td>");
  for (int q = 0; q < k; q++) {
    int p = (int)r->previous_id.v[q];
    if (p >= 0)
      cs__put(b, "<td>%d</td>", p);
    else
      cs__put(b, "<td>appeared</td>");
  }
  cs__put(b, "<td></td><td></td></tr>\n");
  const struct { const cs_report_matrix_t *m; const char *what; } drift[2] = {
      {&r->drift_std, "centroid drift (standardized)"},
      {&r->drift, "centroid drift (original units)"}};
  for (int i = 0; i < 2; i++) {
    cs__put(b, "<tr><td class=\"l\">%s</td>", drift[i].what);
    for (int q = 0; q < k; q++) td_num(b, drift[i].m->v[q], CS__G);
    cs__put(b, "<td></td><td></td></tr>\n");
  }
  cs__put(b, "</table></div>\n");
  free(coltot);
  source(b, "%s: /segments/previous (attributes; migration, previous_id, drift, "
            "drift_standardized, appeared, vanished), written by segment --previous. Rows: the "
            "previous run's segments, then customers new in this run; columns: this run's "
            "segments, then customers who departed. Cells are tinted by the share of their row "
            "(hover for it); outlined: the segment matched to the previous one, whose customers "
            "count as stayed. Drift: the distance between a segment's centre and the previous "
            "centre it continues, in this run's standardized units (as matched) and in "
            "original units (dominated by the widest columns).", seg_path);
  cs__section_end(b);
}

/* The z-score tint of a profile cell: diverging colour of zdiff / 2, light enough for text. */
static void tint(double z, char out[8]) { cs__diverging(0.7 * (isfinite(z) ? z : 0) / 2, out); }

static void section_personas(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  int k = (int)r->sizes.rows;
  double total = 0;
  for (int g = 0; g < k; g++) total += r->sizes.v[g];
  cs__section_begin(b, cs_report_section_ids[S_PERSONAS], section_titles[S_PERSONAS]);
  char num[64], name[160], colour[8];
  if (!r->has_personas) {
    /* The centroids in original units, features down, segments across. */
    const cs_report_matrix_t *c = &r->centroids;
    cs__put(b, "<p class=\"note\">No /segments/personas in this results file: the segment "
               "centres in original units instead.</p>\n<div class=\"scroll\"><table><tr>");
    th_segments(b, r, "feature");
    cs__put(b, "</tr>\n");
    for (int64_t j = 0; j < c->cols; j++) {
      cs__put(b, "<tr>");
      td_text(b, j < c->n_names ? c->names[j] : "?");
      for (int g = 0; g < k; g++) {
        double z = r->centroids_std.rows == k && r->centroids_std.cols == c->cols
                       ? r->centroids_std.v[(size_t)g * c->cols + j] : NAN;
        tint(z, colour);
        cs__num(num, sizeof num, c->v[(size_t)g * c->cols + j], CS__G);
        cs__put(b, "<td style=\"background:%s\">%s</td>", colour, num);
      }
      cs__put(b, "</tr>\n");
    }
    cs__put(b, "</table></div>\n");
    source(b, "%s: /segments/centroids (original units: a one-hot feature's value is the "
              "segment's share of that level); cells tinted by the standardized centre.",
           seg_path);
    cs__section_end(b);
    return;
  }
  const int64_t P = r->p_mean.cols;
  char **cols = r->p_mean.names;
  cs__put(b, "<div class=\"scroll\"><table><tr>");
  const char *const head[] = {"segment", "customers", "share", "most distinctive traits "
                              "(segment mean, standard deviations from the population mean)"};
  for (int i = 0; i < 4; i++) th(b, head[i], i == 0 || i == 3);
  cs__put(b, "</tr>\n");
  for (int g = 0; g < k; g++) {
    seg_name(r, g, name, sizeof name);
    cs__put(b, "<tr>");
    td_swatch(b, g, name);
    td_num(b, r->sizes.v[g], CS__INT);
    td_num(b, total > 0 ? r->sizes.v[g] / total : NAN, CS__PCT);
    cs__put(b, "<td class=\"l\">");
    for (int t = 0; t < r->p_top.cols; t++) {
      double idx = r->p_top.v[(size_t)g * r->p_top.cols + t];
      if (!(idx >= 0 && idx < P)) continue;
      int j = (int)idx;
      double z = r->p_zdiff.v[(size_t)g * P + j];
      tint(z, colour);
      cs__num(num, sizeof num, r->p_mean.v[(size_t)g * P + j], CS__G);
      cs__put(b, "%s<span class=\"tag\" style=\"background:%s\">", t ? " " : "", colour);
      cs__esc(b, j < r->p_mean.n_names ? cols[j] : "?");
      cs__put(b, " %s %s (%+.2f)</span>", z >= 0 ? "\xe2\x86\x91" : "\xe2\x86\x93", num, z);
    }
    cs__put(b, "</td></tr>\n");
  }
  cs__put(b, "</table></div>\n<h3>Segment profiles</h3><div class=\"scroll\"><table><tr>");
  th(b, "column", 1);
  th(b, "population mean", 0);
  th(b, "population sd", 0);
  for (int g = 0; g < k; g++) {
    seg_name(r, g, name, sizeof name);
    th(b, name, 0);
  }
  cs__put(b, "</tr>\n");
  for (int64_t j = 0; j < P; j++) {
    cs__put(b, "<tr>");
    td_text(b, j < r->p_mean.n_names ? cols[j] : "?");
    td_num(b, r->p_pop_mean.v[j], CS__G);
    td_num(b, r->p_pop_sd.v[j], CS__G);
    for (int g = 0; g < k; g++) {
      double z = r->p_zdiff.v[(size_t)g * P + j];
      tint(z, colour);
      cs__num(num, sizeof num, r->p_mean.v[(size_t)g * P + j], CS__G);
      char med[64];
      cs__num(med, sizeof med, r->p_median.v[(size_t)g * P + j], CS__G);
      cs__put(b, "<td style=\"background:%s\" title=\"median %s, %+.2f sd\">%s</td>", colour,
              med, z, num);
    }
    cs__put(b, "</tr>\n");
  }
  cs__put(b, "</table></div>\n");
  source(b, "%s: /segments/personas (mean, median, zdiff, population_mean, population_sd, "
            "top; labels and columns attributes). Cells are tinted by zdiff: red above the "
            "population mean, blue below; hover a cell for its median.", seg_path);
  cs__section_end(b);
}

static void section_heatmap(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_report_matrix_t *c = &r->centroids_std;
  int k = (int)c->rows, d = (int)c->cols;
  cs__section_begin(b, cs_report_section_ids[S_HEATMAP], section_titles[S_HEATMAP]);
  char (*names)[160] = calloc((size_t)k, sizeof *names);
  const char **rows = calloc((size_t)k, sizeof *rows), **cols = calloc((size_t)d + 1, sizeof *cols);
  if (names && rows && cols) {
    double m = 0;
    for (int64_t i = 0; i < (int64_t)k * d; i++)
      if (isfinite(c->v[i])) m = fmax(m, fabs(c->v[i]));
    double limit = fmin(3, fmax(1, ceil(m * 2) / 2));
    for (int g = 0; g < k; g++) {
      seg_name(r, g, names[g], sizeof names[g]);
      rows[g] = names[g];
    }
    for (int j = 0; j < d; j++) cols[j] = j < c->n_names ? c->names[j] : "?";
    cs__put(b, "<div class=\"scroll\">");
    cs__svg_heatmap(b, "Standardized segment centres (segment \xc3\x97 feature)", k, d, c->v,
                    rows, cols, limit);
    cs__put(b, "</div>\n");
  }
  free(names);
  free(rows);
  free(cols);
  source(b, "%s: /segments/centroids_standardized, the centres the model uses (after log1p, "
            "scaling and feature weights; feature names from its features attribute).", seg_path);
  cs__section_end(b);
}

static void section_kselect(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_report_matrix_t *t = &r->k_selection;
  cs__section_begin(b, cs_report_section_ids[S_KSEL], section_titles[S_KSEL]);
  static const char *const want[] = {"k", "inertia", "calinski_harabasz", "davies_bouldin",
                                     "silhouette"};
  static const char *const titles[] = {"", "Inertia (lower is tighter)",
                                       "Calinski\xe2\x80\x93Harabasz (higher is better)",
                                       "Davies\xe2\x80\x93" "Bouldin (lower is better)",
                                       "Silhouette, sampled (higher is better)"};
  int col[5];
  for (int i = 0; i < 5; i++) {
    col[i] = -1;
    for (int j = 0; j < t->n_names && j < t->cols; j++)
      if (!strcmp(t->names[j], want[i])) col[i] = j;
  }
  double *x = malloc((size_t)t->rows * sizeof *x), *y = malloc((size_t)t->rows * sizeof *y);
  double chosen = attr_num(&r->seg, "k");
  char mark[64];
  snprintf(mark, sizeof mark, "chosen K = %.0f", chosen);
  cs__put(b, "<div class=\"grid\">");
  for (int i = 1; x && y && col[0] >= 0 && i < 5; i++) {
    if (col[i] < 0) continue;
    for (int64_t q = 0; q < t->rows; q++) {
      x[q] = t->v[q * t->cols + col[0]];
      y[q] = t->v[q * t->cols + col[i]];
    }
    cs__series_t s = {.x = x, .y = y, .n = (int)t->rows, .colour = "#4e79a7", .points = 1};
    cs__axes_t ax = {.title = titles[i], .xlabel = "K (segments)", .ylabel = want[i],
                     .xfmt = CS__INT, .yfmt = CS__G, .x_integer = 1, .xmark = chosen,
                     .xmark_label = mark, .xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN};
    cs__svg_lines(b, &ax, &s, 1);
  }
  cs__put(b, "</div>\n");
  free(x);
  free(y);
  char num[64];
  cs__num(num, sizeof num, r->recommended_k, CS__INT);
  cs__put(b, "<p class=\"note\">Recommended K by the rule of segment --k A..B: %s; the fit "
             "written is K = %.0f.</p>\n", num, chosen);
  source(b, "%s: /segments/k_selection (one row per K) and its recommended_k attribute.",
         seg_path);
  cs__section_end(b);
}

static void section_roi(cs__buf_t *b, const cs_report_t *r, const char *roi_path) {
  cs__section_begin(b, cs_report_section_ids[S_ROI], section_titles[S_ROI]);
  const int F = CS_REPORT_ROI_FIELDS;
  int n = 0;
  char (*names)[160] = calloc((size_t)r->roi_rows + 1, sizeof *names);
  const char **lab = calloc((size_t)r->roi_rows + 1, sizeof *lab),
             **col = calloc((size_t)r->roi_rows + 1, sizeof *col);
  double *roi = calloc((size_t)r->roi_rows + 1, sizeof *roi),
         *risk = calloc((size_t)r->roi_rows + 1, sizeof *risk);
  if (names && lab && col && roi && risk) {
    for (int64_t i = 0; i < r->roi_rows; i++) {
      double g = r->roi[i * F + F_SEGMENT];
      if (g == -1) continue; /* the total row */
      seg_name(r, g >= 0 ? (int)g : (int)r->sizes.rows, names[n], sizeof names[n]);
      lab[n] = names[n];
      col[n] = g >= 0 ? cs__segment_colour((int)g) : "#8c959f";
      roi[n] = r->roi[i * F + F_ROI];
      risk[n] = r->roi[i * F + F_AT_RISK];
      n++;
    }
    cs__put(b, "<div class=\"grid\">");
    cs__svg_hbars(b, "ROI per segment ((revenue \xe2\x88\x92 cost) / cost)", n, lab, roi, col,
                  CS__G, NULL);
    cs__svg_hbars(b, "Revenue at risk (revenue \xc3\x97 churn score)", n, lab, risk, col,
                  CS__MONEY, NULL);
    cs__put(b, "</div>\n");
  }
  free(names);
  free(lab);
  free(col);
  free(roi);
  free(risk);
  /* The table: one row per segment, then the total. */
  static const struct { int f; const char *head; cs__fmt_t fmt; } cols[] = {
      {F_CUSTOMERS, "customers", CS__INT},     {F_SHARE, "share", CS__PCT},
      {F_REVENUE_TOTAL, "revenue", CS__MONEY}, {F_REVENUE_MEAN, "revenue / customer", CS__MONEY},
      {F_CAC_MEAN, "CAC / customer", CS__MONEY}, {F_CONVERSION, "conversion", CS__PCT},
      {F_CHURN_OBSERVED, "churn (observed)", CS__PCT}, {F_CHURN_SCORE, "churn score", CS__PCT},
      {F_CLV_MEAN, "CLV / customer", CS__MONEY}, {F_AT_RISK, "revenue at risk", CS__MONEY},
      {F_ROI, "ROI", CS__G}, {F_UPLIFT, "uplift", CS__PCT},
      {F_INCREMENTAL_ROI, "incremental ROI", CS__G}};
  const int nc = (int)(sizeof cols / sizeof *cols);
  cs__put(b, "<h3>ROI table</h3><div class=\"scroll\"><table><tr>");
  th(b, "segment", 1);
  for (int c = 0; c < nc; c++) th(b, cols[c].head, 0);
  th(b, "uplift 95% interval", 0);
  th(b, "action", 1);
  cs__put(b, "</tr>\n");
  char name[160], lo[32], hi[32], both[80];
  for (int64_t i = 0; i < r->roi_rows; i++) {
    const double *row = r->roi + i * F;
    int g = (int)row[F_SEGMENT];
    cs__put(b, "<tr%s>", g == -1 ? " class=\"total\"" : "");
    if (g == -1)
      td_text(b, "Total");
    else if (g >= 0) /* short names keep the wide table on the page; labels are above */
      td_swatch(b, g, (snprintf(name, sizeof name, "Segment %d", g), name));
    else
      td_text(b, "No segment");
    for (int c = 0; c < nc; c++) td_num(b, r->roi_present[cols[c].f] ? row[cols[c].f] : NAN, cols[c].fmt);
    cs__num(lo, sizeof lo, row[F_UPLIFT_LOW], CS__PCT);
    cs__num(hi, sizeof hi, row[F_UPLIFT_HIGH], CS__PCT);
    snprintf(both, sizeof both, "%s \xe2\x80\xa6 %s", lo, hi);
    cs__put(b, "<td>%s</td>", isfinite(row[F_UPLIFT_LOW]) ? both : "\xe2\x80\x93");
    double a = row[F_ACTION];
    td_text(b, a >= 0 && a < r->n_actions ? r->actions[(int)a] : "\xe2\x80\x93");
    cs__put(b, "</tr>\n");
  }
  cs__put(b, "</table></div>\n");
  source(b, "%s: /roi/table (formulas, intervals and the action rules in docs/roi.md); "
            "\xe2\x80\x93 marks a value whose input is absent or whose denominator is 0.",
         roi_path);
  cs__section_end(b);
}

static void section_churn(cs__buf_t *b, const cs_report_t *r, const char *churn_path) {
  cs__section_begin(b, cs_report_section_ids[S_CHURN], section_titles[S_CHURN]);
  const cs_io_attrs_t *m = &r->churn_metrics;
  char text[128], a[48], e[48];
  cs__put(b, "<dl class=\"facts\">");
  fact(b, "metrics of", r->churn_split);
  fact_num(b, "customers", attr_num(m, "customers"), CS__INT);
  fact_num(b, "churners", attr_num(m, "positives"), CS__INT);
  snprintf(a, sizeof a, "%.4f", attr_num(m, "auc"));
  snprintf(e, sizeof e, "%.1e", attr_num(m, "auc_error_bound"));
  snprintf(text, sizeof text, "%s (error bound %s)", a, e);
  fact(b, "AUC", isfinite(attr_num(m, "auc")) ? text : NULL);
  fact_num(b, "log-loss", attr_num(m, "logloss"), CS__G);
  fact_num(b, "Brier score", attr_num(m, "brier"), CS__G);
  cs__put(b, "</dl>\n<div class=\"grid\">");
  const cs_report_matrix_t *gm = &r->gains, *cm = &r->calibration;
  int ng = (int)gm->rows, nk = (int)cm->rows;
  double *x = calloc((size_t)ng + 1, sizeof *x), *gain = calloc((size_t)ng + 1, sizeof *gain),
         *lift = calloc((size_t)ng + 1, sizeof *lift), *one = calloc((size_t)ng + 1, sizeof *one);
  double *px = calloc((size_t)nk + 1, sizeof *px), *py = calloc((size_t)nk + 1, sizeof *py);
  if (x && gain && lift && one && px && py && gm->cols >= 3 && cm->cols >= 3) {
    /* Gains start at the origin; lift is per depth. */
    for (int i = 0; i < ng; i++) {
      x[i + 1] = gm->v[i * 3];
      gain[i + 1] = gm->v[i * 3 + 1];
      lift[i] = gm->v[i * 3 + 2];
      one[i] = 1;
    }
    static const double diag[2] = {0, 1};
    cs__series_t gs[2] = {{.name = "model", .x = x, .y = gain, .n = ng + 1, .colour = "#e15759",
                           .points = 1},
                          {.name = "random", .x = diag, .y = diag, .n = 2, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t ga = {.title = "Cumulative gains", .xlabel = "share of customers, highest score first",
                     .ylabel = "share of churners found", .xfmt = CS__PCT, .yfmt = CS__PCT,
                     .xmark = NAN, .xmin = 0, .xmax = 1, .ymin = 0, .ymax = 1,
                     .width = 372, .legend_low = 1};
    cs__svg_lines(b, &ga, gs, 2);
    cs__series_t ls[2] = {{.name = "model", .x = x + 1, .y = lift, .n = ng, .colour = "#e15759",
                           .points = 1},
                          {.name = "random", .x = x + 1, .y = one, .n = ng, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t la = {.title = "Lift", .xlabel = "share of customers, highest score first",
                     .ylabel = "lift (gain / share)", .xfmt = CS__PCT, .yfmt = CS__G,
                     .y_from_zero = 1, .xmark = NAN, .xmin = 0, .xmax = 1, .ymin = NAN,
                     .ymax = NAN, .width = 372};
    cs__svg_lines(b, &la, ls, 2);
    double top = 0;
    for (int i = 0; i < nk; i++) {
      int has = cm->v[i * 3 + 2] > 0;
      px[i] = has ? cm->v[i * 3] : NAN;
      py[i] = has ? cm->v[i * 3 + 1] : NAN;
      if (has) top = fmax(top, fmax(px[i], py[i]));
    }
    top = top > 0 ? fmin(1, ceil(top * 10) / 10) : 1;
    const double dd[2] = {0, top};
    cs__series_t cs[2] = {{.name = "model", .x = px, .y = py, .n = nk, .colour = "#4e79a7",
                           .points = 1},
                          {.name = "perfect", .x = dd, .y = dd, .n = 2, .colour = "#8c959f",
                           .dashed = 1}};
    cs__axes_t ca = {.title = "Calibration", .xlabel = "mean predicted churn probability (bin)",
                     .ylabel = "observed churn rate", .xfmt = CS__PCT, .yfmt = CS__PCT,
                     .xmark = NAN, .xmin = 0, .xmax = top, .ymin = 0, .ymax = top,
                     .width = 372, .legend_low = 1};
    cs__svg_lines(b, &ca, cs, 2);
  }
  free(x);
  free(gain);
  free(lift);
  free(one);
  free(px);
  free(py);
  cs__put(b, "</div>\n");
  char where[96];
  snprintf(where, sizeof where, "/churn/metrics/%s", r->churn_split);
  cs__put(b, "<p class=\"src\">");
  cs__esc(b, churn_path);
  cs__put(b, ": ");
  cs__esc(b, where);
  cs__put(b, " (attributes; gains: depth, gain, lift per decile; calibration: mean predicted, "
             "observed, customers per bin of the score, empty bins left out).</p>\n");
  cs__section_end(b);
}

static void section_clv(cs__buf_t *b, const cs_report_t *r, const char *clv_path) {
  cs__section_begin(b, cs_report_section_ids[S_CLV], section_titles[S_CLV]);
  const cs_report_clv_t *c = &r->clv;
  const cs_io_attrs_t *m = &r->clv_model;
  cs__put(b, "<dl class=\"facts\">");
  fact(b, "model time unit", cs_io_attr(m, "time_unit"));
  fact(b, "calibration end", cs_io_attr(m, "calibration_end"));
  fact(b, "holdout end", cs_io_attr(m, "holdout_end"));
  char text[256];
  snprintf(text, sizeof text, "r %.4g, \xce\xb1 %.4g, a %.4g, b %.4g", attr_num(m, "r"),
           attr_num(m, "alpha"), attr_num(m, "a"), attr_num(m, "b"));
  fact(b, "BG/NBD", text);
  snprintf(text, sizeof text, "p %.4g, q %.4g, \xce\xb3 %.4g", attr_num(m, "p"),
           attr_num(m, "q"), attr_num(m, "gamma"));
  fact(b, "Gamma-Gamma", text);
  cs__put(b, "</dl>\n");
  int k = (int)r->sizes.rows, groups = 0;
  const int S = CS_REPORT_CLV_SLOTS, nb = 48;
  int *gid = calloc((size_t)c->groups + 1, sizeof *gid);
  char (*names)[160] = calloc((size_t)c->groups + 1, sizeof *names);
  const char **lab = calloc((size_t)c->groups + 1, sizeof *lab),
             **col = calloc((size_t)c->groups + 1, sizeof *col);
  double *q = calloc((size_t)c->groups * 5 + 1, sizeof *q);
  int64_t *coarse = calloc((size_t)c->groups * nb + 1, sizeof *coarse);
  static const double qs[5] = {0.05, 0.25, 0.5, 0.75, 0.95};
  if (gid && names && lab && col && q && coarse && c->count) {
    /* The display range: from the 1st percentile of all positive values to the largest
     * (a few customers with tiny values would otherwise stretch the axis over decades). */
    int64_t positive = 0, seen = 0;
    int first = 0;
    for (int g = 0; g < c->groups; g++)
      for (int j = 0; j < CS_REPORT_CLV_BINS; j++) positive += c->count[(size_t)g * S + 2 + j];
    for (int j = 0; j < CS_REPORT_CLV_BINS && positive; j++) {
      for (int g = 0; g < c->groups; g++) seen += c->count[(size_t)g * S + 2 + j];
      if (seen * 100 >= positive) {
        first = j;
        break;
      }
    }
    for (int g = 0; g < c->groups; g++) {
      const int64_t *row = c->count + (size_t)g * S;
      int64_t all = 0;
      for (int s = 0; s < S; s++) all += row[s];
      if (g == k && all == 0) continue; /* no customer without a segment */
      gid[groups] = g;
      seg_name(r, g, names[groups], sizeof names[groups]);
      lab[groups] = names[groups];
      col[groups] = g < k ? cs__segment_colour(g) : "#8c959f";
      for (int i = 0; i < 5; i++) q[groups * 5 + i] = cs_report_clv_quantile(c, g, qs[i]);
      for (int j = 0; j < CS_REPORT_CLV_BINS; j++) /* values below the range in its first bin */
        coarse[(size_t)groups * nb + (j < first ? 0 : (j - first) * nb / (CS_REPORT_CLV_BINS - first))] +=
            row[2 + j];
      groups++;
    }
    if (c->hi > 0)
      cs__svg_boxes(b, "CLV per customer by segment (logarithmic axis)",
                    "discounted CLV over the horizon (box: 25th\xe2\x80\x93" "75th percentile, "
                    "bar: median, whiskers: 5th\xe2\x80\x93" "95th; shaded: histogram, square-root "
                    "heights)",
                    groups, lab, col, q, coarse, nb, clv_edge(c, first), c->hi);
    else
      cs__put(b, "<p class=\"note\">No customer has a positive CLV.</p>\n");
    /* The table of quantiles. */
    cs__put(b, "<div class=\"scroll\"><table><tr>");
    const char *const head[] = {"segment", "with a value", "no value", "zero", "5th pct",
                                "25th pct", "median", "75th pct", "95th pct", "mean"};
    for (int i = 0; i < 10; i++) th(b, head[i], i == 0);
    cs__put(b, "</tr>\n");
    for (int i = 0; i < groups; i++) {
      int g = gid[i];
      const int64_t *row = c->count + (size_t)g * S;
      int64_t with = 0;
      for (int s = 1; s < S; s++) with += row[s];
      double mean = NAN;
      for (int64_t t = 0; r->has_roi && t < r->roi_rows; t++) {
        double seg = r->roi[t * CS_REPORT_ROI_FIELDS + F_SEGMENT];
        if (seg == (g < k ? g : -2)) mean = r->roi[t * CS_REPORT_ROI_FIELDS + F_CLV_MEAN];
      }
      cs__put(b, "<tr>");
      if (g < k)
        td_swatch(b, g, names[i]);
      else
        td_text(b, names[i]);
      td_num(b, (double)with, CS__INT);
      td_num(b, (double)row[0], CS__INT);
      td_num(b, (double)row[1], CS__INT);
      for (int j = 0; j < 5; j++) td_num(b, q[i * 5 + j], CS__MONEY);
      td_num(b, mean, CS__MONEY);
      cs__put(b, "</tr>\n");
    }
    cs__put(b, "</table></div>\n");
  }
  free(gid);
  free(names);
  free(lab);
  free(col);
  free(q);
  free(coarse);
  cs__put(b, "<p class=\"src\">");
  cs__esc(b, clv_path);
  cs__put(b, ": /clv/value per customer grouped by /segments/labels, counted in 2,048 "
             "logarithmic bins from 10<sup>&#8722;6</sup> of the largest value up to it "
             "(percentiles are bin middles, within 0.34%%); \xe2\x80\x9cno value\xe2\x80\x9d: no "
             "purchase up to the calibration end; \xe2\x80\x9czero\xe2\x80\x9d: at most "
             "10<sup>&#8722;6</sup> of the largest. Model: /clv/model attributes. Mean: "
             "clv_mean of /roi/table when given.</p>\n");
  cs__section_end(b);
}

int cs_report_render(const cs_report_t *r, char **html, size_t *len,
                     int shown[CS_REPORT_SECTIONS]) {
  cs__buf_t b = {0};
  const char *seg = r->file[0].path, *churn = NULL, *clv = NULL, *roi = NULL;
  for (int f = 1; f < r->n_files; f++) {
    if (!strcmp(r->file[f].role, "churn")) churn = r->file[f].path;
    if (!strcmp(r->file[f].role, "clv")) clv = r->file[f].path;
    if (!strcmp(r->file[f].role, "roi")) roi = r->file[f].path;
  }
  *html = NULL;
  *len = 0;
  for (int i = 0; i < CS_REPORT_SECTIONS; i++) shown[i] = 1;
  cs__page_begin(&b, "custseg report", cs_report_section_ids, section_titles,
                 CS_REPORT_SECTIONS);
  section_run(&b, r);
  section_sizes(&b, r, seg);
  if (r->has_previous)
    section_changes(&b, r, seg);
  else
    shown[S_CHANGES] = 0,
    cs__section_note(&b, cs_report_section_ids[S_CHANGES], section_titles[S_CHANGES],
                     "Not shown: the segment results were not made with --previous (no "
                     "/segments/previous; segment --previous LAST_RESULTS writes it).");
  section_personas(&b, r, seg);
  section_heatmap(&b, r, seg);
  if (r->k_selection.rows > 0)
    section_kselect(&b, r, seg);
  else
    shown[S_KSEL] = 0, cs__section_note(&b, cs_report_section_ids[S_KSEL], section_titles[S_KSEL],
                                        "Not shown: the segment results were fitted with a single "
                                        "K (no /segments/k_selection; segment --k A..B writes it).");
  if (r->has_roi)
    section_roi(&b, r, roi);
  else
    shown[S_ROI] = 0, cs__section_note(&b, cs_report_section_ids[S_ROI], section_titles[S_ROI],
                                       "Not shown: no --roi-results (a custseg roi results file).");
  if (r->has_churn_metrics)
    section_churn(&b, r, churn);
  else
    shown[S_CHURN] = 0,
    cs__section_note(&b, cs_report_section_ids[S_CHURN], section_titles[S_CHURN],
                     r->has_churn ? "Not shown: the --churn-results file has no "
                                    "/churn/metrics (a churn score file; churn train writes "
                                    "them)."
                                  : "Not shown: no --churn-results (a custseg churn train "
                                    "results file).");
  if (r->has_clv)
    section_clv(&b, r, clv);
  else
    shown[S_CLV] = 0, cs__section_note(&b, cs_report_section_ids[S_CLV], section_titles[S_CLV],
                                       "Not shown: no --clv-results (a custseg clv results file).");
  cs__page_end(&b, r->version);
  if (b.oom) {
    free(b.p);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory building the report");
  }
  *html = b.p;
  *len = b.len;
  return CS_OK;
}

void cs_report_matrix_free(cs_report_matrix_t *m) {
  free(m->v);
  cs_io_free_strings(m->names, m->n_names);
  memset(m, 0, sizeof *m);
}

void cs_report_free(cs_report_t *r) {
  for (int f = 0; f < r->n_files; f++) cs_io_free_attrs(&r->file[f].run);
  cs_io_free_strings(r->timing_name, r->n_timings);
  free(r->timing_seconds);
  cs_io_free_attrs(&r->seg);
  cs_io_free_attrs(&r->prev);
  cs_report_matrix_t *m[] = {&r->sizes, &r->centroids, &r->centroids_std, &r->k_selection,
                             &r->p_mean, &r->p_median, &r->p_zdiff, &r->p_pop_mean,
                             &r->p_pop_sd, &r->p_top, &r->gains, &r->calibration,
                             &r->migration, &r->previous_id, &r->drift, &r->drift_std,
                             &r->appeared, &r->vanished};
  for (size_t i = 0; i < sizeof m / sizeof *m; i++) cs_report_matrix_free(m[i]);
  cs_io_free_strings(r->p_labels, r->n_labels);
  free(r->roi);
  cs_io_free_strings(r->actions, r->n_actions);
  cs_io_free_attrs(&r->churn_metrics);
  cs_io_free_attrs(&r->clv_model);
  free(r->clv.count);
  memset(r, 0, sizeof *r);
}
