/* import/customers.c: the customers file -> /customers, in two passes.
 *
 * Pass 1 reads the header (header.c) and every row: it fixes each column's type (declared in the schema, or inferred
 * from the column's first --infer-rows non-empty values: any text makes it categorical, else
 * any fraction makes it float, else it is an integer), checks every later value against that
 * type (a text value in a numeric column is a bad row naming file, line and column; an
 * integer column that meets a fraction becomes float), collects the category levels, and
 * sorts (id, line) pairs externally to find repeated ids. When repeated ids were skipped
 * (--skip-bad-rows), pass 1 runs once more without them, so that the rows left out play no
 * part in the types, levels and counts (as if they were not in the file); its warnings are
 * not repeated. Pass 2 (cust_write.c) reads the file again and writes each column.
 * Trade-off: reading twice instead of guessing from a sample and failing late, or staging
 * every value in temporary files; the duplicate check costs a sort of 16 bytes per row. */
#include "import_int.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct idline {
  int64_t id, line;
} idline_t;

static int cmp_idline(const void *pa, const void *pb) {
  const idline_t *a = pa, *b = pb;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

static const char *file_of(const cs__imp_t *imp) { return imp->o->customers_csv; }

/* How a column got its type, for messages: "(int64, inferred from its first 1000 values;
 * declare the type in --schema)" or "(declared float32 in schema.txt)". */
static const char *origin(const cs__imp_t *imp, const cs__col_t *c, char *buf, size_t len) {
  const char *t = c->kind == CS_K_INT ? (c->declared ? cs_dtype_name(c->dtype) : "int64")
                  : c->kind == CS_K_FLOAT ? (c->declared ? cs_dtype_name(c->dtype) : "float64")
                                          : "categorical";
  if (c->declared)
    snprintf(buf, len, "(declared %s in %s)", t, imp->o->schema);
  else
    snprintf(buf, len, "(the column is %s, inferred from its first %lld values; declare its "
             "type in --schema)", t, (long long)imp->o->infer_rows);
  return buf;
}

/* ---- pass 1 -------------------------------------------------------------------------------- */
/* Check a row against the types as they stand. 0: good, 1: skipped, < 0: error. */
static int check_row(cs__imp_t *imp, const cs_csv_record_t *rec, cs_vclass_t *vc, int64_t *iv,
                     double *fv) {
  const char *f = file_of(imp);
  long long line = (long long)rec->line;
  int64_t *bad = &imp->res->cust_bad;
  char why[256];
  if (rec->n != imp->nfields)
    return CS_BAD_ROW(imp, bad, "%s:%lld: %d fields, but the header has %d", f, line, rec->n,
                      imp->nfields);
  for (int k = 0; k < imp->ncols; k++) {
    const cs__col_t *c = &imp->cols[k];
    const char *s = rec->field[c->field], *n = c->csv_name;
    vc[k] = cs__classify(&imp->na, s, &iv[k], &fv[k]);
    switch (c->kind) {
    case CS_K_ID:
      if (vc[k] == CS_V_EMPTY)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': no customer id", f, line, n);
      if (imp->o->hash_ids) {
        cs__parse_id(s, 1, &iv[k]);
        vc[k] = CS_V_INT;
      }
      if (vc[k] != CS_V_INT)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is %s", f, line, n, s,
                          cs__id_error(s, vc[k] == CS_V_BIGINT ? -2 : -1));
      break;
    case CS_K_AUTO:
    case CS_K_FLOAT:
      /* Inferred, it would be stored as float64 and lose digits without a word (as one beyond
       * 2^53 would: judge_columns): the user chooses. While the type is being inferred, text
       * later on makes the column categorical and the number a level like any other, so
       * judge_columns decides (a text column had been refused when its first value was such a
       * number, and accepted when text came first). With --skip-bad-rows the row is skipped
       * as it is read: judge_columns' error could not be skipped. */
      if (vc[k] == CS_V_BIGINT && !c->declared &&
          (c->kind == CS_K_FLOAT || imp->o->skip_bad_rows))
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s is an integer outside the int64 "
                          "range (declare the column float64 to keep it approximately, or "
                          "categorical to keep its digits, in --schema)", f, line, n, s);
      if (c->kind == CS_K_AUTO) break;
      if (vc[k] == CS_V_TEXT)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is %s %s", f, line, n, s,
                          cs__beyond_float64(s) ? "beyond the float64 range" : "not a number",
                          origin(imp, c, why, sizeof why));
      /* Beyond FLT_MAX by less than half a float32 step at the top, a value rounds to FLT_MAX
       * (as numpy prints it, 3.4028235e+38): it fits. */
      if (c->dtype == CS_DT_F32 && vc[k] != CS_V_EMPTY && fabs(fv[k]) >= (double)FLT_MAX + 0x1p103)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s does not fit %s", f, line, n, s,
                          origin(imp, c, why, sizeof why));
      break;
    case CS_K_INT:
      if (vc[k] == CS_V_BIGINT)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s is an integer outside the int64 "
                          "range %s", f, line, n, s, origin(imp, c, why, sizeof why));
      if (vc[k] == CS_V_TEXT || (c->declared && vc[k] == CS_V_FLOAT))
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is not %s %s", f, line, n, s,
                          vc[k] == CS_V_TEXT ? "a number" : "an integer",
                          origin(imp, c, why, sizeof why));
      if (c->declared && vc[k] == CS_V_EMPTY)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s%s%s, but integer columns have no "
                          "missing-value marker (declare it float to keep missing values as "
                          "NaN)", f, line, n, s[strspn(s, " \t")] ? "a missing value '" : "an empty value",
                          s[strspn(s, " \t")] ? s : "", s[strspn(s, " \t")] ? "' (--na-values)" : "");
      if (vc[k] == CS_V_INT && !cs__int_fits(c->dtype, iv[k]))
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': %s does not fit %s", f, line, n, s,
                          origin(imp, c, why, sizeof why));
      break;
    case CS_K_CAT:
      if (c->fixed_levels && vc[k] != CS_V_EMPTY && cs__dict_find(&c->dict, s) < 0)
        return CS_BAD_ROW(imp, bad, "%s:%lld: column '%s': '%s' is not one of the %d categories "
                          "declared in %s", f, line, n, s, c->dict.n, imp->o->schema);
      break;
    default:
      break;
    }
  }
  return 0;
}

/* For a column of numbers that one text value made categorical: where that happened, and
 * what to do if the text marks a missing value ("" otherwise). */
static const char *text_hint(const cs__col_t *c, char *buf, size_t len) {
  buf[0] = '\0';
  if (c->text_line && !c->declared && c->n_numeric > c->n_text)
    snprintf(buf, len, "; it holds numbers but became text at line %lld with '%s': if that "
             "marks a missing value, add it to --na-values", (long long)c->text_line,
             c->text_value);
  return buf;
}

static int add_level(cs__imp_t *imp, cs__col_t *c, const char *s, int64_t line) {
  int idx, added, status = CS_OK;
  char hint[160];
  CS_CHECK(!c->overflow, CS_EDATA, "%s:%lld: column '%s': text value '%s' among more than %lld "
           "distinct values; a text column is stored as categorical (declare the column 'skip' "
           "or its type in --schema, or raise --max-categories%s)", file_of(imp),
           (long long)line, c->csv_name, s, (long long)imp->o->max_categories,
           text_hint(c, hint, sizeof hint));
  CS_TRY(cs__dict_add(&c->dict, s, &idx, &added));
  int bad = added ? cs_utf8_bad(s) : -1;
  if (bad >= 0) {
    char what[CS_NAME_MAX + 16];
    snprintf(what, sizeof what, "column '%s'", c->csv_name);
    CS_TRY(cs__not_utf8(file_of(imp), line, what, s, bad, __FILE__, __LINE__));
  }
  CS_CHECK(c->dict.n <= imp->o->max_categories, CS_EDATA,
           "%s:%lld: column '%s': more than %lld distinct values; a text column is stored as "
           "categorical (declare the column 'skip' or its type in --schema, or raise "
           "--max-categories%s)", file_of(imp), (long long)line, c->csv_name,
           (long long)imp->o->max_categories, text_hint(c, hint, sizeof hint));
fail:
  return status;
}

/* A text value of an inferred categorical column: counted when it looks like a number. */
static void note_text(cs__col_t *c, const char *s, int64_t line) {
  c->n_text++;
  if (!cs__localized_number(s)) return;
  if (!c->n_localized++) {
    c->localized_line = line;
    snprintf(c->localized_value, sizeof c->localized_value, "%s", s);
  }
}

/* A good row: inference, widening and levels. */
static int learn_row(cs__imp_t *imp, const cs_csv_record_t *rec, const cs_vclass_t *vc,
                     const int64_t *iv) {
  int status = CS_OK;
  for (int k = 1; k < imp->ncols; k++) {
    cs__col_t *c = &imp->cols[k];
    const char *s = rec->field[c->field];
    if (vc[k] == CS_V_EMPTY) {
      c->missing++;
      continue;
    }
    /* An integer a double cannot hold exactly, noted in case inference ends in float64. */
    const int64_t two53 = (int64_t)1 << 53;
    if (!c->declared && !c->wide_line && vc[k] == CS_V_INT && (iv[k] > two53 || iv[k] < -two53) &&
        (c->kind == CS_K_AUTO || c->kind == CS_K_INT || c->kind == CS_K_FLOAT)) {
      c->wide_line = rec->line;
      snprintf(c->wide_text, sizeof c->wide_text, "%s", s);
    }
    if (!c->declared && (vc[k] == CS_V_INT || vc[k] == CS_V_FLOAT))
      cs__grouping_note(&c->grouping, s, vc[k] == CS_V_INT, iv[k], rec->line);
    if (c->kind == CS_K_AUTO && vc[k] == CS_V_BIGINT && !c->big_line) {
      c->big_line = rec->line;
      snprintf(c->big_text, sizeof c->big_text, "%s", s);
    }
    switch (c->kind) {
    case CS_K_AUTO:
      c->seen++;
      if (vc[k] == CS_V_TEXT) { /* text: categorical from here on, earlier values included */
        c->kind = CS_K_CAT;
        c->decided = 1;
        c->text_line = rec->line;
        snprintf(c->text_value, sizeof c->text_value, "%s", s);
        c->n_numeric = c->seen - 1;
        note_text(c, s, rec->line);
        CS_TRY(add_level(imp, c, s, rec->line));
        break;
      }
      c->saw_float |= vc[k] == CS_V_FLOAT;
      if (!c->overflow) {
        if (c->dict.n >= imp->o->max_categories && cs__dict_find(&c->dict, s) < 0)
          c->overflow = 1;
        else
          CS_TRY(add_level(imp, c, s, rec->line));
      }
      if (c->seen >= imp->o->infer_rows) {
        c->kind = c->saw_float ? CS_K_FLOAT : CS_K_INT;
        c->decided = 1;
        cs__dict_free(&c->dict);
      }
      break;
    case CS_K_INT:
      if (vc[k] == CS_V_FLOAT) c->kind = CS_K_FLOAT; /* inferred: widen (declared: checked) */
      break;
    case CS_K_CAT:
      c->n_numeric += vc[k] != CS_V_TEXT;
      if (vc[k] == CS_V_TEXT && !c->declared) note_text(c, s, rec->line);
      if (!c->fixed_levels) CS_TRY(add_level(imp, c, s, rec->line));
      break;
    default:
      break;
    }
  }
fail:
  return status;
}

static int cmp_level(const void *pa, const void *pb, void *dict) {
  const int32_t *a = pa, *b = pb;
  return strcmp(cs__dict_str(dict, *a), cs__dict_str(dict, *b));
}

/* What the final pass's column types say about the data (after finalize, so that rows a
 * re-read drops for a repeated id play no part): a big integer widened to float64 is an
 * error, a column of numbers made categorical by some text a warning. */
static int judge_columns(cs__imp_t *imp) {
  int status = CS_OK;
  for (int k = 0; k < imp->ncols; k++) {
    const cs__col_t *c = &imp->cols[k];
    /* Widened to float64 (a fraction, or a missing value), a big integer would change its
     * digits without a word, as one outside int64 would (check_row): the user chooses. */
    CS_CHECK(c->declared || c->kind == CS_K_CAT || !c->big_line, CS_EDATA,
             "%s:%lld: column '%s': %s%s is an integer outside the int64 range (declare the "
             "column float64 to keep it approximately, or categorical to keep its digits, in "
             "--schema)", file_of(imp), (long long)c->big_line, c->csv_name, c->big_text,
             strlen(c->big_text) + 1 == sizeof c->big_text ? "..." : "");
    CS_CHECK(c->declared || c->kind != CS_K_FLOAT || !c->wide_line, CS_EDATA,
             "%s:%lld: column '%s': %s is an integer beyond 2^53, but the column becomes float64 "
             "(it has %s), which would change its digits (declare it float64 to keep it "
             "approximately, or categorical to keep its digits, in --schema)", file_of(imp),
             (long long)c->wide_line, c->csv_name, c->wide_text,
             c->missing ? "empty values" : "fractional values");
    if (c->kind == CS_K_CAT && c->text_line && !c->declared &&
        c->n_numeric > c->n_text)
      cs_log_warn("column '%s' is stored as categorical with %d levels because of text such as "
                  "'%s' (line %lld), though %lld of its %lld values are numbers; if that text "
                  "marks a missing value, add it to --na-values (or declare the column in "
                  "--schema)", c->csv_name, c->dict.n, c->text_value, (long long)c->text_line,
                  (long long)c->n_numeric, (long long)(c->n_numeric + c->n_text));
    if (c->kind == CS_K_FLOAT && !c->declared) {
      char what[CS_NAME_MAX + 16];
      snprintf(what, sizeof what, "column '%s'", c->csv_name);
      cs__grouping_warn(&c->grouping, what);
    }
    /* Numbers written for people (a decimal comma, grouping, a currency sign) become levels;
     * the features would then be one-hot columns of amounts. */
    if (c->kind == CS_K_CAT && !c->declared && 2 * c->n_localized > c->n_text)
      cs_log_warn("column '%s' is stored as categorical with %d levels, but %lld of its %lld text "
                  "values look like numbers in a notation custseg does not read, such as '%s' "
                  "(line %lld: a decimal comma, digit grouping, a currency or percent sign); "
                  "custseg reads numbers as 1234.5: convert the column before the import (or "
                  "declare it categorical in --schema if it is one)", c->csv_name, c->dict.n,
                  (long long)c->n_localized, (long long)c->n_text, c->localized_value,
                  (long long)c->localized_line);
  }
fail:
  return status;
}

/* The final types, the level codes, and the result's column list. */
static int finalize(cs__imp_t *imp) {
  int status = CS_OK;
  cs_import_result_t *res = imp->res;
  res->columns = calloc((size_t)imp->ncols, sizeof *res->columns);
  CS_CHECK(res->columns, CS_ENOMEM, "out of memory");
  for (int k = 0; k < imp->ncols; k++) {
    cs__col_t *c = &imp->cols[k];
    if (c->kind == CS_K_AUTO) {
      c->kind = c->seen && !c->saw_float ? CS_K_INT : CS_K_FLOAT; /* no value: float, NaN */
      cs__dict_free(&c->dict);
    }
    if (c->kind == CS_K_INT && !c->declared && c->missing) c->kind = CS_K_FLOAT;
    if (c->kind == CS_K_CAT && c->dict.n == 0) { /* no value at all: nothing to code */
      if (c->declared && imp->cust_pass == 1)
        cs_log_warn("column '%s' is declared categorical in %s but has no value: stored as "
                    "float64, all missing (a categorical column needs at least one level)",
                    c->csv_name, imp->o->schema);
      c->kind = CS_K_FLOAT;
      c->dtype = CS_DT_F64;
    }
    if (!c->declared && c->kind == CS_K_INT) c->dtype = CS_DT_I64;
    if (!c->declared && c->kind == CS_K_FLOAT) c->dtype = CS_DT_F64;
    if (c->kind == CS_K_CAT) {
      c->dtype = cs__code_dtype(c->dict.n);
      int32_t *order = malloc((size_t)c->dict.n * sizeof *order);
      c->code = malloc((size_t)c->dict.n * sizeof *c->code);
      CS_CHECK(order && c->code, CS_ENOMEM, "out of memory");
      for (int i = 0; i < c->dict.n; i++) order[i] = i;
      if (!c->fixed_levels) { /* levels in byte order; declared levels keep their order */
        qsort_r(order, (size_t)c->dict.n, sizeof *order, cmp_level, &c->dict);
      }
      for (int i = 0; i < c->dict.n; i++) c->code[order[i]] = i;
      free(order);
    }
    cs_import_column_t *r = &res->columns[res->n_columns++];
    snprintf(r->name, sizeof r->name, "%s", c->name);
    snprintf(r->type, sizeof r->type, "%s", cs_dtype_name(c->dtype));
    r->categorical = c->kind == CS_K_CAT ? c->dict.n : 0;
    r->declared = c->declared;
    r->missing = c->missing;
  }
fail:
  return status;
}

/* Repeated ids: the first row of an id stays, later ones are errors or skipped. */
static int find_duplicates(cs__imp_t *imp, cs_xsort_t *dup, cs_xsort_t *drop, int64_t *n_dup) {
  int status = CS_OK, rc;
  idline_t r, first = {0, 0};
  int have = 0;
  *n_dup = 0;
  CS_TRY(cs_xsort_finish(dup));
  while ((rc = cs_xsort_next(dup, &r)) == 1) {
    if (have && r.id == first.id) {
      CS_TRY(CS_BAD_ROW(imp, &imp->res->cust_duplicates,
                        "%s:%lld: column '%s': customer id %lld is repeated (first on line %lld)%s",
                        file_of(imp), (long long)r.line, imp->cols[0].csv_name,
                        (long long)r.id, (long long)first.line,
                        imp->o->hash_ids ? " (the hash of its text: the same id, or two ids "
                                           "with one 63-bit hash)" : ""));
      CS_TRY(cs_xsort_add(imp->skip, &r.line));
      if (drop) CS_TRY(cs_xsort_add(drop, &r.line));
      (*n_dup)++;
    } else {
      first = r;
      have = 1;
    }
  }
  CS_TRY(rc);
fail:
  return status;
}

/* A sorted list of lines walked alongside the file. */
typedef struct cursor {
  cs_xsort_t *s;
  int have;
  int64_t line;
} cursor_t;

/* Is `line` in the list? Lines are asked in increasing order. */
static int cursor_has(cursor_t *c, int64_t line, int *hit) {
  int status = CS_OK, rc;
  *hit = 0;
  if (!c->s) return CS_OK;
  while (c->have != -1 && (c->have == 0 || c->line < line)) {
    CS_TRY(rc = cs_xsort_next(c->s, &c->line));
    c->have = rc == 1 ? 1 : -1;
  }
  *hit = c->have == 1 && c->line == line;
fail:
  return status;
}

/* The rows after the header: check, learn, bad lines into imp->skip, (id, line) pairs into
 * dup. Lines in `drop` (repeated ids found by an earlier pass) are left out without a word;
 * a bad row at a line in `seen` (skipped, with a warning, by an earlier pass) is counted
 * without a second warning. *good counts the rows kept. */
static int scan_rows(cs__imp_t *imp, cs_xsort_t *dup, cs_xsort_t *drop, cs_xsort_t *seen,
                     const char *what, int64_t *good, int64_t *flip, int *flip_good) {
  int status = CS_OK, rc, hit;
  cs_csv_record_t rec;
  cs_vclass_t *vc = malloc((size_t)imp->ncols * sizeof *vc);
  int64_t *iv = malloc((size_t)imp->ncols * sizeof *iv);
  double *fv = malloc((size_t)imp->ncols * sizeof *fv);
  cursor_t dropped = {drop, 0, 0}, warned = {seen, 0, 0};
  cs_progress_t prog;
  CS_CHECK(vc && iv && fv, CS_ENOMEM, "out of memory");
  *good = 0;
  cs_progress_start(&prog, what, cs_csv_size(imp->cust));
  while ((rc = cs_csv_next(imp->cust, &rec)) == 1) {
    imp->res->cust_rows++;
    CS_TRY(cursor_has(&dropped, rec.line, &hit));
    if (hit) {
      CS_TRY(cs_xsort_add(imp->skip, &rec.line));
      continue;
    }
    CS_TRY(cursor_has(&warned, rec.line, &imp->quiet_skip));
    int was_bad = imp->quiet_skip;
    rc = check_row(imp, &rec, vc, iv, fv);
    imp->quiet_skip = 0;
    CS_TRY(rc);
    if (flip && !*flip && (rc == 1) != was_bad) { /* a re-read: first row judged otherwise */
      *flip = rec.line;
      *flip_good = was_bad;
    }
    if (rc == 1) {
      CS_TRY(cs_xsort_add(imp->skip, &rec.line));
      continue;
    }
    CS_TRY(learn_row(imp, &rec, vc, iv));
    idline_t il = {iv[0], rec.line};
    CS_TRY(cs_xsort_add(dup, &il));
    (*good)++;
    cs__progress(&prog, *good, cs_csv_bytes_read(imp->cust));
  }
  CS_TRY(rc);
  cs_progress_update(&prog, cs_csv_bytes_read(imp->cust));
fail:
  free(vc);
  free(iv);
  free(fv);
  return status;
}

/* The header, the columns it declares, and the sorters of one pass. */
static int start_pass(cs__imp_t *imp, cs_xsort_t **dup) {
  int status = CS_OK, rc;
  cs_csv_record_t rec;
  CS_TRY(rc = cs_csv_next(imp->cust, &rec));
  CS_CHECK(rc == 1, CS_EDATA, "%s: the file is empty (a header line with the column names is "
           "needed)", file_of(imp));
  imp->cust_pass++;
  CS_TRY(cs__read_header(imp, &rec));
  CS_TRY(cs__sort_new(imp, sizeof(int64_t), cs__cmp_first_i64, 1, &imp->skip));
  CS_TRY(cs__sort_new(imp, sizeof(idline_t), cmp_idline, 3, dup));
fail:
  return status;
}

static void free_columns(cs__imp_t *imp) {
  for (int k = 0; k < imp->ncols; k++) {
    cs__dict_free(&imp->cols[k].dict);
    free(imp->cols[k].code);
  }
  free(imp->cols);
  imp->cols = NULL;
  imp->ncols = 0;
}

/* The type of a column, as messages name it. */
static const char *type_name(const cs__col_t *c) {
  return c->kind == CS_K_CAT ? "categorical" : cs_dtype_name(c->dtype);
}

/* The re-read without repeated rows infers the types again. Should a column's type change,
 * a row could become bad (when its id's later row was already left out, that customer would
 * be lost) or good (after a warning that it was skipped): the import stops instead, naming
 * the row and the columns whose type changed. `was` holds the first pass's types. */
static int check_same_types(const cs__imp_t *imp, const char (*was)[16], int64_t line,
                            int now_good) {
  int status = CS_OK;
  if (!line) return CS_OK;
  char list[512] = "";
  size_t used = 0;
  for (int k = 0; k < imp->ncols && used < sizeof list; k++) {
    const cs__col_t *c = &imp->cols[k];
    if (c->kind == CS_K_ID || c->kind == CS_K_SKIP || !strcmp(was[k], type_name(c))) continue;
    used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s' (%s with them, %s without)",
                             used ? ", " : "", c->csv_name, was[k], type_name(c));
  }
  CS_FAIL(CS_EDATA, "%s:%lld: this row is %s without the rows of repeated ids, whose absence "
          "changes the column types (%s): declare the types in --schema, or remove the repeated "
          "rows first", file_of(imp), (long long)line,
          now_good ? "good (though skipped as bad above)" : "bad (though good with them)", list);
fail:
  return status;
}

/* Forget what a pass learnt about the columns. */
static void reset_columns(cs__imp_t *imp) {
  free_columns(imp);
  free(imp->res->columns);
  imp->res->columns = NULL;
  imp->res->n_columns = 0;
  imp->res->cust_rows = 0;
  imp->res->cust_bad = 0;
}

int cs__cust_scan(cs__imp_t *imp) {
  int status = CS_OK;
  cs_xsort_t *dup = NULL, *drop = NULL, *seen = NULL;
  char (*was)[16] = NULL; /* the first pass's column types */
  int64_t good = 0, n_dup = 0, n_dup2 = 0, flip = 0;
  int flip_good = 0;
  struct stat st;
  /* Read twice (or three times): a pipe would fail only after the whole first pass. */
  CS_CHECK(stat(file_of(imp), &st) != 0 || !S_ISDIR(st.st_mode), CS_ENOENT,
           "customers file '%s' is a directory", file_of(imp));
  CS_CHECK(stat(file_of(imp), &st) != 0 || S_ISREG(st.st_mode), CS_ENOENT,
           "customers file '%s' is not a regular file (it is read more than once; save it to a "
           "file first)", file_of(imp));
  CS_TRY(cs_csv_open(file_of(imp), &imp->o->delim, &imp->cust));
  CS_TRY(start_pass(imp, &dup));
  CS_TRY(scan_rows(imp, dup, NULL, NULL, "import: reading customers (bytes)", &good, NULL, NULL));
  CS_TRY(finalize(imp));
  if (imp->o->skip_bad_rows) CS_TRY(cs__sort_new(imp, sizeof(int64_t), cs__cmp_first_i64, 1, &drop));
  CS_TRY(find_duplicates(imp, dup, drop, &n_dup));
  cs__sort_done(imp, &dup);
  CS_TRY(cs_xsort_finish(imp->skip));
  if (n_dup > 0) {
    cs_log_info("import: %lld rows with repeated ids skipped; reading %s again without them",
                (long long)n_dup, file_of(imp));
    CS_TRY(cs_xsort_finish(drop));
    seen = imp->skip;
    imp->skip = NULL;
    was = calloc((size_t)imp->ncols, sizeof *was);
    CS_CHECK(was, CS_ENOMEM, "out of memory");
    for (int k = 0; k < imp->ncols; k++)
      snprintf(was[k], sizeof was[k], "%s", type_name(&imp->cols[k]));
    reset_columns(imp);
    CS_TRY(cs_csv_rewind(imp->cust));
    CS_TRY(start_pass(imp, &dup));
    CS_TRY(scan_rows(imp, dup, drop, seen, "import: reading customers without repeated ids (bytes)",
                     &good, &flip, &flip_good));
    CS_TRY(finalize(imp));
    CS_TRY(check_same_types(imp, (const char (*)[16])was, flip, flip_good));
    CS_TRY(find_duplicates(imp, dup, NULL, &n_dup2)); /* none: each id's first row is kept */
    CS_TRY(cs_xsort_finish(imp->skip));
  }
  imp->n_customers = n_dup ? good - n_dup2 : good; /* no repeats: no rows to take off */
  /* A store of no customers fails every later command; said here, where the cause is. */
  CS_CHECK(imp->n_customers > 0, CS_EDATA, "%s: no customer to import: %s", file_of(imp),
           imp->o->skip_bad_rows ? "no row after the header line, or every row skipped as bad"
                                 : "no row after the header line");
  CS_TRY(judge_columns(imp));
fail:
  cs__sort_done(imp, &dup);
  cs__sort_done(imp, &drop);
  cs__sort_done(imp, &seen);
  free(was);
  return status;
}

void cs__cust_free(cs__imp_t *imp) {
  free_columns(imp);
  cs_csv_close(imp->cust);
  imp->cust = NULL;
}
