/* features/layout.h: the column table and output layout of the feature pipeline, from a
 * request or from fitted statistics (internal to features; layout.c). */
#ifndef CUSTSEG_FEATURES_LAYOUT_H
#define CUSTSEG_FEATURES_LAYOUT_H

#include "custseg/features.h"

/* Fill f's columns, levels, output names, weights and count from the store's schema: the
 * request's features (spec) or the fitted ones (a stored model applied to another store, its
 * levels matched by name). Reads no rows. Errors name the store and the column. Local. */
int cs__features_layout(const cs_store_t *store, const cs_feature_spec_t *spec,
                        const cs_features_t *fitted, cs_features_t *f);

/* The error for `count` customers (the first at store row `row`) whose code in c's column
 * is a level the model lacks (c->code_map[code] < 0). Sets the error; returns CS_EDATA. */
int cs__features_unseen_level(const cs_store_t *store, const cs_feature_col_t *c, int code,
                              int64_t count, int64_t row);

#endif
