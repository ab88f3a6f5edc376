# telecon: production image (web process by default; `telecon worker` for the arq worker).
#
#   docker build -t telecon .            or     docker compose build      (compose.yaml)
#
# Layout inside the image:
#   /opt/venv       the virtual environment: the runtime lock (no test tools) and telecon as an ordinary wheel,
#                   which carries its templates/ and migrations/ inside the package
#   /app            the working directory; /app/var is the only writable place (SQLite and .eml files when
#                   those defaults are used)
# The service runs as the unprivileged user telecon (uid/gid 10001).

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, so that a code change does not reinstall them. Every file is checked against the
# lock's hashes, and only wheels are accepted (the slim image has no compiler, and an sdist would pull
# unpinned build dependencies). requirements-runtime.lock is the service's own: no pytest, ruff or mypy.
COPY requirements-runtime.lock /tmp/requirements-runtime.lock
RUN pip install --require-hashes --only-binary=:all: -r /tmp/requirements-runtime.lock

# The build backend for telecon itself (hatchling), pinned by hash like everything else.
COPY requirements-build.lock /tmp/requirements-build.lock
RUN pip install --require-hashes --only-binary=:all: -r /tmp/requirements-build.lock

# telecon as an ordinary wheel; the source tree stays in this stage.
WORKDIR /src
COPY pyproject.toml README.md /src/
COPY telecon /src/telecon
COPY templates /src/templates
COPY migrations /src/migrations
RUN pip install --no-deps --no-build-isolation /src \
 && cd / && python -c "import telecon.bundled as b; assert (b.bundled('migrations') / 'env.py').is_file() and (b.bundled('templates') / 'i18n').is_dir()" \
 && telecon --help > /dev/null

# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="telecon" \
      org.opencontainers.image.description="Video consultations for the health-and-work projects of German job centres"

# TELECON_ENV=production makes the image refuse to start with a development secret (TELECON_SECRET_KEY,
# TELECON_ENCRYPTION_KEY, TELECON_JITSI_APP_SECRET). To try the image without secrets, override it:
#   docker run --rm -p 8000:8000 -e TELECON_ENV=development telecon telecon serve --host 0.0.0.0 --demo
# TELECON_DATABASE_URL and the other settings come from the environment (compose.yaml, .env).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TELECON_ENV=production

RUN groupadd --system --gid 10001 telecon \
 && useradd --system --uid 10001 --gid telecon --home-dir /app --no-create-home --shell /usr/sbin/nologin telecon

COPY --from=build /opt/venv /opt/venv

# Byte-compiled now because the service cannot write to /opt/venv; var/ is the one writable place.
WORKDIR /app
RUN python -m compileall -q /opt/venv/lib \
 && mkdir -p /app/var/mail \
 && chown -R telecon:telecon /app/var \
 && telecon --help > /dev/null

USER 10001:10001

EXPOSE 8000

# /health answers once `telecon serve` has applied the migrations and uvicorn is listening.
# The worker (same image) has no HTTP server: compose.yaml switches this check off for it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# `telecon serve` migrates the database (alembic upgrade head), then serves HTTP with uvicorn.
CMD ["telecon", "serve", "--host", "0.0.0.0", "--port", "8000"]
