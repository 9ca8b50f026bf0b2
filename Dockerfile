# The MSR server image: the UI built in a Node stage, the locked Python dependencies installed in a build stage,
# and a slim runtime that runs `msr serve` as a non-root user. Configure it with the same MSR_* variables as
# anywhere else (README.md, docs/deploy.md); it has no embedded PostgreSQL or Redis, so MSR_DATABASE_URL and
# MSR_REDIS_URL must be set, and so must a signing key (MSR_JWT_SECRET, MSR_JWT_PUBLIC_KEY or MSR_JWKS_URL).
# Build: docker build -t msr .   The base images are build arguments so that a release can pin them by digest.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${NODE_IMAGE} AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY ui/ ./
# build.mjs writes the bundles to ../static/build.
RUN npm run --silent build

FROM ${PYTHON_IMAGE} AS python
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/msr
COPY requirements/server.txt /tmp/server.txt
# Exactly the locked versions, checked against their hashes (`make lock` writes requirements/server.txt).
RUN /opt/msr/bin/pip install --require-hashes --no-deps -r /tmp/server.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app/ app/
COPY playback/ playback/
COPY store/ store/
RUN /opt/msr/bin/pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 msr \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/msr --create-home msr
COPY --from=python /opt/msr /opt/msr
COPY static/ /opt/msr/static/
COPY --from=ui /src/static/build/ /opt/msr/static/build/
ENV PATH=/opt/msr/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MSR_HOST=0.0.0.0 \
    MSR_PORT=8000 \
    MSR_STATIC_DIR=/opt/msr/static \
    MSR_DATA_DIR=/var/lib/msr \
    MSR_METRICS_HOST=0.0.0.0
USER 10001:10001
WORKDIR /var/lib/msr
EXPOSE 8000
# /readiness answers 200 only while PostgreSQL and Redis answer; the slim image has no curl, Python has urllib.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readiness' % os.environ.get('MSR_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["msr"]
CMD ["serve"]
