# telecon: production image (web process by default; `telecon worker` for the arq worker).
#
#   docker build -t telecon .            or     docker compose build      (compose.yaml)
#
# Layout inside the image, the same as a checkout, because telecon finds alembic.ini, migrations/ and
# templates/ beside its package (telecon/migrate.py: ROOT = Path(__file__).resolve().parent.parent):
#   /opt/venv       the virtual environment (locked dependencies + telecon installed editable)
#   /app            the build context minus .dockerignore, owned by root, read-only for the service
#   /app/var        the only writable directory (SQLite and .eml files when those defaults are used)
# The service runs as the unprivileged user telecon (uid/gid 10001) with /app as working directory.

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
# unpinned build dependencies).
# Note: requirements.lock is compiled with the dev extra, so pytest, pytest-asyncio, ruff, mypy and
# aiosmtpd (and what they pull in) are installed too. They are inert at run time but add size; a separate
# runtime lock (`uv pip compile pyproject.toml --generate-hashes -o requirements-runtime.lock`, without
# --extra dev) would slim the image - then copy and install that file here instead.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock

# The build backend for the editable install of telecon itself, pinned by hash like everything else.
COPY requirements-build.lock /tmp/requirements-build.lock
RUN pip install --require-hashes --only-binary=:all: -r /tmp/requirements-build.lock

# telecon is installed *editable* from /app: its console script and metadata go into /opt/venv, its code
# stays at /app/telecon, next to alembic.ini and migrations/. A regular (non-editable) install would put the
# package into site-packages, where migrate.ROOT would not find the migrations. The runtime stage copies the
# same tree to the same path.
WORKDIR /app
COPY . /app
RUN pip install --no-deps --no-build-isolation --editable /app \
 && python -c "import telecon.migrate as m; assert (m.ROOT / 'alembic.ini').is_file() and (m.ROOT / 'migrations').is_dir(), m.ROOT" \
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

WORKDIR /app
COPY . /app
# Readable but not writable for the service whatever the modes in the checkout were; byte-compiled now
# because the service cannot write there; var/ is the one writable place.
RUN chmod -R u=rwX,go=rX /app \
 && python -m compileall -q /app/telecon /app/migrations \
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
