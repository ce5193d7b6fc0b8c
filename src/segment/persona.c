/* segment/persona.c: the segment personas: per segment, the feature columns in the units of
 * the store (mean, median), how far each lies from the population (standardized
 * difference), the three most distinguishing columns and a short label made from them
 * (docs/segments.md, Personas).
 *
 * Trade-off: the columns are read from the store again, one at a time (one double per
 * customer, held for that column's 8 median rounds), instead of being kept from the feature
 * pipeline, which only keeps the transformed float32 matrix; memory stays one column's worth
 * whatever the number of columns, at the price of small reductions per column (its range,
 * its sums, its deviations and 8 median rounds). Every value is exact and decomposition
 * independent: the sums are 128-bit fixed-point integers, the medians come from the grouped
 * radix selection of features/quantile.c. */
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

#define PERSONA_WORDS_MAX 6 /* columns of a label made longer to tell segments apart */
#define PERSONA_ID_ROOM 24  /* " (segment Q)" with Q up to 10 digits */

/* Friendlier words for well-known columns of the generated store and of the RFM features:
 * {column, word when zdiff > 0, word when zdiff < 0}. */
static const struct {
  const char *name, *high, *low;
} vocabulary[] = {
    {"recency_days", "lapsed", "recent"},
    {"frequency", "frequent", "infrequent"},
    {"rfm_frequency", "frequent", "infrequent"},
    /* rfm_recency is t_x, first to last purchase (BG/NBD), not the time since the last one */
    {"rfm_recency", "long buying span", "short buying span"},
    {"rfm_age", "long-standing", "new"},
    {"rfm_monetary", "big spender", "small spender"},
    {"support_tickets", "high support", "low support"},
    {"tenure_months", "long tenure", "short tenure"},
};

static void word_for(const char *name, int is_level, double z, char *buf, size_t len) {
  if (is_level) { /* a share of customers: more of them than in the population */
    snprintf(buf, len, "%s %s", z > 0 ? "more" : "typical", name);
    return;
  }
  if (z != 0)
    for (size_t v = 0; v < sizeof vocabulary / sizeof *vocabulary; v++)
      if (!strcmp(name, vocabulary[v].name)) {
        snprintf(buf, len, "%s", z > 0 ? vocabulary[v].high : vocabulary[v].low);
        return;
      }
  snprintf(buf, len, "%s %s", z > 0 ? "high" : z < 0 ? "low" : "typical", name);
}

/* Up to `want` columns by |zdiff| into top[0..want) (finite values only; only a strictly
 * larger |zdiff| moves ahead, so ties keep the lower column first; -1 padding), and the label
 * of their words, a word already in it left out. level[j] >= 0 marks a categorical level
 * (NULL: none). */
static void label_words(const char (*names)[CS_FEATURE_NAME_MAX], const int32_t *level,
                        const double *zdiff, int p, const unsigned char *echo, int want,
                        int32_t *top, char *label, size_t len) {
  for (int t = 0; t < want; t++) top[t] = -1;
  for (int j = 0; j < p; j++) {
    /* A level whose share is below the population's is no word: a lower share of one level
     * is a higher share of others ("fewer OnlineSecurity=No" had described customers who have
     * no internet service at all), and the label says what a segment has more of. */
    if (!isfinite(zdiff[j]) || (echo && echo[j]) || (level && level[j] >= 0 && zdiff[j] < 0))
      continue;
    double a = fabs(zdiff[j]);
    int t = want;
    while (t > 0 && (top[t - 1] < 0 || a > fabs(zdiff[top[t - 1]]))) t--;
    if (t == want) continue;
    for (int u = want - 1; u > t; u--) top[u] = top[u - 1];
    top[t] = j;
  }
  size_t used = 0;
  char words[PERSONA_WORDS_MAX][CS_FEATURE_NAME_MAX + 16];
  int n = 0;
  label[0] = '\0';
  for (int t = 0; t < want && top[t] >= 0; t++) {
    word_for(names[top[t]], level && level[top[t]] >= 0, zdiff[top[t]], words[n],
             sizeof words[n]);
    int again = 0; /* frequency and rfm_frequency both high: "frequent" once */
    for (int u = 0; u < n; u++) again |= !strcmp(words[u], words[n]);
    if (again) continue;
    /* Whole words only (a cut could split a UTF-8 character), with room left for the
     * " (segment Q)" of cs_segment_persona_labels. */
    if (used + strlen(words[n]) + 4 + PERSONA_ID_ROOM >= len) break;
    int w = snprintf(label + used, len - used, "%s%s", n ? " \xc2\xb7 " : "", words[n]);
    used += w > 0 ? (size_t)w : 0;
    n++;
  }
  if (top[0] < 0) snprintf(label, len, "no distinguishing column");
}

void cs_segment_persona_label(const char (*names)[CS_FEATURE_NAME_MAX], const int32_t *level,
                              const double *zdiff, int p, int32_t *top, char *label,
                              size_t len) {
  label_words(names, level, zdiff, p, NULL, CS_PERSONA_TOP, top, label, len);
}

/* echo[j] = 1 for a column that repeats an earlier one in every segment: zdiff equal, or
 * (neither being a level) equal with the sign turned (to 1e-9 of the larger), and not 0
 * everywhere. One-hot levels of different columns that hold the same customers (a telco's
 * InternetService=No and OnlineBackup=No internet service), a column stored twice: one fact,
 * which had taken two or three of a label's words. */
static void find_echoes(const double *zdiff, const int32_t *level, int k, int p,
                        unsigned char *echo) {
  for (int j = 0; j < p; j++) {
    echo[j] = 0;
    for (int e = 0; e < j && !echo[j]; e++) {
      if (echo[e]) continue;
      /* Not the sign turned for a level: its negative side is no word (label_words), so the
       * other level of a yes/no column must stay to say it. */
      const int s0 = level && (level[j] >= 0 || level[e] >= 0) ? 1 : -1;
      for (int s = s0; s <= 1 && !echo[j]; s += 2) {
        int alike = 1, nonzero = 0;
        for (int q = 0; q < k && alike; q++) {
          double a = zdiff[(int64_t)q * p + j], b = s * zdiff[(int64_t)q * p + e];
          alike = isfinite(a) && isfinite(b) && fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
          nonzero |= a != 0;
        }
        echo[j] = (unsigned char)(alike && nonzero);
      }
    }
  }
}

void cs_segment_persona_labels(const char (*names)[CS_FEATURE_NAME_MAX], const int32_t *level,
                               const double *zdiff, int k, int p, int32_t *top,
                               char (*labels)[CS_PERSONA_LABEL_MAX]) {
  int32_t more[PERSONA_WORDS_MAX];
  unsigned char *echo = k > 1 ? calloc((size_t)p + 1, 1) : NULL; /* none: no column left out */
  if (echo) find_echoes(zdiff, level, k, p, echo);
  for (int q = 0; q < k; q++)
    label_words(names, level, zdiff + (int64_t)q * p, p, echo, CS_PERSONA_TOP,
                top + (int64_t)q * CS_PERSONA_TOP, labels[q], CS_PERSONA_LABEL_MAX);
  /* Segments sharing a label: the fewest further words (up to PERSONA_WORDS_MAX) that tell
   * them all apart; where none do, the segment's id in parentheses. */
  for (int q = 0; q < k; q++) {
    int group = 0;
    for (int r = q + 1; r < k; r++) group |= !strcmp(labels[q], labels[r]);
    if (!group) continue;
    char same[CS_PERSONA_LABEL_MAX];
    snprintf(same, sizeof same, "%s", labels[q]);
    int found = 0;
    for (int want = CS_PERSONA_TOP + 1; want <= PERSONA_WORDS_MAX && !found; want++) {
      found = 1;
      for (int a = q; a < k && found; a++) {
        if (strcmp(labels[a], same)) continue;
        char la[CS_PERSONA_LABEL_MAX], lb[CS_PERSONA_LABEL_MAX];
        label_words(names, level, zdiff + (int64_t)a * p, p, echo, want, more, la, sizeof la);
        for (int b = a + 1; b < k && found; b++) {
          if (strcmp(labels[b], same)) continue;
          label_words(names, level, zdiff + (int64_t)b * p, p, echo, want, more, lb, sizeof lb);
          found = strcmp(la, lb) != 0;
        }
      }
      for (int a = q; a < k && found; a++)
        if (!strcmp(labels[a], same))
          label_words(names, level, zdiff + (int64_t)a * p, p, echo, want, more, labels[a],
                      CS_PERSONA_LABEL_MAX);
    }
    for (int a = q; a < k && !found; a++)
      if (!strcmp(labels[a], same)) {
        size_t used = strlen(labels[a]);
        snprintf(labels[a] + used, CS_PERSONA_LABEL_MAX - used, " (segment %d)", a);
      }
  }
  /* A longer label that met another one (a dropped repeated word): the later one says its id. */
  for (int q = 0; q < k; q++)
    for (int r = q + 1; r < k; r++)
      if (!strcmp(labels[q], labels[r])) {
        size_t used = strlen(labels[r]);
        snprintf(labels[r] + used, CS_PERSONA_LABEL_MAX - used, " (segment %d)", r);
      }
  free(echo);
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

/* One store column c (with its n_levels columns when categorical): read, cleaned, its sums,
 * squared deviations and medians per segment into ps. Work space: x for this rank's nl
 * values, acc for threads x k x e x 2 fixed-point sums (e = max(1, n_levels)), rank and med
 * for 2k order statistics. Collective. */
static int persona_column(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                          const cs_feature_col_t *fc, const int32_t *lab, int k, int threads,
                          double *x, cs_fixed_t *acc, int64_t *rank, double *med,
                          cs_personas_t *ps) {
  int status = CS_OK;
  const int64_t nl = part->n_local;
  const int p = ps->p, e = fc->n_levels ? fc->n_levels : 1, j0 = fc->first;
  const int64_t ke2 = (int64_t)k * e * 2;
  /* The column as stored: a missing value (non-finite, or a code that is no level) is NaN;
   * -0.0 becomes +0.0, as numpy's median cannot tell them apart. Its range over the
   * segmented customers gives the fixed-point grid. */
  double range[2] = {-INFINITY, -INFINITY};
  CS_TRY(cs_store_read(store, fc->name, part->offset, nl, CS_DT_F64, x));
  for (int64_t i = 0; i < nl; i++) {
    double v = x[i];
    if (fc->n_levels)
      v = v >= 0 && v < fc->n_levels && v == floor(v) ? v : NAN;
    else
      v = isfinite(v) ? v + 0.0 : NAN;
    x[i] = v;
    if (lab[i] >= 0 && !isnan(v)) {
      range[0] = v > range[0] ? v : range[0];
      range[1] = -v > range[1] ? -v : range[1];
    }
  }
  CS_TRY(cs_par_allreduce(ctx, range, 2, CS_DT_F64, CS_OP_MAX));
  /* A level's values are 0/1, summed at grid 1 (counts). */
  /* Numeric values are summed times pre (cs_fixed_prescale: a grid independent of the unit,
   * as the feature statistics'). */
  const double vmax = fmax(fabs(range[0]), fabs(range[1]));
  const double pre = fc->n_levels ? 1.0 : cs_fixed_prescale(vmax);
  const double scale = fc->n_levels ? 1.0 : ldexp(1.0, cs_fixed_exponent(vmax * pre, store->n));

  /* Pass 1: per segment, the sum of the values (fixed point) and their count; per thread,
   * then in thread order, then across ranks in one packed reduction. */
  memset(acc, 0, (size_t)threads * (size_t)ke2 * sizeof *acc);
#pragma omp parallel num_threads(threads)
  {
    cs_fixed_t *mine = acc + (int64_t)omp_get_thread_num() * ke2;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nl; i++) {
      double v = x[i];
      if (lab[i] < 0 || isnan(v)) continue;
      cs_fixed_t *row = mine + (int64_t)lab[i] * e * 2;
      if (fc->n_levels) {
        row[2 * (int)v] += 1;
        for (int l = 0; l < e; l++) row[2 * l + 1] += 1;
      } else {
        row[0] += (int64_t)(v * pre * scale);
        row[1] += 1;
      }
    }
  }
  merge_threads(acc, threads, ke2);
  CS_TRY(cs_par_sum_i128_n(ctx, acc, ke2));
  for (int l = 0; l < e; l++) {
    const int j = j0 + l;
    cs_fixed_t sum = 0, cnt = 0;
    for (int q = 0; q < k; q++) {
      const cs_fixed_t *a = acc + 2 * ((int64_t)q * e + l);
      sum += a[0];
      cnt += a[1];
      ps->count[(int64_t)q * p + j] = (int64_t)a[1];
      ps->mean[(int64_t)q * p + j] = a[1] ? (double)a[0] / scale / (double)a[1] / pre : NAN;
      ps->median[(int64_t)q * p + j] = NAN;
    }
    ps->population_mean[j] = cnt ? (double)sum / scale / (double)cnt / pre : NAN;
    if (fc->n_levels) { /* a level's share: its Bernoulli standard deviation */
      double pi = ps->population_mean[j];
      ps->population_sd[j] = sqrt(pi * (1 - pi));
    }
  }
  if (fc->n_levels) return CS_OK;

  /* Pass 2 (numeric): the population's squared deviations from its mean, exact on their own
   * grid (no cancellation), one reduction. */
  const double mu = ps->population_mean[j0] * pre;
  const double dmax = fmax(range[0] * pre - mu, mu + range[1] * pre);
  const double dscale = ldexp(1.0, cs_fixed_exponent(dmax * dmax, store->n));
  memset(acc, 0, (size_t)threads * sizeof *acc);
#pragma omp parallel num_threads(threads)
  {
    cs_fixed_t *mine = acc + omp_get_thread_num();
    cs_fixed_t part_sum = 0;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nl; i++) {
      double v = x[i];
      if (lab[i] < 0 || isnan(v)) continue;
      double d = v * pre - mu;
      part_sum += (int64_t)(d * d * dscale);
    }
    *mine = part_sum;
  }
  merge_threads(acc, threads, 1);
  CS_TRY(cs_par_sum_i128_n(ctx, acc, 1));
  int64_t cnt = 0;
  for (int q = 0; q < k; q++) cnt += ps->count[(int64_t)q * p + j0];
  ps->population_sd[j0] = cnt ? sqrt((double)acc[0] / dscale / (double)cnt) / pre : NAN;

  /* Medians: order statistics (n - 1) / 2 and n / 2 of each segment, bisected together;
   * numpy's (a + b) / 2 when they differ. */
  for (int q = 0; q < k; q++) {
    int64_t n = ps->count[(int64_t)q * p + j0];
    rank[2 * q] = n ? (n - 1) / 2 : INT64_MAX;
    rank[2 * q + 1] = n ? n / 2 : INT64_MAX;
  }
  const double *cols[1] = {x};
  CS_TRY(cs_features_order_stats(ctx, nl, 1, cols, lab, k, 2, rank, med));
  for (int q = 0; q < k; q++)
    ps->median[(int64_t)q * p + j0] =
        rank[2 * q] == rank[2 * q + 1] ? med[2 * q] : (med[2 * q] + med[2 * q + 1]) / 2;
fail:
  return status;
}

int cs_segment_personas(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                        const cs_features_t *f, const cs_matrix_t *m,
                        const cs_kmeans_result_t *r, cs_personas_t *ps) {
  int status = CS_OK;
  const int k = r->k, p = f->d, nc = f->n_cols, threads = omp_get_max_threads();
  const int64_t nl = part->n_local, nb = nl ? nl : 1, kp = (int64_t)k * p;
  double *x = NULL, *med = NULL;
  int32_t *lab = NULL;
  int64_t *rank = NULL;
  cs_fixed_t *acc = NULL;
  int emax = 1;
  for (int c = 0; c < nc; c++) emax = f->cols[c].n_levels > emax ? f->cols[c].n_levels : emax;
  memset(ps, 0, sizeof *ps);
  int local = alloc_personas(ps, k, p);
  if (local == CS_OK) {
    /* One column at a time: memory is one double per local customer (plus the median
     * bisection's keys), whatever the number of columns. */
    x = malloc(cs_bytes(nb, sizeof *x));
    lab = malloc(cs_bytes(nb, sizeof *lab));
    acc = calloc((size_t)threads, cs_bytes(2 * (int64_t)k * emax, sizeof *acc));
    rank = malloc(cs_bytes(2 * (int64_t)k, sizeof *rank));
    med = malloc(cs_bytes(2 * (int64_t)k, sizeof *med));
    if (!(x && lab && acc && rank && med))
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                           "out of memory for the personas (%lld rows)", (long long)nl);
  }
  CS_TRY(cs_par_agree(ctx, local));
  for (int j = 0; j < p; j++) {
    const cs_feature_col_t *c = &f->cols[f->col_of[j]];
    ps->col_of[j] = f->col_of[j];
    ps->level[j] = c->n_levels ? j - c->first : -1;
    if (c->n_levels) /* "<column>=<level>", shortened where too long: the feature's name */
      memcpy(ps->names[j], f->names[j], sizeof ps->names[j]);
    else
      snprintf(ps->names[j], sizeof ps->names[j], "%s", c->name);
  }
  /* Segments by input row; customers without a feature row (--missing drop) have none. */
  for (int64_t i = 0; i < nl; i++) lab[i] = -1;
  for (int64_t i = 0; i < m->n; i++) lab[m->row[i] - part->offset] = r->labels[i];
  for (int c = 0; c < nc; c++)
    CS_TRY(persona_column(ctx, store, part, &f->cols[c], lab, k, threads, x, acc, rank, med, ps));
  for (int64_t e = 0; e < kp; e++) {
    int j = (int)(e % p);
    double sd = ps->population_sd[j];
    ps->zdiff[e] = sd > 0 ? (ps->mean[e] - ps->population_mean[j]) / sd
                   : isnan(ps->mean[e]) || isnan(sd) ? NAN : 0.0;
  }
  cs_segment_persona_labels((const char(*)[CS_FEATURE_NAME_MAX])ps->names, ps->level,
                            ps->zdiff, k, p, ps->top, ps->labels);
fail:
  free(x);
  free(lab);
  free(acc);
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
