/* io/store_impl.h: the store handle's private part, shared by store.c (opening, validating)
 * and store_read.c (reading rows). */
#ifndef CUSTSEG_IO_STORE_IMPL_H
#define CUSTSEG_IO_STORE_IMPL_H

#include "store_cache.h"

#include <hdf5.h>

typedef struct store_impl {
  cs_ctx_t *ctx;
  hid_t file, group, tgroup; /* tgroup: /transactions, -1 when absent */
  hid_t *dsets;   /* one per column, opened lazily */
  hid_t *tdsets;  /* one per /transactions column, opened lazily */
  int fd;       /* the file for pread(2), opened before `file` and checked against it (rows.c) */
  hid_t sfile;  /* a serial handle on the same file for the other layouts, opened lazily */
  char last_how[64]; /* how the last read was done (cs_store_last_read_how) */
  cs__file_ident_t ident; /* the file as opened (the read cache's key) */
} store_impl_t;

#endif
