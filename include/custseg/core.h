/* core: status codes and error records, logging from rank 0, stage timers, the run context.
 *
 * Everything here is local to one process: nothing calls MPI or HDF5. The collective parts
 * (agreeing on an error, min/mean/max of timers) are built on top of this by `par`, which keeps
 * the rule that only one module talks to MPI. */
#ifndef CUSTSEG_CORE_H
#define CUSTSEG_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- status codes ------------------------------------------------------------------------
 * X(name, value, exit status, description). Functions return CS_OK (0) or a negative code;
 * the exit status of the program is taken from the table (documented in docs/cli.md). */
#define CS_STATUS_MAP(X)                                                       \
  X(OK, 0, 0, "success")                                                       \
  X(EUSAGE, -1, 1, "usage error")                                              \
  X(ECONFIG, -2, 1, "configuration error")                                     \
  X(ENOENT, -3, 2, "input not found")                                          \
  X(EFORMAT, -4, 2, "input is not a valid customer store")                     \
  X(EDATA, -5, 2, "bad input data")                                            \
  X(EOUTPUT, -6, 3, "cannot write output")                                     \
  X(EIO, -7, 3, "I/O error")                                                   \
  X(ENOMEM, -8, 3, "out of memory")                                            \
  X(EMPI, -9, 3, "MPI error")                                                  \
  X(EHDF5, -10, 3, "HDF5 error")                                               \
  X(EVERIFY, -11, 4, "verification failed")                                    \
  X(EINTERNAL, -12, 5, "internal error")                                      \
  X(EINTERRUPTED, -13, 75, "interrupted by a signal; checkpoint written")     \
  X(ECHECKED, -14, 0, "options checked, nothing run (the dry pass of run)")

enum {
#define CS__ENUM(name, value, exitcode, desc) CS_##name = value,
  CS_STATUS_MAP(CS__ENUM)
#undef CS__ENUM
};

/* Short description of a status code. Local. */
const char *cs_strerror(int status);
/* Process exit status for a status code (0 for CS_OK). Local. */
int cs_exit_status(int status);

/* ---- error records -----------------------------------------------------------------------
 * One error record per process: the first failure since the last cs_error_clear() is kept
 * (later ones are usually consequences of it). Messages are one line and name the file,
 * dataset and offending value; a longer one than CS_MSG_MAX keeps its start and its end (the
 * reason), eliding the middle. Not thread-safe: set errors outside OpenMP regions. */
#define CS_MSG_MAX 768

typedef struct cs_error {
  int status;               /* CS_OK when no error is recorded */
  int rank;                 /* rank that raised it (filled by cs_error_set from cs_log state) */
  char where[96];           /* "src/io/store.c:123" */
  char msg[CS_MSG_MAX];
} cs_error_t;

/* Record an error (if none is recorded yet) and return `status`. Local. */
int cs_error_set(int status, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* `text` (len bytes) in out[size] whole, or, when longer, its first third and its end with
 * " [...] " between them, cut at UTF-8 character starts. Local. */
void cs_error_elide(const char *text, size_t len, char *out, size_t size);
/* `text` with its control characters written out, so that a message holding a value from
 * the data stays one line and cannot drive the terminal: \n, \r and \t as such, other C0
 * bytes, DEL and bytes that start no UTF-8 character as \xNN, C1 characters (U+0080..U+009F
 * in UTF-8) as \u00NN; so the result is UTF-8 (for the JSON summary) too. A malloc'ed
 * string (NULL when out of memory); *len (may be NULL) gets its length. Local. */
char *cs_text_escaped(const char *text, size_t *len);
/* Rewrite the recorded message as `prefix`, the message without `drop` at its start (when it
 * starts so; NULL: nothing dropped), and `suffix` (a line number put in, a file named in
 * front, the config line behind), from the whole message even when the record holds it
 * elided. The three are raw text: they are escaped as the message was. Local. */
void cs_error_rewrite(const char *prefix, const char *drop, const char *suffix);
/* When the recorded message starts with `path` (a reader's error about that file), `option` and
 * a space are put in front of it: the user learns which option gave the file. Local. */
void cs_error_name_option(const char *option, const char *path);
/* The current record (status CS_OK when none). Local. */
const cs_error_t *cs_error_get(void);
/* Replace the record wholesale (used by par to adopt another rank's error). Local. */
void cs_error_adopt(const cs_error_t *err);
void cs_error_clear(void);

/* Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil; any
 * year). Local. */
int64_t cs_days_from_civil(int64_t y, int m, int d);

/* ---- signals ------------------------------------------------------------------------------
 * SIGTERM and SIGUSR1 (Slurm's preemption warning and time limit, forwarded to the ranks by
 * srun and mpirun) only set a flag; long loops poll it at their boundaries, agree on it across
 * ranks and stop cleanly (docs/operations.md). SIGPIPE is ignored: a closed log pipe fails
 * the writes to it, not the job. */
void cs_signal_install(void);
/* SIGINT and SIGHUP (Ctrl-C, a closed terminal) end the process as they would, but first
 * remove the files registered here: the temporary names of outputs being written, and the
 * outputs the command (or `run` stage) has published so far, so that it leaves all of its
 * outputs or none. Register with a path, unregister with the same path. At most
 * CS_SIGNAL_FILES at once. Local. */
#define CS_SIGNAL_FILES 32
void cs_signal_remove_on_exit(const char *path, int add);
/* rename(2) of a registered temporary file to its final name, with SIGINT and SIGHUP held
 * back meanwhile: `from` is unregistered and, unless keep (a checkpoint, which outlives an
 * interruption), `to` is registered as published, and a file it replaces is kept under a
 * hidden name (`from` with ".tmp-" made ".bak-", a hard link) until the command ends; that
 * name goes to backup[len] ("" when nothing was kept; backup may be NULL), for the other
 * ranks' cs_signal_published_elsewhere. Returns rename's result; errno is kept. */
int cs_signal_rename(const char *from, const char *to, int keep, char *backup, size_t len);
/* A published output withdrawn (a later failure of the same command): the file it replaced
 * comes back when one was kept, else it is removed. Any other path is removed. */
void cs_signal_unpublish(const char *path);
/* On the ranks that did not rename: `to` was published by another rank (rank 0), `from` is
 * gone, and `backup` is the name rank 0 kept the replaced file under ("" when none); a signal
 * here undoes `to` as it would there. */
void cs_signal_published_elsewhere(const char *from, const char *to, const char *backup);
/* The command or `run` stage finished: what it published stays whatever comes next, and the
 * files it replaced go. */
void cs_signal_keep_published(void);
/* A watchdog for a call that may never return (a collective call some rank has left): after
 * `seconds`, `line` is written to stderr, the registered files are removed as for SIGINT, and
 * the process ends with exit status `code` (under mpirun, which then ends the other ranks).
 * seconds <= 0 disarms it. One at a time (SIGALRM). Local. */
void cs_signal_watchdog(int seconds, int code, const char *line);
/* The signal received (SIGTERM or SIGUSR1), or 0. Local, async-signal-safe to read. */
int cs_signal_pending(void);
/* Tests only: called at every iteration boundary; when the environment has
 * CUSTSEG_TEST_SIGNAL_AT=N, rank 0 raises SIGTERM on itself at the N-th boundary of the
 * process, so an interruption can be placed exactly (the other ranks learn of it only through
 * the agreement). Local. */
void cs_signal_test_hook(int rank);
/* The same for other places: which = 1 counts the steps of k-means seeding, with
 * CUSTSEG_TEST_SIGNAL_SEED=N. Local. */
void cs_signal_test_hook_at(int rank, int which);

/* Set-and-jump helpers for functions that clean up through a `fail:` label and keep their
 * result in an `int status` variable. */
#define CS_FAIL(code, ...)                                                     \
  do {                                                                         \
    status = cs_error_set((code), __FILE__, __LINE__, __VA_ARGS__);            \
    goto fail;                                                                 \
  } while (0)
#define CS_TRY(expr)                                                           \
  do {                                                                         \
    status = (expr);                                                           \
    if (status < 0) goto fail;                                                 \
  } while (0)
#define CS_CHECK(cond, code, ...)                                              \
  do {                                                                         \
    if (!(cond)) CS_FAIL((code), __VA_ARGS__);                                 \
  } while (0)

/* ---- memory ------------------------------------------------------------------------------ */
/* Set the allocator up for large arrays freed and allocated again stage after stage (once,
 * before anything else allocates; CUSTSEG_KEEP_FREED=0 leaves glibc's defaults). */
void cs_memory_init(void);
/* 64-byte aligned allocation for arrays that kernels stream over; NULL (with an error
 * recorded) on failure. Free with cs_free. Local. */
void *cs_alloc(size_t bytes, const char *what);
void *cs_calloc(size_t bytes, const char *what);
void cs_free(void *p);
/* n * size with overflow check; SIZE_MAX on overflow (cs_alloc then fails). */
size_t cs_bytes(int64_t n, size_t size);

/* The separator of a list of names in one string (the ASCII unit separator, which no column or
 * level name holds, where commas can occur: a level "Portland, OR"). */
#define CS_LIST_SEP '\x1f'
#define CS_LIST_SEP_S "\x1f"
/* The names of list a that list b lacks (both CS_LIST_SEP-separated): their number, and in
 * buf the first one quoted, "'x'" or "'x' and N more" (for messages). */
int cs_list_missing(const char *a, const char *b, char *buf, size_t len);

/* ---- logging -----------------------------------------------------------------------------
 * Only rank 0 prints progress; errors are printed by the top level after the ranks agreed.
 * Lines go to stderr as "[custseg   12.3s] message", so stdout stays for results. */
typedef enum { CS_LOG_QUIET = 0, CS_LOG_INFO = 1, CS_LOG_DEBUG = 2 } cs_log_level_t;

void cs_log_init(int rank, cs_log_level_t level);
int cs_log_rank(void);
/* On: info, debug and warning lines are neither printed nor kept (the dry pass of `run`,
 * whose stages say it all again when they run); errors are unaffected. Nests: each on is
 * ended by one off. */
void cs_log_hush(int on);
void cs_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cs_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed by rank 0 (every warning is about values all ranks share), also under --quiet,
 * and only the first time the same text is given in the process (a `run` stage repeating an
 * earlier stage's warning); a text over 2 KiB has its middle elided. Every warning is kept
 * for the JSON summary. */
void cs_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warnings given so far on rank 0 (none on the other ranks); the i-th one's text id (equal
 * ids: equal texts), and the text of an id. */
int cs_log_warnings(void);
int cs_log_warning_id(int i);
const char *cs_log_warning_text(int id);
/* Seconds since cs_log_init (monotonic clock). */
double cs_wtime(void);

/* Progress of a long loop: prints at most every `interval` seconds and at the end. */
typedef struct cs_progress {
  const char *what;
  int64_t total; /* 0 or less: not known (a file read from a pipe) */
  double t0, last, interval;
  int done_said; /* the 100% line was printed: not again */
} cs_progress_t;
void cs_progress_start(cs_progress_t *p, const char *what, int64_t total);
void cs_progress_update(cs_progress_t *p, int64_t done);

/* ---- timers ------------------------------------------------------------------------------ */
#define CS_MAX_TIMERS 32
typedef struct cs_timers {
  int n;
  const char *name[CS_MAX_TIMERS];   /* string literals */
  double seconds[CS_MAX_TIMERS];
  double started[CS_MAX_TIMERS];
} cs_timers_t;
/* Start/stop a named stage timer (accumulates). Local. */
void cs_timer_start(cs_timers_t *t, const char *name);
void cs_timer_stop(cs_timers_t *t, const char *name);

/* ---- element types shared by par and io --------------------------------------------------- */
typedef enum cs_dtype {
  CS_DT_NONE = 0, /* not numeric (strings, compound, ...) */
  CS_DT_I8, CS_DT_I16, CS_DT_I32, CS_DT_I64,
  CS_DT_U8, CS_DT_U16, CS_DT_U32, CS_DT_U64,
  CS_DT_F32, CS_DT_F64
} cs_dtype_t;
/* The offset of the first byte of s that does not start a valid UTF-8 character (overlong
 * forms, surrogates and code points beyond U+10FFFF are invalid), or -1 when s is UTF-8. */
int cs_utf8_bad(const char *s);
/* The bytes of the valid UTF-8 character s starts with (1 to 4), or 0 when it starts none. */
int cs_utf8_char(const char *s);
size_t cs_dtype_size(cs_dtype_t t);
const char *cs_dtype_name(cs_dtype_t t);
int cs_dtype_is_float(cs_dtype_t t);
/* Convert n elements of type `from` at src into doubles / int64 at dst. Local. */
void cs_convert_to_f64(cs_dtype_t from, const void *src, double *dst, int64_t n);
void cs_convert_to_i64(cs_dtype_t from, const void *src, int64_t *dst, int64_t n);
/* Store x as element i of an array of type t (the value must fit t). Local. */
void cs_dtype_put(cs_dtype_t t, void *array, int64_t i, double x);

/* ---- exact, order-independent sums ----------------------------------------------------------
 * A double x is summed as the 128-bit integer trunc(x * 2^s), so sums are associative and
 * the same for any split over ranks and threads. s is chosen once per quantity from a bound
 * on |x| and the number of terms, so no sum can overflow. The grid 2^-s is 2^-52 of the bound
 * (cs_fixed_exponent: int64 partial sums) or finer (cs_fixed_exponent_wide): terms far
 * smaller than the largest keep fewer digits, so each quantity gets its own bound
 * (k-means: one per feature; documented in docs/segments.md, Determinism). */
typedef __int128 cs_fixed_t;
/* Exponent s such that n_terms values of magnitude <= maxabs sum below 2^124 and each scaled
 * value stays below 2^52, so up to 1024 of them can be summed in an int64 first
 * (CS_FIXED_BLOCK). Local. */
int cs_fixed_exponent(double maxabs, int64_t n_terms);
/* 2^-e for maxabs = m * 2^e, m in [0.5, 1), at most 2^1021 (1 for 0 or a non-finite
 * maxabs): values first multiplied by it lie within 1 in magnitude, so a grid from
 * cs_fixed_exponent never meets its cap (2^1000, below which the grid of values near 1e-150
 * had been too coarse for their squares) and squared deviations cannot overflow. The product
 * is exact, so the integers summed are those of the unscaled values wherever those were on a
 * grid of their own. Local. */
double cs_fixed_prescale(double maxabs);
/* The same without the int64 bound on a scaled value: for terms converted to 128 bits one by
 * one (cs_to_fixed), whose grid is then 2^-(124 - log2 n) of maxabs instead of 2^-52 of it.
 * Local. */
int cs_fixed_exponent_wide(double maxabs, int64_t n_terms);
#define CS_FIXED_BLOCK 1024
static inline cs_fixed_t cs_to_fixed(double x, int s) {
  return (cs_fixed_t)__builtin_ldexp(x, s);
}
static inline double cs_from_fixed(cs_fixed_t v, int s) { return __builtin_ldexp((double)v, -s); }

/* A running exact sum: int64 partial sums of up to CS_FIXED_BLOCK terms, flushed into a
 * 128-bit total (one cheap conversion per term instead of a 128-bit one). */
typedef struct cs_fixacc {
  cs_fixed_t total;
  int64_t part;
  int count;
  double scale; /* 2^s */
} cs_fixacc_t;
static inline void cs_fixacc_init(cs_fixacc_t *a, int s) {
  a->total = 0;
  a->part = 0;
  a->count = 0;
  a->scale = __builtin_ldexp(1.0, s);
}
static inline void cs_fixacc_add(cs_fixacc_t *a, double x) {
  a->part += (int64_t)(x * a->scale);
  if (++a->count == CS_FIXED_BLOCK) {
    a->total += a->part;
    a->part = 0;
    a->count = 0;
  }
}
static inline cs_fixed_t cs_fixacc_total(const cs_fixacc_t *a) { return a->total + a->part; }

/* An exact sum of finite doubles of any magnitudes, with no bound known in advance (a column
 * that inspect has not seen yet): x is its 53-bit significand times the power of two of its
 * exponent field, and the significands are summed in one 128-bit integer per exponent, so the
 * bins, and the double made of them, are the same in any order and any split over ranks and
 * threads. 32 KB; room for 2^72 terms. Bins add up bin by bin (cs_par_sum_i128_n). */
#define CS_XSUM_BINS 2048
typedef struct cs_xsum {
  cs_fixed_t bin[CS_XSUM_BINS];
} cs_xsum_t;
static inline void cs_xsum_add(cs_xsum_t *a, double x) {
  uint64_t u;
  __builtin_memcpy(&u, &x, sizeof u);
  const int e = (int)(u >> 52 & 0x7ff);
  const int64_t m = (int64_t)(u & 0xfffffffffffffULL) | (e ? (int64_t)1 << 52 : 0);
  a->bin[e ? e : 1] += u >> 63 ? -m : m; /* subnormals: the scale of exponent field 1 */
}
/* The sum divided by n > 0, bin by bin from the smallest: one double for given bins, and
 * finite (the bins' terms are at most the largest |x|). Local. */
double cs_xsum_mean(const cs_xsum_t *a, int64_t n);

/* ---- the run context ---------------------------------------------------------------------- */
struct cs_comm; /* defined by par: the communicator */

typedef struct cs_ctx {
  struct cs_comm *comm;
  int rank, size;    /* what MPI_Comm_rank / MPI_Comm_size return for comm */
  int threads;       /* OpenMP threads per rank */
  cs_timers_t timers;
  int warn_mark;     /* the summary lists the warnings from this one on (cs_log_warnings) */
  int check_only;    /* run's dry pass: a stage returns CS_ECHECKED where it would read data */
  int check_segments; /* in the dry pass: the segment stage is to make --segment-results */
  int in_run;        /* a stage of `custseg run`, which hands every stage the earlier results */
} cs_ctx_t;

#endif
