"""The read models written in batches (one statement per table, issue 22) are exactly those
written one event at a time: a mixed stream of many signals (metrics_mix.py: received, triaged,
steps in and out of order and sharing a moment, notifications queued then sent, referrals,
matches, redeliveries and repeats, erasures and events after them), through

- the batch functions directly, in batches of several sizes (one: the runtime's retry of a
  failed batch, one event at a time);
- the live consumers (`as_list`, on the real Kafka), and then the rebuild from the topics;

each compared with the one-event functions applied one by one: every aggregate the collector
publishes and every row of every read model (ids of erased signals, random by design, read as
"unlinked"). And the collector's aggregates, written to stay cheap over many signals, say what
their plain definitions say over the same stream."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
import pytest_asyncio
from metrics_harness import MetricsHarness
from metrics_mix import Item, Mix, mixed_stream
from signaalpunt_contracts import Envelope, ErasureReason, ErasureScope, SignalErasedV1
from signaalpunt_metrics import repository
from signaalpunt_metrics.config import HERE, load_goals
from signaalpunt_metrics.handlers import MetricsTopics
from signaalpunt_metrics.main import MIGRATIONS
from signaalpunt_metrics.rebuild import rebuild
from signaalpunt_runtime.database import DbConnection
from signaalpunt_runtime.migrations import upgrade_async
from signaalpunt_runtime.tenancy import EVERYTHING, SCOPE_SETTING

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=40)
SIGNALS = 1500

OneByOne = Callable[[DbConnection, Any], Awaitable[None]]
ONE_BY_ONE: dict[str, OneByOne] = {
    "received": repository.record_received,
    "rejections": repository.record_rejection,
    "triaged": repository.record_triaged,
    "acute_alerts": repository.record_acute_alert,
    "possible_acute_alerts": repository.record_possible_acute_alert,
    "reviews_missed": repository.record_review_missed,
    "deadline_missed": repository.record_deadline_missed,
    "steps": repository.record_step,
    "notifications": repository.record_notification,
    "referrals": repository.record_referral,
    "gaps": repository.record_gap,
    "matches": repository.record_match,
    "erased": repository.record_erasure,
}
TABLES = (
    "signals_received",
    "triage_decisions",
    "cases",
    "deadlines_missed",
    "acute_alerts",
    "possible_acute_alerts",
    "possible_acute_reviews_missed",
    "notification_outcomes",
    "partner_rejections",
    "referral_changes",
    "referral_gaps",
    "match_changes",
)
AGGREGATES = (
    "received",
    "first_decisions",
    "first_risk_groups",
    "current_routes",
    "decisions",
    "overrides",
    "open_by_state",
    "deadlines_missed",
    "possible_acute",
    "notifications",
    "rejections",
    "referrals",
    "referral_escalations",
    "offer_gaps",
    "volunteer_matches",
    "unmatched_requests",
)


@pytest.fixture(scope="module")
def mix() -> Mix:
    return mixed_stream(SIGNALS, seed=22, t0=T0)


def test_the_stream_has_what_the_batches_must_handle(mix: Mix) -> None:
    """The mix is only a test when it has these: several events of one row in a batch."""
    topics = Counter(item.topic for item in mix.live)
    assert set(topics) == set(ONE_BY_ONE) - {"erased"}
    ids = Counter(item.event.event_id for item in mix.live)
    assert sum(n - 1 for n in ids.values()) > 100  # redeliveries
    steps = Counter(item.event.data.signal_id for item in mix.live if item.topic == "steps")
    assert sum(1 for n in steps.values() if n >= 3) > 100  # signals with several steps
    assert len(mix.erasures) > 10
    assert mix.late


async def _connect(dsn: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        dsn, server_settings={"search_path": schema, SCOPE_SETTING: EVERYTHING}
    )


async def _fresh(dsn: str, schema: str) -> asyncpg.Connection:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await admin.close()
    await upgrade_async(MIGRATIONS, dsn, schema)
    return await _connect(dsn, schema)


async def one_by_one(conn: DbConnection, phases: Sequence[Sequence[Item]]) -> None:
    """Every event (redeliveries too: they change nothing) in its own transaction, in the
    stream's order."""
    for phase in phases:
        for item in phase:
            async with conn.transaction():
                await ONE_BY_ONE[item.topic](conn, item.event)


async def in_batches(conn: DbConnection, phases: Sequence[Sequence[Item]], size: int) -> None:
    """Topic after topic, in batches of `size` of the topic's events in its order, each without
    the events seen before (the inbox's part), in a transaction of its own."""
    topics = MetricsTopics()
    field_of = {getattr(topics, f.name).name: f.name for f in dataclasses.fields(topics)}
    seen: set[Any] = set()
    for phase in phases:
        for topic, apply in topics.consumed():
            events = [i.event for i in phase if i.topic == field_of[topic.name]]
            for start in range(0, len(events), size):
                fresh = []
                for event in events[start : start + size]:
                    if event.event_id not in seen:
                        seen.add(event.event_id)
                        fresh.append(event)
                async with conn.transaction():
                    await apply(conn, fresh)


async def read_models(conn: DbConnection, known: set[Any]) -> dict[str, list[str]]:
    """Every aggregate the collector reads, and every row of every read model with the ids of
    erased signals (random, by design) as 'unlinked'."""
    found: dict[str, list[str]] = {}

    def rows(records: Sequence[Any]) -> list[str]:
        return sorted(repr(tuple(r)) for r in records)

    for name in AGGREGATES:
        found[name] = rows(await getattr(repository, name)(conn))
    found["overdue"] = rows(await repository.overdue(conn, NOW))
    found["acute_alerts"] = rows(await repository.acute_alerts(conn, NOW))
    for duration in repository.DURATIONS:
        found[duration.name] = rows(await repository.histogram(conn, duration))
    for kind in ("day", "week", "month"):
        found[f"per_{kind}"] = rows(
            await repository.received_per_period(
                conn, kind, "Europe/Amsterdam", T0 - timedelta(days=60), NOW
            )
        )
    for goal in load_goals(HERE / "goals.yaml"):
        found[f"goal {goal.name}"] = [repr(await repository.goal_counts(conn, goal))]
    for table in TABLES:
        records = await conn.fetch(f"SELECT * FROM {table}")
        found[table] = sorted(
            repr(
                tuple(
                    ("unlinked" if v not in known else v) if k == "signal_id" else v
                    for k, v in r.items()
                )
            )
            for r in records
        )
    found["erased_signals"] = rows(await conn.fetch("SELECT signal_id FROM erased_signals"))
    return found


def assert_same(got: dict[str, list[str]], expected: dict[str, list[str]]) -> None:
    assert got.keys() == expected.keys()
    different = [name for name in expected if got[name] != expected[name]]
    assert not different, {
        name: (
            sorted(set(expected[name]) - set(got[name]))[:3],
            sorted(set(got[name]) - set(expected[name]))[:3],
        )
        for name in different
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def references(database_url: str, mix: Mix) -> dict[str, dict[str, list[str]]]:
    """The read models from the one-event functions, one by one: after the stream and its
    erasures (what the topics carry in the Kafka test), and after the late events too."""
    conn = await _fresh(database_url, "one_by_one")
    known = set(mix.signal_ids)
    try:
        await one_by_one(conn, [mix.live, mix.erasures])
        erased = await read_models(conn, known)
        await one_by_one(conn, [mix.late])
        return {"erased": erased, "all": await read_models(conn, known)}
    finally:
        await conn.close()


async def test_the_reference_has_something_to_compare(
    references: dict[str, dict[str, list[str]]],
) -> None:
    reference = references["all"]
    assert len(reference["signals_received"]) == SIGNALS
    # erased signals' rows, and the late steps' rows (each its own random id)
    unlinked = sum("'unlinked'" in row for row in reference["cases"])
    assert unlinked > sum("'unlinked'" in row for row in references["erased"]["cases"]) > 10
    assert len(reference["notification_outcomes"]) > 2 * SIGNALS


@pytest.mark.parametrize("size", [500, 50, 7, 1])
async def test_batches_give_the_same_read_models_as_one_by_one(
    database_url: str, mix: Mix, references: dict[str, dict[str, list[str]]], size: int
) -> None:
    conn = await _fresh(database_url, f"batches_{size}")
    try:
        await in_batches(conn, mix.phases(), size)
        assert_same(await read_models(conn, set(mix.signal_ids)), references["all"])
    finally:
        await conn.close()


# The plain definitions the collector's queries must keep (they read every signal's facts
# joined and sorted, which cost a refresh over 100,000 signals about a second).
PLAIN_OPEN_BY_STATE = """
    WITH known AS (
        SELECT signal_id, municipality FROM signals_received
        UNION SELECT signal_id, municipality FROM triage_decisions
        UNION SELECT signal_id, municipality FROM cases
    ), one AS (SELECT DISTINCT ON (signal_id) signal_id, municipality FROM known)
    SELECT one.municipality,
           coalesce(c.state, CASE WHEN EXISTS (SELECT 1 FROM triage_decisions t
                                               WHERE t.signal_id = one.signal_id)
                                  THEN 'triaged' ELSE 'received' END) AS state,
           count(*) AS n
    FROM one LEFT JOIN cases AS c USING (signal_id)
    WHERE coalesce(c.state, '') <> 'closed' GROUP BY 1, 2
"""
PLAIN_LATEST = """
    SELECT DISTINCT ON (signal_id) signal_id, municipality, route, priority, first_contact_due
    FROM triage_decisions ORDER BY signal_id, decision DESC
"""
PLAIN_CURRENT_ROUTES = (
    f"SELECT municipality, route, count(*) AS n FROM ({PLAIN_LATEST}) AS l GROUP BY 1, 2"
)
PLAIN_OVERDUE = f"""
    SELECT l.municipality, l.route, l.priority, count(*) AS n
    FROM ({PLAIN_LATEST}) AS l LEFT JOIN cases AS c USING (signal_id)
    WHERE c.first_contact_at IS NULL AND coalesce(c.state, '') <> 'closed'
      AND (l.first_contact_due < $1
           OR EXISTS (SELECT 1 FROM deadlines_missed m WHERE m.signal_id = l.signal_id))
    GROUP BY 1, 2, 3
"""


def plain_histogram(duration: repository.Duration) -> str:
    labels = ", ".join(duration.labels)
    return f"""
        SELECT {labels}, b.le, count(*) FILTER (WHERE d.seconds <= b.le) AS cumulative,
               count(*) AS count, coalesce(sum(d.seconds), 0)::float8 AS sum
        FROM ({duration.source}) AS d CROSS JOIN unnest($1::float8[]) AS b(le)
        GROUP BY {labels}, b.le ORDER BY {labels}, b.le
    """


def rounded(records: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows in order, a histogram's sum of seconds to the millisecond (added up in another
    order, its last digits may differ)."""
    return sorted(tuple(round(v, 3) if isinstance(v, float) else v for v in r) for r in records)


async def test_the_aggregates_say_what_their_plain_definitions_say(
    database_url: str, mix: Mix
) -> None:
    """Compared part way through the stream too, the topics taken one after the other (each
    topic has its own consumer): first the receipts alone, then the decisions, then the rest;
    on the way, signals known only from their receipt or their decision are open as well."""
    conn = await _fresh(database_url, "plain")
    states: set[str] = set()
    try:
        first = ("received", "triaged")
        parts = [
            *([i for i in mix.live if i.topic == topic] for topic in first),
            [i for i in mix.live if i.topic not in first],
            *mix.phases()[1:],
        ]
        for part in parts:
            await one_by_one(conn, [part])
            for now in (T0 + timedelta(hours=30), NOW):
                plain = rounded(await conn.fetch(PLAIN_OVERDUE, now))
                assert rounded(await repository.overdue(conn, now)) == plain
            plain = rounded(await conn.fetch(PLAIN_OPEN_BY_STATE))
            assert rounded(await repository.open_by_state(conn)) == plain
            states |= {r[1] for r in plain}
            plain = rounded(await conn.fetch(PLAIN_CURRENT_ROUTES))
            assert rounded(await repository.current_routes(conn)) == plain
            for duration in repository.DURATIONS:
                plain = rounded(await conn.fetch(plain_histogram(duration), list(duration.buckets)))
                assert rounded(await repository.histogram(conn, duration)) == plain, duration.name
        # what makes the comparisons say something: every kind of open signal was seen, some
        # signals are overdue, coordinators changed routes (the latest decision is not always
        # the first), and the facts lie on both sides of the bounds
        assert {"received", "triaged", "in_intake", "referred"} <= states, states
        assert await conn.fetch(PLAIN_OVERDUE, NOW)
        assert rounded(await conn.fetch(PLAIN_CURRENT_ROUTES)) != rounded(
            await conn.fetch(
                "SELECT municipality, route, count(*) FROM triage_decisions"
                " WHERE decision = 1 GROUP BY 1, 2"
            )
        )
        for duration in repository.DURATIONS:
            rows = await conn.fetch(plain_histogram(duration), list(duration.buckets))
            assert len({r["cumulative"] for r in rows}) > 2, duration.name
    finally:
        await conn.close()


# -- through Kafka: the live consumers, then the rebuild ---------------------------------------


def _caught_up(group: str) -> Callable[[dict[Any, float]], bool]:
    def caught_up(samples: dict[Any, float]) -> bool:
        lags = [
            v
            for (name, labels), v in samples.items()
            if name == "signaalpunt_consumer_lag" and ("group", group) in labels
        ]
        return bool(lags) and sum(lags) == 0

    return caught_up


async def _until_handled(dsn: str, items: Sequence[Item], timeout: float = 180) -> None:
    """Every event of `items` is in the service's inbox: handled. The lag gauge alone may be a
    reading from before they were published (a batch consumer's fetch waits up to half a second
    for events to gather, so "no lag" could pass while they were still on their way)."""
    ids = list({i.event.event_id for i in items})
    deadline = asyncio.get_running_loop().time() + timeout
    conn = await _connect(dsn, "metrics")
    try:
        while True:
            handled = await conn.fetchval(
                "SELECT count(DISTINCT event_id) FROM inbox WHERE event_id = ANY($1::uuid[])", ids
            )
            if handled == len(ids):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{handled} of {len(ids)} events handled in {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _publish(metrics: MetricsHarness, items: Sequence[Item]) -> None:
    futures = [
        await metrics.producer.send(
            getattr(metrics.topics, item.topic).name,
            item.event.model_dump_json().encode(),
            key=item.key.encode(),
        )
        for item in items
    ]
    for future in futures:
        await future


async def test_live_consumers_and_the_rebuild_give_the_same_read_models_as_one_by_one(
    metrics: MetricsHarness,
    database_url: str,
    mix: Mix,
    references: dict[str, dict[str, list[str]]],
) -> None:
    kafka_reference = references["erased"]
    await metrics.start()
    await _publish(metrics, mix.live)
    await metrics.publish_raw(metrics.topics.steps, b"not an envelope", key="broken")
    await _until_handled(database_url, mix.live)
    await metrics.wait_until(_caught_up(metrics.group), timeout=180)
    # the erasures once the rest is in (on other topics they could overtake it, and then the
    # events they came after would count unlinked: not what the reference did)
    await _publish(metrics, mix.erasures)
    await _until_handled(database_url, mix.erasures)
    await metrics.wait_until(_caught_up(metrics.group), timeout=180)
    await metrics.stop()
    conn = await _connect(database_url, "metrics")
    try:
        assert_same(await read_models(conn, set(mix.signal_ids)), kafka_reference)
    finally:
        await conn.close()

    report = await rebuild(metrics.settings(), metrics.topics)
    conn = await _connect(database_url, "metrics")
    try:
        assert_same(await read_models(conn, set(mix.signal_ids)), kafka_reference)
    finally:
        await conn.close()
    items = [*mix.live, *mix.erasures]
    for f in dataclasses.fields(metrics.topics):
        name = getattr(metrics.topics, f.name).name
        published = [i.event.event_id for i in items if i.topic == f.name]
        assert report.events[name] == len(set(published)), name
        assert report.duplicates[name] == len(published) - len(set(published)), name
        assert report.invalid[name] == (1 if f.name == "steps" else 0), name


async def test_a_batch_written_while_its_signal_is_erased_does_not_link_again(
    database_url: str,
) -> None:
    """test_metrics_erasure's race, with the batch forms: a batch of match changes and a batch
    of erasures about the same signals, each transaction held open while the other is applied,
    in both orders: whichever comes second waits, and sees what the first did."""
    await (await _fresh(database_url, "erasure_race")).close()

    for erasure_first in (False, True):
        mix = mixed_stream(200, seed=int(erasure_first), t0=T0, extras=False)
        changes = [i.event for i in mix.live if i.topic == "matches"]
        signals = sorted({e.data.signal_id for e in changes}, key=str)
        assert len(signals) > 5
        erasures = [
            Envelope.new(
                SignalErasedV1(
                    erasure_id=uuid4(),
                    signal_id=signal_id,
                    scope=ErasureScope.PERSON,
                    subject_id=uuid4(),
                    reason=ErasureReason.DATA_SUBJECT_REQUEST,
                    erased_at=NOW,
                ),
                municipality="GM0715",
                producer="intake",
            )
            for signal_id in reversed(signals)  # another order than the changes'
        ]
        first = await _connect(database_url, "erasure_race")
        second = await _connect(database_url, "erasure_race")
        try:
            held = first.transaction()
            await held.start()
            if erasure_first:
                await repository.record_erasure_batch(first, erasures)
                later = repository.record_match_batch(second, changes)
            else:
                await repository.record_match_batch(first, changes)
                later = repository.record_erasure_batch(second, erasures)

            async def apply(work: Any = later, conn: asyncpg.Connection = second) -> None:
                async with conn.transaction():
                    await work

            applying = asyncio.create_task(apply())
            await asyncio.sleep(0.5)  # the other transaction is under way meanwhile
            await held.commit()
            await asyncio.wait_for(applying, 30)
            linked = await first.fetchval(
                "SELECT count(*) FROM match_changes WHERE signal_id = ANY($1::uuid[])", signals
            )
            counted = await first.fetchval(
                "SELECT count(*) FROM match_changes WHERE match_request_id = ANY($1::uuid[])",
                list({e.data.match_request_id for e in changes}),
            )
        finally:
            await first.close()
            await second.close()
        assert counted == len(changes), f"erasure first: {erasure_first}"
        assert linked == 0, f"erasure first: {erasure_first}: an erased signal is named"
