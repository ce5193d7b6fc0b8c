/* io: the only module that calls HDF5.
 *
 * Reading: the customer store (schema v1, docs/format.md) is opened on every rank through the
 * mpio driver with collective metadata; a column is read as a contiguous row range per rank
 * (any width of integer or float, converted on the way), each rank on its own and not
 * through MPI-IO (src/io/rows.c says why). Ranks with no rows read nothing.
 *
 * Writing: an output file is created under a hidden temporary name in the destination
 * directory and renamed by rank 0 only after every rank has closed it, so a reader never
 * sees a partial file; on failure the temporary file is removed. */
#ifndef CUSTSEG_IO_H
#define CUSTSEG_IO_H

#include "custseg/core.h"
#include "custseg/par.h"

#define CS_NAME_MAX 64
#define CS_SCHEMA_VERSION 1

/* ---- the customer store ------------------------------------------------------------------- */
typedef struct cs_column {
  char name[CS_NAME_MAX];
  cs_dtype_t dtype;        /* CS_DT_NONE when not numeric */
  char type_desc[48];      /* "int32", "float64", "string", "compound", ... */
  int64_t length;          /* dims[0]; -1 when not 1-D */
  int n_categories;        /* > 0 when the column is categorical */
  char **categories;       /* n_categories level names (owned by the store) */
  double *local;           /* a computed column: this rank's rows (owned), NULL for the file's */
  int64_t local_offset, local_count;
} cs_column_t;

typedef struct cs_store {
  char path[4096];
  int64_t n;               /* rows (customers) */
  int schema_version;
  int n_columns;
  cs_column_t *columns;    /* in name order */
  int64_t txn_rows;        /* rows of /transactions, -1 when absent */
  int n_txn_columns;
  cs_column_t *txn_columns; /* /transactions columns, in name order */
  void *impl;              /* HDF5 handles */
} cs_store_t;

/* Open and validate a store: the file exists and is HDF5, /customers with schema_version 1,
 * every dataset 1-D of the same length, customer_id present and integer. Errors name the
 * file, dataset and value. Collective; the error is agreed across ranks. */
int cs_store_open(cs_ctx_t *ctx, const char *path, cs_store_t **out);
/* Close the store and free it. Collective. */
void cs_store_close(cs_store_t *store);
/* The column named `name`, or NULL. Local. */
const cs_column_t *cs_store_column(const cs_store_t *store, const char *name);
/* Read rows [offset, offset + count) of /customers/<name> into buf as `memtype`
 * (CS_DT_F64 or CS_DT_I64, or the column's own type). The transfer is collective and in
 * the file's type; the conversion happens in memory. count may be 0. Collective. */
int cs_store_read(cs_store_t *store, const char *name, int64_t offset, int64_t count,
                  cs_dtype_t memtype, void *buf);
/* The store read cache (docs/pipeline.md, "Reading the store once"): between start and stop,
 * each column read by cs_store_read / cs_store_read_txn is kept in memory (per rank, up to
 * budget_bytes, all ranks deciding together), and a later read of the same rows of the same
 * file is served from it. Stop frees it and returns what it did. Local; call on every rank. */
typedef struct cs_store_cache_stats {
  int64_t file_reads, cache_reads;
  int64_t file_bytes, cache_bytes; /* this rank's, in the types read */
  int64_t peak_bytes;
} cs_store_cache_stats_t;
void cs_store_cache_start(size_t budget_bytes);
void cs_store_cache_stop(cs_store_cache_stats_t *stats);
/* Add a computed column `name` (e.g. rfm_frequency) whose values exist only for this
 * rank's rows [offset, offset + count); reads must stay inside them. The values are copied.
 * With n_categories > 0 it is categorical (integer codes into `categories`, one-hot encoded
 * by the feature pipeline). Every rank must add the same names. Local. */
int cs_store_add_computed(cs_store_t *store, const char *name, int64_t offset, int64_t count,
                          const double *values, const char *const *categories,
                          int n_categories);
/* The same for /transactions: its column `name` (or NULL), and rows of it. */
const cs_column_t *cs_store_txn_column(const cs_store_t *store, const char *name);
int cs_store_read_txn(cs_store_t *store, const char *name, int64_t offset, int64_t count,
                      cs_dtype_t memtype, void *buf);
/* How the last read from the file was done: "direct pread of contiguous storage" or "serial
 * HDF5 read" (io/store_read.c says why). Local. */
const char *cs_store_last_read_how(const cs_store_t *store);

/* Read a small 1-D or 2-D float dataset (e.g. centroids) on rank 0 and broadcast it:
 * *data (malloc'ed, rows x cols, caller frees), the string attribute `units` when present
 * ("" otherwise) and the string-array attribute `features` joined by commas ("" otherwise).
 * Collective. */
int cs_io_read_matrix(cs_ctx_t *ctx, const char *path, const char *dataset, double **data,
                      int64_t *rows, int64_t *cols, char *units, size_t units_len,
                      char *features, size_t features_len);

/* Read rows [offset, offset + count) of the 1-D integer dataset `dataset` of another file
 * (e.g. a segment results file's /segments/labels) as int64, after checking that it has
 * n_expected rows. Collective (each rank reads its rows on its own); errors are agreed. */
int cs_io_read_rows(cs_ctx_t *ctx, const char *path, const char *dataset, int64_t n_expected,
                    int64_t offset, int64_t count, int64_t *buf);
/* The same for a 1-D numeric dataset (integer or float, e.g. /churn/score, /clv/value) read
 * as double, read in the file's own type and converted in memory. Collective (each rank reads
 * its rows on its own); errors are agreed. */
int cs_io_read_rows_f64(cs_ctx_t *ctx, const char *path, const char *dataset,
                        int64_t n_expected, int64_t offset, int64_t count, double *buf);

/* Length of the 1-D dataset `dataset` of file `path` in *n, or -1 when there is no such
 * dataset. Errors: the file cannot be opened or is not HDF5, the dataset is not 1-D. Rank 0
 * reads, everyone gets the answer. Collective. */
int cs_io_dataset_length(cs_ctx_t *ctx, const char *path, const char *dataset, int64_t *n);

/* Read a string attribute (`out` gets "" when absent) or a string-array attribute (*items
 * malloc'ed array of malloc'ed strings, *n = 0 when absent) of `object` in file `path`, on
 * rank 0, and broadcast. Collective. */
int cs_io_read_attr_str(cs_ctx_t *ctx, const char *path, const char *object, const char *name,
                        char *out, size_t len);
/* A string-array attribute joined by CS_LIST_SEP into *joined (malloc'ed; "" when absent): the
 * names keep their commas. Collective. */
int cs_io_read_attr_list(cs_ctx_t *ctx, const char *path, const char *object, const char *name,
                         char **joined);
int cs_io_read_attr_strings(cs_ctx_t *ctx, const char *path, const char *object,
                            const char *name, char ***items, int *n);
void cs_io_free_strings(char **items, int n);

/* ---- small objects of results files (results.c; rank 0 reads, everyone gets them) ---------- */
/* *exists = 1 when every component of `object` ("/segments/personas") exists in file `path`.
 * Errors: the file is missing (CS_ENOENT) or not HDF5 (CS_EFORMAT). Collective. */
int cs_io_object_exists(cs_ctx_t *ctx, const char *path, const char *object, int *exists);
/* Every attribute of `object`, in name order, as text: integers as %lld, floats as %.17g
 * (they parse back to the same double), strings as they are, arrays joined by ", ". The
 * caller frees with cs_io_free_attrs (also after a failure). Collective. */
typedef struct cs_io_attrs {
  int n;
  char **name, **value;
} cs_io_attrs_t;
int cs_io_read_attrs(cs_ctx_t *ctx, const char *path, const char *object, cs_io_attrs_t *out);
/* The value of attribute `name`, or NULL. Local. */
const char *cs_io_attr(const cs_io_attrs_t *a, const char *name);
void cs_io_free_attrs(cs_io_attrs_t *a);
/* The numeric fields `fields` (at most 63) of the 1-D compound dataset `dataset` (e.g.
 * /roi/table) as doubles: *data (malloc'ed, *rows x n_fields, caller frees); present[j] = 0
 * and NaN values for a field the table lacks. Collective. */
int cs_io_read_table_f64(cs_ctx_t *ctx, const char *path, const char *dataset,
                         const char *const *fields, int n_fields, double **data, int64_t *rows,
                         int *present);
/* Rank 0 writes `len` bytes of `text` to a hidden temporary file next to `path` and renames
 * it; on failure the temporary file is removed and nothing is left under `path`. `what`
 * names the file in the error ("report"). Collective (agreed). */
int cs_io_publish_text(cs_ctx_t *ctx, const char *path, const char *text, size_t len,
                       const char *what);

/* ---- output files ------------------------------------------------------------------------- */
typedef struct cs_out cs_out_t;
typedef struct cs_dset cs_dset_t;

/* Check, before any compute, that `path` can be created: its directory exists and a file
 * can be made in it, and no other process is writing it (rank 0 claims it, below, until the
 * command ends; refused with CS_EOUTPUT while another holds it). Rank 0 probes, everyone
 * learns the answer. Collective. */
int cs_io_check_writable(cs_ctx_t *ctx, const char *path, const char *what);
/* One writer per output (io/claim.c): rank 0 takes a POSIX lock on the file `lock`, held
 * until cs_io_unclaim_all, which also removes the file. The same answer on every rank:
 * CS_CLAIM_OURS: held now (or already) by this command; CS_CLAIM_HELD: another process holds
 * it, and who[len] says which (the holder's "pid P on HOST, Slurm job J, since T" line);
 * CS_CLAIM_NONE: it cannot be locked here (no locks on this file system, another user's file),
 * who says why. Collective; cs_io_unclaim_all is local. */
enum { CS_CLAIM_NONE = -1, CS_CLAIM_OURS = 0, CS_CLAIM_HELD = 1 };
int cs_io_claim(cs_ctx_t *ctx, const char *lock, char *who, size_t len);
void cs_io_unclaim_all(void);
/* Copy a file (rank 0), written under a temporary name in the destination's directory and
 * renamed when complete. Collective (agreed). */
int cs_io_copy_file(cs_ctx_t *ctx, const char *from, const char *to);
/* Check the file system of `path` has about `bytes` free, so a too-small disk is reported
 * before the compute instead of at the write. Collective. */
int cs_io_check_space(cs_ctx_t *ctx, const char *path, int64_t bytes, const char *what);
/* Create an output HDF5 file under a temporary name next to `path`. Collective. */
int cs_out_create(cs_ctx_t *ctx, const char *path, cs_out_t **out);
/* The same for a small file (no cs_out_dataset): built in memory on rank 0 and written with
 * write(2) at the commit, so a full disk is one clean error (a checkpoint). Collective. */
int cs_out_create_image(cs_ctx_t *ctx, const char *path, cs_out_t **out);
/* Create group `group` (parents too). Collective. */
int cs_out_group(cs_out_t *out, const char *group);
/* Create a 1-D dataset of n elements of type `type` at `path` ("/customers/age"). Collective. */
int cs_out_dataset(cs_out_t *out, const char *path, cs_dtype_t type, int64_t n, cs_dset_t **d);
/* Write rows [offset, offset + count) of d from buf (same type as the dataset): each rank's
 * rows with independent MPI-IO, the outcome agreed. Collective. */
int cs_out_write(cs_dset_t *d, int64_t offset, int64_t count, const void *buf);
/* Attributes on an object (group or dataset path). Same value on every rank. Collective. */
int cs_out_attr_i64(cs_out_t *out, const char *obj, const char *name, int64_t v);
int cs_out_attr_f64(cs_out_t *out, const char *obj, const char *name, const double *v, int n);
int cs_out_attr_str(cs_out_t *out, const char *obj, const char *name, const char *v);
int cs_out_attr_strings(cs_out_t *out, const char *obj, const char *name,
                        const char *const *v, int n);
/* A small dataset written whole by rank 0 (others join the collective call with nothing):
 * 1-D when cols == 0, else rows x cols row-major. Collective. */
int cs_out_small(cs_out_t *out, const char *path, cs_dtype_t type, int64_t rows, int64_t cols,
                 const void *data);
/* A table: a 1-D compound dataset of `rows` records of `row_bytes` bytes, each field a number
 * of type `type` at byte `offset` of the record (memory and file use the same layout). Written
 * whole by rank 0 like cs_out_small. Collective. */
typedef struct cs_out_field {
  const char *name;
  cs_dtype_t type;
  size_t offset;
} cs_out_field_t;
int cs_out_table(cs_out_t *out, const char *path, const cs_out_field_t *fields, int n_fields,
                 size_t row_bytes, int64_t rows, const void *data);
/* Close everything, agree that every rank succeeded, and rename to the final path.
 * Frees out. On any failure the temporary file is removed. Collective. */
int cs_out_commit(cs_out_t *out);
/* Close and remove the temporary file. Frees out. Collective. */
void cs_out_abort(cs_out_t *out);

/* The HDF5 library version ("1.10.8"). Local. */
void cs_io_library_version(char *buf, size_t len);

/* Remove a file if it exists (rank 0). Collective. */
void cs_io_remove(cs_ctx_t *ctx, const char *path);
/* How many parallel output files were left open because a write failed on some rank
 * (cs_out_abort): when not 0, the process must end by cs_par_abort, not MPI_Finalize, which
 * would close them collectively and hang. Local. */
int cs_io_files_left_open(void);

#endif
