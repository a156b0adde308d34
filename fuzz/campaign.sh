#!/usr/bin/env bash
# Runs the fuzz campaign: each target for RUNS executions (default 10,000,000) on its corpus,
# two targets at a time, then minimises each corpus (cmin) so that only inputs that add
# coverage are kept. Needs a nightly toolchain (`cargo +nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`). Logs go to fuzz/logs/<target>.log; FUZZING.md tables them.
#
#   fuzz/campaign.sh                 every target
#   RUNS=100000 fuzz/campaign.sh xml auth
set -euo pipefail
cd "$(dirname "$0")"

runs=${RUNS:-10000000}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(municipal config fhir xml canonical auth cosmic_link fhir_consent riv)
mkdir -p logs


# The limits every run keeps: an input may take at most one second (libFuzzer counts whole
# seconds; FUZZING.md gives the slowest seen) and allocate at most 64 MB at once.
export FLAGS="-timeout=1 -malloc_limit_mb=64 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1"
export RUNS=$runs
export BIN=target/x86_64-unknown-linux-gnu/release

cargo +nightly fuzz build -s none -a

run() {
  local target=$1 dict=""
  case "$target" in
    xml | cosmic_link | municipal | riv) dict="-dict=dict/xml.dict" ;;
    fhir | fhir_consent | canonical) dict="-dict=dict/json.dict" ;;
    config) dict="-dict=dict/toml.dict" ;;
  esac
  mkdir -p "artifacts/$target"
  # shellcheck disable=SC2086
  "$BIN/$target" "corpus/$target" -runs="$RUNS" $FLAGS $dict \
    -artifact_prefix="artifacts/$target/" >"logs/$target.log" 2>&1 || true
}
export -f run

# Two at a time (the build machine's cores), the slowest first.
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'run {}'

# Keep only the inputs that add coverage (what `cargo fuzz cmin` does).
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target"
  rm -rf "corpus/$target.min"
  mkdir "corpus/$target.min"
  # shellcheck disable=SC2086
  "$BIN/$target" -merge=1 $FLAGS "corpus/$target.min" "corpus/$target" >"logs/$target.cmin.log" 2>&1
  rm -rf "corpus/$target"
  mv "corpus/$target.min" "corpus/$target"
done
