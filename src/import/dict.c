/* import/dict.c: a set of distinct strings with stable indices (category levels).
 *
 * Strings live back to back in one arena; an open-addressing table of indices (XXH3 hashes,
 * linear probing, at most half full) finds them. The caller caps the number of entries
 * (--max-categories), which bounds the memory. */
#include "import_int.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

void cs__dict_init(cs_dict_t *d) { memset(d, 0, sizeof *d); }

void cs__dict_free(cs_dict_t *d) {
  free(d->arena);
  free(d->off);
  free(d->slot);
  memset(d, 0, sizeof *d);
}

static int64_t probe(const cs_dict_t *d, const char *s, size_t len) {
  uint64_t mask = (uint64_t)d->nslot - 1;
  for (uint64_t h = XXH3_64bits(s, len) & mask;; h = (h + 1) & mask) {
    int32_t i = d->slot[h];
    if (i < 0 || !strcmp(d->arena + d->off[i], s)) return (int64_t)h;
  }
}

int cs__dict_find(const cs_dict_t *d, const char *s) {
  if (!d->nslot) return -1;
  return d->slot[probe(d, s, strlen(s))];
}

static int rehash(cs_dict_t *d, int64_t nslot) {
  int32_t *slot = malloc((size_t)nslot * sizeof *slot);
  if (!slot) return -1;
  for (int64_t h = 0; h < nslot; h++) slot[h] = -1;
  free(d->slot);
  d->slot = slot;
  d->nslot = nslot;
  for (int i = 0; i < d->n; i++) {
    const char *s = d->arena + d->off[i];
    d->slot[probe(d, s, strlen(s))] = i;
  }
  return 0;
}

int cs__dict_add(cs_dict_t *d, const char *s, int *idx, int *added) {
  size_t len = strlen(s);
  *added = 0;
  if (2 * ((int64_t)d->n + 1) > d->nslot && rehash(d, d->nslot ? 2 * d->nslot : 64))
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (category levels)");
  int64_t h = probe(d, s, len);
  if (d->slot[h] >= 0) {
    *idx = d->slot[h];
    return CS_OK;
  }
  if (d->n == d->cap) {
    int cap = d->cap ? 2 * d->cap : 64;
    size_t *off = realloc(d->off, (size_t)cap * sizeof *off);
    if (!off) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (levels)");
    d->off = off;
    d->cap = cap;
  }
  if (d->arena_len + len + 1 > d->arena_cap) {
    size_t cap = d->arena_cap ? 2 * d->arena_cap : 4096;
    while (cap < d->arena_len + len + 1) cap *= 2;
    char *a = realloc(d->arena, cap);
    if (!a) return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory (levels)");
    d->arena = a;
    d->arena_cap = cap;
  }
  memcpy(d->arena + d->arena_len, s, len + 1);
  d->off[d->n] = d->arena_len;
  d->arena_len += len + 1;
  d->slot[h] = d->n;
  *idx = d->n++;
  *added = 1;
  return CS_OK;
}
