/* import/xsort.c: external merge sort of fixed-size records with a memory limit.
 *
 * Records gather in a buffer (grown up to the limit); a full buffer is sorted and written as a
 * run to an anonymous temporary file (mkstemp, then unlink at once: the space is returned when
 * the file is closed, even after a crash). Runs are merged like a binary counter in base
 * CS_XSORT_FANIN: as soon as FANIN runs of one level exist they become one run of the next
 * level, so at most FANIN runs per level are open and every record is rewritten about
 * log_FANIN(runs) times. The last merge is not written: cs_xsort_next pops records from a
 * heap over the remaining runs, so the caller consumes them while they are merged, and can
 * read them again (cs_xsort_rewind). Trade-off: a fixed fan-in and a 64 KiB stdio buffer per
 * open run file (at most FANIN runs per level are open: a few MiB beyond the limit at any
 * realistic size) instead of sizing them from the limit; simple, and fast enough on disks and
 * page cache alike. */
#include "custseg/import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CS_XSORT_IOBUF (64 * 1024)

typedef struct run {
  FILE *f;
  char *iobuf;
  int64_t n, left; /* records in the run, records not yet read */
  int level;
  unsigned char *cur; /* the run's current record while merging */
} run_t;

struct cs_xsort {
  size_t rec;
  cs_xsort_cmp_t cmp;
  char *dir, *tag;
  unsigned char *buf; /* in-memory records */
  int64_t n, cap, cap_max;
  run_t *runs;
  int nruns, runs_cap;
  int finished, in_memory;
  int64_t mem_pos;
  int *heap; /* run indices, a min-heap on their current records */
  int nheap;
  unsigned char *curbuf; /* current records of the runs in the final merge */
  cs_xsort_stats_t st;
};

int cs_xsort_new(size_t rec_size, cs_xsort_cmp_t cmp, size_t mem_bytes, const char *tmp_dir,
                 const char *tag, cs_xsort_t **out) {
  cs_xsort_t *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s || !(s->dir = strdup(tmp_dir)) || !(s->tag = strdup(tag))) {
    cs_xsort_free(s);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (sort)");
  }
  s->rec = rec_size;
  s->cmp = cmp;
  s->cap_max = (int64_t)(mem_bytes / rec_size);
  if (s->cap_max < 16) s->cap_max = 16;
  *out = s;
  return CS_OK;
}

static void run_close(run_t *r) {
  if (r->f) fclose(r->f);
  free(r->iobuf);
  memset(r, 0, sizeof *r);
}

void cs_xsort_free(cs_xsort_t *s) {
  if (!s) return;
  for (int i = 0; i < s->nruns; i++) run_close(&s->runs[i]);
  free(s->runs);
  free(s->buf);
  free(s->heap);
  free(s->curbuf);
  free(s->dir);
  free(s->tag);
  free(s);
}

static int io_error(const cs_xsort_t *s, const char *what) {
  return cs_error_set(CS_EIO, __FILE__, __LINE__,
                      "cannot %s a sort run in '%s': %s (the sort needs free space about the "
                      "size of the data there; see --tmp-dir)", what, s->dir,
                      strerror(errno ? errno : EIO));
}

/* A new empty run at the end of the list, open for writing. */
static int run_new(cs_xsort_t *s, int level, run_t **out) {
  if (s->nruns == s->runs_cap) {
    int cap = s->runs_cap ? 2 * s->runs_cap : 16;
    run_t *r = realloc(s->runs, (size_t)cap * sizeof *r);
    if (!r) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (sort runs)");
    s->runs = r;
    s->runs_cap = cap;
  }
  run_t *r = &s->runs[s->nruns];
  memset(r, 0, sizeof *r);
  size_t len = strlen(s->dir) + strlen(s->tag) + 16;
  char *path = malloc(len);
  r->iobuf = malloc(CS_XSORT_IOBUF);
  if (!path || !r->iobuf) {
    free(path);
    run_close(r);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (sort runs)");
  }
  snprintf(path, len, "%s/.%s.XXXXXX", s->dir, s->tag);
  errno = 0;
  int fd = mkstemp(path);
  if (fd >= 0) unlink(path); /* anonymous from now on */
  free(path);
  if (fd < 0 || !(r->f = fdopen(fd, "w+b"))) {
    int st = io_error(s, "create");
    if (fd >= 0) close(fd);
    run_close(r);
    return st;
  }
  setvbuf(r->f, r->iobuf, _IOFBF, CS_XSORT_IOBUF);
  r->level = level;
  s->nruns++;
  *out = r;
  return CS_OK;
}

static int run_start(cs_xsort_t *s, run_t *r, unsigned char *cur) {
  errno = 0;
  if (fflush(r->f) != 0 || fseek(r->f, 0, SEEK_SET) != 0) return io_error(s, "read");
  r->left = r->n;
  r->cur = cur;
  return CS_OK;
}

/* Load the run's next record into r->cur: 1, or 0 when it is exhausted. */
static int run_step(cs_xsort_t *s, run_t *r) {
  if (r->left == 0) return 0;
  errno = 0;
  if (fread(r->cur, s->rec, 1, r->f) != 1) return io_error(s, "read");
  r->left--;
  return 1;
}

/* Heap over runs[idx], ordered by current record, then run index (deterministic). */
static int heap_less(const cs_xsort_t *s, int a, int b) {
  int c = s->cmp(s->runs[a].cur, s->runs[b].cur);
  return c < 0 || (c == 0 && a < b);
}

static void heap_down(cs_xsort_t *s, int i) {
  for (;;) {
    int l = 2 * i + 1, m = i;
    if (l < s->nheap && heap_less(s, s->heap[l], s->heap[m])) m = l;
    if (l + 1 < s->nheap && heap_less(s, s->heap[l + 1], s->heap[m])) m = l + 1;
    if (m == i) return;
    int t = s->heap[i];
    s->heap[i] = s->heap[m];
    s->heap[m] = t;
    i = m;
  }
}

/* Set up a heap over runs [first, first + k); cur holds k records. */
static int heap_build(cs_xsort_t *s, int first, int k, unsigned char *cur) {
  int status = CS_OK;
  s->nheap = 0;
  for (int i = 0; i < k; i++) {
    run_t *r = &s->runs[first + i];
    CS_TRY(run_start(s, r, cur + (size_t)i * s->rec));
    CS_TRY(run_step(s, r));
    if (status == 1) s->heap[s->nheap++] = first + i;
  }
  for (int i = s->nheap / 2 - 1; i >= 0; i--) heap_down(s, i);
  status = CS_OK;
fail:
  return status;
}

/* Copy the smallest record to rec and advance its run: 1, or 0 when all are exhausted. */
static int heap_pop(cs_xsort_t *s, void *rec) {
  if (s->nheap == 0) return 0;
  run_t *r = &s->runs[s->heap[0]];
  memcpy(rec, r->cur, s->rec);
  int st = run_step(s, r);
  if (st < 0) return st;
  if (st == 0) s->heap[0] = s->heap[--s->nheap];
  heap_down(s, 0);
  return 1;
}

/* Merge the last k runs into one run of level `level`, which replaces them. */
static int merge_tail(cs_xsort_t *s, int k, int level) {
  int status = CS_OK;
  int first = s->nruns - k;
  unsigned char *cur = malloc((size_t)(k + 1) * s->rec);
  int *heap = realloc(s->heap, (size_t)(k > CS_XSORT_FANIN ? k : CS_XSORT_FANIN) * sizeof *heap);
  if (heap) s->heap = heap;
  CS_CHECK(cur && heap, CS_ENOMEM, "out of memory (sort merge)");
  CS_TRY(heap_build(s, first, k, cur));
  run_t *out;
  CS_TRY(run_new(s, level, &out)); /* may move s->runs: index from here on */
  int oi = s->nruns - 1;
  unsigned char *rec = cur + (size_t)k * s->rec;
  while ((status = heap_pop(s, rec)) == 1) {
    errno = 0;
    if (fwrite(rec, s->rec, 1, s->runs[oi].f) != 1) CS_TRY(io_error(s, "write"));
    s->runs[oi].n++;
    s->st.bytes_spilled += (int64_t)s->rec;
  }
  CS_TRY(status);
  run_t merged = s->runs[oi];
  for (int i = first; i < first + k; i++) run_close(&s->runs[i]);
  s->runs[first] = merged;
  s->nruns = first + 1;
  s->st.merges++;
fail:
  free(cur);
  return status;
}

/* Sort the buffer and write it as a level-0 run; then merge full levels. */
static int spill(cs_xsort_t *s) {
  int status = CS_OK;
  run_t *r;
  qsort(s->buf, (size_t)s->n, s->rec, s->cmp);
  CS_TRY(run_new(s, 0, &r));
  errno = 0;
  if (s->n && fwrite(s->buf, s->rec, (size_t)s->n, r->f) != (size_t)s->n)
    CS_TRY(io_error(s, "write"));
  r->n = s->n;
  s->st.runs++;
  s->st.bytes_spilled += s->n * (int64_t)s->rec;
  s->n = 0;
  for (;;) {
    int k = 0, level = s->runs[s->nruns - 1].level;
    while (k < s->nruns && s->runs[s->nruns - 1 - k].level == level) k++;
    if (k < CS_XSORT_FANIN) break;
    CS_TRY(merge_tail(s, CS_XSORT_FANIN, level + 1));
  }
fail:
  return status;
}

int cs_xsort_add(cs_xsort_t *s, const void *rec) {
  int status = CS_OK;
  CS_CHECK(!s->finished, CS_EINTERNAL, "sort: record added after finish");
  if (s->n == s->cap) {
    if (s->cap < s->cap_max) {
      int64_t cap = s->cap ? 2 * s->cap : 4096;
      if (cap > s->cap_max) cap = s->cap_max;
      unsigned char *b = realloc(s->buf, (size_t)cap * s->rec);
      CS_CHECK(b, CS_ENOMEM, "out of memory (sort buffer of %lld records; lower --sort-memory)",
               (long long)cap);
      s->buf = b;
      s->cap = cap;
    } else {
      CS_TRY(spill(s));
    }
  }
  memcpy(s->buf + (size_t)s->n * s->rec, rec, s->rec);
  s->n++;
  s->st.records++;
fail:
  return status;
}

int cs_xsort_rewind(cs_xsort_t *s) {
  if (s->in_memory) {
    s->mem_pos = 0;
    return CS_OK;
  }
  return heap_build(s, 0, s->nruns, s->curbuf);
}

int cs_xsort_finish(cs_xsort_t *s) {
  int status = CS_OK;
  CS_CHECK(!s->finished, CS_EINTERNAL, "sort: finished twice");
  s->finished = 1;
  if (s->nruns == 0) {
    if (s->n) qsort(s->buf, (size_t)s->n, s->rec, s->cmp);
    s->in_memory = 1;
    return cs_xsort_rewind(s);
  }
  if (s->n) CS_TRY(spill(s));
  free(s->buf);
  s->buf = NULL;
  s->cap = 0;
  if (s->nruns > CS_XSORT_FANIN) CS_TRY(merge_tail(s, s->nruns - CS_XSORT_FANIN + 1, 99));
  s->curbuf = malloc((size_t)s->nruns * s->rec);
  int *heap = realloc(s->heap, (size_t)CS_XSORT_FANIN * sizeof *heap);
  if (heap) s->heap = heap;
  CS_CHECK(s->curbuf && heap, CS_ENOMEM, "out of memory (sort merge)");
  CS_TRY(cs_xsort_rewind(s));
fail:
  return status;
}

int cs_xsort_next(cs_xsort_t *s, void *rec) {
  if (s->in_memory) {
    if (s->mem_pos >= s->n) return 0;
    memcpy(rec, s->buf + (size_t)s->mem_pos++ * s->rec, s->rec);
    return 1;
  }
  return heap_pop(s, rec);
}

void cs_xsort_get_stats(const cs_xsort_t *s, cs_xsort_stats_t *st) { *st = s->st; }
