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
[ ${#targets[@]} -gt 0 ] || targets=(xml cosmic_link municipal fhir fhir_consent canonical auth config)
mkdir -p logs

dict_of() {
  case "$1" in
    xml | cosmic_link | municipal) echo "-dict=dict/xml.dict" ;;
    fhir | fhir_consent | canonical) echo "-dict=dict/json.dict" ;;
    config) echo "-dict=dict/toml.dict" ;;
    *) echo "" ;;
  esac
}

# The limits every run keeps: an input may take at most one second (libFuzzer counts whole
# seconds; FUZZING.md gives the slowest seen) and allocate at most 64 MB at once.
flags=(-timeout=1 -malloc_limit_mb=64 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1)

cargo +nightly fuzz build -s none -a

run() {
  local target=$1
  # shellcheck disable=SC2046
  cargo +nightly fuzz run -s none -a "$target" "corpus/$target" -- \
    -runs="$runs" "${flags[@]}" $(dict_of "$target") >"logs/$target.log" 2>&1
}

pending=("${targets[@]}")
while [ ${#pending[@]} -gt 0 ]; do
  run "${pending[0]}" &
  first=$!
  if [ ${#pending[@]} -gt 1 ]; then
    run "${pending[1]}" &
    second=$!
    wait "$second"
  fi
  wait "$first"
  pending=("${pending[@]:2}")
done

for target in "${targets[@]}"; do
  cargo +nightly fuzz cmin -s none -a "$target" "corpus/$target" >"logs/$target.cmin.log" 2>&1
done
