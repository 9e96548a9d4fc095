/* bench_queue: the two phases of an invalidation, beside synchronous
 * invalidation.
 *
 * 1. 10^4 dependents on one key, each with a callback that counts.
 *      synchronous  watch_dep_invalidate() on each: flag, unlink and callback
 *                   at once, as the core library did inside the watcher;
 *      phase one    one store to the key: flags, unlinks and queues all;
 *      phase two    watch_flush(): calls the 10^4 queued callbacks.
 *    Each is given per dependent, with its ratio to synchronous.
 * 2. A burst of 10^5 writes to a key with 10 dependents: the callbacks
 *    delivered equal the dependents, not the writes.
 *
 * Every figure is the best of several rounds of this run. */
#define BENCH_NAME "bench_queue"
#include "bench.h"

#define ROUNDS 7
#define DEPENDENTS 10000

static long calls;

static void
check(int rc, const char *what)
{
  if (rc < 0)
    die(what, rc);
}

static int
count_call(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep, (void)event;
  calls++;
  return 0;
}

static void
register_all(watch_dep_t **deps, int n, PyObject *dict, PyObject *key)
{
  PyObject *value = PyDict_GetItemWithError(dict, key);
  for (int i = 0; i < n; i++) {
    check(watch_dep_new(&deps[i], count_call, NULL), "watch_dep_new");
    check(watch_dep_on_key(deps[i], dict, key, value), "watch_dep_on_key");
  }
}

static void
release_all(watch_dep_t **deps, int n)
{
  for (int i = 0; i < n; i++)
    watch_dep_release(deps[i]);
}

static double
min(double a, double b)
{
  return a < b ? a : b;
}

static void
bench_phases(void)
{
  static watch_dep_t *deps[DEPENDENTS];
  PyObject *dict = PyDict_New();
  PyObject *key = PyUnicode_InternFromString("hot");
  PyObject *values[2] = {PyLong_FromLong(100000), PyLong_FromLong(200000)};
  PyDict_SetItem(dict, key, values[0]);
  check(watch_set_unstable_limit(0), "watch_set_unstable_limit");
  double sync = 1e30, phase1 = 1e30, phase2 = 1e30;
  for (int r = 0; r < ROUNDS; r++) {
    register_all(deps, DEPENDENTS, dict, key);
    double t0 = now();
    for (int i = 0; i < DEPENDENTS; i++)
      watch_dep_invalidate(deps[i]);
    sync = min(sync, now() - t0);
    release_all(deps, DEPENDENTS);

    register_all(deps, DEPENDENTS, dict, key);
    calls = 0;
    t0 = now();
    PyDict_SetItem(dict, key, values[(r + 1) % 2]);
    double t1 = now();
    int delivered = watch_flush();
    double t2 = now();
    if (delivered != DEPENDENTS || calls != DEPENDENTS) {
      fprintf(stderr, "bench_queue: delivered %d of %d\n", delivered,
              DEPENDENTS);
      exit(1);
    }
    phase1 = min(phase1, t1 - t0);
    phase2 = min(phase2, t2 - t1);
    release_all(deps, DEPENDENTS);
  }
  check(watch_set_unstable_limit(WATCH_DEFAULT_UNSTABLE_LIMIT),
        "watch_set_unstable_limit");
  double per = 1e9 / DEPENDENTS;
  printf("1. invalidating 10^4 dependents of one key, ns per dependent\n");
  printf("   synchronous (flag, unlink, callback)  %.1f\n", sync * per);
  printf("   phase one (in the watcher)            %.1f   ratio %.2fx\n",
         phase1 * per, phase1 / sync);
  printf("   phase two (watch_flush)               %.1f   ratio %.2fx\n",
         phase2 * per, phase2 / sync);
  printf("   both phases                           %.1f   ratio %.2fx\n\n",
         (phase1 + phase2) * per, (phase1 + phase2) / sync);
  Py_DECREF(values[0]);
  Py_DECREF(values[1]);
  Py_DECREF(key);
  Py_DECREF(dict);
}

static void
bench_burst(void)
{
  enum { BURST_DEPENDENTS = 10, WRITES = 100000 };
  watch_dep_t *deps[BURST_DEPENDENTS];
  PyObject *globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyDict_SetItemString(globals, "x", Py_None);
  PyObject *key = PyUnicode_InternFromString("x");
  register_all(deps, BURST_DEPENDENTS, globals, key);
  calls = 0;
  PyObject *r = PyRun_String("for i in range(100000):\n"
                             "    x = i\n",
                             Py_file_input, globals, globals);
  if (r == NULL) {
    PyErr_Print();
    exit(1);
  }
  Py_DECREF(r);
  watch_flush();
  printf("2. a burst of %d writes to a key with %d dependents\n", WRITES,
         BURST_DEPENDENTS);
  printf("   callbacks delivered: %ld   (target: %d, the dependents)\n",
         calls, BURST_DEPENDENTS);
  release_all(deps, BURST_DEPENDENTS);
  Py_DECREF(key);
  Py_DECREF(globals);
  if (calls != BURST_DEPENDENTS)
    exit(1);
}

int
main(void)
{
  Py_Initialize();
  check(watch_init(), "watch_init");
  printf("bench_queue on CPython %s\n\n", Py_GetVersion());
  bench_phases();
  bench_burst();
  watch_fini();
  return Py_FinalizeEx() < 0 ? 1 : 0;
}
