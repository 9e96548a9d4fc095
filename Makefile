# libwatch: build, test and install.
#
#   make                 libwatch.a, libwatch.so and libwatch.pc in build/X.Y/
#   make programs        also the test, example and bench programs
#   make test            every suite on every Python >= 3.12 found
#   make demo            build and run examples/demo and the Python examples
#   make bench           build and run every bench program, on every
#                        interpreter (bench-one: PYTHON's only)
#   make install         PREFIX=/usr/local, DESTDIR=, PYWATCH_DIR=
#   make installcheck    install for PYTHONS (default: PYTHON's alone) into
#                        one prefix, and build and run against each there
#   make clean
#
# X.Y is the version of the interpreter built for: the first that
# mk/pythons.sh prints, or PYTHON=/path/to/python3.x.  libwatch is compiled
# against one CPython's headers and is only good for that X.Y, hence one
# build directory per version.  X.Y carries the interpreter's ABI flags
# (mk/pyinfo.py): a debug build's is 3.14d, so PYTHON=/usr/bin/python3.14d
# builds into build/3.14d, apart from the release build's build/3.14.

PREFIX ?= /usr/local
DESTDIR ?=
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy

# The release, from the one place it is written.
VERSION := $(shell sed -n 's/^\#define WATCH_VERSION_[A-Z]* \([0-9][0-9]*\)$$/\1/p' \
             include/watch.h | paste -sd.)
SOVERSION := 0

.DEFAULT_GOAL := all
.PHONY: all programs test demo bench bench-one install installcheck clean
.DELETE_ON_ERROR:

# Nothing below is needed to clean, and on a fresh machine there may be no
# interpreter yet.  The goals that go over every interpreter themselves
# (mk/interpreters.sh) do not need one either.
EVERY_INTERPRETER_GOALS := clean test fuzz bench
ifneq ($(filter-out $(EVERY_INTERPRETER_GOALS),$(or $(MAKECMDGOALS),all)),)

PY := $(firstword $(shell PYTHON='$(PYTHON)' bash mk/pythons.sh))
ifeq ($(PY),)
$(error no Python to build for (see above))
endif
# Asked of the interpreter itself: a python3-config on PATH may belong to
# another version.
PY_INFO := $(shell $(PY) mk/pyinfo.py)
ifeq ($(words $(PY_INFO)),6)
PY_VERSION := $(word 1,$(PY_INFO))
PY_LDVERSION := $(word 2,$(PY_INFO))
PY_LIBDIR := $(word 3,$(PY_INFO))
PY_INCLUDE := $(word 4,$(PY_INFO))
PY_EXT_SUFFIX := $(word 6,$(PY_INFO))
else
$(error $(PY): cannot read its build configuration)
endif

endif

# What a program needs to embed the interpreter.  libwatch.so itself does
# not link libpython: it is loaded into a process that already has it.
PY_EMBED_LIBS = -L$(PY_LIBDIR) -lpython$(PY_LDVERSION) \
                -Wl,-rpath,$(PY_LIBDIR) -lm -ldl -lpthread

# pkg-config is asked on first use, not while this file is read, because
# `make test` and `make demo` install it (mk/deps.sh) before building.
# $(call pkg,VAR,ARGS) replaces VAR by the output, so it runs once.
pkg = $(eval $1 := $(shell $(PKG_CONFIG) $2))$(if $(filter 0,$(.SHELLSTATUS)),$($1),$(error $(PKG_CONFIG) $2 failed: run mk/deps.sh))
UV_CFLAGS = $(call pkg,UV_CFLAGS,--cflags libuv)
UV_LIBS = $(call pkg,UV_LIBS,--libs libuv)
CHECK_CFLAGS = $(call pkg,CHECK_CFLAGS,--cflags check)
CHECK_LIBS = $(call pkg,CHECK_LIBS,--libs check)

# VARIANT: a prefix for a build with other flags (the sanitizer and coverage
# builds of mk/*.mk), kept apart from the plain one: build/$(VARIANT)X.Y.
VARIANT ?=
BUILD := build/$(VARIANT)$(PY_VERSION)

# Installed names carry the interpreter's X.Y, as CPython's python-X.Y.pc
# does: builds for two interpreters coexist in one prefix, each library with
# its own soname, beside the one watch.h (which serves every version).  A
# debug build's are libwatch-3.14d..., as CPython's python-3.14d.pc.
LIBNAME := watch-$(PY_VERSION)
SONAME := lib$(LIBNAME).so.$(SOVERSION)
PC := $(BUILD)/lib$(LIBNAME).pc

LIB_SRCS := $(wildcard libwatch/*.c)
LIB_OBJS := $(LIB_SRCS:libwatch/%.c=$(BUILD)/obj/%.o)
TESTS := $(patsubst %.c,$(BUILD)/%,$(wildcard tests/test_*.c))
EXAMPLES := $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c))
BENCHES := $(patsubst %.c,$(BUILD)/%,$(wildcard bench/*.c))

# -MMD -MP: each object and program also writes which headers it read, so
# that editing one rebuilds exactly what included it.
WATCH_CFLAGS = -std=c11 -Wall -Wextra $(CFLAGS) -Iinclude -I$(PY_INCLUDE) \
               $(UV_CFLAGS) $(CPPFLAGS) -MMD -MP
# The library is hidden except what watch.h marks WATCH_EXTERN.
LIB_CFLAGS = $(WATCH_CFLAGS) -fPIC -fvisibility=hidden
# Programs see the public header only: tests check behaviour through it.
PROG_CFLAGS = $(WATCH_CFLAGS)
PROG_LIBS = $(BUILD)/libwatch.a $(UV_LIBS) $(PY_EMBED_LIBS)

# pywatch: the extension (libwatch.a linked in) beside a copy of the
# package's Python files, so that PYTHONPATH=$(BUILD) imports it.  Those are
# kept in pywatch/python/: the source directory pywatch/, without an
# __init__.py, cannot shadow the build from the repo root.
PYWATCH_SRCS := $(wildcard pywatch/*.c)
PYWATCH_OBJS := $(PYWATCH_SRCS:pywatch/%.c=$(BUILD)/pywatch-obj/%.o)
PYWATCH_PY := $(patsubst pywatch/python/%,$(BUILD)/pywatch/%,$(wildcard pywatch/python/*.py))
PYWATCH_EXT := $(BUILD)/pywatch/_pywatch$(PY_EXT_SUFFIX)

all: $(BUILD)/libwatch.a $(BUILD)/libwatch.so $(PC) \
     $(PYWATCH_EXT) $(PYWATCH_PY)

# --exclude-libs: the copy of libwatch inside is pywatch's own, so the
# module exports its PyInit_ alone; exported, its watch_* would bind an
# embedder's libwatch.so to pywatch's copy, or pywatch's calls to the
# embedder's.
# One object per file, as libwatch's: mk/suites/layers.sh reads which file
# calls which from their symbols.
$(PYWATCH_EXT): $(PYWATCH_OBJS) $(BUILD)/libwatch.a Makefile
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -shared $(LDFLAGS) -o $@ $(PYWATCH_OBJS) \
	  $(BUILD)/libwatch.a -Wl,--exclude-libs,libwatch.a $(UV_LIBS)

$(BUILD)/pywatch-obj/%.o: pywatch/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/pywatch/%.py: pywatch/python/%.py
	@mkdir -p $(@D)
	cp $< $@

programs: all $(TESTS) $(EXAMPLES) $(BENCHES)

# Flags live here: a changed Makefile must rebuild with them.
$(BUILD)/obj/%.o: libwatch/%.c Makefile
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

# A program linking the archive gets only the watch_* API.  Hidden
# visibility is not enough there: the static linker still resolves a
# program's own table_insert against a hidden global and fails on the
# duplicate.  So the objects are prelinked into one (ld -r), which resolves
# their references to each other, and everything hidden is then made local.
# Removed first, so that a deleted source does not stay in the archive.
$(BUILD)/libwatch.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(LD) -r -o $(BUILD)/libwatch.o $^
	$(OBJCOPY) --localize-hidden $(BUILD)/libwatch.o
	$(AR) rcs $@ $(BUILD)/libwatch.o

$(BUILD)/libwatch.so: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) \
	  -o $@ $^ $(UV_LIBS)

# Written with prefix=$(PREFIX) as built; `make install` rewrites it to the
# PREFIX it installs to.  The Python include dir is part of Cflags because
# watch.h includes Python.h.
$(PC): Makefile include/watch.h
	@mkdir -p $(@D)
	@printf '%s\n' \
	  'prefix=$(PREFIX)' \
	  'exec_prefix=$${prefix}' \
	  'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' \
	  '' \
	  'Name: libwatch-$(PY_VERSION)' \
	  'Description: Exact dependents on Python namespaces (CPython $(PY_VERSION))' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir} -I$(PY_INCLUDE)' \
	  'Requires: libuv' \
	  'Libs: -L$${libdir} -l$(LIBNAME)' > $@

# Each tests/test_*.c, examples/*.c and bench/*.c is a whole program.
$(TESTS): $(BUILD)/tests/%: tests/%.c $(BUILD)/libwatch.a Makefile
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -o $@ $< \
	  $(CHECK_LIBS) $(PROG_LIBS)

$(EXAMPLES): $(BUILD)/examples/%: examples/%.c $(BUILD)/libwatch.a Makefile
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(LDFLAGS) -o $@ $< $(PROG_LIBS)

$(BENCHES): $(BUILD)/bench/%: bench/%.c $(BUILD)/libwatch.a Makefile
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(LDFLAGS) -o $@ $< $(PROG_LIBS)

# Counting and the final "N passed, N failed" line: mk/run-tests.sh.  It
# runs make for each interpreter; naming $(MAKE) here hands it -j's slots.
test:
	@bash mk/deps.sh
	@MAKE='$(MAKE)' bash mk/run-tests.sh

# Recursive, so that the build starts after mk/deps.sh has installed what
# it needs.
demo:
	@bash mk/deps.sh
	@$(MAKE) --no-print-directory PYTHON=$(PY) all $(BUILD)/examples/demo
	$(BUILD)/examples/demo
	PYTHONPATH=$(abspath $(BUILD)) bash examples/service/run.sh $(PY)
	PYTHONPATH=$(BUILD) $(PY) examples/specialize_len.py
	bash examples/embed/run.sh $(PY)

# make bench: bench-one on every interpreter of mk/interpreters.sh, each
# figure beside its baseline from the same run (mk/bench.sh).
bench:
	@bash mk/deps.sh
	@bash mk/bench.sh

# The benches also write their series into $(BUILD)/bench (BENCH_DATA),
# which make bench draws (bench/plot.gp).
bench-one: all $(BENCHES)
	@mkdir -p $(BUILD)/bench
	@for b in $(BENCHES); do echo "== $$b"; \
	  BENCH_DATA=$(BUILD)/bench ./$$b || exit 1; done
	@for b in $(wildcard bench/*.py); do echo "== $$b"; \
	  PYTHONPATH=$(BUILD) $(PY) $$b || exit 1; done

LIBDIR_INST = $(DESTDIR)$(PREFIX)/lib
# pywatch goes where this interpreter looks for packages under PREFIX: its
# own site-packages when PREFIX is its sys.prefix.
PYWATCH_DIR ?= $(shell $(PY) -c 'import sys, sysconfig; \
  print(sysconfig.get_path("platlib", "posix_prefix", \
                           {"base": sys.argv[1], "platbase": sys.argv[1]}))' \
  '$(PREFIX)')
# The paths below are single-quoted for the shell, so that a PREFIX with a
# space ("/tmp/x y") is one word; one with a quote cannot be quoted so.  In
# the .pc, a space of the prefix is "\ ", pkg-config's escape, or the
# Cflags and Libs it prints would split there.
INSTALL_PATHS = $(DESTDIR)$(PREFIX)$(PYWATCH_DIR)
install: all
	$(if $(findstring ',$(INSTALL_PATHS)),$(error make install: DESTDIR, PREFIX and PYWATCH_DIR may not hold a quote))
	install -d '$(DESTDIR)$(PREFIX)/include' '$(LIBDIR_INST)/pkgconfig' \
	  '$(DESTDIR)$(PYWATCH_DIR)/pywatch'
	install -m 644 include/watch.h include/watch.pxd '$(DESTDIR)$(PREFIX)/include/'
	install -m 644 $(BUILD)/libwatch.a '$(LIBDIR_INST)/lib$(LIBNAME).a'
	install -m 755 $(BUILD)/libwatch.so '$(LIBDIR_INST)/$(SONAME)'
	ln -sf $(SONAME) '$(LIBDIR_INST)/lib$(LIBNAME).so'
	{ printf 'prefix=%s\n' '$(PREFIX)' | sed 's/ /\\ /g' && \
	  grep -v '^prefix=' $(PC); } > '$(LIBDIR_INST)/pkgconfig/lib$(LIBNAME).pc'
	install -m 644 $(PYWATCH_PY) '$(DESTDIR)$(PYWATCH_DIR)/pywatch/'
	install -m 755 $(PYWATCH_EXT) '$(DESTDIR)$(PYWATCH_DIR)/pywatch/'
	@echo "installed libwatch $(VERSION) for CPython $(PY_VERSION):" \
	  "pkg-config name lib$(LIBNAME), in '$(DESTDIR)$(PREFIX)'"
	@echo "installed pywatch in '$(DESTDIR)$(PYWATCH_DIR)'"
	@test -n '$(DESTDIR)' || $(PY) -c 'import sys; \
	  sys.exit(sys.argv[1] not in sys.path)' '$(PYWATCH_DIR)' || \
	  echo "  (not on $(PY)'s sys.path: add it to PYTHONPATH)"

# Installs for each of PYTHONS into one prefix, then builds and runs an
# extension and an embedding program against each, through pkg-config
# alone (mk/installcheck.sh).
installcheck:
	bash mk/installcheck.sh $(or $(PYTHONS),$(PY))

clean:
	rm -rf build

# The checks beyond `make test` (sanitizers, coverage, fuzzing...), one
# concern per file.
include $(wildcard mk/*.mk)

-include $(wildcard $(BUILD)/*/*.d)
