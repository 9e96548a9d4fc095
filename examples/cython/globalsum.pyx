# cython: language_level=3
"""Module globals read from Cython through libwatch's cells.

Global(module, name) reads `name` as a function of `module` does
(LOAD_GLOBAL: the module's globals, then its builtins).  The read is one
load, watch_cell_value(): the writes themselves keep the cell up to date.
When the cell cannot tell (NULL: the name was just added, or is absent),
watch_cell_get() reads the dicts again; NULL from it too means the name
is unbound, a NameError as in Python."""

import builtins
from types import ModuleType

from cpython.object cimport PyObject
from watch cimport (WATCH_EPYTHON, watch_cell_free, watch_cell_get,
                    watch_cell_new_global, watch_cell_t, watch_cell_value,
                    watch_init, watch_strerror)


cdef int check(int rc) except -1:
    """libwatch's error codes as exceptions: WATCH_EPYTHON already has its
    own set, which returning -1 raises."""
    if rc == WATCH_EPYTHON:
        return -1
    if rc < 0:
        raise RuntimeError("libwatch: " + watch_strerror(rc).decode())
    return 0


check(watch_init())


cdef class Global:
    """A module global, read with LOAD_GLOBAL's rules through a cell."""
    cdef watch_cell_t *cell
    # The cell borrows both dicts: holding them keeps it alive.
    cdef dict globals, builtins
    cdef readonly str name
    # How many reads the cell could not answer alone.
    cdef readonly Py_ssize_t slow_reads

    def __cinit__(self, module, str name):
        self.globals = vars(module)
        # LOAD_GLOBAL's builtins are the module's __builtins__: the
        # builtins module's dict, or the module itself in __main__.
        b = self.globals.get("__builtins__", builtins)
        self.builtins = vars(b) if isinstance(b, ModuleType) else b
        self.name = name
        check(watch_cell_new_global(&self.cell, <PyObject *>self.globals,
                                    <PyObject *>self.builtins,
                                    <PyObject *>name))

    def __dealloc__(self):
        watch_cell_free(self.cell)

    cdef inline object get(self):
        cdef PyObject *v = watch_cell_value(self.cell)
        if v == NULL:
            self.slow_reads += 1
            check(watch_cell_get(self.cell, &v))
            if v == NULL:
                raise NameError("name %r is not defined" % self.name)
        # A new reference, taken before anything can run Python code.
        return <object>v

    def __call__(self):
        return self.get()


def total(Global factor, values):
    """sum(v * factor for v in values), reading the global factor afresh
    for every value, as compiled code would."""
    s = 0
    for v in values:
        s += v * factor.get()
    return s


def reads(Global g, Py_ssize_t n):
    """Reads g n times in a C loop; returns the last value."""
    last = None
    for _ in range(n):
        last = g.get()
    return last
