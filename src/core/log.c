/* core/log.c: progress and diagnostics from rank 0 on stderr, with a monotonic clock. */
#include "custseg/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_rank;
static cs_log_level_t g_level = CS_LOG_INFO;
static double g_t0;
/* The warnings given so far, for the summary; beyond CS_WARN_KEEP they are printed only. */
enum { CS_WARN_KEEP = 256 };
static char *g_warn[CS_WARN_KEEP];
static int g_n_warn;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cs_log_init(int rank, cs_log_level_t level) {
  g_rank = rank;
  g_level = level;
  g_t0 = now();
}

int cs_log_rank(void) { return g_rank; }
double cs_wtime(void) { return now() - g_t0; }

static void vlog(const char *tag, const char *fmt, va_list ap) {
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  fprintf(stderr, "[custseg %7.1fs]%s %s\n", cs_wtime(), tag, line);
  fflush(stderr);
}

void cs_log_info(const char *fmt, ...) {
  if (g_rank != 0 || g_level < CS_LOG_INFO) return;
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void cs_log_debug(const char *fmt, ...) {
  if (g_rank != 0 || g_level < CS_LOG_DEBUG) return;
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void cs_log_warn(const char *fmt, ...) {
  /* Every warning is about values all ranks share (a fit, the store's metadata, an option):
   * one line from rank 0, not one per rank. A warning is news about the results, so --quiet
   * does not hide it. */
  if (g_rank != 0) return;
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  int seen = 0;
  for (int i = 0; i < g_n_warn && i < CS_WARN_KEEP && !seen; i++) seen = !strcmp(g_warn[i], text);
  if (g_n_warn < CS_WARN_KEEP && (g_warn[g_n_warn] = strdup(text))) g_n_warn++;
  if (seen) return;
  fprintf(stderr, "[custseg %7.1fs] warning [rank %d]: %s\n", cs_wtime(), g_rank, text);
  fflush(stderr);
}

int cs_log_warnings(void) { return g_n_warn; }
const char *cs_log_warning(int i) { return i >= 0 && i < g_n_warn ? g_warn[i] : NULL; }

void cs_progress_start(cs_progress_t *p, const char *what, int64_t total) {
  p->what = what;
  p->total = total;
  p->t0 = p->last = cs_wtime();
  p->interval = 5.0;
}

void cs_progress_update(cs_progress_t *p, int64_t done) {
  double t = cs_wtime();
  if (done < p->total && t - p->last < p->interval) return;
  p->last = t;
  double el = t - p->t0;
  double pct = p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0;
  double rate = el > 0 ? (double)done / el : 0.0;
  cs_log_info("%s: %5.1f%% (%lld/%lld, %.1f s, %.3g per s)", p->what, pct, (long long)done,
              (long long)p->total, el, rate);
}
