/* inspect/inspect.c: column statistics, id checks and the input fingerprint.
 *
 * Duplicate ids are found without gathering N ids anywhere: each rank sends (id, row) to the
 * rank that owns hash(id), which sorts what it receives and scans neighbours. The fingerprint
 * is a wrapping sum of per-row hashes, so it does not depend on how rows were split. */
#include "custseg/inspect.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Per column: the values reduced locally (R) and those summed across ranks (S, from index 2).
 * The mean's sum is exact (cs_xsum_t), so it is the same on any ranks and threads. */
enum { R = 6, S = 4 };

int cs_inspect_columns(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part,
                       const char *const *names, int n, int64_t chunk_rows,
                       cs_colstats_t *stats) {
  int status = CS_OK;
  double *buf = NULL;
  double *red = NULL, *mean = NULL;
  cs_xsum_t *xs = NULL; /* one per thread, and the column's in xs[threads] */
  const int nt = omp_get_max_threads();
  int64_t rows = chunk_rows < part->n_local ? chunk_rows : part->n_local;
  int64_t steps = (part->n_local + chunk_rows - 1) / chunk_rows;
  buf = cs_alloc(cs_bytes(rows > 0 ? rows : 1, sizeof *buf), "inspect buffer");
  red = cs_alloc(cs_bytes(R * (int64_t)n, sizeof *red), "inspect reductions");
  mean = cs_alloc(cs_bytes(n > 0 ? n : 1, sizeof *mean), "inspect means");
  xs = cs_alloc(cs_bytes(nt + 1, sizeof *xs), "inspect sums");
  CS_TRY(cs_par_agree(ctx, buf && red && mean && xs ? CS_OK : CS_ENOMEM));
  CS_TRY(cs_par_allreduce(ctx, &steps, 1, CS_DT_I64, CS_OP_MAX));
  cs_progress_t prog;
  cs_progress_start(&prog, "inspect (column values)", (int64_t)n * part->n_global);
  for (int c = 0; c < n; c++) {
    cs_colstats_t *s = &stats[c];
    memset(s, 0, sizeof *s);
    s->col = cs_store_column(store, names[c]);
    /* The exact sum also keeps the mean of values near the largest double finite (a plain sum
     * had given inf). */
    double mn = INFINITY, mx = -INFINITY;
    memset(xs, 0, (size_t)(nt + 1) * sizeof *xs);
    int64_t fin = 0, nan_n = 0, inf_n = 0, bad = 0;
    int ncat = s->col ? s->col->n_categories : 0;
    /* txn_offset holds N+1 values: one more step reads the last on the last rank. */
    int64_t last = steps + (strcmp(names[c], "txn_offset") == 0);
    for (int64_t step = 0; step < last; step++) {
      int64_t off = step * chunk_rows;
      int64_t cnt = part->n_local - off;
      cnt = cnt < 0 ? 0 : cnt > chunk_rows ? chunk_rows : cnt;
      if (step < steps) {
        CS_TRY(cs_store_read(store, names[c], part->offset + off, cnt, CS_DT_F64, buf));
      } else {
        cnt = ctx->rank == ctx->size - 1;
        CS_TRY(cs_store_read(store, names[c], part->n_global, cnt, CS_DT_F64, buf));
      }
#pragma omp parallel reduction(min : mn) reduction(max : mx) reduction(+ : fin, nan_n, inf_n, bad)
      {
        cs_xsum_t *mine = &xs[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int64_t i = 0; i < cnt; i++) {
          double x = buf[i];
          if (isnan(x)) {
            nan_n++;
          } else if (isinf(x)) {
            inf_n++;
          } else {
            fin++;
            cs_xsum_add(mine, x);
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            if (ncat && (x < 0 || x >= ncat)) bad++;
          }
        }
      }
      if (step < steps)
        cs_progress_update(&prog, (int64_t)c * part->n_global +
                                      cs_part_rows_upto(part->n_global, ctx->size, off + cnt));
    }
    red[R * c + 0] = -mn;
    red[R * c + 1] = mx;
    red[R * c + 2] = (double)fin;
    red[R * c + 3] = (double)nan_n;
    red[R * c + 4] = (double)inf_n;
    red[R * c + 5] = (double)bad;
    cs_xsum_t *col = &xs[nt];
    for (int t = 0; t < nt; t++)
      for (int e = 0; e < CS_XSUM_BINS; e++) col->bin[e] += xs[t].bin[e];
    CS_TRY(cs_par_sum_i128_n(ctx, col->bin, CS_XSUM_BINS));
    int64_t n_fin = fin;
    CS_TRY(cs_par_allreduce(ctx, &n_fin, 1, CS_DT_I64, CS_OP_SUM));
    mean[c] = n_fin ? cs_xsum_mean(col, n_fin) : NAN;
  }
  /* Two packed reductions for all columns: max (of -min and max) and sum (the rest). */
  {
    double *mxv = cs_alloc(cs_bytes(2 * (int64_t)n, sizeof *mxv), "inspect");
    double *smv = cs_alloc(cs_bytes(S * (int64_t)n, sizeof *smv), "inspect");
    int ok = mxv && smv ? CS_OK : CS_ENOMEM;
    status = cs_par_agree(ctx, ok);
    if (status == CS_OK) {
      for (int c = 0; c < n; c++) {
        mxv[2 * c] = red[R * c];
        mxv[2 * c + 1] = red[R * c + 1];
        for (int j = 0; j < S; j++) smv[S * c + j] = red[R * c + 2 + j];
      }
      status = cs_par_allreduce(ctx, mxv, 2 * (int64_t)n, CS_DT_F64, CS_OP_MAX);
      if (status == CS_OK) status = cs_par_allreduce(ctx, smv, S * (int64_t)n, CS_DT_F64, CS_OP_SUM);
      for (int c = 0; status == CS_OK && c < n; c++) {
        cs_colstats_t *s = &stats[c];
        const double *v = smv + S * c;
        s->finite = (int64_t)v[0];
        s->missing = (int64_t)v[1];
        s->infinite = (int64_t)v[2];
        s->bad_codes = (int64_t)v[3];
        /* + 0.0 turns -0 into 0: which zero wins a max depends on the order of the ranks */
        s->min = s->finite ? -mxv[2 * c] + 0.0 : NAN;
        s->max = s->finite ? mxv[2 * c + 1] + 0.0 : NAN;
        s->mean = s->finite ? mean[c] : NAN;
      }
    }
    cs_free(mxv);
    cs_free(smv);
  }
fail:
  cs_free(buf);
  cs_free(red);
  cs_free(mean);
  cs_free(xs);
  return status;
}

typedef struct idrow {
  int64_t id, row;
} idrow_t;

static int cmp_idrow(const void *a, const void *b) {
  const idrow_t *x = a, *y = b;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

static uint64_t layout_hash(const cs_store_t *s) {
  XXH3_state_t *st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, &s->n, sizeof s->n);
  for (int i = 0; i < s->n_columns; i++) {
    XXH3_64bits_update(st, s->columns[i].name, strlen(s->columns[i].name) + 1);
    XXH3_64bits_update(st, s->columns[i].type_desc, strlen(s->columns[i].type_desc) + 1);
  }
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

int cs_inspect_ids(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, cs_ids_report_t *r) {
  int status = CS_OK;
  int64_t nl = part->n_local, *ids = NULL, *counts = NULL, n_recv = 0;
  idrow_t *send = NULL, *recv = NULL;
  int64_t *pos = NULL;
  memset(r, 0, sizeof *r);
  ids = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *ids), "customer ids");
  send = cs_alloc(cs_bytes(nl ? nl : 1, sizeof *send), "id exchange");
  counts = cs_calloc(cs_bytes(2 * (int64_t)ctx->size, sizeof *counts), "id exchange counts");
  CS_TRY(cs_par_agree(ctx, ids && send && counts ? CS_OK : CS_ENOMEM));
  pos = counts + ctx->size;
  CS_TRY(cs_store_read(store, "customer_id", part->offset, nl, CS_DT_I64, ids));

  uint64_t fp = 0;
  for (int64_t i = 0; i < nl; i++) {
    int64_t pair[2] = {part->offset + i, ids[i]};
    fp += XXH3_64bits(pair, sizeof pair);
    counts[XXH3_64bits(&ids[i], sizeof ids[i]) % (uint64_t)ctx->size]++;
  }
  for (int q = 1; q < ctx->size; q++) pos[q] = pos[q - 1] + counts[q - 1];
  for (int64_t i = 0; i < nl; i++) {
    int owner = (int)(XXH3_64bits(&ids[i], sizeof ids[i]) % (uint64_t)ctx->size);
    send[pos[owner]++] = (idrow_t){ids[i], part->offset + i};
  }
  cs_free(ids);
  ids = NULL;
  CS_TRY(cs_par_exchange(ctx, send, counts, sizeof *send, (void **)&recv, &n_recv));
  cs_free(send);
  send = NULL;
  qsort(recv, (size_t)n_recv, sizeof *recv, cmp_idrow);
  int64_t dups = 0, ex[3] = {INT64_MAX, -1, -1};
  for (int64_t i = 1; i < n_recv; i++) {
    if (recv[i].id != recv[i - 1].id) continue;
    if (i == 1 || recv[i - 2].id != recv[i].id) {
      dups++;
      if (ex[1] < 0 || recv[i].id < ex[0]) { /* INT64_MAX is an id too */
        ex[0] = recv[i].id;
        ex[1] = recv[i - 1].row;
        ex[2] = recv[i].row;
      }
    }
  }
  /* One small table: every rank's (count, example), reduced in rank order. */
  int64_t mine[4] = {dups, ex[0], ex[1], ex[2]};
  int64_t *all = cs_alloc(cs_bytes(4 * (int64_t)ctx->size, sizeof *all), "id report");
  CS_TRY(cs_par_agree(ctx, all ? CS_OK : CS_ENOMEM));
  status = cs_par_allgather(ctx, mine, sizeof mine, all);
  if (status == CS_OK) {
    r->example_id = INT64_MAX;
    r->example_rows[0] = -1;
    for (int q = 0; q < ctx->size; q++) {
      r->duplicates += all[4 * q];
      if (all[4 * q] && (r->example_rows[0] < 0 || all[4 * q + 1] < r->example_id)) {
        r->example_id = all[4 * q + 1];
        r->example_rows[0] = all[4 * q + 2];
        r->example_rows[1] = all[4 * q + 3];
      }
    }
  }
  cs_free(all);
  CS_TRY(status);
  CS_TRY(cs_par_allreduce(ctx, &fp, 1, CS_DT_U64, CS_OP_SUM));
  r->fingerprint = fp ^ layout_hash(store);
fail:
  cs_free(ids);
  cs_free(send);
  cs_free(recv);
  cs_free(counts);
  return status;
}
