# make coverage: libwatch and pywatch built with gcov instrumentation into
# build/cov-X.Y/ (PYTHON=... picks the interpreter, as for `make`), the C
# tests and the Python tests run against that build, then with lcov:
#
#   build/cov-X.Y/coverage/html/index.html   the report, line by line
#   build/cov-X.Y/coverage/coverage.info     the counts, for other tools
#
# and a summary of line and branch coverage of libwatch/ and pywatch/ (their
# C; the tests and CPython's headers are left out).  Fails if coverage is
# below COVERAGE_MIN_LINES or COVERAGE_MIN_BRANCHES percent, or if a test
# failed (after the report, which is still written).

.PHONY: coverage

COVERAGE_MIN_LINES ?= 90
COVERAGE_MIN_BRANCHES ?= 75

COV_BUILD = build/cov-$(PY_VERSION)
COV_OUT = $(COV_BUILD)/coverage
# Branch counts are off by default in lcov 1.x.  The counts of the run are
# added to a zero baseline (--initial, from the .gcno files), so that a
# source no test reached counts as uncovered instead of missing.  Capture's
# stderr goes to lcov.log, shown on failure: Debian's lcov 1.16 warns there
# about its own Perl ("Subroutine ... redefined") at every run.
# lcov 2 (Debian sid's, for 3.14 and 3.15) renamed the option, refuses the
# old name, and rejects gcc 16's counts for lines of CPython's inline
# functions ("unexecuted block on non-branch line", "line is hit but no
# branches evaluated"): its consistency check is off there.
LCOV_VERSION = $(shell lcov --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n 1)
LCOV_FLAGS = $(if $(filter 1.%,$(LCOV_VERSION)),--rc lcov_branch_coverage=1,\
  --rc branch_coverage=1 --rc check_data_consistency=0 \
  --ignore-errors inconsistent,inconsistent,corrupt)
LCOV = lcov --quiet $(LCOV_FLAGS)

coverage:
	@bash mk/deps.sh
	@$(MAKE) --no-print-directory PYTHON=$(PY) VARIANT=cov- \
	  CFLAGS='-O0 -g --coverage -fprofile-update=atomic' \
	  LDFLAGS=--coverage programs
	@rm -rf $(COV_OUT) && mkdir -p $(COV_OUT)
	@$(LCOV) --zerocounters --directory $(COV_BUILD)
	@{ $(call run_each,,$(patsubst $(BUILD)/%,$(COV_BUILD)/%,$(TESTS))); } \
	  || echo "make coverage: a C test failed" >> $(COV_OUT)/failures
	@PYTHONPATH=$(COV_BUILD) $(PY) tests/python/run.py > $(COV_OUT)/python.log \
	  || { cat $(COV_OUT)/python.log; \
	       echo "make coverage: a Python test failed" >> $(COV_OUT)/failures; }
	@tail -n 1 $(COV_OUT)/python.log
	@{ $(LCOV) --capture --initial --directory $(COV_BUILD) \
	     --output-file $(COV_OUT)/zero.info \
	   && $(LCOV) --capture --directory $(COV_BUILD) \
	     --output-file $(COV_OUT)/run.info \
	   && $(LCOV) --add-tracefile $(COV_OUT)/zero.info \
	     --add-tracefile $(COV_OUT)/run.info --output-file $(COV_OUT)/all.info; \
	 } 2> $(COV_OUT)/lcov.log || { cat $(COV_OUT)/lcov.log; exit 1; }
	@$(LCOV) --extract $(COV_OUT)/all.info '$(CURDIR)/libwatch/*' \
	  '$(CURDIR)/pywatch/*' --output-file $(COV_OUT)/coverage.info
	@genhtml --quiet $(LCOV_FLAGS) --branch-coverage --title 'libwatch, CPython $(PY_VERSION)' \
	  --prefix $(CURDIR) --output-directory $(COV_OUT)/html $(COV_OUT)/coverage.info
	@echo "report: $(COV_OUT)/html/index.html"
	@$(PY) mk/coverage_summary.py $(COV_OUT)/coverage.info $(PY_VERSION) \
	  $(COVERAGE_MIN_LINES) $(COVERAGE_MIN_BRANCHES)
	@if [ -e $(COV_OUT)/failures ]; then cat $(COV_OUT)/failures; exit 1; fi
