/* benchmarks/first_touch.c: how fast this machine hands out fresh memory, with and without
 * transparent huge pages (docs/performance.md, "Huge pages"). For each mode, three rounds in
 * one process: allocate MB mebibytes on a 2 MiB boundary, advise MADV_HUGEPAGE or
 * MADV_NOHUGEPAGE, write one byte per 4 KiB page (the first touch: page faults and zeroing),
 * then memset the whole array (the same memory, already mapped), and free it.
 *
 * usage: first_touch [MB]        (default 512) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  size_t mb = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
  size_t n = mb << 20;
  for (int huge = 1; huge >= 0; huge--)
    for (int round = 1; round <= 3; round++) {
      char *p = aligned_alloc((size_t)2 << 20, n);
      if (!p) {
        fprintf(stderr, "first_touch: cannot allocate %zu MiB\n", mb);
        return 1;
      }
      (void)madvise(p, n, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
      double t0 = now();
      for (size_t i = 0; i < n; i += 4096) p[i] = 1;
      double t1 = now();
      memset(p, 2, n);
      double t2 = now();
      printf("%-10s round %d: first touch of %zu MiB %.3f s (%.2f GB/s); memset after %.3f s "
             "(%.2f GB/s)\n",
             huge ? "huge" : "small", round, mb, t1 - t0, (double)n / (t1 - t0) / 1e9, t2 - t1,
             (double)n / (t2 - t1) / 1e9);
      free(p);
    }
  return 0;
}
