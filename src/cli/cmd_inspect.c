/* cli/cmd_inspect.c: `custseg inspect FILE`: schema, N, per-column statistics, problems.
 * Duplicate ids make the store unusable (error, exit 2); non-finite values and bad category
 * codes are reported as warnings; with --features, a named feature that is not numeric or
 * has no finite value is an error, as it will be in every stage. */
#include "cli.h"

#include "custseg/txn.h"

#include "custseg/features.h"
#include "custseg/inspect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text with control characters (a newline in a level name, import.md allows it) as C
 * escapes, so each column stays on one line of the table. */
/* Characters of UTF-8 text (bytes that do not continue a character), for column widths. */
static int chars(const char *s) {
  int n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static void put_escaped(const char *t) {
  char *shown = cs_text_escaped(t, NULL);
  fputs(shown ? shown : "(out of memory)", stdout);
  free(shown);
}

static void print_report(const cs_store_t *s, const cs_colstats_t *st, int n,
                         const cs_ids_report_t *ids) {
  printf("file:            ");
  put_escaped(s->path);
  printf("\n");
  printf("schema_version:  %d\n", s->schema_version);
  printf("customers:       %lld\n", (long long)s->n);
  if (s->txn_rows >= 0)
    printf("transactions:    %lld (sorted, offsets and customer ids checked)\n",
           (long long)s->txn_rows);
  else
    printf("transactions:    none\n");
  printf("fingerprint:     %016llx\n", (unsigned long long)ids->fingerprint);
  printf("columns:         %d\n\n", s->n_columns);
  /* The name column fits the longest name as shown (escaped), in characters (UTF-8): a name
   * from an h5py-made store can hold an ESC sequence, which had reached the terminal raw. */
  int w = 22;
  for (int i = 0; i < s->n_columns; i++) {
    char *shown = cs_text_escaped(s->columns[i].name, NULL);
    if (shown && chars(shown) > w) w = chars(shown);
    free(shown);
  }
  printf("%-*s %-10s %14s %14s %14s %10s  %s\n", w, "column", "type", "min", "mean", "max",
         "missing", "notes");
  for (int i = 0; i < s->n_columns; i++) {
    const cs_column_t *c = &s->columns[i];
    const cs_colstats_t *t = NULL;
    for (int j = 0; j < n; j++)
      if (st[j].col == c) t = &st[j];
    /* printf pads by bytes: a name with multi-byte characters gets its padding by hand. */
    char *shown = cs_text_escaped(c->name, NULL);
    printf("%s%*s %-10s ", shown ? shown : "?", w - (shown ? chars(shown) : 1), "", c->type_desc);
    free(shown);
    if (t)
      printf("%14.6g %14.6g %14.6g %10lld  ", t->min, t->mean, t->max, (long long)t->missing);
    else
      printf("%14s %14s %14s %10s  ", "-", "-", "-", "-");
    /* Notes separated by "; ", none trailing. */
    const char *sep = "";
    if (c->dtype == CS_DT_NONE) printf("not numeric"), sep = "; ";
    if (cs_features_is_reserved(c->name)) printf("%sreserved", sep), sep = "; ";
    if (c->n_categories) {
      printf("%s", sep);
      printf("categorical, %d levels:", c->n_categories);
      for (int k = 0; k < c->n_categories && k < 8; k++) {
        printf(" %d=", k);
        put_escaped(c->categories[k]);
      }
      if (c->n_categories > 8) printf(" ...");
    }
    printf("\n");
  }
}

/* Collect the problems; returns the number of errors (warnings are only listed). */
static int problems(const cs_store_t *s, const cs_colstats_t *st, int n,
                    const cs_ids_report_t *ids, cJSON *list, int print) {
  int errors = 0;
  char line[512];
#define PROBLEM(sev, ...)                                   \
  do {                                                      \
    snprintf(line, sizeof line, __VA_ARGS__);               \
    char *shown_ = cs_text_escaped(line, NULL);             \
    if (shown_) snprintf(line, sizeof line, "%s", shown_);  \
    free(shown_);                                           \
    if (print) printf("  %s: %s\n", sev, line);             \
    cJSON *p = cJSON_CreateObject();                        \
    cJSON_AddStringToObject(p, "severity", sev);            \
    cJSON_AddStringToObject(p, "message", line);            \
    cJSON_AddItemToArray(list, p);                          \
  } while (0)
  if (print) printf("\nproblems:\n");
  if (ids->duplicates) {
    PROBLEM("error", "customer_id: %lld duplicated ids (e.g. %lld at rows %lld and %lld)",
            (long long)ids->duplicates, (long long)ids->example_id,
            (long long)ids->example_rows[0], (long long)ids->example_rows[1]);
    errors++;
  }
  for (int j = 0; j < n; j++) {
    if (st[j].infinite)
      PROBLEM("warning", "%s: %lld non-finite values (+-inf), treated as missing",
              st[j].col->name, (long long)st[j].infinite);
    if (st[j].bad_codes)
      PROBLEM("warning", "%s: %lld codes outside the %d categories", st[j].col->name,
              (long long)st[j].bad_codes, st[j].col->n_categories);
    if (!st[j].finite && s->n > 0)
      PROBLEM("warning", "%s: no finite values", st[j].col->name);
  }
  if (print && cJSON_GetArraySize(list) == 0) printf("  none\n");
#undef PROBLEM
  return errors;
}

int cs_cmd_inspect(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK;
  cs_store_t *store = NULL;
  cs_colstats_t *stats = NULL;
  cJSON *sum = NULL;
  const char **names = NULL; /* every numeric column, however many */
  const char *input = cs_opt_str(o, "input");
  const char *summary = cs_opt_str(o, "summary");
  const char *features = cs_opt_str(o, "features");
  CS_CHECK(input, CS_EUSAGE, "inspect needs a FILE (custseg inspect FILE)");
  CS_CHECK(cs_opt_int(o, "chunk-rows") >= 1, CS_EUSAGE, "--chunk-rows must be >= 1, got %s",
           cs_opt_str(o, "chunk-rows"));
  if (summary) CS_TRY(cs_io_check_writable(ctx, summary, "summary"));

  cs_timer_start(&ctx->timers, "open");
  CS_TRY(cs_store_open(ctx, input, &store));
  cs_timer_stop(&ctx->timers, "open");
  cs_part_t part;
  CS_TRY(cs_par_partition(ctx, store->n, &part));

  int n = 0;
  names = calloc((size_t)store->n_columns + CS_MAX_FEATURES, sizeof *names);
  CS_TRY(cs_par_agree(ctx, names ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  if (features) {
    CS_TRY(cs_features_resolve(store, features, NULL, names, &n));
  } else {
    for (int i = 0; i < store->n_columns; i++)
      if (store->columns[i].dtype != CS_DT_NONE) names[n++] = store->columns[i].name;
  }
  stats = calloc((size_t)(n ? n : 1), sizeof *stats);
  CS_TRY(cs_par_agree(ctx, stats ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  cs_timer_start(&ctx->timers, "columns");
  CS_TRY(cs_inspect_columns(ctx, store, &part, names, n, cs_opt_int(o, "chunk-rows"), stats));
  cs_timer_stop(&ctx->timers, "columns");
  cs_ids_report_t ids;
  cs_timer_start(&ctx->timers, "ids");
  CS_TRY(cs_inspect_ids(ctx, store, &part, &ids));
  cs_timer_stop(&ctx->timers, "ids");
  if (store->txn_rows >= 0) {
    /* The same checks as every reader of /transactions: offsets, owners, sorted finite
     * times, non-negative amounts; the first problem is the error. */
    cs_txn_t txn;
    cs_timer_start(&ctx->timers, "transactions");
    CS_TRY(cs_txn_load(ctx, store, &part, &txn));
    cs_txn_free(&txn);
    cs_timer_stop(&ctx->timers, "transactions");
  }

  if (features)
    for (int j = 0; j < n; j++)
      CS_CHECK(stats[j].finite > 0 || store->n == 0, CS_EDATA,
               "%s: feature '%s' has no finite values (%lld missing, %lld infinite of %lld)",
               store->path, names[j], (long long)stats[j].missing, (long long)stats[j].infinite,
               (long long)store->n);

  cJSON *plist = cJSON_CreateArray();
  if (ctx->rank == 0) print_report(store, stats, n, &ids);
  int errors = problems(store, stats, n, &ids, plist, ctx->rank == 0);
  if (ctx->rank == 0) fflush(stdout);
  if (errors) {
    cJSON_Delete(plist);
    CS_FAIL(CS_EDATA, "%s: %lld duplicated customer_id values (e.g. %lld at rows %lld and %lld)",
            store->path, (long long)ids.duplicates, (long long)ids.example_id,
            (long long)ids.example_rows[0], (long long)ids.example_rows[1]);
  }
  {
    sum = cs_summary_new(ctx, o);
    cJSON *in = cJSON_AddObjectToObject(sum, "input");
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)ids.fingerprint);
    cJSON_AddStringToObject(in, "path", store->path);
    cJSON_AddStringToObject(in, "fingerprint", fp);
    cJSON_AddNumberToObject(in, "customers", (double)store->n);
    cJSON_AddNumberToObject(in, "schema_version", store->schema_version);
    if (store->txn_rows >= 0) {
      cJSON *t = cJSON_AddObjectToObject(sum, "transactions");
      cJSON_AddNumberToObject(t, "rows", (double)store->txn_rows);
      cJSON_AddBoolToObject(t, "checked", 1);
    }
    cJSON *cols = cJSON_AddArrayToObject(sum, "columns");
    for (int i = 0; i < store->n_columns; i++) {
      const cs_column_t *c = &store->columns[i];
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "name", c->name);
      cJSON_AddStringToObject(e, "type", c->type_desc);
      cJSON_AddBoolToObject(e, "reserved", cs_features_is_reserved(c->name));
      for (int j = 0; j < n; j++) {
        if (stats[j].col != c) continue;
        if (stats[j].finite) {
          cJSON_AddNumberToObject(e, "min", stats[j].min);
          cJSON_AddNumberToObject(e, "mean", stats[j].mean);
          cJSON_AddNumberToObject(e, "max", stats[j].max);
        }
        cJSON_AddNumberToObject(e, "finite", (double)stats[j].finite);
        cJSON_AddNumberToObject(e, "missing", (double)stats[j].missing);
        cJSON_AddNumberToObject(e, "infinite", (double)stats[j].infinite);
      }
      if (c->n_categories) {
        cJSON *cat = cJSON_AddArrayToObject(e, "categories");
        for (int k = 0; k < c->n_categories; k++)
          cJSON_AddItemToArray(cat, cJSON_CreateString(c->categories[k]));
      }
      cJSON_AddItemToArray(cols, e);
    }
    cJSON_AddItemToObject(sum, "problems", plist);
    plist = NULL;
    CS_TRY(cs_summary_finish(ctx, o, sum));
  }
  cJSON_Delete(plist);
fail:
  cJSON_Delete(sum);
  free(names);
  free(stats);
  cs_store_close(store);
  return status;
}
