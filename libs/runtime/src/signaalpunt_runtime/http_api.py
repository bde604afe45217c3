"""HTTP at the edge: FastAPI apps that answer every error as RFC 9457 problem+json.

    api = FastAPI(title="Signal intake")
    install_problem_handlers(api)
    authenticated = bearer_principal(TokenVerifier(...))

    @api.post("/v1/signals", status_code=202)
    async def submit(body: SignalIn, principal: Principal = Depends(authenticated)) -> Receipt: ...

    app = service.asgi_app(http=api)   # the API port; health, /metrics, docs on the management port

Validation errors name each field with a reason in Dutch and English; 401 carries
`WWW-Authenticate: Bearer`; an unexpected error is a 500 problem without internals (logged with
its trace id). Problem bodies never echo input values (they may be personal data).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError
from signaalpunt_access import (
    AuthenticationError,
    AuthorizationError,
    Principal,
    PrincipalKind,
    TokenVerifier,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from . import openapi_contract
from .failures import Failure, classify, error_name
from .logs import get_logger
from .pausing import SUMMARY_INTERVAL
from .tenancy import database_scope, scope_of

log = get_logger(__name__)

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 5
"""what a 503 (a dependency unavailable) tells the client to wait before it tries again"""
TYPE_BASE = "https://signaalpunt.nl/problems/"

# Dutch reasons for pydantic's error types; anything else falls back to the English message.
DUTCH: dict[str, str] = {
    "missing": "Dit veld is verplicht.",
    "string_too_short": "Deze tekst is te kort.",
    "string_too_long": "Deze tekst is te lang.",
    "string_pattern_mismatch": "Dit heeft niet de juiste vorm.",
    "string_type": "Hier hoort tekst.",
    "int_parsing": "Hier hoort een geheel getal.",
    "int_type": "Hier hoort een geheel getal.",
    "bool_parsing": "Hier hoort ja of nee.",
    "greater_than_equal": "Deze waarde is te klein.",
    "less_than_equal": "Deze waarde is te groot.",
    "enum": "Kies een van de toegestane waarden.",
    "literal_error": "Kies een van de toegestane waarden.",
    "extra_forbidden": "Dit veld is onbekend.",
    "json_invalid": "Dit is geen geldige JSON.",
    "value_error": "Deze waarde is niet geldig.",
    "uuid_parsing": "Dit is geen geldige id.",
    "datetime_parsing": "Dit is geen geldige datum en tijd.",
    "email": "Dit is geen geldig e-mailadres.",
}


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """One entry per field: where, what kind of error, and why in Dutch and English. No input."""
    out = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
        kind = str(error.get("type", "value_error"))
        english = str(error.get("msg", "invalid value"))
        out.append(
            {
                "field": ".".join(location) or "<body>",
                "type": kind,
                "reason_nl": DUTCH.get(kind.split(".", maxsplit=1)[0], english),
                "reason_en": english,
            }
        )
    return out


ModelT = TypeVar("ModelT", bound=BaseModel)


def json_body(api: FastAPI, model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a busy endpoint that reads its JSON body itself with `parse_body`
    (one pass in pydantic's core; a FastAPI body parameter costs a `json.loads`, a Python-level
    validation and the dependency machinery, about a third of such a request's CPU). The model's
    schema, and those it refers to, become components of the app's OpenAPI document."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {**schema.pop("$defs", {}), model.__name__: schema}
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(components)
            api.openapi_schema = document
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def parse_body(model: type[ModelT], body: bytes) -> ModelT:
    """The body as `model`, or the same 422 problem a FastAPI body parameter gives."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def install_problem_handlers(app: FastAPI) -> None:
    # the document states these answers, and every route's own (openapi_contract.py)
    openapi_contract.install(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            422,
            "Invalid request / Ongeldig verzoek",
            "One or more fields are not valid / Een of meer velden zijn niet geldig.",
            kind="validation",
            errors=field_errors(exc),
            instance=request.url.path,
        )

    @app.exception_handler(AuthenticationError)
    async def unauthenticated(request: Request, exc: AuthenticationError) -> JSONResponse:
        return problem(
            401,
            "Not authenticated / Niet aangemeld",
            exc.reason,
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            instance=request.url.path,
        )

    @app.exception_handler(AuthorizationError)
    async def forbidden(request: Request, exc: AuthorizationError) -> JSONResponse:
        return problem(
            403,
            "Not allowed / Niet toegestaan",
            exc.reason,
            kind="forbidden",
            instance=request.url.path,
        )

    @app.exception_handler(BodyTooLargeError)
    async def body_too_large(request: Request, exc: BodyTooLargeError) -> JSONResponse:
        return too_large(exc.limit, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # every method of the path: Starlette names only those of the first route it tried
            allowed = served_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allowed) or headers.get("Allow", "")
        return problem(
            exc.status_code,
            str(exc.detail) if exc.status_code < 500 else "Server error",
            str(exc.detail),
            kind=f"http-{exc.status_code}",
            headers=headers,
            instance=request.url.path,
        )

    unavailable = _UnavailableLog()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if classify(exc) is Failure.DEPENDENCY:
            # the database or the broker is down: the client should try again (with the same
            # Idempotency-Key), which a 500 does not say; and an outage is one log line, not a
            # traceback per request
            unavailable.note(exc)
            return problem(
                503,
                "Service unavailable / Tijdelijk niet beschikbaar",
                "A system this service needs is unavailable; try again later (with the same "
                "Idempotency-Key) / Een onderdeel is tijdelijk niet bereikbaar; probeer het later "
                "opnieuw.",
                kind="unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                instance=request.url.path,
            )
        log.exception("unhandled error in HTTP request", path=request.url.path)
        return problem(
            500,
            "Server error / Serverfout",
            "Something went wrong on our side; nothing was stored / Er ging iets mis; er is niets "
            "opgeslagen.",
            kind="server-error",
            instance=request.url.path,
        )


class _UnavailableLog:
    """Requests refused because a dependency is down: one line when it starts, then one per
    `SUMMARY_INTERVAL` with how many were refused since."""

    def __init__(self) -> None:
        self._next_line = 0.0
        self._refused = 0

    def note(self, exc: Exception) -> None:
        self._refused += 1
        now = time.monotonic()
        if now >= self._next_line:
            log.warning(
                "requests refused: a dependency is unavailable",
                error=error_name(exc),
                refused=self._refused,
            )
            self._refused = 0
            self._next_line = now + SUMMARY_INTERVAL


def served_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app serves on `path` (a concrete path): the `Allow` of a 405. Asked of
    the routes themselves, with their path convertors: `/v1/erasures/search` is not a
    `GET /v1/erasures/{erasure_id:uuid}`, though the document's template would match it."""
    methods: set[str] = set()
    probe: dict[str, Any] = {"type": "http", "path": path, "root_path": "", "method": ""}
    for route in _routes_of(app.router.routes):
        match, _ = route.matches(dict(probe))
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _routes_of(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, those of included routers too: FastAPI keeps an included router as one
    entry whose own routes it names through `effective_route_contexts` (with their prefix)."""
    for route in routes:
        included = getattr(route, "effective_route_contexts", None)
        if included is not None:
            yield from included()
        else:
            yield route


# the document's security scheme (openapi_contract.BEARER_SCHEME); the check itself reads the
# header, so that a missing or bad token is a 401 problem with a short reason
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(openapi_contract.BEARER_SCHEME)]


def bearer_principal(verifier: TokenVerifier) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the request's checked principal, or a 401 problem."""

    async def principal(request: Request, _: Bearer) -> Principal:
        return scoped(verifier.verify(request.headers.get("authorization")))

    return principal


def scoped(principal: Principal) -> Principal:
    """A staff caller's database connections of this request see only their municipalities'
    rows (row-level security, `tenancy`). Partner and organisation tokens are scoped by their
    own id in the routes; service tokens act for the system."""
    if principal.kind is PrincipalKind.STAFF:
        database_scope.set(scope_of(principal.municipalities))
    return principal


def requires(
    verifier: TokenVerifier, kinds: Sequence[PrincipalKind], roles: Sequence[str] = ()
) -> Callable[..., Awaitable[Principal]]:
    """The one dependency a route states who may call it with: the token's kind (staff, partner,
    service) and, when given, one of the roles. 401 without a valid token, 403 otherwise; the
    municipality is checked by the route against what it reads or writes."""
    if not kinds:
        raise ValueError("name the token kinds that may call this route")

    async def principal(request: Request, _: Bearer) -> Principal:
        checked = verifier.verify(request.headers.get("authorization"))
        checked.require_kind(*kinds)
        if roles:
            checked.require_role(*roles)
        return scoped(checked)

    return principal


class DirectRoute:
    """Serves one route of a FastAPI app without FastAPI's per-request machinery: for the
    busiest endpoint of a service, which reads its request itself (`parse_body`).

    The endpoint is the route's own function, so the route's OpenAPI entry, and anyone calling
    the FastAPI app itself, get the same behaviour. An exception is answered by the app's own
    exception handlers (the problem+json ones of `install_problem_handlers`), as FastAPI would.
    What is skipped per request is the middleware stack, the route matching and the dependency
    solving: measured on intake's `POST /v1/signals`, about 0.3 M of its 2.2 M CPU instructions.
    """

    def __init__(self, api: FastAPI, method: str, path: str) -> None:
        routes = [
            r
            for r in api.routes
            if isinstance(r, APIRoute) and r.path == path and method in (r.methods or ())
        ]
        if len(routes) != 1:
            raise ValueError(f"{api.title} has no single route {method} {path}")
        route = routes[0]
        d = route.dependant
        takes_parameters = any(
            (d.path_params, d.query_params, d.header_params, d.cookie_params, d.body_params)
        )
        if d.request_param_name is None or takes_parameters or d.dependencies:
            raise ValueError(
                f"{method} {path} must take only `request: Request` to be served directly"
            )
        if api.user_middleware:
            raise ValueError(f"{api.title} has middleware, which {method} {path} would skip")
        self.route = route
        self._endpoint = route.endpoint
        self._handlers = api.exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route  # for the request metrics' route label, as FastAPI sets it
        request = Request(scope, receive)
        try:
            response: Response = await self._endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Any:
        for kind in type(exc).__mro__:  # the most specific handler, as Starlette looks it up
            if kind in self._handlers:
                return self._handlers[kind]
        return None


def too_large(limit: int, path: str) -> JSONResponse:
    return problem(
        413,
        "Request too large / Verzoek te groot",
        f"the body may be at most {limit} bytes / de inhoud mag ten hoogste {limit} bytes zijn",
        kind="too-large",
        instance=path,
    )


def not_found(path: str) -> JSONResponse:
    """For a path this port does not serve (the API port has no /metrics, health or docs)."""
    return problem(404, "Not Found", "Not Found", kind="http-404", instance=path)


def method_not_allowed(path: str, allowed: Sequence[str]) -> JSONResponse:
    return problem(
        405,
        "Method Not Allowed",
        "Method Not Allowed",
        kind="http-405",
        headers={"Allow": ", ".join(allowed)},
        instance=path,
    )


def headers_too_large(path: str, max_bytes: int, max_count: int) -> JSONResponse:
    return problem(
        431,
        "Request headers too large / Verzoekkoppen te groot",
        f"at most {max_count} headers of together {max_bytes} bytes / ten hoogste {max_count} "
        f"koppen van samen {max_bytes} bytes",
        kind="headers-too-large",
        instance=path,
    )


def headers_within(scope: Scope, max_bytes: int, max_count: int) -> bool:
    """Whether the request's headers stay within the limits (count, and bytes together)."""
    headers = scope.get("headers") or ()
    if len(headers) > max_count:
        return False
    return sum(len(k) + len(v) + 4 for k, v in headers) <= max_bytes


class BodyTooLargeError(StarletteHTTPException):
    """Raised while reading a body without a Content-Length that passes the limit; answered
    with the same `too_large` problem as a body whose Content-Length is too large."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body may be at most {limit} bytes")
        self.limit = limit


def limit_body(receive: Receive, limit: int) -> Receive:
    """`receive` that raises `BodyTooLargeError` (a problem, through the app's handlers) once
    the body read so far is larger than `limit`: for bodies sent without a Content-Length."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLargeError(limit)
        return message

    return limited


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The address of whoever sent the request. `X-Forwarded-For` is believed only as far as
    it was written by a trusted proxy: from the right, each hop a trusted proxy added is
    followed until the first address that is not a trusted proxy (anyone can put anything at
    the left end of the header). Without trusted proxies it is the peer's own address.

    The server must not rewrite the peer address itself (uvicorn's `proxy_headers`, which
    `Service.run` turns off)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _within(peer, trusted_proxies):
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _within(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address: not one of our proxies either
    return any(ip in network for network in networks)
