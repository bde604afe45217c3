"""A partner reads its own refusals and nobody else's: each partner has its own rejection topic
(`partner.<slug>.rejections.v1`, readable by that partner's principal only)."""

from __future__ import annotations

from intake_harness import RunningIntake
from signaalpunt_contracts import Envelope, PartnerSignalRejectedV1, partner_rejections_topic
from test_partner_channel import GP, _read, rejection_of, report, send

HOUSING = "urn:signaalpunt:partner:woonstichting-walcheren"


async def test_each_partner_reads_only_its_own_rejections(intake: RunningIntake) -> None:
    outside = report(subject={"birth_year": 1950, "postcode": "1012 AB"})
    mine = await send(intake, outside)
    theirs = await send(intake, outside, source=HOUSING)
    # both refused, and both on the signal point's shared (internal) topic
    assert (await rejection_of(intake, mine)).partner == GP
    assert (await rejection_of(intake, theirs)).partner == HOUSING

    def own_topic(urn: str) -> str:
        return partner_rejections_topic(urn, prefix=intake.partner_topic_prefix).name

    def events(values: list[bytes]) -> list[PartnerSignalRejectedV1]:
        return [Envelope[PartnerSignalRejectedV1].model_validate_json(v).data for v in values]

    gp = events(
        await _read(
            intake, own_topic(GP), lambda v: mine in {e.partner_event_id for e in events(v)}
        )
    )
    housing = events(
        await _read(
            intake, own_topic(HOUSING), lambda v: theirs in {e.partner_event_id for e in events(v)}
        )
    )
    assert {e.partner for e in gp} == {GP}
    assert {e.partner for e in housing} == {HOUSING}
    assert theirs not in {e.partner_event_id for e in gp}
    assert mine not in {e.partner_event_id for e in housing}
