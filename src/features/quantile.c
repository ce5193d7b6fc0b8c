/* features/quantile.c: exact distributed order statistics by radix selection.
 * Trade-off: eight rounds on the bytes of the doubles (as order-preserving 64-bit keys), most
 * significant first, each one packed reduction of 256-bin histograms, instead of a
 * distributed sort or a sketch: the answer is exact and the same for any decomposition, which
 * a sketch's is not. Each rank first groups its keys by cell (group x column; a counting
 * sort, one 64-bit key per value); a round counts, per statistic, the next byte of the cell's
 * keys that share the bytes chosen so far, and then drops the keys no statistic of the cell
 * can still be, so later rounds touch few keys. The work is split into chunks of cells, each
 * filtered in place, so threads share even one big cell. Many statistics (every quantile of a
 * column, the medians of every segment of a persona column) select together in the same eight
 * reductions. */
#include "quantile.h"

#include "custseg/features.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Doubles mapped to unsigned keys in the same order (-0.0 just below +0.0; NaN never
 * reaches here). */
static uint64_t key_of(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return (u >> 63) ? ~u : u | (UINT64_C(1) << 63);
}
static double value_of(uint64_t k) {
  uint64_t u = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
  double x;
  memcpy(&x, &u, sizeof x);
  return x;
}

enum { BINS = 256, ROUNDS = 8, CHUNK = 1 << 12 };

/* A chunk of one cell's keys: the candidates still in play are keys[b, b + len). */
typedef struct chunk {
  int64_t cell, b, len;
} chunk_t;

typedef struct sel {
  int nr;
  uint64_t *keys;
  uint64_t *prefix; /* per slot: the bytes chosen so far */
  int64_t *left;    /* per slot: the rank still wanted among the keys with that prefix; < 0: none */
  int64_t *alias;   /* per slot: the first live slot of the cell with the same prefix */
} sel_t;

/* Round r's counts of one chunk into hist (slots x BINS): byte r of each key, for the slot
 * whose prefix (bytes 0..r-1) the key carries; live slots sharing a prefix count once, at
 * their alias. From round 1 on, the keys that carry no live slot's prefix are dropped as the
 * chunk is counted (compacted in place). */
static void count_chunk(const sel_t *q, chunk_t *ch, int r, int64_t *hist) {
  const int shift = 56 - 8 * r;
  uint64_t *k = q->keys + ch->b;
  const int64_t s0 = ch->cell * q->nr;
  int64_t first = -1, np = 0; /* the first live alias and the number of them */
  for (int64_t s = s0; s < s0 + q->nr; s++)
    if (q->left[s] >= 0 && q->alias[s] == s) {
      if (first < 0) first = s;
      np++;
    }
  if (np == 0) { /* every statistic of the cell is settled */
    ch->len = 0;
    return;
  }
  if (r == 0) { /* every live slot has the empty prefix: one histogram of the first bytes */
    int64_t *h = hist + first * BINS;
    for (int64_t e = 0; e < ch->len; e++) h[k[e] >> 56]++;
    return;
  }
  int64_t m = 0;
  if (np == 1) {
    const uint64_t p = q->prefix[first];
    int64_t *h = hist + first * BINS;
    for (int64_t e = 0; e < ch->len; e++) {
      const uint64_t v = k[e];
      if (v >> (shift + 8) != p) continue;
      h[(v >> shift) & 0xff]++;
      k[m++] = v;
    }
  } else {
    for (int64_t e = 0; e < ch->len; e++) {
      const uint64_t v = k[e];
      for (int64_t s = first; s < s0 + q->nr; s++)
        if (q->left[s] >= 0 && q->alias[s] == s && v >> (shift + 8) == q->prefix[s]) {
          hist[s * BINS + ((v >> shift) & 0xff)]++;
          k[m++] = v;
          break;
        }
    }
  }
  ch->len = m;
}

/* Group this rank's finite keys by cell: column c's keys at keys + c n, cell (g, c) from
 * cstart[g * ncol + c] on; within a cell, the keys of row block 0, then block 1, ... (nb
 * fixed blocks, whatever threads the runtime starts), each in row order. */
static void group_keys(int64_t n, int ncol, const double *const *cols, const int32_t *group,
                       int ngroup, int nb, int64_t *tcnt, uint64_t *keys, int64_t *cstart,
                       int64_t *clen) {
  for (int c = 0; c < ncol; c++) {
    const double *x = cols[c];
#pragma omp parallel for schedule(static)
    for (int u = 0; u < nb; u++) {
      int64_t *cnt = tcnt + (int64_t)u * ngroup;
      memset(cnt, 0, (size_t)ngroup * sizeof *cnt);
      for (int64_t i = n * u / nb; i < n * (u + 1) / nb; i++) {
        const int64_t g = group ? group[i] : 0;
        if (g >= 0 && g < ngroup && isfinite(x[i])) cnt[g]++;
      }
    }
    /* Each block's place in each cell: the cells in group order, the blocks in order. */
    int64_t at = (int64_t)c * n;
    for (int g = 0; g < ngroup; g++) {
      cstart[(int64_t)g * ncol + c] = at;
      for (int u = 0; u < nb; u++) {
        const int64_t v = tcnt[(int64_t)u * ngroup + g];
        tcnt[(int64_t)u * ngroup + g] = at;
        at += v;
      }
      clen[(int64_t)g * ncol + c] = at - cstart[(int64_t)g * ncol + c];
    }
#pragma omp parallel for schedule(static)
    for (int u = 0; u < nb; u++) {
      int64_t *next = tcnt + (int64_t)u * ngroup;
      for (int64_t i = n * u / nb; i < n * (u + 1) / nb; i++) {
        const int64_t g = group ? group[i] : 0;
        if (g >= 0 && g < ngroup && isfinite(x[i])) keys[next[g]++] = key_of(x[i]);
      }
    }
  }
}

int cs_features_order_stats(cs_ctx_t *ctx, int64_t n, int ncol, const double *const *cols,
                            const int32_t *group, int ngroup, int nr, const int64_t *rank,
                            double *out) {
  int status = CS_OK;
  const int64_t cells = (int64_t)ngroup * ncol, slots = cells * nr;
  const int threads = omp_get_max_threads();
  sel_t q = {nr, NULL, NULL, NULL, NULL};
  int64_t *tcnt = NULL, *cstart = NULL, *clen = NULL, *hist = NULL, *pack = NULL, *at = NULL, nch = 0;
  chunk_t *ch = NULL;
  int local = ngroup >= 1 && ncol >= 1 && nr >= 1
                  ? CS_OK
                  : cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                                 "order statistics of %d groups x %d columns x %d ranks", ngroup,
                                 ncol, nr);
  if (local == CS_OK) {
    q.keys = malloc(cs_bytes((n ? n : 1) * ncol, sizeof *q.keys));
    q.prefix = calloc((size_t)slots, sizeof *q.prefix);
    q.left = malloc(cs_bytes(slots, sizeof *q.left));
    q.alias = malloc(cs_bytes(slots, sizeof *q.alias));
    tcnt = malloc(cs_bytes((int64_t)threads * ngroup, sizeof *tcnt));
    cstart = malloc(cs_bytes(cells, sizeof *cstart));
    clen = malloc(cs_bytes(cells, sizeof *clen));
    hist = malloc(cs_bytes((int64_t)threads * slots * BINS, sizeof *hist));
    pack = malloc(cs_bytes(slots * BINS, sizeof *pack));
    at = malloc(cs_bytes(slots, sizeof *at));
    /* at most one chunk per CHUNK keys plus one per cell */
    ch = malloc(cs_bytes(n * ncol / CHUNK + cells + 1, sizeof *ch));
    if (!(q.keys && q.prefix && q.left && q.alias && tcnt && cstart && clen && hist && pack && at && ch))
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                           "out of memory for %lld order statistics of %lld values",
                           (long long)slots, (long long)n * ncol);
  }
  CS_TRY(cs_par_agree(ctx, local));
  group_keys(n, ncol, cols, group, ngroup, threads, tcnt, q.keys, cstart, clen);
  for (int64_t e = 0; e < cells; e++)
    for (int64_t b = 0; b < clen[e]; b += CHUNK)
      ch[nch++] = (chunk_t){e, cstart[e] + b, clen[e] - b < CHUNK ? clen[e] - b : CHUNK};
  for (int64_t s = 0; s < slots; s++) q.left[s] = rank[s] >= 0 && rank[s] < INT64_MAX ? rank[s] : -1;
  for (int r = 0; r < ROUNDS; r++) {
    /* Live slots of one cell with the same prefix share one histogram. */
    for (int64_t s = 0; s < slots; s++) {
      q.alias[s] = s;
      for (int64_t a = s - s % nr; a < s; a++)
        if (q.left[a] >= 0 && q.prefix[a] == q.prefix[s]) {
          q.alias[s] = a;
          break;
        }
    }
    /* Only the histograms of live aliases are written and read (ones a chunk skips stay 0),
     * those of the threads the runtime started (team, at most `threads`). */
    int team = 1;
#pragma omp parallel num_threads(threads)
    {
      int64_t *h = hist + (int64_t)omp_get_thread_num() * slots * BINS;
#pragma omp single nowait
      team = omp_get_num_threads();
      for (int64_t s = 0; s < slots; s++)
        if (q.left[s] >= 0 && q.alias[s] == s) memset(h + s * BINS, 0, BINS * sizeof *h);
#pragma omp for schedule(dynamic, 1)
      for (int64_t j = 0; j < nch; j++) count_chunk(&q, &ch[j], r, h);
    }
    /* The live aliases' histograms, summed over threads, packed, reduced over ranks. */
    int64_t np = 0;
    for (int64_t s = 0; s < slots; s++)
      if (q.left[s] >= 0 && q.alias[s] == s) {
        int64_t *dst = pack + np * BINS;
        memcpy(dst, hist + s * BINS, BINS * sizeof *dst);
        for (int t = 1; t < team; t++)
          for (int b = 0; b < BINS; b++) dst[b] += hist[((int64_t)t * slots + s) * BINS + b];
        at[s] = np++;
      }
    CS_TRY(cs_par_allreduce(ctx, pack, np * BINS, CS_DT_I64, CS_OP_SUM));
    /* Each slot's byte: the bin where its rank falls (a rank past the cell's count: none). */
    for (int64_t s = 0; s < slots; s++) {
      if (q.left[s] < 0) continue;
      const int64_t *h = pack + at[q.alias[s]] * BINS;
      int b = 0;
      while (b < BINS && q.left[s] >= h[b]) q.left[s] -= h[b++];
      if (b == BINS)
        q.left[s] = -1;
      else
        q.prefix[s] = q.prefix[s] << 8 | (uint64_t)b;
    }
  }
  /* A cell with fewer values gets the key of a NaN. */
  for (int64_t s = 0; s < slots; s++) out[s] = value_of(q.left[s] >= 0 ? q.prefix[s] : UINT64_MAX);
fail:
  free(q.keys);
  free(q.prefix);
  free(q.left);
  free(q.alias);
  free(tcnt);
  free(cstart);
  free(clen);
  free(hist);
  free(pack);
  free(at);
  free(ch);
  return status;
}

int cs_quantiles(cs_ctx_t *ctx, const double *buf, int64_t n, int64_t count,
                 const double *probs, int nq, double *out) {
  int status = CS_OK;
  enum { MAXQ = 16 };
  int64_t rank_of[MAXQ];
  double frac[MAXQ / 2], v[MAXQ];
  CS_CHECK(nq >= 1 && nq <= MAXQ / 2 && count > 0, CS_EINTERNAL, "bad quantile request");
  for (int q = 0; q < nq; q++) {
    double pos = probs[q] * (double)(count - 1);
    int64_t k = (int64_t)floor(pos);
    frac[q] = pos - (double)k;
    rank_of[2 * q] = k;                              /* 0-based order statistics */
    rank_of[2 * q + 1] = k + 1 < count ? k + 1 : k;
  }
  CS_TRY(cs_features_order_stats(ctx, n, 1, &buf, NULL, 1, 2 * nq, rank_of, v));
  for (int q = 0; q < nq; q++) out[q] = v[2 * q] + frac[q] * (v[2 * q + 1] - v[2 * q]);
fail:
  return status;
}
