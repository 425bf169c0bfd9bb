#!/usr/bin/env bash
# Starts a Trellis node (the given binary, web UI embedded) on a free port with a fresh SQLite
# database, runs web-ui's browser test against it in Debian's Chromium, and stops the node.
set -euo pipefail
bin=${1:?usage: ui-e2e.sh path/to/trellis}
here=$(cd "$(dirname "$0")/.." && pwd)
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TRELLIS_ADMIN_EMAIL=e2e@example.com TRELLIS_ADMIN_PASSWORD=e2e-password-1
"$bin" serve --bind "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$data/server.log"; exit 1; }
cd "$here/web-ui"
TRELLIS_E2E_URL="http://127.0.0.1:$port" TRELLIS_E2E_EMAIL=$TRELLIS_ADMIN_EMAIL TRELLIS_E2E_PASSWORD=$TRELLIS_ADMIN_PASSWORD \
  npm run --silent test:e2e
