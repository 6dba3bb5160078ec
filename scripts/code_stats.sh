#!/usr/bin/env bash
# Code figures that doc/engine.md records: lines per folder of src/, the longest functions,
# functions over 80 lines in src/stages and src/train, and the folder-level include graph.
# Usage: scripts/code_stats.sh [N]   (N longest functions, default 15). Reads only.
set -euo pipefail
cd "$(dirname "$0")/.."
top=${1:-15}
echo "## lines per folder (src/)"
for d in $(find src -type d | sort); do
    n=$(find "$d" -maxdepth 1 -name '*.[ch]' | xargs -r cat | wc -l)
    f=$(find "$d" -maxdepth 1 -name '*.[ch]' | wc -l)
    [ "$f" -gt 0 ] && printf '%-22s %3d files %6d lines\n' "$d" "$f" "$n"
done
printf '%-22s %3d files %6d lines\n' "src (all)" "$(find src -name '*.[ch]' | wc -l)" \
    "$(find src -name '*.[ch]' | xargs cat | wc -l)"
# A function: a line at column 0 that opens a body with '{' (clang-format style), up to the
# next line that is a lone '}' at column 0.
funcs() {
    find src -name '*.c' | sort | xargs awk '
        FNR == 1 { name = ""; pend = "" }
        /^[A-Za-z_][^;=]*\(/ && !/;/ { pend = $0; pline = FNR }
        pend != "" && /\{ *$/ {
            s = pend; sub(/\(.*/, "", s); n = split(s, w, /[ *]+/); name = w[n]; start = pline
            pend = ""; next }
        pend != "" && /;/ { pend = "" }
        /^\}/ && name != "" { printf "%5d %s:%d %s\n", FNR - start + 1, FILENAME, start, name; name = "" }'
}
echo
echo "## the $top longest functions (lines, file:line, name)"
funcs | sort -rn | head -"$top"
echo
echo "## functions over 80 lines in src/stages and src/train"
funcs | awk '$1 > 80 && $2 ~ /^src\/(stages|train)\//' | sort -rn || true
echo
echo "## include graph (folder -> folder it includes: count)"
for f in $(find src -name '*.[ch]' | sort); do
    d=$(dirname "$f" | sed 's|^src/||; s|^src$|main|; s|/cpu$||; s|/cuda$||')
    { grep -o '#include "[^"]*"' "$f" || true; } | sed 's/#include "//; s/"//' | while read -r i; do
        id=$(dirname "$i" | sed 's|/cpu$||; s|/cuda$||')
        [ "$id" = . ] && continue
        if [ "$id" != "$d" ]; then echo "$d -> $id"; fi
    done
done | sort | uniq -c | awk '{printf "  %-10s -> %-8s %3d\n", $2, $4, $1}'
