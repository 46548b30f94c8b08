# syntax=docker/dockerfile:1
# WSI2ML production image: gunicorn serving the Django app (static files served by WhiteNoise), or,
# with the command `celery -A wsi2ml worker`, the worker that runs its background jobs.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml ./
COPY toolkit toolkit
# Dependencies only (the app runs from /app, not from site-packages), the toolkit among them.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install ./toolkit \
 && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/app/staticfiles \
    SLIDES_ROOT=/slides \
    WEB_WORKERS=2 \
    WEB_THREADS=4
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin wsi2ml
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY manage.py pyproject.toml ./
COPY wsi2ml wsi2ml
COPY jobs jobs
COPY slides slides
COPY tasks tasks
COPY annotations annotations
COPY review review
COPY exports exports
COPY layers layers
COPY templates templates
COPY static static
# A throw-away key: settings refuse a weak one whenever DEBUG is off, even for collectstatic.
RUN DEBUG=0 SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput \
 && chown -R wsi2ml /app/staticfiles
USER wsi2ml
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn wsi2ml.wsgi --bind 0.0.0.0:8000 --worker-class gthread --workers ${WEB_WORKERS} --threads ${WEB_THREADS} --access-logfile - --forwarded-allow-ips '*'"]
