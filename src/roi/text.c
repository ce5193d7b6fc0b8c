/* roi/text.c: the ROI table as CSV (every field, as the shortest text that reads back to the
 * same double, for programs) and as Markdown (rounded, in two tables, for people). Both take
 * the columns from cs_roi_fields / cs_roi_row_t, so the CSV's columns are the HDF5 table's.
 * Local: the command writes them on rank 0 to a temporary name and renames them
 * (src/cli/cmd_roi.c). */
#include "custseg/roi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *action_name(int64_t a) {
  return a >= 0 && a < CS_ROI_ACTIONS ? cs_roi_action_names[a] : "";
}

int cs_roi_write_csv(FILE *f, const cs_roi_t *r) {
  int ok = 1;
  for (int j = 0; j < cs_roi_n_fields; j++)
    ok &= fprintf(f, "%s%s", j ? "," : "", cs_roi_fields[j].name) > 0;
  ok &= fputc('\n', f) != EOF;
  for (int64_t i = 0; i < r->rows; i++) {
    const char *row = (const char *)&r->row[i];
    for (int j = 0; j < cs_roi_n_fields; j++) {
      const cs_out_field_t *fd = &cs_roi_fields[j];
      if (j) ok &= fputc(',', f) != EOF;
      if (fd->type == CS_DT_I64) {
        int64_t v;
        memcpy(&v, row + fd->offset, sizeof v);
        if (!strcmp(fd->name, "action"))
          ok &= fputs(action_name(v), f) >= 0;
        else
          ok &= fprintf(f, "%lld", (long long)v) > 0;
      } else {
        double v;
        memcpy(&v, row + fd->offset, sizeof v);
        /* The shortest of %.15g .. %.17g that reads back to the same double; NaN as "nan"
         * (pandas and Python read it). */
        char num[40] = "nan";
        for (int p = 15; !isnan(v) && p <= 17; p++) {
          snprintf(num, sizeof num, "%.*g", p, v);
          if (strtod(num, NULL) == v) break;
        }
        ok &= fputs(num, f) >= 0;
      }
    }
    ok &= fputc('\n', f) != EOF;
  }
  return ok ? 0 : -1;
}

/* ---- Markdown ---------------------------------------------------------------------------- */
static void segment_label(int64_t s, char *buf, size_t len) {
  if (s == CS_ROI_TOTAL)
    snprintf(buf, len, "**total**");
  else if (s == CS_ROI_UNSEGMENTED)
    snprintf(buf, len, "no segment");
  else
    snprintf(buf, len, "%lld", (long long)s);
}

/* printf of v with fmt, without the sign of a value that rounds to zero ("-0", "-0.00"). */
static void format(char *buf, size_t len, const char *fmt, double v) {
  snprintf(buf, len, fmt, v);
  if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1)) memmove(buf, buf + 1, strlen(buf));
}

/* A cell: printf of v with fmt (scaled), or "n/a" for NaN. */
static void cell(FILE *f, const char *fmt, double v, double scale) {
  char a[400];
  if (isnan(v)) {
    fputs(" n/a |", f);
    return;
  }
  format(a, sizeof a, fmt, v * scale);
  fprintf(f, " %s |", a);
}

static void interval(FILE *f, const char *fmt, double v, double lo, double hi, double scale) {
  if (isnan(v)) {
    fputs(" n/a |", f);
    return;
  }
  char a[400], b[400], c[400];
  format(a, sizeof a, fmt, v * scale);
  format(b, sizeof b, fmt, lo * scale);
  format(c, sizeof c, fmt, hi * scale);
  if (isnan(lo))
    fprintf(f, " %s |", a);
  else
    fprintf(f, " %s [%s, %s] |", a, b, c);
}

/* s as a Markdown code span: shown as it is, never read as HTML or Markdown (a store named
 * '<img src=x onerror=...>|a.h5' had gone into the title raw). The fence is one backtick more
 * than the longest run inside; a line end becomes a space (a heading is one line). */
static void code_span(FILE *f, const char *s) {
  int run = 0, longest = 0;
  for (const char *c = s; *c; c++) {
    run = *c == '`' ? run + 1 : 0;
    longest = run > longest ? run : longest;
  }
  for (int i = 0; i <= longest; i++) fputc('`', f);
  fputc(' ', f);
  for (const char *c = s; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
  fputc(' ', f);
  for (int i = 0; i <= longest; i++) fputc('`', f);
}

int cs_roi_write_markdown(FILE *f, const cs_roi_t *r, const char *store) {
  char seg[32];
  fputs("# ROI by segment: ", f);
  code_span(f, store);
  fputs("\n\n", f);
  fprintf(f, "Rates and shares in %%, amounts in the store's currency, ROI as a ratio "
             "(0.25: a return of 25%% of the cost); n/a: the input is absent or the denominator "
             "is 0. Formulas: docs/roi.md.\n\n");
  fprintf(f, "| segment | customers | share | revenue | revenue per customer | CAC | "
             "marketing cost | conversions | conversion rate | churn (observed) | "
             "churn (predicted) | CLV (mean) | CLV (total) | revenue at risk | ROI |\n");
  fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int64_t i = 0; i < r->rows; i++) {
    const cs_roi_row_t *o = &r->row[i];
    segment_label(o->segment, seg, sizeof seg);
    fprintf(f, "| %s | %lld |", seg, (long long)o->customers);
    cell(f, "%.2f", o->share, 100);
    cell(f, "%.2f", o->revenue_total, 1);
    cell(f, "%.2f", o->revenue_mean, 1);
    cell(f, "%.2f", o->acquisition_cost_mean, 1);
    cell(f, "%.2f", o->marketing_cost_total, 1);
    cell(f, "%.0f", o->conversions, 1);
    cell(f, "%.2f", o->conversion_rate, 100);
    cell(f, "%.2f", o->churn_rate_observed, 100);
    cell(f, "%.2f", o->churn_score_mean, 100);
    cell(f, "%.2f", o->clv_mean, 1);
    cell(f, "%.2f", o->clv_total, 1);
    cell(f, "%.2f", o->revenue_at_risk, 1);
    cell(f, "%.3f", o->roi, 1);
    fputc('\n', f);
  }
  fprintf(f, "\n## Campaign (treated against control)\n\n"
             "Uplift in percentage points with its 95%% interval (Newcombe); incremental "
             "revenue with its 95%% interval; ROI = (incremental revenue - campaign cost) / "
             "campaign cost, as a ratio.\n\n");
  fprintf(f, "| segment | treated | control | conversion treated | conversion control | "
             "uplift [95%%] | incremental conversions | incremental revenue [95%%] | "
             "campaign cost | incremental ROI | action |\n");
  fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  int dagger = 0;
  for (int64_t i = 0; i < r->rows; i++) {
    const cs_roi_row_t *o = &r->row[i];
    segment_label(o->segment, seg, sizeof seg);
    fprintf(f, "| %s |", seg);
    cell(f, "%.0f", o->treated, 1);
    cell(f, "%.0f", o->control, 1);
    cell(f, "%.2f", o->conversion_rate_treated, 100);
    cell(f, "%.2f", o->conversion_rate_control, 100);
    interval(f, "%.2f", o->uplift, o->uplift_low, o->uplift_high, 100);
    cell(f, "%.0f", o->incremental_conversions, 1);
    interval(f, "%.0f", o->incremental_revenue, o->incremental_revenue_low,
             o->incremental_revenue_high, 1);
    cell(f, "%.2f", o->campaign_cost, 1);
    const int open = !isnan(o->incremental_roi) &&
                     !cs_roi_return_settled(o->incremental_revenue_low,
                                            o->incremental_revenue_high, o->campaign_cost);
    if (open) {
      char a[400];
      format(a, sizeof a, "%.3f", o->incremental_roi);
      fprintf(f, " %s \xe2\x80\xa0 |", a);
    } else
      cell(f, "%.3f", o->incremental_roi, 1);
    dagger |= open;
    fprintf(f, " %s |\n", o->action >= 0 ? action_name(o->action) : "");
  }
  if (dagger)
    fprintf(f, "\n\xe2\x80\xa0 The incremental revenue's 95%% interval holds the campaign cost, "
               "or is unknown: whether the campaign paid for itself in that row is not "
               "established, whatever the incremental ROI's point value.\n");
  return ferror(f) ? -1 : 0;
}
