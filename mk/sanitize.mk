# Memory checks beyond `make test`, for one interpreter (PYTHON=... picks it,
# as for `make`):
#
#   make asan        libwatch, pywatch and every program built with
#                    AddressSanitizer and UBSan, and the index's invariants
#                    checked after every collection (WATCH_CHECK_INDEX), into
#                    build/asan-X.Y/, then the C tests, the examples and the
#                    Python tests run with them
#   make valgrind    the C tests and examples of build/X.Y/ under memcheck
#
# Both run every program even after a failure, and fail if any failed.

.PHONY: asan valgrind

# Any UBSan report is an error that stops the program, as ASan's do.
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
ASAN_BUILD = build/asan-$(PY_VERSION)

# The interpreter is not built with ASan: pymalloc would hide every object
# from it, so PYTHONMALLOC=malloc.  LeakSanitizer runs too, in every
# process; mk/lsan.supp names what CPython itself leaves at exit.
ASAN_ENV = PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=1 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/mk/lsan.supp:print_suppressions=0 \
           UBSAN_OPTIONS=print_stacktrace=1
# A Python program loading the sanitized extension needs the ASan runtime
# loaded before anything else: it runs in ASAN_PYTHON, the interpreter
# linked with it (mk/asan_python.c), rather than under an LD_PRELOAD that
# every program it starts would inherit.
ASAN_PYTHON = $(ASAN_BUILD)/python$(PY_VERSION)

asan:
	@bash mk/deps.sh
	@$(MAKE) --no-print-directory PYTHON=$(PY) VARIANT=asan- \
	  CFLAGS='-O1 -g $(SANITIZE) -DWATCH_CHECK_INDEX' LDFLAGS='$(SANITIZE)' \
	  programs
	$(CC) -O1 -g $(SANITIZE) -I$(PY_INCLUDE) -o $(ASAN_PYTHON) \
	  mk/asan_python.c $(PY_EMBED_LIBS)
	@$(call run_each,$(ASAN_ENV),$(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,\
	  $(TESTS) $(EXAMPLES)))
	PYTHONPATH=$(abspath $(ASAN_BUILD)) $(ASAN_ENV) \
	  bash examples/service/run.sh $(abspath $(ASAN_PYTHON))
	PYTHONPATH=$(ASAN_BUILD) $(ASAN_ENV) $(ASAN_PYTHON) tests/python/run.py

# CK_FORK=no: one process, so that memcheck sees every test (the harness
# asks for it too).  Only definite losses are errors: CPython keeps much
# reachable at exit.  mk/valgrind.supp says what it suppresses, and why.
VALGRIND = CK_FORK=no PYTHONMALLOC=malloc valgrind -q --error-exitcode=99 \
           --leak-check=full --errors-for-leak-kinds=definite \
           --show-leak-kinds=definite --suppressions=mk/valgrind.supp

valgrind:
	@bash mk/deps.sh
	@$(MAKE) --no-print-directory PYTHON=$(PY) programs
	@$(call run_each,$(VALGRIND),$(TESTS) $(EXAMPLES))
