/* core/signal.c: SIGTERM/SIGUSR1 set a flag that long loops poll; SIGINT/SIGHUP remove the
 * temporary files being written before the process ends (see core.h). */
#include "custseg/core.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t pending;
/* Slots of paths to remove; a slot is in use while its first byte is not 0. */
static char files[CS_SIGNAL_FILES][4200];

static void on_signal(int sig) { pending = sig; }

static void on_fatal(int sig) {
  for (int i = 0; i < CS_SIGNAL_FILES; i++)
    if (files[i][0]) unlink(files[i]); /* async-signal-safe */
  signal(sig, SIG_DFL);
  raise(sig);
}

void cs_signal_remove_on_exit(const char *path, int add) {
  if (!path || !*path || strlen(path) >= sizeof files[0]) return;
  for (int i = 0; i < CS_SIGNAL_FILES; i++) {
    if (add && !files[i][0]) { /* fill the slot, then make it visible */
      memcpy(files[i] + 1, path + 1, strlen(path));
      files[i][0] = path[0];
      return;
    }
    if (!add && files[i][0] && !strcmp(files[i], path)) {
      files[i][0] = 0;
      return;
    }
  }
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

void cs_signal_test_hook(int rank) {
  static int at = -1, calls = 0;
  if (at < 0) {
    const char *e = getenv("CUSTSEG_TEST_SIGNAL_AT");
    at = e ? atoi(e) : 0;
  }
  if (++calls == at && rank == 0) raise(SIGTERM);
}
