"""Carrying out an erasure: find, request, approve, then shred and announce.

Shredding comes first (the key store commits on its own pool), then one transaction deletes
what intake holds and stages a `signals.erased.v1` event per signal. Should that transaction
fail, the request stays open and is simply carried out again: shredding twice is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from signaalpunt_access import Principal
from signaalpunt_contracts import ErasureReason, ErasureScope, SignalErasedV1
from signaalpunt_privacy import access_log as log_book
from signaalpunt_privacy.access_log import AccessEntry, DataCategory, Operation, Purpose
from signaalpunt_runtime.logs import get_logger
from uuid_utils.compat import uuid7

from . import erasure_repository as repo
from .erasure import (
    Candidate,
    ErasureRequest,
    check_approver,
    check_open_acute,
    require_coordinator,
)
from .recording import Intake

log = get_logger(__name__)


SEARCH_ACTIVITY = "intake.erasure_search"
ERASE_ACTIVITY = "intake.erasure"


def _found(principal: Principal, candidates: Sequence[Candidate]) -> list[AccessEntry]:
    """A search processes the person's identity: one access-log entry per signal it names."""
    return [
        AccessEntry.of(
            principal,
            activity=SEARCH_ACTIVITY,
            operation=Operation.SEARCH,
            municipality=c.municipality,
            signal_id=c.signal_id,
            subject_id=c.subject_id,
            categories=(DataCategory.IDENTITY,),
            purpose=Purpose.ERASURE,
        )
        for c in candidates
    ]


class UnknownSignalsError(LookupError):
    """Some signals are not (or no longer) in the municipality: nothing was erased."""


class NotAwaitingApprovalError(LookupError):
    """No erasure with this id waits for approval in the coordinator's municipalities."""


async def find_person(
    intake: Intake,
    principal: Principal,
    municipality: str,
    *,
    name: str,
    birth_year: int | None,
    postcode: str | None,
) -> list[Candidate]:
    """The signals the blind index links to this person; the coordinator confirms which."""
    require_coordinator(principal, municipality)
    index = intake.index.person(name, birth_year, postcode)
    async with intake.service.pool.acquire() as conn:
        found = await repo.signals_about_person(conn, municipality, index)
        await log_book.record(conn, _found(principal, found))
    return found


async def find_like(
    intake: Intake, principal: Principal, municipality: str, signal_ids: Sequence[UUID]
) -> list[Candidate]:
    require_coordinator(principal, municipality)
    async with intake.service.pool.acquire() as conn:
        found = await repo.signals_like(conn, municipality, signal_ids)
        await log_book.record(conn, _found(principal, found))
    return found


async def request_erasure(
    intake: Intake,
    principal: Principal,
    *,
    municipality: str,
    signal_ids: Sequence[UUID],
    scope: ErasureScope,
    reason: ErasureReason,
    confirm_open_acute: bool,
) -> ErasureRequest:
    """Record the request; without four eyes it is carried out at once."""
    require_coordinator(principal, municipality)
    now = datetime.now(UTC)
    async with intake.service.transaction() as work:
        found = await repo.named_signals(work.connection, municipality, signal_ids)
        if {c.signal_id for c in found} != set(signal_ids):
            raise UnknownSignalsError("some signals are not in this municipality (or erased)")
        check_open_acute(scope, found, confirm_open_acute)
        request = ErasureRequest(
            erasure_id=uuid7(),
            municipality=municipality,
            scope=scope,
            reason=reason,
            signal_ids=tuple(dict.fromkeys(signal_ids)),
            requested_by=principal.subject,
            open_acute_confirmed=confirm_open_acute,
            state="awaiting_approval",
        )
        await repo.insert_request(work.connection, request, now)
    log.info(
        "erasure requested",
        erasure_id=str(request.erasure_id),
        municipality=municipality,
        scope=scope.value,
        reason=reason.value,
        signals=len(request.signal_ids),
    )
    if intake.settings.erasure_four_eyes:
        return request
    return await carry_out(intake, request.erasure_id, approved_by=None, by=principal)


async def approve_erasure(intake: Intake, principal: Principal, erasure_id: UUID) -> ErasureRequest:
    async with intake.service.pool.acquire() as conn:
        request = await repo.get_request(conn, erasure_id)
    if request is None or request.municipality not in principal.municipalities:
        raise NotAwaitingApprovalError(str(erasure_id))
    require_coordinator(principal, request.municipality)
    if request.state != "awaiting_approval":
        raise NotAwaitingApprovalError(str(erasure_id))
    check_approver(request, principal.subject)
    return await carry_out(intake, erasure_id, approved_by=principal.subject, by=principal)


async def erasure_of(
    intake: Intake, principal: Principal, erasure_id: UUID
) -> ErasureRequest | None:
    async with intake.service.pool.acquire() as conn:
        request = await repo.get_request(conn, erasure_id)
    if request is None or request.municipality not in principal.municipalities:
        return None
    require_coordinator(principal, request.municipality)
    return request


async def carry_out(
    intake: Intake, erasure_id: UUID, *, approved_by: str | None, by: Principal | None = None
) -> ErasureRequest:
    """Shred, delete, announce; `by` is the coordinator who set it going (None: a system job,
    the request's `requested_by`), for the access log."""
    now = datetime.now(UTC)
    async with intake.service.transaction() as work:
        request = await repo.get_request(work.connection, erasure_id, for_update=True)
        if request is None or request.state != "awaiting_approval":
            raise NotAwaitingApprovalError(str(erasure_id))
        found = await repo.named_signals(work.connection, request.municipality, request.signal_ids)
        person = request.scope is ErasureScope.PERSON
        for signal in found:
            # the keys first: from here on nothing sealed for them opens, anywhere
            if person:
                await intake.vault.erase(signal.subject_id, reason=request.reason.value)
            if signal.reporter_id is not None:
                await intake.vault.erase(signal.reporter_id, reason=request.reason.value)
        if person:
            await repo.delete_signals(work.connection, [s.signal_id for s in found])
        else:
            await repo.strip_reporter(work.connection, [s.signal_id for s in found])
        for signal in found:
            erased = SignalErasedV1(
                erasure_id=request.erasure_id,
                signal_id=signal.signal_id,
                scope=request.scope,
                subject_id=signal.subject_id if person else None,
                reporter_id=signal.reporter_id,
                reason=request.reason,
                erased_at=now,
            )
            await work.publish(
                intake.erased,
                work.new_event(erased, municipality=request.municipality),
                key=str(signal.signal_id),
            )
        await repo.mark_done(work.connection, erasure_id, approved_by, now)
        await log_book.record(work.connection, _erased(request, found, by))
    intake.erasures_done.labels(request.scope.value).inc(len(found))
    log.info(
        "erasure carried out",
        erasure_id=str(erasure_id),
        municipality=request.municipality,
        scope=request.scope.value,
        signals=len(found),
    )
    return ErasureRequest(**{**request.__dict__, "state": "done", "approved_by": approved_by})


def _erased(
    request: ErasureRequest, found: Sequence[Candidate], by: Principal | None
) -> list[AccessEntry]:
    person = request.scope is ErasureScope.PERSON
    fields = {
        "activity": ERASE_ACTIVITY,
        "operation": Operation.ERASE,
        "municipality": request.municipality,
        "categories": tuple(DataCategory) if person else (DataCategory.REPORTER,),
        "purpose": Purpose.ERASURE,
    }
    return [
        AccessEntry.of(by, signal_id=s.signal_id, subject_id=s.subject_id, **fields)
        if by is not None
        else AccessEntry.by_system(
            request.requested_by, signal_id=s.signal_id, subject_id=s.subject_id, **fields
        )
        for s in found
    ]
