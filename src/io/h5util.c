/* io/h5util.c: property lists, type mapping, row selections and opens used across src/io. */
#include "h5util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>
#include <stdio.h>

void cs__h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t cs__h5_fapl(cs_ctx_t *ctx) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  const MPI_Comm *comm = cs_par_native_comm(ctx);
  if (H5Pset_fapl_mpio(fapl, *comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

hid_t cs__h5_dxpl(int collective) {
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (dxpl >= 0 &&
      H5Pset_dxpl_mpio(dxpl, collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT) < 0) {
    H5Pclose(dxpl);
    return -1;
  }
  return dxpl;
}

hid_t cs__h5_native(cs_dtype_t t) {
  switch (t) {
  case CS_DT_I8: return H5T_NATIVE_INT8;
  case CS_DT_I16: return H5T_NATIVE_INT16;
  case CS_DT_I32: return H5T_NATIVE_INT32;
  case CS_DT_I64: return H5T_NATIVE_INT64;
  case CS_DT_U8: return H5T_NATIVE_UINT8;
  case CS_DT_U16: return H5T_NATIVE_UINT16;
  case CS_DT_U32: return H5T_NATIVE_UINT32;
  case CS_DT_U64: return H5T_NATIVE_UINT64;
  case CS_DT_F32: return H5T_NATIVE_FLOAT;
  case CS_DT_F64: return H5T_NATIVE_DOUBLE;
  default: return -1;
  }
}

cs_dtype_t cs__h5_dtype_of(hid_t type, char *desc, size_t desc_len) {
  H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_ENUM) {
    /* numpy booleans arrive as an enum over int8 (h5py): read them as their integers. */
    hid_t base = H5Tget_super(type);
    cs_dtype_t t = base >= 0 && H5Tget_class(base) == H5T_INTEGER
                       ? cs__h5_dtype_of(base, NULL, 0)
                       : CS_DT_NONE;
    if (base >= 0) H5Tclose(base);
    if (desc) {
      if (t != CS_DT_NONE)
        snprintf(desc, desc_len, "enum(%s)", cs_dtype_name(t));
      else
        snprintf(desc, desc_len, "enum (%zu bytes)", H5Tget_size(type));
    }
    return t;
  }
  size_t size = H5Tget_size(type);
  cs_dtype_t t = CS_DT_NONE;
  if (cls == H5T_INTEGER) {
    int sign = H5Tget_sign(type) == H5T_SGN_2;
    switch (size) {
    case 1: t = sign ? CS_DT_I8 : CS_DT_U8; break;
    case 2: t = sign ? CS_DT_I16 : CS_DT_U16; break;
    case 4: t = sign ? CS_DT_I32 : CS_DT_U32; break;
    case 8: t = sign ? CS_DT_I64 : CS_DT_U64; break;
    default: break;
    }
  } else if (cls == H5T_FLOAT) {
    if (size == 4) t = CS_DT_F32;
    else if (size == 8) t = CS_DT_F64;
  }
  if (desc) {
    const char *cname = cls == H5T_STRING     ? "string"
                        : cls == H5T_COMPOUND ? "compound"
                        : cls == H5T_ENUM     ? "enum"
                        : cls == H5T_BITFIELD ? "bitfield"
                        : cls == H5T_OPAQUE   ? "opaque"
                        : cls == H5T_ARRAY    ? "array"
                        : cls == H5T_VLEN     ? "vlen"
                        : cls == H5T_FLOAT    ? "float"
                        : cls == H5T_INTEGER  ? "integer"
                                              : "other";
    if (t != CS_DT_NONE)
      snprintf(desc, desc_len, "%s", cs_dtype_name(t));
    else if (cls == H5T_STRING && H5Tis_variable_str(type) > 0)
      snprintf(desc, desc_len, "variable-length string"); /* its size is a pointer's */
    else
      snprintf(desc, desc_len, "%s (%zu bytes)", cname, size);
  }
  return t;
}

int cs__h5_select_rows(hid_t filespace, int64_t offset, int64_t count, hid_t *memspace) {
  hsize_t start = (hsize_t)offset, n = (hsize_t)count;
  *memspace = H5Screate_simple(1, &n, NULL);
  if (*memspace < 0) return -1;
  if (count == 0) {
    if (H5Sselect_none(filespace) < 0 || H5Sselect_none(*memspace) < 0) return -1;
    return 0;
  }
  return H5Sselect_hyperslab(filespace, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ? -1 : 0;
}

void cs_io_library_version(char *buf, size_t len) {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  snprintf(buf, len, "%u.%u.%u", maj, min, rel);
}

/* Why an H5Fopen failed, from HDF5's error stack: another process holds the file's write
 * lock (the lock call failed with EWOULDBLOCK; a file system without locks gives ENOSYS
 * instead, which says nothing about writers), or the superblock's flags say a writer has it
 * open or died with it open (files of the 1.10 format). */
typedef struct {
  int locked, no_lock, flagged;
} open_why_t;

static herr_t open_why_cb(unsigned n, const H5E_error2_t *e, void *arg) {
  (void)n;
  open_why_t *w = arg;
  char busy[32];
  snprintf(busy, sizeof busy, "errno = %d,", EWOULDBLOCK);
  if (e->desc && e->min_num == H5E_CANTLOCKFILE && strstr(e->desc, "errno = ")) {
    if (strstr(e->desc, busy))
      w->locked = 1;
    else
      w->no_lock = 1; /* ENOLCK on NFS without its lock daemon, say: no lock to be had */
  }
  if (e->desc && strstr(e->desc, "already open for write")) w->flagged = 1;
  return 0;
}

static open_why_t open_why(void) {
  open_why_t w = {0, 0, 0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, open_why_cb, &w);
  return w;
}

static int open_failed(const char *path, open_why_t w) {
  if (w.locked)
    return cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s is open for writing by another "
                        "process (HDF5 could not take its file lock): what it reads now may be "
                        "half written; run once that writer has closed it", path);
  if (w.flagged)
    return cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s is marked as open for writing: "
                        "its writer is still running, or ended without closing it (then its "
                        "last writes may be missing; `h5clear -s %s` clears the mark)", path,
                        path);
  return cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "%s: a damaged or truncated HDF5 file "
                      "(HDF5 cannot open it; copied or written completely?)", path);
}

/* A serial open with HDF5's file locking (skipped where the file system has none): the MPI-IO
 * driver takes no lock, so a store another process was writing had been read half updated.
 * The reason of a failure is read before any other HDF5 call clears the error stack. */
static int open_locked(const char *path, hid_t *f) {
  int status = CS_OK;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0) H5Pset_file_locking(fapl, 1, 1);
  if ((*f = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT)) < 0) {
    open_why_t w = open_why();
    /* A lock this file system cannot give (HDF5 forgives only ENOSYS): open as MPI-IO does,
     * without one; the open-for-write mark is still checked. */
    if (w.no_lock && !w.locked && fapl >= 0 && H5Pset_file_locking(fapl, 0, 0) >= 0 &&
        (*f = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0)
      w = open_why();
    if (*f < 0) status = open_failed(path, w);
  }
  if (fapl >= 0) H5Pclose(fapl);
  return status;
}

int cs__h5_check_closed(const char *path) {
  hid_t f;
  int status = open_locked(path, &f);
  if (f >= 0) H5Fclose(f);
  return status;
}

int cs__h5_open_ro(const char *path, hid_t *f) {
  *f = -1;
  if (access(path, R_OK) != 0)
    return cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot open '%s': %s", path,
                        strerror(errno));
  if (H5Fis_hdf5(path) <= 0)
    return cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "'%s' is not an HDF5 file", path);
  return open_locked(path, f);
}

hid_t cs__h5_open_dataset(hid_t group, const char *name) {
  hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
  if (dapl >= 0) H5Pset_efile_prefix(dapl, "${ORIGIN}");
  hid_t d = H5Dopen2(group, name, dapl >= 0 ? dapl : H5P_DEFAULT);
  if (dapl >= 0) H5Pclose(dapl);
  return d;
}
