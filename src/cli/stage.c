/* cli/stage.c: what every model stage does around its model: check the outputs can be
 * written, open the store, refuse duplicate ids, take the feature options, and record the
 * run (/run attributes, summary input block). One place, so the stages cannot drift apart. */
#include "cli.h"

#include "custseg/inspect.h"

#include <stdio.h>
#include <stdlib.h>

int cs_stage_open(cs_ctx_t *ctx, const cs_opts_t *o, cs_stage_t *st) {
  int status = CS_OK;
  st->store = NULL;
  const char *input = cs_opt_str(o, "input"), *output = cs_opt_str(o, "output");
  CS_CHECK(input, CS_EUSAGE, "%s needs --input STORE", o->command);
  CS_CHECK(output, CS_EUSAGE, "%s needs --output RESULTS", o->command);
  CS_TRY(cs_io_check_writable(ctx, output, "output"));
  if (cs_opt_str(o, "summary"))
    CS_TRY(cs_io_check_writable(ctx, cs_opt_str(o, "summary"), "summary"));
  cs_timer_start(&ctx->timers, "read");
  CS_TRY(cs_store_open(ctx, input, &st->store));
  CS_TRY(cs_par_partition(ctx, st->store->n, &st->part));
  cs_ids_report_t ids;
  CS_TRY(cs_inspect_ids(ctx, st->store, &st->part, &ids));
  CS_CHECK(ids.duplicates == 0, CS_EDATA,
           "%s: %lld duplicated customer_id values (e.g. %lld at rows %lld and %lld)",
           st->store->path, (long long)ids.duplicates, (long long)ids.example_id,
           (long long)ids.example_rows[0], (long long)ids.example_rows[1]);
  snprintf(st->fingerprint, sizeof st->fingerprint, "%016llx",
           (unsigned long long)ids.fingerprint);
  cs_timer_stop(&ctx->timers, "read");
fail:
  return status;
}

void cs_stage_close(cs_stage_t *st) {
  cs_store_close(st->store);
  st->store = NULL;
}

int cs_stage_feature_spec(const cs_opts_t *o, cs_feature_spec_t *spec) {
  int status = CS_OK;
  *spec = (cs_feature_spec_t){
      .features = cs_opt_str(o, "features"),
      .log1p = cs_opt_str(o, "log1p"),
      .weights = cs_opt_str(o, "feature-weights"),
      .weight_column = cs_opt_str(o, "weight-column"),
  };
  CS_TRY(cs_features_parse_scale(cs_opt_str(o, "scale"), &spec->scale));
  CS_TRY(cs_features_parse_missing(cs_opt_str(o, "missing"), &spec->missing));
fail:
  return status;
}

int cs_stage_record(cs_ctx_t *ctx, cs_out_t *out, const cs_stage_t *st, cJSON *sum) {
  int status = CS_OK;
  CS_TRY(cs_out_group(out, "/run"));
  CS_TRY(cs_out_attr_str(out, "/run", "input", st->store->path));
  CS_TRY(cs_out_attr_str(out, "/run", "input_fingerprint", st->fingerprint));
  CS_TRY(cs_out_attr_i64(out, "/run", "ranks", ctx->size));
  CS_TRY(cs_out_attr_i64(out, "/run", "threads", ctx->threads));
  char *cfg = cJSON_PrintUnformatted(cJSON_GetObjectItem(sum, "config"));
  status = cs_out_attr_str(out, "/run", "config", cfg ? cfg : "{}");
  free(cfg);
  CS_TRY(status);
  cJSON *in = cJSON_AddObjectToObject(sum, "input");
  cJSON_AddStringToObject(in, "path", st->store->path);
  cJSON_AddStringToObject(in, "fingerprint", st->fingerprint);
  cJSON_AddNumberToObject(in, "customers", (double)st->store->n);
fail:
  return status;
}
