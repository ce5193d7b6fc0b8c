/* tests/unit/test_persona.c: the segment personas' pure parts and the grouped order
 * statistics behind their medians.
 * - The label rule (src/segment/persona.c): top three columns by |zdiff| with ties to the
 *   lower column, non-finite values skipped, -1 padding, the words ("high", "low", "typical",
 *   "more"/"fewer" for a categorical level, the vocabulary of well-known columns) joined by
 *   " · "; segments that would share a label
 *   told apart by further words (up to six), or by their ids where no words do.
 * - cs_features_order_stats (src/features/quantile.c): every (group, column, rank) cell of
 *   random data with ties, NaN, infinities, signed zeros, empty groups and ranks past the end,
 *   split over the ranks in uneven blocks, equals the sorted reference that each rank builds
 *   from all rows; a column of one repeated value gives that value at every rank and NaN
 *   past the end; 21 ranks of two large cells of mixed magnitudes and signs (more distinct
 *   prefixes per cell than quantile.c tracks one by one, several chunks) equal the sorted
 *   reference. MPI (1-4 ranks). */
#include "mpi_support.h"

#include "custseg/rng.h"
#include "custseg/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MID " \xc2\xb7 " /* " · " */

typedef char name_t[CS_FEATURE_NAME_MAX];

/* Column 4 of the tests' names ("region=north") is a categorical level. */
static const int32_t levels[6] = {-1, -1, -1, -1, 0, -1};

static void label_of(const name_t *names, const double *z, int p, int32_t *top, char *label) {
  cs_segment_persona_label(names, levels, z, p, top, label, CS_PERSONA_LABEL_MAX);
}

static void label_rule(void **state) {
  (void)state;
  name_t names[6] = {"monetary", "recency_days", "support_tickets", "age", "region=north", "income"};
  int32_t top[CS_PERSONA_TOP];
  char label[CS_PERSONA_LABEL_MAX];
  /* The brief's example: high monetary, recent, low support. */
  double z1[6] = {1.9, -1.5, -1.2, 0.3, 0.1, 1.0};
  label_of(names, z1, 6, top, label);
  assert_int_equal(top[0], 0);
  assert_int_equal(top[1], 1);
  assert_int_equal(top[2], 2);
  assert_string_equal(label, "high monetary" MID "recent" MID "low support");
  /* Order by |zdiff|, the sign only picks the word; vocabulary both ways. */
  double z2[6] = {0.2, 2.5, 0.9, -3.0, -0.5, 0.4};
  label_of(names, z2, 6, top, label);
  assert_int_equal(top[0], 3);
  assert_int_equal(top[1], 1);
  assert_int_equal(top[2], 2);
  assert_string_equal(label, "low age" MID "lapsed" MID "high support");
  /* A word already in the label is not repeated (two columns with one vocabulary word). */
  name_t twins[3] = {"frequency", "rfm_frequency", "income"};
  double zt[3] = {2.0, 1.5, -1.0};
  label_of(twins, zt, 3, top, label);
  assert_int_equal(top[1], 1);
  assert_string_equal(label, "frequent" MID "low income");
  /* Ties: the lower column first; a categorical level is a share of customers, "more" or
   * "fewer" of them than in the population. */
  double z3[6] = {0.5, -0.5, 0.5, 0.1, 0.7, -0.5};
  label_of(names, z3, 6, top, label);
  assert_int_equal(top[0], 4);
  assert_int_equal(top[1], 0);
  assert_int_equal(top[2], 1);
  assert_string_equal(label, "more region=north" MID "high monetary" MID "recent");
  /* Without level marks the same name is a plain column. */
  cs_segment_persona_label(names, NULL, z3, 6, top, label, CS_PERSONA_LABEL_MAX);
  assert_string_equal(label, "high region=north" MID "high monetary" MID "recent");
  /* Non-finite values never count; exactly 0 is "typical"; a level below the population's
   * share is no word (a lower share of one level is a higher share of others). */
  double z4[6] = {NAN, 0.0, INFINITY, NAN, -0.25, NAN};
  label_of(names, z4, 6, top, label);
  assert_int_equal(top[0], 1);
  assert_int_equal(top[1], -1);
  assert_string_equal(label, "typical recency_days");
  cs_segment_persona_label(names, NULL, z4, 6, top, label, CS_PERSONA_LABEL_MAX);
  assert_string_equal(label, "low region=north" MID "typical recency_days");
  /* Fewer columns than three, and none at all. */
  double z5[1] = {-0.7};
  label_of(names + 5, z5, 1, top, label);
  assert_int_equal(top[0], 0);
  assert_int_equal(top[1], -1);
  assert_string_equal(label, "low income");
  double z6[2] = {NAN, NAN};
  label_of(names, z6, 2, top, label);
  assert_int_equal(top[0], -1);
  assert_string_equal(label, "no distinguishing column");
  /* A larger value later replaces the last place and shifts the others. */
  double z7[6] = {1, 2, 3, 4, 5, 6};
  label_of(names, z7, 6, top, label);
  assert_int_equal(top[0], 5);
  assert_int_equal(top[1], 4);
  assert_int_equal(top[2], 3);
}

/* ---- grouped order statistics ------------------------------------------------------------ */
enum { N = 3001, NCOL = 3, NGROUP = 5, NR = 4 };

/* Row i's value in column c and its group, the same on every rank. */
static double value(int64_t i, int c) {
  cs_rng_t g;
  cs_rng_init(&g, 7, (uint64_t)c, (uint64_t)i);
  uint32_t u = cs_rng_u32(&g) % 100;
  if (u < 5) return NAN;
  if (u < 7) return u & 1 ? INFINITY : -INFINITY;
  if (u < 10) return (cs_rng_u32(&g) & 1) ? 0.0 : -0.0;
  if (c == 1) return (double)(cs_rng_u32(&g) % 7) - 3; /* many ties */
  return (cs_rng_uniform(&g) - 0.5) * 1e3;
}
static int32_t group_of(int64_t i) {
  cs_rng_t g;
  cs_rng_init(&g, 8, 0, (uint64_t)i);
  int32_t v = (int32_t)(cs_rng_u32(&g) % (NGROUP + 1)) - 1; /* -1: no group */
  return v == 3 ? 2 : v;                                      /* group 3 stays empty */
}

/* Ascending, -0.0 before +0.0 (the order of the bisection's keys). */
static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  if (x != y) return x < y ? -1 : 1;
  return signbit(y) - signbit(x);
}

/* Labels of all segments: two that share their three words get the fewest further words
 * that tell them apart (the others keep theirs); where no words do, their ids. */
static void labels_unique(void **state) {
  (void)state;
  name_t names[6] = {"monetary", "recency_days", "support_tickets", "age", "region=north", "income"};
  int32_t top[4 * CS_PERSONA_TOP];
  char labels[4][CS_PERSONA_LABEL_MAX];
  /* Segments 0 and 2 are both high monetary, recent, low support; 2 is younger, 0 older,
   * and both have a higher income (the fifth column tells them apart only with the fourth). */
  double z[4 * 6] = {1.9, -1.5, -1.2, 0.3, 0.0, 0.2,  /* 0 */
                     -1.0, 1.0, 0.5, 0.0, 0.0, 0.0,  /* 1 */
                     2.5, -1.0, -0.9, -0.4, 0.0, 0.1, /* 2 */
                     0.0, 0.0, 0.0, 0.0, 2.0, 0.0};  /* 3 */
  cs_segment_persona_labels(names, levels, z, 4, 6, top, labels);
  assert_string_equal(labels[0], "high monetary" MID "recent" MID "low support" MID "high age");
  assert_string_equal(labels[1], "low monetary" MID "lapsed" MID "high support");
  assert_string_equal(labels[2], "high monetary" MID "recent" MID "low support" MID "low age");
  assert_int_equal(top[2 * CS_PERSONA_TOP + 0], 0); /* top stays the three columns */
  assert_int_equal(top[2 * CS_PERSONA_TOP + 2], 2);
  assert_string_equal(labels[3], "more region=north" MID "typical monetary" MID "typical recency_days");
  /* Three alike in the direction of every column: no word tells them apart. */
  double same[3 * 2] = {1.0, -0.5, 2.0, -1.0, 0.5, -0.1};
  cs_segment_persona_labels(names, levels, same, 3, 2, top, labels);
  assert_string_equal(labels[0], "high monetary" MID "recent (segment 0)");
  assert_string_equal(labels[1], "high monetary" MID "recent (segment 1)");
  assert_string_equal(labels[2], "high monetary" MID "recent (segment 2)");
  /* Long names (a categorical level of 59 two-byte characters): whole words only, so the
   * label stays valid UTF-8 (a cut at the buffer's end had split a character), with room
   * for the id. */
  name_t longn[6];
  for (int c = 0; c < 6; c++) {
    int o = snprintf(longn[c], sizeof longn[c], "c%d=", c);
    for (int e = 0; e < 59; e++) o += snprintf(longn[c] + o, sizeof longn[c] - (size_t)o, "\xc3\xa9");
  }
  double zl[2 * 6] = {3, 2, 1, 0.5, 0.4, 0.3, 3, 2, 1, 0.5, 0.4, -0.3};
  cs_segment_persona_labels(longn, NULL, zl, 2, 6, top, labels);
  for (int q = 0; q < 2; q++) {
    size_t len = strlen(labels[q]);
    assert_true(len < CS_PERSONA_LABEL_MAX - 1);
    for (size_t i = 0; i < len; i++) /* every lead byte 0xc3 has its continuation byte */
      if ((unsigned char)labels[q][i] == 0xc3) assert_int_equal((unsigned char)labels[q][i + 1], 0xa9);
  }
  assert_string_not_equal(labels[0], labels[1]);
  /* Alike in their first five columns, apart in the sixth: six words, the most a label takes
   * (PERSONA_WORDS_MAX), tell them apart without their ids. */
  name_t six[7] = {"a", "b", "c", "d", "e", "f", "g"};
  double z6[2 * 7] = {6, 5, 4, 3, 2, 1, 0.5, 6, 5, 4, 3, 2, -1, 0.5};
  cs_segment_persona_labels(six, NULL, z6, 2, 7, top, labels);
  assert_string_equal(labels[0], "high a" MID "high b" MID "high c" MID "high d" MID "high e" MID "high f");
  assert_string_equal(labels[1], "high a" MID "high b" MID "high c" MID "high d" MID "high e" MID "low f");
}

/* One fact in several columns (levels of different columns holding the same customers, the two
 * levels of a yes/no column): one word for it, and the next column instead of its echoes. */
static void labels_skip_echoes(void **state) {
  (void)state;
  name_t names[5] = {"DeviceProtection=No internet service", "income", "InternetService=No",
                     "Partner=No", "Partner=Yes"};
  const int32_t lv[5] = {1, -1, 2, 0, 1};
  int32_t top[3 * CS_PERSONA_TOP];
  char labels[3][CS_PERSONA_LABEL_MAX];
  double z[3 * 5] = {2.0, 0.5, 2.0, 0.4, -0.4,    /* 0 */
                     -1.0, 0.3, -1.0, -0.2, 0.2,  /* 1 */
                     -0.5, -0.9, -0.5, 0.1, -0.1}; /* 2 */
  cs_segment_persona_labels(names, lv, z, 3, 5, top, labels);
  assert_string_equal(labels[0], "more DeviceProtection=No internet service" MID "high income" MID
                                 "more Partner=No");
  assert_int_equal(top[0], 0);
  assert_int_equal(top[1], 1);
  assert_int_equal(top[2], 3);
  /* The levels below their population share are no words, and Partner=Yes is no echo of
   * Partner=No (the sign turned), so segment 1 says what it has more of. */
  assert_string_equal(labels[2], "low income" MID "more Partner=No");
  assert_int_equal(top[2 * CS_PERSONA_TOP + 2], -1);
  assert_string_equal(labels[1], "high income" MID "more Partner=Yes");
  /* Two columns whose zdiff differ by a millionth in every segment are two facts, not an
   * echo (an echo agrees to 1e-9 of the larger). */
  name_t near[3] = {"income", "monetary", "age"};
  double zn[2 * 3] = {1.5, 1.5 * (1 + 1e-6), 0.5, -1.5, -1.5 * (1 + 1e-6), -0.5};
  cs_segment_persona_labels(near, NULL, zn, 2, 3, top, labels);
  assert_string_equal(labels[0], "high monetary" MID "high income" MID "high age");
  assert_string_equal(labels[1], "low monetary" MID "low income" MID "low age");
  /* At one segment every zdiff is 0: nothing is an echo, each column is 'typical'. */
  double z1[5] = {0, 0, 0, 0, 0};
  cs_segment_persona_labels(names, lv, z1, 1, 5, top, labels);
  assert_int_equal(top[2], 2);
}

static void order_stats_match_sort(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t part;
  assert_int_equal(cs_par_partition(ctx, N, &part), CS_OK);
  int64_t nl = part.n_local;
  double *cols[NCOL], out[NGROUP * NCOL * NR];
  int32_t *grp = malloc((size_t)(nl ? nl : 1) * sizeof *grp);
  int64_t rank[NGROUP * NCOL * NR], count[NGROUP * NCOL] = {0};
  for (int c = 0; c < NCOL; c++) {
    cols[c] = malloc((size_t)(nl ? nl : 1) * sizeof **cols);
    for (int64_t i = 0; i < nl; i++) cols[c][i] = value(part.offset + i, c);
  }
  for (int64_t i = 0; i < nl; i++) grp[i] = group_of(part.offset + i);
  /* The reference from every row, on every rank. */
  double *ref[NGROUP * NCOL];
  for (int e = 0; e < NGROUP * NCOL; e++) ref[e] = malloc(N * sizeof **ref);
  for (int64_t i = 0; i < N; i++)
    for (int c = 0; c < NCOL; c++) {
      int32_t g = group_of(i);
      double v = value(i, c);
      if (g >= 0 && isfinite(v)) ref[g * NCOL + c][count[g * NCOL + c]++] = v;
    }
  for (int e = 0; e < NGROUP * NCOL; e++) {
    qsort(ref[e], (size_t)count[e], sizeof **ref, cmp);
    int64_t n = count[e];
    int64_t want[NR] = {0, n / 2, n - 1, n}; /* the last one past the end */
    for (int j = 0; j < NR; j++) rank[e * NR + j] = want[j];
  }
  assert_int_equal(cs_features_order_stats(ctx, nl, NCOL, (const double *const *)cols, grp,
                                           NGROUP, NR, rank, out),
                   CS_OK);
  for (int e = 0; e < NGROUP * NCOL; e++)
    for (int j = 0; j < NR; j++) {
      double got = out[e * NR + j];
      int64_t r = rank[e * NR + j];
      if (r < 0 || r >= count[e]) {
        if (!isnan(got)) fail_msg("cell %d rank %lld of %lld: %.17g, want NaN", e, (long long)r,
                                  (long long)count[e], got);
      } else if (memcmp(&got, &ref[e][r], sizeof got)) {
        fail_msg("cell %d rank %lld of %lld: %.17g, sorted %.17g", e, (long long)r,
                 (long long)count[e], got, ref[e][r]);
      }
    }
  assert_int_equal(count[3 * NCOL], 0); /* an empty group was covered */
  for (int e = 0; e < NGROUP * NCOL; e++) free(ref[e]);
  for (int c = 0; c < NCOL; c++) free(cols[c]);
  free(grp);
}

/* One repeated value over several chunks of keys per cell (quantile.c, CHUNK): every round
 * keeps every key, one prefix for all ranks. One group (NULL), NaN left out. */
enum { N_EQUAL = 20011 };

static void order_stats_all_equal(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t part;
  assert_int_equal(cs_par_partition(ctx, N_EQUAL, &part), CS_OK);
  int64_t nl = part.n_local, count = 0;
  double *x = malloc((size_t)(nl ? nl : 1) * sizeof *x);
  for (int64_t i = 0; i < N_EQUAL; i++) count += i % 7 != 0;
  for (int64_t i = 0; i < nl; i++) x[i] = (part.offset + i) % 7 ? -2.5 : NAN;
  const double *cols[1] = {x};
  int64_t rank[4] = {0, count / 2, count - 1, count};
  double out[4];
  assert_int_equal(cs_features_order_stats(ctx, nl, 1, cols, NULL, 1, 4, rank, out), CS_OK);
  for (int j = 0; j < 3; j++) assert_true(out[j] == -2.5);
  assert_true(isnan(out[3]));
  free(x);
}

/* Many ranks of one cell (more than quantile.c's FEW distinct prefixes per cell, so keys are
 * kept for all of them), values spread over many magnitudes and signs with ties, several
 * chunks per cell, two groups and rows in none: against the sorted reference. */
enum { N_MANY = 30011, NR_MANY = 21 };

static double many_value(int64_t i) {
  if (i % 11 == 0) return NAN;
  double v = (double)((i * 7919) % 1013) * pow(10.0, (double)(i % 7) - 3.0);
  return i % 3 == 0 ? -v : v;
}

static void order_stats_many_ranks(void **state) {
  (void)state;
  cs_ctx_t *ctx = cs_test_ctx;
  cs_part_t part;
  assert_int_equal(cs_par_partition(ctx, N_MANY, &part), CS_OK);
  const int64_t nl = part.n_local;
  double *x = malloc((size_t)(nl ? nl : 1) * sizeof *x), *ref[2];
  int32_t *grp = malloc((size_t)(nl ? nl : 1) * sizeof *grp);
  int64_t count[2] = {0, 0}, rank[2 * NR_MANY];
  double out[2 * NR_MANY];
  for (int g = 0; g < 2; g++) ref[g] = malloc(N_MANY * sizeof **ref);
  for (int64_t i = 0; i < N_MANY; i++) {
    const int32_t g = i % 13 == 0 ? -1 : (int32_t)(i % 2);
    const double v = many_value(i);
    if (i >= part.offset && i < part.offset + nl) {
      x[i - part.offset] = v;
      grp[i - part.offset] = g;
    }
    if (g >= 0 && isfinite(v)) ref[g][count[g]++] = v;
  }
  for (int g = 0; g < 2; g++) {
    qsort(ref[g], (size_t)count[g], sizeof **ref, cmp);
    for (int j = 0; j < NR_MANY; j++) rank[g * NR_MANY + j] = count[g] * j / (NR_MANY - 1) - (j == NR_MANY - 1);
  }
  const double *cols[1] = {x};
  assert_int_equal(cs_features_order_stats(ctx, nl, 1, cols, grp, 2, NR_MANY, rank, out), CS_OK);
  for (int g = 0; g < 2; g++)
    for (int j = 0; j < NR_MANY; j++) {
      const double got = out[g * NR_MANY + j], want = ref[g][rank[g * NR_MANY + j]];
      if (memcmp(&got, &want, sizeof got))
        fail_msg("group %d rank %lld: %.17g, sorted %.17g", g, (long long)rank[g * NR_MANY + j], got, want);
    }
  for (int g = 0; g < 2; g++) free(ref[g]);
  free(x);
  free(grp);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(label_rule),
    cmocka_unit_test(labels_unique),
    cmocka_unit_test(labels_skip_echoes),
    cmocka_unit_test(order_stats_match_sort),
    cmocka_unit_test(order_stats_all_equal),
    cmocka_unit_test(order_stats_many_ranks),
};
CS_TEST_MAIN(tests)
