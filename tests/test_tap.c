/* Taps: every event on a dict (or a class: type taps), uncoalesced, in
 * phase one, before the change; phase two on request, once per batch;
 * detached when the dict dies or libwatch finalizes; no watcher id of their
 * own. */
#include "harness.h"

#define MAX_SEEN 16

typedef struct {
  int n;
  watch_event_kind_t kind[MAX_SEEN];
  PyObject *dict[MAX_SEEN];  /* borrowed: compared by identity only */
  PyObject *key[MAX_SEEN];
  PyObject *value[MAX_SEEN];
  PyObject *before[MAX_SEEN]; /* what the dict held under key, read in
                                 phase one */
  int value_is_dict[MAX_SEEN];
  int ask_after;              /* what the callback returns */
  int afters;
  watch_tap_t *free_in_after;
} seen_t;

static int
record(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  seen_t *s = watch_tap_data(tap);
  if (s->n < MAX_SEEN) {
    s->kind[s->n] = ev->kind;
    s->dict[s->n] = ev->dict;
    s->key[s->n] = ev->key;
    s->value[s->n] = ev->value;
    s->value_is_dict[s->n] = ev->value && PyDict_Check(ev->value);
    s->before[s->n] = ev->key && PyUnicode_CheckExact(ev->key)
                          ? PyDict_GetItemWithError(ev->dict, ev->key)
                          : NULL;
    s->n++;
  }
  return s->ask_after;
}

static void
after(watch_tap_t *tap)
{
  seen_t *s = watch_tap_data(tap);
  s->afters++;
  if (s->free_in_after == tap)
    watch_tap_free(tap);
}

static int
quiet(PyDict_WatchEvent e, PyObject *d, PyObject *k, PyObject *v)
{
  (void)e, (void)d, (void)k, (void)v;
  return 0;
}

/* How many dict watcher ids are left, found by taking them all. */
static int
free_dict_watchers(void)
{
  int ids[16], n = 0;
  while (n < 16 && (ids[n] = PyDict_AddWatcher(quiet)) >= 0)
    n++;
  PyErr_Clear();
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(PyDict_ClearWatcher(ids[i]), 0);
  return n;
}

START_TEST(every_event_in_order_before_the_change)
{
  PyObject *d = PY("{'a': 0}");
  PyObject *a = PyUnicode_InternFromString("a");
  seen_t s = {0};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, record, NULL, &s), 0);
  ck_assert(watch_tap_attached(tap));

  RUN_WITH("d['a'] = 1\n"
           "d['a'] = 2\n"
           "del d['a']\n"
           "d.update(b=1)\n"  /* into an empty dict: a clone */
           "d.clear()\n",
           "d", d);

  ck_assert_int_eq(s.n, 5);
  watch_event_kind_t want[] = {WATCH_EVENT_MODIFIED, WATCH_EVENT_MODIFIED,
                               WATCH_EVENT_DELETED, WATCH_EVENT_CLONED,
                               WATCH_EVENT_CLEARED};
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(s.kind[i], want[i]);
  /* Uncoalesced and before the change: each write sees the previous
   * value still in place. */
  ck_assert(PyUnicode_Compare(s.key[0], a) == 0);
  ck_assert_int_eq(PyLong_AsLong(s.before[0]), 0);
  ck_assert_int_eq(PyLong_AsLong(s.value[0]), 1);
  ck_assert_int_eq(PyLong_AsLong(s.before[1]), 1);
  ck_assert_int_eq(PyLong_AsLong(s.value[1]), 2);
  ck_assert_int_eq(PyLong_AsLong(s.before[2]), 2);
  ck_assert_ptr_null(s.value[2]);
  ck_assert(s.value_is_dict[3]); /* the clone's source, gone since */
  ck_assert_ptr_null(s.key[3]);
  ck_assert_ptr_null(s.key[4]);
  watch_tap_free(tap);
  Py_DECREF(a);
  Py_DECREF(d);
}
END_TEST

START_TEST(phase_two_once_per_batch)
{
  PyObject *d = PY("{}");
  seen_t s = {.ask_after = 1};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, record, after, &s), 0);
  /* From C: no safe point comes between the writes. */
  for (int i = 0; i < 5; i++) {
    PyObject *k = PyLong_FromLong(i);
    ck_assert_int_eq(PyDict_SetItem(d, k, k), 0);
    Py_DECREF(k);
  }
  ck_assert_int_eq(s.n, 5);
  ck_assert_int_eq(s.afters, 0);
  watch_flush();
  ck_assert_int_eq(s.afters, 1);
  watch_flush();
  ck_assert_int_eq(s.afters, 1); /* nothing asked since */

  /* An after callback may free its own tap. */
  s.free_in_after = tap;
  RUN_WITH("d['x'] = 1", "d", d);
  watch_flush();
  ck_assert_int_eq(s.afters, 2);
  ck_assert_int_eq(s.n, 6);
  RUN_WITH("d['x'] = 2", "d", d); /* freed: not heard */
  ck_assert_int_eq(s.n, 6);
  Py_DECREF(d);
}
END_TEST

/* Queued for phase two, then freed before it: never called. */
START_TEST(freed_while_due)
{
  PyObject *d = PY("{}");
  seen_t s = {.ask_after = 1};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, record, after, &s), 0);
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  watch_tap_free(tap);
  watch_flush();
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(s.afters, 0);
  Py_DECREF(d);
}
END_TEST

START_TEST(the_dict_dies)
{
  PyObject *d = PY("{'a': 1}");
  seen_t s = {0};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, record, NULL, &s), 0);
  Py_DECREF(d);
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(s.kind[0], WATCH_EVENT_DEALLOCATED);
  ck_assert(!watch_tap_attached(tap));
  watch_tap_free(tap);
}
END_TEST

/* The namespace stays watched while tapped, and its record goes with the
 * last tap. */
START_TEST(a_tap_keeps_the_namespace_and_nothing_after)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *d = PY("{}");
  seen_t s1 = {0}, s2 = {0};
  watch_tap_t *t1, *t2;
  ck_assert_int_eq(watch_tap_new(&t1, d, record, NULL, &s1), 0);
  ck_assert_int_eq(watch_tap_new(&t2, d, record, NULL, &s2), 0);
  ASSERT_COUNTER(tap_namespaces, ==, c0.tap_namespaces + 1);
  watch_tap_free(t1);
  RUN_WITH("d['a'] = 1", "d", d);
  ck_assert_int_eq(s1.n, 0);
  ck_assert_int_eq(s2.n, 1);
  watch_tap_free(t2);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  Py_DECREF(d);
}
END_TEST

START_TEST(bad_arguments)
{
  PyObject *d = PY("{}");
  PyObject *l = PY("[]");
  watch_tap_t *tap = NULL;
  ck_assert_int_eq(watch_tap_new(NULL, d, record, NULL, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new(&tap, NULL, record, NULL, NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new(&tap, l, record, NULL, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new(&tap, d, NULL, NULL, NULL), WATCH_EINVAL);
  ck_assert_ptr_null(tap);
  ck_assert_ptr_null(watch_tap_data(NULL));
  ck_assert(!watch_tap_attached(NULL));
  watch_tap_free(NULL);
  Py_DECREF(l);
  Py_DECREF(d);
}
END_TEST

/* Starts and ends libwatch itself. */
START_TEST(finalized_detaches_and_no_watcher_id_is_taken)
{
  ck_assert_int_eq(watch_tap_new(&(watch_tap_t *){NULL}, Py_None, record,
                                 NULL, NULL),
                   WATCH_ENOINIT);
  ck_assert_int_eq(watch_init(), 0);
  int free_before = free_dict_watchers();
  PyObject *d = PY("{}");
  seen_t s = {.ask_after = 1};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, record, after, &s), 0);
  ck_assert_int_eq(free_dict_watchers(), free_before);
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  watch_fini();
  /* The pending phase two first, then FINALIZED. */
  ck_assert_int_eq(s.afters, 1);
  ck_assert_int_eq(s.n, 2);
  ck_assert_int_eq(s.kind[1], WATCH_EVENT_FINALIZED);
  ck_assert(!watch_tap_attached(tap));
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_True), 0);
  ck_assert_int_eq(s.n, 2);
  watch_tap_free(tap);
  Py_DECREF(d);
}
END_TEST

static int
nothing(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  (void)tap, (void)ev;
  return 0;
}

/* A dict holding a key with the hash of "x" and its own __eq__, ahead of
 * "x": every lookup of "x" calls that __eq__.  Tapping the dict adds no
 * call to a write. */
START_TEST(a_tapped_write_calls_no_more_eq)
{
  PyObject *g = NS("class K:\n"
                   "    calls = 0\n"
                   "    def __hash__(self): return hash('x')\n"
                   "    def __eq__(self, other):\n"
                   "        K.calls += 1\n"
                   "        return False\n"
                   "d = {K(): 0, 'x': 0}\n"
                   "def write():\n"
                   "    K.calls = 0\n"
                   "    d['x'] += 1\n"
                   "    d['x'] = d.get('x')\n"
                   "    del d['x']\n"
                   "    d['x'] = 0\n"
                   "    return K.calls\n");
  PyObject *untracked = EVAL(g, "write()");
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, ITEM(g, "d"), nothing, NULL, NULL), 0);
  PyObject *tapped = EVAL(g, "write()");
  ck_assert_int_gt(PyLong_AsLong(untracked), 0);
  ck_assert_int_eq(PyLong_AsLong(tapped), PyLong_AsLong(untracked));
  watch_tap_free(tap);
  Py_DECREF(tapped);
  Py_DECREF(untracked);
  Py_DECREF(g);
}
END_TEST

/* ---- taps freed from callbacks (watch_tap_free() is always allowed) --- */

/* A tap that frees the taps in victims (itself among them, or not) when it
 * hears an event of kind, in phase one or, with in_after, in phase two. */
typedef struct {
  watch_event_kind_t kind;
  int in_after;
  watch_tap_t **victims[4]; /* NULL-terminated; each set to NULL once freed */
  int heard, afters;
} killer_t;

static void
free_victims(killer_t *k)
{
  for (int i = 0; i < 4 && k->victims[i] != NULL; i++) {
    watch_tap_free(*k->victims[i]);
    *k->victims[i] = NULL;
  }
}

static int
killer(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  killer_t *k = watch_tap_data(tap);
  k->heard++;
  if (!k->in_after && ev->kind == k->kind)
    free_victims(k);
  /* Asks for phase two even once freed: it must not come. */
  return 1;
}

static void
killer_after(watch_tap_t *tap)
{
  killer_t *k = watch_tap_data(tap);
  k->afters++;
  if (k->in_after)
    free_victims(k);
}

START_TEST(freed_by_its_own_callback_on_a_write)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *d = PY("{'a': 0}");
  watch_tap_t *self, *other;
  seen_t s = {.ask_after = 1};
  killer_t k = {.kind = WATCH_EVENT_MODIFIED, .victims = {&self}};
  ck_assert_int_eq(watch_tap_new(&other, d, record, after, &s), 0);
  ck_assert_int_eq(watch_tap_new(&self, d, killer, killer_after, &k), 0);
  RUN_WITH("d['a'] = 1", "d", d);
  ck_assert_ptr_null(self);
  ck_assert_int_eq(k.heard, 1);
  ck_assert_int_eq(s.n, 1); /* the tap after it in the list still hears */
  watch_flush();
  ck_assert_int_eq(k.afters, 0);
  ck_assert_int_eq(s.afters, 1);
  RUN_WITH("d['a'] = 2", "d", d);
  ck_assert_int_eq(k.heard, 1);
  ck_assert_int_eq(s.n, 2);
  watch_tap_free(other);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  Py_DECREF(d);
}
END_TEST

/* The last tap of a dict, freed as the dict dies: the watcher goes on with
 * the dict's record, which then goes too. */
START_TEST(freed_by_its_own_callback_when_the_dict_dies)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *d = PY("{'a': 0}");
  watch_tap_t *self;
  killer_t k = {.kind = WATCH_EVENT_DEALLOCATED, .victims = {&self}};
  ck_assert_int_eq(watch_tap_new(&self, d, killer, killer_after, &k), 0);
  Py_DECREF(d);
  ck_assert_ptr_null(self);
  ck_assert_int_eq(k.heard, 1);
  watch_flush();
  ck_assert_int_eq(k.afters, 0);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  /* A new dict, maybe at the same address, is not tapped. */
  PyObject *d2 = PY("{'a': 0}");
  RUN_WITH("d['a'] = 1", "d", d2);
  ck_assert_int_eq(k.heard, 1);
  Py_DECREF(d2);
}
END_TEST

/* One callback frees every tap of the dict, itself included, or another
 * tap not yet told: none of the freed hears anything more. */
START_TEST(a_callback_frees_the_other_taps_of_its_dict)
{
  for (int kind = 0; kind < 2; kind++) {
    watch_counters_t c0 = COUNTERS();
    PyObject *d = PY("{'a': 0}");
    watch_tap_t *t1, *t2, *t3;
    killer_t k1 = {.kind = WATCH_EVENT_MODIFIED};
    killer_t k2 = {.kind = kind ? WATCH_EVENT_DEALLOCATED
                                : WATCH_EVENT_MODIFIED,
                   .victims = {&t1, &t3, &t2}};
    killer_t k3 = {.kind = WATCH_EVENT_MODIFIED};
    ck_assert_int_eq(watch_tap_new(&t1, d, killer, killer_after, &k1), 0);
    ck_assert_int_eq(watch_tap_new(&t2, d, killer, killer_after, &k2), 0);
    ck_assert_int_eq(watch_tap_new(&t3, d, killer, killer_after, &k3), 0);
    if (kind)
      Py_DECREF(d);
    else
      RUN_WITH("d['a'] = 1", "d", d);
    ck_assert_ptr_null(t1);
    ck_assert_ptr_null(t2);
    ck_assert_ptr_null(t3);
    /* Newest first: t3 heard the event before t2 freed it, t1 never. */
    ck_assert_int_eq(k3.heard, 1);
    ck_assert_int_eq(k2.heard, 1);
    ck_assert_int_eq(k1.heard, 0);
    watch_flush();
    ck_assert_int_eq(k1.afters + k2.afters + k3.afters, 0);
    if (!kind) {
      RUN_WITH("d['a'] = 2", "d", d);
      ck_assert_int_eq(k1.heard + k2.heard + k3.heard, 2);
      Py_DECREF(d);
    }
    watch_counters_t c1 = COUNTERS();
    ck_assert_uint_eq(c1.namespaces, c0.namespaces);
    ck_assert_uint_eq(c1.bytes, c0.bytes);
    ck_assert_uint_eq(c1.taps, c0.taps);
    ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
    ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  }
}
END_TEST

/* An after callback frees every tap of its dict, the ones still due in
 * the same batch included. */
START_TEST(an_after_callback_frees_the_taps_of_its_dict)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *d = PY("{'a': 0}");
  watch_tap_t *t1, *t2, *t3;
  killer_t k1 = {0}, k3 = {0};
  killer_t k2 = {.in_after = 1, .victims = {&t1, &t2, &t3}};
  ck_assert_int_eq(watch_tap_new(&t1, d, killer, killer_after, &k1), 0);
  ck_assert_int_eq(watch_tap_new(&t2, d, killer, killer_after, &k2), 0);
  ck_assert_int_eq(watch_tap_new(&t3, d, killer, killer_after, &k3), 0);
  ck_assert_int_eq(PyDict_SetItemString(d, "a", Py_None), 0);
  ck_assert_int_eq(k1.heard + k2.heard + k3.heard, 3);
  watch_flush();
  /* Due in the order they asked: t3, t2, then t1, freed by then. */
  ck_assert_int_eq(k3.afters, 1);
  ck_assert_int_eq(k2.afters, 1);
  ck_assert_int_eq(k1.afters, 0);
  ck_assert_ptr_null(t1);
  RUN_WITH("d['a'] = 2", "d", d);
  ck_assert_int_eq(k1.heard + k2.heard + k3.heard, 3);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  Py_DECREF(d);
}
END_TEST

/* Told FINALIZED, a tap frees itself and another tap not yet told. */
START_TEST(freed_by_a_callback_on_finalized)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{}");
  PyObject *e = PY("{}");
  watch_tap_t *t1, *t2, *t3;
  killer_t k1 = {0}, k3 = {0};
  killer_t k2 = {.kind = WATCH_EVENT_FINALIZED, .victims = {&t2, &t1}};
  ck_assert_int_eq(watch_tap_new(&t1, d, killer, NULL, &k1), 0);
  ck_assert_int_eq(watch_tap_new(&t2, e, killer, NULL, &k2), 0);
  ck_assert_int_eq(watch_tap_new(&t3, d, killer, NULL, &k3), 0);
  watch_fini();
  ck_assert_ptr_null(t1);
  ck_assert_ptr_null(t2);
  ck_assert_int_eq(k2.heard, 1);
  ck_assert_int_eq(k1.heard, 0);
  ck_assert_int_eq(k3.heard, 1);
  ck_assert(!watch_tap_attached(t3));
  watch_tap_free(t3);
  Py_DECREF(e);
  Py_DECREF(d);
}
END_TEST

/* ---- type taps ---------------------------------------------------------- */

/* A class and its dict, watched by one recorder: a type tap and a dict
 * tap. */
#define CLASSES                                                               \
  "class Base:\n"                                                             \
  "    x = 1\n"                                                               \
  "class C(Base):\n"                                                          \
  "    y = 2\n"                                                               \
  "v = C.y\n"

static void
tap_class(PyObject *cls, seen_t *s, watch_tap_t **type_tap,
          watch_tap_t **dict_tap)
{
  ck_assert_int_eq(watch_tap_new_type(type_tap, (PyTypeObject *)cls, record,
                                      after, s),
                   0);
  ck_assert(watch_tap_attached(*type_tap));
  if (dict_tap != NULL) {
    PyObject *dict = PyType_GetDict((PyTypeObject *)cls);
    ck_assert_int_eq(watch_tap_new(dict_tap, dict, record, after, s), 0);
    Py_DECREF(dict);
  }
}

/* C.y = C.y writes no dict entry, so no dict tap hears it: the type tap
 * does, once per version tag, until armed again. */
START_TEST(a_type_tap_hears_a_store_of_the_bound_value)
{
  PyObject *g = NS(CLASSES);
  PyObject *c = ITEM(g, "C");
  seen_t s = {.ask_after = 1};
  watch_tap_t *type_tap, *dict_tap;
  tap_class(c, &s, &type_tap, &dict_tap);

  RUN(g, "setattr(C, 'y', v)\n");
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(s.kind[0], WATCH_EVENT_TYPE);
  ck_assert_ptr_eq(s.dict[0], c);
  ck_assert_ptr_null(s.key[0]);
  ck_assert_ptr_null(s.value[0]);
  /* Disarmed: nothing looked C up since. */
  RUN(g, "C.y = v\n");
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(watch_tap_arm(type_tap), 1);
  RUN(g, "C.y = v\n");
  ck_assert_int_eq(s.n, 2);
  ck_assert_int_eq(s.kind[1], WATCH_EVENT_TYPE);
  /* A lookup through the class arms it too. */
  RUN(g, "C.y = C.y\n");
  ck_assert_int_eq(s.n, 3);
  /* Phase two, as asked (a safe point may have come already). */
  watch_flush();
  ck_assert_int_ge(s.afters, 1);

  /* Another value: the dict event too, in the same instruction, after the
   * class's on 3.12, before it since. */
  ck_assert_int_eq(watch_tap_arm(type_tap), 1);
  RUN(g, "C.y = 3\n");
  ck_assert_int_eq(s.n, 5);
  int dict_first = PY_VERSION_HEX < 0x030D0000;
  ck_assert_int_eq(s.kind[3], dict_first ? WATCH_EVENT_MODIFIED
                                         : WATCH_EVENT_TYPE);
  ck_assert_int_eq(s.kind[4], dict_first ? WATCH_EVENT_TYPE
                                         : WATCH_EVENT_MODIFIED);
  watch_tap_free(dict_tap);
  watch_tap_free(type_tap);
  RUN(g, "C.y = 4\n");
  ck_assert_int_eq(s.n, 5);
  Py_DECREF(g);
}
END_TEST

/* A change to a base tells its subclasses' taps first; no version tag may
 * be assigned from a TYPE callback, which runs inside PyType_Modified. */
typedef struct {
  seen_t seen;
  int armed;
} arming_t;

static int
arm_in_callback(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  arming_t *a = watch_tap_data(tap);
  a->armed = watch_tap_arm(tap);
  return record(tap, ev);
}

START_TEST(a_base_written_and_no_arming_inside)
{
  PyObject *g = NS(CLASSES);
  PyObject *base = ITEM(g, "Base"), *c = ITEM(g, "C");
  arming_t a = {{0}, 0};
  watch_tap_t *t_base, *t_c;
  ck_assert_int_eq(watch_tap_new_type(&t_base, (PyTypeObject *)base,
                                      arm_in_callback, NULL, &a),
                   0);
  ck_assert_int_eq(watch_tap_new_type(&t_c, (PyTypeObject *)c,
                                      arm_in_callback, NULL, &a),
                   0);
  RUN(g, "Base.x = 5\n");
  ck_assert_int_eq(a.seen.n, 2);
  ck_assert_ptr_eq(a.seen.dict[0], c);
  ck_assert_ptr_eq(a.seen.dict[1], base);
  ck_assert_int_eq(a.armed, WATCH_EINVAL);
  /* Outside, it is allowed. */
  ck_assert_int_eq(watch_tap_arm(t_c), 1);
  watch_tap_free(t_c);
  watch_tap_free(t_base);
  Py_DECREF(g);
}
END_TEST

/* Death: DEALLOCATED once, first (the collector clearing the class calls
 * PyType_Modified, and 3.15 tells type watchers of its deallocation too),
 * detached, and nothing to arm. */
START_TEST(a_type_tap_hears_its_class_die)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *g = NS(CLASSES);
  seen_t s = {0};
  watch_tap_t *tap;
  tap_class(ITEM(g, "C"), &s, &tap, NULL);
  RUN(g, "del C, v\nimport gc\ngc.collect()\n");
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(s.kind[0], WATCH_EVENT_DEALLOCATED);
  ck_assert(!watch_tap_attached(tap));
  ck_assert_int_eq(watch_tap_arm(tap), WATCH_EINVAL);
  watch_tap_free(tap);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  Py_DECREF(g);
}
END_TEST

/* Freed from its own TYPE callback, with another tap of the class, which
 * still hears; the class's record goes with the last tap. */
START_TEST(a_type_tap_freed_by_its_own_callback)
{
  watch_counters_t c0 = COUNTERS();
  PyObject *g = NS(CLASSES);
  PyTypeObject *c = (PyTypeObject *)ITEM(g, "C");
  watch_tap_t *self, *other;
  seen_t s = {.ask_after = 1};
  killer_t k = {.kind = WATCH_EVENT_TYPE, .victims = {&self}};
  ck_assert_int_eq(watch_tap_new_type(&other, c, record, after, &s), 0);
  ck_assert_int_eq(watch_tap_new_type(&self, c, killer, killer_after, &k), 0);
  RUN(g, "C.y = v\n");
  ck_assert_ptr_null(self);
  ck_assert_int_eq(k.heard, 1);
  ck_assert_int_eq(s.n, 1);
  watch_flush();
  ck_assert_int_eq(k.afters, 0);
  ck_assert_int_eq(s.afters, 1);
  ck_assert_int_eq(watch_tap_arm(other), 1);
  RUN(g, "C.y = v\n");
  ck_assert_int_eq(k.heard, 1);
  ck_assert_int_eq(s.n, 2);
  /* The last one, from its own callback. */
  killer_t k2 = {.kind = WATCH_EVENT_TYPE, .victims = {&other}};
  watch_tap_free(other);
  ck_assert_int_eq(watch_tap_new_type(&other, c, killer, NULL, &k2), 0);
  RUN(g, "C.y = v\n");
  ck_assert_ptr_null(other);
  ck_assert_int_eq(k2.heard, 1);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
  ck_assert_uint_eq(c1.taps, c0.taps);
  ck_assert_uint_eq(c1.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c1.tap_bytes, c0.tap_bytes);
  Py_DECREF(g);
}
END_TEST

static int
quiet_type(PyTypeObject *type)
{
  (void)type;
  return 0;
}

/* How many type watcher ids are left, found by taking them all. */
static int
free_type_watchers(void)
{
  int ids[16], n = 0;
  while (n < 16 && (ids[n] = PyType_AddWatcher(quiet_type)) >= 0)
    n++;
  PyErr_Clear();
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(PyType_ClearWatcher(ids[i]), 0);
  return n;
}

/* Type taps share libwatch's one type watcher id, whatever their number. */
START_TEST(type_taps_share_one_type_watcher_id)
{
  PyObject *g = NS(CLASSES);
  int free_before = free_type_watchers();
  seen_t s = {0};
  watch_tap_t *t1, *t2, *t3;
  tap_class(ITEM(g, "C"), &s, &t1, NULL);
  int free_after = free_type_watchers();
  ck_assert_int_ge(free_after, free_before - 1);
  tap_class(ITEM(g, "Base"), &s, &t2, NULL);
  tap_class(ITEM(g, "C"), &s, &t3, NULL);
  ck_assert_int_eq(free_type_watchers(), free_after);
  watch_tap_free(t1);
  watch_tap_free(t2);
  watch_tap_free(t3);
  Py_DECREF(g);
}
END_TEST

/* A static type is shared by every interpreter of the process: a tap on
 * one writes nothing to it and takes no type watcher id. */
START_TEST(a_type_tap_on_a_static_type_leaves_the_type_untouched)
{
  int free_before = free_type_watchers();
  unsigned char watched = PyLong_Type.tp_watched;
  seen_t s = {0};
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new_type(&tap, &PyLong_Type, record, NULL, &s),
                   0);

  ck_assert_int_eq(PyLong_Type.tp_watched, watched);
  ck_assert_int_eq(free_type_watchers(), free_before);
  ck_assert_int_eq(watch_tap_attached(tap), 1);
  ck_assert_int_eq(watch_tap_arm(tap), 1);
  watch_tap_free(tap);
  ck_assert_int_eq(PyLong_Type.tp_watched, watched);
}
END_TEST

START_TEST(type_tap_bad_arguments)
{
  PyObject *g = NS(CLASSES);
  PyTypeObject *c = (PyTypeObject *)ITEM(g, "C");
  PyObject *d = PY("{}");
  watch_tap_t *tap = NULL, *dict_tap;
  ck_assert_int_eq(watch_tap_new_type(NULL, c, record, NULL, NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new_type(&tap, NULL, record, NULL, NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new_type(&tap, (PyTypeObject *)d, record, NULL,
                                      NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new_type(&tap, c, NULL, NULL, NULL),
                   WATCH_EINVAL);
  ck_assert_ptr_null(tap);
  ck_assert_int_eq(watch_tap_arm(NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_tap_new(&dict_tap, d, record, NULL, NULL), 0);
  ck_assert_int_eq(watch_tap_arm(dict_tap), WATCH_EINVAL);
  watch_tap_free(dict_tap);
  Py_DECREF(d);
  Py_DECREF(g);
}
END_TEST

/* Starts and ends libwatch itself. */
START_TEST(a_type_tap_finalized)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *g = NS(CLASSES);
  seen_t s = {0};
  watch_tap_t *tap;
  tap_class(ITEM(g, "C"), &s, &tap, NULL);
  watch_fini();
  ck_assert_int_eq(s.n, 1);
  ck_assert_int_eq(s.kind[0], WATCH_EVENT_FINALIZED);
  ck_assert(!watch_tap_attached(tap));
  ck_assert_int_eq(watch_tap_arm(tap), WATCH_ENOINIT);
  RUN(g, "C.y = 5\n");
  ck_assert_int_eq(s.n, 1);
  watch_tap_free(tap);
  Py_DECREF(g);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("tap");
  TCase *tc = harness_tcase(s, "tap");
  tcase_add_test(tc, every_event_in_order_before_the_change);
  tcase_add_test(tc, phase_two_once_per_batch);
  tcase_add_test(tc, freed_while_due);
  tcase_add_test(tc, the_dict_dies);
  tcase_add_test(tc, a_tap_keeps_the_namespace_and_nothing_after);
  tcase_add_test(tc, bad_arguments);
  tcase_add_test(tc, a_tapped_write_calls_no_more_eq);
  tcase_add_test(tc, freed_by_its_own_callback_on_a_write);
  tcase_add_test(tc, freed_by_its_own_callback_when_the_dict_dies);
  tcase_add_test(tc, a_callback_frees_the_other_taps_of_its_dict);
  tcase_add_test(tc, an_after_callback_frees_the_taps_of_its_dict);
  tcase_add_test(tc, a_type_tap_hears_a_store_of_the_bound_value);
  tcase_add_test(tc, a_base_written_and_no_arming_inside);
  tcase_add_test(tc, a_type_tap_hears_its_class_die);
  tcase_add_test(tc, a_type_tap_freed_by_its_own_callback);
  tcase_add_test(tc, type_taps_share_one_type_watcher_id);
  tcase_add_test(tc, a_type_tap_on_a_static_type_leaves_the_type_untouched);
  tcase_add_test(tc, type_tap_bad_arguments);
  TCase *bare = harness_bare_tcase(s, "life");
  tcase_add_test(bare, finalized_detaches_and_no_watcher_id_is_taken);
  tcase_add_test(bare, freed_by_a_callback_on_finalized);
  tcase_add_test(bare, a_type_tap_finalized);
  return s;
}
