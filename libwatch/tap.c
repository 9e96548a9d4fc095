/* Taps: every event on a dict, or on a class, as it happens (watch.h,
 * "Taps").
 *
 * A tap hangs on its namespace record, so the dict or type watcher finds
 * its taps with the probe it makes anyway, and a namespace without taps
 * pays one load.  Taps asking for phase two wait in state->taps_due, each
 * at most once; delivery (queue.c) moves that list to state->tap_batch
 * first, so that what an after callback writes waits for the next batch,
 * as dependents do.  A tap is made on a dict by dict.c, on a class by
 * type.c, both layers above, which know those kinds of namespace.
 *
 * Taps made through the API are counted apart (watch_counters_t): taps,
 * their bytes in tap_bytes, and a namespace that they alone keep watched
 * (index.c, ns->apart).  A cell's taps are libwatch's own (tap_new_own())
 * and count with the cell.
 */
#include "internal.h"

#include <stdlib.h>

/* A tap made through the API leaves the counters: taps, and its bytes,
 * which go back to bytes, whence the free takes them. */
static void
uncount(struct state *st, watch_tap_t *tap)
{
  if (tap->own)
    return;
  st->counters.taps--;
  st->counters.tap_bytes -= sizeof(*tap);
  st->counters.bytes += sizeof(*tap);
}

static void
detach(watch_tap_t *tap)
{
  if (tap->ns == NULL)
    return;
  tap->ns->tap_count--;
  if (tap->ns->cell_tap == tap) {
    tap->ns->cell_tap = NULL;
    tap->ns->cells = NULL;
  }
  *tap->pprev = tap->next;
  if (tap->next)
    tap->next->pprev = tap->pprev;
  tap->ns = NULL;
}

static void
free_freed(struct state *st)
{
  while (st->taps_freed != NULL) {
    watch_tap_t *tap = st->taps_freed;
    st->taps_freed = tap->all_next;
    uncount(st, tap);
    state_free(st, tap, sizeof(*tap));
  }
}

/* Phase one.  The callbacks run no Python code, but may free any tap,
 * their own included, which only detaches it here (watch_tap_free()): its
 * memory stays until the walk ends, and a detached tap's next still leads
 * on through the list, to every tap attached.  in_watcher makes a freed
 * tap's namespace wait for the next collection too: the watcher goes on
 * with it. */
void
tap_event(struct state *st, struct ns *ns, watch_event_kind_t kind,
          PyObject *key, PyObject *value)
{
  watch_tap_event_t event = {kind, ns->obj, key, value};
  st->in_watcher++;
  for (watch_tap_t *tap = ns->taps; tap != NULL; tap = tap->next)
    if (tap->ns != NULL && tap->cb(tap, &event) == 1 && tap->ns != NULL)
      queue_push_tap(st, tap);
  if (kind == WATCH_EVENT_DEALLOCATED)
    while (ns->taps != NULL)
      detach(ns->taps);
  if (--st->in_watcher == 0 && st->taps_freed != NULL)
    free_freed(st);
}

watch_tap_t *
tap_find(struct ns *ns, watch_tap_cb cb)
{
  for (watch_tap_t *tap = ns->taps; tap != NULL; tap = tap->next)
    if (tap->ns != NULL && tap->cb == cb)
      return tap;
  return NULL;
}

/* After the last delivery: each tap still attached hears FINALIZED, and
 * none refers to the state any more. */
void
taps_finalize(struct state *st)
{
  static const watch_tap_event_t finalized = {WATCH_EVENT_FINALIZED, NULL,
                                              NULL, NULL};
  while (st->taps != NULL) {
    watch_tap_t *tap = st->taps;
    st->taps = tap->all_next;
    if (st->taps)
      st->taps->all_pprev = &st->taps;
    int attached = tap->ns != NULL;
    detach(tap);
    queue_remove_tap(st, tap);
    /* Done with first: the callback may free the tap, or any other. */
    tap->state = NULL;
    uncount(st, tap);
    st->counters.bytes -= sizeof(*tap);
    if (attached)
      (void)tap->cb(tap, &finalized);
  }
  free_freed(st);
  assert(st->taps_due == NULL && st->tap_batch == NULL);
}

int
tap_attach(struct state *st, struct ns *ns, watch_tap_t **out, watch_tap_cb cb,
           watch_tap_after_cb after, void *data, int own)
{
  watch_tap_t *tap = state_alloc(st, sizeof(*tap));
  if (tap == NULL) {
    ns_maybe_free(st, ns);
    return WATCH_ENOMEM;
  }
  tap->own = own;
  if (own) {
    ns_counted(st, ns);
  } else {
    st->counters.taps++;
    st->counters.bytes -= sizeof(*tap);
    st->counters.tap_bytes += sizeof(*tap);
  }
  tap->cb = cb;
  tap->after = after;
  tap->data = data;
  tap->state = st;
  tap->all_next = st->taps;
  if (st->taps)
    st->taps->all_pprev = &tap->all_next;
  tap->all_pprev = &st->taps;
  st->taps = tap;
  tap->ns = ns;
  tap->next = ns->taps;
  if (ns->taps)
    ns->taps->pprev = &tap->next;
  tap->pprev = &ns->taps;
  ns->taps = tap;
  ns->tap_count++;
  *out = tap;
  return 0;
}

/* Outside PyType_Modified only: there, a class given a tag while its base
 * loses its own would keep a stale method cache.  A type tap is told by its
 * object, not by its record's kind, which another copy of libwatch may
 * have made (internal.h, WATCH_ABI_VERSION). */
int
watch_tap_arm(watch_tap_t *tap)
{
  struct state *st = tap ? tap->state : NULL;
  if (st == NULL)
    return tap ? WATCH_ENOINIT : WATCH_EINVAL;
  if (tap->ns == NULL || !PyType_Check(tap->ns->obj) || st->in_type_event)
    return WATCH_EINVAL;
  return PyUnstable_Type_AssignVersionTag((PyTypeObject *)tap->ns->obj);
}

void
tap_set_cells(watch_tap_t *tap, cells_written_fn written)
{
  tap->ns->cell_tap = tap;
  tap->ns->cells = tap->data;
  tap->ns->cells_written = written;
}

void *
watch_tap_data(const watch_tap_t *tap)
{
  return tap ? tap->data : NULL;
}

int
watch_tap_attached(const watch_tap_t *tap)
{
  return tap != NULL && tap->ns != NULL;
}

void
watch_tap_free(watch_tap_t *tap)
{
  if (tap == NULL)
    return;
  struct state *st = tap->state;
  if (st == NULL) {
    free(tap);
    return;
  }
  struct ns *ns = tap->ns;
  detach(tap);
  queue_remove_tap(st, tap);
  *tap->all_pprev = tap->all_next;
  if (tap->all_next)
    tap->all_next->all_pprev = tap->all_pprev;
  if (st->in_watcher) {  /* a tap callback: tap_event() may walk it */
    tap->all_next = st->taps_freed;
    st->taps_freed = tap;
  } else {
    uncount(st, tap);
    state_free(st, tap, sizeof(*tap));
  }
  if (ns != NULL)
    ns_maybe_free(st, ns);
}
