/* The write log of `python -m pywatch audit` (_audit.py), on libwatch taps.
 *
 * Each namespace audited gets a tap, which hears every write as it happens,
 * however many come between two safe points, and counts it in C: the entry
 * of its key, found in a small hash table of this log's own.  The tap runs
 * inside libwatch's dict watcher, so it runs no Python code and creates no
 * Python object: it takes references (the key, the writer's file name) and
 * allocates C memory, nothing else.  An audited class has a type tap too
 * (see "class setattr that writes no dict entry").  pywatch takes no
 * watcher id for either: libwatch's own are shared.
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

/* SAME: a module setattr that stored the object already bound, which no
 * dict event tells, and which freeze() refuses like any other. */
enum { ADDED, MODIFIED, DELETED, CLEARED, CLONED, SAME, KINDS };

struct entry {
  PyObject *key;            /* an exact str, None or Ellipsis; strong */
  Py_hash_t hash;
  Py_ssize_t counts[KINDS];
  Py_ssize_t setattr;       /* how many of them went through module setattr */
  Py_ssize_t lazy;          /* modifications that resolved a lazy import */
  unsigned long long order; /* when its first write happened; 0: none yet */
  PyObject *filename;       /* the first writer's, or NULL; strong */
  int lineno;
  PyObject *held_lazy;      /* the lazy_import object the dict holds under
                               this key, or NULL: known from the events,
                               since reading the dict in the tap could run
                               a colliding key's __eq__; strong */
  PyObject *resolved;       /* the lazy_import object the last resolution
                               replaced, for freeze's proof that the value
                               is what it resolves to; strong */
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
  int may_hold_lazy;        /* some entry's held_lazy may be set */
  /* A class's (see "class setattr that writes no dict entry"): */
  PyTypeObject *cls;        /* borrowed while alive, else NULL */
  watch_tap_t *cls_tap;     /* its type tap, or NULL */
  int pending;              /* its watcher event awaits settling */
  int explained;            /* ...by its own dict event */
  int late;                 /* ...heard before it */
  int settling;             /* (settle()'s mark) */
  int unnamed;              /* it has an unnamed write logged */
  struct logged *base;      /* the base whose change it was part of */
  int rearm;                /* it is in rearms */
  int blind;                /* it went unwatched for a while */
  PyFrameObject *frame;     /* where the pending event came from: only */
  int lasti;                /* compared */
  PyObject *filename;       /* who made the last event located; strong */
  int lineno;
  PyFrameObject *located;   /* ...where it was: a class written in a */
  PyCodeObject *located_code; /* loop is located once; only compared */
  int located_lasti;
  struct logged *next;
};

/* Instances moved from one class to another (obj.__class__ = C), where
 * either class is audited: a class frozen with freeze(classes=True)
 * refuses that, so the audit names them.  One per pair of audited classes;
 * a class not audited is NULL, and named by its first one's qualname. */
struct change {
  struct logged *from, *to;
  PyObject *from_name, *to_name; /* the qualname of a class not audited, or
                                    NULL; strong */
  Py_ssize_t count;
  unsigned long long order;
  PyObject *filename;            /* the first writer's, or NULL; strong */
  int lineno;
  struct change *next;
};

/* Main interpreter only (f_audit_start says so). */
static struct logged *logs;
static struct change *changes;
/* See "class setattr that writes no dict entry": the classes whose watcher
 * event awaits settling, and those to arm again (a few at a time). */
struct log_list {
  struct logged **items;
  size_t n, cap;
};
static struct log_list pending, rearms;
/* The class dict event just heard, for a PyType_Modified that follows it
 * (3.12's type_setattro; 3.14's annotation cache). */
static struct {
  struct logged *log;
  PyFrameObject *frame;
  int lasti;
} written;
static int running;
static int out_of_memory;   /* an event that could not be counted */
static unsigned long long clock_;

/* 3.15's lazy_import type (PEP 810), or NULL: the placeholder that the
 * import system rebinds to what it imports on first use. */
static PyTypeObject *lazy_import_type;

/* The module setattr running, so that the tap can tell its write from a
 * direct one, and whether the dict was written at all.  Saved and restored
 * around the call, since a descriptor's __set__ may nest another. */
struct setattr_site {
  PyThreadState *tstate;
  PyObject *dict;
  PyObject *name;
  PyObject *value;          /* sanctioned's only: what patch() writes */
  int heard;                /* the tap heard the dict during the call */
};
static _Thread_local struct setattr_site site;

/* The write pywatch.patch() announced and is about to make: the dict is
 * only compared, the name and the value are held (strong), since the name
 * is read and the value compared by identity: a write of anything else is
 * not patch()'s. */
static struct setattr_site sanctioned;

/* Path prefixes (exact str) of the files whose frames are not a write's
 * "first writer": pywatch's own, and unittest.mock's, so that the writer
 * named is the program's line that asked for the write.  The first is
 * pywatch's package directory. */
static PyObject *skipped_files;

static void stored_again(PyObject *dict, PyObject *name, PyObject *value);

int
pywatch_audit_setattr(PyObject *obj, PyObject *name, PyObject *value,
                      setattrofunc original)
{
  /* The interpreter first: another one must not read even running. */
  if (PyInterpreterState_Get() != PyInterpreterState_Main() || !running
      || !PyModule_Check(obj))
    return original(obj, name, value);
  struct setattr_site saved = site;
  site.tstate = PyThreadState_Get();
  site.dict = PyModule_GetDict(obj);
  site.name = name;
  site.heard = 0;
  int rc = original(obj, name, value);
  int heard = site.heard;
  site = saved;
  /* A store that succeeded and fired no event stored the object already
   * bound (or went to a descriptor): a write that freeze() refuses. */
  if (rc == 0 && value != NULL && !heard)
    stored_again(PyModule_GetDict(obj), name, value);
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

/* The entry of key, created on first use; NULL when out of memory.  Out
 * of line: the tap's common case, the key written last, then needs neither
 * its registers nor its stack. */
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

/* The entry's first write: when, and by whom. */
static __attribute__((noinline)) void
first_write(struct entry *e)
{
  e->order = ++clock_;
  locate_writer(&e->filename, &e->lineno);
}

/* ---- the tap ------------------------------------------------------------ */

/* Whether writing dict[key] (key an exact str) is the write pywatch.patch()
 * announced, from pywatch's own code; the announcement is used up. */
static int
is_sanctioned(PyObject *dict, PyObject *key, PyObject *value)
{
  /* patch()'s exit announces a deletion as None. */
  if (sanctioned.dict != dict || !same_key(sanctioned.name, key)
      || sanctioned.tstate != PyThreadState_Get()
      || (value != sanctioned.value
          && !(value == NULL && sanctioned.value == Py_None)))
    return 0;
  sanctioned.dict = NULL;
  return in_pywatch();
}

static int
is_lazy_import(PyObject *value)
{
  return value != NULL && lazy_import_type != NULL
         && Py_IS_TYPE(value, lazy_import_type);
}

/* The lazy_import objects an entry lets go in the tap: dropping the last
 * reference there could run code, so they stay referenced as long as the
 * logs, which is the audited program's whole run. */
static PyObject **let_go;
static size_t let_go_len, let_go_cap;

static void
keep(PyObject *obj)
{
  if (obj == NULL)
    return;
  if (let_go_len == let_go_cap) {
    size_t cap = let_go_cap ? 2 * let_go_cap : 16;
    PyObject **grown = realloc(let_go, cap * sizeof(*grown));
    if (grown == NULL) {
      out_of_memory = 1;
      return; /* the reference stays taken, never dropped here */
    }
    let_go = grown;
    let_go_cap = cap;
  }
  let_go[let_go_len++] = obj;
}

/* Notes the exact str keys under which dict holds a lazy_import object.
 * PyDict_Next runs no Python code. */
static int
note_lazy_imports(struct logged *log, PyObject *dict)
{
  Py_ssize_t pos = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    if (!is_lazy_import(value) || !PyUnicode_CheckExact(key))
      continue;
    struct entry *e = entry_looked_up(log, key);
    if (e == NULL)
      return -1;
    keep(e->held_lazy);
    e->held_lazy = Py_NewRef(value);
    log->may_hold_lazy = 1;
  }
  return 0;
}

/* Follows which keys hold a lazy_import object (3.15), from the events
 * alone: a modification that replaces one by something else is the import
 * system resolving it.  Out of line: rare. */
static __attribute__((noinline)) void
follow_lazy_imports(struct logged *log, struct entry *e, int kind,
                    const watch_tap_event_t *ev)
{
  if (kind == CLEARED || kind == CLONED) {
    for (size_t i = 0; i <= log->mask; i++)
      if (log->slots[i] != NULL) {
        keep(log->slots[i]->held_lazy);
        log->slots[i]->held_lazy = NULL;
      }
    /* CLONED's value is the dict it was refilled from. */
    if (kind == CLONED && note_lazy_imports(log, ev->value) < 0)
      out_of_memory = 1;
    return;
  }
  if (e->key != ev->key)
    return; /* not an exact str: never a lazy import's name */
  int lazy = is_lazy_import(ev->value);
  if (kind == MODIFIED && e->held_lazy != NULL && !lazy) {
    e->lazy++;
    keep(e->resolved);
    e->resolved = e->held_lazy;
  }
  else
    keep(e->held_lazy);
  e->held_lazy = lazy ? Py_NewRef(ev->value) : NULL;
  log->may_hold_lazy |= lazy;
}

static void class_heard(struct logged *log, const watch_tap_event_t *ev);

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
    log->cls = NULL; /* dropped from pending by the next settle() */
    return 0;
  }
  if (pending.n > 0 || rearms.n > 0 || written.log != NULL
      || log->cls != NULL)
    class_heard(log, ev);
  int in_site = site.dict == ev->dict && site.tstate == PyThreadState_Get();
  if (in_site)
    site.heard = 1;
  PyObject *key = ev->key == NULL ? Py_None
                  : PyUnicode_CheckExact(ev->key) ? ev->key : Py_Ellipsis;
  if (key == ev->key && is_sanctioned(ev->dict, key, ev->value))
    return 0;
  struct entry *e = entry_of(log, key);
  if (e == NULL) {
    out_of_memory = 1;
    return 0;
  }
  if (e->order == 0)
    first_write(e);
  e->counts[kind]++;
  if (lazy_import_type != NULL
      && (log->may_hold_lazy || kind == CLONED || is_lazy_import(ev->value)))
    follow_lazy_imports(log, e, kind, ev);
  if (in_site && site.name == ev->key)
    e->setattr++;
  return 0;
}

/* ---- class setattr that writes no dict entry ----------------------------
 * C.x = v writes C's dict, which the tap hears, unless v is the object
 * already bound: CPython then fires no dict event, yet freeze() refuses
 * that store (an immutable class refuses every setattr).  What tells it
 * is PyType_Modified(C), which type_setattro calls whatever it stores, and
 * so C's type tap (on libwatch's type watcher): an event of C's that no
 * event of C's dict goes with is such a store, or another setattr that
 * writes no name (__bases__).  A type watcher is not told the name: it is
 * logged under NotImplemented.
 *
 * Pairing.  type_setattro calls PyType_Modified after the dict write on
 * 3.12, before it on 3.13 and later (3.14's annotation cache writes
 * first), with no Python code between the two: both happen in one
 * instruction of one frame.  A change to a base calls the watchers of its
 * subclasses first.  So a watcher event waits (pending) until the next
 * event settles it: its own dict event in the same instruction (or heard
 * just before it: written) pairs it; the event of a base of it makes it the
 * base's change; anything else means that no dict write went with it.
 *
 * Re-arming.  A type watcher fires once per version tag.  The audit
 * assigns the tag again (watch_tap_arm()) after each event, outside
 * PyType_Modified (inside it, a class would hold a tag while its base has
 * none): in the tap, at once when the dict event comes last (3.13+
 * setattr), else at the next audited write or audit event.  A class left unarmed until then, or that
 * has run out of tags (3.13+: 1000 per class), is blind: a store of its
 * bound value may be missed, and the verdict keeps its module from
 * classes=True. */

/* A pending event: 1, the class's own; 2, part of a change to a base
 * (logged->base). */
enum { OWN = 1, BASE_S = 2 };

static PyFrameObject *
frame_now(int *lasti)
{
  PyFrameObject *frame = PyEval_GetFrame();
  *lasti = frame ? PyFrame_GetLasti(frame) : -1;
  return frame;
}

static int
push(struct log_list *list, struct logged *log)
{
  if (list->n == list->cap) {
    size_t cap = list->cap ? 2 * list->cap : 16;
    struct logged **items = realloc(list->items, cap * sizeof(*items));
    if (items == NULL) {
      out_of_memory = 1;
      return -1;
    }
    list->items = items;
    list->cap = cap;
  }
  list->items[list->n++] = log;
  return 0;
}

/* Outside PyType_Modified only. */
static void
rearm_all(void)
{
  for (size_t i = 0; i < rearms.n; i++) {
    struct logged *log = rearms.items[i];
    log->rearm = 0;
    if (log->cls != NULL && log->cls_tap != NULL
        && watch_tap_arm(log->cls_tap) != 1)
      log->blind = 1;
  }
  rearms.n = 0;
}

/* The class's watcher event is settled; blind if it stays unarmed past
 * this operation. */
static void
unpend(struct logged *log, int in_time)
{
  log->pending = 0;
  log->blind |= !in_time;
  if (!log->rearm && push(&rearms, log) == 0)
    log->rearm = 1;
}

/* A watcher event with no dict write: an unnamed write of the class. */
static void
log_unnamed(struct logged *log)
{
  struct entry *e = entry_of(log, Py_NotImplemented);
  if (e == NULL) {
    out_of_memory = 1;
    return;
  }
  if (e->order == 0) {
    e->order = ++clock_;
    e->filename = Py_XNewRef(log->filename);
    e->lineno = log->lineno;
  }
  e->counts[SAME]++;
  log->unnamed = 1;
}

static int
same_operation(const struct logged *log, PyFrameObject *frame, int lasti)
{
  return log->frame == frame && log->lasti == lasti;
}

/* Settles the watcher events pending, before an event of dict (NULL: of
 * no dict), or only those of earlier operations (older): the class's own
 * dict event in the same instruction is its write, which the tap counts;
 * the other classes wrote no dict entry, and their subclasses' events
 * were theirs.  Whether dict's class had its event paired so.  A class
 * that died meanwhile is dropped. */
static int
settle(PyObject *dict, int older)
{
  if (pending.n == 0)
    return 0;
  int lasti, paired = 0;
  PyFrameObject *frame = frame_now(&lasti);
  struct logged **items = pending.items;
  for (size_t i = 0; i < pending.n; i++) {
    struct logged *log = items[i];
    log->settling = log->cls == NULL || !older
                    || !same_operation(log, frame, lasti);
    if (log->settling && log->pending == OWN && log->cls != NULL
        && !log->explained) {
      log->explained = dict != NULL && log->dict == dict
                       && same_operation(log, frame, lasti);
      paired |= log->explained;
      if (!log->explained)
        log_unnamed(log);
    }
  }
  /* In time: armed again in the operation that disarmed it, which the
   * tap does when the dict event came last. */
  for (size_t i = 0; i < pending.n; i++)
    if (items[i]->settling && items[i]->pending == BASE_S) {
      struct logged *base = items[i]->base;
      unpend(items[i], base->pending == OWN && base->explained
                       && !base->late);
    }
  size_t kept = 0;
  for (size_t i = 0; i < pending.n; i++)
    if (!items[i]->settling)
      items[kept++] = items[i];
    else if (items[i]->pending)
      unpend(items[i], items[i]->explained && !items[i]->late);
  pending.n = kept;
  return paired;
}

static int
in_mro(PyTypeObject *cls, PyTypeObject *base)
{
  PyObject *mro = cls->tp_mro;
  if (mro == NULL || !PyTuple_Check(mro))
    return 0;
  for (Py_ssize_t i = 1; i < PyTuple_GET_SIZE(mro); i++)
    if (PyTuple_GET_ITEM(mro, i) == (PyObject *)base)
      return 1;
  return 0;
}

/* The writer of a watcher event, in case it is logged: located again
 * only elsewhere than last time (a line number costs a scan of the line
 * table). */
static void
locate_pending(struct logged *log, PyFrameObject *frame, int lasti)
{
  PyCodeObject *code = frame ? PyFrame_GetCode(frame) : NULL;
  Py_XDECREF(code); /* the frame holds it: only compared */
  if (log->filename != NULL && log->located == frame
      && log->located_code == code && log->located_lasti == lasti)
    return;
  Py_CLEAR(log->filename); /* a str: runs no Python code */
  locate_writer(&log->filename, &log->lineno);
  log->located = frame;
  log->located_code = code;
  log->located_lasti = lasti;
}

/* The class's type tap, inside PyType_Modified for TYPE: reads and C
 * memory only. */
static int
class_modified(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  struct logged *log = watch_tap_data(tap);
  if (ev->kind != WATCH_EVENT_TYPE) {
    log->cls = NULL; /* DEALLOCATED or FINALIZED: as heard() does */
    return 0;
  }
  if (log->cls == NULL)
    return 0; /* its dict died first */
  PyTypeObject *cls = log->cls;
  settle(NULL, 1);
  /* Its subclasses heard first: this change, not theirs. */
  for (size_t i = 0; i < pending.n; i++) {
    struct logged *sub = pending.items[i];
    if (sub->pending == OWN && sub->cls != NULL && in_mro(sub->cls, cls)) {
      sub->pending = BASE_S;
      sub->base = log;
    }
  }
  if (log->pending)
    return 0;
  int lasti;
  PyFrameObject *frame = frame_now(&lasti);
  /* Its dict write heard just before: explained, but armed again only at
   * the next event, since this is the operation's last step. */
  log->explained = log->late = written.log == log && written.frame == frame
                               && written.lasti == lasti;
  if (log->explained)
    written.log = NULL;
  /* pywatch.patch()'s own store (the object already bound, say): no write
   * of the program's.  Its dict event, if one follows, is skipped by
   * is_sanctioned(). */
  if (!log->explained && sanctioned.dict == log->dict
      && sanctioned.tstate == PyThreadState_Get() && in_pywatch())
    log->explained = 1;
  if (push(&pending, log) < 0)
    return 0;
  log->pending = OWN;
  log->frame = frame;
  log->lasti = lasti;
  /* Only the first unnamed write's writer is kept. */
  if (!log->explained && !log->unnamed)
    locate_pending(log, frame, lasti);
  return 0;
}

/* Each event the tap hears, before it counts it. */
static void
class_heard(struct logged *log, const watch_tap_event_t *ev)
{
  int paired = settle(ev->dict, 0);
  rearm_all();
  written.log = NULL;
  if (log->cls != NULL && !paired) {
    written.frame = frame_now(&written.lasti);
    written.log = log;
  }
}

static struct logged *find(PyObject *dict);

/* A module setattr of name that fired no event: counted as SAME, unless it
 * is pywatch.patch()'s own. */
static void
stored_again(PyObject *dict, PyObject *name, PyObject *value)
{
  struct logged *log = find(dict);
  if (log == NULL || log->tap == NULL)
    return;
  PyObject *key = PyUnicode_CheckExact(name) ? name : Py_Ellipsis;
  if (key == name && is_sanctioned(dict, key, value))
    return;
  struct entry *e = entry_of(log, key);
  if (e == NULL) {
    out_of_memory = 1;
    return;
  }
  if (e->order == 0)
    first_write(e);
  e->counts[SAME]++;
  e->setattr++;
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

/* The log of an audited class, or NULL.  Only compared: no code runs. */
static struct logged *
class_log(PyTypeObject *cls)
{
  if (!PyType_HasFeature(cls, Py_TPFLAGS_HEAPTYPE))
    return NULL; /* the audit tracks heap classes only */
  PyObject *dict = PyType_GetDict(cls);
  Py_XDECREF(dict); /* the class keeps it alive */
  return dict ? find(dict) : NULL;
}

/* The name of a class that is not audited, for the report. */
static PyObject *
name_unless(struct logged *log, PyTypeObject *cls)
{
  if (log != NULL)
    return NULL;
  PyObject *name = PyType_GetQualName(cls);
  if (name == NULL)
    PyErr_Clear();
  return name;
}

/* obj.__class__ = value, heard before CPython checks or makes it (the
 * event object.__setattr__): counted if either class is audited.  An
 * attempt that CPython then refuses counts too: the audit cannot tell. */
static void
class_change(PyObject *obj, PyObject *value)
{
  if (!PyType_Check(value))
    return;
  PyTypeObject *old = Py_TYPE(obj), *new = (PyTypeObject *)value;
  struct logged *from = class_log(old), *to = class_log(new);
  if (from == NULL && to == NULL)
    return;
  struct change *c = changes;
  while (c != NULL && !(c->from == from && c->to == to))
    c = c->next;
  if (c == NULL) {
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
      out_of_memory = 1;
      return;
    }
    c->from = from;
    c->to = to;
    c->from_name = name_unless(from, old);
    c->to_name = name_unless(to, new);
    c->order = ++clock_;
    locate_writer(&c->filename, &c->lineno);
    c->next = changes;
    changes = c;
  }
  c->count++;
}

/* pywatch.patch's event: (obj, name, value, "enter" or "exit"), raised
 * just before it writes obj.name; and object.__setattr__, raised before
 * obj.__class__ = value.  Called for every audit event of the process: a
 * string comparison or two is all the others cost. */
static int
on_audit_event(const char *event, PyObject *args, void *unused)
{
  (void)unused;
  /* A C audit hook runs in every interpreter, each with its own GIL maybe:
   * the interpreter first, so that no other one reads the log's state. */
  if (PyInterpreterState_Get() != PyInterpreterState_Main() || !running
      || !PyTuple_Check(args))
    return 0;
  /* Another operation: what the type watcher heard is settled. */
  settle(NULL, 0);
  rearm_all();
  written.log = NULL;
  if (strcmp(event, "object.__setattr__") == 0) {
    if (PyTuple_GET_SIZE(args) == 3
        && PyUnicode_Check(PyTuple_GET_ITEM(args, 1))
        && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(args, 1),
                                            "__class__") == 0)
      class_change(PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 2));
    return 0;
  }
  if (strcmp(event, "pywatch.patch") != 0 || PyTuple_GET_SIZE(args) < 2)
    return 0;
  sanctioned.dict = namespace_dict(PyTuple_GET_ITEM(args, 0));
  /* Outside any watcher: releasing the old name may run code. */
  Py_XSETREF(sanctioned.name, Py_NewRef(PyTuple_GET_ITEM(args, 1)));
  Py_XSETREF(sanctioned.value, PyTuple_GET_SIZE(args) > 2
                                   ? Py_NewRef(PyTuple_GET_ITEM(args, 2))
                                   : NULL);
  sanctioned.tstate = PyThreadState_Get();
  return 0;
}

/* ---- the functions ------------------------------------------------------- */

/* _audit_start(skipped_files, lazy_import_type): a tuple of path prefixes,
 * pywatch's package directory first (see skipped_files), and 3.15's
 * types.LazyImportType or None.  Passed in, so that the audit imports
 * nothing once it runs. */
/* The log is the main interpreter's, and another interpreter, with a GIL
 * of its own, must not touch it: 1 with RuntimeError set there. */
static int
elsewhere(void)
{
  if (PyInterpreterState_Get() == PyInterpreterState_Main())
    return 0;
  PyErr_SetString(PyExc_RuntimeError,
                  "the audit runs in the main interpreter only");
  return 1;
}

static PyObject *
f_audit_start(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (elsewhere())
    return NULL;
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
  if (elsewhere())
    return NULL;
  settle(NULL, 0);
  running = 0;
  for (struct logged *log = logs; log != NULL; log = log->next) {
    watch_tap_free(log->tap);
    log->tap = NULL;
    watch_tap_free(log->cls_tap);
    log->cls_tap = NULL;
  }
  Py_RETURN_NONE;
}

/* The log of a live dict, or NULL.  Cached by address (a stored bound
 * value and a change of class look it up, possibly in a loop), misses
 * included: _audit_watch() empties the cache. */
static struct {
  PyObject *dict;
  struct logged *log;
} found[64];

static struct logged *
find(PyObject *dict)
{
  size_t i = ((uintptr_t)dict >> 4) % (sizeof(found) / sizeof(found[0]));
  if (found[i].dict == dict
      && (found[i].log == NULL || found[i].log->dict == dict))
    return found[i].log;
  struct logged *log = logs;
  while (log != NULL && log->dict != dict)
    log = log->next;
  found[i].dict = dict;
  found[i].log = log;
  return log;
}

/* _audit_watch(dict, label[, cls]): logs the dict's writes under label
 * from now on, and those of class cls that write no dict entry, if dict
 * is its __dict__; False if it was logged already. */
static PyObject *
f_audit_watch(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (elsewhere())
    return NULL;
  PyTypeObject *cls = n == 3 && PyType_Check(args[2])
                      ? (PyTypeObject *)args[2] : NULL;
  if ((n != 2 && cls == NULL) || !PyDict_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "_audit_watch(dict, label[, cls])");
    return NULL;
  }
  if (cls != NULL) {
    PyObject *dict = PyType_GetDict(cls);
    Py_XDECREF(dict); /* only compared */
    if (dict != args[0]) {
      PyErr_SetString(PyExc_ValueError, "_audit_watch: not cls's __dict__");
      return NULL;
    }
  }
  if (!running) {
    PyErr_SetString(PyExc_RuntimeError, "the audit is not running");
    return NULL;
  }
  if (find(args[0]) != NULL)
    Py_RETURN_FALSE;
  memset(found, 0, sizeof(found)); /* its misses are stale */
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
  log->next = logs;
  logs = log;
  if (cls != NULL) {
    log->cls = cls;
    /* No type watcher id free, or no version tag: blind. */
    rc = watch_tap_new_type(&log->cls_tap, cls, class_modified, NULL, log);
    if (rc == WATCH_ENOMEM)
      out_of_memory = 1;
    if (rc < 0) {
      PyErr_Clear();
      log->blind = 1;
    }
  }
  if (lazy_import_type != NULL && note_lazy_imports(log, args[0]) < 0)
    out_of_memory = 1;
  Py_RETURN_TRUE;
}

static PyObject *
entry_tuple(const struct entry *e)
{
  return Py_BuildValue("(nnnnnnnKOinO)", e->counts[ADDED],
                       e->counts[MODIFIED], e->counts[DELETED],
                       e->counts[CLEARED], e->counts[CLONED],
                       e->counts[SAME], e->setattr, e->order,
                       e->filename ? e->filename : Py_None, e->lineno,
                       e->lazy, e->resolved ? e->resolved : Py_None);
}

/* Appends log's row to out, if it was written or is blind; -1 on error. */
static int
append_row(PyObject *out, struct logged *log)
{
  PyObject *writes = PyDict_New();
  int rc = writes ? 0 : -1;
  /* An entry made for a lazy import that was never written is left
   * out. */
  for (size_t i = 0; rc == 0 && i <= log->mask; i++) {
    const struct entry *e = log->slots ? log->slots[i] : NULL;
    if (e == NULL || e->order == 0)
      continue;
    PyObject *t = entry_tuple(e);
    rc = t ? PyDict_SetItem(writes, e->key, t) : -1;
    Py_XDECREF(t);
  }
  if (rc == 0 && (PyDict_GET_SIZE(writes) > 0 || log->blind)) {
    PyObject *item = Py_BuildValue("(OOOO)", log->label,
                                   log->dict ? Py_True : Py_False, writes,
                                   log->blind ? Py_True : Py_False);
    rc = item ? PyList_Append(out, item) : -1;
    Py_XDECREF(item);
  }
  Py_XDECREF(writes);
  return rc;
}

/* [(label, alive, {key: (added, modified, deleted, cleared, cloned, same,
 * setattr, order, filename, lineno, lazy, resolved)}, blind)] of every
 * namespace
 * written, dead or alive, and every class that went unwatched for a
 * while.  A class's writes that named no key are under NotImplemented. */
static PyObject *
f_audit_log(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  if (elsewhere())
    return NULL;
  if (out_of_memory)
    return PyErr_NoMemory(); /* a count would be wrong */
  PyObject *out = PyList_New(0);
  for (struct logged *log = logs; out != NULL && log != NULL;
       log = log->next)
    if (append_row(out, log) < 0)
      Py_CLEAR(out);
  return out;
}

/* _audit_cut(dict or None): the end of startup for dict's log (None: for
 * every log).  Returns their rows as _audit_log() does, and starts their
 * writes anew: from now on each entry counts, and names its first writer,
 * as if it had never been written.  What an entry knows of the dict
 * (held_lazy) stays, since the dict still holds it. */
static PyObject *
f_audit_cut(PyObject *self, PyObject *arg)
{
  (void)self;
  if (elsewhere())
    return NULL;
  if (arg != Py_None && !PyDict_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "_audit_cut(dict or None)");
    return NULL;
  }
  if (out_of_memory)
    return PyErr_NoMemory();
  settle(NULL, 0); /* a class event pending is startup's */
  PyObject *out = PyList_New(0);
  for (struct logged *log = logs; out != NULL && log != NULL;
       log = log->next) {
    if (arg != Py_None && log->dict != arg)
      continue;
    if (append_row(out, log) < 0) {
      Py_CLEAR(out);
      break;
    }
    for (size_t i = 0; log->slots != NULL && i <= log->mask; i++) {
      struct entry *e = log->slots[i];
      if (e == NULL)
        continue;
      memset(e->counts, 0, sizeof(e->counts));
      e->setattr = e->lazy = 0;
      e->order = 0;
      e->lineno = 0;
      Py_CLEAR(e->filename);
      Py_CLEAR(e->resolved);
    }
  }
  return out;
}

static PyObject *
change_side(struct logged *log, PyObject *name)
{
  return Py_NewRef(log ? log->label : name ? name : Py_None);
}

/* [(from, to, count, order, filename, lineno)] of every change of an
 * instance's class that involved an audited class: from and to are the
 * label of an audited class, or the qualname of another (None if it could
 * not be read). */
static PyObject *
f_audit_class_changes(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  if (elsewhere())
    return NULL;
  if (out_of_memory)
    return PyErr_NoMemory();
  PyObject *out = PyList_New(0);
  for (struct change *c = changes; out != NULL && c != NULL; c = c->next) {
    PyObject *item = Py_BuildValue(
        "(NNnKOi)", change_side(c->from, c->from_name),
        change_side(c->to, c->to_name), c->count, c->order,
        c->filename ? c->filename : Py_None, c->lineno);
    if (item == NULL || PyList_Append(out, item) < 0)
      Py_CLEAR(out);
    Py_XDECREF(item);
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
    {"_audit_cut", f_audit_cut, METH_O,
     "The rows of a dict's log (None: of every log), which then starts "
     "anew: the end of startup."},
    {"_audit_class_changes", f_audit_class_changes, METH_NOARGS,
     "[(from, to, count, order, filename, lineno)] of the instances whose "
     "class changed from or to an audited class."},
    {NULL, NULL, 0, NULL}};

int
pywatch_audit_init(PyObject *module)
{
  return PyModule_AddFunctions(module, audit_functions);
}
