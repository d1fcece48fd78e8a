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

# Dashboards and alerts for mesh admins (envoyfilter-manifests/observability/, see
# docs/operations.md#dashboards-and-alerts):
#   make test-observability   promtool check + unit tests of the PrometheusRule's alerts, and every
#                             metric the dashboard or an alert names checked against a real Envoy's
#                             /stats/prometheus (integration/tests/e2e_observability.rs)
# promtool (Debian: prometheus) missing: its part is skipped with one line, a failure under CI=true.

OBSERVABILITY := envoyfilter-manifests/observability
APT_PACKAGES  += prometheus
TEST_TARGETS  += test-observability

.PHONY: test-observability

# promtool reads plain rule files: the PrometheusRule's spec goes to a temporary rules.yaml, next
# to a copy of alerts_test.yaml (which names it relative to itself).
test-observability: build venv
	@if ! command -v promtool >/dev/null; then \
	  if [ "$${CI:-}" = true ]; then echo "test-observability: promtool is needed under CI=true (Debian: prometheus)"; exit 1; fi; \
	  echo "test-observability: promtool not found (Debian: prometheus; make setup installs it): alert rule tests skipped"; \
	else \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PY) -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], open(sys.argv[2], "w"), sort_keys=False)' \
	    $(OBSERVABILITY)/prometheusrule.yaml "$$tmp/rules.yaml" && \
	  cp $(OBSERVABILITY)/alerts_test.yaml "$$tmp/" && \
	  promtool check rules "$$tmp/rules.yaml" && promtool test rules "$$tmp/alerts_test.yaml"; \
	fi
	ENVOY_BIN=$(ENVOY_ABS) MESH_AUTHZ_WASM=$(abspath $(WASM)) \
	  $(CARGO) test -p mesh-authz-integration --test e2e_observability
