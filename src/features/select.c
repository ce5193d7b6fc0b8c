/* features/select.c: which columns are features. */
#include "custseg/features.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const reserved[] = {"customer_id", "txn_offset", "churned", "revenue",
                                       "marketing_cost", "acquisition_cost", "converted",
                                       "treated"};

int cs_features_is_reserved(const char *name) {
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (strcmp(name, reserved[i]) == 0) return 1;
  return 0;
}

static int label_like(const char *name) {
  static const char *const words[] = {"churn", "churned", "churn_label", "churn_flag",
                                      "attrition", "exited"};
  for (size_t w = 0; w < sizeof words / sizeof *words; w++)
    if (!strcasecmp(name, words[w])) return 1;
  return 0;
}

const char *cs_features_label_like(const cs_store_t *store, const char *except) {
  for (int i = 0; i < store->n_columns; i++) {
    const char *name = store->columns[i].name;
    if ((!except || strcmp(name, except)) && label_like(name)) return name;
  }
  return NULL;
}

static const cs_feature_exclude_t *excluded(const cs_feature_exclude_t *ex, const char *name) {
  for (; ex && ex->column; ex++)
    if (strcmp(ex->column, name) == 0) return ex;
  return NULL;
}

int cs_features_resolve(const cs_store_t *store, const char *list,
                        const cs_feature_exclude_t *exclude, const char **names, int *n_names) {
  int status = CS_OK;
  int n = 0;
  *n_names = 0;
  /* Given but empty (an unset shell variable, `features =`, or a ';' that made the rest of the
   * config line a comment) had silently meant every column. */
  CS_CHECK(!list || *list, CS_EUSAGE, "--features is empty: name the feature columns "
           "(comma-separated), or leave the option out for every numeric column");
  if (!list) {
    for (int i = 0; i < store->n_columns; i++) {
      const cs_column_t *c = &store->columns[i];
      if (cs_features_is_reserved(c->name) || excluded(exclude, c->name)) continue;
      if (cs_log_rank() == 0 && label_like(c->name))
        cs_log_warn("%s: column '%s' is a feature, and its name says it may be the churn label: "
                    "segments built on it describe the outcome; if it is the label, name it "
                    "(--label-column %s; label-column in run's config; or import it with --rename "
                    "%s=churned), or name the features with --features", store->path, c->name,
                    c->name, c->name);
      if (c->dtype == CS_DT_NONE) { /* said once, so a column does not vanish unnoticed */
        if (cs_log_rank() == 0)
          cs_log_warn("%s: column '%s' is not a feature: %s is not a numeric type custseg reads "
                      "(name the features with --features to silence this)", store->path,
                      c->name, c->type_desc);
        continue;
      }
      if (strchr(c->name, ',')) { /* lists of feature names are comma-separated */
        if (cs_log_rank() == 0)
          cs_log_warn("%s: column '%s' is not a feature: its name has a ',', the separator of "
                      "feature lists", store->path, c->name);
        continue;
      }
      CS_CHECK(n < CS_MAX_FEATURES, CS_EUSAGE, "more than %d candidate features in %s; name "
               "them with --features", CS_MAX_FEATURES, store->path);
      names[n++] = c->name;
    }
    /* Said, so that a column renamed revenue for the ROI table does not leave the segments
     * unnoticed. */
    char kept[512] = "";
    for (int i = 0; i < store->n_columns; i++) {
      const char *name = store->columns[i].name;
      if (cs_features_is_reserved(name) && strcmp(name, "customer_id") &&
          strcmp(name, "txn_offset") && strlen(kept) + strlen(name) + 3 < sizeof kept)
        snprintf(kept + strlen(kept), sizeof kept - strlen(kept), "%s%s", kept[0] ? ", " : "",
                 name);
    }
    if (kept[0] && cs_log_rank() == 0)
      cs_log_info("features: %s not used by default (reserved for the churn label and the ROI "
                  "table; --features can name them)", kept);
    for (const cs_feature_exclude_t *ex = exclude; ex && ex->column; ex++)
      if (ex->named_ok && !cs_features_is_reserved(ex->column) && cs_log_rank() == 0)
        cs_log_info("features: %s not used by default (%s; --features can name it)", ex->column,
                    ex->why);
    CS_CHECK(n > 0, CS_EDATA, "%s: /customers has no numeric column to use as a feature%s",
             store->path, store->txn_rows >= 0 ? " (with /transactions, name the purchase "
             "features: --features rfm_recency,rfm_frequency,rfm_monetary,rfm_age; under run, "
             "features = that list in the config's section of the stage, or --stages clv for "
             "the CLV alone)" : "");
    *n_names = n;
    return CS_OK;
  }
  const char *p = list;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char name[CS_NAME_MAX];
    const char *q = p;
    while (len && (*q == ' ' || *q == '\t')) q++, len--;
    while (len && (q[len - 1] == ' ' || q[len - 1] == '\t')) len--;
    CS_CHECK(len > 0 && len < sizeof name, CS_EUSAGE, "--features: empty or too long name in '%s'",
             list);
    memcpy(name, q, len);
    name[len] = '\0';
    const cs_column_t *c = cs_store_column(store, name);
    CS_CHECK(c, CS_EDATA, "%s: feature '%s' is not a column of /customers", store->path, name);
    const cs_feature_exclude_t *ex = excluded(exclude, c->name);
    if (ex && ex->named_ok) ex = NULL;
    CS_CHECK(!ex, CS_EUSAGE, "--features: '%s' is %s, so it cannot be a feature", name,
             ex ? ex->why : "");
    CS_CHECK(c->dtype != CS_DT_NONE, CS_EDATA,
             "%s: feature '%s' (/customers/%s) is not numeric: %s", store->path, name, name,
             c->type_desc);
    for (int j = 0; j < n; j++)
      CS_CHECK(strcmp(names[j], c->name) != 0, CS_EUSAGE, "--features: '%s' named twice", name);
    CS_CHECK(n < CS_MAX_FEATURES, CS_EUSAGE, "--features: more than %d names", CS_MAX_FEATURES);
    names[n++] = c->name;
    p = end ? end + 1 : p + strlen(p);
  }
  *n_names = n;
fail:
  return status;
}

/* Words of a level that mean 1 (yes) and 0 (no), common and by the column's role: "holdout"
 * is the held-out part of a churn split, but the control group of a campaign. */
static int in_list(const char *level, const char *const *words) {
  for (; *words; words++)
    if (strcasecmp(level, *words) == 0) return 1;
  return 0;
}

static int reads_as(const char *level, const char *column, cs_flag_role_t role, int yes) {
  static const char *const common[2][6] = {{"no", "n", "false", "f", "0", NULL},
                                           {"yes", "y", "true", "t", "1", NULL}};
  static const char *const by_role[3][2][4] = {
      [CS_FLAG_EVENT] = {{NULL}, {NULL}},
      [CS_FLAG_TREATED] = {{"control", "holdout", NULL}, {"treatment", "treated", "test", NULL}},
      [CS_FLAG_SPLIT] = {{"train", "training", NULL}, {"holdout", "test", NULL}}};
  if (yes < 0) return strcasecmp(level, column) == 0; /* the column's own name */
  return in_list(level, common[yes]) || in_list(level, by_role[role][yes]);
}

int cs_features_flag_values(const char *store_path, const cs_column_t *c, cs_flag_role_t role,
                            const char *positive, const char *option, double *one, double *zero) {
  int status = CS_OK;
  *one = 1;
  *zero = 0;
  if (c->n_categories == 0) { /* a 0/1 column: `positive` may only say which value is yes */
    if (!positive || !*positive) return CS_OK;
    CS_CHECK(!strcmp(positive, "0") || !strcmp(positive, "1"), CS_EUSAGE,
             "%s: column '%s' is numeric: %s '%s' is not one of its values 0 and 1 (the one "
             "meaning yes)", store_path, c->name, option ? option : "the level", positive);
    if (positive[0] == '0') *one = 0, *zero = 1;
    return CS_OK;
  }
  const char *const *lv = (const char *const *)c->categories;
  CS_CHECK(c->n_categories == 2, CS_EDATA,
           "%s: flag column '%s' is categorical with %d levels; a 0/1 flag has two (missing "
           "values are unknown)", store_path, c->name, c->n_categories);
  int pos = -1;
  if (positive && *positive) {
    for (int j = 0; j < 2; j++)
      if (strcasecmp(lv[j], positive) == 0) pos = j;
    CS_CHECK(pos >= 0, CS_EDATA, "%s: column '%s' has no level '%s' (its levels are '%s' and '%s')",
             store_path, c->name, positive, lv[0], lv[1]);
  } else {
    /* The level that reads as yes, else the other of the one that reads as no, else the
     * level named as the column ("churned" in churned): the words first, so that a split
     * column named "train" does not make its "train" level the holdout. */
    int y0 = reads_as(lv[0], c->name, role, 1), y1 = reads_as(lv[1], c->name, role, 1);
    if (y0 == y1) {
      const int n0 = reads_as(lv[0], c->name, role, 0), n1 = reads_as(lv[1], c->name, role, 0);
      if (n0 != n1 && !(y0 && y1)) y0 = n1, y1 = n0;
    }
    if (y0 == y1 && !y0)
      y0 = reads_as(lv[0], c->name, role, -1), y1 = reads_as(lv[1], c->name, role, -1);
    CS_CHECK(y0 != y1, CS_EDATA,
             "%s: column '%s' is categorical with levels '%s' and '%s': which one means 1 (yes)? "
             "Store the column as 0/1%s%s",
             store_path, c->name, lv[0], lv[1], option ? ", or name that level with " : "",
             option ? option : "");
    pos = y1;
  }
  *one = pos;
  *zero = 1 - pos;
fail:
  return status;
}
