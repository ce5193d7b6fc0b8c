/* cli/cmd_generate.c: `custseg generate`. */
#include "cli.h"

#include "custseg/io.h"
#include "custseg/synth.h"

int cs_cmd_generate(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK, written = 0;
  cJSON *sum = NULL;
  const char *output = cs_opt_str(o, "output");
  const char *summary = cs_opt_str(o, "summary");
  CS_CHECK(output, CS_EUSAGE, "generate needs --output FILE");
  cs_synth_opts_t so = {
      .customers = cs_opt_int(o, "customers"),
      .segments = (int)cs_opt_int(o, "segments"),
      .seed = (uint64_t)cs_opt_int(o, "seed"),
      .id_base = cs_opt_int(o, "id-base"),
      .missing_rate = cs_opt_real(o, "missing-rate"),
      .unlabelled_rate = cs_opt_real(o, "unlabelled-rate"),
      .chunk_rows = cs_opt_int(o, "chunk-rows"),
      .transactions = cs_opt_bool(o, "transactions"),
      .txn_uniform = cs_opt_bool(o, "transactions-uniform"),
  };
  /* Before any compute: can the outputs be written at all? */
  CS_TRY(cs_io_check_writable(ctx, output, "output"));
  if (summary) CS_TRY(cs_io_check_writable(ctx, summary, "summary"));

  cs_timer_start(&ctx->timers, "generate");
  CS_TRY(cs_synth_generate(ctx, &so, output));
  written = 1;
  cs_timer_stop(&ctx->timers, "generate");

  sum = cs_summary_new(ctx, o);
  cJSON *r = cJSON_AddObjectToObject(sum, "result");
  cJSON_AddStringToObject(r, "output", output);
  cJSON_AddNumberToObject(r, "customers", (double)so.customers);
  cJSON_AddNumberToObject(r, "segments", so.segments);
  CS_TRY(cs_summary_finish(ctx, o, sum));
fail:
  if (status < 0 && written) cs_io_remove(ctx, output); /* all outputs or none */
  cJSON_Delete(sum);
  return status;
}
