/* Shared main, fixture and helpers of libwatch's test programs.
 *
 * Every tests/test_*.c includes this file once, defines make_suite(), and is
 * built as its own program embedding CPython.  The interpreter is initialized
 * once, before the runner, and shared by all tests (CK_NOFORK), so that
 * valgrind sees the whole run.  Each fixtured test starts from fresh libwatch
 * state: watch_init() in the checked setup, watch_fini() in the teardown.
 *
 * The last line printed on stdout is "N passed, N failed"; the exit status is
 * non-zero when any test failed.
 *
 * Tests only use the public header.  A dependent is created with a recording
 * callback (a "probe") so that a test can say what the callback saw.
 */
#ifndef LIBWATCH_TESTS_HARNESS_H
#define LIBWATCH_TESTS_HARNESS_H

#define PY_SSIZE_T_CLEAN
#include "watch.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define HARNESS_UNUSED __attribute__((unused))
#else
#define HARNESS_UNUSED
#endif

/* Each test program defines its suite. */
static Suite *make_suite(void);

/* ------------------------------------------------------------------------ */
/* Python helpers                                                           */

/* The pending exception with its traceback, as text; clears it.  The caller
 * frees the result. */
static HARNESS_UNUSED char *
harness_exception_text(void)
{
  PyObject *exc = PyErr_GetRaisedException();
  if (exc == NULL)
    return strdup("(no Python exception is set)");
  char *out = NULL;
  PyObject *tb = PyImport_ImportModule("traceback");
  PyObject *lines = tb ? PyObject_CallMethod(tb, "format_exception", "O", exc)
                       : NULL;
  PyObject *empty = PyUnicode_FromString("");
  PyObject *text = (lines && empty) ? PyUnicode_Join(empty, lines) : NULL;
  const char *utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
  out = strdup(utf8 ? utf8 : "(the exception could not be formatted)");
  PyErr_Clear();
  Py_XDECREF(text);
  Py_XDECREF(empty);
  Py_XDECREF(lines);
  Py_XDECREF(tb);
  Py_DECREF(exc);
  return out;
}

/* Fails the current test with the pending Python traceback. */
#define harness_fail_python(file, line, what)                                 \
  _ck_assert_failed((file), (line), "Python raised an exception",             \
                    "%s raised:\n%s", (what), harness_exception_text())

/* A fresh module namespace: a new globals dict with __builtins__ and
 * __name__, as a module's __dict__ has. */
static HARNESS_UNUSED PyObject *
harness_namespace(const char *file, int line)
{
  PyObject *ns = PyDict_New();
  if (ns == NULL
      || PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) < 0) {
    harness_fail_python(file, line, "creating a namespace");
  }
  PyObject *name = PyUnicode_FromString("__libwatch_test__");
  if (name == NULL || PyDict_SetItemString(ns, "__name__", name) < 0)
    harness_fail_python(file, line, "creating a namespace");
  Py_DECREF(name);
  return ns;
}

/* The end of a statement run from C is a safe point: the callbacks queued
 * by its mutations are delivered there, one batch, as a host would with
 * watch_flush().  Before watch_init() this does nothing. */
static HARNESS_UNUSED void
harness_run(const char *file, int line, PyObject *ns, const char *src)
{
  PyObject *r = PyRun_String(src, Py_file_input, ns, ns);
  if (r == NULL)
    harness_fail_python(file, line, src);
  Py_DECREF(r);
  watch_flush();
}

static HARNESS_UNUSED PyObject *
harness_ns(const char *file, int line, const char *src)
{
  PyObject *ns = harness_namespace(file, line);
  harness_run(file, line, ns, src);
  return ns;
}

static HARNESS_UNUSED PyObject *
harness_eval(const char *file, int line, PyObject *ns, const char *expr)
{
  PyObject *own = NULL;
  if (ns == NULL)
    ns = own = harness_namespace(file, line);
  PyObject *r = PyRun_String(expr, Py_eval_input, ns, ns);
  if (r == NULL)
    harness_fail_python(file, line, expr);
  Py_XDECREF(own);
  watch_flush();
  return r;
}

/* Runs src in a fresh namespace where each name is bound to its object:
 * harness_run_with(file, line, src, "d", d, "m", m, NULL). */
static HARNESS_UNUSED void
harness_run_with(const char *file, int line, const char *src, ...)
{
  PyObject *ns = harness_namespace(file, line);
  va_list ap;
  va_start(ap, src);
  for (;;) {
    const char *name = va_arg(ap, const char *);
    if (name == NULL)
      break;
    PyObject *obj = va_arg(ap, PyObject *);
    if (PyDict_SetItemString(ns, name, obj) < 0)
      harness_fail_python(file, line, "binding a name");
  }
  va_end(ap);
  harness_run(file, line, ns, src);
  Py_DECREF(ns);
}

static HARNESS_UNUSED PyObject *
harness_item(const char *file, int line, PyObject *dict, const char *name)
{
  PyObject *v = PyDict_GetItemString(dict, name);
  if (v == NULL)
    _ck_assert_failed(file, line, "missing key", "the dict has no key '%s'",
                      name);
  return v;
}

/* NS(src): a new namespace (new reference) after running src in it.
 * RUN(ns, src): runs statements in ns.
 * PY(expr): evaluates expr in a fresh namespace (new reference).
 * EVAL(ns, expr): evaluates expr in ns (new reference).
 * RUN_WITH(src, "name", obj, ...): runs src with names bound to objects.
 * ITEM(dict, "name"): dict["name"], borrowed; fails if absent.
 * Any Python exception fails the test with its traceback. */
#define NS(src) harness_ns(__FILE__, __LINE__, (src))
#define RUN(ns, src) harness_run(__FILE__, __LINE__, (ns), (src))
#define PY(expr) harness_eval(__FILE__, __LINE__, NULL, (expr))
#define EVAL(ns, expr) harness_eval(__FILE__, __LINE__, (ns), (expr))
#define RUN_WITH(src, ...)                                                    \
  harness_run_with(__FILE__, __LINE__, (src), __VA_ARGS__, (const char *)NULL)
#define ITEM(dict, name) harness_item(__FILE__, __LINE__, (dict), (name))

/* An interned str key.  The reference is deliberately kept: interned strings
 * live as long as the interpreter anyway. */
static HARNESS_UNUSED PyObject *
key(const char *s)
{
  PyObject *k = PyUnicode_InternFromString(s);
  ck_assert_ptr_nonnull(k);
  return k;
}

#define assert_no_python_error()                                              \
  do {                                                                        \
    if (PyErr_Occurred())                                                     \
      harness_fail_python(__FILE__, __LINE__, "the previous call");           \
  } while (0)

/* ------------------------------------------------------------------------ */
/* Probes: dependents whose callback records what it was told               */

static HARNESS_UNUSED const char *
harness_event_name(int kind)
{
  switch (kind) {
  case 0: return "(none)";
#define XX(kind, value, name, meaning)                                        \
  case WATCH_EVENT_##kind:                                                    \
    return #kind;
    WATCH_EVENT_MAP(XX)
#undef XX
  }
  return "(unknown kind)";
}

static HARNESS_UNUSED const char *
harness_err(int err)
{
  switch (err) {
#define XX(code, value, _)                                                    \
  case value:                                                                 \
    return "WATCH_" #code;
    WATCH_ERRNO_MAP(XX)
#undef XX
  case 0:
    return "success";
  }
  return "(unknown code)";
}

typedef struct probe probe_t;

typedef struct {
  int count;                 /* calls of the callback */
  watch_event_kind_t kind;   /* last event kind */
  const void *ns;            /* last event's namespace, for identity only */
  PyObject *key;             /* last event's key (strong reference) or NULL */
  int valid_in_cb;           /* watch_dep_valid(dep) inside the last call */
  const watch_dep_t *dep_seen; /* the dependent the callback was given */
  int ret;                   /* what the callback returns */
  int release_self;          /* release the dependent from its callback */
  probe_t *release_other;    /* release that probe's dependent, if live */
  PyObject *peek_key;        /* if set: look ns[peek_key] up in the callback */
  const void *peeked;        /* what the lookup found, identity only */
  /* If set: called in the callback with peek_obj, before anything else is
   * recorded; its result goes to peeked, e.g. a class's own dict entry or a
   * function's __code__ (also usable by a witness, which must only read). */
  const void *(*peek_fn)(PyObject *peek_obj);
  PyObject *peek_obj;        /* borrowed */
} rec_t;

/* A dependent and what its callback saw.  Probes live in a pool that
 * outlives the test function, so that a test failing half-way (check
 * longjmps out of it) leaves no dependent pointing at a dead stack frame:
 * the teardown releases whatever the test left. */
struct probe {
  watch_dep_t *dep;          /* NULL once released */
  rec_t rec;
};

#define HARNESS_MAX_PROBES 256
static probe_t harness_probes[HARNESS_MAX_PROBES];
static int harness_nprobes;

static HARNESS_UNUSED int
rec_cb(watch_dep_t *dep, const watch_event_t *event)
{
  probe_t *p = watch_dep_data(dep);
  rec_t *r = &p->rec;
  if (r->peek_fn != NULL)
    r->peeked = r->peek_fn(r->peek_obj);
  r->count++;
  r->kind = event->kind;
  r->ns = event->ns;
  Py_XINCREF(event->key); /* a str, an int or a test key: no Python code */
  Py_XSETREF(r->key, event->key);
  r->valid_in_cb = watch_dep_valid(dep);
  r->dep_seen = dep;
  if (r->peek_key != NULL && event->ns != NULL) {
    /* Reading is allowed in a callback; the key is an exact str. */
    r->peeked = PyDict_GetItemWithError(event->ns, r->peek_key);
  }
  if (r->release_other != NULL && r->release_other->dep != NULL) {
    watch_dep_t *other = r->release_other->dep;
    r->release_other->dep = NULL;
    watch_dep_release(other);
  }
  int ret = r->ret;
  if (r->release_self) {
    p->dep = NULL;
    watch_dep_release(dep);
  }
  return ret;
}

/* (Re)creates the probe's dependent, in place. */
static HARNESS_UNUSED void
probe_init_at(const char *file, int line, probe_t *p)
{
  memset(p, 0, sizeof *p);
  int err = watch_dep_new(&p->dep, rec_cb, p);
  if (err != 0 || p->dep == NULL)
    _ck_assert_failed(file, line, "watch_dep_new", "watch_dep_new() = %d (%s)",
                      err, harness_err(err));
}

static HARNESS_UNUSED probe_t *
probe_new_at(const char *file, int line)
{
  if (harness_nprobes == HARNESS_MAX_PROBES)
    _ck_assert_failed(file, line, "probe_new", "too many probes in one test");
  probe_t *p = &harness_probes[harness_nprobes++];
  probe_init_at(file, line, p);
  return p;
}

/* PROBE(p): declares probe_t *p, a new dependent whose callback records. */
#define PROBE(name) probe_t *name = probe_new_at(__FILE__, __LINE__)

static HARNESS_UNUSED void
probe_release(probe_t *p)
{
  if (p->dep != NULL)
    watch_dep_release(p->dep);
  p->dep = NULL;
  Py_CLEAR(p->rec.key);
}

/* Releases every probe the test left and empties the pool. */
static HARNESS_UNUSED void
harness_release_probes(void)
{
  for (int i = 0; i < harness_nprobes; i++)
    probe_release(&harness_probes[i]);
  memset(harness_probes, 0, sizeof harness_probes);
  harness_nprobes = 0;
}

/* p depends on dict[name] being what dict holds now (absent included). */
/* The interpreter running is CPython 3.13.0, whose stores into an
 * instance's inline values tell no dict watcher (gh-125608): libwatch
 * refuses its split dicts (WATCH_EUNWATCHABLE). */
static inline int
harness_inline_stores_unheard(void)
{
  return Py_Version >= 0x030D0000 && Py_Version < 0x030D0100;
}

#define DEPEND(p, dict, name)                                                 \
  do {                                                                        \
    PyObject *k_ = key(name);                                                 \
    PyObject *v_ = PyDict_GetItemWithError((dict), k_);                       \
    ck_assert_ptr_null(PyErr_Occurred());                                     \
    int e_ = watch_dep_on_key((p)->dep, (dict), k_, v_);                      \
    ck_assert_msg(e_ == 0, "watch_dep_on_key(%s) = %d (%s)", (name), e_,      \
                  harness_err(e_));                                           \
  } while (0)

/* Same with any key object. */
#define DEPEND_OBJ(p, dict, k)                                                \
  do {                                                                        \
    PyObject *v_ = PyDict_GetItemWithError((dict), (k));                      \
    ck_assert_ptr_null(PyErr_Occurred());                                     \
    int e_ = watch_dep_on_key((p)->dep, (dict), (k), v_);                     \
    ck_assert_msg(e_ == 0, "watch_dep_on_key = %d (%s)", e_, harness_err(e_)); \
  } while (0)

/* The assertions below are safe points too: they deliver the queued batch
 * first.  Tests of delivery itself read rec.count instead.
 *
 * The dependent was invalidated exactly once, by an event of this kind about
 * this namespace (ns NULL: any), and was already invalid in its callback. */
#define assert_invalidated(p, kind_, ns_)                                     \
  do {                                                                        \
    watch_flush();                                                            \
    ck_assert_msg(!watch_dep_valid((p)->dep), "the dependent is still valid"); \
    ck_assert_msg((p)->rec.count == 1,                                        \
                  "the callback was called %d times, expected once",          \
                  (p)->rec.count);                                            \
    ck_assert_msg((p)->rec.kind == (kind_), "event %s, expected %s",          \
                  harness_event_name((p)->rec.kind),                          \
                  harness_event_name(kind_));                                 \
    ck_assert_msg((p)->rec.valid_in_cb == 0,                                  \
                  "watch_dep_valid() was still true inside the callback");    \
    if ((const void *)(ns_) != NULL)                                          \
      ck_assert_msg((p)->rec.ns == (const void *)(ns_),                       \
                    "the event names another namespace");                     \
  } while (0)

/* Invalidated once, whatever the kind. */
#define assert_invalidated_once(p)                                            \
  do {                                                                        \
    watch_flush();                                                            \
    ck_assert_msg(!watch_dep_valid((p)->dep), "the dependent is still valid"); \
    ck_assert_msg((p)->rec.count == 1,                                        \
                  "the callback was called %d times, expected once",          \
                  (p)->rec.count);                                            \
    ck_assert_msg((p)->rec.valid_in_cb == 0,                                  \
                  "watch_dep_valid() was still true inside the callback");    \
  } while (0)

/* Still valid and never called. */
#define assert_intact(p)                                                      \
  do {                                                                        \
    watch_flush();                                                            \
    ck_assert_msg(watch_dep_valid((p)->dep), "the dependent was invalidated"); \
    ck_assert_msg((p)->rec.count == 0,                                        \
                  "the callback was called %d times (last event %s)",         \
                  (p)->rec.count, harness_event_name((p)->rec.kind));         \
  } while (0)

/* The last event's key is the str name. */
#define assert_key(p, name)                                                   \
  do {                                                                        \
    ck_assert_msg((p)->rec.key != NULL, "the event has no key");              \
    ck_assert_msg(PyUnicode_Check((p)->rec.key)                               \
                      && PyUnicode_CompareWithASCIIString((p)->rec.key,       \
                                                          (name)) == 0,       \
                  "the event names another key than '%s'", (name));           \
  } while (0)

/* The last event's key equals k. */
#define assert_key_obj(p, k)                                                  \
  do {                                                                        \
    ck_assert_msg((p)->rec.key != NULL, "the event has no key");              \
    ck_assert_msg(PyObject_RichCompareBool((p)->rec.key, (k), Py_EQ) == 1,    \
                  "the event names another key");                             \
  } while (0)

#define assert_no_key(p)                                                      \
  ck_assert_msg((p)->rec.key == NULL,                                         \
                "a whole-namespace event must have no key")

/* Phase one, seen from outside.  A watcher added after libwatch's is called
 * after it, still before the mutation: the witness records, at the first
 * event on its object (a dict or a function), whether the probe's dependent
 * was already invalid and what peek_fn(peek_obj) read then. */
typedef struct {
  probe_t *probe;
  PyObject *obj;             /* borrowed, identity only */
  const void *(*peek_fn)(PyObject *peek_obj);
  PyObject *peek_obj;        /* borrowed */
  int fired;
  int valid;                 /* watch_dep_valid() at that moment */
  const void *peeked;
} witness_t;

static witness_t harness_witness;
static int harness_witness_dict_id = -1;
static int harness_witness_func_id = -1;

static HARNESS_UNUSED void
harness_witness_see(PyObject *obj)
{
  witness_t *w = &harness_witness;
  if (w->fired || w->obj == NULL || obj != w->obj)
    return;
  w->fired = 1;
  w->valid = w->probe->dep != NULL && watch_dep_valid(w->probe->dep);
  w->peeked = w->peek_fn(w->peek_obj);
}

static HARNESS_UNUSED int
harness_witness_dict(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
                     PyObject *value)
{
  (void)event, (void)key, (void)value;
  harness_witness_see(dict);
  return 0;
}

static HARNESS_UNUSED int
harness_witness_func(PyFunction_WatchEvent event, PyFunctionObject *func,
                     PyObject *value)
{
  (void)value;
  if (event != PyFunction_EVENT_CREATE)
    harness_witness_see((PyObject *)func);
  return 0;
}

/* WITNESS(p, obj, peek_fn, peek_obj): watch obj (a dict or a function) for
 * phase one of p's invalidation.  One witness per test. */
static HARNESS_UNUSED void
harness_witness_start(const char *file, int line, probe_t *p, PyObject *obj,
                      const void *(*peek_fn)(PyObject *), PyObject *peek_obj)
{
  int rc;
  if (PyDict_Check(obj)) {
    if (harness_witness_dict_id < 0)
      harness_witness_dict_id = PyDict_AddWatcher(harness_witness_dict);
    rc = harness_witness_dict_id < 0 ? -1
                                     : PyDict_Watch(harness_witness_dict_id, obj);
  } else {
    if (harness_witness_func_id < 0)
      harness_witness_func_id = PyFunction_AddWatcher(harness_witness_func);
    rc = harness_witness_func_id;
  }
  if (rc < 0)
    harness_fail_python(file, line, "adding the witness watcher");
  harness_witness = (witness_t){p, obj, peek_fn, peek_obj, 0, 0, NULL};
}
#define WITNESS(p, obj, peek_fn, peek_obj)                                     \
  harness_witness_start(__FILE__, __LINE__, (p), (obj), (peek_fn), (peek_obj))

/* The witness fired, saw the dependent already invalid, and read old. */
#define assert_witnessed_before(old)                                          \
  do {                                                                        \
    ck_assert_msg(harness_witness.fired, "the witness saw no event");         \
    ck_assert_msg(!harness_witness.valid,                                     \
                  "the dependent was still valid in phase one");              \
    ck_assert_msg(harness_witness.peeked == (const void *)(old),              \
                  "in phase one the mutation had already happened");          \
  } while (0)

static HARNESS_UNUSED void
harness_witness_stop(void)
{
  memset(&harness_witness, 0, sizeof harness_witness);
  if (harness_witness_dict_id >= 0)
    PyDict_ClearWatcher(harness_witness_dict_id);
  if (harness_witness_func_id >= 0)
    PyFunction_ClearWatcher(harness_witness_func_id);
  harness_witness_dict_id = harness_witness_func_id = -1;
  PyErr_Clear();
}

static HARNESS_UNUSED watch_counters_t
harness_counters(const char *file, int line)
{
  watch_counters_t c;
  memset(&c, 0xab, sizeof c);
  int err = watch_counters(&c);
  if (err != 0)
    _ck_assert_failed(file, line, "watch_counters", "watch_counters() = %d",
                      err);
  return c;
}
#define COUNTERS() harness_counters(__FILE__, __LINE__)

/* ASSERT_COUNTER(edges, ==, 0): compares one counter, read now. */
#define ASSERT_COUNTER(field, op, expected)                                   \
  do {                                                                        \
    unsigned long long now_ = COUNTERS().field;                               \
    unsigned long long want_ = (expected);                                    \
    ck_assert_msg(now_ op want_, "counters." #field " is %llu, expected " #op \
                  " %llu", now_, want_);                                      \
  } while (0)

/* ------------------------------------------------------------------------ */
/* Fixture and main                                                         */

static HARNESS_UNUSED void
harness_setup(void)
{
  harness_nprobes = 0;
  /* Earlier tests' cyclic garbage goes now, while libwatch is not
   * initialized, not in the middle of a test that counts events. */
  PyGC_Collect();
  int err = watch_init();
  ck_assert_msg(err == 0, "watch_init() = %d (%s)", err, harness_err(err));
}

static HARNESS_UNUSED void
harness_teardown(void)
{
  /* Never fails, so that a test's own failure message is the one reported.
   * A left-over exception is printed, then cleared; tests that must leave no
   * exception say so with assert_no_python_error(). */
  if (PyErr_Occurred()) {
    fprintf(stderr, "libwatch test: a Python exception was left set:\n");
    PyErr_Print();
  }
  harness_release_probes();
  harness_witness_stop();
  watch_set_unstable_limit(WATCH_DEFAULT_UNSTABLE_LIMIT);
  watch_fini();
}

/* For test cases that manage watch_init()/watch_fini() themselves: after each
 * test, finish every initialization the test left, so that the next test
 * starts uninitialized whatever happened. */
static HARNESS_UNUSED void
harness_bare_setup(void)
{
  harness_nprobes = 0;
  PyGC_Collect();
}

static HARNESS_UNUSED void
harness_bare_teardown(void)
{
  harness_witness_stop();
  if (PyErr_Occurred()) {
    fprintf(stderr, "libwatch test: a Python exception was left set:\n");
    PyErr_Print();
  }
  watch_counters_t c;
  for (int i = 0; i < 8 && watch_counters(&c) == 0; i++)
    watch_fini();
  harness_release_probes(); /* released after finalization: allowed */
}

/* A test case whose tests each start with watch_init() and end with
 * watch_fini(). */
static HARNESS_UNUSED TCase *
harness_tcase(Suite *s, const char *name)
{
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, harness_setup, harness_teardown);
  suite_add_tcase(s, tc);
  return tc;
}

/* A test case whose tests start with libwatch uninitialized. */
static HARNESS_UNUSED TCase *
harness_bare_tcase(Suite *s, const char *name)
{
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, harness_bare_setup, harness_bare_teardown);
  suite_add_tcase(s, tc);
  return tc;
}

int
main(void)
{
  Py_InitializeEx(0);
  Suite *s = make_suite();
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_ENV);
  int run = srunner_ntests_run(sr);
  int failed = srunner_ntests_failed(sr);
  int passed = run - failed;
  srunner_free(sr);
  fflush(stdout);
  fflush(stderr);
  if (Py_FinalizeEx() < 0) {
    fprintf(stderr, "libwatch test: Py_FinalizeEx() failed\n");
    failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* LIBWATCH_TESTS_HARNESS_H */
