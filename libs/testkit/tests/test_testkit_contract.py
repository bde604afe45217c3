"""The contract kit's allowances widen one check on one operation, as their comment says, and
nothing else: schemathesis ORs separate method and path filters, so an allowance written as
`include-method` + `include-path` also held for every other POST (and every method of its
path), e.g. a 503 allowed on /readyz was allowed on every GET of the management port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import schemathesis
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from signaalpunt_testkit.contract import Allowance, contract_config

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/v1/signals": {
            "post": {"responses": {"202": {"description": "taken"}}},
            "get": {"responses": {"200": {"description": "listed"}}},
        },
        "/v1/erasures": {"post": {"responses": {"202": {"description": "asked"}}}},
    },
}
ALLOWED = Allowance(
    "POST", "/v1/signals", "positive_data_acceptance", ("422",), "a rule of state, for the test"
)
IN_STATEFUL = Allowance(
    "POST", "/v1/erasures", "positive_data_acceptance", ("410",), "for the test", "stateful"
)


def operations(schema: Any) -> Iterator[APIOperation[Any, Any, Any, Any]]:
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        yield result.ok()


def statuses(phase: str | None) -> dict[str, list[str]]:
    config = contract_config(
        url="http://127.0.0.1:1", headers=None, max_examples=5, allowances=[ALLOWED, IN_STATEFUL]
    )
    schema = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    project = schema.config
    found = {}
    for operation in operations(schema):
        checks = project.checks_config_for(operation=operation, phase=phase)
        found[operation.label] = checks.positive_data_acceptance.expected_statuses
    return found


def test_an_allowance_holds_for_its_one_operation_only() -> None:
    for phase in (None, "fuzzing", "stateful"):
        found = statuses(phase)
        assert "422" in found["POST /v1/signals"]
        assert "422" not in found["POST /v1/erasures"]  # same method, other path
        assert "422" not in found["GET /v1/signals"]  # same path, other method
    assert "410" in statuses("stateful")["POST /v1/erasures"]
    assert "410" not in statuses("fuzzing")["POST /v1/erasures"]  # its one phase only
    assert "410" not in statuses("stateful")["POST /v1/signals"]


def test_the_coverage_phase_is_left_out_only_where_asked() -> None:
    config = contract_config(
        url="http://127.0.0.1:1",
        headers=None,
        max_examples=5,
        allowances=[],
        no_coverage={"POST /v1/erasures"},
    )
    schema = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    enabled = {
        operation.label: schema.config.phases_for(operation=operation).coverage.enabled
        for operation in operations(schema)
    }
    assert enabled == {
        "POST /v1/signals": True,
        "GET /v1/signals": True,
        "POST /v1/erasures": False,
    }
