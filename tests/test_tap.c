/* Taps: every event on a dict, uncoalesced, in phase one, before the
 * change; phase two on request, once per batch; detached when the dict dies
 * or libwatch finalizes; no watcher id of their own. */
#include "harness.h"

#define MAX_SEEN 16

typedef struct {
  int n;
  watch_event_kind_t kind[MAX_SEEN];
  PyObject *key[MAX_SEEN];   /* borrowed: compared by identity only */
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
  ASSERT_COUNTER(namespaces, ==, c0.namespaces + 1);
  watch_tap_free(t1);
  RUN_WITH("d['a'] = 1", "d", d);
  ck_assert_int_eq(s1.n, 0);
  ck_assert_int_eq(s2.n, 1);
  watch_tap_free(t2);
  watch_counters_t c1 = COUNTERS();
  ck_assert_uint_eq(c1.namespaces, c0.namespaces);
  ck_assert_uint_eq(c1.bytes, c0.bytes);
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
  TCase *bare = harness_bare_tcase(s, "life");
  tcase_add_test(bare, finalized_detaches_and_no_watcher_id_is_taken);
  return s;
}
