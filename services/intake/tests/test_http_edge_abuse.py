"""What an outside tester tried on intake's front door: one bad request must fail only itself,
tokens nobody issued are a 401, the staff routes refuse every other caller, the web-form limit
counts real clients, and an anonymous client's Idempotency-Key is its own."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import ip_network
from typing import Any

import pytest
from intake_harness import RunningIntake
from signaalpunt_intake import repository
from signaalpunt_testkit.access_matrix import assert_refused, operations
from test_http_channels import web_form

CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f"]
# (where in the body, value): unsealed fields that go into PostgreSQL as they are, and sealed
# ones, which must be refused for the same reason (the sealed value is opened again later)
POISONED_FIELDS: list[tuple[tuple[str, str], str]] = [
    (("reporter", "organisation"), "Buurthuis{}De Brug"),
    (("reporter", "name"), "Aaltje{}"),
    (("subject", "name"), "Mevrouw{}de Vries"),
    (("subject", "address"), "Kerkstraat{}1"),
    (("concern", "text"), "Zij ziet{}niemand meer."),
]


def poisoned(where: tuple[str, str], template: str, character: str) -> dict[str, Any]:
    body = web_form()
    part, field = where
    body[part] = {**body[part], field: template.format(character)}
    return body


@contextmanager
def web_form_settings(intake: RunningIntake, **changes: Any) -> Iterator[None]:
    settings = intake.service.settings
    saved = {name: getattr(settings, name) for name in changes}
    for name, value in changes.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


async def test_control_characters_are_refused_naming_the_field(intake: RunningIntake) -> None:
    for where, template in POISONED_FIELDS:
        for character in CONTROL_CHARACTERS:
            answer = await intake.client.post(
                "/v1/signals", json=poisoned(where, template, character)
            )
            assert answer.status_code == 422, (where, repr(character), answer.text[:300])
            assert answer.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in answer.json()["errors"]] == [".".join(where)]
    languages = web_form(subject={**web_form()["subject"], "languages": ["nl\x00"]})
    answer = await intake.client.post("/v1/signals", json=languages)
    assert answer.status_code == 422, answer.text[:300]
    # line breaks and tabs are ordinary text in a description
    fine = web_form(concern={"text": "Regel een\r\nregel\ttwee", "cues": ["lives_alone"]})
    assert (await intake.client.post("/v1/signals", json=fine)).status_code == 202


async def test_poisoned_requests_fail_only_themselves(intake: RunningIntake) -> None:
    """Rounds of valid and poisoned web forms sent at once (so they share group commits): every
    valid one is accepted, every poisoned one refused as its own fault."""
    rng = random.Random(15)
    for _ in range(4):
        bodies = [(True, web_form()) for _ in range(rng.randint(10, 40))]
        for _ in range(rng.randint(5, 40)):
            where, template = rng.choice(POISONED_FIELDS)
            bodies.append((False, poisoned(where, template, rng.choice(CONTROL_CHARACTERS))))
        rng.shuffle(bodies)
        answers = await asyncio.gather(
            *(intake.client.post("/v1/signals", json=body) for _, body in bodies)
        )
        for (valid, _), answer in zip(bodies, answers, strict=True):
            assert answer.status_code == (202 if valid else 422), answer.text[:300]


async def test_a_failing_group_stores_its_other_members_with_their_own_keys(
    intake: RunningIntake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever makes PostgreSQL refuse one member of a group after the subjects' keys were
    stored: the group is stored again one by one, and the others are accepted (the keys of the
    failed attempt must not be stored a second time)."""
    insert = repository.insert_signals

    async def refusing(conn: Any, rows: Any) -> None:
        # the reporter's kind is a vocabulary word, kept in clear (the organisation is sealed)
        if any('"business"' in row[8] for row in rows):
            raise ValueError("PostgreSQL refuses this row")
        await insert(conn, rows)

    monkeypatch.setattr(repository, "insert_signals", refusing)
    bad = web_form(reporter={"kind": "business", "organisation": "Winkel"})
    bodies = [bad if i % 5 == 0 else web_form() for i in range(40)]
    answers = await asyncio.gather(
        *(intake.client.post("/v1/signals", json=body) for body in bodies)
    )
    codes = [a.status_code for a in answers]
    assert codes == [500 if body is bad else 202 for body in bodies], codes


def _forged_rs256(kid: str) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode()
    return ".".join([part(header), part(b'{"sub": "x"}'), part(b"\x01" * 256)])


async def test_a_crafted_token_header_is_a_401_on_every_channel(intake: RunningIntake) -> None:
    kid = (intake.keys / "kid").read_text()
    forged = {"Authorization": f"Bearer {_forged_rs256(kid)}"}
    for body in (web_form(), web_form(channel="phone")):
        answer = await intake.client.post("/v1/signals", json=body, headers=forged)
        assert answer.status_code == 401, answer.text[:300]
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert len(answer.json()["detail"]) < 60


# public: the web form is anonymous (the desk's and partner portals' channels need a token with
# that channel, test_http_channels), the status needs the receipt token (test_http_channels), and
# the JWKS is the public half of intake's partner key (test_partner_keys)
PUBLIC = (
    "POST /v1/signals",
    "GET /v1/signals/{signal_id}/status",
    "GET /.well-known/jwks.json",
)
EVERY_ROLE = ("coordinator", "desk", "operator", "team", "volunteer")


async def test_every_staff_operation_refuses_other_callers(intake: RunningIntake) -> None:
    """Every operation but the public ones: without a token or with the crafted one a 401, with a
    partner's or service's token carrying every staff role a 403 (the other services' documents
    have had this test; intake's had not, and the crafted token gave a 500 here before)."""
    document = (await intake.management.get("/openapi.json")).json()

    def token(kind: str) -> dict[str, str]:
        subject = (
            "urn:signaalpunt:partner:huisartsen-terneuzen-noord"
            if kind == "partner"
            else (f"urn:signaalpunt:{kind}:someone")
        )
        return intake.token(kind=kind, roles=EVERY_ROLE, subject=subject)

    checked = await assert_refused(
        intake.client, document, token, refused_kinds=("partner", "service"), skip=PUBLIC
    )
    assert checked == len(operations(document, skip=PUBLIC)) >= 6


async def test_the_web_form_limit_ignores_forwarded_addresses_of_untrusted_peers(
    intake: RunningIntake,
) -> None:
    with web_form_settings(intake, web_form_limit=3, web_form_window_seconds=3597):
        answers = [
            await intake.client.post(
                "/v1/signals", json=web_form(), headers={"X-Forwarded-For": f"203.0.113.{i}"}
            )
            for i in range(6)
        ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429, 429]


async def test_behind_a_trusted_proxy_each_citizen_has_their_own_limit(
    intake: RunningIntake,
) -> None:
    with web_form_settings(
        intake,
        web_form_limit=2,
        web_form_window_seconds=3593,
        trusted_proxies=[ip_network("127.0.0.0/8")],
    ):

        async def send(forwarded: str) -> int:
            headers = {"X-Forwarded-For": forwarded}
            answer = await intake.client.post("/v1/signals", json=web_form(), headers=headers)
            return answer.status_code

        citizen_a = [await send("198.51.100.7") for _ in range(3)]
        # a forged first hop does not give another bucket: the proxy appends the real address
        citizen_b = [await send(f"10.9.9.{i}, 198.51.100.8") for i in range(3)]
    assert citizen_a == [202, 202, 429]
    assert citizen_b == [202, 202, 429]


async def test_anonymous_idempotency_keys_are_per_client(intake: RunningIntake) -> None:
    key = {"Idempotency-Key": "web-form-draft-1"}
    with web_form_settings(intake, trusted_proxies=[ip_network("127.0.0.0/8")]):
        first = await intake.client.post(
            "/v1/signals", json=web_form(), headers=key | {"X-Forwarded-For": "198.51.100.21"}
        )
        again = await intake.client.post(
            "/v1/signals", json=web_form(), headers=key | {"X-Forwarded-For": "198.51.100.21"}
        )
        other = await intake.client.post(
            "/v1/signals", json=web_form(), headers=key | {"X-Forwarded-For": "198.51.100.22"}
        )
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json() == first.json(), "the same client's retry gets its own receipt again"
    assert other.json()["signal_id"] != first.json()["signal_id"]
    assert other.json()["receipt_token"] != first.json()["receipt_token"]
