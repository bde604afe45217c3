"""A service's HTTP contract checked with schemathesis's engine, in the test's own process.

The same engine as `schemathesis run --checks all`: every check (no 5xx; each status, media
type, header and body as documented; schema-valid requests taken and invalid ones refused;
authentication not ignored; an undeclared method a 405 with `Allow`; ...) in every phase the
document allows (examples, coverage, fuzzing, and the stateful phase over the document's links).
The run is synchronous (hypothesis), so a test whose service is served by its own event loop
calls it through `asyncio.to_thread`. Failures come back as data, so a test asserts on them
and a refusal names the operation, the check and a curl line that reproduces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

SEED = 20261202
_log = logging.getLogger("signaalpunt.contract")

# Refusals schemathesis does not count as one (its negative_data_rejection list): a body over the
# service's byte limit is a 413 before it is parsed, a head over the header limits a 431 (both
# problem+json, documented on every operation). Without them an oversized invalid body "was
# accepted".
REJECTED = [
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "431"),
    "5xx",  # not_a_server_error reports those
]


@dataclass(frozen=True)
class Allowance:
    """Statuses one check accepts on one operation beyond its defaults, with why: every rule
    JSON Schema cannot state is named here, and nothing else is allowed."""

    method: str
    path: str
    check: str
    statuses: tuple[str, ...]
    why: str
    phase: str | None = None  # only in this phase (e.g. "stateful"); None: in every one


@dataclass(frozen=True)
class ContractFailure:
    phase: str
    operation: str
    check: str
    title: str
    message: str
    reproduce: str

    def __str__(self) -> str:
        return (
            f"[{self.phase}] {self.operation}: {self.check} ({self.title})\n"
            f"  {self.message}\n  {self.reproduce[:600]}"
        )


@dataclass
class ContractRun:
    operations: set[str] = field(default_factory=set)  # each documented operation a case hit
    phases: dict[str, Status] = field(default_factory=dict)  # each phase that ran: its verdict
    skipped: dict[str, str] = field(default_factory=dict)  # each phase that did not: why
    stateful_steps: int = 0  # requests the stateful phase sent following the document's links
    cases: dict[str, int] = field(default_factory=dict)  # requests sent, per phase
    failures: list[ContractFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the engine could not test (not a verdict)

    @property
    def clean(self) -> bool:
        """No check failed and nothing kept the engine from testing."""
        return not self.failures and not self.errors

    def report(self) -> str:
        lines = [str(f) for f in sorted(set(self.failures), key=str)] + self.errors
        return "\n".join(lines) or "no failures"

    def summary(self) -> str:
        """What ran, for a test's output: the phases with their requests, and the ones skipped."""
        ran = ", ".join(f"{phase} {count}" for phase, count in self.cases.items())
        skipped = ", ".join(f"{phase} ({why})" for phase, why in self.skipped.items())
        return f"requests per phase: {ran}; skipped: {skipped or 'none'}"


# The management port's probes answer 503 while the service is not (yet) ready or a dependency
# does not answer within 3 s (a loaded machine): their documented answer, not a server fault.
PROBES_MAY_SAY_NOT_READY = [
    Allowance("GET", path, "not_a_server_error", ("503",), "a probe's documented 'not ready'")
    for path in ("/readyz", "/startupz")
]


def check_contract(
    document_url: str,
    *,
    url: str,
    headers: Mapping[str, str] | None = None,
    max_examples: int,
    allowances: Sequence[Allowance] = (),
    coverage_only: Collection[str] | None = None,
) -> ContractRun:
    """Every check in every phase against the API at `url`, from the OpenAPI document at
    `document_url` (the management port's), sending `headers` (a token) with every request.
    `allowances` widen one check on one operation (see `Allowance`). `coverage_only` (labels,
    `METHOD /path`) limits the coverage phase to those operations; every other phase still runs
    on every operation (see `anonymous_operations` for why a run without a token uses it)."""
    no_coverage: set[str] = set()
    if coverage_only is not None:
        paths = httpx.get(document_url, timeout=20).json()["paths"]
        documented = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
        no_coverage = documented - set(coverage_only)
    config = contract_config(
        url=url,
        headers=headers,
        max_examples=max_examples,
        allowances=allowances,
        no_coverage=no_coverage,
    )
    schema = schemathesis.openapi.from_url(document_url, config=config)
    run = ContractRun()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished):
            if event.phase.skip_reason is None:
                run.phases[event.phase.name.value] = event.status
            else:
                run.skipped[event.phase.name.value] = event.phase.skip_reason.value
        elif isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            _record(run, event)
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
    return run


def contract_config(
    *,
    url: str,
    headers: Mapping[str, str] | None,
    max_examples: int,
    allowances: Sequence[Allowance],
    no_coverage: Collection[str] = (),
) -> SchemathesisConfig:
    """schemathesis's configuration of one run: every check, `allowances` each on its one
    operation, and no coverage phase on the operations in `no_coverage` (labels)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": url,
            "headers": dict(headers or {}),
            "request-timeout": 20,
            "generation": {"max-examples": max_examples},
            "checks": {
                "enabled": True,
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            "phases": {"stateful": {"max-steps": max_examples}},
            "operations": [
                *(_operation_config(a) for a in allowances),
                *(
                    {"include-name": label, "phases": {"coverage": {"enabled": False}}}
                    for label in sorted(no_coverage)
                ),
            ],
        }
    )


def _operation_config(allowance: Allowance) -> dict[str, object]:
    checks = {allowance.check: {"expected-statuses": list(_defaults(allowance))}}
    # the label (`METHOD /path`), one filter: schemathesis ORs separate `include-method` and
    # `include-path` filters, which widened an allowance to every operation of its method and
    # every method of its path
    where = {"include-name": f"{allowance.method} {allowance.path}"}
    if allowance.phase is None:
        return {**where, "checks": checks}
    return {**where, "phases": {allowance.phase: {"checks": checks}}}


def _defaults(allowance: Allowance) -> tuple[str, ...]:
    defaults = {
        "not_a_server_error": ("2xx", "3xx", "4xx"),
        "positive_data_acceptance": ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx"),
        "negative_data_rejection": tuple(REJECTED),
    }[allowance.check]
    return (*defaults, *allowance.statuses)


def _record(run: ContractRun, event: events.ScenarioFinished) -> None:
    phase = event.phase.value
    for node in event.recorder.cases.values():
        run.operations.add(node.value.operation.label)  # the documented one, whatever method sent
        run.cases[phase] = run.cases.get(phase, 0) + 1
        if phase == "stateful":
            run.stateful_steps += 1
    for case_id, nodes in event.recorder.checks.items():
        response = event.recorder.find_response(case_id=case_id)
        answered = (
            f"answered {response.status_code} {response.content[:300]!r}: "
            if response is not None
            else ""
        )
        for check in nodes:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            run.failures.append(
                ContractFailure(
                    phase=phase,
                    operation=failure.operation or event.label or "?",
                    check=check.name,
                    title=failure.title,
                    message=answered + " ".join(failure.message.split())[:400],
                    reproduce=check.failure_info.code_sample,
                )
            )


async def contract_of(
    api: httpx.AsyncClient,
    management: httpx.AsyncClient,
    *,
    headers: Mapping[str, str] | None = None,
    max_examples: int,
    document: str = "/openapi.json",
    allowances: Sequence[Allowance] = (),
    coverage_only: Collection[str] | None = None,
) -> ContractRun:
    """`check_contract` for a served service: its document from the management port (`document`),
    its requests to `api`; in a thread, so the service keeps being served by the test's loop."""
    run = await asyncio.to_thread(
        check_contract,
        f"{str(management.base_url).rstrip('/')}{document}",
        url=str(api.base_url).rstrip("/"),
        headers=headers,
        max_examples=max_examples,
        allowances=allowances,
        coverage_only=coverage_only,
    )
    _log.info("contract of %s: %s", document, run.summary())  # what ran, in the test's log
    return run


async def documented_operations(
    management: httpx.AsyncClient, document: str = "/openapi.json"
) -> set[str]:
    """`METHOD /path` of every operation the document states (to compare with `operations`)."""
    paths = (await management.get(document)).json()["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


async def anonymous_operations(
    management: httpx.AsyncClient, document: str = "/openapi.json"
) -> set[str]:
    """`METHOD /path` of every operation the document lets a caller without a token use (no
    `security`, or `{}` among its options).

    For a run without a token these are where the coverage phase tells something: on every other
    operation each of its cases (every boundary value of every parameter and body field, 240 to
    940 requests per service) meets the same 401 before its parameters and body are read. Those
    operations' coverage runs with a token (where schemathesis's `ignored_auth` check sends an
    accepted request again without the token and with a wrong one); the run without a token
    still sends them its fuzzing and stateful phases, their 401 checked against the document,
    and `access_matrix.assert_refused` sends every one of them without a token."""
    paths = (await management.get(document)).json()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method, operation in item.items()
        if not operation.get("security") or {} in operation["security"]
    }
