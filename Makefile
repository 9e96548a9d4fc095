# libwatch: build, test and install.
#
#   make                 libwatch.a, libwatch.so and libwatch.pc in build/X.Y/
#   make programs        also the test, example and bench programs
#   make test            every suite on every Python >= 3.12 found
#   make demo            build and run examples/demo and the Python examples
#   make bench           build and run every bench program, on every
#                        interpreter (bench-one: PYTHON's only)
#   make install         PREFIX=/usr/local, DESTDIR=
#   make installcheck    install into build/X.Y/stage and use it from there
#   make clean
#
# X.Y is the version of the interpreter built for: the first that
# mk/pythons.sh prints, or PYTHON=/path/to/python3.x.  libwatch is compiled
# against one CPython's headers and is only good for that X.Y, hence one
# build directory per version.

PREFIX ?= /usr/local
DESTDIR ?=
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy

VERSION := 0.1.0
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
# package's Python files, so that PYTHONPATH=$(BUILD) imports it.
PYWATCH_SRCS := $(wildcard pywatch/*.c)
PYWATCH_PY := $(patsubst pywatch/%,$(BUILD)/pywatch/%,$(wildcard pywatch/*.py))
PYWATCH_EXT := $(BUILD)/pywatch/_pywatch$(PY_EXT_SUFFIX)

all: $(BUILD)/libwatch.a $(BUILD)/libwatch.so $(BUILD)/libwatch.pc \
     $(PYWATCH_EXT) $(PYWATCH_PY)

# --exclude-libs: the copy of libwatch inside is pywatch's own, so the
# module exports its PyInit_ alone; exported, its watch_* would bind an
# embedder's libwatch.so to pywatch's copy, or pywatch's calls to the
# embedder's.
$(PYWATCH_EXT): $(PYWATCH_SRCS) pywatch/pywatch.h $(BUILD)/libwatch.a Makefile
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -shared $(LDFLAGS) -o $@ $(PYWATCH_SRCS) \
	  $(BUILD)/libwatch.a -Wl,--exclude-libs,libwatch.a $(UV_LIBS)

$(BUILD)/pywatch/%.py: pywatch/%.py
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
	$(CC) -shared -Wl,-soname,libwatch.so.$(SOVERSION) $(LDFLAGS) \
	  -o $@ $^ $(UV_LIBS)

# Written with prefix=$(PREFIX) as built; `make install` rewrites it to the
# PREFIX it installs to.  The Python include dir is part of Cflags because
# watch.h includes Python.h.
$(BUILD)/libwatch.pc: Makefile
	@mkdir -p $(@D)
	@printf '%s\n' \
	  'prefix=$(PREFIX)' \
	  'exec_prefix=$${prefix}' \
	  'libdir=$${exec_prefix}/lib' \
	  'includedir=$${prefix}/include' \
	  '' \
	  'Name: libwatch' \
	  'Description: Exact dependents on Python namespaces (CPython $(PY_VERSION))' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir} -I$(PY_INCLUDE)' \
	  'Requires: libuv' \
	  'Libs: -L$${libdir} -lwatch' > $@

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
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(LIBDIR_INST)/pkgconfig
	install -m 644 include/watch.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libwatch.a $(LIBDIR_INST)/
	install -m 755 $(BUILD)/libwatch.so $(LIBDIR_INST)/libwatch.so.$(SOVERSION)
	ln -sf libwatch.so.$(SOVERSION) $(LIBDIR_INST)/libwatch.so
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(BUILD)/libwatch.pc \
	  > $(LIBDIR_INST)/pkgconfig/libwatch.pc

# Installs as a distribution package would (PREFIX=/usr under a DESTDIR),
# checks the files and the shared library's ELF headers, then builds
# examples/demo.c the way a user would, from the installed header, .pc and
# shared library alone, and runs it.  pkg-config gets the staged prefix by
# --define-variable: PKG_CONFIG_SYSROOT_DIR would also prefix the Python
# include dir, which is not under DESTDIR.
STAGE = $(abspath $(BUILD))/stage
installcheck: all
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory PYTHON=$(PY) PREFIX=/usr DESTDIR=$(STAGE) install
	cd $(STAGE)/usr && ls -l include/watch.h lib/libwatch.a lib/libwatch.so \
	  lib/libwatch.so.$(SOVERSION) lib/pkgconfig/libwatch.pc
	test -L $(STAGE)/usr/lib/libwatch.so
	grep -qx 'prefix=/usr' $(STAGE)/usr/lib/pkgconfig/libwatch.pc
	readelf -d $(STAGE)/usr/lib/libwatch.so.$(SOVERSION) > $(STAGE)/dynamic.txt
	grep -q 'SONAME.*\[libwatch\.so\.$(SOVERSION)\]' $(STAGE)/dynamic.txt
	! grep 'NEEDED.*libpython' $(STAGE)/dynamic.txt
	$(PY) -c 'import ctypes; ctypes.CDLL("$(STAGE)/usr/lib/libwatch.so")'
ifneq ($(wildcard examples/demo.c),)
	$(CC) -std=c11 $(CFLAGS) -o $(STAGE)/demo examples/demo.c \
	  $$(PKG_CONFIG_PATH=$(STAGE)/usr/lib/pkgconfig $(PKG_CONFIG) \
	     --define-variable=prefix=$(STAGE)/usr --cflags --libs libwatch) \
	  -Wl,-rpath,$(STAGE)/usr/lib $(UV_CFLAGS) $(UV_LIBS) $(PY_EMBED_LIBS)
	ldd $(STAGE)/demo | grep -q 'libwatch\.so\.$(SOVERSION) => $(STAGE)/usr/lib/'
	$(STAGE)/demo
endif

clean:
	rm -rf build

# The checks beyond `make test` (sanitizers, coverage, fuzzing...), one
# concern per file.
include $(wildcard mk/*.mk)

-include $(wildcard $(BUILD)/*/*.d)
