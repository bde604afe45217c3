"""The docs pages of the management port (Swagger UI, ReDoc, AsyncAPI) with their scripts,
styles and icons served by the service itself, so they render on a municipal network without
internet. FastAPI's and FastStream's own pages load them from public CDNs.

Swagger UI and ReDoc come from the package fastapi-offline (its `static` folder); the AsyncAPI
React component is vendored under `docs_assets/asyncapi-react` (its README says from where).
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from faststream.asgi import AsgiResponse, AsyncAPIRoute, get
from faststream.asgi.handlers import GetHandler
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.specification.base import SpecificationFactory
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from .http_api import method_not_allowed, not_found

ASSETS = "/docs/assets"
"""Where the pages' assets are served, on the management port."""
SWAGGER_JS = f"{ASSETS}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS}/swagger-ui.css"
REDOC_JS = f"{ASSETS}/redoc.standalone.js"
FAVICON = f"{ASSETS}/favicon.png"
ASYNCAPI_JS = f"{ASSETS}/asyncapi-react/index.js"  # @asyncapi/react-component 3.1.5
ASYNCAPI_CSS = f"{ASSETS}/asyncapi-react/default.min.css"


def assets() -> ASGIApp:
    """GET/HEAD `/docs/assets/<file>` from fastapi-offline's files and our vendored ones."""
    files = StaticFiles(
        packages=[("fastapi_offline", "static"), ("signaalpunt_runtime", "docs_assets")]
    )

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        # StaticFiles resolves the path from the root: the prefix is ours, not a folder
        inner = dict(scope, path=scope["path"].removeprefix(ASSETS), root_path="")
        try:
            response = await files.get_response(files.get_path(inner), inner)
        except HTTPException as refused:  # no such file, or a method other than GET/HEAD
            response = (
                method_not_allowed(scope["path"], ("GET", "HEAD"))
                if refused.status_code == 405
                else not_found(scope["path"])
            )
        await response(scope, receive, send)

    return serve


def swagger_page(http: FastAPI) -> ASGIApp:
    """FastAPI's Swagger UI page with the local assets (its OAuth settings and parameters)."""

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        oauth2 = http.swagger_ui_oauth2_redirect_url
        response = get_swagger_ui_html(
            openapi_url=root + (http.openapi_url or ""),
            title=f"{http.title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            oauth2_redirect_url=root + oauth2 if oauth2 else None,
            init_oauth=http.swagger_ui_init_oauth,
            swagger_ui_parameters=http.swagger_ui_parameters,
        )
        await response(scope, receive, send)

    return page


def redoc_page(http: FastAPI) -> ASGIApp:
    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        response = get_redoc_html(
            openapi_url=root + (http.openapi_url or ""),
            title=f"{http.title} - ReDoc",
            redoc_js_url=root + REDOC_JS,
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,  # a font from Google is a request to the internet too
        )
        await response(scope, receive, send)

    return page


class LocalAsyncAPIRoute(AsyncAPIRoute):
    """FastStream's AsyncAPI route (the page and its .json), the page with local assets and no
    "try it out" (nobody may publish onto a topic through the docs page)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, try_it_out_path=None, include_in_schema=False)

    def __call__(self, schema: SpecificationFactory) -> GetHandler:
        cached: str | None = None

        @get(include_in_schema=False)
        async def docs(scope: Scope) -> AsgiResponse:
            nonlocal cached
            if cached is None:
                cached = asyncapi_html(schema.to_specification().to_jsonable())
            return AsgiResponse(cached.encode(), 200, headers={"content-type": "text/html"})

        return docs


def asyncapi_html(document: Any) -> str:
    """The AsyncAPI React component's standalone page, as FastStream writes it, with our
    assets and no icons from asyncapi.com."""
    config = {
        "schema": document,
        "config": {
            "show": dict.fromkeys(
                ("sidebar", "info", "servers", "operations", "messages", "schemas", "errors"), True
            ),
            "expand": {"messageExamples": True},
            "sidebar": {"showServers": "byDefault", "showOperations": "byDefault"},
        },
    }
    title = html.escape(str(document.get("info", {}).get("title", "")))
    # "</" inside a JSON string would end the script element early
    data = json.dumps(config).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html>
    <head>
        <title>{title} AsyncAPI</title>
        <link rel="icon" type="image/png" href="{FAVICON}">
        <link rel="stylesheet" href="{ASYNCAPI_CSS}">
        <style>
        html {{ font-family: ui-sans-serif, system-ui, sans-serif; line-height: 1.5; }}
        </style>
    </head>
    <body>
        <div id="asyncapi"></div>
        <script src="{ASYNCAPI_JS}"></script>
        <script>
            window.AsyncApiStandalone.render({data}, document.getElementById("asyncapi"));
        </script>
    </body>
</html>"""
