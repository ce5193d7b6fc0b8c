/* segment/persona.c: the segment personas: per segment, the feature columns in the units of
 * the store (mean, median), how far each lies from the population (standardized
 * difference), the three most distinguishing columns and a short label made from them
 * (docs/segments.md, Personas).
 *
 * Trade-off: the columns are read from the store again (one double per customer and column,
 * held for the 64 median steps) instead of being kept from the feature pipeline, which only
 * keeps the transformed float32 matrix; in exchange every value is exact and decomposition
 * independent: the sums are 128-bit fixed-point integers (one packed reduction for all
 * segments x columns, one more for the population deviations), the medians come from the
 * grouped bisection of features/quantile.c (64 packed reductions for all of them). */
#include "custseg/segment.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void cs_segment_personas_free(cs_personas_t *ps) {
  free(ps->names);
  free(ps->col_of);
  free(ps->level);
  free(ps->count);
  free(ps->mean);
  free(ps->median);
  free(ps->zdiff);
  free(ps->population_mean);
  free(ps->population_sd);
  free(ps->top);
  free(ps->labels);
  memset(ps, 0, sizeof *ps);
}

/* ---- the label rule (pure) ------------------------------------------------------------------ */

/* Friendlier words for well-known columns of the generated store and of the RFM features:
 * {column, word when zdiff > 0, word when zdiff < 0}. */
static const struct {
  const char *name, *high, *low;
} vocabulary[] = {
    {"recency_days", "lapsed", "recent"},
    {"frequency", "frequent", "infrequent"},
    {"rfm_frequency", "frequent", "infrequent"},
    {"support_tickets", "high support", "low support"},
    {"tenure_months", "long tenure", "short tenure"},
};

static void word_for(const char *name, double z, char *buf, size_t len) {
  if (z != 0)
    for (size_t v = 0; v < sizeof vocabulary / sizeof *vocabulary; v++)
      if (!strcmp(name, vocabulary[v].name)) {
        snprintf(buf, len, "%s", z > 0 ? vocabulary[v].high : vocabulary[v].low);
        return;
      }
  snprintf(buf, len, "%s %s", z > 0 ? "high" : z < 0 ? "low" : "typical", name);
}

void cs_segment_persona_label(const char (*names)[CS_FEATURE_NAME_MAX], const double *zdiff,
                              int p, int32_t *top, char *label, size_t len) {
  for (int t = 0; t < CS_PERSONA_TOP; t++) top[t] = -1;
  /* Insertion into a short sorted list; only a strictly larger |zdiff| moves ahead, so ties
   * keep the lower column first. */
  for (int j = 0; j < p; j++) {
    if (!isfinite(zdiff[j])) continue;
    double a = fabs(zdiff[j]);
    int t = CS_PERSONA_TOP;
    while (t > 0 && (top[t - 1] < 0 || a > fabs(zdiff[top[t - 1]]))) t--;
    if (t == CS_PERSONA_TOP) continue;
    for (int u = CS_PERSONA_TOP - 1; u > t; u--) top[u] = top[u - 1];
    top[t] = j;
  }
  size_t used = 0;
  label[0] = '\0';
  for (int t = 0; t < CS_PERSONA_TOP && top[t] >= 0 && used < len; t++) {
    char word[CS_FEATURE_NAME_MAX + 16];
    word_for(names[top[t]], zdiff[top[t]], word, sizeof word);
    int w = snprintf(label + used, len - used, "%s%s", t ? " \xc2\xb7 " : "", word);
    used += w > 0 ? (size_t)w : 0;
  }
  if (top[0] < 0) snprintf(label, len, "no distinguishing column");
}

/* ---- the statistics (collective) ------------------------------------------------------------ */

static int alloc_personas(cs_personas_t *ps, int k, int p) {
  size_t kp = (size_t)k * (size_t)p;
  ps->k = k;
  ps->p = p;
  ps->names = calloc((size_t)p, sizeof *ps->names);
  ps->col_of = calloc((size_t)p, sizeof *ps->col_of);
  ps->level = calloc((size_t)p, sizeof *ps->level);
  ps->count = calloc(kp, sizeof *ps->count);
  ps->mean = calloc(kp, sizeof *ps->mean);
  ps->median = calloc(kp, sizeof *ps->median);
  ps->zdiff = calloc(kp, sizeof *ps->zdiff);
  ps->population_mean = calloc((size_t)p, sizeof *ps->population_mean);
  ps->population_sd = calloc((size_t)p, sizeof *ps->population_sd);
  ps->top = calloc((size_t)k * CS_PERSONA_TOP, sizeof *ps->top);
  ps->labels = calloc((size_t)k, sizeof *ps->labels);
  return ps->names && ps->col_of && ps->level && ps->count && ps->mean && ps->median &&
                 ps->zdiff && ps->population_mean && ps->population_sd && ps->top && ps->labels
             ? CS_OK
             : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory for the personas of "
                            "%d segments x %d columns", k, p);
}

/* Sum the per-thread blocks of `n` integers into the first. */
static void merge_threads(cs_fixed_t *acc, int threads, int64_t n) {
  for (int t = 1; t < threads; t++)
    for (int64_t j = 0; j < n; j++) acc[j] += acc[(int64_t)t * n + j];
}

int cs_segment_personas(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                        const cs_features_t *f, const cs_matrix_t *m,
                        const cs_kmeans_result_t *r, cs_personas_t *ps) {
  int status = CS_OK;
  const int k = r->k, p = f->d, nc = f->n_cols, threads = omp_get_max_threads();
  const int64_t nl = part->n_local, nb = nl ? nl : 1, kp = (int64_t)k * p;
  double **col = NULL, *range = NULL, *scale = NULL, *dscale = NULL, *med = NULL;
  const double **num = NULL;
  int32_t *lab = NULL;
  int64_t *rank = NULL;
  cs_fixed_t *acc = NULL, *dev = NULL;
  memset(ps, 0, sizeof *ps);
  int local = alloc_personas(ps, k, p);
  if (local == CS_OK) {
    col = calloc((size_t)nc, sizeof *col);
    num = calloc((size_t)nc, sizeof *num);
    lab = malloc(cs_bytes(nb, sizeof *lab));
    range = malloc(cs_bytes(2 * nc, sizeof *range));
    scale = malloc(cs_bytes(p, sizeof *scale));
    dscale = malloc(cs_bytes(p, sizeof *dscale));
    acc = calloc((size_t)threads, cs_bytes(2 * kp, sizeof *acc));
    dev = calloc((size_t)threads, cs_bytes(p, sizeof *dev));
    for (int c = 0; col && c < nc; c++) col[c] = malloc(cs_bytes(nb, sizeof **col));
    int ok = col && num && lab && range && scale && dscale && acc && dev;
    for (int c = 0; ok && c < nc; c++) ok = col[c] != NULL;
    if (!ok)
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                           "out of memory for the persona columns (%d columns x %lld rows)", nc,
                           (long long)nl);
  }
  CS_TRY(cs_par_agree(ctx, local));
  for (int j = 0; j < p; j++) {
    const cs_feature_col_t *c = &f->cols[f->col_of[j]];
    ps->col_of[j] = f->col_of[j];
    ps->level[j] = c->n_levels ? j - c->first : -1;
    if (c->n_levels)
      snprintf(ps->names[j], sizeof ps->names[j], "%s=%s", c->name, c->levels[j - c->first]);
    else
      snprintf(ps->names[j], sizeof ps->names[j], "%s", c->name);
  }
  /* Segments by input row; customers without a feature row (--missing drop) have none. */
  for (int64_t i = 0; i < nl; i++) lab[i] = -1;
  for (int64_t i = 0; i < m->n; i++) lab[m->row[i] - part->offset] = r->labels[i];

  /* The columns as stored: a missing value (non-finite, or a code that is no level) is NaN;
   * -0.0 becomes +0.0, as numpy's median cannot tell them apart. Ranges over the segmented
   * customers, for the fixed-point grids: max and -min per column, one packed reduction. */
  for (int c = 0; c < nc; c++) {
    const cs_feature_col_t *fc = &f->cols[c];
    double *x = col[c], hi = -INFINITY, nlo = -INFINITY;
    CS_TRY(cs_store_read(store, fc->name, part->offset, nl, CS_DT_F64, x));
    for (int64_t i = 0; i < nl; i++) {
      double v = x[i];
      if (fc->n_levels)
        v = v >= 0 && v < fc->n_levels && v == floor(v) ? v : NAN;
      else
        v = isfinite(v) ? v + 0.0 : NAN;
      x[i] = v;
      if (lab[i] >= 0 && !isnan(v)) {
        hi = v > hi ? v : hi;
        nlo = -v > nlo ? -v : nlo;
      }
    }
    range[2 * c] = hi;
    range[2 * c + 1] = nlo;
  }
  CS_TRY(cs_par_allreduce(ctx, range, 2 * nc, CS_DT_F64, CS_OP_MAX));
  /* A level's values are 0/1, summed at grid 1 (counts). */
  for (int j = 0; j < p; j++) {
    int c = f->col_of[j];
    double maxabs = fmax(fabs(range[2 * c]), fabs(range[2 * c + 1]));
    scale[j] = ps->level[j] >= 0 ? 1.0 : ldexp(1.0, cs_fixed_exponent(maxabs, store->n));
  }

  /* Pass 1: per segment and column, the sum of the values (fixed point) and their count;
   * per thread, then in thread order, then across ranks in one packed reduction. */
#pragma omp parallel num_threads(threads)
  {
    cs_fixed_t *mine = acc + (int64_t)omp_get_thread_num() * 2 * kp;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nl; i++) {
      if (lab[i] < 0) continue;
      cs_fixed_t *row = mine + (int64_t)lab[i] * p * 2;
      for (int c = 0; c < nc; c++) {
        const cs_feature_col_t *fc = &f->cols[c];
        double v = col[c][i];
        if (isnan(v)) continue;
        if (fc->n_levels) {
          row[2 * (fc->first + (int)v)] += 1;
          for (int l = 0; l < fc->n_levels; l++) row[2 * (fc->first + l) + 1] += 1;
        } else {
          row[2 * fc->first] += (int64_t)(v * scale[fc->first]);
          row[2 * fc->first + 1] += 1;
        }
      }
    }
  }
  merge_threads(acc, threads, 2 * kp);
  CS_TRY(cs_par_sum_i128_n(ctx, acc, 2 * kp));
  for (int j = 0; j < p; j++) {
    cs_fixed_t sum = 0, cnt = 0;
    for (int q = 0; q < k; q++) {
      const cs_fixed_t *a = acc + 2 * ((int64_t)q * p + j);
      sum += a[0];
      cnt += a[1];
      ps->count[(int64_t)q * p + j] = (int64_t)a[1];
      ps->mean[(int64_t)q * p + j] = a[1] ? (double)a[0] / scale[j] / (double)a[1] : NAN;
    }
    ps->population_mean[j] = cnt ? (double)sum / scale[j] / (double)cnt : NAN;
    if (ps->level[j] >= 0) { /* a level's share: its Bernoulli standard deviation */
      double pi = ps->population_mean[j];
      ps->population_sd[j] = sqrt(pi * (1 - pi));
    }
    /* The grid of the squared deviations of a numeric column, from its range. */
    int c = f->col_of[j];
    double d = fmax(range[2 * c] - ps->population_mean[j], ps->population_mean[j] + range[2 * c + 1]);
    dscale[j] = ldexp(1.0, cs_fixed_exponent(d * d, store->n));
  }

  /* Pass 2: the population's squared deviations from its mean (numeric columns), exact on
   * their own grid (no cancellation), one packed reduction. */
#pragma omp parallel num_threads(threads)
  {
    cs_fixed_t *mine = dev + (int64_t)omp_get_thread_num() * p;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nl; i++) {
      if (lab[i] < 0) continue;
      for (int c = 0; c < nc; c++) {
        const cs_feature_col_t *fc = &f->cols[c];
        double v = col[c][i];
        if (fc->n_levels || isnan(v)) continue;
        double e = v - ps->population_mean[fc->first];
        mine[fc->first] += (int64_t)(e * e * dscale[fc->first]);
      }
    }
  }
  merge_threads(dev, threads, p);
  CS_TRY(cs_par_sum_i128_n(ctx, dev, p));
  for (int j = 0; j < p; j++) {
    if (ps->level[j] >= 0) continue;
    int64_t cnt = 0;
    for (int q = 0; q < k; q++) cnt += ps->count[(int64_t)q * p + j];
    ps->population_sd[j] = cnt ? sqrt((double)dev[j] / dscale[j] / (double)cnt) : NAN;
  }
  for (int64_t e = 0; e < kp; e++) {
    int j = (int)(e % p);
    double sd = ps->population_sd[j];
    ps->zdiff[e] = sd > 0 ? (ps->mean[e] - ps->population_mean[j]) / sd
                   : isnan(ps->mean[e]) || isnan(sd) ? NAN : 0.0;
  }

  /* Medians of the numeric columns: order statistics (n - 1) / 2 and n / 2 of each
   * segment x column, all bisected together; numpy's (a + b) / 2 when they differ. */
  int nn = 0;
  for (int c = 0; c < nc; c++)
    if (!f->cols[c].n_levels) num[nn++] = col[c];
  if (nn) {
    rank = malloc(cs_bytes((int64_t)k * nn * 2, sizeof *rank));
    med = malloc(cs_bytes((int64_t)k * nn * 2, sizeof *med));
    CS_TRY(cs_par_agree(ctx, rank && med ? CS_OK
                                         : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                        "out of memory for %lld medians",
                                                        (long long)k * nn)));
    for (int q = 0; q < k; q++)
      for (int c = 0, u = 0; c < nc; c++) {
        if (f->cols[c].n_levels) continue;
        int64_t n = ps->count[(int64_t)q * p + f->cols[c].first];
        int64_t *rk = rank + 2 * ((int64_t)q * nn + u++);
        rk[0] = n ? (n - 1) / 2 : INT64_MAX;
        rk[1] = n ? n / 2 : INT64_MAX;
      }
    CS_TRY(cs_features_order_stats(ctx, nl, nn, num, lab, k, 2, rank, med));
  }
  for (int q = 0; q < k; q++)
    for (int c = 0, u = 0; c < nc; c++) {
      const cs_feature_col_t *fc = &f->cols[c];
      int64_t e = (int64_t)q * p + fc->first;
      if (fc->n_levels) {
        for (int l = 0; l < fc->n_levels; l++) ps->median[e + l] = NAN;
        continue;
      }
      int64_t s = 2 * ((int64_t)q * nn + u++);
      ps->median[e] = rank[s] == rank[s + 1] ? med[s] : (med[s] + med[s + 1]) / 2;
    }
  for (int q = 0; q < k; q++)
    cs_segment_persona_label((const char(*)[CS_FEATURE_NAME_MAX])ps->names,
                             ps->zdiff + (int64_t)q * p, p, ps->top + (int64_t)q * CS_PERSONA_TOP,
                             ps->labels[q], sizeof ps->labels[q]);
fail:
  for (int c = 0; col && c < nc; c++) free(col[c]);
  free(col);
  free(num);
  free(lab);
  free(range);
  free(scale);
  free(dscale);
  free(acc);
  free(dev);
  free(rank);
  free(med);
  if (status < 0) cs_segment_personas_free(ps);
  return status;
}

/* ---- output ---------------------------------------------------------------------------------- */

int cs_segment_write_personas(cs_out_t *out, const cs_personas_t *ps) {
  int status = CS_OK;
  const char *g = "/segments/personas";
  const char **s = malloc((size_t)(ps->k > ps->p ? ps->k : ps->p) * sizeof *s);
  CS_CHECK(s, CS_ENOMEM, "out of memory");
  CS_TRY(cs_out_group(out, g));
  CS_TRY(cs_out_small(out, "/segments/personas/mean", CS_DT_F64, ps->k, ps->p, ps->mean));
  CS_TRY(cs_out_small(out, "/segments/personas/median", CS_DT_F64, ps->k, ps->p, ps->median));
  CS_TRY(cs_out_small(out, "/segments/personas/zdiff", CS_DT_F64, ps->k, ps->p, ps->zdiff));
  CS_TRY(cs_out_small(out, "/segments/personas/count", CS_DT_I64, ps->k, ps->p, ps->count));
  CS_TRY(cs_out_small(out, "/segments/personas/population_mean", CS_DT_F64, ps->p, 0,
                      ps->population_mean));
  CS_TRY(cs_out_small(out, "/segments/personas/population_sd", CS_DT_F64, ps->p, 0,
                      ps->population_sd));
  CS_TRY(cs_out_small(out, "/segments/personas/top", CS_DT_I32, ps->k, CS_PERSONA_TOP, ps->top));
  for (int j = 0; j < ps->p; j++) s[j] = ps->names[j];
  CS_TRY(cs_out_attr_strings(out, g, "columns", s, ps->p));
  for (int q = 0; q < ps->k; q++) s[q] = ps->labels[q];
  CS_TRY(cs_out_attr_strings(out, g, "labels", s, ps->k));
  CS_TRY(cs_out_attr_str(out, g, "units", "original (as stored, before log1p, scaling and weights)"));
fail:
  free(s);
  return status;
}

/* The shortest of %.15g .. %.17g that reads back to the same double, or "nan". */
static int put_number(FILE *fp, double v) {
  char num[40] = "nan";
  for (int digits = 15; !isnan(v) && digits <= 17; digits++) {
    snprintf(num, sizeof num, "%.*g", digits, v);
    if (strtod(num, NULL) == v) break;
  }
  return fputs(num, fp) >= 0;
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static int put_field(FILE *fp, const char *prefix, const char *s) {
  char whole[CS_PERSONA_LABEL_MAX + 16];
  snprintf(whole, sizeof whole, "%s%s", prefix, s);
  if (!strpbrk(whole, ",\"\r\n")) return fputs(whole, fp) >= 0;
  int ok = fputc('"', fp) != EOF;
  for (const char *c = whole; *c; c++) {
    if (*c == '"') ok &= fputc('"', fp) != EOF;
    ok &= fputc(*c, fp) != EOF;
  }
  return ok && fputc('"', fp) != EOF;
}

int cs_segment_personas_csv(FILE *fp, const cs_personas_t *ps, const int64_t *sizes) {
  int ok = fputs("segment,customers,label", fp) >= 0;
  for (int j = 0; j < ps->p; j++) {
    ok &= fputc(',', fp) != EOF && put_field(fp, "mean_", ps->names[j]);
    ok &= fputc(',', fp) != EOF && put_field(fp, "median_", ps->names[j]);
  }
  ok &= fputc('\n', fp) != EOF;
  for (int q = 0; q < ps->k; q++) {
    ok &= fprintf(fp, "%d,%lld,", q, (long long)sizes[q]) > 0;
    ok &= put_field(fp, "", ps->labels[q]);
    for (int j = 0; j < ps->p; j++) {
      ok &= fputc(',', fp) != EOF && put_number(fp, ps->mean[(int64_t)q * ps->p + j]);
      ok &= fputc(',', fp) != EOF && put_number(fp, ps->median[(int64_t)q * ps->p + j]);
    }
    ok &= fputc('\n', fp) != EOF;
  }
  return ok ? 0 : -1;
}
