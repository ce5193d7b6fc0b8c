/* io/store_cache.h: the store read cache inside io (colcache.c), used by store.c. */
#ifndef CUSTSEG_IO_STORE_CACHE_H
#define CUSTSEG_IO_STORE_CACHE_H

#include "custseg/io.h"

/* Whether the cache is on. Local. */
int cs__colcache_on(void);
/* The cached values of rows [offset, offset + count) of the column as memtype, or NULL. */
const void *cs__colcache_find(const char *path, int txn, const char *name, cs_dtype_t memtype,
                              int64_t offset, int64_t count);
/* Whether `bytes` more fit the budget. Local. */
int cs__colcache_room(size_t bytes);
/* Keep a copy of rows [offset, offset + count) as read (silently not, when memory is short). */
void cs__colcache_put(const char *path, int txn, const char *name, cs_dtype_t memtype,
                      int64_t offset, int64_t count, const void *data);
/* Count one read of `bytes` from the cache or from the file. */
void cs__colcache_count(int from_cache, size_t bytes);

#endif
