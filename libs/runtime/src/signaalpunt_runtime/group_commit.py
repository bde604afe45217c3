"""Group commit: the work of many concurrent requests in one database transaction.

Each HTTP request that stores something would otherwise pay for its own transaction: BEGIN, a
handful of statements, COMMIT with its WAL flush, each a round trip and each parsed and executed
on its own. Under load most of a request's time goes there. A `GroupCommit` collects what
concurrent callers submit and hands it to one `flush` call, which stores the whole group in one
transaction; every caller gets its own result once that transaction has committed, so "answered"
still means "durable".

The group is as large as the load makes it: an idle service flushes a single item at once (no
waiting for company), a busy one flushes what arrived during the previous flush. Should a group
fail, its items are flushed one by one, so one bad item fails only its own caller.

    writer = GroupCommit(store_signals, name="signals")
    service.also_start(writer.start, writer.stop)
    outcome = await writer.submit(prepared)
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Histogram

from .logs import get_logger

log = get_logger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

Flush = Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT]]]
"""Stores a group in one transaction; returns one result per item, in the items' order."""


class GroupCommitStoppedError(RuntimeError):
    """The writer is stopping or not started: nothing was stored."""


class GroupCommit(Generic[ItemT, ResultT]):
    def __init__(
        self,
        flush: Flush[ItemT, ResultT],
        *,
        name: str,
        max_group: int = 256,
        flushers: int = 2,
        registry: CollectorRegistry | None = None,
    ) -> None:
        """`flushers` groups may be in flight at once (each on its own connection): while one
        waits for its commit, the next is already being built."""
        if max_group < 1 or flushers < 1:
            raise ValueError("max_group and flushers must be at least 1")
        self._flush = flush
        self._name = name
        self._max_group = max_group
        self._flushers = flushers
        self._waiting: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self._sizes = _group_sizes(registry).labels(name) if registry is not None else None

    async def start(self) -> None:
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"group-commit-{self._name}-{i}")
            for i in range(self._flushers)
        ]

    async def stop(self) -> None:
        """Refuse new items, store every item already submitted, then end the flushers."""
        self._accepting = False
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, future in self._waiting:  # only when a flusher died: nobody may wait forever
            if not future.done():
                future.set_exception(GroupCommitStoppedError(f"{self._name} stopped"))
        self._waiting.clear()

    async def submit(self, item: ItemT) -> ResultT:
        """Store `item` with whatever else is waiting; returns after its transaction committed.
        A caller that is cancelled while waiting does not withdraw the item: it is stored."""
        if not self._accepting:
            raise GroupCommitStoppedError(f"{self._name} is not accepting work")
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        # a cancelled caller no longer reads its result: mark a failure as seen, not lost
        future.add_done_callback(_seen)
        self._waiting.append((item, future))
        self._wake.set()
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._accepting or self._waiting:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
                continue
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
            if self._waiting:
                self._wake.set()  # more than one group waits: let another flusher take it
            await self._store(group)

    async def _store(self, group: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        if self._sizes is not None:
            self._sizes.observe(len(group))
        try:
            results = await self._flush([item for item, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"{self._name}: flush returned {len(results)} results")
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            log.warning(
                "group failed; storing its items one by one",
                writer=self._name,
                items=len(group),
                error=type(exc).__name__,
            )
            for one in group:
                await self._store([one])
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


_SIZES: weakref.WeakKeyDictionary[CollectorRegistry, Histogram] = weakref.WeakKeyDictionary()


def _group_sizes(registry: CollectorRegistry) -> Histogram:
    """One histogram per registry, shared by the service's writers (labelled by name)."""
    if registry not in _SIZES:
        _SIZES[registry] = Histogram(
            "signaalpunt_group_commit_items",
            "Items stored per group-commit transaction",
            ["writer"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=registry,
        )
    return _SIZES[registry]


def _seen(future: asyncio.Future[ResultT]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[ResultT], exc: BaseException) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        future.set_exception(exc)
