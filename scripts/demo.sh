#!/usr/bin/env bash
# Install WSI2ML into .venv, prepare a local SQLite database with demo users and slides, and serve
# it at http://127.0.0.1:8000 (PORT overrides the port). Slides come from SLIDES_ROOT (default
# var/slides); when it holds none, a small demo slide is generated there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

venv_install ""
export DEBUG="${DEBUG:-1}"
mkdir -p var
python manage.py migrate --noinput
python manage.py load_demo
exec python manage.py runserver "127.0.0.1:${PORT:-8000}"
