"""A background loop that fails on every round logs its state changes, not every round."""

from __future__ import annotations

import logging

import pytest
from signaalpunt_runtime.failure_log import FailureLog
from signaalpunt_runtime.logs import configure_logging
from signaalpunt_testkit.logs import collected_logs


@pytest.fixture(autouse=True)
def service_logging() -> None:
    configure_logging("failure-log-test", "INFO")  # the JSON lines a service writes


def test_a_dependency_down_is_one_line_then_one_when_it_works_again() -> None:
    failures = FailureLog("test sender")
    with collected_logs(logging.WARNING) as lines:
        for _ in range(100):
            failures.failed(ConnectionRefusedError(111, "Connection refused"))
        assert failures.failing
        failures.worked()
        failures.worked()
    assert len(lines) == 2, "\n".join(lines)
    assert "test sender failing; retrying" in lines[0]
    assert "ConnectionRefusedError" in lines[0]
    assert "Traceback" not in lines[0], "a database that is down needs no stack"
    assert "test sender running again" in lines[1]
    assert '"attempts": 100' in lines[1]
    assert not failures.failing


def test_an_unknown_error_is_logged_with_its_stack_once() -> None:
    failures = FailureLog("test sender")
    with collected_logs(logging.WARNING) as lines:
        for _ in range(10):
            try:
                raise KeyError("a bug")
            except KeyError as exc:
                failures.failed(exc)
    assert len(lines) == 1
    assert "Traceback" in lines[0]
