/* report/report.c: the sections of the report page, and the CLV distribution per segment.
 *
 * Each section reads only the cs_report_t the command filled from the results files, and a
 * section whose input is absent becomes its heading and a one-line note, so the page always
 * has the same outline. This file holds the segment sections (run facts, sizes, changes,
 * personas, heatmap, choice of K) and the page's order; model_sections.c the ROI, churn and
 * CLV sections and the CLV distribution; cells.c the table and fact helpers they share. */
#include "report_impl.h"

#include "custseg/par.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const cs_report_section_ids[CS_REPORT_SECTIONS] = {
    "run-facts", "segment-sizes", "changes", "personas", "centroid-heatmap",
    "k-selection", "roi", "churn", "clv"};
const char *const cs__section_titles[CS_REPORT_SECTIONS] = {
    "Run facts", "Segment sizes", "Changes since the previous run", "Personas",
    "Centroid heatmap",
    "Choice of K", "ROI and revenue at risk", "Churn model", "Customer lifetime value"};

/* ---- sections ------------------------------------------------------------------------------ */
static void section_run(cs__buf_t *b, const cs_report_t *r) {
  const cs_io_attrs_t *s = &r->seg;
  cs__section_begin(b, cs_report_section_ids[S_RUN], cs__section_titles[S_RUN]);
  if (r->n_warnings) { /* first, where a reader starts: they qualify the numbers below */
    cs__put(b, "<div class=\"warn\"><h3>Warnings (%d)</h3><ul>", r->n_warnings);
    for (int i = 0; i < r->n_warnings; i++) {
      cs__put(b, "<li>");
      cs__esc(b, r->warnings[i]);
      cs__put(b, "</li>");
    }
    cs__put(b, "</ul></div>\n");
  }
  char text[256];
  cs__put(b, "<div class=\"grid\"><div><h3>Segmentation</h3><dl class=\"facts\">");
  cs__fact(b, "input store", cs_io_attr(&r->file[0].run, "input"));
  cs__fact(b, "input fingerprint", cs_io_attr(&r->file[0].run, "input_fingerprint"));
  double total = 0;
  for (int64_t g = 0; g < r->sizes.rows; g++) total += r->sizes.v[g];
  cs__fact_num(b, "customers with a segment", total, CS__INT);
  cs__fact_num(b, "segments (K)", cs__attr_num(s, "k"), CS__INT);
  cs__fact(b, "algorithm", cs_io_attr(s, "algorithm"));
  snprintf(text, sizeof text, "%.0f%s", cs__attr_num(s, "iterations"),
           cs__attr_num(s, "converged") == 1 ? " (converged)" : " (stopped at --max-iter)");
  cs__fact(b, "iterations", isfinite(cs__attr_num(s, "iterations")) ? text : NULL);
  cs__fact(b, "verification hash", cs_io_attr(s, "verification_hash"));
  cs__fact_num(b, "inertia", cs__attr_num(s, "inertia"), CS__G);
  cs__fact_num(b, "Calinski\xe2\x80\x93Harabasz", cs__attr_num(s, "calinski_harabasz"), CS__G);
  cs__fact_num(b, "Davies\xe2\x80\x93" "Bouldin", cs__attr_num(s, "davies_bouldin"), CS__G);
  cs__fact_num(b, "silhouette (sampled)", cs__attr_num(s, "silhouette"), CS__G);
  cs__put(b, "</dl></div>\n");
  /* stage timings */
  cs__put(b, "<div><h3>Stage timings</h3>");
  if (r->n_timings) {
    total = 0;
    cs__put(b, "<table><tr>");
    cs__th(b, "stage", 1);
    cs__th(b, "seconds", 0);
    cs__put(b, "</tr>");
    for (int i = 0; i < r->n_timings; i++) {
      cs__put(b, "<tr>");
      cs__td_text(b, r->timing_name[i]);
      cs__td_num(b, r->timing_seconds[i], CS__SEC);
      cs__put(b, "</tr>");
      if (isfinite(r->timing_seconds[i])) total += r->timing_seconds[i];
    }
    cs__put(b, "<tr class=\"total\"><td class=\"l\">total</td>");
    cs__td_num(b, total, CS__SEC);
    cs__put(b, "</tr></table>");
    cs__source(b, "from %s", r->timing_source);
  } else {
    cs__put(b, "<p class=\"note\">No stage timings: pass --timings FILE (a JSON object "
               "{stage: seconds}, as custseg run writes) to show them.</p>");
  }
  cs__put(b, "</div></div>\n<h3>Results files</h3><div class=\"scroll\"><table><tr>");
  const char *const head[] = {"stage", "file", "input fingerprint", "ranks", "threads",
                              "other /run attributes"};
  for (int i = 0; i < 6; i++) cs__th(b, head[i], i != 3 && i != 4);
  cs__put(b, "</tr>\n");
  for (int f = 0; f < r->n_files; f++) {
    const cs_io_attrs_t *a = &r->file[f].run;
    cs__put(b, "<tr>");
    cs__td_text(b, r->file[f].role);
    cs__td_text(b, r->file[f].path);
    cs__td_text(b, cs_io_attr(a, "input_fingerprint"));
    cs__td_num(b, cs__attr_num(a, "ranks"), CS__INT);
    cs__td_num(b, cs__attr_num(a, "threads"), CS__INT);
    cs__put(b, "<td class=\"l\">");
    int shown = 0;
    for (int i = 0; i < a->n; i++) {
      /* Each file's own input store is shown: a churn file of a copy of the store had been
       * named nowhere on the page. */
      static const char *const skip[] = {"config", "input_fingerprint", "ranks", "threads"};
      int known = 0;
      for (size_t j = 0; j < sizeof skip / sizeof *skip; j++) known |= !strcmp(a->name[i], skip[j]);
      if (known) continue;
      cs__put(b, "%s<span class=\"tag\">", shown++ ? " " : "");
      cs__esc(b, a->name[i]);
      cs__put(b, "</span> ");
      long long size, sec;
      long nsec;
      struct tm tm;
      char when[160];
      /* input_file is "size N, modified SECONDS.NANOSECONDS": the time as a UTC date */
      if (!strcmp(a->name[i], "input_file") &&
          sscanf(a->value[i], "size %lld, modified %lld.%ld", &size, &sec, &nsec) == 3 &&
          gmtime_r(&(time_t){(time_t)sec}, &tm)) {
        char date[64];
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
        snprintf(when, sizeof when, "size %lld bytes, modified %s", size, date);
        cs__esc(b, when);
      } else {
        cs__esc(b, a->value[i]);
      }
    }
    cs__put(b, "%s</td></tr>\n", shown ? "" : "\xe2\x80\x93");
  }
  cs__put(b, "</table></div>\n");
  cs__source(b, "The /run attributes of each file; the %s row's come from the segment results.",
         "segment");
  cs__section_end(b);
}

static void section_sizes(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  int k = (int)r->sizes.rows;
  double total = 0;
  for (int g = 0; g < k; g++) total += r->sizes.v[g];
  cs__section_begin(b, cs_report_section_ids[S_SIZES], cs__section_titles[S_SIZES]);
  char (*names)[CS__NAME_MAX] = calloc((size_t)k, sizeof *names);
  char (*vals)[64] = calloc((size_t)k, sizeof *vals);
  const char **lab = calloc((size_t)k, sizeof *lab), **val = calloc((size_t)k, sizeof *val),
             **col = calloc((size_t)k, sizeof *col);
  if (names && vals && lab && val && col) {
    for (int g = 0; g < k; g++) {
      char num[48], pct[32];
      cs__seg_name(r, g, names[g], sizeof names[g]);
      cs__num(num, sizeof num, r->sizes.v[g], CS__INT);
      /* As the tables write shares: 2 customers of 5,000 are not "0.0%" */
      cs__num(pct, sizeof pct, total > 0 ? r->sizes.v[g] / total : 0.0, CS__PCT);
      snprintf(vals[g], sizeof vals[g], "%s (%s)", num, pct);
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
  cs__source(b, "%s: /segments/sizes (customers per segment; shares of the customers with a "
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
  char name[CS__NAME_MAX];
  size_t o = 0;
  out[0] = '\0';
  for (int64_t i = 0; i < ids->rows && o < len; i++) {
    int g = (int)ids->v[i];
    if (previous)
      prev_name(g, g + 1, name, sizeof name);
    else
      cs__seg_name(r, g, name, sizeof name);
    o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", name);
  }
  if (!ids->rows) snprintf(out, len, "none");
}

static void section_changes(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_io_attrs_t *a = &r->prev;
  const int k = (int)r->sizes.rows, kp = (int)r->migration.rows - 1, w = k + 1;
  const double *m = r->migration.v;
  char num[64], text[512], name[CS__NAME_MAX], colour[8];
  cs__section_begin(b, cs_report_section_ids[S_CHANGES], cs__section_titles[S_CHANGES]);
  /* The facts. */
  const double both = cs__attr_num(a, "customers_both"), stayed = cs__attr_num(a, "customers_stayed"),
               ari = cs__attr_num(a, "adjusted_rand_index");
  cs__put(b, "<div class=\"grid\"><div><dl class=\"facts\">");
  cs__fact(b, "previous results", cs_io_attr(a, "file"));
  cs__fact_num(b, "previous K", (double)kp, CS__INT);
  cs__fact(b, "previous verification hash", cs_io_attr(a, "verification_hash"));
  cs__fact(b, "start", cs__attr_num(a, "warm_start") == 1
                       ? "warm, from the previous centroids"
                       : "cold (another K, a K range or --init)");
  snprintf(text, sizeof text, "%.6f", ari);
  cs__fact(b, "adjusted Rand index", isfinite(ari) ? text : NULL);
  cs__fact_num(b, "customers in both runs", both, CS__INT);
  const double counts[2] = {stayed, both - stayed};
  const char *const what[2] = {"stayed (in the matched segment)", "moved"};
  for (int i = 0; i < 2; i++) {
    char share[32];
    cs__num(num, sizeof num, counts[i], CS__INT);
    cs__num(share, sizeof share, both > 0 ? counts[i] / both : NAN, CS__PCT);
    snprintf(text, sizeof text, "%s (%s of both)", num, share);
    cs__fact(b, what[i], text);
  }
  /* New or departed for want of a segment in a run that has them (--missing drop) are said
   * apart: they did not join or leave. */
  const char *const moved[2][3] = {
      {"new customers", "customers_new", "customers_new_unassigned"},
      {"departed customers", "customers_departed", "customers_departed_unassigned"}};
  const char *const where[2] = {"in the previous run", "in this run"};
  for (int i = 0; i < 2; i++) {
    double un = cs__attr_num(a, moved[i][2]);
    cs__num(num, sizeof num, cs__attr_num(a, moved[i][1]), CS__INT);
    if (un > 0) {
      char part[64];
      cs__num(part, sizeof part, un, CS__INT);
      snprintf(text, sizeof text, "%s (%s of them without a segment %s: --missing drop)", num,
               part, where[i]);
      cs__fact(b, moved[i][0], text);
    } else
      cs__fact(b, moved[i][0], num);
  }
  id_list(r, &r->appeared, 0, text, sizeof text);
  cs__fact(b, "segments that appeared", text);
  id_list(r, &r->vanished, 1, text, sizeof text);
  cs__fact(b, "previous segments that vanished", text);
  id_list(r, &r->weak, 0, text, sizeof text);
  cs__fact(b, "ids kept on the centroid alone (another group? compare the personas)", text);
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
      const char *pl;
      const int pll = cs__persona_label(r, q, &pl);
      if (pl)
        snprintf(names[q], sizeof names[q], "%d%s \xc2\xb7 %.*s", q, was, pll, pl);
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
  cs__th_segments(b, r, "previous \xe2\x86\x93 / now \xe2\x86\x92");
  cs__th(b, "departed", 0);
  cs__th(b, "total", 0);
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
    cs__td_text(b, name);
    for (int q = 0; q < w; q++) {
      double c = m[(size_t)p * w + q], share = row > 0 ? c / row : 0;
      if (coltot) coltot[q] += c;
      if (p == kp && q == k) { /* new and departed: no such customer */
        cs__put(b, "<td style=\"background:#f0f2f5\">\xe2\x80\x93</td>");
        continue;
      }
      int matched = q < k && p < kp && (int)r->previous_id.v[q] == p;
      char pct[32], rowname[CS__NAME_MAX];
      cs__diverging(-0.6 * share, colour);
      cs__num(num, sizeof num, c, CS__INT);
      cs__num(pct, sizeof pct, share, CS__PCT);
      if (q < k)
        cs__seg_name(r, q, rowname, sizeof rowname);
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
  for (int q = 0; coltot && q <= w; q++) cs__td_num(b, coltot[q], CS__INT);
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
    for (int q = 0; q < k; q++) cs__td_num(b, drift[i].m->v[q], CS__G);
    cs__put(b, "<td></td><td></td></tr>\n");
  }
  cs__put(b, "</table></div>\n");
  free(coltot);
  cs__source(b, "%s: /segments/previous (attributes; migration, previous_id, drift, "
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

/* Persona column j is a categorical level ("column=level"): its medians are NaN in every
 * segment (docs/segments.md, Personas), and its mean is a share. */
static int persona_is_level(const cs_report_t *r, int64_t j) {
  if (j >= r->p_mean.n_names || !strchr(r->p_mean.names[j], '=') || r->p_median.cols != r->p_mean.cols)
    return 0;
  for (int64_t g = 0; g < r->p_median.rows; g++)
    if (!isnan(r->p_median.v[(size_t)g * r->p_median.cols + j])) return 0;
  return 1;
}

static void section_personas(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  int k = (int)r->sizes.rows;
  double total = 0;
  for (int g = 0; g < k; g++) total += r->sizes.v[g];
  cs__section_begin(b, cs_report_section_ids[S_PERSONAS], cs__section_titles[S_PERSONAS]);
  char num[64], name[CS__NAME_MAX], colour[8];
  if (!r->has_personas) {
    /* The centroids in original units, features down, segments across. */
    const cs_report_matrix_t *c = &r->centroids;
    cs__put(b, "<p class=\"note\">No /segments/personas in this results file: the segment "
               "centres in original units instead.</p>\n<div class=\"scroll\"><table><tr>");
    cs__th_segments(b, r, "feature");
    cs__put(b, "</tr>\n");
    for (int64_t j = 0; j < c->cols; j++) {
      cs__put(b, "<tr>");
      cs__td_text(b, j < c->n_names ? c->names[j] : "?");
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
    cs__source(b, "%s: /segments/centroids (original units: a one-hot feature's value is the "
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
  for (int i = 0; i < 4; i++) cs__th(b, head[i], i == 0 || i == 3);
  cs__put(b, "</tr>\n");
  for (int g = 0; g < k; g++) {
    cs__seg_name(r, g, name, sizeof name);
    cs__put(b, "<tr>");
    cs__td_swatch(b, g, name);
    cs__td_num(b, r->sizes.v[g], CS__INT);
    cs__td_num(b, total > 0 ? r->sizes.v[g] / total : NAN, CS__PCT);
    cs__put(b, "<td class=\"l\">");
    for (int t = 0; t < r->p_top.cols; t++) {
      double idx = r->p_top.v[(size_t)g * r->p_top.cols + t];
      if (!(idx >= 0 && idx < P)) continue;
      int j = (int)idx;
      double z = r->p_zdiff.v[(size_t)g * P + j];
      tint(z, colour);
      /* A level's mean is the segment's share of it: a percentage, not "1" or "0". */
      cs__num(num, sizeof num, r->p_mean.v[(size_t)g * P + j],
              persona_is_level(r, j) ? CS__PCT : CS__G);
      cs__put(b, "%s<span class=\"tag\" style=\"background:%s\">", t ? " " : "", colour);
      cs__esc(b, j < r->p_mean.n_names ? cols[j] : "?");
      cs__put(b, " %s %s (%+.2f)</span>", z >= 0 ? "\xe2\x86\x91" : "\xe2\x86\x93", num, z);
    }
    cs__put(b, "</td></tr>\n");
  }
  cs__put(b, "</table></div>\n<h3>Segment profiles</h3><div class=\"scroll\"><table><tr>");
  cs__th(b, "column", 1);
  cs__th(b, "population mean", 0);
  cs__th(b, "population sd", 0);
  for (int g = 0; g < k; g++) {
    cs__seg_name(r, g, name, sizeof name);
    cs__th(b, name, 0);
  }
  cs__put(b, "</tr>\n");
  for (int64_t j = 0; j < P; j++) {
    cs__put(b, "<tr>");
    cs__td_text(b, j < r->p_mean.n_names ? cols[j] : "?");
    cs__td_num(b, r->p_pop_mean.v[j], persona_is_level(r, j) ? CS__PCT : CS__G);
    cs__td_num(b, r->p_pop_sd.v[j], persona_is_level(r, j) ? CS__PCT : CS__G); /* as its mean */
    for (int g = 0; g < k; g++) {
      double z = r->p_zdiff.v[(size_t)g * P + j];
      tint(z, colour);
      /* A level's mean is the segment's share of it: a percentage, not "1" or "0". */
      cs__num(num, sizeof num, r->p_mean.v[(size_t)g * P + j],
              persona_is_level(r, j) ? CS__PCT : CS__G);
      char med[64];
      cs__num(med, sizeof med, r->p_median.v[(size_t)g * P + j], CS__G);
      /* A difference that rounds to zero has no sign ("-0.00 sd"). */
      cs__put(b, "<td style=\"background:%s\" title=\"median %s, %+.2f sd\">%s</td>", colour,
              med, fabs(z) < 0.005 ? 0.0 : z, num);
    }
    cs__put(b, "</tr>\n");
  }
  cs__put(b, "</table></div>\n");
  cs__source(b, "%s: /segments/personas (mean, median, zdiff, population_mean, population_sd, "
            "top; labels and columns attributes); shares of the customers with a segment. Cells "
            "are tinted by zdiff: red above the population mean, blue below; hover a cell for "
            "its median.", seg_path);
  cs__section_end(b);
}

/* The persona column of a feature (the column of a numeric feature, `log1p:` dropped; the
 * column=level of a one-hot one), or -1. */
static int feature_persona(const cs_report_t *r, const char *feature) {
  if (!r->has_personas || r->p_zdiff.rows != r->centroids_std.rows ||
      r->p_zdiff.cols != r->p_mean.cols)
    return -1;
  if (!strncmp(feature, "log1p:", 6)) feature += 6;
  for (int p = 0; p < r->p_mean.n_names && p < r->p_mean.cols; p++) /* the columns' names */
    if (!strcmp(r->p_mean.names[p], feature)) return p;
  return -1;
}

static void section_heatmap(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_report_matrix_t *c = &r->centroids_std;
  int k = (int)c->rows, d = (int)c->cols, all = d <= c->n_names;
  cs__section_begin(b, cs_report_section_ids[S_HEATMAP], cs__section_titles[S_HEATMAP]);
  char (*names)[CS__NAME_MAX] = calloc((size_t)k, sizeof *names);
  const char **rows = calloc((size_t)k, sizeof *rows), **cols = calloc((size_t)d + 1, sizeof *cols);
  double *v = malloc(((size_t)k * (size_t)d + 1) * sizeof *v);
  if (names && rows && cols && v) {
    /* Every cell the persona's zdiff, when every feature has a persona column: in standard
     * deviations from the population whatever the scaling. The standardized centres are in
     * the model's units, which are standard deviations only for z-scores of weight 1 (with
     * --scale none the cells had shown raw mean incomes under a legend of deviations); they
     * are drawn only for results without personas, and said to be. */
    for (int j = 0; j < d && all; j++) all = feature_persona(r, c->names[j]) >= 0;
    for (int j = 0; j < d; j++) {
      const int p = all ? feature_persona(r, c->names[j]) : -1;
      for (int g = 0; g < k; g++)
        v[(int64_t)g * d + j] = p >= 0 ? r->p_zdiff.v[(int64_t)g * r->p_zdiff.cols + p]
                                       : c->v[(int64_t)g * d + j];
    }
    double m = 0;
    for (int64_t i = 0; i < (int64_t)k * d; i++)
      if (isfinite(v[i])) m = fmax(m, fabs(v[i]));
    double limit = fmin(3, fmax(1, ceil(m * 2) / 2));
    for (int g = 0; g < k; g++) {
      cs__seg_name(r, g, names[g], sizeof names[g]);
      rows[g] = names[g];
    }
    for (int j = 0; j < d; j++) cols[j] = j < c->n_names ? c->names[j] : "?";
    cs__put(b, "<div class=\"scroll\">");
    cs__svg_heatmap(b, all ? "Segment means against the population (segment \xc3\x97 feature)"
                           : "Standardized segment centres (segment \xc3\x97 feature)",
                    k, d, v, rows, cols, limit,
                    all ? "standard deviations from the population mean"
                        : "the model's standardized units (after log1p, --scale and weights)");
    cs__put(b, "</div>\n");
  }
  free(names);
  free(rows);
  free(cols);
  free(v);
  cs__source(b, all ? "%s: /segments/personas/zdiff, (segment mean \xe2\x88\x92 population "
            "mean) / population sd of each column as stored (before log1p, scaling and feature "
            "weights; for a one-hot feature, column=level, the share of the level), for the "
            "features of /segments/centroids_standardized in its order."
            : "%s: /segments/centroids_standardized, the centres the model uses (after log1p, "
            "scaling and feature weights; feature names from its features attribute); these "
            "results have no personas, whose standardized differences the heatmap shows "
            "otherwise.", seg_path);
  cs__section_end(b);
}

static void section_kselect(cs__buf_t *b, const cs_report_t *r, const char *seg_path) {
  const cs_report_matrix_t *t = &r->k_selection;
  cs__section_begin(b, cs_report_section_ids[S_KSEL], cs__section_titles[S_KSEL]);
  static const char *const want[] = {"k", "inertia", "calinski_harabasz", "davies_bouldin",
                                     "silhouette"};
  static const char *const titles[] = {"", "Inertia (lower is tighter)",
                                       "Calinski\xe2\x80\x93Harabasz (higher is better)",
                                       "Davies\xe2\x80\x93" "Bouldin (lower is better)",
                                       "Silhouette, sampled (higher is better)"};
  static const char *const axis[] = {"K", "inertia", "Calinski\xe2\x80\x93Harabasz",
                                     "Davies\xe2\x80\x93" "Bouldin", "silhouette"};
  int col[5];
  for (int i = 0; i < 5; i++) {
    col[i] = -1;
    for (int j = 0; j < t->n_names && j < t->cols; j++)
      if (!strcmp(t->names[j], want[i])) col[i] = j;
  }
  double *x = malloc((size_t)t->rows * sizeof *x), *y = malloc((size_t)t->rows * sizeof *y);
  double chosen = cs__attr_num(&r->seg, "k");
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
    cs__axes_t ax = {.title = titles[i], .xlabel = "K (segments)", .ylabel = axis[i],
                     .xfmt = CS__INT, .yfmt = CS__G, .x_integer = 1, .xmark = chosen,
                     .xmark_label = mark, .xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN};
    cs__svg_lines(b, &ax, &s, 1);
  }
  cs__put(b, "</div>\n");
  free(x);
  free(y);
  /* The numbers behind the curves, with the smallest segment's share that the K rule also
   * weighs, so a reader can check the choice. */
  static const struct { const char *name, *head; cs__fmt_t fmt; } tcol[] = {
      {"k", "K", CS__INT}, {"inertia", "inertia", CS__G},
      {"calinski_harabasz", "Calinski\xe2\x80\x93Harabasz", CS__G},
      {"davies_bouldin", "Davies\xe2\x80\x93" "Bouldin", CS__G},
      {"silhouette", "silhouette", CS__G}, {"min_share", "smallest segment", CS__PCT},
      {"iterations", "iterations", CS__INT}};
  int tc[7], any = 0;
  for (int i = 0; i < 7; i++) {
    tc[i] = -1;
    for (int j = 0; j < t->n_names && j < t->cols; j++)
      if (!strcmp(t->names[j], tcol[i].name)) tc[i] = j;
    any |= tc[i] >= 0;
  }
  if (any && t->rows > 0) {
    cs__put(b, "<div class=\"scroll\"><table><tr>");
    for (int i = 0; i < 7; i++)
      if (tc[i] >= 0) cs__th(b, tcol[i].head, 0);
    cs__put(b, "</tr>\n");
    for (int64_t q = 0; q < t->rows; q++) {
      cs__put(b, "<tr%s>", tc[0] >= 0 && t->v[q * t->cols + tc[0]] == chosen ? " class=\"total\"" : "");
      for (int i = 0; i < 7; i++)
        if (tc[i] >= 0) cs__td_num(b, t->v[q * t->cols + tc[i]], tcol[i].fmt);
      cs__put(b, "</tr>\n");
    }
    cs__put(b, "</table></div>\n");
  }
  char num[64];
  cs__num(num, sizeof num, r->recommended_k, CS__INT);
  cs__put(b, "<p class=\"note\">Recommended K by the rule of segment --k A..B: %s; the fit "
             "written is K = %.0f (the row in bold).</p>\n", num, chosen);
  cs__source(b, "%s: /segments/k_selection (one row per K) and its recommended_k attribute.",
         seg_path);
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
  cs__page_begin(&b, "custseg report", cs_report_section_ids, cs__section_titles,
                 CS_REPORT_SECTIONS);
  section_run(&b, r);
  section_sizes(&b, r, seg);
  if (r->has_previous)
    section_changes(&b, r, seg);
  else
    shown[S_CHANGES] = 0,
    cs__section_note(&b, cs_report_section_ids[S_CHANGES], cs__section_titles[S_CHANGES],
                     "Not shown: the segment results were not made with --previous (no "
                     "/segments/previous; segment --previous LAST_RESULTS writes it, or "
                     "previous = in the [segment] section of run's config).");
  section_personas(&b, r, seg);
  section_heatmap(&b, r, seg);
  if (r->k_selection.rows > 0)
    section_kselect(&b, r, seg);
  else
    shown[S_KSEL] = 0, cs__section_note(&b, cs_report_section_ids[S_KSEL], cs__section_titles[S_KSEL],
                                        "Not shown: the segment results were fitted with a single "
                                        "K (no /segments/k_selection; segment --k A..B writes it, "
                                        "or k = A..B in run's [segment] section).");
  if (r->has_roi)
    cs__section_roi(&b, r, roi);
  else
    shown[S_ROI] = 0, cs__section_note(&b, cs_report_section_ids[S_ROI], cs__section_titles[S_ROI],
                                       "Not shown: no ROI results (--roi-results, a custseg roi "
                                       "results file; in run, the roi stage's).");
  if (r->has_churn_metrics)
    cs__section_churn(&b, r, churn);
  else
    shown[S_CHURN] = 0,
    cs__section_note(&b, cs_report_section_ids[S_CHURN], cs__section_titles[S_CHURN],
                     r->has_churn ? "Not shown: the --churn-results file has no "
                                    "/churn/metrics (a churn score file; churn train writes "
                                    "them)."
                                  : "Not shown: no churn results (--churn-results, a custseg "
                                    "churn train results file; in run, the churn stage's, which "
                                    "needs the label column).");
  if (r->has_clv)
    cs__section_clv(&b, r, clv);
  else
    shown[S_CLV] = 0, cs__section_note(&b, cs_report_section_ids[S_CLV], cs__section_titles[S_CLV],
                                       "Not shown: no CLV results (--clv-results, a custseg clv "
                                       "results file; in run, the clv stage's, which needs the "
                                       "purchase histories in /transactions).");
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
                             &r->appeared, &r->vanished, &r->weak};
  for (size_t i = 0; i < sizeof m / sizeof *m; i++) cs_report_matrix_free(m[i]);
  cs_io_free_strings(r->p_labels, r->n_labels);
  free(r->roi);
  cs_io_free_strings(r->actions, r->n_actions);
  cs_io_free_attrs(&r->churn_metrics);
  cs_io_free_attrs(&r->clv_model);
  free(r->clv.count);
  memset(r, 0, sizeof *r);
}
