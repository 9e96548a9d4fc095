/* Dependents: the public life of a watch_dep_t.  The gate of every
 * registration (dep_ready() and dep_done()) is inline, in internal.h.
 * What a dependent depends on is the index's (index.c); its delivery is
 * the queue's (queue.c). */
#include "internal.h"

#include <stdlib.h>

int
watch_dep_new(watch_dep_t **out, watch_cb cb, void *data)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (out == NULL)
    return WATCH_EINVAL;
  watch_dep_t *dep = state_alloc(st, sizeof(*dep));
  if (dep == NULL)
    return WATCH_ENOMEM;
  dep->head.valid = 1;
  dep->cb = cb;
  dep->data = data;
  dep->state = st;
  dep->next = st->deps;
  if (st->deps)
    st->deps->pprev = &dep->next;
  dep->pprev = &st->deps;
  st->deps = dep;
  st->counters.dependents++;
  *out = dep;
  return 0;
}

void *
watch_dep_data(const watch_dep_t *dep)
{
  return dep ? dep->data : NULL;
}

static void
dep_free(watch_dep_t *dep)
{
  if (dep->state != NULL)
    state_free(dep->state, dep, sizeof(*dep));
  else
    free(dep);
}

/* Up the layers, through the dependent's kind: what a higher layer hung on
 * it goes (a specialization: the function gets its code back). */
static void
kind_detached(struct state *st, watch_dep_t *dep)
{
  if (dep->kind != NULL && dep->kind->detached != NULL)
    dep->kind->detached(st, dep);
}

/* Detaches the dependent from everything; it stays allocated. */
static void
dep_detach(struct state *st, watch_dep_t *dep)
{
  dep->head.valid = 0;
  dep_unlink_all(st, dep);
  kind_detached(st, dep);
  if (dep->pending_pprev != NULL)
    queue_remove(st, dep);
  *dep->pprev = dep->next;
  if (dep->next)
    dep->next->pprev = dep->pprev;
  st->counters.dependents--;
}

void
watch_dep_release(watch_dep_t *dep)
{
  if (dep == NULL || dep->released)
    return;
  struct state *st = dep->state;
  if (st != NULL)  /* else finalized: the state no longer knows it */
    dep_detach(st, dep);
  dep->released = 1;
  if (dep->pins == 0 || UNFIXED_REENTRY)
    dep_free(dep);
  if (st != NULL)
    index_collect(st);
}

/* dep_done()'s end for a dependent released during its registration,
 * which fails. */
int
dep_done_released(watch_dep_t *dep)
{
  dep_free(dep);
  return WATCH_EINVALIDATED;
}

int
watch_dep_locate(watch_dep_t *dep)
{
  if (dep == NULL)
    return WATCH_EINVAL;
  dep->locate = 1;
  return 0;
}

int
watch_dep_invalidate(watch_dep_t *dep)
{
  if (dep == NULL)
    return WATCH_EINVAL;
  if (dep->state == NULL || !dep->head.valid)
    return 0;
  static const watch_event_t manual = {.kind = WATCH_EVENT_MANUAL};
  dep_invalidate(dep->state, dep, &manual);
  deliver_batch(dep->state);
  return 0;
}

/* Back to what watch_dep_new() made, on the same memory and in the same
 * place among the state's dependents: an optimizer that re-guards its code
 * after an invalidation pays neither an allocation nor a release.  The
 * references dropped here (the event's, the specialization's) are dropped
 * last, pinned: their Python code may release dep, and then the call fails
 * as a registration would. */
int
watch_dep_rearm(watch_dep_t *dep)
{
  int rc = 0;
  struct state *st = dep_enter(dep, &rc);
  if (st == NULL)
    return rc;
  /* Most often an invalidated dependent without a callback: nothing to
   * undo, and the calls are skipped. */
  if (dep->edges != NULL)
    dep_unlink_all(st, dep);
  kind_detached(st, dep);
  if (dep->pending_pprev != NULL)
    queue_remove(st, dep);
  dep->head.valid = 1;
  index_collect(st);
  return dep_done(dep, 0);
}

/* The finalization rule: callbacks already queued are delivered first, then
 * every dependent still valid is invalidated with WATCH_EVENT_FINALIZED and
 * told so.  They stay allocated, because their owners still hold them, until
 * watch_dep_release().  Whatever those callbacks invalidate or create is
 * detached without a callback. */
void
deps_finalize(struct state *st)
{
  static const watch_event_t finalized = {.kind = WATCH_EVENT_FINALIZED};
  deliver_final(st);
  for (watch_dep_t *dep = st->deps; dep; dep = dep->next)
    dep_invalidate(st, dep, &finalized);
  deliver_final(st);
  queue_drop_all(st);
  while (st->deps != NULL) {
    watch_dep_t *dep = st->deps;
    st->deps = dep->next;
    dep->head.valid = 0;
    dep_unlink_all(st, dep);
    kind_detached(st, dep);
    dep->state = NULL;
    st->counters.bytes -= sizeof(*dep);
    st->counters.dependents--;
  }
}
