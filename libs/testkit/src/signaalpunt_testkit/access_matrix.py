"""Every operation of a service's OpenAPI document, called with the wrong kinds of caller: no
token (401), a crafted token (401), and tokens of each kind a route does not serve, carrying every
role (403). A route added without the shared `requires` dependency fails this at once."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable

import httpx

SAMPLE = {"uuid": str(uuid.UUID(int=1)), "integer": "1", "string": "x"}


def operations(document: dict[str, object], *, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(method, concrete path) for every operation, path parameters filled with sample values."""
    found = []
    paths = document["paths"]
    assert isinstance(paths, dict)
    for template, item in paths.items():
        for method, operation in item.items():
            if f"{method.upper()} {template}" in skip:
                continue
            kinds = {
                p["name"]: p["schema"].get("format", p["schema"].get("type", "string"))
                for p in operation.get("parameters", [])
                if p["in"] == "path"
            }
            path = template
            for name, kind in kinds.items():
                path = path.replace("{" + name + "}", SAMPLE.get(kind, "x"))
            found.append((method.upper(), path))
    return found


def crafted(headers: dict[str, str]) -> dict[str, str]:
    """The outside tester's token (issue 15): the header of a real token with `alg` changed to
    RS256 (its `kid` still the published EC key), a payload and a signature of nobody's. Before
    the verifier checked a key's own algorithm it was a 500 with a traceback on every API."""
    token = headers["Authorization"].removeprefix("Bearer ")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    forged = {**header, "alg": "RS256"}
    parts = [part(json.dumps(forged).encode()), part(b'{"sub": "x"}'), part(b"\x01" * 256)]
    return {"Authorization": "Bearer " + ".".join(parts)}


async def assert_refused(
    client: httpx.AsyncClient,
    document: dict[str, object],
    token: Callable[[str], dict[str, str]],
    *,
    refused_kinds: Iterable[str],
    skip: Iterable[str] = (),
    params: dict[str, str] | None = None,
) -> int:
    """Calls every operation without a token, with a crafted one and with a token of each
    refused kind (from `token(kind)`, meant to carry every role and municipality); returns how
    many were checked."""
    checked = 0
    kinds = tuple(refused_kinds)
    forged = crafted(token(kinds[0]))
    for method, path in operations(document, skip=skip):
        anonymous = await client.request(method, path, params=params, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        assert anonymous.headers["content-type"] == "application/problem+json"
        answer = await client.request(method, path, params=params, json={}, headers=forged)
        assert answer.status_code == 401, (method, path, "crafted", answer.status_code)
        assert answer.headers["content-type"] == "application/problem+json"
        for kind in kinds:
            answer = await client.request(method, path, params=params, json={}, headers=token(kind))
            assert answer.status_code == 403, (method, path, kind, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
        checked += 1
    return checked
