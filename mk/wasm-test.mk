# The core's tests compiled to wasm32-wasip1, the target the filter ships on (32-bit usize, the
# RustCrypto backend as wasm code), run under Node's built-in WASI by integration/wasm/run-wasi.mjs.
# Node rather than wasm-bindgen-test: the filter is a WASI module, not a browser one, and
# wasm-bindgen-test would need its own runner and annotations on every test.
#   make test-wasm   cargo test -p mesh-authz-core --target wasm32-wasip1 (part of make test)

WASM_TEST_RUNNER := node --no-warnings $(abspath integration/wasm/run-wasi.mjs)

TEST_TARGETS += test-wasm

.PHONY: test-wasm

# Node 20 runs WASI without a flag. Without it the run is skipped, and fails under CI=true.
test-wasm: rust-target
	@if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then \
	  if [ "$${CI:-}" = true ]; then echo "test-wasm: Node 20 or later is needed (node:wasi) under CI=true"; exit 1; fi; \
	  echo "test-wasm: skipped: install Node 20 or later to run the core's tests as wasm32-wasip1"; exit 0; \
	fi
	CARGO_TARGET_WASM32_WASIP1_RUNNER="$(WASM_TEST_RUNNER)" $(CARGO) test -p mesh-authz-core --target $(TARGET)
