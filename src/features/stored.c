/* features/stored.c: the feature statistics in a results file (`/segments/feature_stats`,
 * `/churn/model/feature_stats`; docs/format.md): written by segment and churn train, read
 * back by churn score, segment --previous and the report, and checked as they are read, so a
 * damaged or edited file is named here rather than failing later on the data it is applied to. */
#include "custseg/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cs_features_write(cs_out_t *out, const cs_features_t *f, const char *group) {
  int status = CS_OK;
  char path[256];
  const char **names = malloc((size_t)(f->d + f->n_cols) * sizeof *names);
  double *v = malloc((size_t)(f->n_cols * 8 + 1) * sizeof *v);
  CS_CHECK(names && v, CS_ENOMEM, "out of memory");
  CS_TRY(cs_out_group(out, group));
  for (int j = 0; j < f->d; j++) names[j] = f->names[j];
  CS_TRY(cs_out_attr_strings(out, group, "features", names, f->d));
  static const char *const scale_names[] = {"zscore", "robust", "none"};
  static const char *const missing_names[] = {"impute", "drop", "error"};
  CS_TRY(cs_out_attr_str(out, group, "scale", scale_names[f->scale]));
  CS_TRY(cs_out_attr_str(out, group, "missing", missing_names[f->missing]));
  CS_TRY(cs_out_attr_str(out, group, "weight_column", f->weight_column));
  CS_TRY(cs_out_attr_i64(out, group, "rows_with_missing", f->rows_with_missing));
  snprintf(path, sizeof path, "%s/center", group);
  CS_TRY(cs_out_small(out, path, CS_DT_F64, f->d, 0, f->center));
  snprintf(path, sizeof path, "%s/spread", group);
  CS_TRY(cs_out_small(out, path, CS_DT_F64, f->d, 0, f->spread));
  snprintf(path, sizeof path, "%s/weight", group);
  CS_TRY(cs_out_small(out, path, CS_DT_F64, f->d, 0, f->weight));
  /* Per input column: log1p, levels, mean, std, median, iqr, min, max, missing. */
  for (int i = 0; i < f->n_cols; i++) names[i] = f->cols[i].name;
  snprintf(path, sizeof path, "%s/columns", group);
  CS_TRY(cs_out_group(out, path));
  CS_TRY(cs_out_attr_strings(out, path, "names", names, f->n_cols));
  CS_TRY(cs_out_attr_strings(out, path, "stats",
                             (const char *[]){"log1p", "levels", "mean", "std", "median", "iqr",
                                              "min", "max", "missing"},
                             9));
  for (int i = 0; i < f->n_cols; i++) {
    const cs_feature_col_t *c = &f->cols[i];
    if (!c->n_levels) continue;
    char attr[CS_NAME_MAX + 8];
    snprintf(attr, sizeof attr, "levels:%s", c->name);
    CS_TRY(cs_out_attr_strings(out, path, attr, (const char *const *)c->levels, c->n_levels));
  }
  double *t = malloc((size_t)f->n_cols * 9 * sizeof *t);
  CS_CHECK(t, CS_ENOMEM, "out of memory");
  for (int i = 0; i < f->n_cols; i++) {
    const cs_feature_col_t *c = &f->cols[i];
    double row[9] = {c->log1p, c->n_levels, c->mean, c->std, c->median, c->iqr, c->min, c->max,
                     (double)c->missing};
    memcpy(t + 9 * i, row, sizeof row);
  }
  snprintf(path, sizeof path, "%s/columns/table", group);
  status = cs_out_small(out, path, CS_DT_F64, f->n_cols, 9, t);
  free(t);
fail:
  free(names);
  free(v);
  return status;
}

int cs_features_read(cs_ctx_t *ctx, const char *path, const char *group, cs_features_t **out) {
  int status = CS_OK;
  char obj[512], word[64];
  char **names = NULL, **outs = NULL;
  int n = 0, d = 0;
  double *table = NULL, *center = NULL, *spread = NULL, *weight = NULL;
  int64_t rows, cols;
  char units[8], feat[8];
  cs_features_t *f = calloc(1, sizeof *f);
  *out = NULL;
  CS_TRY(cs_par_agree(ctx, f ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  snprintf(obj, sizeof obj, "%s/columns", group);
  CS_TRY(cs_io_read_attr_strings(ctx, path, obj, "names", &names, &n));
  CS_TRY(cs_io_read_attr_strings(ctx, path, group, "features", &outs, &d));
  CS_CHECK(n > 0 && d >= n, CS_EFORMAT, "%s:%s holds no feature statistics", path, group);
  snprintf(obj, sizeof obj, "%s/columns/table", group);
  CS_TRY(cs_io_read_matrix(ctx, path, obj, &table, &rows, &cols, units, sizeof units, feat, sizeof feat));
  CS_CHECK(rows == n && cols == 9, CS_EFORMAT, "%s:%s is %lld x %lld, expected %d x 9", path, obj,
           (long long)rows, (long long)cols, n);
  snprintf(obj, sizeof obj, "%s/center", group);
  CS_TRY(cs_io_read_matrix(ctx, path, obj, &center, &rows, &cols, units, sizeof units, feat, sizeof feat));
  CS_CHECK(rows == d, CS_EFORMAT, "%s:%s has %lld values for %d features", path, obj, (long long)rows, d);
  snprintf(obj, sizeof obj, "%s/spread", group);
  CS_TRY(cs_io_read_matrix(ctx, path, obj, &spread, &rows, &cols, units, sizeof units, feat, sizeof feat));
  CS_CHECK(rows == d, CS_EFORMAT, "%s:%s has %lld values for %d features", path, obj, (long long)rows, d);
  snprintf(obj, sizeof obj, "%s/weight", group);
  CS_TRY(cs_io_read_matrix(ctx, path, obj, &weight, &rows, &cols, units, sizeof units, feat, sizeof feat));
  CS_CHECK(rows == d, CS_EFORMAT, "%s:%s has %lld values for %d features", path, obj, (long long)rows, d);
  /* Words the writer puts there: another is a damaged or edited file, not a bad option. */
  CS_TRY(cs_io_read_attr_str(ctx, path, group, "scale", word, sizeof word));
  int bad = !word[0] || cs_features_parse_scale(word, &f->scale) != CS_OK;
  if (bad) cs_error_clear(); /* the option's message, replaced by the file's */
  CS_CHECK(!bad, CS_EFORMAT,
           "%s:%s@scale is '%s', not zscore, robust or none: a damaged or edited file", path,
           group, word);
  CS_TRY(cs_io_read_attr_str(ctx, path, group, "missing", word, sizeof word));
  bad = !word[0] || cs_features_parse_missing(word, &f->missing) != CS_OK;
  if (bad) cs_error_clear();
  CS_CHECK(!bad, CS_EFORMAT,
           "%s:%s@missing is '%s', not impute, drop or error: a damaged or edited file", path,
           group, word);
  CS_TRY(cs_io_read_attr_str(ctx, path, group, "weight_column", f->weight_column,
                             sizeof f->weight_column));
  f->cols = calloc((size_t)n, sizeof *f->cols);
  f->names = calloc((size_t)d, sizeof *f->names);
  f->col_of = calloc((size_t)d, sizeof *f->col_of);
  CS_CHECK(f->cols && f->names && f->col_of, CS_ENOMEM, "out of memory");
  f->n_cols = n;
  f->d = d;
  f->center = center;
  f->spread = spread;
  f->weight = weight;
  center = spread = weight = NULL;
  int first = 0;
  for (int i = 0; i < n; i++) {
    cs_feature_col_t *c = &f->cols[i];
    const double *t = table + 9 * i;
    snprintf(c->name, sizeof c->name, "%s", names[i]);
    c->log1p = t[0] != 0;
    c->n_levels = (int)t[1];
    c->mean = t[2];
    c->std = t[3];
    c->median = t[4];
    c->iqr = t[5];
    c->min = t[6];
    c->max = t[7];
    c->missing = (int64_t)t[8];
    c->first = first;
    CS_CHECK(first < d, CS_EFORMAT, "%s:%s: columns need more features than stored", path, group);
    c->weight = f->weight[first];
    if (c->n_levels) {
      char attr[CS_NAME_MAX + 8];
      int nl = 0;
      snprintf(attr, sizeof attr, "levels:%s", c->name);
      snprintf(obj, sizeof obj, "%s/columns", group);
      CS_TRY(cs_io_read_attr_strings(ctx, path, obj, attr, &c->levels, &nl));
      CS_CHECK(nl == c->n_levels, CS_EFORMAT, "%s:%s: %d levels stored for '%s', %d expected",
               path, group, nl, c->name, c->n_levels);
    }
    for (int l = 0; l < (c->n_levels ? c->n_levels : 1); l++) {
      CS_CHECK(first + l < d, CS_EFORMAT, "%s:%s: too few features stored", path, group);
      f->col_of[first + l] = i;
      snprintf(f->names[first + l], sizeof f->names[first + l], "%s", outs[first + l]);
    }
    first += c->n_levels ? c->n_levels : 1;
  }
  CS_CHECK(first == d, CS_EFORMAT, "%s:%s: %d features stored, columns describe %d", path, group,
           d, first);
  /* Statistics a fit can have written: a damaged or edited file says so here, not later as a
   * zero variance of the store being scored or as scores outside [0, 1]. */
  for (int j = 0; j < d; j++) {
    const cs_feature_col_t *c = &f->cols[f->col_of[j]];
    CS_CHECK(isfinite(f->center[j]) && isfinite(f->spread[j]) && isfinite(f->weight[j]) &&
                 f->weight[j] >= 0 && (c->n_levels || f->spread[j] > 0),
             CS_EFORMAT, "%s:%s: feature '%s' has center %g, spread %g, weight %g (a damaged or "
             "edited file: the spread must be positive, every value finite)", path, group,
             f->names[j], f->center[j], f->spread[j], f->weight[j]);
    /* A one-hot level is not scaled: a fit writes center 0 and spread 1, scoring ignores
     * them, and an edit had been ignored in silence there (while the conversions to and from
     * original units would have used it). */
    CS_CHECK(!c->n_levels || (f->center[j] == 0 && f->spread[j] == 1), CS_EFORMAT,
             "%s:%s: one-hot feature '%s' has center %g and spread %g (a damaged or edited "
             "file: a fit writes 0 and 1 for a category's level, which is not scaled)", path,
             group, f->names[j], f->center[j], f->spread[j]);
  }
  *out = f;
  f = NULL;
fail:
  cs_io_free_strings(names, n);
  cs_io_free_strings(outs, d);
  free(table);
  free(center);
  free(spread);
  free(weight);
  cs_features_free(f);
  return status;
}
