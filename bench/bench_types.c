/* bench_types: class attributes and functions, beside their baselines.
 *
 * 1. Invalidating one class attribute with one dependent while 10^2 or 10^5
 *    dependents sit on attributes of other classes.  Each cycle registers a
 *    dependent on Hot.m, assigns Hot.m (which invalidates it) and releases
 *    it.  The ratio 10^5 / 10^2 shows whether the cost is flat.
 * 2. Creating functions with libwatch's function watcher installed and 10^4
 *    tracked functions alive, against no function watcher at all.
 *
 * Figures are the best of interleaved rounds from this one run. */
#define BENCH_NAME "bench_types"
#include "bench.h"

#define ROUNDS 5

static PyObject *globals;

static PyObject *
eval(const char *source)
{
  PyObject *r = PyRun_String(source, Py_eval_input, globals, globals);
  if (r == NULL) {
    PyErr_Print();
    exit(1);
  }
  return r;
}

static void
run(const char *source)
{
  Py_DECREF(eval(source));
}

static void
check(int rc, const char *what)
{
  if (rc < 0)
    die(what, rc);
}

/* ---- 1. class attribute invalidation ------------------------------------- */

static double
cycle_class_attr(PyObject *hot, PyObject *name, PyObject *values[2],
                 long cycles)
{
  double t0 = now();
  for (long i = 0; i < cycles; i++) {
    watch_dep_t *dep;
    PyObject *current = values[i & 1];
    check(watch_dep_new(&dep, NULL, NULL), "watch_dep_new");
    check(watch_dep_on_attr(dep, hot, name, current), "watch_dep_on_attr");
    PyObject_SetAttr(hot, name, values[(i + 1) & 1]);
    if (watch_dep_valid(dep))
      check(WATCH_EINVAL, "the assignment did not invalidate");
    watch_dep_release(dep);
  }
  return (now() - t0) / cycles * 1e9;
}

static void
bench_class_attr(void)
{
  static const long sizes[] = {100, 100000};
  double best[2];
  enum { CLASSES = 1000 };
  run("exec('class Base:\\n    def m(self): pass\\n"
      "classes = [type(\"C%d\" % i, (Base,), {\"m\": lambda self: i})"
      " for i in range(1000)]\\n"
      "class Hot(Base): pass\\n', globals())");
  PyObject *classes = eval("classes");
  PyObject *hot = eval("Hot");
  PyObject *name = PyUnicode_InternFromString("m");
  PyObject *values[2] = {eval("lambda self: 1"), eval("lambda self: 2")};
  PyObject_SetAttr(hot, name, values[0]);
  watch_set_unstable_limit(0);  /* Hot.m changes on purpose, forever */

  for (int s = 0; s < 2; s++) {
    long n = sizes[s];
    watch_dep_t **deps = malloc(n * sizeof(*deps));
    for (long i = 0; i < n; i++) {
      PyObject *cls = PyList_GET_ITEM(classes, i % CLASSES);
      PyObject *m = PyObject_GetAttr(cls, name);  /* a plain function */
      check(watch_dep_new(&deps[i], NULL, NULL), "watch_dep_new");
      check(watch_dep_on_attr(deps[i], cls, name, m), "watch_dep_on_attr");
      Py_DECREF(m);
    }
    best[s] = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
      double t = cycle_class_attr(hot, name, values, 100000);
      best[s] = t < best[s] ? t : best[s];
    }
    for (long i = 0; i < n; i++)
      watch_dep_release(deps[i]);
    free(deps);
  }
  watch_set_unstable_limit(WATCH_DEFAULT_UNSTABLE_LIMIT);
  printf("1. invalidating one class attribute with one dependent, ns per write\n"
         "   (each write: register Hot.m, assign it, invalidate, release)\n");
  printf("   with 10^2 dependents on other classes: %.1f\n", best[0]);
  printf("   with 10^5 dependents on other classes: %.1f\n", best[1]);
  printf("   ratio 10^5 / 10^2 = %.2fx   (target: flat, <= 1.20x)\n\n",
         best[1] / best[0]);
  Py_DECREF(classes);
  Py_DECREF(hot);
  Py_DECREF(name);
  Py_DECREF(values[0]);
  Py_DECREF(values[1]);
}

/* ---- 2. function creation ------------------------------------------------ */

static double
time_creation(PyObject *create, long n)
{
  PyObject *count = PyLong_FromLong(n);
  double t0 = now();
  PyObject *r = PyObject_CallOneArg(create, count);
  double t = now() - t0;
  if (r == NULL) {
    PyErr_Print();
    exit(1);
  }
  Py_DECREF(r);
  Py_DECREF(count);
  return t / n * 1e9;
}

/* The floor: what CPython charges for calling any function watcher. */
static int
noop_func_watcher(PyFunction_WatchEvent event, PyFunctionObject *func,
                  PyObject *new_value)
{
  (void)event, (void)func, (void)new_value;
  return 0;
}

static double
time_creation_with_noop_watcher(PyObject *create, long n)
{
  int id = PyFunction_AddWatcher(noop_func_watcher);
  if (id < 0) {
    PyErr_Print();
    exit(1);
  }
  double t = time_creation(create, n);
  PyFunction_ClearWatcher(id);
  return t;
}

static void
bench_function_creation(void)
{
  enum { TRACKED = 10000 };
  const long n = 2000000;
  run("exec('def create(n):\\n"
      "    for i in range(n):\\n"
      "        f = lambda: i\\n"
      "tracked = [(lambda: i) for i in range(10000)]\\n', globals())");
  PyObject *create = eval("create");
  PyObject *tracked = eval("tracked");
  watch_dep_t **deps = malloc(TRACKED * sizeof(*deps));
  double plain = 1e30, noop = 1e30, watched = 1e30;
  for (int r = 0; r < ROUNDS; r++) {
    /* watch_fini() removes the function watcher; the first function
     * dependency after watch_init() installs it again. */
    watch_fini();
    check(watch_init(), "watch_init");
    double t = time_creation(create, n);
    plain = t < plain ? t : plain;
    t = time_creation_with_noop_watcher(create, n);
    noop = t < noop ? t : noop;
    for (long i = 0; i < TRACKED; i++) {
      check(watch_dep_new(&deps[i], NULL, NULL), "watch_dep_new");
      check(watch_dep_on_function(deps[i], PyList_GET_ITEM(tracked, i)),
            "watch_dep_on_function");
    }
    t = time_creation(create, n);
    watched = t < watched ? t : watched;
    for (long i = 0; i < TRACKED; i++)
      watch_dep_release(deps[i]);
  }
  free(deps);
  printf("2. creating a function (f = lambda: i), ns\n");
  printf("   no function watcher %.1f, a no-op watcher %.1f, libwatch's with"
         " 10^4 tracked %.1f\n", plain, noop, watched);
  printf("   ratio libwatch / none = %.3fx   (target <= 1.05x)\n",
         watched / plain);
  printf("   ratio no-op / none    = %.3fx   (CPython's floor)\n",
         noop / plain);
  printf("   ratio libwatch / no-op = %.3fx\n", watched / noop);
  Py_DECREF(create);
  Py_DECREF(tracked);
}

int
main(void)
{
  Py_Initialize();
  check(watch_init(), "watch_init");
  globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  printf("bench_types on CPython %s\n\n", Py_GetVersion());
  bench_class_attr();
  bench_function_creation();
  Py_DECREF(globals);
  watch_fini();
  return Py_FinalizeEx() < 0 ? 1 : 0;
}
