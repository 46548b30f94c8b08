# Shared by scripts/demo.sh and scripts/test.sh: create .venv and install WSI2ML into it.
# shellcheck shell=bash

venv_install() {
    local extras="$1"
    local python=${PYTHON:-}
    if [ -z "$python" ]; then
        python=$(command -v python3.11 || command -v python3)
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "WSI2ML needs Python 3.11; found $("$python" --version 2>&1) at $python (set PYTHON=...)." >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
    export PATH="$PWD/.venv/bin:$PATH"
}
