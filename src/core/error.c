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

char *cs_text_escaped(const char *text, size_t *len) {
  const size_t n = strlen(text);
  char *out = malloc(4 * n + 1), *o = out; /* at most 4 bytes for one: \xNN */
  if (!out) return NULL;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      *o++ = '\\';
      *o++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
    } else if (*p < 0x20 || *p == 0x7f) {
      o += sprintf(o, "\\x%02x", *p);
    } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
      o += sprintf(o, "\\u00%02x", p[1]); /* 6 bytes for 2 */
      p++;
    } else if (*p >= 0x80) { /* a character whole, or a byte that starts none as \xNN */
      const int nb = cs_utf8_char((const char *)p);
      if (!nb) {
        o += sprintf(o, "\\x%02x", *p);
      } else {
        memcpy(o, p, (size_t)nb);
        o += nb;
        p += nb - 1;
      }
    } else {
      *o++ = (char)*p;
    }
  }
  *o = '\0';
  if (len) *len = (size_t)(o - out);
  return out;
}

int cs_error_set(int status, const char *file, int line, const char *fmt, ...) {
  if (status >= 0 || g_err.status != CS_OK) return status;
  g_err.status = status;
  g_err.rank = cs_log_rank();
  const char *base = strstr(file, "src/");
  snprintf(g_err.where, sizeof g_err.where, "%s:%d", base ? base : file, line);
  va_list ap;
  va_start(ap, fmt);
  char *raw = NULL;
  const int n = vasprintf(&raw, fmt, ap);
  va_end(ap);
  free(g_full);
  g_full = NULL;
  size_t len = 0;
  /* One line that cannot drive the terminal, whatever a library or the data handed us (a
   * CSV value with ESC sequences had been printed raw). */
  char *text = n < 0 ? NULL : cs_text_escaped(raw, &len);
  free(raw);
  if (!text) {
    snprintf(g_err.msg, sizeof g_err.msg, "%s (and out of memory for its message)", fmt);
    return status;
  }
  /* Too long (a path of kilobytes): the middle goes, not the end, which says what is wrong. */
  cs_error_elide(text, len, g_err.msg, sizeof g_err.msg);
  if (len >= sizeof g_err.msg)
    g_full = text;
  else
    free(text);
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

/* The start of the escape (\xNN, \u00NN) that text[i] lies within, else i: a cut there
 * keeps escapes whole. (A backslash of the text itself before 'x' or 'u' moves the cut a
 * few bytes, harmlessly.) */
static size_t escape_start(const char *text, size_t i) {
  for (size_t back = 1; back <= 5 && back <= i; back++) {
    const char *e = text + i - back;
    if (e[0] == '\\' && ((e[1] == 'x' && back <= 3) || e[1] == 'u')) return i - back;
  }
  return i;
}

void cs_error_elide(const char *text, size_t len, char *out, size_t size) {
  static const char mark[] = " [...] ";
  if (len < size || size < 64) {
    snprintf(out, size, "%s", text);
    return;
  }
  const size_t room = size - 1 - (sizeof mark - 1);
  const size_t head = escape_start(text, char_start(text, len, room / 3, -1));
  size_t tail = char_start(text, len, len - (room - room / 3), +1);
  const size_t t0 = escape_start(text, tail);
  if (t0 != tail) tail = t0 + (text[t0 + 1] == 'x' ? 4 : 6); /* past the escape it cut */
  snprintf(out, size, "%.*s%s%s", (int)head, text, mark, text + tail);
}

/* Does the recorded message (escaped) start with the raw text s? */
static int starts_with(const char *cur, const char *s) {
  char *e = cs_text_escaped(s, NULL);
  const int yes = e && !strncmp(cur, e, strlen(e));
  free(e);
  return yes;
}

void cs_error_name_option(const char *option, const char *path) {
  if (g_err.status == CS_OK) return;
  if (!starts_with(g_full ? g_full : g_err.msg, path)) return;
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s ", option);
  cs_error_rewrite(prefix, NULL, "");
}

void cs_error_rewrite(const char *prefix, const char *drop, const char *suffix) {
  if (g_err.status == CS_OK) return;
  const char *cur = g_full ? g_full : g_err.msg;
  size_t from = 0;
  char *d = drop ? cs_text_escaped(drop, &from) : NULL;
  if (!d || strncmp(cur, d, from)) from = 0;
  free(d);
  char *pe = cs_text_escaped(prefix, NULL), *se = cs_text_escaped(suffix, NULL);
  if (!pe || !se) {
    free(pe);
    free(se);
    return;
  }
  const size_t n = strlen(pe) + strlen(cur + from) + strlen(se);
  char *t = malloc(n + 1);
  if (t) snprintf(t, n + 1, "%s%s%s", pe, cur + from, se);
  free(pe);
  free(se);
  if (!t) return;
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
