#!/usr/bin/env bash
# Builds the previous release's `brygga` (the commit deploy/upgrade/previous-release names) into
# target/previous-release/brygga, for the rolling-upgrade test (tests/api/upgrades.rs). Built
# once per commit, from `git archive` of that commit, in a target folder of its own (so the
# build under test is never touched); a shallow clone fetches the commit first. Prints the
# binary's path.
#
#   scripts/previous-release.sh           build it if missing; print its path
#   scripts/previous-release.sh --check   exit 1 if it is not built
set -euo pipefail
cd "$(dirname "$0")/.."

out="$PWD/target/previous-release"
commit=$(grep -v '^#' deploy/upgrade/previous-release | grep -m1 -E '^[0-9a-f]{40}$' || true)
[ -n "$commit" ] || { echo "previous-release: deploy/upgrade/previous-release names no commit" >&2; exit 1; }

built() { [ -x "$out/brygga" ] && [ "$(cat "$out/commit" 2>/dev/null)" = "$commit" ]; }
if [ "${1:-}" = "--check" ]; then
  built || { echo "previous-release: the build of $commit is missing (scripts/previous-release.sh)" >&2; exit 1; }
  exit 0
fi

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if ! built; then
  if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "previous-release: fetching $commit (a shallow clone)" >&2
    git fetch --quiet --depth=1 origin "$commit" || {
      echo "previous-release: commit $commit is not in this clone and cannot be fetched; clone with history (git fetch --unshallow)" >&2
      exit 1
    }
  fi
  echo "previous-release: building brygga at ${commit:0:12}" >&2
  rm -rf "$out/src"
  mkdir -p "$out/src"
  git archive "$commit" | tar -x -C "$out/src"
  BUILD_GIT_COMMIT="${commit:0:12}" CARGO_TARGET_DIR="$out/target" CARGO_PROFILE_DEV_DEBUG=0 \
    cargo build --quiet --locked --bin brygga --manifest-path "$out/src/Cargo.toml"
  cp "$out/target/debug/brygga" "$out/brygga.new"
  mv "$out/brygga.new" "$out/brygga"
  echo "$commit" > "$out/commit"
fi
echo "$out/brygga"
