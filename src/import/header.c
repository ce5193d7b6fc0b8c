/* import/header.c: the customers file's header -> the columns to store (cs__read_header):
 * the id column, each name checked (UTF-8, no byte-order mark, length), --rename applied, the
 * names the store will hold checked as dataset names (after --rename and the schema's skip,
 * so either rescues a header name the store cannot hold), the schema's declarations matched.
 * Trade-off: the header is read again in every pass of the customers file (cheap, and the
 * passes then need no state from each other); the info line of --rename is given once. */
#include "import_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_IMPORT_MAX_COLUMNS 240 /* an output holds at most 256 open datasets (io/out_impl.h) */

static const char *file_of(const cs__imp_t *imp) { return imp->o->customers_csv; }

/* ---- the header -------------------------------------------------------------------------- */
static int check_name(const cs__imp_t *imp, int j, const char *name) {
  const char *f = file_of(imp);
  int bad = cs_utf8_bad(name);
  if (bad >= 0) {
    char what[64];
    snprintf(what, sizeof what, "column %d of the header", j + 1);
    return cs__not_utf8(f, 1, what, name, bad, __FILE__, __LINE__);
  }
  /* A byte-order mark inside the header: files joined with their marks (cat a.csv b.csv), or
   * a field pasted from one; it would become part of a column's name, unseen. */
  const char *bom = strstr(name, "\xEF\xBB\xBF");
  if (bom)
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "%s:1: column %d of the header holds a byte-order mark (U+FEFF) at byte "
                        "%d of its name: remove it (files joined with their marks?)",
                        f, j + 1, (int)(bom - name));
  if (strlen(name) >= CS_NAME_MAX) {
    int shown = 40; /* the start of the name, cut where a UTF-8 character starts */
    while (shown > 0 && ((unsigned char)name[shown] & 0xC0) == 0x80) shown--;
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "%s:1: column name '%.*s...' is %zu bytes long, more than %d (UTF-8 "
                        "bytes)", f, shown, name, strlen(name), CS_NAME_MAX - 1);
  }
  return CS_OK;
}

/* Why a column cannot be stored under `name` (it becomes a dataset's name, and is printed in
 * tables and CSV headers), or NULL. */
static const char *store_name_problem(const char *name) {
  if (strchr(name, '/') || !strcmp(name, ".")) return "no '/', not '.'";
  int seen = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if (*p < 0x20 || *p == 0x7F || (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F))
      return "no control characters such as line breaks or tabs";
    seen |= *p != ' ';
  }
  if (!seen) return "not only spaces";
  /* --features, --schema and the config trim the names they are given: ' lead' had been
   * stored, and then could not be named */
  return name[0] == ' ' || name[strlen(name) - 1] == ' ' ? "no space at the start or end" : NULL;
}

/* The names the store will hold, after --rename; a column the schema skips is not stored. */
static int check_store_names(const cs__imp_t *imp) {
  for (int i = 1; i < imp->ncols; i++) {
    const cs__col_t *c = &imp->cols[i];
    const char *why = store_name_problem(c->name);
    /* (a name with a space at either end cannot be written in --schema, which trims) */
    if (why)
      return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                          "%s:1: column name '%s' cannot be a dataset name (%s): store it under "
                          "another with --rename%s", file_of(imp), c->name, why,
                          strstr(why, "start or end") ? "" : ", or mark it 'skip' in --schema");
  }
  return CS_OK;
}

/* --rename OLD=NEW[,OLD=NEW...]: CSV column OLD is stored as NEW (a store's reserved names,
 * revenue or churned, for an export's MonthlyCharges or Churn). The errors name the option,
 * the pair and the file; messages about the data keep naming the CSV's column. */
static int apply_renames(cs__imp_t *imp, const cs_csv_record_t *h) {
  int status = CS_OK;
  const char *f = file_of(imp), *list = imp->o->rename;
  char *copy = strdup(list ? list : "");
  CS_CHECK(copy, CS_ENOMEM, "out of memory");
  char *save = NULL;
  for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
    char *to = strchr(pair, '=');
    CS_CHECK(to && to != pair && to[1], CS_EUSAGE,
             "--rename: '%s' is not OLD=NEW (a column of %s and its name in the store)", pair, f);
    *to++ = '\0';
    CS_CHECK(cs_utf8_bad(to) < 0 && !strstr(to, "\xEF\xBB\xBF"), CS_EUSAGE,
             "--rename: '%s' is not valid UTF-8 text (or holds a byte-order mark)", to);
    CS_CHECK(!strchr(to, '=') && strlen(to) < CS_NAME_MAX && !store_name_problem(to),
             CS_EUSAGE, "--rename: '%s' cannot be a column name in the store (at most %d bytes, "
             "no '=' or '/' or control characters, not '.', not only spaces, no space at either "
             "end)", to,
             CS_NAME_MAX - 1);
    CS_CHECK(strcmp(to, "customer_id") && strcmp(to, "txn_offset"), CS_EUSAGE,
             "--rename %s=%s: '%s' is written by the import itself", pair, to, to);
    int field = -1, col = -1;
    for (int j = 0; j < h->n && field < 0; j++)
      if (*h->field[j] && !strcmp(h->field[j], pair)) field = j;
    if (field < 0) {
      char names[512], hint[160];
      cs__header_list(h->field, h->n, names, sizeof names, hint, sizeof hint, "--delimiter");
      CS_FAIL(CS_EUSAGE, "--rename %s=%s: %s has no column '%s' (the columns are: %s%s)", pair,
              to, f, pair, names, hint);
    }
    for (int i = 0; i < imp->ncols; i++)
      if (imp->cols[i].field == field) col = i;
    CS_CHECK(col != 0, CS_EUSAGE,
             "--rename %s=%s: '%s' is the customer id column, which is stored as customer_id",
             pair, to, pair);
    CS_CHECK(col > 0, CS_EUSAGE, "--rename %s=%s: column '%s' is marked 'skip' in --schema",
             pair, to, pair);
    cs__col_t *c = &imp->cols[col];
    CS_CHECK(!c->renamed, CS_EUSAGE, "--rename: column '%s' is renamed twice", pair);
    snprintf(c->name, sizeof c->name, "%s", to);
    c->renamed = 1;
    if (imp->cust_pass == 1) cs_log_info("%s: column '%s' is stored as '%s' (--rename)", f, pair, to);
  }
  for (int a = 1; a < imp->ncols; a++)
    for (int b = 1; b < a; b++)
      CS_CHECK(strcmp(imp->cols[a].name, imp->cols[b].name), CS_EUSAGE,
               "--rename: columns '%s' and '%s' of %s would both be stored as '%s'",
               imp->cols[b].csv_name, imp->cols[a].csv_name, f, imp->cols[a].name);
fail:
  free(copy);
  return status;
}

int cs__read_header(cs__imp_t *imp, const cs_csv_record_t *h) {
  int status = CS_OK;
  const cs_import_opts_t *o = imp->o;
  const char *f = file_of(imp);
  cs_schema_t *sch = &imp->schema;
  const char *id_name = o->id_column;
  for (int i = 0; i < sch->n; i++)
    if (sch->e[i].kind == CS_K_ID) {
      CS_CHECK(!id_name || !strcmp(id_name, sch->e[i].name), CS_EUSAGE,
               "--id-column '%s' and the schema's id column '%s' differ", id_name,
               sch->e[i].name);
      id_name = sch->e[i].name;
    }
  if (!id_name) id_name = "customer_id";
  imp->nfields = h->n;
  int id_field = -1;
  for (int j = 0; j < h->n; j++) {
    if (!*h->field[j]) { /* pandas' to_csv writes its index so; a trailing comma does too */
      if (imp->cust_pass == 1) cs_log_warn("%s:1: column %d of the header has no name: not imported", f, j + 1);
      continue;
    }
    CS_TRY(check_name(imp, j, h->field[j]));
    for (int k = 0; k < j; k++)
      CS_CHECK(strcmp(h->field[j], h->field[k]), CS_EDATA,
               "%s:1: column '%s' appears twice in the header (fields %d and %d)", f,
               h->field[j], k + 1, j + 1);
    if (!strcmp(h->field[j], id_name)) id_field = j;
  }
  if (id_field < 0) {
    char list[512], hint[160];
    cs__header_list(h->field, h->n, list, sizeof list, hint, sizeof hint, "--delimiter");
    CS_FAIL(CS_EDATA, "%s:1: no column '%s' in the header (the columns are: %s; name the "
            "customer id column with --id-column, or mark it 'id' in --schema%s)", f, id_name,
            list, hint);
  }
  imp->cols = calloc((size_t)h->n, sizeof *imp->cols);
  CS_CHECK(imp->cols, CS_ENOMEM, "out of memory");
  for (int pass = 0; pass < 2; pass++) /* the id column first, then the others in order */
    for (int j = 0; j < h->n; j++) {
      if ((pass == 0) != (j == id_field) || !*h->field[j]) continue;
      const char *name = h->field[j];
      cs_schema_entry_t *e = cs__schema_find(sch, name);
      if (e) e->used = 1;
      if (j == id_field) {
        CS_CHECK(!e || e->kind == CS_K_ID || (e->kind == CS_K_INT && e->dtype == CS_DT_I64),
                 CS_ECONFIG, "schema %s line %d: '%s' is the customer id column; declare it "
                 "'id'", o->schema, e->line, name);
      } else {
        if (e && e->kind == CS_K_SKIP) continue;
        CS_CHECK(strcmp(name, "customer_id"), CS_EDATA,
                 "%s:1: column 'customer_id' would clash with the id column '%s', which is "
                 "stored as customer_id (mark one of them 'skip' in --schema)", f, id_name);
        CS_CHECK(strcmp(name, "txn_offset"), CS_EDATA,
                 "%s:1: column 'txn_offset' is reserved (the import writes it for the "
                 "transactions; mark it 'skip' in --schema)", f);
      }
      cs__col_t *c = &imp->cols[imp->ncols++];
      snprintf(c->csv_name, sizeof c->csv_name, "%s", name);
      snprintf(c->name, sizeof c->name, "%s", j == id_field ? "customer_id" : name);
      c->field = j;
      cs__dict_init(&c->dict);
      if (j == id_field) {
        c->kind = CS_K_ID;
        c->dtype = CS_DT_I64;
        c->decided = 1;
        c->declared = e != NULL; /* for the summary's origin; the id's type is fixed anyway */
        continue;
      }
      c->kind = e ? e->kind : CS_K_AUTO;
      c->declared = c->decided = e != NULL;
      c->dtype = e ? e->dtype : CS_DT_NONE;
      if (e && e->n_levels) {
        c->fixed_levels = 1;
        for (int k = 0; k < e->n_levels; k++) {
          int idx, added;
          CS_TRY(cs__dict_add(&c->dict, e->levels[k], &idx, &added));
        }
      }
    }
  CS_TRY(apply_renames(imp, h));
  CS_TRY(check_store_names(imp));
  for (int i = 0; i < sch->n; i++)
    CS_CHECK(sch->e[i].used, CS_ECONFIG, "schema %s line %d: column '%s' is not in %s",
             o->schema, sch->e[i].line, sch->e[i].name, f);
  CS_CHECK(imp->ncols <= CS_IMPORT_MAX_COLUMNS, CS_EDATA,
           "%s:1: %d columns to store; at most %d can be imported (mark others 'skip' in "
           "--schema)", f, imp->ncols, CS_IMPORT_MAX_COLUMNS);
fail:
  return status;
}
