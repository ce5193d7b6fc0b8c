/* io/out.c: output HDF5 files, written in parallel and published atomically.
 *
 * The file is created as ".<name>.tmp-<token>" in the destination directory (same file
 * system, so rename(2) is atomic), every rank writes its own rows (out_write.c), and only after
 * all ranks have closed it and agreed that nothing failed does rank 0 rename it. A crash or
 * an error leaves at most a hidden temporary file, never a results file that looks complete.
 * What is written into the file (groups, datasets, attributes) is out_write.c's.
 *
 * A small file (a checkpoint) is built in memory on rank 0 instead (HDF5's core driver) and
 * written with plain write(2) when committed: a full disk then fails one write, never the
 * closing of an HDF5 file, which in parallel HDF5 had left the ranks in different
 * collectives (a hang) and, at one rank, an open file that crashed MPI_Finalize. */
#include "out_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static int reserve(cs_out_t *out);
static int close_agreed(cs_out_t *out);
static void keep_open(cs_out_t *out);

/* No block left for this process: root may use the blocks reserved for it (f_bfree), others
 * only what is available to them (f_bavail, which reaches 0 first on ext4). */
static int no_room(const struct statvfs *fs) {
  return geteuid() == 0 ? fs->f_bfree == 0 : fs->f_bavail == 0;
}
static void name_reserve(cs_out_t *out);
static void split_path(const char *path, char *dir, size_t dlen, char *base, size_t blen);

int cs__out_no_room_for(const cs_out_t *out, int64_t bytes) {
  char dir[4096], base[4096];
  struct statvfs fs;
  split_path(out->final_path, dir, sizeof dir, base, sizeof base);
  /* f_bavail even for root: ext4 keeps back blocks that root cannot write either (up to 2%
   * or 16 MB), so its f_bfree still counted several MB at ENOSPC. */
  return statvfs(dir, &fs) == 0 &&
         (double)fs.f_bavail * (double)fs.f_frsize < (double)(bytes > 0 ? bytes : 1);
}

/* A temporary file (or reserve) still being written is locked: rank 0 holds flock(2) on it
 * from its creation until it is renamed or removed, and the kernel drops the lock when the
 * process ends, however it ends (SIGKILL, a job ended by mpirun or Slurm). The descriptor
 * (opened read-write: NFS takes flock as a write lock), or -1 when the file cannot be opened
 * or locked there; writing goes on either way. `flags`: O_CREAT, O_TRUNC. Local. */
static int hold(const char *path, int flags) {
  int fd = open(path, O_RDWR | O_CLOEXEC | flags, 0666);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static void release(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* A leftover's writer has ended when the file has not changed for this many seconds and no
 * process holds its lock. The age covers the moments a lock does not: between a file's
 * creation and its lock, and on NFS (where closing any descriptor of a file drops the
 * process's locks on it) between the writer's close and its rename. */
#define CS_LEFTOVER_AGE 60

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
 * 7 digits (Linux's pid_max is at most 2^22), "-" and a token below 10^6; and Open MPI's
 * shared file pointer component makes "<that>_cid-C-J.sm" beside it (up to 30 more, two
 * int32s: a longer name had printed its "unable to open file for mmap" on every rank). */
#define CS_TMP_SUFFIX_MAX 50

/* The output is claimed (io/claim.c) through ".NAME.lock" beside it. Where locks cannot be
 * taken, one warning per command, and the command goes on. Collective. */
static int claim(cs_ctx_t *ctx, const char *path, const char *what) {
  static int warned;
  char dir[4096], base[4096], lock[8400], who[256];
  split_path(path, dir, sizeof dir, base, sizeof base);
  snprintf(lock, sizeof lock, "%s/.%s.lock", dir, base);
  int c = cs_io_claim(ctx, lock, who, sizeof who), local = CS_OK;
  if (c == CS_CLAIM_HELD && ctx->rank == 0)
    local = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                         "another custseg process is writing %s '%s' (%s): wait for it to end, "
                         "or give this command another name; if that process has ended (a lost "
                         "node), delete '%s'", what, path, who, lock);
  if (c == CS_CLAIM_NONE && ctx->rank == 0 && !warned++)
    cs_log_warn("cannot lock '%s' (%s): a second job writing %s '%s' at the same time would not "
                "be noticed", lock, who, what, path);
  return cs_par_agree(ctx, local);
}

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
    else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
      /* The output is renamed into place: a device (/dev/null), a FIFO or a terminal would be
       * replaced by a regular file, as root even /dev/null itself. */
      status = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__,
                            "cannot write %s '%s': it is not a regular file (a device, FIFO or "
                            "socket), and custseg writes a new file and renames it into place, "
                            "which would replace it; give the name of a file", what, path);
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
  status = cs_par_agree(ctx, status);
  return status == CS_OK ? claim(ctx, path, what) : status;
}

void cs_io_remove(cs_ctx_t *ctx, const char *path) {
  /* A published output gives back the file it replaced (cs_signal_unpublish). */
  if (ctx->rank == 0)
    cs_signal_unpublish(path);
  else
    cs_signal_remove_on_exit(path, 0);
  cs_par_barrier(ctx);
}

/* Removes a temporary file or reserve whose writer has ended (CS_LEFTOVER_AGE), locking it
 * meanwhile; 1 when removed. A file that cannot be locked here (no locks on this file system,
 * another user's file) stays. Local. */
static int remove_if_abandoned(const char *full, const struct stat *st) {
  if (difftime(time(NULL), st->st_mtime) < CS_LEFTOVER_AGE) return 0;
  int fd = open(full, O_RDWR | O_NOFOLLOW | O_CLOEXEC), gone = 0;
  if (fd < 0) return 0;
  struct stat now;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &now) == 0 && now.st_ino == st->st_ino &&
      now.st_dev == st->st_dev && now.st_mtime == st->st_mtime)
    gone = unlink(full) == 0;
  close(fd);
  return gone;
}

/* "PID-TOKEN" or "PID" (cs_io_copy_file), the end of a temporary name: not the lock file of
 * an output that happens to be called "NAME.tmp-1" (".NAME.tmp-1.lock"). */
static int pid_token(const char *s) {
  return *s >= '0' && *s <= '9' && s[strspn(s, "0123456789-")] == '\0';
}

/* Temporary files of earlier writes of the same output that were killed (SIGKILL, a node
 * lost, Ctrl-C at mpirun) stay behind. Those whose writer has ended are removed; the others
 * are reported without removing them (another job may be writing them). */
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
  int n[2] = {0, 0}, n_gone = 0;
  double bytes[2] = {0, 0}, bytes_gone = 0;
  char gone[4200] = "";
  for (struct dirent *e; (e = readdir(d));) {
    int k = -1;
    for (int p = 0; p < 3 && k < 0; p++)
      if (!strncmp(e->d_name, pre[p], strlen(pre[p])) && pid_token(e->d_name + strlen(pre[p])))
        k = p == 2;
    if (k < 0) continue;
    struct stat st;
    char full[8400];
    snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (k == 0 && remove_if_abandoned(full, &st)) {
      if (!n_gone++) snprintf(gone, sizeof gone, "%s", full);
      bytes_gone += (double)st.st_size;
      continue;
    }
    if (!n[k]) snprintf(one[k], sizeof one[k], "%s", full);
    n[k]++;
    bytes[k] += (double)st.st_size;
  }
  closedir(d);
  if (n_gone)
    cs_log_info("removed %d temporary file(s) of an earlier, interrupted write of '%s' (%s%s, "
                "%.1f MB in all): unchanged for %d s and held by no process", n_gone, path, gone,
                n_gone > 1 ? " and others" : "", bytes_gone / 1e6, CS_LEFTOVER_AGE);
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
  if (out) out->tmp_lock = out->reserve_lock = -1;
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
  fcpl = cs__out_object_plist(H5P_FILE_CREATE); /* the root group's attributes (a store's) */
  /* Created and locked by rank 0 before the collective create, which truncates it in place. */
  if (!image && ctx->rank == 0) out->tmp_lock = hold(out->tmp_path, O_CREAT);
  if (!cs__out_idle(out))
    out->file = H5Fcreate(out->tmp_path, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT, fapl);
  if (out->tmp_lock >= 0) { /* a create that made a new file instead: the lock is on nothing */
    struct stat held, named;
    if (fstat(out->tmp_lock, &held) != 0 || stat(out->tmp_path, &named) != 0 ||
        held.st_ino != named.st_ino || held.st_dev != named.st_dev)
      release(&out->tmp_lock);
  }
  local = CS_OK;
  if (out->file < 0 && !cs__out_idle(out))
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
  /* Locked while held; a reserve that cannot be locked is written all the same. */
  out->reserve_lock = fd = hold(out->reserve_path, O_CREAT | O_TRUNC);
  if (fd < 0) fd = open(out->reserve_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
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
  if (fd >= 0 && fd != out->reserve_lock) close(fd); /* the lock stays until unlink_reserve */
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
    release(&out->reserve_lock);
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
                            "closing output '%s' failed (disk full, or a disk error?)",
                            out->final_path);
  }
  return status;
}

/* Parallel files left open (keep_open, close_agreed). The same on every rank of the file's
 * communicator; `import` writes its store from rank 0 alone (cs_par_self), whose MPI_Abort
 * then ends the others too. */
static int left_open;

int cs_io_files_left_open(void) { return left_open; }

/* A parallel file that a rank failed to write to (CS_WRITE_ERROR, agreed) is not closed:
 * closing runs HDF5's collective metadata flush, whose writes fail on that rank alone, which
 * then leaves it and waits in another collective call than the other ranks (a hang at 2
 * ranks, found by fault injection). The file is removed while open, and the process ends with
 * MPI_Abort (main.c), since MPI_Finalize would close it. A full disk (CS_WRITE_NO_SPACE) is
 * closed as usual: the reserve gives the close room (reserve()). Collective (parallel files). */
static void keep_open(cs_out_t *out) {
  int64_t failed = out->write_failed == CS_WRITE_ERROR && out->file >= 0;
  if (cs_par_allreduce(out->ctx, &failed, 1, CS_DT_I64, CS_OP_MAX) != CS_OK || !failed) return;
  if (out->ctx->rank == 0)
    cs_log_warn("the half-written '%s' is removed without closing it: a write failed on a "
                "rank, and closing it could leave the ranks waiting for each other; the job "
                "ends with MPI_Abort", out->tmp_path);
  left_open++;
  out->file = -1; /* the file's and datasets' handles stay open */
  out->n_dsets = 0;
}

/* Seconds the close of a parallel file and the agreement after it may take: a write failing
 * on one rank inside the close (HDF5's metadata) can leave the ranks waiting in different
 * collective calls for good. CUSTSEG_CLOSE_TIMEOUT (600 by default), plus a second for every
 * 10 MB the busiest rank wrote, which the close may have to flush (NFS writes a file's dirty
 * pages back when it is closed). Rank 0's watchdog fires first, so that its line is the one
 * printed; the others' follow 10 s later, in case nothing else ends them (mpirun and srun do).
 * Collective when arming. */
#define CS_CLOSE_TIMEOUT 600

static void arm_close_watchdog(const cs_out_t *out, int seconds) {
  char line[1024] = "";
  const char *where = strstr(__FILE__, "src/");
  if (out->ctx->rank == 0)
    snprintf(line, sizeof line,
             "custseg: error: closing output '%.600s' did not end within %d s: a write that "
             "failed on some rank can leave the ranks waiting for each other there; nothing "
             "was published (CUSTSEG_CLOSE_TIMEOUT sets the limit) [rank 0, %s:%d]\n",
             out->final_path, seconds, where ? where : __FILE__, __LINE__);
  cs_signal_watchdog(out->ctx->rank == 0 ? seconds : seconds + 10, cs_exit_status(CS_EOUTPUT),
                     line);
}

static void watch_close(cs_out_t *out, int on) {
  if (!on) {
    cs_signal_watchdog(0, 0, NULL);
    return;
  }
  const char *e = getenv("CUSTSEG_CLOSE_TIMEOUT");
  const long base = e && atol(e) > 0 && atol(e) < 86400 ? atol(e) : CS_CLOSE_TIMEOUT;
  int64_t bytes = out->bytes_written;
  arm_close_watchdog(out, (int)base); /* already for the reduction, in case a rank is missing */
  if (cs_par_allreduce(out->ctx, &bytes, 1, CS_DT_I64, CS_OP_MAX) != CS_OK)
    bytes = out->bytes_written;
  arm_close_watchdog(out, (int)(base + (bytes / 10000000 < 86400 ? bytes / 10000000 : 86400)));
}

/* Closes a parallel file on every rank under the watchdog above and agrees on the outcome. A
 * close that failed on some rank leaves the file open in HDF5 (MPI_Finalize would close it
 * again: a crash at 1 rank, found by fault injection), so the job ends by MPI_Abort (main.c).
 * Collective. */
static int close_agreed(cs_out_t *out) {
  watch_close(out, 1);
  int status = close_file(out);
  int64_t failed = status != CS_OK;
  if (cs_par_allreduce(out->ctx, &failed, 1, CS_DT_I64, CS_OP_MAX) != CS_OK) failed = 1;
  status = cs_par_agree(out->ctx, status);
  watch_close(out, 0);
  if (failed) left_open++;
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
  /* Without HDF5's own flock(2), which this process's lock on the file (hold()) would refuse. */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && H5Pset_file_locking(fapl, 0, 1) < 0) {
    H5Pclose(fapl);
    fapl = -1;
  }
  hid_t f = H5Fopen(out->tmp_path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0) H5Pclose(fapl);
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
  fd = open(out->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  CS_CHECK(fd >= 0, CS_EOUTPUT, "cannot create output '%s' (as %s): %s", out->final_path,
           out->tmp_path, strerror(errno));
  (void)flock(fd, LOCK_EX | LOCK_NB); /* see hold(); dropped when fd is closed, just before the rename */
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
  cs_ctx_t *ctx = out->ctx;
  int status = !out->image ? close_agreed(out)
                           : cs_par_agree(ctx, ctx->rank == 0 ? write_image(out) : CS_OK);
  CS_TRY(status);
  CS_TRY(cs_par_agree(ctx, ctx->rank == 0 ? verify_written(out) : CS_OK));
  int local = CS_OK;
  char bak[4200] = "";
  if (ctx->rank == 0 &&
      cs_signal_rename(out->tmp_path, out->final_path, out->image, bak, sizeof bak) != 0)
    local = cs_error_set(CS_EOUTPUT, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s",
                         out->tmp_path, out->final_path, strerror(errno));
  release(&out->tmp_lock); /* published (the lock was on the file, now under its final name) */
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
  if (!out->image) keep_open(out); /* then what follows only removes the file and reserve */
  /* The file goes away: emptied first, so that closing it can write its last metadata even
   * on a full disk (a file HDF5 could not close would crash MPI_Finalize). */
  if (out->ctx->rank == 0 && out->file >= 0 && out->tmp_path[0]) {
    int rc = truncate(out->tmp_path, 0); /* when it fails, closing may still work */
    (void)rc;
  }
  if (out->image)
    close_file(out);
  else
    close_agreed(out);
  if (out->tmp_path[0]) cs_io_remove(out->ctx, out->tmp_path);
  cs_signal_remove_on_exit(out->tmp_path, 0);
  release(&out->tmp_lock);
  free(out);
}
