#!/usr/bin/env bash
# Build an earlier commit of fast-langgraph into its own virtualenv, outside the
# repository, so that the benchmark can measure it side by side with the tree:
#
#   benchmarks/before.sh [REV] [PREFIX]           # defaults: 1d75a4f /tmp/before
#   python -m benchmarks --python-for before=PREFIX-venv/bin/python
#
# PREFIX gets the sources of REV (git archive), PREFIX-venv the interpreter with
# REV's pinned test requirements, the bench requirements, and REV's three packages:
# fast-langgraph, fast-langgraph-pure (mypyc-compiled unless FAST_LANGGRAPH_MYPYC=0)
# and fast-langgraph-rs, built in release mode by maturin against the system
# libsqlite3 (needs cargo and the sqlite3 headers: apt-get install -y libsqlite3-dev).
# REV=WORKTREE takes the working tree instead, uncommitted changes included, so that
# the tree can be measured as users install it (not as an editable dev install).
# 1d75a4f is the last commit with the Rust storage engine (rusqlite).
# Rerunning rebuilds both from scratch.
set -euo pipefail

rev="${1:-1d75a4f}"
prefix="${2:-/tmp/before}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
export FAST_LANGGRAPH_MYPYC="${FAST_LANGGRAPH_MYPYC:-1}"

case "$prefix" in
  "$repo"|"$repo"/*) echo "before.sh: PREFIX must be outside the repository" >&2; exit 2 ;;
esac

if [ ! -e /usr/include/sqlite3.h ]; then
  echo "before.sh: sqlite3.h missing: apt-get install -y libsqlite3-dev" >&2
  exit 2
fi

echo "before.sh: $rev -> $prefix (sources), $prefix-venv (interpreter)" >&2
rm -rf "$prefix" "$prefix-venv"
mkdir -p "$prefix"
if [ "$rev" = WORKTREE ]; then
  # Tracked and untracked files that git does not ignore, as they are on disk.
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -c) | tar -x -C "$prefix"
  commit="$(git -C "$repo" rev-parse HEAD)+worktree"
else
  git -C "$repo" archive "$rev" | tar -x -C "$prefix"
  commit="$(git -C "$repo" rev-parse "$rev")"
fi
echo "$commit" > "$prefix/COMMIT"

"$python" -m venv "$prefix-venv"
pip=("$prefix-venv/bin/python" -m pip install --quiet)
"${pip[@]}" --upgrade pip
"${pip[@]}" -r "$prefix/tests/requirements.txt" -r "$repo/benchmarks/requirements.txt"
"${pip[@]}" --no-deps "$prefix/packages/fast-langgraph-pure" "$prefix/packages/fast-langgraph"
# The Rust extension: maturin is fetched by pip as the build backend (release
# build). Its cargo target directory stays under PREFIX, away from the tree's.
CARGO_TARGET_DIR="$prefix/target" "${pip[@]}" --no-deps "$prefix/packages/fast-langgraph-rs"
# The benchmark workers report the commit their interpreter was built from.
echo "$commit" > "$prefix-venv/FAST_LANGGRAPH_COMMIT"

FAST_LANGGRAPH_IMPL=rust "$prefix-venv/bin/python" -c '
import fast_langgraph, fast_langgraph_pure
assert fast_langgraph.__impl__ == "rust", fast_langgraph.__impl__
print("before.sh: fast_langgraph.__impl__ =", fast_langgraph.__impl__,
      "; engine compiled:", getattr(fast_langgraph_pure, "COMPILED", "?"))'
echo "$prefix-venv/bin/python"
