# make fuzz: the long differential fuzzing run (tests/fuzz/fuzz.py), on
# every interpreter of mk/interpreters.sh (3.14 and 3.15 in the sid root,
# and their debug builds, where CPython's assertions judge it too).  `make
# test` runs a short one (mk/suites/fuzz.sh).  FUZZ_OPS operations per
# interpreter from episode FUZZ_SEED on; a failure prints its seed and the
# minimized operations.
.PHONY: fuzz

FUZZ_OPS ?= 1000000
FUZZ_SEED ?= 1

fuzz:
	@bash mk/deps.sh
	@for i in $$(bash mk/interpreters.sh); do \
	  py=$${i#sid:}; on="bash mk/on.sh $$i"; \
	  ver=$$($$on $$py mk/pyinfo.py | cut -d' ' -f1); \
	  $$on make --no-print-directory PYTHON=$$py all || exit 1; \
	  echo "== fuzz, Python $$ver: $(FUZZ_OPS) operations from seed $(FUZZ_SEED)"; \
	  $$on env -u PYWATCH_DISABLE PYTHONPATH=build/$$ver $$py tests/fuzz/fuzz.py \
	    --seed $(FUZZ_SEED) --ops $(FUZZ_OPS) || exit 1; \
	done

# make fuzz-c: coverage-guided fuzzing of the C API (tests/fuzz/fuzz_capi.c)
# with libFuzzer, ASan and UBSan, in an embedded interpreter (PYTHON=...
# picks it, as for `make`): RUNS inputs from seed FUZZ_SEED, the corpus kept
# in build/fuzzc-X.Y/corpus, or fewer: OPS=N stops after the input that
# brings the operations run to N (it prints how many ran).  Then the corpus
# is run once more by a build
# with llvm's coverage, and the line and branch coverage of libwatch/ it
# reaches is printed.  FUZZ_C_DEFS adds defines, such as a test-only switch
# of libwatch/internal.h.  Needs clang and its libFuzzer runtime, which
# mk/deps.sh fuzz-c installs.
.PHONY: fuzz-c

RUNS ?= 20000
OPS ?= 0
FUZZ_C_DEFS ?=
FUZZC_BUILD = build/fuzzc-$(PY_VERSION)
FUZZC_SRCS = $(LIB_SRCS) tests/fuzz/fuzz_capi.c
FUZZC_FLAGS = -std=c11 -g -Iinclude -I$(PY_INCLUDE) $(UV_CFLAGS) $(FUZZ_C_DEFS)
FUZZC_LIBS = $(UV_LIBS) $(PY_EMBED_LIBS)

fuzz-c:
	@bash mk/deps.sh fuzz-c
	@mkdir -p $(FUZZC_BUILD)/corpus
	clang $(FUZZC_FLAGS) -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all -o $(FUZZC_BUILD)/fuzz_capi $(FUZZC_SRCS) \
	  $(FUZZC_LIBS)
	ASAN_OPTIONS=detect_leaks=0 FUZZ_C_OPS=$(OPS) \
	  $(FUZZC_BUILD)/fuzz_capi -runs=$(RUNS) \
	  -seed=$(FUZZ_SEED) -max_len=400 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZC_BUILD)/ $(FUZZC_BUILD)/corpus
	@clang $(FUZZC_FLAGS) -O0 -fsanitize=fuzzer -fprofile-instr-generate \
	  -fcoverage-mapping -o $(FUZZC_BUILD)/fuzz_capi_cov $(FUZZC_SRCS) \
	  $(FUZZC_LIBS)
	@rm -f $(FUZZC_BUILD)/corpus.profraw
	@LLVM_PROFILE_FILE=$(FUZZC_BUILD)/corpus.profraw \
	  $(FUZZC_BUILD)/fuzz_capi_cov -runs=0 $(FUZZC_BUILD)/corpus \
	  > $(FUZZC_BUILD)/coverage.log 2>&1
	@llvm-profdata merge -o $(FUZZC_BUILD)/corpus.profdata \
	  $(FUZZC_BUILD)/corpus.profraw
	@llvm-cov report $(FUZZC_BUILD)/fuzz_capi_cov \
	  -instr-profile=$(FUZZC_BUILD)/corpus.profdata $(LIB_SRCS) \
	  > $(FUZZC_BUILD)/coverage.txt
	@awk '/^TOTAL/ { print "fuzz-c coverage of libwatch/, CPython $(PY_VERSION): lines " $$10 ", branches " $$13 }' \
	  $(FUZZC_BUILD)/coverage.txt
