"""The bare endpoint intake is measured against (bench/e2e.py): FastAPI, a pydantic body and one
asyncpg INSERT per request, nothing else (no sealing, no outbox, no idempotency, no checks).

    python bench/bare_insert.py PORT     (database: BENCH_DATABASE_URL)
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from signaalpunt_runtime.service import server_options

DATABASE = os.environ["BENCH_DATABASE_URL"]


class Signal(BaseModel):
    channel: str
    reporter: dict[str, Any]
    subject: dict[str, Any]
    concern: dict[str, Any]


pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool  # noqa: PLW0603 - one pool for this one-file server
    pool = await asyncpg.create_pool(DATABASE, min_size=4, max_size=10)
    await pool.execute(
        "CREATE SCHEMA IF NOT EXISTS bench_bare;"
        " CREATE TABLE IF NOT EXISTS bench_bare.signals (id uuid PRIMARY KEY, body jsonb NOT NULL)"
    )
    yield
    await pool.execute("DROP SCHEMA bench_bare CASCADE")
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/signals", status_code=202)
async def accept(signal: Signal) -> dict[str, str]:
    assert pool is not None
    signal_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO bench_bare.signals (id, body) VALUES ($1, $2::jsonb)",
        signal_id,
        signal.model_dump_json(),
    )
    return {"signal_id": str(signal_id)}


if __name__ == "__main__":
    # served exactly as the services are (keep-alive, header limits), without access logs
    uvicorn.run(app, **server_options(host="127.0.0.1", port=int(sys.argv[1])))
