/* demo: an "optimizer" that compiled a function assuming what `len` and
 * `DEBUG` are, and learns the moment either assumption breaks.
 *
 * It embeds CPython, defines a module with a function
 *
 *     DEBUG = False
 *     def f(s): return len(s) if not DEBUG else -1
 *
 * registers one dependent for "f's compiled code", then shadows `len` and
 * flips DEBUG from Python, printing what libwatch reports each time. */
#include <watch.h>

#include <stdio.h>
#include <stdlib.h>

static const char *source =
    "DEBUG = False\n"
    "def f(s):\n"
    "    return len(s) if not DEBUG else -1\n";

static int
on_invalidated(watch_dep_t *dep, const watch_event_t *event)
{
  const char *what = watch_dep_data(dep);
  PyObject *key = event->key;
  printf("  invalidated %s: %s of %s\n", what, watch_event_name(event->kind),
         key && PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : "(whole)");
  return 0;
}

static void
check(int rc, const char *what)
{
  if (rc < 0) {
    fprintf(stderr, "%s: %s (%s)\n", what, watch_strerror(rc),
            watch_err_name(rc));
    if (PyErr_Occurred())
      PyErr_Print();
    exit(1);
  }
}

/* Depends on everything f's compiled code assumed: LOAD_GLOBAL len and
 * LOAD_GLOBAL DEBUG, each with the value it saw. */
static watch_dep_t *
compile_f(PyObject *globals, PyObject *builtins, const char *label)
{
  watch_dep_t *dep;
  check(watch_dep_new(&dep, on_invalidated, (void *)label), "watch_dep_new");
  const char *names[] = {"len", "DEBUG"};
  for (int i = 0; i < 2; i++) {
    PyObject *name = PyUnicode_InternFromString(names[i]);
    PyObject *value = PyDict_GetItemWithError(globals, name);
    if (value == NULL)
      value = PyDict_GetItemWithError(builtins, name);
    check(watch_dep_on_global(dep, globals, builtins, name, value),
          "watch_dep_on_global");
    Py_DECREF(name);
  }
  printf("compiled %s: valid=%d\n", label, watch_dep_valid(dep));
  return dep;
}

static void
run(PyObject *globals, const char *code)
{
  printf(">>> %s\n", code);
  PyObject *result = PyRun_String(code, Py_file_input, globals, globals);
  if (result == NULL) {
    PyErr_Print();
    exit(1);
  }
  Py_DECREF(result);
  /* The dependent turned invalid during the store; its callback runs at a
   * safe point after it.  An embedder can choose that point: here, after
   * each statement. */
  check(watch_flush(), "watch_flush");
}

int
main(void)
{
  Py_Initialize();
  check(watch_init(), "watch_init");

  PyObject *module = PyImport_AddModule("app");  /* borrowed */
  PyObject *globals = PyModule_GetDict(module);  /* borrowed */
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  run(globals, source);
  PyObject *builtins = PyEval_GetBuiltins();

  watch_dep_t *dep = compile_f(globals, builtins, "f#1");
  run(globals, "x = 1");
  printf("an unrelated global: f#1 valid=%d\n", watch_dep_valid(dep));
  run(globals, "len = lambda s: 0");
  printf("after shadowing len: f#1 valid=%d\n", watch_dep_valid(dep));
  watch_dep_release(dep);

  dep = compile_f(globals, builtins, "f#2");
  run(globals, "DEBUG = True");
  printf("after DEBUG = True: f#2 valid=%d\n", watch_dep_valid(dep));
  watch_dep_release(dep);

  watch_counters_t c;
  check(watch_counters(&c), "watch_counters");
  printf("events=%llu misses=%llu invalidations=%llu dependents=%llu "
         "edges=%llu\n",
         (unsigned long long)c.events, (unsigned long long)c.misses,
         (unsigned long long)c.invalidations,
         (unsigned long long)c.dependents, (unsigned long long)c.edges);
  watch_fini();
  return Py_FinalizeEx() < 0 ? 1 : 0;
}
