/* segment/migration.c: where the customers went between two runs: a distributed join on
 * customer_id of the previous run's labels and this run's, counted into a migration matrix.
 *
 * Trade-off: a hash-partitioned join (every (id, label) pair travels once, in one all-to-all
 * exchange, to the rank that owns the id's hash; the owner sorts what it received and counts
 * pairs) instead of sorting both runs globally: one exchange, memory per rank proportional to
 * its rows, and no rank ever holds N values. The counts are integers reduced in one
 * allreduce, so the matrix and the adjusted Rand index computed from it are exact and the
 * same for any decomposition. */
#include "custseg/segment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct rec {
  int64_t id;
  int32_t label;
  int32_t run; /* 0: previous run, 1: this run */
} rec_t;

static int cmp_rec(const void *a, const void *b) {
  const rec_t *x = a, *y = b;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return (x->run > y->run) - (x->run < y->run);
}

static int owner_of(int64_t id, int size) {
  return (int)(XXH3_64bits(&id, sizeof id) % (uint64_t)size);
}

/* The previous run's (id, label) pairs, and this run's n_this (this_id, this_lab) pairs (one
 * per store row of this rank, -1 for a customer without a segment), sent to the owners of
 * the ids' hashes; *recv comes back sorted by id, then run. psize (kp values) counts the
 * previous segments' customers on this rank, *bad its labels outside -1..kp-1 (not sent), and
 * *vhash (when not NULL) adds up this rank's part of the previous run's verification hash. */
static int exchange(cs_ctx_t *ctx, const cs_previous_t *prev, int64_t n_this,
                    const int64_t *this_id, const int32_t *this_lab, rec_t **recv,
                    int64_t *n_recv, int64_t *psize, int64_t *bad, uint64_t *vhash) {
  int status = CS_OK;
  const int kp = prev->k, size = ctx->size;
  int64_t *pid = NULL, *plab = NULL, *counts = NULL, n_send = 0;
  rec_t *send = NULL;
  cs_part_t pp;
  *recv = NULL;
  *n_recv = 0;
  CS_TRY(cs_par_partition(ctx, prev->n, &pp));
  int64_t nl = pp.n_local ? pp.n_local : 1;
  pid = cs_alloc(cs_bytes(nl, sizeof *pid), "previous customer ids");
  plab = cs_alloc(cs_bytes(nl, sizeof *plab), "previous labels");
  counts = calloc((size_t)size * 2, sizeof *counts);
  CS_TRY(cs_par_agree(ctx, pid && plab && counts
                               ? CS_OK
                               : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  status = cs_io_read_rows(ctx, prev->path, "/segments/customer_id", prev->n, pp.offset,
                           pp.n_local, pid);
  if (status == CS_OK)
    status = cs_io_read_rows(ctx, prev->path, "/segments/labels", prev->n, pp.offset, pp.n_local,
                             plab);
  if (status < 0) {
    cs_error_name_option("--previous", prev->path);
    goto fail;
  }
  int64_t *pos = counts + size;
  for (int64_t i = 0; i < pp.n_local; i++) {
    if (plab[i] < -1 || plab[i] >= kp) {
      (*bad)++;
      continue;
    }
    /* A customer without a previous segment (-1) is sent too, so a repeated id is found
     * whatever its labels; it joins as "not in the previous run". */
    if (plab[i] >= 0) psize[plab[i]]++;
    if (plab[i] >= 0 && vhash) { /* the pairs lloyd.c hashed: every customer with a segment */
      const int64_t pair[2] = {pid[i], plab[i]};
      *vhash += XXH3_64bits(pair, sizeof pair);
    }
    counts[owner_of(pid[i], size)]++;
  }
  for (int64_t i = 0; i < n_this; i++) counts[owner_of(this_id[i], size)]++;
  for (int q = 0; q < size; q++) n_send += counts[q];
  for (int q = 1; q < size; q++) pos[q] = pos[q - 1] + counts[q - 1];
  send = cs_alloc(cs_bytes(n_send ? n_send : 1, sizeof *send), "migration exchange");
  CS_TRY(cs_par_agree(ctx, send ? CS_OK : CS_ENOMEM));
  for (int64_t i = 0; i < pp.n_local; i++)
    if (plab[i] >= -1 && plab[i] < kp)
      send[pos[owner_of(pid[i], size)]++] = (rec_t){pid[i], (int32_t)plab[i], 0};
  for (int64_t i = 0; i < n_this; i++)
    send[pos[owner_of(this_id[i], size)]++] = (rec_t){this_id[i], this_lab[i], 1};
  cs_free(pid);
  cs_free(plab);
  pid = plab = NULL;
  CS_TRY(cs_par_exchange(ctx, send, counts, sizeof *send, (void **)recv, n_recv));
  qsort(*recv, (size_t)*n_recv, sizeof **recv, cmp_rec);
fail:
  cs_free(pid);
  cs_free(plab);
  cs_free(send);
  free(counts);
  return status;
}

/* Ids that occur more than once in the same run, in a sorted exchange; *first gets the
 * smallest of them (INT64_MAX when none), for the message. */
static int64_t repeats(const rec_t *recv, int64_t n, int64_t *first) {
  int64_t dups = 0;
  *first = INT64_MAX;
  for (int64_t t = 1; t < n; t++)
    if (recv[t].id == recv[t - 1].id && recv[t].run == recv[t - 1].run) {
      if (!dups++) *first = recv[t].id;
    }
  return dups;
}

/* bad, dups and the smallest repeated id, reduced over the ranks. */
static int check_previous(const cs_previous_t *prev, int64_t bad, int64_t dups, int64_t first) {
  int status = CS_OK;
  CS_CHECK(bad == 0, CS_EDATA, "--previous %s: /segments/labels has %lld values outside -1..%d",
           prev->path, (long long)bad, prev->k - 1);
  CS_CHECK(dups == 0, CS_EDATA, "--previous %s: /segments/customer_id repeats %lld ids (the "
           "smallest: %lld); a results file has each customer once", prev->path,
           (long long)dups, (long long)first);
fail:
  return status;
}

int cs_previous_check(cs_ctx_t *ctx, const cs_previous_t *prev) {
  int status = CS_OK;
  rec_t *recv = NULL;
  uint64_t vhash = 0;
  int64_t n_recv = 0, *red = calloc((size_t)prev->k + 2, sizeof *red);
  CS_TRY(cs_par_agree(ctx, red ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(exchange(ctx, prev, 0, NULL, NULL, &recv, &n_recv, red + 2, &red[0], &vhash));
  int64_t first;
  red[1] = repeats(recv, n_recv, &first);
  CS_TRY(cs_par_allreduce(ctx, red, 2, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, &first, 1, CS_DT_I64, CS_OP_MIN));
  CS_TRY(check_previous(prev, red[0], red[1], first));
  /* Labels or ids changed after the file was written (in range, so nothing above sees it)
   * would report migrations that never happened: the file's own hash must still hold. */
  CS_TRY(cs_par_allreduce(ctx, &vhash, 1, CS_DT_U64, CS_OP_SUM));
  if (prev->verification_hash[0]) {
    char got[32];
    snprintf(got, sizeof got, "%016llx", (unsigned long long)vhash);
    CS_CHECK(!strcmp(got, prev->verification_hash), CS_EDATA,
             "--previous %s: /segments/customer_id and /segments/labels give the verification "
             "hash %s, not the %s in /segments@verification_hash: the file was changed after it "
             "was written, or is damaged",
             prev->path, got, prev->verification_hash);
  }
fail:
  cs_free(recv);
  free(red);
  return status;
}

int cs_segment_migration(cs_ctx_t *ctx, const cs_part_t *part, const int64_t *ids,
                         const cs_matrix_t *m, const cs_previous_t *prev,
                         const cs_kmeans_result_t *r, cs_migration_t *mig) {
  int status = CS_OK;
  int kp = prev->k, kn = r->k;
  int64_t cells = (int64_t)(kp + 1) * (kn + 1);
  int64_t *red = NULL, n_recv = 0, first = INT64_MAX;
  int32_t *lab = NULL;
  rec_t *recv = NULL;
  /* One reduction: the table, the previous run's segment sizes, out-of-range and repeated
   * ids. */
  red = calloc((size_t)(cells + kp + 4), sizeof *red);
  /* This run's label of every store row: customers without a feature row (--missing drop)
   * are sent too, with -1, so that they are told apart from customers who left. */
  lab = malloc(cs_bytes(part->n_local ? part->n_local : 1, sizeof *lab));
  CS_TRY(cs_par_agree(ctx, red && lab ? CS_OK
                                      : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  for (int64_t i = 0; i < part->n_local; i++) lab[i] = -1;
  for (int64_t i = 0; i < m->n; i++) lab[m->row[i] - part->offset] = r->labels[i];
  int64_t *psize = red + cells, *bad = psize + kp, *dups = bad + 1, *unassigned = dups + 1;
  CS_TRY(exchange(ctx, prev, part->n_local, ids, lab, &recv, &n_recv, psize, bad, NULL));
  *dups = repeats(recv, n_recv, &first);

  /* Each id here has at most one record per run; count (previous, this) pairs, with kp for
   * "not in the previous run" and kn for "not in this run". */
  for (int64_t i = 0; i < n_recv;) {
    int64_t j = i + 1;
    while (j < n_recv && recv[j].id == recv[i].id) j++;
    int p = kp, q = kn, in[2] = {0, 0};
    for (int64_t t = i; t < j; t++) {
      in[recv[t].run != 0] = 1;
      if (recv[t].run == 0)
        p = recv[t].label >= 0 ? recv[t].label : kp;
      else
        q = recv[t].label >= 0 && recv[t].label < kn ? recv[t].label : kn;
    }
    if (p < kp || q < kn) red[(int64_t)p * (kn + 1) + q]++; /* else in neither run's segments */
    /* Departed or new only for want of a segment (label -1, --missing drop) in a run that
     * has the customer: said apart, not to be read as customers who left or joined. */
    if (p < kp && q == kn && in[1]) unassigned[0]++;
    if (q < kn && p == kp && in[0]) unassigned[1]++;
    i = j;
  }
  CS_TRY(cs_par_allreduce(ctx, red, cells + kp + 4, CS_DT_I64, CS_OP_SUM));
  CS_TRY(cs_par_allreduce(ctx, &first, 1, CS_DT_I64, CS_OP_MIN));
  /* Checked before the fit too (cs_previous_check); here for a file changed since. */
  CS_TRY(check_previous(prev, *bad, *dups, first));

  mig->matrix = malloc((size_t)cells * sizeof *mig->matrix);
  CS_CHECK(mig->matrix, CS_ENOMEM, "out of memory");
  memcpy(mig->matrix, red, (size_t)cells * sizeof *red);
  const int64_t *t = mig->matrix;
  int64_t ld = kn + 1;
  mig->both = mig->added = mig->departed = mig->stayed = 0;
  mig->departed_unassigned = unassigned[0];
  mig->added_unassigned = unassigned[1];
  /* The margins are both runs' segment sizes: a join that lost or doubled a customer fails. */
  for (int p = 0; p <= kp; p++) {
    int64_t row = 0;
    for (int q = 0; q <= kn; q++) {
      row += t[p * ld + q];
      if (p < kp && q < kn) mig->both += t[p * ld + q];
    }
    if (p < kp)
      CS_CHECK(row == psize[p], CS_EVERIFY,
               "verification: migration row %d holds %lld customers, previous segment %d had %lld",
               p, (long long)row, p, (long long)psize[p]);
  }
  for (int q = 0; q < kn; q++) {
    int64_t col = 0;
    for (int p = 0; p <= kp; p++) col += t[p * ld + q];
    CS_CHECK(col == r->sizes[q], CS_EVERIFY,
             "verification: migration column %d holds %lld customers, segment %d has %lld", q,
             (long long)col, q, (long long)r->sizes[q]);
    mig->added += t[(int64_t)kp * ld + q];
    if (mig->previous_id[q] >= 0) mig->stayed += t[(int64_t)mig->previous_id[q] * ld + q];
  }
  for (int p = 0; p < kp; p++) mig->departed += t[p * ld + kn];
  mig->ari = cs_segment_ari(t, kp, kn, ld);
fail:
  cs_free(recv);
  free(red);
  free(lab);
  return status;
}

int cs_migration_weak(const cs_migration_t *mig, int q, int *to) {
  const int p = mig->previous_id[q];
  const int64_t ld = mig->kn + 1, *t = mig->matrix;
  *to = -1;
  if (p < 0) return 0;
  int64_t rem = 0, ret = 0, most = -1;
  for (int j = 0; j < mig->kn; j++) {
    rem += t[p * ld + j];
    if (j != q && t[p * ld + j] > 0 && t[p * ld + j] > most) most = t[p * ld + j], *to = j;
  }
  for (int i = 0; i < mig->kp; i++) ret += t[i * ld + q];
  const int64_t stayed = t[p * ld + q];
  return (2 * stayed < rem && 2 * stayed <= ret) || (rem == 0 && ret > 0);
}
