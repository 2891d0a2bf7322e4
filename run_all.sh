#!/usr/bin/env bash
# Run the whole reproduction headlessly: set up the environment (scripts/setup_env.sh), then hand over
# to the run engine, `python -m aac_subsampling.run` (lib/aac_subsampling/run.py), with the same
# arguments. `./run_all.sh --help` lists them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
        # argparse needs no third-party package: answer without setting up the environment
        PYTHONPATH="$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python3}" -m aac_subsampling.run --help
    fi
done

# Bad arguments (an unknown --profile, an M that cannot run, ...) are named before the environment is built,
# which on a fresh clone takes minutes: the run engine's own parser, with the standard library alone. Exit
# status 2 is argparse's refusal; any other failure (no python3, one too old) is left to setup_env.sh to explain.
if command -v "${PYTHON:-python3}" >/dev/null 2>&1; then
    status=0
    refusal="$(PYTHONPATH="$ROOT/lib${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -c \
        'import sys; from aac_subsampling.run import check_arguments; sys.exit(check_arguments(sys.argv[1:]))' \
        "$@" 2>&1 >/dev/null)" || status=$?
    if [[ "$status" == 2 ]]; then
        echo "$refusal" >&2
        exit 2
    fi
fi

# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"  # relative --data-dir/--results-dir are taken from the project root, as in the notebooks
exec python -m aac_subsampling.run "$@"
