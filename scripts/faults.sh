#!/usr/bin/env bash
# Faults under load: recordUsage with unique idempotency keys over two servers while one is
# killed with SIGKILL, then while the other is stopped with SIGTERM, then a worker SIGTERMed
# while it sends a mail; scripts/faults.py checks that no acknowledged call is lost, that the
# counter holds nothing else, that in-flight requests are answered, and that the mail goes out
# once. Runs on a fresh PostgreSQL database (saaskit_faults, dropped at exit). Run by .ci/run.
#
# Uses the built binary (SAASKIT_BIN, else target/debug/saaskit, built when missing).
# CLUSTER_PG: the PostgreSQL server (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-cluster-db.sh saaskit_faults scripts/faults.py
