/* import/types.c: what a CSV field holds, and the schema file that declares column types.
 *
 * Numbers are recognised by a strict grammar (decimal only: no hex, nan or inf, no thousands
 * separators, no decimal comma), so that a text column is never half read as numbers. The
 * schema file is `name = type` lines read here rather than by inih, whose 200-character line
 * limit would cut long lists of declared categories. */
#include "import_int.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

int cs__parse_int(const char *s, int64_t *v) {
  const char *p = s + (*s == '+' || *s == '-');
  if (!isdigit((unsigned char)*p)) return -1;
  while (isdigit((unsigned char)*p)) p++;
  if (*p) return -1;
  errno = 0;
  long long x = strtoll(s, NULL, 10);
  if (errno) return -2; /* an integer, but not an int64 */
  *v = x;
  return 0;
}

int cs__parse_id(const char *s, int hash, int64_t *v) {
  if (!hash) return cs__parse_int(s, v);
  *v = (int64_t)(XXH3_64bits(s, strlen(s)) >> 1);
  return 0;
}

const char *cs__id_error(const char *s, int rc) {
  double x;
  if (rc == -2) return "outside the int64 range of customer ids";
  /* 1042.0: a spreadsheet saved the ids as numbers; hashing that text would give other ids
   * than the transactions file's 1042. */
  if (cs__parse_float(s, &x) == 0 && x == floor(x) && fabs(x) < 9.2e18)
    return "a decimal number, not an integer customer id (a spreadsheet's number format? save "
           "the id column as whole numbers: --hash-ids would take '1042.0' and '1042' for two "
           "customers)";
  /* 1,234: a spreadsheet's digit grouping; hashed, it would not match the transactions'
   * 1234. */
  if (isdigit((unsigned char)s[0]) && strchr(s, ',') && strspn(s, "0123456789,") == strlen(s))
    return "a number with digit grouping, not an integer customer id (a spreadsheet's number "
           "format? save the id column without thousands separators: --hash-ids would take "
           "'1,234' and '1234' for two customers)";
  return "not an integer customer id (ids that are text: import with --hash-ids)";
}

/* Text that reads as a number in a notation custseg does not read: a decimal comma ("0,5",
 * "1.234,56"), digit grouping ("1,234.50", "1 234", "1'234"), a currency or percent sign
 * ("$5.00", "12 %", "5 €"). Digits and separators only, besides an optional sign and one
 * such sign at either end. */
int cs__localized_number(const char *s) {
  static const char *const signs[] = {"$", "%", "\xe2\x82\xac" /* € */, "\xc2\xa3" /* £ */};
  size_t len = strlen(s), lo = 0, hi = len;
  for (int pass = 0; pass < 2; pass++) /* one sign at the start, one at the end */
    for (size_t k = 0; k < sizeof signs / sizeof *signs; k++) {
      size_t n = strlen(signs[k]);
      if (!pass && hi - lo >= n && !strncmp(s + lo, signs[k], n)) lo += n;
      if (pass && hi - lo >= n && !strncmp(s + hi - n, signs[k], n)) hi -= n;
    }
  while (lo < hi && s[lo] == ' ') lo++;
  while (hi > lo && s[hi - 1] == ' ') hi--;
  if (lo < hi && (s[lo] == '-' || s[lo] == '+')) lo++;
  int digits = 0, marks = 0;
  for (size_t i = lo; i < hi; i++) {
    if (s[i] >= '0' && s[i] <= '9')
      digits++;
    else if (s[i] == ',' || s[i] == '.' || s[i] == ' ' || s[i] == '\'')
      marks++;
    else
      return 0;
  }
  return digits > 0 && (s[lo] >= '0' && s[lo] <= '9') && (s[hi - 1] >= '0' && s[hi - 1] <= '9') &&
         (marks > 0 || lo > 0 || hi < len);
}

int cs__parse_float(const char *s, double *v) {
  const char *p = s + (*s == '+' || *s == '-');
  int digits = 0;
  while (isdigit((unsigned char)*p)) p++, digits++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) p++, digits++;
  }
  if (!digits) return -1;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    while (isdigit((unsigned char)*p)) p++;
  }
  if (*p) return -1;
  double x = strtod(s, NULL);
  if (!isfinite(x)) return -1;
  *v = x;
  return 0;
}

int cs__beyond_float64(const char *s) {
  double x;
  if (cs__parse_float(s, &x) == 0) return 0;
  char *end;
  errno = 0;
  x = strtod(s, &end);
  return end != s && !*end && isinf(x) && errno == ERANGE && !strpbrk(s, "xXiInN");
}

int cs__na_parse(const char *list, cs_na_t *na) {
  memset(na, 0, sizeof *na);
  if (!list || !*list) return CS_OK;
  char *copy = strdup(list);
  if (!copy) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  int n = 1;
  for (const char *c = list; *c; c++) n += *c == ',';
  na->tok = calloc((size_t)n, sizeof *na->tok);
  int status = na->tok ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && status == CS_OK;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    size_t len = strlen(t);
    while (len && t[len - 1] == ' ') t[--len] = '\0';
    if (!len) continue;
    if (!(na->tok[na->n++] = strdup(t)))
      status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  free(copy);
  if (status < 0) cs__na_free(na);
  return status;
}

void cs__na_free(cs_na_t *na) {
  for (int i = 0; i < na->n; i++) free(na->tok[i]);
  free(na->tok);
  memset(na, 0, sizeof *na);
}

static cs_vclass_t classify_trimmed(const cs_na_t *na, const char *s, int64_t *i, double *f) {
  for (int k = 0; k < na->n; k++)
    if (!strcmp(s, na->tok[k])) return CS_V_EMPTY;
  int rc = cs__parse_int(s, i);
  if (rc == 0) {
    *f = (double)*i;
    return CS_V_INT;
  }
  if (rc == -2) {
    *f = strtod(s, NULL);
    return CS_V_BIGINT;
  }
  if (cs__parse_float(s, f) == 0) return CS_V_FLOAT;
  return CS_V_TEXT;
}

const char *cs__strip_blanks(const char *s, char *buf, size_t size) {
  const char *b = s;
  while (*b == ' ' || *b == '\t') b++;
  size_t n = strlen(b);
  while (n && (b[n - 1] == ' ' || b[n - 1] == '\t')) n--;
  if (b == s && b[n] == '\0') return s;
  char *t = n < size ? buf : malloc(n + 1);
  if (!t) return NULL;
  memcpy(t, b, n);
  t[n] = '\0';
  return t;
}

cs_vclass_t cs__classify(const cs_na_t *na, const char *s, int64_t *i, double *f) {
  /* Spaces and tabs around a value (libcsv trims unquoted fields; a quoted one keeps them, as
   * in `"  12.50"` or the `" "` of a blank) do not make a number text or a blank a value. */
  char buf[128];
  const char *t = cs__strip_blanks(s, buf, sizeof buf);
  if (!t) return CS_V_TEXT; /* out of memory for a value this long: kept as text */
  cs_vclass_t v = *t ? classify_trimmed(na, t, i, f) : CS_V_EMPTY;
  if (t != s && t != buf) free((char *)t);
  return v;
}

void cs__header_list(const char *const *names, int n, char *list, size_t len, char *hint, size_t hlen,
                     const char *option) {
  list[0] = hint[0] = '\0';
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), len - strlen(list), "%s%s", i ? ", " : "", names[i]);
  static const struct {
    char c;
    const char *shown, *name;
  } seps[] = {{';', "';'", "semicolon"}, {'\t', "a tab", "tab"}, {'|', "'|'", "pipe"},
               {',', "','", "comma"}};
  for (size_t k = 0; n == 1 && k < sizeof seps / sizeof *seps; k++)
    if (strchr(names[0], seps[k].c)) {
      snprintf(hint, hlen, "; the header is one field holding %s: is the file separated by it "
               "(%s %s)?", seps[k].shown, option, seps[k].name);
      break;
    }
}

cs_dtype_t cs__code_dtype(int64_t n_levels) {
  return n_levels <= 127 ? CS_DT_I8 : n_levels <= 32767 ? CS_DT_I16 : CS_DT_I32;
}

int cs__int_fits(cs_dtype_t t, int64_t v) {
  switch (t) {
  case CS_DT_I8: return v >= INT8_MIN && v <= INT8_MAX;
  case CS_DT_I16: return v >= INT16_MIN && v <= INT16_MAX;
  case CS_DT_I32: return v >= INT32_MIN && v <= INT32_MAX;
  case CS_DT_U8: return v >= 0 && v <= UINT8_MAX;
  case CS_DT_U16: return v >= 0 && v <= UINT16_MAX;
  case CS_DT_U32: return v >= 0 && v <= UINT32_MAX;
  default: return 1;
  }
}

/* ---- the schema file ---------------------------------------------------------------------- */
static const struct {
  const char *name;
  cs_kind_t kind;
  cs_dtype_t dtype;
} types[] = {
    {"id", CS_K_ID, CS_DT_I64},           {"int", CS_K_INT, CS_DT_I64},
    {"int8", CS_K_INT, CS_DT_I8},         {"int16", CS_K_INT, CS_DT_I16},
    {"int32", CS_K_INT, CS_DT_I32},       {"int64", CS_K_INT, CS_DT_I64},
    {"uint8", CS_K_INT, CS_DT_U8},        {"uint16", CS_K_INT, CS_DT_U16},
    {"uint32", CS_K_INT, CS_DT_U32},      {"float", CS_K_FLOAT, CS_DT_F64},
    {"float32", CS_K_FLOAT, CS_DT_F32},   {"float64", CS_K_FLOAT, CS_DT_F64},
    {"categorical", CS_K_CAT, CS_DT_NONE}, {"skip", CS_K_SKIP, CS_DT_NONE},
};

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* "categorical: a, b, c" -> the levels; an empty or repeated level is an error. */
static int read_levels(const cs_schema_t *s, int line, char *list, cs_schema_entry_t *e) {
  int n = 1;
  for (const char *c = list; *c; c++) n += *c == ',';
  e->levels = calloc((size_t)n, sizeof *e->levels);
  if (!e->levels) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  /* strsep, not strtok: "a,,b" and "a,b," have an empty level, which is an error. */
  char *rest = trim(list);
  if (!*rest) rest = NULL; /* "categorical:" alone: no level (below) */
  for (char *t; (t = strsep(&rest, ",")) != NULL;) {
    t = trim(t);
    if (!*t)
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "schema %s line %d: column '%s': an empty category", s->path, line,
                          e->name);
    const int bad = cs_utf8_bad(t);
    if (bad >= 0)
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "schema %s line %d: column '%s': a category that is not UTF-8 (byte "
                          "%d is 0x%02X); save the schema as UTF-8", s->path, line, e->name,
                          bad, (unsigned char)t[bad]);
    for (int k = 0; k < e->n_levels; k++)
      if (!strcmp(e->levels[k], t))
        return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                            "schema %s line %d: column '%s': category '%s' is listed twice",
                            s->path, line, e->name, t);
    if (!(e->levels[e->n_levels++] = strdup(t)))
      return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  if (e->n_levels == 0)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                        "schema %s line %d: column '%s': 'categorical:' needs at least one "
                        "category", s->path, line, e->name);
  return CS_OK;
}

static int parse_line(cs_schema_t *s, int line, char *text) {
  char *eq = strchr(text, '=');
  if (!eq)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                        "schema %s line %d: expected 'column = type'", s->path, line);
  *eq = '\0';
  char *name = trim(text), *type = trim(eq + 1);
  if (!*name || strlen(name) >= CS_NAME_MAX)
    return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                        "schema %s line %d: a column name must have 1 to %d characters",
                        s->path, line, CS_NAME_MAX - 1);
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->e[i].name, name))
      return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                          "schema %s line %d: column '%s' is declared twice (also line %d)",
                          s->path, line, name, s->e[i].line);
  cs_schema_entry_t *e = &s->e[s->n++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->line = line;
  char *levels = NULL, *colon = strchr(type, ':');
  if (colon) {
    *colon = '\0';
    levels = colon + 1;
    type = trim(type);
  }
  for (size_t k = 0; k < sizeof types / sizeof *types; k++)
    if (!strcasecmp(type, types[k].name)) {
      e->kind = types[k].kind;
      e->dtype = types[k].dtype;
      if (levels && e->kind != CS_K_CAT) break;
      return levels ? read_levels(s, line, levels, e) : CS_OK;
    }
  return cs_error_set(CS_ECONFIG, __FILE__, __LINE__,
                      "schema %s line %d: column '%s': unknown type '%s%s' (use id, int, int8, "
                      "int16, int32, int64, uint8, uint16, uint32, float, float32, float64, "
                      "categorical, 'categorical: a, b, c' or skip)",
                      s->path, line, name, type, levels ? ":..." : "");
}

int cs__schema_read(const char *path, cs_schema_t *s) {
  int status = CS_OK, line = 0, ids = 0;
  char *buf = NULL;
  size_t cap = 0;
  memset(s, 0, sizeof *s);
  s->path = path;
  FILE *f = fopen(path, "r");
  CS_CHECK(f, CS_ECONFIG, "cannot open schema '%s': %s", path, strerror(errno));
  int cap_e = 0;
  while (getline(&buf, &cap, f) >= 0) {
    line++;
    /* A byte-order mark (a schema saved by Notepad) is no part of the first name. */
    char *t = trim(line == 1 && !strncmp(buf, "\xEF\xBB\xBF", 3) ? buf + 3 : buf);
    if (!*t || *t == '#' || *t == ';') continue;
    if (s->n == cap_e) {
      cap_e = cap_e ? 2 * cap_e : 32;
      cs_schema_entry_t *e = realloc(s->e, (size_t)cap_e * sizeof *e);
      CS_CHECK(e, CS_ENOMEM, "out of memory");
      s->e = e;
    }
    CS_TRY(parse_line(s, line, t));
    if (s->e[s->n - 1].kind == CS_K_ID && ++ids > 1)
      CS_FAIL(CS_ECONFIG, "schema %s line %d: a second id column ('%s'); there is one", path,
              line, s->e[s->n - 1].name);
  }
  CS_CHECK(!ferror(f), CS_ECONFIG, "cannot read schema '%s': %s", path, strerror(errno));
fail:
  if (f) fclose(f);
  free(buf);
  if (status < 0) cs__schema_free(s);
  return status;
}

void cs__schema_free(cs_schema_t *s) {
  for (int i = 0; i < s->n; i++) {
    for (int k = 0; k < s->e[i].n_levels; k++) free(s->e[i].levels[k]);
    free(s->e[i].levels);
  }
  free(s->e);
  s->e = NULL;
  s->n = 0;
}

cs_schema_entry_t *cs__schema_find(cs_schema_t *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->e[i].name, name)) return &s->e[i];
  return NULL;
}

/* ---- thousands grouped by '.' ------------------------------------------------------------ */
/* 1.234 (a sign, 1 to 3 digits, '.', 3 digits, blanks around): a thousands group, or a
 * number with three decimals. */
static int thousands_shaped(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  s += *s == '-' || *s == '+';
  int before = 0, after = 0;
  while (*s >= '0' && *s <= '9') s++, before++;
  if (*s++ != '.') return 0;
  while (*s >= '0' && *s <= '9') s++, after++;
  while (*s == ' ' || *s == '\t') s++;
  return !*s && before >= 1 && before <= 3 && after == 3;
}

void cs__grouping_note(cs__grouping_t *g, const char *s, int is_int, int64_t iv, int64_t line) {
  if (is_int) {
    (*(iv > -1000 && iv < 1000 ? &g->n_small_int : &g->n_big_int))++;
    return;
  }
  if (!strchr(s, '.')) return;
  g->n_dotted++;
  if (thousands_shaped(s) && !g->n_grouped++) {
    g->grouped_line = line;
    snprintf(g->grouped_value, sizeof g->grouped_value, "%s", s);
  }
}

void cs__grouping_warn(const cs__grouping_t *g, const char *what) {
  if (!(g->n_grouped && g->n_grouped == g->n_dotted && g->n_small_int && !g->n_big_int)) return;
  char whole[40];
  size_t w = 0;
  for (const char *p = g->grouped_value; *p && w + 1 < sizeof whole; p++)
    if (*p != '.' && *p != ' ' && *p != '\t') whole[w++] = *p;
  whole[w] = '\0';
  cs_log_warn("%s is read as decimal numbers, but each of its %lld values with a '.' has three "
              "digits after it (such as '%s', line %lld) and none of its %lld values without one "
              "reaches 1000: if the '.' groups thousands ('%s' meaning %s), remove it from the "
              "column before the import", what, (long long)g->n_dotted, g->grouped_value,
              (long long)g->grouped_line, (long long)g->n_small_int, g->grouped_value, whole);
}
