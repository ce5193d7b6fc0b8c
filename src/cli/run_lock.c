/* cli/run_lock.c: one `run` or `demo` at a time per --output-dir (docs/pipeline.md, "One run at a
 * time per directory"): rank 0 holds a POSIX lock on DIR/.run.lock from before the command
 * writes anything there until after run.json. The kernel drops it however the process ends,
 * SIGKILL included, so a requeued job never finds a stale one; the file is removed at the end
 * and on Ctrl-C. Two jobs given the same --output-dir had both run, each overwriting the
 * other's files. The file holds who has the lock, for the refusal. A lock taken on a file
 * that was removed meanwhile (by a run ending) is taken again on the new one. Where the file
 * cannot be made or locked (no lock support, another user's leftover), a warning, and the
 * run goes on. */
#include "run_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int lock_fd = -1;

static void lock_path(const char *dir, char *path, size_t len) {
  snprintf(path, len, "%s/.run.lock", dir);
}

void cs__run_unlock(const char *dir) {
  if (lock_fd < 0) return;
  char path[4200];
  lock_path(dir, path, sizeof path);
  cs_signal_remove_on_exit(path, 0);
  unlink(path);
  close(lock_fd);
  lock_fd = -1;
}

int cs__run_lock(cs_ctx_t *ctx, const char *dir) {
  int local = CS_OK;
  char path[4200];
  lock_path(dir, path, sizeof path);
  for (int tries = 0; ctx->rank == 0 && lock_fd < 0 && local == CS_OK && tries < 10; tries++) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    struct stat held, named;
    if (fd < 0) {
      cs_log_warn("cannot open '%s' (%s): a second run into --output-dir at the same time "
                  "would not be noticed", path, strerror(errno));
      break;
    }
    if (fcntl(fd, F_SETLK, &fl) != 0) {
      if (errno == EACCES || errno == EAGAIN) {
        char who[256] = "";
        ssize_t got = pread(fd, who, sizeof who - 1, 0);
        who[got > 0 ? got : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        local = cs_error_set(CS_EIO, __FILE__, __LINE__,
                             "another custseg run is writing --output-dir '%s' (%s): wait for "
                             "it to end, or give this run another directory", dir,
                             who[0] ? who : "it holds .run.lock");
      } else {
        cs_log_warn("cannot lock '%s' (%s): a second run into --output-dir at the same time "
                    "would not be noticed", path, strerror(errno));
        unlink(path);
      }
      close(fd);
      break;
    }
    if (fstat(fd, &held) != 0 || stat(path, &named) != 0 || held.st_dev != named.st_dev ||
        held.st_ino != named.st_ino) {
      close(fd); /* the file was removed (a run ending) after we opened it: again */
      continue;
    }
    char host[256] = "?", since[64] = "?";
    gethostname(host, sizeof host - 1);
    const char *job = getenv("SLURM_JOB_ID");
    const time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (ftruncate(fd, 0) == 0)
      dprintf(fd, "pid %ld on %s%s%s, since %s\n", (long)getpid(), host,
              job ? ", Slurm job " : "", job ? job : "", since);
    lock_fd = fd;
    cs_signal_remove_on_exit(path, 1); /* a Ctrl-C leaves no lock file either */
  }
  return cs_par_agree(ctx, local);
}
