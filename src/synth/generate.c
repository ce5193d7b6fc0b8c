/* synth/generate.c: writing a synthetic store in parallel.
 *
 * Each rank generates its contiguous block of rows in chunks (OpenMP over rows) and writes
 * each chunk of every column (cs_out_write: its own rows, outcome agreed across ranks). All
 * ranks take the same number of chunk steps (ranks that run out of rows write empty
 * selections), so memory per rank is bounded by the chunk size whatever N is. */
#include "custseg/io.h"
#include "custseg/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int write_metadata(cs_out_t *out, const cs_synth_model_t *m) {
  int status = CS_OK;
  const cs_synth_opts_t *o = &m->opts;
  CS_TRY(cs_out_attr_i64(out, "/customers", "schema_version", 1));
  CS_TRY(cs_out_attr_str(out, "/customers", "generator", "custseg generate"));
  CS_TRY(cs_out_attr_i64(out, "/customers", "seed", (int64_t)o->seed));
  CS_TRY(cs_out_attr_strings(out, "/customers/region", "categories", cs_synth_region_names,
                             CS_SYNTH_REGIONS));
  for (int c = 0; c < CS_SC_N; c++)
    CS_TRY(cs_out_attr_str(out, cs_synth_columns[c].path, "units", cs_synth_columns[c].unit));

  /* The truth a test scores recovery against. */
  const char *names[CS_SYNTH_MAX_SEGMENTS];
  double buf[CS_SYNTH_MAX_SEGMENTS];
  for (int k = 0; k < m->k; k++) names[k] = m->seg[k].name;
  CS_TRY(cs_out_attr_i64(out, "/truth", "segments", m->k));
  CS_TRY(cs_out_attr_strings(out, "/truth", "segment_names", names, m->k));
  for (int k = 0; k < m->k; k++) buf[k] = m->seg[k].weight;
  CS_TRY(cs_out_attr_f64(out, "/truth", "segment_weights", buf, m->k));
  for (int k = 0; k < m->k; k++) buf[k] = m->seg[k].conv_base;
  CS_TRY(cs_out_attr_f64(out, "/truth", "conversion_base", buf, m->k));
  for (int k = 0; k < m->k; k++) buf[k] = m->seg[k].conv_uplift;
  CS_TRY(cs_out_attr_f64(out, "/truth", "conversion_uplift", buf, m->k));
  CS_TRY(cs_out_attr_f64(out, "/truth", "churn_intercept", &m->churn_intercept, 1));
  CS_TRY(cs_out_attr_f64(out, "/truth", "churn_coefficients", m->churn_coef,
                         CS_SYNTH_CHURN_TERMS));
  const char *feat[CS_SYNTH_CHURN_TERMS];
  for (int j = 0; j < CS_SYNTH_CHURN_TERMS; j++)
    feat[j] = strrchr(cs_synth_columns[m->churn_col[j]].path, '/') + 1;
  CS_TRY(cs_out_attr_strings(out, "/truth", "churn_features", feat, CS_SYNTH_CHURN_TERMS));
fail:
  return status;
}

int cs_synth_generate(cs_ctx_t *ctx, const cs_synth_opts_t *opts, const char *output) {
  int status = CS_OK;
  cs_synth_model_t *m = NULL;
  cs_out_t *out = NULL;
  cs_dset_t *ds[CS_SC_N] = {0};
  void *col[CS_SC_N] = {0};
  double *vals = NULL;
  cs_part_t part;

  m = malloc(sizeof *m);
  int local = m ? cs_synth_model_init(opts, m)
                : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  CS_TRY(cs_par_agree(ctx, local));
  CS_TRY(cs_par_partition(ctx, opts->customers, &part));
  /* Every rank steps through chunks of the same size; buffers need only the local rows. */
  int64_t chunk = opts->chunk_rows;
  int64_t buf_rows = chunk < part.n_local ? chunk : part.n_local > 0 ? part.n_local : 1;
  local = CS_OK;
  for (int c = 0; c < CS_SC_N && local == CS_OK; c++) {
    col[c] = cs_alloc(cs_bytes(buf_rows, cs_dtype_size(cs_synth_columns[c].type)),
                      "generator chunk");
    if (!col[c]) local = CS_ENOMEM;
  }
  if (local == CS_OK) {
    vals = cs_alloc(cs_bytes(buf_rows * CS_SC_N, sizeof *vals), "generator rows");
    if (!vals) local = CS_ENOMEM;
  }
  CS_TRY(cs_par_agree(ctx, local));

  /* The customers' columns (the purchase histories come on top), checked before writing. */
  int64_t row_bytes = 0;
  for (int c = 0; c < CS_SC_N; c++) row_bytes += (int64_t)cs_dtype_size(cs_synth_columns[c].type);
  CS_TRY(cs_io_check_space(ctx, output, ((int64_t)1 << 20) + opts->customers * row_bytes, "output"));
  CS_TRY(cs_out_create(ctx, output, &out));
  for (int c = 0; c < CS_SC_N; c++)
    CS_TRY(cs_out_dataset(out, cs_synth_columns[c].path, cs_synth_columns[c].type,
                          opts->customers, &ds[c]));
  CS_TRY(write_metadata(out, m));

  int64_t steps = (part.n_local + chunk - 1) / chunk;
  CS_TRY(cs_par_allreduce(ctx, &steps, 1, CS_DT_I64, CS_OP_MAX));
  cs_progress_t prog;
  cs_progress_start(&prog, "generate (rows)", opts->customers);
  cs_log_info("generate: %lld customers, %d segments, seed %llu, %d ranks x %d threads, "
              "%lld rows per chunk", (long long)opts->customers, m->k,
              (unsigned long long)opts->seed, ctx->size, ctx->threads, (long long)chunk);
  for (int64_t step = 0; step < steps; step++) {
    CS_TRY(cs_par_stop_on_signal(ctx, "while generating the customers (nothing was published)"));
    int64_t begin = step * chunk;
    int64_t n = part.n_local - begin;
    n = n < 0 ? 0 : n > chunk ? chunk : n;
    int64_t row0 = part.offset + begin;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
      double *v = vals + i * CS_SC_N;
      cs_synth_row(m, row0 + i, v);
      for (int c = 0; c < CS_SC_N; c++) cs_dtype_put(cs_synth_columns[c].type, col[c], i, v[c]);
    }
    for (int c = 0; c < CS_SC_N; c++) CS_TRY(cs_out_write(ds[c], row0, n, col[c]));
    cs_progress_update(&prog, cs_part_rows_upto(opts->customers, ctx->size, (step + 1) * chunk));
  }
  if (opts->transactions) CS_TRY(cs_synth_write_txn(ctx, out, m, &part));
  cs_out_t *done = out;
  out = NULL; /* cs_out_commit frees it, on failure too */
  CS_TRY(cs_out_commit(done));
  cs_log_info("generate: wrote %s", output);
fail:
  if (out) cs_out_abort(out);
  for (int c = 0; c < CS_SC_N; c++) cs_free(col[c]);
  cs_free(vals);
  free(m);
  return status;
}
