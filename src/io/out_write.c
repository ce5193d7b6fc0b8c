/* io/out_write.c: what goes into an output file (out.c creates and publishes it): groups,
 * per-customer datasets (each rank its own rows, independent MPI-IO), small datasets and
 * compound tables from rank 0, and attributes, each write's outcome agreed across ranks. */
#include "out_impl.h"

#include <stdio.h>

/* Attributes stay in the object header (compact storage) up to this many per object. HDF5
 * 1.10's H5Ocopy (h5copy, h5py's Group.copy) crashes on an object whose variable-length string
 * attributes are in dense storage, where the default keeps only 8 compact; /roi, /segments and
 * /clv have more. An attribute too large for a header message (over 64 KiB, such as the
 * categories of a column with thousands of levels) is still stored densely. */
#define COMPACT_ATTRS 1000

/* A creation property list of class `cls` (file, group or dataset) with the compact limit
 * above, and without the objects' modification times: a file then holds nothing but what was
 * written, so the same content gives the same bytes (a checkpoint rewritten with the same state
 * had differed in 5 bytes of times, which the job templates took for progress and requeued on);
 * -1 on failure. */
hid_t cs__out_object_plist(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  if (p >= 0 && (H5Pset_attr_phase_change(p, COMPACT_ATTRS, COMPACT_ATTRS - 1) < 0 ||
                 H5Pset_obj_track_times(p, 0) < 0)) {
    H5Pclose(p);
    p = -1;
  }
  return p;
}

/* Create every missing group above `path` ("/a/b/c" creates /a and /a/b) with the compact
 * attribute limit; intermediate groups made by HDF5 itself would get the default one. */
static int make_parents(cs_out_t *out, const char *path, int self) {
  int status = CS_OK;
  char buf[1024];
  hid_t gcpl = cs__out_object_plist(H5P_GROUP_CREATE);
  CS_H5(gcpl, "cannot create group property list");
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && !(self && *p == '\0')) {
      if (!*p) break;
      continue;
    }
    const char c = *p;
    *p = '\0';
    if (H5Lexists(out->file, buf, H5P_DEFAULT) <= 0) {
      hid_t g = H5Gcreate2(out->file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
      CS_H5(g, "%s: cannot create group %s", out->final_path, buf);
      H5Gclose(g);
    }
    *p = c;
    if (!c) break;
  }
fail:
  CS_H5_CLOSE(H5Pclose, gcpl);
  return status;
}

/* H5Dwrite, with what a failure means for closing the file noted in out->write_failed
 * (out_impl.h). The failed system call's errno is gone by the time HDF5 returns, so a full
 * disk is told by the file system's free space: less than the write needed. */
static herr_t write_noted(cs_out_t *out, hid_t d, hid_t mtype, hid_t mspace, hid_t fspace,
                          hid_t dxpl, const void *buf) {
  herr_t rc = H5Dwrite(d, mtype, mspace, fspace, dxpl, buf);
  const hssize_t n = H5Sget_select_npoints(mspace);
  const int64_t bytes = n > 0 ? (int64_t)n * (int64_t)H5Tget_size(mtype) : 0;
  int kind = rc >= 0 ? 0 : cs__out_no_room_for(out, bytes) ? CS_WRITE_NO_SPACE : CS_WRITE_ERROR;
  if (kind > out->write_failed) out->write_failed = kind;
  if (rc >= 0) out->bytes_written += bytes;
  return rc;
}

/* Independent writes for a parallel file (rank 0 writes a small dataset alone: a collective
 * write that failed on it came back as a success from Open MPI's collective writer at 3 or
 * more ranks, caught only when the file was read back), the default for one built in memory. */
static hid_t dxpl_for(const cs_out_t *out) {
  return out->image ? H5Pcreate(H5P_DATASET_XFER) : cs__h5_dxpl(0);
}

int cs_out_group(cs_out_t *out, const char *group) {
  /* Agreed: in a file built in memory only rank 0 can fail, and all must leave together. */
  return cs_par_agree(out->ctx, cs__out_idle(out) ? CS_OK : make_parents(out, group, 1));
}

/* Create dataset `path` of file type `ftype` and shape dims[0..nd) with its parent groups
 * (compact attribute limit), fill values never written when no_fill. Local. */
static int create_dataset(cs_out_t *out, const char *path, hid_t ftype, int nd,
                          const hsize_t *dims, int no_fill, hid_t *d) {
  int status = CS_OK;
  hid_t space = -1, lcpl = -1, dcpl = -1;
  *d = -1;
  space = H5Screate_simple(nd, dims, NULL);
  CS_H5(space, "cannot create dataspace for %s", path);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  CS_H5(lcpl, "cannot create link property list");
  H5Pset_create_intermediate_group(lcpl, 1);
  dcpl = cs__out_object_plist(H5P_DATASET_CREATE);
  CS_H5(dcpl, "cannot create dataset property list");
  if (no_fill) CS_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "cannot set fill time");
  CS_TRY(make_parents(out, path, 0));
  *d = H5Dcreate2(out->file, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
  CS_H5(*d, "%s: cannot create dataset %s", out->final_path, path);
fail:
  CS_H5_CLOSE(H5Pclose, dcpl);
  CS_H5_CLOSE(H5Pclose, lcpl);
  CS_H5_CLOSE(H5Sclose, space);
  return status;
}

/* Create `path` and write all of `data` from rank 0 (the other ranks select nothing).
 * Agreed. */
static int write_from_rank0(cs_out_t *out, const char *path, hid_t ftype, int nd,
                            const hsize_t *dims, const void *data) {
  int status = CS_OK;
  hid_t d = -1, fspace = -1, mspace = -1, dxpl = -1;
  static const char dummy[8];
  if (cs__out_idle(out)) return cs_par_agree(out->ctx, CS_OK);
  CS_TRY(create_dataset(out, path, ftype, nd, dims, 0, &d));
  if (dims[0] == 0) goto fail;
  fspace = H5Dget_space(d);
  mspace = H5Screate_simple(nd, dims, NULL);
  CS_H5(fspace, "no dataspace");
  CS_H5(mspace, "no dataspace");
  if (out->ctx->rank != 0) {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  }
  dxpl = dxpl_for(out);
  CS_H5(dxpl, "cannot create transfer property list");
  /* The file type is the memory type, so the transfer needs no conversion. */
  CS_H5(write_noted(out, d, ftype, mspace, fspace, dxpl,
                    out->ctx->rank == 0 ? data : (const void *)dummy),
        "%s: cannot write %s", out->final_path, path);
fail:
  CS_H5_CLOSE(H5Pclose, dxpl);
  CS_H5_CLOSE(H5Sclose, mspace);
  CS_H5_CLOSE(H5Sclose, fspace);
  CS_H5_CLOSE(H5Dclose, d);
  return cs_par_agree(out->ctx, status);
}

int cs_out_dataset(cs_out_t *out, const char *path, cs_dtype_t type, int64_t n, cs_dset_t **d) {
  int status = CS_OK;
  *d = NULL;
  CS_CHECK(out->n_dsets < CS_OUT_MAX_DSETS, CS_EINTERNAL, "too many datasets in one output");
  CS_CHECK(!out->image, CS_EINTERNAL, "%s: a file built in memory takes no per-rank datasets",
           path);
  hsize_t dim = (hsize_t)n;
  cs_dset_t *ds = &out->dsets[out->n_dsets];
  /* Parallel HDF5 allocates contiguous datasets at creation; every element is written
   * afterwards, so writing fill values first would only double the I/O. */
  CS_TRY(create_dataset(out, path, cs__h5_native(type), 1, &dim, 1, &ds->id));
  ds->out = out;
  ds->type = type;
  snprintf(ds->path, sizeof ds->path, "%s", path);
  out->n_dsets++;
  *d = ds;
fail:
  return cs_par_agree(out->ctx, status);
}

int cs_out_write(cs_dset_t *d, int64_t offset, int64_t count, const void *buf) {
  int status = CS_OK;
  hid_t fspace = -1, mspace = -1, dxpl = -1;
  static const char dummy[8];
  fspace = H5Dget_space(d->id);
  CS_H5(fspace, "%s: no dataspace", d->path);
  if (H5Sget_simple_extent_npoints(fspace) == 0) goto fail; /* empty dataset: nothing to write */
  CS_H5(cs__h5_select_rows(fspace, offset, count, &mspace), "%s: bad selection", d->path);
  /* Independent: each rank writes its own contiguous rows (the dataset was allocated when it
   * was created). A collective write goes through Open MPI's aggregators in cycles of 32 MiB,
   * and when the disk filled in a cycle other than the last, the aggregator that failed stayed
   * in the write while the other ranks went on to the next one: the job hung for good. */
  dxpl = cs__h5_dxpl(0);
  CS_H5(dxpl, "cannot create transfer property list");
  CS_H5(write_noted(d->out, d->id, cs__h5_native(d->type), mspace, fspace, dxpl,
                    count ? buf : dummy),
        "%s: write of %s rows [%lld, %lld) failed (disk full, or a disk error?)",
        d->out->final_path, d->path, (long long)offset, (long long)(offset + count));
fail:
  CS_H5_CLOSE(H5Pclose, dxpl);
  CS_H5_CLOSE(H5Sclose, mspace);
  CS_H5_CLOSE(H5Sclose, fspace);
  return cs_par_agree(d->out->ctx, status); /* a rank that failed must not be left alone */
}

int cs_out_small(cs_out_t *out, const char *path, cs_dtype_t type, int64_t rows, int64_t cols,
                 const void *data) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)(cols ? cols : 1)};
  return write_from_rank0(out, path, cs__h5_native(type), cols ? 2 : 1, dims, data);
}

int cs_out_table(cs_out_t *out, const char *path, const cs_out_field_t *fields, int n_fields,
                 size_t row_bytes, int64_t rows, const void *data) {
  int status = CS_OK;
  hid_t type = -1;
  hsize_t dim = (hsize_t)rows;
  if (cs__out_idle(out)) return cs_par_agree(out->ctx, CS_OK);
  type = H5Tcreate(H5T_COMPOUND, row_bytes);
  CS_H5(type, "cannot create the compound type of %s", path);
  for (int j = 0; j < n_fields; j++) {
    CS_CHECK(fields[j].offset + cs_dtype_size(fields[j].type) <= row_bytes, CS_EINTERNAL,
             "%s: field %s lies outside the record", path, fields[j].name);
    CS_H5(H5Tinsert(type, fields[j].name, fields[j].offset, cs__h5_native(fields[j].type)),
          "%s: cannot add field %s", path, fields[j].name);
  }
fail:
  /* Every rank builds the type, so a failure is agreed inside write_from_rank0 or here. */
  if (status == CS_OK) status = write_from_rank0(out, path, type, 1, &dim, data);
  else status = cs_par_agree(out->ctx, status);
  CS_H5_CLOSE(H5Tclose, type);
  return status;
}

static int write_attr(cs_out_t *out, const char *obj, const char *name, hid_t type, hid_t space,
                      const void *buf) {
  int status = CS_OK;
  if (cs__out_idle(out)) return cs_par_agree(out->ctx, CS_OK);
  hid_t a = H5Acreate_by_name(out->file, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
  CS_H5(a, "%s: cannot create attribute %s@%s", out->final_path, obj, name);
  CS_H5(H5Awrite(a, type, buf), "%s: cannot write attribute %s@%s", out->final_path, obj, name);
fail:
  CS_H5_CLOSE(H5Aclose, a);
  return cs_par_agree(out->ctx, status);
}

int cs_out_attr_i64(cs_out_t *out, const char *obj, const char *name, int64_t v) {
  hid_t space = H5Screate(H5S_SCALAR);
  int status = write_attr(out, obj, name, H5T_NATIVE_INT64, space, &v);
  H5Sclose(space);
  return status;
}

int cs_out_attr_f64(cs_out_t *out, const char *obj, const char *name, const double *v, int n) {
  hsize_t dim = (hsize_t)n;
  hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
  int status = write_attr(out, obj, name, H5T_NATIVE_DOUBLE, space, v);
  H5Sclose(space);
  return status;
}

static hid_t vlen_utf8(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

int cs_out_attr_str(cs_out_t *out, const char *obj, const char *name, const char *v) {
  hid_t t = vlen_utf8(), space = H5Screate(H5S_SCALAR);
  int status = write_attr(out, obj, name, t, space, &v);
  H5Sclose(space);
  H5Tclose(t);
  return status;
}

int cs_out_attr_strings(cs_out_t *out, const char *obj, const char *name,
                        const char *const *v, int n) {
  hsize_t dim = (hsize_t)n;
  hid_t t = vlen_utf8(), space = H5Screate_simple(1, &dim, NULL);
  int status = write_attr(out, obj, name, t, space, v);
  H5Sclose(space);
  H5Tclose(t);
  return status;
}
