/* report/report_impl.h: the page-building primitives shared by the report sources: a
 * growable text buffer, HTML escaping, number formats (html.c) and the SVG charts (svg.c). */
#ifndef CUSTSEG_REPORT_IMPL_H
#define CUSTSEG_REPORT_IMPL_H

#include "custseg/report.h"

#include <stddef.h>

/* A growable text buffer; after a failed allocation it stops growing and oom is set. */
typedef struct cs__buf {
  char *p;
  size_t len, cap;
  int oom;
} cs__buf_t;

/* Append printf-formatted text as it is (markup). */
void cs__put(cs__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append text escaped for HTML and SVG (& < > " '); NULL appends nothing. */
void cs__esc(cs__buf_t *b, const char *s);
/* Append printf-formatted text, escaped. */
void cs__escf(cs__buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number formats: NaN and infinities print as an en dash. */
typedef enum {
  CS__INT,   /* 12,345 */
  CS__MONEY, /* 12,345.67 */
  CS__PCT,   /* 12.3% from a share 0.123; "under 0.1%" for a positive share below 0.05% */
  CS__RATIO, /* 1,234.568: three decimals, as the ROI Markdown writes ratios */
  CS__PP,    /* +1.2 pp from a difference of two rates 0.012 (percentage points) */
  CS__G,     /* 4 significant digits, thousands separators above 10^4 */
  CS__SEC    /* 1.234 s */
} cs__fmt_t;
void cs__num(char *out, size_t len, double v, cs__fmt_t f);

/* Categorical colour of segment g (cycles after 10). */
const char *cs__segment_colour(int g);
/* Diverging colour for z in [-1, 1] (blue, white, red) as "#rrggbb". */
void cs__diverging(double z, char out[8]);

/* The page frame: head with the inline style sheet, a title and the table of contents. */
void cs__page_begin(cs__buf_t *b, const char *title, const char *const *ids,
                    const char *const *titles, int n);
void cs__page_end(cs__buf_t *b, const char *version);
void cs__section_begin(cs__buf_t *b, const char *id, const char *title);
void cs__section_end(cs__buf_t *b);
/* A section left out: its heading and a one-line note. */
void cs__section_note(cs__buf_t *b, const char *id, const char *title, const char *note);

/* ---- charts (svg.c): each is one <figure> with an inline <svg> and a caption ---- */
typedef struct cs__series {
  const char *name;
  const double *x, *y; /* n points; NaN y values are gaps */
  int n;
  const char *colour;
  int dashed, points;
} cs__series_t;
typedef struct cs__axes {
  const char *title, *xlabel, *ylabel;
  cs__fmt_t xfmt, yfmt;
  int y_from_zero;   /* the y axis starts at 0 when every value is positive */
  int x_integer;     /* ticks at the integers of x (K) */
  double xmark;      /* a vertical marker at this x (NaN: none) */
  const char *xmark_label;
  double xmin, xmax, ymin, ymax; /* fixed ranges, or NaN to fit the data */
  double width;      /* of the chart in px (0: 520) */
  int legend_low;    /* legend at the lower right (curves that rise to the upper right) */
} cs__axes_t;
void cs__svg_lines(cs__buf_t *b, const cs__axes_t *ax, const cs__series_t *s, int ns);
/* Horizontal bars, one per row (negative values to the left of zero), each labelled with
 * its value in `fmt` or with value_text[i] when value_text is given. */
void cs__svg_hbars(cs__buf_t *b, const char *title, int n, const char *const *labels,
                   const double *v, const char *const *colours, cs__fmt_t fmt,
                   const char *const *value_text);
/* K x D heatmap of values clamped to +-limit, with the values written in the cells. */
/* unit: what the cells are in, for the colour legend's caption. */
void cs__svg_heatmap(cs__buf_t *b, const char *title, int rows, int cols, const double *v,
                     const char *const *row_labels, const char *const *col_labels,
                     double limit, const char *unit);
/* One row per group on a logarithmic value axis [lo, hi]: a histogram of `nb` bins (counts
 * c[g * nb + j], equal widths on the log axis) behind a box plot of q[g * 5 + 0..4] (the
 * 5th, 25th, 50th, 75th and 95th percentiles). */
void cs__svg_boxes(cs__buf_t *b, const char *title, const char *xlabel, int groups,
                   const char *const *labels, const char *const *colours, const double *q,
                   const int64_t *c, int nb, double lo, double hi);


/* ---- shared by the section files (cells.c, report.c, model_sections.c) ---- */
enum { S_RUN, S_SIZES, S_CHANGES, S_PERSONAS, S_HEATMAP, S_KSEL, S_ROI, S_CHURN, S_CLV };
extern const char *const cs__section_titles[CS_REPORT_SECTIONS];
double cs__attr_num(const cs_io_attrs_t *a, const char *name);
/* The bytes of a segment's name in a table: a persona label of three 63-byte column names
 * (about 210 bytes) whole; 160 had cut it, though the tables promise whole names. */
#define CS__NAME_MAX 1024
/* "Segment g" or "g · label" (persona labels), "No segment" for group k. */
void cs__seg_name(const cs_report_t *r, int g, char *out, size_t len);
/* Segment g's persona label, without a " (segment g)" its id was added as (shown in front):
 * its length, with *label pointing at it; 0 and NULL when there is none. */
int cs__persona_label(const cs_report_t *r, int g, const char **label);
void cs__fact(cs__buf_t *b, const char *name, const char *value);
void cs__fact_num(cs__buf_t *b, const char *name, double v, cs__fmt_t f);
void cs__th(cs__buf_t *b, const char *text, int left);
void cs__td_num(cs__buf_t *b, double v, cs__fmt_t f);
void cs__td_text(cs__buf_t *b, const char *s);
void cs__td_swatch(cs__buf_t *b, int g, const char *name);
/* A header row's first cell (left-aligned) and one cell per segment. */
void cs__th_segments(cs__buf_t *b, const cs_report_t *r, const char *first);
/* The source line under a chart or table: fmt (printf, one %s: the path), escaped. */
void cs__source(cs__buf_t *b, const char *fmt, const char *path)
    __attribute__((format(printf, 2, 0)));
void cs__section_roi(cs__buf_t *b, const cs_report_t *r, const char *roi_path);
void cs__section_churn(cs__buf_t *b, const cs_report_t *r, const char *churn_path);
void cs__section_clv(cs__buf_t *b, const cs_report_t *r, const char *clv_path);

#endif
