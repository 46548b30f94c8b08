#!/usr/bin/env bash
# Run the whole WSI2ML test suite: lint and format checks, then every test with pytest against
# PostgreSQL (DATABASE_URL, default the local server) and Debian's Chromium for browser tests,
# on the real scanner files of scripts/test_slides.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

mkdir -p var
: >var/test-setup.log
step var/test-setup.log "Installing WSI2ML and the test tools into .venv ..." venv_install "[test]"
# Some tests read real scanner files: find them (WSI2ML_TEST_SLIDES, ../shared/slides) or fetch
# them into var/test-slides, checked by SHA-256; without them, stop here with one message.
slides=$(python scripts/test_slides.py)
export WSI2ML_TEST_SLIDES="$slides"
if ! [ -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "Browser tests need Debian's chromium: run 'sudo apt-get install -y chromium'." >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

export DEBUG=1
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/wsi2ml}"

ruff check .
ruff format --check .
# Two processes (one per core of the CI machine), each test file kept in one of them: files
# share per-file resources (a Redis database, a live server). The suite took 18-20 minutes in
# one process.
pytest -n "${WSI2ML_TEST_PROCESSES:-2}" --dist loadfile "$@"
