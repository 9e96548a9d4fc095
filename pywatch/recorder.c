/* _Recorder: every write to one dict, as it happens, for freezing's
 * tracking (_freeze.py).
 *
 * A libwatch tap hears each event in phase one and keeps it in C: the kind,
 * the key, the identities of the new and the old value, and the writer's
 * file and line.  It runs no Python code and creates no Python object; it
 * only takes references.  In phase two (the tap's after callback) the
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
  PyObject *old;      /* what the dict held under key, or NULL */
  PyObject *filename; /* or NULL */
  int lineno;
};

typedef struct {
  PyObject_HEAD
  watch_tap_t *tap;
  PyObject *callback;
  PyObject *missing;  /* what stands for an absent value */
  struct record *records;
  size_t len, cap;
  int lost;           /* out of memory: writes went unrecorded */
} RecorderObject;

static int
push(RecorderObject *self, const watch_tap_event_t *ev)
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
  PyObject *key = ev->key && PyUnicode_CheckExact(ev->key) ? ev->key : NULL;
  /* An exact str reads the dict without Python code. */
  PyObject *old = key ? PyDict_GetItemWithError(ev->dict, key) : NULL;
  if (old == NULL)
    PyErr_Clear();
  r->kind = ev->kind;
  r->key = Py_XNewRef(key);
  r->value = ev->kind == WATCH_EVENT_CLONED ? NULL : Py_XNewRef(ev->value);
  r->old = Py_XNewRef(old);
  pywatch_writer(&r->filename, &r->lineno);
  return 0;
}

static int
heard(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  RecorderObject *self = watch_tap_data(tap);
  if (ev->kind == WATCH_EVENT_DEALLOCATED || ev->kind == WATCH_EVENT_FINALIZED)
    return 0;
  if (push(self, ev) < 0)
    self->lost = 1;
  return 1;
}


/* [(kind, key, value, old, filename, lineno)], the records taken; key None
 * for a whole-dict event or an odd key, value and old _MISSING where
 * absent. */
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
                            "(sOOOOi)", watch_event_name(r->kind),
                            r->key ? r->key : Py_None,
                            r->value ? r->value : self->missing,
                            r->old ? r->old : self->missing,
                            r->filename ? r->filename : Py_None, r->lineno)
                      : NULL;
    if (t == NULL || PyList_Append(out, t) < 0)
      Py_CLEAR(out);
    Py_XDECREF(t);
  }
  for (i = 0; i < n; i++) {
    Py_XDECREF(records[i].key);
    Py_XDECREF(records[i].value);
    Py_XDECREF(records[i].old);
    Py_XDECREF(records[i].filename);
  }
  free(records);
  return out;
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
    PyErr_WriteUnraisable(self->callback);
  Py_XDECREF(r);
  Py_XDECREF(records);
  Py_DECREF(self);
}

static PyObject *
recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  PyObject *dict, *callback, *sentinel;
  static char *kwlist[] = {"dict", "callback", "missing", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OO:_Recorder", kwlist,
                                   &PyDict_Type, &dict, &callback, &sentinel))
    return NULL;
  if (!PyCallable_Check(callback))
    return PyErr_Format(PyExc_TypeError, "_Recorder: callback must be "
                        "callable, not '%.200s'", Py_TYPE(callback)->tp_name);
  RecorderObject *self = (RecorderObject *)type->tp_alloc(type, 0);
  if (self == NULL)
    return NULL;
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

static int
recorder_traverse(RecorderObject *self, visitproc visit, void *arg)
{
  Py_VISIT(self->callback);
  Py_VISIT(self->missing);
  return 0;
}

static int
recorder_clear(RecorderObject *self)
{
  watch_tap_free(self->tap);
  self->tap = NULL;
  Py_CLEAR(self->callback);
  Py_CLEAR(self->missing);
  return 0;
}

static void
recorder_dealloc(RecorderObject *self)
{
  PyObject_GC_UnTrack(self);
  recorder_clear(self);
  drop_records(self);
  Py_TYPE(self)->tp_free(self);
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

static PyMethodDef recorder_methods[] = {
    {"drain", (PyCFunction)recorder_drain, METH_NOARGS,
     "The records not yet delivered, taken now."},
    {"close", (PyCFunction)recorder_close, METH_NOARGS,
     "Stops recording; what was not delivered is dropped."},
    {NULL}};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pywatch._pywatch._Recorder",
    .tp_basicsize = sizeof(RecorderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "_Recorder(dict, callback, missing): every write to dict, "
              "given to callback([(kind, key, value, old, filename, "
              "lineno)]) at the next safe point.",
    .tp_new = recorder_new,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_methods = recorder_methods,
};

int
pywatch_recorder_init(PyObject *module)
{
  if (PyType_Ready(&RecorderType) < 0)
    return -1;
  return PyModule_AddObjectRef(module, "_Recorder", (PyObject *)&RecorderType);
}
