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

# shellcheck source=scripts/setup_env.sh
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"  # relative --data-dir/--results-dir are taken from the project root, as in the notebooks
exec python -m aac_subsampling.run "$@"
