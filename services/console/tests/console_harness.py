"""The console as the tests see it: triage and referral running on the real broker and
PostgreSQL, the development identity provider, the console in front of them, and a browser-like
HTTP client (cookies, redirects) whose pages are read with a real HTML parser."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from bs4 import BeautifulSoup, Tag
from signaalpunt_contracts import (
    Channel,
    Concern,
    Envelope,
    ReportedUrgency,
    Reporter,
    ReporterKind,
    SignalReceivedV1,
    Subject,
)
from signaalpunt_privacy import PersonalDataVault
from signaalpunt_runtime.broker_factory import make_producer

CSRF = "csrf_token"


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
        found = self.soup.select_one(f'[data-field="{name}"]')
        assert found is not None, f"no field {name} on {self.url}"
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

    async def submit(self, page: Page, target: str, **values: Any) -> Page:
        """Post the form for `target` on `page` as a browser would: its hidden fields plus
        `values` (the button's name and value among them)."""
        form = page.form(target)
        data: dict[str, Any] = {
            str(i["name"]): i.get("value", "") for i in form.select('input[type="hidden"]')
        }
        return await self.post(target, data | values)


@dataclass
class RunningConsole:
    url: str
    idp_url: str
    vault: PersonalDataVault
    kafka_bootstrap: str
    received_topic: str
    triage: httpx.AsyncClient
    keys: Path

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
        """A signal as intake publishes it (the words sealed); returns once triage has it."""
        subject_id = uuid4()
        sealed = await self.vault.seal(subject_id, municipality, text, field="concern.text")
        signal = SignalReceivedV1(
            signal_id=uuid4(),
            subject_id=subject_id,
            channel=Channel.WEB_FORM,
            reporter=Reporter(kind=ReporterKind.RELATIVE_OR_NEIGHBOUR, may_contact=True),
            subject=Subject(birth_year=1940),
            concern=Concern(text=sealed),
            reported_urgency=ReportedUrgency.NORMAL,
            received_at=datetime.now(UTC),
        )
        envelope = Envelope.new(signal, municipality=municipality, producer="intake")
        producer = make_producer(self.kafka_bootstrap, client_id="console-tests")
        await producer.start()
        try:
            await producer.send_and_wait(
                self.received_topic,
                value=envelope.model_dump_json().encode(),
                key=str(signal.signal_id).encode(),
            )
        finally:
            await producer.stop()
        await self.triaged(signal.signal_id, municipality)
        return signal.signal_id

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
