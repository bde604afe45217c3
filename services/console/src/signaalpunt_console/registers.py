"""The social map (referral's coordinator API) and the volunteers (matching's registry API):
browse, change a row, import a file with a progress bar and the refused rows.

Changing is what the services allow this person: referral keeps the social map for the signal
point's coordinators, matching the registry for coordinators and volunteer coordinators; the
console shows the forms to those roles and the services check them again."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from signaalpunt_contracts import Need
from starlette.datastructures import FormData, UploadFile

from .backend import Refused
from .imports import (
    MAX_FILE_BYTES,
    ImportFileError,
    ImportJob,
    import_social_map,
    import_volunteers,
    social_map_document,
    volunteers_of,
)
from .labels import translator
from .pages import (
    Console,
    back_to,
    checked_form,
    language,
    refusal,
    render_page,
    signal_id_of,
    signed_in,
)
from .sessions import User

SERVICE_STATUSES = ("active", "temporarily closed", "inactive")
VOLUNTEER_STATUSES = ("active", "paused", "left")
MAP_KEEPERS = ("coordinator",)
REGISTRY_KEEPERS = ("coordinator", "volunteer_coordinator")
PAGE = 200


def whole_number(form: FormData, name: str) -> int | None:
    """A number field: empty leaves the value as it is; anything else the service checks."""
    value = str(form.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise Refused(422, f"{name}: een heel getal / a whole number")
    return int(value)


async def files_of(form: FormData) -> list[tuple[str, bytes]]:
    """The chosen files, each read up to one byte past the limit (a larger one is refused
    without being held in memory whole)."""
    return [
        (item.filename or "", await item.read(MAX_FILE_BYTES + 1))
        for item in form.getlist("file")
        if isinstance(item, UploadFile) and item.filename
    ]


def add_register_routes(app: FastAPI, console: Console) -> None:
    _import_routes(app, console)  # before `/volunteers/{id}`, which would take "import"
    _social_map_routes(app, console)
    _volunteer_routes(app, console)


def _social_map_routes(app: FastAPI, console: Console) -> None:
    render = partial(render_page, console)

    @app.get("/social-map")
    async def social_map(request: Request) -> Response:
        user = signed_in(request)
        need = request.query_params.get("need") or None
        services = await console.api(user, "referral").get(
            "/v1/referral/map/services", need=need, limit=PAGE
        )
        return render(
            request,
            "social_map.html",
            services=services,
            need=need,
            needs=[n.value for n in Need],
            statuses=SERVICE_STATUSES,
            may_edit=user.has(*MAP_KEEPERS),
        )

    @app.post("/social-map/services/{service_id}")
    async def change_service(request: Request, service_id: str) -> Response:
        """Status (active, temporarily closed, inactive) and places; empty keeps the value."""
        user = signed_in(request)
        form = await checked_form(request)
        sid = signal_id_of(service_id)
        t = translator(language(request))
        try:
            body: dict[str, Any] = {
                k: v
                for k, v in {
                    "status": str(form.get("status") or "") or None,
                    "open_places": whole_number(form, "open_places"),
                    "capacity_total": whole_number(form, "capacity_total"),
                }.items()
                if v is not None
            }
            await console.api(user, "referral").call(
                "PATCH", f"/v1/referral/map/services/{sid}", json=body
            )
        except Refused as exc:
            return back_to("/social-map", refusal(t("refused"), exc), request)
        return back_to("/social-map", {"kind": "ok", "title": t("saved")}, request)


def _volunteer_routes(app: FastAPI, console: Console) -> None:
    render = partial(render_page, console)

    @app.get("/volunteers")
    async def volunteers(request: Request) -> Response:
        user = signed_in(request)
        rows = await console.api(user, "matching").get("/v1/matching/volunteers", limit=PAGE)
        return render(
            request,
            "volunteers.html",
            volunteers=rows,
            statuses=VOLUNTEER_STATUSES,
            may_edit=user.has(*REGISTRY_KEEPERS),
        )

    @app.post("/volunteers/{volunteer_id}")
    async def change_volunteer(request: Request, volunteer_id: str) -> Response:
        """Pause, leave or come back, and how many matches at once (matching refuses fewer
        places than open matches, with its reason)."""
        user = signed_in(request)
        form = await checked_form(request)
        vid = signal_id_of(volunteer_id)
        t = translator(language(request))
        try:
            body: dict[str, Any] = {}
            if status := str(form.get("status") or ""):
                body["status"] = status
            if (places := whole_number(form, "max_matches")) is not None:
                body["max_matches"] = places
            await console.api(user, "matching").call(
                "PATCH", f"/v1/matching/volunteers/{vid}", json=body
            )
        except Refused as exc:
            return back_to("/volunteers", refusal(t("refused"), exc), request)
        return back_to("/volunteers", {"kind": "ok", "title": t("saved")}, request)


def _import_routes(app: FastAPI, console: Console) -> None:
    render = partial(render_page, console)

    def started(request: Request, job: ImportJob) -> Response:
        return back_to(f"/imports/{job.job_id}")

    def unreadable(request: Request, back: str, exc: ImportFileError) -> Response:
        t = translator(language(request))
        return back_to(back, {"kind": "error", "title": t("refused"), "detail": str(exc)}, request)

    @app.post("/social-map/import")
    async def import_map(request: Request) -> Response:
        user = signed_in(request)
        form = await checked_form(request)
        try:
            document, kind = social_map_document(await files_of(form))
        except ImportFileError as exc:
            return unreadable(request, "/social-map", exc)
        referral = console.api(user, "referral")
        job = console.imports.start(
            user.subject,
            "social_map",
            len(document),
            lambda job: import_social_map(referral, document, kind, job),
        )
        return started(request, job)

    @app.post("/volunteers/import")
    async def import_registry(request: Request) -> Response:
        user = signed_in(request)
        form = await checked_form(request)
        files = await files_of(form)
        try:
            if len(files) != 1:
                raise ImportFileError("kies één CSV-bestand / choose one CSV file")
            parsed = volunteers_of(*files[0])
        except ImportFileError as exc:
            return unreadable(request, "/volunteers", exc)
        matching = console.api(user, "matching")
        job = console.imports.start(
            user.subject,
            "volunteers",
            len(parsed.items) + len(parsed.rejected),  # every row of the file
            lambda job: import_volunteers(matching, parsed, job),
        )
        return started(request, job)

    @app.get("/imports/{job_id}")
    async def import_page(request: Request, job_id: str) -> Response:
        """How far the import is (a progress bar), then what was taken in and every refused
        row with its reason. Without JavaScript the person reloads the page; with it, the
        progress part refreshes itself."""
        user: User = signed_in(request)
        job = console.imports.of(job_id, user.subject)
        if job is None:
            raise Refused(404, "Geen import met deze code / No such import")
        # htmx asking for the progress part only (not a boosted page load, which wants it all)
        partial_only = request.headers.get("HX-Target") == "import-progress"
        return render(
            request,
            "import_progress.html" if partial_only else "import.html",
            job=job,
            back="/social-map" if job.kind == "social_map" else "/volunteers",
        )
