/* import: CSV files -> customer store (`custseg import`, docs/import.md).
 *
 * Everything here is local to one process: `custseg import` runs it on rank 0, which writes
 * the store through io on a communicator of its own while the other ranks wait
 * (src/cli/cmd_import.c). Memory stays bounded whatever the file sizes: files are streamed
 * record by record through libcsv, category dictionaries are capped, and everything that must
 * be put in order (customer ids, to find duplicates and to join transactions to customers;
 * transactions, by customer then time) goes through an external merge sort with a memory
 * limit. Nothing here calls MPI or HDF5 directly. */
#ifndef CUSTSEG_IMPORT_H
#define CUSTSEG_IMPORT_H

#include "custseg/core.h"

#include <stdio.h>

/* ---- CSV records (src/import/csvread.c) ---------------------------------------------------
 * A thin pull interface over libcsv. Fields are split at the delimiter, double quotes quote
 * (strict: a stray quote is an error), spaces and tabs around unquoted fields are trimmed,
 * blank lines are skipped, LF and CRLF line ends are accepted and a UTF-8 byte-order mark
 * is dropped. In whitespace mode the delimiter is any run of spaces and tabs (libcsv with a
 * space delimiter; the empty fields between consecutive spaces are dropped), so right-aligned
 * columns such as CDNOW's read as they are. Line numbers count LF characters from 1; a
 * record's line is the line it starts on. */
typedef struct cs_csv_dialect {
  char delim;     /* field delimiter when not whitespace */
  int whitespace; /* 1: runs of spaces and tabs separate fields */
} cs_csv_dialect_t;

/* "," ";" "|" (any one character), "comma", "tab", "semicolon", "pipe" or "whitespace".
 * Returns CS_OK or -1 (nothing recorded). Local. */
int cs_csv_dialect_parse(const char *text, cs_csv_dialect_t *d);
/* The dialect's name for messages ("','", "whitespace"). Local. */
const char *cs_csv_dialect_name(const cs_csv_dialect_t *d, char *buf, size_t len);

typedef struct cs_csv_record {
  int n;              /* fields */
  const char **field; /* NUL-terminated field texts (valid until the next cs_csv_next) */
  int64_t line;       /* line the record starts on */
} cs_csv_record_t;

typedef struct cs_csv cs_csv_t;
/* Open `path` for reading records. Errors name the file (CS_ENOENT, CS_EIO). Local. */
int cs_csv_open(const char *path, const cs_csv_dialect_t *d, cs_csv_t **out);
/* The next record: 1 (rec filled), 0 at the end of the file, or a negative status with an
 * error naming the file and line (malformed quoting, read error). Local. */
int cs_csv_next(cs_csv_t *r, cs_csv_record_t *rec);
/* Start again from the first record. Local. */
int cs_csv_rewind(cs_csv_t *r);
/* Bytes read so far and the file's size (for progress lines). Local. */
int64_t cs_csv_bytes_read(const cs_csv_t *r);
int64_t cs_csv_size(const cs_csv_t *r);
void cs_csv_close(cs_csv_t *r);

/* ---- dates (src/import/date.c) ------------------------------------------------------------
 * A format is a pattern of the fields yyyy (4 digits), mm, dd, and optionally HH, MI, SS
 * (1 or 2 digits each), with any other characters matched literally ("yyyymmdd",
 * "yyyy-mm-dd", "dd/mm/yyyy", "yyyy-mm-dd HH:MI:SS"), or `days` (a number of days since
 * 1970-01-01, fractions allowed) or `unix` (seconds since 1970-01-01 00:00 UTC). */
typedef struct cs_date_format {
  char text[64];
  int kind; /* 0 pattern, 1 days, 2 unix */
} cs_date_format_t;

/* Check and store a format. Returns CS_OK or CS_EUSAGE with a message naming it. Local. */
int cs_date_format_parse(const char *text, cs_date_format_t *f);
/* A field in that format as days since 1970-01-01 (times of day as fractions). Returns 0,
 * -1 when the text does not match or is not a calendar date, or -2 when a `days` or `unix`
 * number falls outside the years 0000-9999 (nothing recorded: the caller names file, line
 * and column). Local. */
int cs_date_parse(const cs_date_format_t *f, const char *s, double *days);

/* ---- external merge sort (src/import/xsort.c) ---------------------------------------------
 * Fixed-size records are collected in a buffer of at most `mem_bytes`; a full buffer is
 * sorted (qsort) and written as a run to an anonymous temporary file in `tmp_dir` (created
 * and unlinked at once, so nothing is left behind even by a crash). Whenever CS_XSORT_FANIN
 * runs of one level exist they are merged into one run of the next level, so open files stay
 * few; cs_xsort_finish merges down to at most CS_XSORT_FANIN runs, and cs_xsort_next returns
 * the records in order through a heap over them. When everything fits in the buffer no file
 * is written at all. Each open run file has a 64 KiB stdio buffer besides the limit. The comparison must be a total order (add a tie-breaker such as a line
 * number): equal records come out in an unspecified order. */
#define CS_XSORT_FANIN 16

typedef int (*cs_xsort_cmp_t)(const void *a, const void *b);
typedef struct cs_xsort cs_xsort_t;

typedef struct cs_xsort_stats {
  int64_t records;
  int64_t runs;        /* runs written to disk (0: sorted in memory) */
  int64_t merges;      /* intermediate merges (each of CS_XSORT_FANIN runs) */
  int64_t bytes_spilled;
} cs_xsort_stats_t;

/* A sorter of records of `rec_size` bytes. `tag` names the temporary files
 * (".<tag>.XXXXXX" in tmp_dir). Local. */
int cs_xsort_new(size_t rec_size, cs_xsort_cmp_t cmp, size_t mem_bytes, const char *tmp_dir,
                 const char *tag, cs_xsort_t **out);
int cs_xsort_add(cs_xsort_t *s, const void *rec);
/* No more records: sort what is left and prepare the merge. Local. */
int cs_xsort_finish(cs_xsort_t *s);
/* The next record in order: 1, 0 at the end, or a negative status. Local. */
int cs_xsort_next(cs_xsort_t *s, void *rec);
/* Read the sorted records again from the first. Local. */
int cs_xsort_rewind(cs_xsort_t *s);
void cs_xsort_get_stats(const cs_xsort_t *s, cs_xsort_stats_t *st);
/* Free the buffers and close (and so delete) the temporary files. NULL is allowed. */
void cs_xsort_free(cs_xsort_t *s);

/* ---- the import ---------------------------------------------------------------------------- */
typedef struct cs_import_opts {
  const char *output;           /* the store to write */
  const char *customers_csv;    /* customers file (NULL: customers come from transactions) */
  const char *schema;           /* declared column types (NULL: all inferred) */
  const char *id_column;        /* customers file's id column (NULL: the schema's, else
                                   customer_id) */
  const char *rename;           /* "OLD=NEW,..." customers columns stored under other names,
                                   or NULL */
  cs_csv_dialect_t delim;       /* customers file */
  const char *na_values;        /* comma-separated tokens that also mean missing, or NULL */
  int64_t infer_rows;           /* a column's type comes from its first infer_rows values */
  int64_t max_categories;       /* most levels of a text column */
  const char *transactions_csv; /* transactions file, or NULL */
  cs_csv_dialect_t txn_delim;
  const char *txn_columns;      /* comma-separated names of the file's columns, or NULL */
  int txn_header;               /* the first line is a header */
  const char *txn_id_column, *txn_date_column, *txn_amount_column;
  cs_date_format_t txn_date_format;
  int skip_bad_rows;            /* skip (and count) bad rows instead of failing */
  int hash_ids;                 /* text customer ids, hashed to int64 (cs__parse_id) */
  int64_t sort_memory;          /* bytes for the sort buffers */
  const char *tmp_dir;          /* sort runs go here (NULL: the output's directory) */
  int64_t chunk_rows;           /* most rows per write step */
} cs_import_opts_t;

/* What one imported column became. */
typedef struct cs_import_column {
  char name[64];
  char type[16];     /* "int64", "float64", "int8" (categorical codes), ... */
  int categorical;   /* levels when categorical, else 0 */
  int declared;      /* 1 when the schema declared the type */
  int64_t missing;   /* empty or NA values (NaN, or code -1 for categorical) */
} cs_import_column_t;

typedef struct cs_import_result {
  int64_t customers;       /* rows of /customers */
  int64_t transactions;    /* rows of /transactions (-1 without a transactions file) */
  int64_t cust_rows, cust_bad, cust_duplicates;   /* data rows read, skipped as bad / as
                                                      repeated ids (--skip-bad-rows) */
  int64_t txn_rows, txn_bad, txn_unknown;         /* ... and skipped for an unknown customer */
  int n_columns;
  cs_import_column_t *columns; /* malloc'ed; cs_import_result_free */
  int txn_resorted;        /* 1 when customer rows were not in id order and transactions
                              needed a second sort (by row) */
  cs_xsort_stats_t sort;   /* summed over all sorts */
} cs_import_result_t;

/* Read the CSV files, check them, sort the transactions and write the store to o->output
 * (published atomically through io; nothing is left on failure). ctx is this process alone
 * (cs_par_self). Errors name file, line and column: "FILE:LINE: column 'x': ...". Local. */
int cs_import_run(cs_ctx_t *self, const cs_import_opts_t *o, cs_import_result_t *res);
void cs_import_result_free(cs_import_result_t *res);

#endif
