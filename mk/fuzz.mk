# make fuzz: the long differential fuzzing run (tests/fuzz/fuzz.py), on
# every interpreter of mk/interpreters.sh (3.14 and 3.15 in the sid
# root).  `make test` runs a short one
# (mk/suites/fuzz.sh).  FUZZ_OPS operations per interpreter from episode
# FUZZ_SEED on; a failure prints its seed and the minimized operations.
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
