# One image for the three coKreat jobs; the command picks the job:
#   docker run --rm -e JOB_CONFIG_FILE=/etc/cokreat/job.conf -v "$PWD/job.conf:/etc/cokreat/job.conf:ro" \
#     cokreat-jobs:TAG python -m bytewax.run flows.content_auto_creator
# Build: `make image` (docker build -t cokreat-jobs:$(VERSION) .). Kubernetes: k8s/README.md.
#
# bytewax 0.21.1 ships manylinux wheels for CPython 3.8-3.12 only (glibc, no musl): Debian slim, 3.11.
FROM python:3.11-slim-bookworm

# tini runs as PID 1: it passes SIGTERM/SIGINT on to the job (which then stops cleanly: the events
# in flight reach an outcome and their offsets are committed) and reaps zombies. A Python PID 1
# would ignore SIGTERM where no handler is installed yet, and `sh -c` would not pass it on.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Runtime dependencies only (requirements-dev.txt is for tests, the demo and benchmarks), every one
# pinned with == in requirements.txt, transitive ones included.
COPY requirements.txt ./
RUN python -m pip install --no-cache-dir --requirement requirements.txt \
    && python -m pip check

# The jobs and the tools an operator runs with the same image (tools.replay: failed records back
# to the input topic). Compiled now: the root filesystem is read-only in Kubernetes.
COPY flows/ flows/
COPY connectors/ connectors/
COPY tools/ tools/
RUN python -m compileall -q flows connectors tools

# waxctl and the bytewax Helm chart start the container with `sh ./entrypoint.sh` in its working
# directory and name the dataflow in BYTEWAX_IMPORT_STR (or, older charts, BYTEWAX_PYTHON_FILE_PATH):
# this script keeps the image usable there (k8s/README.md, "waxctl"). Not used otherwise.
RUN printf '%s\n' '#!/bin/sh' 'cd "${BYTEWAX_WORKDIR:-/app}"' \
        'exec python -m bytewax.run "${BYTEWAX_IMPORT_STR:-$BYTEWAX_PYTHON_FILE_PATH}"' > entrypoint.sh \
    && chmod 0755 entrypoint.sh

# A user without a login, uid/gid 10001 (k8s/base runs the pod as the same ids).
RUN groupadd --system --gid 10001 cokreat \
    && useradd --system --uid 10001 --gid cokreat --no-create-home --home-dir /tmp --shell /usr/sbin/nologin cokreat
USER 10001:10001

# Writable paths: /tmp only (an emptyDir in Kubernetes). The content jobs download there
# (temp_file_location: /tmp/content, /tmp/auto-creator-v2); bytewax writes dataflow.json to
# BYTEWAX_DATAFLOW_API_CACHE_PATH at start and stops if it cannot, so not to the read-only /app.
# The dataflow API (GET :3030/metrics) is on when BYTEWAX_DATAFLOW_API_ENABLED is set at all,
# whatever its value: an image built from this file always serves metrics.
ENV HOME=/tmp \
    PYTHONPATH=/app \
    BYTEWAX_DATAFLOW_API_ENABLED=1 \
    BYTEWAX_DATAFLOW_API_PORT=3030 \
    BYTEWAX_DATAFLOW_API_CACHE_PATH=/tmp

# 9999: bytewax cluster traffic between the processes of one job (-a / BYTEWAX_HOSTFILE_PATH);
# 3030: GET /metrics (Prometheus); 8081: GET /livez and /readyz (health.port).
EXPOSE 9999 3030 8081

HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/livez', timeout=2)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# The job: flows.user_delete, flows.content_auto_creator or flows.auto_creator_v2, plus bytewax's
# flags (-w workers per process; -i/-a or the BYTEWAX_* variables for a multi-process cluster).
CMD ["python", "-m", "bytewax.run", "flows.user_delete"]
