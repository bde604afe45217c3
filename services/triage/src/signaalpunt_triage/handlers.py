"""Triage's work: decide each received signal, record coordinator decisions and case steps.

Every state change and the events it causes are one transaction (the runtime's outbox), so a
decision is never stored without its event nor published without being stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter, Gauge
from signaalpunt_contracts import (
    CONTACT_FIELDS,
    FIRST_NAME_FIELD,
    TEXT_FIELD,
    AcuteSignalAlertV1,
    Advice,
    CaseState,
    CaseStep,
    CaseStepRecordedV1,
    CloseReason,
    ContactDetails,
    DecidedBy,
    Envelope,
    FiredRule,
    HelpQuestion,
    PossibleAcuteAlertV1,
    Priority,
    ReferralUpdatedV1,
    RiskGroup,
    Route,
    SignalReceivedV1,
    SignalTriagedV1,
    Topic,
)
from signaalpunt_privacy import (
    Opener,
    PersonalDataVault,
    SubjectErasedError,
    TamperedError,
    UnknownSubjectError,
)
from signaalpunt_runtime import PermanentError, Service, UnitOfWork
from signaalpunt_runtime.logs import get_logger

from . import repository
from .decisions import Decision, acute_matches, decide, possible_acute_matches
from .lifecycle import REFERRAL_OUTCOMES, Outcome, apply_step
from .rules import Rulebook

log = get_logger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Topics:
    received: Topic
    triaged: Topic
    alerts: Topic
    missed: Topic
    steps: Topic
    possible_alerts: Topic
    review_missed: Topic
    erased: Topic
    referrals: Topic | None = None
    """Referral progress for the case timeline (None: not followed, e.g. in some tests)."""


class TriageMetrics:
    """Counts of what triage decided; labels are routes and kinds, never ids or people."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            # not `signaalpunt_triage_decisions`: that is the metrics service's durable figure
            "signaalpunt_triage_decisions_published",
            "Triage decisions published by this process, by route, priority and who decided",
            ["route", "priority", "decided_by"],
            registry=registry,
        )
        self.signals_read = Counter(
            "signaalpunt_triage_signals_read",
            "Signals whose text and cues the rules read, by the lane that read them (in turn "
            "reads only what the acute lane did not read first)",
            ["lane"],
            registry=registry,
        )
        for lane in ("acute", "in_turn"):
            self.signals_read.labels(lane=lane)
        self.acute_alerts = Counter(
            "signaalpunt_triage_acute_alerts",
            "Acute alerts raised for the coordinator on duty",
            [],
            registry=registry,
        )
        self.possible_acute_alerts = Counter(
            "signaalpunt_triage_possible_acute_alerts",
            "Possible-acute signals put before a coordinator for review within hours",
            [],
            registry=registry,
        )
        self.reviews_missed = Counter(
            "signaalpunt_triage_possible_acute_reviews_missed",
            "Possible-acute signals not reviewed by their review deadline (by this replica)",
            [],
            registry=registry,
        )
        self.deadlines_missed = Counter(
            "signaalpunt_triage_deadlines_missed",
            "First-contact deadlines reported missed (by this replica)",
            ["priority"],
            registry=registry,
        )
        self.steps = Counter(
            "signaalpunt_triage_case_steps",
            "Case steps recorded, by step",
            ["step"],
            registry=registry,
        )
        # a watcher that stopped looking misses every deadline silently: the alert
        # SignaalpuntDeadlineWatcherStopped compares this with the time
        self.watcher_last_pass = Gauge(
            "signaalpunt_triage_deadline_watcher_last_pass_timestamp_seconds",
            "When this replica's deadline watcher last went through every due deadline (Unix time)",
            registry=registry,
        )
        self.watcher_failed_passes = Counter(
            "signaalpunt_triage_deadline_watcher_failed_passes",
            "Passes of the deadline watcher that failed (tried again after the interval)",
            registry=registry,
        )


class DecidedAhead:
    """The acute lane's decisions of the signals it passed on, for triage in turn to take instead
    of reading the same text again (the reading is most of the work). Bounded: when triage in
    turn is further behind than this, or reads a partition another replica's lane read, it
    decides itself. Only decisions are kept (cue names and the rules' words), never text.

    When triage in turn is ahead of the lane instead (both start on the same backlog), it
    notes the signals it decided itself, and the lane passes them by: reading them again would
    only double the work of whichever lane is behind. Triage in turn decides every signal
    anyway (and alerts for an acute one as the lane would), so a signal the lane passes by is
    never left undecided; should its batch fail, it is handled again, one by one."""

    def __init__(self, size: int = 5000) -> None:
        self._size = size
        self._decisions: OrderedDict[UUID, Decision] = OrderedDict()
        self._in_turn: OrderedDict[UUID, None] = OrderedDict()

    def put(self, event_id: UUID, decision: Decision) -> None:
        self._decisions[event_id] = decision
        if len(self._decisions) > self._size:
            self._decisions.popitem(last=False)

    def take(self, event_id: UUID) -> Decision | None:
        return self._decisions.pop(event_id, None)

    def decided_in_turn(self, event_id: UUID) -> None:
        self._in_turn[event_id] = None
        if len(self._in_turn) > self._size:
            self._in_turn.popitem(last=False)

    def passed_by(self, event_id: UUID) -> bool:
        """Whether triage in turn decided this signal already (the lane need not read it)."""
        if event_id not in self._in_turn:
            return False
        del self._in_turn[event_id]
        return True


@dataclass
class Triage:
    service: Service
    rulebook: Rulebook
    vault: PersonalDataVault
    topics: Topics
    clock: Clock = system_clock
    lock_duration: timedelta = timedelta(minutes=10)
    metrics: TriageMetrics = field(init=False)
    decided_ahead: DecidedAhead = field(default_factory=DecidedAhead)

    def __post_init__(self) -> None:
        self.metrics = TriageMetrics(self.service.metrics)


# -- the rules' decision ---------------------------------------------------------------------


def read_concern(opener: Opener, signal: SignalReceivedV1) -> str | None:
    """The reporter's words, decrypted here only (with the data keys `opener` fetched for the
    batch in one round trip); None when absent or the subject was erased."""
    if signal.concern.text is None:
        return None
    try:
        return opener.open(signal.subject_id, signal.concern.text, field="concern.text")
    except (SubjectErasedError, UnknownSubjectError):
        # erased (or never keyed): triage on the checkboxes alone rather than not at all
        log.warning(
            "concern text not readable; triaged on cues only", signal_id=str(signal.signal_id)
        )
        return None
    except TamperedError as exc:
        # sealed for another subject or field, or altered: the message's own fault, parked with
        # the reason (an acute text must not be decided as if it said nothing)
        raise PermanentError(str(exc)) from exc


URGENT_ROUTES = frozenset({Route.ACUUT, Route.MOGELIJK_ACUUT})
"""What the acute lane triages itself: the coordinator on duty hears of these, not in turn."""


def rules_decision(triage: Triage, opener: Opener, event: Envelope[SignalReceivedV1]) -> Decision:
    rules = triage.rulebook.for_municipality(event.municipality)
    return decide(event.data, read_concern(opener, event.data), rules)


async def on_signals_received(
    triage: Triage, events: list[Envelope[SignalReceivedV1]], work: UnitOfWork
) -> None:
    """Triage in turn: every signal, in the order received, a batch per transaction. Most were
    decided by the acute lane ahead of it (`DecidedAhead`); the rest are read here, their texts
    opened with one fetch of their data keys."""
    ahead = [triage.decided_ahead.take(event.event_id) for event in events]
    unread = [e for e, d in zip(events, ahead, strict=True) if d is None]
    for event in unread:
        triage.decided_ahead.decided_in_turn(event.event_id)
    triage.metrics.signals_read.labels(lane="in_turn").inc(len(unread))
    opener = await triage.vault.opener(
        [e.data.subject_id for e in unread if e.data.concern.text is not None]
    )
    decided = [
        (event, decision or rules_decision(triage, opener, event))
        for event, decision in zip(events, ahead, strict=True)
    ]
    await _record_rules_decisions(triage, work, decided)


async def on_signals_received_acute_lane(
    triage: Triage, events: list[Envelope[SignalReceivedV1]], work: UnitOfWork
) -> None:
    """The acute lane (its own consumer group on the same topic): the same decision for every
    signal, but only an acute or possible-acute one is recorded, with its alert, at once; the
    rest is left to triage in turn, which finds the urgent ones decided already (the case's
    signal id is unique, so whichever lane comes first decides, once). It writes nothing for an
    ordinary signal, and triage in turn takes its decision rather than reading the text again
    (`DecidedAhead`), so the lane's reading is the only reading and it runs ahead.

    A batch's texts are opened together: their data keys come in one round trip to the key
    store (a fetch and a pool connection per signal were 15% of triage's CPU in a drain);
    should one not open, the spine handles the batch again one signal at a time, with the
    usual failure classes."""
    events = [e for e in events if not triage.decided_ahead.passed_by(e.event_id)]
    triage.metrics.signals_read.labels(lane="acute").inc(len(events))
    opener = await triage.vault.opener(
        [e.data.subject_id for e in events if e.data.concern.text is not None]
    )
    urgent = []
    for event in events:
        decision = rules_decision(triage, opener, event)
        triage.decided_ahead.put(event.event_id, decision)
        if decision.route in URGENT_ROUTES:
            urgent.append((event, decision))
    await _record_rules_decisions(triage, work, urgent)


async def _record_rules_decisions(
    triage: Triage,
    work: UnitOfWork,
    decided: list[tuple[Envelope[SignalReceivedV1], Decision]],
) -> None:
    """Store the rules' decisions as new cases (one round trip for the lot) and tell of each,
    in the order of `decided`."""
    now = triage.clock()
    created = await repository.insert_cases(
        work.connection,
        [
            repository.NewCase(
                signal_id=event.data.signal_id,
                subject_id=event.data.subject_id,
                municipality=event.municipality,
                channel=event.data.channel.value,
                received_at=event.data.received_at,
                decision=decision,
            )
            for event, decision in decided
        ],
        decided_at=now,
    )
    for event, decision in decided:
        if event.data.signal_id not in created:
            # decided already (by the acute lane, or the same signal again under another event
            # id: a replay), or erased before it got here (topics are not ordered among each
            # other)
            log.debug("signal already triaged or erased", signal_id=str(event.data.signal_id))
            continue
        created.discard(event.data.signal_id)  # a replay in the same batch is told of once
        with work.traced(event):
            await _announce_rules_decision(triage, event, work.for_event(event), decision, now)


async def _announce_rules_decision(
    triage: Triage,
    event: Envelope[SignalReceivedV1],
    work: UnitOfWork,
    decision: Decision,
    now: datetime,
) -> None:
    signal = event.data
    await _publish_decision(
        triage,
        work,
        event.municipality,
        signal_id=signal.signal_id,
        subject_id=signal.subject_id,
        channel=signal.channel.value,
        received_at=signal.received_at,
        decision=decision,
        number=1,
        decided_by=DecidedBy.RULES,
        staff=None,
        reason=None,
        decided_at=now,
        alert=decision.route is Route.ACUUT,
    )
    if decision.review_due is not None:
        await _publish_possible_acute_alert(
            triage, work, event.municipality, signal, decision, raised_at=now
        )
    await work.publish(
        triage.topics.steps,
        work.new_event(
            CaseStepRecordedV1(
                signal_id=signal.signal_id,
                step=CaseStep.TRIAGED,
                previous_state=CaseState.RECEIVED,
                state=CaseState.TRIAGED,
                route=decision.route,
                recorded_by="triage",
                received_at=signal.received_at,
                recorded_at=now,
            )
        ),
        key=str(signal.signal_id),
    )
    log.info(
        "signal triaged",
        signal_id=str(signal.signal_id),
        route=decision.route.value,
        priority=decision.priority.value,
        rules=[f.rule for f in decision.explanation],
        rules_version=decision.rules_version,
    )


async def _publish_decision(
    triage: Triage,
    work: UnitOfWork,
    municipality: str,
    *,
    signal_id: Any,
    subject_id: Any,
    channel: str,
    received_at: datetime,
    decision: Decision,
    number: int,
    decided_by: DecidedBy,
    staff: str | None,
    reason: str | None,
    decided_at: datetime,
    alert: bool,
) -> None:
    triaged = SignalTriagedV1(
        signal_id=signal_id,
        subject_id=subject_id,
        channel=channel,  # type: ignore[arg-type]
        decision=number,
        route=decision.route,
        risk_groups=decision.risk_groups,
        priority=decision.priority,
        first_contact_due=decision.first_contact_due,
        needs_review=decision.needs_review,
        review_due=decision.review_due,
        explanation=decision.explanation,
        advice=decision.advice,
        decided_by=decided_by,
        decided_by_staff=staff,
        reason=reason,
        rules_version=decision.rules_version,
        received_at=received_at,
        decided_at=decided_at,
    )
    key = str(signal_id)
    await work.publish(
        triage.topics.triaged, work.new_event(triaged, municipality=municipality), key=key
    )
    # counted before the commit: a rolled-back transaction over-counts by one, which the
    # metrics service (counting from the topics) does not; these are for operators' eyes
    triage.metrics.decisions.labels(
        decision.route.value, decision.priority.value, decided_by.value
    ).inc()
    # the coordinator on duty hears of an acute signal at once: on the rules' decision, or
    # when a coordinator turns a signal acute (not again when an acute one is only confirmed)
    if alert:
        acute = AcuteSignalAlertV1(
            signal_id=signal_id,
            subject_id=subject_id,
            matched=acute_matches(decision) or ("coordinator",),
            advice=decision.advice,
            first_contact_due=decision.first_contact_due,
            raised_at=decided_at,
        )
        await work.publish(
            triage.topics.alerts, work.new_event(acute, municipality=municipality), key=key
        )
        triage.metrics.acute_alerts.inc()


async def _publish_possible_acute_alert(
    triage: Triage,
    work: UnitOfWork,
    municipality: str,
    signal: SignalReceivedV1,
    decision: Decision,
    *,
    raised_at: datetime,
) -> None:
    """A coordinator must review this within hours: its own alert, with the review deadline."""
    assert decision.review_due is not None
    alert = PossibleAcuteAlertV1(
        signal_id=signal.signal_id,
        subject_id=signal.subject_id,
        matched=possible_acute_matches(decision),
        review_due=decision.review_due,
        raised_at=raised_at,
    )
    await work.publish(
        triage.topics.possible_alerts,
        work.new_event(alert, municipality=municipality),
        key=str(signal.signal_id),
    )
    triage.metrics.possible_acute_alerts.inc()


# -- a coordinator's decision ----------------------------------------------------------------


class ConflictError(Exception):
    """409: someone else holds the edit lock, the decision changed meanwhile, or the step is
    not possible in the case's state."""


class NotFoundError(Exception):
    pass


@dataclass(frozen=True)
class Change:
    route: Route | None
    risk_groups: tuple[RiskGroup, ...] | None
    priority: Priority | None
    reason: str | None
    based_on_decision: int | None


async def coordinator_decision(
    triage: Triage,
    *,
    signal_id: Any,
    municipalities: frozenset[str],
    staff: str,
    change: Change,
) -> repository.Case:
    """Confirm (no field changed) or override the current decision. Needs the edit lock, or no
    one else holding it (then it is taken for this change). Returns the case after the change."""
    now = triage.clock()
    async with triage.service.transaction() as work:
        conn = work.connection
        case = await repository.get_case(conn, signal_id, for_update=True)
        if case is None or case.municipality not in municipalities:
            raise NotFoundError  # a case of another municipality does not exist for this person
        lock = await repository.lock_of(conn, signal_id, now)
        if lock is not None and lock[0] != staff:
            raise ConflictError(f"another coordinator is editing this signal until {lock[1]:%H:%M}")
        if change.based_on_decision is not None and change.based_on_decision != case.decision:
            raise ConflictError(
                f"the decision changed meanwhile (now decision {case.decision}); reload first"
            )
        if case.state is CaseState.CLOSED:
            raise ConflictError("the case is closed; reopen it first")
        route = change.route or case.route
        priority = change.priority or case.priority
        if route is Route.ACUUT:
            priority = Priority.ACUTE
        groups = change.risk_groups if change.risk_groups is not None else case.risk_groups
        changed = (route, priority, set(groups)) != (
            case.route,
            case.priority,
            set(case.risk_groups),
        )
        if changed and not (change.reason and change.reason.strip()):
            raise ValueError("a change of route, risk groups or priority needs a reason")
        rules = triage.rulebook.for_municipality(case.municipality)
        if priority is case.priority:
            due = case.first_contact_due
        elif priority is Priority.ACUTE:
            # made acute now: first contact within the hour from now, not from the receipt
            due = rules.deadlines.due(priority, max(now, case.received_at))
        else:
            due = rules.deadlines.due(priority, case.received_at)
        advice = case.advice
        if route is Route.ACUUT and Advice.INVOLVE_113_OR_GP not in advice:
            advice = (*advice, Advice.INVOLVE_113_OR_GP)
        explanation = (
            *case.explanation,
            FiredRule(
                rule="coordinator",
                description=(
                    "Changed by a coordinator" if changed else "Confirmed by a coordinator"
                ),
                matched=(),
            ),
        )
        decision = Decision(
            route=route,
            priority=priority,
            risk_groups=tuple(groups),
            # an acute signal stays under review until it is closed by a coordinator
            needs_review=route is Route.ACUUT and case.first_contact_at is None,
            advice=advice,
            explanation=explanation,
            first_contact_due=due,
            rules_version=case.rules_version,
        )
        sealed_reason = (
            await triage.vault.seal(
                case.subject_id, case.municipality, change.reason.strip(), field="triage.reason"
            )
            if change.reason and change.reason.strip()
            else None
        )
        number = case.decision + 1
        await repository.insert_decision(
            conn,
            signal_id=signal_id,
            number=number,
            decision=decision,
            decided_by=DecidedBy.COORDINATOR,
            staff=staff,
            reason=sealed_reason,
            decided_at=now,
        )
        await repository.update_decision(
            conn, signal_id, number=number, decision=decision, decided_by=DecidedBy.COORDINATOR
        )
        # a coordinator looked at it (confirmed or changed): a possible-acute review is done
        await repository.mark_reviewed(conn, signal_id, now)
        became_acute = route is Route.ACUUT and case.route is not Route.ACUUT
        await _publish_decision(
            triage,
            work,
            case.municipality,
            signal_id=signal_id,
            subject_id=case.subject_id,
            channel=case.channel,
            received_at=case.received_at,
            decision=decision,
            number=number,
            decided_by=DecidedBy.COORDINATOR,
            staff=staff,
            reason=sealed_reason,
            decided_at=now,
            alert=became_acute,
        )
        updated = await repository.get_case(conn, signal_id)
        assert updated is not None
        return updated


# -- the desk's steps ------------------------------------------------------------------------


async def record_case_step(
    triage: Triage,
    *,
    signal_id: Any,
    municipalities: frozenset[str],
    staff: str,
    is_coordinator: bool,
    step: CaseStep,
    close_reason: CloseReason | None,
    note: str | None,
    help_question: HelpQuestion | None = None,
    help_question_plain: Mapping[str, str] | None = None,
    close_with_referral_outcome: bool = False,
) -> tuple[repository.Case, Outcome]:
    """`help_question` goes with step help_question_recorded only; its personal values (the
    words, the first name, the contact details) are given in plain in `help_question_plain`, by
    the field they are sealed under, and sealed here with the subject's data key."""
    if (step is CaseStep.HELP_QUESTION_RECORDED) != (help_question is not None):
        raise ConflictError(
            "help_question goes with the step help_question_recorded, and only there"
        )
    now = triage.clock()
    async with triage.service.transaction() as work:
        conn = work.connection
        case = await repository.get_case(conn, signal_id, for_update=True)
        if case is None or case.municipality not in municipalities:
            raise NotFoundError
        lock = await repository.lock_of(conn, signal_id, now)
        if lock is not None and lock[0] != staff:
            raise ConflictError(f"another coordinator is editing this signal until {lock[1]:%H:%M}")
        if close_with_referral_outcome:
            close_reason = await _referral_close_reason(conn, signal_id, step, close_reason)
        rules = triage.rulebook.for_municipality(case.municipality)
        outcome = apply_step(
            state=case.state,
            route=case.route,
            step=step,
            contact_attempts=case.contact_attempts,
            max_contact_attempts=rules.max_contact_attempts,
            close_reason=close_reason,
            is_coordinator=is_coordinator,
            had_first_contact=case.first_contact_at is not None,
        )
        sealed_note = (
            await triage.vault.seal(
                case.subject_id, case.municipality, note.strip(), field="case.note"
            )
            if note and note.strip()
            else None
        )
        await repository.record_step(
            conn,
            signal_id=signal_id,
            step=step.value,
            previous_state=case.state,
            state=outcome.state,
            close_reason=outcome.close_reason,
            note=sealed_note,
            recorded_by=staff,
            recorded_at=now,
            contact_attempts=outcome.contact_attempts,
            first_contact=outcome.first_contact,
        )
        if help_question is not None and help_question_plain:
            help_question = await _sealed_question(triage, case, help_question, help_question_plain)
        event = CaseStepRecordedV1(
            signal_id=signal_id,
            step=step,
            previous_state=case.state,
            state=outcome.state,
            route=case.route,
            close_reason=outcome.close_reason,
            note=sealed_note,
            contact_attempts=outcome.contact_attempts,
            help_question=help_question,
            risk_groups=case.risk_groups if help_question is not None else None,
            subject_id=case.subject_id if help_question is not None else None,
            recorded_by=staff,
            received_at=case.received_at,
            recorded_at=now,
        )
        await work.publish(
            triage.topics.steps,
            work.new_event(event, municipality=case.municipality),
            key=str(signal_id),
        )
        triage.metrics.steps.labels(step.value).inc()
        updated = await repository.get_case(conn, signal_id)
        assert updated is not None
        return updated, outcome


async def _sealed_question(
    triage: Triage, case: repository.Case, question: HelpQuestion, plain: Mapping[str, str]
) -> HelpQuestion:
    """The help question with its personal values sealed with the subject's data key, each under
    its own field (bound into the seal, so one cannot be passed off as another)."""
    sealed = {
        field: await triage.vault.seal(case.subject_id, case.municipality, value, field=field)
        for field, value in plain.items()
    }
    contact = {
        attribute: sealed[field] for attribute, field in CONTACT_FIELDS.items() if field in sealed
    }
    return question.model_copy(
        update={
            "text": sealed.get(TEXT_FIELD),
            "first_name": sealed.get(FIRST_NAME_FIELD),
            "contact": ContactDetails(**contact) if contact else None,
        }
    )


async def _referral_close_reason(
    conn: Any, signal_id: Any, step: CaseStep, given: CloseReason | None
) -> CloseReason:
    """The close reason the signal's latest referral outcome gives (`REFERRAL_OUTCOMES`)."""
    if step is not CaseStep.CLOSED or given is not None:
        raise ConflictError(
            "close_with_referral_outcome goes with the step closed, instead of a close_reason"
        )
    last = await repository.last_referral_step(conn, signal_id, tuple(REFERRAL_OUTCOMES))
    if last is None:
        raise ConflictError("no referral has an outcome yet: give a close_reason")
    return REFERRAL_OUTCOMES[last[1]]


async def on_referral_updated(
    triage: Triage, event: Envelope[ReferralUpdatedV1], work: UnitOfWork
) -> None:
    """Referral progress on the case's timeline: sent, accepted, declined, escalated, completed
    (the team closes the case with that outcome); proposals are the team's own worklist."""
    referral = event.data
    if referral.status.value == "proposed":
        return
    step = "referral_escalated" if referral.escalated else f"referral_{referral.status.value}"
    recorded = await repository.record_referral_progress(
        work.connection,
        signal_id=referral.signal_id,
        referral_id=referral.referral_id,
        step=step,
        recorded_by=referral.changed_by,
        recorded_at=referral.changed_at,
    )
    if not recorded:
        log.info("referral for a signal triage does not know", signal_id=str(referral.signal_id))


ACUTE_LANE_GROUP = "triage-acute"


def register_consumer(
    triage: Triage, *, batch_size: int | None = 200, acute_lane_batch: int | None = 200
) -> None:
    """Triage in turn (`batch_size` events per transaction; None: one at a time), and the acute
    lane beside it (`acute_lane_batch` events per transaction; None: no acute lane)."""

    # in batches: one transaction, one commit and one outbox statement per batch; the spine
    # still gives each event its own inbox row, and when a batch fails, handles its events one
    # by one with the usual failure classes (one bad event is parked alone, a database outage
    # waits)
    if batch_size is not None:

        @triage.service.consumer(
            triage.topics.received, group="triage", batch_size=batch_size, as_list=True
        )
        async def handle(events: list[Envelope[SignalReceivedV1]], work: UnitOfWork) -> None:
            await on_signals_received(triage, events, work)

    else:

        @triage.service.consumer(triage.topics.received, group="triage")
        async def handle_one(event: Envelope[SignalReceivedV1], work: UnitOfWork) -> None:
            await on_signals_received(triage, [event], work)

    if acute_lane_batch is not None:
        # in batches: for the ordinary signals it passes, one inbox statement and one commit
        # per batch is all it writes; urgent: it takes a signal the moment it is there, never
        # waiting for a batch to gather
        @triage.service.consumer(
            triage.topics.received,
            group=ACUTE_LANE_GROUP,
            batch_size=acute_lane_batch,
            as_list=True,
            urgent=True,
        )
        async def handle_urgent(events: list[Envelope[SignalReceivedV1]], work: UnitOfWork) -> None:
            await on_signals_received_acute_lane(triage, events, work)

    if triage.topics.referrals is not None:

        @triage.service.consumer(triage.topics.referrals, group="triage")
        async def follow(event: Envelope[ReferralUpdatedV1], work: UnitOfWork) -> None:
            await on_referral_updated(triage, event, work)
