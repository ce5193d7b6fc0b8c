/* io/colcache.c: the store read cache, so that the stages of one `custseg run` read each
 * column of the store from the file once (docs/pipeline.md, "Reading the store once").
 *
 * While the cache is on (cs_store_cache_start), every read of a stored column keeps the rows
 * this rank read, in the column's stored type, as long as the copies of all ranks fit the
 * budget; a later read of the same column and rows (or rows inside them) of the same file,
 * in any type, is a copy (or a conversion) from memory. Entries are keyed by the device, inode, size and
 * modification time the store had when it was opened (store.c), so a store that changed is
 * read again. Whether a read is
 * served from memory is agreed across ranks by read_rows (so that all take the same path),
 * so this module itself is local. */
#include "store_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct entry {
  struct entry *next;
  char name[256];
  cs__file_ident_t id;
  int txn;
  cs_dtype_t memtype;
  int64_t offset, count;
  size_t bytes;
  void *data;
} entry_t;

static struct {
  int on;
  size_t budget, used;
  entry_t *head;
  cs_store_cache_stats_t stats;
} cache;

void cs_store_cache_start(size_t budget_bytes) {
  cs_store_cache_stop(NULL);
  memset(&cache.stats, 0, sizeof cache.stats);
  cache.on = 1;
  cache.budget = budget_bytes;
}

void cs_store_cache_stop(cs_store_cache_stats_t *stats) {
  for (entry_t *e = cache.head, *next; e; e = next) {
    next = e->next;
    free(e->data);
    free(e);
  }
  cache.head = NULL;
  cache.used = 0;
  cache.on = 0;
  if (stats) *stats = cache.stats;
}

int cs__colcache_counting(void) { return cache.on; }
int cs__colcache_on(void) { return cache.on && cache.budget > 0; }

int cs__file_ident(const char *path, cs__file_ident_t *id) {
  struct stat st;
  memset(id, 0, sizeof *id);
  if (stat(path, &st) != 0) return -1;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  id->size = st.st_size;
  id->mtime = st.st_mtim;
  return 0;
}

int cs__file_ident_same(const cs__file_ident_t *a, const cs__file_ident_t *b) {
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

const void *cs__colcache_find(const cs__file_ident_t *id, int txn, const char *name,
                              cs_dtype_t memtype, int64_t offset, int64_t count) {
  if (!cs__colcache_on() || !id->valid) return NULL;
  for (const entry_t *e = cache.head; e; e = e->next)
    if (e->txn == txn && e->memtype == memtype && !strcmp(e->name, name) &&
        offset >= e->offset && offset + count <= e->offset + e->count &&
        cs__file_ident_same(&e->id, id))
      return (const char *)e->data + (size_t)(offset - e->offset) * cs_dtype_size(memtype);
  return NULL;
}

int cs__colcache_room(size_t bytes) { return cache.on && bytes <= cache.budget - cache.used; }

void cs__colcache_put(const cs__file_ident_t *id, int txn, const char *name, cs_dtype_t memtype,
                      int64_t offset, int64_t count, void *data, int adopt) {
  const size_t bytes = (size_t)count * cs_dtype_size(memtype);
  if (!id->valid || count <= 0 || !cs__colcache_room(bytes) ||
      strlen(name) >= sizeof(((entry_t *)0)->name)) {
    if (adopt) free(data);
    return;
  }
  entry_t *e = calloc(1, sizeof *e);
  void *copy = adopt ? data : malloc(bytes);
  if (!e || !copy) { /* no memory after all: the next read goes to the file again */
    free(e);
    free(copy);
    return;
  }
  if (!adopt) memcpy(copy, data, bytes);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->id = *id;
  e->txn = txn;
  e->memtype = memtype;
  e->offset = offset;
  e->count = count;
  e->bytes = bytes;
  e->data = copy;
  e->next = cache.head;
  cache.head = e;
  cache.used += bytes;
  if ((int64_t)cache.used > cache.stats.peak_bytes) cache.stats.peak_bytes = (int64_t)cache.used;
  /* Older copies of rows this one covers (the same column read over a wider range) go. */
  for (entry_t **pp = &e->next; *pp;) {
    entry_t *o = *pp;
    if (o->txn == txn && o->memtype == memtype && !strcmp(o->name, name) &&
        cs__file_ident_same(&o->id, id) && o->offset >= offset &&
        o->offset + o->count <= offset + count) {
      *pp = o->next;
      cache.used -= o->bytes;
      free(o->data);
      free(o);
    } else {
      pp = &o->next;
    }
  }
}

void cs__colcache_count(int from_cache, size_t bytes) {
  if (from_cache) {
    cache.stats.cache_reads++;
    cache.stats.cache_bytes += bytes;
  } else {
    cache.stats.file_reads++;
    cache.stats.file_bytes += bytes;
  }
}
