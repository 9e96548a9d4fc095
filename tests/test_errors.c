/* Every error code doc/c-api.md documents, provoked.
 *
 * doc/c-api.md has a section per exported function, each with an
 * "Errors:" paragraph naming the codes the function can return.  This
 * program reads that file (from the repository root, where `make test`
 * runs it), and checks it against a table of cases, one per function and
 * code, each of which makes the call fail with that code:
 * - every function watch.h exports has a section and an Errors: paragraph;
 * - every documented code has a case, or is one of the few the table of
 *   exemptions names (a failed allocation, which no test can cause here;
 *   another ABI's library, which mk/suites/abi.sh builds and tests);
 * - every case's code is documented for its function;
 * - every case gives its code, and leaves a Python exception set exactly
 *   when the code is WATCH_EPYTHON.
 * A case that cannot happen on the running interpreter (CPython 3.13.0's
 * split dicts, 3.13's version tag limit) says so and is not run. */
#include "harness.h"

#include <ctype.h>

#define DOC "doc/c-api.md"
#define HEADER "include/watch.h"

/* Returned by a case that cannot happen on the running interpreter. */
#define NOT_HERE 1

/* ------------------------------------------------------------------------ */
/* Python fixtures                                                          */

/* Objects that make lookups fail: K and Raising share the hash of 'x' and
 * compare by Python code (Raising's __eq__ raises); Odd's metaclass
 * overrides mro(); Rel's __del__ calls release() (below). */
#define FIXTURES                                                              \
  "import types\n"                                                            \
  "class K:\n"                                                                \
  "    def __hash__(self): return hash('x')\n"                                \
  "    def __eq__(self, other): return False\n"                               \
  "class Raising:\n"                                                          \
  "    def __hash__(self): return hash('x')\n"                                \
  "    def __eq__(self, other): raise ValueError('__eq__')\n"                 \
  "class Meta(type):\n"                                                       \
  "    def mro(cls): return type.mro(cls)\n"                                  \
  "class Odd(metaclass=Meta):\n"                                              \
  "    x = 1\n"                                                               \
  "class C:\n"                                                                \
  "    x = 1\n"                                                               \
  "def module_with(key):\n"                                                   \
  "    m = types.ModuleType('m')\n"                                           \
  "    m.__dict__[key] = 1\n"                                                 \
  "    return m\n"                                                            \
  "class Rel:\n"                                                              \
  "    def __del__(self): release()\n"                                        \
  "class O: pass\n"                                                           \
  "o = O()\n"                                                                 \
  "o.a = 0\n"                                                                 \
  "def f(a): return a\n"                                                      \
  "two = (lambda a, b: 0).__code__\n"

static PyObject *fixtures;
static watch_dep_t *to_release;  /* what Rel's __del__ releases */

static PyObject *
release(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  watch_dep_release(to_release);
  to_release = NULL;
  Py_RETURN_NONE;
}

static PyMethodDef release_def = {"release", release, METH_NOARGS, NULL};

/* A new reference to what expr gives in the fixtures' namespace. */
static PyObject *
py(const char *expr)
{
  if (fixtures == NULL) {
    fixtures = harness_namespace(__FILE__, __LINE__);
    PyObject *fn = PyCFunction_New(&release_def, NULL);
    ck_assert_ptr_nonnull(fn);
    ck_assert_int_eq(PyDict_SetItemString(fixtures, "release", fn), 0);
    Py_DECREF(fn);
    PyObject *r = PyRun_String(FIXTURES, Py_file_input, fixtures, fixtures);
    if (r == NULL)
      harness_fail_python(__FILE__, __LINE__, "the fixtures");
    Py_DECREF(r);
  }
  PyObject *r = PyRun_String(expr, Py_eval_input, fixtures, fixtures);
  if (r == NULL)
    harness_fail_python(__FILE__, __LINE__, expr);
  return r;
}

/* Borrowed: what expr gives, kept until the program exits. */
static PyObject *
fx(const char *expr)
{
  static PyObject *kept;
  if (kept == NULL)
    kept = PyList_New(0);
  PyObject *r = py(expr);
  ck_assert_int_eq(PyList_Append(kept, r), 0);
  Py_DECREF(r);
  return r;
}

static PyObject *
str(const char *s)
{
  return key(s);  /* harness.h: interned, borrowed */
}

static int
split_dicts_unheard(void)
{
  return harness_inline_stores_unheard();
}

/* ------------------------------------------------------------------------ */
/* Dependents in the states the cases need                                  */

static watch_dep_t *
fresh(void)
{
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), 0);
  return dep;
}

static watch_dep_t *
invalid(void)
{
  watch_dep_t *dep = fresh();
  ck_assert_int_eq(watch_dep_invalidate(dep), 0);
  return dep;
}

/* A dependent of a libwatch finalized since (bare cases). */
static watch_dep_t *
finalized(void)
{
  ck_assert_int_eq(watch_init(), 0);
  watch_dep_t *dep = fresh();
  watch_fini();
  return dep;
}

/* Makes k of d unstable: limit 1, three writes heard by a dependent. */
static void
make_unstable(PyObject *d, PyObject *k)
{
  ck_assert_int_eq(watch_set_unstable_limit(1), 0);
  watch_dep_t *dep = fresh();
  ck_assert_int_eq(watch_dep_on_key(dep, d, k, PyDict_GetItem(d, k)), 0);
  PyObject *values[] = {Py_None, Py_True, Py_False};
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(PyDict_SetItem(d, k, values[i]), 0);
  watch_dep_release(dep);
}

/* Fills every free watcher id of one kind; clear_ids() gives them back. */
static int ids[64], nids;
static int
idle_dict(PyDict_WatchEvent e, PyObject *d, PyObject *k, PyObject *v)
{
  (void)e, (void)d, (void)k, (void)v;
  return 0;
}
static int
idle_func(PyFunction_WatchEvent e, PyFunctionObject *f, PyObject *v)
{
  (void)e, (void)f, (void)v;
  return 0;
}
static int
idle_type(PyTypeObject *t)
{
  (void)t;
  return 0;
}
enum { DICT_IDS, FUNC_IDS, TYPE_IDS };
static void
fill_ids(int kind)
{
  for (nids = 0; nids < 64; nids++) {
    int id = kind == DICT_IDS   ? PyDict_AddWatcher(idle_dict)
             : kind == FUNC_IDS ? PyFunction_AddWatcher(idle_func)
                                : PyType_AddWatcher(idle_type);
    if (id < 0) {
      PyErr_Clear();
      return;
    }
    ids[nids] = id;
  }
}
static void
clear_ids(int kind)
{
  for (int i = 0; i < nids; i++)
    kind == DICT_IDS   ? PyDict_ClearWatcher(ids[i])
    : kind == FUNC_IDS ? PyFunction_ClearWatcher(ids[i])
                       : PyType_ClearWatcher(ids[i]);
  nids = 0;
}

/* What a callback told FINALIZED sees: libwatch shutting down. */
static int in_finalized = -1000;
static watch_cell_t *finalized_cell;
static watch_dep_t *finalized_dep;
static int (*finalized_call)(void);
static int
on_finalized(watch_dep_t *dep, const watch_event_t *event)
{
  finalized_dep = dep;
  if (event->kind == WATCH_EVENT_FINALIZED)
    in_finalized = finalized_call();
  return 0;
}
static int
during_finalization(int (*call)(void))
{
  ck_assert_int_eq(watch_init(), 0);
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, on_finalized, NULL), 0);
  finalized_call = call;
  in_finalized = -1000;
  watch_fini();
  watch_dep_release(dep);
  return in_finalized;
}
static int
init_now(void)
{
  int rc = watch_init();
  if (rc == 0)
    watch_fini();
  return rc;
}
static int
cell_get_now(void)
{
  PyObject *v;
  return watch_cell_get(finalized_cell, &v);
}
static int
cell_dep_now(void)
{
  return watch_cell_dep(finalized_cell, finalized_dep);
}
static int
cell_during_finalization(int (*call)(void))
{
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_cell_new_global(&finalized_cell, fx("{'x': 1}"),
                                         fx("{}"), str("x")),
                   0);
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, on_finalized, NULL), 0);
  finalized_call = call;
  in_finalized = -1000;
  watch_fini();
  watch_dep_release(dep);
  watch_cell_free(finalized_cell);
  return in_finalized;
}

/* A cell made before the last watch_fini() (fixtured cases). */
static watch_cell_t *
stale_cell(void)
{
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, fx("{'x': 1}"), fx("{}"),
                                         str("x")),
                   0);
  watch_fini();
  ck_assert_int_eq(watch_init(), 0);
  return cell;
}

/* A subinterpreter whose audit hooks refuse new hooks: libwatch's class
 * hook is refused there, for the interpreter's life. */
static int
in_refusing_interpreter(int (*call)(void))
{
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  PyObject *r = PyRun_String("import sys\n"
                             "def refuse(event, args):\n"
                             "    if event == 'sys.addaudithook':\n"
                             "        raise RuntimeError('refused')\n"
                             "sys.addaudithook(refuse)\n",
                             Py_file_input, PyEval_GetBuiltins(),
                             PyEval_GetBuiltins());
  Py_XDECREF(r);
  int rc = r == NULL ? -1000 : watch_init();
  if (rc == 0) {
    rc = call();
    PyErr_Clear();
    watch_fini();
  }
  PyErr_Clear();
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
  return rc;
}

/* A subinterpreter's libwatch. */
static int
in_subinterpreter(int (*call)(void))
{
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int rc = watch_init();
  if (rc == 0) {
    rc = call();
    watch_fini();
  }
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The cases: each returns what the call returned.                          */

#define CASE(name) static int name(void)

/* watch_init */
CASE(init_noinit) { return during_finalization(init_now); }
CASE(init_busy)
{
  fill_ids(DICT_IDS);
  int rc = watch_init();
  clear_ids(DICT_IDS);
  if (rc == 0)
    watch_fini();
  return rc;
}

/* watch_dep_new */
CASE(dep_new_noinit)
{
  watch_dep_t *dep;
  return watch_dep_new(&dep, NULL, NULL);
}
CASE(dep_new_inval) { return watch_dep_new(NULL, NULL, NULL); }

/* watch_dep_locate, watch_dep_invalidate, watch_dep_rearm */
CASE(locate_inval) { return watch_dep_locate(NULL); }
CASE(invalidate_inval) { return watch_dep_invalidate(NULL); }
CASE(rearm_inval) { return watch_dep_rearm(NULL); }
CASE(rearm_noinit)
{
  watch_dep_t *dep = finalized();
  int rc = watch_dep_rearm(dep);
  watch_dep_release(dep);
  return rc;
}
/* The queued callback's event holds the key, the last reference to a Rel:
 * rearming drops it, and its __del__ releases the dependent. */
CASE(rearm_invalidated)
{
  PyObject *d = py("{}"), *k = py("Rel()");
  watch_dep_t *dep = fresh();
  ck_assert_int_eq(watch_dep_on_key(dep, d, k, NULL), 0);
  ck_assert_int_eq(PyDict_SetItem(d, k, Py_None), 0);
  ck_assert_int_eq(PyDict_DelItem(d, k), 0);
  to_release = dep;
  Py_DECREF(k);
  int rc = watch_dep_rearm(dep);
  if (to_release != NULL)  /* not released: the case failed */
    watch_dep_release(dep);
  to_release = NULL;
  Py_DECREF(d);
  return rc;
}

/* The registrations that take a dependent share their gate. */
#define GATE_CASES(prefix, call)                                              \
  CASE(prefix##_inval_dep)                                                    \
  {                                                                           \
    watch_dep_t *dep = NULL;                                                  \
    return call;                                                              \
  }                                                                           \
  CASE(prefix##_noinit)                                                       \
  {                                                                           \
    watch_dep_t *dep = finalized();                                           \
    int rc = call;                                                            \
    watch_dep_release(dep);                                                   \
    return rc;                                                                \
  }                                                                           \
  CASE(prefix##_invalidated)                                                  \
  {                                                                           \
    watch_dep_t *dep = invalid();                                             \
    int rc = call;                                                            \
    watch_dep_release(dep);                                                   \
    return rc;                                                                \
  }

/* Runs call on a fresh dependent, then releases it. */
#define WITH_DEP(call)                                                        \
  do {                                                                        \
    watch_dep_t *dep = fresh();                                               \
    int rc_ = (call);                                                         \
    watch_dep_release(dep);                                                   \
    return rc_;                                                               \
  } while (0)

/* watch_dep_on_key */
GATE_CASES(on_key, watch_dep_on_key(dep, fx("{}"), str("x"), NULL))
CASE(on_key_inval)
{
  WITH_DEP(watch_dep_on_key(dep, fx("[]"), str("x"), NULL));
}
CASE(on_key_stale)
{
  WITH_DEP(watch_dep_on_key(dep, fx("{'x': 1}"), str("x"), Py_None));
}
CASE(on_key_unstable)
{
  PyObject *d = py("{'x': 1}");
  make_unstable(d, str("x"));
  watch_dep_t *dep = fresh();
  int rc = watch_dep_on_key(dep, d, str("x"), PyDict_GetItem(d, str("x")));
  watch_dep_release(dep);
  Py_DECREF(d);
  return rc;
}
CASE(on_key_unwatchable)
{
  WITH_DEP(watch_dep_on_key(dep, fx("{K(): 1}"), str("x"), NULL));
}
CASE(on_key_python)
{
  WITH_DEP(watch_dep_on_key(dep, fx("{}"), fx("[]"), NULL));
}

/* watch_dep_on_key_as_is */
GATE_CASES(as_is, watch_dep_on_key_as_is(dep, fx("{}"), str("x")))
CASE(as_is_inval)
{
  WITH_DEP(watch_dep_on_key_as_is(dep, fx("{}"), fx("('x',)")));
}
CASE(as_is_unstable)
{
  PyObject *d = py("{'x': 1}");
  make_unstable(d, str("x"));
  watch_dep_t *dep = fresh();
  int rc = watch_dep_on_key_as_is(dep, d, str("x"));
  watch_dep_release(dep);
  Py_DECREF(d);
  return rc;
}
CASE(as_is_unwatchable)
{
  WITH_DEP(watch_dep_on_key_as_is(dep, fx("{K(): 1}"), str("x")));
}

/* watch_dep_on_global */
GATE_CASES(on_global, watch_dep_on_global(dep, fx("{}"), fx("{}"), str("x"),
                                          NULL))
CASE(on_global_inval)
{
  WITH_DEP(watch_dep_on_global(dep, fx("[]"), fx("{}"), str("x"), NULL));
}
CASE(on_global_stale)
{
  WITH_DEP(watch_dep_on_global(dep, fx("{'x': 1}"), fx("{}"), str("x"),
                               Py_None));
}
CASE(on_global_unstable)
{
  PyObject *g = py("{'x': 1}");
  make_unstable(g, str("x"));
  watch_dep_t *dep = fresh();
  int rc = watch_dep_on_global(dep, g, fx("{}"), str("x"),
                               PyDict_GetItem(g, str("x")));
  watch_dep_release(dep);
  Py_DECREF(g);
  return rc;
}
CASE(on_global_unwatchable)
{
  WITH_DEP(watch_dep_on_global(dep, fx("{K(): 1}"), fx("{}"), str("x"),
                               NULL));
}
CASE(on_global_python)
{
  WITH_DEP(watch_dep_on_global(dep, fx("{Raising(): 1}"), fx("{}"),
                               str("x"), NULL));
}

/* watch_dep_on_namespace */
GATE_CASES(on_namespace, watch_dep_on_namespace(dep, fx("{}")))
CASE(on_namespace_inval) { WITH_DEP(watch_dep_on_namespace(dep, fx("[]"))); }
CASE(on_namespace_unwatchable)
{
  if (!split_dicts_unheard())
    return NOT_HERE;
  WITH_DEP(watch_dep_on_namespace(dep, fx("o.__dict__")));
}

/* watch_dep_on_attr */
GATE_CASES(on_attr, watch_dep_on_attr(dep, fx("C"), str("x"), NULL))
CASE(on_attr_inval)
{
  WITH_DEP(watch_dep_on_attr(dep, fx("1"), str("x"), NULL));
}
CASE(on_attr_stale)
{
  WITH_DEP(watch_dep_on_attr(dep, fx("C"), str("x"), Py_None));
}
CASE(on_attr_unstable)
{
  WITH_DEP(watch_dep_on_attr(dep, fx("Odd"), str("x"), fx("Odd.x")));
}
CASE(on_attr_unwatchable)
{
  WITH_DEP(watch_dep_on_attr(dep, fx("module_with(K())"), str("x"), NULL));
}
CASE(on_attr_python)
{
  WITH_DEP(
      watch_dep_on_attr(dep, fx("module_with(Raising())"), str("x"), NULL));
}
static int
attr_on_class(void)
{
  WITH_DEP(watch_dep_on_attr(dep, fx("C"), str("x"), fx("C.x")));
}
CASE(on_attr_busy) { return in_refusing_interpreter(attr_on_class); }

/* watch_attr_lookup */
CASE(attr_lookup_inval)
{
  PyObject *v;
  return watch_attr_lookup(fx("1"), str("x"), &v);
}
CASE(attr_lookup_python)
{
  PyObject *v;
  return watch_attr_lookup(fx("module_with(Raising())"), str("x"), &v);
}

/* watch_dep_on_function */
GATE_CASES(on_function, watch_dep_on_function(dep, fx("f")))
CASE(on_function_inval) { WITH_DEP(watch_dep_on_function(dep, fx("1"))); }
CASE(on_function_busy)
{
  fill_ids(FUNC_IDS);
  watch_dep_t *dep = fresh();
  int rc = watch_dep_on_function(dep, fx("f"));
  watch_dep_release(dep);
  clear_ids(FUNC_IDS);
  return rc;
}

/* watch_specialize and the calls about a specialization */
GATE_CASES(specialize, watch_specialize(dep, fx("f"), fx("f.__code__")))
CASE(specialize_inval)
{
  WITH_DEP(watch_specialize(dep, fx("f"), fx("None")));
}
CASE(specialize_incompatible)
{
  WITH_DEP(watch_specialize(dep, fx("f"), fx("two")));
}
CASE(specialize_busy)
{
  fill_ids(FUNC_IDS);
  watch_dep_t *dep = fresh();
  int rc = watch_specialize(dep, fx("f"), fx("f.__code__"));
  watch_dep_release(dep);
  clear_ids(FUNC_IDS);
  return rc;
}
CASE(specialized_noinit)
{
  PyObject *code;
  return watch_specialized(fx("f"), &code);
}
CASE(specialized_inval)
{
  PyObject *code;
  return watch_specialized(fx("1"), &code);
}
CASE(deoptimize_noinit) { return watch_deoptimize(fx("f")); }
CASE(deoptimize_inval) { return watch_deoptimize(fx("1")); }

/* Cells */
CASE(cell_global_noinit)
{
  watch_cell_t *cell;
  return watch_cell_new_global(&cell, fx("{}"), fx("{}"), str("x"));
}
CASE(cell_global_inval)
{
  watch_cell_t *cell;
  return watch_cell_new_global(&cell, fx("[]"), fx("{}"), str("x"));
}
CASE(cell_global_python)
{
  watch_cell_t *cell;
  return watch_cell_new_global(&cell, fx("{Raising(): 1}"), fx("{}"),
                               str("x"));
}
CASE(cell_global_unwatchable)
{
  if (!split_dicts_unheard())
    return NOT_HERE;
  watch_cell_t *cell;
  return watch_cell_new_global(&cell, fx("o.__dict__"), fx("{}"), str("a"));
}
CASE(cell_attr_noinit)
{
  watch_cell_t *cell;
  return watch_cell_new_attr(&cell, fx("C"), str("x"));
}
CASE(cell_attr_inval)
{
  watch_cell_t *cell;
  return watch_cell_new_attr(&cell, fx("1"), str("x"));
}
CASE(cell_attr_unstable)
{
  watch_cell_t *cell;
  return watch_cell_new_attr(&cell, fx("Odd"), str("x"));
}
CASE(cell_attr_python)
{
  watch_cell_t *cell;
  return watch_cell_new_attr(&cell, fx("module_with(Raising())"), str("x"));
}
static int
cell_on_class(void)
{
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_attr(&cell, fx("C"), str("x"));
  watch_cell_free(cell);
  return rc;
}
CASE(cell_attr_busy) { return in_refusing_interpreter(cell_on_class); }
CASE(cell_get_inval) { return watch_cell_get(NULL, NULL); }
CASE(cell_get_stale)
{
  watch_cell_t *cell = stale_cell();
  PyObject *v;
  int rc = watch_cell_get(cell, &v);
  watch_cell_free(cell);
  return rc;
}
CASE(cell_get_noinit) { return cell_during_finalization(cell_get_now); }
/* A key added after the cell was made: the cell reads again, and the
 * lookup meets Raising's __eq__. */
CASE(cell_get_python)
{
  PyObject *g = py("{}"), *k = py("Raising()");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, fx("{}"), str("x")), 0);
  ck_assert_int_eq(PyDict_SetItem(g, k, Py_None), 0);
  PyObject *v;
  int rc = watch_cell_get(cell, &v);
  watch_cell_free(cell);
  Py_DECREF(k);
  Py_DECREF(g);
  return rc;
}
CASE(cell_dep_inval)
{
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, fx("{}"), fx("{}"),
                                         str("x")),
                   0);
  int rc = watch_cell_dep(cell, NULL);
  watch_cell_free(cell);
  return rc;
}
CASE(cell_dep_stale)
{
  watch_cell_t *cell = stale_cell();
  watch_dep_t *dep = fresh();
  int rc = watch_cell_dep(cell, dep);
  watch_dep_release(dep);
  watch_cell_free(cell);
  return rc;
}
CASE(cell_dep_noinit) { return cell_during_finalization(cell_dep_now); }
/* Runs the registration on a global cell of g, then frees both. */
static int
cell_dep_on(PyObject *g, watch_dep_t *dep)
{
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, fx("{}"), str("x")), 0);
  int rc = watch_cell_dep(cell, dep);
  watch_dep_release(dep);
  watch_cell_free(cell);
  Py_DECREF(g);
  return rc;
}
CASE(cell_dep_python)
{
  PyObject *g = py("{}"), *k = py("Raising()");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, fx("{}"), str("x")), 0);
  ck_assert_int_eq(PyDict_SetItem(g, k, Py_None), 0);
  watch_dep_t *dep = fresh();
  int rc = watch_cell_dep(cell, dep);
  watch_dep_release(dep);
  watch_cell_free(cell);
  Py_DECREF(k);
  Py_DECREF(g);
  return rc;
}
CASE(cell_dep_invalidated) { return cell_dep_on(py("{'x': 1}"), invalid()); }
CASE(cell_dep_unstable)
{
  PyObject *g = py("{'x': 1}");
  make_unstable(g, str("x"));
  return cell_dep_on(g, fresh());
}
CASE(cell_dep_unwatchable) { return cell_dep_on(py("{K(): 1}"), fresh()); }

/* Delivery */
CASE(flush_noinit) { return watch_flush(); }
CASE(attach_noinit) { return watch_attach_loop(NULL); }
static int
attach_here(void)
{
  return watch_attach_loop((struct uv_loop_s *)&ids);  /* never used */
}
CASE(attach_inval) { return in_subinterpreter(attach_here); }
CASE(debounce_noinit) { return watch_set_debounce(0); }

/* Taps */
static int
tap_cb(watch_tap_t *tap, const watch_tap_event_t *event)
{
  (void)tap, (void)event;
  return 0;
}
CASE(tap_noinit)
{
  watch_tap_t *tap;
  return watch_tap_new(&tap, fx("{}"), tap_cb, NULL, NULL);
}
CASE(tap_inval)
{
  watch_tap_t *tap;
  return watch_tap_new(&tap, fx("{}"), NULL, NULL, NULL);
}
CASE(tap_unwatchable)
{
  if (!split_dicts_unheard())
    return NOT_HERE;
  watch_tap_t *tap;
  return watch_tap_new(&tap, fx("o.__dict__"), tap_cb, NULL, NULL);
}
CASE(tap_type_noinit)
{
  watch_tap_t *tap;
  return watch_tap_new_type(&tap, (PyTypeObject *)fx("C"), tap_cb, NULL,
                            NULL);
}
CASE(tap_type_inval)
{
  watch_tap_t *tap;
  return watch_tap_new_type(&tap, (PyTypeObject *)fx("C"), NULL, NULL, NULL);
}
CASE(tap_type_busy)
{
  fill_ids(TYPE_IDS);
  watch_tap_t *tap = NULL;
  int rc = watch_tap_new_type(&tap, (PyTypeObject *)fx("C"), tap_cb, NULL,
                              NULL);
  watch_tap_free(tap);
  clear_ids(TYPE_IDS);
  return rc;
}
/* 3.13 and later give a class at most 1000 version tags. */
CASE(tap_type_unstable)
{
  if (PY_VERSION_HEX < 0x030D0000)
    return NOT_HERE;
  PyObject *t = py("type('Worn', (), {})");
  for (int i = 0; i < 1100; i++) {
    PyObject_SetAttrString(t, "x", Py_None);
    PyUnstable_Type_AssignVersionTag((PyTypeObject *)t);
  }
  watch_tap_t *tap = NULL;
  int rc = watch_tap_new_type(&tap, (PyTypeObject *)t, tap_cb, NULL, NULL);
  watch_tap_free(tap);
  Py_DECREF(t);
  return rc;
}
CASE(tap_arm_inval)
{
  watch_tap_t *tap = NULL;
  ck_assert_int_eq(watch_tap_new(&tap, fx("{}"), tap_cb, NULL, NULL), 0);
  int rc = watch_tap_arm(tap);
  watch_tap_free(tap);
  return rc;
}
CASE(tap_arm_noinit)
{
  watch_tap_t *tap = NULL;
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_tap_new_type(&tap, (PyTypeObject *)fx("C"), tap_cb,
                                      NULL, NULL),
                   0);
  watch_fini();
  int rc = watch_tap_arm(tap);
  watch_tap_free(tap);
  return rc;
}

/* The rest */
CASE(version_noinit)
{
  uint64_t v;
  return watch_dict_version(fx("{}"), &v);
}
CASE(version_inval) { return watch_dict_version(fx("{}"), NULL); }
CASE(version_unwatchable)
{
  if (!split_dicts_unheard())
    return NOT_HERE;
  uint64_t v;
  return watch_dict_version(fx("o.__dict__"), &v);
}
CASE(limit_noinit) { return watch_set_unstable_limit(8); }
CASE(counters_noinit)
{
  watch_counters_t c;
  return watch_counters(&c);
}
CASE(counters_inval) { return watch_counters(NULL); }

/* ------------------------------------------------------------------------ */
/* The table                                                                */

/* bare: run without watch_init() (the case sets up what it needs). */
typedef struct {
  const char *function;
  int code;
  int bare;
  int (*provoke)(void);
} error_case_t;

#define GATE(fn, prefix)                                                      \
  {fn, WATCH_EINVAL, 0, prefix##_inval_dep},                                  \
      {fn, WATCH_ENOINIT, 1, prefix##_noinit},                                \
      {fn, WATCH_EINVALIDATED, 0, prefix##_invalidated}

static const error_case_t cases[] = {
    {"watch_init", WATCH_ENOINIT, 1, init_noinit},
    {"watch_init", WATCH_EBUSY, 1, init_busy},
    {"watch_dep_new", WATCH_ENOINIT, 1, dep_new_noinit},
    {"watch_dep_new", WATCH_EINVAL, 0, dep_new_inval},
    {"watch_dep_locate", WATCH_EINVAL, 0, locate_inval},
    {"watch_dep_invalidate", WATCH_EINVAL, 0, invalidate_inval},
    {"watch_dep_rearm", WATCH_EINVAL, 0, rearm_inval},
    {"watch_dep_rearm", WATCH_ENOINIT, 1, rearm_noinit},
    {"watch_dep_rearm", WATCH_EINVALIDATED, 0, rearm_invalidated},
    GATE("watch_dep_on_key", on_key),
    {"watch_dep_on_key", WATCH_EINVAL, 0, on_key_inval},
    {"watch_dep_on_key", WATCH_ESTALE, 0, on_key_stale},
    {"watch_dep_on_key", WATCH_EUNSTABLE, 0, on_key_unstable},
    {"watch_dep_on_key", WATCH_EUNWATCHABLE, 0, on_key_unwatchable},
    {"watch_dep_on_key", WATCH_EPYTHON, 0, on_key_python},
    GATE("watch_dep_on_key_as_is", as_is),
    {"watch_dep_on_key_as_is", WATCH_EINVAL, 0, as_is_inval},
    {"watch_dep_on_key_as_is", WATCH_EUNSTABLE, 0, as_is_unstable},
    {"watch_dep_on_key_as_is", WATCH_EUNWATCHABLE, 0, as_is_unwatchable},
    GATE("watch_dep_on_global", on_global),
    {"watch_dep_on_global", WATCH_EINVAL, 0, on_global_inval},
    {"watch_dep_on_global", WATCH_ESTALE, 0, on_global_stale},
    {"watch_dep_on_global", WATCH_EUNSTABLE, 0, on_global_unstable},
    {"watch_dep_on_global", WATCH_EUNWATCHABLE, 0, on_global_unwatchable},
    {"watch_dep_on_global", WATCH_EPYTHON, 0, on_global_python},
    GATE("watch_dep_on_namespace", on_namespace),
    {"watch_dep_on_namespace", WATCH_EINVAL, 0, on_namespace_inval},
    {"watch_dep_on_namespace", WATCH_EUNWATCHABLE, 0,
     on_namespace_unwatchable},
    GATE("watch_dep_on_attr", on_attr),
    {"watch_dep_on_attr", WATCH_EINVAL, 0, on_attr_inval},
    {"watch_dep_on_attr", WATCH_ESTALE, 0, on_attr_stale},
    {"watch_dep_on_attr", WATCH_EUNSTABLE, 0, on_attr_unstable},
    {"watch_dep_on_attr", WATCH_EUNWATCHABLE, 0, on_attr_unwatchable},
    {"watch_dep_on_attr", WATCH_EPYTHON, 0, on_attr_python},
    {"watch_dep_on_attr", WATCH_EBUSY, 1, on_attr_busy},
    {"watch_attr_lookup", WATCH_EINVAL, 1, attr_lookup_inval},
    {"watch_attr_lookup", WATCH_EPYTHON, 1, attr_lookup_python},
    GATE("watch_dep_on_function", on_function),
    {"watch_dep_on_function", WATCH_EINVAL, 0, on_function_inval},
    {"watch_dep_on_function", WATCH_EBUSY, 0, on_function_busy},
    GATE("watch_specialize", specialize),
    {"watch_specialize", WATCH_EINVAL, 0, specialize_inval},
    {"watch_specialize", WATCH_EINCOMPATIBLE, 0, specialize_incompatible},
    {"watch_specialize", WATCH_EBUSY, 0, specialize_busy},
    {"watch_specialized", WATCH_ENOINIT, 1, specialized_noinit},
    {"watch_specialized", WATCH_EINVAL, 0, specialized_inval},
    {"watch_deoptimize", WATCH_ENOINIT, 1, deoptimize_noinit},
    {"watch_deoptimize", WATCH_EINVAL, 0, deoptimize_inval},
    {"watch_cell_new_global", WATCH_ENOINIT, 1, cell_global_noinit},
    {"watch_cell_new_global", WATCH_EINVAL, 0, cell_global_inval},
    {"watch_cell_new_global", WATCH_EPYTHON, 0, cell_global_python},
    {"watch_cell_new_global", WATCH_EUNWATCHABLE, 0, cell_global_unwatchable},
    {"watch_cell_new_attr", WATCH_ENOINIT, 1, cell_attr_noinit},
    {"watch_cell_new_attr", WATCH_EINVAL, 0, cell_attr_inval},
    {"watch_cell_new_attr", WATCH_EUNSTABLE, 0, cell_attr_unstable},
    {"watch_cell_new_attr", WATCH_EPYTHON, 0, cell_attr_python},
    {"watch_cell_new_attr", WATCH_EBUSY, 1, cell_attr_busy},
    {"watch_cell_get", WATCH_EINVAL, 0, cell_get_inval},
    {"watch_cell_get", WATCH_ESTALE, 0, cell_get_stale},
    {"watch_cell_get", WATCH_ENOINIT, 1, cell_get_noinit},
    {"watch_cell_get", WATCH_EPYTHON, 0, cell_get_python},
    {"watch_cell_dep", WATCH_EINVAL, 0, cell_dep_inval},
    {"watch_cell_dep", WATCH_ESTALE, 0, cell_dep_stale},
    {"watch_cell_dep", WATCH_ENOINIT, 1, cell_dep_noinit},
    {"watch_cell_dep", WATCH_EPYTHON, 0, cell_dep_python},
    {"watch_cell_dep", WATCH_EINVALIDATED, 0, cell_dep_invalidated},
    {"watch_cell_dep", WATCH_EUNSTABLE, 0, cell_dep_unstable},
    {"watch_cell_dep", WATCH_EUNWATCHABLE, 0, cell_dep_unwatchable},
    {"watch_flush", WATCH_ENOINIT, 1, flush_noinit},
    {"watch_attach_loop", WATCH_ENOINIT, 1, attach_noinit},
    {"watch_attach_loop", WATCH_EINVAL, 1, attach_inval},
    {"watch_set_debounce", WATCH_ENOINIT, 1, debounce_noinit},
    {"watch_tap_new", WATCH_ENOINIT, 1, tap_noinit},
    {"watch_tap_new", WATCH_EINVAL, 0, tap_inval},
    {"watch_tap_new", WATCH_EUNWATCHABLE, 0, tap_unwatchable},
    {"watch_tap_new_type", WATCH_ENOINIT, 1, tap_type_noinit},
    {"watch_tap_new_type", WATCH_EINVAL, 0, tap_type_inval},
    {"watch_tap_new_type", WATCH_EBUSY, 0, tap_type_busy},
    {"watch_tap_new_type", WATCH_EUNSTABLE, 0, tap_type_unstable},
    {"watch_tap_arm", WATCH_EINVAL, 0, tap_arm_inval},
    {"watch_tap_arm", WATCH_ENOINIT, 1, tap_arm_noinit},
    {"watch_dict_version", WATCH_ENOINIT, 1, version_noinit},
    {"watch_dict_version", WATCH_EINVAL, 0, version_inval},
    {"watch_dict_version", WATCH_EUNWATCHABLE, 0, version_unwatchable},
    {"watch_set_unstable_limit", WATCH_ENOINIT, 1, limit_noinit},
    {"watch_counters", WATCH_ENOINIT, 1, counters_noinit},
    {"watch_counters", WATCH_EINVAL, 0, counters_inval},
};
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

/* Documented codes that no case provokes, and why.  function NULL: every
 * function that documents the code. */
typedef struct {
  const char *function;
  int code;
  const char *why;
} exempt_t;

static const exempt_t exempt[] = {
    {NULL, WATCH_ENOMEM, "a failed allocation, which this test cannot cause"},
    {"watch_init", WATCH_EABI, "mk/suites/abi.sh (a library of another ABI)"},
    {"watch_tap_new_type", WATCH_EPYTHON,
     "a weak reference to a class fails only out of memory"},
};
#define NEXEMPT ((int)(sizeof(exempt) / sizeof(exempt[0])))

/* ------------------------------------------------------------------------ */
/* doc/c-api.md and watch.h                                                 */

#define MAX_DOCUMENTED 512
typedef struct {
  char function[64];
  int code;
} documented_t;

static documented_t documented[MAX_DOCUMENTED];
static int ndocumented;
/* The functions with an Errors: paragraph, "none" included. */
static char with_errors[128][64];
static int nwith_errors;

static int
code_of(const char *name)
{
#define XX(code, value, _)                                                    \
  if (strcmp(name, "WATCH_" #code) == 0)                                      \
    return WATCH_##code;
  WATCH_ERRNO_MAP(XX)
#undef XX
  return 0;
}

/* Reads doc/c-api.md: a heading naming `watch_x()` starts x's section; its
 * paragraph that starts "Errors:" lists x's codes (WATCH_E...), or none. */
static void
read_doc(void)
{
  FILE *f = fopen(DOC, "r");
  ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)",
                DOC);
  char line[1024], function[64] = "";
  int in_errors = 0;
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#') {
      const char *w = strstr(line, "watch_");
      const char *paren = w ? strstr(w, "()") : NULL;
      function[0] = '\0';
      if (paren != NULL && paren - w < 63) {
        memcpy(function, w, paren - w);
        function[paren - w] = '\0';
      }
      in_errors = 0;
      continue;
    }
    if (strncmp(line, "Errors:", 7) == 0 && function[0] != '\0') {
      in_errors = 1;
      ck_assert_int_lt(nwith_errors, 128);
      strcpy(with_errors[nwith_errors++], function);
    } else if (line[0] == '\n') {
      in_errors = 0;
    }
    if (!in_errors)
      continue;
    for (const char *p = line; (p = strstr(p, "WATCH_E")) != NULL;) {
      if (strncmp(p, "WATCH_EVENT_", 12) == 0) {  /* an event, not a code */
        p += 12;
        continue;
      }
      char name[32];
      int n = 0;
      while (n < 31 && (isupper((unsigned char)p[n]) || p[n] == '_'))
        name[n] = p[n], n++;
      name[n] = '\0';
      p += n;
      int code = code_of(name);
      ck_assert_msg(code != 0, "%s: %s's Errors: names %s, not a code", DOC,
                    function, name);
      int known = 0;
      for (int i = 0; i < ndocumented; i++)
        known |= documented[i].code == code
                 && strcmp(documented[i].function, function) == 0;
      if (known)
        continue;
      ck_assert_int_lt(ndocumented, MAX_DOCUMENTED);
      strcpy(documented[ndocumented].function, function);
      documented[ndocumented++].code = code;
    }
  }
  fclose(f);
}

static int
is_documented(const char *function, int code)
{
  for (int i = 0; i < ndocumented; i++)
    if (documented[i].code == code
        && strcmp(documented[i].function, function) == 0)
      return 1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

START_TEST(every_exported_function_has_its_errors_documented)
{
  read_doc();
  FILE *f = fopen(HEADER, "r");
  ck_assert_msg(f != NULL, "cannot open %s", HEADER);
  char line[1024];
  int missing = 0, exported = 0;
  while (fgets(line, sizeof(line), f)) {
    const char *w = strstr(line, "WATCH_EXTERN");
    w = w ? strstr(w, "watch_") : NULL;
    const char *paren = w ? strchr(w, '(') : NULL;
    if (paren == NULL)
      continue;
    char function[64];
    snprintf(function, sizeof(function), "%.*s", (int)(paren - w), w);
    exported++;
    int found = 0;
    for (int i = 0; i < nwith_errors; i++)
      found |= strcmp(with_errors[i], function) == 0;
    if (!found) {
      printf("%s: no section with an Errors: paragraph for %s()\n", DOC,
             function);
      missing++;
    }
  }
  fclose(f);
  ck_assert_int_gt(exported, 30);
  ck_assert_msg(missing == 0, "%d exported functions undocumented", missing);
}
END_TEST

START_TEST(every_documented_code_has_a_case)
{
  read_doc();
  int missing = 0;
  for (int i = 0; i < ndocumented; i++) {
    int found = 0;
    for (int c = 0; c < NCASES; c++)
      found |= cases[c].code == documented[i].code
               && strcmp(cases[c].function, documented[i].function) == 0;
    for (int e = 0; e < NEXEMPT; e++)
      found |= exempt[e].code == documented[i].code
               && (exempt[e].function == NULL
                   || strcmp(exempt[e].function, documented[i].function)
                          == 0);
    if (!found) {
      printf("%s() documents %s, which no case provokes\n",
             documented[i].function, watch_err_name(documented[i].code));
      missing++;
    }
  }
  ck_assert_msg(missing == 0, "%d documented codes without a case", missing);
}
END_TEST

START_TEST(every_case_is_documented)
{
  read_doc();
  int missing = 0;
  for (int c = 0; c < NCASES; c++)
    if (!is_documented(cases[c].function, cases[c].code)) {
      printf("%s() gives %s, which %s does not document\n", cases[c].function,
             watch_err_name(cases[c].code), DOC);
      missing++;
    }
  for (int e = 0; e < NEXEMPT; e++)
    if (exempt[e].function != NULL
        && !is_documented(exempt[e].function, exempt[e].code)) {
      printf("the exemption of %s() %s is not documented\n",
             exempt[e].function, watch_err_name(exempt[e].code));
      missing++;
    }
  ck_assert_msg(missing == 0, "%d cases undocumented", missing);
}
END_TEST

START_TEST(every_case_gives_its_code)
{
  const error_case_t *c = &cases[_i];
  if (!c->bare)
    ck_assert_int_eq(watch_init(), 0);
  int rc = c->provoke();
  int raised = PyErr_Occurred() != NULL;
  PyErr_Clear();
  if (!c->bare)
    watch_fini();
  watch_set_unstable_limit(WATCH_DEFAULT_UNSTABLE_LIMIT);
  if (rc == NOT_HERE) {
    printf("%s() %s: cannot happen on this interpreter\n", c->function,
           watch_err_name(c->code));
    return;
  }
  ck_assert_msg(rc == c->code, "%s() gave %s (%d), not %s", c->function,
                watch_err_name(rc), rc, watch_err_name(c->code));
  ck_assert_msg(raised == (c->code == WATCH_EPYTHON),
                "%s() %s: a Python exception is %s", c->function,
                watch_err_name(c->code), raised ? "set" : "not set");
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("errors");
  TCase *tc = harness_bare_tcase(s, "documented");
  tcase_add_test(tc, every_exported_function_has_its_errors_documented);
  tcase_add_test(tc, every_documented_code_has_a_case);
  tcase_add_test(tc, every_case_is_documented);
  tcase_add_loop_test(tc, every_case_gives_its_code, 0, NCASES);
  return s;
}
