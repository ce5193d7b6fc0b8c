/* cli/run_lock.c: one `run` or `demo` at a time per --output-dir (docs/pipeline.md, "One run at a
 * time per directory"): rank 0 claims DIR/.run.lock (io/claim.c, the claim every output gets),
 * and each file run writes or removes there, from before the command writes anything there
 * until after run.json. Two jobs given the same --output-dir had both run, each overwriting
 * the other's files. Where the file cannot be made or locked (no lock support, another user's
 * leftover), a warning, and the run goes on. */
#include "run_impl.h"

#include <stdio.h>

int cs__run_lock(cs_ctx_t *ctx, const char *dir) {
  int status = CS_OK, local = CS_OK;
  char path[4200], who[256];
  snprintf(path, sizeof path, "%s/.run.lock", dir);
  const int c = cs_io_claim(ctx, path, who, sizeof who);
  if (ctx->rank == 0) {
    if (c == CS_CLAIM_HELD)
      local = cs_error_set(CS_EIO, __FILE__, __LINE__,
                           "another custseg run is writing --output-dir '%s' (%s): wait for it "
                           "to end, or give this run another directory", dir, who);
    else if (c == CS_CLAIM_NONE)
      cs_log_warn("cannot lock '%s' (%s): a second run into --output-dir at the same time would "
                  "not be noticed", path, who);
  }
  CS_TRY(cs_par_agree(ctx, local));
  /* And every file run writes or removes there, whichever stages run: a command writing one
   * of them by hand (segment --output DIR/segments.h5) keeps the run out, where clearing an
   * earlier run's files would otherwise remove what that command is writing. */
  for (int i = 0; i <= N_STAGES; i++) {
    const char *const *list = i < N_STAGES ? cs__run_stage_files[i] : cs__run_own_files;
    for (int f = 0; list[f]; f++) {
      snprintf(path, sizeof path, "%s/%s", dir, list[f]);
      CS_TRY(cs_io_check_writable(ctx, path, "file of --output-dir"));
    }
  }
fail:
  return status;
}
