#!/usr/bin/env bash
# Concurrency checker: a seeded randomized workload against saaskit, every call recorded, then
# invariants checked from the database and the history (scripts/checker.py says which).
#
#   CHECKER_DB=postgres (default): two `saaskit serve` nodes on a fresh PostgreSQL database
#     saaskit_checker (scripts/with-cluster-db.sh; dropped at exit, logs kept on failure in
#     target/saaskit_checker-logs);
#   CHECKER_DB=sqlite: one node on a temporary SQLite file (logs kept on failure in
#     target/saaskit_checker_sqlite-logs);
#   CHECKER_DB=both: PostgreSQL then SQLite with the same seed; fails if either fails.
#
# CHECKER_SEED (default: random, printed), CHECKER_SECONDS (workload, default 40),
# CHECKER_BUSINESSES (default 6), CHECKER_CLIENTS (client threads, default 16).
# SAASKIT_BIN selects the binary (default target/debug/saaskit, built when missing).
# A failure prints the line that runs its workload again (CHECKER_SEED=<seed> CHECKER_DB=<db>
# ... scripts/checker.sh); the kept logs hold each node's log, history.jsonl (every call and its
# answer) and violations.txt. scripts/checker-soak.sh is the longer soak.
set -euo pipefail
cd "$(dirname "$0")/.."
export CHECKER_SEED=${CHECKER_SEED:-$(python3 -c 'import random; print(random.SystemRandom().randrange(1, 2**31))')}

postgres() { scripts/with-cluster-db.sh saaskit_checker scripts/checker.py; }

sqlite() {
    local bin=${SAASKIT_BIN:-$PWD/target/debug/saaskit} work status=0
    if [ ! -x "$bin" ]; then
        echo "no saaskit binary at $bin: building it"
        cargo build --bin saaskit
    fi
    work=$(mktemp -d)
    PYTHONDONTWRITEBYTECODE=1 python3 scripts/checker.py "$bin" \
        "sqlite://$work/checker.db?mode=rwc" "$work" || status=$?
    if [ "$status" != 0 ]; then
        rm -rf target/saaskit_checker_sqlite-logs && mkdir -p target \
            && mv "$work" target/saaskit_checker_sqlite-logs \
            && echo "logs kept in target/saaskit_checker_sqlite-logs"
    else
        rm -rf "$work"
    fi
    return "$status"
}

case "${CHECKER_DB:-postgres}" in
    postgres) postgres ;;
    sqlite) sqlite ;;
    both)
        status=0
        postgres || status=1
        sqlite || status=1
        exit "$status"
        ;;
    *) echo "CHECKER_DB must be postgres, sqlite or both" >&2; exit 2 ;;
esac
