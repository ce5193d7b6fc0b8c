/* core/signal.c: SIGTERM/SIGUSR1 set a flag that long loops poll; SIGINT/SIGHUP remove the
 * temporary files being written, and the outputs the command has published so far (giving
 * back the files they replaced), before the process ends (see core.h); SIGPIPE is ignored. */
#include "custseg/core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pending;
/* Slots of paths to remove; a slot is in use while its first byte is not 0. */
static char files[CS_SIGNAL_FILES][4200];
/* 1 for an output already published under its final name (cs_signal_rename). */
static char published[CS_SIGNAL_FILES];
/* For a published output: the name the file it replaced was kept under ("" when none). */
static char backups[CS_SIGNAL_FILES][4200];
/* Set while the slots change. The changing thread has SIGINT, SIGHUP and SIGALRM blocked
 * (undo_set below), but another thread of the process (OpenMP, MPI progress) can take the
 * signal meanwhile: the handler waits for the change to end. */
static volatile sig_atomic_t busy;
static sigset_t fatal_set, undo_set;

static void on_signal(int sig) { pending = sig; }

/* A published output goes, and the file it replaced comes back when one was kept; a
 * temporary file goes. Other ranks may do the same at once, on the same shared files: the
 * rename of a kept file that another rank already put back fails, and nothing more is done.
 * Async-signal-safe. */
static void undo(const char *file, int pub, const char *backup) {
  if (pub && backup[0])
    (void)rename(backup, file);
  else
    unlink(file);
}

/* Every registered file undone, once no change is under way. Async-signal-safe. */
static void undo_all(void) {
  while (__atomic_load_n(&busy, __ATOMIC_SEQ_CST)) {
  }
  for (int i = 0; i < CS_SIGNAL_FILES; i++)
    if (files[i][0]) undo(files[i], published[i], backups[i]);
}

static void on_fatal(int sig) {
  undo_all();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* The watchdog's line and exit status (cs_signal_watchdog). */
static char watchdog_line[1024];
static volatile sig_atomic_t watchdog_code;

static void on_watchdog(int sig) {
  (void)sig;
  if (watchdog_line[0]) {
    ssize_t rc = write(STDERR_FILENO, watchdog_line, strlen(watchdog_line));
    (void)rc;
  }
  undo_all();
  _exit(watchdog_code);
}

void cs_signal_watchdog(int seconds, int code, const char *line) {
  alarm(0);
  if (seconds <= 0) return;
  snprintf(watchdog_line, sizeof watchdog_line, "%s", line ? line : "");
  watchdog_code = code;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_watchdog;
  sa.sa_mask = undo_set; /* not together with a SIGINT cleanup */
  sigaction(SIGALRM, &sa, NULL);
  alarm((unsigned)seconds);
}

/* undo_set: the signals whose handlers undo the registered files (SIGINT, SIGHUP and the
 * watchdog's SIGALRM), held back on a thread while it changes the slots (a handler on that
 * thread would wait for the change forever) and while one of them runs. */
static void enter(sigset_t *old) {
  pthread_sigmask(SIG_BLOCK, &undo_set, old);
  __atomic_store_n(&busy, 1, __ATOMIC_SEQ_CST);
}

static void leave(const sigset_t *old) {
  __atomic_store_n(&busy, 0, __ATOMIC_SEQ_CST);
  pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* The name the file at an output's final path is kept under while the output replaces it:
 * its temporary name `from` with ".tmp-" made ".bak-" (as long, so within the name checks),
 * or "" when `from` has none. */
static void backup_name(const char *from, char *out, size_t len) {
  out[0] = '\0';
  if (!from || strlen(from) >= len) return;
  const char *slash = strrchr(from, '/');
  const char *tag = strstr(slash ? slash : from, ".tmp-");
  if (!tag) return;
  memcpy(out, from, strlen(from) + 1);
  memcpy(out + (tag - from), ".bak-", 5);
}

/* Call inside enter/leave. */
static void remember(const char *path, int add, char kind, const char *backup) {
  if (!path || !*path || strlen(path) >= sizeof files[0]) return;
  for (int i = 0; i < CS_SIGNAL_FILES; i++) {
    if (add && !files[i][0]) { /* fill the slot, then make it visible */
      memcpy(files[i] + 1, path + 1, strlen(path));
      published[i] = kind;
      snprintf(backups[i], sizeof backups[i], "%s", backup ? backup : "");
      files[i][0] = path[0];
      return;
    }
    if (!add && files[i][0] && !strcmp(files[i], path)) {
      files[i][0] = 0;
      return;
    }
  }
}

void cs_signal_remove_on_exit(const char *path, int add) {
  sigset_t old;
  enter(&old);
  remember(path, add, 0, NULL);
  leave(&old);
}

int cs_signal_rename(const char *from, const char *to, int keep, char *backup, size_t len) {
  sigset_t old;
  char bak[4200] = "";
  enter(&old);
  /* The file being replaced is kept (a hard link) until the command ends, so that a failure
   * or a Ctrl-C after this point gives it back instead of leaving no file at all. */
  if (!keep) {
    backup_name(from, bak, sizeof bak);
    if (bak[0]) unlink(bak);
    if (bak[0] && link(to, bak) != 0) bak[0] = '\0'; /* nothing there, or no hard links */
  }
  int rc = rename(from, to), err = errno;
  if (rc == 0) {
    remember(from, 0, 0, NULL);
    if (!keep) remember(to, 1, 1, bak);
  } else if (bak[0]) {
    unlink(bak);
    bak[0] = '\0';
  }
  leave(&old);
  if (backup) snprintf(backup, len, "%s", bak);
  errno = err;
  return rc;
}

void cs_signal_published_elsewhere(const char *from, const char *to, const char *backup) {
  sigset_t old;
  enter(&old);
  remember(from, 0, 0, NULL);
  remember(to, 1, 1, backup);
  leave(&old);
}

void cs_signal_unpublish(const char *path) {
  sigset_t old;
  enter(&old);
  int found = 0;
  for (int i = 0; i < CS_SIGNAL_FILES && !found; i++)
    if (files[i][0] && !strcmp(files[i], path)) {
      undo(files[i], published[i], backups[i]);
      files[i][0] = 0;
      found = 1;
    }
  if (!found) unlink(path);
  leave(&old);
}

void cs_signal_keep_published(void) {
  sigset_t old;
  enter(&old);
  for (int i = 0; i < CS_SIGNAL_FILES; i++)
    if (files[i][0] && published[i]) {
      files[i][0] = 0;
      if (backups[i][0]) unlink(backups[i]); /* another rank may have done it: harmless */
    }
  leave(&old);
}

void cs_signal_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sigemptyset(&fatal_set);
  sigaddset(&fatal_set, SIGINT);
  sigaddset(&fatal_set, SIGHUP);
  undo_set = fatal_set;
  sigaddset(&undo_set, SIGALRM);
  sa.sa_handler = on_fatal;
  sa.sa_mask = undo_set; /* one cleanup at a time: a SIGHUP in the SIGINT handler waits */
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  /* A reader that goes away (`custseg generate 2>&1 | head -1`) ends the log, not the job:
   * writes to the pipe fail with EPIPE instead. The signal's default ended the process in the
   * middle of writing its output, leaving the temporary file; under mpirun, which reads the
   * ranks' output itself, the job already ran to its end. */
  signal(SIGPIPE, SIG_IGN);
}

int cs_signal_pending(void) { return pending; }

void cs_signal_test_hook_at(int rank, int which) {
  static const char *const vars[2] = {"CUSTSEG_TEST_SIGNAL_AT", "CUSTSEG_TEST_SIGNAL_SEED"};
  static int at[2] = {-1, -1}, calls[2];
  if (which < 0 || which > 1) return;
  if (at[which] < 0) {
    const char *e = getenv(vars[which]);
    at[which] = e ? atoi(e) : 0;
  }
  if (++calls[which] == at[which] && rank == 0) raise(SIGTERM);
}

void cs_signal_test_hook(int rank) { cs_signal_test_hook_at(rank, 0); }
