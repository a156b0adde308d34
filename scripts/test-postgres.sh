#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for brygga's test suite.
#
#   eval "$(scripts/test-postgres.sh start)"   # prints: export BRYGGA_TEST_POSTGRES_URL=...
#   scripts/test-postgres.sh stop
#
# The cluster lives in a temporary directory (BRYGGA_TEST_PG_DIR), listens on 127.0.0.1 only
# (BRYGGA_TEST_PG_PORT, default 55432) and on a Unix socket in that directory, and trusts local
# connections. The URL printed is the socket's (a gateway beside its database connects so: a
# tenth less CPU per message than over TCP on loopback in the load harness); the TCP address
# works too. Run as root, the server runs as the `postgres` user, which Debian's postgresql
# package creates.
set -euo pipefail

dir=${BRYGGA_TEST_PG_DIR:-${TMPDIR:-/tmp}/brygga-test-postgres}
port=${BRYGGA_TEST_PG_PORT:-55432}

find_bindir() {
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v pg_ctl)"; return; fi
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$candidate" ] && [ -x "$candidate/pg_ctl" ]; then echo "$candidate"; return; fi
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install them, e.g. apt-get install postgresql-15" >&2
  exit 1
}

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "running as root needs a 'postgres' user to run the server (apt-get install postgresql-15 creates it)" >&2
      exit 1
    fi
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The socket's URL: the directory percent-encoded as the host.
url() {
  local encoded='' c i
  for ((i = 0; i < ${#dir}; i++)); do
    c=${dir:i:1}
    case "$c" in
      [A-Za-z0-9._~-]) encoded+="$c" ;;
      *) encoded+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  echo "export BRYGGA_TEST_POSTGRES_URL=postgres://postgres@$encoded:$port/postgres"
}

start() {
  local bindir
  bindir=$(find_bindir)
  if [ -f "$dir/data/postmaster.pid" ] && as_server_user "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    url
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
  as_server_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null || {
    echo "PostgreSQL did not start; its log follows" >&2
    cat "$dir/server.log" >&2
    exit 1
  }
  url
}

stop() {
  local bindir
  bindir=$(find_bindir)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
