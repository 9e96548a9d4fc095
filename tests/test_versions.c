/* What differs between CPython 3.12, 3.13, 3.14 and 3.15, and what libwatch
 * makes of it: each rule of READONLY.txt's version table, checked on the
 * version it concerns, with the other behaviour asserted on the others. */
#include "harness.h"

#define V314 (PY_VERSION_HEX >= 0x030E0000)
#define V315 (PY_VERSION_HEX >= 0x030F0000)

/* ---- watcher ids ------------------------------------------------------- */

/* Takes every free id of one kind, then gives them back; returns how many
 * there were and the lowest. */
static int
count_free_ids(int (*add)(void), int (*clear)(int), int *lowest)
{
  int ids[16], n = 0;
  while (n < 16 && (ids[n] = add()) >= 0)
    n++;
  PyErr_Clear();
  *lowest = n ? ids[0] : -1;
  for (int i = 0; i < n; i++)
    clear(ids[i]);
  return n;
}

static int
noop_dict_cb(PyDict_WatchEvent e, PyObject *d, PyObject *k, PyObject *v)
{
  (void)e, (void)d, (void)k, (void)v;
  return 0;
}
static int add_dict(void) { return PyDict_AddWatcher(noop_dict_cb); }

static int
noop_type_cb(PyTypeObject *t)
{
  (void)t;
  return 0;
}
static int add_type(void) { return PyType_AddWatcher(noop_type_cb); }

/* 3.12 leaves all 8 dict watcher ids to extensions; 3.13 and 3.14 reserve 0
 * and 1 for their optimizer, 3.15 also 2.  libwatch takes one, whatever it
 * watches. */
START_TEST(libwatch_takes_one_dict_watcher_id_of_those_cpython_leaves)
{
  int cpython_free = PY_VERSION_HEX >= 0x030F0000   ? 5
                     : PY_VERSION_HEX >= 0x030D0000 ? 6
                                                    : 8;
  PyObject *ns = NS("import types\n"
                    "m = types.ModuleType('m')\n"
                    "m.x = 1\n"
                    "class C:\n"
                    "    y = 2\n"
                    "def f():\n"
                    "    pass\n"
                    "mx, cy = m.x, C.y\n");
  PROBE(p);
  DEPEND(p, PyEval_GetBuiltins(), "len");
  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(ns, "m"), key("x"),
                                     ITEM(ns, "mx")),
                   0);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(ns, "C"), key("y"),
                                     ITEM(ns, "cy")),
                   0);
  ck_assert_int_eq(watch_dep_on_function(p->dep, ITEM(ns, "f")), 0);

  int lowest;
  int free_ids = count_free_ids(add_dict, PyDict_ClearWatcher, &lowest);

  ck_assert_int_eq(free_ids, cpython_free - 1);
  ck_assert_int_ge(lowest, 8 - cpython_free);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* 3.14 reserves type watcher id 0.  libwatch takes one only for classes
 * whose bases are all builtins, and it works with any id. */
START_TEST(the_type_watcher_works_with_the_ids_cpython_leaves)
{
  int lowest;
  int before = count_free_ids(add_type, PyType_ClearWatcher, &lowest);
  ck_assert_int_eq(before, V314 ? 7 : 8);
  ck_assert_int_eq(lowest, V314 ? 1 : 0);

  PyObject *ns = NS("class E(Exception):\n"
                    "    pass\n");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, ITEM(ns, "E"), key("x"), NULL),
                   0);
  ck_assert_int_eq(count_free_ids(add_type, PyType_ClearWatcher, &lowest),
                   before - 1);

  RUN(ns, "E.__bases__ = (ValueError,)\n");
  assert_invalidated(p, WATCH_EVENT_TYPE, ITEM(ns, "E"));
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* When extensions have taken every type watcher id, the one class kind
 * that needs one is refused; nothing else is affected. */
START_TEST(no_free_type_watcher_id_refuses_only_builtin_based_classes)
{
  int ids[8], n = 0;
  while (n < 8 && (ids[n] = add_type()) >= 0)
    n++;
  PyErr_Clear();
  PyObject *ns = NS("class E(Exception):\n"
                    "    pass\n"
                    "class A:\n"
                    "    x = 1\n"
                    "one = A.x\n");
  PROBE(p);
  int on_e = watch_dep_on_attr(p->dep, ITEM(ns, "E"), key("x"), NULL);
  int on_a = watch_dep_on_attr(p->dep, ITEM(ns, "A"), key("x"),
                               ITEM(ns, "one"));
  for (int i = 0; i < n; i++)
    PyType_ClearWatcher(ids[i]);

  ck_assert_int_eq(on_e, WATCH_EBUSY);
  ck_assert_int_eq(on_a, 0);
  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ---- versions ---------------------------------------------------------- */

/* 3.14 removed ma_version_tag, and its keys version moves only when keys
 * do: libwatch's versions are its own and move on a value change too. */
START_TEST(a_value_change_moves_the_version_on_every_version)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  uint64_t v0, v1, v2;
  ck_assert_int_eq(watch_dict_version(d, &v0), 0);
  RUN_WITH("d['x'] = 10", "d", d);
  ck_assert_int_eq(watch_dict_version(d, &v1), 0);
  RUN_WITH("d['x'] = d['x']", "d", d); /* the identical object: no change */
  ck_assert_int_eq(watch_dict_version(d, &v2), 0);
  ck_assert_uint_gt(v1, v0);
  ck_assert_uint_eq(v2, v1);
  Py_DECREF(d);
}
END_TEST

/* ---- CPython's own watchers -------------------------------------------- */

/* 3.13+ watch builtins and hot globals for their optimizer (dict ids 0 and
 * 1); 3.12 does not.  Either way, libwatch sees every change, and code that
 * CPython specialized sees the new value. */
START_TEST(cpython_s_own_watchers_and_libwatch_both_see_a_builtin_change)
{
  PyObject *ns = NS("import builtins\n"
                    "def hot():\n"
                    "    return len('abc')\n"
                    "for i in range(10000):\n"
                    "    hot()\n"
                    "G = 1\n"
                    "def reads_g():\n"
                    "    return G\n"
                    "for i in range(10000):\n"
                    "    reads_g()\n");
  PROBE(on_len);
  PROBE(on_g);
  DEPEND(on_len, PyEval_GetBuiltins(), "len");
  DEPEND(on_g, ns, "G");

  RUN(ns, "saved = builtins.len\n"
          "builtins.len = lambda s: 42\n"
          "assert hot() == 42\n"
          "builtins.len = saved\n"
          "G = 2\n"
          "assert reads_g() == 2\n");

  assert_invalidated(on_len, WATCH_EVENT_MODIFIED, PyEval_GetBuiltins());
  assert_invalidated(on_g, WATCH_EVENT_MODIFIED, ns);
  probe_release(on_len);
  probe_release(on_g);
  Py_DECREF(ns);
}
END_TEST

/* ---- type events ------------------------------------------------------- */

static int type_events;
static PyObject *type_watched;

static int
count_type_event(PyTypeObject *type)
{
  if ((PyObject *)type == type_watched)
    type_events++;
  return 0;
}

/* Counts cls's type events from now on in type_events, with a watcher of
 * the test's own, armed; returns its id. */
static int
count_type_events_of(PyObject *cls)
{
  int id = PyType_AddWatcher(count_type_event);
  ck_assert_int_ge(id, 0);
  type_watched = cls;
  type_events = 0;
  ck_assert_int_eq(PyType_Watch(id, cls), 0);
  ck_assert(PyUnstable_Type_AssignVersionTag((PyTypeObject *)cls));
  return id;
}

/* Type watchers fire once per version tag: after one change CPython says
 * nothing until a lookup assigns a new tag (3.14 documents it as
 * aggregation).  libwatch re-arms at each registration, so a dependent
 * registered right after a change still hears of the next one. */
START_TEST(type_events_fire_once_per_tag_and_each_registration_rearms)
{
  PyObject *ns = NS("class E(Exception):\n"
                    "    pass\n");
  PyObject *e = ITEM(ns, "E");
  int id = count_type_events_of(e);

  PROBE(first);
  ck_assert_int_eq(watch_dep_on_attr(first->dep, e, key("x"), NULL), 0);
  RUN(ns, "E.a = 1\n"
          "E.b = 2\n");
  int events_after_two = type_events;

  PROBE(second);
  ck_assert_int_eq(watch_dep_on_attr(second->dep, e, key("x"), NULL), 0);
  RUN(ns, "E.c = 3\n");

  PyType_ClearWatcher(id);
  type_watched = NULL;
  ck_assert_int_eq(events_after_two, 1);
  assert_invalidated(first, WATCH_EVENT_TYPE, e);
  assert_invalidated(second, WATCH_EVENT_TYPE, e);
  probe_release(first);
  probe_release(second);
  Py_DECREF(ns);
}
END_TEST

/* A class dies in a cycle (its MRO holds it), collected by the GC, which
 * clears weak references first, then the class (type_clear, which calls
 * PyType_Modified: one type event), then frees it, where 3.15 also calls
 * type watchers (gh-149216: a second event).  A dependent hears of the
 * death once, whichever comes first: DEALLOCATED from the weak reference
 * that libwatch holds on a builtin-based class, CLEARED from the class's
 * dict for the others. */
START_TEST(a_dying_class_is_reported_once)
{
  PyObject *ns = NS("import gc\n"
                    "class E(Exception):\n"
                    "    pass\n"
                    "class A:\n"
                    "    pass\n"
                    "class B(A):\n"
                    "    pass\n");
  PyObject *e = ITEM(ns, "E");
  int id = count_type_events_of(e);
  PROBE(on_e);
  PROBE(on_b);
  ck_assert_int_eq(watch_dep_on_attr(on_e->dep, e, key("x"), NULL), 0);
  ck_assert_int_eq(watch_dep_on_attr(on_b->dep, ITEM(ns, "B"), key("x"),
                                     NULL),
                   0);

  RUN(ns, "del E, B\n"
          "gc.collect()\n");

  PyType_ClearWatcher(id);
  type_watched = NULL;
  ck_assert_int_eq(type_events, V315 ? 2 : 1);
  assert_invalidated(on_e, WATCH_EVENT_DEALLOCATED, NULL);
  ck_assert_ptr_null(on_e->rec.ns);
  assert_invalidated(on_b, WATCH_EVENT_CLEARED, NULL);
  probe_release(on_e);
  probe_release(on_b);
  Py_DECREF(ns);
}
END_TEST

/* ---- functions --------------------------------------------------------- */

static int qualname_events;
static PyObject *func_watched;

static int
count_qualname_event(PyFunction_WatchEvent event, PyFunctionObject *func,
                     PyObject *new_value)
{
  (void)new_value;
  if ((PyObject *)func == func_watched && event != PyFunction_EVENT_CREATE
      && event != PyFunction_EVENT_DESTROY)
    qualname_events++;
  return 0;
}

/* 3.15 reports __qualname__ assignment to function watchers
 * (MODIFY_QUALNAME); earlier versions do not.  It changes nothing a call
 * runs, so it never invalidates. */
START_TEST(qualname_assignment_never_invalidates)
{
  PyObject *ns = NS("def f(a):\n"
                    "    return a\n");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_function(p->dep, ITEM(ns, "f")), 0);
  int id = PyFunction_AddWatcher(count_qualname_event);
  ck_assert_int_ge(id, 0);
  func_watched = ITEM(ns, "f");
  qualname_events = 0;

  RUN(ns, "f.__qualname__ = 'Elsewhere.f'\n"
          "f.__name__ = 'g'\n");

  PyFunction_ClearWatcher(id);
  func_watched = NULL;
  ck_assert_int_eq(qualname_events, V315 ? 1 : 0);
  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ---- 3.15: frozendict and lazy imports ---------------------------------- */

#if V315
/* A frozendict cannot change: a dependency on it is checked at install and
 * then costs nothing. */
START_TEST(a_frozendict_dependency_is_checked_and_costs_nothing)
{
  PyObject *ns = NS("fd = frozendict(a=1, b=2)\n"
                    "one = fd['a']\n");
  PyObject *fd = ITEM(ns, "fd");
  PROBE(p);
  watch_counters_t before = COUNTERS();

  ck_assert_int_eq(watch_dep_on_key(p->dep, fd, key("a"), ITEM(ns, "one")), 0);
  ck_assert_int_eq(watch_dep_on_key(p->dep, fd, key("zz"), NULL), 0);
  ck_assert_int_eq(watch_dep_on_key(p->dep, fd, key("a"), Py_None),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, fd), 0);

  ASSERT_COUNTER(edges, ==, before.edges);
  ASSERT_COUNTER(namespaces, ==, before.namespaces);
  uint64_t version;
  ck_assert_int_eq(watch_dict_version(fd, &version), WATCH_EINVAL);
  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* PEP 810: until its first use, a lazily imported name holds a lazy_import
 * object; the use rebinds it in the module dict.  A dependency assumes what
 * the dict holds, so the placeholder's dependent is invalidated then, and
 * one registered after the resolution stays valid. */
START_TEST(resolving_a_lazy_import_invalidates_its_placeholder_s_dependents)
{
  /* A module nothing here imports: one already imported binds at once. */
  PyObject *ns = NS("import sys\n"
                    "assert 'colorsys' not in sys.modules\n"
                    "lazy import colorsys\n"
                    "def use():\n"
                    "    return colorsys.rgb_to_hsv(0, 0, 0)\n"
                    "assert type(globals()['colorsys']).__name__ "
                    "== 'lazy_import'\n");
  PROBE(on_placeholder);
  DEPEND(on_placeholder, ns, "colorsys");

  RUN(ns, "assert use() == (0, 0, 0)\n"
          "assert globals()['colorsys'] is sys.modules['colorsys']\n");
  assert_invalidated(on_placeholder, WATCH_EVENT_MODIFIED, ns);
  assert_key(on_placeholder, "colorsys");

  PROBE(on_module);
  DEPEND(on_module, ns, "colorsys");
  RUN(ns, "use()\n");
  assert_intact(on_module);
  probe_release(on_placeholder);
  probe_release(on_module);
  Py_DECREF(ns);
}
END_TEST
#else
/* Before 3.15 there is no frozendict; a mapping that is not a dict is
 * refused. */
START_TEST(a_mapping_that_is_not_a_dict_is_refused)
{
  PyObject *ns = NS("import types\n"
                    "mp = types.MappingProxyType({'a': 1})\n");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_key(p->dep, ITEM(ns, "mp"), key("a"), NULL),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, ITEM(ns, "mp")),
                   WATCH_EINVAL);
  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST
#endif

static Suite *
make_suite(void)
{
  Suite *s = suite_create("versions");

  TCase *tc = harness_tcase(s, "watcher_ids");
  tcase_add_test(tc, libwatch_takes_one_dict_watcher_id_of_those_cpython_leaves);
  tcase_add_test(tc, the_type_watcher_works_with_the_ids_cpython_leaves);
  tcase_add_test(tc, no_free_type_watcher_id_refuses_only_builtin_based_classes);

  tc = harness_tcase(s, "versions");
  tcase_add_test(tc, a_value_change_moves_the_version_on_every_version);

  tc = harness_tcase(s, "cpython_watchers");
  tcase_add_test(tc, cpython_s_own_watchers_and_libwatch_both_see_a_builtin_change);

  tc = harness_tcase(s, "types");
  tcase_add_test(tc, type_events_fire_once_per_tag_and_each_registration_rearms);
  tcase_add_test(tc, a_dying_class_is_reported_once);

  tc = harness_tcase(s, "functions");
  tcase_add_test(tc, qualname_assignment_never_invalidates);

  tc = harness_tcase(s, "v315");
#if V315
  tcase_add_test(tc, a_frozendict_dependency_is_checked_and_costs_nothing);
  tcase_add_test(tc,
                 resolving_a_lazy_import_invalidates_its_placeholder_s_dependents);
#else
  tcase_add_test(tc, a_mapping_that_is_not_a_dict_is_refused);
#endif
  return s;
}
