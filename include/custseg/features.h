/* features: from store columns to features. So far: choosing and checking the feature
 * columns (the rest of the pipeline — scaling, one-hot, missing values — builds on it). */
#ifndef CUSTSEG_FEATURES_H
#define CUSTSEG_FEATURES_H

#include "custseg/io.h"

#define CS_MAX_FEATURES 256

/* Columns that are never candidate features by default: the id, the transaction index and
 * the reserved outcome columns (docs/format.md). */
int cs_features_is_reserved(const char *name);

/* Resolve a comma-separated feature list (NULL or "" = every candidate column: numeric and
 * not reserved) against the store. Errors: an unknown name, a non-numeric column, a
 * duplicate, too many. names[i] point into the store's column table. Local (the store's
 * metadata is the same on every rank, so so is the answer). */
int cs_features_resolve(const cs_store_t *store, const char *list, const char **names,
                        int *n_names);

#endif
