/* core/error.c: the status-code table and the per-process error record.
 * The first error since the last clear wins: it is the cause, later ones are consequences. */
#include "custseg/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cs_error_t g_err;
static char *g_full; /* the record's whole message when it was longer than msg, else NULL */

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
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  const int n = vsnprintf(g_err.msg, sizeof g_err.msg, fmt, ap);
  va_end(ap);
  /* Too long (a path of kilobytes): the middle goes, not the end, which says what is wrong. */
  free(g_full);
  g_full = n >= (int)sizeof g_err.msg ? malloc((size_t)n + 1) : NULL;
  if (g_full) {
    vsnprintf(g_full, (size_t)n + 1, fmt, ap2);
    cs_error_elide(g_full, (size_t)n, g_err.msg, sizeof g_err.msg);
  }
  va_end(ap2);
  /* Keep it one line whatever a library handed us. */
  for (char *c = g_err.msg; *c; c++)
    if (*c == '\n' || *c == '\r') *c = ' ';
  return status;
}

/* Skip UTF-8 continuation bytes forward (dir > 0, up to len) or back (down to 0) from s[i],
 * at most 3 (a character has at most 4 bytes): text that is not UTF-8 (a Latin-1 path) may
 * hold nothing else. */
static size_t char_start(const char *s, size_t len, size_t i, int dir) {
  for (int k = 0; k < 3 && ((unsigned char)s[i] & 0xc0) == 0x80 && (dir > 0 ? i < len : i > 0); k++)
    i = dir > 0 ? i + 1 : i - 1;
  return i;
}

void cs_error_elide(const char *text, size_t len, char *out, size_t size) {
  static const char mark[] = " [...] ";
  if (len < size || size < 64) {
    snprintf(out, size, "%s", text);
    return;
  }
  const size_t room = size - 1 - (sizeof mark - 1), head = char_start(text, len, room / 3, -1);
  const size_t tail = char_start(text, len, len - (room - room / 3), +1);
  snprintf(out, size, "%.*s%s%s", (int)head, text, mark, text + tail);
}

void cs_error_name_option(const char *option, const char *path) {
  if (g_err.status == CS_OK) return;
  const char *cur = g_full ? g_full : g_err.msg;
  if (strncmp(cur, path, strlen(path))) return;
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s ", option);
  cs_error_rewrite(prefix, 0, "");
}

void cs_error_rewrite(const char *prefix, size_t skip, const char *suffix) {
  if (g_err.status == CS_OK) return;
  const char *cur = g_full ? g_full : g_err.msg;
  const size_t len = strlen(cur), from = skip < len ? skip : len;
  const size_t n = strlen(prefix) + (len - from) + strlen(suffix);
  char *t = malloc(n + 1);
  if (!t) return;
  snprintf(t, n + 1, "%s%s%s", prefix, cur + from, suffix);
  cs_error_elide(t, n, g_err.msg, sizeof g_err.msg);
  free(g_full);
  g_full = NULL;
  if (n >= sizeof g_err.msg)
    g_full = t;
  else
    free(t);
}

const cs_error_t *cs_error_get(void) { return &g_err; }
void cs_error_adopt(const cs_error_t *err) {
  g_err = *err;
  free(g_full); /* another rank's record: its message as it came */
  g_full = NULL;
}
void cs_error_clear(void) {
  memset(&g_err, 0, sizeof g_err);
  free(g_full);
  g_full = NULL;
}
