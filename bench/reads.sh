#!/usr/bin/env bash
# The read path at two sizes on PostgreSQL (see bench/reads.py): READS_SIZES=1000,100000 by
# default; CI runs READS_SIZES=100,1000 READS_SEQUENTIAL=20 READS_SECONDS=1 as a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
command -v psql >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq postgresql-client >/dev/null; }
BIN="${BENCH_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --quiet --bin saaskit
  BIN=target/release/saaskit
fi
python3 bench/reads.py "$BIN"
