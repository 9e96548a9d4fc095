/* Per-interpreter state.
 *
 * The state lives in a capsule in the interpreter's dict, so that each
 * subinterpreter has its own and interpreter teardown frees it.  Watcher
 * callbacks receive no user data, and a dict lookup per event would cost more
 * than the whole miss path, so each thread caches the last state it used,
 * keyed by its interpreter's address.  A later interpreter can reuse that
 * address, so the entry also records the epoch it was made in: the epoch
 * moves whenever any state is freed, which sends every thread back to the
 * capsule once.  The state struct itself lives until its interpreter is torn
 * down, so a cached pointer stays valid across watch_fini() and watch_init().
 *
 * Two copies of libwatch in one process (internal.h, WATCH_ABI_VERSION)
 * find the same capsule, under a key that no version changes.  What it holds
 * is told by the capsule itself, never by the struct it points to: its name
 * carries the ABI version and its context sizeof(struct state), the latter
 * against a layout change that forgot to bump the version.  A copy uses the
 * struct only if both match its own, so it never reads one it does not know;
 * otherwise its watch_init() fails with WATCH_EABI.
 *
 * Interpreters with their own GIL (PEP 684) run all this at once.  A state
 * is only ever used under its own interpreter's GIL; what is process-wide
 * is the thread-local cache (each thread's own), the epoch (atomic), and
 * sole_state with its count (under count_lock, see below).
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define STATE_KEY "libwatch.state"
#define STATE_CAPSULE STATE_KEY ".v" Py_STRINGIFY(WATCH_ABI_VERSION)
#define STATE_SIZE ((void *)(uintptr_t)sizeof(struct state))

/* Initial-exec: one load from the thread pointer, not a __tls_get_addr call
 * on every watcher event.  The block is small enough for the static TLS that
 * glibc keeps for libraries loaded later. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
  PyInterpreterState *interp;
  uint64_t epoch;
  struct state *state;
} cache;

static _Atomic uint64_t epoch = 1;

_Atomic(struct state *) sole_state;
/* Interpreters with their own GIL start and stop libwatch at the same time:
 * the count and sole_state change together under this lock, or one of them
 * could name its state sole just after another counted its own. */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialized_states;
/* This copy has used a state that another copy started (internal.h,
 * WATCH_ABI_VERSION).  It may then have callbacks in an interpreter whose
 * state it never counted, while it counts one elsewhere: its sole_state
 * would be another interpreter's there.  So it gives up sole_state for
 * good, before it registers anything in that interpreter. */
static _Atomic int sharing;

static void
state_capsule_destroy(PyObject *capsule)
{
  struct state *st = PyCapsule_GetPointer(capsule, STATE_CAPSULE);
  if (st == NULL) {
    PyErr_Clear();
    return;
  }
  /* CPython clears the interpreter dict before it clears its watchers, and
   * dicts keep changing after this point: stop listening first. */
  if (st->init_count > 0)
    st->up->teardown(st);
  atomic_fetch_add_explicit(&epoch, 1, memory_order_relaxed);
  state_free_lists_release(st);
  free(st);
}

static int
state_capsule_compatible(PyObject *capsule)
{
  return PyCapsule_CheckExact(capsule)
         && strcmp(PyCapsule_GetName(capsule), STATE_CAPSULE) == 0
         && PyCapsule_GetContext(capsule) == STATE_SIZE;
}

/* *out is NULL if there is no state and create is 0.  Fails with
 * WATCH_EABI for another copy's state that this one cannot share. */
static int
state_lookup(PyInterpreterState *interp, int create, struct state **out)
{
  *out = NULL;
  PyObject *dict = PyInterpreterState_GetDict(interp);
  if (dict == NULL)
    return WATCH_ENOMEM;
  PyObject *capsule = PyDict_GetItemString(dict, STATE_KEY);
  if (capsule != NULL) {
    if (!state_capsule_compatible(capsule))
      return WATCH_EABI;
    *out = PyCapsule_GetPointer(capsule, STATE_CAPSULE);
    return 0;
  }
  if (!create)
    return 0;
  struct state *st = calloc(1, sizeof(*st));
  if (st == NULL)
    return WATCH_ENOMEM;
  st->dict_watcher = -1;
  st->func_watcher = -1;
  st->type_watcher = -1;
  capsule = PyCapsule_New(st, STATE_CAPSULE, state_capsule_destroy);
  if (capsule == NULL) {
    free(st);
    return WATCH_ENOMEM;
  }
  /* On failure the last reference frees st through the destructor. */
  int rc = PyCapsule_SetContext(capsule, STATE_SIZE);
  if (rc == 0)
    rc = PyDict_SetItemString(dict, STATE_KEY, capsule);
  Py_DECREF(capsule);
  if (rc < 0)
    return WATCH_ENOMEM;
  *out = st;
  return 0;
}

static void
share(void)
{
  pthread_mutex_lock(&count_lock);
  atomic_store(&sharing, 1);
  atomic_store_explicit(&sole_state, NULL, memory_order_release);
  pthread_mutex_unlock(&count_lock);
}

/* The state of the running interpreter, NULL if there is none or if it is
 * not this copy's to use. */
struct state *
state_find(int create, int *rc)
{
  PyInterpreterState *interp = PyInterpreterState_Get();
  uint64_t now = atomic_load_explicit(&epoch, memory_order_relaxed);
  struct state *st;
  *rc = 0;
  if (cache.interp == interp && cache.epoch == now) {
    st = cache.state;
  } else {
    *rc = state_lookup(interp, create, &st);
    if (st != NULL) {
      cache.interp = interp;
      cache.epoch = now;
      cache.state = st;
    }
  }
  if (st != NULL && st->starter != NULL && st->starter != &sole_state
      && !atomic_load_explicit(&sharing, memory_order_relaxed))
    share();
  return st;
}

struct state *
state_of_this_interpreter(void)
{
  int rc;
  return state_find(0, &rc);
}

/* Called before the state's watchers are added and after they are gone, so
 * that no callback ever sees a sole state that is not its own. */
void
state_count_initialized(struct state *st, int delta)
{
  pthread_mutex_lock(&count_lock);
  initialized_states += delta;
  if (delta > 0)
    st->starter = &sole_state;
  atomic_store_explicit(&sole_state,
                        initialized_states == 1 && delta > 0
                                && !atomic_load(&sharing)
                            ? st
                            : NULL,
                        memory_order_release);
  pthread_mutex_unlock(&count_lock);
}

PyObject *
state_owner(void)
{
  PyObject *dict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  return Py_XNewRef(dict ? PyDict_GetItemString(dict, STATE_KEY) : NULL);
}

struct state *
state_of_owner(PyObject *owner)
{
  return PyCapsule_GetPointer(owner, STATE_CAPSULE);
}

/* state_alloc() and state_free() (internal.h) when their size class's list
 * cannot serve them: a block of the class's full size, so that any size of
 * the class fits it when it comes back. */
void *
state_alloc_new(struct state *st, size_t size)
{
  size_t index = (size - 1) / FREE_CLASS;
  void *p = calloc(1, index < FREE_CLASSES ? (index + 1) * FREE_CLASS : size);
  if (p != NULL)
    st->counters.bytes += size;
  return p;
}

void
state_free_now(struct state *st, void *p, size_t size)
{
  st->counters.bytes -= size;
  free(p);
}

void
state_free_lists_release(struct state *st)
{
  for (int i = 0; i < FREE_CLASSES; i++) {
    struct free_list *list = &st->free_lists[i];
    while (list->head != NULL) {
      void *p = list->head;
      list->head = *(void **)p;
      free(p);
    }
    list->len = 0;
  }
}

/* The first GARBAGE_INLINE references wait in the state itself: the one
 * or two that a release leaves (its event's namespace and key) cost no
 * allocation. */
void
state_decref_later(struct state *st, PyObject *obj)
{
  if (obj == NULL)
    return;
  if (UNFIXED_REENTRY) {
    Py_DECREF(obj);
    return;
  }
  if (st->garbage == NULL) {
    st->garbage = st->garbage_inline;
    st->garbage_cap = GARBAGE_INLINE;
  }
  if (st->garbage_len == st->garbage_cap) {
    size_t cap = 2 * st->garbage_cap;
    PyObject **grown = malloc(cap * sizeof(*grown));
    if (grown == NULL) {
      /* Out of memory: leaking one reference is safe, dropping it now is
       * not. */
      return;
    }
    memcpy(grown, st->garbage, st->garbage_len * sizeof(*grown));
    if (st->garbage != st->garbage_inline) {
      st->counters.bytes -= st->garbage_cap * sizeof(*grown);
      free(st->garbage);
    }
    st->counters.bytes += cap * sizeof(*grown);
    st->garbage = grown;
    st->garbage_cap = cap;
  }
  st->garbage[st->garbage_len++] = obj;
}

/* Each reference leaves the list before it is dropped, so that the Python
 * code it runs may call back into libwatch, this function included.  A
 * grown list's memory goes too: an idle libwatch holds none. */
void
state_drain(struct state *st)
{
  if (st->in_watcher)
    return;
  while (st->garbage_len > 0) {
    PyObject *obj = st->garbage[--st->garbage_len];
    Py_DECREF(obj);
  }
  if (st->garbage != NULL && st->garbage != st->garbage_inline) {
    st->counters.bytes -= st->garbage_cap * sizeof(*st->garbage);
    free(st->garbage);
    st->garbage = st->garbage_inline;
    st->garbage_cap = GARBAGE_INLINE;
  }
}
