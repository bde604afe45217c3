# syntax=docker/dockerfile:1
# One image for every Signaalpunt service and job; the command chooses which:
#   python -m signaalpunt_intake.main | signaalpunt_triage.main | … (services)
#   signaalpunt-migrate all | signaalpunt-topics ensure (one-shot jobs)
# Build: docker build -t signaalpunt:dev .   (checked offline by `make deploy-check`: hadolint)
#
# Stages: `manifests` keeps only the workspace's pyproject.toml files and uv.lock, so the layer
# with the third-party dependencies is rebuilt only when those change, not on every source edit;
# `build` installs them, then the project itself (non-editable, no dev group: no pytest, no test
# kit, no linters); `runtime` copies the virtual environment alone into a clean image that runs
# as an unprivileged user and works with a read-only root filesystem (writable: /tmp only).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS manifests
WORKDIR /src
COPY . .
# keep the dependency manifests only (their folders stay, so uv sees the same workspace)
RUN find . -type f ! -name pyproject.toml ! -name uv.lock -delete \
    && find . -depth -type d -empty -delete

FROM ${PYTHON_IMAGE} AS build
# uv from PyPI, pinned; it stays in this stage
RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY --from=manifests /src /src
# third-party dependencies only: cached until a pyproject.toml or uv.lock changes
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace
COPY . .
# the project's own packages, built from this source (no cache: never a stale build of them)
RUN uv sync --frozen --no-dev --no-editable --no-cache

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="signaalpunt" \
      org.opencontainers.image.description="Signaalpunt services and jobs (one image)"
RUN groupadd --system --gid 10001 signaalpunt \
    && useradd --system --uid 10001 --gid signaalpunt --no-create-home --shell /usr/sbin/nologin signaalpunt
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
# the service's /readyz on its management port (each service's compose/Kubernetes spec sets the URL)
ENV SIGNAALPUNT_HEALTH_URL=http://127.0.0.1:9000/readyz
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SIGNAALPUNT_HEALTH_URL'], timeout=4)"]
CMD ["signaalpunt-migrate", "--help"]
