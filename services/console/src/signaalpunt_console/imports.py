"""Importing the social map and the volunteers from a browser, with a progress bar and the
refused rows.

The files are read by the services' own readers, the ones their command-line tools use
(referral's `hsds.from_tables` for the HSDS CSV tables, matching's `csv_import.read_csv` for the
volunteers' CSV): the console parses nothing itself. The rows go to the services' import APIs in
batches, in the background, so that a page can show how far the import is and, at the end, every
refused row with the service's reason and where it was in the file.

A job lives in the console's memory only, for the person who started it: the services keep what
was imported (their imports are upserts), so after a restart of the console the person sees "no
such import" and may simply import the file again."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from signaalpunt_matching.csv_import import ParsedCsv, read_csv
from signaalpunt_referral.hsds import from_tables

from .backend import Api, Refused, SignInNeeded, Unavailable

MAP_BATCH = 50  # organisations per request, as `signaalpunt-social-map import` sends them
VOLUNTEER_BATCH = 200  # volunteers per request, as `signaalpunt-volunteers import` sends them
MAX_FILE_BYTES = 5_000_000  # a municipality's social map is well below this
KEEP_JOBS = 50  # the newest imports kept for their pages; older finished ones are forgotten


class ImportFileError(ValueError):
    """A file the import cannot start with (not UTF-8, not JSON, no organizations.csv)."""


@dataclass(frozen=True)
class RefusedRow:
    where: str  # "line 4" (volunteers), "organization 2 (organizations.csv line 3), service 1"
    id: str
    reason: str


@dataclass
class ImportJob:
    job_id: str
    owner: str  # the staff subject who started it: nobody else sees its page
    kind: str  # "social_map" or "volunteers"
    total: int
    done: int = 0
    imported: int = 0  # services or volunteers taken in (created or updated)
    refused: list[RefusedRow] = field(default_factory=list)
    finished: bool = False
    failure: str | None = None  # why it stopped before the end ("unavailable", a refusal)
    started: float = field(default_factory=time.monotonic)

    @property
    def percent(self) -> int:
        return 100 if not self.total else round(100 * self.done / self.total)


class ImportJobs:
    """The running and recent imports of this console process."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, owner: str, kind: str, total: int, work: Callable[[ImportJob], Awaitable[None]]
    ) -> ImportJob:
        job = ImportJob(job_id=secrets.token_urlsafe(12), owner=owner, kind=kind, total=total)
        self._forget_old()
        self._jobs[job.job_id] = job
        task = asyncio.create_task(self._run(job, work))
        self._tasks.add(task)  # a task nobody holds may be collected before it ends
        task.add_done_callback(self._tasks.discard)
        return job

    def of(self, job_id: str, owner: str) -> ImportJob | None:
        job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    async def _run(self, job: ImportJob, work: Callable[[ImportJob], Awaitable[None]]) -> None:
        try:
            await work(job)
        except Refused as exc:
            job.failure = exc.detail[:300]
        except Unavailable:
            job.failure = "unavailable"
        except SignInNeeded:
            job.failure = "sign_in"
        finally:
            job.finished = True

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.started)
        for job in finished[: max(0, len(self._jobs) - KEEP_JOBS + 1)]:
            del self._jobs[job.job_id]


def text_of(name: str, content: bytes) -> str:
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(f"{name}: larger than {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{name}: not UTF-8 text") from None


def social_map_document(files: list[tuple[str, bytes]]) -> tuple[list[Any], str]:
    """An HSDS JSON file, or the HSDS CSV tables (organizations.csv, services.csv, …) chosen
    together: (the document, "json" or "csv")."""
    files = [(name.rsplit("/", 1)[-1], content) for name, content in files if name]
    if len(files) == 1 and files[0][0].lower().endswith(".json"):
        name, content = files[0]
        try:
            document = json.loads(text_of(name, content))
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{name}: not JSON (line {exc.lineno})") from None
        if not isinstance(document, list):
            raise ImportFileError(f"{name}: an HSDS document is a list of organizations")
        return document, "json"
    tables = {name: text_of(name, content) for name, content in files if name.endswith(".csv")}
    if "organizations.csv" not in tables:
        raise ImportFileError(
            "choose one HSDS JSON file, or the CSV tables with organizations.csv among them"
        )
    return from_tables(tables), "csv"


def volunteers_of(name: str, content: bytes) -> ParsedCsv:
    return read_csv(text_of(name, content))


def where_in_file(where: str, offset: int, form: str) -> str:
    """Referral numbers organisations within a batch (from 1): their place in the file."""
    head, _, rest = where.partition(",")
    if head.startswith("organization ") and head.split()[1].isdigit():
        number = int(head.split()[1]) + offset
        line = f" (organizations.csv line {number + 1})" if form == "csv" else ""
        return f"organization {number}{line}{',' + rest if rest else ''}"
    return where


def _id(value: object) -> str:
    return "" if value in (None, "None") else str(value)


async def import_social_map(referral: Api, document: list[Any], form: str, job: ImportJob) -> None:
    for start in range(0, len(document), MAP_BATCH):
        chunk = document[start : start + MAP_BATCH]
        answer = await referral.post("/v1/referral/map/import", chunk)
        job.imported += int(answer["services"])
        job.refused += [
            # referral writes a missing id as "None"
            RefusedRow(where_in_file(r["where"], start, form), _id(r.get("id")), r["reason"])
            for r in answer["rejected"]
        ]
        job.done += len(chunk)


async def import_volunteers(matching: Api, parsed: ParsedCsv, job: ImportJob) -> None:
    job.refused += [
        RefusedRow(f"line {r.line}", r.external_id or "", r.reason) for r in parsed.rejected
    ]
    job.done = len(parsed.rejected)  # read and refused here: done
    for start in range(0, len(parsed.items), VOLUNTEER_BATCH):
        chunk = parsed.items[start : start + VOLUNTEER_BATCH]
        answer = await matching.post(
            "/v1/matching/volunteers/import",
            [item.model_dump(mode="json", exclude_none=True) for _, item in chunk],
        )
        job.imported += len(answer["created"]) + len(answer["updated"])
        for refused in answer["rejected"]:
            line, item = chunk[refused["index"]]
            where, reason = f"line {line}", refused["reason"]
            job.refused.append(RefusedRow(where, item.external_id or "", reason))
        job.done += len(chunk)
    job.refused.sort(key=lambda r: int(r.where.split()[1]))
