"""Which failures mean "a dependency is unavailable" (issue 14, build item 1b), with the errors
the real PostgreSQL raises: a serialization failure, a deadlock, a lock not available, too many
connections, a database shutting down, a pool with no free connection, a dropped connection.
None of them is the event's fault, so none may send it to the dead-letter topic; a handler that
wraps one in its own error is still waiting for the dependency. The event's own faults and
errors nobody recognises stay what they are.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError
from signaalpunt_runtime.failures import Failure, PermanentError, classify


async def _error_of(dsn: str, sql: str) -> BaseException:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    except Exception as exc:  # the error PostgreSQL answered with
        return exc
    finally:
        await conn.close()
    raise AssertionError(f"{sql!r} did not fail")


def _raise(sqlstate: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'chaos' USING ERRCODE = '{sqlstate}'; END $$"


@pytest.mark.parametrize(
    "sqlstate",
    [
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "53200",  # out_of_memory
        "57P01",  # admin_shutdown (a database going down)
        "57P03",  # cannot_connect_now (a database starting up)
        "08006",  # connection_failure
    ],
)
async def test_a_database_that_cannot_serve_now_is_a_dependency_failure(
    database_url: str, sqlstate: str
) -> None:
    error = await _error_of(database_url, _raise(sqlstate))
    assert classify(error) is Failure.DEPENDENCY

    class HandlerError(Exception):
        pass

    wrapped = HandlerError("could not save the case")
    wrapped.__cause__ = error  # what `raise HandlerError(...) from error` does
    assert classify(wrapped) is Failure.DEPENDENCY, "a wrapped cause still counts"


async def test_a_real_deadlock_is_a_dependency_failure(database_url: str) -> None:
    table = f"public.classify_deadlock_{uuid.uuid4().hex[:8]}"
    setup = await asyncpg.connect(database_url)
    await setup.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id int PRIMARY KEY, n int);"
        f"INSERT INTO {table} VALUES (1, 0), (2, 0) ON CONFLICT DO NOTHING"
    )
    a = await asyncpg.connect(database_url)
    b = await asyncpg.connect(database_url)
    try:
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        await a.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1")
        await b.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 2")
        results = await asyncio.gather(
            a.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 2"),
            b.execute(f"UPDATE {table} SET n = n + 1 WHERE id = 1"),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors, "PostgreSQL found no deadlock"
        assert all(classify(e) is Failure.DEPENDENCY for e in errors), errors
        for t in (ta, tb):
            await t.rollback()
    finally:
        await a.close()
        await b.close()
        await setup.execute(f"DROP TABLE IF EXISTS {table}")
        await setup.close()


async def test_an_exhausted_pool_and_a_dropped_connection_are_dependency_failures(
    database_url: str,
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire():
            with pytest.raises(TimeoutError) as exhausted:
                await pool.acquire(timeout=0.2)  # no free connection: the pool is exhausted
        assert classify(exhausted.value) is Failure.DEPENDENCY
    finally:
        await pool.close()

    conn = await asyncpg.connect(database_url)
    victim = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", victim.get_server_pid())
        await asyncio.sleep(
            0.5
        )  # the server's goodbye reaches the idle connection, as in a restart
        with pytest.raises(Exception) as dropped:
            await victim.execute("SELECT 1")
        assert classify(dropped.value) is Failure.DEPENDENCY
    finally:
        await conn.close()
        victim.terminate()


def test_the_events_own_fault_and_an_unknown_error_stay_what_they_are() -> None:
    class Report(BaseModel):
        birth_year: int

    with pytest.raises(ValidationError) as invalid:
        Report.model_validate({"birth_year": "long ago"})
    assert classify(invalid.value) is Failure.OWN_FAULT
    assert classify(PermanentError("refused: outside_consortium")) is Failure.OWN_FAULT
    assert classify(KeyError("route")) is Failure.UNKNOWN
    assert classify(RuntimeError("a bug")) is Failure.UNKNOWN
