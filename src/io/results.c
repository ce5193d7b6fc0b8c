/* io/results.c: small readers of results files for the report, and publishing a text file.
 *
 * Everything here is read by rank 0 with the serial HDF5 driver and broadcast, because the
 * objects are small (attributes, K x D tables, a compound table of K + 2 rows); per-customer
 * datasets go through the row readers of store_read.c and small.c instead. Trade-off:
 * attributes are handed over as text (numbers printed with 17 significant digits, so they parse back to
 * the same double), which keeps one broadcast format for every attribute type at the cost of
 * a strtod where a caller wants the number. */
#include "h5util.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rank 0: open `path` read-only with the serial driver, with the error a reader expects. */
static int open_serial(const char *path, hid_t *f) { return cs__h5_open_ro(path, f); }

/* Whether every component of the absolute path `object` exists (H5Lexists needs the
 * parents to exist). Rank 0. */
static int exists_path(hid_t f, const char *object) {
  char part[1024];
  size_t n = strlen(object);
  if (n >= sizeof part) return 0;
  for (size_t i = 1; i <= n; i++)
    if (object[i] == '/' || object[i] == '\0') {
      memcpy(part, object, i);
      part[i] = '\0';
      if (H5Lexists(f, part, H5P_DEFAULT) <= 0) return 0;
    }
  return 1;
}

/* Broadcast a malloc'ed buffer of `len` bytes from rank 0 (allocated on the others). */
static int bcast_buffer(cs_ctx_t *ctx, void **buf, int64_t *len) {
  int status = CS_OK;
  CS_TRY(cs_par_bcast(ctx, len, sizeof *len, 0));
  if (ctx->rank != 0) *buf = calloc(1, (size_t)*len + 1);
  CS_TRY(cs_par_agree(ctx, *buf ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                       "out of memory")));
  CS_TRY(cs_par_bcast(ctx, *buf, (size_t)*len, 0));
fail:
  return status;
}

int cs_io_object_exists(cs_ctx_t *ctx, const char *path, const char *object, int *exists) {
  int status = CS_OK;
  int64_t yes = 0;
  cs__h5_quiet();
  if (ctx->rank == 0) {
    hid_t f;
    status = open_serial(path, &f);
    if (status == CS_OK) yes = exists_path(f, object);
    if (f >= 0) H5Fclose(f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_bcast(ctx, &yes, sizeof yes, 0));
  *exists = (int)yes;
fail:
  return status;
}

/* ---- attributes as text ------------------------------------------------------------------- */
typedef struct attr_text {
  char *buf; /* name \x1e value \x1f name \x1e value ... */
  size_t len, cap;
  int oom;
} attr_text_t;

static void put(attr_text_t *t, const char *s, size_t n) {
  if (t->oom) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = (t->cap ? t->cap : 4096);
    while (cap < t->len + n + 1) cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
      t->oom = 1;
      return;
    }
    t->buf = b;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

/* One attribute's value as text: numbers with %lld or %.17g, strings as they are, arrays
 * joined by ", "; other types by their class. Rank 0. */
static void attr_value(hid_t a, attr_text_t *t) {
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  H5T_class_t cls = H5Tget_class(ft);
  char num[64];
  if (n < 0 || n > 100000) {
    put(t, "(too large)", 11);
  } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
    int is_int = cls == H5T_INTEGER;
    void *v = malloc((size_t)(n ? n : 1) * 8);
    if (v && H5Aread(a, is_int ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE, v) >= 0)
      for (hssize_t i = 0; i < n; i++) {
        int len = is_int ? snprintf(num, sizeof num, "%s%lld", i ? ", " : "", ((long long *)v)[i])
                         : snprintf(num, sizeof num, "%s%.17g", i ? ", " : "", ((double *)v)[i]);
        put(t, num, (size_t)len);
      }
    free(v);
  } else if (cls == H5T_STRING) {
    hid_t mt = H5Tcopy(ft);
    if (H5Tis_variable_str(ft) > 0) {
      char **v = calloc((size_t)(n ? n : 1), sizeof *v);
      if (v && H5Aread(a, mt, v) >= 0) {
        for (hssize_t i = 0; i < n; i++) {
          if (i) put(t, ", ", 2);
          if (v[i]) put(t, v[i], strlen(v[i]));
        }
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
      }
      free(v);
    } else {
      size_t sz = H5Tget_size(ft);
      char *v = calloc((size_t)(n ? n : 1), sz + 1);
      if (v && H5Aread(a, mt, v) >= 0)
        for (hssize_t i = 0; i < n; i++) {
          if (i) put(t, ", ", 2);
          put(t, v + i * sz, strnlen(v + i * sz, sz));
        }
      free(v);
    }
    H5Tclose(mt);
  } else {
    put(t, "(not a number or text)", 22);
  }
  H5Sclose(sp);
  H5Tclose(ft);
}

static herr_t attr_cb(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  attr_text_t *t = data;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return 0;
  if (t->len) put(t, "\x1f", 1);
  put(t, name, strlen(name));
  put(t, "\x1e", 1);
  attr_value(a, t);
  H5Aclose(a);
  return 0;
}

int cs_io_read_attrs(cs_ctx_t *ctx, const char *path, const char *object, cs_io_attrs_t *out) {
  int status = CS_OK;
  attr_text_t t = {0};
  int64_t len = 0;
  memset(out, 0, sizeof *out);
  cs__h5_quiet();
  if (ctx->rank == 0) {
    hid_t f, o = -1;
    status = open_serial(path, &f);
    if (status == CS_OK && (!exists_path(f, object) || (o = H5Oopen(f, object, H5P_DEFAULT)) < 0))
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s: no object %s", path, object);
    if (status == CS_OK) {
      hsize_t idx = 0;
      put(&t, "", 0);
      H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &t);
      if (t.oom) status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
      len = (int64_t)t.len;
    }
    if (o >= 0) H5Oclose(o);
    if (f >= 0) H5Fclose(f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(bcast_buffer(ctx, (void **)&t.buf, &len));
  /* Split into the name and value arrays (the text holds no \x1e or \x1f of its own:
   * HDF5 names and the values custseg writes are printable). */
  int n = len ? 1 : 0;
  for (int64_t i = 0; i < len; i++) n += t.buf[i] == '\x1f';
  out->name = calloc((size_t)(n ? n : 1), sizeof *out->name);
  out->value = calloc((size_t)(n ? n : 1), sizeof *out->value);
  CS_TRY(cs_par_agree(ctx, out->name && out->value ? CS_OK
                                                    : cs_error_set(CS_ENOMEM, __FILE__, __LINE__,
                                                                   "out of memory")));
  char *p = t.buf;
  for (int i = 0; i < n; i++) {
    char *e = strchr(p, '\x1f'), *s;
    if (e) *e = '\0';
    s = strchr(p, '\x1e');
    if (s) *s = '\0';
    out->name[i] = strdup(p);
    out->value[i] = strdup(s ? s + 1 : "");
    CS_TRY(cs_par_agree(ctx, out->name[i] && out->value[i]
                                 ? CS_OK
                                 : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
    out->n = i + 1;
    p = e ? e + 1 : p + strlen(p);
  }
fail:
  free(t.buf);
  if (status < 0) cs_io_free_attrs(out);
  return status;
}

const char *cs_io_attr(const cs_io_attrs_t *a, const char *name) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->name[i], name)) return a->value[i];
  return NULL;
}

void cs_io_free_attrs(cs_io_attrs_t *a) {
  for (int i = 0; i < a->n; i++) {
    free(a->name[i]);
    free(a->value[i]);
  }
  free(a->name);
  free(a->value);
  memset(a, 0, sizeof *a);
}

/* ---- compound tables ---------------------------------------------------------------------- */
int cs_io_read_table_f64(cs_ctx_t *ctx, const char *path, const char *dataset,
                         const char *const *fields, int n_fields, double **data, int64_t *rows,
                         int *present) {
  int status = CS_OK;
  int64_t meta[2] = {0, 0}; /* rows, bitmask of the fields found (n_fields <= 63) */
  *data = NULL;
  *rows = 0;
  cs__h5_quiet();
  CS_CHECK(n_fields >= 1 && n_fields <= 63, CS_EINTERNAL, "table read of %d fields", n_fields);
  if (ctx->rank == 0) {
    hid_t f, d = -1, ft = -1, mt = -1, sp = -1;
    status = open_serial(path, &f);
    if (status == CS_OK &&
        (!exists_path(f, dataset) || (d = H5Dopen2(f, dataset, H5P_DEFAULT)) < 0))
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s: no dataset %s", path, dataset);
    if (status == CS_OK) {
      ft = H5Dget_type(d);
      sp = H5Dget_space(d);
      hsize_t dim = 0;
      if (H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(sp) != 1)
        status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                              "%s:%s must be a 1-D compound dataset (a table)", path, dataset);
      else {
        H5Sget_simple_extent_dims(sp, &dim, NULL);
        meta[0] = (int64_t)dim;
        /* A memory type of the wanted fields that the file has, each as a double at 8 j:
         * HDF5 matches members by name and converts integers on the way. */
        mt = H5Tcreate(H5T_COMPOUND, (size_t)n_fields * sizeof(double));
        for (int j = 0; j < n_fields; j++) {
          int m = H5Tget_member_index(ft, fields[j]);
          hid_t mtype = m >= 0 ? H5Tget_member_type(ft, (unsigned)m) : -1;
          H5T_class_t c = mtype >= 0 ? H5Tget_class(mtype) : H5T_NO_CLASS;
          if (mtype >= 0) H5Tclose(mtype);
          if (c == H5T_INTEGER || c == H5T_FLOAT) {
            H5Tinsert(mt, fields[j], (size_t)j * sizeof(double), H5T_NATIVE_DOUBLE);
            meta[1] |= (int64_t)1 << j;
          }
        }
        *data = malloc(cs_bytes(meta[0] ? meta[0] * n_fields : 1, sizeof **data));
        if (!*data)
          status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
        else {
          for (int64_t i = 0; i < meta[0] * n_fields; i++) (*data)[i] = NAN;
          if (meta[1] && meta[0] && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
            status = cs_error_set(CS_EIO, __FILE__, __LINE__, "%s: cannot read %s", path,
                                  dataset);
        }
      }
    }
    CS_H5_CLOSE(H5Tclose, mt);
    CS_H5_CLOSE(H5Tclose, ft);
    CS_H5_CLOSE(H5Sclose, sp);
    CS_H5_CLOSE(H5Dclose, d);
    CS_H5_CLOSE(H5Fclose, f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_bcast(ctx, meta, sizeof meta, 0));
  int64_t bytes = (int64_t)cs_bytes(meta[0] * n_fields, sizeof(double));
  CS_TRY(bcast_buffer(ctx, (void **)data, &bytes));
  *rows = meta[0];
  for (int j = 0; j < n_fields; j++) present[j] = (int)((meta[1] >> j) & 1);
fail:
  if (status < 0) {
    free(*data);
    *data = NULL;
  }
  return status;
}

/* ---- text outputs ------------------------------------------------------------------------- */
int cs_io_publish_text(cs_ctx_t *ctx, const char *path, const char *text, size_t len,
                       const char *what) {
  int status = CS_OK;
  char bak[4200] = "";
  if (ctx->rank == 0) {
    char a[4096], b[4096], tmp[8300];
    snprintf(a, sizeof a, "%s", path);
    snprintf(b, sizeof b, "%s", path);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dirname(a), basename(b), (long)getpid());
    cs_signal_remove_on_exit(tmp, 1); /* Ctrl-C while writing leaves nothing */
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || cs_signal_rename(tmp, path, 0, bak, sizeof bak) != 0) {
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "cannot write %s '%s': %s", what,
                            path, strerror(errno));
      unlink(tmp);
    }
    cs_signal_remove_on_exit(tmp, 0);
  }
  status = cs_par_agree(ctx, status);
  if (status == CS_OK) status = cs_par_bcast(ctx, bak, sizeof bak, 0);
  if (status == CS_OK && ctx->rank != 0) cs_signal_published_elsewhere("", path, bak);
  return status;
}
