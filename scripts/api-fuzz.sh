#!/usr/bin/env bash
# Schemathesis against a real node: an app's document, then the platform document, with a bearer
# token, a bounded number of examples per operation (FUZZ_EXAMPLES, default 15) and a fixed seed
# (FUZZ_SEED). Every check is on. Fails on a 5xx, a dropped connection, an answer (status, content
# type, headers, body) that its document does not describe, a request the document forbids that
# is accepted, or a request the document allows that is refused (`positive_data_acceptance`).
#
# What a schema cannot state is dealt with in two files next to this one (docs/API-NOTES.md, "What
# the fuzz run checks"): api-fuzz-hooks.py puts the ids this script seeds where a request names a
# user, a team or a record, and dates later than now where they must be; api-fuzz.toml lists, per
# operation and with the reason, the statuses `positive_data_acceptance` also accepts there
# (refusals that depend on stored state).
#
# While iterating: FUZZ_ONLY=app or FUZZ_ONLY=platform runs one document, FUZZ_EXTRA passes more
# options to `st run` (e.g. --continue-on-failure).
set -euo pipefail
bin=${1:?usage: api-fuzz.sh path/to/trellis}
examples=${FUZZ_EXAMPLES:-15}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TRELLIS_ADMIN_EMAIL=fuzz@example.com TRELLIS_ADMIN_PASSWORD=fuzz-password-1
"$bin" serve --bind "127.0.0.1:$port" --data-dir "$data" >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  curl -sf "$base/healthz" >/dev/null && break
  sleep 0.05
done
login=$(curl -sf "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$TRELLIS_ADMIN_EMAIL\",\"password\":\"$TRELLIS_ADMIN_PASSWORD\"}")
# The member of the JSON on stdin at the path of keys given.
field() {
  python3 -c 'import sys, json
d = json.load(sys.stdin)
for k in sys.argv[1:]: d = d[k]
print(d)' "$@"
}
token=$(field token <<<"$login")
auth="Authorization: Bearer $token"
post() { curl -sf "$base$1" -H "$auth" -H 'content-type: application/json' -d "$2"; }
# Ids that scripts/api-fuzz-hooks.py puts where a request names a user or a record.
export SCHEMATHESIS_HOOKS
SCHEMATHESIS_HOOKS="$(cd "$(dirname "$0")" && pwd)/api-fuzz-hooks.py"
export FUZZ_USER
FUZZ_USER=$(field user id <<<"$login")
# An app with most field types and a few records, so the app's document has something to test.
curl -sf -o /dev/null "$base/api/v1/apps" -H "$auth" -H 'content-type: application/json' -d '{
  "name": "shop", "label": {"zh": "门店", "en": "Shop"},
  "entities": [
    {"name": "customer", "label": {"en": "Customer"}, "title_field": "name", "fields": [
      {"name": "name", "label": {"en": "Name"}, "type": "text", "required": true, "max_length": 100},
      {"name": "email", "label": {"en": "E-mail"}, "type": "email"},
      {"name": "code", "label": {"en": "Code"}, "type": "text", "pattern": "[A-Z]{2}[0-9]{3}"},
      {"name": "phone", "label": {"en": "Phone"}, "type": "phone"},
      {"name": "website", "label": {"en": "Website"}, "type": "url"},
      {"name": "notes", "label": {"en": "Notes"}, "type": "long_text", "min_length": 2},
      {"name": "tags", "label": {"en": "Tags"}, "type": "multi_select", "options": [
        {"value": "vip", "label": {"en": "VIP"}}, {"value": "new", "label": {"en": "New"}}]}]},
    {"name": "deal", "label": {"en": "Deal"}, "title_field": "title", "fields": [
      {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
      {"name": "amount", "label": {"en": "Amount"}, "type": "currency", "currency": "CNY", "min": 0},
      {"name": "probability", "label": {"en": "Probability"}, "type": "percent", "min": 0, "max": 100},
      {"name": "quantity", "label": {"en": "Quantity"}, "type": "integer"},
      {"name": "ratio", "label": {"en": "Ratio"}, "type": "decimal", "scale": 4},
      {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"},
      {"name": "phase", "label": {"en": "Phase"}, "type": "single_select", "options": [
        {"value": "new", "label": {"en": "New"}}, {"value": "won", "label": {"en": "Won"}}]},
      {"name": "close", "label": {"en": "Close"}, "type": "date"},
      {"name": "signed_at", "label": {"en": "Signed at"}, "type": "datetime"},
      {"name": "urgent", "label": {"en": "Urgent"}, "type": "boolean"},
      {"name": "extra", "label": {"en": "Extra"}, "type": "json"}]}]}'
export FUZZ_CUSTOMER
FUZZ_CUSTOMER=$(post /api/v1/data/shop/customer '{"name": "Customer 1", "email": "c1@example.com"}' | field id)
export FUZZ_TEAM FUZZ_OTHER
FUZZ_TEAM=$(post /api/v1/teams '{"name": "Fuzz team"}' | field id)
FUZZ_OTHER=$(post /api/v1/users '{"email": "other@example.com", "name": "Other", "password": "other-password-1"}' | field id)
for i in 1 2 3; do
  curl -sf -o /dev/null "$base/api/v1/data/shop/deal" -H "$auth" -H 'content-type: application/json' \
    -d "{\"title\":\"Deal $i\",\"amount\":\"$i.50\",\"quantity\":$i}"
done
# One worker: with two, CPython 3.11's ast.parse (which hypothesis calls to describe its filters)
# races between threads and schemathesis fails with its own "Runtime Error" ("AST constructor
# recursion depth mismatch", or a KeyError in hypothesis' lambda cache), not the server's.
fuzz() {
  st --config-file "$(dirname "$0")/api-fuzz.toml" run "$1" -H "$auth" --no-color --workers 1 --request-timeout 20 \
    --max-examples "$examples" --seed "${FUZZ_SEED:-20261203}" \
    --phases examples,coverage,fuzzing ${FUZZ_EXTRA:-} \
    --exclude-path-regex '/auth/(logout|sessions)' \
    --generation-database none
}
status=0
# The app's document first: the platform run acts as an administrator and may change or delete
# the app's entities (it did: the app's document then had no operations left to test).
if [ "${FUZZ_ONLY:-app}" = app ]; then
  echo "api-fuzz: the app's document"
  fuzz "$base/api/v1/apps/shop/openapi.json" || status=1
fi
if [ "${FUZZ_ONLY:-platform}" = platform ]; then
  echo "api-fuzz: platform document"
  fuzz "$base/api/v1/openapi.json" || status=1
fi
if [ $status -ne 0 ] || grep -q "panicked" "$data/server.log"; then
  grep -n "panicked" "$data/server.log" | head -20 || true
  exit 1
fi
