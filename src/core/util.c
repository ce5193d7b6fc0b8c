/* core/util.c: aligned memory, element types and their conversion, stage timers. */
#include "custseg/core.h"

#include <float.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

size_t cs_bytes(int64_t n, size_t size) {
  if (n < 0 || (size && (uint64_t)n > SIZE_MAX / size)) return SIZE_MAX;
  return (size_t)n * size;
}

static int want_huge_pages(void) {
  const char *e = getenv("CUSTSEG_HUGEPAGES");
  return e && strcmp(e, "1") == 0;
}

void cs_memory_init(void) {
  /* Freed arrays stay with the process for the next allocation. By default glibc maps every
   * block of 32 MiB and more afresh and unmaps it on free, so each stage's columns and feature
   * matrix were zero-filled page by page again (a page fault per 4 KiB, slow in a VM:
   * docs/performance.md, "Freed memory kept"). From the heap instead, a later allocation reuses
   * pages already touched; a free region of more than 1 GiB at the heap's top is still given
   * back. CUSTSEG_KEEP_FREED=0 keeps glibc's defaults. */
  const char *e = getenv("CUSTSEG_KEEP_FREED");
  if (e && strcmp(e, "0") == 0) return;
  (void)mallopt(M_MMAP_MAX, 0);
  (void)mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

void *cs_alloc(size_t bytes, const char *what) {
  if (bytes == SIZE_MAX) {
    cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "size overflow allocating %s", what);
    return NULL;
  }
  /* Large arrays (the feature matrix, labels, bounds) on 2 MiB boundaries. With
   * CUSTSEG_HUGEPAGES=1 they are also advised as transparent huge pages: a long fit streams
   * them every iteration, and fewer TLB misses saved 6% of a Lloyd iteration in one
   * measurement (none in another) and about 5% of Hamerly's scattered row reads, but where
   * the kernel has to compact memory (or, in a VM, the host has to back it) the first touch of
   * a huge page is far slower than of small pages, which costs more than it saves in short
   * jobs (docs/performance.md, "Huge pages"). Small arrays 64-byte aligned. */
  const size_t huge = (size_t)2 << 20;
  const size_t align = bytes >= 4 * huge ? huge : 64;
  size_t rounded = (bytes + align - 1) & ~(align - 1);
  void *p = aligned_alloc(align, rounded ? rounded : 64);
#ifdef MADV_HUGEPAGE
  if (p && align == huge && want_huge_pages()) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
  if (!p)
    cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory allocating %zu bytes for %s", bytes,
                 what);
  return p;
}

void *cs_calloc(size_t bytes, const char *what) {
  void *p = cs_alloc(bytes, what);
  if (p) memset(p, 0, bytes);
  return p;
}

void cs_free(void *p) { free(p); }

size_t cs_dtype_size(cs_dtype_t t) {
  switch (t) {
  case CS_DT_I8: case CS_DT_U8: return 1;
  case CS_DT_I16: case CS_DT_U16: return 2;
  case CS_DT_I32: case CS_DT_U32: case CS_DT_F32: return 4;
  case CS_DT_I64: case CS_DT_U64: case CS_DT_F64: return 8;
  default: return 0;
  }
}

const char *cs_dtype_name(cs_dtype_t t) {
  static const char *names[] = {"non-numeric", "int8", "int16", "int32", "int64", "uint8",
                                "uint16", "uint32", "uint64", "float32", "float64"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

int cs_dtype_is_float(cs_dtype_t t) { return t == CS_DT_F32 || t == CS_DT_F64; }

#define CS__CONVERT(T, DT, OUT)                                  \
  case DT: {                                                     \
    const T *s = src;                                            \
    for (int64_t i = 0; i < n; i++) dst[i] = (OUT)s[i];          \
    break;                                                       \
  }
#define CS__ALL_TYPES(OUT)                                       \
  CS__CONVERT(int8_t, CS_DT_I8, OUT)                             \
  CS__CONVERT(int16_t, CS_DT_I16, OUT)                           \
  CS__CONVERT(int32_t, CS_DT_I32, OUT)                           \
  CS__CONVERT(int64_t, CS_DT_I64, OUT)                           \
  CS__CONVERT(uint8_t, CS_DT_U8, OUT)                            \
  CS__CONVERT(uint16_t, CS_DT_U16, OUT)                          \
  CS__CONVERT(uint32_t, CS_DT_U32, OUT)                          \
  CS__CONVERT(uint64_t, CS_DT_U64, OUT)                          \
  CS__CONVERT(float, CS_DT_F32, OUT)                             \
  CS__CONVERT(double, CS_DT_F64, OUT)

void cs_convert_to_f64(cs_dtype_t from, const void *src, double *dst, int64_t n) {
  if (from == CS_DT_F64) {
    if (dst != src) memmove(dst, src, (size_t)n * sizeof *dst);
    return;
  }
  /* Widening in place is legal only backwards; callers pass distinct buffers. */
  switch (from) {
    CS__ALL_TYPES(double)
  default:
    for (int64_t i = 0; i < n; i++) dst[i] = NAN;
  }
}

void cs_convert_to_i64(cs_dtype_t from, const void *src, int64_t *dst, int64_t n) {
  if (from == CS_DT_I64) {
    if (dst != src) memmove(dst, src, (size_t)n * sizeof *dst);
    return;
  }
  switch (from) {
    CS__ALL_TYPES(int64_t)
  default:
    memset(dst, 0, (size_t)n * sizeof *dst);
  }
}

void cs_dtype_put(cs_dtype_t t, void *a, int64_t i, double x) {
  switch (t) {
  case CS_DT_I8: ((int8_t *)a)[i] = (int8_t)x; break;
  case CS_DT_I16: ((int16_t *)a)[i] = (int16_t)x; break;
  case CS_DT_I32: ((int32_t *)a)[i] = (int32_t)x; break;
  case CS_DT_I64: ((int64_t *)a)[i] = (int64_t)x; break;
  case CS_DT_U8: ((uint8_t *)a)[i] = (uint8_t)x; break;
  case CS_DT_U16: ((uint16_t *)a)[i] = (uint16_t)x; break;
  case CS_DT_U32: ((uint32_t *)a)[i] = (uint32_t)x; break;
  case CS_DT_U64: ((uint64_t *)a)[i] = (uint64_t)x; break;
  case CS_DT_F32: ((float *)a)[i] = (float)x; break;
  case CS_DT_F64: ((double *)a)[i] = x; break;
  default: break;
  }
}

int cs_fixed_exponent(double maxabs, int64_t n_terms) {
  if (!(maxabs > 0) || !isfinite(maxabs)) return 0;
  int e_max = 0, e_n = 0;
  frexp(maxabs, &e_max);                               /* maxabs < 2^e_max */
  frexp((double)(n_terms > 1 ? n_terms : 1), &e_n);    /* n_terms < 2^e_n */
  int s = 124 - e_max - e_n;
  if (s > 52 - e_max) s = 52 - e_max; /* int64 partial sums of CS_FIXED_BLOCK terms */
  return s > 1000 ? 1000 : s;
}

double cs_fixed_prescale(double maxabs) {
  if (!(maxabs > 0) || !isfinite(maxabs)) return 1.0;
  int e = 0;
  frexp(maxabs, &e);
  /* At most 2^1021: a subnormal maxabs (e down to -1073) would make it inf. Values then stay
   * below 1, so the grid is still not capped. */
  return ldexp(1.0, -(e < -1021 ? -1021 : e));
}

int cs_fixed_exponent_wide(double maxabs, int64_t n_terms) {
  if (!(maxabs > 0) || !isfinite(maxabs)) return 0;
  int e_max = 0, e_n = 0;
  frexp(maxabs, &e_max);
  frexp((double)(n_terms > 1 ? n_terms : 1), &e_n);
  const int s = 124 - e_max - e_n;
  return s > 1000 ? 1000 : s;
}

/* Each bin keeps 0 or 1 and carries the rest up (floor halves); the top one keeps the sign
 * and the high part. */
static void xsum_carry(cs_fixed_t *b) {
  for (int e = 1; e < CS_XSUM_BINS - 2; e++) {
    const cs_fixed_t carry = b[e] >> 1; /* arithmetic: floor */
    b[e] -= 2 * carry;
    b[e + 1] += carry;
  }
}

double cs_xsum_mean(const cs_xsum_t *a, int64_t n) {
  /* The bins made one binary number first (xsum_carry), so a sum of 0 is 0 and bins that
   * cancel leave no rounding of their own (dividing each bin by n had given 3.3e-24 for a
   * column summing to 0). A negative sum is made positive first: its form after the carries
   * is -2^971 plus nearly as much in ones below, which cancelled to 0 in long double (every
   * negative mean had been reported as 0). Then in long double, whose range holds every term,
   * from the lowest bit up, and divided by n once. */
  cs_fixed_t b[CS_XSUM_BINS];
  memcpy(b, a->bin, sizeof b);
  xsum_carry(b);
  const int negative = b[CS_XSUM_BINS - 2] < 0;
  if (negative) {
    for (int e = 0; e < CS_XSUM_BINS; e++) b[e] = -a->bin[e];
    xsum_carry(b);
  }
  long double t = 0;
  for (int e = 1; e < CS_XSUM_BINS - 1; e++)
    if (b[e]) t += ldexpl((long double)b[e], e - 1075);
  t /= (long double)n;
  if (negative) t = -t;
  return t > DBL_MAX ? DBL_MAX : t < -DBL_MAX ? -DBL_MAX : (double)t;
}

static int timer_index(cs_timers_t *t, const char *name) {
  for (int i = 0; i < t->n; i++)
    if (strcmp(t->name[i], name) == 0) return i;
  if (t->n == CS_MAX_TIMERS) return -1;
  t->name[t->n] = name;
  t->seconds[t->n] = 0.0;
  t->started[t->n] = -1.0;
  return t->n++;
}

void cs_timer_start(cs_timers_t *t, const char *name) {
  int i = timer_index(t, name);
  if (i >= 0) t->started[i] = cs_wtime();
}

void cs_timer_stop(cs_timers_t *t, const char *name) {
  int i = timer_index(t, name);
  if (i >= 0 && t->started[i] >= 0) {
    t->seconds[i] += cs_wtime() - t->started[i];
    t->started[i] = -1.0;
  }
}

int64_t cs_days_from_civil(int64_t y, int m, int d) {
  /* H. Hinnant's days_from_civil. */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int cs_utf8_char(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  int n = p[0] < 0x80 ? 0 : (p[0] & 0xE0) == 0xC0 ? 1 : (p[0] & 0xF0) == 0xE0 ? 2 : (p[0] & 0xF8) == 0xF0 ? 3 : -1;
  if (n < 0 || (n == 1 && p[0] < 0xC2) || (n == 3 && p[0] > 0xF4)) return 0;
  uint32_t cp = n == 0 ? p[0] : p[0] & (0x3F >> n);
  for (int k = 1; k <= n; k++) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[k] & 0x3F);
  }
  /* overlong three- and four-byte forms, UTF-16 surrogates, beyond U+10FFFF */
  if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n + 1;
}

int cs_utf8_bad(const char *s) {
  for (int i = 0; s[i];) {
    const int n = cs_utf8_char(s + i);
    if (!n) return i;
    i += n;
  }
  return -1;
}

int cs_list_missing(const char *a, const char *b, char *buf, size_t len) {
  int n = 0;
  buf[0] = '\0';
  for (; *a; a += strcspn(a, CS_LIST_SEP_S), a += *a == CS_LIST_SEP) {
    size_t la = strcspn(a, CS_LIST_SEP_S);
    int found = 0;
    for (const char *p = b; *p && !found; p += strcspn(p, CS_LIST_SEP_S), p += *p == CS_LIST_SEP)
      found = strcspn(p, CS_LIST_SEP_S) == la && !strncmp(p, a, la);
    if (!found && !n++) snprintf(buf, len, "'%.*s'", (int)la, a);
  }
  if (n > 1) {
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, " and %d more", n - 1);
  }
  return n;
}
