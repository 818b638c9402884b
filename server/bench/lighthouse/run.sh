#!/usr/bin/env bash
# make bench: Lighthouse on a release node (target/release/keyport and the
# site beside it, as `make site` builds them) on a scratch SQLite file,
# signed in as a fresh super admin. The table goes to stdout and to
# target/bench/lighthouse.md.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../../.. && pwd)
scratch=$(mktemp -d)
port=${LIGHTHOUSE_PORT:-3390}
base="http://127.0.0.1:$port"
password="lighthouse password, used for nothing else"
export KEYPORT_DATABASE_URL="sqlite://$scratch/keyport.db" \
    KEYPORT_MASTER_KEY_FILE="$scratch/master.key" \
    KEYPORT_BIND="127.0.0.1:$port" \
    KEYPORT_LOG=warn \
    LEPTOS_SITE_ROOT="$root/target/site"
server=
trap '[ -n "$server" ] && kill "$server"; rm -rf "$scratch"' EXIT

echo "$password" | "$root/target/release/keyport" admin create \
    --email lighthouse@keyport.test --role super_admin --password-stdin >/dev/null
"$root/target/release/keyport" serve >/dev/null &
server=$!
for _ in $(seq 100); do
    curl -fs "$base/healthz" >/dev/null && break
    sleep 0.1
done
cookie=$(curl -fs -o /dev/null -D - "$base/rpc/sign_in" \
    -H "Origin: $base" -H "Accept: application/json" \
    --data-urlencode "email=lighthouse@keyport.test" --data-urlencode "password=$password" |
    grep -io 'keyport_session=[^;]*')

mkdir -p "$root/target/bench"
node_modules/.bin/node audit.mjs "$base" "$cookie" | tee "$root/target/bench/lighthouse.md"
