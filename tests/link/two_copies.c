/* Two copies of libwatch in one process share an interpreter's state: this
 * program links libwatch.so and imports pywatch, whose extension carries a
 * copy of its own, linked statically and exported to no one
 * (mk/suites/symbols.sh).  Whichever copy starts first owns the
 * interpreter's dict watcher, and whichever registers the first function
 * dependency (pywatch's here) its function watcher; a dependent registered
 * through either copy is invalidated by what they see, and both copies
 * count it in one index.
 *
 *   two_copies so-first        watch_init() here first, then import pywatch
 *   two_copies pywatch-first   the other way round
 *
 * Needs PYTHONPATH to reach the pywatch built beside this libwatch.so.
 * Prints "N passed, N failed". */
#define _GNU_SOURCE
#include "watch.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;
static PyObject *g;  /* the namespace the Python side runs in */
static int c_calls;

static void
check(int ok, const char *what)
{
  printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (ok)
    passed++;
  else
    failed++;
}

static int
run(const char *src)
{
  PyObject *r = PyRun_String(src, Py_file_input, g, g);
  if (r == NULL) {
    PyErr_Print();
    return -1;
  }
  Py_DECREF(r);
  return 0;
}

static int
truth(const char *expr)
{
  PyObject *r = PyRun_String(expr, Py_eval_input, g, g);
  int t = r ? PyObject_IsTrue(r) : -1;
  if (r == NULL)
    PyErr_Print();
  Py_XDECREF(r);
  return t == 1;
}

static int
called(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep, (void)event;
  c_calls++;
  return 0;
}

static uint64_t
dependents(void)
{
  watch_counters_t c;
  return watch_counters(&c) == 0 ? c.dependents : (uint64_t)-1;
}

/* A C dependent, through libwatch.so: on g[dict_name][key] if key is not
 * NULL, else on the function g[name]. */
static watch_dep_t *
c_dependent(const char *name, const char *key)
{
  watch_dep_t *dep;
  if (watch_dep_new(&dep, called, NULL) < 0)
    return NULL;
  PyObject *ns = PyDict_GetItemString(g, name);
  PyObject *k = key ? PyUnicode_FromString(key) : NULL;
  int rc = WATCH_EINVAL;
  if (ns != NULL && k != NULL)
    rc = watch_dep_on_key(dep, ns, k, PyDict_GetItem(ns, k));
  else if (ns != NULL && key == NULL)
    rc = watch_dep_on_function(dep, ns);
  Py_XDECREF(k);
  if (rc < 0) {
    printf("registering through libwatch.so: %s\n", watch_strerror(rc));
    watch_dep_release(dep);
    return NULL;
  }
  return dep;
}

static int
import_pywatch(void)
{
  return run("import pywatch\n"
             "seen = []\n"
             "def record(dep, ev): seen.append(ev.kind)\n");
}

int
main(int argc, char **argv)
{
  int so_first = argc == 2 && strcmp(argv[1], "so-first") == 0;
  if (argc != 2 || (!so_first && strcmp(argv[1], "pywatch-first") != 0)) {
    fprintf(stderr, "usage: %s so-first|pywatch-first\n", argv[0]);
    return 2;
  }
  Py_InitializeEx(0);
  g = PyDict_New();
  PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins());

  Dl_info where;
  check(dladdr((void *)watch_init, &where)
            && strstr(where.dli_fname, "/libwatch-") != NULL
            && strstr(where.dli_fname, ".so.") != NULL,
        "this program's watch_init() is libwatch.so's");
  if (so_first) {
    check(watch_init() == 0, "watch_init() through libwatch.so, first");
    check(import_pywatch() == 0, "import pywatch, second");
  } else {
    check(import_pywatch() == 0, "import pywatch, first");
    check(watch_init() == 0, "watch_init() through libwatch.so, second");
  }

  uint64_t before = dependents();
  check(run("d = {'x': 1, 'y': 1}\n"
            "def f(): return 1\n"
            "def f2(): return 2\n"
            "pd = pywatch.Dependent(record)\n"
            "pd.depends_on(d, 'x')\n"
            "pd.depends_on_function(f)\n") == 0,
        "a dependent through pywatch's copy on d['x'] and f");
  watch_dep_t *cd1 = c_dependent("d", "y");
  watch_dep_t *cd2 = c_dependent("f", NULL);
  check(cd1 && cd2, "dependents through libwatch.so on d['y'], and on f");
  check(dependents() == before + 3,
        "libwatch.so counts pywatch's dependent too: one index");

  check(run("d['x'] = 2") == 0 && truth("not pd.valid") && cd1
            && watch_dep_valid(cd1) && cd2 && watch_dep_valid(cd2),
        "d['x'] = 2 invalidates pywatch's dependent alone");
  check(run("d['y'] = 2") == 0 && cd1 && !watch_dep_valid(cd1),
        "d['y'] = 2 invalidates libwatch.so's");
  check(run("f.__code__ = f2.__code__") == 0 && cd2 && !watch_dep_valid(cd2),
        "f.__code__ = ... invalidates libwatch.so's dependent on f");
  /* Some may have run already, at a safe point of the code above. */
  watch_flush();
  check(c_calls == 2 && truth("seen == ['modified']"),
        "the callbacks of both copies' dependents ran");

  watch_dep_release(cd1);
  watch_dep_release(cd2);
  check(run("pd.release()") == 0 && dependents() == before,
        "released through either copy, from one index");
  watch_fini();
  Py_DECREF(g);
  /* pywatch's atexit handler runs the last watch_fini(). */
  if (Py_FinalizeEx() < 0)
    failed++;
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
