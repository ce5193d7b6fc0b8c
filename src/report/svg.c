/* report/svg.c: the charts of the report as inline SVG: lines, horizontal bars, a heatmap
 * and box plots over histograms on a logarithmic axis.
 *
 * Each chart is a <figure> holding one <svg> with a viewBox, so it scales with the page and
 * needs no script. Coordinates are printed with one decimal, which keeps the page small and
 * the bytes the same on every run. Trade-off: fixed layouts (label widths estimated from
 * the number of characters, at about 6.5 px each at 11 px) instead of measuring text, which
 * only a browser can do; long labels are cut with an ellipsis. */
#include "report_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CHAR_W 6.5 /* px per character of 11 px text, a generous estimate */

/* At most `max` characters of s (UTF-8 aware: continuation bytes are not counted), with
 * an ellipsis when cut. */
static void cut(char *out, size_t len, const char *s, int max) {
  int chars = 0;
  size_t i = 0, o = 0;
  for (; s && s[i] && o + 4 < len; i++) {
    if (((unsigned char)s[i] & 0xc0) != 0x80 && ++chars > max) break;
    out[o++] = s[i];
  }
  if (s && s[i] && o + 4 <= len) {
    memcpy(out + o, "\xe2\x80\xa6", 3);
    o += 3;
  }
  out[o] = '\0';
}

static int text_chars(const char *s) {
  int n = 0;
  for (; s && *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* The widest of n labels in characters, at most `cap`. */
static int label_chars(const char *const *labels, int n, int cap) {
  int chars = 4;
  for (int i = 0; i < n; i++) chars = chars > text_chars(labels[i]) ? chars : text_chars(labels[i]);
  return chars < cap ? chars : cap;
}

/* A row label ending at x, cut to `max` characters, centred on a row at y .. y + h. */
static void row_label(cs__buf_t *b, const char *text, int max, double x, double y, double h) {
  char lab[256];
  cut(lab, sizeof lab, text, max);
  cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", x, y + h / 2 + 4);
  cs__esc(b, lab);
  cs__put(b, "</text>\n");
}

/* Tick step of about `target` intervals over [lo, hi]: 1, 2 or 5 times a power of ten. */
static double tick_step(double lo, double hi, int target) {
  double span = hi - lo;
  if (!(span > 0)) return 1;
  double raw = span / target, p = pow(10, floor(log10(raw))), m = raw / p;
  return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

/* A tick label: shares with as many decimals as the step needs, others as cs__num. */
static void tick_label(char *out, size_t len, double v, cs__fmt_t f, double step) {
  if (f == CS__PCT) {
    int dec = step >= 0.01 ? 0 : step >= 0.001 ? 1 : 2;
    snprintf(out, len, "%.*f%%", dec, 100 * v);
  } else
    cs__num(out, len, v, f);
}

static void svg_begin(cs__buf_t *b, double w, double h, const char *title) {
  /* Wide enough for the title (13 px bold, about 8.2 px a character): a chart of few columns
   * had cut its own title. */
  const double tw = 12 + 8.2 * text_chars(title);
  w = w > tw ? w : tw;
  cs__put(b, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
             "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"", w, h, w, h);
  cs__esc(b, title);
  cs__put(b, "\" font-size=\"11\" fill=\"#1f2328\">\n");
  if (title && *title) {
    cs__put(b, "<text x=\"4\" y=\"15\" font-size=\"13\" font-weight=\"600\">");
    cs__esc(b, title);
    cs__put(b, "</text>\n");
  }
}

static void svg_end(cs__buf_t *b, const char *caption) {
  cs__put(b, "</svg>");
  if (caption && *caption) {
    cs__put(b, "<figcaption>");
    cs__esc(b, caption);
    cs__put(b, "</figcaption>");
  }
  cs__put(b, "</figure>\n");
}

static void fit(double *lo, double *hi) {
  if (!isfinite(*lo) || !isfinite(*hi)) {
    *lo = 0;
    *hi = 1;
  } else if (*hi <= *lo) {
    double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1;
    *lo -= d;
    *hi += d;
  }
}

void cs__svg_lines(cs__buf_t *b, const cs__axes_t *ax, const cs__series_t *s, int ns) {
  const double W = ax->width > 0 ? ax->width : 520, H = 290, L = 68, R = 22, T = 30, B = 44;
  double x0 = ax->xmin, x1 = ax->xmax, y0 = ax->ymin, y1 = ax->ymax;
  int fitx = isnan(x0), fity = isnan(y0);
  if (fitx) x0 = INFINITY, x1 = -INFINITY;
  if (fity) y0 = INFINITY, y1 = -INFINITY;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < s[k].n; i++) {
      if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
      if (fitx) x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
      if (fity) y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
    }
  fit(&x0, &x1);
  fit(&y0, &y1);
  if (fity) {
    if (ax->y_from_zero && y0 > 0) y0 = 0;
    double pad = (y1 - y0) * 0.06;
    y1 += pad;
    if (!(ax->y_from_zero && y0 == 0)) y0 -= pad;
  }
  if (fitx && ax->x_integer) x0 -= 0.3, x1 += 0.3;
  const double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (T + ph - ((v) - y0) / (y1 - y0) * ph)
  svg_begin(b, W, H, ax->title);
  /* grid and y ticks */
  double ys = tick_step(y0, y1, 5);
  char num[64];
  for (double t = ceil(y0 / ys - 1e-9) * ys; t <= y1 + 1e-9 * ys; t += ys) {
    double y = PY(t);
    tick_label(num, sizeof num, fabs(t) < ys * 1e-9 ? 0 : t, ax->yfmt, ys);
    cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#57606a\">%s</text>\n",
            L, W - R, y, y, L - 6, y + 4, num);
  }
  double xs = ax->x_integer ? fmax(1, ceil(tick_step(x0, x1, 8))) : tick_step(x0, x1, 6);
  for (double t = ceil(x0 / xs - 1e-9) * xs; t <= x1 + 1e-9 * xs; t += xs) {
    double x = PX(t);
    tick_label(num, sizeof num, fabs(t) < xs * 1e-9 ? 0 : t, ax->xfmt, xs);
    cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#8c959f\"/>"
               "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#57606a\">%s</text>\n",
            x, x, T + ph, T + ph + 4, x, T + ph + 16, num);
  }
  cs__put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
             "stroke=\"#8c959f\"/>\n", L, T, pw, ph);
  cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 8);
  cs__esc(b, ax->xlabel);
  cs__put(b, "</text><text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">",
          T + ph / 2);
  cs__esc(b, ax->ylabel);
  cs__put(b, "</text>\n");
  if (isfinite(ax->xmark) && ax->xmark >= x0 && ax->xmark <= x1) {
    double x = PX(ax->xmark);
    cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#cf222e\" "
               "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#cf222e\" "
               "text-anchor=\"%s\">", x, x, T, T + ph, x + (PX(x1) - x > 60 ? 4 : -4), T + 12,
            PX(x1) - x > 60 ? "start" : "end");
    cs__esc(b, ax->xmark_label);
    cs__put(b, "</text>\n");
  }
  for (int k = 0; k < ns; k++) {
    cs__put(b, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s d=\"", s[k].colour,
            s[k].dashed ? "1.2" : "2", s[k].dashed ? " stroke-dasharray=\"5 4\"" : "");
    int pen = 0;
    for (int i = 0; i < s[k].n; i++) {
      if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) {
        pen = 0;
        continue;
      }
      cs__put(b, "%s%.1f %.1f", pen ? " L" : " M", PX(s[k].x[i]), PY(s[k].y[i]));
      pen = 1;
    }
    cs__put(b, "\"/>\n");
    if (s[k].points)
      for (int i = 0; i < s[k].n; i++)
        if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]))
          cs__put(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", PX(s[k].x[i]),
                  PY(s[k].y[i]), s[k].colour);
    if (s[k].points) cs__put(b, "\n");
  }
  /* legend, top right inside the plot */
  int named = 0;
  for (int k = 0; k < ns; k++) named += s[k].name != NULL;
  if (named > 1) {
    double ly = ax->legend_low ? T + ph - 10 - 16 * (named - 1) : T + 14;
    for (int k = 0; k < ns; k++) {
      if (!s[k].name) continue;
      double lx = W - R - 10 - CHAR_W * text_chars(s[k].name) - 26;
      cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                 "stroke-width=\"2\"%s/><text x=\"%.1f\" y=\"%.1f\">", lx, lx + 18, ly - 4,
              ly - 4, s[k].colour, s[k].dashed ? " stroke-dasharray=\"5 4\"" : "", lx + 24, ly);
      cs__esc(b, s[k].name);
      cs__put(b, "</text>\n");
      ly += 16;
    }
  }
#undef PX
#undef PY
  svg_end(b, NULL);
}

void cs__svg_hbars(cs__buf_t *b, const char *title, int n, const char *const *labels,
                   const double *v, const char *const *colours, cs__fmt_t fmt,
                   const char *const *value_text) {
  const double lw = 14 + CHAR_W * label_chars(labels, n, 48), bw = 380, vw = 96, rh = 24, T = 28;
  const double W = lw + bw + vw, H = T + rh * n + 8;
  double lo = 0, hi = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
  if (hi == lo) hi = lo + 1;
  /* Room for the value labels of negative bars on the left of zero. */
  double neg = lo < 0 ? 70 : 0, x0 = lw + neg, scale = (bw - neg) / (hi - lo);
  double zero = x0 + (-lo) * scale;
  svg_begin(b, W, H, title);
  char num[64];
  for (int i = 0; i < n; i++) {
    double y = T + rh * i;
    row_label(b, labels[i], 48, lw - 8, y, rh);
    if (value_text)
      snprintf(num, sizeof num, "%s", value_text[i]);
    else
      cs__num(num, sizeof num, v[i], fmt);
    if (isfinite(v[i])) {
      double x = v[i] >= 0 ? zero : zero + v[i] * scale, w = fabs(v[i]) * scale;
      cs__put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" "
                 "fill=\"%s\"/>", x, y + 4, w < 0.5 ? 0.5 : w, rh - 8, colours[i]);
      cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"#3d4b61\">",
              v[i] >= 0 ? x + w + 5 : x - 5, y + rh / 2 + 4, v[i] >= 0 ? "start" : "end");
      cs__esc(b, num);
      cs__put(b, "</text>\n");
    } else {
      cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#8c959f\">no value</text>\n",
              zero + 5, y + rh / 2 + 4);
    }
  }
  cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n",
          zero, zero, T, T + rh * n);
  svg_end(b, NULL);
}

void cs__svg_heatmap(cs__buf_t *b, const char *title, int rows, int cols, const double *v,
                     const char *const *row_labels, const char *const *col_labels,
                     double limit, const char *unit) {
  int rc = label_chars(row_labels, rows, 32), cc = label_chars(col_labels, cols, 24);
  const double cw = 42, ch = 28, lw = 12 + CHAR_W * rc;
  const double top = 30 + CHAR_W * cc * 0.71 + 10; /* column labels at -45 degrees */
  /* Wide enough for the colour legend and its caption too (they had been cut off, with the
   * scale unreadable, below a grid of two or three features). */
  const int caption_chars = (int)strlen(unit) + 32; /* "UNIT (colours clamped at +-2.0)" */
  const double grid_w = lw + cw * cols + 24 + CHAR_W * cc * 0.71 + 70;
  const double legend_w = lw + 220 + 14 + CHAR_W * caption_chars + 10;
  const double W = grid_w > legend_w ? grid_w : legend_w, H = top + ch * rows + 44;
  svg_begin(b, W, H, title);
  char lab[160], colour[8], num[32];
  for (int j = 0; j < cols; j++) {
    double x = lw + cw * j + cw / 2;
    cut(lab, sizeof lab, col_labels[j], 24);
    cs__put(b, "<text transform=\"translate(%.1f %.1f) rotate(-45)\">", x, top - 6);
    cs__esc(b, lab);
    cs__put(b, "</text>\n");
  }
  for (int i = 0; i < rows; i++) {
    double y = top + ch * i;
    row_label(b, row_labels[i], 32, lw - 8, y, ch);
    for (int j = 0; j < cols; j++) {
      double z = v[(size_t)i * cols + j];
      cs__diverging(z / limit, colour);
      /* A value that rounds to zero has no sign ("-0.00" in a cell of a near-average centre). */
      snprintf(num, sizeof num, isfinite(z) ? "%.2f" : "\xe2\x80\x93", fabs(z) < 0.005 ? 0.0 : z);
      cs__put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                 "stroke=\"#fff\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                 "font-size=\"10\" fill=\"%s\">%s</text>\n",
              lw + cw * j, y, cw, ch, colour, lw + cw * j + cw / 2, y + ch / 2 + 3.5,
              isfinite(z) && fabs(z) / limit > 0.55 ? "#ffffff" : "#1f2328", num);
    }
  }
  /* colour legend below the cells */
  double ly = top + ch * rows + 14, lx = lw, lwid = 220;
  cs__put(b, "<defs><linearGradient id=\"hm-scale\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">");
  for (int s = 0; s <= 4; s++) {
    cs__diverging(-1 + s * 0.5, colour);
    cs__put(b, "<stop offset=\"%d%%\" stop-color=\"%s\"/>", s * 25, colour);
  }
  cs__put(b, "</linearGradient></defs><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" "
             "fill=\"url(#hm-scale)\" stroke=\"#8c959f\" stroke-width=\"0.5\"/>"
             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#57606a\">&#8722;%.1f</text>"
             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#57606a\">0</text>"
             "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#57606a\">+%.1f</text>"
             "<text x=\"%.1f\" y=\"%.1f\" fill=\"#57606a\">",
          lx, ly, lwid, lx, ly + 22, limit, lx + lwid / 2, ly + 22, lx + lwid, ly + 22, limit,
          lx + lwid + 14, ly + 9);
  cs__esc(b, unit);
  cs__put(b, " (colours clamped at &#177;%.1f)</text>\n", limit);
  svg_end(b, NULL);
}

void cs__svg_boxes(cs__buf_t *b, const char *title, const char *xlabel, int groups,
                   const char *const *labels, const char *const *colours, const double *q,
                   const int64_t *c, int nb, double lo, double hi) {
  const double lw = 14 + CHAR_W * label_chars(labels, groups, 48), aw = 600, rh = 40, T = 28;
  /* Wide enough for the axis caption, which starts at the left edge when wider than the axis
   * (centred on it, a 150-character caption had been cut at both ends). */
  const double cap = CHAR_W * text_chars(xlabel), cap_x = cap < aw ? lw + aw / 2 : 12;
  const double W = fmax(lw + aw + 24, cap < aw ? 0 : cap_x + cap + 12), H = T + rh * groups + 40;
  double l0 = log10(lo), l1 = log10(hi);
  if (!(l1 > l0)) l1 = l0 + 1;
#define PX(v) (lw + (log10(v) - l0) / (l1 - l0) * aw)
  svg_begin(b, W, H, title);
  /* decade grid with labels at 1, 10, 100, ...; 2 and 5 too when the range is short */
  char num[64];
  for (int e = (int)floor(l0); e <= (int)ceil(l1); e++)
    for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
      double t = m * pow(10, e);
      if (t < lo * 0.999 || t > hi * 1.001 || (m > 1 && l1 - l0 > 3)) continue;
      double x = PX(t);
      cs__num(num, sizeof num, t, CS__G);
      cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>"
                 "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#57606a\">%s</text>\n",
              x, x, T, T + rh * groups, x, T + rh * groups + 14, num);
    }
  cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", cap_x, H - 8,
          cap < aw ? "middle" : "start");
  cs__esc(b, xlabel);
  cs__put(b, "</text>\n");
  for (int g = 0; g < groups; g++) {
    double y = T + rh * g, base = y + rh - 4;
    row_label(b, labels[g], 48, lw - 8, y, rh);
    int64_t top = 0;
    for (int j = 0; j < nb; j++) top = top > c[(size_t)g * nb + j] ? top : c[(size_t)g * nb + j];
    if (top > 0) {
      cs__put(b, "<path fill=\"%s\" fill-opacity=\"0.28\" d=\"M%.1f %.1f", colours[g], lw, base);
      for (int j = 0; j < nb; j++) {
        /* Square-root heights, so the tails stay visible beside a tall mode. */
        double h = (rh - 8) * sqrt((double)c[(size_t)g * nb + j] / (double)top);
        cs__put(b, " L%.1f %.1f L%.1f %.1f", lw + aw * j / nb, base - h, lw + aw * (j + 1) / nb,
                base - h);
      }
      cs__put(b, " L%.1f %.1f Z\"/>\n", lw + aw, base);
    }
    const double *p = q + 5 * g;
    /* The values at or below the axis' start (CLV 0) are drawn at its start: a segment whose
     * lower quartiles were 0 had got no box at all. */
    /* A row without a mark says why: no values at all, or every value 0 (below a logarithmic
     * axis; such a segment's row had been left blank). */
    if (top == 0 && (!isfinite(p[2]) || !(p[4] > 0)))
      cs__put(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#57606a\">%s</text>\n", lw + 6,
              y + rh / 2 + 4, isfinite(p[2]) ? "all 0" : "no values");
    if (isfinite(p[0]) && isfinite(p[4]) && p[4] > 0) {
      double cy = y + rh / 2, bh = 12;
      double xs[5];
      for (int i = 0; i < 5; i++) xs[i] = PX(fmax(p[i], lo));
      cs__put(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#3d4b61\"/>"
                 "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#3d4b61\"/>"
                 "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#3d4b61\"/>"
                 "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#3d4b61\"/>\n",
              xs[0], xs[1], cy, cy, xs[3], xs[4], cy, cy, xs[0], xs[0], cy - 4, cy + 4, xs[4],
              xs[4], cy - 4, cy + 4);
      cs__put(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                 "fill-opacity=\"0.75\" stroke=\"#3d4b61\"/><line x1=\"%.1f\" x2=\"%.1f\" "
                 "y1=\"%.1f\" y2=\"%.1f\" stroke=\"#1f2328\" stroke-width=\"2\"/>\n",
              xs[1], cy - bh / 2, fmax(xs[3] - xs[1], 1), bh, colours[g], xs[2], xs[2],
              cy - bh / 2 - 2, cy + bh / 2 + 2);
    }
  }
#undef PX
  svg_end(b, NULL);
}
