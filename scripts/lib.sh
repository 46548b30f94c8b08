# Shared by scripts/demo.sh and scripts/test.sh: create .venv and install WSI2ML into it, and
# run set-up steps with their output in a log rather than on the screen.
# shellcheck shell=bash

# step LOG MESSAGE COMMAND...: say MESSAGE, run COMMAND with its output appended to LOG; on
# failure show the end of LOG and stop.
step() {
    local log=$1 what=$2
    shift 2
    echo "$what"
    if ! "$@" >>"$log" 2>&1; then
        echo "That failed. The end of $log:" >&2
        tail -n 25 "$log" >&2
        exit 1
    fi
}

# Every failure returns 1 explicitly: under `step`, `set -e` does not apply inside the function.
venv_install() {
    local extras="$1"
    local python=${PYTHON:-}
    if [ -z "$python" ]; then
        python=$(command -v python3.11 || command -v python3) || return 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "WSI2ML needs Python 3.11; found $("$python" --version 2>&1) at $python (set PYTHON=...)." >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv || return 1
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip || return 1
    # The toolkit first: the server depends on it, and it is not on PyPI.
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ./toolkit -e ".${extras}" || return 1
    export PATH="$PWD/.venv/bin:$PATH"
}
