#!/usr/bin/env bash
# The project's tests: the unit tests, then every notebook run through nbval in the smoke profile.
# Sets up the environment first (scripts/setup_env.sh). Exits non-zero if either part fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
START=$SECONDS

# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"

# run_part NAME COMMAND...: runs it, reports, records failure (pytest's 5 = nothing collected).
FAILED=()
run_part() {
    local name="$1" rc=0 start=$SECONDS
    shift
    echo "run_tests: ==> $name: $*"
    "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "run_tests: FAILED: $name collected no tests (pytest exit 5)" >&2
        FAILED+=("$name (no tests collected)")
    elif [[ $rc -ne 0 ]]; then
        echo "run_tests: FAILED: $name (exit $rc)" >&2
        FAILED+=("$name (exit $rc)")
    else
        echo "run_tests: <== $name passed in $((SECONDS - start)) s"
    fi
}

run_part "lint (ruff check)" ruff check .
run_part "format (ruff format --check)" ruff format --check .
run_part "unit tests" python -m pytest tests -q
# The notebooks take AAC_PROFILE when their profile parameter is None (aac_subsampling.experiment.notebook); nbval runs them in filename order
# (01 -> 04) in one kernel per notebook, from this environment (--nbval-current-env).
# Results (and their figures) go to a fresh temporary folder, so no earlier run's records are reused.
NB_OUT="$(mktemp -d "${TMPDIR:-/tmp}/aac_nbval.XXXXXX")"
trap 'rm -rf "$NB_OUT"' EXIT
run_part "notebooks (nbval, smoke profile)" \
    env AAC_PROFILE=smoke AAC_RESULTS_DIR="$NB_OUT/results" \
    python -m pytest --nbval-lax --nbval-current-env notebooks/ -q -p no:cacheprovider

echo "run_tests: total time $((SECONDS - START)) s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "run_tests: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
echo "run_tests: all passed"
