/* The dependency index: namespaces, their keys, and the edges that tie
 * dependents to them.  Nothing here knows what kind of object a namespace is;
 * the watchers translate CPython's events into the ns_* calls below. */
#include "internal.h"

#include <assert.h>

/* ---- keys ---------------------------------------------------------------- */

static int
exact_keys_equal(PyObject *a, PyObject *b)
{
  if (a == b)
    return 1;
  if (Py_TYPE(a) != Py_TYPE(b))
    return 0;
  if (PyUnicode_CheckExact(a))
    return PyUnicode_Compare(a, b) == 0;
  return PyObject_RichCompareBool(a, b, Py_EQ) == 1;
}

/* An idle record (no key) matches any key of its hash: its count then
 * covers keys that only share the hash, which can only make a key unstable
 * sooner. */
static struct keyrec *
keyrec_find(struct ns *ns, PyObject *key, uintptr_t hash)
{
  for (table_node_t *n = table_chain(&ns->keys, hash); n; n = n->next) {
    struct keyrec *kr = (struct keyrec *)n;
    if (n->hash != hash)
      continue;
    if (kr->key == key || kr->idle
        || (kr->exact && key_is_exact(key) && exact_keys_equal(kr->key, key)))
      return kr;
  }
  return NULL;
}

/* Removes a node and gives the bucket array back once the table is empty:
 * an unwatched state holds no memory. */
static void
table_drop(struct state *st, table_t *t, table_node_t *node)
{
  table_remove(t, node);
  if (t->count == 0) {
    st->counters.bytes -= table_bytes(t);
    table_release(t);
  }
}

static struct keyrec *
keyrec_get(struct state *st, struct ns *ns, PyObject *key, uintptr_t hash)
{
  struct keyrec *kr = keyrec_find(ns, key, hash);
  if (kr != NULL && kr->idle) {  /* in use again: it names its key */
    kr->idle = 0;
    ns->idle--;
    kr->key = Py_NewRef(key);
    kr->exact = key_is_exact(key);
  }
  if (kr != NULL && kr->kept) {
    kr->kept = 0;
    ns->kept--;
  }
  if (kr != NULL)
    return kr;
  kr = state_alloc(st, sizeof(*kr));
  if (kr == NULL)
    return NULL;
  size_t table_before = table_bytes(&ns->keys);
  kr->node.hash = hash;
  if (table_insert(&ns->keys, &kr->node) < 0) {
    state_free(st, kr, sizeof(*kr));
    return NULL;
  }
  st->counters.bytes += table_bytes(&ns->keys) - table_before;
  kr->key = Py_NewRef(key);
  kr->exact = key_is_exact(key);
  kr->ns = ns;
  st->counters.keys++;
  return kr;
}

static void
keyrec_drop(struct state *st, struct keyrec *kr)
{
  st->counters.keys--;
  if (kr->idle)
    kr->ns->idle--;
  kr->ns->kept -= kr->kept;
  state_decref_later(st, kr->key);
  state_free(st, kr, sizeof(*kr));
}

/* Inside a watcher callback libwatch frees nothing.  CPython is in the
 * middle of a mutation, the event may be walking these very records,
 * dropping a key that is not an exact str or int can run its __del__, and
 * on 3.12 a dict cannot be unwatched from its own callback (CPython writes
 * the watch bits back after it).  Records that fall out of use there are
 * queued and collected at the next call into libwatch. */
static void
collect_later(struct state *st, struct ns *ns)
{
  if (!ns->collect_queued) {
    ns->collect_queued = 1;
    ns->collect_next = st->collect;
    st->collect = ns;
  }
}

/* A key nobody depends on is forgotten, unless its count matters: then
 * the record turns idle, keeping its count but not the key, and a dict
 * keeps at most IDLE_KEYS_MAX idle records that are not unstable, so that
 * the memory of a dict nobody depends on stays bounded.
 *
 * An exact key that never changed is kept, with its key, while other
 * dependents keep the dict watched, KEPT_KEYS_MAX of them a dict: an
 * optimizer that lost its code to a write re-guards the same key at once,
 * and finds the record there.  Holding an exact str or int a while longer
 * runs no code and shows nowhere.  A kept record counts no write, as a
 * freed one would not (the unstable rule counts only what changed while
 * depended on), and goes with the dict's last edge (forget_kept()). */
#define IDLE_KEYS_MAX 32
#define KEPT_KEYS_MAX 8

/* A record that has no edge, and is neither idle nor kept.  Always
 * inline: every last edge of a key unlinked comes here, an invalidation's
 * above all. */
static inline __attribute__((always_inline)) void
keyrec_unused(struct state *st, struct keyrec *kr)
{
  struct ns *ns = kr->ns;
  /* Inside a watcher the record may still count this very write (an
   * event tells ns->whole first): it waits for the collection, as one to
   * free does, and is kept there if it still counts nothing.  Without the
   * unstable rule nothing counts. */
  if ((!st->in_watcher || !st->unstable_limit) && !kr->changes && kr->exact
      && ns->edges > 0 && ns->kept < KEPT_KEYS_MAX) {
    kr->kept = 1;
    ns->kept++;
    return;
  }
  if (kr->changes && (kr->unstable || ns->idle < IDLE_KEYS_MAX)) {
    kr->idle = 1;
    ns->idle++;
    state_decref_later(st, kr->key);
    kr->key = NULL;
    return;
  }
  /* ns->whole and ns->module_class, which have no key and count nothing,
   * come this far, and are part of the namespace. */
  if (kr == &ns->whole || kr == &ns->module_class)
    return;
  if (st->in_watcher || kr->unused_queued) {
    if (!kr->unused_queued) {
      kr->unused_queued = 1;
      kr->unused_next = ns->unused;
      ns->unused = kr;
    }
    collect_later(st, ns);
    return;
  }
  table_drop(st, &ns->keys, &kr->node);
  keyrec_drop(st, kr);
}

/* A record that may be in use, idle or kept: a failed registration's, a
 * collected one. */
static inline void
keyrec_maybe_free(struct state *st, struct keyrec *kr)
{
  if (!kr->edges && !kr->idle && !kr->kept)
    keyrec_unused(st, kr);
}

/* The dict's last edge went: its kept records go too, at the next
 * collection (the table is not changed under a walk), unless a dependent
 * comes back first.  Until then they still count no write. */
static void
forget_kept(struct state *st, struct ns *ns)
{
  for (size_t i = 0; i <= ns->keys.mask; i++)
    for (table_node_t *n = ns->keys.buckets[i]; n; n = n->next) {
      struct keyrec *kr = (struct keyrec *)n;
      if (!kr->kept)
        continue;
      if (!kr->unused_queued) {
        kr->unused_queued = 1;
        kr->unused_next = ns->unused;
        ns->unused = kr;
      }
    }
  collect_later(st, ns);
}

/* ---- namespaces ---------------------------------------------------------- */

/* A record counts among namespaces, and in the table of namespaces'
 * buckets that bytes counts while it is in the table; or, apart, among
 * tap_namespaces, its bytes in tap_bytes (watch_counters_t). */
static void
ns_count(struct state *st, struct ns *ns)
{
  if (ns->apart) {
    st->counters.tap_namespaces++;
    st->counters.bytes -= sizeof(*ns);
    st->counters.tap_bytes += sizeof(*ns);
  } else {
    st->counters.namespaces++;
    if (ns->obj != NULL)
      table_shadow_insert(&st->counted_namespaces);
  }
}

static void
ns_uncount(struct state *st, struct ns *ns)
{
  if (ns->apart) {
    st->counters.tap_namespaces--;
    st->counters.tap_bytes -= sizeof(*ns);
    st->counters.bytes += sizeof(*ns);
  } else {
    st->counters.namespaces--;
    if (ns->obj != NULL)
      table_shadow_remove(&st->counted_namespaces);
  }
}

/* Moves a record between the two accounts.  It goes apart where it would
 * be freed but for taps made through the API (ns_release()), so that
 * they leave the counters as they would be without them; by then it has
 * no key record left: those of a namespace with no edge and no pin are
 * freed at the collection that comes first. */
void
ns_set_apart(struct state *st, struct ns *ns, int apart)
{
  assert(!apart || (ns->keys.count == 0 && ns->edges == 0 && !ns->pinned));
  ns_uncount(st, ns);
  ns->apart = apart;
  ns_count(st, ns);
}

/* The table's own bytes are shared out by watch_counters(). */
static void
ns_table_remove(struct state *st, struct ns *ns)
{
  if (st->found == ns)
    st->found = NULL;
  table_remove(&st->namespaces, &ns->node);
  if (st->namespaces.count == 0)
    table_release(&st->namespaces);
}

static int
ns_lookup(struct state *st, PyObject *obj, const struct ns_kind *kind,
          int apart, struct ns **out)
{
  struct ns *ns = ns_find(st, obj);
  if (ns != NULL) {
    *out = ns;
    return 0;
  }
  ns = state_alloc(st, sizeof(*ns));
  if (ns == NULL)
    return WATCH_ENOMEM;
  ns->node.hash = table_hash_pointer(obj);
  if (table_insert(&st->namespaces, &ns->node) < 0) {
    state_free(st, ns, sizeof(*ns));
    return WATCH_ENOMEM;
  }
  ns->obj = obj;
  ns->kind = kind;
  int rc = kind->watch(st, ns);
  if (rc < 0) {
    ns_table_remove(st, ns);
    state_free(st, ns, sizeof(*ns));
    return rc;
  }
  ns->version = ++st->clock;
  ns->whole.ns = ns;
  ns->module_class.ns = ns;
  ns->apart = apart;
  ns_count(st, ns);
  *out = ns;
  return 0;
}

int
ns_get(struct state *st, PyObject *obj, const struct ns_kind *kind,
       struct ns **out)
{
  return ns_lookup(st, obj, kind, 0, out);
}

int
ns_get_apart(struct state *st, PyObject *obj, const struct ns_kind *kind,
             struct ns **out)
{
  return ns_lookup(st, obj, kind, 1, out);
}

/* Frees the namespace and all its key records; a namespace whose object
 * died has already left the table and needs no unwatching.  One that taps
 * made through the API still hear is kept for them, apart, unless a tap
 * of libwatch's own keeps it counted. */
static void
ns_release(struct state *st, struct ns *ns)
{
  if (ns->obj != NULL && ns->taps != NULL) {
    if (!ns->apart && !taps_own(ns))
      ns_set_apart(st, ns, 1);
    return;
  }
  for (size_t i = 0; ns->keys.count && i <= ns->keys.mask; i++) {
    while (ns->keys.buckets[i] != NULL) {
      struct keyrec *kr = (struct keyrec *)ns->keys.buckets[i];
      table_remove(&ns->keys, &kr->node);
      keyrec_drop(st, kr);
    }
  }
  st->counters.bytes -= table_bytes(&ns->keys);
  table_release(&ns->keys);
  ns_uncount(st, ns);
  if (ns->obj != NULL)
    ns_table_remove(st, ns);
  ns->kind->unwatch(st, ns);
  state_free(st, ns, sizeof(*ns));
}

void
ns_unused(struct state *st, struct ns *ns)
{
  if (st->in_watcher || ns->collect_queued)
    collect_later(st, ns);
  else
    ns_release(st, ns);
}

#ifdef WATCH_CHECK_INDEX
/* The index's invariants, walked whole after each collection (make asan
 * builds with WATCH_CHECK_INDEX): every edge sits where its pprev says, on
 * its own record's list, and belongs to a valid dependent; an invalid
 * dependent has no edge; an idle record keeps no key and no edge; the
 * namespace found last is in the table; and the counters count what is
 * there. */
static void
index_check(struct state *st)
{
  uint64_t namespaces = 0, apart = 0, keys = 0, edges = 0, deps = 0;
  int found_in_table = 0;
  for (size_t i = 0; st->namespaces.count && i <= st->namespaces.mask; i++)
    for (table_node_t *n = st->namespaces.buckets[i]; n; n = n->next) {
      struct ns *ns = (struct ns *)n;
      size_t ns_edges = 0;
      found_in_table |= ns == st->found;
      unsigned idle = 0, kept = 0;
      assert(ns->obj != NULL);
      if (ns->apart) {
        apart++;
        /* The last watch_fini() detaches every tap before it frees the
         * namespaces. */
        assert((ns->taps != NULL || st->finalizing) && ns->edges == 0
               && !ns->pinned && ns->keys.count == 0);
      } else {
        namespaces++;
      }
      for (struct edge *e = ns->whole.edges; e; e = e->next, ns_edges++)
        assert(e->keyrec == &ns->whole && *e->pprev == e
               && (e->dep->head.valid || UNFIXED_CYCLE));
      for (struct edge *e = ns->module_class.edges; e;
           e = e->next, ns_edges++)
        assert(e->keyrec == &ns->module_class && *e->pprev == e
               && (e->dep->head.valid || UNFIXED_CYCLE));
      for (size_t j = 0; ns->keys.count && j <= ns->keys.mask; j++)
        for (table_node_t *k = ns->keys.buckets[j]; k; k = k->next) {
          struct keyrec *kr = (struct keyrec *)k;
          keys++;
          assert(kr->ns == ns);
          if (kr->idle) {
            idle++;
            assert(kr->key == NULL && kr->edges == NULL);
          }
          if (kr->kept) {
            kept++;
            assert(!kr->idle && kr->exact && kr->edges == NULL
                   && kr->changes == 0 && ns->edges > 0);
          }
          for (struct edge *e = kr->edges; e; e = e->next, ns_edges++)
            assert(e->keyrec == kr && *e->pprev == e
                   && (e->dep->head.valid || UNFIXED_CYCLE));
        }
      assert(ns_edges == ns->edges && idle == ns->idle && kept == ns->kept);
      edges += ns_edges;
    }
  for (watch_dep_t *dep = st->deps; dep; dep = dep->next, deps++)
    assert(dep->state == st && *dep->pprev == dep
           && (dep->head.valid || dep->edges == NULL || UNFIXED_CYCLE));
  assert(namespaces == st->counters.namespaces
         && apart == st->counters.tap_namespaces
         && namespaces == st->counted_namespaces.count);
  assert(keys == st->counters.keys && edges == st->counters.edges);
  assert(deps == st->counters.dependents);
  assert(st->found == NULL || found_in_table);
}
#else
#define index_check(st) ((void)(st))
#endif

/* index_collect()'s work (internal.h). */
void
index_collect_all(struct state *st)
{
  if (st->in_watcher)
    return;
  struct ns *ns;
  while ((ns = st->collect) != NULL) {
    st->collect = ns->collect_next;
    ns->collect_queued = 0;
    struct keyrec *kr;
    while ((kr = ns->unused) != NULL) {
      ns->unused = kr->unused_next;
      kr->unused_queued = 0;
      if (kr->kept && ns->edges == 0) {  /* queued by forget_kept() */
        kr->kept = 0;
        ns->kept--;
      }
      keyrec_maybe_free(st, kr);
    }
    ns_maybe_free(st, ns);
  }
  index_check(st);
  state_drain(st);
}

/* Only called once every edge is gone: namespaces hold no dependents then. */
void
ns_free_all(struct state *st)
{
  index_collect(st);
  for (size_t i = 0; st->namespaces.count && i <= st->namespaces.mask; i++)
    while (st->namespaces.count && st->namespaces.buckets[i] != NULL)
      ns_release(st, (struct ns *)st->namespaces.buckets[i]);
}

/* ---- edges --------------------------------------------------------------- */

/* Inline: every registration links one. */
static inline int
edge_new(struct state *st, watch_dep_t *dep, struct keyrec *kr)
{
  struct edge *e = state_alloc(st, sizeof(*e));
  if (e == NULL)
    return WATCH_ENOMEM;
  e->dep = dep;
  e->keyrec = kr;
  e->next = kr->edges;
  if (kr->edges)
    kr->edges->pprev = &e->next;
  e->pprev = &kr->edges;
  kr->edges = e;
  e->dep_next = dep->edges;
  dep->edges = e;
  ns_counted(st, kr->ns);
  kr->ns->edges++;
  st->counters.edges++;
  return 0;
}

/* Always inline, as unlink_since(): an invalidation unlinks every edge of
 * its dependent with no call per edge. */
static inline __attribute__((always_inline)) void
edge_free(struct state *st, struct edge *e)
{
  struct keyrec *kr = e->keyrec;
  struct ns *ns = kr->ns;
  *e->pprev = e->next;
  if (e->next)
    e->next->pprev = e->pprev;
  ns->edges--;
  st->counters.edges--;
  state_free(st, e, sizeof(*e));
  if (kr->edges == NULL)  /* a record with edges is neither idle nor kept */
    keyrec_unused(st, kr);
  if (ns->edges == 0 && ns->kept)
    forget_kept(st, ns);
  ns_maybe_free(st, ns);
}

/* Only a valid dependent has edges: invalidation unlinks them, and an
 * invalid one left linked would be invalidated forever. */
int
dep_link(struct state *st, watch_dep_t *dep, struct ns *ns, PyObject *key,
         Py_hash_t hash)
{
  if (!dep->head.valid && !UNFIXED_CYCLE) {
    ns_maybe_free(st, ns);
    return WATCH_EINVALIDATED;
  }
  struct keyrec *kr = keyrec_get(st, ns, key, table_hash_mix((uintptr_t)hash));
  if (kr == NULL) {
    ns_maybe_free(st, ns);
    return WATCH_ENOMEM;
  }
  if (kr->unstable && !(dep->kind != NULL && dep->kind->ignores_unstable)) {
    keyrec_maybe_free(st, kr);  /* idle again: it keeps no key */
    return WATCH_EUNSTABLE;
  }
  int rc = edge_new(st, dep, kr);
  if (rc < 0) {
    keyrec_maybe_free(st, kr);
    ns_maybe_free(st, ns);
  }
  return rc;
}

static int
dep_link_record(struct state *st, watch_dep_t *dep, struct keyrec *kr)
{
  int rc = dep->head.valid || UNFIXED_CYCLE ? edge_new(st, dep, kr)
                                            : WATCH_EINVALIDATED;
  if (rc < 0)
    ns_maybe_free(st, kr->ns);
  return rc;
}

int
dep_link_whole(struct state *st, watch_dep_t *dep, struct ns *ns)
{
  return dep_link_record(st, dep, &ns->whole);
}

int
dep_link_module_class(struct state *st, watch_dep_t *dep, struct ns *ns)
{
  return dep_link_record(st, dep, &ns->module_class);
}

/* Unlinks the edges added after mark, NULL for all.  Always inline in
 * dep_invalidate(), every hit's, which would otherwise pay two more
 * frames. */
static inline __attribute__((always_inline)) void
unlink_since(struct state *st, watch_dep_t *dep, struct edge *mark)
{
  while (dep->edges != NULL && dep->edges != mark) {
    struct edge *e = dep->edges;
    dep->edges = e->dep_next;
    edge_free(st, e);
  }
}

/* Undoes the edges added after mark, so that a registration that fails
 * halfway leaves the dependent as it found it.  An invalidation or release
 * meanwhile has unlinked them all, mark included. */
void
dep_unlink_since(struct state *st, watch_dep_t *dep, struct edge *mark)
{
  unlink_since(st, dep, mark);
}

void
dep_unlink_all(struct state *st, watch_dep_t *dep)
{
  dep_unlink_since(st, dep, NULL);
}

/* ---- invalidation -------------------------------------------------------- */

/* The frame running when the watcher fires is the writer's.  Reading it
 * runs no Python code (3.12+ only schedules the GC on allocation). */
static void
locate(watch_event_t *event)
{
  PyFrameObject *frame = PyEval_GetFrame();
  if (frame == NULL)
    return;
  PyCodeObject *code = PyFrame_GetCode(frame);
  event->filename = Py_NewRef(code->co_filename);
  event->lineno = PyFrame_GetLineNumber(frame);
  Py_DECREF(code);
}

/* Phase one, safe inside a watcher: flip the flag, drop the edges, queue the
 * callback.  Nothing here runs Python code. */
void
dep_invalidate(struct state *st, watch_dep_t *dep, const watch_event_t *report)
{
  if (!dep->head.valid) {
    assert(dep->edges == NULL || UNFIXED_CYCLE);
    return;
  }
  dep->head.valid = 0;
  /* The callback runs after the mutation: the event keeps what it names
   * alive until then.  A dying object is never named (report.ns NULL).
   * A dependent without a callback has nothing to be told, and is neither
   * given the event nor queued. */
  if (dep->cb != NULL) {
    dep->event = *report;
    Py_XINCREF(report->ns);
    Py_XINCREF(report->key);
    if (dep->locate)
      locate(&dep->event);
  }
  unlink_since(st, dep, NULL);
  /* Up the layers, through the dependent's kind: a cell's guard clears
   * the cell's value before the namespace drops it, a specialization gives
   * the function its code back before its next call.  After the
   * unlinking: the swap back tells the function's dependents, and an
   * invalid dependent must not be among them. */
  if (dep->kind != NULL)
    dep->kind->invalidated(st, dep, report);
  if (dep->cb != NULL)
    queue_push(st, dep);
  st->counters.invalidations++;
}

static void
keyrec_invalidate(struct state *st, struct keyrec *kr,
                  const watch_event_t *report)
{
  /* Invalidating a dependent unlinks all its edges, this one included, so
   * the list head advances until it is empty. */
  while (kr->edges != NULL)
    dep_invalidate(st, kr->edges->dep, report);
}

/* The write that makes a key unstable.  Out of line: it happens once a
 * key, and its copy of the event would cost every hit a larger frame. */
static __attribute__((noinline)) void
keyrec_turns_unstable(struct state *st, struct keyrec *kr,
                      const watch_event_t *report)
{
  kr->unstable = 1;
  watch_event_t unstable = *report;
  unstable.kind = WATCH_EVENT_UNSTABLE;
  keyrec_invalidate(st, kr, &unstable);
}

/* A write that certainly hit this key: it counts toward instability.
 * Inline: it is the hit of every key write with a dependent. */
static inline void
keyrec_changed(struct state *st, struct keyrec *kr,
               const watch_event_t *report)
{
  if (st->unstable_limit && !kr->kept && !kr->ns->subclass_registry) {
    kr->ns->pinned = 1;
    if (++kr->changes > st->unstable_limit && !kr->unstable) {
      keyrec_turns_unstable(st, kr, report);
      return;
    }
  }
  keyrec_invalidate(st, kr, report);
}

/* A write of an exact key, whose exact_key_hash() is hash.  Always
 * inline: the hit of every write of a name with a dependent. */
static inline __attribute__((always_inline)) void
exact_key_changed(struct state *st, struct ns *ns, PyObject *key,
                  uintptr_t hash, const watch_event_t *report)
{
  for (table_node_t *n = table_chain(&ns->keys, hash); n; n = n->next) {
    struct keyrec *kr = (struct keyrec *)n;
    if (n->hash != hash)
      continue;
    if (kr->idle || (kr->exact && exact_keys_equal(kr->key, key)))
      keyrec_changed(st, kr, report);
    else
      /* It may compare equal through its own __eq__, which must not run
       * here; and two exact keys that share a hash may both equal a key
       * the dict holds, whose own __eq__ says so (a str subclass's), and
       * through which the write went.  Invalidate, but do not count a
       * write it may not be. */
      keyrec_invalidate(st, kr, report);
  }
}

/* Called inside the watcher, so no record is freed under these walks. */
static void
ns_key_changed(struct state *st, struct ns *ns, PyObject *key,
               const watch_event_t *report)
{
  keyrec_invalidate(st, &ns->whole, report);
  if (key_is_exact(key)) {
    exact_key_changed(st, ns, key, exact_key_hash(key), report);
  } else {
    /* Its hash and equality are Python code: it may be any key. */
    for (size_t i = 0; ns->keys.count && i <= ns->keys.mask; i++) {
      for (table_node_t *n = ns->keys.buckets[i]; n; n = n->next) {
        struct keyrec *kr = (struct keyrec *)n;
        if (kr->key == key)
          keyrec_changed(st, kr, report);
        else
          keyrec_invalidate(st, kr, report);
      }
    }
  }
  ns_maybe_free(st, ns);
}

static void
ns_all_changed(struct state *st, struct ns *ns, const watch_event_t *report)
{
  keyrec_invalidate(st, &ns->whole, report);
  keyrec_invalidate(st, &ns->module_class, report);
  for (size_t i = 0; ns->keys.count && i <= ns->keys.mask; i++)
    for (table_node_t *n = ns->keys.buckets[i]; n; n = n->next)
      keyrec_invalidate(st, (struct keyrec *)n, report);
  ns_maybe_free(st, ns);
}

/* The object is going away: its address may be reused at once, so the
 * record leaves the table now and is freed at the next collection. */
static void
ns_destroyed(struct state *st, struct ns *ns, const watch_event_t *report)
{
  ns_uncount(st, ns);
  ns_table_remove(st, ns);
  ns_all_changed(st, ns, report);
  ns->obj = NULL;
  ns_count(st, ns);  /* out of the table: no bucket */
  ns_maybe_free(st, ns);
}

/* One event of any watcher, on a namespace that libwatch tracks, told to
 * the dependents as report.  Runs inside the watcher: phase one only. */
void
ns_event_reported(struct state *st, struct ns *ns, watch_event_kind_t kind,
                  PyObject *key, const watch_event_t *report)
{
  uint64_t invalidations = st->counters.invalidations;
  st->in_watcher++;
  if (kind == WATCH_EVENT_DEALLOCATED)
    ns_destroyed(st, ns, report);
  else if (key != NULL)
    ns_key_changed(st, ns, key, report);
  else
    ns_all_changed(st, ns, report);
  if (st->counters.invalidations != invalidations)
    st->hits++;
  st->in_watcher--;
}


/* ns_event() of a write (ADDED, MODIFIED, DELETED) of an exact key, whose
 * exact_key_hash() the watcher has computed already: the hit of every
 * write of a name with a dependent.
 *
 * No ns_maybe_free() at the end, as ns_key_changed() has: of what keeps a
 * live namespace watched, the invalidations change only its edges, and
 * edge_free() asks after each; a pin only keeps it longer.  A namespace that nothing
 * keeps watched was queued when it became so (the miss path of the dict
 * watcher relies on that too). */
void
ns_exact_key_event(struct state *st, struct ns *ns, watch_event_kind_t kind,
                   PyObject *key, uintptr_t hash)
{
  watch_event_t report = {kind, ns->obj, key, NULL, 0};
  uint64_t invalidations = st->counters.invalidations;
  st->in_watcher++;
  keyrec_invalidate(st, &ns->whole, &report);
  exact_key_changed(st, ns, key, hash, &report);
  if (st->counters.invalidations != invalidations)
    st->hits++;
  st->in_watcher--;
}

/* A module's __class__ assignment, on its dict's record: only those who
 * depend on the module's class hear of it, not the dict's own dependents.
 * Runs inside the audit hook, before the change: phase one only. */
void
ns_module_class_changed(struct state *st, struct ns *ns,
                        const watch_event_t *report)
{
  uint64_t invalidations = st->counters.invalidations;
  st->in_watcher++;
  keyrec_invalidate(st, &ns->module_class, report);
  ns_maybe_free(st, ns);
  if (st->counters.invalidations != invalidations)
    st->hits++;
  st->in_watcher--;
}

/* A change to a whole object (a function, a class). */
void
ns_changed(struct state *st, struct ns *ns, watch_event_kind_t kind)
{
  ns->version = ++st->clock;
  ns_event(st, ns, kind, NULL);
}

/* Not while the last watch_fini() runs: Python code it runs (FINALIZED
 * callbacks, a dropped reference's __del__) must not register anything in
 * an index being torn down. */
struct state *
index_ready(void)
{
  int rc;
  struct state *st = state_find(0, &rc);
  if (st == NULL || st->init_count == 0 || st->finalizing)
    return NULL;
  index_collect(st);
  return st;
}
