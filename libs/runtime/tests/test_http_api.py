"""A FastAPI edge on the service: problem+json errors, bearer tokens, outbox writes, one app."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from signaalpunt_access import Principal, TokenVerifier
from signaalpunt_access.dev_tokens import AUDIENCE, DEV_ISSUER, generate_key_pair, mint
from signaalpunt_contracts import PLATFORM_PROBE, ProbeV1
from signaalpunt_runtime.http_api import (
    DirectRoute,
    bearer_principal,
    install_problem_handlers,
    parse_body,
)
from signaalpunt_runtime.serving import Served, serving
from signaalpunt_testkit.logs import collected_logs
from signaalpunt_testkit.outages import postgres_down
from signaalpunt_testkit.plugin import Infra, TopicFactory

from .apps.counter_app import build
from .helpers import eventually, scalar, settings_for


class NoteIn(BaseModel):
    municipality: str = Field(pattern=r"^GM\d{4}$")
    text: str = Field(min_length=3, max_length=200)


@pytest_asyncio.fixture(loop_scope="session")
async def served(
    infra: Infra, kafka_topics: TopicFactory, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Served, Path]]:
    topic = await kafka_topics.private(PLATFORM_PROBE, "http-edge.v1", consumers=("none",))
    generate_key_pair(tmp_path)
    verifier = TokenVerifier.from_jwks_file(
        tmp_path / "jwks.json", issuer=DEV_ISSUER, audience=AUDIENCE
    )
    service = build(
        settings=settings_for(database_url, infra.kafka_bootstrap, "edge", max_request_bytes=4096),
        input_topic=None,
    )
    api = FastAPI(title="edge test")
    install_problem_handlers(api)
    authenticated = Depends(bearer_principal(verifier))

    @api.post("/v1/notes", status_code=202)
    async def submit(note: NoteIn, principal: Principal = authenticated) -> dict[str, str]:
        principal.require_municipality(note.municipality)
        principal.require_role("desk")
        async with service.transaction() as work:
            event = work.new_event(
                ProbeV1(run_id="edge", sequence=len(note.text)), municipality=note.municipality
            )
            await work.publish(topic, event, key="edge")
        return {"event_id": str(event.event_id)}

    @api.get("/v1/notes/{note_id}")
    async def read(note_id: int) -> dict[str, int]:
        return {"id": note_id}

    @api.post("/v1/quick-notes", status_code=202)
    async def quick(request: Request) -> JSONResponse:
        """Served directly (see below): the same checks, read from the request itself."""
        note = parse_body(NoteIn, await request.body())
        principal = verifier.verify(request.headers.get("authorization"))
        principal.require_municipality(note.municipality)
        if note.text == "breaks":
            raise RuntimeError("a bug")
        return JSONResponse({"length": len(note.text)}, status_code=202)

    app = service.asgi_app(http=api, direct=[("POST", "/v1/quick-notes")])
    async with serving(app) as served:
        yield served, tmp_path


def _token(keys: Path, *, municipality: str = "GM0715", role: str = "desk") -> dict[str, str]:
    token = mint(
        keys,
        subject="urn:signaalpunt:staff:desk-1",
        kind="staff",
        municipalities=[municipality],
        roles=[role],
    )
    return {"Authorization": f"Bearer {token}"}


async def _refusals(
    client: httpx.AsyncClient, path: str, note: dict[str, str], keys: Path
) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
    """No token → 401, another municipality → 403, invalid fields → 422 naming them; each a
    problem that does not echo the input. Returns the three answers."""
    missing = await client.post(path, json=note)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    elsewhere = await client.post(path, json=note, headers=_token(keys, municipality="GM0654"))
    assert elsewhere.status_code == 403
    bad = await client.post(
        path, json={"municipality": "Terneuzen", "text": "x"}, headers=_token(keys)
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"municipality", "text"}
    assert "Terneuzen" not in bad.text, "problem bodies must not echo input"
    return missing, elsewhere, bad


async def test_the_edge(served: tuple[Served, Path], database_url: str) -> None:
    base, keys = served
    async with httpx.AsyncClient(base_url=base.url) as client:
        async with httpx.AsyncClient(base_url=base.management_url) as management:

            async def ready() -> bool:
                return bool((await management.get("/readyz")).json()["status"] == "ok")

            # ready once the broker connection is up (a SASL handshake on a busy machine may
            # take a moment after the server started)
            await eventually(ready, timeout=30, what="/readyz ok")
            document = (await management.get("/openapi.json")).json()
            assert document["info"]["title"] == "edge test"
        assert (await client.get("/v1/notes/7")).json() == {"id": 7}

        note = {"municipality": "GM0715", "text": "buurman belt niet meer"}
        missing, elsewhere, bad = await _refusals(client, "/v1/notes", note, keys)
        assert missing.json()["detail"] == "no bearer token"
        assert "GM0715" in elsewhere.json()["detail"]
        wrong_role = await client.post(
            "/v1/notes", json=note, headers=_token(keys, role="volunteer")
        )
        assert wrong_role.status_code == 403
        problem = bad.json()
        assert problem["type"].endswith("/validation")
        fields = {e["field"]: e for e in problem["errors"]}
        assert fields["text"]["reason_nl"] == "Deze tekst is te kort."
        assert await scalar(database_url, "SELECT count(*) FROM edge.outbox") == 0, "nothing stored"

        accepted = await client.post("/v1/notes", json=note, headers=_token(keys))
        assert accepted.status_code == 202

        async def relayed() -> bool:
            return bool(
                await scalar(
                    database_url, "SELECT count(*) FROM edge.outbox WHERE published_at IS NOT NULL"
                )
                == 1
            )

        await eventually(relayed, what="the note's event to be published")


async def test_a_route_served_directly_answers_as_fastapi_would(
    served: tuple[Served, Path],
) -> None:
    base, keys = served
    note = {"municipality": "GM0715", "text": "buurman belt niet meer"}
    async with httpx.AsyncClient(base_url=base.url) as client:
        accepted = await client.post("/v1/quick-notes", json=note, headers=_token(keys))
        assert accepted.status_code == 202
        assert accepted.json() == {"length": len(note["text"])}

        await _refusals(client, "/v1/quick-notes", note, keys)

        # an unexpected error: a 500 problem without internals, logged in the request's trace
        # (here the caller's, continued from its traceparent)
        trace_id = secrets.token_hex(16)
        caller = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        with collected_logs(logging.INFO) as lines:
            broken = await client.post(
                "/v1/quick-notes",
                json={**note, "text": "breaks"},
                headers=_token(keys) | caller,
            )
        assert broken.status_code == 500
        assert broken.json()["type"].endswith("/server-error")
        assert "a bug" not in broken.text, "no internals in the answer"
        logged = [json.loads(line) for line in lines if "unhandled error" in line]
        assert [line["trace_id"] for line in logged] == [trace_id]

        # the service's body limit holds on the direct route as on FastAPI's own routes, for
        # a body with a Content-Length and for one sent in chunks without it
        large = json.dumps({**note, "text": "x" * 5000}).encode()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(large), 1000):
                yield large[start : start + 1000]

        for path in ("/v1/quick-notes", "/v1/notes"):
            for body in (large, chunks()):
                too_large = await client.post(path, content=body, headers=_token(keys))
                assert too_large.status_code == 413, path
                assert too_large.headers["content-type"] == "application/problem+json"
                assert too_large.json()["detail"].startswith("the body may be at most 4096 bytes")

        # other methods on that path are FastAPI's: 405, as a problem
        wrong_method = await client.get("/v1/quick-notes")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["content-type"] == "application/problem+json"

        # counted under the route template, like every other route
        metrics = (await client.get(f"{base.management_url}/metrics")).text
        assert 'route="/v1/quick-notes",status="202"' in metrics
        assert 'route="/v1/quick-notes",status="413"' in metrics


def test_only_a_route_that_reads_its_own_request_can_be_served_directly() -> None:
    api = FastAPI(title="direct")

    @api.get("/v1/notes/{note_id}")
    async def read(note_id: int) -> dict[str, int]:
        return {"id": note_id}

    with pytest.raises(ValueError, match="only `request: Request`"):
        DirectRoute(api, "GET", "/v1/notes/{note_id}")
    with pytest.raises(ValueError, match="no single route"):
        DirectRoute(api, "POST", "/v1/notes/{note_id}")

    @api.post("/v1/notes")
    async def take(request: Request) -> JSONResponse:
        return JSONResponse({}, status_code=202)

    DirectRoute(api, "POST", "/v1/notes")  # takes only the request: fine
    api.add_middleware(GZipMiddleware)
    with pytest.raises(ValueError, match="middleware"):
        DirectRoute(api, "POST", "/v1/notes")


async def test_oversized_or_too_many_headers_are_a_431_problem(served: tuple[Served, Path]) -> None:
    base, _ = served
    async with httpx.AsyncClient(base_url=base.url, timeout=30) as client:
        huge = await client.get("/v1/notes/1", headers={"X-Padding": "x" * 64 * 1024})
        many = await client.get("/v1/notes/1", headers=[(f"X-Extra-{i}", "1") for i in range(100)])
        # the limits hold for every route, the service's own included
        health = await client.get(
            f"{base.management_url}/readyz", headers={"X-Padding": "x" * 64 * 1024}
        )
        fine = await client.get("/v1/notes/1", headers={"X-Padding": "x" * 1024})
    for answer in (huge, many, health):
        assert answer.status_code == 431, answer.text[:200]
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/headers-too-large")
    assert fine.status_code == 200


async def test_a_request_while_the_database_is_down_is_a_503_to_try_again_not_a_500(
    served: tuple[Served, Path],
) -> None:
    """Found by `make chaos` (issue 14): during a PostgreSQL outage every request answered 500
    "something went wrong on our side" with a traceback in the log per request (68 in an 8 s
    outage), so a client could not tell an outage (try again) from a bug. A dependency that is
    down is a 503 problem with Retry-After, and one log line, not one per request."""
    base, keys = served
    note = {"municipality": "GM0715", "text": "buurman belt niet meer"}
    async with httpx.AsyncClient(base_url=base.url) as client:
        assert (await client.post("/v1/notes", json=note, headers=_token(keys))).status_code == 202
        with collected_logs(logging.WARNING) as lines:
            async with postgres_down():
                answers = [
                    await client.post("/v1/notes", json=note, headers=_token(keys))
                    for _ in range(5)
                ]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert int(answer.headers["retry-after"]) > 0
            assert answer.json()["type"].endswith("/unavailable")
        tracebacks = [line for line in lines if "unhandled error" in line or "Exception in" in line]
        assert not tracebacks, "\n".join(tracebacks)
        refused = [line for line in lines if "a dependency is unavailable" in line]
        assert len(refused) == 1, "one line for the outage, not one per request"

        async def accepted_again() -> bool:
            answer = await client.post("/v1/notes", json=note, headers=_token(keys))
            return answer.status_code == 202

        await eventually(accepted_again, timeout=60, what="accepted once the database is back")
