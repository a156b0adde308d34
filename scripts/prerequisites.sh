#!/usr/bin/env bash
# Installs, when missing, everything brygga's tests need beyond the Rust toolchain, the same way
# on every machine; scripts/test.sh and .ci/run both call it. Each prerequisite is checked first
# and installed only when absent:
#
#   xmllint                      Debian libxml2-utils    the XSD checks of the XML contracts
#   initdb, pg_ctl               Debian postgresql       the PostgreSQL half of the store suite
#   promtool, prometheus         Debian prometheus       the alert rules' checks and a real scrape
#   systemd-analyze              Debian systemd          the systemd unit's verification
#   chromium                     Debian chromium         the web console's browser tests
#   node, npm                    Debian nodejs, npm      running playwright-core against it
#   playwright-core, axe-core    the npm registry, pinned in tests/browser/package-lock.json
#   python3 -m venv, pip         Debian python3-venv     the Python clients of the API tests
#   fhirpy, fhirclient,          the Python package index, pinned in tests/clients/requirements.txt
#   schemathesis (and deps)
#   the previous release's brygga   built from git at deploy/upgrade/previous-release, for the
#                                rolling-upgrade test (scripts/previous-release.sh)
#
# Debian packages are installed with apt-get as root (or through passwordless sudo). When a
# prerequisite is missing and cannot be installed (no root, no package index), the script stops
# at once with one line saying what to install, and exits 1.
#
#   scripts/prerequisites.sh           install what is missing
#   scripts/prerequisites.sh --check   only report what is missing (exit 1 if anything is)
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { echo "prerequisites: $*" >&2; }
fail() { echo "prerequisites: $*" >&2; exit 1; }

have_postgres_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]
}

# As root the server runs as `postgres`, which Debian's package creates.
have_postgres_user() {
  [ "$(id -u)" -ne 0 ] || id postgres >/dev/null 2>&1
}

have_python_venv() {
  command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' >/dev/null 2>&1
}

# Debian packages still to install, as "package:what it provides".
missing=()
command -v xmllint >/dev/null 2>&1 || missing+=("libxml2-utils:xmllint")
{ have_postgres_server && have_postgres_user; } || missing+=("postgresql:the PostgreSQL server binaries (initdb, pg_ctl)")
have_python_venv || missing+=("python3-venv:Python 3 with venv and pip")
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } ||
  missing+=("prometheus:promtool and the Prometheus server")
command -v systemd-analyze >/dev/null 2>&1 || missing+=("systemd:systemd-analyze")
command -v chromium >/dev/null 2>&1 || missing+=("chromium:the Chromium browser")
command -v node >/dev/null 2>&1 || missing+=("nodejs:Node.js")
command -v npm >/dev/null 2>&1 || missing+=("npm:npm")

if [ ${#missing[@]} -gt 0 ]; then
  packages=()
  for entry in "${missing[@]}"; do packages+=("${entry%%:*}"); done
  if $check_only; then
    for entry in "${missing[@]}"; do say "missing ${entry#*:} (Debian package ${entry%%:*})"; done
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    apt=(sudo -n apt-get)
  else
    fail "missing ${missing[0]#*:}: install it with 'apt-get install ${packages[*]}' as root (or run this as root)"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    fail "missing ${missing[0]#*:}: install the packages ${packages[*]} (or their equivalents) with this system's package manager"
  fi
  say "installing ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The package lists are refreshed once, and only when a package is not found without it.
  if ! "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null 2>&1; then
    "${apt[@]}" update -qq >/dev/null 2>&1 || fail "cannot reach the Debian package index to install ${packages[*]}; install them by hand"
    "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null ||
      fail "apt-get could not install ${packages[*]}; install them by hand"
  fi
  command -v xmllint >/dev/null 2>&1 || fail "xmllint is still missing after installing libxml2-utils"
  have_postgres_server || fail "the PostgreSQL server binaries are still missing after installing postgresql"
  have_postgres_user || fail "there is no 'postgres' user to run the test server as; create one or install postgresql"
  have_python_venv || fail "python3 -m venv still fails after installing python3-venv"
  command -v promtool >/dev/null 2>&1 || fail "promtool is still missing after installing prometheus"
  command -v chromium >/dev/null 2>&1 || fail "chromium is still missing after installing it"
fi

# The Python clients (fhirpy, fhirclient, schemathesis), into target/python-clients (once per
# change of the pins).
if $check_only; then
  venv=target/python-clients
  if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/clients/requirements.txt "$venv/installed-requirements.txt"; then
    say "missing the Python clients of the API tests (scripts/python-clients.sh installs them)"
    exit 1
  fi
  if [ ! -d target/browser-tools/node_modules/playwright-core ] || ! cmp -s tests/browser/package-lock.json target/browser-tools/installed-package-lock.json; then
    say "missing the browser tests' tools (scripts/browser-tools.sh installs them)"
    exit 1
  fi
  scripts/previous-release.sh --check || exit 1
  exit 0
fi
scripts/python-clients.sh >/dev/null ||
  fail "could not install the Python clients of the API tests from the package index (tests/clients/requirements.txt); check that pip can reach it"
scripts/browser-tools.sh >/dev/null ||
  fail "could not install the browser tests' tools from the npm registry (tests/browser/package-lock.json); check that npm can reach it"
scripts/previous-release.sh >/dev/null ||
  fail "could not build the previous release's brygga (scripts/previous-release.sh) for the rolling-upgrade test"
