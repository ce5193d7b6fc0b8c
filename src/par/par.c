/* par/par.c: the only compilation unit that calls MPI.
 *
 * Trade-off: a thin layer of checked wrappers rather than an abstraction over message
 * passing. Every call takes the communicator from the run context, counts are int64_t until
 * the last moment and are narrowed to MPI's `int` only after a check. */
#include "custseg/par.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cs_comm {
  MPI_Comm comm;
};

#define CS_MPI(call)                                                                  \
  do {                                                                                \
    int cs__rc = (call);                                                              \
    if (cs__rc != MPI_SUCCESS) {                                                      \
      char cs__s[MPI_MAX_ERROR_STRING];                                               \
      int cs__l = 0;                                                                  \
      MPI_Error_string(cs__rc, cs__s, &cs__l);                                        \
      status = cs_error_set(CS_EMPI, __FILE__, __LINE__, "%s failed: %s", #call, cs__s); \
      goto fail;                                                                      \
    }                                                                                 \
  } while (0)

static int narrow(int64_t v, int *out, const char *what) {
  if (v < 0 || v > INT_MAX)
    return cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                        "%s = %lld does not fit an MPI count (int); use more ranks", what,
                        (long long)v);
  *out = (int)v;
  return CS_OK;
}

static MPI_Comm comm_of(const cs_ctx_t *ctx) { return ctx->comm->comm; }

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds: LeakSanitizer checks rank 0 only. Its exit scan of Open MPI's own
 * allocations costs seconds of CPU per process, and the other ranks run the same code (the
 * test suite's multi-rank runs had spent most of their time there). */
static int lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return lsan_off; }
#endif

int cs_par_init(int *argc, char ***argv, cs_ctx_t *ctx) {
  int status = CS_OK, provided = 0;
  memset(ctx, 0, sizeof *ctx);
  /* Open MPI 4.1's "lockedfile" shared-file-pointer component, probed at every
   * MPI_File_open, overflows a fixed buffer (abort) on a path of more than about 240 bytes.
   * custseg uses no shared file pointers: leave that component out, unless the environment
   * already says which to use (docs/operations.md). Other MPI libraries ignore this. */
  setenv("OMPI_MCA_sharedfp", "^lockedfile", 0);
  CS_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  ctx->comm = calloc(1, sizeof *ctx->comm);
  if (!ctx->comm) CS_FAIL(CS_ENOMEM, "out of memory");
  CS_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &ctx->comm->comm));
  /* Errors come back as codes, so they get a message and a clean collective exit. */
  CS_MPI(MPI_Comm_set_errhandler(ctx->comm->comm, MPI_ERRORS_RETURN));
  CS_MPI(MPI_Comm_rank(ctx->comm->comm, &ctx->rank));
  CS_MPI(MPI_Comm_size(ctx->comm->comm, &ctx->size));
#if defined(__SANITIZE_ADDRESS__)
  lsan_off = ctx->rank != 0;
#endif
  ctx->threads = 1;
fail:
  return status;
}

void cs_par_finalize(cs_ctx_t *ctx) {
  if (ctx->comm) {
    MPI_Comm_free(&ctx->comm->comm);
    free(ctx->comm);
    ctx->comm = NULL;
  }
  MPI_Finalize();
}

_Noreturn void cs_par_abort(cs_ctx_t *ctx, int code) {
  MPI_Abort(ctx && ctx->comm ? ctx->comm->comm : MPI_COMM_WORLD, code);
  exit(code); /* not reached */
}

const void *cs_par_native_comm(const cs_ctx_t *ctx) { return &ctx->comm->comm; }

int cs_par_node_ranks(cs_ctx_t *ctx, int *n) {
  int status = CS_OK;
  MPI_Comm node = MPI_COMM_NULL;
  *n = 1;
  CS_MPI(MPI_Comm_split_type(comm_of(ctx), MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL, &node));
  CS_MPI(MPI_Comm_size(node, n));
fail:
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  return status;
}

int cs_par_node_threads(cs_ctx_t *ctx, int64_t threads, unsigned char *cpus, int cpu_bytes,
                        int64_t *node_threads) {
  int status = CS_OK;
  MPI_Comm node = MPI_COMM_NULL;
  *node_threads = threads;
  CS_MPI(MPI_Comm_split_type(comm_of(ctx), MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL, &node));
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, node_threads, 1, MPI_INT64_T, MPI_SUM, node));
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, cpus, cpu_bytes, MPI_BYTE, MPI_BOR, node));
fail:
  if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
  return status;
}

void cs_par_library_version(char *buf, size_t len) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int n = 0;
  MPI_Get_library_version(v, &n);
  char *nl = strchr(v, ',');
  if (nl) *nl = '\0';
  snprintf(buf, len, "%s", v);
}

int64_t cs_part_block_size(int64_t n_global, int rank, int size) {
  int64_t base = n_global / size, extra = n_global % size;
  return base + (rank < extra ? 1 : 0);
}

int64_t cs_part_rows_upto(int64_t n_global, int size, int64_t per_rank) {
  int64_t done = 0;
  for (int r = 0; r < size; r++) {
    int64_t b = cs_part_block_size(n_global, r, size);
    done += per_rank < b ? per_rank : b;
  }
  return done;
}

int cs_par_partition_local(cs_ctx_t *ctx, int64_t n_local, cs_part_t *part) {
  int status = CS_OK;
  int64_t offset = 0, total = 0;
  CS_CHECK(n_local >= 0, CS_EINTERNAL, "negative local row count %lld", (long long)n_local);
  CS_MPI(MPI_Exscan(&n_local, &offset, 1, MPI_INT64_T, MPI_SUM, comm_of(ctx)));
  if (ctx->rank == 0) offset = 0; /* MPI_Exscan leaves rank 0's result undefined */
  CS_MPI(MPI_Allreduce(&n_local, &total, 1, MPI_INT64_T, MPI_SUM, comm_of(ctx)));
  part->n_global = total;
  part->n_local = n_local;
  part->offset = offset;
fail:
  return status;
}

int cs_par_partition(cs_ctx_t *ctx, int64_t n_global, cs_part_t *part) {
  int status = CS_OK;
  CS_CHECK(n_global >= 0, CS_EINTERNAL, "negative row count %lld", (long long)n_global);
  CS_TRY(cs_par_partition_local(ctx, cs_part_block_size(n_global, ctx->rank, ctx->size), part));
  CS_CHECK(part->n_global == n_global, CS_EINTERNAL, "partition lost rows (%lld != %lld)",
           (long long)part->n_global, (long long)n_global);
fail:
  return status;
}

int cs_par_agree(cs_ctx_t *ctx, int status_in) {
  int status = CS_OK;
  struct {
    int ok;
    int rank;
  } mine = {status_in < 0 ? 0 : 1, ctx->rank}, first;
  CS_MPI(MPI_Allreduce(&mine, &first, 1, MPI_2INT, MPI_MINLOC, comm_of(ctx)));
  if (first.ok) return CS_OK;
  cs_error_t err = *cs_error_get();
  if (first.rank == ctx->rank && err.status == CS_OK) {
    /* Failed without a message: still say something useful. */
    err.status = status_in;
    err.rank = ctx->rank;
    snprintf(err.msg, sizeof err.msg, "%s", cs_strerror(status_in));
  }
  CS_MPI(MPI_Bcast(&err, (int)sizeof err, MPI_BYTE, first.rank, comm_of(ctx)));
  cs_error_adopt(&err);
  return err.status;
fail:
  return status;
}

static MPI_Datatype mpi_type(cs_dtype_t t) {
  switch (t) {
  case CS_DT_I64: return MPI_INT64_T;
  case CS_DT_U64: return MPI_UINT64_T;
  case CS_DT_F64: return MPI_DOUBLE;
  case CS_DT_I32: return MPI_INT32_T;
  default: return MPI_DATATYPE_NULL;
  }
}

int cs_par_allreduce(cs_ctx_t *ctx, void *buf, int64_t n, cs_dtype_t type, cs_op_t op) {
  int status = CS_OK, count = 0;
  MPI_Datatype dt = mpi_type(type);
  CS_CHECK(dt != MPI_DATATYPE_NULL, CS_EINTERNAL, "allreduce of unsupported type %s",
           cs_dtype_name(type));
  CS_TRY(narrow(n, &count, "allreduce length"));
  MPI_Op mop = op == CS_OP_SUM ? MPI_SUM : op == CS_OP_MIN ? MPI_MIN : MPI_MAX;
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, count, dt, mop, comm_of(ctx)));
fail:
  return status;
}

int cs_par_minmeanmax(cs_ctx_t *ctx, const double *local, int64_t n, double *out) {
  int status = CS_OK, count = 0;
  double *buf = malloc(cs_bytes(3 * (n ? n : 1), sizeof *buf));
  CS_TRY(cs_par_agree(ctx, buf ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(narrow(2 * n, &count, "min/max length"));
  /* min(x) = -max(-x): one MAX reduction for both ends, one SUM for the means. */
  for (int64_t i = 0; i < n; i++) {
    buf[2 * i] = -local[i];
    buf[2 * i + 1] = local[i];
    buf[2 * n + i] = local[i];
  }
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_DOUBLE, MPI_MAX, comm_of(ctx)));
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, buf + 2 * n, (int)n, MPI_DOUBLE, MPI_SUM, comm_of(ctx)));
  for (int64_t i = 0; i < n; i++) {
    out[3 * i] = -buf[2 * i];
    out[3 * i + 1] = buf[2 * n + i] / ctx->size;
    out[3 * i + 2] = buf[2 * i + 1];
  }
fail:
  free(buf);
  return status;
}

static void sum_i128_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
  (void)dt;
  const __int128 *a = in;
  __int128 *b = inout;
  for (int i = 0; i < *len; i++) b[i] += a[i];
}

int cs_par_sum_i128_n(cs_ctx_t *ctx, __int128 *vals, int64_t n) {
  int status = CS_OK, count = 0;
  MPI_Datatype t = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  CS_TRY(narrow(n, &count, "128-bit sum length"));
  CS_MPI(MPI_Type_contiguous((int)sizeof *vals, MPI_BYTE, &t));
  CS_MPI(MPI_Type_commit(&t));
  CS_MPI(MPI_Op_create(sum_i128_op, 1, &op));
  CS_MPI(MPI_Allreduce(MPI_IN_PLACE, vals, count, t, op, comm_of(ctx)));
fail:
  if (op != MPI_OP_NULL) MPI_Op_free(&op);
  if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
  return status;
}

int cs_par_sum_i128(cs_ctx_t *ctx, __int128 *val) { return cs_par_sum_i128_n(ctx, val, 1); }

int cs_par_bcast(cs_ctx_t *ctx, void *buf, size_t bytes, int root) {
  int status = CS_OK, count = 0;
  CS_TRY(narrow((int64_t)bytes, &count, "broadcast bytes"));
  CS_MPI(MPI_Bcast(buf, count, MPI_BYTE, root, comm_of(ctx)));
fail:
  return status;
}

int cs_par_allgather(cs_ctx_t *ctx, const void *mine, size_t bytes, void *out) {
  int status = CS_OK, count = 0;
  CS_TRY(narrow((int64_t)bytes, &count, "allgather bytes"));
  CS_MPI(MPI_Allgather(mine, count, MPI_BYTE, out, count, MPI_BYTE, comm_of(ctx)));
fail:
  return status;
}

int cs_par_allgatherv(cs_ctx_t *ctx, const void *mine, int64_t bytes, void **all, int64_t *total) {
  int status = CS_OK, size = ctx->size;
  int64_t *counts = calloc((size_t)size, sizeof *counts);
  int *rc = calloc((size_t)size * 2, sizeof *rc);
  *all = NULL;
  *total = 0;
  CS_TRY(cs_par_agree(ctx, counts && rc ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_MPI(MPI_Allgather(&bytes, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, comm_of(ctx)));
  int64_t off = 0;
  int ls = CS_OK;
  for (int r = 0; r < size && ls == CS_OK; r++) {
    ls = narrow(counts[r], &rc[r], "allgatherv bytes");
    if (ls == CS_OK) ls = narrow(off, &rc[size + r], "allgatherv offset");
    off += counts[r];
  }
  if (ls == CS_OK && !(*all = malloc((size_t)(off ? off : 1)))) ls = CS_ENOMEM;
  CS_TRY(cs_par_agree(ctx, ls));
  CS_MPI(MPI_Allgatherv(mine, (int)bytes, MPI_BYTE, *all, rc, rc + size, MPI_BYTE, comm_of(ctx)));
  *total = off;
fail:
  if (status < 0) {
    free(*all);
    *all = NULL;
  }
  free(counts);
  free(rc);
  return status;
}

int cs_par_stop_on_signal(cs_ctx_t *ctx, const char *where) {
  int status = CS_OK;
  int64_t sig = cs_signal_pending();
  CS_TRY(cs_par_allreduce(ctx, &sig, 1, CS_DT_I64, CS_OP_MAX));
  CS_CHECK(!sig, CS_EINTERRUPTED, "interrupted by %s %s", sig == SIGUSR1 ? "SIGUSR1" : "SIGTERM",
           where);
fail:
  return status;
}

int cs_par_barrier(cs_ctx_t *ctx) {
  int status = CS_OK;
  CS_MPI(MPI_Barrier(comm_of(ctx)));
fail:
  return status;
}

int cs_par_idle_barrier(cs_ctx_t *ctx) {
  int status = CS_OK, done = 0;
  MPI_Request req = MPI_REQUEST_NULL;
  CS_MPI(MPI_Ibarrier(comm_of(ctx), &req));
  /* Test, then sleep 2 ms: a waiting rank costs next to no CPU, while the rank doing the
   * work (often on the same cores) runs at full speed. */
  const struct timespec nap = {0, 2000000};
  for (;;) {
    CS_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) break;
    nanosleep(&nap, NULL);
  }
fail:
  return status;
}

int cs_par_self(const cs_ctx_t *ctx, cs_ctx_t *self) {
  int status = CS_OK;
  memset(self, 0, sizeof *self);
  self->comm = calloc(1, sizeof *self->comm);
  if (!self->comm) CS_FAIL(CS_ENOMEM, "out of memory");
  self->comm->comm = MPI_COMM_NULL;
  CS_MPI(MPI_Comm_dup(MPI_COMM_SELF, &self->comm->comm));
  CS_MPI(MPI_Comm_set_errhandler(self->comm->comm, MPI_ERRORS_RETURN));
  self->rank = 0;
  self->size = 1;
  self->threads = ctx->threads;
  return CS_OK;
fail:
  cs_par_self_free(self);
  return status;
}

void cs_par_self_free(cs_ctx_t *self) {
  if (!self->comm) return;
  if (self->comm->comm != MPI_COMM_NULL) MPI_Comm_free(&self->comm->comm);
  free(self->comm);
  self->comm = NULL;
}

int cs_par_exchange(cs_ctx_t *ctx, const void *send, const int64_t *counts, size_t rec_bytes,
                    void **recv, int64_t *n_recv) {
  int status = CS_OK, size = ctx->size;
  int *sc = NULL, *sd = NULL, *rc = NULL, *rd = NULL;
  int64_t *rcounts = NULL;
  MPI_Datatype rec = MPI_DATATYPE_NULL;
  *recv = NULL;
  *n_recv = 0;
  sc = calloc((size_t)size * 4, sizeof *sc);
  rcounts = calloc((size_t)size, sizeof *rcounts);
  if (!sc || !rcounts) CS_FAIL(CS_ENOMEM, "out of memory in exchange");
  sd = sc + size;
  rc = sd + size;
  rd = rc + size;
  CS_MPI(MPI_Alltoall(counts, 1, MPI_INT64_T, rcounts, 1, MPI_INT64_T, comm_of(ctx)));
  int64_t soff = 0, roff = 0;
  int ls = CS_OK; /* local failures are agreed on before the exchange, so nobody hangs */
  for (int r = 0; r < size && ls == CS_OK; r++) {
    ls = narrow(counts[r], &sc[r], "exchange send count");
    if (ls == CS_OK) ls = narrow(soff, &sd[r], "exchange send offset");
    if (ls == CS_OK) ls = narrow(rcounts[r], &rc[r], "exchange receive count");
    if (ls == CS_OK) ls = narrow(roff, &rd[r], "exchange receive offset");
    soff += counts[r];
    roff += rcounts[r];
  }
  if (ls == CS_OK) {
    *recv = cs_alloc(cs_bytes(roff, rec_bytes), "exchange receive buffer");
    if (!*recv) ls = CS_ENOMEM;
  }
  CS_TRY(cs_par_agree(ctx, ls));
  CS_MPI(MPI_Type_contiguous((int)rec_bytes, MPI_BYTE, &rec));
  CS_MPI(MPI_Type_commit(&rec));
  CS_MPI(MPI_Alltoallv(send, sc, sd, rec, *recv, rc, rd, rec, comm_of(ctx)));
  *n_recv = roff;
fail:
  if (rec != MPI_DATATYPE_NULL) MPI_Type_free(&rec);
  if (status < 0) {
    cs_free(*recv);
    *recv = NULL;
  }
  free(sc);
  free(rcounts);
  return status;
}
