/* tests/fault/io_eio.c: an LD_PRELOAD library that makes reads (or, with CS_FAULT_OP=write,
 * writes) of one file fail with EIO on one MPI rank, in a byte range: a disk error (or a
 * file truncated under the job) that only one rank meets. Env: CS_FAULT_FILE (a substring of the file's path), CS_FAULT_RANK
 * (OMPI_COMM_WORLD_RANK of the rank that fails; default 0), CS_FAULT_FROM and CS_FAULT_TO (the
 * failing byte range [FROM, TO) of the file; default from 0 to the end): a read that overlaps
 * it fails (or, with CS_FAULT_EOF=1, finds the end of the file; with CS_FAULT_EOF=2, the file is
 * truncated at FROM for real: a file cut short while read).
 * Interposes pread, pread64, preadv and preadv64 (pwrite, pwrite64, pwritev and pwritev64
 * for writes), which Open MPI's posix I/O component and HDF5's sec2 driver call. With CS_FAULT_SWAP set to a file name, also open and
 * open64: right after the first open of CS_FAULT_FILE with O_CLOEXEC on that rank (custseg's
 * own descriptor for its row reads), CS_FAULT_SWAP is renamed over it, as a job replacing the
 * store would. CS_FAULT_LOG=1 reports each failed write on stderr. Every other call passes
 * through. Used by tests/cli/io_fault.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether this process is the one the fault is for. */
static int on_rank(void) {
  const char *rank = getenv("OMPI_COMM_WORLD_RANK"), *fr = getenv("CS_FAULT_RANK");
  if (!rank) rank = getenv("PMIX_RANK"); /* under srun */
  return atoi(rank ? rank : "0") == atoi(fr ? fr : "0");
}

/* Whether an access of this kind (1: write) is the one that fails. */
static int op_is(int write) {
  const char *op = getenv("CS_FAULT_OP");
  return (op && !strcmp(op, "write")) == write;
}

static int hits(int fd, off_t offset, size_t len) {
  const char *want = getenv("CS_FAULT_FILE"), *from = getenv("CS_FAULT_FROM");
  const char *to = getenv("CS_FAULT_TO"), *swap = getenv("CS_FAULT_SWAP");
  if (!want || !*want || (swap && *swap) || !on_rank()) return 0;
  if ((long long)offset + (long long)len <= atoll(from ? from : "0")) return 0;
  if (to && *to && (long long)offset >= atoll(to)) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strstr(path, want) != NULL;
}

/* What a read that hits the range does: returns -1 with EIO; or, with CS_FAULT_EOF=1, 0 (the
 * end of the file); or, with CS_FAULT_EOF=2, cuts the file at FROM for real (every process
 * sees it shorter from then on, as when it is truncated while read) and reads what is left.
 * 1 when the real read is to be made. */
static int fail(int fd, ssize_t *rc) {
  const char *eof = getenv("CS_FAULT_EOF"), *from = getenv("CS_FAULT_FROM");
  const int mode = eof ? atoi(eof) : 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = mode == 2 ? readlink(link, path, sizeof path - 1) : -1;
  if (n > 0) {
    path[n] = 0;
    if (truncate(path, atoll(from ? from : "0")) == 0) return 1;
  }
  *rc = mode == 1 ? 0 : -1; /* a cut that failed is a failed read */
  if (mode != 1) errno = EIO;
  return 0;
}

static size_t iov_len(const struct iovec *iov, int cnt) {
  size_t s = 0;
  for (int i = 0; i < cnt; i++) s += iov[i].iov_len;
  return s;
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off_t);
#define REAL(name, type)                                                                          \
  static type real_##name;                                                                        \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
  REAL(pread, pread_fn);
  ssize_t rc;
  if (op_is(0) && hits(fd, offset, count) && !fail(fd, &rc)) return rc;
  return real_pread(fd, buf, count, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t offset) {
  REAL(pread64, pread_fn);
  ssize_t rc;
  if (op_is(0) && hits(fd, offset, count) && !fail(fd, &rc)) return rc;
  return real_pread64(fd, buf, count, offset);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t offset) {
  REAL(preadv, preadv_fn);
  ssize_t rc;
  if (op_is(0) && hits(fd, offset, iov_len(iov, cnt)) && !fail(fd, &rc)) return rc;
  return real_preadv(fd, iov, cnt, offset);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off_t offset) {
  REAL(preadv64, preadv_fn);
  ssize_t rc;
  if (op_is(0) && hits(fd, offset, iov_len(iov, cnt)) && !fail(fd, &rc)) return rc;
  return real_preadv64(fd, iov, cnt, offset);
}

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);

/* A write that hits the range fails with EIO (reported on stderr with CS_FAULT_LOG=1). */
static ssize_t fail_write(void) {
  const char *log = getenv("CS_FAULT_LOG");
  if (log && atoi(log)) fprintf(stderr, "io_eio: a write failed\n");
  errno = EIO;
  return -1;
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
  REAL(pwrite, pwrite_fn);
  if (op_is(1) && hits(fd, offset, count)) return fail_write();
  return real_pwrite(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
  REAL(pwrite64, pwrite_fn);
  if (op_is(1) && hits(fd, offset, count)) return fail_write();
  return real_pwrite64(fd, buf, count, offset);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t offset) {
  REAL(pwritev, pwritev_fn);
  if (op_is(1) && hits(fd, offset, iov_len(iov, cnt))) return fail_write();
  return real_pwritev(fd, iov, cnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t offset) {
  REAL(pwritev64, pwritev_fn);
  if (op_is(1) && hits(fd, offset, iov_len(iov, cnt))) return fail_write();
  return real_pwritev64(fd, iov, cnt, offset);
}

typedef int (*open_fn)(const char *, int, ...);

/* After custseg's own open of the file: the swap, once. */
static void after_open(const char *path, int flags) {
  static int done;
  const char *want = getenv("CS_FAULT_FILE"), *swap = getenv("CS_FAULT_SWAP");
  if (done || !want || !swap || !*swap || !(flags & O_CLOEXEC) || !on_rank() ||
      !strstr(path, want))
    return;
  done = 1;
  rename(swap, path);
}

/* open or open64 through real, then the swap. */
static int opened(open_fn real, const char *path, int flags, va_list ap) {
  int mode = (flags & O_CREAT) ? va_arg(ap, int) : 0;
  int fd = real(path, flags, mode);
  if (fd >= 0) after_open(path, flags);
  return fd;
}

int open(const char *path, int flags, ...) {
  REAL(open, open_fn);
  va_list ap;
  va_start(ap, flags);
  int fd = opened(real_open, path, flags, ap);
  va_end(ap);
  return fd;
}

int open64(const char *path, int flags, ...) {
  REAL(open64, open_fn);
  va_list ap;
  va_start(ap, flags);
  int fd = opened(real_open64, path, flags, ap);
  va_end(ap);
  return fd;
}
