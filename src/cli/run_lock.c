/* cli/run_lock.c: one `run` or `demo` at a time per --output-dir (docs/pipeline.md, "One run at a
 * time per directory"): rank 0 claims DIR/.run.lock (io/claim.c, the claim every output gets)
 * from before the command writes anything there until after run.json. Two jobs given the same
 * --output-dir had both run, each overwriting the other's files. Where the file cannot be
 * made or locked (no lock support, another user's leftover), a warning, and the run goes on. */
#include "run_impl.h"

#include <stdio.h>

int cs__run_lock(cs_ctx_t *ctx, const char *dir) {
  int local = CS_OK;
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
  return cs_par_agree(ctx, local);
}
