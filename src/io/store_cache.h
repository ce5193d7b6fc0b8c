/* io/store_cache.h: the store read cache inside io (colcache.c), used by store.c. */
#ifndef CUSTSEG_IO_STORE_CACHE_H
#define CUSTSEG_IO_STORE_CACHE_H

#include "custseg/io.h"

#include <sys/stat.h>

/* Which file a store handle reads: taken once when the store is opened (stat before and after
 * H5Fopen; valid only when the two agree), so cached values are labelled with the file they
 * came from even if the path is replaced while the handle is open. */
typedef struct cs__file_ident {
  int valid;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
} cs__file_ident_t;
/* Fill id from stat(path); 0 when stat succeeded. Local. */
int cs__file_ident(const char *path, cs__file_ident_t *id);
/* Whether two identities name the same file in the same state. */
int cs__file_ident_same(const cs__file_ident_t *a, const cs__file_ident_t *b);

/* Whether reads are counted (between start and stop), and whether copies may be kept (the
 * same: the budget is above 0). The same on every rank. Local. */
int cs__colcache_counting(void);
int cs__colcache_on(void);
/* The cached values of rows [offset, offset + count) of the column, kept as memtype (the
 * column's stored type), or NULL. */
const void *cs__colcache_find(const cs__file_ident_t *id, int txn, const char *name,
                              cs_dtype_t memtype, int64_t offset, int64_t count);
/* Whether `bytes` more fit the budget. Local. */
int cs__colcache_room(size_t bytes);
/* Keep rows [offset, offset + count) in their stored type `memtype` (silently not, when
 * memory is short or the identity is not valid): a copy of data, or data itself when adopt
 * (malloc'ed; the cache frees it, also when it does not keep it). */
void cs__colcache_put(const cs__file_ident_t *id, int txn, const char *name, cs_dtype_t memtype,
                      int64_t offset, int64_t count, void *data, int adopt);
/* Count one read of `bytes` from the cache or from the file. */
void cs__colcache_count(int from_cache, size_t bytes);

#endif
