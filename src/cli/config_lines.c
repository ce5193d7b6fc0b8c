/* cli/config_lines.c: the lines of a configuration file, handed to inih (ini_parse_stream)
 * with the checks inih does not make. inih reads into a buffer of `num` bytes (Debian's build:
 * 200) and would take the rest of a longer line as a line of its own; it reads up to a NUL
 * byte only; a file with CR-only line ends is one line to it, whose first `[section]` it takes
 * and whose keys it drops; text after a section's `]` is dropped too; and `[]` reads as the
 * general part. Each of these stopped nothing and set nothing, silently. The first such line
 * now stops the reading, and cs__config_parse reports it with its number. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Whether the section line at s ("[name] ...") has no name, text after its ']', or a name
 * that is no section's (checked here, at its line: a misspelt section without keys had been
 * read without a word, and its keys were what reported it). */
static cs_config_bad_t section_problem(const char *s, cs_config_lines_t *r) {
  const char *close = strchr(s, ']');
  if (!close) return CS_CONFIG_FINE; /* inih's own error: expected ']' */
  if (s + 1 + strspn(s + 1, " \t") == close) return CS_CONFIG_NO_NAME;
  const char *rest = close + 1 + strspn(close + 1, " \t\r\n");
  if (*rest && *rest != ';' && *rest != '#') return CS_CONFIG_AFTER_SECTION;
  char name[200]; /* as inih takes it: the text between '[' and the first ']' */
  snprintf(name, sizeof name, "%.*s", (int)(close - s - 1), s + 1);
  if (cs_config_section_known(name)) return CS_CONFIG_FINE;
  snprintf(r->section, sizeof r->section, "%s", name);
  return CS_CONFIG_UNKNOWN_SECTION;
}

static char *config_line(char *str, int num, void *stream) {
  cs_config_lines_t *r = stream;
  if (r->bad_line) return NULL;
  int n = 0, ch = 0;
  while (n < num - 1 && (ch = getc(r->f)) != EOF) {
    str[n++] = (char)ch;
    if (ch == '\n') break;
  }
  if (n == 0) return NULL; /* the end, or a read error (the caller checks ferror) */
  str[n] = '\0';
  r->line++;
  /* inih skips a UTF-8 byte-order mark on the first line, and so does the check of it. */
  const char *t = r->line == 1 && !strncmp(str, "\xEF\xBB\xBF", 3) ? str + 3 : str;
  const size_t lead = strspn(t, " \t");
  r->indented = lead > 0 && t[lead] && !strchr("\r\n;#", t[lead]);
  const char *cr = memchr(str, '\r', (size_t)n);
  if (n == num - 1 && str[n - 1] != '\n' && (ch = getc(r->f)) != '\n' && ch != EOF &&
      !(ch == '\r' && ((ch = getc(r->f)) == '\n' || ch == EOF))) /* its CRLF does not count */
    r->bad = CS_CONFIG_TOO_LONG, r->limit = num - 1;
  else if (memchr(str, '\0', (size_t)n))
    r->bad = CS_CONFIG_NUL;
  else if (cr && cr + 1 != str + n && !(cr[1] == '\n' && cr + 2 == str + n))
    r->bad = CS_CONFIG_CR;
  else if (t[lead] == '[')
    r->bad = section_problem(t + lead, r);
  if (r->bad != CS_CONFIG_FINE) {
    r->bad_line = r->line;
    return NULL;
  }
  return str;
}

int cs__config_parse(const char *path, ini_handler entry, void *user, cs_config_lines_t *lr,
                     const int *entry_status, const int *entry_line) {
  /* A directory reads as an empty file and a FIFO can block forever: only regular files. */
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__, "config '%s' is not a regular file", path);
  FILE *f = fopen(path, "r");
  if (!f)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__, "cannot open config '%s': %s", path,
                        strerror(errno));
  memset(lr, 0, sizeof *lr);
  lr->f = f;
  const int rc = ini_parse_stream(config_line, lr, entry, user), failed = ferror(f);
  const int read_errno = errno;
  fclose(f);
  /* The first error in the file stands, with its own line: a line the reader stopped at, a
   * line inih could not parse (rc, unless it is the entries' error), or the entries' error
   * (the entries' had been given inih's first line, a syntax error's line before it). */
  const int own = *entry_status < 0 ? *entry_line : 0, syntax = rc > 0 && rc != own;
  int first = own;
  if (syntax && (!first || rc < first)) first = rc;
  if (lr->bad_line && (!first || lr->bad_line < first)) first = lr->bad_line;
  if (failed || rc < 0 || (first && first != own)) cs_error_clear();
  if (failed || rc < 0)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__, "cannot read config '%s': %s", path,
                        failed ? strerror(read_errno) : "out of memory");
  if (first && first == lr->bad_line) switch (lr->bad) {
    case CS_CONFIG_TOO_LONG:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d is longer than %d characters, the limit of the INI "
                          "reader; give such a long value on the command line instead",
                          path, first, lr->limit);
    case CS_CONFIG_NUL:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d holds a NUL byte (a binary or UTF-16 file?)", path,
                          first);
    case CS_CONFIG_CR:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d holds a carriage return (CR) that does not end the "
                          "line: lines must end in LF or CRLF (a file saved with the line ends "
                          "of classic Mac OS?)", path, first);
    case CS_CONFIG_UNKNOWN_SECTION:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d: unknown section [%s]; the sections are %s",
                          path, first, lr->section, cs_config_sections());
    case CS_CONFIG_NO_NAME:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d: a section with no name ([]); use [custseg] for "
                          "the general part or a command's name", path, first);
    default:
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "config %s line %d has text after the section's ']': put each "
                          "'key = value' on a line of its own", path, first);
    }
  if (first && first != own)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                        "config %s line %d: expected 'key = value' or [section]", path, first);
  if (*entry_status < 0) {
    /* Put the entry's line number into the message: "config F line N: ...". */
    const size_t head = strlen("config ") + strlen(path);
    char *prefix = malloc(head + 32);
    if (prefix) {
      snprintf(prefix, head + 32, "config %s line %d", path, own);
      char *drop = strndup(prefix, head); /* "config PATH", raw (the record holds it escaped) */
      if (drop) cs_error_rewrite(prefix, drop, "");
      free(drop);
      free(prefix);
    }
    return *entry_status;
  }
  return CS_OK;
}

