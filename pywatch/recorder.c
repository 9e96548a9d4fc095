/* _Recorder: every write to one dict, as it happens, for freezing's
 * tracking (_freeze.py).
 *
 * A libwatch tap hears each event in phase one and keeps it in C: the kind,
 * the key, the identity of the new value, and the writer's file and line.
 * It runs no Python code and creates no Python object; it only takes
 * references.  It never reads the dict: a lookup, even by an exact str,
 * calls the __eq__ of any key of the same hash the dict holds.  Writes to
 * the names of its skip set (allow=, all exact str) are not recorded, so
 * that nothing is held for them.  A run of writes of one kind to one name,
 * with values no door of freezing looks at, is one record with a count:
 * a loop that writes a name holds one record, whatever the time until
 * delivery.  In phase two (the tap's after callback) the
 * records become tuples and go to the callback, which judges them; drain()
 * hands them over at once, where Python must judge before going on.  So no
 * write goes unseen, however soon it is undone, and no value is ever
 * compared.  The recorder holds no reference to its dict.
 */
#include "pywatch.h"

#include <stdlib.h>

struct record {
  watch_event_kind_t kind;
  PyObject *key;      /* an exact str, or NULL: a whole-dict event or a key
                         whose comparison is Python code */
  PyObject *value;    /* the new value, or NULL */
  PyObject *filename; /* or NULL */
  int lineno;
  Py_ssize_t count;   /* writes it stands for: more than 1 only for plain
                         values, of which it keeps the first */
  int plain;
};

typedef struct {
  PyObject_HEAD
  watch_tap_t *tap;
  PyObject *callback;
  PyObject *missing;  /* what stands for an absent value */
  PyObject *skip;     /* a frozenset of exact str, or NULL */
  PyObject *kept;     /* a tuple of the types whose values a door looks at
                         (3.15's lazy import type) */
  PyObject *door_names; /* a frozenset of the names (exact str) whose
                           values a door looks at */
  struct record *records;
  size_t len, cap;
  int lost;           /* out of memory: writes went unrecorded */
} RecorderObject;

static int is_plain(RecorderObject *self, PyObject *key, PyObject *value);

static int
push(RecorderObject *self, const watch_tap_event_t *ev, PyObject *key)
{
  if (self->len == self->cap) {
    size_t cap = self->cap ? 2 * self->cap : 8;
    struct record *grown = realloc(self->records, cap * sizeof(*grown));
    if (grown == NULL)
      return -1;
    self->records = grown;
    self->cap = cap;
  }
  struct record *r = &self->records[self->len++];
  r->kind = ev->kind;
  r->key = Py_XNewRef(key);
  r->value = ev->kind == WATCH_EVENT_CLONED ? NULL : Py_XNewRef(ev->value);
  pywatch_writer(&r->filename, &r->lineno);
  r->count = 1;
  r->plain = is_plain(self, key, ev->value);
  return 0;
}

/* A write whose value no door of freezing looks at: not a module (a
 * submodule binding), not of a kept type (a lazy import), not to a door's
 * name (_freeze.py says which).  Decided by types and a set of exact str:
 * no Python code runs. */
static int
is_plain(RecorderObject *self, PyObject *key, PyObject *value)
{
  if (key == NULL || value == NULL || PyModule_Check(value))
    return 0;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(self->kept); i++)
    if (Py_IS_TYPE(value, (PyTypeObject *)PyTuple_GET_ITEM(self->kept, i)))
      return 0;
  int rc = PySet_Contains(self->door_names, key);
  if (rc < 0)
    PyErr_Clear();
  return rc == 0;
}

/* The write joins the record before it if both are plain writes of one
 * kind to one name: only counted, its value not held. */
static int
joined(RecorderObject *self, const watch_tap_event_t *ev, PyObject *key)
{
  if (self->len == 0)
    return 0;
  struct record *last = &self->records[self->len - 1];
  if (!last->plain || last->key != key || last->kind != ev->kind
      || !is_plain(self, key, ev->value))
    return 0;
  last->count++;
  return 1;
}

/* Whether key is in the skip set.  A set compares an exact str with its
 * members, exact str all, without calling any __eq__: no Python code
 * runs. */
static int
skipped(RecorderObject *self, PyObject *key)
{
  if (self->skip == NULL || key == NULL)
    return 0;
  int rc = PySet_Contains(self->skip, key);
  if (rc < 0)
    PyErr_Clear();
  return rc > 0;
}

static int
heard(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  RecorderObject *self = watch_tap_data(tap);
  if (ev->kind == WATCH_EVENT_DEALLOCATED || ev->kind == WATCH_EVENT_FINALIZED)
    return 0;
  PyObject *key = ev->key && PyUnicode_CheckExact(ev->key) ? ev->key : NULL;
  if (skipped(self, key))
    return 0;
  if (!joined(self, ev, key) && push(self, ev, key) < 0)
    self->lost = 1;
  return 1;
}


/* [(kind, key, value, filename, lineno, count)], the records taken; key
 * None for a whole-dict event or an odd key, value _MISSING where absent,
 * and the first of count writes' (the others' are not held). */
static PyObject *
take(RecorderObject *self)
{
  if (self->lost) {
    self->lost = 0;
    return PyErr_NoMemory();
  }
  PyObject *out = PyList_New(0);
  /* Each leaves the array before its references go. */
  size_t n = self->len, i;
  struct record *records = self->records;
  self->records = NULL;
  self->len = self->cap = 0;
  for (i = 0; i < n; i++) {
    struct record *r = &records[i];
    PyObject *t = out ? Py_BuildValue(
                            "(sOOOin)", watch_event_name(r->kind),
                            r->key ? r->key : Py_None,
                            r->value ? r->value : self->missing,
                            r->filename ? r->filename : Py_None, r->lineno,
                            r->count)
                      : NULL;
    if (t == NULL || PyList_Append(out, t) < 0)
      Py_CLEAR(out);
    Py_XDECREF(t);
  }
  for (i = 0; i < n; i++) {
    Py_XDECREF(records[i].key);
    Py_XDECREF(records[i].value);
    Py_XDECREF(records[i].filename);
  }
  free(records);
  return out;
}

/* An error of the callback, at the safe point where it runs: a warnings
 * filter that made FrozenWarning an error (-W error::pywatch.FrozenWarning)
 * has no caller to reach there, and the write it reports has happened.  The
 * message says so, rather than naming the callback alone. */
#define UNRAISABLE_MSG \
  "in pywatch's report of a write to a frozen namespace (the write " \
  "stands: a direct __dict__ write cannot be refused, only reported)"

static void
unraisable(PyObject *callback)
{
#if PY_VERSION_HEX >= 0x030D0000
  PyErr_FormatUnraisable("Exception ignored " UNRAISABLE_MSG ": %R",
                         callback);
#else
  _PyErr_WriteUnraisableMsg(UNRAISABLE_MSG, callback);
#endif
}

static void
deliver(watch_tap_t *tap)
{
  RecorderObject *self = watch_tap_data(tap);
  Py_INCREF(self); /* the callback may drop the last other reference */
  PyObject *records = take(self);
  PyObject *r = records && PyList_GET_SIZE(records)
                    ? PyObject_CallOneArg(self->callback, records)
                    : Py_NewRef(Py_None);
  if (r == NULL)
    unraisable(self->callback);
  Py_XDECREF(r);
  Py_XDECREF(records);
  Py_DECREF(self);
}

/* 0 if every member of the frozenset is an exact str, whose set lookups
 * then run no Python code; else -1 with TypeError. */
static int
exact_names(PyObject *names)
{
  PyObject *it = PyObject_GetIter(names), *name;
  if (it == NULL)
    return -1;
  while ((name = PyIter_Next(it)) != NULL) {
    int exact = PyUnicode_CheckExact(name);
    Py_DECREF(name);
    if (!exact) {
      Py_DECREF(it);
      PyErr_SetString(PyExc_TypeError, "_Recorder: names must be exact str");
      return -1;
    }
  }
  Py_DECREF(it);
  return PyErr_Occurred() ? -1 : 0;
}

static PyObject *
recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  PyObject *dict, *callback, *sentinel, *kept, *names;
  static char *kwlist[] = {"dict", "callback", "missing", "kept",
                           "door_names", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOO!O!:_Recorder", kwlist,
                                   &PyDict_Type, &dict, &callback, &sentinel,
                                   &PyTuple_Type, &kept, &PyFrozenSet_Type,
                                   &names))
    return NULL;
  if (exact_names(names) < 0)
    return NULL;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kept); i++)
    if (!PyType_Check(PyTuple_GET_ITEM(kept, i)))
      return PyErr_Format(PyExc_TypeError, "_Recorder: kept must be a "
                          "tuple of types");
  if (!PyCallable_Check(callback))
    return PyErr_Format(PyExc_TypeError, "_Recorder: callback must be "
                        "callable, not '%.200s'", Py_TYPE(callback)->tp_name);
  RecorderObject *self = (RecorderObject *)type->tp_alloc(type, 0);
  if (self == NULL)
    return NULL;
  self->kept = Py_NewRef(kept); /* before any event */
  self->door_names = Py_NewRef(names);
  int rc = watch_tap_new(&self->tap, dict, heard, deliver, self);
  if (rc < 0) {
    Py_DECREF(self);
    return pywatch_libwatch_error(rc);
  }
  self->callback = Py_NewRef(callback);
  self->missing = Py_NewRef(sentinel);
  return (PyObject *)self;
}

static void
drop_records(RecorderObject *self)
{
  PyObject *records = take(self);
  if (records == NULL)
    PyErr_Clear();
  Py_XDECREF(records);
}

/* An instance of a heap type holds its type (since 3.9). */
static int
recorder_traverse(RecorderObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->callback);
  Py_VISIT(self->missing);
  Py_VISIT(self->skip);
  Py_VISIT(self->kept);
  Py_VISIT(self->door_names);
  return 0;
}

static int
recorder_clear(RecorderObject *self)
{
  watch_tap_free(self->tap);
  self->tap = NULL;
  Py_CLEAR(self->callback);
  Py_CLEAR(self->missing);
  Py_CLEAR(self->skip);
  Py_CLEAR(self->kept);
  Py_CLEAR(self->door_names);
  return 0;
}

static void
recorder_dealloc(RecorderObject *self)
{
  PyTypeObject *type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  recorder_clear(self);
  drop_records(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *
recorder_drain(RecorderObject *self, PyObject *unused)
{
  (void)unused;
  return take(self);
}

static PyObject *
recorder_close(RecorderObject *self, PyObject *unused)
{
  (void)unused;
  watch_tap_free(self->tap);
  self->tap = NULL;
  drop_records(self);
  Py_RETURN_NONE;
}

/* skip(names): a frozenset of exact str, whose writes are not recorded
 * from now on. */
static PyObject *
recorder_skip(RecorderObject *self, PyObject *names)
{
  if (!PyFrozenSet_CheckExact(names)) {
    PyErr_Format(PyExc_TypeError, "skip() takes a frozenset, not %.100s",
                 Py_TYPE(names)->tp_name);
    return NULL;
  }
  if (exact_names(names) < 0)
    return NULL;
  Py_XSETREF(self->skip, Py_NewRef(names));
  Py_RETURN_NONE;
}

static PyMethodDef recorder_methods[] = {
    {"skip", (PyCFunction)recorder_skip, METH_O,
     "Writes to these names (a frozenset of exact str) go unrecorded."},
    {"drain", (PyCFunction)recorder_drain, METH_NOARGS,
     "The records not yet delivered, taken now."},
    {"close", (PyCFunction)recorder_close, METH_NOARGS,
     "Stops recording; what was not delivered is dropped."},
    {NULL}};

static PyType_Slot recorder_slots[] = {
    {Py_tp_doc, "_Recorder(dict, callback, missing, kept, door_names): every "
                "write to dict, given to callback([(kind, key, value, "
                "filename, lineno, count)]) at the next safe point."},
    {Py_tp_new, recorder_new},
    {Py_tp_dealloc, recorder_dealloc},
    {Py_tp_traverse, recorder_traverse},
    {Py_tp_clear, recorder_clear},
    {Py_tp_methods, recorder_methods},
    {0, NULL},
};

/* Immutable, as a static type is. */
static PyType_Spec recorder_spec = {
    .name = "pywatch._pywatch._Recorder",
    .basicsize = sizeof(RecorderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = recorder_slots,
};

int
pywatch_recorder_init(PyObject *module)
{
  PyObject *type = PyType_FromModuleAndSpec(module, &recorder_spec, NULL);
  if (type == NULL)
    return -1;
  pywatch_get_state(module)->recorder_type = (PyTypeObject *)type;
  return PyModule_AddObjectRef(module, "_Recorder", type);
}
