#!/usr/bin/env bash
# Fuzzes the GraphQL API with schemathesis (a fuzzer nobody here wrote), generating documents
# from schema.graphql, against a saaskit of its own: once with an owner's token, once with the
# SDK key, once with a staff token. The check is ours, not schemathesis's exit code (its
# `not_a_server_error` also flags ordinary GraphQL errors): no HTTP 5xx in any run, recorded as
# HAR, and no panic in the server's log.
#
# Uses the built binary (SAASKIT_BIN, else target/debug/saaskit: `cargo build` first).
# FUZZ_EXAMPLES: cases per root field and run (default 12); FUZZ_SECONDS: time cap per run (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bin=${SAASKIT_BIN:-$root/target/debug/saaskit}
[ -x "$bin" ] || { echo "no saaskit binary at $bin: run cargo build first" >&2; exit 1; }
examples=${FUZZ_EXAMPLES:-12}
seconds=${FUZZ_SECONDS:-60}
out=$root/target/fuzz
venv=$root/target/fuzz-venv

python3 -c 'import venv, ensurepip' 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q '4.32.5'; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/fuzz-requirements.txt
fi

rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

staff_email=staff@example.com
staff_password='staff password 1'
(
    cd "$work"
    exec env -i PATH="$PATH" \
        DATABASE_URL="sqlite://$work/saaskit.db?mode=rwc" \
        SAASKIT_ENV=production \
        SAASKIT_BIND=127.0.0.1:0 \
        SAASKIT_ROOT_KEY="$("$bin" keygen)" \
        SAASKIT_MAIL_DIR="$work/mail-outbox" \
        SAASKIT_BOOTSTRAP_STAFF_EMAIL="$staff_email" \
        SAASKIT_BOOTSTRAP_STAFF_PASSWORD="$staff_password" \
        SAASKIT_AUTH_ATTEMPTS_PER_MINUTE=100000 \
        RUST_LOG=info,sqlx=warn,sea_orm=warn \
        "$bin" serve
) > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$out/server.log" | head -n 1 | cut -d' ' -f3) || true
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$out/server.log"; exit 1; }
    sleep 0.2
done
[ -n "$url" ] || { echo "saaskit did not start" >&2; cat "$out/server.log"; exit 1; }
echo "saaskit at $url (log: target/fuzz/server.log)"

gql() { # gql QUERY [TOKEN] -> the response body
    curl -sS "$url/graphql" -H 'content-type: application/json' \
        ${2:+-H "authorization: Bearer $2"} -d "$1"
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

owner=$(gql '{"query":"mutation { signup(input: {email: \"fuzz@example.com\", password: \"correct horse battery\", name: \"Fuzz\", businessName: \"Fuzz Inc\"}) { token } }"}' \
    | field '["data"]["signup"]["token"]')
sdk=$(gql '{"query":"{ business { apiKey } }"}' "$owner" | field '["data"]["business"]["apiKey"]')
staff=$(gql "{\"query\":\"mutation { login(input: {email: \\\"$staff_email\\\", password: \\\"$staff_password\\\"}) { token } }\"}" \
    | field '["data"]["login"]["token"]')

# Each caller keeps its token: no logout, and the owner neither rotates the SDK key nor
# changes the password that the run's other requests rely on.
fuzz() { # fuzz NAME TOKEN EXCLUDED-ROOT-FIELDS-REGEX
    local name=$1 token=$2 exclude=$3
    echo "==> schemathesis as $name ($examples cases per root field)"
    # Run from target/fuzz, where schemathesis keeps its .schemathesis/ cache.
    (cd "$out" && "$venv/bin/schemathesis" run "$root/schema.graphql" --url "$url/graphql" \
        -H "Authorization: Bearer $token" \
        --exclude-name-regex "$exclude" \
        --checks not_a_server_error \
        --max-examples "$examples" --max-time "$seconds" --seed 20261127 \
        --workers 2 --no-shrink --no-color --generation-database none \
        --suppress-health-check all --request-timeout 30 \
        --report har --report-har-path "$out/$name.har" --report-dir "$out" \
        > "$out/$name.txt" 2>&1) || true
    tail -n 6 "$out/$name.txt"
}
fuzz owner "$owner" '(logout|logoutEverywhere|rotateApiKey|changePassword)$'
fuzz sdk "$sdk" '(logout|logoutEverywhere)$'
fuzz staff "$staff" '(logout|logoutEverywhere|changePassword)$'

python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
total = 0
bad = []
for har in sorted(out.glob("*.har")):
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = [e["response"]["status"] for e in entries]
    total += len(statuses)
    fivexx = [e for e in entries if e["response"]["status"] >= 500 or e["response"]["status"] == 0]
    print(f"{har.stem}: {len(statuses)} requests, {len(fivexx)} with 5xx/no response")
    bad += [(har.stem, e["response"]["status"], e["request"].get("postData", {}).get("text", "")[:300]) for e in fivexx]
    if len(statuses) < 100:
        bad.append((har.stem, "too few requests", len(statuses)))
for item in bad:
    print("FAIL", *item)
sys.exit(1 if bad or total == 0 else 0)
PY
if grep -n 'panicked' "$out/server.log"; then
    echo "FAIL: saaskit panicked (target/fuzz/server.log)" >&2
    exit 1
fi
echo "fuzz: 3 passed, 0 failed"
