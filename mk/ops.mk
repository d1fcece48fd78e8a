# Operations under trouble: the chaos run and the benchmark figures that go with it.
#   make chaos          the chaos run with 4 s phases (make test runs it with 1.5 s phases, in
#                       test-e2e): mixed load through Envoy with 2 workers while the auth service
#                       is healthy, hung, slow, answering 500, killed and restored
#   make bench-2ms      the latency benchmark with an auth service that takes 2 ms per check:
#                       passthrough, mesh-authz mixed (cache on), Lua, ext_authz in one run
#   make bench-soak     1,000,000 distinct credentials: VM memory and Envoy RSS flat at the bounds
#   make bench-flight   callouts per request on a burst of identical new credentials, 1/2/4 workers
# See integration/bench/README.md.

CHAOS_PHASE_SECONDS ?= 4
SOAK_CREDENTIALS    ?= 1000000

.PHONY: chaos bench-2ms bench-soak bench-flight

chaos: build venv
	CHAOS_PHASE_SECONDS=$(CHAOS_PHASE_SECONDS) ENVOY_BIN=$(ENVOY_ABS) MESH_AUTHZ_WASM=$(abspath $(WASM)) \
	  $(CARGO) test -p mesh-authz-integration --test chaos -- --nocapture

bench-2ms: build venv bench-bin
	$(BENCH) run --mode full --cases passthrough,mixed_2ms,lua_2ms,ext_authz_2ms \
	  --out $(BENCH_RESULTS)/auth-2ms.json $(BENCH_ARGS)

bench-soak: build venv bench-bin
	$(BENCH) soak --credentials $(SOAK_CREDENTIALS) --out $(BENCH_RESULTS)/soak.json

bench-flight: build venv bench-bin
	$(BENCH) flight --workers 1,2,4 --out $(BENCH_RESULTS)/flight.json
