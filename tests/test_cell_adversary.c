/* Adversarial tests of value cells (watch_cell_*): each test here is a way
 * Python code breaks the promise of watch.h's "Cells" section (a cell holds
 * what a plain read gives now, or NULL; never stale, never dangling; no
 * crash).  Some fail only under `make asan` (a use after free that the
 * plain build survives by luck); each says so. */
#include "harness.h"

/* What LOAD_GLOBAL of `name` gives in G (a function G['load'] reading it),
 * borrowed; NULL for a NameError. */
static PyObject *
load(PyObject *ns)
{
  PyObject *v = PyRun_String("G['load']()", Py_eval_input, ns, ns);
  if (v == NULL) {
    ck_assert(PyErr_ExceptionMatches(PyExc_NameError));
    PyErr_Clear();
  }
  Py_XDECREF(v);
  return v;
}

/* m.name, borrowed (m's __dict__ holds it). */
static PyObject *
peek_attr(PyObject *ns)
{
  PyObject *v = EVAL(ns, "m.name");
  Py_DECREF(v);
  return v;
}

/* ---- a key whose __eq__ changes its answer --------------------------------
 * A str subclass key of the name's hash, stored in the globals, is compared
 * by every LOAD_GLOBAL of the name (a dict with such a key is not
 * unicode-only, so LOAD_GLOBAL is not specialized and looks up each time).
 * Its __eq__ may answer differently from one read to the next with no
 * write at all, so no event can tell the cell.  Such a cell refuses to
 * forward (NULL) while the key is there, and every watch_cell_get() reads
 * again; a dependent on that read is refused (WATCH_EUNWATCHABLE).  (These
 * tests first checked that the cell forwarded before the flip: that is what
 * went stale, and is no longer done.) */
#define FLIP_SRC                                                              \
  "class S(str):\n"                                                           \
  "    def __hash__(self): return hash('name')\n"                            \
  "    def __eq__(self, other): return flag\n"                                \
  "flag = False\n"                                                            \
  "B = {'name': 'builtin value'}\n"                                           \
  "G = {'__builtins__': B}\n"                                                 \
  "G[S('s')] = 'value under the S key'\n"                                     \
  "exec('def load(): return name\\n', G)\n"

START_TEST(a_key_whose_eq_starts_matching_shadows_the_builtin)
{
  PyObject *ns = NS(FLIP_SRC);
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("name")), 0);
  ck_assert_ptr_null(watch_cell_value(cell));
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, load(ns));  /* the builtin */

  RUN(ns, "flag = True\n");  /* no write to G or B */
  PyObject *truth = load(ns);
  ck_assert_str_eq(PyUnicode_AsUTF8(truth), "value under the S key");
  PyObject *fast = watch_cell_value(cell);
  ck_assert_msg(fast == NULL || fast == truth,
                "the cell forwards the builtin; LOAD_GLOBAL reads '%s'",
                PyUnicode_AsUTF8(truth));
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_msg(v == truth, "after watch_cell_get() the cell is stale");
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

START_TEST(a_key_whose_eq_stops_matching_unshadows_the_builtin)
{
  PyObject *ns = NS(FLIP_SRC "flag = True\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("name")), 0);
  ck_assert_ptr_null(watch_cell_value(cell));
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, load(ns));  /* under S */

  RUN(ns, "flag = False\n");
  PyObject *truth = load(ns);
  ck_assert_str_eq(PyUnicode_AsUTF8(truth), "builtin value");
  PyObject *fast = watch_cell_value(cell);
  ck_assert_msg(fast == NULL || fast == truth,
                "the cell forwards the value under S; LOAD_GLOBAL reads the "
                "builtin");
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, truth);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* The same with a module cell: module attribute reads look the module's
 * __dict__ up, comparing the colliding key each time. */
START_TEST(a_module_key_whose_eq_stops_matching)
{
  PyObject *ns = NS("import types\n"
                    "class S(str):\n"
                    "    def __hash__(self): return hash('name')\n"
                    "    def __eq__(self, other): return flag\n"
                    "flag = True\n"
                    "m = types.ModuleType('m')\n"
                    "m.__dict__[S('s')] = 'value under the S key'\n");
  PyObject *m = ITEM(ns, "m");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_attr(&cell, m, key("name")), 0);
  ck_assert_ptr_null(watch_cell_value(cell));
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, peek_attr(ns));
  RUN(ns, "flag = False\n"
          "assert not hasattr(m, 'name')\n");
  ck_assert_msg(watch_cell_value(cell) == NULL,
                "the cell forwards m.name; reading it raises AttributeError");
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_null(v);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* A write of the name through the flipping key (it equals the name now,
 * so the write rebinds its entry, and the event names the exact str) says
 * nothing certain about the next read: the flip undoes it.  Found by
 * fuzz-c. */
START_TEST(a_rebind_through_a_flipping_key_is_not_forwarded)
{
  PyObject *ns = NS("class S(str):\n"
                    "    def __hash__(self): return hash('name')\n"
                    "    def __eq__(self, other): return flag\n"
                    "flag = False\n"
                    "B = {}\n"
                    "G = {'__builtins__': B}\n"
                    "exec('def load(): return name\\n', G)\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("name")), 0);
  ck_assert_ptr_null(load(ns));
  RUN(ns, "flag = True\n"
          "B[S('s')] = 'under S'\n"
          "B['name'] = 'through S'\n"  /* MODIFIED, S's entry */
          "assert list(B) == [S('s')] and G['load']() == 'through S'\n"
          "flag = False\n");
  ck_assert_ptr_null(load(ns));
  ck_assert_msg(watch_cell_value(cell) == NULL,
                "the cell forwards a rebinding the flip undid");
  PyObject *v = (PyObject *)1;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_null(v);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* A dependent on the same read would stay valid through the flip: it is
 * refused, and so is one on the key of the module's dict. */
START_TEST(a_dependent_on_a_read_through_a_flipping_key_is_refused)
{
  PyObject *ns = NS(FLIP_SRC);
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_global(p->dep, g, b, key("name"), load(ns)),
                   WATCH_EUNWATCHABLE);
  ck_assert_int_eq(watch_dep_on_key(p->dep, g, key("name"), NULL),
                   WATCH_EUNWATCHABLE);
  /* A key of the name's hash added after a registration is heard: an
   * ADDED through a key with its own __eq__ invalidates every key
   * dependent of the dict. */
  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, b, key("name"),
                                    ITEM(b, "name")), 0);
  RUN(ns, "B[S('t')] = 0\n");
  ck_assert(!watch_dep_valid(q->dep));
  /* Builtins that LOAD_GLOBAL does not read (the global is found) are not
   * judged. */
  RUN(ns, "G2 = {'name': 'global'}\n");
  PROBE(r);
  ck_assert_int_eq(watch_dep_on_global(r->dep, ITEM(ns, "G2"), b, key("name"),
                                       ITEM(ITEM(ns, "G2"), "name")), 0);
  probe_release(r);
  probe_release(q);
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* ---- an int key that writes a name's entry ---------------------------------
 * The tap skips exact int keys ("an int is never a name").  But a stored
 * key with its own __eq__ (here K, equal to everything, of the name's
 * hash) is the name's entry for LOAD_GLOBAL, and an int of the same hash
 * compares equal to it too: G[n] = ... rebinds that entry, the event's key
 * is the int, and the cell keeps forwarding the old value, which the dict
 * has just dropped and freed: a dangling value.  (del G[n] does the same.)
 * Fails in the plain build and under `make asan` (the test compares the
 * freed pointer by address only).  K is a key of the name's hash with its
 * own __eq__: the cell now refuses to forward while the dict holds it, and
 * reads again at each watch_cell_get() (the tests no longer require the
 * first value forwarded). */
/* A name whose hash an int can have (|hash| < 2**61 - 1: str hashes are
 * randomized, so it is searched for), K a key of that hash equal to
 * everything, n the int. */
#define INT_SRC                                                               \
  "nm = next(s for s in ('name%d' % i for i in range(10000))\n"               \
  "          if abs(hash(s)) < 2**61 - 1)\n"                                   \
  "n = hash(nm)\n"                                                           \
  "assert hash(n) == n\n"                                                    \
  "class K:\n"                                                               \
  "    def __hash__(self): return n\n"                                       \
  "    def __eq__(self, other): return True\n"                               \
  "B = {nm: 'builtin value'}\n"                                              \
  "G = {'__builtins__': B}\n"                                                \
  "exec('def load(): return %s\\n' % nm, G)\n"

START_TEST(an_int_key_rebinding_the_name_s_entry)
{
  PyObject *ns = NS(INT_SRC "G[K()] = object()\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, ITEM(ns, "nm")), 0);
  PyObject *old = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &old), 0);
  ck_assert_ptr_nonnull(old);
  ck_assert_ptr_eq(old, load(ns));  /* the value under K */

  RUN(ns, "G[n] = 'rebound through an int'\n");  /* old is freed */
  PyObject *truth = load(ns);
  ck_assert_str_eq(PyUnicode_AsUTF8(truth), "rebound through an int");
  PyObject *fast = watch_cell_value(cell);
  ck_assert_msg(fast == NULL || fast == truth,
                "the cell forwards the value the int's write dropped");
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, truth);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* The same write misses a plain dependent (watch_dep_on_global(), on main
 * too): index.c takes an exact int and an exact str of one hash for two
 * keys, but the entry the int writes is the one LOAD_GLOBAL of the name
 * reads. */
START_TEST(an_int_key_rebinding_the_name_s_entry_misses_a_dependent)
{
  PyObject *ns = NS(INT_SRC "G[K()] = 'value under K'\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  PyObject *v = load(ns);
  ck_assert_str_eq(PyUnicode_AsUTF8(v), "value under K");
  PROBE(p);
  int rc = watch_dep_on_global(p->dep, g, b, ITEM(ns, "nm"), v);
  ck_assert_msg(rc == 0 || rc == WATCH_EUNWATCHABLE, "rc %d", rc);
  RUN(ns, "G[n] = 'rebound through an int'\n");
  ck_assert_str_eq(PyUnicode_AsUTF8(load(ns)), "rebound through an int");
  ck_assert_msg(rc < 0 || !watch_dep_valid(p->dep),
                "LOAD_GLOBAL of name changed; its dependent is still valid");
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* And so a module cell, whose guard is such a dependent, forwards the value
 * an int write to the module's __dict__ dropped (freed: dangling). */
START_TEST(an_int_key_rebinding_a_module_attribute)
{
  PyObject *ns = NS(INT_SRC "import types\n"
                    "m = types.ModuleType('m')\n"
                    "m.__dict__[K()] = object()\n"
                    "assert getattr(m, nm) is m.__dict__[nm]\n");
  PyObject *m = ITEM(ns, "m");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_attr(&cell, m, ITEM(ns, "nm")), 0);
  PyObject *old = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &old), 0);
  ck_assert_ptr_nonnull(old);
  RUN(ns, "m.__dict__[n] = 'rebound through an int'\n");  /* frees the old */
  PyObject *truth = EVAL(ns, "getattr(m, nm)");
  Py_DECREF(truth);  /* m's __dict__ holds it */
  ck_assert_str_eq(PyUnicode_AsUTF8(truth), "rebound through an int");
  PyObject *fast = watch_cell_value(cell);
  ck_assert_msg(fast == NULL || fast == truth,
                "the module cell forwards the value the int's write dropped");
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, truth);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* ---- an instance __dict__ after clear() ----------------------------------
 * A cell (or a dependent) may be made on any exact dict, an instance's
 * __dict__ included.  On 3.13 (3.13.0 here), an attribute store (o.a = v)
 * into an instance whose values are inline writes its materialized
 * __dict__ with no dict-watcher event (_testcapi's dict watcher records
 * only the 'clear' for D.clear(); o.a = 1; o.a = 2, and nothing for the
 * stores without the clear either): the cell keeps the value the store
 * dropped (freed: dangling), and a dependent on the key stays valid.
 * CPython's own omission (gh-125608, fixed in 3.13.1), but the cell's
 * promise is broken all the same. */
#define INSTANCE_SRC                                                          \
  "class O: pass\n"                                                           \
  "o = O()\n"                                                                 \
  "o.a = 0\n"                                                                 \
  "D = o.__dict__\n"                                                          \
  "B = {'a': 'builtin'}\n"                                                    \
  "def store(o, v):\n"                                                        \
  "    o.a = v\n"                                                             \
  "D.clear()\n"                                                               \
  "store(o, object())\n"

/* So on 3.13.0 libwatch refuses every split dict, which an instance's
 * __dict__ sharing its inline values is (WATCH_EUNWATCHABLE); elsewhere
 * the cell follows the stores. */
START_TEST(an_instance_dict_written_after_clear)
{
  PyObject *ns = NS(INSTANCE_SRC);
  PyObject *d = ITEM(ns, "D"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_global(&cell, d, b, key("a"));
  if (harness_inline_stores_unheard()) {
    ck_assert_int_eq(rc, WATCH_EUNWATCHABLE);
    Py_DECREF(ns);
    return;
  }
  ck_assert_int_eq(rc, 0);
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(d, "a"));
  RUN(ns, "store(o, 'second')\n");  /* frees the object() */
  PyObject *truth = ITEM(d, "a");
  PyObject *fast = watch_cell_value(cell);
  ck_assert_msg(fast == NULL || fast == truth,
                "the cell forwards the value o.a = ... dropped");
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

START_TEST(an_instance_dict_written_after_clear_misses_a_dependent)
{
  PyObject *ns = NS(INSTANCE_SRC);
  PyObject *d = ITEM(ns, "D");
  PROBE(p);
  int rc = watch_dep_on_key(p->dep, d, key("a"), ITEM(d, "a"));
  if (harness_inline_stores_unheard()) {
    ck_assert_int_eq(rc, WATCH_EUNWATCHABLE);
    ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), WATCH_EUNWATCHABLE);
    uint64_t version;
    ck_assert_int_eq(watch_dict_version(d, &version), WATCH_EUNWATCHABLE);
    probe_release(p);
    Py_DECREF(ns);
    return;
  }
  ck_assert_int_eq(rc, 0);
  RUN(ns, "store(o, 'second')\n");
  ck_assert_msg(!watch_dep_valid(p->dep),
                "o.a changed; the dependent on its __dict__ key is valid");
  probe_release(p);
  Py_DECREF(ns);
}
END_TEST

/* CPython's own omission (READONLY.txt): a dict watcher of the test's own,
 * with no libwatch in between, hears no store of 3.13.0 into inline
 * values, with or without the clear(), and hears each elsewhere. */
static int instance_events;

static int
count_events(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
             PyObject *value)
{
  (void)event, (void)dict, (void)key, (void)value;
  instance_events++;
  return 0;
}

START_TEST(cpython_3_13_0_tells_no_watcher_of_inline_stores)
{
  PyObject *ns = NS("class O: pass\n"
                    "o = O()\n"
                    "o.a = 0\n"
                    "D = o.__dict__\n"
                    "def store(o, v):\n"
                    "    o.a = v\n");
  int id = PyDict_AddWatcher(count_events);
  ck_assert_int_ge(id, 0);
  ck_assert_int_eq(PyDict_Watch(id, ITEM(ns, "D")), 0);
  instance_events = 0;
  RUN(ns, "store(o, 1)\n"
          "store(o, 2)\n");
  ck_assert_int_eq(instance_events, harness_inline_stores_unheard() ? 0 : 2);
  RUN(ns, "D.clear()\n");
  instance_events = 0;
  RUN(ns, "store(o, 3)\n"
          "store(o, 4)\n");
  ck_assert_int_eq(instance_events, harness_inline_stores_unheard() ? 0 : 2);
  ck_assert_int_eq(PyDict_Unwatch(id, ITEM(ns, "D")), 0);
  ck_assert_int_eq(PyDict_ClearWatcher(id), 0);
  Py_DECREF(ns);
}
END_TEST

/* ---- the builtins dict dies in the middle of a read -----------------------
 * A cell borrows its dicts.  Its refresh (and watch_cell_dep()) look the
 * name up in the globals, then in the builtins; the globals lookup runs the
 * __eq__ of a colliding key, which drops the last reference to the builtins
 * dict.  The cell hears DEALLOCATED and is dead, but the code goes on to
 * look up in the freed dict.  B is big so that its keys are freed with
 * PyMem_Free, which ASan sees (a small dict's keys go to a free list).
 * Before 023c8ce, global_refresh() read the freed dict: this test passed
 * anyway on 3.13, plain and ASan (the freed dict's lookup went unnoticed),
 * so it stays as a guard; watch_cell_dep()'s test below failed both ways. */
#define KILL_SRC                                                              \
  "class S(str):\n"                                                           \
  "    def __hash__(self): return hash('name')\n"                            \
  "    def __eq__(self, other):\n"                                            \
  "        global B, armed\n"                                                 \
  "        if armed:\n"                                                       \
  "            armed = False\n"                                               \
  "            B = None\n"                                                    \
  "        return False\n"                                                    \
  "armed = False\n"                                                           \
  "B = {'k%d' % i: i for i in range(100)}\n"                                  \
  "B['name'] = 'builtin value'\n"                                             \
  "s = S('s')\n"                                                              \
  "G = {s: 1}\n"

START_TEST(the_builtins_dying_in_a_refresh_s_globals_lookup)
{
  PyObject *ns = NS(KILL_SRC);
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("name")), 0);
  /* The S key in G: the cell reads again at each watch_cell_get(). */
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(cell, &v), 0);
  ck_assert_ptr_eq(v, ITEM(b, "name"));
  ck_assert_ptr_null(watch_cell_value(cell));
  RUN(ns, "armed = True\n");
  v = (PyObject *)1;
  int rc = watch_cell_get(cell, &v);  /* B dies inside; then B is read */
  ck_assert_int_eq(rc, WATCH_ESTALE);
  ck_assert_ptr_null(v);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* The same death in watch_cell_dep(): it reads B after the globals lookup
 * that killed it, and then registers the dependent on the freed dict.
 * Fails under `make asan` (heap-use-after-free: Py_XINCREF of the value
 * read from the freed dict) and in the plain build (a valid dependent on
 * a dead dict). */
START_TEST(the_builtins_dying_in_watch_cell_dep_s_globals_lookup)
{
  PyObject *ns = NS(KILL_SRC);
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("name")), 0);
  RUN(ns, "armed = True\n");
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), 0);
  int rc = watch_cell_dep(cell, dep);  /* B dies inside; then B is read */
  ck_assert_msg(rc < 0 || !watch_dep_valid(dep),
                "watch_cell_dep() left a valid dependent on a dead builtins "
                "dict (rc %d)", rc);
  watch_dep_release(dep);
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* watch.h: watch_cell_free() is "allowed at any time ... from any callback
 * included".  watch_cell_dep() runs Python code (the globals lookup
 * compares a colliding key) without pinning the cell: a key's __eq__ that
 * frees the cell leaves watch_cell_dep() reading the freed cell (its
 * dicts, its name).  Fails under `make asan` (heap-use-after-free in
 * watch_cell_dep()); the plain build reads freed memory. */
static watch_cell_t *doomed;

static PyObject *
free_doomed(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  watch_cell_free(doomed);
  doomed = NULL;
  Py_RETURN_NONE;
}

static PyMethodDef free_doomed_def = {"free_doomed", free_doomed, METH_NOARGS,
                                      NULL};

START_TEST(a_cell_freed_by_a_key_s_eq_during_watch_cell_dep)
{
  PyObject *ns = NS("class S(str):\n"
                    "    def __hash__(self): return hash('name')\n"
                    "    def __eq__(self, other):\n"
                    "        global armed\n"
                    "        if armed:\n"
                    "            armed = False\n"
                    "            free_doomed()\n"
                    "        return False\n"
                    "armed = False\n"
                    "B = {'name': 'builtin value'}\n"
                    "G = {S('s'): 1}\n");
  PyObject *fn = PyCFunction_New(&free_doomed_def, NULL);
  PyDict_SetItemString(ns, "free_doomed", fn);
  Py_DECREF(fn);
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  ck_assert_int_eq(watch_cell_new_global(&doomed, g, b, key("name")), 0);
  RUN(ns, "armed = True\n");
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), 0);
  int rc = watch_cell_dep(doomed, dep);  /* the cell is freed inside */
  ck_assert_ptr_null(doomed);
  ck_assert_msg(rc < 0, "watch_cell_dep() of a cell freed meanwhile = %d",
                rc);
  watch_dep_release(dep);
  Py_DECREF(ns);
}
END_TEST

/* ---- Python code run by the release of a broken guard ---------------------
 * attr_refresh() releases the broken guard before it clears cell->guard.
 * The release drops the references its event kept (state_decref_later(),
 * flushed by index_collect() after the dependent is freed): here the key of
 * the raw write that broke the guard, a str subclass whose __del__ reads
 * the cell again.  That watch_cell_get() reads the freed guard
 * (watch_dep_valid()) and may release it a second time.  Fails under `make
 * asan` (heap-use-after-free in watch_cell_get()). */
static watch_cell_t *watched;

static PyObject *
get_watched(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  PyObject *v = NULL;
  int rc = watched ? watch_cell_get(watched, &v) : -100;
  if (rc == WATCH_EPYTHON)
    return NULL;
  return Py_BuildValue("(iO)", rc, v ? v : Py_None);
}

static PyMethodDef get_watched_def = {"get_watched", get_watched, METH_NOARGS,
                                      NULL};

START_TEST(a_cell_read_by_code_its_guard_s_release_runs)
{
  PyObject *ns = NS("class S(str):\n"
                    "    def __hash__(self): return hash('m')\n"
                    "    def __eq__(self, o): return str.__eq__(self, o)\n"
                    "    def __del__(self):\n"
                    "        if armed:\n"
                    "            seen.append(get_watched())\n"
                    "seen = []\n"
                    "armed = False\n"
                    "class C:\n"
                    "    m = 1\n"
                    "import gc\n"
                    "d = gc.get_referents(C.__dict__)[0]\n");
  PyObject *fn = PyCFunction_New(&get_watched_def, NULL);
  PyDict_SetItemString(ns, "get_watched", fn);
  Py_DECREF(fn);
  ck_assert_int_eq(watch_cell_new_attr(&watched, ITEM(ns, "C"), key("m")), 0);
  /* One line: no eval-breaker check delivers the guard's event (and drops
   * the S key) before get_watched() releases the guard. */
  RUN(ns, "armed = True; d[S('m')] = 2; r = get_watched(); armed = False\n"
          "assert r == (0, 2), r\n"
          "assert seen == [(0, 2)], seen\n");
  RUN(ns, "C.m = 3\n");
  PyObject *v = NULL;
  ck_assert_int_eq(watch_cell_get(watched, &v), 0);
  PyObject *truth = PyObject_GetAttrString(ITEM(ns, "C"), "m");
  ck_assert_ptr_eq(v, truth);
  Py_DECREF(truth);
  watch_cell_free(watched);
  watched = NULL;
  RUN(ns, "C.m = 4\n");  /* no guard of the freed cell may be left */
  Py_DECREF(ns);
}
END_TEST

/* ---- finalization of a cell that watches nothing --------------------------
 * watch.h: "a cell ... whose interpreter's libwatch finalized stays NULL,
 * and watch_cell_get() says WATCH_ESTALE".  An attribute cell whose guard
 * is not valid at watch_fini() (a write it cannot forward, such as a
 * shadowing one, and nobody read it again, or a state it cannot forward)
 * hears no FINALIZED: after watch_fini() watch_cell_get() said
 * WATCH_ENOINIT, and after a new watch_init() the cell read again,
 * registering a guard in the new state, instead of staying NULL for good.
 * (The write was C.m = 1 into the class that defines m, which the cell now
 * forwards: the guard does not break.  A shadowing write breaks it.) */
START_TEST(finalization_of_an_attr_cell_with_a_broken_guard)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *ns = NS("B = type('B', (), {'m': 0})\n"
                    "C = type('C', (B,), {})\n");
  PyObject *cls = ITEM(ns, "C");
  watch_cell_t *cell = NULL;
  ck_assert_int_eq(watch_cell_new_attr(&cell, cls, key("m")), 0);
  ck_assert_ptr_nonnull(watch_cell_value(cell));
  RUN(ns, "C.m = 1\n");  /* shadows B.m: the guard breaks */
  ck_assert_ptr_null(watch_cell_value(cell));
  watch_fini();

  PyObject *v = (PyObject *)1;
  int rc = watch_cell_get(cell, &v);
  ck_assert_msg(rc == WATCH_ESTALE,
                "after watch_fini() watch_cell_get() = %d (%s), not "
                "WATCH_ESTALE", rc, harness_err(rc));
  ck_assert_int_eq(watch_init(), 0);
  v = (PyObject *)1;
  rc = watch_cell_get(cell, &v);
  ck_assert_msg(rc == WATCH_ESTALE && v == NULL,
                "a cell of a finalized libwatch came back after watch_init()"
                " (rc %d, value %p)", rc, (void *)v);
  watch_cell_free(cell);
  watch_fini();
  Py_DECREF(ns);
}
END_TEST

/* The contract for every cell (watch.h, "Cells"): a cell made before the
 * last watch_fini() is dead for good, whatever it held then: valid,
 * forwarding, refused; a global cell, a module cell, a class cell; and
 * watch_cell_dep() says so too. */
START_TEST(finalization_leaves_every_earlier_cell_dead)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *ns = NS("import types\n"
                    "m = types.ModuleType('m')\n"
                    "m.x = 1\n"
                    "class C:\n"
                    "    y = 2\n"
                    "B = {'z': 3}\n"
                    "G = {}\n"
                    "class Prop(types.ModuleType):\n"
                    "    x = property(lambda self: 4)\n"
                    "p = Prop('p')\n");
  watch_cell_t *cells[4];
  ck_assert_int_eq(watch_cell_new_attr(&cells[0], ITEM(ns, "m"), key("x")),
                   0);
  ck_assert_int_eq(watch_cell_new_attr(&cells[1], ITEM(ns, "C"), key("y")),
                   0);
  ck_assert_int_eq(watch_cell_new_global(&cells[2], ITEM(ns, "G"),
                                         ITEM(ns, "B"), key("z")), 0);
  ck_assert_int_eq(watch_cell_new_attr(&cells[3], ITEM(ns, "p"), key("x")),
                   0);  /* refused: a data descriptor */
  for (int i = 0; i < 3; i++)
    ck_assert_ptr_nonnull(watch_cell_value(cells[i]));
  ck_assert_ptr_null(watch_cell_value(cells[3]));
  watch_fini();
  ck_assert_int_eq(watch_init(), 0);
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_null(watch_cell_value(cells[i]));
    PyObject *v = (PyObject *)1;
    ck_assert_int_eq(watch_cell_get(cells[i], &v), WATCH_ESTALE);
    ck_assert_ptr_null(v);
    watch_dep_t *dep;
    ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), 0);
    ck_assert_int_eq(watch_cell_dep(cells[i], dep), WATCH_ESTALE);
    watch_dep_release(dep);
    watch_cell_free(cells[i]);
  }
  watch_fini();
  Py_DECREF(ns);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("cell_adversary");
  TCase *tc = harness_tcase(s, "eq");
  tcase_add_test(tc, a_key_whose_eq_starts_matching_shadows_the_builtin);
  tcase_add_test(tc, a_key_whose_eq_stops_matching_unshadows_the_builtin);
  tcase_add_test(tc, a_module_key_whose_eq_stops_matching);
  tcase_add_test(tc, a_dependent_on_a_read_through_a_flipping_key_is_refused);
  tcase_add_test(tc, a_rebind_through_a_flipping_key_is_not_forwarded);
  tcase_add_test(tc, an_int_key_rebinding_the_name_s_entry);
  tcase_add_test(tc, an_int_key_rebinding_the_name_s_entry_misses_a_dependent);
  tcase_add_test(tc, an_int_key_rebinding_a_module_attribute);
  tc = harness_tcase(s, "instance dict");
  tcase_add_test(tc, an_instance_dict_written_after_clear);
  tcase_add_test(tc, an_instance_dict_written_after_clear_misses_a_dependent);
  tcase_add_test(tc, cpython_3_13_0_tells_no_watcher_of_inline_stores);
  tc = harness_tcase(s, "dying builtins");
  tcase_add_test(tc, the_builtins_dying_in_a_refresh_s_globals_lookup);
  tcase_add_test(tc, the_builtins_dying_in_watch_cell_dep_s_globals_lookup);
  tcase_add_test(tc, a_cell_freed_by_a_key_s_eq_during_watch_cell_dep);
  tc = harness_tcase(s, "guard release");
  tcase_add_test(tc, a_cell_read_by_code_its_guard_s_release_runs);
  tc = harness_bare_tcase(s, "finalization");
  tcase_add_test(tc, finalization_of_an_attr_cell_with_a_broken_guard);
  tcase_add_test(tc, finalization_leaves_every_earlier_cell_dead);
  return s;
}
