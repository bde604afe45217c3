"""Who may call which referral route: every operation of the OpenAPI document states its token
kind and role with the shared `requires` dependency, checked before the body is read."""

from __future__ import annotations

from collections.abc import Callable

from referral_harness import RunningReferral
from signaalpunt_access.dev_tokens import mint
from signaalpunt_testkit.access_matrix import assert_refused, operations

EVERY_ROLE = ("coordinator", "desk", "team", "organisation", "operator", "volunteer")
CALLBACK = "POST /v1/referral/callbacks/{organisation_id}"  # signed, not a bearer token


def token_maker(
    referral: RunningReferral, roles: tuple[str, ...]
) -> Callable[[str], dict[str, str]]:
    def token(kind: str) -> dict[str, str]:
        subject = (
            "urn:signaalpunt:organisation:00000000-0000-0000-0000-000000000001"
            if kind == "partner"
            else f"{kind}:someone"
        )
        value = mint(
            referral.keys,
            subject=subject,
            kind=kind,
            municipalities=["GM0715", "GM0677", "GM0654"],
            roles=roles,
        )
        return {"Authorization": f"Bearer {value}"}

    return token


def templates(document: dict[str, object], prefix: tuple[str, ...]) -> list[str]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return [
        f"{method.upper()} {template}"
        for template, item in paths.items()
        for method in item
        if not template.startswith(prefix)
    ]


async def test_team_routes_are_for_staff_only(referral: RunningReferral) -> None:
    document = (await referral.management.get("/openapi.json")).json()
    not_team = templates(
        document,
        (
            "/v1/referral/signals",
            "/v1/referral/referrals",
            "/v1/referral/gaps",
            "/v1/referral/evaluation",
        ),
    )
    checked = await assert_refused(
        referral.client,
        document,
        token_maker(referral, EVERY_ROLE),
        refused_kinds=("partner", "service"),
        skip=not_team,
    )
    assert checked == len(operations(document, skip=not_team)) >= 5


async def test_the_social_map_is_for_coordinators_only(referral: RunningReferral) -> None:
    """The social map, and the access log: coordinators only."""
    document = (await referral.management.get("/openapi.json")).json()
    not_map = templates(document, ("/v1/referral/map", "/v1/referral/routes", "/v1/access-log"))
    checked = await assert_refused(
        referral.client,
        document,
        token_maker(referral, EVERY_ROLE),
        refused_kinds=("partner", "service"),
        skip=not_map,
    )
    assert checked == len(operations(document, skip=not_map)) >= 8
    # a desk or team member of the municipality reads no map and changes nothing
    for method, path in operations(document, skip=not_map):
        answer = await referral.client.request(
            method, path, json={}, headers=referral.staff("desk", "team")
        )
        assert answer.status_code == 403, (method, path, answer.status_code)


async def test_the_inbox_is_for_organisations_only(referral: RunningReferral) -> None:
    document = (await referral.management.get("/openapi.json")).json()
    not_inbox = templates(document, ("/v1/referral/inbox",))
    checked = await assert_refused(
        referral.client,
        document,
        token_maker(referral, EVERY_ROLE),
        refused_kinds=("staff", "service"),
        skip=not_inbox,
    )
    assert checked == len(operations(document, skip=not_inbox)) == 2
    # a partner token without the organisation role (a reporting partner) is refused too
    for method, path in operations(document, skip=not_inbox):
        answer = await referral.client.request(
            method, path, json={}, headers=token_maker(referral, ("reporter",))("partner")
        )
        assert answer.status_code == 403, (method, path, answer.status_code)


async def test_every_route_but_the_signed_callback_is_in_one_of_the_groups(
    referral: RunningReferral,
) -> None:
    document = (await referral.management.get("/openapi.json")).json()
    grouped = (
        "/v1/referral/signals",
        "/v1/referral/referrals",
        "/v1/referral/gaps",
        "/v1/referral/evaluation",
        "/v1/referral/map",
        "/v1/referral/routes",
        "/v1/referral/inbox",
        "/v1/access-log",
    )
    assert templates(document, grouped) == [CALLBACK]
