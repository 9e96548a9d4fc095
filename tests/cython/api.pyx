# cython: language_level=3, infer_types=True
"""Every declaration of watch.pxd used once, so that the C compiler checks
it against watch.h: each local below takes the type watch.pxd declares
(a function pointer, a field's type), and its assignment from watch.h's
own function or field is an error where the two differ (run.sh compiles
with -Werror=incompatible-pointer-types and -Werror=int-conversion).
check_api.py runs what this module defines."""

from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from watch cimport *


cdef void types() noexcept:
    # Never called: what it checks, the compiler checks.
    strerror_ = watch_strerror
    library_version_ = watch_library_version
    err_name_ = watch_err_name
    event_name_ = watch_event_name
    init_ = watch_init
    fini_ = watch_fini
    dep_new_ = watch_dep_new
    dep_data_ = watch_dep_data
    dep_release_ = watch_dep_release
    dep_locate_ = watch_dep_locate
    dep_invalidate_ = watch_dep_invalidate
    dep_valid_ = watch_dep_valid
    dep_on_key_ = watch_dep_on_key
    dep_on_key_as_is_ = watch_dep_on_key_as_is
    dep_rearm_ = watch_dep_rearm
    dep_on_global_ = watch_dep_on_global
    dep_on_namespace_ = watch_dep_on_namespace
    dep_on_attr_ = watch_dep_on_attr
    attr_lookup_ = watch_attr_lookup
    dep_on_function_ = watch_dep_on_function
    cell_value_ = watch_cell_value
    cell_new_global_ = watch_cell_new_global
    cell_new_attr_ = watch_cell_new_attr
    cell_get_ = watch_cell_get
    cell_dep_ = watch_cell_dep
    cell_free_ = watch_cell_free
    specialize_ = watch_specialize
    code_mismatch_ = watch_code_mismatch
    specialized_ = watch_specialized
    deoptimize_ = watch_deoptimize
    flush_ = watch_flush
    attach_loop_ = watch_attach_loop
    set_debounce_ = watch_set_debounce
    tap_new_ = watch_tap_new
    tap_new_type_ = watch_tap_new_type
    tap_arm_ = watch_tap_arm
    tap_data_ = watch_tap_data
    tap_attached_ = watch_tap_attached
    tap_free_ = watch_tap_free
    dict_version_ = watch_dict_version
    set_unstable_limit_ = watch_set_unstable_limit
    counters_ = watch_counters
    cdef watch_event_t ev
    ev_kind_ = ev.kind
    ev_ns_ = ev.ns
    ev_key_ = ev.key
    ev_filename_ = ev.filename
    ev_lineno_ = ev.lineno
    cdef watch_tap_event_t tev
    tev_kind_ = tev.kind
    tev_dict_ = tev.dict
    tev_key_ = tev.key
    tev_value_ = tev.value
    cdef watch_dep_head_t dh
    dh_valid_ = dh.valid
    cdef watch_cell_head_t ch
    ch_value_ = ch.value
    cdef watch_counters_t c
    c_events_ = c.events
    c_misses_ = c.misses
    c_invalidations_ = c.invalidations
    c_dependents_ = c.dependents
    c_edges_ = c.edges
    c_namespaces_ = c.namespaces
    c_keys_ = c.keys
    c_bytes_ = c.bytes
    c_callback_errors_ = c.callback_errors
    c_taps_ = c.taps
    c_tap_namespaces_ = c.tap_namespaces
    c_tap_events_ = c.tap_events
    c_tap_bytes_ = c.tap_bytes
    c_tap_callback_errors_ = c.tap_callback_errors
    cdef watch_errno_t e
    cdef watch_event_kind_t k
    cdef uv_loop_s *loop = NULL


def versions():
    """The header's version and the library's."""
    return ((WATCH_VERSION_MAJOR, WATCH_VERSION_MINOR, WATCH_VERSION_PATCH),
            WATCH_VERSION_HEX, watch_library_version())


def errors():
    """{code: watch_err_name(code)} for every code watch.pxd declares."""
    return {code: watch_err_name(code).decode() for code in (
        WATCH_EINVAL, WATCH_ENOMEM, WATCH_ENOINIT, WATCH_EBUSY, WATCH_ESTALE,
        WATCH_EUNSTABLE, WATCH_EINVALIDATED, WATCH_EPYTHON,
        WATCH_EINCOMPATIBLE, WATCH_EABI, WATCH_EUNWATCHABLE)}


def events():
    """{kind: watch_event_name(kind)} for every kind watch.pxd declares."""
    return {kind: watch_event_name(kind).decode() for kind in (
        WATCH_EVENT_ADDED, WATCH_EVENT_MODIFIED, WATCH_EVENT_DELETED,
        WATCH_EVENT_CLEARED, WATCH_EVENT_CLONED, WATCH_EVENT_DEALLOCATED,
        WATCH_EVENT_UNSTABLE, WATCH_EVENT_MANUAL, WATCH_EVENT_FINALIZED,
        WATCH_EVENT_CODE, WATCH_EVENT_DEFAULTS, WATCH_EVENT_KWDEFAULTS,
        WATCH_EVENT_TYPE)}


def limit():
    return WATCH_DEFAULT_UNSTABLE_LIMIT


cdef int on_invalidated(watch_dep_t *dep,
                        const watch_event_t *event) noexcept:
    (<list>watch_dep_data(dep)).append(event.kind)
    return 0


cdef int on_write(watch_tap_t *tap, const watch_tap_event_t *event) noexcept:
    (<list>watch_tap_data(tap)).append(event.kind)
    return 0


def callbacks(dict d, str key, value):
    """Writes d[key] = value under a dependent and a tap whose callbacks are
    Cython functions; returns the kinds each was told."""
    deps, taps = [], []
    cdef watch_dep_t *dep = NULL
    cdef watch_tap_t *tap = NULL
    assert watch_init() == 0
    try:
        assert watch_dep_new(&dep, on_invalidated, <void *>deps) == 0
        assert watch_dep_on_key(dep, <PyObject *>d, <PyObject *>key,
                                <PyObject *>d[key]) == 0
        assert watch_tap_new(&tap, <PyObject *>d, on_write, NULL,
                             <void *>taps) == 0
        d[key] = value
        assert not watch_dep_valid(dep)
        watch_flush()
    finally:
        watch_tap_free(tap)
        watch_dep_release(dep)
        watch_fini()
    return deps, taps

