# The latency benchmark and its CI gate (issue 4); see integration/bench/README.md.
#   make bench                 full run, all variants and the JWT ones: table, JSON + SVG in integration/bench/results/
#   make bench WORKERS=2       the same with 2 Envoy workers (BENCH_ARGS="--cases all@1,all@2" for both)
#   make bench-check           shorter run, ratios checked against integration/bench/budgets.json
#   make bench-smoke           a few seconds a variant: the machinery works (no gate on numbers)
#   make bench-memory          VM memory per cached decision (100k entries), module size, start-up time
#   make bench-instructions    instructions per request of the real Envoy under callgrind (all threads),
#                              every case on its own listener of one Envoy; BASELINE_WASM=path adds an A/B
#   make bench-instructions-check   the gate: fewer cases and requests, figures against
#                              integration/bench/instruction-budgets.json (deterministic: counts, not time)
# The load generator is in the bench crate (varies the credential per request). The instruction
# count needs Valgrind (callgrind, callgrind_control): Debian's package, in APT_PACKAGES.

BENCH          := target/release/mesh-authz-bench
BENCH_BUDGETS  ?= integration/bench/budgets.json
BENCH_RESULTS  ?= integration/bench/results
BENCH_ARGS     ?=
WORKERS        ?= 1
BENCH_SELFTEST := integration/bench/fixtures

BENCH_INSTR_BUDGETS ?= integration/bench/instruction-budgets.json
BASELINE_WASM       ?=
BASELINE_CASES      ?=
INSTR_ARGS          ?=

APT_PACKAGES += valgrind
TEST_TARGETS += bench-smoke bench-check-selftest bench-instructions-selftest

.PHONY: bench bench-check bench-smoke bench-check-selftest bench-bin bench-memory \
        bench-instructions bench-instructions-check bench-instructions-selftest

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

# One Envoy under callgrind, a listener per case (10, and the mesh-authz ones again for
# BASELINE_WASM), 20 warm-up + 200 counted requests each: table, results/instructions.json.
bench-instructions: build venv bench-bin
	$(BENCH) instructions --mode full --out $(BENCH_RESULTS)/instructions.json \
	  $(if $(BASELINE_WASM),--baseline-wasm $(BASELINE_WASM)) \
	  $(if $(BASELINE_CASES),--baseline-cases $(BASELINE_CASES)) $(INSTR_ARGS)

# For .ci/run: the six cases the budgets need, 100 counted requests each, checked against
# $(BENCH_INSTR_BUDGETS); exits 1 naming the figure, its budget and the measured value.
bench-instructions-check: build venv bench-bin
	$(BENCH) instructions --mode check --out target/bench/instructions-check.json \
	  --budgets $(BENCH_INSTR_BUDGETS) $(INSTR_ARGS)

# The instruction gate can fail: a recorded run against impossible budgets exits 1 naming the
# figure, budget and value; the same run passes the real budgets. No Valgrind needed.
bench-instructions-selftest: bench-bin
	@out=$$($(BENCH) check-instructions --result $(BENCH_SELFTEST)/instructions-recorded.json --budgets $(BENCH_SELFTEST)/impossible-instruction-budgets.json 2>&1); \
	status=$$?; \
	if [ $$status -ne 1 ]; then echo "$$out"; echo "bench-instructions-selftest: expected exit 1 from impossible budgets, got $$status"; exit 1; fi; \
	for want in 'FAIL  instructions.hit_minus_bypass: measured' 'budget <= 1' 'FAIL  instructions.cache_off_over_ext_authz'; do \
	  case "$$out" in *"$$want"*) ;; *) echo "$$out"; echo "bench-instructions-selftest: message lacks '$$want'"; exit 1;; esac; \
	done
	@$(BENCH) check-instructions --result $(BENCH_SELFTEST)/instructions-recorded.json --budgets $(BENCH_INSTR_BUDGETS) >/dev/null \
	  || { echo "bench-instructions-selftest: the recorded run breaks $(BENCH_INSTR_BUDGETS) (re-record it when budgets change)"; exit 1; }
	@echo "bench-instructions-selftest: impossible budgets fail with the figure named; real budgets pass on the recorded run"
