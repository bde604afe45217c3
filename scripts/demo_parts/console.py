"""The demo's console part: the demo coordinator signs in to the staff console through the
development identity provider (OIDC with PKCE, as a browser would) and reads the queue the
morning's signals made (services/console, docs/console.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bs4 import BeautifulSoup
from rich.console import Console

COORDINATOR = "regisseur-terneuzen"


def _hidden(soup: BeautifulSoup, action: str) -> dict[str, str]:
    form = soup.select_one(f'form[action="{action}"]')
    assert form is not None, f"no form {action}"
    return {str(i["name"]): str(i.get("value", "")) for i in form.select('input[type="hidden"]')}


async def scenario(console_url: str, idp_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=console_url, follow_redirects=True, timeout=30) as b:
        for _ in range(100):  # the console and the provider start beside the services
            try:
                chooser = await b.get("/login")
                if chooser.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
        soup = BeautifulSoup(chooser.text, "html.parser")
        queue = await b.post(
            f"{idp_url}/authorize", data=_hidden(soup, "/authorize") | {"username": COORDINATOR}
        )
        page = BeautifulSoup(queue.text, "html.parser")
        sections = {
            str(s["data-section"]): len(s.select("tr[data-signal]"))
            for s in page.select("section[data-section]")
        }
        first = page.select_one('section[data-section="acute"] tr[data-signal] a')
        case_title = ""
        if first is not None:
            case = await b.get(str(first["href"]))
            heading = BeautifulSoup(case.text, "html.parser").select_one("h1")
            case_title = " ".join(heading.get_text(" ").split()) if heading else ""
    return {
        "status": queue.status_code,
        "url": str(queue.url),
        "sections": sections,
        "advice_113": "113" in page.get_text(),
        "first_acute_case": case_title,
    }


def report(result: dict[str, Any], console: Console, public_url: str) -> None:
    console.print("[bold]Staff console[/bold] (services/console, docs/console.md)")
    console.print(
        f"  the demo coordinator signed in through the development identity provider "
        f"(OIDC, PKCE): {result['status']} {result['url']}"
    )
    sections = result["sections"]
    console.print(
        f"  queue: {sections.get('acute', 0)} acute (113 advice shown: {result['advice_113']}),"
        f" {sections.get('to_review', 0)} to review (possibly acute or naming death),"
        f" {sections.get('by_deadline', 0)} by deadline"
    )
    if result["first_acute_case"]:
        console.print(f"  opened the first acute case: {result['first_acute_case']}")
    console.print(
        f"  [bold]try it:[/bold] `make run`, then {public_url} and sign in as "
        f"'Regisseur Terneuzen' (coordinator, GM0715); 'Loket Terneuzen' is the desk"
    )
