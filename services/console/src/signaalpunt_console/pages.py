"""What every page needs: the console's parts, the person's language and session, rendering,
the outcome of a form (CSRF checked, back with a message) and the small conversions pages share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from signaalpunt_access import TokenVerifier
from starlette.datastructures import FormData

from .backend import Api, Refused, SignInNeeded
from .config import ConsoleSettings
from .imports import ImportJobs
from .labels import LANGUAGES, translator, wording
from .oidc import OidcClient
from .sessions import CSRF_FIELD, User, csrf_token, csrf_valid, user_of


class CsrfRefused(Exception):  # noqa: N818
    pass


HTMX = "htmx-2.0.11.min.js"  # htmx.org 2.0.11 (0BSD) from npm, as published; see docs/console.md


@dataclass
class Console:
    settings: ConsoleSettings
    http: httpx.AsyncClient
    oidc: OidcClient
    verifier: TokenVerifier
    templates: Jinja2Templates
    imports: ImportJobs = field(default_factory=ImportJobs)

    def api(self, user: User, service: str) -> Api:
        base = {
            "intake": self.settings.intake_url,
            "triage": self.settings.triage_url,
            "referral": self.settings.referral_url,
            "matching": self.settings.matching_url,
            "notifications": self.settings.notifications_url,
        }[service]
        return Api(self.http, base, user.access_token)


def language(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        request.session["lang"] = chosen
    stored = request.session.get("lang")
    return stored if stored in LANGUAGES else "nl"


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target:
        return "/queue"
    parts = urlsplit(target)
    # browsers read "/\\host" as "//host": another site
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return "/queue"
    return target


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_time(value: object, pattern: str = "%d-%m-%Y %H:%M") -> str:
    """An API's ISO time as the Dutch read it: Amsterdam time (the APIs answer in UTC)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(AMSTERDAM).strftime(pattern)


def refusal(title: str, exc: Refused) -> dict[str, Any]:
    """A refusal as a flash message for the next page. It travels in the session cookie, which
    a browser drops past 4 KB (signing the person out): the service's words, kept short."""
    return {
        "kind": "error",
        "title": title,
        "detail": exc.detail[:200],
        "errors": [
            {k: str(e.get(k, ""))[:100] for k in ("field", "reason_nl", "reason_en")}
            for e in exc.errors[:3]
        ],
    }


def signal_id_of(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Refused(404, "Geen geldige meldingscode / Not a valid case id") from None


def render_page(
    console: Console, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the signed-in person's language, with what every page needs."""
    lang = language(request)
    response = console.templates.TemplateResponse(
        request,
        template,
        {
            "t": translator(lang),
            "word": wording(lang),
            "words": lambda codes: ", ".join(wording(lang)(c) for c in codes or ()),
            "lang": lang,
            "other_lang": "en" if lang == "nl" else "nl",
            "user": user_of(request.session),
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(request.session),
            "flash": request.session.pop("flash", None),
            "grafana_url": console.settings.grafana_url,
            "htmx": HTMX,
            **context,
        },
        status_code=status,
    )
    # pages show personal data: never kept by a browser or proxy cache
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(
    console: Console, request: Request, status: int, title: str, detail: str
) -> HTMLResponse:
    return render_page(console, request, "message.html", status, title=title, detail=detail)


def signed_in(request: Request) -> User:
    user = user_of(request.session)
    if user is None:
        raise SignInNeeded
    return user


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    if not csrf_valid(request.session, form.get(CSRF_FIELD)):
        raise CsrfRefused
    return form


def back_to(
    path: str, flash: dict[str, Any] | None = None, request: Request | None = None
) -> RedirectResponse:
    if flash is not None and request is not None:
        request.session["flash"] = flash
    return RedirectResponse(path, status_code=303)


async def act(
    request: Request,
    signal_id: str,
    action: Callable[[User, UUID, FormData], Awaitable[Any]],
) -> Response:
    """A POST on a case: CSRF checked, the API called, back to the case with the outcome."""
    user = signed_in(request)
    form = await checked_form(request)
    sid = signal_id_of(signal_id)
    t = translator(language(request))
    try:
        await action(user, sid, form)
    except Refused as exc:
        return back_to(
            f"/cases/{sid}",
            refusal(t("refused"), exc),
            request,
        )
    return back_to(f"/cases/{sid}", {"kind": "ok", "title": t("saved")}, request)
