/* libwatch's private structures.
 *
 * The index has three levels, all reached by pointer or hash probes:
 *
 *   state (one per interpreter)
 *     namespaces: table of ns, by the address of the watched object
 *       ns.keys: table of keyrec, by the hash of the key
 *         keyrec.edges: the dependents of that one key
 *       ns.whole: the dependents of the namespace as a whole
 *
 * An edge links one dependent to one keyrec.  It sits on two intrusive lists,
 * the keyrec's (doubly linked, so that unlinking is O(1)) and the
 * dependent's, so that a dependent is unlinked from everything in
 * O(its edges), and a key change touches only that key's edges.
 */
#ifndef WATCH_INTERNAL_H
#define WATCH_INTERNAL_H

#include "watch.h"
#include "table.h"

#include <uv.h>

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

struct state;
struct ns;

/* Test builds only (mk/suites/fuzz-injected.sh): each switch undoes one
 * fix, so that the fuzzer can show it finds that class of bug by itself.
 *   WATCH_TEST_UNFIX_REENTRY  references dropped at once, and a dependent
 *                             released by its own registration freed there
 *   WATCH_TEST_UNFIX_CYCLE    an invalid dependent may be linked */
#ifdef WATCH_TEST_UNFIX_REENTRY
#define UNFIXED_REENTRY 1
#else
#define UNFIXED_REENTRY 0
#endif
#ifdef WATCH_TEST_UNFIX_CYCLE
#define UNFIXED_CYCLE 1
#else
#define UNFIXED_CYCLE 0
#endif

/* The files of libwatch are layers (mk/layers.txt): each calls only the
 * files below it.  Where a lower one must tell a higher one, it calls
 * through a table of function pointers that the higher one fills in: a
 * namespace's kind, a dependent's kind, and the state's up_calls.  With
 * two copies of libwatch in a process (WATCH_ABI_VERSION below), a copy
 * may call the other's functions through them: they do the same. */

/* How one kind of namespace (dict, function, class) is watched.  unwatch is
 * called for every record that watch accepted; ns->obj is NULL there if the
 * object died. */
struct ns_kind {
  int (*watch)(struct state *st, struct ns *ns);  /* 0 or a WATCH_E* code */
  void (*unwatch)(struct state *st, struct ns *ns);
};

/* What a higher layer hangs on a dependent: a specialization
 * (specialize.c) or a value cell's guard (cell.c).  Plain dependents have
 * none. */
struct dep_kind {
  /* Phase one of its invalidation (index.c), once its edges are unlinked:
   * a guard clears its cell's value, a specialization gives the function
   * its code back, before the mutation completes. */
  void (*invalidated)(struct state *st, watch_dep_t *dep,
                      const watch_event_t *report);
  /* Its release, its re-arming and the last watch_fini() (dep.c): what the
   * layer hung on it goes; NULL: nothing to undo. */
  void (*detached)(struct state *st, watch_dep_t *dep);
  /* It ignores the unstable rule (cells have no unstable limit). */
  int ignores_unstable;
};

/* The calls up to higher layers that are not about one object, filled in
 * by lifecycle.c, the top, at watch_init(). */
struct up_calls {
  /* The interpreter's teardown (state.c): lifecycle.c's reset. */
  void (*teardown)(struct state *st);
  /* Phase two, when the waker (waker.c) says it is time: on a host loop,
   * queue.c's deliver_batch(); at the pending call, watch_flush(), which
   * passes the gate of every call first. */
  int (*deliver)(struct state *st);
  int (*flush)(void);
  /* An event of a key of a base's subclass registry (dict.c): a class
   * changing bases, type.c's to read. */
  void (*registry_event)(struct state *st, struct ns *ns,
                         watch_event_kind_t kind, PyObject *key,
                         PyObject *new_value);
};

/* cell.c's: what the cell tap does for the write (ADDED, MODIFIED,
 * DELETED) of an exact str key, whose exact_key_hash() is hash: held is
 * what dict holds under it once the write is done (NULL: absent), known 0
 * for an add, which may yet fail.  The dict watcher, a layer below, calls
 * it through the dict's record (ns->cells_written) while the cell tap is
 * its dict's only one.  Returns 0. */
struct cell_dict;
typedef int (*cells_written_fn)(struct cell_dict *cd, PyObject *dict,
                                PyObject *key, PyObject *held, int known,
                                uintptr_t hash);

struct edge {
  struct edge *next;     /* in keyrec->edges */
  struct edge **pprev;   /* whatever points at this edge in that list */
  struct edge *dep_next; /* in dep->edges */
  struct keyrec *keyrec;
  watch_dep_t *dep;
};

struct keyrec {
  table_node_t node;    /* in ns->keys, by hash of key */
  /* Strong reference while a dependent uses the record; NULL for ns->whole
   * and for an idle record, one that only keeps a modification count and is
   * matched by hash alone (see keyrec_unused()). */
  PyObject *key;
  struct edge *edges;
  struct ns *ns;
  struct keyrec *unused_next; /* in ns->unused, see collect_later() */
  uint32_t changes;     /* modifications seen while tracked */
  unsigned idle : 1;    /* key dropped, counted in ns->idle */
  unsigned kept : 1;    /* no edge, no count, key held: see index.c */
  unsigned unstable : 1;
  unsigned exact : 1;   /* exact str or int: comparable without Python */
  unsigned unused_queued : 1;
};

struct ns {
  table_node_t node;    /* in state->namespaces, by address of obj */
  /* Borrowed: the watcher reports its deallocation, and then it is NULL. */
  PyObject *obj;
  const struct ns_kind *kind;
  PyObject *guard;      /* a class's weak reference, see type.c */
  uint64_t version;
  size_t edges;         /* edges on this namespace, ns->whole included */
  unsigned idle;        /* idle key records, at most IDLE_KEYS_MAX */
  unsigned kept;        /* kept key records, at most KEPT_KEYS_MAX */
  table_t keys;
  struct keyrec whole;
  /* A module dict's: the dependents of its module's class (type.c), told
   * of the module's __class__ assignment alone and of what tells whole. */
  struct keyrec module_class;
  struct keyrec *unused; /* records to collect, see collect_later() */
  struct ns *collect_next; /* in state->collect */
  /* Keeps the namespace watched with no edges: a version was asked for, or
   * a key carries a modification count that the unstable rule needs. */
  unsigned pinned : 1;
  unsigned collect_queued : 1;
  unsigned subclass_registry : 1; /* a base's tp_subclasses, see type.c */
  /* Watched for taps made through the API alone, and counted apart
   * (watch_counters_t): no edge, no pin, no tap of libwatch's own. */
  unsigned apart : 1;
  watch_tap_t *taps;    /* tap.c; they keep the namespace watched */
  unsigned tap_count;   /* taps attached */
  /* cell.c's tap on this dict and its record of the cells that read it
   * (tap_set_cells()), or NULL.  While it is the only tap, the dict
   * watcher hands a name's write to cells_written itself, without the
   * taps' dispatch: the write of a name that cells read is the common
   * event there. */
  watch_tap_t *cell_tap;
  struct cell_dict *cells;
  cells_written_fn cells_written;
};

struct watch_dep_s {
  watch_dep_head_t head;   /* first: watch_dep_valid() reads it */
  watch_cb cb;
  void *data;
  int locate;              /* watch_dep_locate() */
  /* A registration in progress holds a pin: Python code it runs (a key's
   * __hash__ or __eq__) may release the dependent, which then only detaches
   * it and leaves the free to the registration (dep_done()). */
  unsigned pins;
  unsigned released : 1;
  struct state *state;     /* NULL once libwatch finalized */
  struct edge *edges;
  watch_dep_t *next;       /* in state->deps */
  watch_dep_t **pprev;
  watch_dep_t *pending_next; /* in state->pending or state->batch */
  watch_dep_t **pending_pprev; /* NULL when in neither */
  watch_event_t event;     /* why it was invalidated; holds references */
  struct spec *spec;       /* watch_specialize(), or NULL */
  const struct dep_kind *kind; /* a higher layer's, or NULL */
};

/* Two copies of libwatch can run in one process, such as pywatch's, linked
 * into its extension, and an embedder's libwatch.so.  In one interpreter
 * they share one struct state (state.c), and each runs its own code on the
 * structures the other made, so they must agree on all of them.  Bump the
 * version on any change to the layout or the meaning of struct state or of
 * any structure it reaches (this file and table.h), or of how the code
 * uses them: a copy of another version then refuses with WATCH_EABI instead
 * of sharing.  The test-only switch builds a copy that differs
 * (mk/suites/abi.sh). */
#ifdef WATCH_TEST_ABI_VERSION
#define WATCH_ABI_VERSION WATCH_TEST_ABI_VERSION
#else
#define WATCH_ABI_VERSION 10
#endif

/* state.c: blocks that state_alloc() hands out again, per size class. */
enum { FREE_CLASS = 8, FREE_CLASSES = 32, FREE_LIST_MAX = 64 };
struct free_list {
  void *head;              /* each block's first word links the next */
  unsigned len;
};
enum { GARBAGE_INLINE = 8 };

struct state {
  int init_count;          /* watch_init() nesting; 0: not initialized */
  const struct up_calls *up; /* set by watch_init() */
  int dict_watcher;
  int func_watcher;        /* -1 until the first function dependency */
  int type_watcher;        /* -1 until the first class that needs one */
  uint64_t clock;          /* source of namespace versions */
  unsigned unstable_limit;
  unsigned in_watcher;     /* depth of watcher callbacks running */
  /* Depth of type watcher callbacks running: inside PyType_Modified, where
   * no version tag may be assigned (watch_tap_arm()) */
  unsigned in_type_event;
  /* The interpreter it belongs to, for the pending call, which the private
   * loop's thread queues with no thread state to ask. */
  PyInterpreterState *interp;
  int is_main;             /* the main interpreter: host loops reach it */
  /* type.c's audit hook, the interpreter's own, added once for its life:
   * HOOK_* there.  Kept across watch_fini(). */
  int class_swap_hook;
  /* The copy of libwatch that started it last (state.c), by the address
   * of that copy's sole_state. */
  const void *starter;
  int finalizing;          /* the last watch_fini() is under way */
  table_t namespaces;
  /* The namespace ns_find() found last, tried first: a program's writes
   * mostly go to the namespace it wrote last.  Cleared as that namespace
   * leaves the table, before its object's address can be reused. */
  struct ns *found;
  watch_dep_t *deps;       /* every live dependent */
  /* queue.c */
  watch_dep_t *pending;    /* the next batch */
  watch_dep_t **pending_tail;
  watch_dep_t *batch;      /* the batch being delivered */
  int delivering;
  _Atomic int call_queued; /* a pending call is outstanding */
  uint64_t debounce_ms;
  uv_loop_t *host_loop;    /* watch_attach_loop(), or NULL */
  struct waker *waker;     /* on the host loop or the private one */
  struct private_loop *private_loop;
  struct ns *collect;      /* namespaces with records to collect */
  /* tap.c: every tap, those that asked for phase two, those being
   * delivered */
  watch_tap_t *taps;
  watch_tap_t *taps_due;
  watch_tap_t **taps_due_tail;
  watch_tap_t *tap_batch;
  watch_tap_t *taps_freed; /* freed during tap_event(), which frees them */
  /* References to drop once no libwatch structure is in the middle of a
   * change (state_drain()): a Py_DECREF can run any Python code.  garbage
   * is garbage_inline, or NULL before the first, unless more were due. */
  PyObject **garbage;
  size_t garbage_len, garbage_cap;
  PyObject *garbage_inline[GARBAGE_INLINE];
  struct free_list free_lists[FREE_CLASSES]; /* state.c, state_alloc() */
  uint64_t hits;           /* events that invalidated something */
  /* What watch_counters() reports, but: events counts every event, those
   * counted in tap_events too; misses is derived (events - hits); and
   * bytes and tap_bytes leave out the table of namespaces, whose buckets
   * are shared out there: bytes gets those that a table of the counted
   * namespaces alone would have (counted_namespaces), tap_bytes the rest,
   * so that taps leave bytes as it would be without them. */
  watch_counters_t counters;
  table_shadow_t counted_namespaces;
};

/* state.c */
struct state *state_of_this_interpreter(void);

/* Most processes initialize libwatch in one interpreter only.  While that
 * holds, a watcher callback can only be running in that interpreter, and
 * finds its state here without asking CPython which interpreter runs. */
extern _Atomic(struct state *) sole_state;

static inline struct state *
state_of_watcher(void)
{
  struct state *st = atomic_load_explicit(&sole_state, memory_order_acquire);
  return st ? st : state_of_this_interpreter();
}

struct state *state_find(int create, int *rc);
/* The object that keeps this interpreter's state alive (new reference), and
 * the state it keeps; for what must find its state without asking. */
PyObject *state_owner(void);
struct state *state_of_owner(PyObject *owner);
void state_count_initialized(struct state *st, int delta);
void *state_alloc_new(struct state *st, size_t size);
void state_free_now(struct state *st, void *p, size_t size);
void state_free_lists_release(struct state *st);

/* Zeroed memory, counted in counters.bytes.  Each size class of FREE_CLASS
 * bytes keeps up to FREE_LIST_MAX freed blocks: a registration that follows
 * an invalidation or a release (an optimizer re-guarding the code it just
 * lost) takes back the edge, key record or dependent given up without going
 * through calloc, which glibc serves past its per-thread cache.  Inline: the
 * size is a constant at every call, and so is the class.  The lists are the
 * state's own (isolated interpreters allocate at once) and are emptied at
 * the last watch_fini() and at the interpreter's teardown: at most a few
 * kilobytes stay between them, and none after. */
static inline void *
state_alloc(struct state *st, size_t size)
{
  size_t index = (size - 1) / FREE_CLASS;
  if (index >= FREE_CLASSES || st->free_lists[index].head == NULL)
    return state_alloc_new(st, size);
  struct free_list *list = &st->free_lists[index];
  void *p = list->head;
  list->head = *(void **)p;
  list->len--;
  memset(p, 0, (index + 1) * FREE_CLASS);
  st->counters.bytes += size;
  return p;
}

static inline void
state_free(struct state *st, void *p, size_t size)
{
  size_t index = (size - 1) / FREE_CLASS;
  if (p == NULL)
    return;
  if (index >= FREE_CLASSES || st->free_lists[index].len == FREE_LIST_MAX) {
    state_free_now(st, p, size);
    return;
  }
  struct free_list *list = &st->free_lists[index];
  *(void **)p = list->head;
  list->head = p;
  list->len++;
  st->counters.bytes -= size;
}
/* Takes over a reference and drops it at the next state_drain(). */
void state_decref_later(struct state *st, PyObject *obj);
void state_drain(struct state *st);

/* index.c */
int ns_get(struct state *st, PyObject *obj, const struct ns_kind *kind,
           struct ns **out);
void ns_event_reported(struct state *st, struct ns *ns, watch_event_kind_t kind,
                       PyObject *key, const watch_event_t *report);

/* An event told as itself.  Inline: every dict write with a dependent. */
static inline void
ns_event(struct state *st, struct ns *ns, watch_event_kind_t kind,
         PyObject *key)
{
  watch_event_t report = {kind, kind == WATCH_EVENT_DEALLOCATED ? NULL : ns->obj,
                          key, NULL, 0};
  ns_event_reported(st, ns, kind, key, &report);
}
void ns_exact_key_event(struct state *st, struct ns *ns,
                        watch_event_kind_t kind, PyObject *key,
                        uintptr_t hash);
void ns_changed(struct state *st, struct ns *ns, watch_event_kind_t kind);
void ns_module_class_changed(struct state *st, struct ns *ns,
                             const watch_event_t *report);
void ns_unused(struct state *st, struct ns *ns);

/* Frees the record of a namespace that nothing keeps watched any more (at
 * the next collection inside a watcher).  Inline: most calls find it kept,
 * on every registration and invalidation. */
static inline void
ns_maybe_free(struct state *st, struct ns *ns)
{
  if (ns->obj != NULL && (ns->edges || ns->pinned || (ns->taps && ns->apart)))
    return;
  ns_unused(st, ns);
}
/* The namespace of a tap made through the API: created apart. */
int ns_get_apart(struct state *st, PyObject *obj, const struct ns_kind *kind,
                 struct ns **out);
void ns_set_apart(struct state *st, struct ns *ns, int apart);

/* Something that counts (an edge, a pin, a tap of libwatch's own) keeps
 * the namespace watched from now on.  Inline: every edge linked asks. */
static inline void
ns_counted(struct state *st, struct ns *ns)
{
  if (ns->apart)
    ns_set_apart(st, ns, 0);
}
void ns_free_all(struct state *st);
int dep_link(struct state *st, watch_dep_t *dep, struct ns *ns, PyObject *key,
             Py_hash_t hash);
int dep_link_whole(struct state *st, watch_dep_t *dep, struct ns *ns);
int dep_link_module_class(struct state *st, watch_dep_t *dep, struct ns *ns);
void dep_unlink_since(struct state *st, watch_dep_t *dep, struct edge *mark);
void dep_unlink_all(struct state *st, watch_dep_t *dep);
void dep_invalidate(struct state *st, watch_dep_t *dep,
                    const watch_event_t *report);
void index_collect_all(struct state *st);

/* Collects what fell out of use and drops the references left to drop:
 * called where no structure is in the middle of a change.  Inline, since
 * most calls find nothing to do (a checking build walks the index every
 * time). */
static inline void
index_collect(struct state *st)
{
#ifndef WATCH_CHECK_INDEX
  if (st->collect == NULL && st->garbage_len == 0)
    return;
#endif
  index_collect_all(st);
}
/* The state of this interpreter, for a call of the API: NULL unless
 * watch_init() succeeded, with what was left to collect collected. */
struct state *index_ready(void);

/* dep.c */
int dep_done_released(watch_dep_t *dep);

/* The end of a registration: unpins, and frees a dependent released
 * meanwhile, whose registration then fails.  rc is returned otherwise.
 * Inline: every registration ends here, and most often returns rc. */
static inline int
dep_done(watch_dep_t *dep, int rc)
{
  if (--dep->pins > 0 || !dep->released)
    return rc;
  return dep_done_released(dep);
}

/* The gate of every call that takes a dependent.  The state comes from the
 * dependent, not from the thread: asking CPython which interpreter runs
 * costs a thread-local lookup through libpython.  While one interpreter
 * alone runs libwatch (sole_state), the dependent's state is that
 * interpreter's, which the caller must be running (watch.h); otherwise the
 * interpreter is checked.  Pinned first: index_collect() drops the
 * references left to drop, whose Python code may release dep too.
 * Inline, as dep_ready(): every registration and re-arm pays it. */
static inline struct state *
dep_enter(watch_dep_t *dep, int *rc)
{
  if (dep == NULL) {
    *rc = WATCH_EINVAL;
    return NULL;
  }
  dep->pins++;  /* until dep_done() */
  struct state *st = dep->state;
  if (st == NULL || st->init_count == 0 || st->finalizing
      || (st != atomic_load_explicit(&sole_state, memory_order_relaxed)
          && st->interp != PyInterpreterState_Get())) {
    *rc = dep_done(dep, WATCH_ENOINIT);
    return NULL;
  }
  return st;
}

/* The gate of every registration: a valid dependent, pinned. */
static inline struct state *
dep_ready(watch_dep_t *dep, int *rc)
{
  struct state *st = dep_enter(dep, rc);
  if (st == NULL)
    return NULL;
  index_collect(st);
  if (!dep->head.valid) {
    *rc = dep_done(dep, WATCH_EINVALIDATED);
    return NULL;
  }
  return st;
}

void deps_finalize(struct state *st);

/* Exact str and int keys hash and compare in C, with no Python code, so the
 * watcher can match them precisely.  Any other key is matched
 * conservatively. */
static inline int
key_is_exact(PyObject *key)
{
  return PyUnicode_CheckExact(key) || PyLong_CheckExact(key);
}

static inline uintptr_t
exact_key_hash(PyObject *key)
{
  /* str caches its hash; int hashes in C.  Neither fails nor runs Python. */
  if (PyUnicode_CheckExact(key)) {
    Py_hash_t h = ((PyASCIIObject *)key)->hash;
    if (h != -1)
      return table_hash_mix((uintptr_t)h);
  }
  return table_hash_mix((uintptr_t)PyObject_Hash(key));
}

/* The lookups on every watcher event: inline, since a store to a key
 * nobody depends on should cost no more than them. */
static inline struct ns *
ns_find(struct state *st, PyObject *obj)
{
  if (st->found != NULL && st->found->obj == obj)
    return st->found;
  uintptr_t hash = table_hash_pointer(obj);
  for (table_node_t *n = table_chain(&st->namespaces, hash); n; n = n->next) {
    if (((struct ns *)n)->obj == obj)
      return st->found = (struct ns *)n;
  }
  return NULL;
}

/* A change that reaches libwatch outside its watchers (an audit hook, a
 * code swap of its own), counted as the watchers count theirs: misses is
 * events less hits, and a hit must have its event. */
static inline void
event_heard(struct state *st, const struct ns *ns)
{
  st->counters.events++;
  st->counters.tap_events += ns->apart;
}

/* True when the namespace has no key record of this hash (mixed, as
 * exact_key_hash() gives). */
static inline int
ns_hash_idle(const struct ns *ns, uintptr_t hash)
{
  for (table_node_t *n = table_chain(&ns->keys, hash); n; n = n->next) {
    if (n->hash == hash)
      return 0;
  }
  return 1;
}

/* True when no dependent can be affected by a change of key; false may
 * still turn out to be a miss after the precise match. */
static inline int
ns_key_idle(const struct ns *ns, PyObject *key)
{
  if (ns->whole.edges != NULL || !key_is_exact(key))
    return 0;
  return ns_hash_idle(ns, exact_key_hash(key));
}

/* waker.c */
void queue_wake(struct state *st);
void queue_stop(struct state *st);
/* watch_attach_loop() and watch_set_debounce() once the state is ready */
int waker_attach(struct state *st, uv_loop_t *loop);
int waker_set_debounce(struct state *st, uint64_t ms);

/* A tap (tap.c), whose phase two the queue delivers (queue.c). */
struct watch_tap_s {
  watch_tap_cb cb;
  watch_tap_after_cb after;
  void *data;
  struct ns *ns;           /* NULL once detached */
  struct state *state;     /* NULL once libwatch finalized */
  watch_tap_t *all_next;   /* in state->taps, attached or not */
  watch_tap_t **all_pprev;
  watch_tap_t *next;       /* in ns->taps */
  watch_tap_t **pprev;
  watch_tap_t *due_next;   /* in state->taps_due or state->tap_batch */
  watch_tap_t **due_pprev; /* NULL when in neither */
  int own;                 /* tap_new_own()'s */
};

/* Whether a tap of libwatch's own is attached to ns (index.c).  Inline:
 * the index, a layer below tap.c, asks. */
static inline int
taps_own(const struct ns *ns)
{
  for (watch_tap_t *tap = ns->taps; tap != NULL; tap = tap->next)
    if (tap->ns != NULL && tap->own)
      return 1;
  return 0;
}

/* queue.c */
void queue_push(struct state *st, watch_dep_t *dep);
void queue_remove(struct state *st, watch_dep_t *dep);
void queue_drop_all(struct state *st);
/* A tap with an after callback, once, and out again */
void queue_push_tap(struct state *st, watch_tap_t *tap);
void queue_remove_tap(struct state *st, watch_tap_t *tap);
int deliver_batch(struct state *st);
int deliver_final(struct state *st);

/* dict.c */
extern const struct ns_kind dict_kind;
int dict_watch_start(struct state *st);
void dict_watch_stop(struct state *st);
int dep_on_dict_key(struct state *st, watch_dep_t *dep, PyObject *dict,
                    PyObject *key, PyObject *assumed);
int dep_on_namespace(struct state *st, watch_dep_t *dep, PyObject *dict);
/* A tap of libwatch's own (a cell's), counted with what it serves rather
 * than among the taps (watch_counters_t); it has no after callback.
 * Errors: watch_tap_new()'s. */
int tap_new_own(watch_tap_t **out, PyObject *dict, watch_tap_cb cb,
                void *data);
/* The head of CPython's keys object (Include/internal/pycore_dict.h), the
 * same in 3.12 to 3.15 with the GIL: dict.c reads the hashes it stores. */
struct dict_keys_head {
  Py_ssize_t dk_refcnt;
  uint8_t dk_log2_size;
  uint8_t dk_log2_index_bytes;
  uint8_t dk_kind;          /* 0: DICT_KEYS_GENERAL, any key */
  uint32_t dk_version;
  Py_ssize_t dk_usable;
  Py_ssize_t dk_nentries;
  char dk_indices[];        /* then the entries */
};

int dict_lookup_is_pure_scan(PyObject *dict, PyObject *key, Py_hash_t hash);

/* Whether dict[key] compares key with no stored key by Python code (an
 * __eq__ that may change its answer unheard); runs no Python code.  hash is
 * key's.  Inline for the common case, an exact str looked up in a dict of
 * exact str keys alone, where every comparison is str's own: every write
 * of a name that a cell reads asks. */
static inline int
dict_lookup_is_pure(PyObject *dict, PyObject *key, Py_hash_t hash)
{
  struct dict_keys_head *keys =
      (struct dict_keys_head *)((PyDictObject *)dict)->ma_keys;
  if (keys->dk_kind != 0 && PyUnicode_CheckExact(key))
    return 1;
  return dict_lookup_is_pure_scan(dict, key, hash);
}

/* The same for an exact str name, whose hash is only computed (in C) when
 * the answer needs it. */
static inline int
dict_name_lookup_is_pure(PyObject *dict, PyObject *name)
{
  struct dict_keys_head *keys =
      (struct dict_keys_head *)((PyDictObject *)dict)->ma_keys;
  if (keys->dk_kind != 0)
    return 1;
  return dict_lookup_is_pure_scan(dict, name, PyObject_Hash(name));
}

/* func.c */
void func_watch_stop(struct state *st);
int dep_on_function(struct state *st, watch_dep_t *dep, PyObject *func);

/* tap.c */
void tap_event(struct state *st, struct ns *ns, watch_event_kind_t kind,
               PyObject *key, PyObject *value);
/* watch_tap_new(), tap_new_own() and watch_tap_new_type() (dict.c,
 * type.c): hangs a new tap on ns, which it keeps; own: tap_new_own()'s. */
int tap_attach(struct state *st, struct ns *ns, watch_tap_t **out,
               watch_tap_cb cb, watch_tap_after_cb after, void *data,
               int own);
/* cell.c finds the one tap it keeps on a dict: the first attached with cb */
watch_tap_t *tap_find(struct ns *ns, watch_tap_cb cb);
void taps_finalize(struct state *st);
/* Makes tap, attached, its namespace's cell tap (ns->cell_tap). */
void tap_set_cells(watch_tap_t *tap, cells_written_fn written);


/* type.c */
extern const struct ns_kind type_kind;
/* watch_dep_on_attr() for a value cell's guard: all but the entry that
 * holds the value, *holder's (borrowed; NULL if name is absent), which the
 * cell follows itself.  *holder means nothing unless it succeeds. */
int dep_on_attr_but_holder(watch_dep_t *dep, PyObject *obj, PyObject *name,
                           PyObject *assumed, PyObject **holder);
void type_watch_stop(struct state *st);
void subclass_registry_event(struct state *st, struct ns *ns,
                             watch_event_kind_t kind, PyObject *key,
                             PyObject *new_value);

#endif /* WATCH_INTERNAL_H */
