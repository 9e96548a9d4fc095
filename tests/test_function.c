/* Function dependencies (watch_dep_on_function): a function's __code__,
 * __defaults__ and __kwdefaults__ stay as they are, and it lives. */
#include "harness.h"

/* f and g have the same signature, so that their codes can be swapped; every
 * function made by make() has one free variable, like the lambdas of
 * [(lambda: i) for i in range(n)]. */
#define FUNCS_SRC                                                             \
  "import gc\n"                                                               \
  "import weakref\n"                                                          \
  "def f(a, b=1, *, k=2):\n"                                                  \
  "    return a\n"                                                            \
  "def g(a, b=3, *, k=4):\n"                                                  \
  "    return -a\n"                                                           \
  "def make(j):\n"                                                            \
  "    return lambda: -j\n"                                                   \
  "def make2(j):\n"                                                           \
  "    return lambda: j * 2\n"                                                \
  "class Base:\n"                                                             \
  "    def m(self):\n"                                                        \
  "        return 'Base.m'\n"

/* p depends on the function func. */
#define DEPEND_FUNC(p, func)                                                  \
  do {                                                                        \
    int e_ = watch_dep_on_function((p)->dep, (func));                         \
    ck_assert_msg(e_ == 0, "watch_dep_on_function() = %d (%s)", e_,          \
                  harness_err(e_));                                           \
  } while (0)

/* p depends on fs[i] (fs a list of functions in ns). */
#define DEPEND_FS(p, ns, i)                                                   \
  DEPEND_FUNC(p, PyList_GET_ITEM(ITEM((ns), "fs"), (i)))

/* A function event names no key. */
#define assert_function_event(p, kind_)                                       \
  do {                                                                        \
    assert_invalidated(p, kind_, NULL);                                       \
    assert_no_key(p);                                                         \
  } while (0)

/* watch_dep_on_function() failed with err and left p as it was. */
#define ASSERT_FUNCTION_FAILS(p, func, err)                                   \
  do {                                                                        \
    int e_ = watch_dep_on_function((p)->dep, (func));                         \
    ck_assert_msg(e_ == (err),                                                \
                  "watch_dep_on_function() = %d (%s), expected %s", e_,       \
                  harness_err(e_), harness_err(err));                         \
    assert_no_python_error();                                                 \
  } while (0)

/* ------------------------------------------------------------------------ */
/* What invalidates                                                         */

START_TEST(replacing_code_invalidates_with_code)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "f.__code__ = g.__code__\n");

  assert_function_event(p, WATCH_EVENT_CODE);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(replacing_defaults_invalidates_with_defaults)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "f.__defaults__ = (1,)\n");

  assert_function_event(p, WATCH_EVENT_DEFAULTS);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(deleting_defaults_invalidates_with_defaults)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(by_del);
  PROBE(by_none);
  DEPEND_FUNC(by_del, ITEM(ns, "f"));
  DEPEND_FUNC(by_none, ITEM(ns, "g"));

  RUN(ns, "del f.__defaults__\n"
          "g.__defaults__ = None\n");

  assert_function_event(by_del, WATCH_EVENT_DEFAULTS);
  assert_function_event(by_none, WATCH_EVENT_DEFAULTS);
  probe_release(by_del);
  probe_release(by_none);
  Py_DECREF(ns);
}
END_TEST

START_TEST(replacing_kwdefaults_invalidates_with_kwdefaults)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "f.__kwdefaults__ = {'k': 1}\n");

  assert_function_event(p, WATCH_EVENT_KWDEFAULTS);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(deleting_kwdefaults_invalidates_with_kwdefaults)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "f.__kwdefaults__ = None\n");

  assert_function_event(p, WATCH_EVENT_KWDEFAULTS);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(setting_defaults_from_c_invalidates)
{
  PyObject *ns = NS(FUNCS_SRC);
  PyObject *f = ITEM(ns, "f");
  PyObject *g = ITEM(ns, "g");
  PyObject *defaults = PY("(10,)");
  PyObject *kwdefaults = PY("{'k': 10}");
  PROBE(on_f);
  PROBE(on_g);
  DEPEND_FUNC(on_f, f);
  DEPEND_FUNC(on_g, g);

  ck_assert_int_eq(PyFunction_SetDefaults(f, defaults), 0);
  ck_assert_int_eq(PyFunction_SetKwDefaults(g, kwdefaults), 0);

  assert_function_event(on_f, WATCH_EVENT_DEFAULTS);
  assert_function_event(on_g, WATCH_EVENT_KWDEFAULTS);
  probe_release(on_f);
  probe_release(on_g);
  Py_DECREF(kwdefaults);
  Py_DECREF(defaults);
  Py_DECREF(ns);
}
END_TEST

START_TEST(destroying_the_function_invalidates_with_deallocated)
{
  PyObject *ns = NS(FUNCS_SRC "r = weakref.ref(f)\n");
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "del f\n"
          "gc.collect()\n"
          "assert r() is None, 'f is still alive'\n");

  assert_function_event(p, WATCH_EVENT_DEALLOCATED);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_function_collected_in_a_cycle_invalidates_with_deallocated)
{
  PyObject *ns = NS(FUNCS_SRC "def h():\n"
                              "    pass\n"
                              "h.me = h\n"
                              "r = weakref.ref(h)\n");
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "h"));

  RUN(ns, "del h\n"
          "gc.collect()\n"
          "assert r() is None, 'h is still alive'\n");

  assert_function_event(p, WATCH_EVENT_DEALLOCATED);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_closure_is_invalidated_like_any_function)
{
  PyObject *ns = NS(FUNCS_SRC "c1 = make(1)\n"
                              "c2 = make(2)\n"
                              "c3 = make(3)\n"
                              "r = weakref.ref(c3)\n");
  PROBE(on_c1);
  PROBE(on_c2);
  PROBE(on_c3);
  DEPEND_FUNC(on_c1, ITEM(ns, "c1"));
  DEPEND_FUNC(on_c2, ITEM(ns, "c2"));
  DEPEND_FUNC(on_c3, ITEM(ns, "c3"));

  RUN(ns, "c1.__code__ = make2(0).__code__\n"
          "c2.__defaults__ = (1,)\n"
          "del c3\n"
          "gc.collect()\n"
          "assert r() is None\n");

  assert_function_event(on_c1, WATCH_EVENT_CODE);
  assert_function_event(on_c2, WATCH_EVENT_DEFAULTS);
  assert_function_event(on_c3, WATCH_EVENT_DEALLOCATED);
  Py_DECREF(ns);
}
END_TEST

/* The function's current __code__ and __defaults__. */
static const void *
peek_code(PyObject *func)
{
  return PyFunction_GET_CODE(func);
}

static const void *
peek_defaults(PyObject *func)
{
  return PyFunction_GET_DEFAULTS(func);
}

START_TEST(a_function_is_invalid_before_its_code_changes_and_called_after)
{
  PyObject *ns = NS(FUNCS_SRC);
  PyObject *f = ITEM(ns, "f");
  const void *old = PyFunction_GET_CODE(f);
  PROBE(p);
  DEPEND_FUNC(p, f);
  p->rec.peek_fn = peek_code;
  p->rec.peek_obj = f;
  WITNESS(p, f, peek_code, f);

  RUN(ns, "f.__code__ = g.__code__\n");

  assert_function_event(p, WATCH_EVENT_CODE);
  assert_witnessed_before(old);
  ck_assert_msg(p->rec.peeked == PyFunction_GET_CODE(ITEM(ns, "g")),
                "the callback must see f.__code__ replaced");
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_function_is_invalid_before_its_defaults_change_and_called_after)
{
  PyObject *ns = NS(FUNCS_SRC);
  PyObject *f = ITEM(ns, "f");
  const void *old = PyFunction_GET_DEFAULTS(f);
  ck_assert_ptr_nonnull(old);
  PROBE(p);
  DEPEND_FUNC(p, f);
  p->rec.peek_fn = peek_defaults;
  p->rec.peek_obj = f;
  WITNESS(p, f, peek_defaults, f);

  RUN(ns, "f.__defaults__ = (5,)\n");

  assert_function_event(p, WATCH_EVENT_DEFAULTS);
  assert_witnessed_before(old);
  ck_assert_msg(p->rec.peeked == PyFunction_GET_DEFAULTS(f),
                "the callback must see f.__defaults__ replaced");
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(two_dependents_on_one_function_are_both_invalidated)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(a);
  PROBE(b);
  DEPEND_FUNC(a, ITEM(ns, "f"));
  DEPEND_FUNC(b, ITEM(ns, "f"));

  RUN(ns, "f.__defaults__ = (1,)\n");

  assert_function_event(a, WATCH_EVENT_DEFAULTS);
  assert_function_event(b, WATCH_EVENT_DEFAULTS);
  probe_release(a);
  probe_release(b);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_dependent_on_two_functions_is_invalidated_once)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));
  DEPEND_FUNC(p, ITEM(ns, "g"));

  RUN(ns, "g.__kwdefaults__ = {}\n"
          "f.__code__ = g.__code__\n"
          "del f, g\n"
          "gc.collect()\n");

  assert_function_event(p, WATCH_EVENT_KWDEFAULTS);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_dependent_on_a_function_and_a_class_attr_is_invalidated_once)
{
  PyObject *ns = NS(FUNCS_SRC);
  PyObject *base = ITEM(ns, "Base");
  PyObject *m = EVAL(ns, "Base.__dict__['m']");
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));
  ck_assert_int_eq(watch_dep_on_attr(p->dep, base, key("m"), m), 0);
  DEPEND_FUNC(p, m);

  RUN(ns, "Base.m = g\n"
          "f.__code__ = g.__code__\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, NULL);
  assert_key(p, "m");
  probe_release(p);
  Py_DECREF(m);
  Py_DECREF(ns);
}
END_TEST

START_TEST(reregistering_after_an_invalidation_sees_the_next_change)
{
  PyObject *ns = NS(FUNCS_SRC "r = weakref.ref(f)\n");
  PyObject *f = ITEM(ns, "f");
  PROBE(p);
  DEPEND_FUNC(p, f);
  RUN(ns, "f.__defaults__ = (1,)\n");
  assert_function_event(p, WATCH_EVENT_DEFAULTS);
  probe_release(p);
  PROBE(q);
  DEPEND_FUNC(q, f);
  RUN(ns, "f.__defaults__ = (2,)\n");
  assert_function_event(q, WATCH_EVENT_DEFAULTS);
  probe_release(q);
  PROBE(r);
  DEPEND_FUNC(r, f);

  RUN(ns, "del f\n"
          "gc.collect()\n"
          "assert r() is None\n");

  assert_function_event(r, WATCH_EVENT_DEALLOCATED);
  probe_release(r);
  Py_DECREF(ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Precision                                                                */

START_TEST(changes_to_another_function_do_not_invalidate)
{
  PyObject *ns = NS(FUNCS_SRC "def h(a, b=5, *, k=6):\n"
                              "    return a\n");
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "g.__code__ = h.__code__\n"
          "g.__defaults__ = (1,)\n"
          "g.__kwdefaults__ = {'k': 1}\n"
          "del g.__defaults__\n"
          "h.__code__ = f.__code__\n" /* f's code object, on another function */
          "h.__defaults__ = f.__defaults__\n"
          "del g, h\n"
          "gc.collect()\n");

  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(name_doc_and_other_attributes_do_not_invalidate)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));

  RUN(ns, "f.__name__ = 'renamed'\n"
          "f.__qualname__ = 'Renamed.renamed'\n"
          "f.__doc__ = 'documented'\n"
          "f.__doc__ = None\n"
          "f.__annotations__ = {'a': int}\n"
          "f.__module__ = 'elsewhere'\n"
          "f.attribute = 1\n"
          "f.__dict__['other'] = 2\n"
          "assert f(7) == 7\n");

  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(creating_and_destroying_other_functions_does_not_invalidate)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  DEPEND_FUNC(p, ITEM(ns, "f"));
  watch_counters_t before = COUNTERS();

  RUN(ns, "for i in range(1000):\n"
          "    (lambda: i).__defaults__ = (i,)\n"
          "closures = [make(i) for i in range(1000)]\n"
          "del closures\n"
          "exec('def k(): pass\\nk.__code__ = (lambda: 0).__code__\\n', {})\n"
          "gc.collect()\n");

  assert_intact(p);
  ASSERT_COUNTER(invalidations, ==, before.invalidations);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Many functions, a few tracked                                            */

#define N_FUNCS 10000
#define MANY_FUNCS_SRC                                                        \
  FUNCS_SRC "fs = [(lambda: i) for i in range(10000)]\n"                      \
            "assert len(fs) == 10000 and fs[0].__closure__ is not None\n"

/* Indices of the tracked functions among fs. */
static const int tracked[] = { 0, 1, 2, 4999, 5000, 7777, 9998, 9999 };
#define N_TRACKED ((int)(sizeof tracked / sizeof tracked[0]))

static int
is_tracked(int i)
{
  for (int t = 0; t < N_TRACKED; t++)
    if (tracked[t] == i)
      return 1;
  return 0;
}

START_TEST(only_the_tracked_functions_among_10000_are_invalidated)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(on_f); /* the function watcher is installed before fs are made */
  DEPEND_FUNC(on_f, ITEM(ns, "f"));
  RUN(ns, "fs = [(lambda: i) for i in range(10000)]\n");
  probe_t *p[N_TRACKED];
  for (int t = 0; t < N_TRACKED; t++) {
    p[t] = probe_new_at(__FILE__, __LINE__);
    DEPEND_FS(p[t], ns, tracked[t]);
  }
  watch_counters_t before = COUNTERS();

  RUN(ns, "fs[1].__defaults__ = (1,)\n"
          "fs[5000].__code__ = make(0).__code__\n"
          "fs[9999].__kwdefaults__ = {'k': 1}\n");

  assert_function_event(p[1], WATCH_EVENT_DEFAULTS);
  assert_function_event(p[4], WATCH_EVENT_CODE);
  assert_function_event(p[7], WATCH_EVENT_KWDEFAULTS);
  for (int t = 0; t < N_TRACKED; t++)
    if (t != 1 && t != 4 && t != 7)
      assert_intact(p[t]);
  assert_intact(on_f);
  ASSERT_COUNTER(invalidations, ==, before.invalidations + 3);
  Py_DECREF(ns);
}
END_TEST

START_TEST(modifying_the_untracked_functions_among_10000_invalidates_nothing)
{
  PyObject *ns = NS(MANY_FUNCS_SRC);
  probe_t *p[N_TRACKED];
  for (int t = 0; t < N_TRACKED; t++) {
    p[t] = probe_new_at(__FILE__, __LINE__);
    DEPEND_FS(p[t], ns, tracked[t]);
  }
  PyObject *flags = PyList_New(N_FUNCS);
  ck_assert_ptr_nonnull(flags);
  for (int i = 0; i < N_FUNCS; i++)
    PyList_SET_ITEM(flags, i, PyBool_FromLong(is_tracked(i)));
  watch_counters_t before = COUNTERS();

  RUN_WITH("code = make(0).__code__\n"
           "for i, fn in enumerate(fs):\n"
           "    if not tracked[i]:\n"
           "        fn.__defaults__ = (i,)\n"
           "        fn.__kwdefaults__ = {'k': i}\n"
           "        fn.__code__ = code\n",
           "fs", ITEM(ns, "fs"), "tracked", flags, "make", ITEM(ns, "make"));

  for (int t = 0; t < N_TRACKED; t++)
    assert_intact(p[t]);
  ASSERT_COUNTER(invalidations, ==, before.invalidations);
  Py_DECREF(flags);
  Py_DECREF(ns);
}
END_TEST

START_TEST(destroying_the_untracked_functions_among_10000_invalidates_nothing)
{
  PyObject *ns = NS(MANY_FUNCS_SRC);
  probe_t *p[N_TRACKED];
  for (int t = 0; t < N_TRACKED; t++) {
    p[t] = probe_new_at(__FILE__, __LINE__);
    DEPEND_FS(p[t], ns, tracked[t]);
  }
  RUN(ns, "kept = [fs[i] for i in (0, 1, 2, 4999, 5000, 7777, 9998, 9999)]\n");
  watch_counters_t before = COUNTERS();

  RUN(ns, "del fs\n"
          "gc.collect()\n");

  for (int t = 0; t < N_TRACKED; t++)
    assert_intact(p[t]);
  ASSERT_COUNTER(invalidations, ==, before.invalidations);

  RUN(ns, "del kept\n"
          "gc.collect()\n");

  for (int t = 0; t < N_TRACKED; t++)
    assert_function_event(p[t], WATCH_EVENT_DEALLOCATED);
  Py_DECREF(ns);
}
END_TEST

START_TEST(released_dependents_of_dead_functions_are_never_called_again)
{
  PyObject *ns = NS(FUNCS_SRC);
  /* Half the dependents are released while their functions live, half are
   * invalidated by the functions' death and released afterwards. */
  RUN(ns, "olds = [(lambda: i) for i in range(100)]\n");
  probe_t *p[100];
  for (int i = 0; i < 100; i++) {
    p[i] = probe_new_at(__FILE__, __LINE__);
    DEPEND_FUNC(p[i], PyList_GET_ITEM(ITEM(ns, "olds"), i));
  }
  for (int i = 0; i < 100; i += 2)
    probe_release(p[i]);
  RUN(ns, "del olds\n"
          "gc.collect()\n");
  for (int i = 1; i < 100; i += 2) {
    assert_function_event(p[i], WATCH_EVENT_DEALLOCATED);
    probe_release(p[i]);
  }
  for (int i = 0; i < 100; i += 2)
    ck_assert_int_eq(p[i]->rec.count, 0);
  watch_counters_t before = COUNTERS();

  /* New functions are likely to reuse the dead ones' memory. */
  RUN(ns, "news = [(lambda: i) for i in range(5000)]\n"
          "for fn in news:\n"
          "    fn.__defaults__ = (1,)\n"
          "    fn.__code__ = make(0).__code__\n"
          "del news\n"
          "gc.collect()\n");

  ASSERT_COUNTER(invalidations, ==, before.invalidations);
  for (int i = 0; i < 100; i++)
    ck_assert_int_le(p[i]->rec.count, 1);
  Py_DECREF(ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                */

START_TEST(releasing_dependents_inside_a_function_callback_is_safe)
{
  PyObject *ns = NS(FUNCS_SRC "r = weakref.ref(f)\n");
  PROBE(self_releasing);
  PROBE(releases_other);
  PROBE(released);
  PROBE(on_death);
  DEPEND_FUNC(self_releasing, ITEM(ns, "f"));
  DEPEND_FUNC(releases_other, ITEM(ns, "f"));
  DEPEND_FUNC(released, ITEM(ns, "f"));
  DEPEND_FUNC(on_death, ITEM(ns, "g"));
  self_releasing->rec.release_self = 1;
  releases_other->rec.release_other = released;
  on_death->rec.release_self = 1;

  RUN(ns, "f.__code__ = g.__code__\n"
          "f.__defaults__ = (1,)\n"
          "del f, g\n"
          "gc.collect()\n"
          "assert r() is None\n");

  ck_assert_int_eq(self_releasing->rec.count, 1);
  ck_assert_int_eq(releases_other->rec.count, 1);
  ck_assert_int_le(released->rec.count, 1);
  ck_assert_int_eq(on_death->rec.count, 1);
  ck_assert_int_eq(on_death->rec.kind, WATCH_EVENT_DEALLOCATED);
  ck_assert_ptr_null(self_releasing->dep);
  ck_assert_ptr_null(released->dep);
  ck_assert_ptr_null(on_death->dep);
  probe_release(releases_other);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_released_function_dependent_is_not_called)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  PROBE(kept);
  DEPEND_FUNC(p, ITEM(ns, "f"));
  DEPEND_FUNC(kept, ITEM(ns, "g"));
  probe_release(p);

  RUN(ns, "f.__code__ = g.__code__\n"
          "f.__defaults__ = (1,)\n"
          "del f\n"
          "gc.collect()\n"
          "g.__defaults__ = (1,)\n");

  ck_assert_int_eq(p->rec.count, 0);
  assert_function_event(kept, WATCH_EVENT_DEFAULTS);
  probe_release(kept);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_pending_exception_survives_a_function_event)
{
  PyObject *ns = NS(FUNCS_SRC);
  PyObject *h = EVAL(ns, "make(1)");
  ck_assert_int_eq(Py_REFCNT(h), 1);
  PROBE(p);
  DEPEND_FUNC(p, h);

  PyErr_SetString(PyExc_RuntimeError, "pending");
  Py_DECREF(h); /* a DEALLOCATED event while an exception is set */

  ck_assert_msg(PyErr_ExceptionMatches(PyExc_RuntimeError),
                "the pending exception was lost or replaced");
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *msg = PyObject_Str(exc);
  ck_assert_str_eq(PyUnicode_AsUTF8(msg), "pending");
  Py_DECREF(msg);
  Py_DECREF(exc);
  assert_function_event(p, WATCH_EVENT_DEALLOCATED);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_function_dying_while_an_exception_unwinds_invalidates)
{
  PyObject *ns = NS(FUNCS_SRC "holder = [make(1)]\n"
                              "r = weakref.ref(holder[0])\n"
                              "def boom(fn):\n"
                              "    raise ValueError('boom')\n");
  PROBE(p);
  DEPEND_FUNC(p, PyList_GET_ITEM(ITEM(ns, "holder"), 0));

  RUN(ns, "try:\n"
          "    boom(holder.pop())\n"
          "except ValueError as e:\n"
          "    assert str(e) == 'boom'\n"
          "    del e\n"
          "else:\n"
          "    raise AssertionError('no ValueError')\n"
          "assert r() is None, 'the function is still alive'\n");

  assert_function_event(p, WATCH_EVENT_DEALLOCATED);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad input                                                                */

START_TEST(objects_that_are_not_functions_are_invalid)
{
  PyObject *ns = NS(FUNCS_SRC "import functools\n"
                              "bound = Base().m\n"
                              "partial = functools.partial(f, 1)\n"
                              "number = 1\n"
                              "code = f.__code__\n"
                              "sm = staticmethod(f)\n");
  PyObject *builtins = PyEval_GetBuiltins();
  PROBE(p);
  watch_counters_t before = COUNTERS();

  ASSERT_FUNCTION_FAILS(p, ITEM(builtins, "len"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "Base"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "bound"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "partial"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "number"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "code"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "sm"), WATCH_EINVAL);
  ASSERT_FUNCTION_FAILS(p, NULL, WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_function(NULL, ITEM(ns, "f")), WATCH_EINVAL);

  assert_no_python_error();
  assert_intact(p);
  ASSERT_COUNTER(edges, ==, before.edges);
  RUN(ns, "f.__defaults__ = (1,)\n"); /* nothing was registered */
  assert_intact(p);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

START_TEST(registering_a_function_on_an_invalidated_dependent_fails)
{
  PyObject *ns = NS(FUNCS_SRC);
  PROBE(p);
  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);
  watch_counters_t before = COUNTERS();

  ASSERT_FUNCTION_FAILS(p, ITEM(ns, "f"), WATCH_EINVALIDATED);

  ASSERT_COUNTER(edges, ==, before.edges);
  RUN(ns, "f.__defaults__ = (1,)\n");
  ck_assert_int_eq(p->rec.count, 1);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

static int
quiet_func_watcher(PyFunction_WatchEvent event, PyFunctionObject *func,
                   PyObject *new_value)
{
  (void)event, (void)func, (void)new_value;
  return 0;
}

START_TEST(function_registration_fails_busy_when_no_function_watcher_id_is_free)
{
  PyObject *ns = NS(FUNCS_SRC);
  int ids[16];
  int n = 0;
  while (n < 16) {
    int id = PyFunction_AddWatcher(quiet_func_watcher);
    if (id < 0) {
      PyErr_Clear();
      break;
    }
    ids[n++] = id;
  }
  ck_assert_int_gt(n, 0);
  PROBE(p);

  int err = watch_dep_on_function(p->dep, ITEM(ns, "f"));

  for (int i = 0; i < n; i++)
    ck_assert_int_eq(PyFunction_ClearWatcher(ids[i]), 0);
  ck_assert_msg(err == WATCH_EBUSY, "watch_dep_on_function() = %d (%s)", err,
                harness_err(err));
  assert_no_python_error();
  assert_intact(p);
  /* With an id free again, the same dependent registers and works. */
  DEPEND_FUNC(p, ITEM(ns, "f"));
  RUN(ns, "f.__defaults__ = (1,)\n");
  assert_function_event(p, WATCH_EVENT_DEFAULTS);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Initialization and finalization (these tests call watch_init themselves) */

START_TEST(no_function_event_is_seen_before_the_first_function_dependency)
{
  PyObject *ns = NS(FUNCS_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  watch_counters_t before = COUNTERS();

  RUN(ns, "for i in range(100):\n"
          "    fn = make(i)\n"
          "    fn.__defaults__ = (i,)\n"
          "    fn.__code__ = make(0).__code__\n"
          "    del fn\n"
          "f.__code__ = g.__code__\n");

  ASSERT_COUNTER(events, ==, before.events);
  assert_intact(p);
  watch_fini();
  Py_DECREF(d);
  Py_DECREF(ns);
}
END_TEST

START_TEST(watch_dep_on_function_needs_watch_init)
{
  PyObject *ns = NS(FUNCS_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  watch_fini();

  ck_assert_int_eq(watch_dep_on_function(p->dep, ITEM(ns, "f")),
                   WATCH_ENOINIT);

  assert_no_python_error();
  Py_DECREF(ns);
}
END_TEST

START_TEST(watch_fini_finalizes_function_dependents_and_later_changes_call_nothing)
{
  PyObject *ns = NS(FUNCS_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(on_f);
  PROBE(on_g);
  DEPEND_FUNC(on_f, ITEM(ns, "f"));
  DEPEND_FUNC(on_g, ITEM(ns, "g"));

  watch_fini();

  assert_invalidated(on_f, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_g, WATCH_EVENT_FINALIZED, NULL);
  RUN(ns, "f.__code__ = g.__code__\n"
          "g.__defaults__ = (1,)\n"
          "del f, g\n"
          "gc.collect()\n"
          "fs = [(lambda: i) for i in range(100)]\n"
          "del fs\n");
  ck_assert_int_eq(on_f->rec.count, 1);
  ck_assert_int_eq(on_g->rec.count, 1);
  probe_release(on_f);
  probe_release(on_g);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_function_dependency_works_after_a_new_watch_init)
{
  PyObject *ns = NS(FUNCS_SRC);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(old);
  DEPEND_FUNC(old, ITEM(ns, "f"));
  watch_fini();
  ck_assert_int_eq(watch_init(), 0);
  PROBE(on_f);
  PROBE(on_g);
  DEPEND_FUNC(on_f, ITEM(ns, "f"));
  DEPEND_FUNC(on_g, ITEM(ns, "g"));

  RUN(ns, "f.__code__ = g.__code__\n"
          "g.__defaults__ = (1,)\n");

  assert_function_event(on_f, WATCH_EVENT_CODE);
  assert_function_event(on_g, WATCH_EVENT_DEFAULTS);
  ck_assert_int_eq(old->rec.count, 1);
  watch_fini();
  Py_DECREF(ns);
}
END_TEST

START_TEST(init_fini_cycles_with_function_dependencies_do_not_use_up_ids)
{
  PyObject *ns = NS(FUNCS_SRC);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(watch_init(), 0);
    PROBE(p);
    int err = watch_dep_on_function(p->dep, ITEM(ns, "f"));
    ck_assert_msg(err == 0, "cycle %d: watch_dep_on_function() = %d (%s)", i,
                  err, harness_err(err));
    watch_fini();
    probe_release(p);
  }
  Py_DECREF(ns);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("function");

  TCase *tc = harness_tcase(s, "invalidation");
  tcase_add_test(tc, replacing_code_invalidates_with_code);
  tcase_add_test(tc, replacing_defaults_invalidates_with_defaults);
  tcase_add_test(tc, deleting_defaults_invalidates_with_defaults);
  tcase_add_test(tc, replacing_kwdefaults_invalidates_with_kwdefaults);
  tcase_add_test(tc, deleting_kwdefaults_invalidates_with_kwdefaults);
  tcase_add_test(tc, setting_defaults_from_c_invalidates);
  tcase_add_test(tc, destroying_the_function_invalidates_with_deallocated);
  tcase_add_test(tc, a_function_collected_in_a_cycle_invalidates_with_deallocated);
  tcase_add_test(tc, a_closure_is_invalidated_like_any_function);
  tcase_add_test(tc, a_function_is_invalid_before_its_code_changes_and_called_after);
  tcase_add_test(tc, a_function_is_invalid_before_its_defaults_change_and_called_after);
  tcase_add_test(tc, two_dependents_on_one_function_are_both_invalidated);
  tcase_add_test(tc, a_dependent_on_two_functions_is_invalidated_once);
  tcase_add_test(tc,
                 a_dependent_on_a_function_and_a_class_attr_is_invalidated_once);
  tcase_add_test(tc, reregistering_after_an_invalidation_sees_the_next_change);

  tc = harness_tcase(s, "precision");
  tcase_add_test(tc, changes_to_another_function_do_not_invalidate);
  tcase_add_test(tc, name_doc_and_other_attributes_do_not_invalidate);
  tcase_add_test(tc, creating_and_destroying_other_functions_does_not_invalidate);

  tc = harness_tcase(s, "many_functions");
  tcase_add_test(tc, only_the_tracked_functions_among_10000_are_invalidated);
  tcase_add_test(tc,
                 modifying_the_untracked_functions_among_10000_invalidates_nothing);
  tcase_add_test(tc,
                 destroying_the_untracked_functions_among_10000_invalidates_nothing);
  tcase_add_test(tc, released_dependents_of_dead_functions_are_never_called_again);

  tc = harness_tcase(s, "callbacks");
  tcase_add_test(tc, releasing_dependents_inside_a_function_callback_is_safe);
  tcase_add_test(tc, a_released_function_dependent_is_not_called);
  tcase_add_test(tc, a_pending_exception_survives_a_function_event);
  tcase_add_test(tc, a_function_dying_while_an_exception_unwinds_invalidates);

  tc = harness_tcase(s, "errors");
  tcase_add_test(tc, objects_that_are_not_functions_are_invalid);
  tcase_add_test(tc, registering_a_function_on_an_invalidated_dependent_fails);
  tcase_add_test(tc,
                 function_registration_fails_busy_when_no_function_watcher_id_is_free);

  tc = harness_bare_tcase(s, "lifecycle");
  tcase_add_test(tc, no_function_event_is_seen_before_the_first_function_dependency);
  tcase_add_test(tc, watch_dep_on_function_needs_watch_init);
  tcase_add_test(
      tc, watch_fini_finalizes_function_dependents_and_later_changes_call_nothing);
  tcase_add_test(tc, a_function_dependency_works_after_a_new_watch_init);
  tcase_add_test(tc, init_fini_cycles_with_function_dependencies_do_not_use_up_ids);
  return s;
}
