"""The console's pages: server-rendered HTML (Jinja2), forms that work without JavaScript.

Every page and action calls a service's API with the signed-in person's token (`backend.Api`);
what the service refuses is shown with its own reason, a service that is down is a clear 503
page, and bad input (a malformed id, an unknown filter) is a message, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from signaalpunt_access import AuthenticationError, PrincipalKind, TokenVerifier
from signaalpunt_contracts import (
    CaseState,
    CaseStep,
    CloseReason,
    DeclineReason,
    ErasureReason,
    ErasureScope,
    MatchEndReason,
    Mobility,
    Need,
    Priority,
    ReferralStatus,
    RiskGroup,
    Route,
)
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from . import queues
from .backend import Refused, SignInNeeded, Unavailable
from .config import ConsoleSettings
from .labels import translator
from .oidc import Attempt, OidcClient, RefreshRefused, SignInError
from .pages import (
    Console,
    CsrfRefused,
    act,
    back_to,
    checked_form,
    language,
    local_path,
    local_time,
    message_page,
    refusal,
    render_page,
    signal_id_of,
    signed_in,
)
from .registers import add_register_routes
from .sessions import User, csrf_valid, due_for_refresh, refreshed, sign_in

HERE = Path(__file__).resolve().parent
COOKIE = "signaalpunt_console"
QUEUE_PAGE = 200  # triage's largest page: the most urgent first, so nothing acute is cut off

# the steps the console offers; `triaged` is the rules' own, `help_question_recorded` has a form
STEPS = [s for s in CaseStep if s not in (CaseStep.TRIAGED, CaseStep.HELP_QUESTION_RECORDED)]
# notifications shows its delivery log to these roles (no addresses in it)
MESSAGE_READERS = ("coordinator", "operator")
MESSAGES_SHOWN = 50
# what the team records on a referral (by phone, or withdrawing it); `sent` has its own button
REFERRAL_OUTCOMES = [
    s.value for s in ReferralStatus if s not in (ReferralStatus.PROPOSED, ReferralStatus.SENT)
]


def build_app(settings: ConsoleSettings, *, http: httpx.AsyncClient | None = None) -> FastAPI:
    client = http or httpx.AsyncClient(timeout=settings.api_timeout_seconds)
    console = Console(
        settings=settings,
        http=client,
        oidc=OidcClient(
            discovery_url=settings.oidc_discovery_url,
            client_id=settings.oidc_client_id,
            client_secret=(
                settings.oidc_client_secret.get_secret_value()
                if settings.oidc_client_secret
                else None
            ),
            redirect_uri=settings.redirect_uri,
            scopes=settings.oidc_scopes,
            http=client,
        ),
        verifier=TokenVerifier.configured(
            jwks_url=settings.jwks_url,
            jwks_file=settings.jwks_file,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        ),
        templates=Jinja2Templates(directory=HERE / "templates"),
    )
    console.templates.env.filters["local"] = local_time

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if http is None:  # the console's own client; a test's is the test's to close
            await client.aclose()

    app = FastAPI(
        title="Signaalpunt console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def refresh_tokens(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """A long session: shortly before the access token ends, the refresh token gets a new
        one (inside the session middleware, which keeps the result in the cookie)."""
        await refresh_if_due(console, request.session)
        return await call_next(request)

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret.get_secret_value(),
        session_cookie=COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.console = console

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        # only the console's own style sheet and script (htmx), nothing inline, never framed
        # (clickjacking); ids in URLs stay out of other sites' logs
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none';"
            " base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    _outcome_pages(app, console)
    _sign_in_routes(app, console)
    _queue_routes(app, console)
    _case_routes(app, console)
    _erasure_and_help_question_routes(app, console)
    _report_routes(app, console)
    add_register_routes(app, console)
    return app


def _outcome_pages(app: FastAPI, console: Console) -> None:
    """What a refusal, a missing sign-in or a service that is down looks like: a page, not a 500."""
    message = partial(message_page, console)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        request.session.pop("user", None)
        request.session.pop("access_token", None)
        target = request.url.path if request.method == "GET" else "/queue"
        if request.url.query and request.method == "GET":
            target += f"?{request.url.query}"
        sign_in_page = f"/login?{urlencode({'next': target})}"
        if request.headers.get("HX-Request") == "true":
            # htmx follows a redirect within the page, which cannot reach the identity
            # provider (another site): it is asked to load the sign-in as a whole page
            return Response(status_code=204, headers={"HX-Redirect": sign_in_page})
        return RedirectResponse(sign_in_page, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        t = translator(language(request))
        return message(request, 403, t("refused"), t("csrf"))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        t = translator(language(request))
        title = t("not_found") if exc.status == 404 else t("refused")
        status = exc.status if exc.status in (403, 404, 409, 410) else 400
        return message(request, status, title, exc.detail)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        t = translator(language(request))
        response = message(request, 503, t("refused"), t("unavailable"))
        response.headers["Retry-After"] = "10"
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        t = translator(language(request))
        return message(request, 400, t("refused"), "Ongeldige invoer / Invalid input")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        t = translator(language(request))
        if exc.status_code == 404:
            return message(request, 404, t("not_found"), "Deze pagina bestaat niet / No such page")
        return message(request, exc.status_code, t("refused"), str(exc.detail))


def _sign_in_routes(app: FastAPI, console: Console) -> None:
    """Sign-in through the identity provider (OIDC, PKCE) and sign-out."""
    settings = console.settings
    message = partial(message_page, console)

    @app.get("/login")
    async def login(request: Request) -> Response:
        attempt = Attempt.new()
        try:
            url = await console.oidc.authorization_url(attempt)
        except SignInError as exc:
            raise Unavailable(str(exc)) from exc
        request.session["signin"] = {
            "state": attempt.state,
            "nonce": attempt.nonce,
            "verifier": attempt.code_verifier,
            "next": local_path(request.query_params.get("next")),
        }
        return RedirectResponse(url, status_code=303)

    @app.get("/auth/callback")
    async def callback(request: Request) -> Response:
        t = translator(language(request))
        pending = request.session.pop("signin", None)
        state = request.query_params.get("state")
        code = request.query_params.get("code")
        if (
            not isinstance(pending, dict)
            or not state
            or not code
            or not csrf_valid({"csrf": pending.get("state")}, state)
        ):
            return message(request, 400, t("sign_in_failed"), "Begin opnieuw / Please start again")
        attempt = Attempt(state=state, nonce=pending["nonce"], code_verifier=pending["verifier"])
        try:
            tokens = await console.oidc.exchange(attempt, code)
            principal = console.verifier.verify(f"Bearer {tokens.access_token}")
        except SignInError as exc:
            return message(request, 400, t("sign_in_failed"), str(exc))
        except AuthenticationError as exc:
            return message(request, 400, t("sign_in_failed"), exc.reason)
        if principal.kind is not PrincipalKind.STAFF:
            return message(request, 403, t("sign_in_failed"), t("staff_only"))
        sign_in(
            request.session,
            principal,
            tokens.access_token,
            tokens.id_token,
            tokens.expires_in,
            refresh_token=tokens.refresh_token,
        )
        return RedirectResponse(local_path(pending.get("next")), status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await checked_form(request)
        id_token = request.session.get("id_token")
        lang = request.session.get("lang")
        request.session.clear()
        if lang:
            request.session["lang"] = lang
        after = f"{settings.public_url.rstrip('/')}/signed-out"
        url = await console.oidc.logout_url(id_token, after)
        return RedirectResponse(url or "/signed-out", status_code=303)

    @app.get("/signed-out")
    async def signed_out(request: Request) -> Response:
        t = translator(language(request))
        return message(request, 200, t("sign_out"), t("signed_out"))

    @app.get("/")
    async def home(request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)


def _queue_routes(app: FastAPI, console: Console) -> None:
    """The queue: acute first, then to review, then by deadline."""
    render = partial(render_page, console)

    @app.get("/queue")
    async def queue(request: Request) -> Response:
        user = signed_in(request)
        q = request.query_params
        filters = {
            k: q.get(k)
            for k in ("municipality", "route", "priority", "state", "risk_group", "overdue")
        }
        try:
            answer = await console.api(user, "triage").get(
                "/v1/triage/queue", limit=QUEUE_PAGE, **filters
            )
            items, problem = answer["items"], None
        except Refused as exc:
            if exc.status not in (400, 403, 422):
                raise
            items, problem = [], exc
        return render(
            request,
            "queue.html",
            400 if problem else 200,
            sections=queues.sections(items),
            total=len(items),
            page_size=QUEUE_PAGE,
            filters=filters,
            problem=problem,
            routes=[r.value for r in Route],
            priorities=[p.value for p in Priority],
            states=[s.value for s in CaseState],
            risk_groups=[g.value for g in RiskGroup],
        )


def _case_routes(app: FastAPI, console: Console) -> None:  # noqa: PLR0915 - one nested function per page
    """A case: the signal, the decision, the lock, decisions and steps, referrals, export."""
    render = partial(render_page, console)

    async def referrals_of(user: User, signal_id: UUID) -> tuple[dict[str, Any] | None, bool]:
        """The referral service's view of the case: (None, True) when it has no help question
        yet, (None, False) when it cannot be reached (the case page still shows)."""
        try:
            return await console.api(user, "referral").get(
                f"/v1/referral/signals/{signal_id}"
            ), True
        except Refused:
            return None, True
        except Unavailable:
            return None, False

    async def signal_of(user: User, signal_id: UUID) -> tuple[dict[str, Any] | None, str]:
        """The reporter's words and contact details from intake (its access log records the
        view): (the signal, "") or (None, why not)."""
        try:
            return await console.api(user, "intake").get(f"/v1/signals/{signal_id}/handling"), ""
        except Refused as exc:
            return None, exc.detail
        except Unavailable:
            return None, "unavailable"

    async def matches_of(user: User, referrals: dict[str, Any] | None) -> dict[str, Any]:
        """Matching's own view of each match request (its matches, their follow-up), by
        request id; what matching does not show this person (or is down) is left out: the
        page shows referral's summary instead."""
        found: dict[str, Any] = {}
        for request in (referrals or {}).get("match_requests", []):
            rid = request["match_request_id"]
            try:
                found[rid] = await console.api(user, "matching").get(f"/v1/matching/requests/{rid}")
            except (Refused, Unavailable):
                continue
        return found

    async def messages_of(user: User, case: dict[str, Any]) -> tuple[list[Any] | None, str]:
        """The messages notifications sent (or is sending) for this case: what, to which kind
        of recipient, by which channel, with its status; never an address. Notifications
        shows its delivery log to coordinators and operators only: (None, why not)."""
        if not user.has(*MESSAGE_READERS):
            return None, "not_for_role"
        try:
            answer = await console.api(user, "notifications").get(
                "/v1/deliveries",
                municipality=case["municipality"],
                signal_id=case["signal_id"],
                limit=MESSAGES_SHOWN,
            )
        except Refused:
            return None, "not_for_role"
        except Unavailable:
            return None, "unavailable"
        return list(reversed(answer["deliveries"])), ""

    @app.get("/cases/{signal_id}")
    async def case(request: Request, signal_id: str) -> Response:
        user = signed_in(request)
        sid = signal_id_of(signal_id)
        detail = await console.api(user, "triage").get(f"/v1/triage/signals/{sid}")
        signal, signal_missing = await signal_of(user, sid)
        referrals, referral_reachable = await referrals_of(user, sid)
        matches = await matches_of(user, referrals)
        messages, messages_missing = await messages_of(user, detail["case"])
        return render(
            request,
            "case.html",
            detail=detail,
            c=detail["case"],
            signal=signal,
            signal_missing=signal_missing,
            referrals=referrals,
            referral_reachable=referral_reachable,
            matches=matches,
            messages=messages,
            messages_missing=messages_missing,
            referral_outcomes=REFERRAL_OUTCOMES,
            decline_reasons=[r.value for r in DeclineReason],
            end_reasons=[r.value for r in MatchEndReason],
            routes=[r.value for r in Route],
            priorities=[p.value for p in Priority],
            risk_groups=[g.value for g in RiskGroup],
            steps=[s.value for s in STEPS],
            close_reasons=[r.value for r in CloseReason],
            timeline=timeline(detail),
        )

    @app.post("/cases/{signal_id}/lock")
    async def lock(request: Request, signal_id: str) -> Response:
        async def do(user: User, sid: UUID, form: FormData) -> Any:
            path = f"/v1/triage/signals/{sid}/lock"
            if form.get("action") == "release":
                return await console.api(user, "triage").delete(path)
            return await console.api(user, "triage").post(path, None)

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/decision")
    async def decision(request: Request, signal_id: str) -> Response:
        async def do(user: User, sid: UUID, form: FormData) -> Any:
            body: dict[str, Any] = {}
            based_on = str(form.get("based_on_decision") or "")
            if based_on.isdigit():
                body["based_on_decision"] = int(based_on)
            if form.get("action") == "change":
                for field in ("route", "priority"):
                    if value := form.get(field):
                        body[field] = value
                body["risk_groups"] = form.getlist("risk_groups")
                reason = str(form.get("reason") or "").strip()
                body["reason"] = reason or None
            return await console.api(user, "triage").post(
                f"/v1/triage/signals/{sid}/decisions", body
            )

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/steps")
    async def step(request: Request, signal_id: str) -> Response:
        async def do(user: User, sid: UUID, form: FormData) -> Any:
            body: dict[str, Any] = {"step": form.get("step")}
            if reason := form.get("close_reason"):
                body["close_reason"] = reason
            if note := str(form.get("note") or "").strip():
                body["note"] = note
            return await console.api(user, "triage").post(f"/v1/triage/signals/{sid}/steps", body)

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/referrals/{referral_id}/send")
    async def send_referral(request: Request, signal_id: str, referral_id: str) -> Response:
        """The team confirms a proposal: referral sends it to the organisation (409 without
        the person's consent, or when its status no longer allows it)."""

        async def do(user: User, sid: UUID, form: FormData) -> Any:
            rid = signal_id_of(referral_id)
            return await console.api(user, "referral").post(
                f"/v1/referral/referrals/{rid}/send", None
            )

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/referrals/{referral_id}/status")
    async def referral_outcome(request: Request, signal_id: str, referral_id: str) -> Response:
        """What an organisation without a system said by phone (accepted, declined with a
        reason, in progress, an outcome), or the team withdraws it; referral refuses a status
        its lifecycle does not allow (409, with its reason)."""

        async def do(user: User, sid: UUID, form: FormData) -> Any:
            rid = signal_id_of(referral_id)
            body: dict[str, Any] = {"status": form.get("status")}
            if reason := form.get("decline_reason"):
                body["decline_reason"] = reason
            if note := str(form.get("note") or "").strip():
                body["note"] = note
            return await console.api(user, "referral").post(
                f"/v1/referral/referrals/{rid}/status", body
            )

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/matches/{match_id}/status")
    async def match_status(request: Request, signal_id: str, match_id: str) -> Response:
        """The first meeting took place (active), or the match ended with a reason."""

        async def do(user: User, sid: UUID, form: FormData) -> Any:
            mid = signal_id_of(match_id)
            body: dict[str, Any] = {"status": form.get("status")}
            if reason := form.get("end_reason"):
                body["end_reason"] = reason
            return await console.api(user, "matching").post(
                f"/v1/matching/matches/{mid}/status", body
            )

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/matches/{match_id}/follow-up")
    async def match_follow_up(request: Request, signal_id: str, match_id: str) -> Response:
        """The four-week follow-up: did it become a real match?"""

        async def do(user: User, sid: UUID, form: FormData) -> Any:
            mid = signal_id_of(match_id)
            answer = form.get("real_match")
            if answer not in ("yes", "no"):
                raise Refused(422, "Kies ja of nee / Choose yes or no")
            return await console.api(user, "matching").post(
                f"/v1/matching/matches/{mid}/follow-up", {"real_match": answer == "yes"}
            )

        return await act(request, signal_id, do)

    @app.post("/cases/{signal_id}/export")
    async def export(request: Request, signal_id: str) -> Response:
        """A coordinator's right-of-access export (AVG art. 15) of this signal: everything
        intake holds on it, decrypted, and who processed it. Intake logs the export itself;
        the answer is a page, never stored by the browser (no-store)."""
        user = signed_in(request)
        await checked_form(request)
        sid = signal_id_of(signal_id)
        detail = await console.api(user, "triage").get(f"/v1/triage/signals/{sid}")
        municipality = detail["case"]["municipality"]
        done = await console.api(user, "intake").post(
            "/v1/subject-access/export", {"municipality": municipality, "signal_ids": [str(sid)]}
        )
        return render(request, "export.html", signal_id=sid, export=done)


def _erasure_and_help_question_routes(app: FastAPI, console: Console) -> None:
    """Erasure with four eyes (intake's workflow) and the help question."""
    render = partial(render_page, console)

    @app.get("/cases/{signal_id}/erasure")
    async def erasure_form(request: Request, signal_id: str) -> Response:
        """The signals intake links to this one's person (its blind index): the coordinator
        confirms which are really theirs, the scope and the reason."""
        user = signed_in(request)
        sid = signal_id_of(signal_id)
        detail = await console.api(user, "triage").get(f"/v1/triage/signals/{sid}")
        municipality = detail["case"]["municipality"]
        found = await console.api(user, "intake").post(
            "/v1/erasures/search", {"municipality": municipality, "signal_ids": [str(sid)]}
        )
        return render(
            request,
            "erasure.html",
            signal_id=sid,
            municipality=municipality,
            candidates=found["candidates"],
            scopes=[s.value for s in ErasureScope],
            reasons=[r.value for r in ErasureReason if r is not ErasureReason.RETENTION_EXPIRED],
        )

    @app.post("/cases/{signal_id}/erasure")
    async def erase(request: Request, signal_id: str) -> Response:
        user = signed_in(request)
        form = await checked_form(request)
        sid = signal_id_of(signal_id)
        t = translator(language(request))
        body = {
            "municipality": form.get("municipality"),
            "signal_ids": form.getlist("signal_ids"),
            "scope": form.get("scope"),
            "reason": form.get("reason"),
            "confirm_open_acute": form.get("confirm_open_acute") == "yes",
        }
        try:
            done = await console.api(user, "intake").post("/v1/erasures", body)
        except Refused as exc:
            return back_to(f"/cases/{sid}/erasure", refusal(t("refused"), exc), request)
        return back_to(
            f"/erasures/{done['erasure_id']}", {"kind": "ok", "title": t("saved")}, request
        )

    @app.get("/erasures/{erasure_id}")
    async def erasure(request: Request, erasure_id: str) -> Response:
        user = signed_in(request)
        eid = signal_id_of(erasure_id)
        found = await console.api(user, "intake").get(f"/v1/erasures/{eid}")
        return render(request, "erasure_status.html", erasure=found)

    @app.post("/erasures/{erasure_id}/approve")
    async def approve_erasure(request: Request, erasure_id: str) -> Response:
        """Four eyes: a second coordinator carries the erasure out."""
        user = signed_in(request)
        await checked_form(request)
        eid = signal_id_of(erasure_id)
        t = translator(language(request))
        try:
            await console.api(user, "intake").post(f"/v1/erasures/{eid}/approve", None)
        except Refused as exc:
            return back_to(
                f"/erasures/{eid}",
                {"kind": "error", "title": t("refused"), "detail": exc.detail},
                request,
            )
        return back_to(f"/erasures/{eid}", {"kind": "ok", "title": t("saved")}, request)

    @app.get("/cases/{signal_id}/help-question")
    async def help_question_form(request: Request, signal_id: str) -> Response:
        user = signed_in(request)
        sid = signal_id_of(signal_id)
        draft = await console.api(user, "triage").get(
            f"/v1/triage/signals/{sid}/help-question-draft"
        )
        return render(
            request,
            "help_question.html",
            signal_id=sid,
            draft=draft,
            needs=[n.value for n in Need],
            mobilities=[m.value for m in Mobility],
        )

    @app.post("/cases/{signal_id}/help-question")
    async def help_question(request: Request, signal_id: str) -> Response:
        async def do(user: User, sid: UUID, form: FormData) -> Any:
            question: dict[str, Any] = {
                "needs": form.getlist("needs"),
                "mobility": form.get("mobility") or Mobility.TRAVELS_INDEPENDENTLY.value,
                "consent_to_refer": form.get("consent_to_refer") == "yes",
                "derived_from_cues": form.get("derived_from_cues") == "yes",
            }
            if text := str(form.get("text") or "").strip():
                question["text"] = text
            return await console.api(user, "triage").post(
                f"/v1/triage/signals/{sid}/steps",
                {"step": CaseStep.HELP_QUESTION_RECORDED.value, "help_question": question},
            )

        return await act(request, signal_id, do)


def _report_routes(app: FastAPI, console: Console) -> None:
    """The gap report and the offer evaluation."""
    render = partial(render_page, console)

    @app.get("/reports")
    async def reports(request: Request) -> Response:
        user = signed_in(request)
        referral = console.api(user, "referral")
        gaps = await referral.get("/v1/referral/gaps")
        evaluation = await referral.get("/v1/referral/evaluation")
        return render(request, "reports.html", gaps=gaps, evaluation=evaluation)


def timeline(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Decisions and steps in the order they happened (pure)."""
    entries = [
        {
            "at": d.get("decided_at"),
            "what": f"decision {d.get('decision')}: {d.get('route')} / {d.get('priority')}",
            "by": d.get("staff") or d.get("decided_by"),
        }
        for d in detail.get("decisions", [])
    ] + [
        {
            "at": s.get("recorded_at"),
            "what": f"{s.get('step')}: {s.get('previous_state')} → {s.get('state')}"
            + (f" ({s['close_reason']})" if s.get("close_reason") else ""),
            "by": s.get("recorded_by"),
        }
        for s in detail.get("steps", [])
    ]
    return sorted(entries, key=lambda e: str(e["at"] or ""))


async def refresh_if_due(console: Console, session: dict[str, Any]) -> None:
    """Renew the access token with the refresh token when it ends within the margin. The new
    token is checked as at sign-in and must be the same person's; a refusal ends the session
    (sign in again), a provider that does not answer leaves it as it is until it ends."""
    refresh_token = due_for_refresh(session, console.settings.refresh_margin_seconds)
    if refresh_token is None:
        return
    try:
        tokens = await console.oidc.refresh(refresh_token, str(session.get("id_token") or ""))
        principal = console.verifier.verify(f"Bearer {tokens.access_token}")
    except (RefreshRefused, AuthenticationError):
        session.pop("refresh_token", None)
        session.pop("access_token", None)
        return
    except SignInError:
        return  # not answering: the session lasts until its token ends
    user = session.get("user")
    if not isinstance(user, dict) or principal.subject != user.get("subject"):
        session.clear()  # another person's token: never mixed into this session
        return
    refreshed(
        session,
        tokens.access_token,
        tokens.id_token,
        tokens.expires_in,
        tokens.refresh_token or refresh_token,
    )
