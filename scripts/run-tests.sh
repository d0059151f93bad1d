#!/usr/bin/env bash
# `make test`: bring up the real services the integration tests use, then run pytest.
#
# Kafka (scripts/kafka.sh) and PostgreSQL (scripts/postgres.sh) are started when this
# machine can run them. Where it cannot, their tests skip with the reason — unless
# LAKEHOUSE_REQUIRE_KAFKA=1 / LAKEHOUSE_REQUIRE_POSTGRES=1 (CI sets both), which turn a
# missing service into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV:-.venv}/bin"

if bash scripts/kafka.sh start; then
  export LAKEHOUSE_KAFKA__BOOTSTRAP="${LAKEHOUSE_KAFKA__BOOTSTRAP:-127.0.0.1:9092}"
  export LAKEHOUSE_TEST_KAFKA=1
elif [ "${LAKEHOUSE_REQUIRE_KAFKA:-0}" = "1" ]; then
  echo "Kafka is required (LAKEHOUSE_REQUIRE_KAFKA=1) but could not be started" >&2
  exit 1
fi

if bash scripts/postgres.sh start; then
  export LAKEHOUSE_TEST_POSTGRES_URL="${LAKEHOUSE_TEST_POSTGRES_URL:-$(bash scripts/postgres.sh url)}"
elif [ "${LAKEHOUSE_REQUIRE_POSTGRES:-0}" = "1" ]; then
  echo "PostgreSQL is required (LAKEHOUSE_REQUIRE_POSTGRES=1) but could not be started" >&2
  exit 1
fi

exec "$BIN/pytest" -q "$@"
