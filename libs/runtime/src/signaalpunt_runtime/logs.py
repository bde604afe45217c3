"""JSON logs through structlog, with service, trace id and span id on every line.

Standard-library loggers (aiokafka, FastStream, uvicorn) are routed through the same processors, so
everything a service prints is one JSON object per line. Never log personal data: ids and counts.

Quiet under failure: the spine's own code logs state changes (a stage paused, the relay lost its
database) and a periodic summary, not every attempt. The libraries underneath cannot be told so:
while Kafka is down aiokafka reports every reconnect attempt of every client (hundreds of lines a
second in a service with many consumers), asyncpg every failed refill of its pool. `RepeatFilter`
lets the first warning or error of each kind through, counts the repeats for a minute, and then
writes one line with the count.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, WrappedLogger


def _add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


REPEAT_WINDOW = 60.0
"""Seconds during which repeats of one library warning or error are counted, not written."""


class RepeatFilter(logging.Filter):
    """One line per kind of library warning/error per `window`, with the number of repeats.

    A kind is the logger, the level and the message template (`%s` arguments left out), so
    "Unable connect to node with id 1" and "… id 2" are one kind. The spine's own structured
    lines (structlog event dicts) pass untouched: they are quiet by design.
    """

    def __init__(self, window: float = REPEAT_WINDOW) -> None:
        super().__init__()
        self._window = window
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not isinstance(record.msg, str):
            return True
        key = (record.name, record.levelno, record.msg)
        now = time.monotonic()
        first, repeats = self._seen.get(key, (0.0, -1))
        if repeats >= 0 and now - first < self._window:
            self._seen[key] = (first, repeats + 1)
            return False
        self._seen[key] = (now, 0)
        if len(self._seen) > 1000:  # kinds are few; never let this grow without bound
            self._seen = {key: (now, 0)}
        if repeats > 0:
            record.msg = f"{record.msg} [{repeats} more like this in the last {self._window:.0f} s]"
        return True


def configure_logging(
    service: str,
    level: str = "INFO",
    stream: TextIO | None = None,
    *,
    instance: str | None = None,
) -> None:
    """Idempotent: safe to call again (tests, several services in one process). `instance`
    (the replica, a pod's name) goes on every line, so lines of replicas can be told apart."""

    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        if instance is not None:
            event_dict.setdefault("instance", instance)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        _add_trace_context,
        # the fields of uvicorn's access line, made structured by `_AccessLine`
        structlog.stdlib.ExtraAdder(allow=_AccessLine.FIELDS),
    ]
    structlog.configure(
        processors=[
            # below the logger's level: dropped before any processing (a per-signal line at
            # INFO costs nothing when the service logs at WARNING)
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # aiokafka is noisy at INFO about group joins; warnings and errors still show
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs every request at INFO (an SMS gateway call, a webhook): the callers log the
    # outcome that matters ("message sent"), once
    logging.getLogger("httpx").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessLine) for f in access.filters):
        access.addFilter(_AccessLine())


class _AccessLine(logging.Filter):
    """uvicorn's access line as fields (method, path, status, http_version), without who sent it
    and without the query string: a citizen's address is personal data, and next to the trace id
    it would link them to their anonymous signal (rate limiting keeps its own keyed hash of it,
    nothing else needs it); a query may carry what a form typed. The platform's probes and
    scrapes (every few seconds, from the orchestrator and Prometheus) are DEBUG lines: at INFO
    they would drown the requests people make."""

    FIELDS = ("method", "path", "status", "http_version")
    PROBES = frozenset({"/livez", "/readyz", "/startupz", "/metrics"})

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):  # not uvicorn's access line
            return True
        _, method, full_path, http_version, status = args
        path = str(full_path).split("?", 1)[0]
        if path in self.PROBES:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
        record.msg, record.args = "http request", ()
        record.method, record.path, record.status = method, path, status
        record.http_version = http_version
        return True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
