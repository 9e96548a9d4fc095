/* The write log of `python -m pywatch audit` (_audit.py), on libwatch taps.
 *
 * Each namespace audited gets a tap, which hears every write as it happens,
 * however many come between two safe points, and counts it in C: the entry
 * of its key, found in a small hash table of this log's own.  The tap runs
 * inside libwatch's dict watcher, so it runs no Python code and creates no
 * Python object: it takes references (the key, the writer's file name) and
 * allocates C memory, nothing else.  pywatch takes no watcher id for it.
 *
 * Whole-dict events (clear, clone) are logged under None; keys other than
 * exact str, whose comparison could run Python code, under Ellipsis.  The
 * log outlives its dicts: a dict that dies is reported as dead.
 *
 * pywatch.patch() is the sanctioned way to write: its writes are not
 * logged.  A C audit hook hears its "pywatch.patch" event, and the write
 * that follows it to that name, from pywatch's own code, is left out.
 */
#include "pywatch.h"

#include <stdlib.h>
#include <string.h>

enum { ADDED, MODIFIED, DELETED, CLEARED, CLONED, KINDS };

struct entry {
  PyObject *key;            /* an exact str, None or Ellipsis; strong */
  Py_hash_t hash;
  Py_ssize_t counts[KINDS];
  Py_ssize_t setattr;       /* how many of them went through module setattr */
  Py_ssize_t lazy;          /* modifications that resolved a lazy import */
  unsigned long long order; /* when its first write happened */
  PyObject *filename;       /* the first writer's, or NULL; strong */
  int lineno;
};

/* One per namespace audited. */
struct logged {
  PyObject *label;          /* strong */
  PyObject *dict;           /* borrowed while alive, NULL once dead */
  watch_tap_t *tap;         /* NULL once the audit stopped */
  struct entry **slots;     /* open addressing; a power of two */
  size_t mask, used;
  struct entry *last;       /* the entry written last: a counter in a loop
                               is found without hashing */
  int may_hold_lazy;        /* a lazy_import object may be in the dict, so
                               a modification must look at the old value */
  struct logged *next;
};

/* Main interpreter only (f_audit_start says so). */
static struct logged *logs;
static int running;
static int out_of_memory;   /* an event that could not be counted */
static unsigned long long clock_;

/* 3.15's lazy_import type (PEP 810), or NULL: the placeholder that the
 * import system rebinds to what it imports on first use. */
static PyTypeObject *lazy_import_type;

/* The module setattr running, so that the tap can tell its write from a
 * direct one.  Saved and restored around the call, since a descriptor's
 * __set__ may nest another. */
struct setattr_site {
  PyThreadState *tstate;
  PyObject *dict;
  PyObject *name;
};
static struct setattr_site site;

/* The write pywatch.patch() announced and is about to make: the dict is
 * only compared, the name is held (strong), since it is read. */
static struct setattr_site sanctioned;

/* Path prefixes (exact str) of the files whose frames are not a write's
 * "first writer": pywatch's own, and unittest.mock's, so that the writer
 * named is the program's line that asked for the write.  The first is
 * pywatch's package directory. */
static PyObject *skipped_files;

int
pywatch_audit_setattr(PyObject *obj, PyObject *name, PyObject *value,
                      setattrofunc original)
{
  if (!running || PyInterpreterState_Get() != PyInterpreterState_Main()
      || !PyModule_Check(obj))
    return original(obj, name, value);
  struct setattr_site saved = site;
  site.tstate = PyThreadState_Get();
  site.dict = PyModule_GetDict(obj);
  site.name = name;
  int rc = original(obj, name, value);
  site = saved;
  return rc;
}

/* ---- who writes ------------------------------------------------------ */

static int
is_skipped(PyObject *filename)
{
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(skipped_files); i++)
    if (PyUnicode_Tailmatch(filename, PyTuple_GET_ITEM(skipped_files, i), 0,
                            PY_SSIZE_T_MAX, -1) == 1)
      return 1;
  return 0;
}

/* Whether the running Python frame is pywatch's own code. */
static int
in_pywatch(void)
{
  PyFrameObject *frame = PyEval_GetFrame();
  if (frame == NULL)
    return 0;
  PyCodeObject *code = PyFrame_GetCode(frame);
  int ours = PyUnicode_Tailmatch(code->co_filename,
                                 PyTuple_GET_ITEM(skipped_files, 0), 0,
                                 PY_SSIZE_T_MAX, -1) == 1;
  Py_DECREF(code);
  return ours;
}

/* The innermost frame outside the skipped files, or the innermost frame
 * if all of them are skipped.  Frames are only read: no Python code
 * runs. */
static void
locate_writer(PyObject **filename, int *lineno)
{
  pywatch_writer(filename, lineno);
  PyFrameObject *frame = PyEval_GetFrame();
  Py_XINCREF(frame);
  while (frame != NULL) {
    PyCodeObject *code = PyFrame_GetCode(frame);
    int skip = is_skipped(code->co_filename);
    if (!skip) {
      Py_XSETREF(*filename, Py_NewRef(code->co_filename));
      *lineno = PyFrame_GetLineNumber(frame);
    }
    Py_DECREF(code);
    if (!skip)
      break;
    Py_SETREF(frame, PyFrame_GetBack(frame));
  }
  Py_XDECREF(frame);
}

/* ---- the table: exact str keys, compared without Python code ----------- */

static int
same_key(PyObject *a, PyObject *b)
{
  return a == b || (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)
                    && PyUnicode_Compare(a, b) == 0);
}

static struct entry **
slot_of(struct logged *log, PyObject *key, Py_hash_t hash)
{
  size_t i = (size_t)hash & log->mask;
  while (log->slots[i] != NULL
         && !(log->slots[i]->hash == hash && same_key(log->slots[i]->key, key)))
    i = (i + 1) & log->mask;
  return &log->slots[i];
}

static int
grow(struct logged *log)
{
  size_t size = log->slots ? 2 * (log->mask + 1) : 16;
  struct entry **old = log->slots;
  size_t old_size = old ? log->mask + 1 : 0;
  log->slots = calloc(size, sizeof(*log->slots));
  if (log->slots == NULL) {
    log->slots = old;
    return -1;
  }
  log->mask = size - 1;
  for (size_t i = 0; i < old_size; i++)
    if (old[i] != NULL)
      *slot_of(log, old[i]->key, old[i]->hash) = old[i];
  free(old);
  return 0;
}

/* The entry of key, created (and its writer located) on first use; NULL
 * when out of memory.  Out of line: the tap's common case, the key written
 * last, then needs neither its registers nor its stack. */
static __attribute__((noinline)) struct entry *
entry_looked_up(struct logged *log, PyObject *key)
{
  /* An exact str's hash runs no Python code; None's and Ellipsis's are
   * their addresses. */
  Py_hash_t hash = PyUnicode_CheckExact(key) ? PyObject_Hash(key)
                                             : (Py_hash_t)(uintptr_t)key;
  if ((log->used + 1) * 2 > log->mask + 1 && grow(log) < 0)
    return NULL;
  struct entry **slot = slot_of(log, key, hash);
  if (*slot != NULL)
    return log->last = *slot;
  struct entry *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return NULL;
  e->key = Py_NewRef(key);
  e->hash = hash;
  e->order = ++clock_;
  locate_writer(&e->filename, &e->lineno);
  *slot = e;
  log->used++;
  return log->last = e;
}

static inline struct entry *
entry_of(struct logged *log, PyObject *key)
{
  if (log->last != NULL && log->last->key == key)
    return log->last;
  return entry_looked_up(log, key);
}

/* ---- the tap ------------------------------------------------------------ */

/* Whether storing value in dict[key] replaces a lazy_import object by
 * something else: the import system resolving it.  key is an exact str, so
 * reading the dict runs no Python code. */
static __attribute__((noinline)) int
resolves_lazy_import(PyObject *dict, PyObject *key, PyObject *value)
{
  if (value == NULL || Py_IS_TYPE(value, lazy_import_type))
    return 0;
  PyObject *old = PyDict_GetItemWithError(dict, key);
  if (old == NULL)
    PyErr_Clear();
  return old != NULL && Py_IS_TYPE(old, lazy_import_type);
}

static int
heard(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  struct logged *log = watch_tap_data(tap);
  int kind;
  switch (ev->kind) {
  case WATCH_EVENT_ADDED: kind = ADDED; break;
  case WATCH_EVENT_MODIFIED: kind = MODIFIED; break;
  case WATCH_EVENT_DELETED: kind = DELETED; break;
  case WATCH_EVENT_CLEARED: kind = CLEARED; break;
  case WATCH_EVENT_CLONED: kind = CLONED; break;
  default:
    /* DEALLOCATED or FINALIZED: the tap hears nothing more. */
    log->dict = NULL;
    return 0;
  }
  PyObject *key = ev->key == NULL ? Py_None
                  : PyUnicode_CheckExact(ev->key) ? ev->key : Py_Ellipsis;
  if (sanctioned.dict == ev->dict && key == ev->key
      && same_key(sanctioned.name, key)
      && sanctioned.tstate == PyThreadState_Get()) {
    sanctioned.dict = NULL;
    if (in_pywatch())
      return 0;
  }
  struct entry *e = entry_of(log, key);
  if (e == NULL) {
    out_of_memory = 1;
    return 0;
  }
  e->counts[kind]++;
  if (log->may_hold_lazy && kind == MODIFIED && key == ev->key
      && resolves_lazy_import(ev->dict, key, ev->value))
    e->lazy++;
  if (lazy_import_type != NULL && (kind == CLONED
      || (ev->value != NULL && Py_IS_TYPE(ev->value, lazy_import_type))))
    log->may_hold_lazy = 1;
  if (site.dict == ev->dict && site.name == ev->key
      && site.tstate == PyThreadState_Get())
    e->setattr++;
  return 0;
}

/* ---- pywatch.patch's writes ------------------------------------------- */

/* The real __dict__ of a module or class, borrowed, or NULL. */
static PyObject *
namespace_dict(PyObject *obj)
{
  if (PyModule_Check(obj))
    return PyModule_GetDict(obj);
  if (!PyType_Check(obj))
    return NULL;
  PyObject *dict = PyType_GetDict((PyTypeObject *)obj);
  Py_XDECREF(dict); /* the class keeps it alive; only compared */
  return dict;
}

/* pywatch.patch's event: (obj, name, value, "enter" or "exit"), raised
 * just before it writes obj.name.  Called for every audit event of the
 * process: a string comparison is all the others cost. */
static int
on_audit_event(const char *event, PyObject *args, void *unused)
{
  (void)unused;
  if (!running || strcmp(event, "pywatch.patch") != 0
      || PyInterpreterState_Get() != PyInterpreterState_Main()
      || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 2)
    return 0;
  sanctioned.dict = namespace_dict(PyTuple_GET_ITEM(args, 0));
  /* Outside any watcher: releasing the old name may run code. */
  Py_XSETREF(sanctioned.name, Py_NewRef(PyTuple_GET_ITEM(args, 1)));
  sanctioned.tstate = PyThreadState_Get();
  return 0;
}

/* ---- the functions ------------------------------------------------------- */

/* _audit_start(skipped_files, lazy_import_type): a tuple of path prefixes,
 * pywatch's package directory first (see skipped_files), and 3.15's
 * types.LazyImportType or None.  Passed in, so that the audit imports
 * nothing once it runs. */
static PyObject *
f_audit_start(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
    PyErr_SetString(PyExc_RuntimeError,
                    "the audit runs in the main interpreter only");
    return NULL;
  }
  int ok = n == 2 && PyTuple_CheckExact(args[0])
           && PyTuple_GET_SIZE(args[0]) > 0
           && (args[1] == Py_None || PyType_Check(args[1]));
  for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(args[0]); i++)
    ok = PyUnicode_CheckExact(PyTuple_GET_ITEM(args[0], i));
  if (!ok) {
    PyErr_SetString(PyExc_TypeError,
                    "_audit_start(files, lazy_import_type): a tuple of str "
                    "path prefixes, and a type or None");
    return NULL;
  }
  if (skipped_files == NULL && PySys_AddAuditHook(on_audit_event, NULL) < 0)
    return NULL;
  Py_XSETREF(skipped_files, Py_NewRef(args[0]));
  if (args[1] != Py_None)
    Py_XSETREF(lazy_import_type, (PyTypeObject *)Py_NewRef(args[1]));
  running = 1;
  Py_RETURN_NONE;
}

/* Ends counting: no dict is heard any more.  The log stays. */
static PyObject *
f_audit_stop(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  running = 0;
  for (struct logged *log = logs; log != NULL; log = log->next) {
    watch_tap_free(log->tap);
    log->tap = NULL;
  }
  Py_RETURN_NONE;
}

/* Only the values' types are read: no Python code runs. */
static int
holds_lazy_import(PyObject *dict)
{
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  if (lazy_import_type == NULL)
    return 0;
  while (PyDict_Next(dict, &pos, &key, &value))
    if (Py_IS_TYPE(value, lazy_import_type))
      return 1;
  return 0;
}

static struct logged *
find(PyObject *dict)
{
  for (struct logged *log = logs; log != NULL; log = log->next)
    if (log->dict == dict)
      return log;
  return NULL;
}

/* _audit_watch(dict, label): logs the dict's writes under label from now
 * on; False if it was logged already. */
static PyObject *
f_audit_watch(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 || !PyDict_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "_audit_watch(dict, label)");
    return NULL;
  }
  if (!running) {
    PyErr_SetString(PyExc_RuntimeError, "the audit is not running");
    return NULL;
  }
  if (find(args[0]) != NULL)
    Py_RETURN_FALSE;
  struct logged *log = calloc(1, sizeof(*log));
  if (log == NULL)
    return PyErr_NoMemory();
  int rc = watch_tap_new(&log->tap, args[0], heard, NULL, log);
  if (rc < 0) {
    free(log);
    return pywatch_libwatch_error(rc);
  }
  log->label = Py_NewRef(args[1]);
  log->dict = args[0];
  log->may_hold_lazy = holds_lazy_import(args[0]);
  log->next = logs;
  logs = log;
  Py_RETURN_TRUE;
}

static PyObject *
entry_tuple(const struct entry *e)
{
  return Py_BuildValue("(nnnnnnKOin)", e->counts[ADDED], e->counts[MODIFIED],
                       e->counts[DELETED], e->counts[CLEARED],
                       e->counts[CLONED], e->setattr, e->order,
                       e->filename ? e->filename : Py_None, e->lineno,
                       e->lazy);
}

/* [(label, alive, {key: (added, modified, deleted, cleared, cloned,
 * setattr, order, filename, lineno, lazy)})] of every namespace written,
 * dead or alive. */
static PyObject *
f_audit_log(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  if (out_of_memory)
    return PyErr_NoMemory(); /* a count would be wrong */
  PyObject *out = PyList_New(0);
  for (struct logged *log = logs; out != NULL && log != NULL;
       log = log->next) {
    if (log->used == 0)
      continue;
    PyObject *writes = PyDict_New();
    PyObject *item = writes ? Py_BuildValue("(OOO)", log->label,
                                            log->dict ? Py_True : Py_False,
                                            writes)
                            : NULL;
    int rc = item ? PyList_Append(out, item) : -1;
    for (size_t i = 0; rc == 0 && i <= log->mask; i++) {
      const struct entry *e = log->slots[i];
      PyObject *t = e ? entry_tuple(e) : NULL;
      if (e != NULL)
        rc = t ? PyDict_SetItem(writes, e->key, t) : -1;
      Py_XDECREF(t);
    }
    Py_XDECREF(item);
    Py_XDECREF(writes);
    if (rc < 0)
      Py_CLEAR(out);
  }
  return out;
}

static PyMethodDef audit_functions[] = {
    {"_audit_start", (PyCFunction)(void (*)(void))f_audit_start,
     METH_FASTCALL,
     "Starts the audit's write log (main interpreter), naming the files "
     "whose frames are not first writers."},
    {"_audit_stop", f_audit_stop, METH_NOARGS, "Stops counting writes."},
    {"_audit_watch", (PyCFunction)(void (*)(void))f_audit_watch,
     METH_FASTCALL, "Logs a dict's writes under a label."},
    {"_audit_log", f_audit_log, METH_NOARGS,
     "[(label, alive, {key: counts and first writer})] of what was "
     "written."},
    {NULL, NULL, 0, NULL}};

int
pywatch_audit_init(PyObject *module)
{
  return PyModule_AddFunctions(module, audit_functions);
}
