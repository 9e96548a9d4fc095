/* A small chained hash table of intrusive nodes.
 *
 * Callers embed a table_node_t in their records and give each its hash; the
 * table never compares records, it only hands back the chain of a hash, and
 * the caller picks its record out of it.  The table owns no records. */
#ifndef WATCH_TABLE_H
#define WATCH_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct table_node {
  struct table_node *next;
  uintptr_t hash;
} table_node_t;

typedef struct {
  table_node_t **buckets;
  size_t mask;  /* bucket count - 1; the count is a power of two */
  size_t count;
} table_t;

/* Returns the first node of the chain that holds hash, or NULL. */
static inline table_node_t *
table_chain(const table_t *t, uintptr_t hash)
{
  return t->count ? t->buckets[hash & t->mask] : NULL;
}

/* A pointer's low bits are alignment zeros; multiply them away. */
static inline uintptr_t
table_hash_pointer(const void *p)
{
  uintptr_t h = (uintptr_t)p * (uintptr_t)0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

/* Spreads a Python hash, whose low bits can be poor (small ints hash to
 * themselves), over the buckets. */
static inline uintptr_t
table_hash_mix(uintptr_t h)
{
  h *= (uintptr_t)0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

/* Returns -1 when out of memory.  table_bytes() lets the caller account for
 * the bucket array, which grows as records are inserted. */
int table_insert(table_t *t, table_node_t *node);
void table_remove(table_t *t, table_node_t *node);
size_t table_bytes(const table_t *t);
void table_release(table_t *t);

/* The bucket array a table would have if it held only some of another's
 * records: the same growth rule, applied to their inserts and removes
 * alone, with no buckets.  For an account of what part of the records
 * costs. */
typedef struct {
  size_t buckets;
  size_t count;
} table_shadow_t;

void table_shadow_insert(table_shadow_t *s);
void table_shadow_remove(table_shadow_t *s);
size_t table_shadow_bytes(const table_shadow_t *s);

#endif /* WATCH_TABLE_H */
