"""The development identity provider as compose runs it: browsers and the console reach it by
different addresses, and it never runs in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_console.dev_idp import DevIdentityProvider, build_app


async def test_discovery_sends_browsers_to_the_public_address_and_the_console_to_its_own(
    tmp_path: Path,
) -> None:
    generate_key_pair(tmp_path)
    app = build_app(DevIdentityProvider(keys=tmp_path, public_url="http://127.0.0.1:8110"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dev-idp:8110") as client:
        found = (await client.get("/.well-known/openid-configuration")).json()
        keys = (await client.get("/jwks.json")).json()
    # the pages a browser opens: the published address; the console's own calls: the name
    assert found["authorization_endpoint"] == "http://127.0.0.1:8110/authorize"
    assert found["end_session_endpoint"] == "http://127.0.0.1:8110/logout"
    assert found["token_endpoint"] == "http://dev-idp:8110/token"
    assert found["jwks_uri"] == "http://dev-idp:8110/jwks.json"
    assert keys["keys"][0]["kid"] == (tmp_path / "kid").read_text()


def test_it_refuses_to_start_in_production() -> None:
    started = subprocess.run(
        [sys.executable, "-m", "signaalpunt_console.dev_idp"],
        env={**os.environ, "SIGNAALPUNT_ENVIRONMENT": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "never runs in production" in started.stderr
