#!/usr/bin/env bash
# `just ui-bench`: starts a Trellis node (the given binary, release, web UI embedded) on a free
# port with a fresh SQLite database (or UI_BENCH_DATABASE_URL), and runs web-ui/scripts/ui-bench.mjs
# against it in Debian's Chromium: seeding UI_BENCH_ROWS rows (1,000,000 by default), first-load
# size, cold-load timings, frame times while scrolling. Stops the node.
set -euo pipefail
bin=${1:?usage: ui-bench.sh path/to/trellis}
here=$(cd "$(dirname "$0")/.." && pwd)
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TRELLIS_ADMIN_EMAIL=bench@example.com TRELLIS_ADMIN_PASSWORD=bench-password-1
db=()
if [ -n "${UI_BENCH_DATABASE_URL:-}" ]; then db=(--database-url "$UI_BENCH_DATABASE_URL"); fi
"$bin" serve --bind "127.0.0.1:$port" --data-dir "$data" "${db[@]}" >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 400); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$data/server.log"; exit 1; }
echo "database: $([ -n "${UI_BENCH_DATABASE_URL:-}" ] && echo PostgreSQL || echo SQLite)" 
cd "$here/web-ui"
TRELLIS_E2E_URL="http://127.0.0.1:$port" TRELLIS_E2E_EMAIL=$TRELLIS_ADMIN_EMAIL TRELLIS_E2E_PASSWORD=$TRELLIS_ADMIN_PASSWORD \
  node scripts/ui-bench.mjs
