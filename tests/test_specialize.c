/* Guarded specialization (watch_specialize): a function runs other code
 * while a dependent is valid and gets its own code back in phase one of the
 * dependent's invalidation, whatever invalidated it. */
#include "harness.h"

/* The module namespace of every test.  Its builtins are B, a private copy,
 * so that rebinding B['len'] touches no other test.
 *   f(a, b=1)     the function specialized: len(a) + b
 *   fast          the code it runs while specialized: 100 + b
 *   user          code a user assigns to f.__code__: -100 - b
 *   inlined(x=1)  a function whose code or defaults f's code may inline
 *   mod, d        a module and a dict with assumed entries
 *   Base, C(Base), Other   classes for attribute assumptions */
#define SPEC_SRC                                                              \
  "import gc\n"                                                               \
  "import types\n"                                                            \
  "import weakref\n"                                                          \
  "B = __builtins__\n"                                                        \
  "def f(a, b=1):\n"                                                          \
  "    return len(a) + b\n"                                                   \
  "def fast(a, b=1):\n"                                                       \
  "    return 100 + b\n"                                                      \
  "def user(a, b=1):\n"                                                       \
  "    return -100 - b\n"                                                     \
  "def inlined(x=1):\n"                                                       \
  "    return x\n"                                                            \
  "mod = types.ModuleType('mod')\n"                                           \
  "mod.DEBUG = False\n"                                                       \
  "d = {'k': 1}\n"                                                            \
  "class Base:\n"                                                             \
  "    m = 1\n"                                                               \
  "class C(Base):\n"                                                          \
  "    pass\n"                                                                \
  "class Other:\n"                                                            \
  "    m = 2\n"

/* f('ab') with its own code, with the specialized one, with user's. */
#define ORIGINAL 3
#define FAST 101
#define USER (-101)

/* A namespace whose __builtins__ is a copy of the real ones, after src. */
static PyObject *
spec_ns(const char *file, int line, const char *src)
{
  PyObject *ns = harness_namespace(file, line);
  PyObject *own = PyDict_Copy(PyEval_GetBuiltins());
  if (own == NULL || PyDict_SetItemString(ns, "__builtins__", own) < 0)
    harness_fail_python(file, line, "copying the builtins");
  Py_DECREF(own);
  harness_run(file, line, ns, src);
  return ns;
}

typedef struct {
  PyObject *ns;
  PyObject *f;        /* borrowed from ns */
  PyObject *original; /* f's own code, borrowed from f */
  PyObject *fast;     /* borrowed from ns['fast'] */
} env_t;

#define ENV_SRC(e, src)                                                       \
  env_t e;                                                                    \
  e.ns = spec_ns(__FILE__, __LINE__, SPEC_SRC src);                           \
  e.f = ITEM(e.ns, "f");                                                      \
  e.original = PyFunction_GET_CODE(e.f);                                      \
  e.fast = PyFunction_GET_CODE(ITEM(e.ns, "fast"))
#define ENV(e) ENV_SRC(e, "")

#define CODE_OF(ns, name) PyFunction_GET_CODE(ITEM((ns), (name)))

#define SPECIALIZE(p, func, code)                                             \
  do {                                                                        \
    int e_ = watch_specialize((p)->dep, (func), (code));                      \
    ck_assert_msg(e_ == 0, "watch_specialize() = %d (%s)", e_,                \
                  harness_err(e_));                                           \
  } while (0)

#define ASSERT_SPECIALIZE_FAILS(p, func, code, err)                           \
  do {                                                                        \
    int e_ = watch_specialize((p)->dep, (func), (code));                      \
    ck_assert_msg(e_ == (err), "watch_specialize() = %d (%s), expected %s",   \
                  e_, harness_err(e_), harness_err(err));                     \
    assert_no_python_error();                                                 \
  } while (0)

/* What LOAD_GLOBAL of name gives in func now (borrowed), NULL if nothing. */
static PyObject *
global_value(PyObject *func, PyObject *name)
{
  PyObject *v = PyDict_GetItemWithError(PyFunction_GET_GLOBALS(func), name);
  if (v == NULL && !PyErr_Occurred())
    v = PyDict_GetItemWithError(((PyFunctionObject *)func)->func_builtins,
                                name);
  ck_assert_ptr_null(PyErr_Occurred());
  return v;
}

/* p assumes that LOAD_GLOBAL of name in func keeps giving what it gives. */
#define DEPEND_GLOBAL(p, func, name)                                          \
  do {                                                                        \
    PyObject *k_ = key(name);                                                 \
    int e_ = watch_dep_on_global((p)->dep, PyFunction_GET_GLOBALS(func),      \
                                 ((PyFunctionObject *)(func))->func_builtins, \
                                 k_, global_value((func), k_));               \
    ck_assert_msg(e_ == 0, "watch_dep_on_global(%s) = %d (%s)", (name), e_,   \
                  harness_err(e_));                                           \
  } while (0)

/* p assumes that obj.name keeps its current value (obj a module/class). */
#define DEPEND_ATTR(p, obj, name)                                             \
  do {                                                                        \
    PyObject *v_;                                                             \
    ck_assert_int_eq(watch_attr_lookup((obj), key(name), &v_), 0);            \
    int e_ = watch_dep_on_attr((p)->dep, (obj), key(name), v_);               \
    ck_assert_msg(e_ == 0, "watch_dep_on_attr(%s) = %d (%s)", (name), e_,     \
                  harness_err(e_));                                           \
  } while (0)

#define DEPEND_FUNC(p, func)                                                  \
  do {                                                                        \
    int e_ = watch_dep_on_function((p)->dep, (func));                         \
    ck_assert_msg(e_ == 0, "watch_dep_on_function() = %d (%s)", e_,          \
                  harness_err(e_));                                           \
  } while (0)

/* expr, evaluated in ns, gives the int expected. */
#define assert_gives(ns, expr, expected)                                      \
  do {                                                                        \
    PyObject *r_ = EVAL((ns), (expr));                                        \
    long v_ = PyLong_Check(r_) ? PyLong_AsLong(r_) : -999999;                 \
    Py_DECREF(r_);                                                            \
    ck_assert_msg(v_ == (expected), "%s gave %ld, expected %ld", (expr), v_,  \
                  (long)(expected));                                          \
  } while (0)

/* func runs code now, and watch_specialized() says so. */
#define assert_specialized(func, code)                                        \
  do {                                                                        \
    ck_assert_msg(PyFunction_GET_CODE(func) == (code),                        \
                  "the function does not run the specialized code");          \
    PyObject *c_ = (PyObject *)1;                                             \
    ck_assert_int_eq(watch_specialized((func), &c_), 0);                      \
    ck_assert_msg(c_ == (code), "watch_specialized() names another code");    \
  } while (0)

/* func runs code (its own, or what a user assigned), unspecialized. */
#define assert_runs_unspecialized(func, code)                                 \
  do {                                                                        \
    ck_assert_msg(PyFunction_GET_CODE(func) == (code),                        \
                  "the function does not run the expected code");             \
    PyObject *c_ = (PyObject *)1;                                             \
    ck_assert_int_eq(watch_specialized((func), &c_), 0);                      \
    ck_assert_msg(c_ == NULL, "watch_specialized() still names a code");      \
  } while (0)

/* f is specialized under p, which assumed what the test then breaks. */
#define SPECIALIZED_ENV(e, p)                                                 \
  PROBE(p);                                                                   \
  SPECIALIZE(p, (e).f, (e).fast);                                             \
  assert_specialized((e).f, (e).fast);                                        \
  assert_gives((e).ns, "f('ab')", FAST)

static const void *
peek_code(PyObject *func)
{
  return PyFunction_GET_CODE(func);
}

/* ------------------------------------------------------------------------ */
/* Installing                                                               */

START_TEST(a_specialized_function_runs_the_code_while_the_dependent_is_valid)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  assert_gives(e.ns, "f('ab')", ORIGINAL);

  SPECIALIZE(p, e.f, e.fast);

  assert_specialized(e.f, e.fast);
  assert_gives(e.ns, "f('ab')", FAST);
  assert_gives(e.ns, "f('ab', 5)", 105);
  assert_gives(e.ns, "f(a='ab', b=7)", 107);
  assert_gives(e.ns, "sum(f('ab') for i in range(1000))", 1000 * FAST);
  RUN(e.ns, "assert f.__code__ is fast.__code__\n"
            "assert f.__name__ == 'f' and f.__defaults__ == (1,)\n");
  assert_intact(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_function_that_is_not_specialized_reports_no_code)
{
  ENV(e);
  PyObject *code = (PyObject *)1;

  ck_assert_int_eq(watch_specialized(e.f, &code), 0);

  ck_assert_ptr_null(code);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(specializing_with_the_function_s_own_code_is_allowed)
{
  ENV(e);
  PROBE(p);

  SPECIALIZE(p, e.f, e.original);

  assert_specialized(e.f, e.original);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Every trigger puts the original code back                                */

START_TEST(rebinding_an_assumed_builtin_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, ITEM(e.ns, "B"));
  assert_key(p, "len");
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", 8);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(shadowing_an_assumed_builtin_in_globals_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "len = lambda a: 40\n");

  assert_invalidated(p, WATCH_EVENT_ADDED, e.ns);
  assert_key(p, "len");
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", 41);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(deleting_an_assumed_shadowing_global_restores_the_original)
{
  ENV_SRC(e, "len = lambda a: 40\n");
  assert_gives(e.ns, "f('ab')", 41);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "del len\n");

  assert_invalidated(p, WATCH_EVENT_DELETED, e.ns);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_module_attribute_change_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(e.ns, "mod"), "DEBUG");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "mod.DEBUG = True\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, NULL);
  assert_key(p, "DEBUG");
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_dict_key_change_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND(p, ITEM(e.ns, "d"), "k");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "d['other'] = 0\n");
  assert_intact(p);
  assert_specialized(e.f, e.fast);
  RUN(e.ns, "d['k'] = 2\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, ITEM(e.ns, "d"));
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_class_attribute_change_on_a_base_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(e.ns, "C"), "m");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "Base.m = 5\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, NULL);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(defining_an_inherited_attribute_on_the_class_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(e.ns, "C"), "m");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "C.m = 5\n");

  assert_invalidated(p, WATCH_EVENT_ADDED, NULL);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_bases_assignment_restores_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_ATTR(p, ITEM(e.ns, "C"), "m");
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "C.__bases__ = (Other,)\n");

  assert_invalidated(p, WATCH_EVENT_TYPE, ITEM(e.ns, "C"));
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(an_inlined_function_s_code_change_restores_the_original)
{
  ENV(e);
  PyObject *inlined = ITEM(e.ns, "inlined");
  PROBE(p);
  DEPEND_FUNC(p, inlined);
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "inlined.__code__ = (lambda x=1: -x).__code__\n");

  assert_invalidated(p, WATCH_EVENT_CODE, inlined);
  /* Only f's own __code__ assignment keeps the assigned code. */
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(an_inlined_function_s_defaults_change_restores_the_original)
{
  ENV(e);
  PyObject *inlined = ITEM(e.ns, "inlined");
  PROBE(p);
  DEPEND_FUNC(p, inlined);
  SPECIALIZE(p, e.f, e.fast);

  RUN(e.ns, "inlined.__defaults__ = (2,)\n");

  assert_invalidated(p, WATCH_EVENT_DEFAULTS, inlined);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(changing_the_specialized_function_s_defaults_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);

  RUN(e.ns, "f.__defaults__ = (10,)\n");

  assert_invalidated(p, WATCH_EVENT_DEFAULTS, e.f);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", 12);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(changing_the_specialized_function_s_kwdefaults_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);

  RUN(e.ns, "f.__kwdefaults__ = {'k': 1}\n");

  assert_invalidated(p, WATCH_EVENT_KWDEFAULTS, e.f);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(watch_deoptimize_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);

  ck_assert_int_eq(watch_deoptimize(e.f), 0);

  /* watch_deoptimize() delivers the batch, like watch_dep_invalidate(). */
  ck_assert_int_eq(p->rec.count, 1);
  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  ck_assert_int_eq(watch_deoptimize(e.f), 0); /* nothing left to do */
  ck_assert_int_eq(p->rec.count, 1);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(watch_dep_invalidate_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);

  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);

  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(releasing_the_dependent_while_valid_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  DEPEND_GLOBAL(p, e.f, "len");
  watch_counters_t before = COUNTERS();

  probe_release(p);

  ck_assert_int_eq(p->rec.count, 0);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  ASSERT_COUNTER(dependents, ==, before.dependents - 1);
  ASSERT_COUNTER(edges, ==, 0);
  RUN(e.ns, "B['len'] = lambda a: 7\n"
            "f.__defaults__ = (2,)\n");
  ck_assert_int_eq(p->rec.count, 0);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(rearming_the_dependent_while_valid_restores_the_original)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  DEPEND_GLOBAL(p, e.f, "len");

  ck_assert_int_eq(watch_dep_rearm(p->dep), 0);

  ck_assert(watch_dep_valid(p->dep));
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  /* No dependency left, and the dependent may specialize again. */
  RUN(e.ns, "B['len'] = lambda a: 7\n");
  assert_intact(p);
  SPECIALIZE(p, e.f, e.fast);
  assert_specialized(e.f, e.fast);
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(releasing_an_invalidated_dependent_swaps_nothing_back)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  RUN(e.ns, "f.__code__ = user.__code__\n");

  probe_release(p);

  assert_runs_unspecialized(e.f, CODE_OF(e.ns, "user"));
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_dependent_released_in_its_own_callback_leaves_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);
  p->rec.release_self = 1;

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_ptr_null(p->dep);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", 8);
  ASSERT_COUNTER(dependents, ==, 0);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Phase one: the original is back before the mutation completes           */

START_TEST(the_original_is_back_in_phase_one_of_a_dict_change)
{
  ENV(e);
  PyObject *b = ITEM(e.ns, "B");
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);
  p->rec.peek_fn = peek_code;
  p->rec.peek_obj = e.f;
  WITNESS(p, b, peek_code, e.f);

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, b);
  assert_witnessed_before(e.original);
  ck_assert_ptr_eq(p->rec.peeked, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(the_original_is_back_in_phase_one_of_a_defaults_change)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  WITNESS(p, e.f, peek_code, e.f);

  RUN(e.ns, "f.__defaults__ = (10,)\n");

  assert_invalidated(p, WATCH_EVENT_DEFAULTS, e.f);
  assert_witnessed_before(e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(the_next_call_in_the_same_statement_runs_the_original)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);

  /* One statement: no safe point of the harness in between. */
  RUN(e.ns, "before = f('ab'); B['len'] = lambda a: 7; after = f('ab')\n");

  assert_gives(e.ns, "before", FAST);
  assert_gives(e.ns, "after", 8);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, NULL);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The user's __code__ assignment wins                                      */

START_TEST(assigning_code_drops_the_specialization_and_keeps_the_user_s_code)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  PyObject *user = CODE_OF(e.ns, "user");

  RUN(e.ns, "f.__code__ = user.__code__\n");

  assert_invalidated(p, WATCH_EVENT_CODE, e.f);
  assert_runs_unspecialized(e.f, user);
  assert_gives(e.ns, "f('ab')", USER);
  probe_release(p);
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), user);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(assigning_the_specialized_code_itself_keeps_it_unguarded)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);

  RUN(e.ns, "f.__code__ = fast.__code__\n");

  assert_invalidated(p, WATCH_EVENT_CODE, e.f);
  assert_runs_unspecialized(e.f, e.fast);
  probe_release(p);
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.fast);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(assigning_the_original_code_back_keeps_it)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  RUN(e.ns, "user.__code__ = fast.__code__\n"); /* another function */
  assert_intact(p);
  RUN_WITH("f.__code__ = original\n", "f", e.f, "original", e.original);

  assert_invalidated(p, WATCH_EVENT_CODE, e.f);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* libwatch's own function dependents see each swap                        */

START_TEST(function_dependents_see_the_install_and_the_restore_as_code)
{
  ENV(e);
  PROBE(sees_install);
  DEPEND_FUNC(sees_install, e.f);
  PROBE(p);

  SPECIALIZE(p, e.f, e.fast);

  assert_invalidated(sees_install, WATCH_EVENT_CODE, e.f);
  PROBE(sees_restore);
  DEPEND_FUNC(sees_restore, e.f);
  assert_intact(sees_restore);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  assert_invalidated(sees_restore, WATCH_EVENT_CODE, e.f);
  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_function_dependent_sees_a_restore_made_by_a_dict_change)
{
  ENV(e);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);
  PROBE(on_f);
  DEPEND_FUNC(on_f, e.f);

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  assert_invalidated(on_f, WATCH_EVENT_CODE, e.f);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, NULL);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_function_dependent_sees_the_restore_before_a_defaults_change)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  PROBE(on_f);
  DEPEND_FUNC(on_f, e.f);

  RUN(e.ns, "f.__defaults__ = (10,)\n");

  assert_invalidated_once(on_f);
  assert_invalidated(p, WATCH_EVENT_DEFAULTS, e.f);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(specializations_that_inline_each_other_both_restore)
{
  ENV_SRC(e, "def g(a, b=1):\n"
             "    return len(a) * b\n"
             "def gfast(a, b=1):\n"
             "    return 200 * b\n");
  PyObject *g = ITEM(e.ns, "g");
  PyObject *g_original = PyFunction_GET_CODE(g);
  PROBE(pf);
  PROBE(pg);
  DEPEND_FUNC(pf, g);
  DEPEND_GLOBAL(pg, g, "len");
  SPECIALIZE(pf, e.f, e.fast); /* f inlined g */
  SPECIALIZE(pg, g, CODE_OF(e.ns, "gfast"));
  /* Specializing g changed g's code: f's specialization assumed it. */
  assert_invalidated(pf, WATCH_EVENT_CODE, g);
  assert_runs_unspecialized(e.f, e.original);
  PROBE(pf2);
  DEPEND_FUNC(pf2, g);
  SPECIALIZE(pf2, e.f, e.fast);

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  assert_invalidated(pg, WATCH_EVENT_MODIFIED, NULL);
  assert_invalidated(pf2, WATCH_EVENT_CODE, g);
  assert_runs_unspecialized(g, g_original);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* What cannot be specialized                                               */

#define MISMATCH_SRC                                                          \
  "def gen(a, b=1):\n"                                                        \
  "    yield a\n"                                                             \
  "async def coro(a, b=1):\n"                                                 \
  "    return a\n"                                                            \
  "async def agen(a, b=1):\n"                                                 \
  "    yield a\n"                                                             \
  "def one(x):\n"                                                             \
  "    return x\n"                                                            \
  "def two(x, y):\n"                                                          \
  "    return x\n"                                                            \
  "def two_posonly(x, /, y):\n"                                               \
  "    return x\n"                                                            \
  "def two_renamed(x, z):\n"                                                  \
  "    return x\n"                                                            \
  "def kw(x, *, k):\n"                                                        \
  "    return x\n"                                                            \
  "def kw2(x, *, k, j):\n"                                                    \
  "    return x\n"                                                            \
  "def kw_renamed(x, *, j):\n"                                                \
  "    return x\n"                                                            \
  "def star(x, *args):\n"                                                     \
  "    return x\n"                                                            \
  "def star_renamed(x, *rest):\n"                                             \
  "    return x\n"                                                            \
  "def dstar(x, **kwargs):\n"                                                 \
  "    return x\n"                                                            \
  "def dstar_renamed(x, **options):\n"                                        \
  "    return x\n"                                                            \
  "def one_local(x):\n"                                                       \
  "    y = x\n"                                                               \
  "    return y\n"                                                            \
  "def closure_over(v):\n"                                                    \
  "    def inner(x):\n"                                                       \
  "        return x + v\n"                                                    \
  "    return inner\n"                                                        \
  "def closure_over_w(w):\n"                                                  \
  "    def inner(x):\n"                                                       \
  "        return x + w\n"                                                    \
  "    return inner\n"                                                        \
  "cv = closure_over(1)\n"                                                    \
  "cw = closure_over_w(1)\n"                                                  \
  "module_code = compile('x = 1', 'm', 'exec')\n"                             \
  "class K:\n"                                                                \
  "    x = 1\n"                                                               \
  "class_body = [c for c in compile('class K:\\n    x = 1\\n', 'k', 'exec')"   \
  ".co_consts if hasattr(c, 'co_code')][0]\n"                                 \
  "def noargs():\n"                                                           \
  "    return 1\n"

typedef struct {
  const char *func;   /* a function of MISMATCH_SRC */
  const char *code;   /* a function whose code is tried, or a code object */
  const char *phrase; /* what the mismatch must mention */
} mismatch_t;

static const mismatch_t mismatches[] = {
    {"gen", "f", "generator"},
    {"f", "gen", "generator"},
    {"coro", "f", "coroutine"},
    {"f", "coro", "coroutine"},
    {"agen", "f", "generator"},
    {"f", "agen", "generator"},
    {"gen", "gen", "generator"},
    {"one", "two", "argument count"},
    {"two", "one", "argument count"},
    {"two", "two_posonly", "positional-only"},
    {"two_posonly", "two", "positional-only"},
    {"kw", "kw2", "keyword-only"},
    {"kw2", "kw", "keyword-only"},
    {"one", "star", "*args"},
    {"star", "one", "*args"},
    {"one", "dstar", "**kwargs"},
    {"dstar", "one", "**kwargs"},
    {"two", "two_renamed", "argument names"},
    {"kw", "kw_renamed", "argument names"},
    {"star", "star_renamed", "argument names"},
    {"dstar", "dstar_renamed", "argument names"},
    {"cv", "cw", "free variables"},
    {"cv", "one", "free variables"},
    {"one", "cv", "free variables"},
    {"noargs", "module_code", "function's code"},
    {"noargs", "class_body", "function's code"},
};
#define N_MISMATCHES ((int)(sizeof mismatches / sizeof mismatches[0]))

/* The code named: a function's __code__, or a code object in ns. */
static PyObject *
code_named(PyObject *ns, const char *name)
{
  PyObject *obj = ITEM(ns, name);
  return PyFunction_Check(obj) ? PyFunction_GET_CODE(obj) : obj;
}

START_TEST(every_mismatch_is_refused_incompatible_and_named)
{
  ENV_SRC(e, MISMATCH_SRC);
  watch_counters_t before = COUNTERS();
  for (int i = 0; i < N_MISMATCHES; i++) {
    const mismatch_t *m = &mismatches[i];
    PyObject *func = ITEM(e.ns, m->func);
    PyObject *own = PyFunction_GET_CODE(func);
    PyObject *code = code_named(e.ns, m->code);
    PROBE(p);

    const char *why = watch_code_mismatch(func, code);
    int err = watch_specialize(p->dep, func, code);

    ck_assert_msg(why != NULL && strstr(why, m->phrase) != NULL,
                  "%s with %s's code: mismatch '%s', expected '%s' in it",
                  m->func, m->code, why ? why : "(none)", m->phrase);
    ck_assert_msg(err == WATCH_EINCOMPATIBLE,
                  "%s with %s's code: watch_specialize() = %d (%s)", m->func,
                  m->code, err, harness_err(err));
    ck_assert_ptr_eq(PyFunction_GET_CODE(func), own);
    assert_no_python_error();
    assert_intact(p);
    probe_release(p);
  }
  ASSERT_COUNTER(edges, ==, before.edges);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(codes_that_fit_have_no_mismatch)
{
  ENV_SRC(e, MISMATCH_SRC);

  /* Other locals, other defaults, other name: only parameters count. */
  ck_assert_ptr_null(watch_code_mismatch(e.f, e.fast));
  ck_assert_ptr_null(watch_code_mismatch(ITEM(e.ns, "one"),
                                         CODE_OF(e.ns, "one_local")));
  ck_assert_ptr_null(watch_code_mismatch(ITEM(e.ns, "cv"), CODE_OF(e.ns, "cv")));
  ck_assert_ptr_null(
      watch_code_mismatch(ITEM(e.ns, "noargs"),
                          PyFunction_GET_CODE(ITEM(e.ns, "noargs"))));
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(watch_code_mismatch_names_bad_arguments)
{
  ENV(e);

  ck_assert_ptr_nonnull(watch_code_mismatch(NULL, e.fast));
  ck_assert_ptr_nonnull(watch_code_mismatch(e.fast, e.fast));
  ck_assert_ptr_nonnull(watch_code_mismatch(e.f, NULL));
  ck_assert_ptr_nonnull(watch_code_mismatch(e.f, e.f));
  assert_no_python_error();
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Closures                                                                 */

#define CLOSURE_SRC                                                           \
  "def make(x):\n"                                                            \
  "    def add(a):\n"                                                         \
  "        return a + x\n"                                                    \
  "    def set_x(v):\n"                                                       \
  "        nonlocal x\n"                                                      \
  "        x = v\n"                                                           \
  "    return add, set_x\n"                                                   \
  "def make_fast(x):\n"                                                       \
  "    def mul(a):\n"                                                         \
  "        return a * x\n"                                                    \
  "    return mul\n"                                                          \
  "add, set_x = make(10)\n"                                                   \
  "mul = make_fast(3)\n"

START_TEST(a_specialized_closure_reads_its_own_cells)
{
  ENV_SRC(e, CLOSURE_SRC);
  PyObject *add = ITEM(e.ns, "add");
  PyObject *add_code = PyFunction_GET_CODE(add);
  PROBE(p);

  SPECIALIZE(p, add, CODE_OF(e.ns, "mul"));

  assert_gives(e.ns, "add(2)", 20); /* add's x, 10; not mul's 3 */
  RUN(e.ns, "set_x(7)\n");
  assert_gives(e.ns, "add(2)", 14);
  assert_gives(e.ns, "mul(2)", 6);
  ck_assert_int_eq(watch_deoptimize(add), 0);
  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  assert_runs_unspecialized(add, add_code);
  assert_gives(e.ns, "add(2)", 9);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_closure_with_other_free_variables_is_refused)
{
  ENV_SRC(e, CLOSURE_SRC "def make_y(y):\n"
                         "    def add(a):\n"
                         "        return a + y\n"
                         "    return add\n"
                         "add_y = make_y(1)\n"
                         "def plain(a):\n"
                         "    return a\n");
  PyObject *add = ITEM(e.ns, "add");
  PROBE(p);

  ASSERT_SPECIALIZE_FAILS(p, add, CODE_OF(e.ns, "add_y"), WATCH_EINCOMPATIBLE);
  ASSERT_SPECIALIZE_FAILS(p, add, CODE_OF(e.ns, "plain"), WATCH_EINCOMPATIBLE);
  ASSERT_SPECIALIZE_FAILS(p, ITEM(e.ns, "plain"), CODE_OF(e.ns, "add"),
                          WATCH_EINCOMPATIBLE);

  assert_runs_unspecialized(add, PyFunction_GET_CODE(add));
  assert_gives(e.ns, "add(2)", 12);
  assert_intact(p);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Many functions, recursion, death                                         */

#define N_MANY 1000

static int many_calls;

static int
count_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep;
  if (event->kind == WATCH_EVENT_MODIFIED)
    many_calls++;
  return 0;
}

START_TEST(one_change_restores_1000_functions_specialized_on_it)
{
  ENV_SRC(e, "def make():\n"
             "    def h(a, b=1):\n"
             "        return len(a) + b\n"
             "    return h\n"
             "hs = [make() for i in range(1000)]\n"
             "def total():\n"
             "    return sum(h('ab') for h in hs)\n");
  PyObject *hs = ITEM(e.ns, "hs");
  PyObject *h_code = PyFunction_GET_CODE(PyList_GET_ITEM(hs, 0));
  static watch_dep_t *deps[N_MANY];
  many_calls = 0;
  for (int i = 0; i < N_MANY; i++) {
    PyObject *h = PyList_GET_ITEM(hs, i);
    ck_assert_int_eq(watch_dep_new(&deps[i], count_cb, NULL), 0);
    PyObject *k = key("len");
    ck_assert_int_eq(watch_dep_on_global(deps[i], PyFunction_GET_GLOBALS(h),
                                         ((PyFunctionObject *)h)->func_builtins,
                                         k, global_value(h, k)),
                     0);
    ck_assert_int_eq(watch_specialize(deps[i], h, e.fast), 0);
  }
  assert_gives(e.ns, "total()", N_MANY * FAST);

  RUN(e.ns, "B['len'] = lambda a: 7\n");

  int restored = 0, invalid = 0;
  for (int i = 0; i < N_MANY; i++) {
    PyObject *h = PyList_GET_ITEM(hs, i);
    PyObject *code = (PyObject *)1;
    ck_assert_int_eq(watch_specialized(h, &code), 0);
    restored += PyFunction_GET_CODE(h) == h_code && code == NULL;
    invalid += !watch_dep_valid(deps[i]);
  }
  ck_assert_int_eq(restored, N_MANY);
  ck_assert_int_eq(invalid, N_MANY);
  ck_assert_int_eq(many_calls, N_MANY);
  assert_gives(e.ns, "total()", N_MANY * 8);
  for (int i = 0; i < N_MANY; i++)
    watch_dep_release(deps[i]);
  ASSERT_COUNTER(dependents, ==, 0);
  Py_DECREF(e.ns);
}
END_TEST

/* At depth 3 the function breaks its own assumption (FLAG): the deeper calls
 * run the original, the frames already running finish in the specialized
 * code. */
#define RECURSION_SRC                                                         \
  "FLAG = 0\n"                                                                \
  "def rec(n, log):\n"                                                        \
  "    global FLAG\n"                                                         \
  "    log.append(('orig', n))\n"                                             \
  "    if n == 3:\n"                                                          \
  "        FLAG = 1\n"                                                        \
  "    if n:\n"                                                               \
  "        rec(n - 1, log)\n"                                                 \
  "    log.append(('orig-after', n))\n"                                       \
  "def rec_fast(n, log):\n"                                                   \
  "    global FLAG\n"                                                         \
  "    log.append(('fast', n))\n"                                             \
  "    if n == 3:\n"                                                          \
  "        FLAG = 1\n"                                                        \
  "    if n:\n"                                                               \
  "        rec(n - 1, log)\n"                                                 \
  "    log.append(('fast-after', n))\n"

START_TEST(a_recursive_function_that_breaks_its_assumption_deoptimizes_below)
{
  ENV_SRC(e, RECURSION_SRC);
  PyObject *rec = ITEM(e.ns, "rec");
  PyObject *rec_code = PyFunction_GET_CODE(rec);
  PROBE(p);
  DEPEND_GLOBAL(p, rec, "FLAG");
  SPECIALIZE(p, rec, CODE_OF(e.ns, "rec_fast"));

  RUN(e.ns, "log = []\n"
            "rec(5, log)\n"
            "expected = [('fast', 5), ('fast', 4), ('fast', 3), ('orig', 2),\n"
            "            ('orig', 1), ('orig', 0), ('orig-after', 0),\n"
            "            ('orig-after', 1), ('orig-after', 2),\n"
            "            ('fast-after', 3), ('fast-after', 4),\n"
            "            ('fast-after', 5)]\n"
            "assert log == expected, log\n"
            "log = []\n"
            "rec(1, log)\n"
            "assert log == [('orig', 1), ('orig', 0), ('orig-after', 0),\n"
            "               ('orig-after', 1)], log\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, e.ns);
  assert_runs_unspecialized(rec, rec_code);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_specialized_function_that_dies_invalidates_with_deallocated)
{
  ENV_SRC(e, "def make():\n"
             "    def h(a, b=1):\n"
             "        return len(a) + b\n"
             "    return h\n"
             "h = make()\n"
             "r = weakref.ref(h)\n");
  PROBE(p);
  DEPEND_GLOBAL(p, ITEM(e.ns, "h"), "len");
  SPECIALIZE(p, ITEM(e.ns, "h"), e.fast);
  assert_gives(e.ns, "h('ab')", FAST);

  RUN(e.ns, "del h\n"
            "gc.collect()\n"
            "assert r() is None, 'h is still alive'\n");

  assert_invalidated(p, WATCH_EVENT_DEALLOCATED, NULL);
  RUN(e.ns, "B['len'] = lambda a: 7\n"); /* nothing left to restore */
  ck_assert_int_eq(p->rec.count, 1);
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_specialized_function_collected_in_a_cycle_is_left_alone)
{
  ENV_SRC(e, "def make():\n"
             "    def h(a, b=1):\n"
             "        return len(a) + b\n"
             "    h.me = h\n"
             "    return h\n"
             "h = make()\n"
             "r = weakref.ref(h)\n");
  PROBE(p);
  SPECIALIZE(p, ITEM(e.ns, "h"), e.fast);

  RUN(e.ns, "del h\n"
            "gc.collect()\n"
            "assert r() is None, 'h is still alive'\n");

  assert_invalidated(p, WATCH_EVENT_DEALLOCATED, NULL);
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* One specialization per function, one function per dependent             */

START_TEST(respecializing_invalidates_the_previous_and_restores_the_true_original)
{
  ENV_SRC(e, "def faster(a, b=1):\n"
             "    return 1000 + b\n");
  PyObject *faster = CODE_OF(e.ns, "faster");
  PROBE(first);
  SPECIALIZE(first, e.f, e.fast);
  PROBE(second);

  SPECIALIZE(second, e.f, faster);

  assert_invalidated(first, WATCH_EVENT_MANUAL, NULL);
  assert_specialized(e.f, faster);
  assert_gives(e.ns, "f('ab')", 1001);
  assert_intact(second);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  assert_invalidated(second, WATCH_EVENT_MANUAL, NULL);
  assert_runs_unspecialized(e.f, e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  probe_release(first);
  probe_release(second);
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(releasing_a_replaced_specialization_leaves_the_new_one)
{
  ENV_SRC(e, "def faster(a, b=1):\n"
             "    return 1000 + b\n");
  PyObject *faster = CODE_OF(e.ns, "faster");
  PROBE(first);
  SPECIALIZE(first, e.f, e.fast);
  PROBE(second);
  SPECIALIZE(second, e.f, faster);

  probe_release(first);

  assert_specialized(e.f, faster);
  assert_intact(second);
  probe_release(second);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_dependent_specializes_one_function_only)
{
  ENV_SRC(e, "def g(a, b=1):\n"
             "    return 0\n");
  PyObject *g = ITEM(e.ns, "g");
  PyObject *g_code = PyFunction_GET_CODE(g);
  PROBE(p);
  SPECIALIZE(p, e.f, e.fast);

  ASSERT_SPECIALIZE_FAILS(p, g, e.fast, WATCH_EINVAL);
  ASSERT_SPECIALIZE_FAILS(p, e.f, CODE_OF(e.ns, "user"), WATCH_EINVAL);

  assert_runs_unspecialized(g, g_code);
  assert_specialized(e.f, e.fast);
  assert_intact(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_dependent_that_depends_on_the_function_itself_is_refused)
{
  ENV(e);
  PROBE(p);
  DEPEND_FUNC(p, e.f);

  ASSERT_SPECIALIZE_FAILS(p, e.f, e.fast, WATCH_EINVAL);

  assert_runs_unspecialized(e.f, e.original);
  assert_intact(p);
  RUN(e.ns, "f.__defaults__ = (3,)\n");
  assert_invalidated(p, WATCH_EVENT_DEFAULTS, e.f);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(an_invalidated_dependent_is_refused)
{
  ENV(e);
  PROBE(p);
  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);

  ASSERT_SPECIALIZE_FAILS(p, e.f, e.fast, WATCH_EINVALIDATED);

  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_dependent_whose_specialization_ended_is_refused)
{
  ENV(e);
  SPECIALIZED_ENV(e, p);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);

  ASSERT_SPECIALIZE_FAILS(p, e.f, e.fast, WATCH_EINVALIDATED);

  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(bad_arguments_are_invalid)
{
  ENV(e);
  PyObject *len = ITEM(PyEval_GetBuiltins(), "len");
  PROBE(p);
  watch_counters_t before = COUNTERS();

  ASSERT_SPECIALIZE_FAILS(p, NULL, e.fast, WATCH_EINVAL);
  ASSERT_SPECIALIZE_FAILS(p, len, e.fast, WATCH_EINVAL);
  ASSERT_SPECIALIZE_FAILS(p, e.fast, e.fast, WATCH_EINVAL);
  ASSERT_SPECIALIZE_FAILS(p, e.f, NULL, WATCH_EINVAL);
  ASSERT_SPECIALIZE_FAILS(p, e.f, ITEM(e.ns, "fast"), WATCH_EINVAL);
  ck_assert_int_eq(watch_specialize(NULL, e.f, e.fast), WATCH_EINVAL);

  PyObject *code = (PyObject *)1;
  ck_assert_int_eq(watch_specialized(NULL, &code), WATCH_EINVAL);
  ck_assert_int_eq(watch_specialized(len, &code), WATCH_EINVAL);
  ck_assert_int_eq(watch_specialized(e.fast, &code), WATCH_EINVAL);
  ck_assert_int_eq(watch_specialized(e.f, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_deoptimize(NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_deoptimize(len), WATCH_EINVAL);
  ck_assert_int_eq(watch_deoptimize(e.fast), WATCH_EINVAL);

  assert_no_python_error();
  assert_intact(p);
  ASSERT_COUNTER(edges, ==, before.edges);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

static int
quiet_func_watcher(PyFunction_WatchEvent event, PyFunctionObject *func,
                   PyObject *new_value)
{
  (void)event, (void)func, (void)new_value;
  return 0;
}

START_TEST(a_failed_install_leaves_the_function_and_the_dependent_as_they_were)
{
  ENV(e);
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

  int err = watch_specialize(p->dep, e.f, e.fast);
  PyObject *during = PyFunction_GET_CODE(e.f);

  for (int i = 0; i < n; i++)
    ck_assert_int_eq(PyFunction_ClearWatcher(ids[i]), 0);
  ck_assert_msg(err == WATCH_EBUSY, "watch_specialize() = %d (%s)", err,
                harness_err(err));
  ck_assert_ptr_eq(during, e.original);
  assert_no_python_error();
  assert_intact(p);
  assert_runs_unspecialized(e.f, e.original);
  /* With a watcher id free again, the same dependent can specialize. */
  SPECIALIZE(p, e.f, e.fast);
  assert_specialized(e.f, e.fast);
  ck_assert_int_eq(watch_deoptimize(e.f), 0);
  assert_runs_unspecialized(e.f, e.original);
  Py_DECREF(e.ns);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Initialization and finalization (these tests call watch_init themselves) */

START_TEST(watch_fini_restores_a_live_specialization)
{
  ENV(e);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  DEPEND_GLOBAL(p, e.f, "len");
  SPECIALIZE(p, e.f, e.fast);
  assert_gives(e.ns, "f('ab')", FAST);

  watch_fini();

  assert_invalidated(p, WATCH_EVENT_FINALIZED, NULL);
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  assert_gives(e.ns, "f('ab')", ORIGINAL);
  probe_release(p); /* after finalization: swaps nothing */
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  RUN(e.ns, "B['len'] = lambda a: 7\n"
            "f.__defaults__ = (2,)\n");
  assert_gives(e.ns, "f('ab')", 9);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(a_nested_watch_fini_keeps_the_specialization)
{
  ENV(e);
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  SPECIALIZE(p, e.f, e.fast);

  watch_fini();

  assert_intact(p);
  assert_specialized(e.f, e.fast);
  watch_fini();
  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(specialization_calls_need_watch_init)
{
  ENV(e);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  watch_fini();
  PyObject *code = (PyObject *)1;

  ck_assert_int_eq(watch_specialize(p->dep, e.f, e.fast), WATCH_ENOINIT);
  ck_assert_int_eq(watch_specialized(e.f, &code), WATCH_ENOINIT);
  ck_assert_int_eq(watch_deoptimize(e.f), WATCH_ENOINIT);

  ck_assert_ptr_eq(PyFunction_GET_CODE(e.f), e.original);
  assert_no_python_error();
  Py_DECREF(e.ns);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("specialize");

  TCase *tc = harness_tcase(s, "install");
  tcase_add_test(tc,
                 a_specialized_function_runs_the_code_while_the_dependent_is_valid);
  tcase_add_test(tc, a_function_that_is_not_specialized_reports_no_code);
  tcase_add_test(tc, specializing_with_the_function_s_own_code_is_allowed);

  tc = harness_tcase(s, "triggers");
  tcase_add_test(tc, rebinding_an_assumed_builtin_restores_the_original);
  tcase_add_test(tc, shadowing_an_assumed_builtin_in_globals_restores_the_original);
  tcase_add_test(tc, deleting_an_assumed_shadowing_global_restores_the_original);
  tcase_add_test(tc, a_module_attribute_change_restores_the_original);
  tcase_add_test(tc, a_dict_key_change_restores_the_original);
  tcase_add_test(tc, a_class_attribute_change_on_a_base_restores_the_original);
  tcase_add_test(tc,
                 defining_an_inherited_attribute_on_the_class_restores_the_original);
  tcase_add_test(tc, a_bases_assignment_restores_the_original);
  tcase_add_test(tc, an_inlined_function_s_code_change_restores_the_original);
  tcase_add_test(tc, an_inlined_function_s_defaults_change_restores_the_original);
  tcase_add_test(tc,
                 changing_the_specialized_function_s_defaults_restores_the_original);
  tcase_add_test(
      tc, changing_the_specialized_function_s_kwdefaults_restores_the_original);
  tcase_add_test(tc, watch_deoptimize_restores_the_original);
  tcase_add_test(tc, watch_dep_invalidate_restores_the_original);
  tcase_add_test(tc, releasing_the_dependent_while_valid_restores_the_original);
  tcase_add_test(tc, rearming_the_dependent_while_valid_restores_the_original);
  tcase_add_test(tc, releasing_an_invalidated_dependent_swaps_nothing_back);
  tcase_add_test(tc, a_dependent_released_in_its_own_callback_leaves_the_original);

  tc = harness_tcase(s, "phase_one");
  tcase_add_test(tc, the_original_is_back_in_phase_one_of_a_dict_change);
  tcase_add_test(tc, the_original_is_back_in_phase_one_of_a_defaults_change);
  tcase_add_test(tc, the_next_call_in_the_same_statement_runs_the_original);

  tc = harness_tcase(s, "user_code");
  tcase_add_test(tc,
                 assigning_code_drops_the_specialization_and_keeps_the_user_s_code);
  tcase_add_test(tc, assigning_the_specialized_code_itself_keeps_it_unguarded);
  tcase_add_test(tc, assigning_the_original_code_back_keeps_it);

  tc = harness_tcase(s, "function_dependents");
  tcase_add_test(tc, function_dependents_see_the_install_and_the_restore_as_code);
  tcase_add_test(tc, a_function_dependent_sees_a_restore_made_by_a_dict_change);
  tcase_add_test(tc,
                 a_function_dependent_sees_the_restore_before_a_defaults_change);
  tcase_add_test(tc, specializations_that_inline_each_other_both_restore);

  tc = harness_tcase(s, "mismatch");
  tcase_add_test(tc, every_mismatch_is_refused_incompatible_and_named);
  tcase_add_test(tc, codes_that_fit_have_no_mismatch);
  tcase_add_test(tc, watch_code_mismatch_names_bad_arguments);
  tcase_add_test(tc, a_specialized_closure_reads_its_own_cells);
  tcase_add_test(tc, a_closure_with_other_free_variables_is_refused);

  tc = harness_tcase(s, "lifetime");
  tcase_add_test(tc, one_change_restores_1000_functions_specialized_on_it);
  tcase_add_test(tc,
                 a_recursive_function_that_breaks_its_assumption_deoptimizes_below);
  tcase_add_test(tc, a_specialized_function_that_dies_invalidates_with_deallocated);
  tcase_add_test(tc, a_specialized_function_collected_in_a_cycle_is_left_alone);

  tc = harness_tcase(s, "ownership");
  tcase_add_test(
      tc, respecializing_invalidates_the_previous_and_restores_the_true_original);
  tcase_add_test(tc, releasing_a_replaced_specialization_leaves_the_new_one);
  tcase_add_test(tc, a_dependent_specializes_one_function_only);
  tcase_add_test(tc, a_dependent_that_depends_on_the_function_itself_is_refused);
  tcase_add_test(tc, an_invalidated_dependent_is_refused);
  tcase_add_test(tc, a_dependent_whose_specialization_ended_is_refused);
  tcase_add_test(tc, bad_arguments_are_invalid);
  tcase_add_test(tc,
                 a_failed_install_leaves_the_function_and_the_dependent_as_they_were);

  tc = harness_bare_tcase(s, "lifecycle");
  tcase_add_test(tc, watch_fini_restores_a_live_specialization);
  tcase_add_test(tc, a_nested_watch_fini_keeps_the_specialization);
  tcase_add_test(tc, specialization_calls_need_watch_init);
  return s;
}
