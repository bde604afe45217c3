"""The rule table for the events that exist today (intake and triage). Pure functions.

| rule                           | on                    | to                        | channel    |
|--------------------------------|-----------------------|---------------------------|------------|
| acknowledge-reporter           | signal received       | reporter (may_contact)    | e-mail/SMS |
| feedback-to-reporter           | first triage; closed  | reporter (wants_feedback) | e-mail/SMS |
| assignment-to-route            | decision 1, reroute   | desk or team mailbox      | e-mail     |
| acute-alert-to-coordinator     | acute alert           | coordinator on duty       | e-mail+SMS |
| deadline-missed-to-coordinator | deadline missed       | coordinator on duty       | e-mail     |
| possible-acute-to-coordinator  | possible-acute alert  | coordinator on duty       | e-mail     |
| review-missed-to-coordinator   | review not in time    | coordinator on duty       | e-mail+SMS |
| refusal-to-partner             | partner signal refused| the partner's system      | webhook    |
| referral-to-organisation       | referral sent (e-mail)| the offer's referral box  | e-mail     |
| referral-update-to-team        | declined, no capacity | the route's team mailbox  | e-mail     |
| referral-escalation            | no answer in time     | coordinator on duty       | e-mail     |
| match-proposal-to-volunteer    | match proposed        | the volunteer (sealed)    | e-mail     |
| match-to-social-worker         | accepted; follow-up   | the coupled social worker | e-mail     |
| vog-expiring-to-coordinator    | VOG expires in 30 d   | coordinator on duty       | e-mail     |

What a reporter hears is only the state — received, being handled, handled — never details.
A volunteer hears the needs, the answer-by date and the signed one-time link (the link's page
shows the first name, area and availability); never the signal, the person's words or the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from signaalpunt_contracts import (
    AcuteSignalAlertV1,
    CaseStepRecordedV1,
    DeadlineMissedV1,
    Envelope,
    MatchStatus,
    MatchUpdatedV1,
    PartnerSignalRejectedV1,
    PossibleAcuteAlertV1,
    PossibleAcuteReviewMissedV1,
    ReferralStatus,
    ReferralUpdatedV1,
    SignalReceivedV1,
    SignalTriagedV1,
    VolunteerVogExpiringV1,
)
from signaalpunt_contracts.notifications import MessageChannel, RecipientKind
from signaalpunt_contracts.signals import ReporterKind
from signaalpunt_contracts.triage import CaseState, CaseStep, Route

from .domain import (
    Message,
    Rule,
    RuleBook,
    RuleContext,
    SignalFacts,
    Urgency,
    choose_language,
)

RECEIVED = SignalReceivedV1.event_type
TRIAGED = SignalTriagedV1.event_type
ACUTE = AcuteSignalAlertV1.event_type
DEADLINE = DeadlineMissedV1.event_type
STEP = CaseStepRecordedV1.event_type
REJECTED = PartnerSignalRejectedV1.event_type
POSSIBLE_ACUTE = PossibleAcuteAlertV1.event_type
REVIEW_MISSED = PossibleAcuteReviewMissedV1.event_type
REFERRAL = ReferralUpdatedV1.event_type
MATCH = MatchUpdatedV1.event_type
VOG_EXPIRING = VolunteerVogExpiringV1.event_type
VOLUNTEER_EMAIL_FIELD = "volunteer.email"
"""The field matching seals a volunteer's e-mail under (with the volunteer's own data key)."""

MAILBOX_OF_ROUTE: dict[str, str] = {
    Route.TEAM_EENZAAMHEID.value: "team_eenzaamheid",
    Route.TEAM_WELZIJN.value: "team_welzijn",
    # the coordinator is alerted separately; the desk makes the first contact
    Route.ACUUT.value: "desk",
    Route.MOGELIJK_ACUUT.value: "desk",  # the coordinator reviews it (its own alert)
    Route.JEUGDTEAM.value: "desk",  # the desk hands a minor to the municipality's youth team
    Route.BUITEN_BEREIK.value: "desk",
}


# -- what notifications remembers per signal ---------------------------------------------------


def advance_facts(
    previous: SignalFacts | None, event: Envelope[Any], default_language: str
) -> SignalFacts | None:
    """The signal's facts after `event` (an event about the signal that changes nothing
    returns `previous`)."""
    data = event.data
    if previous is not None and previous.erased:
        return previous  # a late event about an erased person brings nothing back
    if isinstance(data, SignalReceivedV1):
        base = previous or SignalFacts(signal_id=data.signal_id, municipality=event.municipality)
        reporter = data.reporter
        own_language = (
            data.subject.languages[0]
            if reporter.kind is ReporterKind.SELF and data.subject.languages
            else None
        )
        return replace(
            base,
            subject_id=data.subject_id,
            reporter_id=data.reporter_id,
            received_event_id=base.received_event_id or event.event_id,
            may_contact=reporter.may_contact,
            wants_feedback=reporter.wants_feedback,
            reporter_email=reporter.email,
            reporter_phone=reporter.phone,
            language=choose_language(own_language, default_language),
        )
    if isinstance(data, SignalTriagedV1):
        base = previous or SignalFacts(
            signal_id=data.signal_id,
            municipality=event.municipality,
            language=choose_language(default_language),
        )
        if data.decision <= base.decision:
            return base  # a replayed or late decision never moves the case back
        return replace(
            base,
            subject_id=base.subject_id or data.subject_id,
            route=data.route.value,
            decision=data.decision,
            first_triage_event_id=base.first_triage_event_id or event.event_id,
        )
    if isinstance(data, CaseStepRecordedV1):
        base = previous or SignalFacts(
            signal_id=data.signal_id,
            municipality=event.municipality,
            language=choose_language(default_language),
        )
        if data.step is CaseStep.REOPENED:
            return replace(base, closed_event_id=None)
        if data.state is CaseState.CLOSED and base.closed_event_id is None:
            return replace(base, closed_event_id=event.event_id)
        return base
    return previous  # a later service's event about the signal: the facts stay as they were


# -- the rules ---------------------------------------------------------------------------------


def _reporter_message(
    facts: SignalFacts, *, rule: str, template: str, reason: Any
) -> Message | None:
    """To the reporter's e-mail, else by SMS; None when there is no way to reach them."""
    # the reporter's values are sealed with the reporter's own key (older events: the subject's)
    key_of = facts.reporter_id or facts.subject_id
    if key_of is None:
        return None
    if facts.reporter_email:
        channel, value, field = MessageChannel.EMAIL, facts.reporter_email, "reporter.email"
    elif facts.reporter_phone:
        channel, value, field = MessageChannel.SMS, facts.reporter_phone, "reporter.phone"
    else:
        return None
    return Message(
        rule=rule,
        template=template,
        channel=channel,
        recipient_kind=RecipientKind.REPORTER,
        recipient=f"reporter:{facts.signal_id}",
        address={
            "kind": "sealed",
            "subject_id": str(key_of),
            "value": value,
            "field": field,
        },
        language=facts.language,
        context={"signal_id": str(facts.signal_id)},
        quiet_hours=True,  # a citizen is not texted at night either
        reason_event_id=reason,
        signal_id=facts.signal_id,
    )


def acknowledge_reporter(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    facts = context.facts
    if facts is None or not facts.may_contact:
        return ()
    message = _reporter_message(
        facts, rule="acknowledge-reporter", template="reporter_received", reason=event.event_id
    )
    return (message,) if message else ()


def feedback_to_reporter(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """'Being handled' after the first triage, 'handled' when the case closes.

    Runs on every event about the signal and plans from the remembered facts: whichever of
    'received' and 'triaged' arrives last (they are on different topics), the message is planned,
    and its dedupe key (the triage or closing event) is the same either way."""
    facts = context.facts
    if facts is None or not facts.wants_feedback:
        return ()
    planned = []
    if facts.first_triage_event_id is not None:
        planned.append(
            _reporter_message(
                facts,
                rule="feedback-to-reporter",
                template="reporter_in_progress",
                reason=facts.first_triage_event_id,
            )
        )
    if facts.closed_event_id is not None:
        planned.append(
            _reporter_message(
                facts,
                rule="feedback-to-reporter",
                template="reporter_handled",
                reason=facts.closed_event_id,
            )
        )
    return tuple(m for m in planned if m is not None)


def assignment_to_route(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    data: SignalTriagedV1 = event.data
    previous_route = context.previous.route if context.previous else None
    if data.decision != 1 and data.route.value == previous_route:
        return ()
    if context.facts is not None and context.facts.decision != data.decision:
        return ()  # an old decision arriving late: it assigns nothing
    municipality = context.municipality(event.municipality)
    mailbox = MAILBOX_OF_ROUTE[data.route.value]
    return (
        Message(
            rule="assignment-to-route",
            template="route_assignment",
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.DESK if mailbox == "desk" else RecipientKind.TEAM,
            recipient=f"mailbox:{event.municipality}:{mailbox}",
            address={"kind": "mailbox", "municipality": event.municipality, "mailbox": mailbox},
            language=municipality.language,
            context={
                "signal_id": str(data.signal_id),
                "route": data.route.value,
                "mailbox": mailbox,
                "priority": data.priority.value,
                "first_contact_due": data.first_contact_due.isoformat(),
                "needs_review": data.needs_review,
                "decision": data.decision,
                "rerouted_from": previous_route if data.decision != 1 else None,
                "link": f"{context.directory.staff_portal_url}/signals/{data.signal_id}",
            },
            signal_id=data.signal_id,
        ),
    )


def _to_coordinator(
    event: Envelope[Any],
    context: RuleContext,
    *,
    rule: str,
    template: str,
    channel: MessageChannel,
    values: dict[str, Any],
    urgency: Urgency,
    signal_id: Any,
) -> Message:
    municipality = context.municipality(event.municipality)
    return Message(
        rule=rule,
        template=template,
        channel=channel,
        recipient_kind=RecipientKind.COORDINATOR,
        recipient=f"coordinator:{event.municipality}",
        # resolved at send time: whoever is on duty when the message goes out
        address={"kind": "coordinator", "municipality": event.municipality},
        language=municipality.language,
        context={
            **values,
            "link": f"{context.directory.staff_portal_url}/signals/{signal_id}",
        },
        urgency=urgency,
        signal_id=signal_id,
    )


def acute_alert_to_coordinator(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    data: AcuteSignalAlertV1 = event.data
    values = {
        "signal_id": str(data.signal_id),
        "advice": [a.value for a in data.advice],
        "first_contact_due": data.first_contact_due.isoformat(),
    }
    return tuple(
        _to_coordinator(
            event,
            context,
            rule="acute-alert-to-coordinator",
            template="coordinator_acute_alert",
            channel=channel,
            values=values,
            urgency=Urgency.ACUTE,
            signal_id=data.signal_id,
        )
        for channel in (MessageChannel.EMAIL, MessageChannel.SMS)
    )


def deadline_missed_to_coordinator(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    data: DeadlineMissedV1 = event.data
    return (
        _to_coordinator(
            event,
            context,
            rule="deadline-missed-to-coordinator",
            template="coordinator_deadline_missed",
            channel=MessageChannel.EMAIL,
            values={
                "signal_id": str(data.signal_id),
                "route": data.route.value,
                "priority": data.priority.value,
                "state": data.state.value,
                "first_contact_due": data.first_contact_due.isoformat(),
            },
            urgency=Urgency.NORMAL,
            signal_id=data.signal_id,
        ),
    )


def possible_acute_to_coordinator(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """A possible acute risk: the coordinator on duty reviews it within hours, day or night."""
    data: PossibleAcuteAlertV1 = event.data
    return (
        _to_coordinator(
            event,
            context,
            rule="possible-acute-to-coordinator",
            template="coordinator_possible_acute",
            channel=MessageChannel.EMAIL,
            values={"signal_id": str(data.signal_id), "review_due": data.review_due.isoformat()},
            urgency=Urgency.ACUTE,  # the review deadline runs at night too: no quiet hours
            signal_id=data.signal_id,
        ),
    )


def review_missed_to_coordinator(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """Nobody reviewed a possible-acute signal in time: e-mail and SMS, at once."""
    data: PossibleAcuteReviewMissedV1 = event.data
    values = {"signal_id": str(data.signal_id), "review_due": data.review_due.isoformat()}
    return tuple(
        _to_coordinator(
            event,
            context,
            rule="review-missed-to-coordinator",
            template="coordinator_review_missed",
            channel=channel,
            values=values,
            urgency=Urgency.ACUTE,
            signal_id=data.signal_id,
        )
        for channel in (MessageChannel.EMAIL, MessageChannel.SMS)
    )


def refusal_to_partner(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    data: PartnerSignalRejectedV1 = event.data
    partner = context.directory.partners.get(data.partner)
    if partner is None or partner.webhook is None:
        return ()  # the partner reads partner.signals.rejections.v1 itself
    return (
        Message(
            rule="refusal-to-partner",
            template="partner_refusal",
            channel=MessageChannel.WEBHOOK,
            recipient_kind=RecipientKind.PARTNER,
            recipient=f"partner:{data.partner}",
            address={"kind": "partner", "urn": data.partner},
            language=partner.language,
            context={
                "webhook_type": "signal.rejected",
                "partner": data.partner,
                "partner_event_id": data.partner_event_id,
                "reason": data.reason,
                "detail": data.detail,
                "field_errors": [e.model_dump(mode="json") for e in data.field_errors],
                "rejected_at": data.rejected_at.isoformat(),
            },
        ),
    )


def referral_to_organisation(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """The receiving organisation hears of a referral sent by e-mail: the offer, the needs and a
    link to its inbox; the person's words and details only behind its own token, never in mail."""
    data: ReferralUpdatedV1 = event.data
    if data.status is not ReferralStatus.SENT or data.escalated or not data.referral_email:
        return ()
    municipality = context.municipality(event.municipality)
    return (
        Message(
            rule="referral-to-organisation",
            template="organisation_referral",
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.ORGANISATION,
            recipient=f"organisation:{data.organisation_id}",
            address={"kind": "organisation", "email": data.referral_email},
            language=municipality.language,
            context={
                "referral_id": str(data.referral_id),
                "service_name": data.service_name,
                "needs": [n.value for n in data.needs],
                "respond_by": data.respond_by.isoformat() if data.respond_by else None,
                "link": f"{context.directory.staff_portal_url}/referrals/{data.referral_id}",
            },
            signal_id=data.signal_id,
        ),
    )


def referral_update_to_team(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """A decline or no capacity goes to the team of the case's route (the next offer is already
    proposed); an unanswered referral escalates to the coordinator on duty."""
    data: ReferralUpdatedV1 = event.data
    values: dict[str, Any] = {
        "signal_id": str(data.signal_id),
        "service_name": data.service_name,
        "status": data.status.value,
        "decline_reason": data.decline_reason.value if data.decline_reason else None,
        "escalated": data.escalated,
    }
    if data.escalated:
        return (
            _to_coordinator(
                event,
                context,
                rule="referral-escalation",
                template="team_referral_update",
                channel=MessageChannel.EMAIL,
                values=values,
                urgency=Urgency.NORMAL,
                signal_id=data.signal_id,
            ),
        )
    if data.status not in {ReferralStatus.DECLINED, ReferralStatus.NO_CAPACITY}:
        return ()
    route = context.facts.route if context.facts and context.facts.route else None
    mailbox = MAILBOX_OF_ROUTE.get(route or "", "team_welzijn")
    municipality = context.municipality(event.municipality)
    return (
        Message(
            rule="referral-update-to-team",
            template="team_referral_update",
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.DESK if mailbox == "desk" else RecipientKind.TEAM,
            recipient=f"mailbox:{event.municipality}:{mailbox}",
            address={"kind": "mailbox", "municipality": event.municipality, "mailbox": mailbox},
            language=municipality.language,
            context={
                **values,
                "link": f"{context.directory.staff_portal_url}/signals/{data.signal_id}",
            },
            signal_id=data.signal_id,
        ),
    )


def volunteer_language(speaks: Sequence[str], municipality_language: str) -> str:
    """The municipality's language when the volunteer speaks it (or nothing is known), else one
    the volunteer speaks that a template exists in (a volunteer who speaks English but no Dutch
    gets the English mail), else the municipality's (Dutch, with an English part)."""
    if not speaks or municipality_language in speaks:
        return choose_language(municipality_language)
    return choose_language(*sorted(speaks), municipality_language)


def match_proposal_to_volunteer(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """A volunteer is asked: the needs, the answer-by date and the signed one-time link, to the
    address sealed with the volunteer's own key (opened only when the mail goes out)."""
    data: MatchUpdatedV1 = event.data
    if (
        data.status is not MatchStatus.PROPOSED
        or data.answer_url is None
        or data.volunteer_contact is None
        or data.volunteer_id is None
    ):
        return ()
    municipality = context.municipality(event.municipality)
    return (
        Message(
            rule="match-proposal-to-volunteer",
            template="volunteer_proposal",
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.VOLUNTEER,
            recipient=f"volunteer:{data.volunteer_id}",
            address={
                "kind": "sealed",
                "subject_id": str(data.volunteer_id),
                "value": data.volunteer_contact,
                "field": VOLUNTEER_EMAIL_FIELD,
            },
            language=volunteer_language(data.volunteer_languages, municipality.language),
            context={
                "needs": [n.value for n in data.needs],
                "respond_by": data.respond_by.isoformat() if data.respond_by else None,
                "link": data.answer_url,
            },
            signal_id=data.signal_id,
        ),
    )


def match_to_social_worker(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """The coupled social worker hears that a volunteer accepted (to follow the contact up), and
    four weeks after the start is asked whether it became a real match."""
    data: MatchUpdatedV1 = event.data
    if data.social_worker is None or data.match_id is None:
        return ()
    if data.follow_up_due:
        template = "social_worker_match_follow_up"
    elif data.status is MatchStatus.ACCEPTED:
        template = "social_worker_match_accepted"
    else:
        return ()
    municipality = context.municipality(event.municipality)
    return (
        Message(
            rule="match-to-social-worker",
            template=template,
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.SOCIAL_WORKER,
            recipient=f"staff:{event.municipality}:{data.social_worker}",
            address={
                "kind": "staff",
                "municipality": event.municipality,
                "staff_id": data.social_worker,
            },
            language=municipality.language,
            context={
                "social_worker": data.social_worker,
                "needs": [n.value for n in data.needs],
                "match_id": str(data.match_id),
                "link": f"{context.directory.staff_portal_url}/matches/{data.match_id}",
            },
            signal_id=data.signal_id,
        ),
    )


def vog_expiring_to_coordinator(event: Envelope[Any], context: RuleContext) -> Sequence[Message]:
    """A volunteer's certificate of conduct runs out soon: the coordinator on duty renews it or
    pauses the volunteer (one event per certificate, so one mail)."""
    data: VolunteerVogExpiringV1 = event.data
    municipality = context.municipality(event.municipality)
    return (
        Message(
            rule="vog-expiring-to-coordinator",
            template="coordinator_vog_expiring",
            channel=MessageChannel.EMAIL,
            recipient_kind=RecipientKind.COORDINATOR,
            recipient=f"coordinator:{event.municipality}",
            address={"kind": "coordinator", "municipality": event.municipality},
            language=municipality.language,
            context={
                "volunteer_id": str(data.volunteer_id),
                "vog_expires_on": data.vog_expires_on.isoformat(),
                "social_worker": data.social_worker,
                "link": f"{context.directory.staff_portal_url}/volunteers/{data.volunteer_id}",
            },
        ),
    )


def default_rules() -> RuleBook:
    """A fresh rule book with the rules for today's events; later services register theirs."""
    feedback = "State feedback to a reporter who asked for it: being handled, handled"
    return RuleBook(
        [
            Rule("acknowledge-reporter", RECEIVED, acknowledge_reporter, "Receipt to reporter"),
            Rule("feedback-to-reporter", RECEIVED, feedback_to_reporter, feedback),
            Rule("feedback-to-reporter", TRIAGED, feedback_to_reporter, feedback),
            Rule("feedback-to-reporter", STEP, feedback_to_reporter, feedback),
            Rule("assignment-to-route", TRIAGED, assignment_to_route, "New case for a mailbox"),
            Rule("acute-alert-to-coordinator", ACUTE, acute_alert_to_coordinator, "Acute alert"),
            Rule(
                "deadline-missed-to-coordinator",
                DEADLINE,
                deadline_missed_to_coordinator,
                "First-contact deadline missed",
            ),
            Rule(
                "possible-acute-to-coordinator",
                POSSIBLE_ACUTE,
                possible_acute_to_coordinator,
                "Possible acute risk: review within hours",
            ),
            Rule(
                "review-missed-to-coordinator",
                REVIEW_MISSED,
                review_missed_to_coordinator,
                "Possible acute risk not reviewed in time",
            ),
            Rule("refusal-to-partner", REJECTED, refusal_to_partner, "Refusal to the partner"),
            Rule(
                "referral-to-organisation",
                REFERRAL,
                referral_to_organisation,
                "A referral to the receiving organisation",
            ),
            Rule(
                "referral-update-to-team",
                REFERRAL,
                referral_update_to_team,
                "Declines to the team, unanswered referrals to the coordinator",
            ),
            Rule(
                "match-proposal-to-volunteer",
                MATCH,
                match_proposal_to_volunteer,
                "A match proposal with the signed answer link to the volunteer",
            ),
            Rule(
                "match-to-social-worker",
                MATCH,
                match_to_social_worker,
                "An accepted match and the four-week follow-up to the coupled social worker",
            ),
            Rule(
                "vog-expiring-to-coordinator",
                VOG_EXPIRING,
                vog_expiring_to_coordinator,
                "A volunteer's VOG expires within the warning window",
            ),
        ]
    )
