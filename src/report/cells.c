/* report/cells.c: the small pieces every section writes: facts (name: value), table cells
 * and headers, segment names (persona labels when present), source lines, numbers from
 * attributes. */
#include "report_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------- */
double cs__attr_num(const cs_io_attrs_t *a, const char *name) {
  const char *v = cs_io_attr(a, name);
  char *end;
  double d = v ? strtod(v, &end) : NAN;
  return v && end != v ? d : NAN;
}

int cs__persona_label(const cs_report_t *r, int g, const char **label) {
  *label = NULL;
  if (!(r->has_personas && g >= 0 && g < r->n_labels && r->p_labels[g][0])) return 0;
  /* A label made unique by its id (" (segment g)"): the id is shown in front already. */
  const char *lab = r->p_labels[g];
  char tail[32];
  const int nt = snprintf(tail, sizeof tail, " (segment %d)", g);
  size_t ll = strlen(lab);
  if (nt > 0 && ll > (size_t)nt && !strcmp(lab + ll - (size_t)nt, tail)) ll -= (size_t)nt;
  *label = lab;
  return (int)ll;
}

/* "Segment g" or "Segment g · label" (persona labels), "No segment" for group k. A name
 * longer than the buffer is cut where a UTF-8 character starts and ends in an ellipsis. */
void cs__seg_name(const cs_report_t *r, int g, char *out, size_t len) {
  int64_t k = r->sizes.rows;
  int n;
  const char *lab;
  const int ll = g < k ? cs__persona_label(r, g, &lab) : 0;
  if (g >= k)
    n = snprintf(out, len, "No segment");
  else if (lab)
    n = snprintf(out, len, "%d \xc2\xb7 %.*s", g, ll, lab);
  else
    n = snprintf(out, len, "Segment %d", g);
  if (n >= 0 && (size_t)n >= len && len > 4) {
    size_t o = len - 4; /* room for the ellipsis (3 bytes) and the terminator */
    while (o > 0 && ((unsigned char)out[o] & 0xc0) == 0x80) o--;
    memcpy(out + o, "\xe2\x80\xa6", 4);
  }
}

void cs__fact(cs__buf_t *b, const char *name, const char *value) {
  cs__put(b, "<dt>");
  cs__esc(b, name);
  cs__put(b, "</dt><dd>");
  cs__esc(b, value && *value ? value : "\xe2\x80\x93");
  cs__put(b, "</dd>");
}

void cs__fact_num(cs__buf_t *b, const char *name, double v, cs__fmt_t f) {
  char num[64];
  cs__num(num, sizeof num, v, f);
  cs__fact(b, name, num);
}

void cs__th(cs__buf_t *b, const char *text, int left) {
  cs__put(b, "<th%s>", left ? " class=\"l\"" : "");
  cs__esc(b, text);
  cs__put(b, "</th>");
}

void cs__td_num(cs__buf_t *b, double v, cs__fmt_t f) {
  char num[64];
  cs__num(num, sizeof num, v, f);
  cs__put(b, "<td>%s</td>", num);
}

void cs__td_text(cs__buf_t *b, const char *s) {
  cs__put(b, "<td class=\"l\">");
  cs__esc(b, s);
  cs__put(b, "</td>");
}

void cs__td_swatch(cs__buf_t *b, int g, const char *name) {
  cs__put(b, "<td class=\"l\"><span class=\"sw\" style=\"background:%s\"></span>",
          cs__segment_colour(g));
  cs__esc(b, name);
  cs__put(b, "</td>");
}

/* A header row's first cell (left-aligned) and one cell per segment, named by seg_name. */
void cs__th_segments(cs__buf_t *b, const cs_report_t *r, const char *first) {
  char name[CS__NAME_MAX];
  cs__th(b, first, 1);
  for (int g = 0; g < (int)r->sizes.rows; g++) {
    cs__seg_name(r, g, name, sizeof name);
    cs__th(b, name, 0);
  }
}

void cs__source(cs__buf_t *b, const char *fmt, const char *path) {
  cs__put(b, "<p class=\"src\">");
  cs__escf(b, fmt, path);
  cs__put(b, "</p>\n");
}

