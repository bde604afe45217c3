"""The receiving organisation's side: its inbox and its answers, by scoped token or signed callback.

Scoped token: a partner token with the role `organisation` whose subject is
`urn:signaalpunt:organisation:<organisation id>`; it sees and answers only referrals to that
organisation. Signed callback: the organisation POSTs its answer signed with the secret the
coordinator gave it (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature); a
callback whose webhook-id was handled before has no second effect.
The organisation sees the help question (needs, languages, mobility, age, and the person's own
words) only because the person consented to the referral, and how to reach them (name, phone,
e-mail as the person gave them) only when they agreed to share that too; never an address.
"""

from typing import Annotated
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from signaalpunt_access import AuthorizationError, Principal, PrincipalKind, TokenVerifier
from signaalpunt_contracts import DeclineReason, ReferralStatus
from signaalpunt_privacy import access_log
from signaalpunt_privacy.access_log import (
    AccessEntry,
    Operation,
    Outcome,
    Purpose,
)
from signaalpunt_runtime.http_api import json_body, problem, requires
from signaalpunt_runtime.openapi_contract import problems
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from . import repository as repo
from .disclosure import disclose
from .handlers import Answer, ConflictError, NotFoundError, Referrals, answer
from .lifecycle import Actor, TransitionRefusedError

ORGANISATION_ROLE = "organisation"
URN = "urn:signaalpunt:organisation:"


def organisation_of(principal: Principal) -> UUID:
    """The organisation a partner token (kind and role checked by `requires`) speaks for."""
    if not principal.subject.startswith(URN):
        raise AuthorizationError(f"the token's subject must be {URN}<organisation id>")
    try:
        return UUID(principal.subject.removeprefix(URN))
    except ValueError as exc:
        raise AuthorizationError("the token's subject names no organisation id") from exc


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    decline_reason: DeclineReason | None = None
    note: str | None = Field(default=None, max_length=2000, description="stored sealed")


class CallbackIn(AnswerIn):
    referral_id: UUID


class InboxItem(BaseModel):
    referral_id: UUID
    signal_id: UUID
    service_id: UUID
    service_name: str
    status: ReferralStatus
    version: int
    respond_by: str | None
    needs: list[str]
    languages: list[str]
    mobility: str
    age: int | None
    question: str | None = Field(description="the person's words (they consented to this)")
    contact: "Contact | None" = Field(
        default=None,
        description="how to reach the person, only when they agreed to share it",
    )


class Contact(BaseModel):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class ReferralOut(BaseModel):
    referral_id: UUID
    status: ReferralStatus
    version: int
    changed: bool = Field(description="false: the same answer was already recorded")


def _refused(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return problem(
            404,
            "Not found / Niet gevonden",
            "No such referral for your organisation / Geen verwijzing voor uw organisatie.",
            kind="not-found",
            instance=request.url.path,
        )
    return problem(409, "Conflict / Conflict", str(exc), kind="conflict", instance=request.url.path)


async def _inbox_of(ctx: Referrals, principal: Principal) -> list[InboxItem]:
    """The open referrals, with what the person agreed to share opened; every read logged."""
    organisation_id = organisation_of(principal)
    async with ctx.service.pool.acquire() as conn:
        referrals = await repo.referrals_to(
            conn, organisation_id, ["sent", "accepted", "in_progress"], 200
        )
        items, entries = [], []
        for r in referrals:
            stored = await repo.get_help_question(conn, r.signal_id)
            assert stored is not None
            q = stored.question
            shown = await disclose(ctx.vault, stored)
            entries.append(
                AccessEntry.of(
                    principal,
                    activity="referral.organisation_inbox",
                    operation=Operation.READ,
                    municipality=r.municipality,
                    signal_id=r.signal_id,
                    subject_id=stored.subject_id,
                    categories=shown.categories,
                    purpose=Purpose.SIGNAL_HANDLING,
                    outcome=Outcome.ERASED if shown.erased else Outcome.OK,
                )
            )
            items.append(
                InboxItem(
                    referral_id=r.referral_id,
                    signal_id=r.signal_id,
                    service_id=r.service_id,
                    service_name=r.service_name,
                    status=r.status,
                    version=r.version,
                    respond_by=r.respond_by.isoformat() if r.respond_by else None,
                    needs=[n.value for n in q.needs],
                    languages=list(q.languages),
                    mobility=q.mobility.value,
                    age=q.age,
                    question=shown.words,
                    contact=Contact(**shown.contact) if shown.contact else None,
                )
            )
        # what the organisation was shown, and whose words were opened for it
        await access_log.record(conn, entries)
    return items


def add_organisation_routes(api: FastAPI, ctx: Referrals, verifier: TokenVerifier) -> None:
    Organisation = Annotated[  # noqa: N806
        Principal,
        Depends(requires(verifier, [PrincipalKind.PARTNER], [ORGANISATION_ROLE])),
    ]

    @api.get("/v1/referral/inbox", response_model=list[InboxItem])
    async def inbox(principal: Organisation) -> list[InboxItem]:
        """Referrals sent to your organisation that are open (sent, accepted, in progress)."""
        return await _inbox_of(ctx, principal)

    @api.post(
        "/v1/referral/inbox/{referral_id}",
        response_model=ReferralOut,
        responses=problems(s409="the referral's status does not allow this answer"),
    )
    async def answer_referral(
        referral_id: UUID, body: AnswerIn, request: Request, principal: Organisation
    ) -> ReferralOut | JSONResponse:
        """Accept, decline (with a reason), no capacity, in progress, or the outcome."""
        organisation_id = organisation_of(principal)
        try:
            r, changed = await answer(
                ctx,
                referral_id,
                Answer(body.status, body.decline_reason, body.note),
                actor=Actor.ORGANISATION,
                by=f"organisation:{organisation_id}",
                organisation_id=organisation_id,
            )
        except (NotFoundError, ConflictError, TransitionRefusedError) as exc:
            return _refused(request, exc)
        return ReferralOut(
            referral_id=r.referral_id, status=r.status, version=r.version, changed=changed
        )


def add_callback_routes(api: FastAPI, ctx: Referrals) -> None:
    """The organisation's answer as a signed webhook: no token, the signature is the proof."""
    # the body is read (and its signature checked) by the route itself: declared here
    signed = {"in": "header", "required": True, "schema": {"type": "string", "maxLength": 500}}
    callback_body = json_body(api, CallbackIn)

    @api.post(
        "/v1/referral/callbacks/{organisation_id}",
        response_model=ReferralOut,
        openapi_extra=callback_body
        | {
            "parameters": [
                {"name": name, **signed, "description": "Standard Webhooks"}
                for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
            ]
        },
        responses=problems(
            400,
            413,
            s401="the signature does not verify with the organisation's webhook secret",
            s409="the referral's status does not allow this answer",
        ),
    )
    async def signed_callback(
        organisation_id: UUID, request: Request
    ) -> ReferralOut | JSONResponse:
        """The organisation's answer as a signed webhook (Standard Webhooks)."""
        body = await request.body()
        async with ctx.service.pool.acquire() as conn:
            secret = await repo.webhook_secret(conn, organisation_id)
        try:
            if secret is None:
                raise WebhookVerificationError("no webhook secret for this organisation")
            Webhook(secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            return problem(
                401,
                "Unauthorized / Niet geautoriseerd",
                "The callback's signature does not verify / De handtekening klopt niet.",
                kind="unauthorized",
                instance=request.url.path,
            )
        try:
            reply = CallbackIn.model_validate_json(body)
        except ValidationError as exc:
            return problem(
                422,
                "Invalid request / Ongeldig verzoek",
                "The callback body is not a referral answer.",
                kind="validation",
                errors=[
                    {"field": ".".join(str(p) for p in e["loc"]), "type": e["type"]}
                    for e in exc.errors()
                ],
                instance=request.url.path,
            )
        webhook_id = request.headers["webhook-id"]
        try:
            r, changed = await answer(
                ctx,
                reply.referral_id,
                Answer(reply.status, reply.decline_reason, reply.note),
                actor=Actor.ORGANISATION,
                by=f"organisation:{organisation_id}",
                organisation_id=organisation_id,
                callback_id=webhook_id,
            )
        except (NotFoundError, ConflictError, TransitionRefusedError) as exc:
            return _refused(request, exc)
        return ReferralOut(
            referral_id=r.referral_id, status=r.status, version=r.version, changed=changed
        )
