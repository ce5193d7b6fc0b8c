/* io/rows.c: reading rows of per-customer datasets without MPI-IO, each rank its own.
 *
 * A contiguous dataset in the native byte order (what custseg and h5py write) is read with
 * pread(2) at the offset HDF5 gives for it; any other (chunked, compressed, compact, external
 * raw files or another file, another byte order) through a rank-local serial open of the
 * file (HDF5's sec2 driver). Why, from fault injection (tests/cli/io_fault.sh: reads of a
 * byte range failing with EIO on one rank) with Open MPI 4.1's MPI-IO (ompio) under parallel
 * HDF5:
 * - its collective reader goes through aggregators in cycles; when a read failed on one
 *   aggregator, it stayed inside the transfer while the other ranks went on to the next
 *   collective call, and the job hung (3 and 4 ranks);
 * - otherwise it turns the failed read into a short one, and parallel HDF5 fills the rest
 *   with zeros: the job ran on zeros, without a word (1 and 2 ranks).
 * A rank's rows are one contiguous range of the file, so the aggregators had little to add.
 * The metadata is still read through the MPI-IO handle, collectively.
 *
 * Both ways read the file the MPI-IO handle has open, not whatever its path names later: the
 * descriptor is opened before that handle and checked against the path after it, and a
 * serial handle is checked against the descriptor (a store replaced by a rename while a job
 * read it had been read from the new file at the old file's offsets). */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cs__rows_open(const char *path, int *fd) {
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    return cs_error_set(CS_EIO, __FILE__, __LINE__, "cannot open '%s' for reading: %s", path,
                        strerror(errno));
  return CS_OK;
}

/* Whether fd is the file path names now (device and inode). */
static int same_file(const char *path, int fd) {
  struct stat a, b;
  return stat(path, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

int cs__rows_check(const char *path, int fd) {
  if (!same_file(path, fd))
    return cs_error_set(CS_EIO, __FILE__, __LINE__, "'%s' was replaced while it was being "
                        "opened (renamed over, or copied in place?); run again once it is "
                        "complete", path);
  return CS_OK;
}

/* The file an object is in (HDF5's file number), or 0. */
static unsigned long fileno_of(hid_t obj) {
  H5O_info_t info;
  return H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0 ? 0 : info.fileno;
}

int cs__h5_read_direct(int fd, const char *path, hid_t file, hid_t dset, hid_t mtype,
                       int64_t first, int64_t count, void *buf, const char *what) {
  int status = CS_OK;
  hid_t dcpl = H5Dget_create_plist(dset), ftype = H5Dget_type(dset);
  const size_t size = H5Tget_size(mtype);
  /* Every HDF5 call here is made on every rank, in this order, whatever the answers: the file
   * reads its metadata collectively, so a call one rank skipped could leave the others
   * waiting. Allocated storage only: for a dataset without any, H5Dget_offset adds the user
   * block to HADDR_UNDEF, which wraps to a small valid-looking offset (511 for 512 bytes). */
  const int layout = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                     H5Pget_external_count(dcpl) == 0;
  const int same_type = ftype >= 0 && H5Tequal(ftype, mtype) > 0;
  H5D_space_status_t alloc = H5D_SPACE_STATUS_ERROR;
  const int allocated = H5Dget_space_status(dset, &alloc) >= 0 &&
                        alloc == H5D_SPACE_STATUS_ALLOCATED;
  const hsize_t stored = H5Dget_storage_size(dset);
  const unsigned long in_file = fileno_of(dset), of_file = fileno_of(file);
  const haddr_t addr = H5Dget_offset(dset);
  int direct = fd >= 0 && layout && same_type && allocated &&
               stored >= (hsize_t)(first + count) * size && in_file != 0 &&
               in_file == of_file && addr != HADDR_UNDEF;
  CS_H5_CLOSE(H5Pclose, dcpl);
  CS_H5_CLOSE(H5Tclose, ftype);
  if (!direct || count <= 0) return direct;
  char *p = buf;
  const uint64_t start = (uint64_t)addr + (uint64_t)first * size;
  const uint64_t total = (uint64_t)count * size;
  for (uint64_t done = 0; done < total;) {
    size_t want = total - done > ((size_t)1 << 30) ? (size_t)1 << 30 : (size_t)(total - done);
    ssize_t got = pread(fd, p + done, want, (off_t)(start + done));
    if (got < 0 && errno == EINTR) continue;
    CS_CHECK(got >= 0, CS_EIO, "%s: read of %s rows [%lld, %lld) failed: %s", path, what,
             (long long)first, (long long)(first + count), strerror(errno));
    if (got == 0) {
      struct stat st;
      const long long end = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
      CS_FAIL(CS_EIO, "%s: the file ends at byte %lld, inside %s rows [%lld, %lld) (truncated, "
              "or still being copied?)", path, end, what, (long long)first,
              (long long)(first + count));
    }
    done += (uint64_t)got;
  }
  status = 1;
fail:
  return status;
}

int cs__h5_serial_open(const char *path, int fd, hid_t *sfile) {
  int status = CS_OK;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  *sfile = -1;
  if (fapl >= 0 && H5Pset_file_locking(fapl, 0, 0) >= 0)
    *sfile = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  CS_H5(*sfile, "%s: cannot open it again (serially) to read its rows (cut short or changed "
        "while the job read it?)", path);
  int *sfd = NULL;
  struct stat a, b;
  CS_CHECK(H5Fget_vfd_handle(*sfile, fapl, (void **)&sfd) >= 0 && sfd && fstat(*sfd, &a) == 0 &&
               fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino,
           CS_EIO, "'%s' was replaced while the job read it (renamed over, or copied in "
           "place?); run again once it is complete", path);
fail:
  if (status != CS_OK) CS_H5_CLOSE(H5Fclose, *sfile);
  if (fapl >= 0) H5Pclose(fapl);
  return status;
}

int cs__h5_read_serial(hid_t sfile, const char *path, const char *name, hid_t mtype,
                       int64_t first, int64_t count, void *buf, const char *hint) {
  int status = CS_OK;
  hid_t d = -1, fs = -1, ms = -1;
  static char dummy[8];
  herr_t rc = -1;
  if ((d = cs__h5_open_dataset(sfile, name)) >= 0 && (fs = H5Dget_space(d)) >= 0 &&
      cs__h5_select_rows(fs, first, count, &ms) >= 0)
    rc = H5Dread(d, mtype, ms, fs, H5P_DEFAULT, count ? buf : dummy);
  CS_H5(rc, "%s: read of %s rows [%lld, %lld) failed%s", path, name, (long long)first,
        (long long)(first + count), hint);
  /* HDF5's sec2 driver reads zeros past the end of the file: a file cut short while the job
   * read it (it was whole when opened: HDF5 refuses a file shorter than its end of data). */
  haddr_t eoa = 0;
  int *sfd = NULL;
  struct stat st;
  if (H5Fget_eoa(sfile, &eoa) >= 0 && H5Fget_vfd_handle(sfile, H5P_DEFAULT, (void **)&sfd) >= 0 &&
      sfd && fstat(*sfd, &st) == 0)
    CS_CHECK((haddr_t)st.st_size >= eoa, CS_EIO, "%s: the file ends at byte %lld, before the "
             "end of its data (byte %llu), as %s rows [%lld, %lld) were read (truncated, or "
             "still being copied?)", path, (long long)st.st_size, (unsigned long long)eoa,
             name, (long long)first, (long long)(first + count));
fail:
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  return status;
}
