/* cli/checkpoint.c: k-means checkpoints of `custseg segment` (docs/operations.md).
 *
 * A checkpoint is a small HDF5 file written like every output (temporary name, renamed by
 * rank 0 once complete), so a job killed while writing one leaves the previous checkpoint in
 * place. It holds the fit's state (cs_kmeans_state_t) and what it belongs to: the input's
 * fingerprint and a hash of every option that can change the result. `--resume` refuses a
 * checkpoint of another input or another configuration. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Options that do not change the result: where things go, how many threads, how chatty; and
 * the input's path, since its fingerprint and file identity are checked on their own (a
 * requeued job may name the same store from another directory). */
static const char *const neutral[] = {"output", "summary", "config", "threads", "verbose",
                                      "quiet", "checkpoint", "resume", "checkpoint-every",
                                      "resume-mismatch", "personas-csv", "input"};

/* Every option of the command that can change its result, in the order of the option table:
 * its name and parsed value (so that --tol 0 and --tol 0.0 are one configuration) into the
 * hash, and, when text is not NULL, as "name=value" lines (the value printed exactly). */
static void walk_options(const cs_opts_t *o, XXH3_state_t *h, char *text, size_t len) {
  size_t used = 0;
  if (text && len) text[0] = '\0';
  for (int i = 0; i < cs_n_optdefs; i++) {
    const cs_optdef_t *d = &cs_optdefs[i];
    if (!cs_opts_applies(o->command, d)) continue;
    int skip = 0;
    for (size_t j = 0; j < sizeof neutral / sizeof *neutral; j++) skip |= !strcmp(d->name, neutral[j]);
    if (skip) continue;
    XXH3_64bits_update(h, d->name, strlen(d->name) + 1);
    char shown[64];
    const char *v = shown;
    if (!o->value[i] || d->type == CS_OPT_STR) {
      v = o->value[i] ? o->value[i] : "";
      XXH3_64bits_update(h, v, strlen(v) + 1);
    } else if (d->type == CS_OPT_REAL) {
      double x = cs_opt_real(o, d->name);
      x = x == 0 ? 0 : x; /* -0 as 0 */
      XXH3_64bits_update(h, &x, sizeof x);
      for (int prec = 6; prec <= 17; prec++) { /* the fewest digits that read back */
        snprintf(shown, sizeof shown, "%.*g", prec, x);
        if (strtod(shown, NULL) == x) break;
      }
    } else {
      int64_t x = d->type == CS_OPT_INT ? cs_opt_int(o, d->name) : cs_opt_bool(o, d->name);
      XXH3_64bits_update(h, &x, sizeof x);
      snprintf(shown, sizeof shown, "%" PRId64, x);
    }
    if (text && used + strlen(d->name) + 2 < len) { /* one line per option: a newline or a
                                                       * backslash in a value is escaped */
      used += (size_t)snprintf(text + used, len - used, "%s=", d->name);
      for (const char *c = v; *c && used + 3 < len; c++) {
        if (*c == '\n' || *c == '\\') text[used++] = '\\';
        text[used++] = *c == '\n' ? 'n' : *c;
      }
      if (used + 1 < len) text[used++] = '\n';
      text[used] = '\0';
    }
  }
}

void cs_ckpt_config_hash(const cs_opts_t *o, char out[17]) {
  XXH3_state_t *h = XXH3_createState();
  XXH3_64bits_reset(h);
  walk_options(o, h, NULL, 0);
  snprintf(out, 17, "%016" PRIx64, (uint64_t)XXH3_64bits_digest(h));
  XXH3_freeState(h);
}

int cs_ckpt_inputs(cs_ctx_t *ctx, cs_ckpt_t *ck) {
  size_t used = 0;
  ck->inputs[0] = '\0';
  const char *name;
  char file[4200], id[64];
  for (int i = 0; ctx->rank == 0; i++) {
    const int given = cs_opts_read_file(ck->opts, i, &name, file, sizeof file);
    if (given < 0) break;
    if (!given || !strcmp(name, "input") || !strcmp(name, "config") || !strcmp(name, "resume"))
      continue;
    cs_file_ident(file, id, sizeof id);
    if (used < sizeof ck->inputs)
      used += (size_t)snprintf(ck->inputs + used, sizeof ck->inputs - used, "%s%s: %s",
                               used ? "; " : "", name, id[0] ? id : "absent");
  }
  return cs_par_bcast(ctx, ck->inputs, sizeof ck->inputs, 0);
}

/* The options as "name=value" lines (walk_options), in buf. */
static void config_text(const cs_opts_t *o, char *buf, size_t len) {
  XXH3_state_t *h = XXH3_createState();
  XXH3_64bits_reset(h);
  walk_options(o, h, buf, len);
  XXH3_freeState(h);
}

/* The options whose values differ between two config texts, as "--name A there, B here"
 * (at most 4 of them), in out; "" when none is found. */
static void config_diff(const char *was, const char *now, char *out, size_t len) {
  size_t used = 0;
  int n = 0;
  out[0] = '\0';
  for (const char *p = was; *p;) {
    const char *eol = strchr(p, '\n'), *eq = strchr(p, '=');
    if (!eol) eol = p + strlen(p);
    if (eq && eq < eol) {
      /* the same name in the current text */
      const int nl = (int)(eq - p), vl = (int)(eol - eq - 1);
      const char *q = now, *hit = NULL;
      while (q && *q && !hit) {
        if (!strncmp(q, p, (size_t)nl + 1) && (q == now || q[-1] == '\n')) hit = q + nl + 1;
        q = strchr(q, '\n');
        if (q) q++;
      }
      const int hl = hit ? (int)strcspn(hit, "\n") : 0;
      if (!hit || hl != vl || strncmp(hit, eq + 1, (size_t)vl)) {
        if (n == 4 && used < len) /* more than four: say so */
          used += (size_t)snprintf(out + used, len - used, "; ...");
        else if (n < 4 && used < len)
          used += (size_t)snprintf(out + used, len - used, "%s--%.*s '%.*s' there, '%.*s' here",
                                   n ? "; " : "", nl, p, vl, eq + 1, hl, hit ? hit : "");
        n++;
      }
    }
    p = *eol ? eol + 1 : eol;
  }
}

/* The scalars of the state, as float64 (all are integers below 2^53, or the inertia). */
enum { S_K, S_D, S_RESTART, S_ITERATION, S_RELOC, S_BEST, S_BEST_INERTIA, S_BEST_IT,
       S_BEST_CONV, S_BEST_RELOC, S_N };

int cs_ckpt_write(cs_ctx_t *ctx, const cs_ckpt_t *ck, const cs_kmeans_state_t *s) {
  int status = CS_OK;
  cs_out_t *out = NULL;
  double v[S_N] = {s->k, s->d, s->restart, s->iteration, (double)s->relocations, s->best_restart,
                   s->best_inertia, s->best_iterations, s->best_converged,
                   (double)s->best_relocations};
  CS_TRY(cs_out_create_image(ctx, ck->path, &out));
  CS_TRY(cs_out_group(out, "/checkpoint"));
  CS_TRY(cs_out_attr_str(out, "/checkpoint", "stage", "segment"));
  CS_TRY(cs_out_attr_str(out, "/checkpoint", "input_fingerprint", ck->fingerprint));
  CS_TRY(cs_out_attr_str(out, "/checkpoint", "input_file", ck->file_ident));
  CS_TRY(cs_out_attr_str(out, "/checkpoint", "input_files_other", ck->inputs));
  CS_TRY(cs_out_attr_str(out, "/checkpoint", "config_hash", ck->config_hash));
  if (ck->opts) { /* the options themselves: a refusal to resume can name what differs */
    char text[65536];
    config_text(ck->opts, text, sizeof text);
    CS_TRY(cs_out_attr_str(out, "/checkpoint", "config", text));
  }
  /* Version 2: a restart stored before its first iteration (iteration 0, seeded again on
   * resume), which a build reading only version 1 would have resumed from zero centroids. */
  CS_TRY(cs_out_attr_i64(out, "/checkpoint", "format_version", s->iteration == 0 ? 2 : 1));
  CS_TRY(cs_out_small(out, "/checkpoint/state", CS_DT_F64, S_N, 0, v));
  CS_TRY(cs_out_small(out, "/checkpoint/centroids", CS_DT_F64, s->k, s->d, s->centroids));
  CS_TRY(cs_out_small(out, "/checkpoint/trace", CS_DT_F64, s->iteration, 0, s->trace));
  if (s->best_restart >= 0) {
    CS_TRY(cs_out_small(out, "/checkpoint/best_centroids", CS_DT_F64, s->k, s->d, s->best_centroids));
    CS_TRY(cs_out_small(out, "/checkpoint/best_trace", CS_DT_F64, s->best_iterations, 0, s->best_trace));
  }
  status = cs_out_commit(out); /* frees the writer, also on failure */
  out = NULL;
  CS_TRY(status);
  cs_log_info("checkpoint: restart %d, iteration %d written to %s", s->restart + 1, s->iteration,
              ck->path);
fail:
  if (out) cs_out_abort(out);
  return status;
}

/* One float64 dataset of the checkpoint with the expected shape. Collective. */
static int read_block(cs_ctx_t *ctx, const char *path, const char *ds, int64_t rows, int64_t cols,
                      double **data) {
  int status = CS_OK;
  int64_t r = 0, c = 0;
  char units[32], features[16];
  CS_TRY(cs_io_read_matrix(ctx, path, ds, data, &r, &c, units, sizeof units, features,
                           sizeof features));
  CS_CHECK(r == rows && (cols == 0 ? c <= 1 : c == cols), CS_EFORMAT,
           "%s: %s is %lld x %lld, expected %lld x %lld: not a checkpoint of this run", path, ds,
           (long long)r, (long long)c, (long long)rows, (long long)(cols ? cols : 1));
fail:
  return status;
}

/* Every value finite. */
static int all_finite(const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

int cs_ckpt_read(cs_ctx_t *ctx, const cs_ckpt_t *ck, int k, int d, int n_init, int max_iter,
                 cs_kmeans_state_t *s) {
  int status = CS_OK;
  char stage[32] = "", fp[64] = "", hash[64] = "";
  double *v = NULL;
  cs_io_attrs_t at = {0};
  memset(s, 0, sizeof *s);
  CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "stage", stage, sizeof stage));
  CS_CHECK(!strcmp(stage, "segment"), CS_EFORMAT, "%s: a checkpoint of '%s', not of segment",
           ck->path, stage);
  CS_TRY(cs_io_read_attrs(ctx, ck->path, "/checkpoint", &at));
  const char *fv = cs_io_attr(&at, "format_version");
  CS_CHECK(fv && (!strcmp(fv, "1") || !strcmp(fv, "2")), CS_EFORMAT,
           "%s: checkpoint format_version %s; this build reads versions 1 and 2", ck->path,
           fv ? fv : "(absent)");
  CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "input_fingerprint", fp, sizeof fp));
  CS_CHECK(!strcmp(fp, ck->fingerprint), CS_EUSAGE,
           "%s: checkpoint of another input (fingerprint %s; this input has %s)", ck->path, fp,
           ck->fingerprint);
  /* The same customers in a store file changed since: the values may differ, and resuming
   * would mix centroids of the old values with the new ones. (Absent in older checkpoints.) */
  char was[64] = "";
  CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "input_file", was, sizeof was));
  CS_CHECK(!was[0] || !ck->file_ident[0] || !strcmp(was, ck->file_ident), CS_EUSAGE,
           "%s: checkpoint of the store as it was before its last change (%s; now %s): run "
           "again without --resume", ck->path, was, ck->file_ident);
  /* The same for the other files the fit reads: a warm start from a --previous file replaced
   * since under the same path had resumed, and ended with other labels than a run from the
   * start (iterations from the old centroids, migration against the new file). */
  char other[512] = "";
  CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "input_files_other", other,
                             sizeof other));
  CS_CHECK(!other[0] || !strcmp(other, ck->inputs), CS_EUSAGE,
           "%s: checkpoint of a fit that read other versions of its files (%s; now %s): run "
           "again without --resume", ck->path, other, ck->inputs[0] ? ck->inputs : "none");
  CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "config_hash", hash, sizeof hash));
  if (strcmp(hash, ck->config_hash)) {
    /* Name the options that differ when the checkpoint recorded them (newer ones do). */
    static char rec[65536], now[65536];
    char diff[1024] = "";
    rec[0] = now[0] = '\0';
    CS_TRY(cs_io_read_attr_str(ctx, ck->path, "/checkpoint", "config", rec, sizeof rec));
    if (rec[0] && ck->opts) {
      config_text(ck->opts, now, sizeof now);
      config_diff(rec, now, diff, sizeof diff);
    }
    CS_FAIL(CS_EUSAGE,
            "%s: checkpoint of another configuration (%s%s; this run's options hash is %s): "
            "resume with the same options as the interrupted run", ck->path,
            diff[0] ? diff : "options hash ", diff[0] ? "" : hash, ck->config_hash);
  }
  CS_TRY(read_block(ctx, ck->path, "/checkpoint/state", S_N, 0, &v));
  CS_CHECK((int)v[S_K] == k && (int)v[S_D] == d, CS_EUSAGE,
           "%s: checkpoint of K = %d x %d features; this run has K = %d x %d", ck->path,
           (int)v[S_K], (int)v[S_D], k, d);
  s->k = k;
  s->d = d;
  s->restart = (int)v[S_RESTART];
  s->iteration = (int)v[S_ITERATION];
  s->relocations = (int64_t)v[S_RELOC];
  s->best_restart = (int)v[S_BEST];
  s->best_inertia = v[S_BEST_INERTIA];
  s->best_iterations = (int)v[S_BEST_IT];
  s->best_converged = (int)v[S_BEST_CONV];
  s->best_relocations = (int64_t)v[S_BEST_RELOC];
  /* A damaged or edited checkpoint must not steer the fit: every count within this run's
   * options (a restart beyond --n-init crashed, a negative one gave other results). */
  /* Version 2 is exactly the checkpoints taken before a restart's first iteration. */
  const int v2 = !strcmp(fv, "2");
  CS_CHECK(all_finite(v, S_N) && s->restart >= 0 && s->restart < n_init && s->iteration >= 0 &&
               (s->iteration == 0) == v2 && (!v2 || s->best_restart >= 0) &&
               s->iteration <= max_iter && s->best_restart >= -1 &&
               s->best_restart < s->restart && s->relocations >= 0 &&
               (s->best_restart < 0 || (s->best_iterations >= 0 && s->best_iterations <= max_iter &&
                                        s->best_relocations >= 0)),
           CS_EFORMAT,
           "%s: a damaged checkpoint (restart %d, iteration %d, best restart %d, best iterations "
           "%d; this run has --n-init %d, --max-iter %d)", ck->path, s->restart, s->iteration,
           s->best_restart, s->best_iterations, n_init, max_iter);
  CS_TRY(read_block(ctx, ck->path, "/checkpoint/centroids", k, d, &s->centroids));
  CS_CHECK(all_finite(s->centroids, (int64_t)k * d), CS_EFORMAT,
           "%s: a damaged checkpoint (a centroid that is not a finite number)", ck->path);
  CS_TRY(read_block(ctx, ck->path, "/checkpoint/trace", s->iteration, 0, &s->trace));
  if (s->best_restart >= 0) {
    CS_TRY(read_block(ctx, ck->path, "/checkpoint/best_centroids", k, d, &s->best_centroids));
    CS_CHECK(all_finite(s->best_centroids, (int64_t)k * d), CS_EFORMAT,
             "%s: a damaged checkpoint (a best centroid that is not a finite number)", ck->path);
    CS_TRY(read_block(ctx, ck->path, "/checkpoint/best_trace", s->best_iterations, 0, &s->best_trace));
  }
  cs_log_info("resume: %s: restart %d, after iteration %d", ck->path, s->restart + 1, s->iteration);
fail:
  free(v);
  cs_io_free_attrs(&at);
  if (status < 0) cs_ckpt_state_free(s);
  return status;
}

void cs_ckpt_state_free(cs_kmeans_state_t *s) {
  free(s->centroids);
  free(s->trace);
  free(s->best_centroids);
  free(s->best_trace);
  memset(s, 0, sizeof *s);
}

int cs_ckpt_callback(void *arg, const cs_kmeans_state_t *s) {
  const cs_ckpt_t *ck = arg;
  int status = cs_ckpt_write(ck->ctx, ck, s);
  return status == CS_OK && ck->written ? ck->written(ck->ctx) : status;
}
