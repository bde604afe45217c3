"""`make demo`: run Signaalpunt on the local infrastructure with a realistic scenario and report.

Until the services land, the scenario exercises the spine every service will stand on, on the real
Kafka and PostgreSQL: a sender writes probe events through its outbox (as an HTTP request would),
the relay publishes them, a receiver handles each exactly once through its inbox; a malformed event
is parked in the dead-letter topic with its reason while everything behind it flows on. Each service
issue adds its part of the scenario here.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.table import Table
from signaalpunt_contracts import PLATFORM_PROBE, Envelope, ProbeV1
from signaalpunt_runtime import Service, ServiceSettings, UnitOfWork
from signaalpunt_runtime.broker_factory import make_producer
from signaalpunt_runtime.dead_letters import list_dead_letters

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "scripts" / "demo_migrations"
PROBES = 1_000
console = Console()


def settings(name: str) -> ServiceSettings:
    return ServiceSettings(
        service_name=name, database_schema=name.replace("-", "_"), log_level="WARNING"
    )


async def scenario() -> dict[str, object]:
    run_id = f"demo-{int(time.time())}"
    sender = Service(settings("demo-sender"), title="demo sender", migrations=MIGRATIONS)
    receiver = Service(settings("probe-receiver"), title="probe receiver", migrations=MIGRATIONS)

    @receiver.consumer(PLATFORM_PROBE, group="probe-receiver")
    async def receive(event: Envelope[ProbeV1], work: UnitOfWork) -> None:
        await work.connection.execute(
            "INSERT INTO probes_received (event_id, run_id, sequence) VALUES ($1, $2, $3)",
            event.event_id,
            event.data.run_id,
            event.data.sequence,
        )

    for service in (sender, receiver):
        await service.start_database()
        await service.broker.start()
        await service.start_relay()
    started = time.perf_counter()
    try:
        # as an HTTP request would: the state change and its events in one transaction
        for start in range(0, PROBES, 100):
            async with sender.transaction() as work:
                for i in range(start, start + 100):
                    event = work.new_event(
                        ProbeV1(run_id=run_id, sequence=i, note="make demo"), municipality="GM0715"
                    )
                    await work.publish(PLATFORM_PROBE, event, key=run_id)
        # and one partner system that sends something that is not an event at all
        producer = make_producer(sender.settings.kafka_bootstrap, client_id="demo-partner")
        await producer.start()
        await producer.send_and_wait(
            PLATFORM_PROBE.name, b'{"melding": "buurvrouw belt niet meer"', key=run_id.encode()
        )
        await producer.stop()

        conn = await asyncpg.connect(sender.settings.database_url.get_secret_value())
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                received = await conn.fetchval(
                    "SELECT count(*) FROM probe_receiver.probes_received WHERE run_id = $1", run_id
                )
                if received >= PROBES:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT event_id) FROM probe_receiver.probes_received"
                " WHERE run_id = $1",
                run_id,
            )
            published = await conn.fetchval(
                "SELECT count(*) FROM demo_sender.outbox WHERE key = $1"
                " AND published_at IS NOT NULL",
                run_id,
            )
        finally:
            await conn.close()
        await asyncio.sleep(1)
        letters = await list_dead_letters(
            sender.settings.kafka_bootstrap, PLATFORM_PROBE.dead_letter_topic("probe-receiver")
        )
    finally:
        for service in (receiver, sender):
            await service.stop_relay()
            await service.broker.stop()
            await service.stop_database()
    return {
        "run_id": run_id,
        "written": PROBES,
        "published": published,
        "received": received,
        "distinct": distinct,
        "seconds": elapsed,
        "dead_letters": letters,
    }


def main() -> int:
    console.rule("[bold]Signaalpunt demo")
    console.print("\n[bold]Infrastructure[/bold] (deploy/local, no Docker)")
    subprocess.run([str(REPO / "deploy/local/infra.sh"), "status"], check=True)  # noqa: S603
    console.print(
        "\n[bold]The spine[/bold]: outbox → Kafka → inbox, exactly once, on platform.probe.v1"
    )
    result = asyncio.run(scenario())
    table = Table(show_header=False)
    table.add_row("probe events written through the sender's outbox", str(result["written"]))
    table.add_row("published by the outbox relay (acks=all, idempotent)", str(result["published"]))
    table.add_row("handled by the receiver (inbox, one transaction each)", str(result["received"]))
    table.add_row("… of which distinct events (no double effects)", str(result["distinct"]))
    table.add_row("time from first write to last handled", f"{result['seconds']:.1f} s")
    console.print(table)
    letters = result["dead_letters"]
    assert isinstance(letters, list)
    console.print(
        f"\n[bold]Dead letters[/bold] in {PLATFORM_PROBE.dead_letter_topic('probe-receiver')}: "
        f"{len(letters)} in total (this run added the malformed partner event)"
    )
    for letter in letters[-3:]:
        console.print(f"  offset {letter.offset}: {letter.error}")
    console.print(
        "  replay after a fix: [cyan]uv run signaalpunt-dlq replay "
        f"{PLATFORM_PROBE.dead_letter_topic('probe-receiver')}[/cyan]"
    )
    console.print(
        "\n[bold]Not built yet[/bold]: the services that use this spine: intake, triage, "
        "referral, matching, notifications, metrics. Each adds its part of the scenario here."
    )
    ok = result["received"] == result["written"] == result["distinct"]
    console.print("\n[green]demo finished[/green]" if ok else "\n[red]demo incomplete[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
