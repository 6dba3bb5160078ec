#!/usr/bin/env bash
# Whether two runs of the same config computed the same results, bit for bit: the feature
# shards' content digests (`dna shards`), every HDF5 output's datasets (h5diff; the root
# attributes hold the git revision and are left out, the recorded top-1 is compared), the
# searched and random architectures, and every retrained network's top-1 per epoch.
# Usage: scripts/compare_runs.sh BIN_A RUN_DIR_A BIN_B RUN_DIR_B CFG
#   (each run directory is <run.out_dir>/<run.name> of a `dna run CFG` made by that binary)
# Prints one line per check and "N same, N different"; exits non-zero on any difference.
set -u
[ $# = 5 ] || { sed -n 2,7p "$0"; exit 2; }
bin_a=$1 run_a=$2 bin_b=$3 run_b=$4 cfg=$5
same=0 diff=0
say() { if [ "$1" = 0 ]; then echo "same      $2"; same=$((same + 1)); else echo "DIFFERENT $2"; diff=$((diff + 1)); fi; }
digest() {  # digest BIN RUN_DIR: `dna shards` of that run
    OMP_NUM_THREADS=1 "$1" shards "$cfg" "run.out_dir=$(dirname "$2")" "run.name=$(basename "$2")" 2>&1 | grep '^shards '
}
cmp -s <(digest "$bin_a" "$run_a") <(digest "$bin_b" "$run_b") && [ -n "$(digest "$bin_b" "$run_b")" ]
say $? "feature shards: $(digest "$bin_b" "$run_b" | wc -l) digests"
for f in dataset.h5 teacher.h5 potentials.h5 retrain.h5 retrain_random_1.h5 retrain_random_2.h5 retrain_random_3.h5; do
    [ -e "$run_a/$f" ] || [ -e "$run_b/$f" ] || continue
    top() { h5dump -a top1 "$1" 2>/dev/null | grep '(0)'; }
    h5diff -q --exclude-attribute=/ "$run_a/$f" "$run_b/$f" >/dev/null 2>&1 && [ "$(top "$run_a/$f")" = "$(top "$run_b/$f")" ]
    say $? "$f: every dataset (and top-1)"
done
for f in "$run_a"/potentials_block*.csv "$run_a"/top.csv "$run_a"/frontier.csv; do
    cmp -s "$f" "$run_b/$(basename "$f")"
    say $? "$(basename "$f")"
done
for f in "$run_a"/arch.json "$run_a"/random_*.json; do  # all but the provenance line
    cmp -s <(grep -v git_rev "$f") <(grep -v git_rev "$run_b/$(basename "$f")")
    say $? "$(basename "$f") (but git_rev)"
done
for f in "$run_a"/retrain*.json; do
    k() { grep -o '"top1_per_epoch": [^]]*\]\|"top1": [0-9.]*\|"params": [0-9]*' "$1"; }
    [ "$(k "$f")" = "$(k "$run_b/$(basename "$f")")" ]
    say $? "$(basename "$f"): params, top-1 per epoch"
done
echo "$same same, $diff different"
[ "$diff" = 0 ]
