#!/usr/bin/env bash
# The include direction of src/: a file may include headers of its own folder and of the
# folders below it in the order core -> tensor -> backend -> par -> nn -> nas -> io -> train
# -> stages -> main (doc/engine.md). Prints every upward include and a closing
# "N passed, N failed" line (one check per folder); exits non-zero when any goes upward.
set -u
cd "$(dirname "$0")/../.."
order=(core tensor backend par nn nas io train stages main)
rank() {  # rank FOLDER -> its place in the order, or nothing
    local i
    for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && echo "$i" && return; done
}
bad=0
failed=" "
for f in $(find src -name '*.[ch]' | sort); do
    d=${f#src/}
    d=${d%%/*}
    case $d in *.c | *.h) d=main ;; esac
    me=$(rank "$d")
    [ -n "$me" ] || { echo "FAIL $f: folder '$d' is not in the layer order"; failed="$failed$d "; bad=$((bad + 1)); continue; }
    while read -r inc; do
        top=${inc%%/*}
        [ "$top" = "$inc" ] && continue  # "kernels.h": the CUDA kernels' own header
        them=$(rank "$top")
        [ -n "$them" ] || continue
        if [ "$them" -gt "$me" ]; then
            echo "FAIL $f includes \"$inc\": $d may not include $top (above it)"
            [[ $failed == *" $d "* ]] || failed="$failed$d "
            bad=$((bad + 1))
        fi
    done < <(grep -o '^#include "[^"]*"' "$f" | sed 's/#include "//; s/"$//')
done
nfail=$(wc -w <<<"$failed")
echo "layers: ${#order[@]} folders, $bad upward include(s)"
echo "$((${#order[@]} - nfail)) passed, $nfail failed"
[ "$bad" -eq 0 ]
