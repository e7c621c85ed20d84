# Production image.
#   docker build -t clienta .
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql://... -e REDIS_URL=redis://... \
#     -e CLIENTA_SECRET=... clienta
# Postgres needs the pgvector extension. Without DATABASE_URL / REDIS_URL the container
# starts the embedded Postgres and Redis under /data (a one-box trial, as `make run`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CLIENTA_HOME=/data \
    CLIENTA_HOST=0.0.0.0 \
    CLIENTA_PORT=8000

WORKDIR /app
# the package finds migrations/ and widget/ beside server/, so the tree is installed in place
COPY pyproject.toml README.md ./
COPY server ./server
COPY migrations ./migrations
COPY widget ./widget
RUN pip install -e . \
    && useradd --create-home --uid 10001 clienta \
    && mkdir -p /data && chown clienta /data

# Postgres (embedded mode) refuses to run as root
USER clienta
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# `--workers N` for more processes; each holds its own hub and shares Redis and Postgres
CMD ["clienta", "serve"]
