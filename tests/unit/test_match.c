/* tests/unit/test_match.c: the segment matching (Hungarian algorithm, src/segment/match.c)
 * against brute force over every assignment on small random matrices (square and
 * rectangular, real costs and integer costs full of ties), and the adjusted Rand index
 * against the textbook formula on random labelings and against values scikit-learn gives;
 * centroid columns reordered by their names (src/segment/previous.c); the step of the K rule
 * (cs_kselect_takes, src/segment/kselect.c). Local. */
#include "mpi_support.h"

#include "custseg/rng.h"
#include "custseg/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest total over every injective map of the smaller side into the larger one. */
static void brute(const double *c, int rows, int cols, int i, int *taken, double sum,
                  double *best, int *cur, int *arg) {
  if (rows <= cols ? i == rows : i == cols) {
    if (sum < *best) {
      *best = sum;
      memcpy(arg, cur, (size_t)(rows <= cols ? rows : cols) * sizeof *cur);
    }
    return;
  }
  int other = rows <= cols ? cols : rows;
  for (int j = 0; j < other; j++) {
    if (taken[j]) continue;
    taken[j] = 1;
    cur[i] = j;
    double e = rows <= cols ? c[i * cols + j] : c[j * cols + i];
    brute(c, rows, cols, i + 1, taken, sum + e, best, cur, arg);
    taken[j] = 0;
  }
}

static void check(int rows, int cols, int integer, uint64_t seed) {
  double c[64];
  int assign[8], again[8], taken[8] = {0}, cur[8], arg[8];
  cs_rng_t g;
  cs_rng_init(&g, seed, 0, 0);
  for (int e = 0; e < rows * cols; e++)
    c[e] = integer ? (double)(cs_rng_u32(&g) % 4) : cs_rng_uniform(&g) * 10.0;
  assert_int_equal(cs_segment_match(c, rows, cols, assign), CS_OK);
  /* A valid matching of min(rows, cols) pairs with distinct columns. */
  int used[8] = {0}, pairs = 0;
  double total = 0;
  for (int i = 0; i < rows; i++) {
    if (assign[i] < 0) continue;
    assert_true(assign[i] < cols);
    assert_int_equal(used[assign[i]], 0);
    used[assign[i]] = 1;
    pairs++;
    total += c[i * cols + assign[i]];
  }
  assert_int_equal(pairs, rows < cols ? rows : cols);
  double best = INFINITY;
  brute(c, rows, cols, 0, taken, 0.0, &best, cur, arg);
  if (fabs(total - best) > 1e-9 * (1 + best))
    fail_msg("%d x %d (%s, seed %llu): matching costs %.17g, brute force %.17g", rows, cols,
             integer ? "integer" : "real", (unsigned long long)seed, total, best);
  if (!integer) {
    /* Real costs have a unique optimum (almost surely): the same pairs as brute force. */
    for (int t = 0; t < (rows < cols ? rows : cols); t++) {
      int r = rows <= cols ? t : arg[t], col = rows <= cols ? arg[t] : t;
      assert_int_equal(assign[r], col);
    }
  }
  /* The same answer every time (ties included). */
  assert_int_equal(cs_segment_match(c, rows, cols, again), CS_OK);
  assert_memory_equal(assign, again, (size_t)rows * sizeof *assign);
}

static void matching_equals_brute_force(void **state) {
  (void)state;
  uint64_t seed = 1;
  for (int rows = 1; rows <= 7; rows++)
    for (int cols = 1; cols <= 7; cols++)
      for (int rep = 0; rep < 6; rep++) {
        check(rows, cols, 0, seed++);
        check(rows, cols, 1, seed++);
      }
}

static void matching_edge_cases(void **state) {
  (void)state;
  int a[3] = {7, 7, 7};
  assert_int_equal(cs_segment_match(NULL, 0, 3, a), CS_OK);
  assert_int_equal(cs_segment_match(NULL, 3, 0, a), CS_OK);
  assert_true(a[0] == -1 && a[1] == -1 && a[2] == -1);
  /* All costs equal: a deterministic matching of every row. */
  double c[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  assert_int_equal(cs_segment_match(c, 3, 3, a), CS_OK);
  assert_true(a[0] != a[1] && a[1] != a[2] && a[0] != a[2]);
  /* The identity is found when it is cheapest, also with negative costs. */
  double d[4] = {-5, 0, 0, -5};
  assert_int_equal(cs_segment_match(d, 2, 2, a), CS_OK);
  assert_true(a[0] == 0 && a[1] == 1);
  double bad[4] = {1, NAN, 0, 1};
  cs_error_clear();
  assert_int_equal(cs_segment_match(bad, 2, 2, a), CS_EDATA);
  cs_error_clear();
}

/* ARI from two label vectors by the textbook formula (Hubert and Arabie 1985). */
static double ari_textbook(const int *x, const int *y, int n, int kx, int ky) {
  int64_t t[8][8] = {{0}}, a[8] = {0}, b[8] = {0};
  for (int i = 0; i < n; i++) t[x[i]][y[i]]++, a[x[i]]++, b[y[i]]++;
  double sij = 0, sa = 0, sb = 0;
  for (int i = 0; i < kx; i++) {
    sa += (double)a[i] * (a[i] - 1) / 2;
    for (int j = 0; j < ky; j++) sij += (double)t[i][j] * (t[i][j] - 1) / 2;
  }
  for (int j = 0; j < ky; j++) sb += (double)b[j] * (b[j] - 1) / 2;
  double pairs = (double)n * (n - 1) / 2, expected = sa * sb / pairs, max = (sa + sb) / 2;
  return (sij - expected) / (max - expected);
}

static void assert_close(double got, double want, double tol) {
  if (!(fabs(got - want) <= tol)) fail_msg("%.17g is not %.17g (tolerance %g)", got, want, tol);
}

static double ari_of(const int *x, const int *y, int n, int kx, int ky) {
  int64_t t[8 * 9] = {0};
  for (int i = 0; i < n; i++) t[x[i] * 9 + y[i]]++;
  return cs_segment_ari(t, kx, ky, 9);
}

static void ari_equals_textbook(void **state) {
  (void)state;
  cs_rng_t g;
  cs_rng_init(&g, 42, 0, 0);
  int x[200], y[200];
  for (int rep = 0; rep < 200; rep++) {
    int n = 2 + (int)(cs_rng_u32(&g) % 199), kx = 2 + (int)(cs_rng_u32(&g) % 7),
        ky = 2 + (int)(cs_rng_u32(&g) % 7);
    int agree = (int)(cs_rng_u32(&g) % 100);
    for (int i = 0; i < n; i++) {
      x[i] = (int)(cs_rng_u32(&g) % (uint32_t)kx);
      y[i] = (int)(cs_rng_u32(&g) % 100) < agree ? x[i] % ky : (int)(cs_rng_u32(&g) % (uint32_t)ky);
    }
    double want = ari_textbook(x, y, n, kx, ky), got = ari_of(x, y, n, kx, ky);
    if (isfinite(want) && fabs(got - want) > 1e-12 * (1 + fabs(want)))
      fail_msg("rep %d (n %d, %d x %d): ari %.17g, textbook %.17g", rep, n, kx, ky, got, want);
  }
}

static void ari_known_values(void **state) {
  (void)state;
  /* sklearn.metrics.adjusted_rand_score: the documented examples. */
  int a[] = {0, 0, 1, 1}, b[] = {0, 0, 1, 2}, c[] = {0, 1, 0, 1}, d[] = {1, 1, 0, 0};
  assert_close(ari_of(a, b, 4, 2, 3), 0.5714285714285714, 1e-15);
  assert_close(ari_of(b, a, 4, 3, 2), 0.5714285714285714, 1e-15);
  assert_close(ari_of(a, c, 4, 2, 2), -0.5, 1e-15);
  assert_true(ari_of(a, d, 4, 2, 2) == 1.0); /* the same partition, other names */
  int one[] = {0, 0, 0}, all[] = {0, 1, 2};
  assert_true(ari_of(one, one, 3, 1, 1) == 1.0);
  assert_true(ari_of(all, all, 3, 3, 3) == 1.0);
  assert_true(isnan(ari_of(one, one, 1, 1, 1))); /* fewer than 2 customers */
}

/* Which segments keep an id on centroids alone (2 previous and 2 new segments, matched
 * 0->0 and 1->1; matrix rows: previous 0, 1, new customers; columns: 0, 1, departed). */
static int weak_of(const int64_t m[9], int q, int *to) {
  int prev[2] = {0, 1};
  int64_t mat[9];
  memcpy(mat, m, sizeof mat);
  cs_migration_t mig = {.kp = 2, .kn = 2, .previous_id = prev, .matrix = mat};
  return cs_migration_weak(&mig, q, to);
}

static void weak_segments(void **state) {
  (void)state;
  int to;
  const int64_t kept[9] = {90, 10, 5, 10, 80, 5, 3, 3, 0}; /* both keep most: none weak */
  assert_false(weak_of(kept, 0, &to));
  assert_false(weak_of(kept, 1, &to));
  /* previous 1 went to 0; segment 1 holds previous-0 customers: another group under id 1 */
  const int64_t moved[9] = {40, 60, 0, 90, 0, 0, 5, 5, 0};
  assert_true(weak_of(moved, 1, &to));
  assert_int_equal(to, 0);
  /* every customer of previous 1 left, and segment 1 holds previous-0 customers: weak (it had
   * passed as "all left", a review found it) */
  const int64_t left[9] = {50, 50, 0, 0, 0, 70, 5, 5, 0};
  assert_true(weak_of(left, 1, &to));
  assert_int_equal(to, -1);
  /* every customer of previous 1 left, and segment 1 holds new customers only: not weak */
  const int64_t fresh[9] = {100, 0, 0, 0, 0, 70, 5, 50, 0};
  assert_false(weak_of(fresh, 1, &to));
  /* exactly half of previous 1's customers still present stayed in 1: not "fewer than half",
   * so not weak, though most of segment 1's returning customers came from previous 0 */
  const int64_t half[9] = {90, 60, 0, 50, 50, 0, 5, 5, 0};
  assert_false(weak_of(half, 1, &to));
  /* *to is among the other segments, even when segment 1 kept the largest single share */
  int prev3[3] = {0, 1, 2};
  int64_t three[16] = {60, 40, 0, 0, /* previous 0 */
                       35, 40, 25, 0, /* previous 1: 40 stay of 100, 35 went to 0 */
                       0, 0, 50, 0,   /* previous 2 */
                       1, 1, 1, 0};   /* new */
  cs_migration_t mig3 = {.kp = 3, .kn = 3, .previous_id = prev3, .matrix = three};
  assert_true(cs_migration_weak(&mig3, 1, &to));
  assert_int_equal(to, 0);
}

/* Centroid columns named in one list (joined by CS_LIST_SEP, as a file's are read) are put in
 * our order by name, also when names hold commas: a level "x, y", or names that joined by
 * commas would read two ways ("r=a,r=b" beside "r=a" and "r=b"). */
static int reorder(const char *const *ours, int d, const char *list, double *c) {
  char(*names)[CS_FEATURE_NAME_MAX] = calloc((size_t)d, sizeof *names);
  assert_non_null(names);
  for (int j = 0; j < d; j++) snprintf(names[j], sizeof names[j], "%s", ours[j]);
  cs_features_t f;
  memset(&f, 0, sizeof f);
  f.d = d;
  f.names = names;
  int moved = -1;
  assert_int_equal(cs_segment_centroids_reorder(&f, c, 1, list, &moved), CS_OK);
  free(names);
  return moved;
}

#define S CS_LIST_SEP_S

static void reorder_by_name(void **state) {
  (void)state;
  const char *ours[3] = {"a", "r=x, y", "b"};
  double c[3] = {3, 2, 1}; /* in the file's order: b, "r=x, y", a */
  assert_int_equal(reorder(ours, 3, "b" S "r=x, y" S "a", c), 1);
  assert_true(c[0] == 1 && c[1] == 2 && c[2] == 3);
  assert_int_equal(reorder(ours, 3, "a" S "r=x, y" S "b", c), 0); /* already ours */
  assert_int_equal(reorder(ours, 3, "a" S "r=x" S "b", c), 0);    /* not our names */
  assert_true(c[0] == 1 && c[1] == 2 && c[2] == 3);
  const char *amb[3] = {"r=a", "r=b", "r=a,r=b"};
  double e[3] = {3, 1, 2}; /* in the file's order: "r=a,r=b", r=a, r=b */
  assert_int_equal(reorder(amb, 3, "r=a,r=b" S "r=a" S "r=b", e), 1);
  assert_true(e[0] == 1 && e[1] == 2 && e[2] == 3);
  assert_int_equal(reorder(amb, 3, "r=a" S "r=b" S "r=a,r=b", e), 0); /* ours: left alone */
  assert_true(e[0] == 1 && e[1] == 2 && e[2] == 3);
}

/* The K rule's step (cs_kselect_takes, docs/segments.md "choosing K"): a larger K replaces
 * the held one only with a silhouette higher by more than 0.005 (any gain had been enough);
 * K = 1 (no silhouette) counts as 0.245, so only a silhouette above 0.25 replaces it; a K
 * whose smallest segment is under the minimum share never qualifies. */
static void kselect_margin(void **state) {
  (void)state;
  cs_kindices_t held = {.k = 3, .silhouette = 0.40, .min_share = 0.1};
  cs_kindices_t t = {.k = 4, .silhouette = 0.403, .min_share = 0.1};
  assert_true(cs_kselect_takes(NULL, &t, 0.02));
  assert_false(cs_kselect_takes(&held, &t, 0.02));
  t.silhouette = 0.406;
  assert_true(cs_kselect_takes(&held, &t, 0.02));
  assert_false(cs_kselect_takes(&held, &t, 0.2)); /* under the minimum share */
  held = (cs_kindices_t){.k = 1, .silhouette = NAN, .min_share = 1};
  t.silhouette = 0.248; /* above 0.245 but not above 0.25 */
  assert_false(cs_kselect_takes(&held, &t, 0.02));
  t.silhouette = 0.256;
  assert_true(cs_kselect_takes(&held, &t, 0.02));
}

/* The rule's edges: a smallest segment of exactly --min-segment-share qualifies ("holds at
 * least"); K = 1 counts as 0.245, so a silhouette of 0.252 replaces it (above 0.25), where it
 * does not replace a K = 2 of 0.248 (not above 0.253). */
static void kselect_edges(void **state) {
  (void)state;
  cs_kindices_t t = {.k = 4, .silhouette = 0.5, .min_share = 0.25};
  assert_true(cs_kselect_takes(NULL, &t, 0.25));
  assert_false(cs_kselect_takes(NULL, &t, 0.2500001));
  cs_kindices_t one = {.k = 1, .silhouette = NAN, .min_share = 1};
  t.silhouette = 0.252;
  assert_true(cs_kselect_takes(&one, &t, 0.25));
  cs_kindices_t two = {.k = 2, .silhouette = 0.248, .min_share = 0.3};
  assert_false(cs_kselect_takes(&two, &t, 0.25));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(matching_equals_brute_force),
    cmocka_unit_test(reorder_by_name),
    cmocka_unit_test(matching_edge_cases),
    cmocka_unit_test(ari_equals_textbook),
    cmocka_unit_test(ari_known_values),
    cmocka_unit_test(weak_segments),
    cmocka_unit_test(kselect_margin),
    cmocka_unit_test(kselect_edges),
};
CS_TEST_MAIN(tests)
