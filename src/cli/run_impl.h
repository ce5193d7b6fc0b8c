/* cli/run_impl.h: what `custseg run` (cmd_run.c), its up-front checks (run_checks.c) and its
 * directory lock (run_lock.c) share: the stages, the files each writes in --output-dir, the
 * argument vectors run builds for them, the lock. Internal to those files. */
#ifndef CUSTSEG_CLI_RUN_IMPL_H
#define CUSTSEG_CLI_RUN_IMPL_H

#include "cli.h"

#include <stdint.h>
#include <stdio.h>

enum { ST_SEGMENT, ST_CHURN, ST_CLV, ST_ROI, ST_REPORT, N_STAGES };

/* --stages names, and the command each stage runs. */
extern const char *const cs__run_stage_names[N_STAGES];
extern const char *const cs__run_stage_commands[N_STAGES];
/* The files each stage writes in DIR (NULL-terminated rows). */
extern const char *const cs__run_stage_files[N_STAGES][5];
/* run's own files in DIR besides the stages' (run.json, the timings, the progress record, the
 * segment stage's checkpoint), NULL-terminated. */
extern const char *const cs__run_own_files[];

typedef struct stage_run {
  int on;            /* asked for by --stages */
  int ran;           /* finished (in this run, or kept from an interrupted one) */
  int kept;          /* --continue: finished by an earlier, interrupted run */
  const char *why;   /* skipped: the reason */
  double seconds;
} stage_run_t;

/* An argument vector built up for one stage. */
typedef struct args {
  int n;
  const char *v[40];
  char paths[12][4200];
  int np;
} args_t;

static inline void cs__run_add(args_t *a, const char *s) {
  if (a->n < (int)(sizeof a->v / sizeof *a->v) - 1) a->v[a->n++] = s;
}
static inline void cs__run_add_path(args_t *a, const char *flag, const char *dir, const char *file) {
  if (a->np >= (int)(sizeof a->paths / sizeof *a->paths)) return; /* never: 7 at most */
  snprintf(a->paths[a->np], sizeof a->paths[a->np], "%s/%s", dir, file);
  cs__run_add(a, flag);
  cs__run_add(a, a->paths[a->np++]);
}
/* The arguments every stage gets: the config file and the log level. */
static inline void cs__run_common_args(args_t *a, const cs_opts_t *o) {
  a->n = a->np = 0;
  if (cs_opt_str(o, "config")) {
    cs__run_add(a, "--config");
    cs__run_add(a, cs_opt_str(o, "config"));
  }
  if (cs_opt_bool(o, "quiet")) cs__run_add(a, "--quiet");
  if (cs_opt_bool(o, "verbose")) cs__run_add(a, "--verbose");
}

/* run_checks.c: everything run verifies before it touches --output-dir. Collective. */

/* Every stage that is on parses its options (its config section, the common flags). */
/* The options whose paths run sets for its stages (NULL-terminated). */
extern const char *const cs__run_fixed_opts[];
int cs__run_check_stage_options(cs_ctx_t *ctx, const cs_opts_t *o, const stage_run_t *st);
/* A --summary (NULL: none given) is none of the files run writes in DIR, nor one of `more`
 * (NULL-terminated: demo's own files), and is writable. */
int cs__run_check_summary(cs_ctx_t *ctx, const char *summary, const char *dir,
                          const char *const *more);
/* No file a stage reads is one run writes or removes; *ident (rank 0) hashes their identity
 * for the key of --continue. */
int cs__run_check_stage_inputs(cs_ctx_t *ctx, const cs_opts_t *o, const char *input,
                               const char *dir, const stage_run_t *st, int64_t *ident);

/* cmd_run.c, for cmd_demo.c (each is described where it is defined): a stage command run
 * with its own argument vector, the output directory made, a text file written by rank 0,
 * the whole pipeline on a store, and its summary written. Collective. */
int cs__run_command(cs_ctx_t *ctx, const char *command, int (*fn)(cs_ctx_t *, const cs_opts_t *),
                    int argc, char **argv, double *seconds);
int cs__run_make_dir(cs_ctx_t *ctx, const char *dir, int *created);
int cs__run_write_text(cs_ctx_t *ctx, const char *path, const char *text);
int cs__run_pipeline(cs_ctx_t *ctx, const cs_opts_t *o, const char *input, const char *dir,
                     cJSON *summary, int *created);
int cs__run_finish(cs_ctx_t *ctx, const cs_opts_t *o, const char *dir, cJSON *summary);

/* run_lock.c: claim DIR/.run.lock (rank 0; refused with CS_EIO while another run holds it);
 * cs_io_unclaim_all gives it back, with the outputs' claims, when the command is over (the
 * files removed, so that a directory the run made and left empty can go). Collective. */
int cs__run_lock(cs_ctx_t *ctx, const char *dir);

#endif
