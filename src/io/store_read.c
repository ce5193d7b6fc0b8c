/* io/store_read.c: reading rows of the store's columns (store.c opens and validates it).
 *
 * Every rank reads its own rows, never through MPI-IO (io/rows.c says why): a contiguous
 * column in the native byte order with pread(2) from the descriptor the store handle keeps,
 * any other through a serial handle on the same file, opened at its first use. The metadata
 * (the dataset's header, its attributes) is read through the MPI-IO handle, collectively.
 *
 * Trade-off: columns are read in the file's own type and converted in memory: the read cache
 * keeps rows in their stored type (an int8 column costs 1 byte a row), and convert_rows
 * refuses uint64 values beyond int64 by name, where HDF5 would saturate them silently; the
 * direct read needs the file's own type anyway. */
#include "h5util.h"
#include "store_cache.h"
#include "store_impl.h"

#include <stdlib.h>
#include <string.h>

/* The layout of a dataset: chunked or not. A filter this library lacks (h5py's
 * lzf, say) and a virtual dataset are refused by name. Local. */
static int check_layout(const cs_store_t *s, hid_t dset, const char *gname, const char *name,
                        int *chunked) {
  int status = CS_OK;
  hid_t dcpl = H5Dget_create_plist(dset);
  CS_H5(dcpl, "%s: /%s/%s: no creation properties", s->path, gname, name);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  CS_CHECK(layout != H5D_VIRTUAL, CS_EFORMAT,
           "%s: /%s/%s is a virtual dataset, which parallel HDF5 cannot read; store the "
           "file's datasets as plain ones (h5repack -l CONTI IN OUT: the form naming one "
           "dataset crashes HDF5 1.10's h5repack on a virtual one)", s->path, gname, name);
  int nf = H5Pget_nfilters(dcpl);
  for (int i = 0; i < nf; i++) {
    unsigned flags = 0, config = 0;
    size_t nelm = 0;
    char fname[64] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelm, NULL, sizeof fname, fname,
                                     &config);
    CS_CHECK(id >= 0 && H5Zfilter_avail(id) > 0, CS_EFORMAT,
             "%s: /%s/%s is stored with HDF5 filter %d ('%s'), which this HDF5 library does not "
             "have; rewrite the file without it (h5repack -f NONE IN OUT, or gzip)", s->path,
             gname, name, (int)id, fname);
  }
  *chunked = layout == H5D_CHUNKED;
fail:
  CS_H5_CLOSE(H5Pclose, dcpl);
  return status;
}

/* What one read needs: the dataset (opened once), its layout (check_layout) and the memory
 * type, which is the file type made native (same class, size and sign), so the read needs no
 * conversion; an enum stays an enum and its bytes are its integers. Handles it made are left
 * for the caller to close. Local. */
static int prepare(const cs_store_t *s, hid_t group, hid_t *dset, const char *gname,
                   const char *name, hid_t *ftype, hid_t *mtype, int *chunked) {
  int status = CS_OK;
  if (*dset < 0) {
    *dset = cs__h5_open_dataset(group, name);
    CS_H5(*dset, "%s: cannot open /%s/%s", s->path, gname, name);
  }
  CS_TRY(check_layout(s, *dset, gname, name, chunked));
  *ftype = H5Dget_type(*dset);
  CS_H5(*ftype, "%s: /%s/%s: no datatype", s->path, gname, name);
  *mtype = H5Tget_native_type(*ftype, H5T_DIR_ASCEND);
  CS_H5(*mtype, "%s: /%s/%s: no native type", s->path, gname, name);
fail:
  return status;
}

/* Rows in the column's stored type (src) to memtype (buf: F64 or I64). uint64 values from 2^63
 * up would wrap to negative int64 (customer ids written back as other numbers): refused. */
static int convert_rows(const cs_store_t *s, const char *gname, const cs_column_t *c,
                        cs_dtype_t memtype, const void *src, void *buf, int64_t offset,
                        int64_t count) {
  int status = CS_OK;
  if (memtype == CS_DT_F64) {
    cs_convert_to_f64(c->dtype, src, buf, count);
    return CS_OK;
  }
  for (int64_t i = 0; c->dtype == CS_DT_U64 && i < count; i++)
    CS_CHECK(((const uint64_t *)src)[i] <= (uint64_t)INT64_MAX, CS_EDATA,
             "%s: /%s/%s holds %llu at row %lld, beyond the int64 range custseg keeps it in (at "
             "most %lld)", s->path, gname, c->name, (unsigned long long)((const uint64_t *)src)[i],
             (long long)(offset + i), (long long)INT64_MAX);
  cs_convert_to_i64(c->dtype, src, buf, count);
fail:
  return status;
}

/* Rows of a column of /customers (txn = 0) or /transactions (txn = 1). */
static int read_rows(cs_store_t *s, int txn, const char *name, int64_t offset, int64_t count,
                     cs_dtype_t memtype, void *buf) {
  int status = CS_OK;
  store_impl_t *im = s->impl;
  hid_t ftype = -1, mtype = -1;
  void *tmp = NULL;
  int transferred = 0; /* this rank reached the transfer */
  size_t bytes = 0;
  const char *gname = txn ? "transactions" : "customers";
  const cs_column_t *c = txn ? cs_store_txn_column(s, name) : cs_store_column(s, name);
  hid_t group = txn ? im->tgroup : im->group, *dsets = txn ? im->tdsets : im->dsets;
  CS_CHECK(c, CS_EDATA, "%s: no column /%s/%s", s->path, gname, name);
  CS_CHECK(c->dtype != CS_DT_NONE, CS_EDATA, "%s: column /%s/%s is not numeric (%s)", s->path,
           gname, name, c->type_desc);
  int idx = (int)(c - (txn ? s->txn_columns : s->columns));
  if (c->local) { /* computed: this rank's rows are in memory */
    CS_CHECK(offset >= c->local_offset && offset + count <= c->local_offset + c->local_count,
             CS_EINTERNAL, "read of rows [%lld, %lld) of computed column %s outside this "
             "rank's rows", (long long)offset, (long long)(offset + count), name);
    const double *src = c->local + (offset - c->local_offset);
    for (int64_t i = 0; i < count; i++) {
      if (memtype == CS_DT_F64) ((double *)buf)[i] = src[i];
      else if (memtype == CS_DT_I64) ((int64_t *)buf)[i] = (int64_t)src[i];
      else CS_FAIL(CS_EINTERNAL, "computed column %s read as %s", name, cs_dtype_name(memtype));
    }
    return CS_OK;
  }
  bytes = (size_t)(count > 0 ? count : 0) * cs_dtype_size(memtype);
  int direct = memtype == c->dtype;
  /* Local checks first, agreed before the transfer, so that every rank stops on the same one. */
  int pre = CS_OK;
  if (offset < 0 || count < 0 || offset + count > c->length)
    pre = cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                       "read of rows [%lld, %lld) outside /%s/%s (%lld rows)",
                       (long long)offset, (long long)(offset + count), gname, name,
                       (long long)c->length);
  else if (memtype == CS_DT_I64 && cs_dtype_is_float(c->dtype))
    pre = cs_error_set(CS_EDATA, __FILE__, __LINE__,
                       "%s: column /%s/%s is %s where an integer column is needed",
                       s->path, gname, name, c->type_desc);
  else if (memtype != c->dtype && memtype != CS_DT_F64 && memtype != CS_DT_I64)
    pre = cs_error_set(CS_EINTERNAL, __FILE__, __LINE__,
                       "unsupported conversion of /%s/%s to %s", gname, name,
                       cs_dtype_name(memtype));
  CS_TRY(cs_par_agree(im->ctx, pre));
  /* The cache holds the rows in the column's stored type (an int8 column takes 1 byte a row,
   * not 8), converted on the way out. Served from memory only when it is on every rank. */
  if (cs__colcache_on()) {
    const void *hit = cs__colcache_find(&im->ident, txn, name, c->dtype, offset, count);
    int64_t all = hit != NULL;
    CS_TRY(cs_par_allreduce(im->ctx, &all, 1, CS_DT_I64, CS_OP_MIN));
    if (all) {
      if (direct) {
        if (bytes) memcpy(buf, hit, bytes);
      } else {
        status = convert_rows(s, gname, c, memtype, hit, buf, offset, count);
      }
      CS_TRY(cs_par_agree(im->ctx, status));
      cs__colcache_count(1, bytes);
      return CS_OK;
    }
  }
  if (!direct) {
    tmp = cs_alloc(cs_bytes(count, cs_dtype_size(c->dtype)), "column read buffer");
    if (!tmp) pre = CS_ENOMEM;
  }
  CS_TRY(cs_par_agree(im->ctx, pre));
  if (c->length == 0) goto fail; /* nothing stored (HDF5 allocates no storage): nothing to read */
  /* Handles, agreed before the read: the dataset's metadata is read collectively, so a rank
   * that failed here would leave the others waiting in the next call. */
  int chunked = 0;
  CS_TRY(cs_par_agree(im->ctx, prepare(s, group, &dsets[idx], gname, name, &ftype, &mtype,
                                       &chunked)));
  void *target = direct ? buf : tmp;
  transferred = 1;
  char what[CS_NAME_MAX + 16];
  snprintf(what, sizeof what, "/%s/%s", gname, name);
  const int direct_read = cs__h5_read_direct(im->fd, s->path, im->file, dsets[idx], mtype,
                                             offset, count, target, what);
  CS_TRY(direct_read < 0 ? direct_read : CS_OK);
  if (direct_read) {
    snprintf(im->last_how, sizeof im->last_how, "direct pread of contiguous storage");
  } else {
    if (im->sfile < 0) CS_TRY(cs__h5_serial_open(s->path, im->fd, &im->sfile));
    CS_TRY(cs__h5_read_serial(im->sfile, s->path, what, mtype, offset, count, target,
                              chunked ? " (a read error, or a damaged chunk its filter or "
                                        "checksum rejects? h5dump -d shows HDF5's own error)"
                                      : ""));
    snprintf(im->last_how, sizeof im->last_how, "serial HDF5 read");
  }
  if (!direct) CS_TRY(convert_rows(s, gname, c, memtype, tmp, buf, offset, count));
fail:
  if (transferred) {
    /* Every rank that took part in the transfer gets here: a read that failed on one rank
     * fails on all, so none goes on alone into the next collective call. */
    status = cs_par_agree(im->ctx, status);
    if (status == CS_OK && cs__colcache_on()) {
      /* Kept when every rank has room for its rows. */
      const size_t stored = (size_t)count * cs_dtype_size(c->dtype);
      int64_t keep = cs__colcache_room(stored);
      if (cs_par_allreduce(im->ctx, &keep, 1, CS_DT_I64, CS_OP_MIN) == CS_OK && keep) {
        /* The rows as read: a converted read hands its buffer over, a direct one is copied. */
        cs__colcache_put(&im->ident, txn, name, c->dtype, offset, count, direct ? buf : tmp,
                         !direct);
        if (!direct) tmp = NULL;
      }
    }
    if (status == CS_OK && cs__colcache_counting()) cs__colcache_count(0, bytes);
  }
  cs_free(tmp);
  CS_H5_CLOSE(H5Tclose, mtype);
  CS_H5_CLOSE(H5Tclose, ftype);
  return status;
}

int cs_store_read(cs_store_t *s, const char *name, int64_t offset, int64_t count,
                  cs_dtype_t memtype, void *buf) {
  return read_rows(s, 0, name, offset, count, memtype, buf);
}

int cs_store_read_txn(cs_store_t *s, const char *name, int64_t offset, int64_t count,
                      cs_dtype_t memtype, void *buf) {
  return read_rows(s, 1, name, offset, count, memtype, buf);
}

const char *cs_store_last_read_how(const cs_store_t *s) {
  const store_impl_t *im = s->impl;
  return im->last_how;
}
