"""Intake's HTTP edge: `POST /v1/signals` (web form, phone desk, partner portal) and the status
a reporter may see with their receipt token."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from signaalpunt_runtime.group_commit import GroupCommit
from signaalpunt_runtime.http_api import (
    client_address,
    install_problem_handlers,
    json_body,
    parse_body,
    problem,
)
from signaalpunt_runtime.openapi_contract import link, linked, problems

from . import repository
from .domain import (
    MunicipalityTable,
    OutsideConsortiumError,
    SignalSubmission,
    authorise,
    settle_municipality,
)
from .recording import (
    Accepted,
    Intake,
    Origin,
    PreparedSignal,
    RateLimited,
    keyed_idempotency_key,
    prepare_signal,
    receipt_token_for,
)

IDEMPOTENCY_KEY_MAX = 200

Submissions = GroupCommit[PreparedSignal, Accepted | RateLimited]
Claims = GroupCommit[tuple[str, str, bytes], repository.Claim]


def _web_form_client(intake: Intake, address: str) -> str:
    """Anonymous submissions are limited per client address, counted in PostgreSQL so every
    replica shares the count. The address itself is never stored: a keyed hash of it is."""
    window = str(intake.settings.web_form_window_seconds)
    return intake.index.digest("web-form-client", address, window)


def _anonymous_scope(intake: Intake, address: str) -> str:
    """An anonymous client's Idempotency-Keys are its own: another client sending the same key
    must not get the first one's receipt (and receipt token). Keyed hash, not the address."""
    return "anonymous:" + intake.index.digest("idempotency-client", address)


def _rate_limited(retry_after: int, request: Request) -> JSONResponse:
    return problem(
        429,
        "Too many signals / Te veel meldingen",
        f"please try again in {retry_after} seconds / probeer het over {retry_after} seconden "
        "opnieuw, of bel het Signaalpunt",
        kind="rate-limited",
        headers={"Retry-After": str(retry_after)},
        instance=request.url.path,
    )


def build_api(intake: Intake, submissions: Submissions, claims: Claims) -> FastAPI:
    api = FastAPI(
        title="Signaalpunt intake",
        version="1",
        description="Signals (meldingen) in; one canonical signal out on signals.received.v1.",
    )
    install_problem_handlers(api)

    # the busiest endpoint reads its body and header itself (see json_body): no FastAPI
    # parameters to solve per request, so the service can serve it as a DirectRoute
    idempotency_header = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "the same key with the same body gets the same answer; with another "
        "body 422; while the first is still being handled 409",
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
    }

    @api.post(
        "/v1/signals",
        status_code=202,
        openapi_extra=json_body(api, SignalSubmission)
        | {
            "parameters": [idempotency_header],
            # anonymous for the web form; a token for the desk's and partner portals' channels
            "security": [{}, {"bearer": []}],
        },
        responses=linked(
            202,
            "taken in and durable; the receipt token shows its status",
            status=link(
                "GET",
                "/v1/signals/{signal_id}/status",
                "what the reporter may know of it, with the receipt token",
                {
                    "path.signal_id": "$response.body#/signal_id",
                    "header.receipt-token": "$response.body#/receipt_token",
                },
            ),
        )
        | problems(
            s403="this token may not use this channel or municipality",
            s409="the first request with this Idempotency-Key is still being handled",
            s429="too many web-form signals from this client; see Retry-After",
        ),
    )
    async def submit(request: Request) -> JSONResponse:
        """Take a signal in. Answers 202 only once the signal is durable (stored, and its event
        in the outbox in the same transaction)."""
        submission = parse_body(SignalSubmission, await request.body())
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
            return _idempotency_key_refused(idempotency_key, request)
        if idempotency_key:
            # kept only as a keyed hash: a client's key may carry anything (even a name)
            idempotency_key = keyed_idempotency_key(intake, idempotency_key)
        authorization = request.headers.get("authorization")
        principal = intake.verifier.verify(authorization) if authorization else None
        municipality = _municipality_of(submission, intake.municipalities, request)
        if isinstance(municipality, JSONResponse):
            return municipality
        authorise(principal, submission.channel, municipality)

        address = None if principal else client_address(request, intake.settings.trusted_proxies)
        scope = principal.subject if principal else _anonymous_scope(intake, str(address))
        if idempotency_key:
            # claimed in a statement of its own (committed before the signal is stored, so a
            # concurrent retry sees it), together with the other requests' claims
            claim = await claims.submit((scope, idempotency_key, submission.body_hash()))
            if claim.outcome is not repository.ClaimOutcome.NEW:
                return _answer_to_a_claimed_key(intake, claim, scope, idempotency_key, request)
        is_partner = principal is not None and principal.partner_type is not None
        origin = Origin(
            channel=submission.channel,
            submitted_by=principal.subject if principal else None,
            partner=principal.subject if is_partner and principal else None,
            partner_type=principal.partner_type if is_partner and principal else None,
        )
        try:
            prepared = prepare_signal(
                intake,
                submission,
                origin,
                municipality,
                idempotency=(scope, idempotency_key) if idempotency_key else None,
                web_form_client=None if address is None else _web_form_client(intake, address),
            )
            # stored with whatever else arrived meanwhile, in one transaction; answered after
            # that transaction committed
            outcome = await submissions.submit(prepared)
        except asyncio.CancelledError:
            # the request was cancelled while its signal waited for its group: the signal is
            # still stored and its key completed with the answer a retry will get; keep the claim
            raise
        except BaseException:
            if idempotency_key:  # nothing was stored: a retry with this key may go ahead
                async with intake.service.pool.acquire() as conn:
                    await repository.release_idempotency_key(conn, scope, idempotency_key)
            raise
        if isinstance(outcome, RateLimited):
            return _rate_limited(outcome.retry_after, request)
        return JSONResponse(outcome.receipt, status_code=202)

    @api.get(
        "/v1/signals/{signal_id}/status",
        responses=problems(s404="no signal with this id and receipt token"),
    )
    async def status(
        signal_id: UUID, receipt_token: str = Header(max_length=100)
    ) -> dict[str, str]:
        """What a reporter may know: `received`, `being_handled` (the signal point is on it) or
        `handled` (the case is closed); never details."""
        async with intake.service.pool.acquire() as conn:
            stored = await repository.receipt_and_handling(conn, signal_id)
        given = hashlib.sha256(receipt_token.encode()).digest()
        if stored is None or not hmac.compare_digest(stored[0], given):
            # the same answer for "no such signal" and "wrong token": existence is not revealed
            raise HTTPException(404, "no signal with this id and receipt token")
        return {"signal_id": str(signal_id), "status": stored[1]}

    _state_where_signals_belong(api, intake.municipalities)
    return api


def _idempotency_key_refused(idempotency_key: str, request: Request) -> JSONResponse:
    return problem(
        422,
        "Invalid request / Ongeldig verzoek",
        f"Idempotency-Key: 1 to {IDEMPOTENCY_KEY_MAX} characters / 1 tot "
        f"{IDEMPOTENCY_KEY_MAX} tekens",
        kind="validation",
        errors=[
            {
                "field": "idempotency-key",
                "type": "string_too_long" if idempotency_key else "string_too_short",
                "reason_nl": "Deze sleutel heeft niet de juiste lengte.",
                "reason_en": f"1 to {IDEMPOTENCY_KEY_MAX} characters",
            }
        ],
        instance=request.url.path,
    )


def _municipality_of(
    submission: SignalSubmission, table: MunicipalityTable, request: Request
) -> str | JSONResponse:
    """The municipality the signal belongs to, or the problem that says why there is none."""
    try:
        return settle_municipality(submission, table)
    except OutsideConsortiumError as exc:
        return problem(
            422,
            "Outside this signal point / Buiten dit signaalpunt",
            exc.advice,
            kind="outside-consortium",
            instance=request.url.path,
        )
    except ValueError as exc:
        return problem(
            422,
            "Invalid request / Ongeldig verzoek",
            str(exc),
            kind="municipality",
            instance=request.url.path,
        )


def _answer_to_a_claimed_key(
    intake: Intake, claim: repository.Claim, scope: str, idempotency_key: str, request: Request
) -> JSONResponse:
    """A key seen before: the first answer again, or why this request cannot have one."""
    if claim.outcome is repository.ClaimOutcome.REPLAY:
        assert claim.response is not None
        token = receipt_token_for(intake, scope, idempotency_key)
        return JSONResponse(claim.response | {"receipt_token": token}, status_code=202)
    if claim.outcome is repository.ClaimOutcome.MISMATCH:
        return problem(
            422,
            "Idempotency key reused / Sleutel hergebruikt",
            "this Idempotency-Key was used for a different request",
            kind="idempotency-mismatch",
            instance=request.url.path,
        )
    return problem(
        409,
        "Still being processed / Nog in behandeling",
        "the first request with this Idempotency-Key is still running",
        kind="idempotency-in-flight",
        instance=request.url.path,
    )


def _state_where_signals_belong(api: FastAPI, table: MunicipalityTable) -> None:
    """Where a signal belongs is configuration (the consortium's municipalities and postcode
    areas): the document states it, so a report valid by the document is taken."""
    document = api.openapi

    def openapi() -> dict[str, Any]:
        schemas = document()["components"]["schemas"]
        schemas["SignalSubmission"]["allOf"] = [table.json_schema()]
        return document()

    api.openapi = openapi  # type: ignore[method-assign]
