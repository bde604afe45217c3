"""The group commit's own logic (no database): grouping, one-by-one on failure, draining on stop.
The database side is exercised by the intake tests against the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from signaalpunt_runtime.group_commit import GroupCommit, GroupCommitStoppedError


class Store:
    """A flush that records its groups; an item "bad" fails any group it is in."""

    def __init__(self, delay: float = 0.01) -> None:
        self.groups: list[list[str]] = []
        self.delay = delay

    async def __call__(self, items: Sequence[str]) -> list[str]:
        await asyncio.sleep(self.delay)  # a transaction's round trips
        if "bad" in items:
            raise ValueError("constraint violated")
        self.groups.append(list(items))
        return [f"stored {i}" for i in items]


async def test_concurrent_items_share_groups_and_each_caller_gets_its_own_result() -> None:
    store = Store()
    writer: GroupCommit[str, str] = GroupCommit(store, name="t", flushers=1)
    await writer.start()
    results = await asyncio.gather(*(writer.submit(f"s{i}") for i in range(50)))
    await writer.stop()
    assert results == [f"stored s{i}" for i in range(50)]
    assert sorted(i for g in store.groups for i in g) == sorted(f"s{i}" for i in range(50))
    assert len(store.groups) < 10, "50 concurrent items should not take 50 transactions"


async def test_an_idle_writer_stores_a_lone_item_at_once() -> None:
    store = Store(delay=0)
    writer: GroupCommit[str, str] = GroupCommit(store, name="t")
    await writer.start()
    assert await writer.submit("alone") == "stored alone"
    assert store.groups == [["alone"]]
    await writer.stop()


async def test_a_bad_item_fails_only_its_own_caller() -> None:
    store = Store()
    writer: GroupCommit[str, str] = GroupCommit(store, name="t", flushers=1)
    await writer.start()
    results = await asyncio.gather(
        *(writer.submit(i) for i in ("a", "b", "bad", "c")), return_exceptions=True
    )
    await writer.stop()
    assert results[:2] == ["stored a", "stored b"]
    assert results[3] == "stored c"
    assert isinstance(results[2], ValueError)
    assert sorted(i for g in store.groups for i in g) == ["a", "b", "c"]


async def test_groups_are_no_larger_than_max_group() -> None:
    store = Store()
    writer: GroupCommit[str, str] = GroupCommit(store, name="t", max_group=8, flushers=2)
    await writer.start()
    await asyncio.gather(*(writer.submit(str(i)) for i in range(100)))
    await writer.stop()
    assert max(len(g) for g in store.groups) <= 8
    assert sum(len(g) for g in store.groups) == 100


async def test_stop_stores_what_was_submitted_and_then_refuses() -> None:
    store = Store(delay=0.05)
    writer: GroupCommit[str, str] = GroupCommit(store, name="t", flushers=1)
    await writer.start()
    pending = [asyncio.create_task(writer.submit(str(i))) for i in range(20)]
    await asyncio.sleep(0)  # every task has submitted its item
    await writer.stop()
    assert [t.result() for t in pending] == [f"stored {i}" for i in range(20)]
    with pytest.raises(GroupCommitStoppedError):
        await writer.submit("late")


async def test_a_cancelled_caller_does_not_withdraw_its_item() -> None:
    store = Store(delay=0.05)
    writer: GroupCommit[str, str] = GroupCommit(store, name="t", flushers=1)
    await writer.start()
    first = asyncio.create_task(writer.submit("first"))
    await asyncio.sleep(0.01)  # "first" is being stored
    impatient = asyncio.create_task(writer.submit("impatient"))
    await asyncio.sleep(0)
    impatient.cancel()
    await first
    await writer.stop()
    assert "impatient" in [i for g in store.groups for i in g]
