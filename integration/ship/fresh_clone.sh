#!/usr/bin/env bash
# The README's two commands, run as a new user meets them: a clean clone of HEAD, and a Rust
# toolchain that lacks the wasm32-wasip1 target (rustup does not add the targets of
# rust-toolchain.toml to a toolchain that is already installed). The toolchain is a throwaway copy
# of this one in its own RUSTUP_HOME with the target removed, so nothing here changes the user's.
# Then `make run` until a request is allowed and one denied through it, and `make test`.
#
#   integration/ship/fresh_clone.sh            (make test-fresh-clone; .ci/run runs it)
#   KEEP=1 integration/ship/fresh_clone.sh     keeps the work folder for inspection
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
target=wasm32-wasip1
say() { echo "fresh-clone: $*"; }

if ! command -v rustup >/dev/null; then
  say "rustup not found: cannot make a toolchain without $target to test with"
  [ "${CI:-}" != true ] && { say "skipped"; exit 0; }
  exit 1
fi

work=$(mktemp -d /tmp/mesh-authz-fresh.XXXXXX)
run_pid=""
cleanup() {
  status=$?
  if [ -n "$run_pid" ]; then kill -- "-$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
  if [ "$status" -ne 0 ] && [ -f "$work/run.log" ]; then say "make run log (tail):"; tail -n 40 "$work/run.log"; fi
  if [ "${KEEP:-}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

toolchain=$(cd "$repo" && rustup show active-toolchain | cut -d' ' -f1)
src_home=${RUSTUP_HOME:-$HOME/.rustup}
say "copying toolchain $toolchain into a throwaway RUSTUP_HOME"
mkdir -p "$work/rustup/toolchains"
cp "$src_home/settings.toml" "$work/rustup/"
cp -a "$src_home/toolchains/$toolchain" "$work/rustup/toolchains/"
export RUSTUP_HOME=$work/rustup
if rustup target list --installed --toolchain "$toolchain" | grep -qx "$target"; then
  rustup target remove --toolchain "$toolchain" "$target"
fi
if [ -d "$(rustc +"$toolchain" --print sysroot)/lib/rustlib/$target" ]; then
  say "could not remove $target from the throwaway toolchain"; exit 1
fi
say "toolchain without $target ready"

git clone -q "$repo" "$work/repo"
# The clone sits where a checkout does: with the project's shared/ (Istio's CRD schemas for the
# manifest checks) beside it.
if [ -d "$repo/../shared" ]; then ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"; fi
cd "$work/repo"
unset CARGO_TARGET_DIR
say "clean clone of $(git rev-parse --short HEAD) in $work/repo"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen=$(free_port); admin=$(free_port); auth=$(free_port); echo_port=$(free_port)

# `make run` builds everything from nothing (a few minutes on a small machine), then serves until
# stopped; it runs in its own process group so that all of it can be stopped at once.
say "make run (listening on 127.0.0.1:$listen once built)"
setsid make run LISTEN_PORT="$listen" ADMIN_PORT="$admin" AUTH_PORT="$auth" ECHO_PORT="$echo_port" \
  >"$work/run.log" 2>&1 &
run_pid=$!
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "http://127.0.0.1:$listen/hello" || true; }
deadline=$((SECONDS + 1200))
until [ "$(code -H 'authorization: Bearer alice-token')" = 200 ]; do
  if ! kill -0 "$run_pid" 2>/dev/null; then say "make run exited before serving"; exit 1; fi
  if [ "$SECONDS" -ge "$deadline" ]; then say "make run did not serve within 20 minutes"; exit 1; fi
  sleep 2
done
anonymous=$(code)
if [ "$anonymous" != 401 ]; then say "make run: an anonymous request got $anonymous, not 401"; exit 1; fi
grep -q "installing the Rust target $target" "$work/run.log" \
  || { say "make run did not say it installed $target"; exit 1; }
say "make run: allowed (200) and denied (401) through Envoy; it installed $target itself"
kill -- "-$run_pid" 2>/dev/null || true
wait "$run_pid" 2>/dev/null || true
run_pid=""

# `make test` on the same clone, as the README's second command; the target is there now, so
# remove it again to show that `make test` alone sets it up too.
rustup target remove --toolchain "$toolchain" "$target"
say "make test (toolchain without $target again)"
make test 2>&1 | tee "$work/test.log" | sed -u 's/^/  | /'
grep -q "installing the Rust target $target" "$work/test.log" \
  || { say "make test did not say it installed $target"; exit 1; }
say "OK: make run and make test passed from a clean clone on a toolchain without $target"
