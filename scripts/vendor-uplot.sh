#!/usr/bin/env bash
# Vendors the console's chart library, uPlot, from the npm registry into
# src/http/console/assets/: the pinned version, its tarball checked against the registry's
# integrity (sha512), the minified IIFE build, its style sheet and its licence. Run only to
# change the version; the files are checked in, so building needs no network.
set -euo pipefail
VERSION=1.6.32
INTEGRITY='sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=='
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
TARBALL="uplot-$VERSION.tgz"
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$ACTUAL" != "$INTEGRITY" ]; then
  echo "uplot@$VERSION: integrity $ACTUAL, expected $INTEGRITY" >&2
  exit 1
fi
tar xzf "$TARBALL"
ASSETS="$ROOT/src/http/console/assets"
cp package/dist/uPlot.iife.min.js "$ASSETS/uPlot.iife.min.js"
cp package/dist/uPlot.min.css "$ASSETS/uPlot.min.css"
cp package/LICENSE "$ASSETS/uPlot.LICENSE"
echo "uplot@$VERSION vendored into src/http/console/assets/"
