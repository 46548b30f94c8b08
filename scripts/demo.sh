#!/usr/bin/env bash
# Install WSI2ML into .venv, prepare a local SQLite database with demo users and slides, and serve
# it with gunicorn at http://127.0.0.1:8000 (PORT overrides the port), DEBUG off, as in
# production but over plain HTTP, with a worker for background jobs beside it. Slides come from
# SLIDES_ROOT (default var/slides); when it holds none, four demo slides are drawn there. The
# screen shows the address and the log-ins; everything else goes to var/demo.log.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

port=${PORT:-8000}
mkdir -p var
log=var/demo.log
: >"$log"

step "$log" "Installing WSI2ML into .venv ..." venv_install ""

# Production settings refuse a weak or missing key: make one for this checkout, once.
if [ ! -s var/secret_key ]; then
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key)
fi
SECRET_KEY=$(cat var/secret_key)
export SECRET_KEY
export DEBUG="${DEBUG:-0}"
# Plain HTTP on this machine: no redirect to HTTPS, no HTTPS-only cookies, no HSTS.
export SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 SECURE_HSTS_SECONDS=0

step "$log" "Preparing the database and static files ..." \
    bash -c 'python manage.py migrate --noinput && python manage.py collectstatic --noinput'
echo "Loading the demo data (the first run draws four demo slides, 108 MB) ..."
if ! demo=$(python manage.py load_demo 2>>"$log"); then
    echo "$demo" >>"$log"
    echo "That failed. The end of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
fi
echo "$demo" >>"$log"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is in use: stop what serves it, or set PORT to another port." >&2
    exit 1
fi
# The background jobs' worker (folder scans, agreement), on the embedded job queue: messages as
# files in JOB_QUEUE_FOLDER (default var/celery; CELERY_BROKER_URL unset, wsi2ml/settings.py),
# no service needed.
# Threads, not pool processes: Ctrl+C reaches every process of the demo, and pool processes
# signalled along with their worker left its shutdown waiting on a lock they held.
queue=${JOB_QUEUE_FOLDER:-var/celery}
mkdir -p "$queue/queue" "$queue/control"
celery -A wsi2ml worker --pool threads --concurrency 2 --without-mingle --without-gossip \
    --loglevel INFO >>"$log" 2>&1 &
worker=$!
# One process, several threads: the demo's in-process cache (tile grants' revocation list) must
# be shared by every request, which several worker processes would need Redis for.
gunicorn wsi2ml.wsgi:application --bind "127.0.0.1:$port" --workers 1 --threads 8 \
    --no-control-socket >>"$log" 2>&1 &
server=$!
trap 'kill -TERM "$server" "$worker" 2>/dev/null || true' INT TERM
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$server" 2>/dev/null || ! kill -0 "$worker" 2>/dev/null; then
        echo "The server or its job worker did not start. The end of $log:" >&2
        tail -n 25 "$log" >&2
        kill -TERM "$server" "$worker" 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done

echo
echo "WSI2ML is running at http://127.0.0.1:$port/"
# The log-ins are what load_demo prints from "Demo ready." on.
echo "$demo" | sed -n '/^Demo ready\./,$p'
echo "Slides: ${SLIDES_ROOT:-var/slides}. Set-up and server messages: $log."
echo "Press Ctrl+C to stop the server."
wait "$server" || true
wait "$server" 2>/dev/null || true # after Ctrl+C, until the server has stopped
# The worker stops with the server; a job it is running finishes first.
kill -TERM "$worker" 2>/dev/null || true
wait "$worker" 2>/dev/null || true
