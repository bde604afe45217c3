"""The service's own log output, as the JSON lines it prints, for tests that read it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collected_logs(level: int = logging.DEBUG) -> Iterator[list[str]]:
    """Every log line from `level` up while the block runs, formatted as the service formats it
    (JSON, after `configure_logging`); the root logger's level is put back afterwards."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record) if formatter else record.getMessage())

    collector = Collect(level=level)
    for kept in root.handlers[0].filters if root.handlers else ():
        collector.addFilter(kept)  # e.g. the service's collapsing of repeated library lines
    previous = root.level
    root.addHandler(collector)
    root.setLevel(level)
    try:
        yield lines
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)
