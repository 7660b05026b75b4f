# The OMS image: one image for the web (uvicorn), the Celery worker and Celery beat.
#   docker build -t oms .            (docker-compose.yml builds and runs it with PostgreSQL and Redis)
# the blotter's data grid from the committed npm lock file (node_modules is never committed)
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=oms.settings

WORKDIR /app
RUN useradd --create-home --uid 10001 oms

# dependencies first (pinned in pyproject.toml): this layer is rebuilt only when they change
COPY pyproject.toml ./
RUN pip install .

COPY . .
COPY --from=assets /assets/node_modules ./node_modules
# static files (Django admin, the Swagger UI from drf-spectacular-sidecar, the blotter) are
# collected and fingerprinted at build time; whitenoise serves them
RUN python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var \
    && chown -R oms:oms /app/var

USER oms
EXPOSE 8000
# behind a TLS-terminating proxy: X-Forwarded-Proto/For are trusted (--proxy-headers)
CMD ["uvicorn", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--http", "httptools", "--loop", "uvloop", "--ws", "websockets-sansio", "--lifespan", "on", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-access-log", "oms.asgi:application"]
