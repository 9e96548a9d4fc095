#include "table.h"

#include <stdlib.h>

enum { TABLE_MIN_BUCKETS = 8 };

static int
table_grow(table_t *t)
{
  size_t old_size = t->buckets ? t->mask + 1 : 0;
  size_t new_size = old_size ? old_size * 2 : TABLE_MIN_BUCKETS;
  table_node_t **buckets = calloc(new_size, sizeof(*buckets));
  if (buckets == NULL)
    return -1;
  for (size_t i = 0; i < old_size; i++) {
    table_node_t *node = t->buckets[i];
    while (node != NULL) {
      table_node_t *next = node->next;
      table_node_t **head = &buckets[node->hash & (new_size - 1)];
      node->next = *head;
      *head = node;
      node = next;
    }
  }
  free(t->buckets);
  t->buckets = buckets;
  t->mask = new_size - 1;
  return 0;
}

int
table_insert(table_t *t, table_node_t *node)
{
  /* Load factor 1 keeps chains short without probing logic. */
  if ((t->buckets == NULL || t->count > t->mask) && table_grow(t) < 0)
    return -1;
  table_node_t **head = &t->buckets[node->hash & t->mask];
  node->next = *head;
  *head = node;
  t->count++;
  return 0;
}

void
table_remove(table_t *t, table_node_t *node)
{
  table_node_t **link = &t->buckets[node->hash & t->mask];
  while (*link != node)
    link = &(*link)->next;
  *link = node->next;
  t->count--;
}

size_t
table_bytes(const table_t *t)
{
  return t->buckets ? (t->mask + 1) * sizeof(*t->buckets) : 0;
}

void
table_release(table_t *t)
{
  free(t->buckets);
  t->buckets = NULL;
  t->mask = 0;
  t->count = 0;
}

/* table_insert()'s growth and table_drop()'s release (index.c), counted. */
void
table_shadow_insert(table_shadow_t *s)
{
  if (s->buckets == 0 || s->count >= s->buckets)
    s->buckets = s->buckets ? s->buckets * 2 : TABLE_MIN_BUCKETS;
  s->count++;
}

void
table_shadow_remove(table_shadow_t *s)
{
  if (--s->count == 0)
    s->buckets = 0;
}

size_t
table_shadow_bytes(const table_shadow_t *s)
{
  return s->buckets * sizeof(table_node_t *);
}
