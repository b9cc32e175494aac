#!/usr/bin/env bash
# with-cluster-db.sh DBNAME DRIVER: runs a Python driver (scripts/cluster.py, scripts/faults.py)
# against a fresh PostgreSQL database DBNAME, dropped at exit however the driver ends, with the
# saaskit binary and a temporary directory for the nodes' mail and logs (kept on failure in
# target/DBNAME-logs).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
driver=$2

bin=${SAASKIT_BIN:-$PWD/target/debug/saaskit}
if [ ! -x "$bin" ]; then
    echo "no saaskit binary at $bin: building it"
    cargo build --bin saaskit
fi
command -v psql >/dev/null || { echo "psql is missing (apt-get install postgresql-client)" >&2; exit 1; }
scripts/ensure-postgres.sh >/dev/null
pg=${CLUSTER_PG:-postgres://postgres@127.0.0.1:5432}

work=$(mktemp -d)
drop() { psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
cleanup() {
    status=$?
    drop
    if [ "$status" != 0 ]; then
        rm -rf "target/$db-logs" && mkdir -p target && mv "$work" "target/$db-logs" \
            && echo "logs kept in target/$db-logs"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
drop
psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
PYTHONDONTWRITEBYTECODE=1 python3 "$driver" "$bin" "$pg/$db" "$work"
