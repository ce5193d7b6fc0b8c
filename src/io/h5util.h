/* io/h5util.h: internal helpers shared by the io sources (HDF5 stays inside src/io). */
#ifndef CUSTSEG_IO_H5UTIL_H
#define CUSTSEG_IO_H5UTIL_H

#include "custseg/io.h"

#include <hdf5.h>

/* Fail with CS_EHDF5 when an HDF5 call returns a negative value. */
#define CS_H5(call, ...)                                                       \
  do {                                                                         \
    if ((call) < 0) CS_FAIL(CS_EHDF5, __VA_ARGS__);                            \
  } while (0)

/* Close an HDF5 handle if it is valid and reset it. */
#define CS_H5_CLOSE(fn, h) \
  do {                     \
    if ((h) >= 0) fn(h);   \
    (h) = -1;              \
  } while (0)

/* Open `path` read-only with the serial driver (rank 0's small reads), with the error a
 * reader expects: no such file (CS_ENOENT), not HDF5 or damaged/truncated (CS_EFORMAT). */
int cs__h5_open_ro(const char *path, hid_t *f);
/* Rank-local: CS_OK when a serial, locking open of the HDF5 file PATH succeeds; otherwise the
 * reason (another process writing it, a writer's open-for-write mark, or damage), exit 2. */
int cs__h5_check_closed(const char *path);
/* A dataset under `group` (a group, or a file with a path as name), opened so that external
 * raw files (h5py's `external=`) with relative names are found next to the file, not in the
 * job's working directory (HDF5's default; HDF5_EXTFILE_PREFIX in the environment still
 * wins). */
hid_t cs__h5_open_dataset(hid_t group, const char *name);
/* Turn off HDF5's own error printing (custseg reports errors itself). */
void cs__h5_quiet(void);
/* File access list: mpio on ctx's communicator, collective metadata reads and writes. */
hid_t cs__h5_fapl(cs_ctx_t *ctx);
/* Transfer list for collective (1) or independent (0) I/O. */
hid_t cs__h5_dxpl(int collective);
/* The HDF5 native type for a cs_dtype_t, and back (CS_DT_NONE when not a plain number). */
hid_t cs__h5_native(cs_dtype_t t);
cs_dtype_t cs__h5_dtype_of(hid_t type, char *desc, size_t desc_len);
/* ---- rows.c: reading rows without MPI-IO (io/rows.c says why) ---- */
/* A descriptor for pread(2) on the file at path, opened before the file's MPI-IO open; then
 * cs__rows_check once that open is done: CS_OK when path still names the file fd has open
 * (else it was replaced in between, a clear error). Local. */
int cs__rows_open(const char *path, int *fd);
int cs__rows_check(const char *path, int fd);
/* Rows [first, first + count) of the 1-D dataset dset of `file` (the MPI-IO handle of the
 * file fd has open), read with pread(2) when its storage allows it: one contiguous, allocated
 * block of `file` itself (not an external link's target, no external raw files) stored in
 * mtype, the memory type, byte for byte. 1 when read, 0 when the dataset needs
 * cs__h5_read_serial, a negative status (set, naming path, `what` and the rows) when the read
 * failed or the file ends inside the rows. Local. */
int cs__h5_read_direct(int fd, const char *path, hid_t file, hid_t dset, hid_t mtype,
                       int64_t first, int64_t count, void *buf, const char *what);
/* A rank-local serial open of the file at path (HDF5's sec2 driver, no file lock: rank 0
 * checked the lock when the command opened it), refused when it is not the file fd has open
 * (replaced while the job read it). Local. */
int cs__h5_serial_open(const char *path, int fd, hid_t *sfile);
/* The rows of the dataset at `name` (a path in sfile), as mtype, through sfile: for the
 * datasets cs__h5_read_direct cannot read (chunked, compressed, compact, in external raw
 * files or another file, another byte order). A failure (set, naming path, name, the rows
 * and `hint`, "" or " (...)") also when the file has become shorter than its end of data,
 * past which HDF5 reads zeros. Local. */
int cs__h5_read_serial(hid_t sfile, const char *path, const char *name, hid_t mtype,
                       int64_t first, int64_t count, void *buf, const char *hint);
/* Select rows [offset, offset + count) of a 1-D dataspace (none when count is 0) and make a
 * matching memory space. */
int cs__h5_select_rows(hid_t filespace, int64_t offset, int64_t count, hid_t *memspace);

#endif
