/* libwatch's life cycle in an interpreter, and its settings: the top of the
 * layers (mk/layers.txt).  watch_init() fills in the calls up the layers
 * (up_calls) and starts the dict watcher; the last watch_fini() (or the
 * interpreter's teardown, through up_calls) takes every other layer down,
 * in order.  The calls that only set or run what a lower layer keeps
 * (delivery, the loop, the debounce, the unstable limit) pass the gate of
 * every call here, which is the index's, above those layers. */
#include "internal.h"

#include <string.h>

/* Back to "not initialized": every dependent invalidated and detached,
 * every namespace unwatched, the watcher id returned. */
static void
state_reset(struct state *st)
{
  st->finalizing = 1;
  deps_finalize(st);
  taps_finalize(st);
  queue_stop(st);
  ns_free_all(st);
  dict_watch_stop(st);
  func_watch_stop(st);
  type_watch_stop(st);
  st->init_count = 0;
  st->finalizing = 0;
  state_count_initialized(st, -1);
  /* Last: the Python code it runs finds libwatch uninitialized. */
  state_drain(st);
  state_free_lists_release(st);
}

static const struct up_calls up_calls = {state_reset, deliver_batch,
                                         watch_flush,
                                         subclass_registry_event};

int
watch_init(void)
{
  int rc;
  struct state *st = state_find(1, &rc);
  if (st == NULL) {
    PyErr_Clear();
    return rc;
  }
  /* A callback told FINALIZED cannot start libwatch again in the middle
   * of its own shutdown. */
  if (st->finalizing)
    return WATCH_ENOINIT;
  if (st->init_count > 0) {
    st->init_count++;
    return 0;
  }
  memset(&st->counters, 0, sizeof(st->counters));
  st->hits = 0;
  st->unstable_limit = WATCH_DEFAULT_UNSTABLE_LIMIT;
  st->pending_tail = &st->pending;
  st->taps_due_tail = &st->taps_due;
  st->interp = PyInterpreterState_Get();
  st->is_main = st->interp == PyInterpreterState_Main();
  st->up = &up_calls;
  state_count_initialized(st, 1);
  rc = dict_watch_start(st);
  if (rc < 0) {
    state_count_initialized(st, -1);
    return rc;
  }
  st->init_count = 1;
  return 0;
}

void
watch_fini(void)
{
  struct state *st = index_ready();
  /* A callback told FINALIZED may call it too (index_ready() is NULL
   * then): the shutdown under way is the one it asks for. */
  if (st == NULL || --st->init_count > 0)
    return;
  st->init_count = 1;  /* the reset still needs a working libwatch */
  state_reset(st);
}

int
watch_set_unstable_limit(unsigned limit)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  st->unstable_limit = limit;
  return 0;
}

int
watch_counters(watch_counters_t *counters)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (counters == NULL)
    return WATCH_EINVAL;
  *counters = st->counters;
  counters->events = st->counters.events - st->counters.tap_events;
  counters->misses = counters->events - st->hits;
  /* The table of namespaces' buckets, shared out (internal.h). */
  uint64_t counted = table_shadow_bytes(&st->counted_namespaces);
  counters->bytes += counted;
  counters->tap_bytes += table_bytes(&st->namespaces) - counted;
  return 0;
}

int
watch_flush(void)
{
  struct state *st = index_ready();
  return st ? deliver_batch(st) : WATCH_ENOINIT;
}

int
watch_attach_loop(uv_loop_t *loop)
{
  struct state *st = index_ready();
  return st ? waker_attach(st, loop) : WATCH_ENOINIT;
}

int
watch_set_debounce(uint64_t ms)
{
  struct state *st = index_ready();
  return st ? waker_set_debounce(st, ms) : WATCH_ENOINIT;
}
