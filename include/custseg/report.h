/* report: one self-contained HTML page about a pipeline's results (docs/report.md).
 *
 * The command (src/cli/cmd_report.c) reads the results files through io into a cs_report_t;
 * this module turns it into HTML with inline SVG charts (no script, no external font, style
 * sheet or image, so the file opens anywhere without a network) and computes the one
 * per-customer quantity, the CLV distribution per segment, as integer histograms reduced
 * through par. Trade-off: the page is built in memory by rank 0 and written in one piece
 * (a few hundred kilobytes for hundreds of segments x features), in exchange for a writer
 * that never leaves half a page; and the CLV quantiles are read off a 2048-bin logarithmic
 * histogram (within 0.34 % of the exact order statistic) rather than a distributed sort, so
 * the page is the same bytes on any number of ranks. No HDF5 or MPI of its own. */
#ifndef CUSTSEG_REPORT_H
#define CUSTSEG_REPORT_H

#include "custseg/io.h"

/* A small matrix read from a results file (rows x cols, row-major) with optional column
 * names (e.g. the `features` attribute). Owned by the report. */
typedef struct cs_report_matrix {
  double *v;
  int64_t rows, cols;
  char **names;
  int n_names;
} cs_report_matrix_t;

/* The CLV distribution per group (segments 0 .. K-1, then group K: customers without a
 * segment). Per group CS_REPORT_CLV_SLOTS counts: slot 0 no value (NaN), slot 1 at most `lo`
 * (zero), then CS_REPORT_CLV_BINS logarithmic bins of [lo, hi]. */
#define CS_REPORT_CLV_BINS 2048
#define CS_REPORT_CLV_SLOTS (CS_REPORT_CLV_BINS + 2)
typedef struct cs_report_clv {
  int groups;          /* K + 1 */
  int64_t *count;      /* groups x CS_REPORT_CLV_SLOTS (owned) */
  double lo, hi;       /* bin range: hi = the largest value, lo = hi x 1e-6 */
} cs_report_clv_t;

/* One results file: its role ("segment", "churn", "clv", "roi"), path and /run attributes. */
typedef struct cs_report_file {
  const char *role;
  const char *path;
  cs_io_attrs_t run;
} cs_report_file_t;

/* The fields of /roi/table the report shows, in this order (cs_report_t.roi columns). */
#define CS_REPORT_ROI_FIELDS 26
extern const char *const cs_report_roi_fields[CS_REPORT_ROI_FIELDS];

/* Everything the page shows. An absent part has has_* = 0 (or rows = 0) and gets a one-line
 * note instead of its section. Strings come from files and are escaped when written. */
typedef struct cs_report {
  const char *version;          /* custseg version writing the page */
  int n_files;
  cs_report_file_t file[4];
  /* stage timings, seconds, in the given order (n_timings = 0: none) */
  int n_timings;
  char **timing_name;
  double *timing_seconds;
  const char *timing_source;    /* where they came from, e.g. the --timings path */
  /* the warnings given so far in this process (for `run` and `demo`, every stage's), each
   * text once; not owned */
  int n_warnings;
  const char **warnings;
  /* /segments */
  cs_io_attrs_t seg;            /* attributes of /segments (k, algorithm, hash, indices) */
  cs_report_matrix_t sizes;     /* K x 1 */
  cs_report_matrix_t centroids; /* K x D original units, names = features */
  cs_report_matrix_t centroids_std; /* K x D standardized */
  cs_report_matrix_t k_selection;   /* rows x 7 (names = columns); rows = 0 without --k A..B */
  double recommended_k;         /* NaN when absent */
  /* /segments/personas (optional) */
  int has_personas;
  cs_report_matrix_t p_mean, p_median, p_zdiff; /* K x P, names = the columns */
  cs_report_matrix_t p_pop_mean, p_pop_sd;      /* P */
  cs_report_matrix_t p_top;                     /* K x 3 column indices */
  char **p_labels;
  int n_labels;
  /* /segments/previous (optional: segment --previous): the comparison with the previous
   * run. migration is (K'+1) x (K+1): previous segments then new customers down, this run's
   * segments then departed customers across; previous_id, drift, drift_std have K rows. */
  int has_previous;
  cs_io_attrs_t prev;           /* file, k, adjusted_rand_index, customers_* ... */
  cs_report_matrix_t migration, previous_id, drift, drift_std, appeared, vanished;
  cs_report_matrix_t weak; /* segments kept on their centroid alone (absent in older files: 0 rows) */
  /* /roi/table (optional) */
  int has_roi;
  double *roi;                  /* roi_rows x CS_REPORT_ROI_FIELDS */
  int64_t roi_rows;
  int roi_present[CS_REPORT_ROI_FIELDS];
  char revenue_units[256];     /* /roi@revenue_units: what the revenue covers ("": not said) */
  char **actions;
  int n_actions;
  /* /churn (optional); metrics only in a `churn train` file */
  int has_churn, has_churn_metrics;
  const char *churn_split;      /* "holdout" or "train": the metrics shown */
  cs_io_attrs_t churn_metrics;  /* auc, logloss, brier, customers, positives */
  cs_report_matrix_t gains;     /* 10 x 3: depth, gain, lift */
  cs_report_matrix_t calibration; /* 10 x 3: mean_predicted, observed, customers */
  /* /clv (optional) */
  int has_clv;
  cs_io_attrs_t clv_model;
  cs_report_clv_t clv;
} cs_report_t;

/* Section identifiers, in page order, and whether a page has each (shown[i] = 1) or a note. */
#define CS_REPORT_SECTIONS 9
extern const char *const cs_report_section_ids[CS_REPORT_SECTIONS];

/* The CLV histograms of this rank's n customers (label[i] in -1 .. k-1, value[i] NaN when
 * none), summed over all ranks: integer counts, so the result is the same on any split.
 * Collective; *out owned by the caller (cs_report_free or free(out->count)). */
int cs_report_clv_distribution(cs_ctx_t *ctx, int64_t n, const int64_t *label,
                               const double *value, int k, cs_report_clv_t *out);
/* The value below which a share q of the group's customers with a value lie, read off the
 * histogram (the geometric middle of the bin); NaN when the group has none. Local. */
double cs_report_clv_quantile(const cs_report_clv_t *c, int group, double q);

/* The page as one malloc'ed string (*html, *len bytes); shown[] tells which sections have
 * content. Local (rank 0 calls it). */
int cs_report_render(const cs_report_t *r, char **html, size_t *len,
                     int shown[CS_REPORT_SECTIONS]);

/* Free everything the report owns (not version, role, path, timing_source, churn_split). */
void cs_report_free(cs_report_t *r);
void cs_report_matrix_free(cs_report_matrix_t *m);

#endif
