/* io/out_impl.h: what an output file's life (out.c: creating, committing and publishing it,
 * its temporary file) and its writers of groups, datasets and attributes (out_write.c) share:
 * the handles and two small helpers. Private to src/io. */
#ifndef CUSTSEG_IO_OUT_IMPL_H
#define CUSTSEG_IO_OUT_IMPL_H

#include "h5util.h"

#define CS_OUT_MAX_DSETS 256
enum { CS_WRITE_NO_SPACE = 1, CS_WRITE_ERROR = 2 };

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
  /* Rank 0: descriptors holding flock(2) on the temporary file and on the reserve while they
   * are written (hold()), so that a later write of the same output can tell a leftover of a
   * killed job from a file being written; -1 when none. */
  int tmp_lock, reserve_lock;
  int full_at_close;            /* rank 0: the file system had no free block left before it */
  /* How this rank's writes failed: 0, or CS_WRITE_NO_SPACE (a full disk, where the reserve
   * keeps room for closing the file), or CS_WRITE_ERROR (any other, a used-up quota too: the
   * file must not be closed, keep_open in out.c). */
  int write_failed;
  int64_t bytes_written; /* by this rank: the close's watchdog allows time for their flush */
  int n_dsets;
  cs_dset_t dsets[CS_OUT_MAX_DSETS];
};

/* Whether the file system of the output has less than `bytes` available (f_bavail, also for
 * root). Local. */
int cs__out_no_room_for(const cs_out_t *out, int64_t bytes);

/* A rank with nothing to do in an in-memory file: it only takes part in the agreement. */
static inline int cs__out_idle(const cs_out_t *out) { return out->image && out->ctx->rank != 0; }

/* A creation property list of class `cls` (file, group or dataset) that keeps attributes
 * compact (out_write.c); -1 on failure. */
hid_t cs__out_object_plist(hid_t cls);

#endif
