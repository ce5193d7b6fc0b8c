/* core/log.c: progress and diagnostics from rank 0 on stderr, with a monotonic clock. */
#include "custseg/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_rank;
static cs_log_level_t g_level = CS_LOG_INFO;
static double g_t0;
static int g_hushed; /* cs_log_hush depth: info, debug and warnings neither printed nor kept */
/* The warnings given so far, for the summary: each distinct text once (g_text), and every
 * warning given as an index into it (g_given), so a later stage of `run` that repeats an
 * earlier stage's warning lists it too. A warning that cannot be kept (out of memory) is
 * still printed. */
static char **g_text;
static int g_n_text, g_cap_text;
static int *g_given;
static int g_n_given, g_cap_given;

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
void cs_log_hush(int on) { g_hushed += on ? 1 : (g_hushed > 0 ? -1 : 0); }
double cs_wtime(void) { return now() - g_t0; }

static void vlog(const char *tag, const char *fmt, va_list ap) {
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  char *shown = cs_text_escaped(line, NULL); /* a name from the data: one line, no ESC */
  fprintf(stderr, "[custseg %7.1fs]%s %s\n", cs_wtime(), tag, shown ? shown : line);
  free(shown);
  fflush(stderr);
}

void cs_log_info(const char *fmt, ...) {
  if (g_rank != 0 || g_level < CS_LOG_INFO || g_hushed) return;
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void cs_log_debug(const char *fmt, ...) {
  if (g_rank != 0 || g_level < CS_LOG_DEBUG || g_hushed) return;
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

/* Append v to the growable array *a of *n elements and *cap capacity; 0, or -1 when out of
 * memory. */
static int push(void **a, int *n, int *cap, size_t size, const void *v) {
  if (*n == *cap) {
    const int c = *cap ? 2 * *cap : 64;
    void *b = realloc(*a, (size_t)c * size);
    if (!b) return -1;
    *a = b;
    *cap = c;
  }
  memcpy((char *)*a + (size_t)*n * size, v, size);
  (*n)++;
  return 0;
}

void cs_log_warn(const char *fmt, ...) {
  /* Every warning is about values all ranks share (a fit, the store's metadata, an option):
   * one line from rank 0, not one per rank. A warning is news about the results, so --quiet
   * does not hide it. */
  if (g_rank != 0 || g_hushed) return;
  char *full = NULL, text[2048];
  va_list ap;
  va_start(ap, fmt);
  const int got = vasprintf(&full, fmt, ap);
  va_end(ap);
  if (got < 0) return;
  /* A value from the data: its line breaks and ESC sequences written out (a warning had been
   * split over two lines). It can make the text long: the middle is elided at a UTF-8
   * character start, so the summary stays valid JSON. */
  size_t len = 0;
  char *shown = cs_text_escaped(full, &len);
  free(full);
  if (!shown) return;
  cs_error_elide(shown, len, text, sizeof text);
  free(shown);
  int seen = -1;
  for (int i = 0; i < g_n_text && seen < 0; i++)
    if (!strcmp(g_text[i], text)) seen = i;
  if (seen < 0) {
    char *copy = strdup(text);
    if (copy && push((void **)&g_text, &g_n_text, &g_cap_text, sizeof *g_text, &copy) == 0)
      seen = g_n_text - 1;
    else
      free(copy);
    fprintf(stderr, "[custseg %7.1fs] warning [rank %d]: %s\n", cs_wtime(), g_rank, text);
    fflush(stderr);
  }
  if (seen >= 0) push((void **)&g_given, &g_n_given, &g_cap_given, sizeof *g_given, &seen);
}

int cs_log_warnings(void) { return g_n_given; }
int cs_log_warning_id(int i) { return i >= 0 && i < g_n_given ? g_given[i] : -1; }
const char *cs_log_warning_text(int id) { return id >= 0 && id < g_n_text ? g_text[id] : NULL; }

void cs_progress_start(cs_progress_t *p, const char *what, int64_t total) {
  p->what = what;
  p->total = total;
  p->t0 = p->last = cs_wtime();
  p->interval = 5.0;
  p->done_said = 0;
}

/* Every interval, and once at the end; with no known total (a file read from a pipe, whose
 * size is 0) only every interval (a "100%" line had come every 4096 rows). */
void cs_progress_update(cs_progress_t *p, int64_t done) {
  double t = cs_wtime();
  const int at_end = p->total > 0 && done >= p->total;
  if (at_end ? p->done_said : t - p->last < p->interval) return;
  p->done_said |= at_end;
  p->last = t;
  double el = t - p->t0;
  double rate = el > 0 ? (double)done / el : 0.0;
  if (p->total > 0)
    cs_log_info("%s: %5.1f%% (%lld/%lld, %.1f s, %.3g per s)", p->what,
                100.0 * (double)done / (double)p->total, (long long)done, (long long)p->total,
                el, rate);
  else
    cs_log_info("%s: %lld so far (%.1f s, %.3g per s)", p->what, (long long)done, el, rate);
}
