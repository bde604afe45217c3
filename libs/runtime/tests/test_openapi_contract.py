"""The OpenAPI document states what the routes answer (issue 15, item 5): problem+json for every
refusal, the bearer scheme on the routes that need a token, and a 405 whose
`Allow` names every method of the path. Before, schemathesis found undocumented statuses,
`application/json` documented where `application/problem+json` was sent, no security scheme, and
`Allow: POST` for a path that also takes DELETE."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import httpx
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel
from signaalpunt_access import Principal, PrincipalKind, TokenVerifier
from signaalpunt_access.dev_tokens import AUDIENCE, DEV_ISSUER, generate_key_pair
from signaalpunt_runtime.http_api import install_problem_handlers, requires
from signaalpunt_runtime.openapi_contract import PROBLEM_MEDIA, problems


class Note(BaseModel):
    text: str


def build(keys: Path) -> FastAPI:
    generate_key_pair(keys)
    verifier = TokenVerifier.from_jwks_file(
        keys / "jwks.json", issuer=DEV_ISSUER, audience=AUDIENCE
    )
    api = FastAPI()
    install_problem_handlers(api)
    staff = Depends(requires(verifier, [PrincipalKind.STAFF]))

    @api.post("/v1/things/{thing_id}/lock", responses=problems(404, s409="held by another"))
    async def lock(thing_id: int, note: Note, principal: Principal = staff) -> dict[str, str]:
        return {}

    @api.delete("/v1/things/{thing_id}/lock", status_code=204)
    async def unlock(thing_id: int, principal: Principal = staff) -> None:
        return None

    @api.get("/v1/open")
    async def open_route() -> dict[str, str]:
        return {}

    return api


def test_every_refusal_is_documented_as_problem_json(tmp_path: Path) -> None:
    document = build(tmp_path).openapi()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    lock = document["paths"]["/v1/things/{thing_id}/lock"]["post"]
    assert lock["security"] == [{"bearer": []}]
    assert set(lock["responses"]) >= {
        *("200", "400", "401", "403", "404", "409", "413", "422", "431", "503")
    }
    # a dependency that is down: try again (http_api's 503, issue 14)
    assert "Retry-After" in lock["responses"]["503"]["headers"]
    assert lock["responses"]["409"]["description"] == "held by another"
    for status, response in lock["responses"].items():
        if int(status) >= 400:
            assert list(response["content"]) == [PROBLEM_MEDIA], status
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert "security" not in document["paths"]["/v1/open"]["get"]
    assert set(document["paths"]["/v1/open"]["get"]["responses"]) == {"200", "431", "503"}
    # the API port's document: the platform routes are on the management port
    assert not set(document["paths"]) & {"/health", "/livez", "/readyz", "/metrics"}


async def test_a_405_names_every_method_of_the_path(tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=build(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.request("PATCH", "/v1/things/1/lock")
    assert answer.status_code == 405
    assert answer.headers["content-type"] == PROBLEM_MEDIA
    assert answer.headers["allow"] == "DELETE, POST"


async def test_a_405_names_the_methods_served_not_those_of_a_template_that_looks_alike(
    tmp_path: Path,
) -> None:
    # intake's GET /v1/erasures/search answered 422 (it was taken for GET /v1/erasures/{id}
    # with the id "search"), and its Allow was read from the document's templates
    api = build(tmp_path)

    @api.post("/v1/erasures/search")
    async def search() -> dict[str, str]:
        return {}

    @api.get("/v1/erasures/{erasure_id:uuid}", responses=problems(404))
    async def erasure(erasure_id: UUID) -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.get("/v1/erasures/search")
        found = await client.get(f"/v1/erasures/{uuid4()}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert found.status_code == 200
    assert "/v1/erasures/{erasure_id}" in api.openapi()["paths"]  # the convertor is not shown


async def test_a_405_names_the_methods_of_routes_in_included_routers(tmp_path: Path) -> None:
    # FastAPI keeps an included router as one entry of the app's routes: the 405 of a path whose
    # methods sit in a router answered `Allow: POST` for a lock that also takes DELETE
    api = FastAPI()
    install_problem_handlers(api)
    locks, nested = APIRouter(prefix="/v1"), APIRouter()

    @locks.post("/things/{thing_id}/lock")
    async def lock(thing_id: int) -> dict[str, str]:
        return {}

    @nested.delete("/things/{thing_id}/lock", status_code=204)
    async def unlock(thing_id: int) -> None:
        return None

    locks.include_router(nested)
    api.include_router(locks)
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.request("PATCH", "/v1/things/1/lock")
        elsewhere = await client.request("PATCH", "/things/1/lock")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, POST"
    assert elsewhere.status_code == 404  # the prefix counts
