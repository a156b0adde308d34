#!/usr/bin/env bash
# brygga's test command: starts a throwaway PostgreSQL cluster (unless BRYGGA_TEST_POSTGRES_URL
# points at one already), installs the Python FHIR client the API tests use, runs every test
# against SQLite and PostgreSQL, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BRYGGA_TEST_POSTGRES_URL:-}" ]; then
  eval "$(scripts/test-postgres.sh start)"
  trap 'scripts/test-postgres.sh stop' EXIT
fi
export BRYGGA_TEST_POSTGRES_URL

# The Python FHIR client (fhirpy) the API tests drive against the gateway.
scripts/python-clients.sh >/dev/null

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
