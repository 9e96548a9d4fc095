# $(call run_each,PREFIX,PROGRAMS): for the recipes of mk/*.mk that run a
# list of programs (PREFIX: environment or a wrapper put before each).  Runs
# all of them even after a failure, so that one run shows every failure;
# fails if any failed.
run_each = failed=0; for p in $2; do echo "== $$p"; \
  $1 ./$$p || { echo "FAILED (status $$?): $$p"; failed=$$((failed + 1)); }; \
  done; echo "$$failed failed of $(words $2)"; test $$failed = 0
