# The latency benchmark and its CI gate (issue 4); see integration/bench/README.md.
#   make bench                 full run, all variants and the JWT ones: table, JSON + SVG in integration/bench/results/
#   make bench WORKERS=2       the same with 2 Envoy workers (BENCH_ARGS="--cases all@1,all@2" for both)
#   make bench-check           shorter run, ratios checked against integration/bench/budgets.json
#   make bench-smoke           a few seconds a variant: the machinery works (no gate on numbers)
#   make bench-memory          VM memory per cached decision (100k entries), module size, start-up time
# The load generator is in the bench crate (varies the credential per request), so no Debian
# package is needed beyond the Makefile's.

BENCH          := target/release/mesh-authz-bench
BENCH_BUDGETS  ?= integration/bench/budgets.json
BENCH_RESULTS  ?= integration/bench/results
BENCH_ARGS     ?=
WORKERS        ?= 1
BENCH_SELFTEST := integration/bench/fixtures

TEST_TARGETS += bench-smoke bench-check-selftest

.PHONY: bench bench-check bench-smoke bench-check-selftest bench-bin bench-memory

# Always handed to cargo, which knows whether anything changed. Release: the generator must not
# be the bottleneck it measures.
bench-bin:
	$(CARGO) build --release -q -p mesh-authz-bench

bench: build venv bench-bin
	$(BENCH) run --mode full --workers $(WORKERS) --out $(BENCH_RESULTS)/latest.json $(BENCH_ARGS)

bench-memory: build venv bench-bin
	$(BENCH) memory --entries $${ENTRIES:-100000} --out $(BENCH_RESULTS)/memory.json

bench-check: build venv bench-bin
	$(BENCH) run --mode check --out target/bench/check.json --budgets $(BENCH_BUDGETS) $(BENCH_ARGS)

# In `make test` and .ci/run: every variant boots and behaves as named (callouts per request, no
# errors), the table, JSON and chart are written. Numbers are not gated: the machine is shared.
bench-smoke: build venv bench-bin
	$(BENCH) run --mode smoke --out target/bench/smoke.json $(BENCH_ARGS)

# The gate can fail: a recorded run against budgets set impossibly tight must exit non-zero and
# name the figure, the budget and the measured value; the same run passes the real budgets.
bench-check-selftest: bench-bin
	@out=$$($(BENCH) check --result $(BENCH_SELFTEST)/recorded.json --budgets $(BENCH_SELFTEST)/impossible-budgets.json 2>&1); \
	status=$$?; \
	if [ $$status -ne 1 ]; then echo "$$out"; echo "bench-check-selftest: expected exit 1 from impossible budgets, got $$status"; exit 1; fi; \
	for want in 'FAIL  cache_off_over_ext_authz_cpu@1w: measured' 'budget <= 0.01' 'FAIL  mixed_over_ext_authz_rps@1w' 'budget >= 100'; do \
	  case "$$out" in *"$$want"*) ;; *) echo "$$out"; echo "bench-check-selftest: message lacks '$$want'"; exit 1;; esac; \
	done
	@$(BENCH) check --result $(BENCH_SELFTEST)/recorded.json --budgets $(BENCH_BUDGETS) >/dev/null \
	  || { echo "bench-check-selftest: the recorded run breaks $(BENCH_BUDGETS) (re-record it when budgets change)"; exit 1; }
	@echo "bench-check-selftest: impossible budgets fail with the figure named; real budgets pass on the recorded run"
