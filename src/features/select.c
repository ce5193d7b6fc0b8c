/* features/select.c: which columns are features. */
#include "custseg/features.h"

#include <stdio.h>
#include <string.h>

static const char *const reserved[] = {"customer_id", "txn_offset", "churned", "revenue",
                                       "marketing_cost", "acquisition_cost", "converted",
                                       "treated"};

int cs_features_is_reserved(const char *name) {
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (strcmp(name, reserved[i]) == 0) return 1;
  return 0;
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
  if (!list || !*list) {
    for (int i = 0; i < store->n_columns; i++) {
      const cs_column_t *c = &store->columns[i];
      if (cs_features_is_reserved(c->name) || excluded(exclude, c->name)) continue;
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
    CS_CHECK(n > 0, CS_EDATA, "%s: /customers has no numeric column to use as a feature",
             store->path);
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
