#!/usr/bin/env bash
# Installs the third-party tools the API tests run (fhirpy, fhirclient, schemathesis,
# kubernetes-validate; pinned with their dependencies in tests/clients/requirements.txt) into a
# virtual environment under target/, once per change of the pins, and prints its python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-clients
# Tests run in parallel may each ask for it: one installs, the others wait for it.
mkdir -p target
if command -v flock >/dev/null 2>&1; then
  exec 9>target/python-clients.lock
  flock 9
fi
stamp=$venv/installed-requirements.txt
if [ ! -x "$venv/bin/python" ] || ! cmp -s tests/clients/requirements.txt "$stamp"; then
  echo "installing the Python clients for the tests into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/clients/requirements.txt >&2
  cp tests/clients/requirements.txt "$stamp"
fi
echo "$PWD/$venv/bin/python"
