"""Every service's OpenAPI document says what its routes really answer: each status a route can
give, `application/problem+json` (RFC 9457) for every refusal with the one `Problem` schema, the
bearer-token security scheme on the routes that need a token, and links from an answer to what a
client does next. The document is the API port's: the platform routes (/livez, /readyz, /startupz,
/metrics) are on the management port, described by a document of their own
(`management_openapi`).

Installed for every FastAPI app by `http_api.install_problem_handlers`; a route names what else it
may answer with `responses=problems(404, 409)`. Checked by schemathesis with all its checks in every
phase (`signaalpunt_testkit.contract`): a status, media type or shape a route gives that the
document does not state is a failure, and so is a request valid by the document that is refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.security import HTTPBearer

PROBLEM_MEDIA = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BEARER = "bearer"

STATUS_MEANING = {
    400: "the body could not be parsed / de inhoud is onleesbaar",
    401: "no valid token / niet aangemeld",
    403: "this token may not do this / niet toegestaan",
    404: "not found / niet gevonden",
    405: "method not allowed / methode niet toegestaan",
    409: "conflicts with the current state / in strijd met de huidige toestand",
    410: "gone (erased) / verwijderd",
    413: "request too large / verzoek te groot",
    415: "unsupported media type / mediatype niet ondersteund",
    422: "invalid request, each field named with a reason / ongeldig verzoek",
    429: "too many requests; see Retry-After / te veel verzoeken",
    431: "request headers too large or too many / te grote of te veel headers",
    503: "a dependency is unavailable / een afhankelijkheid is niet beschikbaar",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each refused field, without its "
    "value.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "type": {"type": "string"},
                    "reason_nl": {"type": "string"},
                    "reason_en": {"type": "string"},
                },
            },
        },
    },
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or STATUS_MEANING.get(status, "refused"),
        "content": {PROBLEM_MEDIA: {"schema": PROBLEM_REF}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}
        }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}
        }
    return response


def problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the refusals it may answer besides the common ones, e.g.
    `problems(404, 409)`; a description of one's own as `problems(s409="…")`."""
    out: dict[int | str, dict[str, Any]] = {s: problem_response(s) for s in statuses}
    for key, description in described.items():
        status = int(key.removeprefix("s"))
        out[status] = problem_response(status, description)
    return out


def link(method: str, path: str, description: str, parameters: dict[str, str]) -> dict[str, Any]:
    """An OpenAPI link from a response to the operation `method path` of the same document, its
    parameters (`path.signal_id`, `header.receipt-token`) taken from the response or the request
    (`$response.body#/signal_id`, `$request.path.signal_id`).
    Links say how a client goes on from an answer, and schemathesis's stateful phase follows
    them: a case made by one call is read, locked or decided by the next."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{pointer}/{method.lower()}",
        "description": description,
        "parameters": parameters,
    }


def linked(
    status: int, description: str, /, **links: dict[str, Any]
) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for an answer with `links` (see `link`), e.g.
    `linked(200, "the case", lock=link(...)) | problems(404)`."""
    return {status: {"description": description, "links": links}}


BEARER_SCHEME = HTTPBearer(
    auto_error=False,  # the token check answers a missing or bad token itself (a 401 problem)
    scheme_name=BEARER,
    bearerFormat="JWT",
    description="a token of the identity provider (libs/access): kind, roles, municipalities",
)
"""A FastAPI security dependency of the token check (`http_api.requires`): every operation that
depends on it carries the security requirement in the document, and the scheme is declared."""


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add what FastAPI leaves out to `document` (in place): problem responses, security."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    # FastAPI's own validation-error schemas describe a body this API never sends
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    # declared by FastAPI once a route depends on BEARER_SCHEME; also when none does (metrics)
    components.setdefault("securitySchemes", {}).setdefault(
        BEARER, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths = document.setdefault("paths", {})
    for item in paths.values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if operation.get("security"):
                responses.setdefault("401", problem_response(401))
                responses.setdefault("403", problem_response(403))
            if any(p.get("in") == "path" for p in operation.get("parameters", ())):
                # a path parameter names something (a signal, a referral, a token) that may not
                # exist, or not for this caller (the same answer: existence is not revealed)
                responses.setdefault("404", problem_response(404))
            if operation.get("parameters") or operation.get("requestBody"):
                responses["422"] = problem_response(422)
            if operation.get("requestBody"):
                responses.setdefault("413", problem_response(413))
                # a body that is not JSON at all (Starlette cannot parse it)
                responses.setdefault("400", problem_response(400))
            responses.setdefault("431", problem_response(431))
            # the database or the broker is down (http_api: try again after Retry-After)
            responses.setdefault("503", problem_response(503))
            for status, response in responses.items():
                content = response.get("content", {})
                if status.isdigit() and int(status) >= 400 and PROBLEM_MEDIA not in content:
                    # FastAPI's default application/json error content: never what is sent
                    response["content"] = {PROBLEM_MEDIA: {"schema": PROBLEM_REF}}
    return document


def install(api: FastAPI) -> None:
    """Make `api.openapi()` return the completed document (generated once, then cached)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = complete(generate())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
