/* cli/cli.h: the command line inside the cli module (options, config, summary, commands). */
#ifndef CUSTSEG_CLI_H
#define CUSTSEG_CLI_H

#include "custseg/core.h"
#include "custseg/par.h"

#include <cjson/cJSON.h>
#include <ini.h>
#include <stdio.h>

typedef enum { CS_OPT_STR, CS_OPT_INT, CS_OPT_REAL, CS_OPT_BOOL } cs_opt_type_t;
/* CS_SRC_PREVIOUS: a default the command replaced by the value of its --previous run (segment's
 * K), so that the summary and /run@config record what was used. */
typedef enum { CS_SRC_DEFAULT, CS_SRC_CONFIG, CS_SRC_FLAG, CS_SRC_PREVIOUS } cs_opt_src_t;

typedef struct cs_optdef {
  const char *name;   /* flag --name, config key name */
  cs_opt_type_t type;
  const char *def;    /* default as text, NULL = unset */
  const char *cmds;   /* commands that take it, space separated; "*" = all */
  const char *help;
} cs_optdef_t;

extern const cs_optdef_t cs_optdefs[];
extern const int cs_n_optdefs;

typedef struct cs_opts {
  const char *command;
  char **value;            /* per optdef: text value or NULL */
  cs_opt_src_t *source;
  int *line;               /* per optdef: its line in the config file (source CS_SRC_CONFIG) */
  unsigned char *own;      /* per optdef: 1 when that line is in the command's own section */
  char *positional;        /* one positional argument (inspect FILE) */
  int help;
} cs_opts_t;

/* Parse argv (after the command word) and the --config file; flags override the file.
 * Every value is checked against its type. Local (all ranks parse the same input). */
int cs_opts_parse(cs_opts_t *o, const char *command, int argc, char **argv);
void cs_opts_free(cs_opts_t *o);
/* Names (NULL-terminated; NULL: none) whose values in a --config file cs_opts_parse passes
 * over, as if absent: `run` sets its stages' paths itself, and a path its config names for a
 * stage (warned of as not used) must not reach the stage when `run` sets none (a skipped
 * stage's results). The file's other checks (unknown keys, keys set twice) still apply. */
void cs_opts_ignore_config(const char *const *names);
/* Set option `name` to `value` (checked against its type) from source `src`. The values are
 * held through the struct's arrays, so a command, which is given its options const, can still
 * record a value it derived (CS_SRC_PREVIOUS). Local. */
int cs_opts_set(const cs_opts_t *o, const char *name, const char *value, cs_opt_src_t src);
/* When the current error's message starts with an option ("--k ...") whose value came from
 * the config file, add the file and line to it. Local. */
void cs_opts_blame_config(const cs_opts_t *o);

/* A configuration file's lines for inih (cli/config_lines.c): the reader's state. The first
 * line inih would misread stops the reading: bad_line is its number and bad what is wrong
 * (limit: the longest line inih takes, for CS_CONFIG_TOO_LONG). */
typedef enum cs_config_bad {
  CS_CONFIG_FINE,
  CS_CONFIG_TOO_LONG,
  CS_CONFIG_NUL,
  CS_CONFIG_CR,            /* a carriage return that does not end the line */
  CS_CONFIG_NO_NAME,       /* [] */
  CS_CONFIG_AFTER_SECTION, /* [name] key = value */
  CS_CONFIG_UNKNOWN_SECTION, /* [segmnet], with keys or without */
} cs_config_bad_t;
typedef struct cs_config_lines {
  FILE *f;
  int line, indented, bad_line, limit;
  cs_config_bad_t bad;
  char section[64]; /* the unknown section's name */
} cs_config_lines_t;
/* Whether [name] is a section of a config file: custseg (the general part) or a command. */
int cs_config_section_known(const char *name);
/* The sections a config may have, for messages: "[custseg], [generate], ...". */
const char *cs_config_sections(void);
/* Parse the configuration file `path` with inih, calling entry(user, section, name, value)
 * for each key; lr is the line reader's state (line, indented), which entry may read. entry
 * records its first error (cs_error_set) in *entry_status and that error's line in
 * *entry_line. Only a regular file is read (a FIFO can block forever). Returns CS_OK or the
 * first error in the file by line, with its number: a line inih would misread, a line inih
 * cannot parse, or entry's. Local. */
int cs__config_parse(const char *path, ini_handler entry, void *user, cs_config_lines_t *lr,
                     const int *entry_status, const int *entry_line);
/* Whether `command` accepts option `name`. */
int cs_opts_applies(const char *command, const cs_optdef_t *d);
/* The i-th file option a command may read (0, 1, ...): its name in *name and, when it is
 * given, the file (without the :DATASET of --init-centroids) in `file`. 1 given, 0 not given,
 * -1 past the last. */
int cs_opts_read_file(const cs_opts_t *o, int i, const char **name, char *file, size_t len);
/* Whether option `name` names a file the command reads or writes (--input, --output, ...). */
int cs_opt_names_file(const char *name);
/* A file's identity as results files and checkpoints record it ("size N, modified S.NS"), in
 * out; "" when it cannot be stat'ed. Local (callers take rank 0's and broadcast it). */
void cs_file_ident(const char *path, char *out, size_t len);
/* The files a command's options name for reading (not the store, config, CSV or schema, which
 * their readers check) exist, are readable and are regular files: else an error naming the
 * option and its config line. Called when the command starts (main, and run for each stage
 * as it runs), not when options are parsed: run parses its stages' sections before their
 * inputs exist. Local. */
int cs_opts_check_files(const cs_opts_t *o);
/* cs_opts_check_files, agreed, then every results file an option names is of its kind: an
 * HDF5 file with the object its writer puts there (/segments/labels for --segment-results,
 * /churn/model for --model, ...), else an error naming the option, the file and the command
 * that writes such files. Collective. */
int cs_opts_check_inputs(cs_ctx_t *ctx, const cs_opts_t *o);
/* The same for one file of option `name`. Local. */
int cs_opts_check_file(const cs_opts_t *o, const char *name, const char *file);
/* option_files.c, for cs_opts_parse: no file written twice, none read also written. Local. */
int cs__opts_check_roles(const cs_opts_t *o);
/* A file the command derives from its options (the default checkpoint, role its
 * description) is none of the files they name, nor an output's working file, and none of
 * them is its working file: else a usage error naming both. Local. */
int cs_opts_check_derived(const cs_opts_t *o, const char *file, const char *role);
/* Whether `file` is a working file custseg makes beside `output` (".NAME.lock",
 * ".NAME.tmp-...", ".NAME.rsv-...", ".NAME.bak-...", ".NAME.probe-...", io/out.c). */
int cs_is_companion(const char *file, const char *output);
/* The same file: the same device and inode when both exist, else the same canonical path. */
int cs_same_file(const char *a, const char *b);
/* Typed access (the option must exist in the table; values were checked by parse). */
const char *cs_opt_str(const cs_opts_t *o, const char *name);
int64_t cs_opt_int(const cs_opts_t *o, const char *name);
double cs_opt_real(const cs_opts_t *o, const char *name);
int cs_opt_bool(const cs_opts_t *o, const char *name);
/* Whether the option was set by a flag or the config file (not its default). */
int cs_opt_given(const cs_opts_t *o, const char *name);
/* Whether the option's value comes from the command's own section of the config file. */
int cs_opt_in_own_section(const cs_opts_t *o, const char *name);
/* Print `custseg COMMAND --help`. */
void cs_opts_usage(const char *command, const char *summary, const char *synopsis);
/* A command as users type it, in buf: churn-train is shown as `churn train` (both are
 * accepted). */
const char *cs_command_shown(const char *name, char *buf, size_t size);

/* Run summary (JSON). cs_summary_new starts the common part: version, build, command,
 * effective configuration, ranks, threads. */
cJSON *cs_summary_new(const cs_ctx_t *ctx, const cs_opts_t *o);
/* Add the stage timers as {name: {min, mean, max}} seconds across ranks, and the warnings
 * given since ctx->warn_mark (each text once). Collective. */
int cs_summary_timers(cs_ctx_t *ctx, cJSON *summary);
/* Write the summary to `path` atomically (rank 0), agreed. Collective. */
int cs_summary_write(cs_ctx_t *ctx, cJSON *summary, const char *path);
/* json as indented text whose numbers read back to the same doubles (NaN and inf: null);
 * free() it. Local. */
char *cs_json_print(const cJSON *json);
/* End of a command: reduce the stage timers, log them from rank 0, add them to the
 * summary and write it when --summary was given. Collective. */
int cs_summary_finish(cs_ctx_t *ctx, const cs_opts_t *o, cJSON *summary);

/* ---- k-means checkpoints (checkpoint.c) ---- */
#include "custseg/segment.h"
typedef struct cs_ckpt {
  cs_ctx_t *ctx;
  const char *path;
  char fingerprint[32];   /* of the input store */
  char file_ident[64];    /* the store file's size and modification time (cs_stage_t) */
  char inputs[512];       /* the same of the other files the fit reads (cs_ckpt_inputs) */
  char config_hash[17];   /* cs_ckpt_config_hash */
  const cs_opts_t *opts;  /* the run's options, recorded as text beside the hash, or NULL */
  int (*written)(cs_ctx_t *ctx); /* called after each checkpoint written (collective), or NULL */
} cs_ckpt_t;
/* Hash of every option of the command that can change its result (not output paths,
 * threads, logging or the checkpoint options themselves). Local. */
void cs_ckpt_config_hash(const cs_opts_t *o, char out[17]);
/* ck->inputs: "OPTION: size N, modified T; ..." of the files given to options the command
 * reads besides the store, config and checkpoint (--previous, --init-centroids), as rank 0
 * sees them. Their paths are in the options hash; this tells a file replaced under the same
 * path. Collective. */
int cs_ckpt_inputs(cs_ctx_t *ctx, cs_ckpt_t *ck);
/* Write the state atomically to ck->path. Collective. */
int cs_ckpt_write(cs_ctx_t *ctx, const cs_ckpt_t *ck, const cs_kmeans_state_t *s);
/* Read a state for K x d, refusing another input, configuration or shape, and a state whose
 * counts do not fit --n-init and --max-iter or whose centroids are not finite. Collective. */
int cs_ckpt_read(cs_ctx_t *ctx, const cs_ckpt_t *ck, int k, int d, int n_init, int max_iter,
                 cs_kmeans_state_t *s);
void cs_ckpt_state_free(cs_kmeans_state_t *s);
/* cs_kmeans_checkpoint_fn writing to the cs_ckpt_t given as arg. */
int cs_ckpt_callback(void *arg, const cs_kmeans_state_t *s);

/* ---- stage plumbing shared by the model commands (stage.c) ---- */
#include "custseg/features.h"
typedef struct cs_stage {
  cs_store_t *store;
  cs_part_t part;
  char fingerprint[32];
  char file_ident[64]; /* the store file's size and modification time, as rank 0 saw them */
} cs_stage_t;
/* Check --output/--summary can be written, open --input, partition, refuse duplicate ids.
 * Collective. */
int cs_stage_open(cs_ctx_t *ctx, const cs_opts_t *o, cs_stage_t *st);
/* Refuse duplicate customer ids in the store and set fp to its fingerprint (16 hex digits).
 * The result for the last store checked is kept for the life of the process (keyed by the
 * file's device, inode, size and modification time on every rank), so the stages of one
 * `custseg run` check their common store once. Collective. */
int cs_stage_check_ids(cs_ctx_t *ctx, cs_store_t *store, const cs_part_t *part, char fp[32]);
void cs_stage_close(cs_stage_t *st);
/* run's dry pass (ctx->check_only): check the features `spec` selects against the store's
 * schema (when spec is not NULL) and return CS_ECHECKED, before the command reads any rows.
 * Otherwise CS_OK. Collective. */
int cs_stage_checked(cs_ctx_t *ctx, const cs_stage_t *st, const cs_feature_spec_t *spec);
/* When `features` names any rfm_* feature: read the transactions and add the RFM summary
 * (up to the last purchase day, whole days) as computed columns rfm_frequency, rfm_recency,
 * rfm_age, rfm_monetary, rfm_ipt_mean, rfm_ipt_sd. Collective. */
int cs_stage_rfm(cs_ctx_t *ctx, cs_stage_t *st, const char *features);
/* Add the categorical computed column `segment` (levels segment_0 .. segment_{K-1}) from a
 * segment results file of this very store (its /run@input_fingerprint must match).
 * Collective. */
int cs_stage_segments(cs_ctx_t *ctx, cs_stage_t *st, const char *results);
/* K and the sizes of a segment results file (/segments/sizes, 1 .. 100000 of them). Collective. */
int cs_stage_segment_sizes(cs_ctx_t *ctx, const char *results, double **sizes, int64_t *k);
/* Values v[0..n) (global rows offset..) of path:dataset that no custseg run writes: NaN is
 * "no value" and passes; anything outside [lo, hi] (inf too) is an error naming the file,
 * the dataset, how many and the first, with `what` saying what the values must be (an edited
 * or foreign results file; its figures would otherwise flow into the tables as they are).
 * Collective. */
int cs_stage_check_values(cs_ctx_t *ctx, const char *path, const char *dataset, const double *v,
                          int64_t n, int64_t offset, double lo, double hi, const char *what);
/* Warn (rank 0) when a results file of this store (same fingerprint) was computed from the
 * store file as it was before its last change: the fingerprint covers the ids and the
 * layout, not the values, so results of last month's values still match. Collective. */
int cs_stage_warn_if_changed(cs_ctx_t *ctx, const cs_stage_t *st, const char *results);
/* The feature options (--features, --log1p, --feature-weights, --weight-column, --scale,
 * --missing). Local. */
int cs_stage_feature_spec(const cs_opts_t *o, cs_feature_spec_t *spec);
/* /run attributes (input, fingerprint, input_file, ranks, threads, config) and the summary's input
 * block. Collective. */
int cs_stage_record(cs_ctx_t *ctx, cs_out_t *out, const cs_stage_t *st, cJSON *sum);
/* Start the summary (*sum), record the run, and commit the output; *out is NULL afterwards
 * whether or not the commit succeeded (it frees the writer either way). Collective. */
int cs_stage_publish(cs_ctx_t *ctx, const cs_opts_t *o, const cs_stage_t *st, cs_out_t **out,
                     cJSON **sum);

/* Commands: each returns a status; errors are recorded, printing is done by main. */
typedef struct cs_command {
  const char *name;
  const char *summary;
  const char *synopsis;
  int (*run)(cs_ctx_t *ctx, const cs_opts_t *o);
} cs_command_t;

int cs_cmd_generate(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_inspect(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_segment(cs_ctx_t *ctx, const cs_opts_t *o);
/* How the user carries on after segment wrote a checkpoint on a signal; NULL: "run the same
 * command with --resume CHECKPOINT". `run` sets its own (--continue) around its stage. */
extern const char *cs_segment_resume_hint;
/* Called after each checkpoint segment writes (collective); NULL: nothing. `run` sets it
 * around its stage to record its key beside the first checkpoint (docs/pipeline.md). */
extern int (*cs_segment_checkpointed)(cs_ctx_t *ctx);
int cs_cmd_churn_train(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_churn_score(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_clv(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_import(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_select_k(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_roi(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_report(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_run(cs_ctx_t *ctx, const cs_opts_t *o);
int cs_cmd_demo(cs_ctx_t *ctx, const cs_opts_t *o);

#endif
