/* bench_cell: what a cell read costs, beside what it replaces.
 *
 * 1. watch_cell_value() against loading a PyObject * from memory, in the
 *    same C loop.  A compiler barrier after each load makes the compiler
 *    load again every iteration, on both sides alike.
 * 2. One read of a module global, ns per read: the cell; PyDict_GetItem()
 *    on the module's dict; PyObject_GetAttr() on the module; and CPython's
 *    own LOAD_GLOBAL, in a Python loop reading the global ten times per
 *    iteration: the loop's time over ten, and that time less the same loop
 *    reading a local (LOAD_FAST), which is what LOAD_GLOBAL adds.
 *
 * Each figure is the best of interleaved rounds from this one run. */
#define BENCH_NAME "bench_cell"
#include "bench.h"

#include <stdint.h>

#define ROUNDS 21

/* Forces every load after it to read memory again. */
#define BARRIER() __asm__ volatile("" ::: "memory")

/* The two loops differ in their load alone. */
static __attribute__((noinline)) double
time_cell_reads(const watch_cell_t *cell, long n, uintptr_t *sink)
{
  uintptr_t acc = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    acc += (uintptr_t)watch_cell_value(cell);
    BARRIER();
  }
  double t = now() - t0;
  *sink += acc;
  return t / n * 1e9;
}

static __attribute__((noinline)) double
time_plain_loads(PyObject *const *slot, long n, uintptr_t *sink)
{
  uintptr_t acc = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    acc += (uintptr_t)*slot;
    BARRIER();
  }
  double t = now() - t0;
  *sink += acc;
  return t / n * 1e9;
}

static __attribute__((noinline)) double
time_getitem(PyObject *dict, PyObject *name, long n, uintptr_t *sink)
{
  uintptr_t acc = 0;
  double t0 = now();
  for (long i = 0; i < n; i++)
    acc += (uintptr_t)PyDict_GetItem(dict, name);
  double t = now() - t0;
  *sink += acc;
  return t / n * 1e9;
}

static __attribute__((noinline)) double
time_getattr(PyObject *module, PyObject *name, long n, uintptr_t *sink)
{
  uintptr_t acc = 0;
  double t0 = now();
  for (long i = 0; i < n; i++) {
    PyObject *v = PyObject_GetAttr(module, name);
    acc += (uintptr_t)v;
    Py_DECREF(v);
  }
  double t = now() - t0;
  *sink += acc;
  return t / n * 1e9;
}

/* ns per call of f(n), per iteration of its loop. */
static double
time_python(PyObject *f, long n)
{
  PyObject *count = PyLong_FromLong(n);
  double t0 = now();
  PyObject *r = PyObject_CallOneArg(f, count);
  double t = now() - t0;
  if (r == NULL)
    die("a Python loop", WATCH_EPYTHON);
  Py_DECREF(r);
  Py_DECREF(count);
  return t / n * 1e9;
}

int
main(void)
{
  Py_Initialize();
  int rc = watch_init();
  if (rc < 0)
    die("watch_init", rc);
  printf("bench_cell on CPython %s\n\n", Py_GetVersion());

  /* A module with a global g, and the two loops LOAD_GLOBAL is timed by. */
  PyObject *module = PyImport_AddModule("bench_cell_module");
  PyObject *globals = PyModule_GetDict(module);
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject *r = PyRun_String(
      "g = object()\n"
      "def read_global(n):\n"
      "    for _ in range(n):\n"
      "        g; g; g; g; g; g; g; g; g; g\n"
      "def read_local(n):\n"
      "    l = g\n"
      "    for _ in range(n):\n"
      "        l; l; l; l; l; l; l; l; l; l\n",
      Py_file_input, globals, globals);
  if (r == NULL)
    die("the module", WATCH_EPYTHON);
  Py_DECREF(r);
  PyObject *read_global = PyDict_GetItemString(globals, "read_global");
  PyObject *read_local = PyDict_GetItemString(globals, "read_local");
  PyObject *name = PyUnicode_InternFromString("g");
  watch_cell_t *cell;
  rc = watch_cell_new_global(&cell, globals, PyEval_GetBuiltins(), name);
  if (rc < 0)
    die("watch_cell_new_global", rc);
  PyObject *value = watch_cell_value(cell);
  if (value == NULL || value != PyDict_GetItem(globals, name))
    die("the cell does not read g", WATCH_ESTALE);
  PyObject *slot = value;

  uintptr_t sink = 0;
  const long loads = 20000000, reads = 2000000, loops = 500000;
  double cell_t = 1e30, plain_t = 1e30, getitem_t = 1e30, getattr_t = 1e30;
  double global_t = 1e30, local_t = 1e30;
  for (int round = 0; round < ROUNDS; round++) {
    /* The loads are the shortest figures: more pairs per round. */
    for (int pair = 0; pair < 4; pair++) {
      cell_t = best(cell_t, time_cell_reads(cell, loads, &sink));
      plain_t = best(plain_t, time_plain_loads(&slot, loads, &sink));
    }
    getitem_t = best(getitem_t, time_getitem(globals, name, reads, &sink));
    getattr_t = best(getattr_t, time_getattr(module, name, reads, &sink));
    global_t = best(global_t, time_python(read_global, loops));
    local_t = best(local_t, time_python(read_local, loops));
  }
  double load_global = (global_t - local_t) / 10;

  printf("1. one read in a C loop, ns (a barrier after each load)\n");
  printf("   plain pointer load %.3f, watch_cell_value() %.3f\n", plain_t,
         cell_t);
  printf("   cell read / plain load = %.3fx   (target <= 1.05x)\n\n",
         cell_t / plain_t);
  printf("2. one read of a module global, ns per read\n");
  printf("   %-28s %8.2f\n", "watch_cell_value()", cell_t);
  printf("   %-28s %8.2f   (%.1fx the cell)\n", "PyDict_GetItem()",
         getitem_t, getitem_t / cell_t);
  printf("   %-28s %8.2f   (%.1fx the cell)\n", "PyObject_GetAttr()",
         getattr_t, getattr_t / cell_t);
  printf("   %-28s %8.2f   (%.1fx the cell; a Python loop of ten reads)\n",
         "LOAD_GLOBAL", global_t / 10, global_t / 10 / cell_t);
  printf("   %-28s %8.2f   (%.1fx the cell; the same less ten LOAD_FAST)\n",
         "LOAD_GLOBAL beyond LOAD_FAST", load_global, load_global / cell_t);
  /* Keeps the loops' results alive. */
  if (sink == 42)
    printf("\n");

  watch_cell_free(cell);
  Py_DECREF(name);
  watch_fini();
  return Py_FinalizeEx() < 0 ? 1 : 0;
}
