/* core/signal.c: SIGTERM/SIGUSR1 set a flag that long loops poll; SIGINT/SIGHUP remove the
 * temporary files being written, and the outputs the command has published so far, before
 * the process ends (see core.h). */
#include "custseg/core.h"

#include <errno.h>
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

static void on_signal(int sig) { pending = sig; }

static void on_fatal(int sig) {
  for (int i = 0; i < CS_SIGNAL_FILES; i++)
    if (files[i][0]) unlink(files[i]); /* async-signal-safe */
  signal(sig, SIG_DFL);
  raise(sig);
}

static void remember(const char *path, int add, char kind) {
  if (!path || !*path || strlen(path) >= sizeof files[0]) return;
  for (int i = 0; i < CS_SIGNAL_FILES; i++) {
    if (add && !files[i][0]) { /* fill the slot, then make it visible */
      memcpy(files[i] + 1, path + 1, strlen(path));
      published[i] = kind;
      files[i][0] = path[0];
      return;
    }
    if (!add && files[i][0] && !strcmp(files[i], path)) {
      files[i][0] = 0;
      return;
    }
  }
}

void cs_signal_remove_on_exit(const char *path, int add) { remember(path, add, 0); }

int cs_signal_rename(const char *from, const char *to, int keep) {
  /* SIGINT and SIGHUP held back, so that one of them finds either the temporary name or the
   * published one registered, never neither. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &old);
  int rc = rename(from, to), err = errno;
  if (rc == 0) {
    remember(from, 0, 0);
    if (!keep) remember(to, 1, 1);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  errno = err;
  return rc;
}

void cs_signal_published_elsewhere(const char *from, const char *to) {
  remember(from, 0, 0);
  remember(to, 1, 1);
}

void cs_signal_keep_published(void) {
  for (int i = 0; i < CS_SIGNAL_FILES; i++)
    if (files[i][0] && published[i]) files[i][0] = 0;
}

void cs_signal_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_fatal;
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
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
