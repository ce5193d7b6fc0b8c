/* segment/previous.c: a previous run's results as this run's starting point and reference:
 * its centroids (stored in original units, re-standardized with this run's statistics), the
 * matching of this run's segments to its segments, and the renumbering that keeps segment
 * ids stable from one run to the next.
 *
 * Trade-off: segments are matched on centroids alone (the customers are joined later, for
 * the migration matrix, not for the matching), so the matching is a K x K problem replicated
 * on every rank and does not depend on who the customers are or where they live. Distances
 * are taken in this run's standardized units, where every feature counts as it does for
 * k-means; original units would let the widest column (income) decide. */
#include "custseg/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* f's feature names joined by CS_LIST_SEP, as cs_io_read_attr_list gives a file's (malloc'd;
 * NULL when out of memory). Names may hold commas (a level "Portland, OR"), never the
 * separator. */
static char *names_list(const cs_features_t *f) {
  size_t cap = (size_t)f->d * (CS_FEATURE_NAME_MAX + 1) + 1, used = 0;
  char *mine = malloc(cap);
  if (!mine) return NULL;
  mine[0] = '\0';
  for (int j = 0; j < f->d; j++)
    used += (size_t)snprintf(mine + used, cap - used, "%s%s", j ? CS_LIST_SEP_S : "", f->names[j]);
  return mine;
}

/* A copy of a list with commas between the names, for messages, cut after the last whole
 * name within `max` bytes and then ending ",... (N in all)": a message has room for two lists
 * of about that length, and one of hundreds of one-hot names had pushed the other out of it
 * (NULL when out of memory). */
static char *shown_list(const char *list, size_t max) {
  char *s = strdup(list);
  int n = s && *s ? 1 : 0;
  for (char *p = s; p && *p; p++)
    if (*p == CS_LIST_SEP) *p = ',', n++;
  if (s && strlen(s) > max + 24) { /* room for the ending in what it replaces */
    char *cut = s + max;
    while (cut > s && *cut != ',') cut--;
    snprintf(cut, 24, ",... (%d in all)", n);
  }
  return s;
}

int cs_segment_centroids_reorder(const cs_features_t *f, double *c, int64_t k, const char *names,
                                 int *moved) {
  int status = CS_OK;
  const int d = f->d;
  int *from = malloc((size_t)d * sizeof *from);
  double *row = malloc((size_t)d * sizeof *row);
  *moved = 0;
  CS_CHECK(from && row, CS_ENOMEM, "out of memory");
  for (int j = 0; j < d; j++) from[j] = -1;
  int t = 0; /* the file's column */
  for (const char *a = names; *a; t++) {
    size_t len = strcspn(a, CS_LIST_SEP_S);
    int hit = -1;
    for (int j = 0; j < d && hit < 0; j++)
      if (strlen(f->names[j]) == len && !strncmp(f->names[j], a, len)) hit = j;
    if (hit < 0 || from[hit] >= 0) goto fail; /* not one of ours, or named twice */
    from[hit] = t;
    a += len + (a[len] == CS_LIST_SEP);
  }
  if (t != d) goto fail;
  int same = 1;
  for (int j = 0; j < d; j++) same &= from[j] == j;
  if (same) goto fail; /* already in our order: nothing to do */
  for (int64_t q = 0; q < k; q++) {
    for (int j = 0; j < d; j++) row[j] = c[q * d + from[j]];
    memcpy(c + q * d, row, (size_t)d * sizeof *row);
  }
  *moved = 1;
fail:
  free(from);
  free(row);
  return status;
}

int cs_segment_centroids_in(const cs_features_t *f, double *c, int64_t k, const char *units,
                            const char *names, const char *what) {
  int status = CS_OK;
  char *mine = NULL;
  int moved = 0;
  if (names[0]) {
    /* When the file names its features they must be ours: in another order (the levels of a
     * categorical column coded otherwise, a --features list reordered), matched by name. */
    mine = names_list(f);
    CS_CHECK(mine, CS_ENOMEM, "out of memory");
    if (strcmp(mine, names)) CS_TRY(cs_segment_centroids_reorder(f, c, k, names, &moved));
    if (moved && cs_log_rank() == 0)
      cs_log_info("%s: its features are this run's in another order, matched by name", what);
    if (strcmp(mine, names) && !moved) {
      /* What one list has and the other lacks, before the lists (hundreds of one-hot names):
       * a column added to the store or taken out of it had read as a rename at one place. */
      char diff[2 * CS_FEATURE_NAME_MAX + 160], part[2][CS_FEATURE_NAME_MAX + 48];
      const char *const list[2] = {mine, names};
      int count[2];
      for (int w = 0; w < 2; w++) count[w] = cs_list_missing(list[w], list[1 - w], part[w], sizeof part[w]);
      if (count[0] && count[1])
        snprintf(diff, sizeof diff, "this run has %s, which it has not, and lacks %s", part[0],
                 part[1]);
      else if (count[0] || count[1])
        snprintf(diff, sizeof diff, "this run %s %s", count[0] ? "also has" : "lacks",
                 part[count[0] ? 0 : 1]);
      else /* the same names, one of them more than once in a list */
        snprintf(diff, sizeof diff, "the same names, not as often");
      char *theirs_c = shown_list(names, 200), *mine_c = shown_list(mine, 200);
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s is for other features than this "
                            "run: %s; the features follow the store's columns (one added or "
                            "left out changes the default ones), --features and --log1p: give "
                            "this run that run's (it has [%s], this run [%s])", what, diff,
                            theirs_c ? theirs_c : "?", mine_c ? mine_c : "?");
      free(theirs_c);
      free(mine_c);
      goto fail;
    }
  }
  if (!strcmp(units, "original"))
    for (int64_t q = 0; q < k; q++)
      for (int j = 0; j < f->d; j++) {
        /* A run that gave a feature weight 0 stores NaN for it in every segment
         * (docs/segments.md); NaN in some segments only is a damaged or edited value. */
        if (isnan(c[q * f->d + j]) && f->weight[j] > 0) {
          int64_t valued = 0;
          for (int64_t p = 0; p < k; p++) valued += !isnan(c[p * f->d + j]);
          CS_CHECK(valued > 0, CS_EUSAGE,
                   "%s has no value for feature '%s' (NaN: the run that wrote it gave the "
                   "feature weight 0, this run gives it %g); use the same --feature-weights",
                   what, f->names[j], f->weight[j]);
          CS_FAIL(CS_EDATA,
                  "%s has NaN for feature '%s' in segment %lld but values in %lld other "
                  "segment(s): the file is damaged or was edited",
                  what, f->names[j], (long long)q, (long long)valued);
        }
        /* log1p needs values > -1, as for the customers' own values */
        CS_CHECK(!(f->cols[f->col_of[j]].log1p && f->weight[j] > 0 && c[q * f->d + j] <= -1),
                 CS_EDATA,
                 "%s has %g for --log1p feature '%s' (segment %lld; log1p needs values > -1)",
                 what, c[q * f->d + j], f->names[j], (long long)q);
        c[q * f->d + j] = cs_features_from_original(f, j, c[q * f->d + j]);
      }
  else
    CS_CHECK(!units[0] || !strcmp(units, "standardized"), CS_EUSAGE,
             "%s: units attribute '%s' is neither 'original' nor 'standardized'", what, units);
  for (int64_t v = 0; v < k * f->d; v++)
    CS_CHECK(isfinite(c[v]), CS_EDATA, "%s has a non-finite value (segment %lld, feature '%s')",
             what, (long long)(v / f->d), f->names[v % f->d]);
fail:
  free(mine);
  return status;
}

int cs_previous_read(cs_ctx_t *ctx, const char *path, cs_previous_t *prev) {
  int status = CS_OK;
  const char *dataset = "/segments/centroids";
  char units[64], ignored[2];
  int64_t rows = 0, cols = 0, n = -1;
  memset(prev, 0, sizeof *prev);
  snprintf(prev->path, sizeof prev->path, "%s", path);
  CS_TRY(cs_io_read_matrix(ctx, path, dataset, &prev->centroids, &rows, &cols, units,
                           sizeof units, ignored, sizeof ignored));
  /* The names in full: one-hot levels can make thousands of bytes of them. */
  CS_TRY(cs_io_read_attr_list(ctx, path, dataset, "features", &prev->features));
  /* Everything below is decided on the same broadcast values on every rank. */
  CS_CHECK(!strcmp(units, "original"), CS_EFORMAT,
           "--previous %s:%s has units '%s', not 'original': is it a results file of custseg "
           "segment?", path, dataset, units);
  CS_CHECK(prev->features[0], CS_EFORMAT,
           "--previous %s:%s has no 'features' attribute naming its columns", path, dataset);
  CS_CHECK(rows >= 1, CS_EDATA, "--previous %s:%s has no segment (0 rows)", path, dataset);
  CS_CHECK(rows <= CS_PREVIOUS_MAX_K, CS_EDATA,
           "--previous %s:%s has %lld segments; --previous matches at most %d", path, dataset,
           (long long)rows, CS_PREVIOUS_MAX_K);
  prev->k = (int)rows;
  prev->d = (int)cols;
  CS_TRY(cs_io_dataset_length(ctx, path, "/segments/customer_id", &n));
  CS_CHECK(n >= 0, CS_EFORMAT,
           "--previous %s has no /segments/customer_id (results written before custseg stored "
           "customer ids): segment that store again to compare with it", path);
  prev->n = n;
  {
    int64_t nl = -1;
    CS_TRY(cs_io_dataset_length(ctx, path, "/segments/labels", &nl));
    CS_CHECK(nl >= 0, CS_EFORMAT, "--previous %s has no /segments/labels", path);
    CS_CHECK(nl == n, CS_EFORMAT,
             "--previous %s: /segments/labels has %lld rows but /segments/customer_id has %lld",
             path, (long long)nl, (long long)n);
  }
  CS_TRY(cs_io_read_attr_str(ctx, path, "/segments", "verification_hash",
                             prev->verification_hash, sizeof prev->verification_hash));
  if (!prev->verification_hash[0])
    cs_log_warn("--previous %s has no /segments@verification_hash: its customer ids and labels "
                "cannot be checked (an edit would show as migration that never happened), and "
                "this run's record of which results it was compared with names the file only",
                path);
fail:
  if (status < 0) {
    cs_error_name_option("--previous", path);
    cs_previous_free(prev);
  }
  return status;
}

/* The categorical column of f whose one-hot features `name` ("plan=gold") would be one of,
 * or -1. */
static int level_column(const cs_features_t *f, const char *name, size_t len) {
  for (int c = 0; c < f->n_cols; c++) {
    size_t n = strlen(f->cols[c].name);
    if (f->cols[c].n_levels && n < len && name[n] == '=' && !strncmp(name, f->cols[c].name, n))
      return c;
  }
  return -1;
}

/* Where the two runs' features differ only in levels of categorical columns both have, the
 * previous centroids are put in f's features: a level this store has and the previous one had
 * not had no customer there, so its share in every previous centroid is 0; a level the
 * previous store had and this one has not (no customer left in it) has no feature here and
 * is left out of the comparison. A store imported from CSV knows the levels it saw, so a
 * level can come and go from one month to the next. Said once. Any other difference is left
 * to cs_segment_centroids_in's refusal. */
static int align_levels(cs_previous_t *prev, const cs_features_t *f, const char *what) {
  int status = CS_OK, n = 0, usable = 1, added = 0, dropped = 0;
  int *from = malloc((size_t)f->d * sizeof *from);
  const char **name = malloc((size_t)(prev->d + 1) * sizeof *name);
  size_t *len = malloc((size_t)(prev->d + 1) * sizeof *len);
  double *c = NULL;
  char *mine = NULL, gone[2 * CS_FEATURE_NAME_MAX + 64] = "", came[sizeof gone] = "";
  CS_CHECK(from && name && len, CS_ENOMEM, "out of memory");
  for (const char *p = prev->features; *p && n < prev->d; n++) {
    name[n] = p;
    len[n] = strcspn(p, CS_LIST_SEP_S);
    p += len[n] + (p[len[n]] != '\0');
  }
  if (n != prev->d) goto fail; /* left to the refusal */
  for (int j = 0; j < f->d; j++) {
    from[j] = -1;
    for (int t = 0; t < n && from[j] < 0; t++)
      if (strlen(f->names[j]) == len[t] && !strncmp(f->names[j], name[t], len[t])) from[j] = t;
    if (from[j] >= 0) continue;
    int col = f->col_of[j], known = 0; /* a level new here: its column had levels there */
    for (int t = 0; t < n && !known; t++) known = level_column(f, name[t], len[t]) == col;
    usable &= f->cols[col].n_levels > 0 && known;
    if (!added++) snprintf(came, sizeof came, "'%s'", f->names[j]);
  }
  for (int t = 0; t < n && usable; t++) {
    int here = 0;
    for (int j = 0; j < f->d && !here; j++) here = from[j] == t;
    if (here) continue;
    usable &= level_column(f, name[t], len[t]) >= 0;
    if (!dropped++) snprintf(gone, sizeof gone, "'%.*s'", (int)len[t], name[t]);
  }
  /* A column that shares no level with that run was recoded (its levels renamed), not changed
   * by a level that came or went: left to the refusal (its shares would all read as 0). */
  for (int col = 0; col < f->n_cols && usable && (added || dropped); col++) {
    const cs_feature_col_t *fc = &f->cols[col];
    int common = !fc->n_levels;
    for (int l = 0; l < fc->n_levels; l++) common |= from[fc->first + l] >= 0;
    usable = common;
  }
  if (!usable || (!added && !dropped)) goto fail;
  c = malloc((size_t)prev->k * (size_t)f->d * sizeof *c);
  mine = names_list(f);
  CS_CHECK(c && mine, CS_ENOMEM, "out of memory");
  for (int q = 0; q < prev->k; q++)
    for (int j = 0; j < f->d; j++)
      c[(size_t)q * f->d + j] = from[j] >= 0 ? prev->centroids[(size_t)q * prev->d + from[j]] : 0;
  if (cs_log_rank() == 0) {
    char a[sizeof came + 120] = "", b[sizeof gone + 120] = "", more[2][32] = {"", ""};
    if (added > 1) snprintf(more[0], sizeof more[0], " (and %d more)", added - 1);
    if (dropped > 1) snprintf(more[1], sizeof more[1], " (and %d more)", dropped - 1);
    if (added)
      snprintf(a, sizeof a, "this store's %s%s had no customer in that run (a share of 0 in "
               "its segments)", came, more[0]);
    if (dropped)
      snprintf(b, sizeof b, "%sthat run's %s%s has no customer in this store (left out of the "
               "comparison)", added ? "; " : "", gone, more[1]);
    cs_log_warn("%s: category levels differ: %s%s", what, a, b);
  }
  free(prev->centroids);
  free(prev->features);
  prev->centroids = c;
  prev->features = mine;
  prev->d = f->d;
  c = NULL;
  mine = NULL;
fail:
  free(from);
  free(name);
  free(len);
  free(c);
  free(mine);
  return status;
}

/* The names, count and order of the previous run's features against f's. */
static int previous_match(cs_previous_t *prev, const cs_features_t *f) {
  int status = CS_OK;
  char what[4200];
  snprintf(what, sizeof what, "--previous %s:/segments/centroids", prev->path);
  CS_TRY(align_levels(prev, f, what));
  if (prev->d != f->d) {
    CS_TRY(cs_segment_centroids_in(f, prev->centroids, 0, "", prev->features, what)); /* names */
    CS_FAIL(CS_EUSAGE, "%s has %d features, this run has %d", what, prev->d, f->d);
  }
  /* Features in another order: the centroids in this run's order, and so named (the drift in
   * original units reads them too). */
  int moved = 0;
  CS_TRY(cs_segment_centroids_reorder(f, prev->centroids, prev->k, prev->features, &moved));
  if (moved) {
    char *mine = names_list(f);
    CS_CHECK(mine, CS_ENOMEM, "out of memory");
    free(prev->features);
    prev->features = mine;
    if (cs_log_rank() == 0)
      cs_log_info("%s: its features are this run's in another order, matched by name", what);
  }
fail:
  return status;
}

int cs_previous_standardize(cs_previous_t *prev, const cs_features_t *f) {
  int status = CS_OK;
  char what[4200];
  snprintf(what, sizeof what, "--previous %s:/segments/centroids", prev->path);
  CS_TRY(previous_match(prev, f));
  prev->standardized = malloc((size_t)prev->k * (size_t)prev->d * sizeof *prev->standardized);
  CS_CHECK(prev->standardized, CS_ENOMEM, "out of memory");
  memcpy(prev->standardized, prev->centroids, (size_t)prev->k * (size_t)prev->d * sizeof(double));
  CS_TRY(cs_segment_centroids_in(f, prev->standardized, prev->k, "original", prev->features, what));
fail:
  return status;
}

void cs_previous_free(cs_previous_t *prev) {
  free(prev->centroids);
  free(prev->standardized);
  free(prev->features);
  prev->centroids = prev->standardized = NULL;
  prev->features = NULL;
}

void cs_migration_free(cs_migration_t *mig) {
  free(mig->previous_id);
  free(mig->appeared);
  free(mig->vanished);
  free(mig->drift);
  free(mig->drift_standardized);
  free(mig->matrix);
  memset(mig, 0, sizeof *mig);
}

/* Put element i of each of the kn records of `size` bytes at position newid[i]. */
static int permute(void *data, size_t size, int kn, const int *newid) {
  char *tmp = malloc((size_t)kn * size), *p = data;
  if (!tmp) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  for (int i = 0; i < kn; i++) memcpy(tmp + (size_t)newid[i] * size, p + (size_t)i * size, size);
  memcpy(p, tmp, (size_t)kn * size);
  free(tmp);
  return CS_OK;
}

int cs_segment_rematch(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_features_t *f,
                       const cs_previous_t *prev, cs_kmeans_result_t *r, cs_migration_t *mig) {
  int status = CS_OK;
  int kn = r->k, kp = prev->k, d = r->d;
  double *cost = malloc((size_t)kn * (size_t)kp * sizeof *cost);
  int *assign = malloc((size_t)kn * sizeof *assign), *newid = malloc((size_t)kn * sizeof *newid);
  int *inv = malloc((size_t)kp * sizeof *inv);
  mig->kp = kp;
  mig->kn = kn;
  mig->previous_id = malloc((size_t)kn * sizeof *mig->previous_id);
  mig->appeared = malloc((size_t)kn * sizeof *mig->appeared);
  mig->vanished = malloc((size_t)kp * sizeof *mig->vanished);
  mig->drift = malloc((size_t)kn * sizeof *mig->drift);
  mig->drift_standardized = malloc((size_t)kn * sizeof *mig->drift_standardized);
  int ok = cost && assign && newid && inv && mig->previous_id && mig->appeared && mig->vanished &&
           mig->drift && mig->drift_standardized;
  CS_TRY(cs_par_agree(ctx, ok ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                     "out of memory")));
  CS_CHECK(prev->d == d, CS_EINTERNAL, "previous run has %d features, this one %d", prev->d, d);
  for (int i = 0; i < kn; i++)
    for (int j = 0; j < kp; j++) {
      double s = 0;
      for (int t = 0; t < d; t++) {
        double e = r->centroids[(int64_t)i * d + t] - prev->standardized[(int64_t)j * d + t];
        s += e * e;
      }
      cost[(int64_t)i * kp + j] = sqrt(s);
    }
  CS_TRY(cs_segment_match(cost, kn, kp, assign));

  /* New ids: matched segments in the order of their previous ids, then the others. */
  for (int j = 0; j < kp; j++) inv[j] = -1;
  for (int i = 0; i < kn; i++)
    if (assign[i] >= 0) inv[assign[i]] = i;
  int next = 0;
  mig->n_vanished = 0;
  for (int j = 0; j < kp; j++) {
    if (inv[j] >= 0)
      newid[inv[j]] = next++;
    else
      mig->vanished[mig->n_vanished++] = j;
  }
  mig->n_appeared = 0;
  for (int i = 0; i < kn; i++)
    if (assign[i] < 0) {
      mig->appeared[mig->n_appeared++] = next;
      newid[i] = next++;
    }
  mig->match_cost = 0;
  for (int i = 0; i < kn; i++) {
    int q = newid[i], p = assign[i];
    mig->previous_id[q] = p;
    mig->drift_standardized[q] = p >= 0 ? cost[(int64_t)i * kp + p] : NAN;
    if (p >= 0) mig->match_cost += cost[(int64_t)i * kp + p];
  }

  /* Renumber everything that is per segment, then the labels and the hash. */
  CS_TRY(permute(r->centroids, (size_t)d * sizeof *r->centroids, kn, newid));
  CS_TRY(permute(r->sizes, sizeof *r->sizes, kn, newid));
  CS_TRY(permute(r->weight_sums, sizeof *r->weight_sums, kn, newid));
  uint64_t h = 0;
#pragma omp parallel for schedule(static) reduction(+ : h)
  for (int64_t i = 0; i < m->n; i++) {
    int32_t l = r->labels[i];
    if (l >= 0 && l < kn) r->labels[i] = newid[l];
    int64_t pair[2] = {m->id[i], r->labels[i]};
    h += XXH3_64bits(pair, sizeof pair);
  }
  CS_TRY(cs_par_allreduce(ctx, &h, 1, CS_DT_U64, CS_OP_SUM));
  r->verification_hash = h;

  for (int q = 0; q < kn; q++) {
    int p = mig->previous_id[q];
    double s = 0;
    for (int t = 0; p >= 0 && t < d; t++) {
      if (!(f->weight[t] > 0)) continue; /* no part in the fit, NaN in original units */
      double e = cs_features_to_original(f, t, r->centroids[(int64_t)q * d + t]) -
                 prev->centroids[(int64_t)p * d + t];
      s += e * e;
    }
    mig->drift[q] = p >= 0 ? sqrt(s) : NAN;
  }
fail:
  free(cost);
  free(assign);
  free(newid);
  free(inv);
  return status;
}
