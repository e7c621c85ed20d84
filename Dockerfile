# Production image (docs/operations.md).
#   docker build -t clienta .
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql://... -e REDIS_URL=redis://... \
#     -e CLIENTA_SECRET=... clienta
# Postgres needs the pgvector extension. The image refuses to start without DATABASE_URL
# and REDIS_URL (CLIENTA_EMBEDDED=0); `-e CLIENTA_EMBEDDED=1` starts the embedded Postgres
# and Redis under /data instead, for a one-box trial as `make run` does.
# It listens on $PORT when the platform sets one (Railway, Render, Fly), else 8000;
# CLIENTA_PORT wins over both. `docker-compose.yml` runs it with Postgres and Redis.
# PYTHON_IMAGE: any Python 3.11+ image with `python` on PATH (tests build on a local one).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /app
# the package finds migrations/ and widget/ beside server/, so the tree is installed in
# place (an editable install whose path, /app, is the same in the final stage)
COPY pyproject.toml README.md ./
COPY server ./server
COPY migrations ./migrations
COPY widget ./widget
RUN /opt/venv/bin/pip install -q -e . && find /app -name __pycache__ -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CLIENTA_HOME=/data \
    CLIENTA_HOST=0.0.0.0 \
    CLIENTA_EMBEDDED=0
# embedded Postgres refuses to run as root; nothing here needs root at run time
RUN useradd --create-home --uid 10001 clienta && mkdir -p /data && chown clienta /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER clienta
VOLUME /data
EXPOSE 8000
# `clienta health` asks /healthz on the port the server chose (CLIENTA_PORT, PORT, 8000)
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD ["clienta", "health"]
# `--workers N` for more processes; each holds its own hub and shares Redis and Postgres
CMD ["clienta", "serve"]
