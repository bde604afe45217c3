"""Partners are who they sign as: each event carries a JWS with the partner's key from the
partner registry (data, changed with `signaalpunt-partners`, audited), nested inside the JWE."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from intake_harness import RunningIntake
from signaalpunt_privacy.partner_encryption import new_signing_key, public_key
from test_partner_channel import GP, rejection_of, report, send, signals_from

HOUSING = "urn:signaalpunt:partner:woonstichting-walcheren"


def _cli(intake: RunningIntake, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "signaalpunt_intake.partners_cli", *args],
        env={**os.environ, "SIGNAALPUNT_DATABASE_URL": intake.database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_an_unsigned_event_is_refused(intake: RunningIntake) -> None:
    event_id = await send(intake, report(), signed=False)
    refused = await rejection_of(intake, event_id)
    assert refused.reason == "not_signed"
    assert refused.partner == GP


async def test_a_partner_impersonating_another_is_refused_and_told(intake: RunningIntake) -> None:
    # the housing association signs with its own (registered) key but claims to be the GP
    event_id = await send(intake, report(), source=GP, signed_by=intake.partner_keys[HOUSING])
    refused = await rejection_of(intake, event_id)
    assert refused.reason == "impersonation"
    assert refused.partner == HOUSING, "the real sender hears it, not the partner it named"
    assert GP in refused.detail


async def test_a_forged_signature_is_refused(intake: RunningIntake) -> None:
    # a key nobody registered, under the GP's own kid
    forged = new_signing_key(intake.partner_keys[GP]["kid"])
    event_id = await send(intake, report(), signed_by=forged)
    assert (await rejection_of(intake, event_id)).reason == "bad_signature"
    unknown = await send(intake, report(), signed_by=new_signing_key("gp-2027"))
    refused = await rejection_of(intake, unknown)
    assert refused.reason == "unknown_signing_key"
    assert "gp-2027" in refused.detail


async def test_a_partner_added_with_the_cli_can_send_at_once(
    intake: RunningIntake, tmp_path: Path
) -> None:
    urn = "urn:signaalpunt:partner:wijkteam-vlissingen"
    key = new_signing_key("wijkteam-2026")
    keys = tmp_path / "wijkteam.jwks"
    keys.write_text(json.dumps({"keys": [public_key(key)]}))
    _cli(
        intake,
        "add",
        urn,
        "--name",
        "Wijkteam Vlissingen",
        "--type",
        "wijkteam",
        "--municipality",
        "GM0718",
        "--keys",
        str(keys),
        "--actor",
        "f.beheer (consortium)",
    )
    await asyncio.sleep(1.0)  # intake reads the registry every 0.5 s in the tests
    body = report(subject={"birth_year": 1950, "postcode": "4381 AB"})
    event_id = await send(intake, body, source=urn, signed_by=key)
    (signal,) = await signals_from(intake, f"{urn}#{event_id}")
    assert signal.data.reporter.partner_type == "wijkteam"

    _cli(intake, "deactivate", urn, "--actor", "f.beheer (consortium)")
    await asyncio.sleep(1.0)
    after = await send(intake, body, source=urn, signed_by=key)
    conn = await asyncpg.connect(intake.database_url)
    try:
        for _ in range(40):
            refused = await conn.fetchval(
                "SELECT count(*) FROM intake.partner_events WHERE event_id = $1", after
            )
            assert refused == 0
            await asyncio.sleep(0.1)
        trail = json.loads(_cli(intake, "history", urn))
    finally:
        await conn.close()
    assert [(t["action"], t["actor"]) for t in trail] == [
        ("add", "f.beheer (consortium)"),
        ("deactivate", "f.beheer (consortium)"),
    ]
    assert trail[1]["before"]["active"] is True
    assert trail[1]["after"]["active"] is False
