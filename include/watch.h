/* libwatch: exact dependents on Python namespaces.
 *
 * An optimizer creates one *dependent* per piece of optimized code and
 * registers the assumptions that code makes: "builtins.len is this object",
 * "mod.DEBUG is False", "nothing in this dict changes".  When CPython is about
 * to break an assumption, the dependent is invalidated: watch_dep_valid()
 * turns false before the mutation completes, and the dependent's callback is
 * called after it, at a safe point.  The cost of a mutation is proportional to the dependents of the
 * key that changed, never to the number of dependents in the process.
 *
 * doc/c-api.md is the reference: a section per function, with every error
 * code it can return (tests/test_errors.c provokes each).
 *
 * Every function must be called with the GIL held, in an interpreter where
 * watch_init() succeeded; elsewhere they return WATCH_ENOINIT, even for a
 * dependent that was invalidated, except that a cell of a finalized
 * libwatch says WATCH_ESTALE (see "Cells").  Allowed at any time (with the
 * GIL): watch_dep_release(), watch_cell_free(), watch_tap_free(),
 * watch_dep_locate(), watch_dep_invalidate() after finalization,
 * watch_attr_lookup() (a plain read), and the functions that only read
 * their argument (watch_strerror(), watch_err_name(), watch_event_name(),
 * watch_library_version(), watch_code_mismatch(), the *_data() and
 * watch_tap_attached()).  watch_dep_valid() and watch_cell_value() are one
 * load: read them with the GIL held, where the answer is used.
 *
 * Call with no Python exception set; a call returns with one set exactly
 * when it fails with WATCH_EPYTHON.
 * PyObject arguments are borrowed: libwatch takes its own references where
 * it keeps an object.  data pointers are never read by libwatch: they must
 * live as long as the caller uses them (from callbacks, *_data()).
 *
 * The unstable limit, the debounce and the attached loop are per
 * interpreter, and shared by every copy of libwatch running there of one
 * ABI version (pywatch's included); an unstable key stays unstable until
 * the last watch_fini().  State is per interpreter:
 * isolated subinterpreters, each with its own GIL (PEP 684), use libwatch
 * at the same time, and nothing one of them registers or writes reaches
 * another's dependents.  A dependent belongs to the interpreter that made
 * it: a call that takes one finds its state through it, and checks the
 * running interpreter only while libwatch runs in more than one, so it must
 * be called in that interpreter.
 */
#ifndef WATCH_H
#define WATCH_H

#include <Python.h>
#include <stdint.h>

/* libuv's loop, opaque here: only a program that attaches its own loop
 * (watch_attach_loop()) includes <uv.h>, where uv_loop_t is this struct. */
struct uv_loop_s;

#ifdef __cplusplus
extern "C" {
#endif

#if PY_VERSION_HEX < 0x030C0000
#error "libwatch needs CPython 3.12 or newer (dict watchers)"
#endif
#ifdef Py_GIL_DISABLED
#error "libwatch does not support free-threaded CPython (Py_GIL_DISABLED) yet: its index and validity flags rely on the GIL; see doc/free-threading.md"
#endif

/* This header's release.  watch_library_version() is the running library's,
 * so that an embedder can check that the two match.  The Makefile, the
 * package metadata and pywatch.__version__ all read these lines. */
#define WATCH_VERSION_MAJOR 0
#define WATCH_VERSION_MINOR 1
#define WATCH_VERSION_PATCH 0
#define WATCH_VERSION_HEX                                                     \
  ((WATCH_VERSION_MAJOR << 16) | (WATCH_VERSION_MINOR << 8)                   \
   | WATCH_VERSION_PATCH)

#if defined(__GNUC__) && __GNUC__ >= 4
#define WATCH_EXTERN __attribute__((visibility("default")))
#else
#define WATCH_EXTERN
#endif

/* Errors are negative; watch_strerror() and watch_err_name() describe them.
 * WATCH_EPYTHON is the one code that leaves a Python exception set. */
#define WATCH_ERRNO_MAP(XX)                                                   \
  XX(EINVAL, -1, "invalid argument")                                          \
  XX(ENOMEM, -2, "out of memory")                                             \
  XX(ENOINIT, -3, "libwatch is not initialized in this interpreter")          \
  XX(EBUSY, -4, "no free watcher id in this interpreter")                     \
  XX(ESTALE, -5, "the namespace no longer holds the assumed value")           \
  XX(EUNSTABLE, -6, "the key changes too often to be depended on")            \
  XX(EINVALIDATED, -7, "the dependent has already been invalidated")          \
  XX(EPYTHON, -8, "a Python exception is set")                               \
  XX(EINCOMPATIBLE, -9, "the code does not fit the function")                 \
  XX(EABI, -10,                                                               \
     "another libwatch of an incompatible version runs in this interpreter") \
  XX(EUNWATCHABLE, -11,                                                       \
     "this read can change with no event that libwatch could hear")

typedef enum {
#define XX(code, value, _) WATCH_##code = (value),
  WATCH_ERRNO_MAP(XX)
#undef XX
} watch_errno_t;

/* A static message for a code ("unknown error" for any other value). */
WATCH_EXTERN const char *watch_strerror(int err);

/* The library's WATCH_VERSION_HEX, as it was built: compare it with the
 * header's to know that they are one release.  Callable at any time. */
WATCH_EXTERN unsigned int watch_library_version(void);
/* The code's name, "WATCH_EINVAL"..., or "WATCH_UNKNOWN".  Static. */
WATCH_EXTERN const char *watch_err_name(int err);

/* Why a dependent was invalidated: XX(KIND, value, name, meaning) for
 * WATCH_EVENT_KIND, whose watch_event_name() is name.  TYPE's ns is the
 * class, or NULL for a raw write to a base's subclass registry that names no
 * live class. */
#define WATCH_EVENT_MAP(XX)                                                   \
  XX(ADDED, 1, "added", "a key was added")                                    \
  XX(MODIFIED, 2, "modified", "a key was bound to another object")            \
  XX(DELETED, 3, "deleted", "a key was removed")                              \
  XX(CLEARED, 4, "cleared", "the whole dict was cleared")                     \
  XX(CLONED, 5, "cloned", "the dict was refilled from another in one step")   \
  XX(DEALLOCATED, 6, "deallocated", "the namespace is being destroyed")       \
  XX(UNSTABLE, 7, "unstable",                                                 \
     "the key changed too often; stop depending on it")                       \
  XX(MANUAL, 8, "manual", "invalidated on request: watch_dep_invalidate()")  \
  XX(FINALIZED, 9, "finalized", "libwatch shut down in this interpreter")     \
  XX(CODE, 10, "code", "a function's __code__ is being replaced")             \
  XX(DEFAULTS, 11, "defaults", "a function's __defaults__ is being replaced") \
  XX(KWDEFAULTS, 12, "kwdefaults",                                            \
     "a function's __kwdefaults__ is being replaced")                         \
  XX(TYPE, 13, "type",                                                        \
     "a class's bases changed, or it was modified in a way that has no name")

typedef enum {
#define XX(kind, value, name, meaning) WATCH_EVENT_##kind = (value),
  WATCH_EVENT_MAP(XX)
#undef XX
} watch_event_kind_t;

/* What an invalidation callback is told.  The pointers are borrowed and only
 * valid during the callback.  key is NULL for whole-namespace events; ns and
 * key are both NULL for MANUAL, FINALIZED and DEALLOCATED (the namespace no
 * longer exists when the callback runs). */
typedef struct {
  watch_event_kind_t kind;
  PyObject *ns;
  PyObject *key;
  /* Where the Python code that made the change was running, for dependents
   * that asked (watch_dep_locate()); NULL and 0 otherwise. */
  PyObject *filename;
  int lineno;
} watch_event_t;

/* The kind's name ("modified"...), or "unknown".  Static. */
WATCH_EXTERN const char *watch_event_name(watch_event_kind_t kind);

typedef struct watch_dep_s watch_dep_t;

/* Called once per invalidation, in two phases.  Phase one runs inside
 * CPython's watcher, before the mutation completes: the dependent turns
 * invalid (watch_dep_valid() is false from then on) and is queued.  Phase two
 * calls this callback later, after the mutation, at a safe point and with
 * the GIL held (see "Delivery" below); it sees the new state and may do
 * anything: run Python code, register, release any dependent (its own
 * included), modify namespaces.  What it invalidates is delivered in the next
 * batch, never in the one running.  A released dependent is not called.  A
 * negative return is counted in watch_counters_t.callback_errors; a Python
 * exception left set (a Python-level callback that raised) is counted too and
 * goes to sys.unraisablehook with a message naming the namespace and key. */
typedef int (*watch_cb)(watch_dep_t *dep, const watch_event_t *event);

/* Per-interpreter setup.  watch_init() takes one dict watcher id, the only one
 * libwatch uses in this interpreter; it nests, and the matching last
 * watch_fini() invalidates every dependent (WATCH_EVENT_FINALIZED), unwatches
 * everything and frees the interpreter's state.  While it does, a callback
 * told FINALIZED may call watch_fini(), which does nothing, and
 * watch_dep_release(); watch_init() and every other call fail with
 * WATCH_ENOINIT, so that nothing is registered in an index being torn
 * down.  Interpreter finalization does
 * the same if watch_fini() was never called.  Dependents stay allocated until
 * released, so releasing them after finalization is still correct.
 * Two copies of libwatch in one process (pywatch's own and an embedder's
 * libwatch.so) share an interpreter's state, and so its dependents, when
 * they are of one ABI version.  A copy of another version fails with
 * WATCH_EABI in an interpreter where the first has run (its state lasts as
 * long as the interpreter), and the first goes on unharmed.
 * An extension module calls watch_init() in its exec slot (multi-phase
 * init) and watch_fini() in its m_free; a subinterpreter has its own
 * count.  Errors: WATCH_EBUSY (no free dict watcher id), WATCH_ENOINIT
 * (from a FINALIZED callback), WATCH_EABI, WATCH_ENOMEM. */
WATCH_EXTERN int watch_init(void);
WATCH_EXTERN void watch_fini(void);

/* A dependent starts valid, with no dependencies.  cb may be NULL; data is
 * watch_dep_data()'s.  Errors: WATCH_EINVAL (dep NULL), WATCH_ENOINIT,
 * WATCH_ENOMEM. */
WATCH_EXTERN int watch_dep_new(watch_dep_t **dep, watch_cb cb, void *data);
WATCH_EXTERN void *watch_dep_data(const watch_dep_t *dep);

/* Unlinks the dependent from everything it depends on and frees it, in
 * O(its dependencies).  Allowed at any time, including from any callback,
 * after finalization, and from Python code that a registration of this very
 * dependent runs (a key's __hash__ or __eq__), which then fails with
 * WATCH_EINVALIDATED; NULL is ignored.  References libwatch held for the
 * dependent are dropped after its records are gone, so that the __del__
 * they may run finds libwatch consistent. */
WATCH_EXTERN void watch_dep_release(watch_dep_t *dep);

/* Phase one of this dependent's invalidation will record the file and line
 * of the Python code that made the change (event->filename, event->lineno),
 * for reports such as "who wrote to this frozen module".  It costs a frame
 * lookup per invalidation of this dependent, nothing on other paths.  It only
 * sets a flag, so it is allowed at any time.  WATCH_EINVAL for NULL. */
WATCH_EXTERN int watch_dep_locate(watch_dep_t *dep);

/* Invalidates the dependent now (WATCH_EVENT_MANUAL) and delivers the queued
 * batch, its callback included, unless a batch is being delivered; does
 * nothing if it is already invalid.  Like watch_dep_release(), it is allowed
 * after finalization, where every dependent is already invalid.  From a
 * callback, the batch waits for the next delivery.  Returns 0, or
 * WATCH_EINVAL for NULL. */
WATCH_EXTERN int watch_dep_invalidate(watch_dep_t *dep);

/* Makes the dependent what watch_dep_new() made, with the same callback and
 * data: valid, with no dependency, no specialization (the function gets its
 * code back) and no callback left to deliver (one queued by an earlier
 * invalidation is dropped).  For an optimizer that re-guards its code after
 * an invalidation: it costs neither an allocation nor a release.  Errors:
 * WATCH_EINVAL (NULL), WATCH_ENOINIT, and WATCH_EINVALIDATED if the Python
 * code that dropping the references libwatch held runs (a key's __del__)
 * releases the dependent: it is freed then, as by watch_dep_release(). */
WATCH_EXTERN int watch_dep_rearm(watch_dep_t *dep);

/* The validity flag is the first member of every dependent, so that this
 * check, which optimized code runs on its fast path, is one load. */
typedef struct {
  int valid;
} watch_dep_head_t;

static inline int
watch_dep_valid(const watch_dep_t *dep)
{
  return ((const watch_dep_head_t *)dep)->valid;
}

/* The dependent assumes dict[key] is assumed, an identity; assumed == NULL
 * assumes that the key is absent.  Fails with WATCH_ESTALE if the dict does
 * not hold that now (validate at install), and with WATCH_EUNSTABLE if the
 * key has changed more often than the unstable limit.  Any key CPython
 * accepts works; keys other than exact str and int are matched
 * conservatively, so that no Python code ever runs inside the watcher.
 * Fails with WATCH_EUNWATCHABLE when the lookup compares key with another
 * key of its hash that the dict holds by Python code (either is not of a
 * builtin type whose equality is C code: exact str, int, float, complex,
 * bool, None, and tuples of them; not bytes, which warns when compared
 * with a str under python -b): an __eq__ may answer differently
 * with no write at all, and change the entry found unheard.  Such a key
 * added later is heard: its ADDED invalidates.  On CPython 3.13.0 (the
 * interpreter running) every registration on a split dict fails so too:
 * an instance's __dict__ that shares its inline values, which o.attr = v
 * writes with no event (CPython's gh-125608, fixed in 3.13.1); so do
 * watch_dep_on_namespace(), watch_dict_version(), watch_tap_new() and the
 * cells on such a dict.
 * On 3.15, dict may be a frozendict (PEP 814), which cannot change: the
 * dependency is checked here and then costs nothing and never invalidates.
 * A name bound by a lazy import (3.15, PEP 810) holds a lazy_import object
 * until its first use rebinds it to what it imports: a dependency assumes
 * what the dict holds, so one on the placeholder is invalidated (MODIFIED)
 * by that resolution; to depend on the imported object, read the name
 * through the module (which resolves it) before registering.
 * A registration that fails leaves the dependent as it was.
 * Every registration (watch_dep_on_*(), watch_specialize()) fails with
 * WATCH_EINVAL for a NULL dependent, WATCH_ENOINIT for one of a libwatch
 * finalized since, WATCH_EINVALIDATED for one already invalid or
 * invalidated by Python code the registration ran (a key's __eq__), and
 * WATCH_ENOMEM; this one also with WATCH_EPYTHON when the key's hash or a
 * comparison raised.  It keeps no reference to assumed. */
WATCH_EXTERN int watch_dep_on_key(watch_dep_t *dep, PyObject *dict,
                                  PyObject *key, PyObject *assumed);

/* The dependent assumes that dict[key] stays what it is as the call
 * starts, present or absent, without reading it: for a caller that has
 * just read the value itself (an optimizer that guards what it read), and
 * ran no Python code since, which would make what it read stale.  It
 * fails, and leaves the dependent as it was, as watch_dep_on_key() does,
 * except that nothing is compared (no WATCH_ESTALE) and key must be an
 * exact str or int (WATCH_EINVAL otherwise), so that the call runs no
 * Python code at all: hashing and comparing such a key is C code.  On a
 * frozendict it costs nothing and never invalidates. */
WATCH_EXTERN int watch_dep_on_key_as_is(watch_dep_t *dep, PyObject *dict,
                                        PyObject *key);

/* The dependent assumes that LOAD_GLOBAL of name, with these globals and
 * builtins (a function's __globals__ and __builtins__), gives assumed (NULL:
 * NameError); the lookups it reads (the builtins only when globals lack
 * the name) fail as watch_dep_on_key()'s do.  A name found in builtins
 * also depends on its absence from globals, so shadowing it there
 * invalidates; so does deleting a name that globals held.  globals and
 * builtins must be exact dicts and name an exact str (WATCH_EINVAL
 * otherwise): LOAD_GLOBAL reads anything else through its own __getitem__
 * (and a dict subclass's __missing__), which no dependency can follow. */
WATCH_EXTERN int watch_dep_on_global(watch_dep_t *dep, PyObject *globals,
                                     PyObject *builtins, PyObject *name,
                                     PyObject *assumed);

/* The dependent assumes that nothing in the dict changes (a frozendict:
 * free, as above). */
WATCH_EXTERN int watch_dep_on_namespace(watch_dep_t *dep, PyObject *dict);

/* The dependent assumes that obj.name is assumed (NULL: AttributeError),
 * where obj is a module or a class.
 * - A module: a key dependency on the module's __dict__, and on the module
 *   keeping its class: a __class__ assignment to the module invalidates it
 *   (WATCH_EVENT_TYPE, naming the module).  That assignment changes
 *   nothing in the dict, so it leaves the dict's own dependents alone
 *   (watch_dep_on_key(), watch_dep_on_global(), watch_dep_on_namespace()).
 * - A class: the MRO lookup that method calls and instance attribute access
 *   use (_PyType_Lookup): the value in the first class of obj.__mro__ whose
 *   __dict__ holds name; a metaclass is not searched.  It is invalidated by any
 *   change that can alter that result: a write or delete of name in the
 *   __dict__ of any class of the MRO up to the one that defines it (raw
 *   writes to a class dict included), __bases__ assignment to any class of
 *   the MRO (WATCH_EVENT_TYPE), and the death of the class.  It is precise
 *   per name, except for a class whose bases are all builtin types other
 *   than object (class E(Exception)): any change to such a class
 *   invalidates all its dependents (WATCH_EVENT_TYPE).  Static builtin types
 *   (int, str, object...) are immutable and cost nothing.
 *   One limit: CPython calls the mro() of a subclass's metaclass in the
 *   middle of __bases__ assignment, after the MRO has changed; code that
 *   such an mro() runs may still see the dependent valid.  It is invalid
 *   when the assignment returns.
 * name must be an exact str.  Fails like watch_dep_on_key(), and with
 * WATCH_EUNSTABLE for a class that can no longer be watched reliably: a
 * builtin-based class that has run out of version tags (3.13) or whose
 * metaclass overrides mro().  Assignments to __class__ and __bases__ are
 * heard through an audit hook of the interpreter's own (sys.addaudithook),
 * added by the first such registration in the interpreter, for its life:
 * WATCH_EBUSY if the interpreter's audit hooks refused it. */
WATCH_EXTERN int watch_dep_on_attr(watch_dep_t *dep, PyObject *obj,
                                   PyObject *name, PyObject *assumed);

/* obj.name as watch_dep_on_attr() sees it, to pass as its assumed value:
 * *value is borrowed, NULL if absent.  A plain read, so it needs no
 * watch_init().  WATCH_EINVAL for what watch_dep_on_attr() refuses. */
WATCH_EXTERN int watch_attr_lookup(PyObject *obj, PyObject *name,
                                   PyObject **value);

/* The dependent assumes that the function's __code__, __defaults__ and
 * __kwdefaults__ stay as they are, the __kwdefaults__ dict's contents
 * included, and that the function lives.  The first
 * function dependency of an interpreter installs libwatch's function
 * watcher: WATCH_EBUSY if no function watcher id is free.  WATCH_EINVAL
 * if func is not a function. */
WATCH_EXTERN int watch_dep_on_function(watch_dep_t *dep, PyObject *func);

/* ---- Cells ---------------------------------------------------------------
 * A cell holds the value a read would give now, kept by the writes
 * themselves, so that optimized code reads it with one load:
 *
 *   PyObject *v = watch_cell_value(cell);
 *   if (v == NULL && (watch_cell_get(cell, &v) < 0 || v == NULL))
 *     v = generic_lookup();          (PyObject_GetAttr, LOAD_GLOBAL's...)
 *
 * A value is what the namespace holds now.  NULL means "take the generic
 * path": the name is absent, or the cell cannot forward this state (a
 * lazy import placeholder, a data descriptor of a module's class, a dead
 * namespace, a write it has not confirmed yet...).
 *
 * A lookup that compares the name with a key of its hash by Python code
 * (watch_dep_on_key(), WATCH_EUNWATCHABLE) may change its answer with no
 * event: while a dict the read looks in holds such a key, the cell holds
 * NULL, and every watch_cell_get() reads again and gives what it read.
 *
 * Timing.  CPython announces a change before making it, and only MODIFIED,
 * DELETED and CLEARED cannot fail once announced; an add (ADDED, CLONED)
 * can: on 3.12 the table grows after the announcement, and a failed
 * allocation leaves the dict without the new value.  So a cell never takes
 * a value from an announcement that can fail: a rebind or a delete updates
 * the cell before the dict changes (deleting a global falls back to the
 * builtin the cell already knows); an add or a clone sets NULL, and the
 * next watch_cell_get() reads the dict again.  A cell therefore never holds
 * a value that its namespace does not hold.
 *
 * Lifetime.  The value is borrowed from the namespace, which holds it as
 * long as the cell forwards it: use it until the next thing that may run
 * Python code, write that namespace or release the GIL (a call into
 * Python, a Py_DECREF of an object you do not own), as with
 * PyDict_GetItem(); Py_INCREF it to keep it longer.  A cell holds no
 * reference to its value, so a cell's write costs no Py_DECREF.
 *
 * Cost.  A write costs O(cells of that name in that dict), whatever the
 * name's history: cells have no unstable limit.  A write through a key
 * that is not an exact str or int, a clear() and a clone touch every cell
 * of the dict.  In a dict that holds any key other than an exact str, a
 * write of a name that cells read also scans the dict's entries for a key
 * of its hash compared by Python code (above): O(the dict's size).  Cells
 * are taps (see below) on the dicts whose entries they read, and an
 * attribute cell also has a guard, a dependent on the rest: cells take no
 * watcher id beyond libwatch's own.  An attribute cell's
 * guard counts in watch_counters() as a dependent with its edges, from the
 * first read until the cell is freed; a cell's taps are libwatch's own,
 * counted with the cell (namespaces, events, bytes), not as taps; a cell's
 * own records are not counted in bytes.
 *
 * A cell lives until watch_cell_free(); a cell whose namespace died stays
 * NULL, and watch_cell_get() and watch_cell_dep() say WATCH_ESTALE.  So
 * does, for good, every cell made before the last watch_fini() of its
 * interpreter (or its finalization), whatever it held then: a new
 * watch_init() does not revive it; make a new cell. */
typedef struct watch_cell_s watch_cell_t;

/* The value is the first member of every cell: watch_cell_value() is one
 * load. */
typedef struct {
  PyObject *value;
} watch_cell_head_t;

static inline PyObject *
watch_cell_value(const watch_cell_t *cell)
{
  return ((const watch_cell_head_t *)cell)->value;
}

/* A cell on LOAD_GLOBAL of name with these globals and builtins (a
 * function's __globals__ and __builtins__), with watch_dep_on_global()'s
 * rules: a global shadows the builtin, and its deletion falls back to the
 * builtin.  The cell follows the builtins dict it was given, as a
 * function's LOAD_GLOBAL does: rebinding __builtins__ in globals changes
 * neither.  A name bound to a lazy import placeholder (3.15, PEP 810)
 * reads NULL until the import resolves.  globals and builtins are
 * borrowed: the death of either leaves the cell NULL for good.
 * Errors: WATCH_EINVAL (not exact dicts, name not an exact str),
 * WATCH_ENOMEM, WATCH_EPYTHON (the first read raised), WATCH_ENOINIT,
 * WATCH_EUNWATCHABLE (CPython 3.13.0: a split dict, see
 * watch_dep_on_key()). */
WATCH_EXTERN int watch_cell_new_global(watch_cell_t **out, PyObject *globals,
                                       PyObject *builtins, PyObject *name);

/* A cell on obj.name, obj a module or a class, with watch_dep_on_attr()'s
 * semantics: for a class, the value of the first class of the MRO whose
 * __dict__ holds name (as _PyType_Lookup, not bound: a function, not a
 * bound method); for a module, its __dict__'s value.
 * A rebinding (MODIFIED) of the entry that holds the value is forwarded
 * like a global's, by the write itself, raw writes included: the entry of
 * name in the module's __dict__, when the module's class reads it there
 * (ModuleType, or a subclass that does not provide name as a data
 * descriptor and keeps ModuleType's __getattribute__: what
 * watch_dep_on_attr() accepts); in a class's MRO, the entry in the
 * __dict__ of the class that defines name, the one _PyType_Lookup stops
 * at.  Such a rebinding leaves the resolution as it was (the cell's value
 * is the entry itself, unbound, whatever its type; the module's class
 * already yields to the dict's entry), so nothing else needs a read.
 * Every other change watch_dep_on_attr() sees sets NULL in phase one,
 * before the change completes, and the next watch_cell_get() reads and
 * watches again: a delete of the entry (the name may then be found
 * elsewhere, or __getattr__ answers), an add (see "Timing"), a write of
 * name to a class earlier in the MRO, __bases__ assignment, a module's
 * __class__ assignment, a module class gaining a descriptor, and any
 * change at all to a class whose bases are all builtin types other than
 * object (its type watcher names no attribute).
 * What watch_dep_on_attr() refuses (a data descriptor of a module's class,
 * an absence under a module __getattr__) reads NULL, and then every
 * watch_cell_get() tries again.  The cell holds a strong reference to obj.
 * Errors: WATCH_EINVAL (neither a module nor a class, name not an exact
 * str), WATCH_ENOMEM, WATCH_EUNSTABLE (a class watch_dep_on_attr() cannot
 * watch), WATCH_EPYTHON, WATCH_ENOINIT. */
WATCH_EXTERN int watch_cell_new_attr(watch_cell_t **out, PyObject *obj,
                                     PyObject *name);

/* The slow path: reads the namespace again if the cell is not sure of it
 * (an add, a clone, a non-exact key, an attribute change), then *value is
 * watch_cell_value(cell), borrowed as above (NULL: take the generic path),
 * or, where the cell cannot forward what it read (a lookup that runs
 * Python code, above), that read, valid until Python code runs.
 * Errors: WATCH_ESTALE (the namespace died or libwatch finalized since the
 * cell was made: *value is NULL for good; checked first),
 * WATCH_EPYTHON (a lookup raised), WATCH_ENOMEM, WATCH_ENOINIT.  It may run
 * Python code (a key's __eq__). */
WATCH_EXTERN int watch_cell_get(watch_cell_t *cell, PyObject **value);

/* dep depends on what the cell reads, as it reads it now: the optimizer
 * that wants the value and an invalidation when it changes gets both from
 * the cell (watch_dep_on_global() or watch_dep_on_attr() with the current
 * value).  Errors: those of watch_cell_get() and of that registration. */
WATCH_EXTERN int watch_cell_dep(watch_cell_t *cell, watch_dep_t *dep);

/* Frees the cell; NULL is ignored.  Allowed at any time, after finalization
 * and from any callback included. */
WATCH_EXTERN void watch_cell_free(watch_cell_t *cell);

/* ---- Specialization ------------------------------------------------------
 * A function runs optimized code while a dependent's assumptions hold, with
 * no check on its calls, and gets its own code back the moment one breaks. */

/* While dep is valid, func runs code in place of its own __code__.  dep
 * carries the assumptions code makes (register them first), and now also
 * depends on func itself.  When dep is invalidated, for any reason, phase one
 * puts the original code back before the mutation completes, so the very
 * next call runs it; frames already running finish in the code they started
 * with.  Exceptions: a __code__ assignment to func drops the specialization
 * and keeps the assigned code, and a dying function is left alone.
 * Releasing dep while valid also restores the original.  A function has at
 * most one specialization: a new one invalidates the previous one's dependent
 * (WATCH_EVENT_MANUAL).  A dependent specializes at most one function.
 * libwatch's own function dependents see every swap as WATCH_EVENT_CODE;
 * other function watchers and audit hooks do not, since phase one runs no
 * Python code.
 * Fails with WATCH_EINCOMPATIBLE where watch_code_mismatch() names a
 * difference, with WATCH_EINVAL if dep already specializes a function or
 * already depends on func (the swap itself would invalidate it), and with
 * WATCH_EINVALIDATED if the swap invalidated dep after all: it deoptimizes
 * func's other specializations, and one that dep depends on gives its
 * function its own code back (f specialized on g, then g on f).  Nothing is
 * installed then.  A specialization that succeeds leaves dep valid. */
WATCH_EXTERN int watch_specialize(watch_dep_t *dep, PyObject *func,
                                  PyObject *code);

/* What keeps code from replacing func's own, as a phrase for a message
 * ("the argument counts differ"...), or NULL if it fits: the same
 * parameters (counts, names, *args and **kwargs), the same free variables,
 * function code on both sides, and neither a generator nor a coroutine
 * (generator objects created before a deoptimization would go on running the
 * specialized code). */
WATCH_EXTERN const char *watch_code_mismatch(PyObject *func, PyObject *code);

/* The code func runs under a specialization (*code borrowed), or NULL.
 * WATCH_EINVAL if func is not a function or code is NULL. */
WATCH_EXTERN int watch_specialized(PyObject *func, PyObject **code);

/* Invalidates the dependent of func's specialization (WATCH_EVENT_MANUAL),
 * like watch_dep_invalidate(); nothing if func is not specialized.
 * WATCH_EINVAL if func is not a function. */
WATCH_EXTERN int watch_deoptimize(PyObject *func);

/* ---- Delivery ------------------------------------------------------------
 * Phase two runs, in order of preference:
 * - on the host's loop, after watch_attach_loop(loop): a uv_async_t wakes it
 *   from whatever thread made the change, and the callbacks run on the
 *   loop's thread, which takes the GIL (PyGILState_Ensure).  Main
 *   interpreter only.  Detaching, and watch_fini() while attached, must
 *   happen on the loop's thread or while the loop is not running, and the
 *   loop must run once more to free libwatch's handles (libuv's rule);
 * - otherwise, at a safe point (a pending call on the interpreter, run at
 *   an eval-breaker check: a loop's back edge, a call's return; at most
 *   one is outstanding): in the main interpreter, its main thread's (a
 *   worker delivering at exit would hang CPython 3.13+'s finalization); in
 *   a subinterpreter, that of whichever of its threads runs Python code
 *   first, so that it delivers its own.  A main thread that only runs C
 *   code (a long C call, join()) delivers nothing until it runs Python
 *   code again;
 * - in any interpreter, also when watch_flush() is called, for a host that
 *   wants to choose the moment.
 * The last watch_fini(), and interpreter finalization, deliver the queued
 * callbacks first, then FINALIZED to the dependents still valid.  Under
 * watch_fini() the interpreter works as usual.  Left to interpreter
 * finalization, libwatch finalizes when CPython clears the interpreter's
 * dict, after sys.modules, module globals and builtins have been cleared:
 * a callback told FINALIZED then may only use what it holds itself (C
 * state; for a Python callback, the objects it references, not module
 * globals or builtins).  A host that wants more calls watch_fini() before
 * Py_FinalizeEx(), as pywatch does from an atexit handler. */

/* Delivers the batch queued now, in the caller; returns how many callbacks
 * were called.  What they invalidate waits for the next batch.  From a
 * callback it delivers nothing (a batch is being delivered) and returns 0.
 * WATCH_ENOINIT. */
WATCH_EXTERN int watch_flush(void);

/* Deliveries run on loop (a uv_loop_t: a program that attaches one
 * includes <uv.h>) from now on; NULL goes back to libwatch's own safe
 * points.  WATCH_EINVAL in a subinterpreter, WATCH_ENOMEM. */
WATCH_EXTERN int watch_attach_loop(struct uv_loop_s *loop);

/* Phase two waits until no invalidation has happened for ms milliseconds, to
 * coalesce bursts such as a module reload; 0 (the default) delivers at the
 * first chance.  Without a host loop, the timer runs on a private loop in a
 * thread of libwatch's own, one per interpreter that sets it; that thread
 * does not survive fork(): set 0 before forking.  watch_flush() ignores
 * it.  WATCH_ENOMEM if that thread could not start. */
WATCH_EXTERN int watch_set_debounce(uint64_t ms);

/* ---- Taps ----------------------------------------------------------------
 * A dependent hears once that something it assumed broke.  A tap hears every
 * event on one dict (or one class: type taps, below), uncoalesced, as it
 * happens: its callback runs in phase
 * one, inside libwatch's dict watcher, before CPython makes the change, with
 * the GIL held.  Taps share libwatch's one dict watcher id, so an audit or a
 * write log costs no id of its own.
 *
 * A tap callback does bounded C work.  It must not run Python code, and so
 * must not drop a reference that could be the last, mutate any dict, or
 * call anything that may call back into Python.  Nor may it look anything
 * up in a dict, the tapped one or another, even by an exact str or int key,
 * unless it knows every key that dict holds is an exact str or int: a
 * lookup compares the key with each key of the same hash in the dict, and
 * one with its own __eq__ (Python code can put one in any dict it reaches)
 * has that __eq__ called.  It may read the event, take references,
 * allocate, keep records of its own (keyed by pointer, say), walk a dict
 * with PyDict_Next() comparing keys by identity, and read the running frame
 * (a collection that an allocation asks for waits for the next safe point,
 * on 3.12 and later).  Whatever needs more waits for phase two: returning 1
 * asks for it, and the tap's after callback then runs at the next safe
 * point (see "Delivery"), once however many events asked, and may do
 * anything.
 *
 * A tap is told WATCH_EVENT_DEALLOCATED when its dict (or class) dies and
 * WATCH_EVENT_FINALIZED when libwatch shuts down in the interpreter; either
 * detaches it for good.  It stays allocated until watch_tap_free(), which is
 * always allowed, from any callback too (a tap's own, phase one or two, on
 * any event): a tap freed hears nothing more, and its after callback is not
 * called.  Taps are counted apart in watch_counters_t (the tap fields). */
typedef struct watch_tap_s watch_tap_t;

typedef struct {
  watch_event_kind_t kind; /* ADDED, MODIFIED, DELETED, CLEARED, CLONED,
                              DEALLOCATED or FINALIZED; a type tap's TYPE,
                              DEALLOCATED or FINALIZED */
  PyObject *dict;          /* borrowed: the dict, or a type tap's class;
                              NULL for FINALIZED */
  PyObject *key;           /* borrowed; ADDED, MODIFIED and DELETED only */
  PyObject *value;         /* borrowed: the new value (ADDED, MODIFIED), the
                              source dict (CLONED), else NULL */
} watch_tap_event_t;

typedef int (*watch_tap_cb)(watch_tap_t *tap, const watch_tap_event_t *event);
typedef void (*watch_tap_after_cb)(watch_tap_t *tap);

/* Taps dict (any dict, subclasses included) from now on.  after may be NULL
 * if cb never returns 1.  The dict is held weakly: its death detaches the
 * tap.  Errors: WATCH_EINVAL (out, dict or cb NULL, dict not a dict),
 * WATCH_EUNWATCHABLE (3.13.0's split dicts, see watch_dep_on_key()),
 * WATCH_ENOMEM. */
WATCH_EXTERN int watch_tap_new(watch_tap_t **out, PyObject *dict,
                               watch_tap_cb cb, watch_tap_after_cb after,
                               void *data);

/* Type taps: a class's PyType_Modified(), which CPython calls for
 * attribute writes through the class (type.__setattr__ and __delattr__,
 * __bases__ assignment; 3.13 and later: not for __name__ and
 * __qualname__), a store of the object already bound included, which
 * fires no dict event; and for every change to a base of it (subclasses
 * are told first).  Raw writes to the class's dict skip it: only a tap on
 * that dict hears them.  The event, WATCH_EVENT_TYPE, names no attribute
 * (key NULL), and comes in the same instruction as the write's dict event,
 * if any: after it on 3.12, before it on 3.13 and later (3.14's annotation
 * cache writes the dict first).  On 3.12 it comes after the change, and
 * the method cache may still hold the value just replaced, freed: the
 * callback must not look up an attribute of the class.  A type tap shares
 * libwatch's one type watcher id, and is told DEALLOCATED when its class
 * dies, before anything the collector does to the class (clearing it calls
 * PyType_Modified, and 3.15 tells type watchers of its deallocation):
 * neither is heard as TYPE.
 *
 * CPython tells a class's watchers once per version tag: after an event,
 * the tap is disarmed until the class has a tag again, which most
 * attribute lookups through the class assign, and watch_tap_arm() does.
 * Arm it in the operation that disarmed it (from the write's dict event's
 * tap on 3.13 and later, say) if no write of it may go unheard.
 * watch_tap_arm() is allowed anywhere, tap callbacks included, except in a
 * type tap's callback for TYPE, which runs inside PyType_Modified
 * (WATCH_EINVAL there): a class given a tag there while its base loses its
 * own would keep a stale method cache.  It returns 1 when armed, 0 when
 * the class cannot get a tag any more (3.13 and later give a class at most
 * 1000): the tap then hears no TYPE again, only DEALLOCATED or FINALIZED.
 * WATCH_EINVAL for a tap that is not a type tap or no longer attached,
 * WATCH_ENOINIT once libwatch finalized.
 *
 * A static type (int, an extension's static class) is one object for every
 * interpreter of the process, and immutable: its tap hears no TYPE, and
 * libwatch writes nothing to it (no watcher bit, no weak reference).
 *
 * watch_tap_new_type() arms the tap, and fails with WATCH_EUNSTABLE for a
 * class that cannot get a version tag, WATCH_EBUSY when libwatch needs a
 * type watcher id and none is free, WATCH_EPYTHON when the class refuses
 * the weak reference that tells its death (out of memory).  Dependents on
 * the class (watch_dep_on_attr()) are told what they were told without
 * it. */
WATCH_EXTERN int watch_tap_new_type(watch_tap_t **out, PyTypeObject *type,
                                    watch_tap_cb cb, watch_tap_after_cb after,
                                    void *data);
WATCH_EXTERN int watch_tap_arm(watch_tap_t *tap);

WATCH_EXTERN void *watch_tap_data(const watch_tap_t *tap);
/* Whether the tap still hears its dict or class. */
WATCH_EXTERN int watch_tap_attached(const watch_tap_t *tap);
WATCH_EXTERN void watch_tap_free(watch_tap_t *tap);

/* The dict's version, which changes on every modification (PEP 509): an O(1)
 * pull check for callers who prefer it.  Versions are unique within the
 * interpreter and never reused.  Asking for a version tracks the dict until
 * it is deallocated.  WATCH_EINVAL (not a dict, version NULL),
 * WATCH_EUNWATCHABLE (3.13.0's split dicts), WATCH_ENOMEM. */
WATCH_EXTERN int watch_dict_version(PyObject *dict, uint64_t *version);

/* A key added, modified or deleted more than limit times becomes unstable:
 * its dependents are invalidated with WATCH_EVENT_UNSTABLE and registrations
 * on it fail with WATCH_EUNSTABLE.  Counting starts when the key is first
 * depended on and goes on after its dependents are gone, in a record that
 * holds no reference to the key and is matched by hash alone (a key that
 * shares the hash shares the count); a dict keeps at most 32 such records
 * for keys that are not unstable, plus one per unstable key, and stays
 * watched until it is deallocated.  Writes that only may be this key
 * (conservative matches) invalidate but do not count, and neither do
 * whole-dict events.  The default is 8; 0 means never.  The last watch_fini()
 * resets the limit and the counters. */
#define WATCH_DEFAULT_UNSTABLE_LIMIT 8
WATCH_EXTERN int watch_set_unstable_limit(unsigned limit);

/* What libwatch holds and has seen in the interpreter.  Taps made with
 * watch_tap_new() and watch_tap_new_type() are counted apart, in the tap
 * fields: a tool that taps a program's namespaces (an audit, a write log)
 * leaves the other fields as the program's dependents, cells and versions
 * make them.  A namespace that one of these needs is counted in
 * namespaces, and its events in events, whether taps hear it too or not;
 * one watched for taps alone is counted in tap_namespaces, with its
 * events, its record's bytes and its share of libwatch's table of
 * namespaces.  A cell's own taps count with the cell, not as taps. */
typedef struct {
  uint64_t events;          /* watcher events seen, but tap_events */
  uint64_t misses;          /* of those, the ones that invalidated nothing */
  uint64_t invalidations;   /* dependents invalidated */
  uint64_t dependents;      /* live dependents */
  uint64_t edges;           /* live dependency edges */
  uint64_t namespaces;      /* namespaces watched, but tap_namespaces */
  uint64_t keys;            /* keys tracked */
  uint64_t bytes;           /* bytes allocated by libwatch, but tap_bytes */
  uint64_t callback_errors; /* dependents' callbacks that failed (above) */
  uint64_t taps;            /* live taps: made, not freed yet */
  uint64_t tap_namespaces;  /* namespaces watched for taps alone */
  uint64_t tap_events;      /* events on those namespaces */
  uint64_t tap_bytes;       /* the taps' and those namespaces' bytes */
  uint64_t tap_callback_errors; /* after callbacks that left an exception */
} watch_counters_t;

/* WATCH_EINVAL if counters is NULL. */
WATCH_EXTERN int watch_counters(watch_counters_t *counters);

#ifdef __cplusplus
}
#endif
#endif /* WATCH_H */
