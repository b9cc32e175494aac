#!/usr/bin/env bash
# The JavaScript tests (tests/js): graphql-js validation of examples/operations and of the live
# schema, a graphql-request client running the dashboard flow, and GraphiQL in headless
# Chromium. Each test file starts its own saaskit from the built binary (SAASKIT_BIN, else
# target/debug/saaskit: `cargo build` first).
#
# Installs what is missing: Node.js and npm, Debian's chromium and chromium-driver (never a
# browser download), and the node packages of tests/js/package-lock.json (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SAASKIT_BIN:-$PWD/target/debug/saaskit}
[ -x "$bin" ] || { echo "no saaskit binary at $bin: run cargo build first" >&2; exit 1; }
export SAASKIT_BIN=$bin

missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cd tests/js
# puppeteer-core never downloads a browser; the variable keeps any plain puppeteer quiet too.
PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs
