/* A program with functions and data of its own that share names with
 * libwatch's internals links libwatch.a statically and works: the archive
 * exports only the watch_* API (mk/suites/symbols.sh).  Each of these names
 * was a global of libwatch.a once; with a different meaning here, a program
 * bound to libwatch's would misbehave, and a link against libwatch's would
 * fail with "multiple definition".
 * Prints "N passed, N failed". */
#include "watch.h"

#include <stdio.h>

/* Not libwatch's: a hash table insert of this program's own. */
int
table_insert(int x)
{
  return x + 1;
}

void *
state_alloc(void)
{
  return NULL;
}

int queue_push = 42;
int sole_state = 7;

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

int
main(void)
{
  Py_InitializeEx(0);
  check(table_insert(1) == 2 && state_alloc() == NULL && queue_push == 42
            && sole_state == 7,
        "the program's own table_insert, state_alloc, queue_push, sole_state");

  int rc = watch_init();
  check(rc == 0, "watch_init()");
  PyObject *d = Py_BuildValue("{s:i}", "x", 1);
  PyObject *k = PyUnicode_InternFromString("x");
  watch_dep_t *dep = NULL;
  rc = d && k ? watch_dep_new(&dep, NULL, NULL) : WATCH_ENOMEM;
  if (rc == 0)
    rc = watch_dep_on_key(dep, d, k, PyDict_GetItem(d, k));
  check(rc == 0 && watch_dep_valid(dep), "a dependency on d['x']");
  PyObject *two = PyLong_FromLong(2);
  check(two && PyDict_SetItem(d, k, two) == 0 && dep && !watch_dep_valid(dep),
        "d['x'] = 2 invalidates it");
  watch_dep_release(dep);
  watch_fini();
  Py_XDECREF(two);
  Py_XDECREF(k);
  Py_XDECREF(d);
  if (Py_FinalizeEx() < 0)
    failed++;
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
