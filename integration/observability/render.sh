#!/usr/bin/env bash
# docs/dashboard.png: the dashboard's panels against a real Prometheus scraping two real Envoys
# (one enforcing, one in shadow mode as during a rollout) under bounded load on 127.0.0.1, with the
# example auth service killed for 30 s in the middle (errors, stale decisions, failed JWKS fetches)
# and started again.
#
#   PYTHON=/path/to/python-with-matplotlib integration/observability/render.sh [OUT.png]
#
# Needs: the built module (make build), the integration binaries (cargo build -p
# mesh-authz-integration --bins), Envoy (make venv), Debian's prometheus, openssl. About 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=${1:-docs/dashboard.png}
PYTHON=${PYTHON:-python3}
ENVOY=${ENVOY:-.venv/bin/envoy}
BIN=${BIN:-target/debug}
BASE=${RENDER_PORT_BASE:-19200}
AUTH=$((BASE + 2)) ECHO=$((BASE + 3)) PROM=$((BASE + 90))
HEALTHY=${HEALTHY_SECONDS:-45} OUTAGE=${OUTAGE_SECONDS:-30} AFTER=${AFTER_SECONDS:-30}
HERE=integration/observability
W=$(mktemp -d)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap stop EXIT

"$PYTHON" $HERE/render.py keys "$W"
start_auth() {
  "$BIN/example-auth" --listen "127.0.0.1:$AUTH" --tokens integration/example/tokens.json --jwks "$W/jwks.json" \
    >>"$W/auth.log" 2>&1 &
  AUTH_PID=$!
  PIDS+=("$AUTH_PID")
}
start_auth
"$BIN/echo-upstream" --listen "127.0.0.1:$ECHO" >"$W/echo.log" 2>&1 &
PIDS+=($!)

# The checked-in bootstrap with this run's ports; short TTLs so that decisions expire during the
# outage and are served stale, and JWKS refreshed every 10 s (the minimum) so that fetches fail.
envoy_config() { # NAME LISTEN ADMIN EXTRA_PLUGIN_JSON
  sed -e "s/port_value: 9901/port_value: $3/" -e "s/port_value: 10000/port_value: $2/" \
      -e "s/port_value: 8081/port_value: $AUTH/" -e "s/port_value: 8082/port_value: $ECHO/" \
      -e 's/"allowTtlSeconds": 60, "denyTtlSeconds": 5/"allowTtlSeconds": 5, "denyTtlSeconds": 2, "staleIfErrorSeconds": 120/' \
      -e 's/"refreshSeconds": 300/"refreshSeconds": 10/' \
      -e "s/\"onError\": {\"mode\": \"deny\", \"status\": 503},/\"onError\": {\"mode\": \"deny\", \"status\": 503},$4/" \
      integration/envoy/envoy.yaml >"$W/$1.yaml"
  grep -q '"staleIfErrorSeconds": 120' "$W/$1.yaml" || { echo "render: envoy.yaml changed, update envoy_config"; exit 1; }
}
envoy_config enforce $((BASE + 10)) $((BASE + 11)) ''
envoy_config shadow $((BASE + 20)) $((BASE + 21)) ' "mode": "shadow",'
for name in enforce shadow; do
  "$ENVOY" -c "$W/$name.yaml" --disable-hot-restart --concurrency 2 -l warn >"$W/$name.log" 2>&1 &
  PIDS+=($!)
done

cat >"$W/prometheus.yml" <<EOF
global: {scrape_interval: 2s, evaluation_interval: 2s}
scrape_configs:
- job_name: envoy
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ['127.0.0.1:$((BASE + 11))']
    labels: {namespace: demo, pod: web-enforce}
  - targets: ['127.0.0.1:$((BASE + 21))']
    labels: {namespace: demo, pod: web-shadow-rollout}
EOF
prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/tsdb" \
  --web.listen-address="127.0.0.1:$PROM" --log.level=warn >"$W/prometheus.log" 2>&1 &
PIDS+=($!)

for port in $((BASE + 11)) $((BASE + 21)) $PROM; do
  path=/ready; [ "$port" = "$PROM" ] && path=/-/ready
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port$path" >/dev/null && break; sleep 0.2; done
  curl -sf "127.0.0.1:$port$path" >/dev/null || { echo "render: 127.0.0.1:$port not ready"; tail "$W"/*.log; exit 1; }
done

sleep 4
START=$(date +%s)
"$PYTHON" $HERE/render.py load "$W" $((HEALTHY + OUTAGE + AFTER)) \
  "http://127.0.0.1:$((BASE + 10))" "http://127.0.0.1:$((BASE + 20))" &
LOAD=$!
sleep "$HEALTHY"
echo "render: auth service stopped at +$(( $(date +%s) - START )) s"
kill "$AUTH_PID"
sleep "$OUTAGE"
start_auth
echo "render: auth service started again at +$(( $(date +%s) - START )) s"
wait "$LOAD"
sleep 6
END=$(date +%s)
"$PYTHON" $HERE/render.py plot envoyfilter-manifests/observability/dashboard.json "http://127.0.0.1:$PROM" \
  "$START" "$END" "$OUT" "$HEALTHY" $((HEALTHY + OUTAGE))
