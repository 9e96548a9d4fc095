/* Value cells (watch_cell_*): a cell holds what a plain read gives now, or
 * NULL; after watch_cell_get(), exactly what the plain read gives. */
#include "harness.h"
#include "global_env.h"

#define V315 (PY_VERSION_HEX >= 0x030F0000)

static watch_cell_t *
global_cell(env_t *e, const char *name)
{
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_global(&cell, e->g, e->b, key(name));
  ck_assert_msg(rc == 0, "watch_cell_new_global(%s) = %d (%s)", name, rc,
                harness_err(rc));
  return cell;
}

static watch_cell_t *
attr_cell(PyObject *obj, const char *name)
{
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_attr(&cell, obj, key(name));
  ck_assert_msg(rc == 0, "watch_cell_new_attr(%s) = %d (%s)", name, rc,
                harness_err(rc));
  return cell;
}

/* expr's value, which a namespace holds: the reference EVAL gives is
 * dropped. */
static PyObject *
peek(PyObject *ns, const char *expr)
{
  PyObject *v = EVAL(ns, expr);
  Py_DECREF(v);
  return v;
}

/* The slow path's answer, which must be the plain read's. */
static PyObject *
slow(watch_cell_t *cell)
{
  PyObject *v = (PyObject *)1;
  int rc = watch_cell_get(cell, &v);
  ck_assert_msg(rc == 0, "watch_cell_get() = %d (%s)", rc, harness_err(rc));
  ck_assert_ptr_eq(v, watch_cell_value(cell));
  return v;
}

/* The invariant: the cell holds the plain read or NULL, and after the slow
 * path, the plain read. */
#define ASSERT_GLOBAL(e, cell, name)                                          \
  do {                                                                        \
    PyObject *truth_ = load_global(&(e), (name));                             \
    PyObject *fast_ = watch_cell_value(cell);                                 \
    ck_assert_msg(fast_ == NULL || fast_ == truth_,                           \
                  "the cell forwards what LOAD_GLOBAL does not read");        \
    ck_assert_msg(slow(cell) == truth_,                                       \
                  "after watch_cell_get() the cell is not LOAD_GLOBAL's");    \
    Py_XDECREF(truth_);                                                       \
  } while (0)

/* ---- forwarding ------------------------------------------------------------ */

/* A rebind (MODIFIED) reaches the cell with the write itself: no slow
 * path is needed to see it. */
START_TEST(a_rebind_is_forwarded_by_the_write_itself)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "only_g");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));

  RUN(e.ns, "G['store_only_g']('new value')\n");
  ck_assert_ptr_nonnull(watch_cell_value(cell));
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));
  ASSERT_GLOBAL(e, cell, "only_g");

  RUN(e.ns, "G['only_g'] = 3.5\n");  /* a write through the dict */
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* A name written far more often than the unstable limit keeps being
 * forwarded, and registrations of dependents elsewhere are unaffected. */
START_TEST(cells_have_no_unstable_limit)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "only_g");
  RUN(e.ns, "for i in range(1000):\n"
            "    G['store_only_g'](str(i))\n");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));
  ASSERT_GLOBAL(e, cell, "only_g");

  PyObject *cls = EVAL(e.ns, "type('C', (), {'m': 0})");
  watch_cell_t *c_cell = attr_cell(cls, "m");
  PyObject *cls_ns = NS("");
  PyDict_SetItemString(cls_ns, "C", cls);
  for (int i = 0; i < 50; i++) {
    RUN(cls_ns, "C.m = object()\n");
    ck_assert_ptr_eq(watch_cell_value(c_cell), peek(cls_ns, "C.__dict__['m']"));
    ck_assert_ptr_eq(slow(c_cell), peek(cls_ns, "C.__dict__['m']"));
  }
  watch_cell_free(c_cell);
  watch_cell_free(cell);
  Py_DECREF(cls_ns);
  Py_DECREF(cls);
  Py_DECREF(e.ns);
}
END_TEST

/* Writes to names in turn each reach their own cells, also once the cells
 * of the name written last are freed and another name gets a cell: the
 * cells' record remembers that name, and must forget it with the name. */
START_TEST(writes_to_names_in_turn_reach_each_name_s_cells)
{
  ENV(e);
  watch_cell_t *only_g = global_cell(&e, "only_g");
  watch_cell_t *other = global_cell(&e, "other");
  for (int i = 0; i < 3; i++) {
    RUN(e.ns, "G['only_g'] = object()\n"
              "G['other'] = object()\n"
              "G['only_g'] = object()\n");
    ck_assert_ptr_eq(watch_cell_value(only_g), ITEM(e.g, "only_g"));
    ck_assert_ptr_eq(watch_cell_value(other), ITEM(e.g, "other"));
  }
  watch_cell_free(only_g);  /* the name written last loses its cells */
  RUN(e.ns, "G['fresh'] = 1\n");
  watch_cell_t *fresh = global_cell(&e, "fresh");
  watch_cell_t *again = global_cell(&e, "only_g");
  RUN(e.ns, "G['fresh'] = object()\n"
            "G['other'] = object()\n"
            "G['only_g'] = object()\n");
  ck_assert_ptr_eq(watch_cell_value(fresh), ITEM(e.g, "fresh"));
  ck_assert_ptr_eq(watch_cell_value(other), ITEM(e.g, "other"));
  ck_assert_ptr_eq(watch_cell_value(again), ITEM(e.g, "only_g"));
  ASSERT_GLOBAL(e, again, "only_g");
  watch_cell_free(again);
  watch_cell_free(fresh);
  watch_cell_free(other);
  Py_DECREF(e.ns);
}
END_TEST

/* ---- shadowing --------------------------------------------------------------- */

/* A global shadowing a builtin is an add: NULL until the slow path reads
 * it; its deletion falls back to the builtin at once. */
START_TEST(shadowing_and_unshadowing_a_builtin)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "len");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.b, "len"));

  RUN(e.ns, "G['len'] = 5\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_GLOBAL(e, cell, "len");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "len"));

  RUN(e.ns, "B['len'] = 'rebound builtin'\n");  /* shadowed: no change */
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "len"));

  RUN(e.ns, "del G['len']\n");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.b, "len"));
  ASSERT_GLOBAL(e, cell, "len");

  RUN(e.ns, "del B['len']\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_GLOBAL(e, cell, "len");
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* A builtin rebound while no global shadows it is forwarded. */
START_TEST(a_builtin_rebind_is_forwarded)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "len");
  RUN(e.ns, "B['len'] = abs\n");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.b, "abs"));
  ASSERT_GLOBAL(e, cell, "len");
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* A function's LOAD_GLOBAL keeps the builtins it was made with; so does
 * the cell.  A cell on the name __builtins__ follows the rebinding. */
START_TEST(rebinding___builtins___in_globals)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "len");
  watch_cell_t *of_name = global_cell(&e, "__builtins__");
  ck_assert_ptr_eq(watch_cell_value(of_name), e.b);

  RUN(e.ns, "G['__builtins__'] = {'len': 'other builtins'}\n");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.b, "len"));
  ASSERT_GLOBAL(e, cell, "len");
  ck_assert_ptr_eq(watch_cell_value(of_name), ITEM(e.g, "__builtins__"));
  ck_assert_ptr_ne(watch_cell_value(of_name), e.b);
  watch_cell_free(of_name);
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* ---- whole-dict events ---------------------------------------------------- */

START_TEST(clear_falls_back_to_builtins_and_then_to_nothing)
{
  ENV(e);
  watch_cell_t *shadowed = global_cell(&e, "shadowed");
  watch_cell_t *only_g = global_cell(&e, "only_g");
  ck_assert_ptr_eq(watch_cell_value(shadowed), ITEM(e.g, "shadowed"));

  RUN(e.ns, "saved = dict(G)\n"
            "G.clear()\n");
  ck_assert_ptr_eq(watch_cell_value(shadowed), ITEM(e.b, "shadowed"));
  ck_assert_ptr_null(watch_cell_value(only_g));
  RUN(e.ns, "G['__builtins__'] = B\n"
            "G['load_shadowed'] = saved['load_shadowed']\n"
            "G['load_only_g'] = saved['load_only_g']\n");
  ASSERT_GLOBAL(e, shadowed, "shadowed");
  ASSERT_GLOBAL(e, only_g, "only_g");

  RUN(e.ns, "B.clear()\n");
  ck_assert_ptr_null(watch_cell_value(shadowed));
  ASSERT_GLOBAL(e, shadowed, "shadowed");
  watch_cell_free(shadowed);
  watch_cell_free(only_g);
  Py_DECREF(e.ns);
}
END_TEST

/* update() of an empty dict from a dense exact dict is one CLONED event:
 * the cell says NULL, then reads the clone. */
START_TEST(a_clone_is_read_again)
{
  PyObject *ns = NS("G = {}\n"
                    "B = {'x': 'builtin x'}\n"
                    "src = {'x': 'cloned x', 'y': 2}\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  watch_cell_t *cell;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("x")), 0);
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(b, "x"));

  RUN(ns, "G.update(src)\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_eq(slow(cell), ITEM(g, "x"));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* The cell borrows its dicts: one dying leaves it NULL for good. */
START_TEST(a_dying_dict_leaves_the_cell_null_for_good)
{
  PyObject *ns = NS("G = {'x': 'global x'}\n"
                    "B = {}\n");
  watch_cell_t *cell;
  ck_assert_int_eq(watch_cell_new_global(&cell, ITEM(ns, "G"), ITEM(ns, "B"),
                                         key("x")),
                   0);
  ck_assert_ptr_nonnull(watch_cell_value(cell));
  RUN(ns, "del G\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  PyObject *v = (PyObject *)1;
  ck_assert_int_eq(watch_cell_get(cell, &v), WATCH_ESTALE);
  ck_assert_ptr_null(v);
  watch_cell_t *other;  /* another cell on the surviving dict still works */
  RUN(ns, "B['x'] = 1\n");
  watch_cell_free(cell);
  ck_assert_int_eq(watch_cell_new_global(&other, ITEM(ns, "B"), ITEM(ns, "B"),
                                         key("x")),
                   0);
  ck_assert_ptr_eq(watch_cell_value(other), ITEM(ITEM(ns, "B"), "x"));
  watch_cell_free(other);
  Py_DECREF(ns);
}
END_TEST

/* A write through a str subclass equal to the name writes the name's
 * entry: the cell cannot tell without Python code, so it reads again. */
START_TEST(a_key_with_its_own_eq_makes_the_cell_read_again)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "only_g");
  RUN(e.ns, "class S(str):\n"
            "    __hash__ = str.__hash__\n"
            "    __eq__ = str.__eq__\n"
            "G[S('only_g')] = 'through S'\n"
            "assert G['only_g'] == 'through S'\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_GLOBAL(e, cell, "only_g");
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* ---- lifetime --------------------------------------------------------------- */

static watch_cell_t *seen_cell;

/* cell_now(): what seen_cell holds, for Python code that runs while the
 * namespace changes (None for NULL). */
static PyObject *
cell_now(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  PyObject *v = seen_cell ? watch_cell_value(seen_cell) : NULL;
  return Py_NewRef(v ? v : Py_None);
}

static PyMethodDef cell_now_def = {"cell_now", cell_now, METH_NOARGS, NULL};

/* The old value's __del__ runs when the dict drops it, after the write:
 * the cell already forwards the new value, which the dict holds. */
START_TEST(code_run_by_the_old_value_s_drop_sees_the_new_value)
{
  ENV(e);
  PyObject *fn = PyCFunction_New(&cell_now_def, NULL);
  PyDict_SetItemString(e.ns, "cell_now", fn);
  Py_DECREF(fn);
  seen_cell = global_cell(&e, "only_g");
  RUN(e.ns, "class Old:\n"
            "    def __del__(self):\n"
            "        seen.append(cell_now() is G['only_g'])\n"
            "seen = []\n"
            "G['only_g'] = Old()\n");
  ck_assert_ptr_eq(watch_cell_value(seen_cell), ITEM(e.g, "only_g"));
  RUN(e.ns, "G['store_only_g']('new')\n"
            "assert seen == [True], seen\n");
  ck_assert_ptr_eq(watch_cell_value(seen_cell), ITEM(e.g, "only_g"));
  watch_cell_free(seen_cell);
  seen_cell = NULL;
  Py_DECREF(e.ns);
}
END_TEST

/* A cell on a deleted builtin's name, whose last reference the dict drops:
 * the cell no longer forwards it when its __del__ runs. */
START_TEST(a_deleted_value_is_never_forwarded)
{
  ENV(e);
  PyObject *fn = PyCFunction_New(&cell_now_def, NULL);
  PyDict_SetItemString(e.ns, "cell_now", fn);
  Py_DECREF(fn);
  RUN(e.ns, "class Dying:\n"
            "    def __del__(self):\n"
            "        seen.append(cell_now())\n"
            "seen = []\n"
            "B['dying'] = Dying()\n");
  seen_cell = global_cell(&e, "dying");
  ck_assert_ptr_eq(watch_cell_value(seen_cell), ITEM(e.b, "dying"));
  RUN(e.ns, "del B['dying']\n"
            "assert seen == [None], seen\n");
  ck_assert_ptr_null(watch_cell_value(seen_cell));
  watch_cell_free(seen_cell);
  seen_cell = NULL;
  Py_DECREF(e.ns);
}
END_TEST

/* ---- a dependent from a cell ----------------------------------------------- */

START_TEST(a_cell_gives_a_dependent_on_what_it_reads)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "len");
  PROBE(p);
  ck_assert_int_eq(watch_cell_dep(cell, p->dep), 0);
  RUN(e.ns, "B['abs'] = 1\n");
  assert_intact(p);
  RUN(e.ns, "G['len'] = 'shadow'\n");
  assert_invalidated(p, WATCH_EVENT_ADDED, e.g);
  ASSERT_GLOBAL(e, cell, "len");

  PyObject *cls = EVAL(e.ns, "type('C', (), {'m': 0})");
  watch_cell_t *c_cell = attr_cell(cls, "m");
  PROBE(q);
  ck_assert_int_eq(watch_cell_dep(c_cell, q->dep), 0);
  PyObject_SetAttrString(cls, "m", Py_None);
  assert_invalidated_once(q);
  ck_assert_ptr_eq(slow(c_cell), Py_None);
  watch_cell_free(c_cell);
  Py_DECREF(cls);
  probe_release(p);
  probe_release(q);
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* ---- class attributes -------------------------------------------------------- */

#define CLASSES_SRC                                                           \
  "import gc\n"                                                               \
  "class A: m = 'A.m'\n"                                                      \
  "class Other: m = 'Other.m'\n"                                              \
  "class B(A): pass\n"                                                        \
  "class C(B): pass\n"

static PyObject *
mro_value(PyObject *ns, const char *cls)
{
  char src[160];
  snprintf(src, sizeof src,
           "next((k.__dict__['m'] for k in %s.__mro__ if 'm' in k.__dict__),"
           " None)",
           cls);
  PyObject *v = EVAL(ns, src);
  Py_DECREF(v);
  return v == Py_None ? NULL : v;
}

#define ASSERT_ATTR(ns, cell, cls)                                            \
  do {                                                                        \
    PyObject *truth_ = mro_value((ns), (cls));                                \
    PyObject *fast_ = watch_cell_value(cell);                                 \
    ck_assert_msg(fast_ == NULL || fast_ == truth_,                           \
                  "the cell forwards what the MRO lookup does not read");     \
    ck_assert_msg(slow(cell) == truth_,                                       \
                  "after watch_cell_get() the cell is not the MRO lookup's"); \
  } while (0)

START_TEST(a_class_cell_follows_the_mro)
{
  PyObject *ns = NS(CLASSES_SRC);
  watch_cell_t *cell = attr_cell(ITEM(ns, "C"), "m");
  ck_assert_ptr_eq(watch_cell_value(cell), mro_value(ns, "C"));
  RUN(ns, "A.m = 'A.m 2'\n");  /* the definer's entry: forwarded */
  ck_assert_ptr_eq(watch_cell_value(cell), mro_value(ns, "C"));
  ASSERT_ATTR(ns, cell, "C");

  RUN(ns, "B.m = 'B.m'\n");  /* shadows A.m */
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_ATTR(ns, cell, "C");
  RUN(ns, "del B.m\n");
  ASSERT_ATTR(ns, cell, "C");

  RUN(ns, "A.other = 1\n");  /* another name: the cell keeps its value */
  ck_assert_ptr_nonnull(watch_cell_value(cell));

  RUN(ns, "B.__bases__ = (Other,)\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_ATTR(ns, cell, "C");
  ck_assert_ptr_eq(watch_cell_value(cell), mro_value(ns, "Other"));

  RUN(ns, "gc.get_referents(Other.__dict__)[0]['m'] = 'raw'\n");
  ck_assert_ptr_eq(watch_cell_value(cell), mro_value(ns, "Other"));
  ASSERT_ATTR(ns, cell, "C");

  RUN(ns, "del Other.m\n");
  ASSERT_ATTR(ns, cell, "C");
  ck_assert_ptr_null(watch_cell_value(cell));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* Raw writes to a global cell's dicts are plain dict writes. */
/* What a tap on the cell's dict heard of the name: its last event. */
typedef struct {
  int n;
  watch_event_kind_t kind;
  PyObject *value;  /* borrowed, compared by identity only */
} heard_t;

static int
hear_name(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  heard_t *h = watch_tap_data(tap);
  if (ev->key != NULL && PyUnicode_Check(ev->key)
      && PyUnicode_CompareWithASCIIString(ev->key, "only_g") == 0) {
    h->n++;
    h->kind = ev->kind;
    h->value = ev->value;
  }
  return 0;
}

/* The cell, another tap and a dependent on one key of one dict: each
 * write reaches all three, whichever came first, and the cell goes on
 * once the other tap is freed (the watcher then gives the write to the
 * cells alone) or the cell is (the tap then hears alone). */
START_TEST(a_cell_another_tap_and_a_dependent_on_one_key)
{
  for (int tap_first = 0; tap_first < 2; tap_first++) {
    ENV(e);
    heard_t heard = {0};
    watch_tap_t *tap = NULL;
    watch_cell_t *cell = NULL;
    if (tap_first)
      ck_assert_int_eq(watch_tap_new(&tap, e.g, hear_name, NULL, &heard), 0);
    cell = global_cell(&e, "only_g");
    if (!tap_first)
      ck_assert_int_eq(watch_tap_new(&tap, e.g, hear_name, NULL, &heard), 0);
    PROBE(p);
    DEPEND(p, e.g, "only_g");

    RUN(e.ns, "G['store_only_g']('first')\n");
    PyObject *v = ITEM(e.g, "only_g");
    ck_assert_ptr_eq(watch_cell_value(cell), v);
    ck_assert_int_eq(heard.n, 1);
    ck_assert_int_eq(heard.kind, WATCH_EVENT_MODIFIED);
    ck_assert_ptr_eq(heard.value, v);
    assert_invalidated(p, WATCH_EVENT_MODIFIED, e.g);
    ASSERT_GLOBAL(e, cell, "only_g");

    /* The cell alone with a dependent on its name. */
    watch_tap_free(tap);
    PROBE(q);
    DEPEND(q, e.g, "only_g");
    RUN(e.ns, "G['store_only_g']('second')\n");
    ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));
    ck_assert_int_eq(heard.n, 1);
    assert_invalidated(q, WATCH_EVENT_MODIFIED, e.g);

    /* A tap again, then the cell goes: the tap still hears. */
    ck_assert_int_eq(watch_tap_new(&tap, e.g, hear_name, NULL, &heard), 0);
    RUN(e.ns, "G['store_only_g']('third')\n");
    ck_assert_ptr_eq(watch_cell_value(cell), ITEM(e.g, "only_g"));
    ck_assert_int_eq(heard.n, 2);
    RUN(e.ns, "del G['only_g']\n");
    ck_assert_ptr_null(watch_cell_value(cell));
    ck_assert_int_eq(heard.n, 3);
    ck_assert_int_eq(heard.kind, WATCH_EVENT_DELETED);
    ASSERT_GLOBAL(e, cell, "only_g");
    watch_cell_free(cell);
    RUN(e.ns, "G['store_only_g']('fourth')\n");
    ck_assert_int_eq(heard.n, 4);
    ck_assert_ptr_eq(heard.value, ITEM(e.g, "only_g"));
    watch_tap_free(tap);
    Py_DECREF(e.ns);
  }
}
END_TEST

START_TEST(raw_writes_reach_a_global_cell)
{
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "only_g");
  ck_assert_int_eq(PyDict_SetItemString(e.g, "only_g", Py_True), 0);
  ck_assert_ptr_eq(watch_cell_value(cell), Py_True);
  ck_assert_int_eq(PyDict_DelItemString(e.g, "only_g"), 0);
  ck_assert_ptr_null(watch_cell_value(cell));
  ASSERT_GLOBAL(e, cell, "only_g");
  watch_cell_free(cell);
  Py_DECREF(e.ns);
}
END_TEST

/* ---- module attributes ------------------------------------------------------ */

START_TEST(a_module_cell_reads_the_module_and_its_class)
{
  PyObject *ns = NS("import types\n"
                    "m = types.ModuleType('m')\n"
                    "m.x = 'x1'\n"
                    "class WithProperty(types.ModuleType):\n"
                    "    @property\n"
                    "    def x(self): return 'from the property'\n");
  PyObject *mod = ITEM(ns, "m");
  PyObject *dict = PyModule_GetDict(mod);
  watch_cell_t *cell = attr_cell(mod, "x");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(dict, "x"));

  RUN(ns, "m.x = 'x2'\n");  /* forwarded by the write itself */
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(dict, "x"));
  ck_assert_ptr_eq(slow(cell), ITEM(dict, "x"));

  RUN(ns, "m.__class__ = WithProperty\n"
          "assert m.x == 'from the property'\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(slow(cell));  /* only the generic path knows */

  RUN(ns, "m.__class__ = types.ModuleType\n");
  ck_assert_ptr_eq(slow(cell), ITEM(dict, "x"));

  RUN(ns, "del m.x\n");
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(slow(cell));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* watch.h, "A cell on obj.name": a rebinding of the entry that holds the
 * value is forwarded by the write itself, for a module whose class reads
 * its dict (ModuleType, or a subclass that provides the name as a
 * non-data descriptor at most) and for the class of the MRO that defines
 * the name; what changes where the value is found sets NULL. */
START_TEST(attribute_cells_forward_a_rebinding_of_the_entry_they_read)
{
  PyObject *ns = NS("import types\n"
                    "class Sub(types.ModuleType):\n"
                    "    def x(self): return 'a method, shadowed'\n"
                    "m = Sub('m')\n"
                    "m.x = 'x1'\n"
                    "class A:\n"
                    "    m = 'A.m'\n"
                    "class C(A):\n"
                    "    pass\n"
                    "class E(Exception):\n"
                    "    m = 'E.m'\n");
  PyObject *mod = ITEM(ns, "m");
  PyObject *dict = PyModule_GetDict(mod);
  watch_cell_t *x = attr_cell(mod, "x");
  ck_assert_ptr_eq(watch_cell_value(x), ITEM(dict, "x"));
  RUN(ns, "m.x = 'x2'\n");
  ck_assert_ptr_eq(watch_cell_value(x), ITEM(dict, "x"));
  RUN(ns, "m.__dict__['x'] = 'x3'\n");
  ck_assert_ptr_eq(watch_cell_value(x), ITEM(dict, "x"));
  RUN(ns, "del m.x\n");  /* the class's method, bound: the generic path */
  ck_assert_ptr_null(watch_cell_value(x));
  ck_assert_ptr_null(slow(x));
  RUN(ns, "m.x = 'x4'\n");  /* an add: NULL until read again */
  ck_assert_ptr_null(watch_cell_value(x));
  ck_assert_ptr_eq(slow(x), ITEM(dict, "x"));
  RUN(ns, "Sub.x = property(lambda self: 'a property')\n");
  ck_assert_ptr_null(watch_cell_value(x));
  ck_assert_ptr_null(slow(x));
  watch_cell_free(x);

  watch_cell_t *cm = attr_cell(ITEM(ns, "C"), "m");
  RUN(ns, "A.m = 'A.m 2'\n");  /* the class that defines m */
  ck_assert_ptr_eq(watch_cell_value(cm), peek(ns, "A.__dict__['m']"));
  RUN(ns, "C.m = 'C.m'\n");  /* found elsewhere from now on */
  ck_assert_ptr_null(watch_cell_value(cm));
  ck_assert_ptr_eq(slow(cm), peek(ns, "C.__dict__['m']"));
  RUN(ns, "C.m = 'C.m 2'\n");
  ck_assert_ptr_eq(watch_cell_value(cm), peek(ns, "C.__dict__['m']"));
  watch_cell_free(cm);

  /* A class whose bases are all builtin types other than object: any
   * change to it breaks the guard (watch_dep_on_attr()), so NULL. */
  watch_cell_t *em = attr_cell(ITEM(ns, "E"), "m");
  ck_assert_ptr_eq(watch_cell_value(em), peek(ns, "E.__dict__['m']"));
  RUN(ns, "E.m = 'E.m 2'\n");
  ck_assert_ptr_null(watch_cell_value(em));
  ck_assert_ptr_eq(slow(em), peek(ns, "E.__dict__['m']"));
  watch_cell_free(em);
  Py_DECREF(ns);
}
END_TEST

/* An absent name under a module __getattr__ is the generic path's: NULL,
 * with nothing watched (watch_dep_on_attr() refuses it), so each slow path
 * reads again and sees the name once it is set. */
START_TEST(a_module_cell_under_a_module___getattr__)
{
  PyObject *ns = NS("import types\n"
                    "m = types.ModuleType('m')\n"
                    "m.__getattr__ = lambda name: 'dynamic'\n"
                    "assert m.y == 'dynamic'\n");
  PyObject *mod = ITEM(ns, "m");
  watch_cell_t *cell = attr_cell(mod, "y");
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(slow(cell));
  RUN(ns, "m.y = 'static'\n");
  ck_assert_ptr_eq(slow(cell), ITEM(PyModule_GetDict(mod), "y"));
  RUN(ns, "m.y = 'rebound'\n");
  ck_assert_ptr_eq(watch_cell_value(cell), ITEM(PyModule_GetDict(mod), "y"));
  ck_assert_ptr_eq(slow(cell), ITEM(PyModule_GetDict(mod), "y"));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

#if V315
/* PEP 810: the cell says NULL while the name holds the lazy_import
 * placeholder, and forwards the module once the first use binds it. */
START_TEST(a_lazy_import_placeholder_reads_null)
{
  PyObject *ns = NS("import sys\n"
                    "assert 'colorsys' not in sys.modules\n"
                    "lazy import colorsys\n"
                    "def use():\n"
                    "    return colorsys.rgb_to_hsv(0, 0, 0)\n"
                    "assert type(globals()['colorsys']).__name__ "
                    "== 'lazy_import'\n");
  PyObject *builtins = PyEval_GetBuiltins();
  watch_cell_t *cell;
  ck_assert_int_eq(watch_cell_new_global(&cell, ns, builtins,
                                         key("colorsys")),
                   0);
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(slow(cell));
  RUN(ns, "use()\n");
  ck_assert_ptr_eq(watch_cell_value(cell), peek(ns, "sys.modules['colorsys']"));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST

/* The same through a module attribute cell: NULL while the module's dict
 * holds the placeholder, the module once getattr() resolved it. */
START_TEST(a_module_cell_on_a_lazy_import_reads_null_until_resolved)
{
  PyObject *ns = NS("import sys, types\n"
                    "assert 'wave' not in sys.modules\n"
                    "m = types.ModuleType('m')\n"
                    "exec('lazy import wave', m.__dict__)\n"
                    "assert type(m.__dict__['wave']).__name__ "
                    "== 'lazy_import'\n");
  watch_cell_t *cell = attr_cell(ITEM(ns, "m"), "wave");
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(slow(cell));
  RUN(ns, "assert m.wave is sys.modules['wave']\n");
  ck_assert_ptr_eq(slow(cell), peek(ns, "sys.modules['wave']"));
  watch_cell_free(cell);
  Py_DECREF(ns);
}
END_TEST
#endif

/* A key's __eq__, run by the slow path's lookup, frees the cell: the
 * free waits for the lookup, which then says WATCH_ESTALE. */
static PyObject *
free_seen_cell(PyObject *self, PyObject *unused)
{
  (void)self;
  (void)unused;
  watch_cell_free(seen_cell);
  Py_RETURN_NONE;
}

static PyMethodDef free_def = {"free_cell", free_seen_cell, METH_NOARGS,
                               NULL};

START_TEST(a_cell_freed_by_its_own_lookup)
{
  ENV(e);
  PyObject *fn = PyCFunction_New(&free_def, NULL);
  PyDict_SetItemString(e.ns, "free_cell", fn);
  Py_DECREF(fn);
  seen_cell = global_cell(&e, "only_g");
  /* A key of only_g's hash whose __eq__ frees the cell, in place of
   * only_g: the write through it makes the cell read again, and the
   * lookup of only_g compares it. */
  RUN(e.ns, "class K:\n"
            "    def __hash__(self): return hash('only_g')\n"
            "    def __eq__(self, other):\n"
            "        if armed:\n"
            "            free_cell()\n"
            "        return False\n"
            "armed = False\n"
            "del G['only_g']\n"
            "G[K()] = 1\n"
            "armed = True\n");
  ck_assert_ptr_null(watch_cell_value(seen_cell));
  PyObject *v = (PyObject *)1;
  ck_assert_int_eq(watch_cell_get(seen_cell, &v), WATCH_ESTALE);
  ck_assert_ptr_null(v);
  seen_cell = NULL;  /* freed */
  Py_DECREF(e.ns);
}
END_TEST

/* ---- arguments and finalization -------------------------------------------- */

START_TEST(bad_arguments_are_refused)
{
  ENV(e);
  watch_cell_t *cell;
  PyObject *sub = EVAL(e.ns, "type('D', (dict,), {})()");
  ck_assert_int_eq(watch_cell_new_global(&cell, sub, e.b, key("x")),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_cell_new_global(&cell, e.g, e.b, Py_None),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_cell_new_attr(&cell, e.g, key("x")), WATCH_EINVAL);
  watch_cell_free(NULL);
  Py_DECREF(sub);
  Py_DECREF(e.ns);
}
END_TEST

/* watch_fini() leaves every cell NULL; freeing it after is allowed. */
START_TEST(finalization_leaves_cells_null)
{
  ck_assert_int_eq(watch_init(), 0);
  ENV(e);
  watch_cell_t *cell = global_cell(&e, "len");
  PyObject *cls = EVAL(e.ns, "type('C', (), {'m': 0})");
  watch_cell_t *c_cell = attr_cell(cls, "m");
  ck_assert_ptr_nonnull(watch_cell_value(cell));
  ck_assert_ptr_nonnull(watch_cell_value(c_cell));
  watch_fini();
  ck_assert_ptr_null(watch_cell_value(cell));
  ck_assert_ptr_null(watch_cell_value(c_cell));
  PyObject *v;
  ck_assert_int_eq(watch_cell_get(cell, &v), WATCH_ESTALE);
  ck_assert_int_eq(watch_cell_get(c_cell, &v), WATCH_ESTALE);
  watch_cell_free(cell);
  watch_cell_free(c_cell);
  Py_DECREF(cls);
  Py_DECREF(e.ns);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("cell");

  TCase *tc = harness_tcase(s, "global");
  tcase_add_test(tc, a_rebind_is_forwarded_by_the_write_itself);
  tcase_add_test(tc, cells_have_no_unstable_limit);
  tcase_add_test(tc, writes_to_names_in_turn_reach_each_name_s_cells);
  tcase_add_test(tc, shadowing_and_unshadowing_a_builtin);
  tcase_add_test(tc, a_builtin_rebind_is_forwarded);
  tcase_add_test(tc, rebinding___builtins___in_globals);
  tcase_add_test(tc, clear_falls_back_to_builtins_and_then_to_nothing);
  tcase_add_test(tc, a_clone_is_read_again);
  tcase_add_test(tc, a_dying_dict_leaves_the_cell_null_for_good);
  tcase_add_test(tc, a_key_with_its_own_eq_makes_the_cell_read_again);
  tcase_add_test(tc, raw_writes_reach_a_global_cell);
  tcase_add_test(tc, a_cell_another_tap_and_a_dependent_on_one_key);
#if V315
  tcase_add_test(tc, a_lazy_import_placeholder_reads_null);
  tcase_add_test(tc, a_module_cell_on_a_lazy_import_reads_null_until_resolved);
#endif

  tc = harness_tcase(s, "lifetime");
  tcase_add_test(tc, code_run_by_the_old_value_s_drop_sees_the_new_value);
  tcase_add_test(tc, a_deleted_value_is_never_forwarded);
  tcase_add_test(tc, a_cell_gives_a_dependent_on_what_it_reads);
  tcase_add_test(tc, a_cell_freed_by_its_own_lookup);

  tc = harness_tcase(s, "attr");
  tcase_add_test(tc, a_class_cell_follows_the_mro);
  tcase_add_test(tc, a_module_cell_reads_the_module_and_its_class);
  tcase_add_test(tc, a_module_cell_under_a_module___getattr__);
  tcase_add_test(tc, attribute_cells_forward_a_rebinding_of_the_entry_they_read);

  tc = harness_tcase(s, "api");
  tcase_add_test(tc, bad_arguments_are_refused);
  tc = harness_bare_tcase(s, "finalization");
  tcase_add_test(tc, finalization_leaves_cells_null);
  return s;
}
