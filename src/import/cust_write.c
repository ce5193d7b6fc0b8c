/* import/cust_write.c: pass 2 over the customers file (pass 1 is customers.c): read it again
 * and write each column in steps, leaving out the rows pass 1 rejected. Types only widen
 * during pass 1 (int -> float), so a row pass 1 accepted always converts here; if one does
 * not, the file changed between the passes, which is reported as such. */
#include "import_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_int(cs_dtype_t t, int64_t v, void *out) {
  switch (t) {
  case CS_DT_I8: *(int8_t *)out = (int8_t)v; break;
  case CS_DT_I16: *(int16_t *)out = (int16_t)v; break;
  case CS_DT_I32: *(int32_t *)out = (int32_t)v; break;
  case CS_DT_U8: *(uint8_t *)out = (uint8_t)v; break;
  case CS_DT_U16: *(uint16_t *)out = (uint16_t)v; break;
  case CS_DT_U32: *(uint32_t *)out = (uint32_t)v; break;
  default: *(int64_t *)out = v; break;
  }
}

static int changed(const cs__imp_t *imp, int64_t line, const char *col) {
  return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                      "%s:%lld: column '%s': the value is not the one read by the first pass "
                      "(was the file changed during the import?)", imp->o->customers_csv,
                      (long long)line, col);
}

/* Convert one accepted row into the column buffers. */
static int write_row(cs__imp_t *imp, const cs_csv_record_t *rec, cs__colw_t *w, int64_t *id) {
  if (rec->n != imp->nfields) return changed(imp, rec->line, imp->cols[0].csv_name);
  for (int k = 0; k < imp->ncols; k++) {
    const cs__col_t *c = &imp->cols[k];
    const char *s = rec->field[c->field];
    int64_t i = 0;
    double x = 0;
    unsigned char v[8];
    cs_vclass_t vc = cs__classify(&imp->na, s, &i, &x);
    switch (c->kind) {
    case CS_K_ID:
    case CS_K_INT:
      if (c->kind == CS_K_ID && imp->o->hash_ids && vc != CS_V_EMPTY) {
        cs__parse_id(s, 1, &i);
        vc = CS_V_INT;
      }
      if (vc != CS_V_INT || !cs__int_fits(c->dtype, i)) return changed(imp, rec->line, c->csv_name);
      put_int(c->dtype, i, v);
      if (k == 0) *id = i;
      break;
    case CS_K_FLOAT:
      if (vc == CS_V_TEXT) return changed(imp, rec->line, c->csv_name);
      if (vc == CS_V_EMPTY) x = NAN;
      if (c->dtype == CS_DT_F32) {
        float y = (float)x;
        memcpy(v, &y, sizeof y);
      } else {
        memcpy(v, &x, sizeof x);
      }
      break;
    default: { /* categorical: code, or -1 for missing */
      int idx = vc == CS_V_EMPTY ? -1 : cs__dict_find(&c->dict, s);
      if (vc != CS_V_EMPTY && idx < 0) return changed(imp, rec->line, c->csv_name);
      put_int(c->dtype, idx < 0 ? -1 : c->code[idx], v);
      break;
    }
    }
    int status = cs__colw_push(&w[k], v);
    if (status < 0) return status;
  }
  return CS_OK;
}

int cs__cust_write(cs__imp_t *imp, cs_out_t *out, int want_ids) {
  int status = CS_OK, rc, have_skip;
  cs_csv_record_t rec;
  cs__colw_t *w = NULL;
  char **levels = NULL;
  int64_t row = 0, skip_line = 0, id = 0, prev = 0, row_bytes = 0;
  cs_progress_t prog;
  for (int k = 0; k < imp->ncols; k++) row_bytes += (int64_t)cs_dtype_size(imp->cols[k].dtype);
  cs__set_write_rows(imp, row_bytes);
  w = calloc((size_t)imp->ncols, sizeof *w);
  CS_CHECK(w, CS_ENOMEM, "out of memory");
  for (int k = 0; k < imp->ncols; k++) {
    const cs__col_t *c = &imp->cols[k];
    char path[CS_NAME_MAX + 16];
    snprintf(path, sizeof path, "/customers/%s", c->name);
    CS_TRY(cs__colw_open(imp, &w[k], out, path, c->dtype, imp->n_customers));
    if (c->kind != CS_K_CAT) continue;
    levels = calloc((size_t)c->dict.n, sizeof *levels);
    CS_CHECK(levels, CS_ENOMEM, "out of memory");
    for (int i = 0; i < c->dict.n; i++) levels[c->code[i]] = (char *)cs__dict_str(&c->dict, i);
    CS_TRY(cs_out_attr_strings(out, path, "categories", (const char *const *)levels, c->dict.n));
    free(levels);
    levels = NULL;
  }
  if (want_ids) CS_TRY(cs__sort_new(imp, 2 * sizeof(int64_t), cs__cmp_first_i64, 1, &imp->ids));
  CS_TRY(cs_csv_rewind(imp->cust));
  CS_TRY(rc = cs_csv_next(imp->cust, &rec)); /* the header */
  CS_TRY(have_skip = cs_xsort_next(imp->skip, &skip_line));
  cs_progress_start(&prog, "import: writing customers (rows)", imp->n_customers);
  while ((rc = cs_csv_next(imp->cust, &rec)) == 1) {
    while (have_skip == 1 && skip_line < rec.line) CS_TRY(have_skip = cs_xsort_next(imp->skip, &skip_line));
    if (have_skip == 1 && skip_line == rec.line) continue;
    CS_CHECK(row < imp->n_customers, CS_EDATA, "%s:%lld: more rows than the first pass read "
             "(was the file changed during the import?)", imp->o->customers_csv, (long long)rec.line);
    CS_TRY(write_row(imp, &rec, w, &id));
    if (want_ids) {
      int64_t pair[2] = {id, row};
      CS_TRY(cs_xsort_add(imp->ids, pair));
      if (row > 0 && id <= prev) imp->ids_ascending = 0;
      prev = id;
    }
    row++;
    cs__progress(&prog, row, row);
  }
  CS_TRY(rc);
  CS_CHECK(row == imp->n_customers, CS_EDATA, "%s: %lld rows in the second pass, %lld in the "
           "first (was the file changed during the import?)", imp->o->customers_csv, (long long)row,
           (long long)imp->n_customers);
  cs_progress_update(&prog, row);
  for (int k = 0; k < imp->ncols; k++) CS_TRY(cs__colw_close(&w[k]));
  if (want_ids) CS_TRY(cs_xsort_finish(imp->ids));
fail:
  for (int k = 0; w && k < imp->ncols; k++) cs__colw_free(&w[k]);
  free(w);
  free(levels);
  cs__sort_done(imp, &imp->skip);
  return status;
}
