/* import/csvread.c: CSV records one at a time, from libcsv, with line numbers.
 *
 * libcsv is a push parser (callbacks per field and per record) that knows nothing of lines.
 * The file is fed to it one line at a time (getline), so the reader always knows which line
 * a record started on, and a record is handed out as soon as its line has been fed. Memory
 * is one line plus the fields of the records of that line. Trade-off: one csv_parse call per
 * line instead of per large block; the call is cheap next to the conversions that follow.
 *
 * Whitespace mode is libcsv too: the delimiter is a space, tabs are turned into spaces before
 * parsing, and the empty unquoted fields that runs of spaces produce (libcsv reports them as
 * NULL with CSV_EMPTY_IS_NULL) are dropped. A quoted field may still hold spaces. */
#include "custseg/import.h"

#include <csv.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The longest field read (a quoted one may span lines): 16 MiB. */
#define CS_CSV_FIELD_MAX (16 << 20)

typedef struct rec_ref {
  int first, n;
  int64_t line;
} rec_ref_t;

struct cs_csv {
  FILE *f;
  char *path;
  cs_csv_dialect_t d;
  struct csv_parser p;
  int p_ready;
  char *line;
  size_t line_cap;
  int64_t lineno, bytes, size;
  char *text; /* field texts, NUL-terminated, back to back */
  size_t text_len, text_cap;
  size_t *off; /* where each field starts in text */
  int nf, nf_cap;
  rec_ref_t *q; /* completed records not yet handed out */
  int nq, q_cap, q_next;
  int cur_first; /* first field of the record being parsed */
  int in_rec;
  int64_t rec_line;
  int eof, oom, failed;
  int nul_field; /* a field with a NUL byte in it (1-based, in its record), 0 if none */
  int long_field; /* a finished field longer than CS_CSV_FIELD_MAX (1-based), 0 if none */
  const char **ptr;
  int ptr_cap;
};

int cs_csv_dialect_parse(const char *text, cs_csv_dialect_t *d) {
  static const struct {
    const char *name;
    char c;
  } names[] = {{"comma", ','}, {"tab", '\t'}, {"semicolon", ';'}, {"pipe", '|'}};
  memset(d, 0, sizeof *d);
  if (!strcasecmp(text, "whitespace")) {
    d->whitespace = 1;
    d->delim = ' ';
    return CS_OK;
  }
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcasecmp(text, names[i].name)) {
      d->delim = names[i].c;
      return CS_OK;
    }
  /* One character, but not one that has another meaning in a CSV file. */
  if (strlen(text) != 1 || text[0] == '"' || text[0] == '\n' || text[0] == '\r' ||
      text[0] == ' ')
    return -1;
  d->delim = text[0];
  return CS_OK;
}

const char *cs_csv_dialect_name(const cs_csv_dialect_t *d, char *buf, size_t len) {
  if (d->whitespace)
    snprintf(buf, len, "whitespace");
  else if (d->delim == '\t')
    snprintf(buf, len, "tab");
  else
    snprintf(buf, len, "'%c'", d->delim);
  return buf;
}

static int grow(void **p, int64_t need, int64_t *cap, size_t elem) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static void on_field(void *s, size_t len, void *data) {
  cs_csv_t *r = data;
  if (!s && r->d.whitespace) return; /* between two spaces of a run */
  if (r->oom) return;
  /* Fields are C strings from here on: a NUL byte would cut the value short in silence. */
  if (len && memchr(s, 0, len) && !r->nul_field) r->nul_field = r->nf - r->cur_first + 1;
  /* The limit holds for a field that ends on its line too, not only for one still open at
   * the line's end (a 17 MiB value had been stored as a level). */
  if (len > CS_CSV_FIELD_MAX && !r->long_field) r->long_field = r->nf - r->cur_first + 1;
  int64_t tcap = (int64_t)r->text_cap, fcap = r->nf_cap;
  if (grow((void **)&r->text, (int64_t)(r->text_len + len + 1), &tcap, 1) ||
      grow((void **)&r->off, r->nf + 1, &fcap, sizeof *r->off)) {
    r->oom = 1;
    return;
  }
  r->text_cap = (size_t)tcap;
  r->nf_cap = (int)fcap;
  r->off[r->nf++] = r->text_len;
  if (len) memcpy(r->text + r->text_len, s, len);
  r->text[r->text_len + len] = '\0';
  r->text_len += len + 1;
}

static void on_record(int c, void *data) {
  cs_csv_t *r = data;
  (void)c;
  int n = r->nf - r->cur_first;
  if (n == 0 || r->oom) return; /* whitespace mode: a line of spaces only */
  int64_t qcap = r->q_cap;
  if (grow((void **)&r->q, r->nq + 1, &qcap, sizeof *r->q)) {
    r->oom = 1;
    return;
  }
  r->q_cap = (int)qcap;
  r->q[r->nq++] = (rec_ref_t){r->cur_first, n, r->rec_line};
  r->cur_first = r->nf;
  r->in_rec = 0;
}

/* The next line into r->line: up to and including '\n', or a '\r' that no '\n' follows (a
 * classic Mac OS file has no '\n' at all, and getline had returned the whole file as one
 * line, parsed whole before its first record was handed out: 5 times the file in memory).
 * Returns its length, -1 at the end of the file (or on a read error: see ferror), -2 when
 * memory runs out. */
static ssize_t read_line(cs_csv_t *r) {
  size_t n = 0;
  int ch;
  while ((ch = getc_unlocked(r->f)) != EOF) {
    if (n + 3 > r->line_cap) {
      size_t cap = r->line_cap ? 2 * r->line_cap : 4096;
      char *l = realloc(r->line, cap);
      if (!l) return -2;
      r->line = l;
      r->line_cap = cap;
    }
    r->line[n++] = (char)ch;
    if (ch == '\n') break;
    if (ch == '\r') {
      const int next = getc_unlocked(r->f);
      if (next == '\n')
        r->line[n++] = '\n';
      else if (next != EOF)
        ungetc(next, r->f);
      break;
    }
  }
  if (n == 0) return -1;
  r->line[n] = '\0';
  return (ssize_t)n;
}

static int parser_init(cs_csv_t *r) {
  unsigned char opts = CSV_STRICT | CSV_STRICT_FINI | (r->d.whitespace ? CSV_EMPTY_IS_NULL : 0);
  if (csv_init(&r->p, opts) != 0)
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (CSV parser)");
  csv_set_delim(&r->p, (unsigned char)(r->d.whitespace ? ' ' : r->d.delim));
  /* libcsv grows a field's buffer by this many bytes at a time (128 by default): a long
   * quoted field then took one realloc per 128 bytes, quadratic where realloc copies (a 16 MiB
   * field: over 120 s under AddressSanitizer). */
  csv_set_blk_size(&r->p, (size_t)1 << 20);
  r->p_ready = 1;
  return CS_OK;
}

static void reset(cs_csv_t *r) {
  r->lineno = r->bytes = 0;
  r->text_len = 0;
  r->nf = r->nq = r->q_next = r->cur_first = 0;
  r->in_rec = r->eof = r->oom = r->failed = 0;
  r->rec_line = 0;
}

int cs_csv_open(const char *path, const cs_csv_dialect_t *d, cs_csv_t **out) {
  int status = CS_OK;
  struct stat st;
  cs_csv_t *r = calloc(1, sizeof *r);
  *out = NULL;
  CS_CHECK(r && (r->path = strdup(path)), CS_ENOMEM, "out of memory");
  r->d = *d;
  if (stat(path, &st) != 0)
    CS_FAIL(errno == ENOENT ? CS_ENOENT : CS_EIO, "cannot open '%s': %s", path, strerror(errno));
  CS_CHECK(!S_ISDIR(st.st_mode), CS_ENOENT, "cannot open '%s': it is a directory", path);
  r->size = (int64_t)st.st_size;
  r->f = fopen(path, "rb");
  /* An input that cannot be read is bad input (exit 2, as for the other commands' inputs),
   * not an output error (exit 3). */
  CS_CHECK(r->f, errno == EACCES || errno == EPERM ? CS_ENOENT : CS_EIO, "cannot open '%s': %s",
           path, strerror(errno));
  CS_TRY(parser_init(r));
  *out = r;
  return CS_OK;
fail:
  cs_csv_close(r);
  return status;
}

void cs_csv_close(cs_csv_t *r) {
  if (!r) return;
  if (r->p_ready) csv_free(&r->p);
  if (r->f) fclose(r->f);
  free(r->path);
  free(r->line);
  free(r->text);
  free(r->off);
  free(r->q);
  free(r->ptr);
  free(r);
}

int cs_csv_rewind(cs_csv_t *r) {
  if (r->p_ready) csv_free(&r->p);
  r->p_ready = 0;
  reset(r);
  if (fseek(r->f, 0, SEEK_SET) != 0)
    return cs_error_set(CS_EIO, __FILE__, __LINE__, "%s: cannot rewind: %s", r->path,
                        strerror(errno));
  clearerr(r->f);
  return parser_init(r);
}

int64_t cs_csv_bytes_read(const cs_csv_t *r) { return r->bytes; }
int64_t cs_csv_size(const cs_csv_t *r) { return r->size; }

/* Drop the handed-out records; keep the fields of a record still being parsed. */
static void compact(cs_csv_t *r) {
  size_t base = r->cur_first < r->nf ? r->off[r->cur_first] : r->text_len;
  memmove(r->text, r->text + base, r->text_len - base);
  r->text_len -= base;
  for (int i = r->cur_first; i < r->nf; i++) r->off[i - r->cur_first] = r->off[i] - base;
  r->nf -= r->cur_first;
  r->cur_first = 0;
  r->nq = r->q_next = 0;
}

/* A line the parser makes no record of. The delimiter is no blank: a line of tabs in a
 * tab-separated file (an empty spreadsheet row) is a record of empty fields, and had taken
 * the line number of the record before it. */
static int blank(const char *s, size_t n, char delim) {
  for (size_t i = 0; i < n; i++)
    if ((s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') || s[i] == delim) return 0;
  return 1;
}

int cs_csv_next(cs_csv_t *r, cs_csv_record_t *rec) {
  int status = CS_OK;
  CS_CHECK(!r->failed, CS_EINTERNAL, "%s: read after an error", r->path);
  for (;;) {
    if (r->q_next < r->nq) {
      const rec_ref_t *q = &r->q[r->q_next++];
      int64_t pcap = r->ptr_cap;
      CS_CHECK(!grow((void **)&r->ptr, q->n, &pcap, sizeof *r->ptr), CS_ENOMEM, "out of memory");
      r->ptr_cap = (int)pcap;
      for (int i = 0; i < q->n; i++) r->ptr[i] = r->text + r->off[q->first + i];
      rec->n = q->n;
      rec->field = r->ptr;
      rec->line = q->line;
      return 1;
    }
    if (r->nq) compact(r);
    if (r->eof) return 0;
    errno = 0;
    ssize_t len = read_line(r);
    CS_CHECK(len != -2, CS_ENOMEM, "out of memory reading %s line %lld", r->path,
             (long long)r->lineno + 1);
    if (len < 0) {
      CS_CHECK(!ferror(r->f), CS_EIO, "%s: read error after line %lld: %s", r->path,
               (long long)r->lineno, strerror(errno ? errno : EIO));
      r->eof = 1;
      CS_CHECK(csv_fini(&r->p, on_field, on_record, r) == 0, CS_EDATA,
               "%s:%lld: a quoted field is not closed before the end of the file", r->path,
               (long long)r->rec_line);
      CS_CHECK(!r->oom, CS_ENOMEM, "out of memory reading %s", r->path);
      continue;
    }
    r->lineno++;
    r->bytes += len;
    char *s = r->line;
    CS_CHECK(r->lineno != 1 || len < 2 || !((s[0] == '\xFF' && s[1] == '\xFE') ||
                                            (s[0] == '\xFE' && s[1] == '\xFF')),
             CS_EDATA, "%s: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); "
             "convert it to UTF-8 first, e.g. with iconv -f utf-16 -t utf-8", r->path);
    CS_CHECK(r->lineno != 1 || len < 2 || s[0] != '\x1F' || s[1] != '\x8B', CS_EDATA,
             "%s: the file is gzip-compressed; decompress it first (e.g. with gunzip -k)", r->path);
    if (r->lineno == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) { /* UTF-8 BOM */
      s += 3;
      len -= 3;
    }
    if (r->d.whitespace)
      for (ssize_t i = 0; i < len; i++)
        if (s[i] == '\t') s[i] = ' ';
    /* A CR not followed by LF ends a line too (classic Mac OS files, a stray CR in a value),
     * as it ends a record for the parser: the text goes to the parser one such line at a
     * time, so that every record has a line number of its own. */
    for (ssize_t from = 0; from < len;) {
      ssize_t end = len;
      for (const char *cr = memchr(s + from, '\r', (size_t)(len - from)); cr;
           cr = memchr(cr + 1, '\r', (size_t)(s + len - cr - 1))) {
        if (cr + 1 == s + len || cr[1] != '\n') {
          end = cr + 1 - s;
          break;
        }
      }
      if (from > 0) r->lineno++;
      if (!r->in_rec && !blank(s + from, (size_t)(end - from), r->d.whitespace ? 0 : r->d.delim)) {
        r->in_rec = 1;
        r->rec_line = r->lineno;
      }
      /* The field that failed: its number in the record and the text read of it so far. */
      CS_CHECK(csv_parse(&r->p, s + from, (size_t)(end - from), on_field, on_record, r) ==
                   (size_t)(end - from),
               CS_EDATA,
               "%s:%lld: malformed CSV in field %d (it starts '%.*s'): a quote inside an "
               "unquoted field or text after a closing quote (quote a field that contains "
               "quotes, and double the quotes inside it)", r->path, (long long)r->lineno,
               r->nf - r->cur_first + 1, (int)(r->p.entry_pos < 40 ? r->p.entry_pos : 40),
               r->p.entry_buf ? (const char *)r->p.entry_buf : "");
      CS_CHECK(!r->oom, CS_ENOMEM, "out of memory reading %s line %lld", r->path,
               (long long)r->lineno);
      /* A quote that is never closed takes the rest of the file into one field: memory had
       * grown with the file (10 GB for a 10 GB export), silently, to fail at its end. */
      /* Open: quoted and not yet past its closing quote (libcsv's state FIELD_BEGUN, 2; after
       * the closing quote it is 3 and `quoted` stays set until the field ends). */
      CS_CHECK(r->p.entry_pos <= CS_CSV_FIELD_MAX || !r->p.quoted || r->p.pstate != 2, CS_EDATA,
               "%s:%lld: field %d of the record on this line is longer than %d MiB by line "
               "%lld: a quote that is never closed? (a quote inside a value must be doubled, "
               "and the field quoted)", r->path, (long long)r->rec_line,
               r->nf - r->cur_first + 1, CS_CSV_FIELD_MAX >> 20, (long long)r->lineno);
      /* An unquoted field still open (the last line of a file without a newline) is too long
       * in itself, not a runaway quote. */
      if (r->p.entry_pos > CS_CSV_FIELD_MAX && !r->long_field)
        r->long_field = r->nf - r->cur_first + 1;
      CS_CHECK(!r->long_field, CS_EDATA, "%s:%lld: field %d of the record on this line is "
               "longer than %d MiB, the limit of a field", r->path, (long long)r->rec_line,
               r->long_field, CS_CSV_FIELD_MAX >> 20);
      CS_CHECK(!r->nul_field, CS_EDATA, "%s:%lld: field %d holds a NUL byte (a binary or "
               "UTF-16 file, or a damaged one?)", r->path, (long long)r->lineno, r->nul_field);
      from = end;
    }
  }
fail:
  r->failed = 1;
  return status;
}
