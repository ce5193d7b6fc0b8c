/* cli/cmd_churn.c: `custseg churn train` and `custseg churn score`. */
#include "cli.h"

#include "custseg/churn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /churn/score: float32, every customer in input row order, NaN where no feature row. */
static int write_scores(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_matrix_t *m,
                        const float *score, const char *label, const char *positive) {
  int status = CS_OK;
  float *full = cs_alloc(cs_bytes(part->n_local ? part->n_local : 1, sizeof *full), "scores");
  cs_dset_t *ds;
  CS_TRY(cs_par_agree(ctx, full ? CS_OK : CS_ENOMEM));
  for (int64_t i = 0; i < part->n_local; i++) full[i] = NAN;
  for (int64_t i = 0; i < m->n; i++) full[m->row[i] - part->offset] = score[i];
  CS_TRY(cs_out_dataset(out, "/churn/score", CS_DT_F32, part->n_global, &ds));
  CS_TRY(cs_out_write(ds, part->offset, part->n_local, full));
  CS_TRY(cs_out_attr_str(out, "/churn/score", "units", "probability of churn"));
  /* What "churn" means for these scores, for roi's observed churn (a churn score file has no
   * /churn/model): the label column and, when not 1, the value or level meaning churned. */
  CS_TRY(cs_out_attr_str(out, "/churn/score", "label_column", label));
  CS_TRY(cs_out_attr_str(out, "/churn/score", "label_positive", positive));
fail:
  cs_free(full);
  return status;
}

/* /churn/split: int8 per customer, 0 training, 1 holdout, -1 unlabelled or no feature row,
 * so anyone can recompute a metric on exactly the rows custseg used. Collective. */
static int write_split(cs_ctx_t *ctx, cs_out_t *out, const cs_part_t *part, const cs_matrix_t *m,
                       const cs_churn_data_t *data) {
  int status = CS_OK;
  int8_t *s = cs_alloc(cs_bytes(part->n_local ? part->n_local : 1, 1), "split");
  cs_dset_t *ds;
  CS_TRY(cs_par_agree(ctx, s ? CS_OK : CS_ENOMEM));
  for (int64_t i = 0; i < part->n_local; i++) s[i] = -1;
  for (int64_t i = 0; i < m->n; i++)
    if (data->y[i] >= 0) s[m->row[i] - part->offset] = (int8_t)data->holdout[i];
  CS_TRY(cs_out_dataset(out, "/churn/split", CS_DT_I8, part->n_global, &ds));
  CS_TRY(cs_out_write(ds, part->offset, part->n_local, s));
fail:
  cs_free(s);
  return status;
}

/* How far each numeric feature of the scored store lies from the training customers: its
 * known values' mean shift and spread ratio in training standard deviations (the feature
 * pipeline measures them against the model's statistics, whatever its --scale), into the
 * summary's churn.drift (6 significant digits: the sums are not exact, so the last digits
 * could depend on the ranks); a shift beyond one standard deviation or a ratio beyond 4 (or
 * below 1/4) is warned of, since the scores then extrapolate the model. Local (rank 0 warns). */
static void report_drift(const cs_ctx_t *ctx, const cs_features_t *f, cJSON *cj) {
  cJSON *dj = cJSON_AddArrayToObject(cj, "drift");
  for (int c = 0; c < f->n_cols; c++) {
    const cs_feature_col_t *fc = &f->cols[c];
    if (ctx->rank == 0 && fc->drift_far)
      cs_log_warn("churn score: feature '%s' has %lld value(s) more than %g training standard "
                  "deviations from the training mean (a typo or another unit?): they are left "
                  "out of its drift below, and drive their customers' scores toward 0 or 1",
                  fc->name, (long long)fc->drift_far, CS_DRIFT_FAR);
    if (fc->n_levels || !isfinite(fc->drift_shift)) {
      if (!fc->n_levels && fc->drift_far) { /* every known value far out */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "feature", fc->name);
        cJSON_AddNullToObject(e, "mean_shift");
        cJSON_AddNullToObject(e, "spread_ratio");
        cJSON_AddNumberToObject(e, "far_values", (double)fc->drift_far);
        cJSON_AddItemToArray(dj, e);
      }
      continue;
    }
    char a[32], b[32];
    snprintf(a, sizeof a, "%.6g", fc->drift_shift + 0.0);
    snprintf(b, sizeof b, "%.6g", fc->drift_ratio);
    const double shift = strtod(a, NULL), ratio = strtod(b, NULL);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "feature", fc->name);
    cJSON_AddNumberToObject(e, "mean_shift", shift);
    if (isnan(ratio)) /* a single known value */
      cJSON_AddNullToObject(e, "spread_ratio");
    else
      cJSON_AddNumberToObject(e, "spread_ratio", ratio);
    cJSON_AddNumberToObject(e, "far_values", (double)fc->drift_far);
    cJSON_AddItemToArray(dj, e);
    if (ctx->rank == 0 && (fabs(shift) > 1 || ratio > 4 || ratio < 0.25))
      cs_log_warn("churn score: feature '%s' has drifted from the training customers: its mean "
                  "lies %.3g training standard deviations from theirs and its spread is %.3g "
                  "times theirs; the scores extrapolate the model (retrain it on recent "
                  "customers?)", fc->name, shift, ratio);
  }
}

/* Score every matrix row into a new array (*out, cs_free) and check the scores are
 * probabilities (exit status 4 otherwise). Collective. */
static int score_rows(cs_ctx_t *ctx, const cs_churn_model_t *mod, const cs_matrix_t *m,
                      float **out) {
  int status = CS_OK;
  int64_t bad = 0;
  float *score = cs_alloc(cs_bytes(m->n ? m->n : 1, sizeof *score), "scores");
  *out = NULL;
  CS_TRY(cs_par_agree(ctx, score ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_par_agree(ctx, cs_churn_score(mod, m, score)));
  for (int64_t i = 0; i < m->n; i++) bad += !(score[i] >= 0.0f && score[i] <= 1.0f);
  CS_TRY(cs_par_allreduce(ctx, &bad, 1, CS_DT_I64, CS_OP_SUM));
  CS_CHECK(bad == 0, CS_EVERIFY, "verification: %lld churn scores outside [0, 1]", (long long)bad);
  *out = score;
  return CS_OK;
fail:
  cs_free(score);
  return status;
}

static cJSON *metrics_json(const cs_churn_metrics_t *x) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "customers", (double)x->n);
  cJSON_AddNumberToObject(j, "positives", (double)x->positives);
  cJSON_AddNumberToObject(j, "positive_rate", x->n ? (double)x->positives / (double)x->n : NAN); /* null */
  cJSON_AddNumberToObject(j, "auc", x->auc);
  cJSON_AddNumberToObject(j, "auc_error_bound", x->auc_error_bound);
  cJSON_AddNumberToObject(j, "logloss", x->logloss);
  cJSON_AddNumberToObject(j, "brier", x->brier);
  cJSON *cal = cJSON_AddArrayToObject(j, "calibration");
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "bin_low", b / (double)CS_CHURN_CAL_BINS);
    cJSON_AddNumberToObject(e, "customers", (double)x->cal_count[b]);
    if (x->cal_count[b]) {
      cJSON_AddNumberToObject(e, "mean_predicted", x->cal_mean_pred[b]);
      cJSON_AddNumberToObject(e, "observed", x->cal_observed[b]);
    }
    cJSON_AddItemToArray(cal, e);
  }
  cJSON *g = cJSON_AddArrayToObject(j, "gains");
  for (int q = 0; q < CS_CHURN_DECILES; q++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "depth", (q + 1) / (double)CS_CHURN_DECILES);
    cJSON_AddNumberToObject(e, "gain", x->gain[q]);
    cJSON_AddNumberToObject(e, "lift", x->lift[q]);
    cJSON_AddItemToArray(g, e);
  }
  return j;
}

static int write_metrics(cs_out_t *out, const char *group, const cs_churn_metrics_t *x) {
  int status = CS_OK;
  char path[256];
  double cal[CS_CHURN_CAL_BINS * 3], gains[CS_CHURN_DECILES * 3];
  CS_TRY(cs_out_group(out, group));
  CS_TRY(cs_out_attr_i64(out, group, "customers", x->n));
  CS_TRY(cs_out_attr_i64(out, group, "positives", x->positives));
  CS_TRY(cs_out_attr_f64(out, group, "auc", &x->auc, 1));
  CS_TRY(cs_out_attr_f64(out, group, "auc_error_bound", &x->auc_error_bound, 1));
  CS_TRY(cs_out_attr_f64(out, group, "logloss", &x->logloss, 1));
  CS_TRY(cs_out_attr_f64(out, group, "brier", &x->brier, 1));
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) {
    cal[3 * b] = x->cal_mean_pred[b];
    cal[3 * b + 1] = x->cal_observed[b];
    cal[3 * b + 2] = (double)x->cal_count[b];
  }
  snprintf(path, sizeof path, "%s/calibration", group);
  CS_TRY(cs_out_small(out, path, CS_DT_F64, CS_CHURN_CAL_BINS, 3, cal));
  CS_TRY(cs_out_attr_strings(out, path, "columns",
                             (const char *[]){"mean_predicted", "observed", "customers"}, 3));
  for (int q = 0; q < CS_CHURN_DECILES; q++) {
    gains[3 * q] = (q + 1) / (double)CS_CHURN_DECILES;
    gains[3 * q + 1] = x->gain[q];
    gains[3 * q + 2] = x->lift[q];
  }
  snprintf(path, sizeof path, "%s/gains", group);
  CS_TRY(cs_out_small(out, path, CS_DT_F64, CS_CHURN_DECILES, 3, gains));
  CS_TRY(cs_out_attr_strings(out, path, "columns", (const char *[]){"depth", "gain", "lift"}, 3));
fail:
  return status;
}

static int write_model(cs_out_t *out, const cs_features_t *f, const cs_churn_model_t *mod,
                       const cs_churn_opts_t *co, const char *label, const char *positive,
                       const char *hcol) {
  int status = CS_OK;
  const char **names = malloc((size_t)mod->p * sizeof *names);
  CS_CHECK(names, CS_ENOMEM, "out of memory");
  names[0] = "intercept";
  for (int j = 0; j < f->d; j++) names[1 + j] = f->names[j];
  CS_TRY(cs_out_small(out, "/churn/model/coefficients", CS_DT_F64, mod->p, 0, mod->coef));
  CS_TRY(cs_out_attr_strings(out, "/churn/model/coefficients", "features", names, mod->p));
  CS_TRY(cs_out_small(out, "/churn/model/standard_errors", CS_DT_F64, mod->p, 0, mod->se));
  CS_TRY(cs_features_write(out, f, "/churn/model/feature_stats"));
  CS_TRY(cs_out_attr_f64(out, "/churn/model", "l2", &co->l2, 1));
  CS_TRY(cs_out_attr_f64(out, "/churn/model", "class_weight", mod->class_weight, 2));
  CS_TRY(cs_out_attr_i64(out, "/churn/model", "iterations", mod->iterations));
  CS_TRY(cs_out_attr_i64(out, "/churn/model", "converged", mod->converged));
  CS_TRY(cs_out_attr_i64(out, "/churn/model", "separable", mod->separable));
  CS_TRY(cs_out_attr_f64(out, "/churn/model", "loss", &mod->loss, 1));
  CS_TRY(cs_out_attr_str(out, "/churn/model", "label_column", label));
  if (hcol) CS_TRY(cs_out_attr_str(out, "/churn/model", "holdout_column", hcol));
  if (*positive) CS_TRY(cs_out_attr_str(out, "/churn/model", "label_positive", positive));
fail:
  free(names);
  return status;
}

/* With --churn-with-segment the model's coefficients belong to segment ids, which mean
 * something only together with the segments they were trained on: their standardized
 * centres are kept in the model (/churn/model/segment_centroids, attribute features). */
static int keep_segment_centres(cs_ctx_t *ctx, cs_out_t *out, const char *seg) {
  int status = CS_OK;
  double *c = NULL;
  int64_t k = 0, d = 0;
  char units[16], feats[16384], *names[CS_MAX_FEATURES], hash[64];
  CS_TRY(cs_io_read_matrix(ctx, seg, "/segments/centroids_standardized", &c, &k, &d, units,
                           sizeof units, feats, sizeof feats));
  int n = 0;
  for (char *p = feats; *p && n < CS_MAX_FEATURES; n++) {
    names[n] = p;
    p += strcspn(p, ",");
    if (*p) *p++ = '\0';
  }
  CS_TRY(cs_out_small(out, "/churn/model/segment_centroids", CS_DT_F64, k, d, c));
  CS_TRY(cs_out_attr_strings(out, "/churn/model/segment_centroids", "features",
                             (const char *const *)names, n));
  CS_TRY(cs_out_attr_str(out, "/churn/model/segment_centroids", "segment_results", seg));
  /* Segments numbered against these by segment --previous name this hash in their
   * /segments/previous@verification_hash: churn score takes their ids as they are. */
  CS_TRY(cs_io_read_attr_str(ctx, seg, "/segments", "verification_hash", hash, sizeof hash));
  CS_TRY(cs_out_attr_str(out, "/churn/model/segment_centroids", "segment_verification_hash",
                         hash));
fail:
  free(c);
  return status;
}

/* The segments given to churn score must be numbered as the model's were. Segments that
 * segment --previous numbered against the model's own training segments (their
 * /segments/previous@verification_hash is the one the model keeps) are taken as numbered:
 * the ids are the ones that run matched. Other segments must have each centre matched to the
 * model's centre of the same id, by segment --previous's rule (Hungarian, least sum of
 * distances), each file's centres in its own standardized units. Another segment run (another
 * month, another seed) numbers its segments its own way; the segment one-hot would then be
 * applied to the wrong segments without a word. Models without the centres (before
 * 2026-12-04) are not checked, nor by hash those without it (before 2026-12-06). Collective. */
static int check_segment_ids(cs_ctx_t *ctx, const char *model, const char *seg) {
  int status = CS_OK, exists = 0, renumbered = 0;
  double *a = NULL, *b = NULL, *cost = NULL;
  int *assign = NULL;
  int64_t ka = 0, da = 0, kb = 0, db = 0;
  char units[16], fa[16384], fb[16384], trained[64], against[64], prev_file[4200] = "";
  const char *mc = "/churn/model/segment_centroids";
  CS_TRY(cs_io_object_exists(ctx, model, mc, &exists));
  if (!exists) return CS_OK;
  CS_TRY(cs_io_read_matrix(ctx, model, mc, &a, &ka, &da, units, sizeof units, fa, sizeof fa));
  CS_TRY(cs_io_read_matrix(ctx, seg, "/segments/centroids_standardized", &b, &kb, &db, units,
                           sizeof units, fb, sizeof fb));
  CS_CHECK(ka == kb, CS_EDATA, "%s has %lld segments, the model %s was trained with %lld", seg,
           (long long)kb, model, (long long)ka);
  CS_TRY(cs_io_read_attr_str(ctx, model, mc, "segment_verification_hash", trained,
                             sizeof trained));
  CS_TRY(cs_io_object_exists(ctx, seg, "/segments/previous", &renumbered));
  if (renumbered) {
    CS_TRY(cs_io_read_attr_str(ctx, seg, "/segments/previous", "verification_hash", against,
                               sizeof against));
    CS_TRY(cs_io_read_attr_str(ctx, seg, "/segments/previous", "file", prev_file,
                               sizeof prev_file));
    /* Numbered against them, also when a category level came or went in between. */
    if (trained[0] && !strcmp(trained, against)) goto fail;
  }
  CS_CHECK(!strcmp(fa, fb) && da == db, CS_EDATA,
           "%s: its segments use the features %s, but the model %s was trained with segments "
           "of %s", seg, fb, model, fa);
  cost = malloc((size_t)(ka * kb) * sizeof *cost);
  assign = malloc((size_t)ka * sizeof *assign);
  CS_CHECK(cost && assign, CS_ENOMEM, "out of memory");
  for (int64_t i = 0; i < ka; i++)
    for (int64_t j = 0; j < kb; j++) {
      double s = 0;
      for (int64_t q = 0; q < da; q++) {
        double e = a[i * da + q] - b[j * db + q];
        if (isfinite(e)) s += e * e;
      }
      cost[i * kb + j] = sqrt(s);
    }
  CS_TRY(cs_segment_match(cost, (int)ka, (int)kb, assign));
  for (int64_t i = 0; i < ka; i++) {
    char why[4400] = "";
    if (renumbered)
      snprintf(why, sizeof why, " (its ids were kept from --previous %s, not from them)",
               prev_file);
    CS_CHECK(assign[i] == i, CS_EDATA,
             "%s: its segment %d is the model's segment %lld (nearest centres): the segments "
             "are numbered differently from those %s was trained with%s; segment this store "
             "with --previous TRAINING_SEGMENTS to keep the ids", seg, assign[i], (long long)i,
             model, why);
  }
fail:
  free(a);
  free(b);
  free(cost);
  free(assign);
  return status;
}

#define CS_CHURN_MANY_FEATURES 1000 /* a warning beyond: the solve's time grows as d^3 */

/* The feature statistics are fitted on the training part only: the holdout must not inform
 * the model, not even through the standardization. */
static int in_training(int64_t id, int64_t row, const void *arg) {
  return !cs_churn_in_holdout(id, row, arg);
}

/* A numeric feature the labelled training customers hardly vary in, in scaled units: a few
 * extreme values of unlabelled customers (in the statistics, docs/churn.md) set its scale,
 * and the model can then give it little weight. One warning, naming the first such feature.
 * Collective. */
static int warn_flat_features(cs_ctx_t *ctx, const cs_matrix_t *m, const cs_churn_data_t *data,
                              const cs_features_t *f) {
  int status = CS_OK;
  if (f->scale == CS_SCALE_NONE) return CS_OK; /* original units: no scale to compare with */
  double *sd = malloc((size_t)(m->d ? m->d : 1) * sizeof *sd);
  CS_TRY(cs_par_agree(ctx, sd ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs_churn_train_spread(ctx, m, data, sd));
  for (int j = 0; j < m->d; j++) {
    const cs_feature_col_t *c = &f->cols[f->col_of[j]];
    if (c->n_levels || !(f->weight[j] > 0) || !(sd[j] / f->weight[j] < 0.01)) continue;
    cs_log_warn("churn: feature '%s' hardly varies among the labelled training customers: "
                "%.2g in %s units, where extreme values of unlabelled customers (the values go "
                "from %g to %g) set the scale; the model can give it little weight: clip the "
                "column, leave it out with --features, or use --scale robust", c->name,
                sd[j] / f->weight[j], f->scale == CS_SCALE_ROBUST ? "robust" : "standard-deviation",
                c->min, c->max);
    break;
  }
fail:
  free(sd);
  return status;
}

int cs_cmd_churn_train(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cs_stage_t st = {0};
  cs_features_t *f = NULL;
  cs_matrix_t m = {0};
  cs_churn_data_t data = {0};
  cs_churn_model_t mod = {0};
  cs_churn_metrics_t hold, train;
  cs_churn_opts_t co = {0};
  cs_out_t *out = NULL;
  float *score = NULL;
  cJSON *sum = NULL;
  const char *label = cs_opt_str(o, "label-column"), *cw = cs_opt_str(o, "class-weight");
  cs_feature_spec_t spec;
  CS_TRY(cs_stage_feature_spec(o, &spec));
  CS_CHECK(!strcmp(cw, "none") || !strcmp(cw, "balanced"), CS_EUSAGE,
           "--class-weight must be none or balanced, not '%s'", cw);
  co = (cs_churn_opts_t){.l2 = cs_opt_real(o, "l2"),
                         .balanced = !strcmp(cw, "balanced"),
                         .holdout = cs_opt_real(o, "holdout"),
                         .seed = (uint64_t)cs_opt_int(o, "seed"),
                         .max_iter = (int)cs_opt_int(o, "max-iter"),
                         .tol = cs_opt_real(o, "newton-tol"),
                         .hessian_rows = cs_opt_int(o, "hessian-sample"),
                         .label_positive = cs_opt_str(o, "label-positive")};
  CS_CHECK(co.holdout >= 0 && co.holdout < 1, CS_EUSAGE, "--holdout must be in [0, 1), got %g",
           co.holdout);
  CS_CHECK(co.l2 >= 0, CS_EUSAGE, "--l2 must be >= 0");
  /* 0 or below had run every --max-iter step and warned "not converged" (exit 0) */
  CS_CHECK(co.tol > 0, CS_EUSAGE, "--newton-tol must be > 0, got %g", co.tol);
  const char *hcol = cs_opt_str(o, "holdout-column");
  CS_CHECK(!hcol || !cs_opt_given(o, "holdout"), CS_EUSAGE,
           "--holdout and --holdout-column both choose the split: give one");
  CS_CHECK(!hcol || strcmp(hcol, label) != 0, CS_EUSAGE,
           "--holdout-column '%s' is also the --label-column", hcol);
  CS_TRY(cs_stage_open(ctx, o, &st));
  if (hcol) CS_TRY(cs_churn_read_split(ctx, st.store, &st.part, hcol, &co));
  CS_TRY(cs_stage_rfm(ctx, &st, cs_opt_str(o, "features")));
  char with_seg[4096];
  if (cs_opt_bool(o, "churn-with-segment")) {
    /* (run's dry pass comes before the segment stage has made the file) */
    CS_CHECK(cs_opt_str(o, "segment-results") || ctx->check_segments, CS_EUSAGE,
             "--churn-with-segment needs --segment-results RESULTS (a segment run on this "
             "store)");
    CS_TRY(cs_stage_segments(ctx, &st, cs_opt_str(o, "segment-results")));
    if (spec.features) { /* an explicit list gets the segment too; the default takes it */
      snprintf(with_seg, sizeof with_seg, "%s,segment", spec.features);
      spec.features = with_seg;
    }
  } else if (cs_opt_str(o, "segment-results") && !ctx->in_run) { /* it had been ignored silently */
    cs_log_warn("churn train: --segment-results is ignored without --churn-with-segment");
  }
  spec.fit_row = in_training;
  spec.fit_arg = &co;
  CS_TRY(cs_stage_checked(ctx, &st, &spec));
  cs_timer_start(&ctx->timers, "features");
  CS_TRY(cs_features_build(ctx, st.store, &st.part, &spec, NULL, &f, &m));
  for (int j = 0; j < f->d; j++) /* the coefficients are keyed by name, the intercept too */
    CS_CHECK(strcmp(f->names[j], "intercept") != 0, CS_EDATA,
             "feature 'intercept' has the name of the model's intercept: rename the column or "
             "leave it out with --features");
  /* Every level of a categorical feature is kept (none is a reference): with the intercept
   * they are collinear, which only the penalty resolves. */
  for (int c = 0; c < f->n_cols && !(co.l2 > 0); c++)
    CS_CHECK(!f->cols[c].n_levels, CS_EUSAGE,
             "--l2 0 cannot fit the categorical feature '%s': its one-hot levels (all kept, none "
             "is a reference) add up to the intercept; use --l2 > 0 or leave it out with "
             "--features", f->cols[c].name);
  /* Newton's dense solve is cubic in the features and every rank makes it: a text column of
   * thousands of levels (an id or a free-text field imported as categorical) turns seconds
   * into hours, without a word until now. */
  if (f->d > CS_CHURN_MANY_FEATURES && ctx->rank == 0) {
    const int widest = cs_features_widest(f);
    cs_log_warn("churn: %d features (column '%s' has %d levels): each Newton step solves a "
                "dense system whose time grows as the cube of the features (about 2 s at 1000, "
                "50 s at 3000, half an hour at 10000 on one core); leave such a column out with "
                "--features, or group its levels", f->d, f->cols[widest].name,
                f->cols[widest].n_levels);
  }
  CS_TRY(cs_churn_labels(ctx, st.store, &st.part, &m, label, &co, &data));
  cs_timer_stop(&ctx->timers, "features");
  if (*data.level[1])
    cs_log_info("churn: label '%s': '%s' is churned, '%s' stayed", label, data.level[1],
                data.level[0]);
  for (int h = 0; h < 2; h++) {
    int64_t n0 = data.counts[h][0], n1 = data.counts[h][1];
    char rate[32] = "none labelled";
    if (n0 + n1) snprintf(rate, sizeof rate, "%.4f", (double)n1 / (double)(n0 + n1));
    cs_log_info("churn: %s: %lld labelled (%lld churned, positive rate %s), %lld unknown",
                h ? "holdout" : "training", (long long)(n0 + n1), (long long)n1, rate,
                (long long)data.counts[h][2]);
  }
  /* Said before the model's own checks, naming the store and the label column (and before
   * warn_flat_features, whose spreads mean nothing without labelled customers). */
  const int64_t neg = data.counts[0][0], pos = data.counts[0][1];
  const int64_t held = data.counts[1][0] + data.counts[1][1];
  CS_CHECK(neg + pos > 0 || !held, CS_EDATA,
           "%s: column '%s': every labelled customer (%lld) is in the holdout, none is left to "
           "train on (--holdout, --holdout-column)", st.store->path, label, (long long)held);
  CS_CHECK(neg + pos > 0, CS_EDATA,
           "%s: column '%s' labels no customer (a label is 0 or 1, or one of a categorical "
           "label's two levels; %lld values are neither)", st.store->path, label,
           (long long)(data.counts[0][2] + data.counts[1][2]));
  CS_CHECK(neg > 0 && pos > 0, CS_EDATA,
           "%s: column '%s' has only one class among the %lld labelled training customers "
           "(%lld churned, %lld not): a churn model needs both", st.store->path, label,
           (long long)(neg + pos), (long long)pos, (long long)neg);
  CS_TRY(warn_flat_features(ctx, &m, &data, f));
  cs_timer_start(&ctx->timers, "train");
  CS_TRY(cs_churn_train(ctx, &m, &data, &co, &mod));
  cs_timer_stop(&ctx->timers, "train");
  cs_timer_start(&ctx->timers, "score");
  CS_TRY(score_rows(ctx, &mod, &m, &score));
  CS_TRY(cs_churn_metrics(ctx, score, &data, m.n, 1, &hold));
  CS_TRY(cs_churn_metrics(ctx, score, &data, m.n, 0, &train));
  int64_t cal = 0;
  for (int b = 0; b < CS_CHURN_CAL_BINS; b++) cal += hold.cal_count[b];
  CS_CHECK(cal == hold.n, CS_EVERIFY, "verification: calibration counts add up to %lld, not %lld",
           (long long)cal, (long long)hold.n);
  cs_timer_stop(&ctx->timers, "score");
  cs_log_info("churn: holdout AUC %.4f (error bound %.1e), log-loss %.4f, Brier %.4f, top-decile "
              "lift %.2f", hold.auc, hold.auc_error_bound, hold.logloss, hold.brier, hold.lift[0]);

  cs_timer_start(&ctx->timers, "write");
  CS_TRY(cs_out_create(ctx, cs_opt_str(o, "output"), &out));
  CS_TRY(write_scores(ctx, out, &st.part, &m, score, label, data.level[1]));
  CS_TRY(write_split(ctx, out, &st.part, &m, &data));
  CS_TRY(write_model(out, f, &mod, &co, label, data.level[1], hcol));
  if (cs_opt_bool(o, "churn-with-segment"))
    CS_TRY(keep_segment_centres(ctx, out, cs_opt_str(o, "segment-results")));
  CS_TRY(write_metrics(out, "/churn/metrics/holdout", &hold));
  CS_TRY(write_metrics(out, "/churn/metrics/train", &train));
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  cs_timer_stop(&ctx->timers, "write");

  cJSON *cj = cJSON_AddObjectToObject(sum, "churn");
  cJSON_AddNumberToObject(cj, "iterations", mod.iterations);
  cJSON_AddBoolToObject(cj, "converged", mod.converged);
  cJSON_AddBoolToObject(cj, "separable", mod.separable);
  cJSON_AddNumberToObject(cj, "loss", mod.loss);
  cJSON *coef = cJSON_AddObjectToObject(cj, "coefficients");
  for (int j = 0; j < mod.p; j++) {
    cJSON *e = cJSON_AddObjectToObject(coef, j ? f->names[j - 1] : "intercept");
    cJSON_AddNumberToObject(e, "value", mod.coef[j]);
    cJSON_AddNumberToObject(e, "standard_error", mod.se[j]);
  }
  cJSON_AddItemToObject(cj, "holdout", metrics_json(&hold));
  cJSON_AddItemToObject(cj, "train", metrics_json(&train));
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) cs_io_remove(ctx, cs_opt_str(o, "output"));
  cJSON_Delete(sum);
  cs_free(score);
  cs_churn_model_free(&mod);
  cs_churn_data_free(&data);
  cs_churn_opts_free(&co);
  cs_matrix_free(&m);
  cs_features_free(f);
  cs_stage_close(&st);
  return status;
}

int cs_cmd_churn_score(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cs_stage_t st = {0};
  cs_features_t *fitted = NULL, *f = NULL;
  cs_matrix_t m = {0};
  cs_churn_model_t mod = {0};
  cs_out_t *out = NULL;
  float *score = NULL;
  cJSON *sum = NULL, *drift = NULL;
  char units[16], names[16384];
  int64_t rows = 0, cols = 0;
  const char *model = cs_opt_str(o, "model");
  CS_CHECK(model, CS_EUSAGE, "churn score needs --model RESULTS (a churn train output)");
  CS_TRY(cs_stage_open(ctx, o, &st));
  CS_TRY(cs_features_read(ctx, model, "/churn/model/feature_stats", &fitted));
  for (int j = 0; j < fitted->n_cols; j++)
    if (!strncmp(fitted->cols[j].name, "rfm_", 4)) {
      CS_TRY(cs_stage_rfm(ctx, &st, "rfm_"));
      break;
    }
  /* The segment of --churn-with-segment: a categorical column 'segment' of the stage's levels
   * segment_0, segment_1, ... (a store's own numeric column of that name had been taken for
   * it: "give --segment-results", then "numeric in the model but categorical here"). */
  int uses_segment = 0, has_column = 0;
  for (int j = 0; j < fitted->n_cols; j++) {
    const cs_feature_col_t *c = &fitted->cols[j];
    has_column |= !strcmp(c->name, "segment");
    uses_segment |= !strcmp(c->name, "segment") && c->n_levels > 0 && c->levels &&
                    !strcmp(c->levels[0], "segment_0");
  }
  const int own = cs_store_column(st.store, "segment") != NULL;
  if (cs_opt_str(o, "segment-results") && !ctx->in_run && (!uses_segment || own))
    cs_log_warn("churn score: --segment-results is ignored: %s",
                !has_column ? "the model does not use the segment"
                : own       ? "the segment comes from the store's own column 'segment'"
                            : "the model's 'segment' is an ordinary column of its training store, "
                              "not a segment from results");
  if (uses_segment && !own) {
    CS_CHECK(cs_opt_str(o, "segment-results"), CS_EUSAGE,
             "the model %s uses the customer's segment: give --segment-results RESULTS (a "
             "segment run on %s)", model, st.store->path);
    CS_TRY(check_segment_ids(ctx, model, cs_opt_str(o, "segment-results")));
    CS_TRY(cs_stage_segments(ctx, &st, cs_opt_str(o, "segment-results")));
  }
  CS_TRY(cs_io_read_matrix(ctx, model, "/churn/model/coefficients", &mod.coef, &rows, &cols,
                           units, sizeof units, names, sizeof names));
  CS_CHECK(cols == 1 && rows == fitted->d + 1, CS_EFORMAT,
           "%s: /churn/model/coefficients has %lld values for %d features (%d expected: the "
           "intercept and one per feature)", model, (long long)rows, fitted->d, fitted->d + 1);
  mod.p = (int)rows;
  for (int j = 0; j < mod.p; j++)
    CS_CHECK(isfinite(mod.coef[j]), CS_EFORMAT, "%s: /churn/model/coefficients[%d] is %g (a "
             "damaged or edited model)", model, j, mod.coef[j]);
  /* The coefficients are applied by position: their names must be the model's features. */
  {
    size_t len = strlen("intercept") + 1;
    for (int j = 0; j < fitted->d; j++) len += strlen(fitted->names[j]) + 1;
    char *want = malloc(len);
    CS_CHECK(want, CS_ENOMEM, "out of memory");
    strcpy(want, "intercept");
    for (int j = 0; j < fitted->d; j++) strcat(strcat(want, ","), fitted->names[j]);
    int same = !strncmp(want, names, sizeof names - 1);
    free(want);
    CS_CHECK(same, CS_EFORMAT, "%s: /churn/model/coefficients@features (%.200s) are not "
             "intercept and the features of /churn/model/feature_stats in order (a damaged or "
             "edited model)", model, names);
  }
  /* Every column the model needs must be in the store with the same meaning (checked by
   * the feature pipeline against the stored statistics and categorical levels). */
  cs_feature_spec_t spec = {.scale = fitted->scale, .missing = fitted->missing};
  cs_timer_start(&ctx->timers, "features");
  CS_TRY(cs_features_build(ctx, st.store, &st.part, &spec, fitted, &f, &m));
  cs_timer_stop(&ctx->timers, "features");
  cs_timer_start(&ctx->timers, "score");
  drift = cJSON_CreateObject();
  if (drift) report_drift(ctx, f, drift);
  CS_TRY(score_rows(ctx, &mod, &m, &score));
  cs_timer_stop(&ctx->timers, "score");
  CS_TRY(cs_out_create(ctx, cs_opt_str(o, "output"), &out));
  {
    char lab[CS_NAME_MAX] = "", pos[128] = "";
    CS_TRY(cs_io_read_attr_str(ctx, model, "/churn/model", "label_column", lab, sizeof lab));
    CS_TRY(cs_io_read_attr_str(ctx, model, "/churn/model", "label_positive", pos, sizeof pos));
    CS_TRY(write_scores(ctx, out, &st.part, &m, score, lab, pos));
  }
  CS_TRY(cs_out_attr_str(out, "/churn", "model", model));
  CS_TRY(cs_stage_publish(ctx, o, &st, &out, &sum));
  written = 1;
  cJSON *cj = cJSON_AddObjectToObject(sum, "churn");
  cJSON_AddStringToObject(cj, "model", model);
  cJSON_AddNumberToObject(cj, "customers_scored", (double)f->n_used);
  if (drift && cJSON_GetObjectItem(drift, "drift"))
    cJSON_AddItemToObject(cj, "drift", cJSON_DetachItemFromObject(drift, "drift"));
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (out) cs_out_abort(out);
  if (status < 0 && written) cs_io_remove(ctx, cs_opt_str(o, "output"));
  cJSON_Delete(sum);
  cJSON_Delete(drift);
  cs_free(score);
  free(mod.coef);
  cs_matrix_free(&m);
  cs_features_free(f);
  cs_features_free(fitted);
  cs_stage_close(&st);
  return status;
}
