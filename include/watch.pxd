# Cython declarations of watch.h, libwatch's whole public API.
#
# `make install` puts this file beside watch.h (PREFIX/include), the
# directory `pkg-config --variable=includedir libwatch-X.Y` names: give it
# to cython with -I, and `from watch cimport ...` works.  The C compiler
# needs `pkg-config --cflags --libs libwatch-X.Y` as for any user of
# watch.h.  doc/cython.md shows a whole build.
#
# Every function returns what watch.h says, unchanged: error codes are
# negative ints (watch_strerror() names them) and no declaration raises by
# itself, as in C.  WATCH_EPYTHON is the one code that leaves a Python
# exception set.  PyObject pointers are borrowed or not as watch.h says:
# `<object>ptr` takes a new reference.  Callbacks run without Python
# exception handling, so Cython functions given as callbacks are noexcept.
# tests/python/test_pxd.py checks that every name of watch.h is declared
# here, and tests/cython/api.pyx that each declaration has watch.h's types.

from cpython.object cimport PyObject, PyTypeObject
from libc.stdint cimport uint64_t

cdef extern from "watch.h":
    enum:
        WATCH_VERSION_MAJOR
        WATCH_VERSION_MINOR
        WATCH_VERSION_PATCH
        WATCH_VERSION_HEX
        WATCH_DEFAULT_UNSTABLE_LIMIT

    ctypedef enum watch_errno_t:
        WATCH_EINVAL
        WATCH_ENOMEM
        WATCH_ENOINIT
        WATCH_EBUSY
        WATCH_ESTALE
        WATCH_EUNSTABLE
        WATCH_EINVALIDATED
        WATCH_EPYTHON
        WATCH_EINCOMPATIBLE
        WATCH_EABI
        WATCH_EUNWATCHABLE

    const char *watch_strerror(int err)
    unsigned int watch_library_version()
    const char *watch_err_name(int err)

    ctypedef enum watch_event_kind_t:
        WATCH_EVENT_ADDED
        WATCH_EVENT_MODIFIED
        WATCH_EVENT_DELETED
        WATCH_EVENT_CLEARED
        WATCH_EVENT_CLONED
        WATCH_EVENT_DEALLOCATED
        WATCH_EVENT_UNSTABLE
        WATCH_EVENT_MANUAL
        WATCH_EVENT_FINALIZED
        WATCH_EVENT_CODE
        WATCH_EVENT_DEFAULTS
        WATCH_EVENT_KWDEFAULTS
        WATCH_EVENT_TYPE

    ctypedef struct watch_event_t:
        watch_event_kind_t kind
        PyObject *ns
        PyObject *key
        PyObject *filename
        int lineno

    const char *watch_event_name(watch_event_kind_t kind)

    # Dependents
    ctypedef struct watch_dep_t:
        pass
    ctypedef int (*watch_cb)(watch_dep_t *dep,
                             const watch_event_t *event) noexcept

    int watch_init()
    void watch_fini()
    int watch_dep_new(watch_dep_t **dep, watch_cb cb, void *data)
    void *watch_dep_data(const watch_dep_t *dep)
    void watch_dep_release(watch_dep_t *dep)
    int watch_dep_locate(watch_dep_t *dep)
    int watch_dep_invalidate(watch_dep_t *dep)
    int watch_dep_rearm(watch_dep_t *dep)
    ctypedef struct watch_dep_head_t:
        int valid
    int watch_dep_valid(const watch_dep_t *dep)
    int watch_dep_on_key(watch_dep_t *dep, PyObject *dict, PyObject *key,
                         PyObject *assumed)
    int watch_dep_on_key_as_is(watch_dep_t *dep, PyObject *dict, PyObject *key)
    int watch_dep_on_global(watch_dep_t *dep, PyObject *globals,
                            PyObject *builtins, PyObject *name,
                            PyObject *assumed)
    int watch_dep_on_namespace(watch_dep_t *dep, PyObject *dict)
    int watch_dep_on_attr(watch_dep_t *dep, PyObject *obj, PyObject *name,
                          PyObject *assumed)
    int watch_attr_lookup(PyObject *obj, PyObject *name, PyObject **value)
    int watch_dep_on_function(watch_dep_t *dep, PyObject *func)

    # Cells
    ctypedef struct watch_cell_t:
        pass
    ctypedef struct watch_cell_head_t:
        PyObject *value
    PyObject *watch_cell_value(const watch_cell_t *cell)
    int watch_cell_new_global(watch_cell_t **out, PyObject *globals,
                              PyObject *builtins, PyObject *name)
    int watch_cell_new_attr(watch_cell_t **out, PyObject *obj, PyObject *name)
    int watch_cell_get(watch_cell_t *cell, PyObject **value)
    int watch_cell_dep(watch_cell_t *cell, watch_dep_t *dep)
    void watch_cell_free(watch_cell_t *cell)

    # Specialization
    int watch_specialize(watch_dep_t *dep, PyObject *func, PyObject *code)
    const char *watch_code_mismatch(PyObject *func, PyObject *code)
    int watch_specialized(PyObject *func, PyObject **code)
    int watch_deoptimize(PyObject *func)

    # Delivery (libuv's loop, opaque in watch.h)
    struct uv_loop_s:
        pass
    int watch_flush()
    int watch_attach_loop(uv_loop_s *loop)
    int watch_set_debounce(uint64_t ms)

    # Taps
    ctypedef struct watch_tap_t:
        pass
    ctypedef struct watch_tap_event_t:
        watch_event_kind_t kind
        PyObject *dict
        PyObject *key
        PyObject *value
    ctypedef int (*watch_tap_cb)(watch_tap_t *tap,
                                 const watch_tap_event_t *event) noexcept
    ctypedef void (*watch_tap_after_cb)(watch_tap_t *tap) noexcept
    int watch_tap_new(watch_tap_t **out, PyObject *dict, watch_tap_cb cb,
                      watch_tap_after_cb after, void *data)
    int watch_tap_new_type(watch_tap_t **out, PyTypeObject *type,
                           watch_tap_cb cb, watch_tap_after_cb after,
                           void *data)
    int watch_tap_arm(watch_tap_t *tap)
    void *watch_tap_data(const watch_tap_t *tap)
    int watch_tap_attached(const watch_tap_t *tap)
    void watch_tap_free(watch_tap_t *tap)

    # Versions, limits, counters
    int watch_dict_version(PyObject *dict, uint64_t *version)
    int watch_set_unstable_limit(unsigned limit)
    ctypedef struct watch_counters_t:
        uint64_t events
        uint64_t misses
        uint64_t invalidations
        uint64_t dependents
        uint64_t edges
        uint64_t namespaces
        uint64_t keys
        uint64_t bytes
        uint64_t callback_errors
        uint64_t taps
        uint64_t tap_namespaces
        uint64_t tap_events
        uint64_t tap_bytes
        uint64_t tap_callback_errors
    int watch_counters(watch_counters_t *counters)
