"""How a worker reports on itself: logs, Temporal SDK metrics, and traces when asked.

Logs: one structlog pipeline for our own events and for everything that goes through the
standard `logging` module (the Temporal SDK, and the SDK's Rust core, forwarded), rendered
as console lines for people or as one JSON object per line for log shippers
(MENTORFLOW_LOG_FORMAT). Events raised while an activity runs carry the relationship id
even when the caller did not bind it, so one relationship's story can be pulled out of a
fleet's logs.

Metrics: the SDK's own (task slots, poll and schedule-to-start latencies, activity
failures) on a Prometheus endpoint when MENTORFLOW_METRICS_PORT is set. They live in the
Temporal runtime, which every client is created on, so the runtime is set up before the
first connection.

Traces: OpenTelemetry spans for workflow and activity calls, exported over OTLP/HTTP (the
standard OTEL_EXPORTER_OTLP_* variables say where), when MENTORFLOW_TRACING=true. The
OpenTelemetry packages are an optional extra: nothing here imports them unless asked.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import Processor
from temporalio import activity
from temporalio.client import Interceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from worker.setting_checks import SettingsError, env_name
from worker.settings import Settings

SERVICE_NAME = "mentorflow-worker"
CORE_LOGGER = "temporalio.core"


# ------------------------------------------------------------------------------ logs


def add_relationship_id(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Inside an activity the workflow id is the relationship id; name it if nobody did."""
    if "relationship_id" not in event and activity.in_activity():
        event["relationship_id"] = activity.info().workflow_id
    return event


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_relationship_id,
        structlog.processors.StackInfoRenderer(),
    ]


def _rendering(settings: Settings) -> list[Processor]:
    if settings.log_format == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())]


def configure_logging(settings: Settings) -> None:
    """Route structlog and stdlib logging through one formatter on stdout, at the set level."""
    shared = _shared_processors()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_rendering(settings),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


# ------------------------------------------------------------------------------ metrics


def metrics_address(settings: Settings) -> str | None:
    if settings.metrics_port is None:
        return None
    host = settings.metrics_host
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{settings.metrics_port}"


def build_runtime(settings: Settings) -> Runtime:
    """The Temporal runtime: core logs forwarded to `logging`, metrics on Prometheus if set."""
    address = metrics_address(settings)
    telemetry = TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
        ),
        metrics=PrometheusConfig(bind_address=address) if address else None,
    )
    try:
        return Runtime(telemetry=telemetry)
    except Exception as err:  # the core reports a failed bind as a plain exception
        port = env_name("metrics_port")
        raise SettingsError(
            f"{port}={settings.metrics_port}: cannot serve metrics on {address} ({err}); "
            f"choose a free port in {port} or an address of this host in "
            f"{env_name('metrics_host')}"
        ) from None


def use_runtime(settings: Settings) -> Runtime:
    """Make the runtime the default, so clients connected from now on report through it."""
    runtime = build_runtime(settings)
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime


# ------------------------------------------------------------------------------ traces


@contextmanager
def tracing(settings: Settings) -> Iterator[Sequence[Interceptor]]:
    """The client interceptors that trace, and a provider flushed on the way out."""
    if not settings.tracing:
        yield ()
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    try:
        yield (TracingInterceptor(provider.get_tracer("mentorflow")),)
    finally:
        provider.shutdown()  # exports what is still buffered
