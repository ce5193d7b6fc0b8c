/* cli/summary.c: the machine-readable run summary (JSON, cJSON), written by rank 0.
 * It carries what is needed to reproduce and audit a run: version and build, the effective
 * configuration with where each value came from, the decomposition and timers. */
#include "cli.h"

#include "custseg/build_info.h"
#include "custseg/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cJSON *cs_summary_new(const cs_ctx_t *ctx, const cs_opts_t *o) {
  cJSON *s = cJSON_CreateObject();
  cJSON *b = cJSON_AddObjectToObject(s, "custseg");
  char v[256];
  cJSON_AddStringToObject(b, "version", CS_VERSION);
  cJSON_AddStringToObject(b, "compiler", CS_COMPILER);
  cJSON_AddStringToObject(b, "build_flags", CS_BUILD_FLAGS);
  cs_io_library_version(v, sizeof v);
  cJSON_AddStringToObject(b, "hdf5", v);
  cs_par_library_version(v, sizeof v);
  cJSON_AddStringToObject(b, "mpi", v);
  cJSON_AddStringToObject(s, "command", o->command);
  cJSON *cfg = cJSON_AddObjectToObject(s, "config");
  static const char *const src[] = {"default", "config", "flag", "previous"};
  for (int i = 0; i < cs_n_optdefs; i++) {
    const cs_optdef_t *d = &cs_optdefs[i];
    if (!cs_opts_applies(o->command, d)) continue;
    cJSON *e = cJSON_AddObjectToObject(cfg, d->name);
    const char *val = o->value[i];
    if (!val)
      cJSON_AddNullToObject(e, "value");
    else if (d->type == CS_OPT_INT)
      cJSON_AddNumberToObject(e, "value", (double)cs_opt_int(o, d->name));
    else if (d->type == CS_OPT_REAL)
      cJSON_AddNumberToObject(e, "value", cs_opt_real(o, d->name));
    else if (d->type == CS_OPT_BOOL)
      cJSON_AddBoolToObject(e, "value", cs_opt_bool(o, d->name));
    else
      cJSON_AddStringToObject(e, "value", val);
    cJSON_AddStringToObject(e, "source", src[o->source[i]]);
  }
  cJSON_AddNumberToObject(s, "ranks", ctx->size);
  cJSON_AddNumberToObject(s, "threads", ctx->threads);
  return s;
}

int cs_summary_timers(cs_ctx_t *ctx, cJSON *summary) {
  int status = CS_OK;
  double mmm[3 * CS_MAX_TIMERS];
  CS_TRY(cs_par_minmeanmax(ctx, ctx->timers.seconds, ctx->timers.n, mmm));
  cJSON *t = cJSON_AddObjectToObject(summary, "timings_seconds");
  for (int i = 0; i < ctx->timers.n; i++) {
    const double *m = mmm + 3 * i;
    cs_log_info("timer %-10s min %8.3f  mean %8.3f  max %8.3f s over %d ranks",
                ctx->timers.name[i], m[0], m[1], m[2], ctx->size);
    cJSON *e = cJSON_AddObjectToObject(t, ctx->timers.name[i]);
    cJSON_AddNumberToObject(e, "min", m[0]);
    cJSON_AddNumberToObject(e, "mean", m[1]);
    cJSON_AddNumberToObject(e, "max", m[2]);
  }
  cJSON *w = cJSON_AddArrayToObject(summary, "warnings");
  for (int i = ctx->warn_mark; w && i < cs_log_warnings(); i++) {
    int repeated = 0;
    for (int j = ctx->warn_mark; j < i && !repeated; j++)
      repeated = cs_log_warning_id(i) == cs_log_warning_id(j);
    if (!repeated) cJSON_AddItemToArray(w, cJSON_CreateString(cs_log_warning_text(cs_log_warning_id(i))));
  }
fail:
  return status;
}

/* Numbers as raw text that reads back to the same double: cJSON 1.7 prints 15 significant
 * digits whenever they read back to within a relative DBL_EPSILON, so 0.1 + 0.2 came out as
 * 0.3 and an adjusted Rand index one unit in the last place off the results file's. */
static void exact_numbers(cJSON *item) {
  for (; item; item = item->next) {
    if (item->child) exact_numbers(item->child);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble)) continue; /* NaN, inf: null */
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(buf, sizeof buf, "%.*g", prec, item->valuedouble);
      if (strtod(buf, NULL) == item->valuedouble) break;
    }
    char *text = strdup(buf);
    if (!text) continue; /* out of memory: cJSON's own digits */
    item->type = cJSON_Raw;
    item->valuestring = text;
  }
}

char *cs_json_print(const cJSON *json) {
  cJSON *copy = cJSON_Duplicate(json, 1);
  if (!copy) return NULL;
  exact_numbers(copy);
  char *text = cJSON_Print(copy);
  cJSON_Delete(copy);
  return text;
}

int cs_summary_write(cs_ctx_t *ctx, cJSON *summary, const char *path) {
  char *text = ctx->rank == 0 ? cs_json_print(summary) : NULL;
  char *line = text ? malloc(strlen(text) + 2) : NULL;
  int status = ctx->rank == 0 && !line ? cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                      "out of memory writing the summary")
                                       : CS_OK;
  if (line) sprintf(line, "%s\n", text);
  status = cs_par_agree(ctx, status);
  if (status == CS_OK)
    status = cs_io_publish_text(ctx, path, line ? line : "", line ? strlen(line) : 0, "summary");
  free(text);
  free(line);
  return status;
}

int cs_summary_finish(cs_ctx_t *ctx, const cs_opts_t *o, cJSON *summary) {
  int status = CS_OK;
  const char *path = cs_opt_str(o, "summary");
  CS_TRY(cs_summary_timers(ctx, summary));
  if (path) CS_TRY(cs_summary_write(ctx, summary, path));
fail:
  return status;
}
