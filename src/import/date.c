/* import/date.c: dates as shops write them -> days since 1970-01-01 (the store's time unit).
 *
 * A format is a small pattern (yyyy, mm, dd, HH, MI, SS and literal characters) instead of
 * strptime: strptime depends on the locale, accepts more than it should (leading spaces,
 * out-of-range days fixed up later) and cannot say which field was wrong. Fixed-width
 * formats such as yyyymmdd work because each field takes at most its width in digits, and
 * exactly its width when no separator stands between it and the next or previous field. */
#include "custseg/import.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { F_YEAR, F_MONTH, F_DAY, F_HOUR, F_MIN, F_SEC, F_N };
static const struct {
  const char *token;
  int width;
} fields[F_N] = {{"yyyy", 4}, {"mm", 2}, {"dd", 2}, {"HH", 2}, {"MI", 2}, {"SS", 2}};


static int token_at(const char *p) {
  for (int k = 0; k < F_N; k++)
    if (!strncmp(p, fields[k].token, strlen(fields[k].token))) return k;
  return -1;
}

int cs_date_format_parse(const char *text, cs_date_format_t *f) {
  memset(f, 0, sizeof *f);
  if (strlen(text) >= sizeof f->text)
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "date format '%s' is too long", text);
  snprintf(f->text, sizeof f->text, "%s", text);
  if (!strcmp(text, "days")) f->kind = 1;
  if (!strcmp(text, "unix")) f->kind = 2;
  if (f->kind) return CS_OK;
  int count[F_N] = {0};
  for (const char *p = text; *p;) {
    int k = token_at(p);
    if (k >= 0) {
      count[k]++;
      p += strlen(fields[k].token);
    } else {
      if (isdigit((unsigned char)*p))
        return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                            "date format '%s' has a digit outside a field", text);
      /* 'hh:mi' had been taken as literal text, and every date of the file then failed. */
      if (!strncmp(p, "hh", 2) || !strncmp(p, "mi", 2) || !strncmp(p, "ss", 2))
        return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                            "date format '%s': '%.2s' is not a field (the hour is HH, the minutes "
                            "MI, the seconds SS; the date yyyy, mm, dd)", text, p);
      p++;
    }
  }
  for (int k = 0; k < F_N; k++)
    if (count[k] > 1 || (k <= F_DAY && count[k] == 0))
      return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                          "date format '%s' must have each of yyyy, mm and dd once (and HH, MI, "
                          "SS at most once), or be 'days' or 'unix'", text);
  return CS_OK;
}

static int parse_number(const char *s, double *v) {
  /* A plain decimal number: no hex, no nan/inf, no spaces. */
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
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
  *v = strtod(s, NULL);
  return isfinite(*v) ? 0 : -1;
}

int cs_date_parse(const cs_date_format_t *f, const char *s, double *days) {
  if (f->kind) {
    /* A number: it must land in the years a pattern can write (0000-9999), so that a Unix time
     * in milliseconds, or in seconds given as days, is refused rather than stored. */
    if (parse_number(s, days)) return -1;
    if (f->kind == 2) *days /= 86400.0;
    const double lo = (double)cs_days_from_civil(0, 1, 1), hi = (double)cs_days_from_civil(10000, 1, 1);
    return *days >= lo && *days < hi ? 0 : -2;
  }
  int v[F_N] = {0}, after_token = 0;
  const char *p = s;
  for (const char *q = f->text; *q;) {
    int k = token_at(q);
    if (k < 0) {
      if (*p != *q) return -1;
      p++, q++;
      after_token = 0;
      continue;
    }
    int n = 0, x = 0;
    while (n < fields[k].width && isdigit((unsigned char)p[n])) x = 10 * x + (p[n++] - '0');
    /* A field next to another one with no separator (yyyymmdd) has its full width: 1997111
     * is no date, not 1997-11-01. */
    const int glued = after_token || token_at(q + strlen(fields[k].token)) >= 0;
    if (n == 0 || (k == F_YEAR && n != 4) || (glued && n != fields[k].width)) return -1;
    after_token = 1;
    v[k] = x;
    p += n;
    q += strlen(fields[k].token);
  }
  if (*p) return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y = v[F_YEAR], m = v[F_MONTH], d = v[F_DAY];
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) return -1;
  if (v[F_HOUR] > 23 || v[F_MIN] > 59 || v[F_SEC] > 59) return -1;
  *days = (double)cs_days_from_civil(y, m, d) +
          (v[F_HOUR] * 3600 + v[F_MIN] * 60 + v[F_SEC]) / 86400.0;
  return 0;
}
