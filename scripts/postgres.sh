#!/usr/bin/env bash
# A real PostgreSQL for the metadata store's tests, from Debian's packages.
#
#   scripts/postgres.sh start    install (as root, if missing), start, create role and database
#   scripts/postgres.sh stop
#   scripts/postgres.sh status
#   scripts/postgres.sh url      print the SQLAlchemy URL the tests use
#
# The server listens on 127.0.0.1 only. Role/password/database: lakehouse/lakehouse/lakehouse_test
# (override with LAKEHOUSE_PG_PORT, LAKEHOUSE_PG_DB).
set -euo pipefail

PORT="${LAKEHOUSE_PG_PORT:-5432}"
DB="${LAKEHOUSE_PG_DB:-lakehouse_test}"
URL="postgresql+psycopg://lakehouse:lakehouse@127.0.0.1:${PORT}/${DB}"

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1; }

install() {
  if [ -n "$(pg_version)" ]; then return; fi
  if [ "$(id -u)" != "0" ]; then
    echo "PostgreSQL is not installed; run as root: apt-get update && apt-get install -y postgresql" >&2
    exit 2
  fi
  echo "installing PostgreSQL from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
}

as_postgres() {
  if [ "$(id -u)" = "0" ]; then su postgres -c "$*"; else bash -c "$*"; fi
}

start() {
  install
  local ver; ver="$(pg_version)"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$ver main"; then
    pg_createcluster "$ver" main -p "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  fi
  local conf="/etc/postgresql/$ver/main/postgresql.conf"
  if ! grep -q "^listen_addresses = '127.0.0.1'" "$conf"; then
    echo "listen_addresses = '127.0.0.1'" >>"$conf"
  fi
  if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$ver" main start
  fi
  for _ in $(seq 1 30); do
    as_postgres "psql -p $PORT -tAc 'select 1'" >/dev/null 2>&1 && break
    sleep 1
  done
  as_postgres "psql -p $PORT -tAc \"select 1 from pg_roles where rolname='lakehouse'\"" | grep -q 1 ||
    as_postgres "psql -p $PORT -qc \"create role lakehouse login password 'lakehouse' createdb\""
  as_postgres "psql -p $PORT -tAc \"select 1 from pg_database where datname='$DB'\"" | grep -q 1 ||
    as_postgres "psql -p $PORT -qc \"create database $DB owner lakehouse\""
  # The tests reset the database's public schema, so the role must own both.
  as_postgres "psql -p $PORT -qc \"alter database $DB owner to lakehouse\""
  as_postgres "psql -p $PORT -d $DB -qc \"alter schema public owner to lakehouse\""
  echo "PostgreSQL $ver running on 127.0.0.1:$PORT — LAKEHOUSE_TEST_POSTGRES_URL=$URL"
}

case "${1:-}" in
  start) start ;;
  stop) ver="$(pg_version)"; [ -n "$ver" ] && pg_ctlcluster "$ver" main stop || true ;;
  status) pg_lsclusters 2>/dev/null || { echo "PostgreSQL is not installed"; exit 1; } ;;
  url) echo "$URL" ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
