/* core/signal.c: SIGTERM/SIGUSR1 set a flag that long loops poll (see core.h). */
#include "custseg/core.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t pending;

static void on_signal(int sig) { pending = sig; }

void cs_signal_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
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
