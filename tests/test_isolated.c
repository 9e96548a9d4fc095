/* Isolated subinterpreters (PEP 684): each has its own GIL, so several run
 * libwatch at the same time, beside the main interpreter.  Each keeps its
 * own state; nothing one does reaches another's dependents, callbacks or
 * counters.
 *
 * Worker threads cannot use check's assertions (they longjmp to the
 * runner), so each records the first thing that went wrong, and the main
 * thread asserts on it after joining.  Every object a worker uses is made
 * in its own interpreter. */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>
#include <stdatomic.h>

/* Memcheck runs one thread at a time, some fifty times slower: it looks
 * for memory errors, which a tenth of the rounds reaches by the same
 * paths. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SCALE (RUNNING_ON_VALGRIND ? 10 : 1)
#else
#define SCALE 1
#endif

#define WORKERS 4
#define ROUNDS (2000 / SCALE)  /* per interpreter */
#define KEYS 8
#define BIG 1000000  /* past the cached small ints */

/* One interpreter's work: what it runs on, and what went wrong. */
struct work {
  PyInterpreterState *interp;
  PyObject *g;          /* a namespace: f, f_fast, a_global, m, S, n */
  PyObject *m, *mdict, *n, *f, *f_code, *f_fast_code, *cls[2];
  PyObject *keys[KEYS];
  PyObject *a_global, *a_name, *x_name;
  long rounds;          /* rounds done */
  long foreign;         /* callbacks run in another interpreter */
  char failure[512];
};

/* The first failure only: the later ones follow from it. */
static void
work_fail(struct work *w, const char *fmt, ...)
{
  if (w->failure[0] != '\0')
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->failure, sizeof w->failure, fmt, ap);
  va_end(ap);
  if (PyErr_Occurred()) {
    size_t len = strlen(w->failure);
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *text = PyObject_Str(exc);
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    snprintf(w->failure + len, sizeof w->failure - len, ": %s",
             s ? s : "(an exception)");
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(exc);
  }
}

#define CHECK(w, cond, ...)                                                   \
  do {                                                                        \
    if (!(cond)) {                                                            \
      work_fail((w), __VA_ARGS__);                                            \
      return -1;                                                              \
    }                                                                         \
  } while (0)

#define WORK_SRC                                                              \
  "import types\n"                                                            \
  "class S(types.ModuleType):\n"                                              \
  "    pass\n"                                                                \
  "m = types.ModuleType('m')\n"                                               \
  "m.a = object()\n"                                                          \
  "for i in range(8):\n"                                                      \
  "    setattr(m, 'k%d' % i, i)\n"                                            \
  "n = {'x': 0}\n"                                                            \
  "a_global = 1\n"                                                            \
  "def f(x):\n"                                                               \
  "    return x + a_global\n"                                                 \
  "def f_fast(x):\n"                                                          \
  "    return -x\n"

static PyObject *
work_item(struct work *w, const char *name)
{
  PyObject *v = PyDict_GetItemString(w->g, name);
  if (v == NULL)
    work_fail(w, "no %s in the namespace", name);
  return v;
}

/* Everything made here belongs to the running interpreter. */
static int
work_setup(struct work *w)
{
  w->interp = PyInterpreterState_Get();
  /* Thousands of writes to a few keys, each depended on again. */
  CHECK(w, watch_set_unstable_limit(0) == 0, "watch_set_unstable_limit");
  w->g = PyDict_New();
  CHECK(w, w->g != NULL, "PyDict_New");
  CHECK(w, PyDict_SetItemString(w->g, "__builtins__", PyEval_GetBuiltins())
               == 0,
        "__builtins__");
  PyObject *r = PyRun_String(WORK_SRC, Py_file_input, w->g, w->g);
  CHECK(w, r != NULL, "running the setup");
  Py_DECREF(r);
  w->m = work_item(w, "m");
  w->n = work_item(w, "n");
  w->f = work_item(w, "f");
  w->cls[0] = work_item(w, "S");
  PyObject *fast = work_item(w, "f_fast");
  CHECK(w, w->m && w->n && w->f && w->cls[0] && fast, "setup");
  w->cls[1] = (PyObject *)Py_TYPE(w->m);
  w->mdict = PyModule_GetDict(w->m);
  w->f_code = PyFunction_GetCode(w->f);
  w->f_fast_code = PyFunction_GetCode(fast);
  for (int i = 0; i < KEYS; i++) {
    w->keys[i] = PyUnicode_FromFormat("k%d", i);
    CHECK(w, w->keys[i] != NULL, "a key");
    PyUnicode_InternInPlace(&w->keys[i]);
  }
  w->a_global = PyUnicode_InternFromString("a_global");
  w->a_name = PyUnicode_InternFromString("a");
  w->x_name = PyUnicode_InternFromString("x");
  CHECK(w, w->a_global && w->a_name && w->x_name, "names");
  return 0;
}

static void
work_clear(struct work *w)
{
  for (int i = 0; i < KEYS; i++)
    Py_CLEAR(w->keys[i]);
  Py_CLEAR(w->a_global);
  Py_CLEAR(w->a_name);
  Py_CLEAR(w->x_name);
  Py_CLEAR(w->g);
}

/* What a dependent's callback saw. */
struct seen {
  struct work *w;
  int calls;
  watch_event_kind_t kind;
};

static int
seen_cb(watch_dep_t *dep, const watch_event_t *event)
{
  struct seen *s = watch_dep_data(dep);
  if (PyInterpreterState_Get() != s->w->interp)
    s->w->foreign++;
  s->calls++;
  s->kind = event->kind;
  return 0;
}

enum { ON_KEY, ON_GLOBAL, ON_ATTR, ON_NAMESPACE, SPECIALIZED, DEPS };
static const char *const dep_names[DEPS] = {"key", "global", "attr",
                                            "namespace", "specialized"};

static int
call_f(struct work *w, long x, long *out)
{
  PyObject *arg = PyLong_FromLong(x);
  PyObject *r = arg ? PyObject_CallOneArg(w->f, arg) : NULL;
  Py_XDECREF(arg);
  CHECK(w, r != NULL, "calling f");
  *out = PyLong_AsLong(r);
  Py_DECREF(r);
  return 0;
}

/* One round: five dependents, one write that breaks exactly one kind of
 * assumption, the exact callbacks and counts, all released.  Round i
 * writes one of four ways: a key of the module dict, a global that a
 * specialized function depends on, the module's __class__, another dict. */
static int
round_body(struct work *w, long i, struct seen *seen, watch_dep_t **deps,
           const watch_counters_t *before)
{
  watch_counters_t after;
  for (int d = 0; d < DEPS; d++) {
    seen[d].w = w;
    CHECK(w, watch_dep_new(&deps[d], seen_cb, &seen[d]) == 0, "dep_new");
  }
  PyObject *key = w->keys[i % KEYS];
  PyObject *builtins = PyEval_GetBuiltins();
  PyObject *value = PyDict_GetItemWithError(w->mdict, key);
  PyObject *global = PyDict_GetItemWithError(w->g, w->a_global);
  PyObject *attr = PyDict_GetItemWithError(w->mdict, w->a_name);
  CHECK(w, value && global && attr, "reading the namespaces");
  int rc;
  CHECK(w, (rc = watch_dep_on_key(deps[ON_KEY], w->mdict, key, value)) == 0,
        "on_key: %d", rc);
  CHECK(w, (rc = watch_dep_on_global(deps[ON_GLOBAL], w->g, builtins,
                                     w->a_global, global)) == 0,
        "on_global: %d", rc);
  CHECK(w, (rc = watch_dep_on_attr(deps[ON_ATTR], w->m, w->a_name, attr))
               == 0,
        "on_attr: %d", rc);
  CHECK(w, (rc = watch_dep_on_namespace(deps[ON_NAMESPACE], w->n)) == 0,
        "on_namespace: %d", rc);
  CHECK(w, (rc = watch_dep_on_global(deps[SPECIALIZED], w->g, builtins,
                                     w->a_global, global)) == 0,
        "specialized on_global: %d", rc);
  CHECK(w, (rc = watch_specialize(deps[SPECIALIZED], w->f, w->f_fast_code))
               == 0,
        "watch_specialize: %d", rc);
  long r;
  if (call_f(w, 5, &r) < 0)
    return -1;
  CHECK(w, r == -5, "the specialized f gave %ld", r);

  int hit[DEPS] = {0};
  watch_event_kind_t kind = WATCH_EVENT_MODIFIED;
  /* A new object: storing the one already bound changes nothing. */
  PyObject *now = PyLong_FromLong(BIG + i);
  CHECK(w, now != NULL, "an int");
  switch (i % 4) {
  case 0:
    rc = PyDict_SetItem(w->mdict, key, now);
    hit[ON_KEY] = 1;
    break;
  case 1:
    rc = PyDict_SetItem(w->g, w->a_global, now);
    hit[ON_GLOBAL] = hit[SPECIALIZED] = 1;
    break;
  case 2:
    rc = PyObject_SetAttrString(w->m, "__class__", w->cls[(i / 4) % 2]);
    hit[ON_ATTR] = 1;
    kind = WATCH_EVENT_TYPE;
    break;
  default:
    rc = PyDict_SetItem(w->n, w->x_name, now);
    hit[ON_NAMESPACE] = 1;
  }
  Py_DECREF(now);
  CHECK(w, rc == 0, "round %ld: the write", i);
  /* Phase one: invalid before the write returned. */
  for (int d = 0; d < DEPS; d++)
    CHECK(w, watch_dep_valid(deps[d]) == !hit[d],
          "round %ld: the %s dependent is %s", i, dep_names[d],
          hit[d] ? "still valid" : "invalidated");
  if (hit[SPECIALIZED]) {
    PyObject *code;
    CHECK(w, watch_specialized(w->f, &code) == 0 && code == NULL,
          "round %ld: f still specialized", i);
    CHECK(w, PyFunction_GetCode(w->f) == w->f_code,
          "round %ld: f has not its own code back", i);
    if (call_f(w, 5, &r) < 0)
      return -1;
    CHECK(w, r == 5 + BIG + i, "round %ld: the deoptimized f gave %ld", i, r);
  }
  /* Phase two: one call each, for the invalidated ones only. */
  CHECK(w, watch_flush() >= 0, "watch_flush");
  for (int d = 0; d < DEPS; d++) {
    CHECK(w, seen[d].calls == hit[d], "round %ld: the %s dependent called %d times",
          i, dep_names[d], seen[d].calls);
    CHECK(w, !hit[d] || seen[d].kind == kind,
          "round %ld: the %s dependent told %s", i, dep_names[d],
          watch_event_name(seen[d].kind));
  }
  int hits = 0;
  for (int d = 0; d < DEPS; d++)
    hits += hit[d];
  CHECK(w, watch_counters(&after) == 0, "watch_counters");
  CHECK(w, after.invalidations - before->invalidations == (uint64_t)hits,
        "round %ld: %llu invalidations, expected %d", i,
        (unsigned long long)(after.invalidations - before->invalidations),
        hits);
  CHECK(w, after.dependents - before->dependents == DEPS,
        "round %ld: %llu dependents", i,
        (unsigned long long)(after.dependents - before->dependents));
  return 0;
}

/* The dependents are released whatever happened: their callbacks point
 * into this frame. */
static int
work_round(struct work *w, long i)
{
  watch_counters_t before, after;
  CHECK(w, watch_counters(&before) == 0, "watch_counters");
  struct seen seen[DEPS];
  watch_dep_t *deps[DEPS] = {NULL};
  memset(seen, 0, sizeof seen);
  int rc = round_body(w, i, seen, deps, &before);
  for (int d = 0; d < DEPS; d++)
    watch_dep_release(deps[d]);
  if (rc < 0)
    return rc;
  CHECK(w, PyFunction_GetCode(w->f) == w->f_code,
        "round %ld: f has not its own code back after the release", i);
  CHECK(w, watch_counters(&after) == 0, "watch_counters");
  CHECK(w, after.dependents == before.dependents && after.edges == 0,
        "round %ld: %llu dependents and %llu edges left", i,
        (unsigned long long)after.dependents,
        (unsigned long long)after.edges);
  w->rounds++;
  return 0;
}

/* Rounds until at least min are done and *stop is set (NULL: min). */
static void
work_run(struct work *w, long min, atomic_int *stop)
{
  if (work_setup(w) < 0) {
    work_clear(w);
    return;
  }
  for (long i = 0; i < min || (stop && !atomic_load(stop)); i++)
    if (work_round(w, i) < 0)
      break;
  if (w->foreign && !w->failure[0])
    work_fail(w, "%ld callbacks ran in another interpreter", w->foreign);
  work_clear(w);
}

/* ---- isolated interpreters in threads ------------------------------------ */

static PyThreadState *
new_isolated(char *failure, size_t size)
{
  PyInterpreterConfig config = {
      .use_main_obmalloc = 0,
      .allow_fork = 0,
      .allow_exec = 0,
      .allow_threads = 1,
      .allow_daemon_threads = 0,
      .check_multi_interp_extensions = 1,
      .gil = PyInterpreterConfig_OWN_GIL,
  };
  PyThreadState *ts = NULL;
  PyStatus status = Py_NewInterpreterFromConfig(&ts, &config);
  if (PyStatus_Exception(status)) {
    snprintf(failure, size, "Py_NewInterpreterFromConfig: %s",
             status.err_msg ? status.err_msg : "failed");
    return NULL;
  }
  return ts;
}

struct worker {
  pthread_t thread;
  struct work work;
  long min;             /* rounds */
  atomic_int *stop;     /* and then until this is set, if not NULL */
  int fini;             /* watch_fini() before ending the interpreter */
};

static void *
worker_main(void *arg)
{
  struct worker *k = arg;
  struct work *w = &k->work;
  PyThreadState *ts = new_isolated(w->failure, sizeof w->failure);
  if (ts == NULL)
    return NULL;
  int rc = watch_init();
  if (rc != 0)
    work_fail(w, "watch_init() = %d", rc);
  else
    work_run(w, k->min, k->stop);
  if (rc == 0 && k->fini)
    watch_fini();
  /* Otherwise the interpreter's teardown finalizes libwatch. */
  Py_EndInterpreter(ts);
  return NULL;
}

static void
start_worker(struct worker *k)
{
  ck_assert_int_eq(pthread_create(&k->thread, NULL, worker_main, k), 0);
}

/* Joins without the main GIL, which the workers never need, but an
 * interpreter's creation or teardown may wait on a thread that does. */
static void
join_worker(struct worker *k)
{
  Py_BEGIN_ALLOW_THREADS
  pthread_join(k->thread, NULL);
  Py_END_ALLOW_THREADS
}

static void
assert_worked(const char *who, struct work *w, long rounds)
{
  ck_assert_msg(w->failure[0] == '\0', "%s: %s", who, w->failure);
  ck_assert_msg(w->rounds >= rounds, "%s: %ld rounds, expected %ld", who,
                w->rounds, rounds);
}

START_TEST(four_isolated_interpreters_and_the_main_one_work_at_once)
{
  static struct worker workers[WORKERS];
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < WORKERS; i++) {
    workers[i].min = ROUNDS;
    workers[i].fini = i % 2;
    start_worker(&workers[i]);
  }
  struct work main_work;
  memset(&main_work, 0, sizeof main_work);
  work_run(&main_work, ROUNDS, NULL);
  for (int i = 0; i < WORKERS; i++)
    join_worker(&workers[i]);

  assert_worked("main", &main_work, ROUNDS);
  for (int i = 0; i < WORKERS; i++)
    assert_worked("worker", &workers[i].work, ROUNDS);
  /* The main interpreter's state saw its own dependents only. */
  ASSERT_COUNTER(dependents, ==, 0);
  ASSERT_COUNTER(edges, ==, 0);
}
END_TEST

/* Interpreters are created and destroyed, with libwatch running in them,
 * while two others and the main one go on. */
#define CHURN (40 / SCALE)

struct churn {
  pthread_t thread;
  atomic_int done;
  int made;
  char failure[512];
};

static void *
churn_main(void *arg)
{
  struct churn *c = arg;
  for (int i = 0; i < CHURN && c->failure[0] == '\0'; i++) {
    struct worker k;
    memset(&k, 0, sizeof k);
    k.min = 20;
    k.fini = i % 2;
    worker_main(&k);
    if (k.work.failure[0] != '\0' || k.work.rounds != k.min)
      snprintf(c->failure, sizeof c->failure, "interpreter %d: %.400s (%ld rounds)",
               i, k.work.failure, k.work.rounds);
    c->made++;
  }
  atomic_store(&c->done, 1);
  return NULL;
}

START_TEST(interpreters_come_and_go_while_others_work)
{
  static struct worker workers[2];
  static struct churn churn;
  memset(workers, 0, sizeof workers);
  memset(&churn, 0, sizeof churn);
  for (int i = 0; i < 2; i++) {
    workers[i].min = ROUNDS / 4;
    workers[i].stop = &churn.done;
    start_worker(&workers[i]);
  }
  ck_assert_int_eq(pthread_create(&churn.thread, NULL, churn_main, &churn), 0);
  struct work main_work;
  memset(&main_work, 0, sizeof main_work);
  work_run(&main_work, ROUNDS / 4, &churn.done);
  Py_BEGIN_ALLOW_THREADS
  pthread_join(churn.thread, NULL);
  Py_END_ALLOW_THREADS
  for (int i = 0; i < 2; i++)
    join_worker(&workers[i]);

  ck_assert_msg(churn.failure[0] == '\0', "%s", churn.failure);
  ck_assert_int_eq(churn.made, CHURN);
  assert_worked("main", &main_work, ROUNDS / 4);
  for (int i = 0; i < 2; i++)
    assert_worked("worker", &workers[i].work, ROUNDS / 4);
  ASSERT_COUNTER(dependents, ==, 0);
}
END_TEST

/* ---- the audit hook is each interpreter's own ---------------------------- */

/* The repro: an isolated interpreter that never started libwatch
 * swaps a module's class over and over, while the main one registers
 * module attribute dependents.  A process-wide hook ran there and read the
 * main interpreter's index without its GIL. */
#define SWAPS_SRC                                                             \
  "import types\n"                                                            \
  "class S(types.ModuleType):\n"                                              \
  "    pass\n"                                                                \
  "m = types.ModuleType('m')\n"                                               \
  "def swap(n):\n"                                                            \
  "    for i in range(n):\n"                                                  \
  "        m.__class__ = S\n"                                                 \
  "        m.__class__ = types.ModuleType\n"

struct swapper {
  pthread_t thread;
  atomic_int started, stop;
  int init;             /* start libwatch there, with a dependent of its own */
  long swaps;
  char failure[512];
};

static void *
swapper_main(void *arg)
{
  struct swapper *s = arg;
  PyThreadState *ts = new_isolated(s->failure, sizeof s->failure);
  if (ts == NULL) {
    atomic_store(&s->started, 1);
    return NULL;
  }
  struct work w;
  memset(&w, 0, sizeof w);
  watch_dep_t *dep = NULL;
  PyObject *g = PyDict_New();
  PyObject *r = g ? PyRun_String(SWAPS_SRC, Py_file_input, g, g) : NULL;
  Py_XDECREF(r);
  PyObject *swap = r ? PyDict_GetItemString(g, "swap") : NULL;
  PyObject *m = r ? PyDict_GetItemString(g, "m") : NULL;
  PyObject *chunk = PyLong_FromLong(500);
  if (swap == NULL || chunk == NULL)
    work_fail(&w, "the swapper's setup");
  if (s->init && w.failure[0] == '\0') {
    /* Its own dependent, invalidated by its first swap. */
    int rc = watch_init();
    if (rc == 0)
      rc = watch_dep_new(&dep, NULL, NULL);
    PyObject *name = PyUnicode_InternFromString("__name__");
    if (rc == 0)
      rc = name ? watch_dep_on_attr(dep, m, name,
                                    PyDict_GetItemString(PyModule_GetDict(m),
                                                         "__name__"))
                : WATCH_ENOMEM;
    Py_XDECREF(name);
    if (rc != 0)
      work_fail(&w, "the swapper's dependent: %d", rc);
  }
  while (w.failure[0] == '\0'
         && (!atomic_load(&s->started) || !atomic_load(&s->stop))) {
    r = PyObject_CallOneArg(swap, chunk);
    if (r == NULL)
      work_fail(&w, "swapping");
    Py_XDECREF(r);
    s->swaps += 1000;
    if (dep != NULL && watch_dep_valid(dep))
      work_fail(&w, "the swapper's own dependent is still valid");
    atomic_store(&s->started, 1);
  }
  memcpy(s->failure, w.failure, sizeof s->failure);
  watch_dep_release(dep);
  Py_XDECREF(chunk);
  Py_XDECREF(g);
  if (s->init)
    watch_fini();
  Py_EndInterpreter(ts);
  atomic_store(&s->started, 1);
  return NULL;
}

/* Each round makes the main index grow from nothing and shrink back to
 * nothing (its tables freed), where a foreign reader would trip. */
#define MODULES 16

static void
main_registers_while_another_swaps(int init)
{
  static struct swapper s;
  memset(&s, 0, sizeof s);
  s.init = init;
  PyObject *g = NS(SWAPS_SRC "mods = [types.ModuleType('m%d' % i)"
                             "        for i in range(16)]\n");
  PyObject *mods = ITEM(g, "mods");
  PyObject *name = key("__name__");
  ck_assert_int_eq(pthread_create(&s.thread, NULL, swapper_main, &s), 0);
  Py_BEGIN_ALLOW_THREADS
  while (!atomic_load(&s.started))
    sched_yield();
  Py_END_ALLOW_THREADS

  /* No assertion until the swapper is joined: it runs until told. */
  watch_counters_t before = COUNTERS();
  long bad_round = -1;
  int bad_rc = 0;
  for (long round = 0; round < 3000 / SCALE && bad_round < 0; round++) {
    watch_dep_t *deps[MODULES] = {NULL};
    int valid = 1;
    for (int i = 0; i < MODULES; i++) {
      PyObject *m = PyList_GET_ITEM(mods, i);
      int rc = watch_dep_new(&deps[i], NULL, NULL);
      if (rc == 0)
        rc = watch_dep_on_attr(deps[i], m, name,
                               PyDict_GetItemString(PyModule_GetDict(m),
                                                    "__name__"));
      if (rc != 0 && bad_rc == 0)
        bad_rc = rc;
    }
    for (int i = 0; i < MODULES; i++) {
      valid &= deps[i] != NULL && watch_dep_valid(deps[i]);
      watch_dep_release(deps[i]);
    }
    if (bad_rc != 0 || !valid)
      bad_round = round;
  }
  atomic_store(&s.stop, 1);
  Py_BEGIN_ALLOW_THREADS
  pthread_join(s.thread, NULL);
  Py_END_ALLOW_THREADS

  ck_assert_msg(bad_round < 0,
                "round %ld: watch_dep_on_attr() = %d, or invalidated by "
                "another interpreter",
                bad_round, bad_rc);
  ck_assert_msg(s.failure[0] == '\0', "%s", s.failure);
  ck_assert_int_gt(s.swaps, 0);
  ASSERT_COUNTER(invalidations, ==, before.invalidations);
  ASSERT_COUNTER(namespaces, ==, 0);
  /* Its own swaps still reach it. */
  PyObject *m = ITEM(g, "m");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_attr(p->dep, m, name,
                                     ITEM(PyModule_GetDict(m), "__name__")),
                   0);
  RUN(g, "swap(1)\n");
  assert_invalidated(p, WATCH_EVENT_TYPE, m);
  probe_release(p);
  Py_DECREF(g);
}

START_TEST(an_isolated_interpreter_without_libwatch_swapping_classes_leaves_main_alone)
{
  main_registers_while_another_swaps(0);
}
END_TEST

START_TEST(an_isolated_interpreter_with_libwatch_swapping_classes_leaves_main_alone)
{
  main_registers_while_another_swaps(1);
}
END_TEST

/* An interpreter whose audit hooks refuse libwatch's own is told so, for
 * what needs the hook only. */
START_TEST(a_refused_audit_hook_refuses_module_and_class_attrs_only)
{
  PyThreadState *main_ts = PyThreadState_Get();
  char failure[256] = "";
  PyThreadState *ts = new_isolated(failure, sizeof failure);
  ck_assert_msg(ts != NULL, "%s", failure);
  int rc_module = 0, rc_class = 0, rc_key = -1, rc_again = 0, rc_init;
  PyObject *g = PyDict_New();
  PyObject *r = g ? PyRun_String(
                        "import sys, types\n"
                        "def refuse(event, args):\n"
                        "    if event == 'sys.addaudithook':\n"
                        "        raise RuntimeError('no more hooks')\n"
                        "sys.addaudithook(refuse)\n"
                        "m = types.ModuleType('m')\n"
                        "class C:\n"
                        "    a = 1\n",
                        Py_file_input, g, g)
                  : NULL;
  rc_init = r ? watch_init() : -100;
  if (rc_init == 0) {
    PyObject *m = PyDict_GetItemString(g, "m");
    PyObject *c = PyDict_GetItemString(g, "C");
    PyObject *a = PyUnicode_InternFromString("a");
    watch_dep_t *dep;
    watch_dep_new(&dep, NULL, NULL);
    rc_module = watch_dep_on_attr(dep, m, a, NULL);
    rc_again = watch_dep_on_attr(dep, m, a, NULL);
    PyObject *c_dict = PyType_GetDict((PyTypeObject *)c);
    rc_class = watch_dep_on_attr(dep, c, a, PyDict_GetItemString(c_dict, "a"));
    Py_DECREF(c_dict);
    rc_key = watch_dep_on_key(dep, g, a, NULL);
    watch_dep_release(dep);
    Py_DECREF(a);
    watch_fini();
  }
  Py_XDECREF(r);
  Py_XDECREF(g);
  PyErr_Clear();
  Py_EndInterpreter(ts);
  PyThreadState_Swap(main_ts);

  ck_assert_int_eq(rc_init, 0);
  ck_assert_int_eq(rc_module, WATCH_EBUSY);
  ck_assert_int_eq(rc_again, WATCH_EBUSY);
  ck_assert_int_eq(rc_class, WATCH_EBUSY);
  ck_assert_int_eq(rc_key, 0);
}
END_TEST

/* ---- two copies of libwatch, two interpreters ----------------------------
 *
 * The libwatch.so built beside this program (build/X.Y/) is a second copy
 * of libwatch, with globals of its own; it shares each interpreter's state
 * with this program's.  It starts a subinterpreter's state, its only one,
 * then registers the first function dependency of the main interpreter,
 * whose state this copy started: its function watcher there must find the
 * main interpreter's state, not the one it counted. */
static struct {
  int (*init)(void);
  void (*fini)(void);
  int (*dep_new)(watch_dep_t **, watch_cb, void *);
  int (*dep_on_function)(watch_dep_t *, PyObject *);
  void (*dep_release)(watch_dep_t *);
} other;

static void
load_other(void)
{
  char exe[PATH_MAX], path[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ck_assert_int_gt(n, 0);
  exe[n] = '\0';
  /* build/X.Y/tests/test_isolated: build/X.Y/libwatch.so */
  snprintf(path, sizeof path, "%s/libwatch.so", dirname(dirname(exe)));
  void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  ck_assert_msg(so != NULL, "dlopen: %s", dlerror());
  /* Never closed: its capsule destructors may run at teardown. */
  *(void **)&other.init = dlsym(so, "watch_init");
  *(void **)&other.fini = dlsym(so, "watch_fini");
  *(void **)&other.dep_new = dlsym(so, "watch_dep_new");
  *(void **)&other.dep_on_function = dlsym(so, "watch_dep_on_function");
  *(void **)&other.dep_release = dlsym(so, "watch_dep_release");
  ck_assert(other.init && other.fini && other.dep_new && other.dep_on_function
            && other.dep_release);
}

START_TEST(a_second_copy_s_watcher_finds_the_state_of_the_interpreter_it_runs_in)
{
  load_other();
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int rc_sub = other.init();
  PyThreadState_Swap(main_ts);

  PyObject *g = NS("def f():\n"
                   "    pass\n");
  watch_dep_t *dep = NULL;
  int rc_new = other.dep_new(&dep, NULL, NULL);
  int rc_on = rc_new == 0 ? other.dep_on_function(dep, ITEM(g, "f")) : -100;
  RUN(g, "f.__defaults__ = (1,)\n");
  int valid = dep != NULL && watch_dep_valid(dep);
  other.dep_release(dep);
  Py_DECREF(g);

  PyThreadState_Swap(sub);
  if (rc_sub == 0)
    other.fini();
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
  ck_assert_int_eq(rc_sub, 0);
  ck_assert_int_eq(rc_new, 0);
  ck_assert_int_eq(rc_on, 0);
  ck_assert_msg(!valid, "a change in the main interpreter went unseen");
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("isolated");
  TCase *tc = harness_tcase(s, "concurrency");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, four_isolated_interpreters_and_the_main_one_work_at_once);
  tcase_add_test(tc, interpreters_come_and_go_while_others_work);
  tc = harness_tcase(s, "audit_hook");
  tcase_set_timeout(tc, 300);
  tcase_add_test(
      tc,
      an_isolated_interpreter_without_libwatch_swapping_classes_leaves_main_alone);
  tcase_add_test(
      tc, an_isolated_interpreter_with_libwatch_swapping_classes_leaves_main_alone);
  tcase_add_test(tc, a_refused_audit_hook_refuses_module_and_class_attrs_only);
  tc = harness_tcase(s, "two_copies");
  tcase_add_test(
      tc, a_second_copy_s_watcher_finds_the_state_of_the_interpreter_it_runs_in);
  return s;
}
