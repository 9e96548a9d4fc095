/* A copy of libwatch of another ABI version refuses to share an
 * interpreter's state, whichever copy came first, and nothing crashes.
 * This program links libwatch.a and loads the libwatch.so named by its
 * argument, built with -DWATCH_TEST_ABI_VERSION=999 (libwatch/internal.h).
 *
 *   the main interpreter: the other copy starts first; this one's
 *     watch_init(), and import pywatch, fail with WATCH_EABI;
 *   a subinterpreter: this copy starts first and works; the other one's
 *     watch_init() fails with WATCH_EABI.
 *
 * Needs PYTHONPATH to reach the pywatch built beside this libwatch.a.
 * Prints "N passed, N failed". */
#include "watch.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

static void
check(int ok, const char *what)
{
  printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (ok)
    passed++;
  else
    failed++;
}

/* The other copy's API, as far as this test uses it. */
static struct {
  int (*init)(void);
  void (*fini)(void);
  const char *(*strerror)(int);
} other;

static int
load_other(const char *path)
{
  void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (so == NULL) {
    printf("dlopen: %s\n", dlerror());
    return -1;
  }
  /* Never closed: its capsule destructor runs at interpreter teardown. */
  *(void **)&other.init = dlsym(so, "watch_init");
  *(void **)&other.fini = dlsym(so, "watch_fini");
  *(void **)&other.strerror = dlsym(so, "watch_strerror");
  return other.init && other.fini && other.strerror ? 0 : -1;
}

static int
import_refused(void)
{
  PyObject *m = PyImport_ImportModule("pywatch");
  if (m != NULL) {
    Py_DECREF(m);
    return 0;
  }
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *text = PyObject_Str(exc);
  const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
  int ok = PyErr_GivenExceptionMatches(exc, PyExc_ImportError) && s
           && strstr(s, watch_strerror(WATCH_EABI)) != NULL;
  printf("import pywatch: %s\n", s ? s : "?");
  Py_XDECREF(text);
  Py_DECREF(exc);
  PyErr_Clear();
  return ok;
}

/* This copy still does its job. */
static int
works(void)
{
  PyObject *d = Py_BuildValue("{s:i}", "x", 1);
  PyObject *k = PyUnicode_FromString("x");
  PyObject *two = PyLong_FromLong(2);
  watch_dep_t *dep = NULL;
  int ok = d && k && two && watch_dep_new(&dep, NULL, NULL) == 0
           && watch_dep_on_key(dep, d, k, PyDict_GetItem(d, k)) == 0
           && watch_dep_valid(dep) && PyDict_SetItem(d, k, two) == 0
           && !watch_dep_valid(dep);
  watch_dep_release(dep);
  Py_XDECREF(two);
  Py_XDECREF(k);
  Py_XDECREF(d);
  return ok;
}

int
main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s OTHER_LIBWATCH_SO\n", argv[0]);
    return 2;
  }
  Py_InitializeEx(0);
  check(load_other(argv[1]) == 0, "the other copy loads");
  if (failed)
    goto out;
  check(strcmp(watch_err_name(WATCH_EABI), "WATCH_EABI") == 0
            && strcmp(other.strerror(WATCH_EABI),
                      watch_strerror(WATCH_EABI)) == 0,
        "both copies describe WATCH_EABI alike");

  check(other.init() == 0, "main interpreter: the other copy starts first");
  int rc = watch_init();
  check(rc == WATCH_EABI, "then this copy's watch_init() is WATCH_EABI");
  printf("  watch_strerror: %s\n", watch_strerror(rc));
  check(watch_flush() == WATCH_ENOINIT, "and this copy stays uninitialized");
  check(import_refused(), "import pywatch fails with the same message");
  other.fini();

  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  check(sub != NULL && watch_init() == 0,
        "a subinterpreter: this copy starts first");
  check(other.init() == WATCH_EABI, "then the other copy's is WATCH_EABI");
  check(works(), "this copy works on");
  watch_fini();
  if (sub != NULL)
    Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
out:
  if (Py_FinalizeEx() < 0)
    failed++;
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
