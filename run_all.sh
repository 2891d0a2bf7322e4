#!/usr/bin/env bash
# Run the whole reproduction headlessly: data preparation, training and evaluation for every
# sub-sampling factor M, then the paper's tables. See --help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
    cat <<'EOF'
Usage: ./run_all.sh [--profile smoke|quick|paper] [--data-dir DIR] [--results-dir DIR]
                    [--device auto|cpu|cuda] [--seed N] [--m "1 2 4 8 16"] [--force] [--help]

Runs the notebooks headlessly with papermill, in order:
  1. notebooks/01_data_preparation.ipynb              -> <results>/prepared.json
  2. for each M: notebooks/02_training.ipynb -p M <M>  -> <results>/M<M>/training.json
                 notebooks/03_evaluation.ipynb -p M <M> -> <results>/M<M>/evaluation.json
  3. notebooks/04_results.ipynb                       -> <results>/table1.csv, table2.csv
Executed copies of the notebooks go to <results>/executed/.

Options:
  --profile P       smoke (seconds; CI), quick (default; synthetic corpus, CPU, ~15 min) or
                    paper (Clotho v1 with the paper's settings; needs a GPU)
  --data-dir DIR    corpus folder (default: the profile's, e.g. data/clotho_v1 for paper)
  --results-dir DIR results folder (default: results/<profile>)
  --device D        auto (default), cpu or cuda. A profile that needs a GPU refuses to run
                    without CUDA unless --device cpu is given.
  --seed N          random seed (default 0)
  --m "LIST"        sub-sampling factors to run (default "1 2 4 8 16"; commas also accepted)
  --force           redo every stage even if its marker exists (training starts from scratch)
  -h, --help        show this help

A stage whose marker file exists is skipped, so after an interruption the same command
continues where it stopped (an unfinished training resumes from its checkpoint). The tables are
made again whenever an earlier stage ran. Relative paths are taken from the current directory.
Before any work, `python -m aac_subsampling.preflight` checks that the run can finish (data
present or downloadable, GPU, Java) and stops with a message if not.
EOF
}

die() {
    echo "run_all: $*" >&2
    exit 2
}

abspath() {
    # absolute path of a possibly not yet existing path, relative to the current directory
    local p="$1"
    [[ "$p" == "~"* ]] && p="${HOME}${p:1}"
    [[ "$p" != /* ]] && p="$PWD/$p"
    realpath -m -- "$p"
}

PROFILE="quick"
DATA_DIR=""
RESULTS_DIR=""
DEVICE=""
SEED="0"
M_LIST="1 2 4 8 16"
FORCE=0

while [[ $# -gt 0 ]]; do
    opt="$1"
    value=""
    if [[ "$opt" == --*=* ]]; then
        value="${opt#*=}"
        opt="${opt%%=*}"
        set -- "$opt" "$value" "${@:2}"
    fi
    case "$opt" in
        -h | --help)
            usage
            exit 0
            ;;
        --force)
            FORCE=1
            shift
            ;;
        --profile | --data-dir | --results-dir | --device | --seed | --m)
            [[ $# -ge 2 ]] || die "$opt needs a value (see --help)"
            case "$opt" in
                --profile) PROFILE="$2" ;;
                --data-dir) DATA_DIR="$2" ;;
                --results-dir) RESULTS_DIR="$2" ;;
                --device) DEVICE="$2" ;;
                --seed) SEED="$2" ;;
                --m) M_LIST="$2" ;;
            esac
            shift 2
            ;;
        *)
            die "unknown argument '$opt' (see --help)"
            ;;
    esac
done

case "$PROFILE" in
    smoke | quick | paper) ;;
    *) die "unknown profile '$PROFILE'; choose smoke, quick or paper" ;;
esac
if [[ -n "$DEVICE" ]]; then
    [[ "$DEVICE" =~ ^(auto|cpu|cuda(:[0-9]+)?)$ ]] || die "unknown device '$DEVICE'; choose auto, cpu or cuda"
fi
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, not '$SEED'"
M_LIST="${M_LIST//,/ }"
read -r -a M_VALUES <<<"$M_LIST"
[[ ${#M_VALUES[@]} -gt 0 ]] || die "--m needs at least one sub-sampling factor"
for m in "${M_VALUES[@]}"; do
    [[ "$m" =~ ^[1-9][0-9]*$ ]] || die "sub-sampling factors must be positive integers, not '$m'"
done

[[ -n "$DATA_DIR" ]] && DATA_DIR="$(abspath "$DATA_DIR")"
if [[ -n "$RESULTS_DIR" ]]; then
    RESULTS_DIR="$(abspath "$RESULTS_DIR")"
else
    RESULTS_DIR="$ROOT/results/$PROFILE"
fi

NB_DIR="$ROOT/notebooks"
NB_PREP="01_data_preparation"
NB_TRAIN="02_training"
NB_EVAL="03_evaluation"
NB_RESULTS="04_results"
for nb in "$NB_PREP" "$NB_TRAIN" "$NB_EVAL" "$NB_RESULTS"; do
    [[ -f "$NB_DIR/$nb.ipynb" ]] || die "missing notebook notebooks/$nb.ipynb"
done

# --- timing helpers ------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME/./}"; }
fmt_duration() {
    # microseconds -> "1 h 02 min 03 s" / "2 min 03 s" / "4.2 s"
    local us="$1" s
    s=$((us / 1000000))
    if ((s >= 3600)); then
        printf '%d h %02d min %02d s' $((s / 3600)) $((s % 3600 / 60)) $((s % 60))
    elif ((s >= 60)); then
        printf '%d min %02d s' $((s / 60)) $((s % 60))
    else
        printf '%d.%d s' "$s" $((us % 1000000 / 100000))
    fi
}
RUN_START="$(now_us)"
SUMMARY=()
CURRENT_STAGE=""

print_summary() {
    local line
    if [[ ${#SUMMARY[@]} -gt 0 ]]; then
        echo "run_all: stages:"
        for line in "${SUMMARY[@]}"; do
            echo "  $line"
        done
    fi
    echo "run_all: total wall time $(fmt_duration $(($(now_us) - RUN_START)))"
}

on_interrupt() {
    trap - INT TERM
    echo >&2
    echo "run_all: interrupted${CURRENT_STAGE:+ during $CURRENT_STAGE}. Run the same command again to continue:" >&2
    echo "run_all:   finished stages are skipped and an unfinished training resumes from its checkpoint." >&2
    print_summary >&2
    exit 130
}
trap on_interrupt INT TERM

cd "$ROOT"

# --- environment and preflight ---------------------------------------------------------------
stage_start="$(now_us)"
# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
SUMMARY+=("environment                 $(fmt_duration $(($(now_us) - stage_start)))")

preflight_args=(--profile "$PROFILE")
[[ -n "$DATA_DIR" ]] && preflight_args+=(--data-dir "$DATA_DIR")
[[ -n "$DEVICE" ]] && preflight_args+=(--device "$DEVICE")
if ! python -m aac_subsampling.preflight "${preflight_args[@]}"; then
    echo "run_all: stopped before any work (preflight failed); nothing was written to $RESULTS_DIR" >&2
    exit 2
fi

# --- the notebooks ---------------------------------------------------------------------------
EXECUTED_DIR="$RESULTS_DIR/executed"
mkdir -p "$EXECUTED_DIR"
forced_note=""
[[ $FORCE -eq 1 ]] && forced_note=" --force: every stage is redone"
echo "run_all: profile=$PROFILE results=$RESULTS_DIR device=${DEVICE:-auto} seed=$SEED M=(${M_VALUES[*]})$forced_note"

COMMON_PARAMS=(-r profile "$PROFILE" -r results_dir "$RESULTS_DIR" -p seed "$SEED" -r device "${DEVICE:-auto}")
[[ -n "$DATA_DIR" ]] && COMMON_PARAMS+=(-r data_dir "$DATA_DIR")

ANY_RAN=0 # whether any stage ran in this invocation (then the tables are made again)
STAGE_RAN=0

# run_stage LABEL NOTEBOOK EXECUTED_NAME STALE MARKER [MARKER...] -- [papermill parameter args]
# Skips the stage when all its markers exist, unless --force or STALE=1 (an input changed in
# this invocation). Sets STAGE_RAN.
run_stage() {
    local label="$1" notebook="$2" executed="$EXECUTED_DIR/$3.ipynb" stale="$4"
    shift 4
    local markers=() marker missing=0
    while [[ $# -gt 0 && "$1" != "--" ]]; do
        markers+=("$1")
        shift
    done
    [[ $# -gt 0 ]] && shift # the --
    STAGE_RAN=0
    for marker in "${markers[@]}"; do
        [[ -e "$marker" ]] || missing=1
    done
    if [[ $missing -eq 0 && $FORCE -eq 0 && "$stale" -eq 0 ]]; then
        echo "run_all: [skipped] $label: ${markers[0]#"$RESULTS_DIR/"} exists"
        SUMMARY+=("$(printf '%-27s skipped' "$label")")
        return 0
    fi
    for marker in "${markers[@]}"; do
        rm -f -- "$marker" # a forced or stale stage must not leave an old marker behind
    done
    local start
    start="$(now_us)"
    CURRENT_STAGE="$label (notebooks/$notebook.ipynb)"
    echo "run_all: ==> $label: notebooks/$notebook.ipynb -> ${executed#"$ROOT/"}"
    if ! python -m papermill "$NB_DIR/$notebook.ipynb" "$executed" \
        --kernel aac-subsampling --cwd "$NB_DIR" --log-output --no-progress-bar \
        "${COMMON_PARAMS[@]}" "$@"; then
        SUMMARY+=("$(printf '%-27s FAILED after %s' "$label" "$(fmt_duration $(($(now_us) - start)))")")
        echo "run_all: FAILED: $label: notebooks/$notebook.ipynb" >&2
        echo "run_all:   the executed copy, with the error in it: $executed" >&2
        print_summary >&2
        exit 1
    fi
    for marker in "${markers[@]}"; do
        if [[ ! -e "$marker" ]]; then
            echo "run_all: FAILED: $label: notebooks/$notebook.ipynb finished but did not write $marker" >&2
            echo "run_all:   the executed copy: $executed" >&2
            print_summary >&2
            exit 1
        fi
    done
    CURRENT_STAGE=""
    STAGE_RAN=1
    ANY_RAN=1
    local took
    took="$(fmt_duration $(($(now_us) - start)))"
    SUMMARY+=("$(printf '%-27s %s' "$label" "$took")")
    echo "run_all: <== $label done in $took"
}

run_stage "data preparation" "$NB_PREP" "$NB_PREP" 0 "$RESULTS_DIR/prepared.json" --

for m in "${M_VALUES[@]}"; do
    train_params=(-p M "$m")
    [[ $FORCE -eq 1 ]] && train_params+=(-p resume False)
    run_stage "training M=$m" "$NB_TRAIN" "${NB_TRAIN}_M$m" 0 "$RESULTS_DIR/M$m/training.json" -- "${train_params[@]}"
    # a model trained in this invocation is evaluated again even if an old evaluation exists
    run_stage "evaluation M=$m" "$NB_EVAL" "${NB_EVAL}_M$m" "$STAGE_RAN" "$RESULTS_DIR/M$m/evaluation.json" -- -p M "$m"
done

run_stage "results tables" "$NB_RESULTS" "$NB_RESULTS" "$ANY_RAN" "$RESULTS_DIR/table1.csv" "$RESULTS_DIR/table2.csv" --

echo "run_all: done; tables in ${RESULTS_DIR}/table1.csv and table2.csv"
print_summary
