"""metrics' HTTP API: no routes of its own (the figures are Prometheus metrics on the management
port), but an OpenAPI document like every service's (served on the management port), stating that
the API port answers every path with a problem+json 404."""

from __future__ import annotations

from fastapi import FastAPI
from signaalpunt_runtime.http_api import install_problem_handlers


def build_api() -> FastAPI:
    api = FastAPI(
        title="Signaalpunt metrics",
        version="1",
        description="Read models of every domain topic as Prometheus metrics, refreshed in the "
        "background; consumer lag and dead letters per group. Everything is on the management "
        "port (`GET /metrics`, `/livez`, `/readyz`, `/startupz`); this API has no operations.",
    )
    install_problem_handlers(api)
    return api
