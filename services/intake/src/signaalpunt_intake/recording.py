"""Recording a signal: sealed in memory first (`prepare_signal`), then stored with others in one
transaction (`store_signals`), for every channel.

HTTP submissions go through a group commit (`write_submissions`): concurrent requests share one
transaction, one commit and one statement per table, and each is answered once that transaction
has committed. Partner events are stored per consumer batch in the consumer's transaction.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from prometheus_client import Counter
from signaalpunt_access import TokenVerifier
from signaalpunt_contracts import (
    Channel,
    Concern,
    Reporter,
    SignalReceivedV1,
    SignalReport,
    Subject,
    Topic,
)
from signaalpunt_privacy import BlindIndex, NewDataKey, PersonalDataVault, access_log
from signaalpunt_privacy.access_log import AccessEntry, ActorKind, DataCategory, Operation, Purpose
from signaalpunt_privacy.vault import Sealer
from signaalpunt_runtime import Service, UnitOfWork
from signaalpunt_runtime.logs import get_logger
from uuid_utils.compat import uuid7

from . import repository
from .config import IntakeSettings
from .domain import MunicipalityTable, Partner, age_band

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
    partners: Mapping[str, Partner]  # the partner registry, as last read
    erased: Topic
    erasures_done: Counter


@dataclass(frozen=True)
class Origin:
    """Where a signal came from: the channel, who submitted it, and for partners which one."""

    channel: Channel
    submitted_by: str | None = None  # principal id or partner URN; None: anonymous web form
    partner: str | None = None
    partner_type: str | None = None
    partner_reference: str | None = None  # the partner's own event: source#id


@dataclass
class KeyStored:
    """Whether a prepared signal's data key is in the key store already. Keys are stored (and
    committed) before the group's transaction; when that transaction fails, the group is stored
    again one by one, and those keys must not be stored a second time (a duplicate subject key
    would fail every other member of the group)."""

    done: bool = False


@dataclass(frozen=True)
class PreparedSignal:
    """A signal sealed and ready to store; nothing of it is stored yet."""

    signal: SignalReceivedV1  # personal values sealed; possible_duplicate_of is settled on storing
    municipality: str
    submitted_by: str | None
    person_index: str | None
    receipt_token: str
    new_keys: tuple[NewDataKey, ...]  # the subject's, and the reporter's when they gave details
    idempotency: tuple[str, str] | None = None  # (scope, key) of an HTTP Idempotency-Key
    web_form_client: str | None = None  # anonymous: counted against this (hashed) client
    # the trace of the request or event it came from: a group commit stores it in another task
    trace_context: Context | None = None
    key_stored: KeyStored = field(default_factory=KeyStored)
    submitter_kind: ActorKind = ActorKind.PUBLIC  # for the access log: who handed it in

    def receipt(self, *, stored: bool = False) -> dict[str, Any]:
        """The answer the reporter gets (and gets again for a retry with the same key). The
        stored copy has no receipt token: a retry's answer derives it again from the key."""
        signal_id = self.signal.signal_id
        token = {} if stored else {"receipt_token": self.receipt_token}
        return {
            "signal_id": str(signal_id),
            "status": "received",
            **token,
            "status_url": f"/v1/signals/{signal_id}/status",
        }


def keyed_idempotency_key(intake: Intake, key: str) -> str:
    """What is stored of an Idempotency-Key: a keyed hash (the blind-index key, its own label)."""
    return intake.index.digest("idempotency-key", key)


def receipt_token_for(intake: Intake, scope: str, stored_key: str) -> str:
    """The receipt token of a request with an Idempotency-Key: derived from the key's hash
    with the secret blind-index key, so a retry gets the same token while no token is stored.
    Without the secret, the stored hash does not give the token away."""
    return intake.index.digest("receipt-token", scope, stored_key)


def canonical_signal(
    sealer: Sealer,
    report: SignalReport,
    origin: Origin,
    *,
    signal_id: UUID,
    subject_id: UUID,
    received_at: datetime,
    reporter: tuple[UUID, Sealer] | None = None,
) -> SignalReceivedV1:
    """Seal every personal value: the subject's with the subject's data key, the reporter's
    with the reporter's own (so a reporter can be erased apart from the signal); keep only what
    identifies nobody."""

    def seal(value: str | None, field: str, by: Sealer = sealer) -> str | None:
        return by.seal(value.strip(), field=field) if value and value.strip() else None

    reporter_id, reporter_sealer = reporter if reporter else (None, sealer)

    r, s, c = report.reporter, report.subject, report.concern
    return SignalReceivedV1(
        signal_id=signal_id,
        subject_id=subject_id,
        channel=origin.channel,
        reporter_id=reporter_id,
        reporter=Reporter(
            kind=r.kind,
            organisation_sealed=seal(r.organisation, "reporter.organisation", reporter_sealer),
            partner_type=origin.partner_type,
            partner=origin.partner,
            name=seal(r.name, "reporter.name", reporter_sealer),
            phone=seal(r.phone, "reporter.phone", reporter_sealer),
            email=seal(r.email, "reporter.email", reporter_sealer),
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
    )


def prepare_signal(
    intake: Intake,
    report: SignalReport,
    origin: Origin,
    municipality: str,
    *,
    idempotency: tuple[str, str] | None = None,
    web_form_client: str | None = None,
    received_at: datetime | None = None,
) -> PreparedSignal:
    """Everything that needs no I/O: ids, the receipt token, a new data key for the subject, the
    sealed canonical signal and the blind index for duplicate detection."""
    signal_id, subject_id = uuid7(), uuid7()
    sealer, new_key = intake.vault.new_subject(subject_id, municipality)
    new_keys = [new_key]
    reporter: tuple[UUID, Sealer] | None = None
    r = report.reporter
    if any(v and v.strip() for v in (r.name, r.phone, r.email, r.organisation)):
        reporter_id = uuid7()
        reporter_sealer, reporter_key = intake.vault.new_subject(reporter_id, municipality)
        reporter = (reporter_id, reporter_sealer)
        new_keys.append(reporter_key)
    person = report.subject
    return PreparedSignal(
        signal=canonical_signal(
            sealer,
            report,
            origin,
            signal_id=signal_id,
            subject_id=subject_id,
            # a replayed partner event keeps the time it first arrived (its deadline runs from it)
            received_at=received_at or datetime.now(UTC),
            reporter=reporter,
        ),
        municipality=municipality,
        submitted_by=origin.submitted_by,
        person_index=(
            intake.index.person(person.name, person.birth_year, person.postcode)
            if person.name
            else None
        ),
        receipt_token=(
            receipt_token_for(intake, *idempotency) if idempotency else secrets.token_urlsafe(24)
        ),
        new_keys=tuple(new_keys),
        idempotency=idempotency,
        web_form_client=web_form_client,
        trace_context=otel_context.get_current(),
        submitter_kind=(
            ActorKind.PUBLIC
            if origin.submitted_by is None
            else ActorKind.PARTNER
            if origin.partner
            else ActorKind.STAFF
        ),
    )


async def store_signals(
    intake: Intake, work: UnitOfWork, prepared: Sequence[PreparedSignal]
) -> list[SignalReceivedV1]:
    """Store prepared signals and stage their events, in the caller's transaction: the subjects'
    keys (committed first, so nothing sealed is ever committed without its key), the duplicate
    links, the rows, the outbox events and the idempotency answers: one statement each."""
    if not prepared:
        return []
    unstored = [p for p in prepared if not p.key_stored.done]
    await intake.vault.keep([k for p in unstored for k in p.new_keys])
    for p in unstored:
        p.key_stored.done = True
    earliest = min(p.signal.received_at for p in prepared) - intake.settings.duplicate_window
    people = {(p.municipality, p.person_index) for p in prepared if p.person_index}
    await repository.lock_people(work.connection, people)
    earlier = await repository.latest_signals_about(work.connection, people, earliest)
    stored: list[SignalReceivedV1] = []
    rows: list[repository.SignalRow] = []
    for p in prepared:
        person = (p.municipality, p.person_index) if p.person_index else None
        duplicate_of = earlier.get(person) if person else None
        signal = (
            p.signal.model_copy(update={"possible_duplicate_of": duplicate_of})
            if duplicate_of
            else p.signal
        )
        if person:
            earlier[person] = signal.signal_id  # a later one in this group links to this one
        stored.append(signal)
        rows.append(
            (
                signal.signal_id,
                signal.subject_id,
                p.municipality,
                signal.channel.value,
                p.submitted_by,
                p.person_index,
                duplicate_of,
                hashlib.sha256(p.receipt_token.encode()).digest(),
                signal.model_dump_json(),
                signal.received_at,
            )
        )
        await work.publish(
            intake.received,
            work.new_event(signal, municipality=p.municipality),
            key=str(signal.signal_id),
            trace_context=p.trace_context,
        )
    await repository.insert_signals(work.connection, rows)
    await access_log.record(
        work.connection, [_taken_in(p, s) for p, s in zip(prepared, stored, strict=True)]
    )
    await repository.complete_idempotency_keys(
        work.connection,
        [(*p.idempotency, p.receipt(stored=True)) for p in prepared if p.idempotency],
    )
    for signal, p in zip(stored, prepared, strict=True):
        # logged in the trace of the request (or event) the signal came with
        token = otel_context.attach(p.trace_context) if p.trace_context else None
        try:
            log.info(
                "signal received",
                signal_id=str(signal.signal_id),
                channel=signal.channel.value,
                municipality=p.municipality,
                possible_duplicate=signal.possible_duplicate_of is not None,
            )
        finally:
            if token is not None:
                otel_context.detach(token)
    return stored


def _taken_in(p: PreparedSignal, signal: SignalReceivedV1) -> AccessEntry:
    """The access-log entry of a signal taken in (a write of the person's data), in the trace of
    the request or event it came with. An anonymous web-form reporter is `anonymous`: the log
    keeps no address of theirs."""
    token = otel_context.attach(p.trace_context) if p.trace_context else None
    try:
        return AccessEntry.by(
            p.submitted_by or "anonymous",
            p.submitter_kind,
            activity="intake.signal_received",
            operation=Operation.WRITE,
            municipality=p.municipality,
            signal_id=signal.signal_id,
            subject_id=signal.subject_id,
            categories=(
                DataCategory.IDENTITY,
                DataCategory.CONTACT,
                DataCategory.CONCERN,
                *((DataCategory.REPORTER,) if len(p.new_keys) > 1 else ()),
            ),
            purpose=Purpose.SIGNAL_HANDLING,
        )
    finally:
        if token is not None:
            otel_context.detach(token)


async def claim_keys(
    intake: Intake, group: Sequence[tuple[str, str, bytes]]
) -> list[repository.Claim]:
    """The group commit's flush for Idempotency-Key claims: one statement for a whole group."""
    async with intake.service.pool.acquire() as conn:
        return await repository.claim_idempotency_keys(
            conn, group, intake.settings.idempotency_in_flight_timeout
        )


@dataclass(frozen=True)
class Accepted:
    receipt: dict[str, Any]


@dataclass(frozen=True)
class RateLimited:
    retry_after: int  # seconds


async def write_submissions(
    intake: Intake, group: Sequence[PreparedSignal]
) -> list[Accepted | RateLimited]:
    """The group commit's flush for `POST /v1/signals`: count the anonymous submissions against
    their clients' limits (refused ones are not stored and free their idempotency key), store
    the rest, commit once."""
    # counted in a statement of its own: a client's count row stays locked only for that
    # statement, not for the whole group transaction (which would make groups from one client
    # address wait for each other). A count is kept even if storing fails: it counts attempts.
    anonymous = [p.web_form_client for p in group if p.web_form_client]
    counts: dict[str, tuple[int, float, int]] = {}
    if anonymous:
        async with intake.service.pool.acquire() as conn:
            counts = await repository.count_requests(
                conn, anonymous, intake.settings.web_form_window_seconds
            )
    outcomes: list[Accepted | RateLimited] = []
    seen: dict[str, int] = {}
    for p in group:
        if p.web_form_client is None:
            outcomes.append(Accepted(p.receipt()))
            continue
        # the n-th of this client's submissions in the group had count `before + n`
        total, remaining, in_group = counts[p.web_form_client]
        seen[p.web_form_client] = n = seen.get(p.web_form_client, 0) + 1
        if total - in_group + n <= intake.settings.web_form_limit:
            outcomes.append(Accepted(p.receipt()))
        else:
            outcomes.append(RateLimited(max(1, math.ceil(remaining))))
    async with intake.service.transaction() as work:
        refused = [p for p, o in zip(group, outcomes, strict=True) if isinstance(o, RateLimited)]
        await repository.release_idempotency_keys(
            work.connection, [p.idempotency for p in refused if p.idempotency]
        )
        await store_signals(
            intake,
            work,
            [p for p, o in zip(group, outcomes, strict=True) if isinstance(o, Accepted)],
        )
    return outcomes
