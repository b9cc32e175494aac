#!/usr/bin/env bash
# Scale-out proof: two `saaskit serve --no-worker` and two `saaskit worker` on loopback ports
# against one fresh PostgreSQL database (saaskit_cluster, dropped at exit), sharing the root key
# and nothing else; scripts/cluster.py checks the usage limit race, revocation across nodes,
# renewals by two workers and one invitation mail, printing each figure. Run by .ci/run.
#
# Uses the built binary (SAASKIT_BIN, else target/debug/saaskit, built when missing).
# CLUSTER_PG: the PostgreSQL server (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-cluster-db.sh saaskit_cluster scripts/cluster.py
