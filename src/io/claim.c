/* io/claim.c: one writer at a time per output. Each output a command will write is claimed
 * when its path is checked, before any compute (cs_io_check_writable): rank 0 holds a POSIX
 * lock (fcntl(2), which NFS passes on to the server) on a hidden file beside it, ".NAME.lock",
 * until the command ends; every rank knows the name, for a Ctrl-C that reaches one alone. Two
 * jobs given the same output (a job array with one --output for all) had both run, and the
 * second rename made the first job's summary describe another job's results. The kernel drops
 * the lock however the process ends, SIGKILL included, so a requeued job never finds a stale
 * one; the file is removed at the end and on Ctrl-C, and one left by a killed process is taken
 * over. The file holds who has it, for the refusal. A lock taken on a file that was removed
 * meanwhile (its holder ending) is taken again on the new one. `run` and `demo` claim their
 * --output-dir the same way (cli/run_lock.c). */
#include "custseg/core.h"
#include "custseg/io.h"
#include "custseg/par.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CS_CLAIMS 64

static struct claim {
  char path[4200];
  int fd; /* -1 on the other ranks, which only know the name (for a Ctrl-C) */
  dev_t dev;
  ino_t ino;
} claims[CS_CLAIMS];
static int n_claims;

/* Ours already (the same file under another spelling too): a second descriptor is not opened,
 * because closing any descriptor of a file drops the process's POSIX locks on it. */
static int held_here(const char *lock) {
  struct stat st;
  if (stat(lock, &st) != 0) return 0;
  for (int i = 0; i < n_claims; i++)
    if (claims[i].dev == st.st_dev && claims[i].ino == st.st_ino) return 1;
  return 0;
}

static void holder_line(int fd) {
  char host[256] = "?", since[64] = "?";
  gethostname(host, sizeof host - 1);
  const char *job = getenv("SLURM_JOB_ID");
  const time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm);
  if (ftruncate(fd, 0) == 0)
    dprintf(fd, "pid %ld on %s%s%s, since %s\n", (long)getpid(), host, job ? ", Slurm job " : "",
            job ? job : "", since);
}

static int claim_here(const char *lock, char *who, size_t len) {
  who[0] = '\0';
  if (held_here(lock)) return CS_CLAIM_OURS;
  if (n_claims == CS_CLAIMS) {
    snprintf(who, len, "more than %d outputs in one command", CS_CLAIMS);
    return CS_CLAIM_NONE;
  }
  for (int tries = 0; tries < 10; tries++) {
    /* A file made here is registered at once, so that a Ctrl-C from here on removes it; one
     * that was there (a killed job's, or another process's) only once it is locked here. */
    int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666), made = fd >= 0;
    if (made)
      cs_signal_remove_on_exit(lock, 1);
    else if (errno == EEXIST)
      fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue; /* removed by its holder ending, after the first open */
      snprintf(who, len, "%s", strerror(errno));
      return CS_CLAIM_NONE;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
      const int err = errno, busy = err == EACCES || err == EAGAIN;
      if (busy) { /* another process locked it first, even one made here: it is theirs */
        ssize_t got = pread(fd, who, len - 1, 0);
        who[got > 0 ? got : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        if (!who[0]) snprintf(who, len, "it holds %s", lock);
      } else {
        snprintf(who, len, "%s", strerror(err));
        if (made) unlink(lock); /* no locks here: nothing is left behind either */
      }
      if (made) cs_signal_remove_on_exit(lock, 0);
      close(fd);
      return busy ? CS_CLAIM_HELD : CS_CLAIM_NONE;
    }
    struct stat held, named;
    if (fstat(fd, &held) != 0 || stat(lock, &named) != 0 || held.st_dev != named.st_dev ||
        held.st_ino != named.st_ino) {
      if (made) cs_signal_remove_on_exit(lock, 0);
      close(fd); /* removed by its holder ending, after we opened it: again, on the new one */
      continue;
    }
    holder_line(fd);
    struct claim *c = &claims[n_claims++];
    snprintf(c->path, sizeof c->path, "%s", lock);
    c->fd = fd;
    c->dev = held.st_dev;
    c->ino = held.st_ino;
    if (!made) cs_signal_remove_on_exit(lock, 1); /* a Ctrl-C leaves no lock file */
    return CS_CLAIM_OURS;
  }
  snprintf(who, len, "it was replaced while being locked, ten times");
  return CS_CLAIM_NONE;
}

int cs_io_claim(cs_ctx_t *ctx, const char *lock, char *who, size_t len) {
  int code = ctx->rank == 0 ? claim_here(lock, who, len) : CS_CLAIM_NONE;
  int64_t c = code;
  if (cs_par_bcast(ctx, &c, sizeof c, 0) != CS_OK || cs_par_bcast(ctx, who, len, 0) != CS_OK)
    return CS_CLAIM_NONE; /* the ranks' agreement that follows reports it */
  /* A signal can reach another rank alone (a script, a terminal): that rank removes the file
   * too, as it does the temporary files of a parallel output. */
  int known = 0;
  for (int i = 0; i < n_claims; i++) known |= !strcmp(claims[i].path, lock);
  if (ctx->rank != 0 && c == CS_CLAIM_OURS && !known && n_claims < CS_CLAIMS) {
    struct claim *e = &claims[n_claims++];
    snprintf(e->path, sizeof e->path, "%s", lock);
    e->fd = -1;
    e->dev = 0;
    e->ino = 0;
    cs_signal_remove_on_exit(lock, 1);
  }
  return (int)c;
}

/* Removed before it is unlocked: a process that opened it meanwhile finds, once it has the
 * lock, that the name is gone, and takes it again on a new file. */
static void drop(struct claim *c) {
  cs_signal_remove_on_exit(c->path, 0);
  if (c->fd < 0) return;
  unlink(c->path);
  close(c->fd);
}

void cs_io_unclaim_all(void) {
  for (int i = 0; i < n_claims; i++) drop(&claims[i]);
  n_claims = 0;
}
