/* report/html.c: the page frame (inline style sheet, title, table of contents, sections),
 * HTML escaping and number formats.
 *
 * Every string that comes from a file goes through cs__esc; markup goes through cs__put only
 * with literals and numbers. Trade-off: a printf-style buffer instead of a DOM or template
 * engine: nothing to install, and the page is deterministic bytes (no clock, no locale: the
 * thousands separators are written here, not by printf's ' flag), at the cost of the
 * discipline of escaping by hand. */
#include "report_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(cs__buf_t *b, size_t need) {
  if (b->oom || b->len + need + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 1 << 16;
  while (cap < b->len + need + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void vput(cs__buf_t *b, int escape, const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  if (n < 0) return;
  char small[512], *s = (size_t)n < sizeof small ? small : malloc((size_t)n + 1);
  if (!s) {
    b->oom = 1;
    return;
  }
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  if (escape)
    cs__esc(b, s);
  else {
    grow(b, (size_t)n);
    if (!b->oom) {
      memcpy(b->p + b->len, s, (size_t)n + 1);
      b->len += (size_t)n;
    }
  }
  if (s != small) free(s);
}

void cs__put(cs__buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vput(b, 0, fmt, ap);
  va_end(ap);
}

void cs__escf(cs__buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vput(b, 1, fmt, ap);
  va_end(ap);
}

void cs__esc(cs__buf_t *b, const char *s) {
  if (!s) return;
  for (; *s; s++) {
    const char *rep = NULL;
    switch (*s) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: break;
    }
    /* Control characters (other than tab and newline) have no place in a page: C0, DEL
     * and C1 (U+0080..U+009F, which had reached the page from a column name). */
    size_t skip = 0;
    const unsigned char *u = (const unsigned char *)s;
    if (!rep && ((u[0] < 0x20 && *s != '\t' && *s != '\n') || u[0] == 0x7f)) rep = "\xef\xbf\xbd";
    if (!rep && u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
      rep = "\xef\xbf\xbd";
      skip = 1;
    }
    /* Nor have bidirectional overrides, embeddings and isolates (U+202A..U+202E,
     * U+2066..U+2069) in a name from the data: U+202E in a category level had turned the rest
     * of its chart label and a persona's numbers around ("%9.99" for "99.9%"). Right-to-left
     * text itself is left as it is. */
    if (!rep && u[0] == 0xe2 && ((u[1] == 0x80 && u[2] >= 0xaa && u[2] <= 0xae) ||
                                 (u[1] == 0x81 && u[2] >= 0xa6 && u[2] <= 0xa9))) {
      rep = "\xef\xbf\xbd";
      skip = 2;
    }
    size_t n = rep ? strlen(rep) : 1;
    grow(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, rep ? rep : s, n);
    b->len += n;
    b->p[b->len] = '\0';
    s += skip;
  }
}

/* Digits of |v| rounded to `decimals`, with a comma every three digits of the integer part. */
static void grouped(char *out, size_t len, double v, int decimals) {
  char digits[64];
  snprintf(digits, sizeof digits, "%.*f", decimals, fabs(v));
  const char *dot = strchr(digits, '.');
  size_t whole = dot ? (size_t)(dot - digits) : strlen(digits), o = 0;
  int negative = v < 0 && strspn(digits, "0.") != strlen(digits); /* no "-0" */
  char tmp[96];
  if (negative) tmp[o++] = '-';
  for (size_t i = 0; i < whole; i++) {
    if (i && (whole - i) % 3 == 0) tmp[o++] = ',';
    tmp[o++] = digits[i];
  }
  tmp[o] = '\0';
  snprintf(out, len, "%s%s", tmp, dot ? dot : "");
}

void cs__num(char *out, size_t len, double v, cs__fmt_t f) {
  if (!isfinite(v)) {
    snprintf(out, len, "\xe2\x80\x93");
    return;
  }
  double a = fabs(v);
  /* Beyond 10^15 a double's 16 digits do not fill the grouped digits (they are rounding
   * noise, and 10^300 would not fit the cell): scientific notation, 4 digits. */
  if (a >= 1e15 && (f == CS__INT || f == CS__MONEY || f == CS__G || f == CS__RATIO)) {
    snprintf(out, len, "%.4g", v);
    return;
  }
  switch (f) {
  case CS__INT: grouped(out, len, v, 0); break;
  case CS__MONEY: grouped(out, len, v, 2); break; /* cents always: one column, one format */
  /* One format for a column of ratios ("9538" beside "65,698" and "498.3" had been CS__G's). */
  case CS__RATIO: grouped(out, len, v, 3); break;
  /* A value that rounds to zero has no sign ("-0.0 pp" beside the Markdown's "0.00"). */
  case CS__PCT:
    if (v > 0 && 100 * v < 0.05) /* 5 customers of 20,000: not "0.0%", which reads as none */
      snprintf(out, len, "under 0.1%%"); /* no markup: numbers are put into the page as they are */
    else
      snprintf(out, len, "%.1f%%", fabs(100 * v) < 0.05 ? 0.0 : 100 * v);
    break;
  case CS__PP:
    if (fabs(100 * v) < 0.05)
      snprintf(out, len, "0.0 pp");
    else
      snprintf(out, len, "%+.1f pp", 100 * v);
    break;
  /* A million seconds and more (a --timings file's value in another unit): 4 digits; 1e300
   * had filled the cell with 63 digits, and lost its unit. */
  case CS__SEC: snprintf(out, len, a < 1e6 ? "%.3f s" : "%.4g s", v); break;
  case CS__G:
  default:
    if (a >= 1e4)
      grouped(out, len, v, 0);
    else if (a == 0)
      snprintf(out, len, "0");
    else
      snprintf(out, len, "%.4g", v);
    break;
  }
}

const char *cs__segment_colour(int g) {
  /* Tableau 10: distinct, readable on white, and kind to the usual colour blindness; then
   * the light tones of Tableau 20 for segments 10-19, so K up to 20 has no repeat (beyond,
   * every bar and row also carries the segment's name). */
  static const char *const c[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                                  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d",
                                  "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e"};
  return c[(g < 0 ? -g : g) % 20];
}

void cs__diverging(double z, char out[8]) {
  /* White at 0, #2166ac at -1, #b2182b at +1 (ColorBrewer RdBu ends), linear in between. */
  if (!isfinite(z)) {
    snprintf(out, 8, "#dddddd");
    return;
  }
  if (z > 1) z = 1;
  if (z < -1) z = -1;
  const int end[2][3] = {{0x21, 0x66, 0xac}, {0xb2, 0x18, 0x2b}};
  const int *e = end[z > 0];
  double t = fabs(z);
  int rgb[3];
  for (int i = 0; i < 3; i++) rgb[i] = (int)lround(255 + (e[i] - 255) * t);
  snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

static const char *const style =
    "body{font-family:system-ui,-apple-system,'Segoe UI','DejaVu Sans',Arial,sans-serif;"
    "margin:0;background:#f4f5f7;color:#1f2328;font-size:14px;line-height:1.45}"
    "header{background:#24344d;color:#fff;padding:18px 32px}"
    "header h1{margin:0;font-size:22px;font-weight:600}"
    "header p{margin:4px 0 0;color:#c9d3e3;font-size:13px}"
    "nav{padding:8px 32px;background:#fff;border-bottom:1px solid #d8dee4;font-size:13px}"
    "nav a{margin-right:14px;color:#24344d;text-decoration:none}nav a:hover{text-decoration:underline}"
    "main{max-width:1280px;margin:0 auto;padding:8px 24px 32px}"
    "section{background:#fff;border:1px solid #d8dee4;border-radius:6px;margin:16px 0;"
    "padding:12px 20px 16px}"
    "section h2{font-size:17px;margin:4px 0 10px;color:#24344d}"
    "section h3{font-size:14px;margin:14px 0 6px;color:#3d4b61}"
    "div.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:4px 12px;"
    "margin:8px 0}div.warn li{margin:2px 0}"
    "p.note{color:#57606a;margin:4px 0}p.src{color:#6e7781;font-size:12px;margin:6px 0 0}"
    ".grid{display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-start}"
    "figure{margin:6px 0}figcaption{font-size:12px;color:#57606a;max-width:560px}"
    "svg text{font-family:inherit}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;font-size:12px;margin:4px 0}"
    "th,td{padding:3px 6px;border-bottom:1px solid #e6e9ed;text-align:right;white-space:nowrap}"
    "th{background:#f0f2f5;font-weight:600;color:#3d4b61;white-space:normal;"
    "vertical-align:bottom;min-width:48px}"
    "td.l,th.l{text-align:left}td.total{font-weight:600}"
    "tr.total td{font-weight:600;border-top:2px solid #b9c1cc}"
    "dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:4px 0}"
    "dl.facts dt{color:#57606a}dl.facts dd{margin:0;font-family:ui-monospace,'DejaVu Sans Mono',"
    "monospace;font-size:12.5px;word-break:break-all}"
    ".sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;"
    "vertical-align:baseline}"
    ".tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:11.5px;"
    "background:#e7ecf3;color:#24344d}"
    "footer{color:#6e7781;font-size:12px;text-align:center;padding:8px 0 24px}";

void cs__page_begin(cs__buf_t *b, const char *title, const char *const *ids,
                    const char *const *titles, int n) {
  cs__put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
             "<title>");
  cs__esc(b, title);
  cs__put(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<header><h1>", style);
  cs__esc(b, title);
  cs__put(b, "</h1><p>Segments, personas, ROI, churn and customer lifetime value from custseg "
             "results files. Everything on this page is computed from the files named under "
             "Run facts.</p></header>\n<nav>");
  for (int i = 0; i < n; i++) {
    cs__put(b, "<a href=\"#%s\">", ids[i]);
    cs__esc(b, titles[i]);
    cs__put(b, "</a>");
  }
  cs__put(b, "</nav>\n<main>\n");
}

void cs__page_end(cs__buf_t *b, const char *version) {
  cs__put(b, "</main>\n<footer>Written by custseg ");
  cs__esc(b, version);
  cs__put(b, " (custseg report). A single file: no scripts, fonts, style sheets or images "
             "from elsewhere.</footer>\n</body>\n</html>\n");
}

void cs__section_begin(cs__buf_t *b, const char *id, const char *title) {
  cs__put(b, "<section id=\"%s\">\n<h2>", id);
  cs__esc(b, title);
  cs__put(b, "</h2>\n");
}

void cs__section_end(cs__buf_t *b) { cs__put(b, "</section>\n"); }

void cs__section_note(cs__buf_t *b, const char *id, const char *title, const char *note) {
  cs__section_begin(b, id, title);
  cs__put(b, "<p class=\"note\">");
  cs__esc(b, note);
  cs__put(b, "</p>\n");
  cs__section_end(b);
}
