/* core/error.c: the status-code table and the per-process error record.
 * The first error since the last clear wins: it is the cause, later ones are consequences. */
#include "custseg/core.h"

#include <stdio.h>
#include <string.h>

static cs_error_t g_err;

const char *cs_strerror(int status) {
  switch (status) {
#define CS__DESC(name, value, exitcode, desc) \
  case value:                                 \
    return desc;
    CS_STATUS_MAP(CS__DESC)
#undef CS__DESC
  default:
    return "unknown error";
  }
}

int cs_exit_status(int status) {
  switch (status) {
#define CS__EXIT(name, value, exitcode, desc) \
  case value:                                 \
    return exitcode;
    CS_STATUS_MAP(CS__EXIT)
#undef CS__EXIT
  default:
    return 5;
  }
}

int cs_error_set(int status, const char *file, int line, const char *fmt, ...) {
  if (status >= 0 || g_err.status != CS_OK) return status;
  g_err.status = status;
  g_err.rank = cs_log_rank();
  const char *base = strstr(file, "src/");
  snprintf(g_err.where, sizeof g_err.where, "%s:%d", base ? base : file, line);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err.msg, sizeof g_err.msg, fmt, ap);
  va_end(ap);
  /* Keep it one line whatever a library handed us. */
  for (char *c = g_err.msg; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
  return status;
}

const cs_error_t *cs_error_get(void) { return &g_err; }
void cs_error_adopt(const cs_error_t *err) { g_err = *err; }
void cs_error_clear(void) { memset(&g_err, 0, sizeof g_err); }
