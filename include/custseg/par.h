/* par: the only module that calls MPI.
 *
 * Row partition (contiguous blocks, exclusive scan, zero-row ranks legal), collective error
 * agreement, packed reductions, gathers of small tables and the all-to-all exchange used by
 * distributed checks. Every wrapper checks the MPI return code, takes the communicator from
 * the run context and uses 64-bit counts, narrowing to `int` only after a check. */
#ifndef CUSTSEG_PAR_H
#define CUSTSEG_PAR_H

#include "custseg/core.h"

/* Initialise MPI (thread level FUNNELED; works as a singleton without mpirun) and fill ctx
 * with a duplicate of MPI_COMM_WORLD. Collective over MPI_COMM_WORLD. */
int cs_par_init(int *argc, char ***argv, cs_ctx_t *ctx);
/* Free the communicator and finalize MPI. Collective. */
void cs_par_finalize(cs_ctx_t *ctx);
/* End the whole job now with exit status `code` (the one fatal path). */
_Noreturn void cs_par_abort(cs_ctx_t *ctx, int code);
/* The MPI_Comm behind ctx, as an opaque pointer to an MPI_Comm (for io's H5Pset_fapl_mpio). */
const void *cs_par_native_comm(const cs_ctx_t *ctx);

/* Number of ranks sharing this rank's node (MPI_COMM_TYPE_SHARED). Collective. */
int cs_par_node_ranks(cs_ctx_t *ctx, int *n);
/* The threads of all ranks on this rank's node (each passes its own) and, in cpus (a bit set
 * of cpu_bytes bytes, each rank's own on entry), the CPUs they may run on together. Collective. */
int cs_par_node_threads(cs_ctx_t *ctx, int64_t threads, unsigned char *cpus, int cpu_bytes,
                        int64_t *node_threads);
/* The MPI library's version line (for run summaries). Local. */
void cs_par_library_version(char *buf, size_t len);

/* ---- row partition ------------------------------------------------------------------------ */
typedef struct cs_part {
  int64_t n_global; /* rows in the whole store */
  int64_t n_local;  /* rows on this rank (may be 0) */
  int64_t offset;   /* global index of this rank's first row */
} cs_part_t;

/* Block sizes: n/size rows each, the first n%size ranks one more. Local (pure). */
int64_t cs_part_block_size(int64_t n_global, int rank, int size);
/* Rows covered when every rank has processed its first `per_rank` rows of its block:
 * sum over ranks of min(per_rank, block size). For progress lines. Local (pure). */
int64_t cs_part_rows_upto(int64_t n_global, int size, int64_t per_rank);
/* Partition n_global rows in contiguous blocks; offsets by exclusive scan. Collective. */
int cs_par_partition(cs_ctx_t *ctx, int64_t n_global, cs_part_t *part);
/* Partition from given local sizes (any split, zero allowed): n_global by sum, offset by
 * exclusive scan. Collective. */
int cs_par_partition_local(cs_ctx_t *ctx, int64_t n_local, cs_part_t *part);

/* ---- collective error agreement ----------------------------------------------------------
 * Every rank passes its local status; if any rank failed, the error record of the lowest
 * failing rank is copied to all ranks and its status returned everywhere; else CS_OK.
 * Collective: call it at the points where all ranks must decide together. */
int cs_par_agree(cs_ctx_t *ctx, int status);

/* ---- reductions ------------------------------------------------------------------------------ */
typedef enum { CS_OP_SUM, CS_OP_MIN, CS_OP_MAX } cs_op_t;
/* In-place allreduce of n elements (CS_DT_I64, CS_DT_U64 or CS_DT_F64). One packed call:
 * put everything that travels together in one buffer. Collective. */
int cs_par_allreduce(cs_ctx_t *ctx, void *buf, int64_t n, cs_dtype_t type, cs_op_t op);
/* Min, mean (sum/size) and max across ranks of n local values, in two packed reductions:
 * out[3i], out[3i+1], out[3i+2] for local[i]. Collective. */
int cs_par_minmeanmax(cs_ctx_t *ctx, const double *local, int64_t n, double *out);
/* Exact, order-independent sum of int64 values across ranks (128-bit accumulation, so
 * no overflow below 2^127). Collective. */
int cs_par_sum_i128(cs_ctx_t *ctx, __int128 *val);
/* The same for n values in one packed reduction. Collective. */
int cs_par_sum_i128_n(cs_ctx_t *ctx, __int128 *vals, int64_t n);
/* Broadcast `bytes` bytes from `root`. Collective. */
int cs_par_bcast(cs_ctx_t *ctx, void *buf, size_t bytes, int root);
/* Gather `bytes` from every rank into out (size * bytes, rank order) on every rank.
 * For small tables only. Collective. */
int cs_par_allgather(cs_ctx_t *ctx, const void *mine, size_t bytes, void *out);
/* Gather a variable number of bytes from every rank, in rank order, on every rank:
 * *all (malloc'ed, caller frees) holds *total bytes. For samples and small tables.
 * Collective. */
int cs_par_allgatherv(cs_ctx_t *ctx, const void *mine, int64_t bytes, void **all, int64_t *total);
/* Barrier. Collective. */
int cs_par_barrier(cs_ctx_t *ctx);
/* The ranks agree on a pending SIGTERM or SIGUSR1 (cs_signal_pending, any rank's): CS_OK when
 * none, else CS_EINTERRUPTED with "interrupted by SIGTERM <where>". For the loops of long
 * collective work (docs/operations.md). Collective. */
int cs_par_stop_on_signal(cs_ctx_t *ctx, const char *where);
/* Barrier for ranks that wait while one rank works alone (e.g. `import` on rank 0): a
 * non-blocking barrier polled every 2 ms, so waiting ranks sleep instead of spinning on the
 * cores the working rank needs. Collective. */
int cs_par_idle_barrier(cs_ctx_t *ctx);
/* A context for this process alone (a duplicate of MPI_COMM_SELF: rank 0, size 1), for work
 * one rank does by itself, such as writing a file through io. Timers start empty. Local.
 * Free with cs_par_self_free (safe after a failed cs_par_self). */
int cs_par_self(const cs_ctx_t *ctx, cs_ctx_t *self);
void cs_par_self_free(cs_ctx_t *self);

/* ---- all-to-all exchange ------------------------------------------------------------------
 * Send counts[r] records of `rec_bytes` each (packed in rank order in `send`) to rank r;
 * on return *recv (cs_alloc'ed, caller frees) holds *n_recv records from all ranks in rank
 * order. Collective. */
int cs_par_exchange(cs_ctx_t *ctx, const void *send, const int64_t *counts, size_t rec_bytes,
                    void **recv, int64_t *n_recv);

#endif
