# make fuzz: the long differential fuzzing run (tests/fuzz/fuzz.py), on
# every interpreter mk/pythons.sh finds.  `make test` runs a short one
# (mk/suites/fuzz.sh).  FUZZ_OPS operations per interpreter from episode
# FUZZ_SEED on; a failure prints its seed and the minimized operations.
.PHONY: fuzz

FUZZ_OPS ?= 1000000
FUZZ_SEED ?= 1

fuzz:
	@bash mk/deps.sh
	@for py in $$(bash mk/pythons.sh); do \
	  ver=$$($$py mk/pyinfo.py | cut -d' ' -f1); \
	  $(MAKE) --no-print-directory PYTHON=$$py all || exit 1; \
	  echo "== fuzz, Python $$ver: $(FUZZ_OPS) operations from seed $(FUZZ_SEED)"; \
	  env -u PYWATCH_DISABLE PYTHONPATH=build/$$ver $$py tests/fuzz/fuzz.py \
	    --seed $(FUZZ_SEED) --ops $(FUZZ_OPS) || exit 1; \
	done
