#!/usr/bin/env bash
# Set up the Python environment of the project; sourced by run_all.sh and run_tests.sh, or run
# directly (`bash scripts/setup_env.sh`) to install only.
#
# * An active virtualenv (VIRTUAL_ENV) or conda env (CONDA_PREFIX, other than `base`) is used as
#   it is; otherwise `.venv` in the repository root is created (python3 -m venv) or reused.
# * Into that environment: `pip install -r requirements.txt` (exact pins), then the project itself
#   (`pip install --no-deps -e .`, so nothing is resolved again beyond the pins), then a Jupyter
#   kernelspec `aac-subsampling` that runs this environment's python (used by papermill).
# * The install is skipped when a stamp in the environment records that requirements.txt,
#   pyproject.toml, the checkout and the interpreter are unchanged since the last install, so a
#   re-run takes well under a second.
# * Warns when no Java runtime is on PATH (METEOR and SPICE need one).
#
# When sourced, the environment stays active in the calling shell (VIRTUAL_ENV and PATH exported).
# Knobs: PYTHON (interpreter used to create .venv; default python3), AAC_VENV_DIR (default
# <repo>/.venv), AAC_FORCE_INSTALL=1 (ignore the stamp).

_aac_setup_env() {
    local root here py prefix kind stamp want have kernel_dir
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    root="$(cd "$here/.." && pwd)"

    if [[ -n "${VIRTUAL_ENV:-}" ]]; then
        kind="active virtualenv"
        prefix="$VIRTUAL_ENV"
    elif [[ -n "${CONDA_PREFIX:-}" && "${CONDA_DEFAULT_ENV:-base}" != "base" && "$(basename "$CONDA_PREFIX")" != "base" ]]; then
        kind="active conda env"
        prefix="$CONDA_PREFIX"
    else
        kind="project venv"
        prefix="${AAC_VENV_DIR:-$root/.venv}"
    fi
    if [[ "$kind" != "project venv" && ! -x "$prefix/bin/python" ]]; then
        echo "setup_env: the $kind at $prefix has no bin/python" >&2
        return 1
    fi

    if [[ "$kind" == "project venv" && ! -x "$prefix/bin/python" ]]; then
        local base_python="${PYTHON:-python3}"
        if ! command -v "$base_python" >/dev/null 2>&1; then
            echo "setup_env: no '$base_python' on PATH; install Python >= 3.10 (or set PYTHON=...)" >&2
            return 1
        fi
        if ! "$base_python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
            echo "setup_env: $("$base_python" -V 2>&1) is too old; Python >= 3.10 is needed (set PYTHON=...)" >&2
            return 1
        fi
        echo "setup_env: creating $prefix with $("$base_python" -V 2>&1) ($(command -v "$base_python"))"
        if ! "$base_python" -m venv "$prefix"; then
            echo "setup_env: '$base_python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            rm -rf "$prefix"
            return 1
        fi
    fi

    # Activate (what bin/activate does, without touching the prompt); a conda env keeps its own
    # variables and only needs its bin/ first on PATH.
    [[ "$kind" != "active conda env" ]] && export VIRTUAL_ENV="$prefix"
    case ":$PATH:" in
        ":$prefix/bin:"*) ;;
        *) export PATH="$prefix/bin:$PATH" ;;
    esac
    unset PYTHONHOME
    py="$prefix/bin/python"
    echo "setup_env: using the $kind at $prefix ($("$py" -V 2>&1))"

    stamp="$prefix/.aac-subsampling-install.stamp"
    want="$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1) $root $py"
    have="$(cat "$stamp" 2>/dev/null || true)"
    kernel_dir="$prefix/share/jupyter/kernels/aac-subsampling"
    if [[ "$want" == "$have" && -z "${AAC_FORCE_INSTALL:-}" && -f "$kernel_dir/kernel.json" ]]; then
        echo "setup_env: requirements.txt and pyproject.toml unchanged since the last install; skipping pip"
    else
        local started=$SECONDS
        # No NVIDIA GPU: take torch's CPU build (about 200 MB) from PyTorch's own index rather than
        # PyPI's Linux wheel, the CUDA build (several GB). Only when that index answers within a
        # few seconds; otherwise pip's configured sources are used as they are.
        local torch_pin
        torch_pin="$(grep -E '^torch==' "$root/requirements.txt" || true)"
        if [[ -n "$torch_pin" ]] && ! command -v nvidia-smi >/dev/null 2>&1 &&
            ! "$py" -c 'import torch' 2>/dev/null &&
            "$py" -c 'import urllib.request; urllib.request.urlopen("https://download.pytorch.org/whl/cpu/", timeout=3)' 2>/dev/null; then
            echo "setup_env: no NVIDIA GPU: pip install $torch_pin (CPU build, download.pytorch.org/whl/cpu)"
            "$py" -m pip install --disable-pip-version-check -q "$torch_pin" \
                --index-url https://download.pytorch.org/whl/cpu || echo "setup_env: CPU build not installed; falling back" >&2
        fi
        echo "setup_env: pip install -r requirements.txt (exact pins) ..."
        "$py" -m pip install --disable-pip-version-check -q -r "$root/requirements.txt" || {
            echo "setup_env: pip install -r requirements.txt failed" >&2
            return 1
        }
        # The project, without resolving its dependencies again (requirements.txt pins them).
        # Skipped when this checkout is already what `import aac_subsampling` finds, so that a
        # shared environment is never left without the package while others use it.
        if "$py" -c 'import pathlib, sys, aac_subsampling as m; sys.exit(0 if pathlib.Path(m.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]).resolve()) else 1)' "$root/lib" 2>/dev/null; then
            echo "setup_env: aac_subsampling already installed from $root/lib"
        else
            echo "setup_env: pip install --no-deps -e $root"
            "$py" -m pip install --disable-pip-version-check -q --no-deps -e "$root" || {
                echo "setup_env: pip install -e . failed" >&2
                return 1
            }
        fi
        echo "setup_env: Jupyter kernel 'aac-subsampling' -> $py"
        "$py" -m ipykernel install --sys-prefix --name aac-subsampling \
            --display-name "Python (aac-subsampling)" >/dev/null || {
            echo "setup_env: ipykernel install failed" >&2
            return 1
        }
        echo "$want" >"$stamp"
        echo "setup_env: installed in $((SECONDS - started)) s"
    fi

    # JupyterLab (requirements-jupyterlab.txt) reads this file: it saves the progress bars' widget state with a
    # notebook, so a notebook run by hand and saved reopens with its bars, not "model not found".
    local lab_settings
    lab_settings="$("$py" -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings"
    mkdir -p "$lab_settings" && [[ -f "$lab_settings/overrides.json" ]] ||
        printf '%s\n' '{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true}}' >"$lab_settings/overrides.json"

    if command -v java >/dev/null 2>&1; then
        echo "setup_env: Java: $(java -version 2>&1 | head -n 1)"
    else
        echo "setup_env: WARNING: no Java runtime on PATH; METEOR and SPICE (evaluation) need one." >&2
        echo "setup_env:   install it with: apt-get install default-jre-headless   (or: conda install -c conda-forge openjdk)" >&2
    fi
    return 0
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # sourced: keep the environment active in the caller
    _aac_setup_env
    _aac_status=$?
    unset -f _aac_setup_env
    return "$_aac_status"
else
    set -euo pipefail
    _aac_setup_env
fi
