/* Keys other than interned str: ints, equal-but-distinct objects, keys of
 * other types that compare equal, and str subclasses with their own __hash__
 * and __eq__ (matched conservatively, never by running Python code inside
 * the watcher). */
#include "harness.h"

/* A str subclass whose __hash__ and __eq__ are Python code that counts its
 * calls; it hashes and compares like the str it wraps. */
#define COUNTING_KEY_CLASS                                                    \
  "class K(str):\n"                                                           \
  "    calls = 0\n"                                                           \
  "    def __hash__(self):\n"                                                 \
  "        K.calls += 1\n"                                                    \
  "        return str.__hash__(self)\n"                                       \
  "    def __eq__(self, other):\n"                                            \
  "        K.calls += 1\n"                                                    \
  "        return str.__eq__(self, other)\n"

START_TEST(int_key_store_invalidates_only_that_int_key)
{
  PyObject *d = PY("{42: 'a', 43: 'b', 'x': 1}");
  PyObject *k42 = PyLong_FromLong(42), *k43 = PyLong_FromLong(43);
  PROBE(on_42);
  PROBE(on_43);
  PROBE(on_x);
  DEPEND_OBJ(on_42, d, k42);
  DEPEND_OBJ(on_43, d, k43);
  DEPEND(on_x, d, "x");

  RUN_WITH("d[42] = 'c'", "d", d);

  assert_invalidated(on_42, WATCH_EVENT_MODIFIED, d);
  assert_key_obj(on_42, k42);
  assert_intact(on_43);
  assert_intact(on_x);
  probe_release(on_42);
  probe_release(on_43);
  probe_release(on_x);
  Py_DECREF(k42);
  Py_DECREF(k43);
  Py_DECREF(d);
}
END_TEST

START_TEST(int_key_added_to_the_builtins_dict_invalidates_only_that_int_key)
{
  PyObject *builtins = PyEval_GetBuiltins(); /* borrowed */
  PyObject *k42 = PyLong_FromLong(42);
  ck_assert_int_eq(PyDict_Contains(builtins, k42), 0);
  PROBE(on_42);
  PROBE(on_len);
  DEPEND_OBJ(on_42, builtins, k42); /* absent */
  DEPEND(on_len, builtins, "len");

  RUN_WITH("b[42] = 42", "b", builtins);

  assert_invalidated(on_42, WATCH_EVENT_ADDED, builtins);
  assert_key_obj(on_42, k42);
  assert_intact(on_len);
  probe_release(on_42);
  probe_release(on_len);
  RUN_WITH("del b[42]", "b", builtins);
  Py_DECREF(k42);
}
END_TEST

START_TEST(int_key_added_to_a_module_dict_invalidates_only_that_int_key)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.x = 1", "m", m);
  PyObject *k42 = PyLong_FromLong(42);
  PROBE(on_42);
  PROBE(on_x);
  DEPEND_OBJ(on_42, d, k42); /* absent */
  DEPEND(on_x, d, "x");

  RUN_WITH("m.__dict__[42] = 'a'", "m", m);

  assert_invalidated(on_42, WATCH_EVENT_ADDED, d);
  assert_intact(on_x);
  probe_release(on_42);
  probe_release(on_x);
  Py_DECREF(k42);
  Py_DECREF(m);
}
END_TEST

START_TEST(store_with_an_equal_but_distinct_int_key_invalidates)
{
  PyObject *d = PY("{10 ** 20: 'a'}");
  PyObject *k = PY("int('1' + '0' * 20)");
  PROBE(p);
  DEPEND_OBJ(p, d, k);

  RUN_WITH("k = int('1' + '0' * 20)\n"
           "assert k is not next(iter(d))\n"
           "d[k] = 'b'",
           "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

START_TEST(store_with_an_equal_but_distinct_str_key_invalidates)
{
  PyObject *d = PY("{''.join(['spam', '_key']): 1}");
  PyObject *k = PyUnicode_FromString("spam_key");
  PROBE(p);
  DEPEND_OBJ(p, d, k);

  RUN_WITH("k = ''.join(['spam', '_', 'key'])\n"
           "assert all(k is not x for x in d)\n"
           "d[k] = 2",
           "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

/* hash(-1) == hash(-2): a write to one may go through a stored key that
 * equals both (below), so the other's dependent is invalidated too.  The
 * price is precision on hash collisions, which ints and strs rarely have
 * by chance. */
START_TEST(int_keys_with_equal_hashes_invalidate_each_other)
{
  PyObject *d = PY("{-2: 'a', 1: 'b', 5: 'c'}");
  PyObject *minus2 = PyLong_FromLong(-2), *five = PyLong_FromLong(5);
  RUN_WITH("assert hash(-1) == hash(-2)", "d", d);
  PROBE(on_minus2);
  PROBE(on_five);
  DEPEND_OBJ(on_minus2, d, minus2);
  DEPEND_OBJ(on_five, d, five);

  RUN_WITH("d[-1] = 'c'", "d", d);

  assert_invalidated(on_minus2, WATCH_EVENT_ADDED, d);
  assert_intact(on_five);
  probe_release(on_minus2);
  probe_release(on_five);
  Py_DECREF(minus2);
  Py_DECREF(five);
  Py_DECREF(d);
}
END_TEST

/* The dict holds a str subclass key that equals anything of its hash.
 * d[12345] reads its entry, through K.__eq__, whose answer may change with
 * no write: a dependency on it is refused.  (This test used to register it
 * and see d[12345 + 2 ** 61 - 1], an int of the same hash, rebind it.) */
START_TEST(a_read_through_a_key_equal_to_both_is_refused)
{
  PyObject *d = PY("{}");
  PyObject *k = PyLong_FromLong(12345);
  RUN_WITH("class K(str):\n"
           "    def __eq__(self, other): return True\n"
           "    def __hash__(self): return 12345\n"
           "d[K('k')] = 'old'\n"
           "assert d[12345] == 'old'",
           "d", d);
  PROBE(on_k);
  ck_assert_int_eq(watch_dep_on_key(on_k->dep, d, k,
                                    PyDict_GetItemWithError(d, k)),
                   WATCH_EUNWATCHABLE);
  probe_release(on_k);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

START_TEST(float_key_store_invalidates_a_dependent_on_the_equal_int_key)
{
  PyObject *d = PY("{42: 'a'}");
  PyObject *k42 = PyLong_FromLong(42);
  PROBE(p);
  DEPEND_OBJ(p, d, k42);

  RUN_WITH("d[42.0] = 'b'", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k42);
  Py_DECREF(d);
}
END_TEST

START_TEST(bool_key_store_invalidates_a_dependent_on_the_equal_int_key)
{
  PyObject *d = PY("{1: 'a'}");
  PyObject *k1 = PyLong_FromLong(1);
  PROBE(p);
  DEPEND_OBJ(p, d, k1);

  RUN_WITH("d[True] = 'b'", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k1);
  Py_DECREF(d);
}
END_TEST

START_TEST(int_key_store_invalidates_a_dependent_on_the_equal_float_key)
{
  PyObject *d = PY("{42.0: 'a'}");
  PyObject *k = PyFloat_FromDouble(42.0);
  PROBE(p);
  DEPEND_OBJ(p, d, k);

  RUN_WITH("d[42] = 'b'", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

START_TEST(int_key_added_invalidates_an_absent_equal_float_key)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *k = PyFloat_FromDouble(7.0);
  PROBE(p);
  DEPEND_OBJ(p, d, k); /* absent */

  RUN_WITH("d[7] = 'b'", "d", d);

  assert_invalidated(p, WATCH_EVENT_ADDED, d);
  probe_release(p);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

START_TEST(tuple_key_store_with_an_equal_tuple_invalidates)
{
  PyObject *d = PY("{('a', 1): 'v'}");
  PyObject *k = PY("('a', int('1'))");
  PROBE(p);
  DEPEND_OBJ(p, d, k);

  RUN_WITH("d[('a', int('1'))] = 'w'", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(k);
  Py_DECREF(d);
}
END_TEST

START_TEST(str_subclass_key_store_invalidates_a_dependent_on_the_equal_str)
{
  PyObject *g = NS(COUNTING_KEY_CLASS "d = {'x': 1, 'y': 2}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN(g, "d[K('x')] = 3\n"
         "assert d['x'] == 3\n");

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(str_subclass_key_added_invalidates_the_absence_of_the_equal_str)
{
  PyObject *g = NS(COUNTING_KEY_CLASS "d = {'y': 2}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_x);
  DEPEND(on_x, d, "x"); /* absent */

  RUN(g, "d[K('x')] = 3\n"
         "assert d['x'] == 3\n");

  assert_invalidated(on_x, WATCH_EVENT_ADDED, d);
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(str_subclass_key_store_does_not_invalidate_another_dict)
{
  PyObject *g = NS(COUNTING_KEY_CLASS "d = {'x': 1}\nother = {'x': 1}\n");
  PyObject *other = ITEM(g, "other");
  PROBE(on_other_x);
  DEPEND(on_other_x, other, "x");

  RUN(g, "d[K('x')] = 3\n");

  assert_intact(on_other_x);
  probe_release(on_other_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(registering_on_a_str_subclass_key_succeeds)
{
  PyObject *g = NS(COUNTING_KEY_CLASS "k = K('x')\n"
                                      "absent = K('z')\n"
                                      "d = {k: 1}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_k);
  PROBE(on_absent);

  ck_assert_int_eq(watch_dep_on_key(on_k->dep, d, ITEM(g, "k"), ITEM(d, "x")),
                   0);
  ck_assert_int_eq(watch_dep_on_key(on_absent->dep, d, ITEM(g, "absent"), NULL),
                   0);
  assert_no_python_error();
  assert_intact(on_k);
  assert_intact(on_absent);
  probe_release(on_k);
  probe_release(on_absent);
  Py_DECREF(g);
}
END_TEST

START_TEST(dependent_on_a_str_subclass_key_is_invalidated_by_an_equal_str)
{
  PyObject *g = NS(COUNTING_KEY_CLASS "k = K('x')\n"
                                      "d = {k: 1}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_k);
  ck_assert_int_eq(watch_dep_on_key(on_k->dep, d, ITEM(g, "k"), ITEM(d, "x")),
                   0);

  RUN(g, "d['x'] = 2\n");

  assert_invalidated(on_k, WATCH_EVENT_MODIFIED, d);
  probe_release(on_k);
  Py_DECREF(g);
}
END_TEST

/* Each operation costs the same number of Python-level __hash__/__eq__ calls
 * on a watched dict, whose keys are depended on, as on an unwatched copy:
 * whatever CPython's own lookup calls, and nothing more from the watcher. */
START_TEST(the_watcher_never_calls_python_hash_or_eq)
{
  static const char *const ops[] = {
    "d[K('x')] = 5",      /* modifies 'x' through an equal subclass key */
    "d[K('new')] = 5",    /* adds a subclass key */
    "d['k'] = 6",         /* exact str, CPython compares it with K('k') */
    "d[K('k')] = 7",      /* subclass key over a subclass key */
    "del d[K('y')]",      /* deletes 'y' through a subclass key */
    "del d['k']",         /* deletes the subclass key through a str */
    "d.pop(K('x'))",
    "d.update({K('y'): 1, 'z': 2})",
    "d.clear()",
  };
  PyObject *g = NS(COUNTING_KEY_CLASS
                   "def make():\n"
                   "    return {'x': 1, 'y': 2, K('k'): 3, 42: 4}\n"
                   "def cost(d, op):\n"
                   "    before = K.calls\n"
                   "    exec(op, {'d': d, 'K': K})\n"
                   "    return K.calls - before\n");
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    PyObject *watched = EVAL(g, "make()");
    PyObject *plain = EVAL(g, "make()");
    /* The stored key itself: an equal K of its own would be compared by
     * K.__eq__, whose answer no watcher hears change (refused). */
    PyDict_SetItemString(g, "w", watched);
    PyObject *kk = EVAL(g, "next(k for k in w if type(k) is K)");
    PyObject *kz = EVAL(g, "K('absent')");
    PROBE(on_x);
    PROBE(on_y);
    PROBE(on_k);
    PROBE(on_absent);
    PROBE(on_all);
    DEPEND(on_x, watched, "x");
    DEPEND(on_y, watched, "y");
    ck_assert_int_eq(watch_dep_on_key(on_k->dep, watched, kk,
                                      PyDict_GetItemWithError(watched, kk)),
                     0);
    ck_assert_int_eq(watch_dep_on_key(on_absent->dep, watched, kz, NULL), 0);
    ck_assert_int_eq(watch_dep_on_namespace(on_all->dep, watched), 0);

    PyObject *op = PyUnicode_FromString(ops[i]);
    PyDict_SetItemString(g, "op", op);
    PyDict_SetItemString(g, "w", watched);
    PyDict_SetItemString(g, "p", plain);
    RUN(g, "plain_cost = cost(p, op)\n"
           "watched_cost = cost(w, op)\n"
           "assert watched_cost == plain_cost, "
           "(op, 'watched', watched_cost, 'unwatched', plain_cost)\n");
    ck_assert_msg(on_all->rec.count == 1, "%s: the operation was not seen",
                  ops[i]);

    probe_release(on_x);
    probe_release(on_y);
    probe_release(on_k);
    probe_release(on_absent);
    probe_release(on_all);
    PyDict_DelItemString(g, "w");
    PyDict_DelItemString(g, "p");
    Py_DECREF(op);
    Py_DECREF(kk);
    Py_DECREF(kz);
    Py_DECREF(watched);
    Py_DECREF(plain);
  }
  Py_DECREF(g);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("keys");

  TCase *tc = harness_tcase(s, "int_keys");
  tcase_add_test(tc, int_key_store_invalidates_only_that_int_key);
  tcase_add_test(tc,
                 int_key_added_to_the_builtins_dict_invalidates_only_that_int_key);
  tcase_add_test(tc, int_key_added_to_a_module_dict_invalidates_only_that_int_key);
  tcase_add_test(tc, store_with_an_equal_but_distinct_int_key_invalidates);
  tcase_add_test(tc, store_with_an_equal_but_distinct_str_key_invalidates);
  tcase_add_test(tc, int_keys_with_equal_hashes_invalidate_each_other);
  tcase_add_test(tc, a_read_through_a_key_equal_to_both_is_refused);

  tc = harness_tcase(s, "other_key_types");
  tcase_add_test(tc, float_key_store_invalidates_a_dependent_on_the_equal_int_key);
  tcase_add_test(tc, bool_key_store_invalidates_a_dependent_on_the_equal_int_key);
  tcase_add_test(tc, int_key_store_invalidates_a_dependent_on_the_equal_float_key);
  tcase_add_test(tc, int_key_added_invalidates_an_absent_equal_float_key);
  tcase_add_test(tc, tuple_key_store_with_an_equal_tuple_invalidates);

  tc = harness_tcase(s, "str_subclass_keys");
  tcase_add_test(tc,
                 str_subclass_key_store_invalidates_a_dependent_on_the_equal_str);
  tcase_add_test(tc,
                 str_subclass_key_added_invalidates_the_absence_of_the_equal_str);
  tcase_add_test(tc, str_subclass_key_store_does_not_invalidate_another_dict);
  tcase_add_test(tc, registering_on_a_str_subclass_key_succeeds);
  tcase_add_test(tc,
                 dependent_on_a_str_subclass_key_is_invalidated_by_an_equal_str);
  tcase_add_test(tc, the_watcher_never_calls_python_hash_or_eq);
  return s;
}
