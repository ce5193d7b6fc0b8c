/* io/out.c: output HDF5 files, written in parallel and published atomically.
 *
 * The file is created as ".<name>.tmp-<token>" in the destination directory (same file
 * system, so rename(2) is atomic), every rank writes its rows collectively, and only after
 * all ranks have closed it and agreed that nothing failed does rank 0 rename it. A crash or
 * an error leaves at most a hidden temporary file, never a results file that looks complete.
 *
 * A small file (a checkpoint) is built in memory on rank 0 instead (HDF5's core driver) and
 * written with plain write(2) when committed: a full disk then fails one write, never the
 * closing of an HDF5 file, which in parallel HDF5 had left the ranks in different
 * collectives (a hang) and, at one rank, an open file that crashed MPI_Finalize. */
#include "h5util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define CS_OUT_MAX_DSETS 256

struct cs_dset {
  cs_out_t *out;
  hid_t id;
  cs_dtype_t type;
  char path[256];
};

struct cs_out {
  cs_ctx_t *ctx;
  hid_t file;
  int image; /* built in memory on rank 0 (cs_out_create_image); the other ranks only agree */
  char final_path[4096];
  char tmp_path[4096 + 64];
  char reserve_path[4096 + 80]; /* room rank 0 holds back for closing the file (reserve()) */
  int full_at_close;            /* rank 0: the file system had no free block left before it */
  int n_dsets;
  cs_dset_t dsets[CS_OUT_MAX_DSETS];
};

static int reserve(cs_out_t *out);

/* No block left for this process: root may use the blocks reserved for it (f_bfree), others
 * only what is available to them (f_bavail, which reaches 0 first on ext4). */
static int no_room(const struct statvfs *fs) {
  return geteuid() == 0 ? fs->f_bfree == 0 : fs->f_bavail == 0;
}
static void name_reserve(cs_out_t *out);

/* Attributes stay in the object header (compact storage) up to this many per object. HDF5
 * 1.10's H5Ocopy (h5copy, h5py's Group.copy) crashes on an object whose variable-length string
 * attributes are in dense storage, where the default keeps only 8 compact; /roi, /segments and
 * /clv have more. An attribute too large for a header message (over 64 KiB, such as the
 * categories of a column with thousands of levels) is still stored densely. */
#define COMPACT_ATTRS 1000

/* A creation property list of class `cls` (file, group or dataset) with the compact limit
 * above; -1 on failure. */
static hid_t object_plist(hid_t cls) {
  hid_t p = H5Pcreate(cls);
  if (p >= 0 && H5Pset_attr_phase_change(p, COMPACT_ATTRS, COMPACT_ATTRS - 1) < 0) {
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
  hid_t gcpl = object_plist(H5P_GROUP_CREATE);
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

/* A rank with nothing to do in an in-memory file: it only takes part in the agreement. */
static int idle(const cs_out_t *out) { return out->image && out->ctx->rank != 0; }

/* Collective writes for a parallel file, the default for one built in memory. */
static hid_t dxpl_for(const cs_out_t *out) {
  return out->image ? H5Pcreate(H5P_DATASET_XFER) : cs__h5_dxpl_collective();
}

static void split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen) {
  char a[4096], b[4096];
  snprintf(a, sizeof a, "%s", path);
  snprintf(b, sizeof b, "%s", path);
  snprintf(dir, dlen, "%s", dirname(a));
  snprintf(base, blen, "%s", basename(b));
}

int cs_io_copy_file(cs_ctx_t *ctx, const char *from, const char *to) {
  int status = CS_OK;
  char bak[4200] = "";
  if (ctx->rank == 0) {
    char tmp[8192 + 64], dir[4096], base[4096];
    split_path(to, dir, sizeof dir, base, sizeof base);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dir, base, (long)getpid());
    cs_signal_remove_on_exit(tmp, 1);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    if (!in)
      status = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot read '%s': %s", from,
                            strerror(errno));
    else if (!out)
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "cannot write '%s': %s", tmp,
                            strerror(errno));
    else {
      char buf[1 << 16];
      size_t got;
      while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, out) != got) break;
      int bad = ferror(in) || ferror(out) || fflush(out) != 0 || fsync(fileno(out)) != 0;
      if (fclose(out) != 0) bad = 1;
      out = NULL;
      if (bad || cs_signal_rename(tmp, to, 0, bak, sizeof bak) != 0) {
        status = cs_error_set(CS_EIO, __FILE__, __LINE__, "cannot copy '%s' to '%s': %s", from,
                              to, strerror(errno));
        unlink(tmp);
      }
    }
    if (in) fclose(in);
    if (out) {
      fclose(out);
      unlink(tmp);
    }
    cs_signal_remove_on_exit(tmp, 0);
  }
  status = cs_par_agree(ctx, status);
  if (status == CS_OK) status = cs_par_bcast(ctx, bak, sizeof bak, 0);
  if (status == CS_OK && ctx->rank != 0) cs_signal_published_elsewhere("", to, bak);
  return status;
}

int cs_io_check_space(cs_ctx_t *ctx, const char *path, int64_t bytes, const char *what) {
  int status = CS_OK;
  /* Tests only: as if the disk filled (or a quota ran out) after this check. */
  if (ctx->rank == 0 && !getenv("CUSTSEG_TEST_NO_SPACE_CHECK")) {
    char dir[4096], base[4096];
    struct statvfs fs;
    split_path(path, dir, sizeof dir, base, sizeof base);
    if (statvfs(dir, &fs) == 0) {
      double avail = (double)fs.f_bavail * (double)fs.f_frsize;
      if (avail < (double)bytes)
        status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                              "not enough space for %s '%s': about %.1f MB needed, %.1f MB free "
                              "in '%s'", what, path, (double)bytes / 1e6, avail / 1e6, dir);
    } /* a file system that cannot say: go ahead, writing will tell */
  }
  return cs_par_agree(ctx, status);
}

/* The most ".NAME.tmp-PID-TOKEN" (cs_out_create) adds to NAME: ".", ".tmp-", a PID of up to
 * 7 digits (Linux's pid_max is at most 2^22), "-" and a token below 10^6. */
#define CS_TMP_SUFFIX_MAX 20

int cs_io_check_writable(cs_ctx_t *ctx, const char *path, const char *what) {
  int status = CS_OK;
  if (ctx->rank == 0) {
    char dir[4096], base[4096], probe[8192];
    struct stat st;
    split_path(path, dir, sizeof dir, base, sizeof base);
    if (!path[0] || path[strlen(path) - 1] == '/')
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "%s '%s' is not a file name", what,
                            path);
    else if (stat(dir, &st) != 0)
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "cannot write %s '%s': directory '%s': %s", what, path, dir,
                            strerror(errno));
    else if (!S_ISDIR(st.st_mode))
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "cannot write %s '%s': '%s' is not a directory", what, path, dir);
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "cannot write %s '%s': it is a directory", what, path);
    else if (strlen(base) + CS_TMP_SUFFIX_MAX > (size_t)NAME_MAX)
      /* The temporary name ".NAME.tmp-PID-TOKEN" must fit the file system's name limit. */
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "cannot write %s: its file name is %zu bytes, and custseg writes it "
                            "first under a temporary name up to %d bytes longer, past the %d "
                            "bytes a file name may have; choose a name of at most %d bytes "
                            "(%.60s...)", what, strlen(base), CS_TMP_SUFFIX_MAX, NAME_MAX,
                            NAME_MAX - CS_TMP_SUFFIX_MAX, base);
    else {
      /* access(2) says yes to root on a read-only mount; creating a file tells the truth. */
      snprintf(probe, sizeof probe, "%s/.%s.probe-%ld", dir, base, (long)getpid());
      int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
      if (fd < 0)
        status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                              "cannot write %s '%s': directory '%s' is not writable: %s", what,
                              path, dir, strerror(errno));
      else {
        close(fd);
        unlink(probe);
      }
    }
  }
  return cs_par_agree(ctx, status);
}

void cs_io_remove(cs_ctx_t *ctx, const char *path) {
  /* A published output gives back the file it replaced (cs_signal_unpublish). */
  if (ctx->rank == 0)
    cs_signal_unpublish(path);
  else
    cs_signal_remove_on_exit(path, 0);
  cs_par_barrier(ctx);
}

/* Temporary files of earlier writes of the same output that were killed (SIGKILL, a node
 * lost) stay behind: say so, without removing them (another job may be writing them). */
static void report_leftovers(const char *dir, const char *base, const char *path) {
  /* [0]: temporary files and space reserves (reserve()); [1]: earlier versions of the output
   * kept while an interrupted command replaced it (cs_signal_rename), which may be the only
   * copy of those results. */
  char pre[3][4200], one[2][4200] = {"", ""};
  snprintf(pre[0], sizeof pre[0], ".%s.tmp-", base);
  snprintf(pre[1], sizeof pre[1], ".%s.rsv-", base);
  snprintf(pre[2], sizeof pre[2], ".%s.bak-", base);
  DIR *d = opendir(dir);
  if (!d) return;
  int n[2] = {0, 0};
  double bytes[2] = {0, 0};
  for (struct dirent *e; (e = readdir(d));) {
    int k = -1;
    for (int p = 0; p < 3 && k < 0; p++)
      if (!strncmp(e->d_name, pre[p], strlen(pre[p]))) k = p == 2;
    if (k < 0) continue;
    struct stat st;
    char full[8400];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!n[k]) snprintf(one[k], sizeof one[k], "%s", full);
    n[k]++;
    bytes[k] += (double)st.st_size;
  }
  closedir(d);
  if (n[0])
    cs_log_warn("%d temporary file(s) of an earlier, interrupted write of '%s' remain (%s%s, "
                "%.1f MB in all); delete them unless another job is writing '%s' now", n[0],
                path, one[0], n[0] > 1 ? " and others" : "", bytes[0] / 1e6, path);
  if (n[1])
    cs_log_warn("%d earlier version(s) of '%s', kept while an interrupted command replaced it, "
                "remain (%s%s, %.1f MB in all); '%s' is the newer one: rename one back to get "
                "the earlier results, or delete them", n[1], path, one[1],
                n[1] > 1 ? " and others" : "", bytes[1] / 1e6, path);
}

static int create(cs_ctx_t *ctx, const char *path, int image, cs_out_t **outp) {
  int status = CS_OK;
  hid_t fapl = -1, fcpl = -1;
  cs_out_t *out = calloc(1, sizeof *out);
  *outp = NULL;
  cs__h5_quiet();
  int local = out ? CS_OK : cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  CS_TRY(cs_par_agree(ctx, local));
  out->ctx = ctx;
  out->file = -1;
  out->image = image;
  snprintf(out->final_path, sizeof out->final_path, "%s", path);
  if (ctx->rank == 0) {
    char dir[4096], base[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    split_path(path, dir, sizeof dir, base, sizeof base);
    snprintf(out->tmp_path, sizeof out->tmp_path, "%s/.%s.tmp-%ld-%ld", dir, base,
             (long)getpid(), (long)(ts.tv_nsec % 1000000));
    report_leftovers(dir, base, path);
  }
  CS_TRY(cs_par_bcast(ctx, out->tmp_path, sizeof out->tmp_path, 0));
  if (image) { /* in memory, no backing store: nothing reaches the disk before the commit */
    fapl = ctx->rank == 0 ? H5Pcreate(H5P_FILE_ACCESS) : H5P_DEFAULT;
    if (ctx->rank == 0 && fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) < 0) {
      H5Pclose(fapl);
      fapl = -1;
    }
  } else {
    fapl = cs__h5_fapl(ctx);
  }
  /* The 1.8 file format: an attribute larger than an object header's 64 KiB (the categories
   * of a column with thousands of levels) goes to dense attribute storage instead of failing.
   * Readable by HDF5 1.8 and later. Not for a file built in memory: HDF5 1.10.8 gives the
   * image of a 1.8-format file a superblock whose checksum fails when it is read back. */
  if (fapl > 0 && !image && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) {
    H5Pclose(fapl);
    fapl = -1;
  }
  local = CS_OK;
  if (fapl < 0)
    local = cs_error_set(CS_EHDF5, __FILE__, __LINE__, "cannot set up MPI-IO for '%s'", path);
  CS_TRY(cs_par_agree(ctx, local));
  /* Before the file exists: a SIGINT just after its creation must find it registered (a
   * test's signal, sent as soon as the file appeared, had left it behind). On every rank of
   * a parallel file: a signal can reach one rank alone (a script, a terminal). */
  if (!image || ctx->rank == 0) cs_signal_remove_on_exit(out->tmp_path, 1);
  if (!image) name_reserve(out);
  CS_TRY(cs_par_agree(ctx, !image && ctx->rank == 0 ? reserve(out) : CS_OK));
  fcpl = object_plist(H5P_FILE_CREATE); /* the root group's attributes (a store's) */
  if (!idle(out))
    out->file = H5Fcreate(out->tmp_path, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, fapl);
  local = CS_OK;
  if (out->file < 0 && !idle(out))
    local = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "cannot create output '%s' (as %s)",
                         path, out->tmp_path);
  CS_TRY(cs_par_agree(ctx, local));
  cs_log_debug("writing %s (temporary name %s)", path, out->tmp_path);
  *outp = out;
  if (fapl > 0) H5Pclose(fapl);
  CS_H5_CLOSE(H5Pclose, fcpl);
  return CS_OK;
fail:
  if (fapl > 0) H5Pclose(fapl);
  CS_H5_CLOSE(H5Pclose, fcpl);
  if (out) cs_out_abort(out);
  return status;
}

int cs_out_create(cs_ctx_t *ctx, const char *path, cs_out_t **outp) {
  return create(ctx, path, 0, outp);
}

int cs_out_create_image(cs_ctx_t *ctx, const char *path, cs_out_t **outp) {
  return create(ctx, path, 1, outp);
}

int cs_out_group(cs_out_t *out, const char *group) {
  /* Agreed: in a file built in memory only rank 0 can fail, and all must leave together. */
  return cs_par_agree(out->ctx, idle(out) ? CS_OK : make_parents(out, group, 1));
}

int cs_out_dataset(cs_out_t *out, const char *path, cs_dtype_t type, int64_t n, cs_dset_t **d) {
  int status = CS_OK;
  hid_t space = -1, lcpl = -1, dcpl = -1;
  *d = NULL;
  CS_CHECK(out->n_dsets < CS_OUT_MAX_DSETS, CS_EINTERNAL, "too many datasets in one output");
  CS_CHECK(!out->image, CS_EINTERNAL, "%s: a file built in memory takes no per-rank datasets",
           path);
  hsize_t dim = (hsize_t)n;
  space = H5Screate_simple(1, &dim, NULL);
  CS_H5(space, "cannot create dataspace for %s", path);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  CS_H5(lcpl, "cannot create link property list");
  H5Pset_create_intermediate_group(lcpl, 1);
  /* Parallel HDF5 allocates contiguous datasets at creation; every element is written
   * afterwards, so writing fill values first would only double the I/O. */
  dcpl = object_plist(H5P_DATASET_CREATE);
  CS_H5(dcpl, "cannot create dataset property list");
  CS_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "cannot set fill time");
  CS_TRY(make_parents(out, path, 0));
  cs_dset_t *ds = &out->dsets[out->n_dsets];
  ds->id = H5Dcreate2(out->file, path, cs__h5_native(type), space, lcpl, dcpl, H5P_DEFAULT);
  CS_H5(ds->id, "%s: cannot create dataset %s", out->final_path, path);
  ds->out = out;
  ds->type = type;
  snprintf(ds->path, sizeof ds->path, "%s", path);
  out->n_dsets++;
  *d = ds;
fail:
  CS_H5_CLOSE(H5Pclose, dcpl);
  CS_H5_CLOSE(H5Pclose, lcpl);
  CS_H5_CLOSE(H5Sclose, space);
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
  dxpl = cs__h5_dxpl_collective();
  CS_H5(dxpl, "cannot create transfer property list");
  CS_H5(H5Dwrite(d->id, cs__h5_native(d->type), mspace, fspace, dxpl, count ? buf : dummy),
        "%s: write of %s rows [%lld, %lld) failed (disk full?)", d->out->final_path, d->path,
        (long long)offset, (long long)(offset + count));
fail:
  CS_H5_CLOSE(H5Pclose, dxpl);
  CS_H5_CLOSE(H5Sclose, mspace);
  CS_H5_CLOSE(H5Sclose, fspace);
  return cs_par_agree(d->out->ctx, status); /* a rank that failed must not be left alone */
}

int cs_out_small(cs_out_t *out, const char *path, cs_dtype_t type, int64_t rows, int64_t cols,
                 const void *data) {
  int status = CS_OK;
  hid_t space = -1, fspace = -1, mspace = -1, dxpl = -1, lcpl = -1, dcpl = -1, d = -1;
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)(cols ? cols : 1)};
  int nd = cols ? 2 : 1;
  static const char dummy[8];
  if (idle(out)) return cs_par_agree(out->ctx, CS_OK);
  space = H5Screate_simple(nd, dims, NULL);
  CS_H5(space, "cannot create dataspace for %s", path);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  CS_H5(lcpl, "cannot create link property list");
  H5Pset_create_intermediate_group(lcpl, 1);
  dcpl = object_plist(H5P_DATASET_CREATE);
  CS_H5(dcpl, "cannot create dataset property list");
  CS_TRY(make_parents(out, path, 0));
  d = H5Dcreate2(out->file, path, cs__h5_native(type), space, lcpl, dcpl, H5P_DEFAULT);
  CS_H5(d, "%s: cannot create dataset %s", out->final_path, path);
  if (rows == 0) goto fail;
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
  CS_H5(H5Dwrite(d, cs__h5_native(type), mspace, fspace, dxpl,
                 out->ctx->rank == 0 ? data : (const void *)dummy),
        "%s: cannot write %s", out->final_path, path);
fail:
  CS_H5_CLOSE(H5Pclose, dxpl);
  CS_H5_CLOSE(H5Sclose, mspace);
  CS_H5_CLOSE(H5Sclose, fspace);
  CS_H5_CLOSE(H5Dclose, d);
  CS_H5_CLOSE(H5Pclose, dcpl);
  CS_H5_CLOSE(H5Pclose, lcpl);
  CS_H5_CLOSE(H5Sclose, space);
  return cs_par_agree(out->ctx, status);
}

int cs_out_table(cs_out_t *out, const char *path, const cs_out_field_t *fields, int n_fields,
                 size_t row_bytes, int64_t rows, const void *data) {
  int status = CS_OK;
  hid_t type = -1, space = -1, fspace = -1, mspace = -1, dxpl = -1, lcpl = -1, dcpl = -1, d = -1;
  hsize_t dim = (hsize_t)rows;
  static const char dummy[8];
  if (idle(out)) return cs_par_agree(out->ctx, CS_OK);
  type = H5Tcreate(H5T_COMPOUND, row_bytes);
  CS_H5(type, "cannot create the compound type of %s", path);
  for (int j = 0; j < n_fields; j++) {
    CS_CHECK(fields[j].offset + cs_dtype_size(fields[j].type) <= row_bytes, CS_EINTERNAL,
             "%s: field %s lies outside the record", path, fields[j].name);
    CS_H5(H5Tinsert(type, fields[j].name, fields[j].offset, cs__h5_native(fields[j].type)),
          "%s: cannot add field %s", path, fields[j].name);
  }
  space = H5Screate_simple(1, &dim, NULL);
  CS_H5(space, "cannot create dataspace for %s", path);
  lcpl = H5Pcreate(H5P_LINK_CREATE);
  CS_H5(lcpl, "cannot create link property list");
  H5Pset_create_intermediate_group(lcpl, 1);
  dcpl = object_plist(H5P_DATASET_CREATE);
  CS_H5(dcpl, "cannot create dataset property list");
  CS_TRY(make_parents(out, path, 0));
  d = H5Dcreate2(out->file, path, type, space, lcpl, dcpl, H5P_DEFAULT);
  CS_H5(d, "%s: cannot create dataset %s", out->final_path, path);
  if (rows == 0) goto fail;
  fspace = H5Dget_space(d);
  mspace = H5Screate_simple(1, &dim, NULL);
  CS_H5(fspace, "no dataspace");
  CS_H5(mspace, "no dataspace");
  if (out->ctx->rank != 0) {
    H5Sselect_none(fspace);
    H5Sselect_none(mspace);
  }
  dxpl = dxpl_for(out);
  CS_H5(dxpl, "cannot create transfer property list");
  /* The file type is the memory type, so the transfer needs no conversion. */
  CS_H5(H5Dwrite(d, type, mspace, fspace, dxpl, out->ctx->rank == 0 ? data : (const void *)dummy),
        "%s: cannot write %s", out->final_path, path);
fail:
  CS_H5_CLOSE(H5Pclose, dxpl);
  CS_H5_CLOSE(H5Sclose, mspace);
  CS_H5_CLOSE(H5Sclose, fspace);
  CS_H5_CLOSE(H5Dclose, d);
  CS_H5_CLOSE(H5Pclose, dcpl);
  CS_H5_CLOSE(H5Pclose, lcpl);
  CS_H5_CLOSE(H5Sclose, space);
  CS_H5_CLOSE(H5Tclose, type);
  return cs_par_agree(out->ctx, status);
}

static int write_attr(cs_out_t *out, const char *obj, const char *name, hid_t type, hid_t space,
                      const void *buf) {
  int status = CS_OK;
  if (idle(out)) return cs_par_agree(out->ctx, CS_OK);
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

/* Rank 0, before a parallel file is created: CS_RESERVE_BYTES written to a file of their own
 * beside it, and given back (unlink_reserve) just before the file is closed. Closing writes
 * the last metadata in collectives; on a disk (or a quota) with no room left at all, that
 * write failed on some ranks only, which then waited in other collectives than the rest (a
 * hang at 2 ranks, a crash in MPI_Finalize at 1). With the reserve, no room means a clear
 * error here, before any collective write, and a disk that fills during the write still has
 * this much for the close. Local. */
#define CS_RESERVE_BYTES (1 << 20)
/* ".NAME.rsv-PID-TOKEN": as long as the temporary name, which the name checks allow for;
 * registered on every rank, like the temporary name (a signal can reach one rank alone). */
static void name_reserve(cs_out_t *out) {
  snprintf(out->reserve_path, sizeof out->reserve_path, "%s", out->tmp_path);
  char *tag = strrchr(out->reserve_path, '/');
  tag = strstr(tag ? tag : out->reserve_path, ".tmp-");
  if (tag) memcpy(tag, ".rsv-", 5);
  cs_signal_remove_on_exit(out->reserve_path, 1);
}

static int reserve(cs_out_t *out) {
  int status = CS_OK, fd = -1;
  /* Bytes a compressing file system (ZFS, btrfs) cannot shrink: zeros would be holes. */
  static char noise[1 << 16];
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < sizeof noise; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    noise[i] = (char)(x >> 56);
  }
  fd = open(out->reserve_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  CS_CHECK(fd >= 0, CS_EOUTPUT, "cannot create output '%s' (as %s): %s", out->final_path,
           out->reserve_path, strerror(errno));
  for (size_t done = 0; done < CS_RESERVE_BYTES;) {
    ssize_t w = write(fd, noise, sizeof noise);
    CS_CHECK(w > 0 || errno == EINTR, CS_EOUTPUT,
             "cannot write output '%s': %s (no room for even %d KiB in its directory; a full "
             "disk or a used-up quota?)", out->final_path, strerror(errno),
             CS_RESERVE_BYTES / 1024);
    if (w > 0) done += (size_t)w;
  }
  CS_CHECK(fsync(fd) == 0, CS_EOUTPUT, "cannot write output '%s': %s (no room for even %d KiB "
           "in its directory; a full disk or a used-up quota?)", out->final_path,
           strerror(errno), CS_RESERVE_BYTES / 1024);
fail:
  if (fd >= 0) close(fd);
  return status;
}

static void unlink_reserve(cs_out_t *out) {
  if (!out->reserve_path[0]) return;
  if (out->ctx->rank == 0) {
    /* Full with the reserve still held: the writes met the end of the disk (verify_written). */
    struct statvfs fs;
    char dir[4096], base[4096];
    split_path(out->final_path, dir, sizeof dir, base, sizeof base);
    out->full_at_close = statvfs(dir, &fs) == 0 && no_room(&fs);
    unlink(out->reserve_path);
  }
  cs_signal_remove_on_exit(out->reserve_path, 0);
  out->reserve_path[0] = '\0';
}

static int close_file(cs_out_t *out) {
  int status = CS_OK;
  unlink_reserve(out); /* its room is for this close */
  for (int i = 0; i < out->n_dsets; i++) CS_H5_CLOSE(H5Dclose, out->dsets[i].id);
  out->n_dsets = 0;
  if (out->file >= 0) {
    herr_t rc = H5Fclose(out->file);
    out->file = -1;
    if (rc < 0)
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "closing output '%s' failed (disk full?)", out->final_path);
  }
  return status;
}

static herr_t visit_one(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
  (void)obj, (void)name, (void)info;
  (*(int64_t *)data)++;
  return 0;
}

/* After every rank closed the file and before it is published: can it be read back? Some
 * MPI-IO layers report a failed write (ENOSPC) only on stderr and return success (Open MPI's
 * ompio at 3 or more ranks), which left a damaged file under the output's name. Rank 0 opens
 * the file on its own and visits every object (metadata only), and a file system with no free
 * block left after the write counts as a failed write too. */
static int verify_written(cs_out_t *out) {
  char dir[4096], base[4096];
  struct statvfs fs;
  split_path(out->final_path, dir, sizeof dir, base, sizeof base);
  if (out->full_at_close || (statvfs(dir, &fs) == 0 && no_room(&fs)))
    return cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                        "the file system of '%s' is full after writing it: the output may be "
                        "incomplete, so it was not published", out->final_path);
  int64_t objects = 0;
  hid_t f = H5Fopen(out->tmp_path, H5F_ACC_RDONLY, H5P_DEFAULT);
  herr_t rc = f < 0 ? -1 : H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_one, &objects);
  if (f >= 0 && H5Fclose(f) < 0) rc = -1;
  if (rc < 0)
    return cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                        "'%s' cannot be read back after writing it (disk full or a failed "
                        "write?), so it was not published", out->final_path);
  return CS_OK;
}

/* Rank 0: the in-memory file's bytes to the temporary name with write(2) and fsync(2); a
 * failure removes what was written. Local. */
static int write_image(cs_out_t *out) {
  int status = CS_OK, fd = -1;
  void *buf = NULL;
  ssize_t size = -1;
  if (H5Fflush(out->file, H5F_SCOPE_GLOBAL) >= 0) size = H5Fget_file_image(out->file, NULL, 0);
  if (size > 0 && (buf = malloc((size_t)size)) != NULL &&
      H5Fget_file_image(out->file, buf, (size_t)size) != size)
    size = -1;
  CS_CHECK(size > 0 && buf, CS_EHDF5, "%s: cannot take the image of the file built in memory",
           out->final_path);
  CS_TRY(close_file(out)); /* in memory: nothing to write */
  fd = open(out->tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  CS_CHECK(fd >= 0, CS_EOUTPUT, "cannot create output '%s' (as %s): %s", out->final_path,
           out->tmp_path, strerror(errno));
  for (ssize_t done = 0; done < size;) {
    ssize_t w = write(fd, (const char *)buf + done, (size_t)(size - done));
    CS_CHECK(w > 0 || errno == EINTR, CS_EOUTPUT, "cannot write '%s' (as %s): %s",
             out->final_path, out->tmp_path, strerror(errno));
    if (w > 0) done += w;
  }
  CS_CHECK(fsync(fd) == 0, CS_EOUTPUT, "cannot write '%s' (as %s): %s", out->final_path,
           out->tmp_path, strerror(errno));
  int rc = close(fd);
  fd = -1;
  CS_CHECK(rc == 0, CS_EOUTPUT, "cannot write '%s' (as %s): %s", out->final_path,
           out->tmp_path, strerror(errno));
fail:
  if (fd >= 0) close(fd);
  if (status != CS_OK) unlink(out->tmp_path);
  free(buf);
  return status;
}

int cs_out_commit(cs_out_t *out) {
  int status = !out->image ? close_file(out) : out->ctx->rank == 0 ? write_image(out) : CS_OK;
  cs_ctx_t *ctx = out->ctx;
  CS_TRY(cs_par_agree(ctx, status));
  CS_TRY(cs_par_agree(ctx, ctx->rank == 0 ? verify_written(out) : CS_OK));
  int local = CS_OK;
  char bak[4200] = "";
  if (ctx->rank == 0 &&
      cs_signal_rename(out->tmp_path, out->final_path, out->image, bak, sizeof bak) != 0)
    local = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s",
                         out->tmp_path, out->final_path, strerror(errno));
  CS_TRY(cs_par_agree(ctx, local));
  if (!out->image) { /* the other ranks learn what rank 0 kept of the replaced file */
    CS_TRY(cs_par_bcast(ctx, bak, sizeof bak, 0));
    if (ctx->rank != 0) cs_signal_published_elsewhere(out->tmp_path, out->final_path, bak);
  }
  free(out);
  return CS_OK;
fail:
  cs_out_abort(out);
  return status;
}

void cs_out_abort(cs_out_t *out) {
  if (!out) return;
  /* The file goes away: emptied first, so that closing it can write its last metadata even
   * on a full disk (a file HDF5 could not close would crash MPI_Finalize). */
  if (out->ctx->rank == 0 && out->file >= 0 && out->tmp_path[0]) {
    int rc = truncate(out->tmp_path, 0); /* when it fails, closing may still work */
    (void)rc;
  }
  close_file(out);
  if (out->tmp_path[0]) cs_io_remove(out->ctx, out->tmp_path);
  cs_signal_remove_on_exit(out->tmp_path, 0);
  free(out);
}
