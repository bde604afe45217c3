"""The console as the tests see it: triage and referral running on the real broker and
PostgreSQL, the development identity provider, the console in front of them, and a browser-like
HTTP client (cookies, redirects) whose pages are read with a real HTML parser."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from bs4 import BeautifulSoup, Tag
from signaalpunt_console.config import ConsoleSettings
from signaalpunt_console.main import build as build_console
from signaalpunt_contracts import Topic
from signaalpunt_runtime.serving import serving

CSRF = "csrf_token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Page:
    status: int
    url: str
    soup: BeautifulSoup

    def text(self) -> str:
        return " ".join(self.soup.get_text(" ").split())

    def form(self, action: str) -> Tag:
        form = self.soup.select_one(f'form[action="{action}"]')
        assert form is not None, f"no form for {action} on {self.url}"
        return form

    def csrf(self) -> str:
        field = self.soup.select_one(f'input[name="{CSRF}"]')
        assert field is not None, f"no CSRF field on {self.url}"
        return str(field["value"])

    def section(self, key: str) -> Tag:
        found = self.soup.select_one(f'section[data-section="{key}"]')
        assert found is not None, f"no section {key} on {self.url}"
        return found

    def signals_in(self, key: str) -> list[str]:
        return [str(row["data-signal"]) for row in self.section(key).select("tr[data-signal]")]

    def flash(self) -> tuple[str, str]:
        """The outcome of the last action: ("ok" | "error", its words), or ("", "")."""
        found = self.soup.select_one("[data-flash]")
        if found is None:
            return "", ""
        return str(found["data-flash"]), " ".join(found.get_text(" ").split())

    def field(self, name: str) -> str:
        """A field's value: the code behind the words where the page shows words."""
        found = self.soup.select_one(f'[data-field="{name}"]')
        assert found is not None, f"no field {name} on {self.url}"
        if found.has_attr("data-value"):
            return str(found["data-value"])
        return found.get_text(strip=True)


def page_of(answer: httpx.Response) -> Page:
    return Page(answer.status_code, str(answer.url), BeautifulSoup(answer.text, "html.parser"))


@dataclass
class Browser:
    """One person's browser: its own cookie jar."""

    client: httpx.AsyncClient

    async def get(self, path: str) -> Page:
        return page_of(await self.client.get(path))

    async def post(self, path: str, data: dict[str, Any]) -> Page:
        return page_of(await self.client.post(path, data=data))

    async def upload(
        self, page: Page, target: str, files: list[tuple[str, bytes]], **values: Any
    ) -> Page:
        """Post the multipart form for `target` with the files chosen (field `file`)."""
        form = page.form(target)
        assert form.get("enctype") == "multipart/form-data", form
        data: dict[str, Any] = {
            str(i["name"]): i.get("value", "") for i in form.select('input[type="hidden"]')
        }
        chosen = [("file", (name, content)) for name, content in files]
        return page_of(await self.client.post(target, data=data | values, files=chosen))

    async def until_imported(self, page: Page, tries: int = 150) -> Page:
        """Reload an import's page (as a person without JavaScript would) until it is done."""
        for _ in range(tries):
            if page.soup.select_one('[data-import="done"]') is not None:
                return page
            await asyncio.sleep(0.1)
            page = await self.get(page.url)
        raise AssertionError(f"the import at {page.url} did not finish: {page.text()}")

    async def submit(self, page: Page, target: str, **values: Any) -> Page:
        """Post the form for `target` on `page` as a browser would: its hidden fields plus
        `values` (the button's name and value among them)."""
        form = page.form(target)
        data: dict[str, Any] = {
            str(i["name"]): i.get("value", "") for i in form.select('input[type="hidden"]')
        }
        return await self.post(target, data | values)


PERSON = "Mevrouw Jansen"
REPORTER_PHONE = "06-12345678"


@dataclass
class RunningConsole:
    url: str
    idp_url: str
    intake: httpx.AsyncClient
    triage: httpx.AsyncClient
    keys: Path
    settings: ConsoleSettings
    kafka_bootstrap: str
    matches: Topic  # matches.v1 (private): what matching says of a match request
    matching: httpx.AsyncClient  # the volunteer's side: answer links need no token

    @asynccontextmanager
    async def another(self, **changes: Any) -> AsyncIterator[RunningConsole]:
        """A second console beside this one, with some settings changed (a service it calls
        that is down, say); the same identity provider and services."""
        port = free_port()
        settings = self.settings.model_copy(
            update={"public_url": f"http://127.0.0.1:{port}", **changes}
        )
        async with serving(build_console(settings), port=port) as served:
            yield replace(self, url=served.url, settings=settings)

    def browser(self) -> Browser:
        return Browser(httpx.AsyncClient(base_url=self.url, follow_redirects=True, timeout=30))

    async def signed_in(self, username: str) -> tuple[Browser, Page]:
        """Sign in through the identity provider's page, as a person would: the console sends
        the browser there, the person picks their account, the provider sends it back."""
        browser = self.browser()
        chooser = await browser.get("/login")
        assert chooser.url.startswith(self.idp_url), chooser.url
        form = chooser.form("/authorize")
        data = {str(i["name"]): i.get("value", "") for i in form.select('input[type="hidden"]')}
        answer = await browser.client.post(
            f"{self.idp_url}/authorize", data=data | {"username": username}
        )
        return browser, page_of(answer)

    async def signal(self, text: str, *, municipality: str = "GM0715") -> UUID:
        """A citizen's web form through intake; returns once triage has decided it."""
        answer = await self.intake.post(
            "/v1/signals",
            json={
                "channel": "web_form",
                "municipality": municipality,
                "reporter": {
                    "kind": "relative_or_neighbour",
                    "phone": REPORTER_PHONE,
                    "may_contact": True,
                },
                "subject": {"name": PERSON, "birth_year": 1940},
                "concern": {"text": text},
            },
        )
        assert answer.status_code == 202, answer.text
        signal_id = UUID(answer.json()["signal_id"])
        await self.triaged(signal_id, municipality)
        return signal_id

    async def triaged(self, signal_id: UUID, municipality: str) -> None:
        from signaalpunt_access.dev_tokens import mint

        token = mint(
            self.keys,
            subject="staff:test",
            kind="staff",
            municipalities=[municipality],
            roles=["coordinator"],
        )
        for _ in range(300):
            answer = await self.triage.get(
                f"/v1/triage/signals/{signal_id}", headers={"Authorization": f"Bearer {token}"}
            )
            if answer.status_code == 200:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{signal_id} not triaged in 30 s")
