#!/usr/bin/env bash
# Runs every fuzz target briefly (SECONDS_PER_TARGET, default 10) on its corpus, where a
# nightly toolchain is installed; installs cargo-fuzz when missing. New inputs go to a
# temporary folder, so the checked-in corpora are only read. Exits 1 on a crash or a broken
# invariant, naming the target; the input is kept under fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh           every target
#   scripts/fuzz-smoke.sh xml auth  some
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: no nightly toolchain (cargo +nightly); the corpora were replayed by the tests on stable"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz
fi

seconds=${SECONDS_PER_TARGET:-10}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml cosmic_link municipal fhir fhir_consent canonical auth config riv)

# Unoptimised: quicker to build than the campaign's release build, and enough for a smoke run.
cargo +nightly fuzz build --dev -s none -a
bin=target/x86_64-unknown-linux-gnu/debug
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "artifacts/$target"
  if ! "$bin/$target" "$scratch/$target" "corpus/$target" -max_total_time="$seconds" \
    -timeout=5 -malloc_limit_mb=64 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="artifacts/$target/" >"$scratch/$target.log" 2>&1; then
    tail -n 40 "$scratch/$target.log"
    echo "fuzz-smoke: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  echo "fuzz-smoke: $target: $(grep -Eo 'stat::number_of_executed_units: [0-9]+|Done [0-9]+ runs' "$scratch/$target.log" | tail -n 1)"
done
