"""The management port's own OpenAPI document: the platform routes every service serves.

The API's document (`/openapi.json`, see `openapi_contract`) describes the API port only. The
management port (reached by the platform only: kubelet probes, Prometheus, operators) has routes of
its own, the same in every service: `/livez`, `/readyz`, `/startupz`, `/metrics`, the AsyncAPI page
and the API's documents and pages. They are described here, served at `MANAGEMENT_DOCUMENT_PATH` on
the management port, and checked by schemathesis like the API (libs/runtime/tests/test_health.py,
and services/metrics, whose management port is its only HTTP surface).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .docs_pages import ASSETS
from .openapi_contract import PROBLEM_MEDIA, PROBLEM_REF, PROBLEM_SCHEMA, problem_response

MANAGEMENT_DOCUMENT_PATH = "/openapi/management.json"

# prometheus_client answers in the text format, or OpenMetrics when the scraper asks for it
METRICS_MEDIA = ("text/plain", "application/openmetrics-text")

_PROBE: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok", "starting", "unavailable"]}},
}
_READINESS: dict[str, Any] = {
    "type": "object",
    "required": ["status", "needs", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "needs": {"type": "array", "items": {"type": "string"}},
        "checks": {
            "type": "object",
            "description": "each dependency checked (kafka, postgres: `ok` or why not), the "
            "paused consumers, the outbox relay and the partitions each consumer holds",
        },
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _page(description: str, media: str = "text/html") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _get(summary: str, responses: dict[str, Any], tag: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": [tag],
        "responses": {**responses, "405": problem_response(405), "431": problem_response(431)},
    }


def management_document(
    *, title: str, version: str, api_documents: Iterable[str] = (), api_pages: Iterable[str] = ()
) -> dict[str, Any]:
    """The document for a service's management port. `api_documents` are the paths of the
    API's OpenAPI documents (JSON), `api_pages` its docs pages (HTML), both served here too."""
    probe_503 = _json("not (yet) / (nog) niet", _PROBE)
    paths: dict[str, Any] = {
        "/livez": {
            "get": _get(
                "Liveness: the process and its event loop answer (never a dependency)",
                {"200": _json("alive", _PROBE)},
                "probes",
            )
        },
        "/startupz": {
            "get": _get(
                "Startup: the service has started (database migrated, consumers subscribed)",
                {"200": _json("started", _PROBE), "503": probe_503},
                "probes",
            )
        },
        "/readyz": {
            "get": _get(
                "Readiness: every dependency the service needs answers",
                {
                    "200": _json("ready, with what was checked", _READINESS),
                    "503": _json("a dependency does not answer", _READINESS),
                },
                "probes",
            )
        },
        "/metrics": {
            "get": _get(
                "Prometheus metrics of this process",
                {
                    "200": {
                        "description": "the exposition format (OpenMetrics when asked for)",
                        "content": {m: {"schema": {"type": "string"}} for m in METRICS_MEDIA},
                    }
                },
                "metrics",
            )
        },
        "/docs/asyncapi": {
            "get": _get(
                "The AsyncAPI page: the topics this service produces and consumes",
                {"200": _page("the page")},
                "docs",
            )
        },
        MANAGEMENT_DOCUMENT_PATH: {
            "get": _get("This document", {"200": _json("OpenAPI 3.1", {"type": "object"})}, "docs")
        },
    }
    if api_pages:
        # the pages' scripts, styles and icon, served by the service itself (docs_pages)
        assets = (
            "text/javascript",
            "text/css",
            "image/png",
            "text/plain",
            "text/markdown",
            "application/octet-stream",
        )
        paths[f"{ASSETS}/{{asset}}"] = {
            "get": _get(
                "A script, style sheet or icon of the docs pages",
                {
                    "200": {
                        "description": "the file",
                        "content": {m: {"schema": {"type": "string"}} for m in assets},
                    },
                    "404": problem_response(404),
                },
                "docs",
            )
            | {
                "parameters": [
                    {"name": "asset", "in": "path", "required": True, "schema": {"type": "string"}}
                ]
            }
        }
    for path in api_documents:
        paths[path] = {
            "get": _get("The API port's OpenAPI document", {"200": _json("", {})}, "docs")
        }
    for path in api_pages:
        paths[path] = {"get": _get("A page of the API's docs", {"200": _page("the page")}, "docs")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title}: management port",
            "version": version,
            "description": "Reached by the platform only (probes, Prometheus, operators), never "
            "published. Every route answers GET and HEAD; any other method is a 405 problem "
            f"({PROBLEM_MEDIA}) with `Allow: GET, HEAD`.",
        },
        "paths": paths,
        "components": {"schemas": {"Problem": PROBLEM_SCHEMA}},
    }


__all__ = ["MANAGEMENT_DOCUMENT_PATH", "PROBLEM_REF", "management_document"]
