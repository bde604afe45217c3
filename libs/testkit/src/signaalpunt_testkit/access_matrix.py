"""Every operation of a service's OpenAPI document, called with the wrong kinds of caller: no
token (401), and tokens of each kind a route does not serve, carrying every role (403). A route
added without the shared `requires` dependency fails this at once."""

from __future__ import annotations

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


async def assert_refused(
    client: httpx.AsyncClient,
    document: dict[str, object],
    token: Callable[[str], dict[str, str]],
    *,
    refused_kinds: Iterable[str],
    skip: Iterable[str] = (),
    params: dict[str, str] | None = None,
) -> int:
    """Calls every operation without a token and with a token of each refused kind (from
    `token(kind)`, meant to carry every role and municipality); returns how many were checked."""
    checked = 0
    for method, path in operations(document, skip=skip):
        anonymous = await client.request(method, path, params=params, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        assert anonymous.headers["content-type"] == "application/problem+json"
        for kind in refused_kinds:
            answer = await client.request(method, path, params=params, json={}, headers=token(kind))
            assert answer.status_code == 403, (method, path, kind, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"
        checked += 1
    return checked
