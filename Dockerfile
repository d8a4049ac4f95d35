# syntax=docker/dockerfile:1
# The mentorflow worker (and, with `codec-server` as its command, the codec server).
# Build: docker build -t mentorflow .   Run: docker run --env-file .env mentorflow

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install the project and its dependencies into a virtualenv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mentorflow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mentorship ./mentorship
COPY workflows ./workflows
COPY activities ./activities
COPY ledger ./ledger
COPY worker ./worker
COPY client ./client
COPY cli ./cli
# [otel]: MENTORFLOW_TRACING=true works out of the box.
RUN /opt/mentorflow/bin/pip install ".[otel]"

# ---- runtime: the virtualenv only, run by an unprivileged user
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 mentorflow \
    && useradd --system --uid 10001 --gid mentorflow --no-create-home \
        --home-dir /var/lib/mentorflow --shell /usr/sbin/nologin mentorflow \
    && install -d -o mentorflow -g mentorflow -m 0750 /var/lib/mentorflow
COPY --from=build /opt/mentorflow /opt/mentorflow
ENV PATH=/opt/mentorflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MENTORFLOW_DATA_DIR=/var/lib/mentorflow \
    MENTORFLOW_LOG_FORMAT=json
WORKDIR /var/lib/mentorflow
USER 10001:10001
# SIGTERM (docker stop) makes the worker stop polling and finish in-flight activities.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mentorflow"]
CMD ["worker"]
