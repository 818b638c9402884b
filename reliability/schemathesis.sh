#!/usr/bin/env bash
# Fuzzes the management API against its own OpenAPI document with
# Schemathesis: every operation, positive and negative examples, and every
# check (no 5xx, documented status codes, content types, headers, response
# schemas). It starts a debug `keyport serve` on a scratch SQLite file, with
# an admin and an API client holding clients:read, clients:write and
# audit:read, and fails if Schemathesis finds anything (or the server logs a
# panic). schemathesis.toml says where a schema-valid request may still be
# refused; schemathesis_hooks.py keeps the run's own client and points some
# requests at clients that exist. Reports and the server log go to
# target/reliability/.
#
#   reliability/schemathesis.sh            # a few minutes
#   ST_MAX_EXAMPLES=200 reliability/schemathesis.sh
#
# Environment: ST_MAX_EXAMPLES (examples per operation and phase, default
# 60), ST_SEED (a fixed seed reproduces a run), ST_WORKERS (default 2).

set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=target/reliability/venv
keyport=target/debug/keyport

# (a) Schemathesis, pinned, in a venv of its own.
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# (b) The debug server, built as every Rust check builds it (the Makefile's SSR).
cargo build -p app -p keyport --features app/ssr --bin keyport

scratch=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export KEYPORT_DATABASE_URL="sqlite://$scratch/keyport.db"
export KEYPORT_MASTER_KEY_FILE="$scratch/master.key"
export KEYPORT_BIND="127.0.0.1:$port"
export KEYPORT_PUBLIC_URL="$base"
export KEYPORT_LOG=${KEYPORT_LOG:-warn}

"$keyport" migrate >/dev/null
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$password" | "$keyport" admin create --email admin@example.com --role super_admin --password-stdin >/dev/null
client=$("$keyport" client create --email admin@example.com --name "Schemathesis" \
    --permissions clients:read,clients:write,audit:read)
client_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])' <<<"$client")
client_secret=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<<"$client")

"$keyport" serve >"$scratch/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$scratch/server.log"; exit 1; }
    sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

# A token for the whole run: one hour, longer than any run here.
token=$(curl -fsS -u "$client_id:$client_secret" -d grant_type=client_credentials "$base/oauth2/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# (c) Every check, a bounded number of examples.
seed=()
[[ -n ${ST_SEED:-} ]] && seed=(--seed "$ST_SEED")
status=0
# From target/reliability, where its caches (.hypothesis, .schemathesis) stay.
cd target/reliability
KEYPORT_FUZZ_CLIENT_ID=$client_id PYTHONPATH="$root/reliability" SCHEMATHESIS_HOOKS=schemathesis_hooks \
    "$root/$venv/bin/schemathesis" --config-file "$root/reliability/schemathesis.toml" \
    run "$base/api/v1/openapi.json" \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples "${ST_MAX_EXAMPLES:-60}" \
    --workers "${ST_WORKERS:-2}" \
    --request-timeout 30 \
    --continue-on-failure \
    --suppress-health-check too_slow \
    --report junit,ndjson --report-dir report \
    "${seed[@]}" || status=$?

cd "$root"
cp "$scratch/server.log" target/reliability/server.log
if grep -q "panicked" "$scratch/server.log"; then
    echo "the server panicked:" >&2
    grep -A5 "panicked" "$scratch/server.log" >&2
    status=1
fi
exit "$status"
