/* features/layout.c: which features a run has and how they are named, from the store's
 * schema alone: the selected columns, --log1p and --feature-weights, one-hot levels (matched
 * by name against a stored model's), the output feature names; and cs_features_check, the
 * same checks for run's dry pass. No row is read here. */
#include "layout.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Find `name` in a comma list "a,b:2,c"; returns 1 and the text after ':' (or NULL). */
static int in_list(const char *list, const char *name, const char **arg) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    const char *end = p + strcspn(p, ",");
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *name_end = colon ? colon : end;
    while (name_end > p && name_end[-1] == ' ') name_end--;
    if ((size_t)(name_end - p) == n && !strncmp(p, name, n)) {
      if (arg) *arg = colon ? colon + 1 : NULL;
      return 1;
    }
    p = end;
  }
  return 0;
}

/* Every name in a list must be one of the features. */
static int check_list(const char *list, const char *what, const cs_features_t *f) {
  for (const char *p = list; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    size_t len = strcspn(p, ",:");
    char name[CS_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
    while (len && name[strlen(name) - 1] == ' ') name[strlen(name) - 1] = '\0';
    int found = 0;
    for (int i = 0; i < f->n_cols; i++) found |= !strcmp(f->cols[i].name, name);
    /* The same name twice: a second weight would be ignored without a word. */
    for (const char *q = list; found && q < p;) {
      while (*q == ' ' || *q == ',') q++;
      size_t lq = strcspn(q, ",:");
      while (lq && q[lq - 1] == ' ') lq--;
      if (q < p && lq == strlen(name) && !strncmp(q, name, lq))
        return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s names '%s' twice", what, name);
      q += strcspn(q, ",");
    }
    if (!found)
      return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s names '%s', which is not a feature",
                          what, name);
    p += strcspn(p, ",");
  }
  return CS_OK;
}

/* The feature of one category level is named "<column>=<level>". A name longer than
 * CS_FEATURE_NAME_MAX - 1 bytes keeps the level's first bytes, cut where a UTF-8 character
 * starts, and ends in "...#<code>" (the level's code in the column, and an ellipsis), so names
 * stay distinct and valid UTF-8; each such name gets a warning. */
static void level_name(char *out, const char *col, const char *level, int code) {
  const size_t cap = CS_FEATURE_NAME_MAX;
  if ((size_t)snprintf(out, cap, "%s=%s", col, level) < cap) return;
  char tail[32];
  snprintf(tail, sizeof tail, "\u2026#%d", code);
  size_t keep = cap - 1 - strlen(col) - 1 - strlen(tail); /* column names are < CS_NAME_MAX */
  while (keep > 0 && ((unsigned char)level[keep] & 0xC0) == 0x80) keep--;
  snprintf(out, cap, "%s=%.*s%s", col, (int)keep, level, tail);
  cs_log_warn("column '%s': level %d is %zu bytes long, too long for a feature name; the "
              "feature is named '%s'", col, code, strlen(level), out);
}

/* The error for a categorical column whose categories name one level twice (codes a and b):
 * refused when fitting (a store written by hand) and when matching a model's levels. */
static int level_twice(const char *path, const char *col, const char *level, int a, int b) {
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s: /customers/%s@categories has the level '%s' twice (codes %d and %d): "
                      "each level must be named once; fix the attribute in the store",
                      path, col, level, a, b);
}

/* The levels a list of up to 8 in `buf`, for messages. */
static const char *level_list(char *const *lv, int n, char *buf, size_t len) {
  size_t o = 0;
  buf[0] = '\0';
  for (int l = 0; l < n && l < 8 && o < len; l++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s", l ? ", " : "", lv[l]);
  if (n > 8 && o < len) snprintf(buf + o, len - o, ", ... (%d in all)", n);
  return buf;
}

/* The indices 0..n-1 ordered by names[i], equal names by index. */
typedef struct {
  const char *name;
  int at;
} named_t;
static int by_name_only(const void *x, const void *y) {
  return strcmp(((const named_t *)x)->name, ((const named_t *)y)->name);
}
static int by_name(const void *x, const void *y) {
  const named_t *a = x, *b = y;
  int c = by_name_only(x, y);
  return c ? c : (a->at > b->at) - (a->at < b->at);
}
static int sorted_names(char (*names)[CS_FEATURE_NAME_MAX], int n, int **order) {
  named_t *t = malloc((size_t)(n ? n : 1) * sizeof *t);
  *order = malloc((size_t)(n ? n : 1) * sizeof **order);
  if (!t || !*order) {
    free(t);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  for (int i = 0; i < n; i++) t[i] = (named_t){names[i], i};
  qsort(t, (size_t)n, sizeof *t, by_name);
  for (int i = 0; i < n; i++) (*order)[i] = t[i].at;
  free(t);
  return CS_OK;
}

/* A column of the store being scored against the model's feature: the same kind (numeric or
 * categorical). Levels are matched by name: when this store's are the model's in another
 * order, or only some of them, c->code_map takes its codes to the model's. A level the model
 * lacks maps to -1 and is refused only when a customer has it (cs__features_unseen_level):
 * an import --schema declares levels that no customer may have. */
static int match_levels(const char *path, const cs_column_t *sc, const cs_feature_col_t *fc,
                        cs_feature_col_t *c) {
  int status = CS_OK, *first = NULL;
  named_t *sorted = NULL;
  char here[512], model[512];
  CS_CHECK(fc->n_levels || !sc->n_categories, CS_EDATA,
           "%s: feature '%s' is numeric in the model but categorical here (levels %s): text in "
           "the column? Give its missing-value marks to import's --na-values, or declare it "
           "numeric in --schema", path, sc->name,
           level_list(sc->categories, sc->n_categories, here, sizeof here));
  CS_CHECK(!fc->n_levels || sc->n_categories, CS_EDATA,
           "%s: feature '%s' is categorical in the model (levels %s) but numeric here", path,
           sc->name, level_list(fc->levels, fc->n_levels, model, sizeof model));
  if (!fc->n_levels) return CS_OK;
  int identity = sc->n_categories == fc->n_levels, unseen = 0;
  c->code_map = malloc((size_t)sc->n_categories * sizeof *c->code_map);
  /* The model's levels by name (looked up, not scanned: 10^5 levels on both sides had been
   * 10^10 comparisons), and the first of this store's levels matched to each. */
  sorted = malloc((size_t)fc->n_levels * sizeof *sorted);
  first = malloc((size_t)fc->n_levels * sizeof *first);
  CS_CHECK(c->code_map && sorted && first, CS_ENOMEM, "out of memory");
  c->n_codes = sc->n_categories;
  for (int m = 0; m < fc->n_levels; m++) {
    sorted[m] = (named_t){fc->levels[m], m};
    first[m] = -1;
  }
  qsort(sorted, (size_t)fc->n_levels, sizeof *sorted, by_name);
  for (int l = 0; l < sc->n_categories; l++) {
    const named_t key = {sc->categories[l], 0},
                  *hit = bsearch(&key, sorted, (size_t)fc->n_levels, sizeof *sorted, by_name_only);
    const int at = hit ? hit->at : -1;
    if (at >= 0 && first[at] >= 0) /* as layout() refuses it when fitting */
      CS_TRY(level_twice(path, sc->name, sc->categories[l], first[at], l));
    if (at >= 0) first[at] = l;
    c->code_map[l] = at;
    identity &= at == l;
    unseen += at < 0;
  }
  if (identity) {
    free(c->code_map);
    c->code_map = NULL;
    c->n_codes = 0;
  } else {
    cs_log_info("features: '%s': the levels of %s are matched to the model's by name (%s)",
                sc->name, path,
                unseen ? "with levels the model lacks, refused if a customer has one"
                : sc->n_categories < fc->n_levels ? "some of them, maybe in another order"
                                                  : "another order");
  }
fail:
  free(sorted);
  free(first);
  return status;
}

int cs__features_unseen_level(const cs_store_t *store, const cs_feature_col_t *c, int code,
                              int64_t count, int64_t row) {
  const cs_column_t *sc = cs_store_column(store, c->name);
  char here[512], model[512];
  /* A level the model never saw has no coefficient: scoring it as all zeros would treat
   * those customers as the reference group, silently. */
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s: feature '%s' has a level '%s' that the model lacks (the model's "
                      "levels: %s; here: %s), the first of %lld customers with levels it "
                      "lacks, at row %lld: retrain the model on customers with such levels, or "
                      "recode them at import",
                      store->path, c->name, sc->categories[code],
                      level_list(c->levels, c->n_levels, model, sizeof model),
                      level_list(sc->categories, sc->n_categories, here, sizeof here),
                      (long long)count, (long long)row);
}

/* Column table and output layout, from the request or from fitted statistics. */
int cs__features_layout(const cs_store_t *store, const cs_feature_spec_t *spec,
                         const cs_features_t *fitted, cs_features_t *f) {
  int status = CS_OK, *order = NULL;
  const char *names[CS_MAX_FEATURES];
  int n = 0;
  if (fitted) {
    n = fitted->n_cols;
    for (int i = 0; i < n; i++) names[i] = fitted->cols[i].name;
  } else {
    CS_TRY(cs_features_resolve(store, spec->features, spec->exclude, names, &n));
  }
  CS_CHECK(n > 0 && n <= CS_MAX_FEATURES, CS_EUSAGE, "no features selected");
  const char *wname = fitted ? fitted->weight_column : spec->weight_column;
  if (wname && wname[0]) {
    const cs_column_t *wc = cs_store_column(store, wname);
    CS_CHECK(wc && wc->dtype != CS_DT_NONE, CS_EDATA,
             "%s: --weight-column '%s' is not a numeric column of /customers", store->path,
             wname);
    /* Level codes are not amounts: 'region' had weighed its first level 0, unwarned. */
    CS_CHECK(wc->n_categories == 0, CS_EDATA,
             "%s: --weight-column '%s' is categorical with %d levels; weights must be amounts "
             "(a numeric column such as revenue)", store->path, wname, wc->n_categories);
  }
  f->cols = calloc((size_t)n, sizeof *f->cols);
  CS_CHECK(f->cols, CS_ENOMEM, "out of memory");
  f->n_cols = n;
  int d = 0;
  for (int i = 0; i < n; i++) {
    cs_feature_col_t *c = &f->cols[i];
    const cs_column_t *sc = cs_store_column(store, names[i]);
    CS_CHECK(sc, CS_EDATA, "%s: feature '%s' is not a column of /customers", store->path,
             names[i]);
    CS_CHECK(sc->dtype != CS_DT_NONE, CS_EDATA, "%s: feature '%s' (/customers/%s) is not numeric: %s",
             store->path, names[i], names[i], sc->type_desc);
    snprintf(c->name, sizeof c->name, "%s", names[i]);
    if (fitted) {
      const cs_feature_col_t *fc = &fitted->cols[i];
      *c = *fc;
      c->levels = NULL;
      c->code_map = NULL;
      c->n_codes = 0;
      CS_TRY(match_levels(store->path, sc, fc, c));
    } else {
      const char *w = NULL;
      c->log1p = in_list(spec->log1p, c->name, NULL);
      c->weight = 1.0;
      if (in_list(spec->weights, c->name, &w)) {
        char *end = NULL;
        c->weight = w ? strtod(w, &end) : NAN;
        const char *rest = end ? end : "";
        while (*rest == ' ') rest++;
        /* The pair ends at a comma: "a:2 b:3" is one bad pair, not a:2 (b was dropped). */
        size_t wlen = w ? strcspn(w, ",") : 0;
        CS_CHECK(w && end != w && (*rest == '\0' || *rest == ',') && !memchr(w, 'x', wlen) &&
                     !memchr(w, 'X', wlen) && isfinite(c->weight) && c->weight >= 0,
                 CS_EUSAGE, "--feature-weights: '%s%s%.*s' is not name:weight with a decimal "
                 "weight >= 0 (pairs are separated by commas)", c->name, w ? ":" : "",
                 (int)wlen, w ? w : "");
      }
      c->n_levels = sc->n_categories;
      CS_CHECK(!(c->log1p && c->n_levels), CS_EUSAGE, "--log1p: '%s' is categorical", c->name);
    }
    if (c->n_levels) {
      c->levels = calloc((size_t)c->n_levels, sizeof *c->levels);
      CS_CHECK(c->levels, CS_ENOMEM, "out of memory");
      for (int l = 0; l < c->n_levels; l++) { /* fitted: the model's levels, in its order */
        c->levels[l] = strdup(fitted ? fitted->cols[i].levels[l] : sc->categories[l]);
        CS_CHECK(c->levels[l], CS_ENOMEM, "out of memory");
      }
    }
    c->first = d;
    d += c->n_levels ? c->n_levels : 1;
  }
  if (!fitted) {
    CS_TRY(check_list(spec->log1p, "--log1p", f));
    CS_TRY(check_list(spec->weights, "--feature-weights", f));
    int any = 0;
    for (int i = 0; i < n; i++) any |= f->cols[i].weight > 0;
    CS_CHECK(any, CS_EUSAGE, "--feature-weights: every feature has weight 0, so no customer "
             "differs from another");
  }
  f->d = d;
  f->names = calloc((size_t)d, sizeof *f->names);
  f->center = calloc((size_t)d, sizeof *f->center);
  f->spread = calloc((size_t)d, sizeof *f->spread);
  f->weight = calloc((size_t)d, sizeof *f->weight);
  f->col_of = calloc((size_t)d, sizeof *f->col_of);
  CS_CHECK(f->names && f->center && f->spread && f->weight && f->col_of, CS_ENOMEM,
           "out of memory");
  for (int i = 0; i < n; i++) {
    const cs_feature_col_t *c = &f->cols[i];
    for (int l = 0; l < (c->n_levels ? c->n_levels : 1); l++) {
      int j = c->first + l;
      f->col_of[j] = i;
      f->weight[j] = c->weight;
      if (c->n_levels)
        level_name(f->names[j], c->name, c->levels[l], l);
      else
        snprintf(f->names[j], sizeof f->names[j], "%s%s", c->log1p ? "log1p:" : "", c->name);
    }
  }
  /* Names are keys (CSV headers, JSON objects, the check of a previous run's features): a
   * column named like another column's level ("plan=a" beside plan's level a) is refused.
   * Sorted, so that 10^5 levels take no 10^10 comparisons; the pair reported is the one a
   * scan in feature order meets first (the smallest later index, with its first namesake). */
  CS_TRY(sorted_names(f->names, d, &order));
  int q = -1, j = -1;
  for (int r = 1; r < d; r++) {
    int lo = order[r - 1], hi = order[r];
    if (!strcmp(f->names[lo], f->names[hi]) && (j < 0 || hi < j)) {
      q = lo;
      j = hi;
    }
  }
  if (j >= 0) {
    const cs_feature_col_t *a = &f->cols[f->col_of[q]], *b = &f->cols[f->col_of[j]];
    /* Within one column: its categories repeat a level (a store written by hand). */
    if (a == b)
      CS_TRY(level_twice(store->path, a->name, a->levels[q - a->first], q - a->first,
                         j - b->first));
    CS_FAIL(CS_EDATA,
            "two features are named '%s' (columns '%s' and '%s'): rename one column or leave "
            "it out with --features", f->names[j], a->name, b->name);
  }
fail:
  free(order);
  return status;
}

int cs_features_widest(const cs_features_t *f) {
  int widest = 0;
  for (int c = 1; c < f->n_cols; c++)
    if (f->cols[c].n_levels > f->cols[widest].n_levels) widest = c;
  return widest;
}

void cs_features_warn_wide(const cs_store_t *store, const cs_feature_spec_t *spec, int64_t rows,
                           const char *who) {
  cs_features_t *lay = NULL;
  /* Hushed: the build that follows says what the layout says (the reserved columns' notice
   * had been printed twice). */
  cs_log_hush(1);
  const int ok = cs_features_check(store, spec, &lay) == CS_OK;
  cs_log_hush(0);
  if (ok && lay->d > CS_FEATURES_MANY) {
    const int widest = cs_features_widest(lay);
    cs_log_warn("%s: %d features (column '%s' has %d levels, one feature each): the matrix "
                "alone takes about %.2g GB per rank, and the distances, indices and personas "
                "grow with the features; group the levels or leave the column out with "
                "--features", who, lay->d, lay->cols[widest].name, lay->cols[widest].n_levels,
                (double)rows * lay->d * sizeof(float) / 1e9);
  }
  cs_features_free(lay);
  cs_error_clear(); /* a layout error is the build's to report */
}

int cs_features_check(const cs_store_t *store, const cs_feature_spec_t *spec,
                      cs_features_t **out) {
  cs_features_t *f = calloc(1, sizeof *f);
  if (out) *out = NULL;
  if (!f) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  int status = cs__features_layout(store, spec, NULL, f);
  if (status == CS_OK && out) {
    /* No statistics: centre 0 and spread 1, so a value converted with them stays finite. */
    for (int j = 0; j < f->d; j++) f->spread[j] = 1.0;
    *out = f;
  } else
    cs_features_free(f);
  return status;
}
