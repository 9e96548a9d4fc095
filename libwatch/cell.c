/* Value cells (watch.h, "Cells"): what a read gives now, kept up to date by
 * the writes themselves.
 *
 * A global cell follows LOAD_GLOBAL of one name through taps (tap.c): one
 * tap per dict that has cells, found again with tap_find(), whose record
 * (struct cell_dict) keeps a table of the names its cells read, and for
 * each name the list of links of the cells that read it.  An event of a
 * name walks that name's links only.  Each cell keeps what both its dicts
 * hold under its name (a link per dict), so that deleting a global falls
 * back to the builtin with no lookup, which the tap must not make.
 *
 * An attribute cell follows watch_dep_on_attr(), whose rules (the MRO,
 * __bases__, a module's class and __getattr__) are type.c's: a guard
 * dependent carries all of the assumption but the entry that holds the
 * value, which the cell follows with a link of its own, as a global cell
 * does, so that a rebinding there is forwarded.  The guard's invalidation
 * clears the value in phase one (its kind, guard_kind), and the next
 * watch_cell_get() reads and registers again.  A lookup that may run
 * Python code (dict_lookup_is_pure()) is never forwarded: such a cell
 * reads again at every watch_cell_get().
 *
 * Cells hold no reference to their values: they are borrowed from the
 * namespace, which holds them as long as the cell forwards them.  So the
 * watcher never drops a reference here.
 */
#include "internal.h"

#include <stdlib.h>

#if PY_VERSION_HEX >= 0x030F0000
/* PEP 810's placeholder: exported by CPython 3.15, declared only in its
 * internal headers. */
PyAPI_DATA(PyTypeObject) PyLazyImport_Type;
#define IS_LAZY_IMPORT(v) Py_IS_TYPE((v), &PyLazyImport_Type)
#else
#define IS_LAZY_IMPORT(v) 0
#endif

/* A refresh whose lookups keep seeing the cell change (a key's __eq__
 * writing the dict) gives up after this many reads and leaves NULL. */
#define REFRESH_TRIES 3

enum { GLOBALS, BUILTINS };

struct cell_dict;
struct cell_name;

/* One cell's reading of one dict under its name. */
struct link {
  struct link *next;       /* in name->links */
  struct link **pprev;
  struct cell_name *name;  /* NULL while unlinked */
  watch_cell_t *cell;
  PyObject *held;          /* borrowed: what the dict holds, NULL: absent */
  int known;               /* held is what the dict holds */
};

struct cell_name {
  table_node_t node;       /* in cell_dict->names, by exact_key_hash() */
  PyObject *key;           /* strong; an exact str */
  struct link *links;
  struct cell_dict *dict;
};

struct cell_dict {
  watch_tap_t *tap;
  int dead;                /* the dict died, or libwatch finalized */
  size_t links;
  table_t names;
  /* The name found last, tried before the table: a program's stores to
   * one dict are mostly to the name it just stored. */
  struct cell_name *last;
};

struct watch_cell_s {
  watch_cell_head_t head;  /* first: watch_cell_value() reads it */
  int global;              /* a global cell, else an attribute cell */
  int dead;
  /* Python code that a refresh runs may free the cell: the free then
   * waits for the refresh (see cell_done()). */
  unsigned pins;
  int freed;
  /* Bumped by every event that reaches the cell while it is pinned, so
   * that a refresh (which pins it) knows whether its lookups raced with a
   * write.  Unpinned, nobody reads it: a write then saves the store. */
  uint64_t changes;
  /* Borrowed: what the last refresh read, which watch_cell_get() gives
   * when the cell cannot forward it (a lookup that runs Python code). */
  PyObject *read;
  PyObject *name;          /* strong */
  /* global cells */
  PyObject *dicts[2];      /* borrowed: globals, builtins */
  struct link link[2];
  /* attribute cells */
  PyObject *obj;           /* strong */
  /* The last guard made, kept when its registration fails or it breaks:
   * it outlives libwatch's finalization, which it tells (state NULL). */
  watch_dep_t *guard;
  int guarded;             /* its registration succeeded */
};

/* ---- the tap side (phase one) ------------------------------------------ */

/* An attribute cell forwards only while its guard holds the rest: link[0]
 * then follows the entry that holds the value, and link[1] is unused. */
static int
guard_holds(watch_cell_t *cell)
{
  return cell->global
         || (cell->guarded && cell->guard != NULL
             && watch_dep_valid(cell->guard));
}

/* Inline, as name_find(): both are on the path of every write of a name
 * that a cell reads. */
static inline __attribute__((always_inline)) void
publish(watch_cell_t *cell)
{
  struct link *g = &cell->link[GLOBALS], *b = &cell->link[BUILTINS];
  PyObject *v = NULL;
  if (cell->dead || !g->known || !guard_holds(cell))
    v = NULL;
  else if (g->held != NULL)
    v = g->held;
  else if (b->known)
    v = b->held;
  cell->head.value = v != NULL && !IS_LAZY_IMPORT(v) ? v : NULL;
  if (cell->pins > 0)
    cell->changes++;
}

static int
same_name(PyObject *key, PyObject *name)
{
  return key == name
         || (PyUnicode_CheckExact(key) && PyUnicode_Compare(key, name) == 0);
}

static inline __attribute__((always_inline)) struct cell_name *
name_find(struct cell_dict *cd, PyObject *key, uintptr_t hash)
{
  for (table_node_t *n = table_chain(&cd->names, hash); n; n = n->next) {
    struct cell_name *cn = (struct cell_name *)n;
    if (n->hash == hash && same_name(key, cn->key))
      return cn;
  }
  return NULL;
}

/* Every link of the dict: clear(), a clone, a key compared only by its own
 * __eq__, the dict's death.  known < 0 marks the global cells dead; an
 * attribute cell reads again (its guard tells the death of what it reads:
 * this dict may be a base's that a __bases__ assignment left). */
static void
all_links(struct cell_dict *cd, int known)
{
  if (cd->names.count == 0)
    return;
  for (size_t i = 0; i <= cd->names.mask; i++)
    for (table_node_t *n = cd->names.buckets[i]; n; n = n->next)
      for (struct link *l = ((struct cell_name *)n)->links; l; l = l->next) {
        l->held = NULL;
        l->known = known > 0;
        if (known < 0 && l->cell->global)
          l->cell->dead = 1;
        publish(l->cell);
      }
}

/* A write of an exact str key, the write of a name: its links only.
 * held is what the dict holds under the name once the write is done
 * (NULL: absent), known whether that is certain: not for an add (watch.h,
 * "Timing"), nor while the dict holds a key of the name's hash that
 * compares by Python code (it was added earlier, which left these links
 * unknown): that key may be the entry the next lookup finds, whatever this
 * write does. */
static inline __attribute__((always_inline)) void
links_written(struct cell_name *cn, PyObject *held, int known)
{
  for (struct link *l = cn->links; l; l = l->next) {
    l->known = known;
    l->held = held;
    publish(l->cell);
  }
}

/* Any write of a name.  The check reads the stored hashes and runs no
 * Python code. */
static __attribute__((noinline)) void
name_written(struct cell_dict *cd, PyObject *dict, PyObject *key,
             PyObject *held, int known)
{
  struct cell_name *cn = name_find(cd, key, exact_key_hash(key));
  if (cn != NULL)
    links_written(cn, held, known && dict_name_lookup_is_pure(dict, key));
}

/* The common case inline: the name written under the very str the cells
 * keep (the interned name of the code that writes it), in a dict of exact
 * str keys alone, where every lookup is pure.  A node of its hash that
 * keeps another object may still be the same name: name_written()
 * compares. */
static int
cells_name_written(struct cell_dict *cd, PyObject *dict, PyObject *key,
                   PyObject *held, int known, uintptr_t hash)
{
  struct dict_keys_head *keys =
      (struct dict_keys_head *)((PyDictObject *)dict)->ma_keys;
  if (keys->dk_kind == 0) {
    name_written(cd, dict, key, held, known);
    return 0;
  }
  if (cd->last != NULL && cd->last->key == key) {
    links_written(cd->last, held, known);
    return 0;
  }
  for (table_node_t *n = table_chain(&cd->names, hash); n; n = n->next) {
    if (n->hash != hash)
      continue;
    if (((struct cell_name *)n)->key == key) {
      cd->last = (struct cell_name *)n;
      links_written(cd->last, held, known);
    } else
      name_written(cd, dict, key, held, known);
    break;
  }
  return 0;
}

/* Every other event, out of line. */
static __attribute__((noinline)) void
other_event(struct cell_dict *cd, const watch_tap_event_t *ev)
{
  switch (ev->kind) {
  case WATCH_EVENT_ADDED:
  case WATCH_EVENT_MODIFIED:
  case WATCH_EVENT_DELETED:
    if (!key_is_exact(ev->key)) {
      /* A str subclass equal to a name writes that name's entry. */
      all_links(cd, 0);
      break;
    }
    /* An int is never a name, but a stored key with its own __eq__ may
     * equal both: it may write the entry of a name of its hash. */
    uintptr_t hash = exact_key_hash(ev->key);
    for (table_node_t *n = table_chain(&cd->names, hash); n; n = n->next)
      for (struct link *l = n->hash == hash ? ((struct cell_name *)n)->links
                                            : NULL;
           l; l = l->next) {
        l->held = NULL;
        l->known = 0;
        publish(l->cell);
      }
    break;
  case WATCH_EVENT_CLEARED:
    all_links(cd, 1);  /* every name absent, for certain */
    break;
  case WATCH_EVENT_CLONED:
    all_links(cd, 0);
    break;
  default:  /* DEALLOCATED, FINALIZED: the tap is detached */
    cd->dead = 1;
    all_links(cd, -1);
    break;
  }
}

/* Runs before CPython changes the dict; does no lookup and drops no
 * reference.  Only MODIFIED and DELETED are taken as final (see watch.h,
 * "Timing").  The same for global cells and for the entry that holds an
 * attribute cell's value.  While it is its dict's only tap, the dict
 * watcher gives a name's write to cells_name_written() itself (dict.c). */
static int
cell_tap(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  struct cell_dict *cd = watch_tap_data(tap);
  if ((ev->kind == WATCH_EVENT_ADDED || ev->kind == WATCH_EVENT_MODIFIED
       || ev->kind == WATCH_EVENT_DELETED)
      && PyUnicode_CheckExact(ev->key))
    cells_name_written(cd, ev->dict, ev->key,
                       ev->kind == WATCH_EVENT_MODIFIED ? ev->value : NULL,
                       ev->kind != WATCH_EVENT_ADDED, exact_key_hash(ev->key));
  else
    other_event(cd, ev);
  return 0;
}

/* ---- global cells: records ------------------------------------------------ */

static void
link_drop(struct link *l)
{
  struct cell_name *cn = l->name;
  if (cn == NULL)
    return;
  l->name = NULL;
  *l->pprev = l->next;
  if (l->next)
    l->next->pprev = l->pprev;
  struct cell_dict *cd = cn->dict;
  if (cn->links == NULL) {
    if (cd->last == cn)
      cd->last = NULL;
    table_remove(&cd->names, &cn->node);
    Py_DECREF(cn->key);  /* an exact str: runs no Python code */
    free(cn);
  }
  if (--cd->links == 0) {
    watch_tap_free(cd->tap);
    table_release(&cd->names);
    free(cd);
  }
}

static int
link_add(struct state *st, struct link *l, PyObject *dict, PyObject *name)
{
  struct ns *ns = ns_find(st, dict);
  watch_tap_t *tap = ns != NULL ? tap_find(ns, cell_tap) : NULL;
  struct cell_dict *cd = tap != NULL ? watch_tap_data(tap) : NULL;
  if (cd == NULL) {
    cd = calloc(1, sizeof(*cd));
    if (cd == NULL)
      return WATCH_ENOMEM;
    int rc = tap_new_own(&cd->tap, dict, cell_tap, cd);
    if (rc < 0) {
      free(cd);
      return rc;
    }
    tap_set_cells(cd->tap, cells_name_written);
  }
  uintptr_t hash = exact_key_hash(name);
  struct cell_name *cn = name_find(cd, name, hash);
  if (cn == NULL) {
    cn = calloc(1, sizeof(*cn));
    if (cn == NULL || (cn->node.hash = hash, table_insert(&cd->names,
                                                          &cn->node) < 0)) {
      free(cn);
      if (cd->links == 0) {
        watch_tap_free(cd->tap);
        table_release(&cd->names);
        free(cd);
      }
      return WATCH_ENOMEM;
    }
    cn->key = Py_NewRef(name);
    cn->dict = cd;
  }
  l->name = cn;
  l->next = cn->links;
  if (cn->links)
    cn->links->pprev = &l->next;
  l->pprev = &cn->links;
  cn->links = l;
  cd->links++;
  return 0;
}

/* Reads both dicts, and keeps what it read only if no event reached the
 * cell meanwhile: a lookup runs the __eq__ of a key of the same hash. */
static int
global_refresh(watch_cell_t *cell)
{
  cell->read = NULL;
  for (int tries = 0; tries < REFRESH_TRIES && !cell->dead; tries++) {
    uint64_t seen = cell->changes;
    PyObject *held[2];
    int i;
    for (i = 0; i < 2 && !cell->dead && !cell->freed; i++) {
      /* Borrowed dicts: a lookup's __eq__ may drop the other's last
       * reference, which makes the cell dead (DEALLOCATED). */
      held[i] = PyDict_GetItemWithError(cell->dicts[i], cell->name);
      if (held[i] == NULL && PyErr_Occurred())
        return cell->dead ? WATCH_ESTALE : WATCH_EPYTHON;
    }
    if (cell->dead || cell->freed)
      break;
    if (cell->changes == seen) {
      /* A lookup whose answer Python code may change unheard is read
       * again by every watch_cell_get(): unknown, the cell forwards
       * nothing.  No Python code runs from here on. */
      Py_hash_t hash = PyObject_Hash(cell->name);  /* an exact str's */
      for (int i = 0; i < 2; i++) {
        cell->link[i].held = held[i];
        cell->link[i].known = dict_lookup_is_pure(cell->dicts[i], cell->name,
                                                  hash);
      }
      publish(cell);
      PyObject *v = held[GLOBALS] ? held[GLOBALS] : held[BUILTINS];
      cell->read = v != NULL && !IS_LAZY_IMPORT(v) ? v : NULL;
      return 0;
    }
  }
  return cell->dead ? WATCH_ESTALE : 0;
}

/* ---- attribute cells ------------------------------------------------------ */

/* Phase one of the guard's invalidation, before the namespace changes. */
static void
guard_broken(struct state *st, watch_dep_t *dep, const watch_event_t *report)
{
  (void)st;
  watch_cell_t *cell = watch_dep_data(dep);
  cell->head.value = NULL;
  cell->changes++;
  if (report->kind == WATCH_EVENT_FINALIZED)
    cell->dead = 1;
}

/* A guard ignores the unstable rule: cells have no unstable limit. */
static const struct dep_kind guard_kind = {guard_broken, NULL, 1};

/* Whether the cell is dead for good.  An attribute cell whose guard was
 * already broken hears no FINALIZED; but the last watch_fini() leaves every
 * dependent it knew with no state, broken or not. */
static int
cell_dead(watch_cell_t *cell)
{
  if (cell->guard != NULL && cell->guard->state == NULL) {
    cell->dead = 1;
    cell->head.value = NULL;
  }
  return cell->dead;
}

/* Releases the guard, and any a read of the cell made meanwhile: the
 * release drops its event's references, which may run Python code that
 * reads the cell again, so cell->guard never names a released guard. */
static void
drop_guard(watch_cell_t *cell)
{
  cell->guarded = 0;
  while (cell->guard != NULL) {
    watch_dep_t *guard = cell->guard;
    cell->guard = NULL;
    watch_dep_release(guard);
  }
}

/* From now on link[0] follows holder[name], which the guard was registered
 * without and which held v then.  Attaching the tap may run Python code
 * (libwatch drops references it left to drop), which may release or break
 * the guard, or write the entry: so the entry is read again once the tap
 * hears it, a read that runs no Python code while the dict holds no key
 * compared by it. */
static int
follow_holder(watch_cell_t *cell, watch_dep_t *guard, PyObject *holder,
              PyObject *v)
{
  Py_INCREF(holder);  /* a base's dict may lose its class meanwhile */
  guard->pins++;      /* a release waits for dep_done() */
  struct state *st = index_ready();
  int rc = st ? link_add(st, &cell->link[0], holder, cell->name)
              : WATCH_ENOINIT;
  rc = dep_done(guard, rc);
  if (rc == 0 && (!watch_dep_valid(guard) || cell->freed
                  || !dict_lookup_is_pure(holder, cell->name,
                                          PyObject_Hash(cell->name))
                  || PyDict_GetItemWithError(holder, cell->name) != v))
    rc = WATCH_ESTALE;
  if (rc == 0) {
    cell->link[0].held = v;
    cell->link[0].known = 1;
    cell->guarded = 1;
    publish(cell);
  }
  /* If this was the last reference, the tap hears the death. */
  Py_DECREF(holder);
  return rc;
}

/* Reads obj.name and registers a fresh guard on it; a change between the
 * two (WATCH_ESTALE) reads again.  The guard covers all but the entry that
 * holds the value, which link[0] follows, as a global cell's: a rebinding
 * there updates the value in phase one.  The new guard is made before the
 * old one goes, so that the cell always has one that tells finalization,
 * even through Python code the release runs.  What the guard cannot follow
 * leaves the value NULL and the guard unregistered: every
 * watch_cell_get() reads again. */
static int
attr_refresh(watch_cell_t *cell)
{
  int rc = 0;
  cell->read = NULL;
  for (int tries = 0; tries < REFRESH_TRIES; tries++) {
    watch_dep_t *guard;
    rc = watch_dep_new(&guard, NULL, cell);
    if (rc < 0)
      return rc;
    guard->kind = &guard_kind;
    drop_guard(cell);
    link_drop(&cell->link[0]);
    cell->guard = guard;
    cell->head.value = NULL;  /* a read during the release may have set it */
    if (cell_dead(cell) || cell->freed)
      return cell->dead ? WATCH_ESTALE : 0;
    PyObject *v;
    rc = watch_attr_lookup(cell->obj, cell->name, &v);
    if (rc < 0)
      return rc;
    /* The registration may run Python code, which may drop v, or read the
     * cell and so release this guard (WATCH_EINVALIDATED then). */
    Py_XINCREF(v);
    PyObject *holder;
    rc = dep_on_attr_but_holder(guard, cell->obj, cell->name, v, &holder);
    if (rc == 0 && watch_dep_valid(guard) && !cell->freed) {
      if (holder != NULL)
        rc = follow_holder(cell, guard, holder, v);
      else
        cell->guarded = 1;  /* absent: NULL, the guard follows it all */
    }
    /* Outside any watcher: if this was the last reference, the namespace
     * no longer holds v, so the guard has already cleared the value. */
    Py_XDECREF(v);
    if (cell->freed || (rc != WATCH_ESTALE && rc != WATCH_EINVALIDATED))
      break;
  }
  if (rc == 0 || cell->freed) {
    cell->read = cell->head.value;
    return rc;
  }
  cell->guarded = 0;
  cell->head.value = NULL;
  if (rc == WATCH_EUNWATCHABLE) {
    /* A lookup that runs Python code: what it gives now, read last. */
    PyObject *v;
    rc = watch_attr_lookup(cell->obj, cell->name, &v);
    if (rc == 0 && !cell->freed)
      cell->read = v != NULL && !IS_LAZY_IMPORT(v) ? v : NULL;
    return rc;
  }
  /* A state the cell cannot forward (WATCH_EINVAL: the module's class
   * decides), or one that keeps moving: the generic path. */
  return rc == WATCH_EINVAL || rc == WATCH_ESTALE || rc == WATCH_EINVALIDATED
             ? 0
             : rc;
}

/* ---- the API -------------------------------------------------------------- */

static void
cell_destroy(watch_cell_t *cell)
{
  for (int i = 0; i < 2; i++)
    link_drop(&cell->link[i]);
  drop_guard(cell);
  Py_XDECREF(cell->obj);
  Py_XDECREF(cell->name);
  free(cell);
}

/* Ends what cell_begin() started; frees a cell freed meanwhile. */
static int
cell_done(watch_cell_t *cell, int rc)
{
  if (--cell->pins == 0 && cell->freed) {
    cell_destroy(cell);
    return rc < 0 ? rc : WATCH_ESTALE;
  }
  return rc;
}

static int
cell_alloc(watch_cell_t **out, PyObject *name, int global)
{
  if (out == NULL || name == NULL || !PyUnicode_CheckExact(name))
    return WATCH_EINVAL;
  watch_cell_t *cell = calloc(1, sizeof(*cell));
  if (cell == NULL)
    return WATCH_ENOMEM;
  cell->global = global;
  cell->name = Py_NewRef(name);
  for (int i = 0; i < 2; i++)
    cell->link[i].cell = cell;
  *out = cell;
  return 0;
}

static int
cell_refresh(watch_cell_t *cell)
{
  cell->pins++;
  int rc = cell->global ? global_refresh(cell) : attr_refresh(cell);
  return cell_done(cell, rc);
}

int
watch_cell_new_global(watch_cell_t **out, PyObject *globals,
                      PyObject *builtins, PyObject *name)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (globals == NULL || builtins == NULL || !PyDict_CheckExact(globals)
      || !PyDict_CheckExact(builtins))
    return WATCH_EINVAL;
  watch_cell_t *cell;
  int rc = cell_alloc(&cell, name, 1);
  if (rc < 0)
    return rc;
  cell->dicts[GLOBALS] = globals;
  cell->dicts[BUILTINS] = builtins;
  for (int i = 0; rc == 0 && i < 2; i++)
    rc = link_add(st, &cell->link[i], cell->dicts[i], name);
  /* Nobody else knows the cell yet, so nobody freed it meanwhile. */
  if (rc == 0)
    rc = cell_refresh(cell);
  if (rc == 0)
    *out = cell;
  else
    cell_destroy(cell);
  return rc;
}

int
watch_cell_new_attr(watch_cell_t **out, PyObject *obj, PyObject *name)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (obj == NULL || !(PyModule_Check(obj) || PyType_Check(obj)))
    return WATCH_EINVAL;
  watch_cell_t *cell;
  int rc = cell_alloc(&cell, name, 0);
  if (rc < 0)
    return rc;
  cell->obj = Py_NewRef(obj);
  rc = cell_refresh(cell);
  if (rc == 0)
    *out = cell;
  else
    cell_destroy(cell);
  return rc;
}

int
watch_cell_get(watch_cell_t *cell, PyObject **value)
{
  if (cell == NULL || value == NULL)
    return WATCH_EINVAL;
  *value = NULL;
  if (cell_dead(cell))
    return WATCH_ESTALE;
  if (index_ready() == NULL)
    return WATCH_ENOINIT;
  struct link *g = &cell->link[GLOBALS];
  int stale = cell->global ? !g->known
                                 || (g->held == NULL
                                     && !cell->link[BUILTINS].known)
                           : !guard_holds(cell)
                                 || (g->name != NULL
                                     && (!g->known || g->held == NULL));
  int rc = stale ? cell_refresh(cell) : 0;
  if (rc == 0)
    *value = stale ? cell->read : watch_cell_value(cell);
  return rc;
}

int
watch_cell_dep(watch_cell_t *cell, watch_dep_t *dep)
{
  if (cell == NULL || dep == NULL)
    return WATCH_EINVAL;
  if (cell_dead(cell))
    return WATCH_ESTALE;
  if (index_ready() == NULL)
    return WATCH_ENOINIT;
  /* What the read gives, placeholders included, read afresh: the
   * registration validates it, so a race fails with WATCH_ESTALE.  The
   * lookups run Python code (a key's __eq__), which may free the cell
   * (pinned: cell_done() frees it) or drop a dict (held meanwhile; its
   * death after the registration invalidates dep). */
  PyObject *v = NULL;
  int rc;
  cell->pins++;
  if (cell->global) {
    PyObject *g = Py_NewRef(cell->dicts[GLOBALS]);
    PyObject *b = Py_NewRef(cell->dicts[BUILTINS]);
    v = PyDict_GetItemWithError(g, cell->name);
    if (v == NULL && !PyErr_Occurred())
      v = PyDict_GetItemWithError(b, cell->name);
    if (v == NULL && PyErr_Occurred()) {
      rc = WATCH_EPYTHON;
    } else {
      Py_XINCREF(v);
      rc = watch_dep_on_global(dep, g, b, cell->name, v);
      Py_XDECREF(v);
    }
    Py_DECREF(g);
    Py_DECREF(b);
  } else {
    rc = watch_attr_lookup(cell->obj, cell->name, &v);
    if (rc == 0) {
      Py_XINCREF(v);
      rc = watch_dep_on_attr(dep, cell->obj, cell->name, v);
      Py_XDECREF(v);
    }
  }
  return cell_done(cell, rc);
}

void
watch_cell_free(watch_cell_t *cell)
{
  if (cell == NULL)
    return;
  if (cell->pins > 0) {
    cell->freed = 1;  /* cell_done() frees it */
    cell->head.value = NULL;
    return;
  }
  cell_destroy(cell);
}
