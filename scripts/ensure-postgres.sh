#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for user `postgres`
# and a database `test` — starting it if it is installed but down, installing it from Debian's
# packages if it is missing. Used by .ci/run; safe to run again.
set -euo pipefail

PGHOST=127.0.0.1
PGPORT=5432

ready() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is not installed; installing it from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  installed_here=1
fi

if ! ready; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "ensure-postgres: no PostgreSQL cluster is configured in /etc/postgresql" >&2
    exit 1
  fi
  if [ "${installed_here:-0}" = 1 ]; then
    # A fresh install asks for passwords on TCP; tests connect as `postgres` without one,
    # from this machine only.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  echo "ensure-postgres: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi

if ! ready; then
  echo "ensure-postgres: PostgreSQL does not answer on $PGHOST:$PGPORT" >&2
  exit 1
fi

if ! psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc \
  "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
  psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc "CREATE DATABASE test"
fi
echo "ensure-postgres: PostgreSQL is ready at postgres://postgres@$PGHOST:$PGPORT/test"
