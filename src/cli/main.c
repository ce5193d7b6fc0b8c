/* cli/main.c: `custseg COMMAND [options]`. Starts MPI (works without mpirun too), parses the
 * options on every rank, runs the command, and turns the agreed status into one error line
 * from rank 0 and the documented exit status (docs/cli.md). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "cli.h"

#include "custseg/build_info.h"

#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const cs_command_t commands[] = {
    {"generate", "Write a synthetic customer store with known segments, churn and campaign "
                 "effects (ground truth under /truth), in parallel.",
     "--output FILE [--customers N] [--segments K] [--seed S] [options]", cs_cmd_generate},
    {"inspect", "Show a customer store's schema, row count, per-column statistics and the "
                "problems found (duplicate ids, non-finite values, bad category codes).",
     "FILE [--features a,b,c] [--summary FILE] [options]", cs_cmd_inspect},
    {"segment", "Split the customers into K segments with distributed k-means (k-means++ "
                "start, Lloyd iterations); identical results on any number of ranks and threads.",
     "--input STORE --output RESULTS [--k K] [--features a,b,c] [options]", cs_cmd_segment},
    {"select-k", "Choose K over single-K segment runs made one per job (a Slurm job array), "
                 "by the rule of segment --k A..B, and copy the chosen results.",
     "--sweep DIR --output RESULTS [--min-segment-share 0.02] [--summary FILE]", cs_cmd_select_k},
    {"churn-train", "Train the churn model (L2 logistic regression, Newton) on labelled "
                    "customers, evaluate it on a hash-chosen holdout, score every customer.",
     "--input STORE --output RESULTS [--holdout 0.2] [--l2 1] [options]", cs_cmd_churn_train},
    {"churn-score", "Score another store with a trained churn model (same features, same "
                    "statistics, same categorical levels).",
     "--model RESULTS --input STORE --output SCORES [options]", cs_cmd_churn_score},
    {"clv", "Customer lifetime value from purchase history: RFM, BG/NBD and Gamma-Gamma "
            "fitted across ranks, P(alive), expected purchases and spend, discounted CLV.",
     "--input STORE --output RESULTS [--calibration-end DATE] [--holdout-end DATE] "
     "[--time-unit week] [options]", cs_cmd_clv},
    {"import", "CSV files -> customer store: customers (types inferred or declared, text "
               "columns categorical) and transactions (any order, sorted in bounded memory).",
     "--output STORE [--customers-csv FILE] [--transactions-csv FILE] [--schema FILE] "
     "[options]", cs_cmd_import},
    {"roi", "The ROI table per segment and in total: revenue, costs (CAC), conversion, churn, "
            "CLV, revenue at risk, ROI, and the campaign's uplift and incremental ROI with a "
            "recommended action; exact sums, identical on any number of ranks.",
     "--input STORE --segment-results FILE --output RESULTS [--churn-results FILE] "
     "[--clv-results FILE] [--roi-csv FILE] [--roi-markdown FILE] [options]", cs_cmd_roi},
    {"report", "One self-contained HTML page: run facts, segment sizes, personas, centroid "
               "heatmap, choice of K, ROI and revenue at risk, churn gains, lift and "
               "calibration, CLV per segment; inline SVG, no network needed.",
     "--segment-results FILE --output report.html [--churn-results FILE] [--clv-results FILE] "
     "[--roi-results FILE] [--timings FILE] [options]", cs_cmd_report},
    {"run", "The whole pipeline in one job: segment, churn train, clv, roi and the report, "
            "each stage with its options from its section of --config, results under "
            "--output-dir; stages without their input are skipped with a notice.",
     "--input STORE --output-dir DIR [--config FILE] [--stages segment,churn,clv,roi,report]",
     cs_cmd_run},
    {"demo", "Generate a sample population with purchase histories (10^6 customers by "
             "default), run the whole pipeline on it and print the ROI table per segment.",
     "--output-dir DIR [--customers N] [--stages ...]", cs_cmd_demo},
};
static const int n_commands = (int)(sizeof commands / sizeof *commands);

static void usage(void) {
  printf("custseg %s: customer segmentation, churn, CLV and ROI on MPI x OpenMP x HDF5\n\n"
         "usage: [mpirun -n RANKS] custseg COMMAND [options]   (custseg COMMAND --help)\n\n"
         "commands:\n", CS_VERSION);
  for (int i = 0; i < n_commands; i++) {
    char shown[32];
    printf("  %-12s %s\n", cs_command_shown(commands[i].name, shown, sizeof shown), commands[i].summary);
  }
}

static void report_error(const cs_ctx_t *ctx) {
  const cs_error_t *e = cs_error_get();
  if (ctx->rank != 0) return;
  fprintf(stderr, "custseg: error: %s [rank %d, %s]\n", e->msg[0] ? e->msg : cs_strerror(e->status),
          e->rank, e->where[0] ? e->where : "?");
  fflush(stderr);
}

/* The CPUs this process may run on. With OMP_PLACES or OMP_PROC_BIND the runtime has bound the
 * initial thread to its first place before main, so that thread's own mask holds one core:
 * the places, made from the process's mask, list them all. */
static void process_cpus(cpu_set_t *set) {
  CPU_ZERO(set);
  const int np = omp_get_num_places();
  for (int p = 0; p < np; p++) {
    const int n = omp_get_place_num_procs(p);
    int *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (!ids) continue;
    omp_get_place_proc_ids(p, ids);
    for (int i = 0; i < n; i++)
      if (ids[i] >= 0 && ids[i] < CPU_SETSIZE) CPU_SET(ids[i], set);
    free(ids);
  }
  if (np > 0 && CPU_COUNT(set) > 0) return;
  if (sched_getaffinity(0, sizeof *set, set) == 0 && CPU_COUNT(set) > 0) return;
  CPU_ZERO(set); /* no mask known (over 1024 CPUs?): the runtime's count, numbered from 0 */
  for (int c = 0; c < omp_get_num_procs() && c < CPU_SETSIZE; c++) CPU_SET(c, set);
}

int main(int argc, char **argv) {
  cs_ctx_t ctx;
  /* Before MPI_Init, which can take a while: a SIGUSR1 or SIGTERM then (Slurm's warning) is
   * noted, not fatal; SIGINT/SIGHUP remove temporary outputs (none yet). */
  cs_signal_install();
  cs_memory_init();
  int status = cs_par_init(&argc, &argv, &ctx);
  if (status < 0) {
    fprintf(stderr, "custseg: error: cannot start MPI: %s\n", cs_error_get()->msg);
    return cs_exit_status(status);
  }
  cs_log_init(ctx.rank, CS_LOG_INFO);
  int code = 0;
  const char *word = argc > 1 ? argv[1] : NULL;
  if (!word || !strcmp(word, "--help") || !strcmp(word, "-h") || !strcmp(word, "help")) {
    if (ctx.rank == 0) usage();
    code = word ? 0 : cs_exit_status(CS_EUSAGE);
    goto done;
  }
  if (!strcmp(word, "--version")) {
    if (ctx.rank == 0) printf("custseg %s (%s; %s)\n", CS_VERSION, CS_COMPILER, CS_BUILD_FLAGS);
    goto done;
  }
  /* Two-word commands: `churn train` is the command churn-train (also accepted as is). */
  int skip = 2;
  char joined[64];
  if (!strcmp(word, "churn") && argc > 2 && argv[2][0] != '-') {
    snprintf(joined, sizeof joined, "churn-%s", argv[2]);
    word = joined;
    skip = 3;
  }
  const cs_command_t *cmd = NULL;
  for (int i = 0; i < n_commands; i++)
    if (!strcmp(word, commands[i].name)) cmd = &commands[i];
  cs_opts_t opts = {0};
  if (!cmd && !strcmp(word, "churn") && argc > 2 &&
      (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
    if (ctx.rank == 0) /* the two churn commands, as in the main list */
      for (int i = 0; i < n_commands; i++)
        if (!strncmp(commands[i].name, "churn-", 6)) {
          char shown[32];
          printf("  %-12s %s\n", cs_command_shown(commands[i].name, shown, sizeof shown),
                 commands[i].summary);
        }
    if (ctx.rank == 0) printf("\n(custseg churn train --help, custseg churn score --help)\n");
    goto done;
  }
  if (!cmd && (!strcmp(word, "churn") || word == joined)) /* "churn bogus": no churn-bogus */
    status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                          "churn needs a second word: churn train or churn score (custseg churn "
                          "train --help)%s%s%s", word == joined ? ", not '" : "",
                          word == joined ? argv[2] : "", word == joined ? "'" : "");
  else if (!cmd)
    status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                          "unknown command '%s' (run custseg --help for the list)", word);
  else
    status = cs_opts_parse(&opts, cmd->name, argc - skip, argv + skip);
  status = cs_par_agree(&ctx, status);
  if (status == CS_OK && !opts.help) status = cs_opts_check_inputs(&ctx, &opts);
  if (status == CS_OK && opts.help) {
    if (ctx.rank == 0) cs_opts_usage(cmd->name, cmd->summary, cmd->synopsis);
  } else if (status == CS_OK) {
    /* Threads: --threads, else OMP_NUM_THREADS, else this rank's share of the cores it may
     * run on, so ranks sharing a node do not oversubscribe it (OpenMP threads spin). */
    int64_t threads = cs_opt_int(&opts, "threads");
    int node_ranks = 1;
    /* OMP_NUM_THREADS stands for --threads 0 and gets its bound (libgomp crashed creating
     * 100000 threads, leaving a temporary output behind). */
    if (threads <= 0 && getenv("OMP_NUM_THREADS") && omp_get_max_threads() > 1024)
      status = cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                            "OMP_NUM_THREADS=%s asks for %d threads per rank; at most 1024",
                            getenv("OMP_NUM_THREADS"), omp_get_max_threads());
    status = cs_par_agree(&ctx, status);
    if (status == CS_OK) status = cs_par_agree(&ctx, cs_par_node_ranks(&ctx, &node_ranks));
    if (threads <= 0 && !getenv("OMP_NUM_THREADS")) {
      threads = omp_get_num_procs() / node_ranks;
      if (threads < 1) threads = 1;
    }
    cs_log_init(ctx.rank, cs_opt_bool(&opts, "quiet")     ? CS_LOG_QUIET
                          : cs_opt_bool(&opts, "verbose") ? CS_LOG_DEBUG
                                                          : CS_LOG_INFO);
    /* One warning from rank 0 for all ranks whose CPUs are fewer than the threads asked. It is
     * about speed, not the results, so unlike other warnings --quiet hides it. */
    int64_t over = threads > omp_get_num_procs(), fewest = omp_get_num_procs();
    if (status == CS_OK)
      status = cs_par_agree(&ctx, cs_par_allreduce(&ctx, &over, 1, CS_DT_I64, CS_OP_SUM));
    if (status == CS_OK)
      status = cs_par_agree(&ctx, cs_par_allreduce(&ctx, &fewest, 1, CS_DT_I64, CS_OP_MIN));
    /* Threads waiting at a barrier spin on the cores the others need unless told to sleep
     * (libgomp's default): 3 ranks x 2 threads on 2 cores ran segment 6 times slower,
     * and OMP_WAIT_POLICY is read when the program loads, so only the user can set it. */
    const char *wait = getenv("OMP_WAIT_POLICY");
    const char *spin = wait && !strcasecmp(wait, "passive")
                           ? ""
                           : "; set OMP_WAIT_POLICY=passive, or their waiting threads spin on "
                             "the shared cores";
    if (status == CS_OK && over && ctx.rank == 0 && !cs_opt_bool(&opts, "quiet"))
      cs_log_warn("--threads %lld exceeds the CPUs that %lld of %d rank(s) may run on (as few as "
                  "%lld; process binding?); threads will share cores%s",
                  (long long)threads, (long long)over, ctx.size, (long long)fewest, spin);
    /* The node as a whole: ranks that each fit their CPUs can still share them (unbound ranks,
     * or OMP_NUM_THREADS given to every rank). Ranks beyond the CPUs are the user's choice
     * (mpirun asks for --oversubscribe); threads beyond one per rank are warned of, once. */
    int64_t node_threads = 0, mine = threads > 0 ? threads : omp_get_max_threads();
    if (mine > omp_get_thread_limit()) mine = omp_get_thread_limit(); /* what can run */
    cpu_set_t cpus;
    process_cpus(&cpus);
    if (status == CS_OK)
      status = cs_par_agree(&ctx, cs_par_node_threads(&ctx, mine, (unsigned char *)&cpus,
                                                      (int)sizeof cpus, &node_threads));
    const int node_cpus = CPU_COUNT(&cpus) > 0 ? CPU_COUNT(&cpus) : 1;
    int64_t crowded = node_threads > (node_cpus > node_ranks ? node_cpus : node_ranks);
    if (status == CS_OK)
      status = cs_par_agree(&ctx, cs_par_allreduce(&ctx, &crowded, 1, CS_DT_I64, CS_OP_MAX));
    if (status == CS_OK && crowded && !over && ctx.rank == 0 && !cs_opt_bool(&opts, "quiet")) {
      const int fit = node_cpus / node_ranks > 1 ? node_cpus / node_ranks : 1;
      if (node_threads > (node_cpus > node_ranks ? node_cpus : node_ranks))
        cs_log_warn("%lld threads in all on a node whose %d rank(s) may run on %d CPUs; threads "
                    "will share cores (use --threads %d, or leave --threads and OMP_NUM_THREADS "
                    "unset)%s", (long long)node_threads, node_ranks, node_cpus, fit, spin);
      else
        cs_log_warn("the ranks of some node run more threads in all than its CPUs; threads will "
                    "share cores (leave --threads and OMP_NUM_THREADS unset for one share each)%s",
                    spin);
    }
    if (threads > 0) omp_set_num_threads((int)threads);
    ctx.threads = omp_get_max_threads();
    if (status == CS_OK) status = cs_par_agree(&ctx, cmd->run(&ctx, &opts));
  }
  /* Done, well or not: what the command did not withdraw on a failure stays, a late Ctrl-C
   * removes nothing, and the files it replaced (kept under .bak- names) go. */
  cs_signal_keep_published();
  cs_io_unclaim_all(); /* the outputs are written (or not): another job may write them now */
  if (status < 0) {
    cs_opts_blame_config(&opts);
    report_error(&ctx);
  }
  code = cs_exit_status(status);
  cs_opts_free(&opts);
done:
  if (cs_io_files_left_open()) { /* MPI_Finalize would close them (see cs_out_abort) */
    fflush(NULL);
    /* One MPI_Abort, from rank 0, ends every rank: the others wait for it (and Open MPI's
     * banner comes once). */
    if (ctx.rank != 0) cs_par_barrier(&ctx);
    cs_par_abort(&ctx, code);
  }
  cs_par_finalize(&ctx);
  return code;
}
