"""Intake's partner encryption keys: published as a JWKS, several held at once, chosen by `kid`;
a rotation while a partner keeps sending loses nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_privacy.partner_encryption import new_key, sign_and_encrypt, write_key_file
from signaalpunt_runtime.broker_factory import make_producer
from test_partner_channel import GP, rejection_of, report, send


def _headers(event_id: str) -> list[tuple[str, bytes]]:
    return [
        ("content-type", b"application/jose"),
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", GP.encode()),
        ("ce_type", b"nl.signaalpunt.partner.signal.v1"),
        ("ce_time", b"2026-11-23T09:00:00Z"),
    ]


async def _jwks(intake: RunningIntake) -> dict[str, Any]:
    answer = await intake.client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    jwks: dict[str, Any] = answer.json()
    return jwks


async def _taken(intake: RunningIntake, prefix: str) -> int:
    conn = await asyncpg.connect(intake.database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM intake.partner_events WHERE event_id LIKE $1", f"{prefix}%"
        )
    finally:
        await conn.close()
    return int(count)


async def test_the_jwks_names_each_key_and_holds_no_private_part(intake: RunningIntake) -> None:
    jwks = await _jwks(intake)
    (key,) = [k for k in jwks["keys"] if k["kid"] == "test"]
    assert key["use"] == "enc"
    assert key["alg"] == "ECDH-ES+A256KW"
    assert "d" not in key


async def test_a_rotation_under_load_loses_nothing(intake: RunningIntake) -> None:
    key_file = intake.keys / "partner-key.json"
    original = json.loads(key_file.read_text())["keys"]
    prefix = "rotation-"
    total, refresh_every = 400, 40
    producer = make_producer(intake.infra.kafka_bootstrap, client_id="partner-rotation")
    await producer.start()
    try:
        jwks = await _jwks(intake)
        kids_used: set[str] = set()
        pending = []
        for n in range(total):
            if n == total // 3:
                # the operator adds the new key; the old one stays until events to it are read
                write_key_file(key_file, [*original, new_key("2026-12")])
            if n % refresh_every == 0:
                jwks = await _jwks(intake)  # the partner reads the set again, takes the newest
            kids_used.add(jwks["keys"][-1]["kid"])
            value = sign_and_encrypt(json.dumps(report()).encode(), intake.partner_keys[GP], jwks)
            pending.append(
                await producer.send(
                    intake.partner_signals.name,
                    value=value,
                    key=GP.encode(),
                    headers=_headers(f"{prefix}{n:04d}"),
                )
            )
            if n % 20 == 0:
                await asyncio.sleep(0.05)  # a steady stream, not one burst
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    assert kids_used == {"test", "2026-12"}
    for _ in range(120):
        if await _taken(intake, prefix) == total:
            break
        await asyncio.sleep(0.5)
    assert await _taken(intake, prefix) == total

    # once the old key's events are read, the operator removes it: an event to it is refused
    write_key_file(
        key_file, [k for k in json.loads(key_file.read_text())["keys"] if k["kid"] != "test"]
    )
    assert [k["kid"] for k in (await _jwks(intake))["keys"]] == ["2026-12"]
    stale = await send(intake, report())  # the test's sender still encrypts to "test"
    refused = await rejection_of(intake, stale)
    assert refused.reason == "unknown_key"
    assert "'test'" in refused.detail
    assert "jwks.json" in refused.detail
    write_key_file(key_file, original)  # as the other tests expect
