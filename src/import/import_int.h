/* import/import_int.h: what the files of src/import share (not part of the public API). */
#ifndef CUSTSEG_IMPORT_INT_H
#define CUSTSEG_IMPORT_INT_H

#include "custseg/import.h"
#include "custseg/io.h"

/* ---- values (types.c) ------------------------------------------------------------------------ */
/* A decimal integer that fits int64 ("007", "+5", "-3"): 0; not an integer: -1; an integer
 * outside int64: -2. */
int cs__parse_int(const char *s, int64_t *v);
/* A customer id: cs__parse_int, or with `hash` (--hash-ids) any non-empty text, as the
 * XXH3-64 hash of its bytes with the top bit cleared (so the same text gives the same id in
 * every import, in either file); 0 or cs__parse_int's -1 / -2. */
int cs__parse_id(const char *s, int hash, int64_t *v);
/* What is wrong with customer id text s that cs__parse_id refused with rc (-1 or -2), for a
 * bad row's message. */
const char *cs__id_error(const char *s, int rc);
/* The error for text that is not UTF-8 (the store's strings are UTF-8), naming the file, the
 * line, what the text is ("column 'city'", "the header") and the first bad byte. */
int cs__not_utf8(const char *file, int64_t line, const char *what, const char *s, int bad,
                 const char *src, int src_line);
/* A finite decimal number ("1", "-2.5", ".5", "1e6"; not hex, nan or inf). 0 or -1. */
int cs__parse_float(const char *s, double *v);
/* Whether s reads as a number written for people, which custseg does not read: a decimal
 * comma, digit grouping, a currency or percent sign ("12,50", "1,234.50", "$5"). */
int cs__localized_number(const char *s);
/* Whether s is a decimal number whose magnitude is beyond the largest double (1e309). */
int cs__beyond_float64(const char *s);

/* CS_V_BIGINT: an integer outside int64 (f holds it rounded to a double). */
typedef enum { CS_V_EMPTY, CS_V_INT, CS_V_FLOAT, CS_V_TEXT, CS_V_BIGINT } cs_vclass_t;

/* Tokens that mean missing besides the empty field (--na-values). */
typedef struct cs_na {
  int n;
  char **tok;
} cs_na_t;
int cs__na_parse(const char *list, cs_na_t *na);
void cs__na_free(cs_na_t *na);
/* What a field holds; *i / *f get the value of an integer / a number. */
cs_vclass_t cs__classify(const cs_na_t *na, const char *s, int64_t *i, double *f);
/* s without the spaces and tabs around it (a quoted CSV field keeps them): s itself, or a
 * copy in buf (size bytes) or, when longer, on the heap (free it when it is neither s nor
 * buf); NULL when out of memory. */
const char *cs__strip_blanks(const char *s, char *buf, size_t size);

/* ---- declared column types (types.c) ------------------------------------------------------ */
typedef enum { CS_K_AUTO, CS_K_ID, CS_K_INT, CS_K_FLOAT, CS_K_CAT, CS_K_SKIP } cs_kind_t;

typedef struct cs_schema_entry {
  char name[CS_NAME_MAX];
  cs_kind_t kind;
  cs_dtype_t dtype;  /* CS_K_INT, CS_K_FLOAT: the declared width */
  char **levels;     /* CS_K_CAT with declared levels, in code order */
  int n_levels;
  int line;          /* line of the schema file */
  int used;          /* matched a column of the CSV header */
} cs_schema_entry_t;

typedef struct cs_schema {
  const char *path;
  int n;
  cs_schema_entry_t *e;
} cs_schema_t;

/* Read `name = type` lines (docs/import.md). Errors name the file and line (CS_ECONFIG). */
int cs__schema_read(const char *path, cs_schema_t *s);
void cs__schema_free(cs_schema_t *s);
cs_schema_entry_t *cs__schema_find(cs_schema_t *s, const char *name);
/* The smallest signed type for categorical codes 0..n-1 and -1 (missing). */
cs_dtype_t cs__code_dtype(int64_t n_levels);
/* Whether integer v fits type t (an integer type). */
int cs__int_fits(cs_dtype_t t, int64_t v);
/* The names of a header as "a, b, c" for an error message (cut to len), and, when the header
 * is one field holding ';', a tab or '|', a hint at --delimiter (else ""). */
void cs__header_list(const char *const *names, int n, char *list, size_t len, char *hint, size_t hlen,
                     const char *option);

/* ---- distinct strings (dict.c): category levels ------------------------------------------- */
typedef struct cs_dict {
  char *arena;
  size_t arena_len, arena_cap;
  size_t *off;
  int n, cap;
  int32_t *slot; /* open addressing: index into off, -1 when empty */
  int64_t nslot;
} cs_dict_t;

void cs__dict_init(cs_dict_t *d);
void cs__dict_free(cs_dict_t *d);
/* Index of s, or -1. */
int cs__dict_find(const cs_dict_t *d, const char *s);
/* Index of s, adding it when new (*added = 1). CS_ENOMEM on failure. */
int cs__dict_add(cs_dict_t *d, const char *s, int *idx, int *added);
static inline const char *cs__dict_str(const cs_dict_t *d, int i) { return d->arena + d->off[i]; }

/* ---- the import in progress (import.c) ------------------------------------------------------ */
/* Whole amounts grouped by '.' (1.234 for 1234, common in ';' files) read as decimals, as
 * pandas reads them: the numbers of a column counted, to say so when every '.' is followed by
 * three digits and the values without one stay below 1000. */
typedef struct cs__grouping {
  /* those with a '.', those of them shaped like a thousands group (1.234), integers below
   * 1000 and from 1000 on in magnitude; the first grouped one */
  int64_t n_dotted, n_grouped, n_small_int, n_big_int, grouped_line;
  char grouped_value[40];
} cs__grouping_t;
/* One number: its text, whether it is an integer and then its value, its line. */
void cs__grouping_note(cs__grouping_t *g, const char *s, int is_int, int64_t iv, int64_t line);
/* The warning, when the column looks grouped; `what` names it ("column 'amount'"). Rank 0. */
void cs__grouping_warn(const cs__grouping_t *g, const char *what);

typedef struct cs__col {
  char name[CS_NAME_MAX]; /* name in the store */
  char csv_name[CS_NAME_MAX]; /* name in the CSV header (differs for the id column) */
  int renamed;            /* name comes from --rename */
  int field;              /* field of the CSV record */
  cs_kind_t kind;         /* now (inference may still change it), final after pass 1 */
  int declared;           /* type from the schema */
  cs_dtype_t dtype;       /* storage type (final after pass 1) */
  int decided;            /* the type is fixed (declared, or inference done) */
  int64_t seen;           /* non-empty values so far while inferring */
  int saw_float, overflow;
  int64_t missing;
  int64_t wide_line;      /* inferred: the first line with an integer beyond 2^53, 0 if none */
  char wide_text[24];     /* ... and that value as written */
  int64_t big_line;       /* inferring: the first line with an integer beyond int64, 0 if none */
  char big_text[48];      /* ... and that value as written (cut) */
  int64_t text_line;      /* inferred categorical: the line of the text that made it so */
  char text_value[40];    /* ... that text (cut) */
  int64_t n_numeric, n_text; /* inferred categorical: its values that read as numbers, not */
  int64_t n_localized;    /* ... of its text, values like numbers in another notation */
  int64_t localized_line; /* ... the first of those, and its text (cut) */
  char localized_value[40];
  cs__grouping_t grouping; /* inferred numbers: the thousands check */
  cs_dict_t dict;         /* levels (categorical), or the values seen while inferring */
  int fixed_levels;       /* levels declared: no others are accepted */
  int32_t *code;          /* dict index -> code (levels in byte order unless declared) */
} cs__col_t;

typedef struct cs__imp {
  const cs_import_opts_t *o;
  cs_ctx_t *self;
  cs_import_result_t *res;
  char tmp_dir[4096];
  char tag[512];
  cs_na_t na;
  cs_schema_t schema;
  int64_t warned;         /* skipped rows logged so far */
  int quiet_skip;         /* count the next skipped row without a warning (already given) */
  int cust_pass;          /* readings of the customers file's header so far */
  int64_t rows_per_write;
  /* customers file */
  cs_csv_t *cust;
  int nfields, ncols;
  cs__col_t *cols;        /* stored columns, the id column first */
  cs_xsort_t *skip;       /* customers lines to leave out in pass 2 (line order) */
  cs_xsort_t *ids;        /* (id, row) of the written customers, by id */
  int ids_ascending;      /* customer rows are in increasing id order */
  int64_t n_customers;
  /* transactions file */
  cs_xsort_t *txn;        /* transactions by (id, time, line) */
  int64_t odd_dates;      /* transactions dated before 1900 or over a year ahead */
  cs__grouping_t amount_grouping; /* the amounts: the thousands check */
  int64_t odd_date_line;  /* ... the first of them, and its date as written (cut) */
  char odd_date_text[40];
} cs__imp_t;

/* A transaction on its way through the sorts. */
typedef struct cs__txn {
  int64_t id;
  double time;
  int64_t line;
  double amount;
  int64_t row; /* the customer's row in /customers, once known */
} cs__txn_t;

/* A bad row: with --skip-bad-rows it is counted in *counter, the first few are logged, and
 * 1 is returned (skip it); otherwise the message becomes the error (CS_EDATA). */
int cs__bad_row(cs__imp_t *imp, int64_t *counter, const char *file, int line, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
#define CS_BAD_ROW(imp, counter, ...) cs__bad_row((imp), (counter), __FILE__, __LINE__, __VA_ARGS__)

/* A new sorter in the import's temporary directory with `eighths`/8 of --sort-memory. The
 * shares keep the sorts alive at the same time within the limit: pass 1 skip 1 + duplicates
 * 3; transactions skip 1 + txn 3; pass 2 skip 1 + txn 3 + ids 1; the join ids 1 + txn 3 +
 * by-row 4. */
/* Order of records whose first member is an int64 key: skip lines, (id, row) pairs. */
int cs__cmp_first_i64(const void *pa, const void *pb);
int cs__sort_new(cs__imp_t *imp, size_t rec_size, cs_xsort_cmp_t cmp, int eighths,
                 cs_xsort_t **out);
/* Add the sorter's figures to the result and free it; *s becomes NULL. */
void cs__sort_done(cs__imp_t *imp, cs_xsort_t **s);
/* Progress (`done` of the total) looked at every 4096th record (cs_progress_update reads the
 * clock); `records` counts the records so far. */
static inline void cs__progress(cs_progress_t *p, int64_t records, int64_t done) {
  if ((records & 4095) == 0) cs_progress_update(p, done);
}

/* Rows per write step: --chunk-rows, but at most 8 MiB of buffers for rows of row_bytes (and
 * at least 1024 rows). */
void cs__set_write_rows(cs__imp_t *imp, int64_t row_bytes);
/* A column written in steps of rows_per_write rows. */
typedef struct cs__colw {
  cs_dset_t *ds;
  cs_dtype_t type;
  size_t size;
  unsigned char *buf;
  int64_t n, cap, written, total;
} cs__colw_t;
int cs__colw_open(cs__imp_t *imp, cs__colw_t *w, cs_out_t *out, const char *path, cs_dtype_t type,
                  int64_t total);
int cs__colw_push(cs__colw_t *w, const void *value);
/* Write what is left and check that exactly `total` rows came. */
int cs__colw_close(cs__colw_t *w);
void cs__colw_free(cs__colw_t *w);

/* The customers file's header (header.c): imp->cols and imp->ncols, the id column first,
 * the --rename'd names the store will hold, checked as dataset names; the schema's
 * declarations matched to the file's columns. Errors name the file (line 1) or the schema. */
int cs__read_header(cs__imp_t *imp, const cs_csv_record_t *h);
/* customers.c: pass 1 (header, types, levels, bad rows, duplicate ids), then pass 2 (write
 * /customers; feeds imp->ids when transactions follow). */
int cs__cust_scan(cs__imp_t *imp);
int cs__cust_write(cs__imp_t *imp, cs_out_t *out, int want_ids);
void cs__cust_free(cs__imp_t *imp);

/* transactions.c: read and check the file into imp->txn; then join, order and write
 * /transactions and /customers/txn_offset (and /customers/customer_id when there is no
 * customers file). */
int cs__txn_scan(cs__imp_t *imp);
int cs__txn_write(cs__imp_t *imp, cs_out_t *out);

#endif
