#!/usr/bin/env bash
# slurm/pipeline.sh — submits the whole dna pipeline as a chain of Slurm jobs, one job per
# stage, each starting only when the one before ended successfully (afterok); a failed
# stage cancels the rest of the chain (--kill-on-invalid-dep). Every stage skips itself
# when its output is complete, so submitting the same chain again continues a run.
# --generations G (DNA+) appends generations 2..G (teacher ... report in <run>/gen<m>/,
# `plus.generation=m`) and a last root report to the same chain.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"

dna_usage() {
    cat <<'USAGE'
usage: slurm/pipeline.sh CFG [--cpu] [--ranks N] [--generations G] [section.key=value ...] [--force]
  Submits data (1 task) -> teacher -> features -> train -> rate (N tasks) -> search (1 task)
  -> retrain (N tasks) -> report (1 task), each with --dependency=afterok on the one before.
  --cpu      use slurm/stage_cpu.sbatch (no GPUs) instead of slurm/stage.sbatch
  --ranks N  MPI ranks of the multi-rank stages (default: the sbatch script's sizing,
             --ntasks-per-node on one node); size it with `bin/dna plan CFG --ranks N`
  --generations G  DNA+, G from 1 to 16 (default: the config's plus.generations, else 1):
             after generation 1 (the chain above), generation m = 2..G runs teacher ->
             features -> train -> rate -> search -> retrain -> report in <run>/gen<m>/
             (plus.generation=m; job names dna-g<m>-STAGE), then a last root report
             (dna-report-all) tables every generation; every job gets plus.generations=G
  overrides  passed to every stage, e.g. run.out_dir=/scratch/me run.name=seed41 run.seed=41
Environment:
  DNA_SBATCH_OPTS  extra sbatch options for every job, e.g. "--partition=gpu --account=abc --time=2:00:00"
  DNA_LOG_DIR      where the job logs go (default <out_dir>/slurm-logs), one <job-name>-<id>.out per job
  DNA_SITE_SETUP   a file every job sources after the scripts' site set-up (modules, paths)
  DNA_ROOT         the checkout the jobs run (default: the one holding this script)
  DNA_SIGNAL_LEAD  seconds before the time limit that teacher/train/rate/retrain get SIGUSR1
                   (default 300): they checkpoint, exit 75 and the job requeues itself
  DNA_MAX_REQUEUE  requeues per job at most (default 20); then the job fails with 75
Prints "<job id> <stage>" per job ("<job id> <stage> <generation>" with G > 1; the last
root report's generation is "all"), then the last job's id alone on the last line.
USAGE
}

# --generations is this script's own; the rest is dna_parse_submit_args'
gens="" args=()
while [ $# -gt 0 ]; do
    case $1 in
        --generations) [ $# -ge 2 ] || dna_die "--generations needs a number"; gens=$2; shift ;;
        --generations=*) gens=${1#--generations=} ;;
        *) args+=("$1") ;;
    esac
    shift
done
dna_parse_submit_args "${args[@]}"
for a in "${dna_user_args[@]}"; do
    [[ $a != plus.generation=* ]] || dna_die "'$a': each job's generation is set by --generations"
done
from=--generations
[ -n "$gens" ] || gens=$(dna_cfg_value plus generations 1) from=plus.generations
[[ $gens =~ ^([1-9]|1[0-6])$ ]] || dna_die "$from '$gens' is not a number from 1 to 16"
script=$here/stage.sbatch
[ "$dna_cpu" = 1 ] && script=$here/stage_cpu.sbatch
dna_directives "$script"
logdir=${DNA_LOG_DIR:-$(dna_cfg_value run out_dir outputs)/slurm-logs}
mkdir -p "$logdir"   # Slurm does not create the directory of --output

# The chain, "GENERATION STAGE" per job: generation 1 is the DNA pipeline; generation
# m >= 2 has no data stage (it shares generation 1's dataset); after the last, the root
# report ("all") tables every generation. G = 1 is the plain chain, without plus.* keys.
chain=()
for stage in data teacher features train rate search retrain report; do chain+=("1 $stage"); done
for ((m = 2; m <= gens; m++)); do
    for stage in teacher features train rate search retrain report; do chain+=("$m $stage"); done
done
[ "$gens" = 1 ] || chain+=("all report")

# The stage's inputs travel in the environment (sbatch's default --export=ALL): no commas
# to escape as with --export=VAR=value.
export DNA_CFG=$dna_cfg DNA_ARGS
prev="" ids=()
for job in "${chain[@]}"; do
    read -r gen stage <<<"$job"
    plus=() name=dna-$stage
    if [ "$gens" != 1 ]; then
        plus=(plus.generations="$gens")
        case $gen in
            1) ;;
            all) name=dna-$stage-all ;;
            *) plus+=(plus.generation="$gen") name=dna-g$gen-$stage ;;
        esac
    fi
    DNA_ARGS=$(dna_quote_args "${dna_user_args[@]}" "${plus[@]}")
    opts=(--job-name="$name" --output="$logdir/%x-%j.out")
    case $stage in
        data | search | report) dna_size 1; opts+=("${dna_size_opts[@]}") ;;  # no MPI work to split
        *) if [ -n "$dna_ranks" ]; then dna_size "$dna_ranks"; opts+=("${dna_size_opts[@]}"); fi ;;
    esac
    # the stages that checkpoint stop on SIGUSR1 (exit 75, and the job requeues itself): ask
    # for it before the time limit
    case $stage in teacher | train | rate | retrain) opts+=(--signal="USR1@${DNA_SIGNAL_LEAD:-300}") ;; esac
    [ -z "$prev" ] || opts+=(--dependency="afterok:$prev" --kill-on-invalid-dep=yes)
    if ! id=$(DNA_STAGE=$stage dna_sbatch "${opts[@]}" "${dna_sbatch_opts[@]}" "$script"); then
        # half a chain would run its first stages for nothing: take it back
        [ ${#ids[@]} = 0 ] || { scancel "${ids[@]}"; echo "cancelled ${ids[*]}" >&2; }
        exit 2
    fi
    if [ "$gens" = 1 ]; then echo "$id $stage"; else echo "$id $stage $gen"; fi
    ids+=("$id")
    prev=$id
done
echo "$prev"
