/* Dicts as namespaces: module globals, builtins, any dict.
 *
 * One dict watcher id per interpreter serves every watched dict.  Its
 * callback runs before CPython changes the dict; it only looks records up,
 * flips validity flags and queues callbacks.  A store to a key nobody depends
 * on costs a version bump, the namespace's lookup (the one found last, or a
 * pointer-hash probe) and a probe of the key's hash.
 */
#include "internal.h"

static watch_event_kind_t
event_kind(PyDict_WatchEvent event)
{
  switch (event) {
  case PyDict_EVENT_ADDED: return WATCH_EVENT_ADDED;
  case PyDict_EVENT_MODIFIED: return WATCH_EVENT_MODIFIED;
  case PyDict_EVENT_DELETED: return WATCH_EVENT_DELETED;
  case PyDict_EVENT_CLONED: return WATCH_EVENT_CLONED;
  case PyDict_EVENT_CLEARED: return WATCH_EVENT_CLEARED;
  default: return WATCH_EVENT_DEALLOCATED;
  }
}

/* CPython 3.13 reports MODIFIED for storing the identical object into a
 * split (instance) dict; nothing changes, so nothing is invalidated.  The
 * check reads the dict through its lookup, which runs no Python code here
 * only because a split dict holds exact str keys alone (any other key makes
 * it combined) and the key is an exact str or int: no key can have an
 * __eq__ of its own. */
static int
identical_store(PyObject *dict, PyObject *key, PyObject *new_value)
{
  if (((PyDictObject *)dict)->ma_values == NULL || !key_is_exact(key))
    return 0;
  PyObject *current = PyDict_GetItemWithError(dict, key);
  if (current == NULL)
    PyErr_Clear();
  return current == new_value;
}

/* The functions dict_event() ends by calling, out of line so that the
 * miss path does not pay for their registers, and called in tail position.
 * GCC's interprocedural passes (GCC 16) would clone them into functions
 * that return nothing, which dict_event() then calls and returns from,
 * with a stack frame on every path, the miss included. */
#if defined(__GNUC__) && !defined(__clang__)
#define TAIL_CALLED __attribute__((noipa))
#else
#define TAIL_CALLED __attribute__((noinline))
#endif

/* An event to the dependents, for dict_event_rest(): out of line, as the
 * rest of the slow path. */
static __attribute__((noinline)) int
dict_event_dispatch(struct state *st, struct ns *ns, PyDict_WatchEvent event,
                    PyObject *key, PyObject *new_value)
{
  /* A registry's events mean a class changing bases: type.c's to read,
   * a layer above (it registers through this file). */
  if (ns->subclass_registry && key != NULL)
    st->up->registry_event(st, ns, event_kind(event), key, new_value);
  else
    ns_event(st, ns, event_kind(event), key);
  return 0;
}

/* The taps hear the event first (tap.c).  CPython passes a clone's source
 * dict as the key.  Out of the miss path, the count of events that taps
 * alone hear. */
static __attribute__((noinline)) void
dict_event_tapped(struct state *st, struct ns *ns, PyDict_WatchEvent event,
                  PyObject *key, PyObject *new_value)
{
  st->counters.tap_events += ns->apart;
  if (event == PyDict_EVENT_CLONED)
    tap_event(st, ns, WATCH_EVENT_CLONED, NULL, key);
  else
    tap_event(st, ns, event_kind(event), key, new_value);
}

/* What dict_event() does not finish itself.  A name's write in a dict
 * whose only tap is the cells' goes to them without the taps' dispatch,
 * and last, after the dependents, as in dict_event(): neither side runs
 * Python code or frees anything, and an attribute cell whose guard breaks
 * in the same write ends NULL in either order (cell.c). */
static TAIL_CALLED int
dict_event_rest(struct state *st, struct ns *ns, PyDict_WatchEvent event,
                PyObject *key, PyObject *new_value)
{
  int key_event = event == PyDict_EVENT_ADDED || event == PyDict_EVENT_MODIFIED
                  || event == PyDict_EVENT_DELETED;
  struct cell_dict *cells = ns->tap_count == 1 && key_event
                                    && PyUnicode_CheckExact(key)
                                ? ns->cells
                                : NULL;
  if (ns->taps != NULL && cells == NULL)
    dict_event_tapped(st, ns, event, key, new_value);
  if (!key_event)
    dict_event_dispatch(st, ns, event, NULL, NULL);
  else if (!ns_key_idle(ns, key))
    dict_event_dispatch(st, ns, event, key, new_value);
  if (cells != NULL)
    ns->cells_written(cells, ns->obj, key,
                       event == PyDict_EVENT_MODIFIED ? new_value : NULL,
                       event != PyDict_EVENT_ADDED, exact_key_hash(key));
  return 0;
}

/* Any event. */
static TAIL_CALLED int
dict_event_any(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
               PyObject *new_value)
{
  struct state *st = state_of_watcher();
  if (st == NULL)
    return 0;
  st->counters.events++;
  struct ns *ns = ns_find(st, dict);
  /* ns == NULL: a dict watched under this id before libwatch owned it. */
  if (ns == NULL)
    return 0;
  if (event == PyDict_EVENT_MODIFIED && identical_store(dict, key, new_value)) {
    st->counters.tap_events += ns->apart;
    return 0;
  }
  ns->version = ++st->clock;
  return dict_event_rest(st, ns, event, key, new_value);
}

/* The common event first: a store (MODIFIED) to a combined dict, which
 * needs no check of an identical store, under a str of cached hash (a
 * name), while one interpreter alone runs libwatch.  Its two common cases
 * end here with no call but the last, so that this function saves no
 * registers: a key nobody depends on, in a dict with no taps (the miss
 * path), a name that cells read, in a dict with no other tap, and a key
 * with dependents, in a dict with no taps. */
static int
dict_event(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
           PyObject *new_value)
{
  struct state *st = atomic_load_explicit(&sole_state, memory_order_acquire);
  if (st == NULL || event != PyDict_EVENT_MODIFIED
      || ((PyDictObject *)dict)->ma_values != NULL
      || !PyUnicode_CheckExact(key) || ((PyASCIIObject *)key)->hash == -1)
    return dict_event_any(event, dict, key, new_value);
  st->counters.events++;
  struct ns *ns = ns_find(st, dict);
  if (ns == NULL)
    return 0;
  ns->version = ++st->clock;
  struct cell_dict *cells = ns->tap_count == 1 ? ns->cells : NULL;
  uintptr_t hash = table_hash_mix((uintptr_t)((PyASCIIObject *)key)->hash);
  int idle = ns->whole.edges == NULL && ns_hash_idle(ns, hash);
  if (ns->taps != NULL && (cells == NULL || !idle))
    return dict_event_rest(st, ns, event, key, new_value);
  /* No taps: the dependents alone, with the hash at hand.  Not through
   * dict_event_dispatch(): a base's subclass registry hands type.c only
   * int keys, and any other key to the index as here. */
  if (!idle) {
    ns_exact_key_event(st, ns, WATCH_EVENT_MODIFIED, key, hash);
    return 0;
  }
  return cells != NULL
             ? ns->cells_written(cells, dict, key, new_value, 1, hash)
             : 0;
}

int
dict_watch_start(struct state *st)
{
  st->dict_watcher = PyDict_AddWatcher(dict_event);
  if (st->dict_watcher < 0) {
    PyErr_Clear();
    return WATCH_EBUSY;
  }
  return 0;
}

void
dict_watch_stop(struct state *st)
{
  if (st->dict_watcher >= 0 && PyDict_ClearWatcher(st->dict_watcher) < 0)
    PyErr_Clear();
  st->dict_watcher = -1;
}

/* CPython 3.13.0 stores an attribute of an instance whose values are
 * inline (o.a = v) into those values, which its materialized __dict__
 * shares, and tells no dict watcher (gh-125608, fixed in 3.13.1).  Such a
 * dict is split (ma_values set), and a split dict stays split; on 3.13.0,
 * the interpreter running (not the headers built against), every split
 * dict is refused. */
static int
reports_every_change(PyObject *dict)
{
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
  return Py_Version >= 0x030D0100
         || ((PyDictObject *)dict)->ma_values == NULL;
#else
  (void)dict;
  return 1;
#endif
}

static int
dict_watch(struct state *st, struct ns *ns)
{
  if (!reports_every_change(ns->obj))
    return WATCH_EUNWATCHABLE;
  if (PyDict_Watch(st->dict_watcher, ns->obj) < 0) {
    PyErr_Clear();
    return WATCH_EINVAL;
  }
  return 0;
}

static void
dict_unwatch(struct state *st, struct ns *ns)
{
  if (ns->obj != NULL && PyDict_Unwatch(st->dict_watcher, ns->obj) < 0)
    PyErr_Clear();
}

const struct ns_kind dict_kind = {dict_watch, dict_unwatch};

/* ---- registration -------------------------------------------------------- */

/* 3.15's frozendict (PEP 814) can neither change nor be watched: a
 * dependency on one is checked at install and then costs nothing, as one on
 * a static type does. */
static int
is_frozendict(PyObject *obj)
{
#if PY_VERSION_HEX >= 0x030F0000
  return PyFrozenDict_Check(obj);
#else
  (void)obj;
  return 0;
#endif
}

/* ---- lookups that run Python code ---------------------------------------
 *
 * A lookup compares the key with every key of its hash that the dict holds.
 * Two keys of a few builtin types compare in C, always alike; any other
 * pair may call an __eq__ of Python code, which may answer differently from
 * one lookup to the next with no write at all, so that the entry a lookup
 * finds changes and no watcher hears it.  A dependency on such a lookup is
 * refused (WATCH_EUNWATCHABLE); once registered, the key that would make it
 * one cannot arrive unheard: its ADDED (or a CLONED) invalidates every key
 * dependent of the dict.
 *
 * Telling whether the dict holds such a key, without running the Python
 * code of any key, takes the hashes the dict stored: they are read from
 * CPython's own layout of the keys (Include/internal/pycore_dict.h), the
 * same in 3.12 to 3.15 with the GIL (struct dict_keys_head, internal.h).
 * A dict whose keys are all exact str says so in its kind, and holds no
 * such key: dict_lookup_is_pure() answers that case inline. */
struct dict_entry {         /* PyDictKeyEntry, a general dict's */
  Py_hash_t me_hash;
  PyObject *me_key;
  PyObject *me_value;
};

/* Keys whose equality is C code alone: a few exact builtin types, and
 * tuples of them (a tuple compares its items; a frozenset or a weak
 * reference would call theirs).  Not bytes: under python -b, comparing
 * bytes with a str warns, and a warning runs Python code (filters, hooks,
 * an error under -bb). */
static int
compares_in_c(PyObject *key, int depth)
{
  if (PyUnicode_CheckExact(key) || PyLong_CheckExact(key)
      || PyFloat_CheckExact(key) || PyComplex_CheckExact(key)
      || PyBool_Check(key) || key == Py_None)
    return 1;
  if (!PyTuple_CheckExact(key) || depth == 0)
    return 0;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); i++)
    if (!compares_in_c(PyTuple_GET_ITEM(key, i), depth - 1))
      return 0;
  return 1;
}

int
dict_lookup_is_pure_scan(PyObject *dict, PyObject *key, Py_hash_t hash)
{
  struct dict_keys_head *keys =
      (struct dict_keys_head *)((PyDictObject *)dict)->ma_keys;
  int in_c = compares_in_c(key, 8);
  if (keys->dk_kind != 0) {
    /* Exact str keys alone, whose hashes str caches. */
    Py_ssize_t pos = 0;
    PyObject *k;
    while (!in_c && PyDict_Next(dict, &pos, &k, NULL))
      if (k != key && PyObject_Hash(k) == hash)
        return 0;
    return 1;
  }
  /* The lookup compares key with each key of its hash before the
   * identical one, if any: all of them are judged. */
  struct dict_entry *entry =
      (struct dict_entry *)(keys->dk_indices
                            + ((size_t)1 << keys->dk_log2_index_bytes));
  for (Py_ssize_t i = 0; i < keys->dk_nentries; i++, entry++)
    if (entry->me_key != NULL && entry->me_hash == hash
        && entry->me_key != key
        && !(in_c && compares_in_c(entry->me_key, 8)))
      return 0;
  return 1;
}

/* Reads dict[key] for validation.  A lookup may run Python code (a key's
 * __hash__ or __eq__, this one's or another's in the same dict), which may
 * release the dependent or change the dict.  CPython's lookup starts over
 * when the dict changed under a comparison, so the value it returns is
 * what the dict held once that code had run.  A registration that links
 * right after its read, running no Python code in between, therefore
 * links what the dict holds: any change from then on invalidates.  One
 * that reads twice (a global, then its builtin) confirms its first read
 * once linked, since the second may change what the first saw. */
static int
read_assumption(watch_dep_t *dep, PyObject *dict, PyObject *key,
                PyObject **value, Py_hash_t *hash)
{
  *hash = PyObject_Hash(key);
  if (*hash == -1)
    return WATCH_EPYTHON;
  *value = PyDict_GetItemWithError(dict, key);
  if (*value == NULL && PyErr_Occurred())
    return WATCH_EPYTHON;
  return dep->head.valid ? 0 : WATCH_EINVALIDATED;
}

/* The second read, once linked. */
static int
confirm(watch_dep_t *dep, PyObject *dict, PyObject *key, PyObject *expected)
{
  PyObject *value;
  Py_hash_t hash;
  int rc = read_assumption(dep, dict, key, &value, &hash);
  return rc == 0 && value != expected ? WATCH_ESTALE : rc;
}

/* Inline: every key registration ends here. */
static inline int
link_key(struct state *st, watch_dep_t *dep, PyObject *dict, PyObject *key,
         Py_hash_t hash)
{
  /* Most registrations find the dict watched already: inline. */
  struct ns *ns = ns_find(st, dict);
  int rc = ns != NULL ? 0 : ns_get(st, dict, &dict_kind, &ns);
  return rc < 0 ? rc : dep_link(st, dep, ns, key, hash);
}

/* watch_dep_on_key() once the dependent is known to be ready; module
 * attributes (type.c) come here too. */
int
dep_on_dict_key(struct state *st, watch_dep_t *dep, PyObject *dict,
                PyObject *key, PyObject *assumed)
{
  if (dict == NULL || !(PyDict_Check(dict) || is_frozendict(dict))
      || key == NULL)
    return WATCH_EINVAL;
  PyObject *current;
  Py_hash_t hash;
  int rc = read_assumption(dep, dict, key, &current, &hash);
  if (rc < 0)
    return rc;
  if (current != assumed)
    return WATCH_ESTALE;
  if (is_frozendict(dict))
    return 0;
  if (!dict_lookup_is_pure(dict, key, hash))
    return WATCH_EUNWATCHABLE;
  /* Linking runs no Python code: keys are compared by identity, or in C
   * when exact (index.c). */
  return link_key(st, dep, dict, key, hash);
}

int
watch_dep_on_key(watch_dep_t *dep, PyObject *dict, PyObject *key,
                 PyObject *assumed)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, dep_on_dict_key(st, dep, dict, key, assumed)) : rc;
}

/* No read: the key is exact, so hashing it, the purity check and the
 * linking run no Python code, and the dependency covers what the dict
 * holds as the call starts, which is what the caller read if no Python
 * code ran since. */
static int
on_key_as_is(struct state *st, watch_dep_t *dep, PyObject *dict,
             PyObject *key)
{
  if (dict == NULL || !(PyDict_Check(dict) || is_frozendict(dict))
      || key == NULL || !key_is_exact(key))
    return WATCH_EINVAL;
  if (is_frozendict(dict))
    return 0;
  /* str or int: cannot fail; a str's hash is most often cached. */
  Py_hash_t hash = PyUnicode_CheckExact(key) && ((PyASCIIObject *)key)->hash != -1
                       ? ((PyASCIIObject *)key)->hash
                       : PyObject_Hash(key);
  if (!dict_lookup_is_pure(dict, key, hash))
    return WATCH_EUNWATCHABLE;
  return link_key(st, dep, dict, key, hash);
}

int
watch_dep_on_key_as_is(watch_dep_t *dep, PyObject *dict, PyObject *key)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, on_key_as_is(st, dep, dict, key)) : rc;
}

/* LOAD_GLOBAL reads exact dicts itself, and calls __getitem__ (and so
 * __missing__) of anything else, which a dict dependency cannot follow:
 * only exact dicts are accepted.  Their names are exact str, but a dict may
 * also hold a key with its own __eq__ that the lookup calls, so the reads are
 * confirmed once linked. */
static int
on_global(struct state *st, watch_dep_t *dep, PyObject *globals,
          PyObject *builtins, PyObject *name, PyObject *assumed)
{
  if (globals == NULL || !PyDict_CheckExact(globals) || builtins == NULL
      || !PyDict_CheckExact(builtins) || name == NULL
      || !PyUnicode_CheckExact(name))
    return WATCH_EINVAL;
  PyObject *global, *builtin = NULL;
  Py_hash_t hash;
  int rc = read_assumption(dep, globals, name, &global, &hash);
  if (rc == 0 && global == NULL)
    rc = read_assumption(dep, builtins, name, &builtin, &hash);
  if (rc < 0)
    return rc;
  if ((global ? global : builtin) != assumed)
    return WATCH_ESTALE;
  if (!dict_lookup_is_pure(globals, name, hash)
      || (global == NULL && !dict_lookup_is_pure(builtins, name, hash)))
    return WATCH_EUNWATCHABLE;
  /* The globals edge covers both cases: a global that changes or goes away,
   * and a builtin that a new global would shadow. */
  struct edge *mark = dep->edges;
  rc = link_key(st, dep, globals, name, hash);
  if (rc == 0 && global == NULL)
    rc = link_key(st, dep, builtins, name, hash);
  if (rc == 0)
    rc = confirm(dep, globals, name, global);
  if (rc == 0 && global == NULL)
    rc = confirm(dep, builtins, name, builtin);
  if (rc < 0)
    dep_unlink_since(st, dep, mark);
  return rc;
}

int
watch_dep_on_global(watch_dep_t *dep, PyObject *globals, PyObject *builtins,
                    PyObject *name, PyObject *assumed)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, on_global(st, dep, globals, builtins, name,
                                      assumed))
            : rc;
}

int
dep_on_namespace(struct state *st, watch_dep_t *dep, PyObject *dict)
{
  if (dict != NULL && is_frozendict(dict))
    return 0;
  if (dict == NULL || !PyDict_Check(dict))
    return WATCH_EINVAL;
  struct ns *ns;
  int rc = ns_get(st, dict, &dict_kind, &ns);
  return rc < 0 ? rc : dep_link_whole(st, dep, ns);
}

int
watch_dep_on_namespace(watch_dep_t *dep, PyObject *dict)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, dep_on_namespace(st, dep, dict)) : rc;
}

/* A tap on a dict (tap.c), counted apart. */
int
watch_tap_new(watch_tap_t **out, PyObject *dict, watch_tap_cb cb,
              watch_tap_after_cb after, void *data)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (out == NULL || dict == NULL || !PyDict_Check(dict) || cb == NULL)
    return WATCH_EINVAL;
  struct ns *ns;
  int rc = ns_get_apart(st, dict, &dict_kind, &ns);
  return rc < 0 ? rc : tap_attach(st, ns, out, cb, after, data, 0);
}

int
tap_new_own(watch_tap_t **out, PyObject *dict, watch_tap_cb cb, void *data)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  struct ns *ns;
  int rc = ns_get(st, dict, &dict_kind, &ns);
  return rc < 0 ? rc : tap_attach(st, ns, out, cb, NULL, data, 1);
}

int
watch_dict_version(PyObject *dict, uint64_t *version)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (dict == NULL || !PyDict_Check(dict) || version == NULL)
    return WATCH_EINVAL;
  struct ns *ns;
  int rc = ns_get(st, dict, &dict_kind, &ns);
  if (rc < 0)
    return rc;
  ns->pinned = 1;
  ns_counted(st, ns);
  *version = ns->version;
  return 0;
}
