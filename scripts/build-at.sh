#!/usr/bin/env bash
# Builds the asiarch program as it was at a git revision, in a worktree beside this checkout, and
# prints the program's path: the "code before" that bench/discovery_throughput compares against.
#   bash scripts/build-at.sh REV    (e.g. d774b79, the code before issue 29)
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:?usage: scripts/build-at.sh REV}"
dir="${ASIARCH_WORKTREES:-/tmp}/asiarch-at-$(git rev-parse --short "$rev")"
[ -d "$dir" ] || git worktree add --detach "$dir" "$rev" >&2
bash "$dir/scripts/build.sh" asiarch >&2
echo "$dir/build/asiarch"
