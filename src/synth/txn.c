/* synth/txn.c: purchase histories drawn from a known BG/NBD + Gamma-Gamma process.
 *
 * Per customer (stream keyed by seed and row, so any decomposition draws the same history):
 * purchase rate lambda ~ Gamma(r, alpha) per week, dropout probability p ~ Beta(a, b),
 * spend rate nu ~ Gamma(q, gamma). The first purchase falls in the cohort window; then
 * purchases follow a Poisson process of rate lambda, and after each repeat purchase the
 * customer drops out with probability p (Fader, Hardie & Lee 2005). Each amount is
 * Gamma(p_gg, nu). A history is simulated once to count it and again to write it, chunk by
 * chunk, so memory stays bounded by the chunk. */
#include "custseg/io.h"
#include "custseg/rng.h"
#include "custseg/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_synth_txn_params(const cs_synth_model_t *m, int k, double par[7]) {
  /* The base: the published CDNOW fits (weeks). */
  static const double base[7] = {0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44};
  memcpy(par, base, sizeof base);
  if (m->opts.txn_uniform) return;
  double f = 0, mon = 0;
  for (int j = 0; j < m->k; j++) {
    f += m->seg[j].weight * m->seg[j].frequency_mean;
    mon += m->seg[j].weight * m->seg[j].monetary_mean;
  }
  /* Frequent segments buy faster (smaller alpha), big spenders spend more (larger gamma,
   * the mean spend being p gamma / (q - 1)). */
  par[1] = base[1] * f / m->seg[k].frequency_mean;
  par[6] = base[6] * m->seg[k].monetary_mean / mon;
}

/* One customer's history: returns the number of transactions, writing them when time is
 * not NULL; truth (lambda, p, nu) when not NULL. */
static int64_t simulate(const cs_synth_model_t *m, const double par[7], int64_t row,
                        double *time, double *amount, double truth[3]) {
  cs_rng_t g;
  cs_rng_init(&g, m->opts.seed, 0x7A1u, (uint64_t)row);
  const double lambda = cs_rng_gamma(&g, par[0]) / par[1] / 7.0; /* per day */
  const double ga = cs_rng_gamma(&g, par[2]), gb = cs_rng_gamma(&g, par[3]);
  const double pdrop = ga / (ga + gb);
  const double nu = cs_rng_gamma(&g, par[5]) / par[6];
  if (truth) {
    truth[0] = lambda * 7.0;
    truth[1] = pdrop;
    truth[2] = nu;
  }
  const double end = CS_SYNTH_TXN_START + CS_SYNTH_TXN_DAYS;
  double t = CS_SYNTH_TXN_START + CS_SYNTH_TXN_COHORT_DAYS * cs_rng_uniform(&g);
  int64_t n = 0;
  for (;;) {
    double z = cs_rng_gamma(&g, par[4]) / nu;
    if (time) {
      time[n] = t;
      amount[n] = round(100.0 * z) / 100.0;
    }
    n++;
    t += -log(cs_rng_uniform(&g)) / lambda;
    if (!(t < end)) break;
    if (n > 1 && cs_rng_uniform(&g) < pdrop) break; /* dropout after a repeat purchase */
  }
  return n;
}

int cs_synth_write_txn(cs_ctx_t *ctx, cs_out_t *out, const cs_synth_model_t *m,
                       const cs_part_t *part) {
  int status = CS_OK;
  double par[CS_SYNTH_MAX_SEGMENTS][7];
  int64_t *count = NULL, *all = NULL;
  double *time = NULL, *amount = NULL, *truth = NULL;
  int64_t *tid = NULL;
  cs_dset_t *d_off, *d_id, *d_time, *d_amt, *d_truth[3];
  for (int k = 0; k < m->k; k++) cs_synth_txn_params(m, k, par[k]);

  /* Pass 1: this rank's transaction count, then every rank's, for the global offsets. Both
   * passes report progress (a 10^7-customer store had been silent for 19 s of its 31). */
  const int64_t chunk = m->opts.chunk_rows;
  cs_progress_t prog;
  cs_progress_start(&prog, "generate (purchases counted)", part->n_global);
  int64_t local = 0;
  for (int64_t b = 0; b < part->n_local; b += chunk) {
    const int64_t e = b + chunk < part->n_local ? b + chunk : part->n_local;
#pragma omp parallel for schedule(static) reduction(+ : local)
    for (int64_t i = b; i < e; i++) {
      int64_t row = part->offset + i;
      local += simulate(m, par[cs_synth_segment_of(m, row)], row, NULL, NULL, NULL);
    }
    cs_progress_update(&prog, cs_part_rows_upto(part->n_global, ctx->size, e));
  }
  all = malloc((size_t)ctx->size * sizeof *all);
  CS_TRY(cs_par_agree(ctx, all ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                      "out of memory")));
  CS_TRY(cs_par_allgather(ctx, &local, sizeof local, all));
  int64_t base = 0, total = 0;
  for (int r = 0; r < ctx->size; r++) {
    if (r < ctx->rank) base += all[r];
    total += all[r];
  }
  cs_log_info("generate: %lld transactions", (long long)total);
  int64_t buf_rows = chunk < part->n_local ? chunk : part->n_local > 0 ? part->n_local : 1;
  count = cs_alloc(cs_bytes(buf_rows + 1, sizeof *count), "generator chunk");
  truth = cs_alloc(cs_bytes(3 * buf_rows, sizeof *truth), "generator chunk");
  CS_TRY(cs_par_agree(ctx, count && truth ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_out_dataset(out, "/customers/txn_offset", CS_DT_I64, part->n_global + 1, &d_off));
  CS_TRY(cs_out_dataset(out, "/transactions/customer_id", CS_DT_I64, total, &d_id));
  CS_TRY(cs_out_dataset(out, "/transactions/time", CS_DT_F64, total, &d_time));
  CS_TRY(cs_out_dataset(out, "/transactions/amount", CS_DT_F64, total, &d_amt));
  static const char *const tnames[3] = {"/truth/purchase_rate", "/truth/dropout_probability",
                                        "/truth/spend_rate"};
  for (int c = 0; c < 3; c++)
    CS_TRY(cs_out_dataset(out, tnames[c], CS_DT_F64, part->n_global, &d_truth[c]));

  int64_t steps = (part->n_local + chunk - 1) / chunk;
  CS_TRY(cs_par_allreduce(ctx, &steps, 1, CS_DT_I64, CS_OP_MAX));
  int64_t written = 0; /* this rank's transactions so far */
  cs_progress_start(&prog, "generate (purchase histories)", part->n_global);
  for (int64_t step = 0; step < steps; step++) {
    CS_TRY(cs_par_stop_on_signal(ctx, "while generating the purchase histories (nothing was "
                                      "published)"));
    int64_t begin = step * chunk, n = part->n_local - begin;
    n = n < 0 ? 0 : n > chunk ? chunk : n;
    int64_t row0 = part->offset + begin;
    /* The last rank also writes txn_offset[N]. */
    int last = ctx->rank == ctx->size - 1 && begin + n == part->n_local;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
      count[i + 1] = simulate(m, par[cs_synth_segment_of(m, row0 + i)], row0 + i, NULL, NULL,
                              truth + 3 * i);
    count[0] = base + written;
    for (int64_t i = 0; i < n; i++) count[i + 1] += count[i];
    int64_t nt = count[n] - count[0];
    time = cs_alloc(cs_bytes(nt ? nt : 1, sizeof *time), "generator transactions");
    amount = cs_alloc(cs_bytes(nt ? nt : 1, sizeof *amount), "generator transactions");
    tid = cs_alloc(cs_bytes(nt ? nt : 1, sizeof *tid), "generator transactions");
    CS_TRY(cs_par_agree(ctx, time && amount && tid ? CS_OK : CS_ENOMEM));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
      int64_t at = count[i] - count[0], row = row0 + i;
      int64_t k = simulate(m, par[cs_synth_segment_of(m, row)], row, time + at, amount + at,
                           NULL);
      for (int64_t j = 0; j < k; j++) tid[at + j] = m->opts.id_base + row;
    }
    CS_TRY(cs_out_write(d_off, row0, n + last, count));
    CS_TRY(cs_out_write(d_id, base + written, nt, tid));
    CS_TRY(cs_out_write(d_time, base + written, nt, time));
    CS_TRY(cs_out_write(d_amt, base + written, nt, amount));
    for (int c = 0; c < 3; c++) {
      double *col = malloc((size_t)(n ? n : 1) * sizeof *col);
      CS_TRY(cs_par_agree(ctx, col ? CS_OK : CS_ENOMEM));
      for (int64_t i = 0; i < n; i++) col[i] = truth[3 * i + c];
      status = cs_out_write(d_truth[c], row0, n, col);
      free(col);
      CS_TRY(status);
    }
    written += nt;
    cs_progress_update(&prog, cs_part_rows_upto(part->n_global, ctx->size, begin + n));
    cs_free(time);
    cs_free(amount);
    cs_free(tid);
    time = amount = NULL;
    tid = NULL;
  }
  /* The truth a recovery test compares with. */
  static const char *const pn[7] = {"r", "alpha", "a", "b", "p", "q", "gamma"};
  for (int j = 0; j < 7; j++) {
    double v[CS_SYNTH_MAX_SEGMENTS];
    for (int k = 0; k < m->k; k++) v[k] = par[k][j];
    CS_TRY(cs_out_attr_f64(out, "/truth", pn[j], v, m->k));
  }
  CS_TRY(cs_out_attr_str(out, "/truth", "purchase_time_unit", "week"));
  CS_TRY(cs_out_attr_i64(out, "/truth", "purchase_cohort_start_day", CS_SYNTH_TXN_START));
  CS_TRY(cs_out_attr_i64(out, "/truth", "purchase_observed_days", CS_SYNTH_TXN_DAYS));
fail:
  free(all);
  cs_free(count);
  cs_free(truth);
  cs_free(time);
  cs_free(amount);
  cs_free(tid);
  return status;
}
