/* io/small.c: readers of objects in HDF5 files other than the store (results files, init
 * centroids): row ranges of a per-customer dataset (`cs_io_read_rows`, `cs_io_read_rows_f64`:
 * each rank its rows without MPI-IO, as the store's columns are read), a dataset's
 * length, and, on rank 0 with a broadcast, a K x D matrix with its units and feature names and
 * string attributes. The report's attribute dumps and tables are in results.c.
 *
 * Trade-off: the small objects are read by one rank and broadcast, so every rank gets the same
 * bytes with one reader, at the cost of rank 0 holding the whole object. */
#include "h5util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small matrices ------------------------------------------------------------------------ */
static int read_str_attr_sep(hid_t obj, const char *name, char *out, size_t len, int join,
                             char sep) {
  out[0] = '\0';
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  int bad = !(H5Tget_class(t) == H5T_STRING && n == 0); /* until text is read (none: empty) */
  if (H5Tget_class(t) == H5T_STRING && n > 0 && n < 100000) {
    /* Read in the file's own string type (same character set and padding): HDF5 does not
     * convert between ASCII and UTF-8, and a null-terminated memory type of the same size
     * would cut the last character of a full fixed-length string. */
    hid_t mt = H5Tcopy(t);
    if (H5Tis_variable_str(t) > 0) {
      char **v = calloc((size_t)n, sizeof *v);
      if (v && H5Aread(a, mt, v) >= 0) {
        bad = 0;
        for (hssize_t i = 0; i < n && (join || i == 0); i++) {
          size_t used = strlen(out);
          snprintf(out + used, len - used, "%s%s", i ? (char[]){sep, 0} : "", v[i] ? v[i] : "");
        }
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
      }
      free(v);
    } else {
      size_t sz = H5Tget_size(t);
      char *v = calloc((size_t)n, sz + 1);
      if (v && H5Aread(a, mt, v) >= 0) {
        bad = 0;
        for (hssize_t i = 0; i < n && (join || i == 0); i++) {
          size_t used = strlen(out);
          snprintf(out + used, len - used, "%s%.*s", i ? (char[]){sep, 0} : "", (int)sz,
                   v + i * sz);
        }
      }
      free(v);
    }
    H5Tclose(mt);
  }
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return bad;
}

/* An attribute that is there but not text is a damaged or foreign file, not an absent one:
 * an integer verification hash had been read as no hash, and only warned of. */
static int not_text(const char *path, const char *object, const char *name) {
  return cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                      "%s: attribute %s@%s is not text (a damaged file, or one another tool wrote "
                      "differently)", path, object, name);
}

static int read_str_attr(hid_t obj, const char *name, char *out, size_t len, int join) {
  return read_str_attr_sep(obj, name, out, len, join, ',');
}

/* Open path:dataset in f, or record why not: absent, or present but not readable (a damaged
 * file: HDF5 checks its metadata checksums). */
static hid_t open_dataset(hid_t f, const char *path, const char *dataset, int *status) {
  hid_t d = -1;
  if (H5Lexists(f, dataset, H5P_DEFAULT) <= 0)
    *status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s: no dataset %s", path, dataset);
  else if ((d = H5Dopen2(f, dataset, H5P_DEFAULT)) < 0)
    *status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                           "%s: dataset %s cannot be read (a damaged or truncated file?)", path,
                           dataset);
  return d;
}

/* Rows [offset, offset + count) of the 1-D dataset path:dataset, which must have n_expected
 * rows: as int64 (an integer dataset) when i64 is set, else as doubles (any numeric type).
 * Read in the file's own type, then converted (docs/format.md), each rank its rows on its own
 * without MPI-IO (rows.c says why); the call is collective (open, agreement). */
static int read_rows_as(cs_ctx_t *ctx, const char *path, const char *dataset, int64_t n_expected,
                        int64_t offset, int64_t count, int i64, void *buf) {
  int status = CS_OK, local = CS_OK;
  hid_t fapl = -1, f = -1, d = -1, fs = -1, sf = -1;
  int fd = -1;
  cs_dtype_t ft = CS_DT_NONE;
  void *tmp = NULL;
  cs__h5_quiet();
  if (access(path, R_OK) != 0)
    local = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot open '%s': %s", path,
                         strerror(errno));
  else if (H5Fis_hdf5(path) <= 0)
    local = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "'%s' is not an HDF5 file", path);
  else if (ctx->rank == 0)
    local = cs__h5_check_closed(path);
  CS_TRY(cs_par_agree(ctx, local));
  fapl = cs__h5_fapl(ctx);
  CS_H5(fapl, "cannot set up MPI-IO access for '%s'", path);
  /* The rows are read from a descriptor opened before the MPI-IO open (rows.c); its result
   * is agreed with the dataset's checks below. */
  int rows = cs__rows_open(path, &fd);
  f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  CS_H5(f, "cannot open '%s' as HDF5 through MPI-IO", path);
  if (rows == CS_OK) rows = cs__rows_check(path, fd);
  /* Opened on every rank (its metadata is read collectively), checked where rows is OK. */
  if ((d = open_dataset(f, path, dataset, &local)) >= 0 && rows == CS_OK) {
    fs = H5Dget_space(d);
    hsize_t dim = 0;
    char desc[48];
    hid_t t = H5Dget_type(d);
    const H5T_class_t cls = H5Tget_class(t);
    ft = cs__h5_dtype_of(t, desc, sizeof desc);
    H5Tclose(t);
    const int rank1 = H5Sget_simple_extent_ndims(fs) == 1;
    if (i64 && (!rank1 || cls != H5T_INTEGER))
      local = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s:%s must be a 1-D integer dataset",
                           path, dataset);
    else if (!rank1 || ft == CS_DT_NONE)
      local = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                           "%s:%s must be a 1-D numeric dataset, found %s", path, dataset, desc);
    else if (H5Sget_simple_extent_dims(fs, &dim, NULL), (int64_t)dim != n_expected)
      local = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                           "%s:%s has %lld rows but the store has %lld customers", path, dataset,
                           (long long)dim, (long long)n_expected);
    else if (!(tmp = malloc(cs_bytes(count ? count : 1, cs_dtype_size(ft)))))
      local = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  if (rows != CS_OK) local = rows;
  /* Every rank knows the verdict before the read. */
  CS_TRY(cs_par_agree(ctx, local));
  /* A dataset of 0 rows has nothing to read, and HDF5 refuses a read of one that has no
   * storage (the same n_expected on every rank, so all skip together). */
  if (n_expected == 0) goto fail;
  int got = cs__h5_read_direct(fd, path, f, d, cs__h5_native(ft), offset, count, tmp, dataset);
  CS_TRY(got < 0 ? got : CS_OK);
  if (!got) CS_TRY(cs__h5_serial_open(path, fd, &sf));
  if (!got)
    CS_TRY(cs__h5_read_serial(sf, path, dataset, cs__h5_native(ft), offset, count, tmp, ""));
  if (!i64) {
    cs_convert_to_f64(ft, tmp, buf, count);
  } else {
    for (int64_t i = 0; ft == CS_DT_U64 && i < count; i++)
      CS_CHECK(((const uint64_t *)tmp)[i] <= (uint64_t)INT64_MAX, CS_EDATA,
               "%s:%s holds %llu at row %lld, beyond the int64 range custseg keeps it in", path,
               dataset, (unsigned long long)((const uint64_t *)tmp)[i], (long long)(offset + i));
    cs_convert_to_i64(ft, tmp, buf, count);
  }
fail:
  free(tmp);
  CS_H5_CLOSE(H5Sclose, fs);
  CS_H5_CLOSE(H5Dclose, d);
  CS_H5_CLOSE(H5Fclose, f);
  CS_H5_CLOSE(H5Fclose, sf);
  CS_H5_CLOSE(H5Pclose, fapl);
  if (fd >= 0) close(fd);
  return cs_par_agree(ctx, status);
}

int cs_io_read_rows(cs_ctx_t *ctx, const char *path, const char *dataset, int64_t n_expected,
                    int64_t offset, int64_t count, int64_t *buf) {
  return read_rows_as(ctx, path, dataset, n_expected, offset, count, 1, buf);
}

int cs_io_dataset_length(cs_ctx_t *ctx, const char *path, const char *dataset, int64_t *n) {
  int status = CS_OK;
  int64_t len = -1;
  cs__h5_quiet();
  if (ctx->rank == 0) {
    hid_t f = -1, d = -1, sp = -1;
    if ((status = cs__h5_open_ro(path, &f)) < 0)
      ;
    else if (H5Lexists(f, dataset, H5P_DEFAULT) > 0 && (d = open_dataset(f, path, dataset, &status)) >= 0) {
      hsize_t dim = 0;
      sp = H5Dget_space(d);
      if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1)
        status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s:%s must be a 1-D dataset",
                              path, dataset);
      else if (H5Sget_simple_extent_dims(sp, &dim, NULL) == 1)
        len = (int64_t)dim;
    }
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_bcast(ctx, &len, sizeof len, 0));
  *n = len;
fail:
  return status;
}

int cs_io_read_rows_f64(cs_ctx_t *ctx, const char *path, const char *dataset,
                        int64_t n_expected, int64_t offset, int64_t count, double *buf) {
  return read_rows_as(ctx, path, dataset, n_expected, offset, count, 0, buf);
}

int cs_io_read_matrix(cs_ctx_t *ctx, const char *path, const char *dataset, double **data,
                      int64_t *rows, int64_t *cols, char *units, size_t units_len,
                      char *features, size_t features_len) {
  int status = CS_OK;
  int64_t dims[2] = {0, 0};
  *data = NULL;
  units[0] = features[0] = '\0';
  cs__h5_quiet();
  if (ctx->rank == 0) {
    hid_t f = -1, d = -1, sp = -1;
    if ((status = cs__h5_open_ro(path, &f)) < 0)
      ;
    else if ((d = open_dataset(f, path, dataset, &status)) >= 0) {
      sp = H5Dget_space(d);
      hsize_t hd[2] = {0, 1};
      int nd = H5Sget_simple_extent_ndims(sp);
      hid_t ft = H5Dget_type(d);
      H5T_class_t cls = H5Tget_class(ft);
      H5Tclose(ft);
      if ((nd != 1 && nd != 2) || (cls != H5T_FLOAT && cls != H5T_INTEGER))
        status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                              "%s:%s must be a 1-D or 2-D numeric dataset", path, dataset);
      else {
        H5Sget_simple_extent_dims(sp, hd, NULL);
        dims[0] = (int64_t)hd[0];
        dims[1] = nd == 2 ? (int64_t)hd[1] : 1;
        *data = malloc((size_t)(dims[0] * dims[1] + 1) * sizeof **data);
        if (!*data || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
          status = cs_error_set(CS_EIO, __FILE__, __LINE__, "%s: cannot read %s", path, dataset);
        for (int k = 0; k < 2 && status == CS_OK; k++)
          if (read_str_attr(d, k ? "features" : "units", k ? features : units,
                            k ? features_len : units_len, k))
            status = not_text(path, dataset, k ? "features" : "units");
      }
    }
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_bcast(ctx, dims, sizeof dims, 0));
  if (ctx->rank != 0) *data = malloc((size_t)(dims[0] * dims[1] + 1) * sizeof **data);
  CS_TRY(cs_par_agree(ctx, *data ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs_par_bcast(ctx, *data, (size_t)(dims[0] * dims[1]) * sizeof **data, 0));
  CS_TRY(cs_par_bcast(ctx, units, units_len, 0));
  CS_TRY(cs_par_bcast(ctx, features, features_len, 0));
  *rows = dims[0];
  *cols = dims[1];
fail:
  if (status < 0) {
    free(*data);
    *data = NULL;
  }
  return status;
}

/* ---- attributes of small objects --------------------------------------------------------- */
/* Rank 0 reads the attribute as one '\x1f'-separated text; everyone gets it. */
static int read_attr_joined(cs_ctx_t *ctx, const char *path, const char *object,
                            const char *name, char **text) {
  int status = CS_OK;
  int64_t len = 0;
  char *buf = NULL;
  *text = NULL;
  cs__h5_quiet();
  if (ctx->rank == 0) {
    hid_t f = -1, o = -1;
    if ((status = cs__h5_open_ro(path, &f)) < 0)
      ;
    else if (H5Lexists(f, object, H5P_DEFAULT) <= 0 || (o = H5Oopen(f, object, H5P_DEFAULT)) < 0)
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s: no object %s", path, object);
    else {
      buf = calloc(1, 1 << 20);
      if (!buf)
        status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
      else {
        if (read_str_attr_sep(o, name, buf, 1 << 20, 1, '\x1f'))
          status = not_text(path, object, name);
        len = (int64_t)strlen(buf) + 1;
      }
    }
    if (o >= 0) H5Oclose(o);
    if (f >= 0) H5Fclose(f);
  }
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_bcast(ctx, &len, sizeof len, 0));
  if (ctx->rank != 0) buf = calloc(1, (size_t)len);
  CS_TRY(cs_par_agree(ctx, buf ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory")));
  CS_TRY(cs_par_bcast(ctx, buf, (size_t)len, 0));
  *text = buf;
  buf = NULL;
fail:
  free(buf);
  return status;
}

int cs_io_read_attr_list(cs_ctx_t *ctx, const char *path, const char *object, const char *name,
                         char **joined) {
  return read_attr_joined(ctx, path, object, name, joined); /* joined by CS_LIST_SEP */
}

int cs_io_read_attr_str(cs_ctx_t *ctx, const char *path, const char *object, const char *name,
                        char *out, size_t len) {
  char *text = NULL;
  int status = read_attr_joined(ctx, path, object, name, &text);
  if (status == CS_OK) snprintf(out, len, "%s", text);
  free(text);
  return status;
}

void cs_io_free_strings(char **items, int n) {
  for (int i = 0; items && i < n; i++) free(items[i]);
  free(items);
}

int cs_io_read_attr_strings(cs_ctx_t *ctx, const char *path, const char *object,
                            const char *name, char ***items, int *n) {
  char *text = NULL;
  *items = NULL;
  *n = 0;
  int status = read_attr_joined(ctx, path, object, name, &text);
  if (status < 0 || !text[0]) {
    free(text);
    return status;
  }
  int count = 1;
  for (const char *p = text; *p; p++) count += *p == '\x1f';
  char **v = calloc((size_t)count, sizeof *v);
  char *p = text;
  for (int i = 0; v && i < count; i++) {
    char *e = strchr(p, '\x1f');
    if (e) *e = '\0';
    v[i] = strdup(p);
    p = e ? e + 1 : p + strlen(p);
  }
  free(text);
  if (!v) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  *items = v;
  *n = count;
  return CS_OK;
}
