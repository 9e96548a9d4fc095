/* Coverage-guided fuzzing of libwatch's C API (libFuzzer, with ASan and
 * UBSan), in an embedded interpreter: `make fuzz-c RUNS=N`.
 *
 * An input is a sequence of operations, two bytes each (the operation, an
 * argument), on a small world made afresh per input: three dicts, a module
 * with two functions, classes A, B(A) and C, and eight dependent slots.
 * Keys include a Python object whose __hash__ releases a dependent slot.
 * Built with a test-only switch that undoes a fix (libwatch/internal.h),
 * it finds that bug too (make fuzz-c FUZZ_C_DEFS=-DWATCH_TEST_UNFIX_...).
 * Operations register dependencies (keys, globals, class and module
 * attributes, functions), write, delete and clear, change class attributes
 * and bases, swap code and defaults, flush, invalidate, release, cycle
 * watch_fini()/watch_init() with work pending, and specialize with code
 * whose death releases another dependent, and make, read and free value
 * cells (globals on the three dicts or a function's, class and module
 * attributes), replace a dict that cells read, and update() a dict (a
 * clone when it is empty).  Python code that no watcher hears: keys of a
 * name's hash whose __eq__ answers what a flag says, stored in the dicts,
 * the module's and the classes' (raw), and the flag flipped; an instance
 * __dict__ that shares inline values, written by attribute stores (unheard
 * on CPython 3.13.0).  And libwatch shut down for a few operations, cells
 * and dependents still held.  After each, the
 * oracle's rules: no dependent is valid while what it assumed (re-read
 * from scratch) has changed, and every cell holds NULL or what a plain
 * lookup gives (after watch_cell_get(): exactly that); a cell made before
 * a watch_fini() holds NULL for good, and watch_cell_get() says
 * WATCH_ESTALE.  A broken rule
 * aborts, and libFuzzer keeps the input.  At the end every dependent and
 * cell is released and libwatch must hold nothing. */
#include <watch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 8
#define ASSUMED 12

enum what { KEY, GLOBAL, ATTR, FUNC };

typedef struct {
  enum what what;
  PyObject *ns;     /* dict, function or class/module (strong) */
  PyObject *key;    /* strong, or NULL for FUNC */
  PyObject *value;  /* strong; NULL: absent; FUNC: its code */
} assumption_t;

typedef struct {
  watch_dep_t *dep;
  int n;
  assumption_t a[ASSUMED];
} slot_t;

static slot_t slots[SLOTS];

#define CELLS 6

/* A cell and what it reads: GLOBAL (g, b, name) or ATTR (obj, name). */
typedef struct {
  watch_cell_t *cell;
  enum what what;
  PyObject *g, *b;  /* borrowed: the world's dicts, or a function's */
  PyObject *obj;    /* strong */
  PyObject *name;   /* strong */
  int gone;         /* a dict it reads was replaced, and may be dead */
  unsigned epoch;   /* libwatch's life it was made in */
} cellslot_t;

static cellslot_t cells[CELLS];
static PyObject *world;      /* globals of the world's code */
static PyObject *dicts[3];
static PyObject *keys[6];    /* "a", "b", "c", 7, ("t", 1), a ReleasingKey */
static PyObject *values[4];
static unsigned epoch;       /* watch_fini() calls so far */
static int down;             /* libwatch is shut down (op 27) */
static unsigned long long total_ops;
static unsigned long long max_ops;  /* FUZZ_C_OPS: stop after as many */

static void
fail(const char *what)
{
  fprintf(stderr, "fuzz_capi: %s\n", what);
  if (PyErr_Occurred())
    PyErr_Print();
  abort();
}

static void
forget(slot_t *s)
{
  for (int i = 0; i < s->n; i++) {
    Py_XDECREF(s->a[i].ns);
    Py_XDECREF(s->a[i].key);
    Py_XDECREF(s->a[i].value);
  }
  s->n = 0;
}

/* Python code calls this (the ReleasingKey's __hash__): the release of a
 * dependent in the middle of whatever libwatch was doing. */
static PyObject *
release_slot(PyObject *self, PyObject *arg)
{
  (void)self;
  long i = PyLong_AsLong(arg);
  if (i < 0 || i >= SLOTS)
    Py_RETURN_NONE;
  watch_dep_t *dep = slots[i].dep;
  slots[i].dep = NULL;
  watch_dep_release(dep);
  Py_RETURN_NONE;
}

static PyMethodDef release_def = {"release_slot", release_slot, METH_O, NULL};

static const char *WORLD_SRC =
    "import types\n"
    "class ReleasingKey:\n"
    "    victim, countdown = -1, 0\n"
    "    def __hash__(self):\n"
    "        self.countdown -= 1\n"
    "        if self.countdown == 0:\n"
    "            release_slot(self.victim)\n"
    "        return 12345\n"
    "    def __eq__(self, other):\n"
    "        return self is other\n"
    "class A:\n"
    "    a = 1\n"
    "class B(A):\n"
    "    pass\n"
    "class C:\n"
    "    b = 2\n"
    "mod = types.ModuleType('m')\n"
    "exec('def f(x, *, k=1):\\n    return a\\ndef g(x, *, k=1):\\n"
    "    return len\\n', mod.__dict__)\n"
    "codes = (mod.f.__code__, mod.g.__code__)\n"
    "key = ReleasingKey()\n"
    "import weakref\n"
    "refs = []\n"
    "def dropping_code(f, victim):\n"
    "    code = f.__code__.replace(co_name='spec')\n"
    "    refs.append(weakref.ref(code, lambda r: release_slot(victim)))\n"
    "    return code\n"
    "class O:\n"
    "    pass\n"
    "o = O()\n"
    "o.a = 0\n"
    "D = o.__dict__\n"
    "class Flip(str):\n"
    "    def __eq__(self, other):\n"
    "        return flip[0]\n"
    "    __hash__ = str.__hash__\n"
    "flip = [False]\n"
    "flips = (Flip('a'), Flip('b'), Flip('c'))\n";

static PyObject *
item(const char *name)
{
  PyObject *v = PyDict_GetItemString(world, name);
  if (v == NULL)
    fail(name);
  return v;
}

static void
world_new(void)
{
  world = PyDict_New();
  PyObject *release = PyCFunction_New(&release_def, NULL);
  if (world == NULL || release == NULL
      || PyDict_SetItemString(world, "__builtins__", PyEval_GetBuiltins()) < 0
      || PyDict_SetItemString(world, "release_slot", release) < 0)
    fail("world");
  Py_DECREF(release);
  PyObject *r = PyRun_String(WORLD_SRC, Py_file_input, world, world);
  if (r == NULL)
    fail("world code");
  Py_DECREF(r);
  for (int i = 0; i < 3; i++)
    dicts[i] = PyDict_New();
  keys[0] = PyUnicode_InternFromString("a");
  keys[1] = PyUnicode_InternFromString("b");
  keys[2] = PyUnicode_InternFromString("c");
  keys[3] = PyLong_FromLong(7);
  keys[4] = Py_BuildValue("(si)", "t", 1);
  keys[5] = Py_NewRef(item("key"));
  for (int i = 0; i < 4; i++)
    values[i] = PyLong_FromLong(1000 + i);
}

static void
world_free(void)
{
  for (int i = 0; i < 3; i++)
    Py_CLEAR(dicts[i]);
  for (int i = 0; i < 6; i++)
    Py_CLEAR(keys[i]);
  for (int i = 0; i < 4; i++)
    Py_CLEAR(values[i]);
  PyDict_Clear(world);
  Py_CLEAR(world);
  PyGC_Collect();
}

/* ---- the oracle ------------------------------------------------------- */

static PyObject *
mod_dict(void)
{
  return PyModule_GetDict(item("mod"));
}

/* What the assumption's namespace gives now: borrowed, NULL if absent. */
static PyObject *
current(const assumption_t *a)
{
  PyObject *v = NULL;
  switch (a->what) {
  case KEY:
    v = PyDict_GetItemWithError(a->ns, a->key);
    break;
  case GLOBAL:
    v = PyDict_GetItemWithError(PyFunction_GET_GLOBALS(a->ns), a->key);
    if (v == NULL && !PyErr_Occurred())
      v = PyDict_GetItemWithError(((PyFunctionObject *)a->ns)->func_builtins,
                                  a->key);
    break;
  case ATTR:
    if (watch_attr_lookup(a->ns, a->key, &v) < 0)
      fail("watch_attr_lookup");
    break;
  case FUNC:
    v = PyFunction_GET_CODE(a->ns);
    break;
  }
  if (v == NULL && PyErr_Occurred())
    PyErr_Clear(); /* a key's __eq__ may raise: treat as changed below */
  return v;
}

/* What a plain read of the cell's name gives now, borrowed, or NULL. */
static PyObject *
cell_truth(const cellslot_t *c)
{
  PyObject *v = NULL;
  if (c->what == GLOBAL) {
    v = PyDict_GetItemWithError(c->g, c->name);
    if (v == NULL && !PyErr_Occurred())
      v = PyDict_GetItemWithError(c->b, c->name);
  } else if (watch_attr_lookup(c->obj, c->name, &v) < 0) {
    fail("watch_attr_lookup of a cell");
  }
  if (v == NULL && PyErr_Occurred())
    fail("a plain lookup of a cell's name raised");
  return v;
}

static void
cell_free(cellslot_t *c)
{
  watch_cell_free(c->cell);
  c->cell = NULL;
  Py_CLEAR(c->obj);
  Py_CLEAR(c->name);
  c->gone = 0;
}

static void
check(void)
{
  for (int i = 0; i < CELLS; i++) {
    cellslot_t *c = &cells[i];
    if (c->cell == NULL || c->gone)
      continue;
    PyObject *fast = watch_cell_value(c->cell);
    if (fast != NULL && c->epoch != epoch)
      fail("a cell made before watch_fini() holds a value");
    if (fast != NULL && fast != cell_truth(c))
      fail("a cell holds what a plain lookup does not give");
  }
  for (int i = 0; i < SLOTS; i++) {
    slot_t *s = &slots[i];
    if (s->dep == NULL || !watch_dep_valid(s->dep))
      continue;
    for (int j = 0; j < s->n; j++)
      if (current(&s->a[j]) != s->a[j].value)
        fail("a valid dependent's assumption broke");
  }
}

/* ---- operations ------------------------------------------------------- */

static void
assume(slot_t *s, enum what what, PyObject *ns, PyObject *key, PyObject *value)
{
  if (s->n == ASSUMED)
    return;
  assumption_t *a = &s->a[s->n++];
  a->what = what;
  a->ns = Py_NewRef(ns);
  a->key = Py_XNewRef(key);
  a->value = Py_XNewRef(value);
}

static PyObject *
func(int n)
{
  return PyDict_GetItemString(mod_dict(), n % 2 ? "g" : "f");
}

static PyObject *
cls(int n)
{
  static const char *names[] = {"A", "B", "C", "mod"};
  return item(names[n % 4]);
}

/* Registers and, on success, records what was assumed.  The slot may be
 * emptied by Python code the registration runs. */
static void
registered(int i, int rc, enum what what, PyObject *ns, PyObject *key,
           PyObject *value)
{
  PyErr_Clear();
  if (rc == 0 && slots[i].dep != NULL)
    assume(&slots[i], what, ns, key, value);
}

static void
run_op(unsigned op, unsigned arg)
{
  int i = arg % SLOTS;
  slot_t *s = &slots[i];
  PyObject *d = arg % 4 == 3 ? item("D") : dicts[arg % 3];
  PyObject *k = keys[(arg / 3) % 6];
  PyObject *v = values[(arg / 18) % 4];
  PyObject *name = keys[(arg / 8) % 3];
  if (k == keys[5]) {
    /* Released at the key's second hash from now: in a registration, the
     * one libwatch's validation makes after this harness's own read. */
    PyObject *victim = PyLong_FromLong((arg / 7) % SLOTS);
    PyObject *two = PyLong_FromLong(2);
    if (victim == NULL || two == NULL
        || PyObject_SetAttrString(k, "victim", victim) < 0
        || PyObject_SetAttrString(k, "countdown", two) < 0)
      fail("arming the releasing key");
    Py_DECREF(victim);
    Py_DECREF(two);
  }
  cellslot_t *c = &cells[arg % CELLS];
  switch (op % 30) {
  case 0:
    if (s->dep == NULL) {
      forget(s);
      if (watch_dep_new(&s->dep, NULL, NULL) < 0)
        s->dep = NULL;
    }
    break;
  case 1: {
    watch_dep_t *dep = s->dep;
    s->dep = NULL;
    watch_dep_release(dep);
    forget(s);
    break;
  }
  case 2:
    if (s->dep != NULL) {
      PyObject *value = PyDict_GetItemWithError(d, k);
      Py_XINCREF(value);
      PyErr_Clear();
      /* Half the time, an exact key is registered as the dict holds it
       * (watch_dep_on_key_as_is()): no Python code runs since the read. */
      if (s->dep != NULL && (op / 30) % 2
          && (PyUnicode_CheckExact(k) || PyLong_CheckExact(k)))
        registered(i, watch_dep_on_key_as_is(s->dep, d, k), KEY, d, k, value);
      else if (s->dep != NULL)
        registered(i, watch_dep_on_key(s->dep, d, k, value), KEY, d, k, value);
      Py_XDECREF(value);
    }
    break;
  case 3:
    if (s->dep != NULL) {
      PyObject *f = func(arg / 8);
      assumption_t probe = {GLOBAL, f, name, NULL};
      PyObject *value = current(&probe);
      registered(i, watch_dep_on_global(s->dep, PyFunction_GET_GLOBALS(f),
                                        ((PyFunctionObject *)f)->func_builtins,
                                        name, value),
                 GLOBAL, f, name, value);
    }
    break;
  case 4:
    if (s->dep != NULL) {
      PyObject *c = cls(arg / 24);
      PyObject *value = NULL;
      if (watch_attr_lookup(c, name, &value) == 0)
        registered(i, watch_dep_on_attr(s->dep, c, name, value), ATTR, c,
                   name, value);
      PyErr_Clear();
    }
    break;
  case 5:
    if (s->dep != NULL) {
      PyObject *f = func(arg / 8);
      registered(i, watch_dep_on_function(s->dep, f), FUNC, f, NULL,
                 PyFunction_GET_CODE(f));
    }
    break;
  case 6:
    PyDict_SetItem(d, k, v);
    break;
  case 7:
    PyDict_DelItem(d, k);
    break;
  case 8:
    PyDict_Clear(d);
    break;
  case 9:
    PyObject_SetAttr(cls(arg / 24), name, v);
    break;
  case 10:
    PyObject_DelAttr(cls(arg / 24), name);
    break;
  case 11: {
    PyObject *codes = item("codes");
    PyObject_SetAttrString(func(arg / 8), "__code__",
                           PyTuple_GET_ITEM(codes, (arg / 16) % 2));
    break;
  }
  case 12:
    PyObject_SetAttrString(func(arg / 8), "__defaults__", Py_None);
    break;
  case 13:
    PyObject_SetAttr(item("mod"), name, v);
    break;
  case 14: {
    PyObject *bases = Py_BuildValue("(O)", cls(arg % 2 ? 2 : 0));
    PyObject_SetAttrString(item("B"), "__bases__", bases);
    Py_XDECREF(bases);
    break;
  }
  case 15:
    watch_flush();
    break;
  case 16:
    if (s->dep != NULL)
      watch_dep_invalidate(s->dep);
    break;
  case 17:
    /* Work pending across a shutdown and a new start.  Every dependent is
     * invalid after it, and stays so. */
    if (!down) {
      watch_fini();
      epoch++;
    }
    down = 0;
    if (watch_init() < 0)
      fail("watch_init after watch_fini");
    break;
  case 18:
    /* A specialization whose code, when libwatch lets go of it (a release,
     * a new specialization, a shutdown), releases another dependent from a
     * weakref callback.  No assumption is recorded: it would keep the code
     * alive; the Python fuzzer checks what specializations assume. */
    if (s->dep != NULL) {
      PyObject *f = func(arg / 8);
      PyObject *code = PyObject_CallFunction(
          item("dropping_code"), "Oi", f, (arg / 16) % SLOTS);
      if (code == NULL)
        fail("dropping_code");
      (void)watch_specialize(s->dep, f, code);
      Py_DECREF(code);
    }
    break;
  case 19:
    /* A new cell: a global on two of the dicts (the same one twice
     * included), a global of a function, or a class or module attribute. */
    cell_free(c);
    c->name = Py_NewRef(name);
    switch ((arg / 24) % 3) {
    case 0:
      c->what = GLOBAL;
      c->g = d;
      c->b = dicts[(arg / 72) % 3];
      break;
    case 1: {
      PyObject *f = func(arg / 72);
      c->what = GLOBAL;
      c->g = PyFunction_GET_GLOBALS(f);
      c->b = ((PyFunctionObject *)f)->func_builtins;
      break;
    }
    default:
      c->what = ATTR;
      c->obj = Py_NewRef(cls(arg / 72));
      break;
    }
    c->epoch = epoch;
    if ((c->what == GLOBAL
             ? watch_cell_new_global(&c->cell, c->g, c->b, c->name)
             : watch_cell_new_attr(&c->cell, c->obj, c->name))
        < 0)
      cell_free(c);
    break;
  case 20:
    cell_free(c);
    break;
  case 21:
    /* The slow path: afterwards, exactly the plain lookup. */
    if (c->cell != NULL) {
      PyObject *value;
      int rc = watch_cell_get(c->cell, &value);
      if (c->epoch != epoch && (rc != WATCH_ESTALE || value != NULL))
        fail("a cell made before watch_fini() is not WATCH_ESTALE");
      if (rc == 0 && !c->gone && value != cell_truth(c))
        fail("after watch_cell_get() a cell is not the plain lookup");
      if (rc < 0 && rc != WATCH_ESTALE)
        fail("watch_cell_get() failed");
    }
    break;
  case 22:
    /* A dict replaced: the old one dies unless an assumption holds it, and
     * the cells that read it must not touch it then. */
    for (int j = 0; j < CELLS; j++)
      if (cells[j].cell != NULL && cells[j].what == GLOBAL
          && (cells[j].g == d || cells[j].b == d))
        cells[j].gone = 1;
    d = dicts[arg % 3];
    dicts[arg % 3] = PyDict_New();
    if (dicts[arg % 3] == NULL)
      fail("a new dict");
    Py_DECREF(d);
    break;
  case 23: {
    /* update() from a dense exact dict: CLONED when d is empty, else one
     * event per key. */
    PyObject *src = Py_BuildValue("{sOsO}", "a", v, "c", values[0]);
    if (src == NULL || PyDict_Update(d, src) < 0)
      fail("update");
    Py_DECREF(src);
    break;
  }
  case 24: {
    /* A key of the name's hash that equals it when the flag says so,
     * stored in a dict, the module's, or a class's (raw: no
     * PyType_Modified). */
    PyObject *flip = PyTuple_GET_ITEM(item("flips"), (arg / 8) % 3);
    PyObject *target;
    if ((arg / 24) % 3 == 1)
      target = Py_NewRef(mod_dict());
    else if ((arg / 24) % 3 == 2 && PyType_Check(cls(arg / 72)))
      target = PyType_GetDict((PyTypeObject *)cls(arg / 72));
    else
      target = Py_NewRef(d);
    PyDict_SetItem(target, flip, v);
    Py_DECREF(target);
    break;
  }
  case 25: {
    /* No dict changes: only what the stored keys' __eq__ answers. */
    PyObject *flag = PyList_GET_ITEM(item("flip"), 0);
    PyList_SetItem(item("flip"), 0, Py_NewRef(flag == Py_True ? Py_False
                                                              : Py_True));
    break;
  }
  case 26:
    /* Into the instance's inline values, when they are. */
    if (arg & 1)
      PyObject_SetAttr(item("o"), name, v);
    else
      PyObject_DelAttr(item("o"), name);
    break;
  case 27:
    /* libwatch shut down for a while, cells and dependents still held:
     * whatever runs meanwhile fails (WATCH_ENOINIT), and op 17 starts it
     * again. */
    if (!down) {
      watch_fini();
      epoch++;
      down = 1;
    }
    break;
  case 28:
    PyDict_DelItem(d, PyTuple_GET_ITEM(item("flips"), (arg / 8) % 3));
    break;
  case 29:
    /* A lookup of the instance: what o.name gives, through its dict. */
    Py_XDECREF(PyObject_GetAttr(item("o"), name));
    break;
  }
  PyErr_Clear();
}

/* The operations run, the measure of a run's length beside libFuzzer's
 * count of inputs. */
static void
print_total(void)
{
  fprintf(stderr, "fuzz_capi: %llu operations\n", total_ops);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc, (void)argv;
  setenv("PYTHONMALLOC", "malloc", 1); /* so that ASan sees objects */
  const char *ops = getenv("FUZZ_C_OPS");
  max_ops = ops ? strtoull(ops, NULL, 10) : 0;
  atexit(print_total);
  Py_InitializeEx(0);
  return 0;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
  if (watch_init() < 0)
    fail("watch_init");
  world_new();
  for (size_t n = 0; n + 1 < size && n < 400; n += 2) {
    run_op(data[n], data[n + 1]);
    check();
    total_ops++;
  }
  if (down && watch_init() < 0)
    fail("watch_init at the end");
  down = 0;
  for (int i = 0; i < SLOTS; i++) {
    watch_dep_t *dep = slots[i].dep;
    slots[i].dep = NULL;
    watch_dep_release(dep);
    forget(&slots[i]);
  }
  for (int i = 0; i < CELLS; i++)
    cell_free(&cells[i]);
  watch_flush();
  watch_counters_t c;
  if (watch_counters(&c) < 0 || c.dependents != 0 || c.edges != 0)
    fail("libwatch holds dependents or edges after every release");
  watch_fini();
  world_free();
  if (max_ops && total_ops >= max_ops) {
    /* After a whole input, so that its checks all ran; libFuzzer takes an
     * exit() from the target for a crash, so it is told nothing. */
    print_total();
    _exit(0);
  }
  return 0;
}
