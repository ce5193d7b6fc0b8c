/* cli/cmd_run.c: `custseg run`, every stage in one job (docs/pipeline.md); `custseg demo`
 * (cmd_demo.c) runs the same pipeline on a generated population.
 *
 * `run` calls the stage commands in order (segment, churn train, clv, roi, report), each with
 * its options from its own section of the one --config file and its input and outputs fixed
 * under --output-dir, so a stage run by `run` is exactly that stage run on its own. A stage
 * left out of --stages is off; a stage whose input is absent (no label column: no churn; no
 * /transactions: no CLV) is skipped with a one-line notice, and the stages after it run
 * without it. The first failing stage ends the job with its own error; the outputs of the
 * stages before it stay (each is complete: stages publish atomically), and `run.json`, the
 * pipeline's summary, is written only when every stage has finished.
 * Interruption: SIGTERM/SIGUSR1 stop the segment stage at an iteration boundary (its
 * checkpoint) and the other stages at their end; `run` then exits with status 75. After each
 * finished stage `run.progress` records it under a key (the input fingerprint, the config
 * file's bytes, --stages), and `run --continue` keeps the stages recorded under the same key
 * and resumes the segment stage from its checkpoint: the job templates requeue on 75 and
 * continue.
 * Each stage opens the store and reads the columns it needs itself, as its own command does;
 * the store read cache (io/colcache.c, --read-cache-mb) makes the file reads happen once. */
#include "run_impl.h"

#include "custseg/inspect.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>


/* --stages: a comma-separated subset of the stage names. Local. */
static int parse_stages(const char *list, stage_run_t *st) {
  int status = CS_OK;
  char buf[256];
  /* Cut, an unknown name past the cut had been ignored; the names fit many times over. */
  CS_CHECK(strlen(list) < sizeof buf, CS_EUSAGE, "--stages: a list of %zu characters; the stages "
           "are segment, churn, clv, roi, report", strlen(list));
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    int found = -1;
    for (int i = 0; i < N_STAGES; i++)
      if (!strcmp(tok, cs__run_stage_names[i])) found = i;
    CS_CHECK(found >= 0, CS_EUSAGE,
             "--stages: unknown stage '%s' (the stages are segment, churn, clv, roi, report)", tok);
    CS_CHECK(!st[found].on, CS_EUSAGE, "--stages: '%s' is listed twice", tok);
    st[found].on = 1;
  }
  int any = 0;
  for (int i = 0; i < N_STAGES; i++) any |= st[i].on;
  CS_CHECK(any, CS_EUSAGE, "--stages '%s' names no stage (the stages are segment, churn, clv, "
           "roi, report)", list);
fail:
  return status;
}

/* Parse a stage's options from `argv` (with the pipeline's config file) and run it; the
 * stage's own timers and warnings start empty so its summary holds its own. Collective. */
int cs__run_command(cs_ctx_t *ctx, const char *command, int (*fn)(cs_ctx_t *, const cs_opts_t *),
                       int argc, char **argv, double *seconds) {
  cs_opts_t so = {0};
  cs_timers_t saved = ctx->timers;
  /* run's own timers: a stage's wall time under its command's name (run.json's
   * timings_seconds had been empty); not the dry pass's checks. */
  if (seconds) cs_timer_start(&saved, command);
  int saved_mark = ctx->warn_mark;
  memset(&ctx->timers, 0, sizeof ctx->timers);
  ctx->warn_mark = cs_log_warnings();
  double t0 = cs_wtime();
  int status = cs_par_agree(ctx, cs_opts_parse(&so, command, argc, argv));
  if (status == CS_OK) status = cs_opts_check_inputs(ctx, &so);
  if (status == CS_OK) status = cs_par_agree(ctx, fn(ctx, &so));
  if (status < 0 && status != CS_ECHECKED) cs_opts_blame_config(&so); /* a value from the stage's config section */
  if (seconds) *seconds = cs_wtime() - t0;
  cs_opts_free(&so);
  ctx->timers = saved;
  if (seconds) cs_timer_stop(&ctx->timers, command);
  ctx->warn_mark = saved_mark;
  return status;
}


/* A stage's arguments: the common ones, --input (unless NULL), and its results file and
 * summary under dir. */
static void stage_args(args_t *a, const cs_opts_t *o, const char *input, const char *dir,
                       const char *output, const char *summary) {
  cs__run_common_args(a, o);
  /* The threads run set for all stages, so the stage's summary records what it ran with
   * (a threads of its section, warned of as unused, had been recorded as used). */
  cs__run_add(a, "--threads");
  cs__run_add(a, cs_opt_str(o, "threads"));
  if (input) {
    cs__run_add(a, "--input");
    cs__run_add(a, input);
  }
  cs__run_add_path(a, "--output", dir, output);
  cs__run_add_path(a, "--summary", dir, summary);
}

/* The results files of the stages before `upto` that ran, as the later stages take them. */
static void results_args(args_t *a, const stage_run_t *st, const char *dir, int upto) {
  static const struct { int stage; const char *flag, *file; } res[] = {
      {ST_SEGMENT, "--segment-results", "segments.h5"},
      {ST_CHURN, "--churn-results", "churn.h5"},
      {ST_CLV, "--clv-results", "clv.h5"},
      {ST_ROI, "--roi-results", "roi.h5"}};
  for (size_t i = 0; i < sizeof res / sizeof *res; i++)
    if (res[i].stage < upto && st[res[i].stage].ran) cs__run_add_path(a, res[i].flag, dir, res[i].file);
}

/* Create the output directory when missing (its parent must exist); *created (may be NULL)
 * says, on rank 0, whether this call made it. Collective. */
int cs__run_make_dir(cs_ctx_t *ctx, const char *dir, int *created) {
  int local = CS_OK;
  if (created) *created = 0;
  if (ctx->rank == 0) {
    if (mkdir(dir, 0777) == 0) {
      if (created) *created = 1;
    } else if (errno != EEXIST) {
      local = cs_error_set(CS_EIO, __FILE__, __LINE__, "cannot create --output-dir '%s': %s", dir,
                           strerror(errno));
    }
  }
  int status = cs_par_agree(ctx, local);
  if (status != CS_OK) return status;
  /* What is there instead, as this rank sees it: rank 0's view is right after its mkdir, so a
   * "not visible" reason is for the other ranks (a directory not on a shared file system). */
  struct stat sb, lb;
  if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
    local = CS_OK;
  else if (stat(dir, &sb) == 0)
    local = cs_error_set(CS_EIO, __FILE__, __LINE__, "--output-dir '%s' is not a directory but "
                         "a %s", dir, S_ISREG(sb.st_mode) ? "file" : "special file");
  else if (lstat(dir, &lb) == 0 && S_ISLNK(lb.st_mode))
    local = cs_error_set(CS_EIO, __FILE__, __LINE__, "--output-dir '%s' is a symbolic link to "
                         "something that does not exist (%s)", dir, strerror(errno));
  else
    local = cs_error_set(CS_EIO, __FILE__, __LINE__, "--output-dir '%s' %s: %s", dir,
                         ctx->rank ? "is not visible to this rank (on a file system the ranks "
                                     "do not share?)" : "cannot be examined", strerror(errno));
  return cs_par_agree(ctx, local);
}

/* What the store and the churn stage's options decide for the whole job. */
typedef struct {
  char label[128]; /* the churn label column (the churn stage's --label-column) */
  char split[128]; /* its --holdout-column, "" when none */
  char like[128];  /* without the label: a column named like one (cs_features_label_like) */
  int has_label, has_txn;
  uint64_t fingerprint;
} probe_t;

/* What the store holds that decides which stages can run: the churn label column (from the
 * config) and /transactions. Collective. */
static int probe_store(cs_ctx_t *ctx, const cs_opts_t *o, const char *input, int segment_on,
                       int churn_on,
                       probe_t *p) {
  int status = CS_OK;
  cs_store_t *store = NULL;
  cs_part_t part;
  cs_opts_t co = {0}, so = {0};
  args_t a;
  cs__run_common_args(&a, o);
  CS_TRY(cs_par_agree(ctx, cs_opts_parse(&co, "churn-train", a.n, (char **)a.v)));
  snprintf(p->label, sizeof p->label, "%s", cs_opt_str(&co, "label-column"));
  const char *split = cs_opt_str(&co, "holdout-column");
  snprintf(p->split, sizeof p->split, "%s", split ? split : "");
  /* The segment stage is given the churn stage's label and split; one set in [segment]
   * alone had been replaced without a word, and the column became a segment feature. */
  CS_TRY(cs_par_agree(ctx, cs_opts_parse(&so, "segment", a.n, (char **)a.v)));
  static const char *const job_wide[] = {"label-column", "holdout-column"};
  for (int i = 0; i < 2 && segment_on; i++) {
    const char *mine = cs_opt_str(&so, job_wide[i]), *job = i ? p->split : p->label;
    CS_CHECK(!cs_opt_in_own_section(&so, job_wide[i]) || !strcmp(mine ? mine : "", job),
             CS_ECONFIG,
             "config %s: %s = %s in [segment] is not the job's %s ('%s'): under run it is set "
             "once, in [churn-train] or the general part, for the churn stage and the segment "
             "stage alike", cs_opt_str(o, "config") ? cs_opt_str(o, "config") : "",
             job_wide[i], mine ? mine : "", i ? "holdout column" : "churn label",
             job[0] ? job : "none");
  }
  /* (churn train's own message asks for --segment-results, which run does not take) */
  CS_CHECK(!churn_on || segment_on || !cs_opt_bool(&co, "churn-with-segment"), CS_ECONFIG,
           "config %s: churn-with-segment = yes needs the segment stage, which --stages leaves "
           "off", cs_opt_str(o, "config") ? cs_opt_str(o, "config") : "");
  CS_TRY(cs_store_open(ctx, input, &store));
  p->has_label = cs_store_column(store, p->label) != NULL;
  const char *like = p->has_label ? NULL : cs_features_label_like(store, p->label);
  snprintf(p->like, sizeof p->like, "%s", like ? like : "");
  /* A label the config names must exist: a typo would otherwise skip the churn stage. */
  CS_CHECK(p->has_label || !churn_on || !cs_opt_given(&co, "label-column"), CS_EDATA,
           "%s: no column /customers/%s, the churn label (label-column in config %s)%s%s%s",
           input, p->label, cs_opt_str(o, "config") ? cs_opt_str(o, "config") : "",
           like ? "; the store has '" : "", like ? like : "", like ? "'" : "");
  p->has_txn = store->txn_rows >= 0;
  CS_TRY(cs_par_partition(ctx, store->n, &part));
  char fp[32];
  CS_TRY(cs_stage_check_ids(ctx, store, &part, fp));
  p->fingerprint = strtoull(fp, NULL, 16);
fail:
  if (store) cs_store_close(store);
  cs_opts_free(&co);
  cs_opts_free(&so);
  return status;
}


/* ---- run.progress: the stages finished so far, under the key of the run ---- */

/* The key: the input fingerprint, the identity of the store file and of the other files the
 * stages read (size, mtime; from rank 0), the bytes of the config file and the stage list.
 * Local (every rank reads the config file itself, as option parsing does). */
static int progress_key(const cs_opts_t *o, uint64_t fingerprint, const int64_t ident[4],
                        char key[17]) {
  int status = CS_OK;
  XXH3_state_t *h = XXH3_createState();
  CS_CHECK(h, CS_ENOMEM, "out of memory");
  XXH3_64bits_reset(h);
  XXH3_64bits_update(h, &fingerprint, sizeof fingerprint);
  XXH3_64bits_update(h, ident, 4 * sizeof *ident);
  /* The stages that are on, not the list's text: 'segment,roi' written 'roi, segment' had
   * not continued. */
  stage_run_t on[N_STAGES] = {0};
  unsigned char bits[N_STAGES];
  CS_TRY(parse_stages(cs_opt_str(o, "stages"), on));
  for (int i = 0; i < N_STAGES; i++) bits[i] = (unsigned char)on[i].on;
  XXH3_64bits_update(h, bits, sizeof bits);
  const char *cfg = cs_opt_str(o, "config");
  if (cfg) {
    FILE *f = fopen(cfg, "rb");
    CS_CHECK(f, CS_ECONFIG, "cannot open config '%s': %s", cfg, strerror(errno));
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) XXH3_64bits_update(h, buf, got);
    fclose(f);
  }
  snprintf(key, 17, "%016" PRIx64, (uint64_t)XXH3_64bits_digest(h));
fail:
  if (h) XXH3_freeState(h);
  return status;
}

/* Rank 0 writes "KEY stage stage ..." to DIR/run.progress (temporary file, rename); agreed.
 * Collective. */
static int progress_write(cs_ctx_t *ctx, const char *dir, const char *key, const stage_run_t *st) {
  int local = CS_OK;
  if (ctx->rank == 0) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/run.progress", dir);
    snprintf(tmp, sizeof tmp, "%s/.run.progress.tmp-%d", dir, (int)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f != NULL && fprintf(f, "%s", key) > 0;
    for (int i = 0; ok && i < N_STAGES; i++)
      if (st[i].ran) ok = fprintf(f, " %s", cs__run_stage_names[i]) > 0;
    if (f) ok = (fputc('\n', f) != EOF) & (fclose(f) == 0) & ok;
    if (!ok || rename(tmp, path) != 0) {
      local = cs_error_set(CS_EIO, __FILE__, __LINE__, "cannot write '%s': %s", path,
                           strerror(errno));
      unlink(tmp);
    }
  }
  return cs_par_agree(ctx, local);
}

/* The segment stage's checkpoint is this run's when run.progress has this run's key, which
 * goes on record with the first checkpoint (resumed: it is there already). Not before the
 * first stage: a key alone, for a run stopped before it wrote anything, had counted as
 * progress to the job templates (cs_step), which requeued a job that then stopped at the
 * same point again. */
static struct ckpt_owner {
  const char *dir, *key;
  const stage_run_t *st;
  int recorded;
} ckpt_owner;

static int record_key(cs_ctx_t *ctx) {
  if (ckpt_owner.recorded) return CS_OK;
  ckpt_owner.recorded = 1;
  return progress_write(ctx, ckpt_owner.dir, ckpt_owner.key, ckpt_owner.st);
}

/* a modified after b (to the nanosecond where the file system keeps it). */
static int newer(const struct stat *a, const struct stat *b) {
  return a->st_mtim.tv_sec != b->st_mtim.tv_sec ? a->st_mtim.tv_sec > b->st_mtim.tv_sec
                                                : a->st_mtim.tv_nsec > b->st_mtim.tv_nsec;
}

/* --continue: mark the stages DIR/run.progress records under this key as kept (rank 0 reads
 * it, all ranks get the mask); *same = 1 when the file is of this key. A missing file or
 * another key keeps nothing. Collective. */
static int progress_read(cs_ctx_t *ctx, const char *dir, const char *key, stage_run_t *st,
                         int *same) {
  int mask = 0;
  *same = 0;
  if (ctx->rank == 0) {
    char path[4200], line[512], *save = NULL;
    snprintf(path, sizeof path, "%s/run.progress", dir);
    FILE *f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) {
      char *tok = strtok_r(line, " \n", &save);
      if (tok && !strcmp(tok, key)) {
        mask |= 1 << N_STAGES; /* the key matched */
        while ((tok = strtok_r(NULL, " \n", &save)))
          for (int i = 0; i < N_STAGES; i++)
            if (!strcmp(tok, cs__run_stage_names[i])) mask |= 1 << i;
        /* A stage whose files are gone since runs again, and so do the later ones, which
         * read them (a summary naming missing results had been written, exit 0). So does one
         * whose file is newer than the record, written after each stage: replaced since (a
         * segments.h5 fitted again by hand had been kept with the old ROI table, exit 0). */
        struct stat rec, sf;
        const int have_rec = fstat(fileno(f), &rec) == 0;
        for (int i = 0; i < N_STAGES; i++)
          for (int k = 0; (mask >> i & 1) && cs__run_stage_files[i][k]; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, cs__run_stage_files[i][k]);
            const int found = stat(path, &sf) == 0;
            if (found && !(have_rec && newer(&sf, &rec))) continue;
            cs_log_info("run: %s finished in an earlier run, but %s %s: it runs again, and so "
                        "do the stages after it", cs__run_stage_names[i], path,
                        found ? "was written after the run recorded it" : "is missing");
            mask &= ~(((1 << N_STAGES) - 1) & ~((1 << i) - 1));
          }
      } else if (tok) {
        cs_log_info("run: %s is from another input, configuration or stage list: starting over",
                    path);
      }
    }
    if (f) fclose(f);
  }
  int status = cs_par_bcast(ctx, &mask, sizeof mask, 0);
  *same = mask >> N_STAGES & 1;
  for (int i = 0; status == CS_OK && i < N_STAGES; i++)
    if (st[i].on && (mask >> i & 1)) {
      st[i].ran = st[i].kept = 1;
      cs_log_info("run: %s finished in an earlier run: kept", cs__run_stage_names[i]);
    }
  return status;
}

/* Between stages: the ranks agree on a pending SIGTERM/SIGUSR1 and stop. Collective. */
static int stage_boundary(cs_ctx_t *ctx, const char *done) {
  int status = CS_OK;
  char where[160];
  cs_signal_test_hook(ctx->rank); /* tests: CUSTSEG_TEST_SIGNAL_AT counts these too */
  snprintf(where, sizeof where, "after the %s stage; the same command with --continue carries "
           "on from the next stage", done);
  CS_TRY(cs_par_stop_on_signal(ctx, where));
fail:
  return status;
}

static void skip(stage_run_t *s, const char *name, const char *why) {
  s->why = why;
  cs_log_info("run: %s skipped: %s", name, why);
}

/* DIR/stage_times.json: {stage: seconds} of the stages run so far, for the report's run
 * facts (kept stages have no time in this run). Collective. */
static int write_timings(cs_ctx_t *ctx, const char *dir, const stage_run_t *st) {
  char path[4200];
  cJSON *t = cJSON_CreateObject();
  for (int i = 0; t && i < N_STAGES; i++)
    if (st[i].ran && !st[i].kept) cJSON_AddNumberToObject(t, cs__run_stage_names[i], st[i].seconds);
  char *text = t ? cs_json_print(t) : NULL;
  cJSON_Delete(t);
  snprintf(path, sizeof path, "%s/stage_times.json", dir);
  int status = text ? cs__run_write_text(ctx, path, text)
                    : cs_par_agree(ctx, cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory"));
  free(text);
  return status;
}

/* The store file as the run found it (rank 0's stat: size, modification time), and its path. */
static struct {
  const char *path;
  int64_t ident[3];
} run_store;

/* The store file's size and modification time as rank 0 sees them (-1 when it cannot), on
 * every rank. Collective. */
static int store_ident(cs_ctx_t *ctx, const char *path, int64_t v[3]) {
  struct stat sb;
  v[0] = v[1] = v[2] = -1;
  if (ctx->rank == 0 && stat(path, &sb) == 0) {
    v[0] = (int64_t)sb.st_size;
    v[1] = (int64_t)sb.st_mtim.tv_sec;
    v[2] = (int64_t)sb.st_mtim.tv_nsec;
  }
  return cs_par_bcast(ctx, v, 3 * sizeof *v, 0);
}

/* After a stage: the store is the file the run began with. One replaced in the middle of the
 * run (next month's store written over it) had given a green run whose stages read two
 * versions of the data, with only a warning per later stage. Collective. */
static int check_store_unchanged(cs_ctx_t *ctx, const char *stage) {
  int status = CS_OK;
  int64_t now[3];
  CS_TRY(store_ident(ctx, run_store.path, now));
  CS_CHECK(memcmp(now, run_store.ident, sizeof now) == 0, CS_EDATA,
           "run: the store '%s' changed during the %s stage (size %lld, modified %lld.%09lld when "
           "the run began; now size %lld, modified %lld.%09lld): the stages would mix two "
           "versions of the data, so this one is not recorded; run again once the store is "
           "written", run_store.path, stage, (long long)run_store.ident[0],
           (long long)run_store.ident[1], (long long)run_store.ident[2], (long long)now[0],
           (long long)now[1], (long long)now[2]);
fail:
  return status;
}

/* Run stage i (unless kept), record it in run.progress, and stop there on a signal.
 * Collective. */
static int do_stage(cs_ctx_t *ctx, stage_run_t *st, int i, const char *command,
                    int (*fn)(cs_ctx_t *, const cs_opts_t *), const args_t *a, const char *dir,
                    const char *key, int dry) {
  int status = CS_OK;
  if (st[i].kept) return CS_OK;
  ctx->in_run = 1;
  if (dry) { /* the stage's own checks of its options, up to where it would read data */
    ctx->check_only = 1;
    ctx->check_segments = st[ST_SEGMENT].on && i > ST_SEGMENT;
    cs_log_hush(1);
    status = cs__run_command(ctx, command, fn, a->n, (char **)a->v, NULL);
    cs_log_hush(0);
    ctx->check_only = ctx->check_segments = ctx->in_run = 0;
    if (status == CS_ECHECKED) {
      cs_error_clear();
      status = CS_OK;
    }
    return status;
  }
  cs_log_info("run: %s", cs__run_stage_names[i]);
  status = cs__run_command(ctx, command, fn, a->n, (char **)a->v, &st[i].seconds);
  ctx->in_run = 0;
  CS_TRY(status);
  CS_TRY(check_store_unchanged(ctx, cs__run_stage_names[i]));
  st[i].ran = 1;
  CS_TRY(progress_write(ctx, dir, key, st));
  /* The stage is done and recorded: Ctrl-C in a later stage removes only that stage's
   * outputs, and --continue carries on from it. */
  cs_signal_keep_published();
  /* After the last stage there is nothing to carry on with: run.json is written. */
  int later = 0;
  for (int j = i + 1; j < N_STAGES; j++) later |= st[j].on && !st[j].kept;
  if (later) CS_TRY(stage_boundary(ctx, cs__run_stage_names[i]));
fail:
  return status;
}

/* What the stages read from the store file and from the read cache, over all ranks, into the
 * summary's "store_reads"; the cache is emptied and stopped. Collective. */
static int add_store_reads(cs_ctx_t *ctx, cJSON *summary, int64_t cache_mb) {
  cs_store_cache_stats_t cs;
  memset(&cs, 0, sizeof cs);
  cs_store_cache_stop(&cs);
  int64_t sum[4] = {cs.file_reads, cs.file_bytes, cs.cache_reads, cs.cache_bytes};
  int64_t peak = cs.peak_bytes;
  int status = cs_par_allreduce(ctx, sum, 4, CS_DT_I64, CS_OP_SUM);
  if (status == CS_OK) status = cs_par_allreduce(ctx, &peak, 1, CS_DT_I64, CS_OP_MAX);
  if (status < 0) return status;
  cJSON *r = cJSON_AddObjectToObject(summary, "store_reads");
  if (r) {
    cJSON_AddNumberToObject(r, "read_cache_mb", (double)cache_mb);
    cJSON_AddNumberToObject(r, "file_reads", (double)sum[0]);
    cJSON_AddNumberToObject(r, "file_bytes", (double)sum[1]);
    cJSON_AddNumberToObject(r, "cache_reads", (double)sum[2]);
    cJSON_AddNumberToObject(r, "cache_bytes", (double)sum[3]);
    cJSON_AddNumberToObject(r, "cache_peak_bytes_per_rank", (double)peak);
  }
  if (cache_mb > 0)
    cs_log_info("store reads: %.1f MB from the file, %.1f MB from the read cache (peak %.1f MB "
                "per rank)", (double)sum[1] / 1e6, (double)sum[3] / 1e6, (double)peak / 1e6);
  return CS_OK;
}


/* What an earlier run left in DIR goes before this one starts, so that the directory never
 * mixes two runs (a report of another store next to this run's segments, an old run.json that
 * says a failed re-run finished): the summary, the stage timings, and the files of every stage
 * not kept by --continue (the checkpoint too, unless it is resumed), and run.progress when
 * nothing carries on. Collective. */
static int clear_outputs(cs_ctx_t *ctx, const cs_opts_t *o, const char *dir, const stage_run_t *st,
                         int resume) {
  if (ctx->rank == 0) {
    char path[4200];
    const char *given = cs_opt_str(o, "summary");
    snprintf(path, sizeof path, "%s/run.json", dir);
    unlink(given ? given : path);
    snprintf(path, sizeof path, "%s/stage_times.json", dir);
    if (!st[ST_REPORT].kept) unlink(path); /* a kept report keeps the timings it shows */
    for (int i = 0; i < N_STAGES; i++) {
      if (st[i].kept) continue;
      for (int f = 0; cs__run_stage_files[i][f]; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, cs__run_stage_files[i][f]);
        unlink(path);
      }
    }
    snprintf(path, sizeof path, "%s/segments.h5.ckpt", dir);
    if (!resume && !st[ST_SEGMENT].kept) unlink(path);
    /* Nothing of an earlier run carries on: its record goes too (this run's key is written
     * with its first checkpoint or stage). */
    int kept = resume;
    for (int i = 0; i < N_STAGES; i++) kept |= st[i].kept;
    snprintf(path, sizeof path, "%s/run.progress", dir);
    if (!kept) unlink(path);
  }
  return cs_par_barrier(ctx);
}

/* The stages in order (dry: only their checks of their options, see do_stage), with the
 * arguments run gives them. Collective. */
static int stages(cs_ctx_t *ctx, const cs_opts_t *o, stage_run_t *st, const probe_t *pr,
                  const char *input, const char *dir, const char *key, int resume, int dry) {
  int status = CS_OK;
  args_t a;
  if (st[ST_SEGMENT].on) {
    stage_args(&a, o, input, dir, "segments.h5", "segments.json");
    /* The churn stage's label and split are no segment features either. */
    cs__run_add(&a, "--label-column");
    cs__run_add(&a, pr->label);
    if (pr->split[0]) {
      cs__run_add(&a, "--holdout-column");
      cs__run_add(&a, pr->split);
    }
    cs__run_add_path(&a, "--personas-csv", dir, "personas.csv");
    cs__run_add_path(&a, "--checkpoint", dir, "segments.h5.ckpt");
    if (resume) cs__run_add_path(&a, "--resume", dir, "segments.h5.ckpt");
    cs_segment_resume_hint = "the same run command with --continue carries on from it";
    ckpt_owner = (struct ckpt_owner){dir, key, st, resume};
    cs_segment_checkpointed = record_key;
    status = do_stage(ctx, st, ST_SEGMENT, "segment", cs_cmd_segment, &a, dir, key, dry);
    cs_segment_checkpointed = NULL;
    cs_segment_resume_hint = NULL;
    CS_TRY(status);
  }
  if (st[ST_CHURN].on && !pr->has_label) {
    static char why[512];
    snprintf(why, sizeof why, "the store has no '%s' column (no labelled history to train on)%s%s%s",
             pr->label, pr->like[0] ? "; if its column '" : "", pr->like,
             pr->like[0] ? "' is the label, set label-column in the config" : "");
    if (!dry) skip(&st[ST_CHURN], "churn", why);
  } else if (st[ST_CHURN].on) {
    stage_args(&a, o, input, dir, "churn.h5", "churn.json");
    results_args(&a, st, dir, ST_CHURN); /* for churn-with-segment */
    CS_TRY(do_stage(ctx, st, ST_CHURN, "churn-train", cs_cmd_churn_train, &a, dir, key, dry));
  }
  if (st[ST_CLV].on && !pr->has_txn) {
    if (!dry) skip(&st[ST_CLV], "clv", "the store has no /transactions (no purchase history)");
  } else if (st[ST_CLV].on) {
    stage_args(&a, o, input, dir, "clv.h5", "clv.json");
    CS_TRY(do_stage(ctx, st, ST_CLV, "clv", cs_cmd_clv, &a, dir, key, dry));
  }
  /* roi and report check nothing before they read the results of the stages above. */
  if (dry) return CS_OK;
  if (st[ST_ROI].on && !st[ST_SEGMENT].ran) {
    skip(&st[ST_ROI], "roi", "the segment stage did not run (the table is per segment)");
  } else if (st[ST_ROI].on) {
    stage_args(&a, o, input, dir, "roi.h5", "roi.json");
    results_args(&a, st, dir, ST_ROI);
    cs__run_add_path(&a, "--roi-csv", dir, "roi.csv");
    cs__run_add_path(&a, "--roi-markdown", dir, "roi.md");
    CS_TRY(do_stage(ctx, st, ST_ROI, "roi", cs_cmd_roi, &a, dir, key, dry));
  }
  if (st[ST_REPORT].on && !st[ST_SEGMENT].ran) {
    skip(&st[ST_REPORT], "report", "the segment stage did not run (the report is per segment)");
  } else if (st[ST_REPORT].on) {
    /* A kept report keeps the timings it was made with (they had been rewritten as {}). */
    if (!dry && !st[ST_REPORT].kept) CS_TRY(write_timings(ctx, dir, st));
    stage_args(&a, o, NULL, dir, "report.html", "report.json"); /* reads results files only */
    results_args(&a, st, dir, ST_REPORT);
    cs__run_add_path(&a, "--timings", dir, "stage_times.json");
    CS_TRY(do_stage(ctx, st, ST_REPORT, "report", cs_cmd_report, &a, dir, key, 0));
  }

fail:
  return status;
}

/* The whole pipeline on `input`, results under `dir`. Collective. */
int cs__run_pipeline(cs_ctx_t *ctx, const cs_opts_t *o, const char *input, const char *dir,
                    cJSON *summary, int *created) {
  int status = CS_OK;
  stage_run_t st[N_STAGES] = {{0}};
  char key[17], ckpt[4200];
  probe_t pr = {0};
  double t0 = cs_wtime();
  const int64_t cache_mb = cs_opt_int(o, "read-cache-mb"); /* >= 0: checked by the parser */
  /* 0: nothing kept, reads still counted; beyond 2^40 MiB: no limit. */
  cs_store_cache_start(cache_mb >= ((int64_t)1 << 40) ? SIZE_MAX : (size_t)cache_mb << 20);
  CS_TRY(parse_stages(cs_opt_str(o, "stages"), st));
  CS_TRY(cs__run_check_stage_options(ctx, o, st));
  CS_TRY(cs__run_make_dir(ctx, dir, created));
  CS_TRY(cs__run_lock(ctx, dir)); /* held by the command until run.json is written */
  CS_TRY(cs__run_check_summary(ctx, cs_opt_str(o, "summary"), dir, (const char *const[]){NULL}));
  /* The store file's size and modification time, as rank 0 sees them: the fingerprint covers
   * the ids and the layout only, so a refreshed store with the same customers (next month's
   * values) must still give another key, or --continue would keep last month's stages; the
   * same for the other files the stages read (ident[3]). */
  int64_t ident[4] = {-1, -1, -1, -1};
  CS_TRY(cs__run_check_stage_inputs(ctx, o, input, dir, st, &ident[3]));
  CS_TRY(probe_store(ctx, o, input, st[ST_SEGMENT].on, st[ST_CHURN].on, &pr));
  CS_TRY(store_ident(ctx, input, ident));
  CS_TRY(cs_par_bcast(ctx, ident + 3, sizeof *ident, 0));
  run_store.path = input;
  memcpy(run_store.ident, ident, sizeof run_store.ident);
  CS_TRY(cs_par_agree(ctx, progress_key(o, pr.fingerprint, ident, key)));
  int same = 0, resume = 0;
  if (cs_opt_bool(o, "continue")) CS_TRY(progress_read(ctx, dir, key, st, &same));
  /* A checkpoint of this very run (same key) is resumed; any other is removed. */
  snprintf(ckpt, sizeof ckpt, "%s/segments.h5.ckpt", dir);
  if (ctx->rank == 0) resume = same && st[ST_SEGMENT].on && access(ckpt, R_OK) == 0;
  CS_TRY(cs_par_bcast(ctx, &resume, sizeof resume, 0));

  /* A dry pass first: every stage checks its options as it will get them (a bad date in
   * [clv] had failed only after the segment and churn stages), before anything is cleared. */
  cs_opts_ignore_config(cs__run_fixed_opts); /* until the stages are done (see fail:) */
  CS_TRY(stages(ctx, o, st, &pr, input, dir, key, resume, 1));
  CS_TRY(clear_outputs(ctx, o, dir, st, resume));
  CS_TRY(stages(ctx, o, st, &pr, input, dir, key, resume, 0));

  cJSON *stages = cJSON_AddObjectToObject(summary, "stages");
  for (int i = 0; stages && i < N_STAGES; i++) {
    cJSON *s = cJSON_AddObjectToObject(stages, cs__run_stage_names[i]);
    if (!s) continue;
    cJSON_AddStringToObject(s, "status", st[i].kept  ? "kept"
                                         : st[i].ran ? "ran"
                                         : st[i].why ? "skipped"
                                                     : "off");
    if (st[i].ran && !st[i].kept) cJSON_AddNumberToObject(s, "seconds", st[i].seconds);
    if (st[i].why) cJSON_AddStringToObject(s, "reason", st[i].why);
  }
  CS_TRY(add_store_reads(ctx, summary, cache_mb));
  cJSON_AddNumberToObject(summary, "seconds", cs_wtime() - t0);
  cJSON_AddStringToObject(summary, "output_dir", dir);
  cJSON_AddStringToObject(summary, "run_key", key);
fail:
  cs_opts_ignore_config(NULL);
  cs_store_cache_stop(NULL);
  return status;
}

/* Write the pipeline's summary to --summary, else DIR/run.json. Collective. */
int cs__run_finish(cs_ctx_t *ctx, const cs_opts_t *o, const char *dir, cJSON *summary) {
  char path[4200];
  const char *given = cs_opt_str(o, "summary");
  snprintf(path, sizeof path, "%s/run.json", dir);
  int status = cs_summary_timers(ctx, summary);
  if (status == CS_OK) status = cs_summary_write(ctx, summary, given ? given : path);
  return status;
}

int cs_cmd_run(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = CS_OK;
  const char *input = cs_opt_str(o, "input"), *dir = cs_opt_str(o, "output-dir");
  cJSON *summary = NULL;
  int created = 0; /* rank 0: --output-dir was made by this run */
  CS_CHECK(input, CS_EUSAGE, "run needs --input STORE");
  CS_CHECK(dir, CS_EUSAGE, "run needs --output-dir DIR");
  CS_CHECK(summary = cs_summary_new(ctx, o), CS_ENOMEM, "out of memory");
  CS_TRY(cs__run_pipeline(ctx, o, input, dir, summary, &created));
  CS_TRY(cs__run_finish(ctx, o, dir, summary));
fail:
  /* A run that failed before writing anything leaves no empty directory it made itself
   * (rmdir removes only an empty one: a recorded stage or checkpoint stays for --continue). */
  cs_io_unclaim_all(); /* the directory's lock and every output's (io/claim.c) */
  if (status != CS_OK && created) (void)rmdir(dir);
  cJSON_Delete(summary);
  return status;
}

int cs__run_write_text(cs_ctx_t *ctx, const char *path, const char *text) {
  int local = CS_OK;
  if (ctx->rank == 0) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
      local = cs_error_set(CS_EIO, __FILE__, __LINE__, "cannot write '%s': %s", path,
                           strerror(errno));
  }
  return cs_par_agree(ctx, local);
}
