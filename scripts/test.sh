#!/usr/bin/env bash
# brygga's test command: installs what the tests need when it is missing
# (scripts/prerequisites.sh), starts a throwaway PostgreSQL cluster (unless
# BRYGGA_TEST_POSTGRES_URL points at one already), runs every test against SQLite and
# PostgreSQL, and stops the cluster. Arguments are passed to cargo nextest (or cargo test).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/prerequisites.sh

if [ -z "${BRYGGA_TEST_POSTGRES_URL:-}" ]; then
  eval "$(scripts/test-postgres.sh start)"
  trap 'scripts/test-postgres.sh stop' EXIT
fi
export BRYGGA_TEST_POSTGRES_URL

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
