#!/usr/bin/env bash
# Instructions per message to read and write each municipal dialect (and Cosmic Link), beside
# raw quick-xml parsing and writing of the same bytes, counted by valgrind (callgrind). Unlike
# time, the counts do not move with the machine's other load, so two builds compare exactly;
# they are not time (vectorised code does more per instruction), so report both.
#
#   scripts/count-instructions.sh                 # every dialect, 10 rounds of its examples
#   DIALECTS="socsys cosmic-link" ROUNDS=20 scripts/count-instructions.sh
#   BENCH=/path/to/municipal-binary scripts/count-instructions.sh   # an older build
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
if [ -z "${BENCH:-}" ]; then
  BENCH=$(cargo bench --bench municipal --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "municipal" and m.get("executable"):
        print(m["executable"])')
fi
ROUNDS=${ROUNDS:-10}
DIALECTS=${DIALECTS:-"$(ls mappings/municipal | grep -v README) cosmic-link"}

# Instructions of `operation` over the dialect's examples, once: `times` rounds minus none.
count() {
  local run
  run() {
    MUNICIPAL_REPEAT="$1:$2:$3" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
      "$BENCH" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
  }
  local all none
  all=$(run "$1" "$2" "$ROUNDS")
  none=$(run "$1" "$2" 0)
  echo $(( (all - none) / ROUNDS ))
}

printf '%-15s %9s %9s %6s %9s %9s %6s   (instructions per message)\n' \
  dialect read raw ratio write raw ratio
for dialect in $DIALECTS; do
  folder=mappings/municipal/$dialect/examples
  [ "$dialect" = cosmic-link ] && folder=mappings/cosmic-link/examples
  n=$(ls "$folder"/*.xml | wc -l)
  read=$(count decode "$dialect"); parse=$(count raw-parse "$dialect")
  write=$(count encode "$dialect"); raw=$(count raw-write "$dialect")
  python3 -c "
n=$n; r,p,w,x=$read/n,$parse/n,$write/n,$raw/n
print(f'{\"$dialect\":15} {r:9,.0f} {p:9,.0f} {r/p:5.2f}x {w:9,.0f} {x:9,.0f} {w/x:5.2f}x')"
done
