"""Intake's HTTP edge: `POST /v1/signals` (web form, phone desk, partner portal) and the status
a reporter may see with their receipt token."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from signaalpunt_access import Principal, TokenVerifier
from signaalpunt_contracts import (
    Channel,
    Concern,
    Reporter,
    SignalReceivedV1,
    SignalReport,
    Subject,
    Topic,
)
from signaalpunt_privacy import BlindIndex, PersonalDataVault
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.http_api import install_problem_handlers, problem
from signaalpunt_runtime.logs import get_logger
from uuid_utils.compat import uuid7

from . import repository
from .config import IntakeSettings
from .domain import (
    MunicipalityTable,
    OutsideConsortiumError,
    Partner,
    SignalSubmission,
    age_band,
    authorise,
    settle_municipality,
)

log = get_logger(__name__)


@dataclass(frozen=True)
class Intake:
    service: Service
    settings: IntakeSettings
    municipalities: MunicipalityTable
    vault: PersonalDataVault
    index: BlindIndex
    verifier: TokenVerifier
    received: Topic
    partners: dict[str, Partner]


@dataclass(frozen=True)
class Origin:
    """Where a signal came from: the channel, who submitted it, and for partners which one."""

    channel: Channel
    submitted_by: str | None = None  # principal id or partner URN; None: anonymous web form
    partner: str | None = None
    partner_type: str | None = None
    partner_reference: str | None = None  # the partner's own event: source#id


async def canonical_signal(
    intake: Intake,
    report: SignalReport,
    origin: Origin,
    *,
    signal_id: UUID,
    subject_id: UUID,
    municipality: str,
    received_at: datetime,
    possible_duplicate_of: UUID | None,
) -> SignalReceivedV1:
    """Seal every personal value with the subject's data key; keep only what identifies nobody."""

    sealer = await intake.vault.sealer(subject_id, municipality)

    def seal(value: str | None, field: str) -> str | None:
        return sealer.seal(value.strip(), field=field) if value and value.strip() else None

    r, s, c = report.reporter, report.subject, report.concern
    return SignalReceivedV1(
        signal_id=signal_id,
        subject_id=subject_id,
        channel=origin.channel,
        reporter=Reporter(
            kind=r.kind,
            organisation=r.organisation,
            partner_type=origin.partner_type,
            partner=origin.partner,
            name=seal(r.name, "reporter.name"),
            phone=seal(r.phone, "reporter.phone"),
            email=seal(r.email, "reporter.email"),
            may_contact=r.may_contact,
            wants_feedback=r.wants_feedback,
        ),
        subject=Subject(
            name=seal(s.name, "subject.name"),
            birth_year=s.birth_year,
            age_band=s.age_band or age_band(s.birth_year, received_at.date()),
            address=seal(s.address, "subject.address"),
            postcode=seal(s.postcode, "subject.postcode"),
            phone=seal(s.phone, "subject.phone"),
            languages=tuple(s.languages),
            knows_of_signal=s.knows_of_signal,
            consented=s.consented,
        ),
        concern=Concern(text=seal(c.text, "concern.text"), cues=tuple(c.cues)),
        reported_urgency=report.reported_urgency,
        received_at=received_at,
        partner_reference=origin.partner_reference,
        possible_duplicate_of=possible_duplicate_of,
    )


async def _web_form_limit(intake: Intake, request: Request) -> JSONResponse | None:
    """Anonymous submissions are limited per client address, counted in PostgreSQL so every
    replica shares the count. The address itself is never stored: a keyed hash of it is."""
    address = request.client.host if request.client else "unknown"
    window = intake.settings.web_form_window_seconds
    client = intake.index.digest("web-form-client", address, str(window))
    async with intake.service.pool.acquire() as conn:
        count, remaining = await repository.count_request(conn, client, window)
    if count <= intake.settings.web_form_limit:
        return None
    retry_after = max(1, math.ceil(remaining))
    return problem(
        429,
        "Too many signals / Te veel meldingen",
        f"please try again in {retry_after} seconds / probeer het over {retry_after} seconden "
        "opnieuw, of bel het Signaalpunt",
        kind="rate-limited",
        headers={"Retry-After": str(retry_after)},
        instance=request.url.path,
    )


def build_api(intake: Intake) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt intake",
        version="1",
        description="Signals (meldingen) in; one canonical signal out on signals.received.v1.",
    )
    install_problem_handlers(api)

    @api.post("/v1/signals", status_code=202)
    async def submit(
        submission: SignalSubmission,
        request: Request,
        idempotency_key: str | None = Header(default=None, max_length=200),
    ) -> JSONResponse:
        """Take a signal in. Answers 202 only once the signal is durable (stored, and its event
        in the outbox in the same transaction)."""
        authorization = request.headers.get("authorization")
        principal = intake.verifier.verify(authorization) if authorization else None
        try:
            municipality = settle_municipality(submission, intake.municipalities)
        except OutsideConsortiumError as exc:
            return problem(
                422,
                "Outside this signal point / Buiten dit signaalpunt",
                exc.advice,
                kind="outside-consortium",
                instance=request.url.path,
            )
        except ValueError as exc:
            return problem(
                422,
                "Invalid request / Ongeldig verzoek",
                str(exc),
                kind="municipality",
                instance=request.url.path,
            )
        authorise(principal, submission.channel, municipality)
        if principal is None and (limited := await _web_form_limit(intake, request)) is not None:
            return limited

        scope = principal.subject if principal else "anonymous"
        if idempotency_key:
            async with intake.service.pool.acquire() as conn:
                claim = await repository.claim_idempotency_key(
                    conn,
                    scope,
                    idempotency_key,
                    submission.body_hash(),
                    intake.settings.idempotency_in_flight_timeout,
                )
            if claim.outcome is repository.ClaimOutcome.REPLAY:
                assert claim.response is not None
                return JSONResponse(claim.response, status_code=202)
            if claim.outcome is repository.ClaimOutcome.MISMATCH:
                return problem(
                    422,
                    "Idempotency key reused / Sleutel hergebruikt",
                    "this Idempotency-Key was used for a different request",
                    kind="idempotency-mismatch",
                    instance=request.url.path,
                )
            if claim.outcome is repository.ClaimOutcome.IN_FLIGHT:
                return problem(
                    409,
                    "Still being processed / Nog in behandeling",
                    "the first request with this Idempotency-Key is still running",
                    kind="idempotency-in-flight",
                    instance=request.url.path,
                )
        try:
            response = await _store_submission(
                intake,
                submission,
                municipality,
                principal,
                (scope, idempotency_key) if idempotency_key else None,
            )
        except BaseException:
            if idempotency_key:
                async with intake.service.pool.acquire() as conn:
                    await repository.release_idempotency_key(conn, scope, idempotency_key)
            raise
        return JSONResponse(response, status_code=202)

    @api.get("/v1/signals/{signal_id}/status")
    async def status(
        signal_id: UUID, receipt_token: str = Header(max_length=100)
    ) -> dict[str, str]:
        """What a reporter may know: `received`, `being_handled` (the signal point is on it) or
        `handled` (the case is closed); never details."""
        async with intake.service.pool.acquire() as conn:
            stored = await repository.receipt_and_handling(conn, signal_id)
        given = hashlib.sha256(receipt_token.encode()).digest()
        if stored is None or not hmac.compare_digest(stored[0], given):
            # the same answer for "no such signal" and "wrong token": existence is not revealed
            raise HTTPException(404, "no signal with this id and receipt token")
        return {"signal_id": str(signal_id), "status": stored[1]}

    return api


async def record_signal(
    intake: Intake, work: UnitOfWork, report: SignalReport, origin: Origin, municipality: str
) -> tuple[UUID, str]:
    """Store the sealed signal and stage its event, in the caller's transaction.
    Returns the signal id and the receipt token for the reporter."""
    signal_id, subject_id = uuid7(), uuid7()
    receipt_token = secrets.token_urlsafe(24)
    received_at = datetime.now(UTC)
    person = report.subject
    person_index = (
        intake.index.person(person.name, person.birth_year, person.postcode)
        if person.name
        else None
    )
    duplicate_of = (
        await repository.earlier_signal_about(
            work.connection,
            municipality,
            person_index,
            received_at - intake.settings.duplicate_window,
        )
        if person_index
        else None
    )
    signal = await canonical_signal(
        intake,
        report,
        origin,
        signal_id=signal_id,
        subject_id=subject_id,
        municipality=municipality,
        received_at=received_at,
        possible_duplicate_of=duplicate_of,
    )
    await repository.insert_signal(
        work.connection,
        signal_id=signal_id,
        subject_id=subject_id,
        municipality=municipality,
        channel=origin.channel.value,
        submitted_by=origin.submitted_by,
        person_index=person_index,
        possible_duplicate_of=duplicate_of,
        receipt_hash=hashlib.sha256(receipt_token.encode()).digest(),
        signal_json=signal.model_dump_json(),
        received_at=received_at,
    )
    await work.publish(
        intake.received, work.new_event(signal, municipality=municipality), key=str(signal_id)
    )
    log.info(
        "signal received",
        signal_id=str(signal_id),
        channel=origin.channel.value,
        municipality=municipality,
        possible_duplicate=duplicate_of is not None,
    )
    return signal_id, receipt_token


async def _store_submission(
    intake: Intake,
    submission: SignalSubmission,
    municipality: str,
    principal: Principal | None,
    idempotency: tuple[str, str] | None,
) -> dict[str, Any]:
    is_partner = principal is not None and principal.partner_type is not None
    origin = Origin(
        channel=submission.channel,
        submitted_by=principal.subject if principal else None,
        partner=principal.subject if is_partner and principal else None,
        partner_type=principal.partner_type if is_partner and principal else None,
    )
    async with intake.service.transaction() as work:
        signal_id, receipt_token = await record_signal(
            intake, work, submission, origin, municipality
        )
        response = {
            "signal_id": str(signal_id),
            "status": "received",
            "receipt_token": receipt_token,
            "status_url": f"/v1/signals/{signal_id}/status",
        }
        if idempotency:
            await repository.complete_idempotency_key(work.connection, *idempotency, response)
    return response
