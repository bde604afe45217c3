"""The docs pages render on a network without internet: /docs (Swagger UI), /redoc and
/docs/asyncapi on the management port name no other host, and every script, style sheet and
icon they load is served by the service itself."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
from fastapi import FastAPI
from signaalpunt_runtime import Service
from signaalpunt_runtime.serving import serving
from signaalpunt_testkit.plugin import Infra

from .apps.counter_app import MIGRATIONS
from .helpers import settings_for


class _References(HTMLParser):
    """Every URL a page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def _api() -> FastAPI:
    api = FastAPI(title="docs test")

    @api.get("/v1/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return api


async def test_the_docs_pages_load_everything_from_the_service_itself(
    infra: Infra, database_url: str
) -> None:
    service = Service(
        settings_for(database_url, infra.kafka_bootstrap, "docs_offline"),
        title="Docs (test app)",
        migrations=MIGRATIONS,
    )
    async with (
        serving(service.asgi_app(http=_api())) as served,
        httpx.AsyncClient(base_url=served.management_url, timeout=30) as management,
    ):
        loaded: dict[str, set[str]] = {}
        for page in ("/docs", "/redoc", "/docs/asyncapi"):
            answer = await management.get(page)
            assert answer.status_code == 200, (page, answer.text[:300])
            assert answer.headers["content-type"].startswith("text/html")
            for host in ("http://", "https://", "//cdn", "unpkg", "jsdelivr", "googleapis"):
                assert host not in answer.text.replace("http://www.w3.org", ""), (page, host)
            parser = _References()
            parser.feed(answer.text)
            assert parser.urls, page
            loaded[page] = set(parser.urls)
            for url in parser.urls:
                assert url.startswith("/docs/assets/"), (page, url)
                asset = await management.get(url)
                assert asset.status_code == 200, (page, url)
                assert len(asset.content) > 100, (page, url)
        assert "/docs/assets/swagger-ui-bundle.js" in loaded["/docs"]
        assert "/docs/assets/redoc.standalone.js" in loaded["/redoc"]
        assert "/docs/assets/asyncapi-react/index.js" in loaded["/docs/asyncapi"]
        script = await management.get("/docs/assets/asyncapi-react/index.js")
        assert "javascript" in script.headers["content-type"]
        assert (
            (await management.get("/docs/assets/swagger-ui.css"))
            .headers["content-type"]
            .startswith("text/css")
        )
        # the documents the pages render are there too
        assert (await management.get("/openapi.json")).json()["info"]["title"] == "docs test"
        assert "channels" in (await management.get("/docs/asyncapi.json")).json()
        # read-only, and nothing else under the assets' path
        assert (await management.post("/docs")).status_code == 405
        assert (await management.get("/docs/assets/../pyproject.toml")).status_code == 404
        assert (await management.get("/docs/assets/nothing.js")).status_code == 404
        # and not on the API port
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as api:
            assert (await api.get("/docs/assets/swagger-ui-bundle.js")).status_code == 404
