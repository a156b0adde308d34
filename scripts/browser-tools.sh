#!/usr/bin/env bash
# Installs the browser tests' tools (playwright-core, axe-core; pinned in
# tests/browser/package.json and package-lock.json) into target/browser-tools with npm, once per
# change of the pins, and prints the folder. The browser itself is Debian's chromium
# (scripts/prerequisites.sh installs it); playwright-core downloads none.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/browser-tools
mkdir -p target
# Tests run in parallel may each ask for it: one installs, the others wait for it.
if command -v flock >/dev/null 2>&1; then
  exec 9>target/browser-tools.lock
  flock 9
fi
stamp=$tools/installed-package-lock.json
if [ ! -d "$tools/node_modules/playwright-core" ] || ! cmp -s tests/browser/package-lock.json "$stamp"; then
  echo "installing the browser tests' tools into $tools" >&2
  rm -rf "$tools"
  mkdir -p "$tools"
  cp tests/browser/package.json tests/browser/package-lock.json "$tools/"
  (cd "$tools" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
  cp tests/browser/package-lock.json "$stamp"
fi
echo "$PWD/$tools"
