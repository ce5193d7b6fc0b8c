/* cli/options.c: one table of options, read from an INI file (inih) and from flags.
 *
 * Every option has one name in both places: `--customers 1000` on the command line is
 * `customers = 1000` in the file. The file may have a general part (no section, or
 * [custseg]) and one section per command ([generate], [inspect], ...). Unknown keys and
 * sections are errors, never silently ignored; flags override the file. */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const cs_optdef_t cs_optdefs[] = {
    {"config", CS_OPT_STR, NULL, "*", "INI file with options (flags override it)"},
    {"summary", CS_OPT_STR, NULL, "*", "write a JSON run summary to this file"},
    {"threads", CS_OPT_INT, "0", "*", "OpenMP threads per rank (0: OMP_NUM_THREADS, else the rank's share of its node's cores)"},
    {"verbose", CS_OPT_BOOL, "false", "*", "more detail in the log"},
    {"quiet", CS_OPT_BOOL, "false", "*", "no progress lines, only warnings and errors"},
    {"input", CS_OPT_STR, NULL, "inspect segment churn-train churn-score clv roi run",
     "customer store to read (HDF5)"},
    {"output", CS_OPT_STR, NULL, "generate segment churn-train churn-score clv import roi select-k report",
     "file to write (HDF5; the HTML page for report); written atomically"},
    {"seed", CS_OPT_INT, "1", "generate segment churn-train",
     "random seed >= 0 (draws are keyed by seed and row or customer id)"},
    {"features", CS_OPT_STR, NULL, "inspect segment churn-train",
     "comma-separated feature columns, checked to be numeric with finite values (default: "
     "inspect looks at every numeric column, the models at every numeric non-reserved one)"},
    {"log1p", CS_OPT_STR, NULL, "segment churn-train", "comma-separated features to transform with log1p"},
    {"feature-weights", CS_OPT_STR, NULL, "segment churn-train",
     "comma-separated name:weight pairs multiplying standardized features (default 1)"},
    {"weight-column", CS_OPT_STR, NULL, "segment",
     "column of per-customer weights (>= 0) used by initialisation, Lloyd and inertia"},
    {"scale", CS_OPT_STR, "zscore", "segment churn-train", "feature scaling: zscore, robust or none"},
    {"missing", CS_OPT_STR, "impute", "segment churn-train",
     "missing feature values: impute (column mean), drop (label -1 or score NaN) or error"},
    {"k", CS_OPT_STR, "6", "segment",
     "number of segments K, or a range A..B to fit each K and recommend one"},
    {"min-segment-share", CS_OPT_REAL, "0.02", "segment select-k",
     "with a K range: only recommend K whose smallest segment holds this share of customers"},
    {"silhouette-sample", CS_OPT_INT, "4000", "segment",
     "customers in the silhouette sample (chosen by a hash of customer id)"},
    {"init", CS_OPT_STR, "auto", "segment",
     "start: kmeans++, kmeans|| (alias kmeans-par; a few passes instead of K), or auto "
     "(kmeans|| only when customers x K > 1e10: kmeans++ gives better starts)"},
    {"n-init", CS_OPT_INT, "1", "segment", "k-means++ restarts; the lowest inertia wins"},
    {"max-iter", CS_OPT_INT, "300", "segment churn-train",
     "maximum iterations (Lloyd for segment, Newton for churn train)"},
    {"label-column", CS_OPT_STR, "churned", "segment churn-train",
     "churn label column: 1 churned, 0 stayed, anything else unknown (not trained on); never a "
     "feature (segment leaves it out of the default features too)"},
    {"holdout", CS_OPT_REAL, "0.2", "churn-train",
     "share of labelled customers held out for evaluation, chosen by a hash of customer_id"},
    {"label-positive", CS_OPT_STR, NULL, "churn-train",
     "for a categorical label column: the level that means churned (default: the one of its two "
     "levels that reads as yes: yes, y, true, t, 1; else the other of one that reads as no: no, "
     "n, false, f, 0; else the one named as the column); for a 0/1 label, 0 when 0 means "
     "churned"},
    {"holdout-column", CS_OPT_STR, NULL, "segment churn-train",
     "the churn model's fixed split: churn train takes its holdout from this column instead "
     "(1 holdout, 0 training); never a feature (segment leaves it out of the default features "
     "too)"},
    {"l2", CS_OPT_REAL, "1.0", "churn-train",
     "L2 penalty on the coefficients, not the intercept (scikit-learn's 1/C)"},
    {"class-weight", CS_OPT_STR, "none", "churn-train",
     "none, or balanced (each class weighted n / (2 n_class))"},
    {"newton-tol", CS_OPT_REAL, "1e-8", "churn-train", "stop when every Newton step is below this"},
    {"churn-with-segment", CS_OPT_BOOL, "false", "churn-train",
     "add the customer's segment (one-hot) from --segment-results to the churn features"},
    {"segment-results", CS_OPT_STR, NULL, "churn-train churn-score roi report",
     "results file of `custseg segment` on the same store (for --churn-with-segment, for "
     "scoring with a model trained that way, and the segments of roi and report)"},
    {"churn-results", CS_OPT_STR, NULL, "roi report",
     "results file of `custseg churn train` or `churn score` on the same store (/churn/score)"},
    {"clv-results", CS_OPT_STR, NULL, "roi report",
     "results file of `custseg clv` on the same store (/clv/value)"},
    {"roi-results", CS_OPT_STR, NULL, "report",
     "results file of `custseg roi` with the same segments (/roi/table)"},
    {"timings", CS_OPT_STR, NULL, "report",
     "JSON object {stage: seconds} of the pipeline's stage timings (as custseg run writes)"},
    {"roi-csv", CS_OPT_STR, NULL, "roi", "also write the ROI table as CSV to this file"},
    {"roi-markdown", CS_OPT_STR, NULL, "roi", "also write the ROI table as Markdown to this file"},
    {"hessian-sample", CS_OPT_INT, "262144", "churn-train",
     "Newton steps use the Hessian of about this many training customers (by id hash; 0 = all); "
     "the optimum and the standard errors do not depend on it"},
    {"model", CS_OPT_STR, NULL, "churn-score", "results file of a churn train run"},
    {"calibration-end", CS_OPT_STR, NULL, "clv",
     "last day of the calibration period, YYYY-MM-DD or a day number (default: the last "
     "purchase day); purchases on that day are in calibration"},
    {"holdout-end", CS_OPT_STR, NULL, "clv",
     "last day of a holdout period after the calibration end, to validate the forecasts"},
    {"time-unit", CS_OPT_STR, "week", "clv", "model time unit: day, week or month"},
    {"horizon-months", CS_OPT_INT, "12", "clv", "CLV horizon in months (1..1200)"},
    {"monthly-discount", CS_OPT_REAL, "0.01", "clv", "discount rate per month of the CLV"},
    {"month-weeks", CS_OPT_REAL, "4.345", "clv", "weeks in a month"},
    {"merge-same-day", CS_OPT_BOOL, "yes", "clv",
     "purchases of one customer on one day count as one purchase of their summed amount"},
    {"tol", CS_OPT_REAL, "1e-4", "segment",
     "stop when the squared centroid shift is below tol x the mean feature variance"},
    {"init-centroids", CS_OPT_STR, NULL, "segment",
     "start from FILE[:DATASET] (K x D; standardized units, or original units when the dataset's "
     "units attribute says \"original\"; default dataset /segments/centroids_standardized)"},
    {"sweep", CS_OPT_STR, NULL, "select-k",
     "directory with the JSON summaries (--summary) of single-K segment runs of one input, one "
     "per K (a Slurm job array)"},
    {"checkpoint", CS_OPT_STR, NULL, "segment",
     "where k-means writes its checkpoint when SIGTERM or SIGUSR1 arrives (and with "
     "--checkpoint-every); default OUTPUT.ckpt"},
    {"checkpoint-every", CS_OPT_REAL, "0", "segment",
     "also write the checkpoint every this many seconds of k-means iterations (0: only on a "
     "signal)"},
    {"resume", CS_OPT_STR, NULL, "segment",
     "continue the k-means fit stored in this checkpoint (same input and options as the "
     "interrupted run)"},
    {"resume-mismatch", CS_OPT_STR, "error", "segment",
     "a --resume checkpoint of another input, store version or configuration: error, or "
     "restart (set it aside with a warning and fit from the start; the job templates)"},
    {"previous", CS_OPT_STR, NULL, "segment",
     "results file of the previous run (e.g. last month's): start from its centroids, keep "
     "its segment ids, report the migration (default --k: its K)"},
    {"personas-csv", CS_OPT_STR, NULL, "segment",
     "also write the segment personas (label, mean and median of every column) as CSV to this "
     "file"},
    {"algorithm", CS_OPT_STR, "auto", "segment",
     "k-means variant: lloyd, hamerly or yinyang (the same result as lloyd, skipping most "
     "distances; yinyang keeps bounds per group of about 10 centroids) or auto "
     "(docs/segments.md)"},
    {"customers", CS_OPT_INT, "100000", "generate demo",
     "number of customers N"},
    {"output-dir", CS_OPT_STR, NULL, "run demo",
     "directory for every stage's results (created if missing; its parent must exist)"},
    {"continue", CS_OPT_BOOL, "false", "run",
     "keep the stages an interrupted run of the same input, config file and --stages finished "
     "(DIR/run.progress) and resume its segment stage from DIR/segments.h5.ckpt"},
    {"read-cache-mb", CS_OPT_INT, "1024", "run demo",
     "keep the store's columns in memory between stages, up to this many MiB per rank, so "
     "each is read from the file once (0: every stage reads the file)"},
    {"stages", CS_OPT_STR, "segment,churn,clv,roi,report", "run demo",
     "the stages to run, comma-separated, in the fixed order segment, churn, clv, roi, report; "
     "a stage whose input is absent is skipped with a notice"},
    {"segments", CS_OPT_INT, "6", "generate", "hidden segments K (1..64)"},
    {"transactions", CS_OPT_BOOL, "false", "generate",
     "also write purchase histories (/transactions) drawn from BG/NBD + Gamma-Gamma"},
    {"transactions-uniform", CS_OPT_BOOL, "false", "generate",
     "every hidden segment shares one purchase parameter set (for recovery tests)"},
    {"id-base", CS_OPT_INT, "1", "generate", "customer_id of the first row"},
    {"missing-rate", CS_OPT_REAL, "0", "generate",
     "fraction of income and email_open_rate values left missing (NaN)"},
    {"unlabelled-rate", CS_OPT_REAL, "0.05", "generate",
     "fraction of customers whose churn label is unknown (-1)"},
    {"chunk-rows", CS_OPT_INT, "1048576", "generate inspect import",
     "rows per rank per read/write step (bounds memory)"},
    {"customers-csv", CS_OPT_STR, NULL, "import",
     "customers file (CSV with a header line): one row per customer"},
    {"transactions-csv", CS_OPT_STR, NULL, "import",
     "transactions file (customer id, date, amount, ...), rows in any order; without "
     "--customers-csv the customers are its distinct ids"},
    {"schema", CS_OPT_STR, NULL, "import",
     "file of 'column = type' lines (id, int, int8..int64, uint8..uint32, float, float32, "
     "float64, categorical, 'categorical: a, b', skip); other columns are inferred"},
    {"id-column", CS_OPT_STR, NULL, "import",
     "customer id column of --customers-csv, stored as customer_id (default: the schema's id "
     "column, else customer_id)"},
    {"rename", CS_OPT_STR, NULL, "import",
     "OLD=NEW,...: store columns of --customers-csv under other names (e.g. "
     "MonthlyCharges=revenue,Churn=churned for the ROI table and the churn label)"},
    {"delimiter", CS_OPT_STR, ",", "import",
     "field delimiter of --customers-csv: one character, comma, tab, semicolon, pipe or "
     "whitespace (runs of spaces and tabs)"},
    {"na-values", CS_OPT_STR, NULL, "import",
     "comma-separated values that also mean missing (e.g. NA,NULL); empty fields always do"},
    {"infer-rows", CS_OPT_INT, "10000", "import",
     "a column's type is inferred from its first this many non-empty values; a later value "
     "that does not fit is a bad row"},
    {"max-categories", CS_OPT_INT, "10000", "import",
     "most distinct values of a text (categorical) column"},
    {"hash-ids", CS_OPT_BOOL, "false", "import",
     "customer ids are text (e.g. 'C-00042', a UUID): each becomes the 63-bit XXH3 hash of its "
     "text, the same in every import and in both files"},
    {"skip-bad-rows", CS_OPT_BOOL, "false", "import",
     "skip and count bad rows (and repeated ids, transactions of unknown customers) instead of "
     "failing"},
    {"txn-columns", CS_OPT_STR, NULL, "import",
     "comma-separated names of the transactions file's columns, in order (replacing its "
     "header line, if any)"},
    {"txn-header", CS_OPT_BOOL, "yes", "import",
     "the transactions file's first line is a header (no: it is data; needs --txn-columns)"},
    {"txn-delimiter", CS_OPT_STR, ",", "import",
     "field delimiter of --transactions-csv (as --delimiter)"},
    {"txn-id-column", CS_OPT_STR, "customer_id", "import", "customer id column of the transactions"},
    {"txn-date-column", CS_OPT_STR, "date", "import", "date column of the transactions"},
    {"txn-amount-column", CS_OPT_STR, "amount", "import", "amount column of the transactions (>= 0)"},
    {"txn-date-format", CS_OPT_STR, "yyyy-mm-dd", "import",
     "format of the date column: a pattern of yyyy, mm, dd (and HH, MI, SS) such as yyyymmdd or "
     "dd/mm/yyyy, or days (days since 1970-01-01) or unix (seconds)"},
    {"sort-memory", CS_OPT_INT, "268435456", "import",
     "bytes of memory for the external sorts (>= 16384); more data spills to --tmp-dir"},
    {"tmp-dir", CS_OPT_STR, NULL, "import",
     "directory for the sort's temporary files (default: the output's directory)"},
};
const int cs_n_optdefs = (int)(sizeof cs_optdefs / sizeof *cs_optdefs);

/* Defaults that differ for one command (the demo's population is larger than generate's). */
static const struct {
  const char *command, *name, *def;
} command_defaults[] = {{"demo", "customers", "1000000"}};

/* The default of option i for `command`, NULL when it has none. */
static const char *default_of(const char *command, int i) {
  for (size_t k = 0; k < sizeof command_defaults / sizeof *command_defaults; k++)
    if (!strcmp(command, command_defaults[k].command) &&
        !strcmp(cs_optdefs[i].name, command_defaults[k].name))
      return command_defaults[k].def;
  return cs_optdefs[i].def;
}

static int find(const char *name) {
  for (int i = 0; i < cs_n_optdefs; i++)
    if (strcmp(cs_optdefs[i].name, name) == 0) return i;
  return -1;
}

int cs_opts_applies(const char *command, const cs_optdef_t *d) {
  if (strcmp(d->cmds, "*") == 0) return 1;
  size_t n = strlen(command);
  for (const char *p = d->cmds; (p = strstr(p, command)); p += n)
    if ((p == d->cmds || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
  return 0;
}

/* ---- value checks ---------------------------------------------------------------------------- */
/* Integer options with bounds (the others take any int64 >= 0): values the code keeps in an
 * int, and threads beyond any node's cores (libgomp fails or crashes creating them). The
 * message gives the whole range, so the lower bound is the real one (0 threads: as many as
 * the cores; 0 silhouette sample: none). */
/* Every integer below 2^53: the JSON summary records each option's value as a number (a
 * double), and a seed of 2^53 + 1 had been recorded as 2^53, another fit's seed. */
#define CS_OPT_INT_MAX (((int64_t)1 << 53) - 1)
static const struct {
  const char *name;
  int64_t min, max;
} int_range[] = {{"threads", 0, 1024},          {"n-init", 1, 1000000},
                 {"max-iter", 1, 1000000000},   {"horizon-months", 1, 1200},
                 {"silhouette-sample", 0, 1000000000}, {"segments", 1, 64},
                 {"chunk-rows", 1, (int64_t)1 << 40}}; /* rows + chunk would overflow near 2^63 */

/* The option's bounds; 0 and CS_OPT_INT_MAX when it has none. */
static void range_of(const cs_optdef_t *d, int64_t *min, int64_t *max) {
  *min = 0;
  *max = CS_OPT_INT_MAX;
  for (size_t i = 0; i < sizeof int_range / sizeof *int_range; i++)
    if (!strcmp(int_range[i].name, d->name)) *min = int_range[i].min, *max = int_range[i].max;
}

static int parse_int(const char *s, int64_t *v) {
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (errno || end == s || *end) {
    /* Accept 1e6-style integers, a common way to write sizes (decimal only: strtod would
     * also read 0x10 and inf). */
    if (strpbrk(s, "xXpPnN")) return -1;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d) || d != floor(d) || fabs(d) > 9.0e18) return -1;
    x = (long long)d;
  }
  *v = x;
  return 0;
}

static int parse_real(const char *s, double *v) {
  char *end;
  errno = 0;
  if (strpbrk(s, "xX")) return -1; /* decimal only, as the integers (strtod reads 0x1p-3) */
  double d = strtod(s, &end);
  /* An underflow (1e-400) is a tiny number, not "not a number": it reads as 0 or a
   * subnormal, which the option's own range check then judges. */
  if (errno == ERANGE && fabs(d) <= DBL_MIN) errno = 0;
  if (errno || end == s || *end || !isfinite(d)) return -1;
  *v = d;
  return 0;
}

static int parse_bool(const char *s, int *v) {
  if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1"))
    *v = 1;
  else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") ||
           !strcmp(s, "0"))
    *v = 0;
  else
    return -1;
  return 0;
}

static int check_value(const cs_optdef_t *d, const char *v) {
  int64_t i;
  double r;
  int b;
  switch (d->type) {
  case CS_OPT_INT: { /* counts, sizes, seeds */
    int64_t lo, hi;
    range_of(d, &lo, &hi);
    return parse_int(v, &i) != 0 || i < lo || i > hi ? -1 : 0;
  }
  case CS_OPT_REAL: return parse_real(v, &r);
  case CS_OPT_BOOL: return parse_bool(v, &b);
  default: return 0;
  }
}

static const char *type_word(cs_opt_type_t t) {
  return t == CS_OPT_INT ? "a non-negative integer below 2^53" : t == CS_OPT_REAL ? "a number" : t == CS_OPT_BOOL ? "true or false" : "text";
}

/* Whether v is a value of option idx: CS_OK, or the error naming `where`. */
static int valid(int idx, const char *v, cs_opt_src_t src, const char *where) {
  const cs_optdef_t *d = &cs_optdefs[idx];
  int64_t lo, hi;
  range_of(d, &lo, &hi);
  /* An empty file name is most often an unset shell variable (--output "$OUT", or a config
   * written from one): it had failed later as an output "not a file name" (exit 3) or an
   * input that "cannot open ''" (exit 2). */
  if (src == CS_SRC_FLAG && !*v && cs_opt_names_file(d->name))
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s is empty: give a file name, or leave "
                        "the option out", where);
  if (src == CS_SRC_CONFIG && !*v && cs_opt_names_file(d->name))
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__, "%s: %s is empty: give a file name, or "
                        "remove the line", where, d->name);
  if (check_value(d, v) != 0 && d->type == CS_OPT_INT && hi < CS_OPT_INT_MAX)
    return cs_error_set(src == CS_SRC_FLAG ? CS_EUSAGE : CS_ECONFIG, __FILE__, __LINE__,
                        "%s: value '%s' for %s is not an integer in %lld..%lld", where, v,
                        d->name, (long long)lo, (long long)hi);
  if (check_value(d, v) != 0)
    return cs_error_set(src == CS_SRC_FLAG ? CS_EUSAGE : CS_ECONFIG, __FILE__, __LINE__,
                        "%s: value '%s' for %s is not %s", where, v, d->name, type_word(d->type));
  return CS_OK;
}

static int set(cs_opts_t *o, int idx, const char *v, cs_opt_src_t src, const char *where) {
  const int status = valid(idx, v, src, where);
  if (status != CS_OK) return status;
  free(o->value[idx]);
  o->value[idx] = strdup(v);
  o->source[idx] = src;
  return o->value[idx] ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
}

int cs_opts_set(const cs_opts_t *o, const char *name, const char *value, cs_opt_src_t src) {
  int idx = find(name);
  if (idx < 0) return cs_error_set(CS_EINTERNAL, __FILE__, __LINE__, "no option '%s'", name);
  cs_opts_t shared = *o; /* the same value and source arrays */
  return set(&shared, idx, value, src, name);
}

/* ---- config file ------------------------------------------------------------------------- */
typedef struct ini_state {
  cs_opts_t *o;
  const char *path;
  char *from_section; /* per option: 1 when set by the command's own section, 2 by the
                       * general part (bits: a key set twice in one part is an error) */
  int status, err_line; /* the first error the entries raised, and its line */
  const int *lineno;   /* the line being parsed (the line reader's count) */
  const int *indented; /* it starts with a blank: inih continues the key above with it */
} ini_state_t;

static const char *const *config_ignored;

void cs_opts_ignore_config(const char *const *names) { config_ignored = names; }

static int entry(ini_state_t *st, const char *section, const char *name, const char *value);

static int on_ini_entry(void *user, const char *section, const char *name, const char *value) {
  ini_state_t *st = user;
  const int ok = entry(st, section, name, value);
  if (st->status < 0 && !st->err_line) st->err_line = *st->lineno;
  return ok;
}

static int entry(ini_state_t *st, const char *section, const char *name, const char *value) {
  if (st->status != CS_OK) return 1; /* the first error stands, with its line number */
  char where[4200];
  snprintf(where, sizeof where, "config %s", st->path);
  /* (an unknown section is refused at its line, config_lines.c) */
  int general = !*section || !strcmp(section, "custseg");
  int idx = find(name);
  if (idx < 0 || !strcmp(name, "config")) {
    st->status = cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                              "%s: unknown key '%s'%s%s%s (see custseg %s --help)", where, name,
                              *section ? " in [" : "", section, *section ? "]" : "",
                              st->o->command);
    return 0;
  }
  if (!general && strcmp(section, st->o->command) != 0) return 1; /* another command's */
  if (!cs_opts_applies(st->o->command, &cs_optdefs[idx])) {
    if (general) return 1; /* a shared file: meant for another command */
    st->status = cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                              "%s: option '%s' in [%s] does not apply to '%s'", where, name,
                              section, st->o->command);
    return 0;
  }
  const char bit = general ? 2 : 1;
  if ((st->from_section[idx] & bit) && *st->indented) {
    st->status = cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                              "%s: the line is indented, which continues the key '%s' above it "
                              "(set twice); start the line at its first column", where, name);
    return 0;
  }
  if (st->from_section[idx] & bit) {
    st->status = cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                              "%s: key '%s' set twice in %s%s%s; set it once", where, name,
                              general ? "the general part" : "[", general ? "" : section,
                              general ? "" : "]");
    return 0;
  }
  st->from_section[idx] |= bit;
  /* The command's own section beats the general part, whatever their order in the file; a
   * bad value is an error in either order (it had been one only when the general part came
   * first). */
  if (general && (st->from_section[idx] & 1))
    return (st->status = valid(idx, value, CS_SRC_CONFIG, where)) == CS_OK;
  for (int i = 0; config_ignored && config_ignored[i]; i++)
    if (!strcmp(name, config_ignored[i])) return 1;
  st->status = set(st->o, idx, value, CS_SRC_CONFIG, where);
  st->o->line[idx] = *st->lineno;
  st->o->own[idx] = !general;
  return st->status == CS_OK;
}

static int read_config(cs_opts_t *o, const char *path) {
  cs_config_lines_t lr = {0};
  ini_state_t st = {o, path, calloc((size_t)cs_n_optdefs, 1), CS_OK, 0, &lr.line, &lr.indented};
  int status = st.from_section ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  if (status == CS_OK) status = cs__config_parse(path, on_ini_entry, &st, &lr, &st.status, &st.err_line);
  free(st.from_section);
  return status;
}

static const char *raw(const cs_opts_t *o, const char *name);

/* ---- command line ------------------------------------------------------------------------ */
static const char *const commands[] = {"generate", "inspect", "segment", "churn-train",
                                       "churn-score", "clv", "import", "roi", "select-k", "report",
                                       "run", "demo"};

static int is_command(const char *s) {
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(s, commands[i])) return 1;
  return 0;
}

int cs_config_section_known(const char *name) {
  return !strcmp(name, "custseg") || is_command(name);
}

const char *cs_config_sections(void) {
  static char list[512];
  if (!list[0]) {
    size_t used = (size_t)snprintf(list, sizeof list, "[custseg]");
    for (size_t i = 0; i < sizeof commands / sizeof *commands && used < sizeof list; i++)
      used += (size_t)snprintf(list + used, sizeof list - used, ", [%s]", commands[i]);
  }
  return list;
}

int cs_opts_parse(cs_opts_t *o, const char *command, int argc, char **argv) {
  int status = CS_OK;
  memset(o, 0, sizeof *o);
  o->command = command;
  o->value = calloc((size_t)cs_n_optdefs, sizeof *o->value);
  o->source = calloc((size_t)cs_n_optdefs, sizeof *o->source);
  o->line = calloc((size_t)cs_n_optdefs, sizeof *o->line);
  o->own = calloc((size_t)cs_n_optdefs, sizeof *o->own);
  CS_CHECK(o->value && o->source && o->line && o->own, CS_ENOMEM, "out of memory");
  for (int i = 0; i < cs_n_optdefs; i++)
    if (default_of(command, i)) CS_TRY(set(o, i, default_of(command, i), CS_SRC_DEFAULT, "default"));

  /* Flags are parsed into a list first, so --config is read before the flags override it. */
  int nflags = 0;
  int *fidx = calloc((size_t)argc + 1, sizeof *fidx);
  const char **fval = calloc((size_t)argc + 1, sizeof *fval);
  if (!fidx || !fval) {
    free(fidx);
    free(fval);
    CS_FAIL(CS_ENOMEM, "out of memory");
  }
  for (int a = 0; a < argc && status == CS_OK; a++) {
    const char *arg = argv[a];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      o->help = 1;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) {
      /* Only commands that read one store take it as a bare FILE; it means --input FILE. */
      /* After a bool flag: the word was meant as its value (--merge-same-day maybe). */
      const int after_bool = a > 0 && !strncmp(argv[a - 1], "--", 2) &&
                             !strchr(argv[a - 1], '=') && find(argv[a - 1] + 2) >= 0 &&
                             cs_optdefs[find(argv[a - 1] + 2)].type == CS_OPT_BOOL;
      if ((o->positional || strcmp(command, "inspect") != 0) && after_bool)
        status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                              "unexpected argument '%s' after %s, which takes no value or one of "
                              "yes/no, true/false, on/off, 1/0", arg, argv[a - 1]);
      else if (o->positional || strcmp(command, "inspect") != 0)
        status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                              "unexpected argument '%s' (see custseg %s --help)", arg, command);
      else if (!*arg) /* an unset shell variable: `custseg inspect "$STORE"` */
        status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                              "the store's file name is empty: custseg %s FILE", command);
      else if (!(o->positional = strdup(arg)))
        status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
      else {
        fidx[nflags] = find("input");
        fval[nflags++] = o->positional;
      }
      continue;
    }
    char name[128];
    const char *eq = strchr(arg + 2, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg + 2);
    int idx = find(name);
    if (idx < 0 || !cs_opts_applies(command, &cs_optdefs[idx])) {
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s option '--%s' for '%s' (see "
                            "custseg %s --help)", idx < 0 ? "unknown" : "inapplicable", name,
                            command, command);
      continue;
    }
    const char *v = eq ? eq + 1 : NULL;
    /* A bool flag alone means true; a following yes/no/true/false/on/off/1/0 is its value. */
    if (!v && cs_optdefs[idx].type == CS_OPT_BOOL) {
      int b;
      v = a + 1 < argc && parse_bool(argv[a + 1], &b) == 0 ? argv[++a] : "true";
    }
    if (!v) {
      if (a + 1 >= argc) {
        status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "option '--%s' needs a value", name);
        continue;
      }
      v = argv[++a];
    }
    fidx[nflags] = idx;
    fval[nflags++] = v;
  }
  /* Each option once: a second value would silently replace the first. */
  for (int i = 0; status == CS_OK && i < nflags; i++) {
    int times = 0;
    for (int j = 0; j < nflags; j++) times += fidx[j] == fidx[i];
    if (times < 2) continue;
    if (!strcmp(cs_optdefs[fidx[i]].name, "input"))
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                            "the input store is given %d times (FILE or --input, once)", times);
    else
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "--%s given %d times; give it once",
                            cs_optdefs[fidx[i]].name, times);
  }
  for (int i = 0; status == CS_OK && i < nflags; i++)
    if (!strcmp(cs_optdefs[fidx[i]].name, "config") && /* read before the flags are set */
        (status = valid(fidx[i], fval[i], CS_SRC_FLAG, "--config")) == CS_OK)
      status = read_config(o, fval[i]);
  for (int i = 0; status == CS_OK && i < nflags; i++) {
    char where[160];
    snprintf(where, sizeof where, "--%s", cs_optdefs[fidx[i]].name);
    status = set(o, fidx[i], fval[i], CS_SRC_FLAG, where);
  }
  free(fidx);
  free(fval);
  if (status == CS_OK && !o->help) status = cs__opts_check_roles(o);
fail:
  return status;
}

void cs_opts_free(cs_opts_t *o) {
  for (int i = 0; o->value && i < cs_n_optdefs; i++) free(o->value[i]);
  free(o->value);
  free(o->source);
  free(o->line);
  free(o->own);
  free(o->positional);
  memset(o, 0, sizeof *o);
}

static const char *raw(const cs_opts_t *o, const char *name) {
  int idx = find(name);
  return idx >= 0 ? o->value[idx] : NULL;
}

const char *cs_opt_str(const cs_opts_t *o, const char *name) { return raw(o, name); }

int cs_opt_given(const cs_opts_t *o, const char *name) {
  int idx = find(name);
  return idx >= 0 && o->source[idx] != CS_SRC_DEFAULT;
}

int cs_opt_in_own_section(const cs_opts_t *o, const char *name) {
  int idx = find(name);
  return idx >= 0 && o->source[idx] == CS_SRC_CONFIG && o->own && o->own[idx];
}

int64_t cs_opt_int(const cs_opts_t *o, const char *name) {
  int64_t v = 0;
  const char *s = raw(o, name);
  if (s) parse_int(s, &v);
  return v;
}

double cs_opt_real(const cs_opts_t *o, const char *name) {
  double v = 0;
  const char *s = raw(o, name);
  if (s) parse_real(s, &v);
  return v;
}

int cs_opt_bool(const cs_opts_t *o, const char *name) {
  int v = 0;
  const char *s = raw(o, name);
  if (s) parse_bool(s, &v);
  return v;
}

const char *cs_command_shown(const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s", name);
  if (!strncmp(buf, "churn-", 6) && size > 6) buf[5] = ' ';
  return buf;
}

void cs_opts_usage(const char *command, const char *summary, const char *synopsis) {
  char shown[32];
  printf("usage: custseg %s %s\n\n%s\n\noptions (flag --NAME VALUE, or NAME = VALUE in the "
         "--config file):\n", cs_command_shown(command, shown, sizeof shown), synopsis, summary);
  for (int i = 0; i < cs_n_optdefs; i++) {
    const cs_optdef_t *d = &cs_optdefs[i];
    if (!cs_opts_applies(command, d)) continue;
    char left[64];
    snprintf(left, sizeof left, "--%s%s", d->name,
             d->type == CS_OPT_BOOL ? "" : d->type == CS_OPT_STR ? " TEXT"
                                       : d->type == CS_OPT_INT   ? " INT"
                                                                 : " NUM");
    const char *def = default_of(command, i);
    printf("  %-26s %s%s%s%s\n", left, d->help, def ? " [default: " : "", def ? def : "",
           def ? "]" : "");
  }
}

void cs_opts_blame_config(const cs_opts_t *o) {
  const cs_error_t *e = cs_error_get();
  /* The option is the message's first word, or follows "cannot open "; a message about a
   * named feature ("STORE: feature 'x' is not a column ...") is about --features (a name in
   * the config's features list had not been blamed on its line). */
  const char *m = strncmp(e->msg, "cannot open --", 14) ? e->msg : e->msg + 12;
  if (strncmp(m, "--", 2) != 0 && strstr(e->msg, ": feature '")) m = "--features";
  if (!o->value || !o->source || !o->line || strncmp(m, "--", 2) != 0 ||
      strstr(e->msg, " is set in config "))
    return;
  size_t len = strspn(m + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
  for (int i = 0; i < cs_n_optdefs; i++) {
    const char *name = cs_optdefs[i].name;
    if (o->source[i] != CS_SRC_CONFIG || strlen(name) != len || strncmp(m + 2, name, len))
      continue;
    const char *cfg = raw(o, "config");
    const size_t n = strlen(name) + strlen(cfg) + 64;
    char *suffix = malloc(n);
    if (suffix) {
      snprintf(suffix, n, " (%s is set in config %s line %d)", name, cfg, o->line[i]);
      cs_error_rewrite("", NULL, suffix);
      free(suffix);
    }
    return;
  }
}
