#!/usr/bin/env bash
# Measures the build and test times the README states, on a fresh clone of HEAD (crates from the
# local cargo cache), and rewrites the table between `<!-- timings:begin -->` and
# `<!-- timings:end -->` in README.md:
#
#   1. fresh clone to a serving gateway: the release build (`cargo run --release` builds the
#      same), then `brygga serve` until `/ready` answers;
#   2. fresh clone, `.ci/run`: format, clippy, the test command (its test count and the
#      suite's own time read from cargo-nextest's summary);
#   3. after changing one source file (`src/lib.rs` touched): `scripts/test.sh`.
#
# Takes a quarter of an hour on a 2-core machine. Run it from a clean checkout of what is to be
# measured: it clones HEAD, so uncommitted changes are not measured.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

work=$(mktemp -d)
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
# Seconds between two `now`s, rounded.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", b - a + 0.5 }'; }
# "4 min 53 s" or "44 s".
human() {
  local s=$1
  if [ "$s" -ge 60 ]; then echo "$((s / 60)) min $((s % 60)) s"; else echo "$s s"; fi
}
# The suite's time and test count from cargo-nextest's summary line in a log.
summary() {
  sed -E 's/\x1b\[[0-9;]*m//g' "$1" | grep -E 'Summary \[' | tail -n 1 |
    sed -E 's/.*Summary \[ *([0-9.]+)s\] *([0-9]+) tests? run.*/\1 \2/'
}

echo "cloning HEAD into $work" >&2
git clone -q "$repo" "$work/brygga"
cd "$work/brygga"

echo "1/3 release build and start" >&2
t0=$(now)
cargo build --release --locked --quiet
t1=$(now)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BRYGGA_SERVER__LISTEN=127.0.0.1:$port BRYGGA_DATABASE__URL="sqlite://$work/serve.db" \
  BRYGGA_LOG__LEVEL=warn target/release/brygga serve >"$work/serve.log" 2>&1 &
serve_pid=$!
t2=$(now)
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$port/ready" >/dev/null; then break; fi
  sleep 0.05
done
curl -sf "http://127.0.0.1:$port/ready" >/dev/null || { cat "$work/serve.log" >&2; exit 1; }
t3=$(now)
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
build=$(elapsed "$t0" "$t1")
ready_ms=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }')

echo "2/3 .ci/run" >&2
t0=$(now)
.ci/run >"$work/ci.log" 2>&1 || { tail -n 40 "$work/ci.log" >&2; exit 1; }
t1=$(now)
ci=$(elapsed "$t0" "$t1")
read -r ci_suite ci_tests < <(summary "$work/ci.log")

echo "3/3 scripts/test.sh after one changed file" >&2
touch src/lib.rs
t0=$(now)
scripts/test.sh >"$work/incremental.log" 2>&1 || { tail -n 40 "$work/incremental.log" >&2; exit 1; }
t1=$(now)
incremental=$(elapsed "$t0" "$t1")
read -r inc_suite _ < <(summary "$work/incremental.log")

cores=$(nproc)
today=$(date +%Y-%m-%d)
commit=$(git rev-parse --short HEAD)
table=$(cat <<EOF
| what | command | time |
|---|---|---|
| fresh clone to a serving gateway | \`cargo run --release -- serve\` | $(human "$((build + ${ready_ms%.*}))") (release build $(human "$build"), then ${ready_ms} s to \`/ready\`) |
| fresh clone, the CI script (format, clippy, every test: ${ci_tests}, the suite itself $(printf '%.0f' "$ci_suite") s after the build) | \`.ci/run\` | $(human "$ci") |
| after changing one source file | \`scripts/test.sh\` | $(human "$incremental") (an incremental build, then the $(printf '%.0f' "$inc_suite") s suite) |

Measured on ${today} at commit ${commit} on a ${cores}-core machine by \`scripts/readme-timings.sh\`.
EOF
)

cd "$repo"
python3 - "$table" <<'PY'
import sys
table = sys.argv[1]
path = "README.md"
text = open(path, encoding="utf-8").read()
begin, end = "<!-- timings:begin -->", "<!-- timings:end -->"
if begin not in text or end not in text:
    sys.exit("README.md has no timings markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w", encoding="utf-8").write(f"{head}{begin}\n{table}\n{end}{tail}")
PY
echo "README.md: timings table rewritten" >&2
echo "$table"
