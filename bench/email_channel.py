"""The e-mail channel: a session per message (what notifications did) against kept sessions
(`SmtpSessions`, issue 22), in the same run, against a real SMTP server (aiosmtpd) in a process of
its own, so the CPU counted is the sender's alone.

    python bench/email_channel.py [--messages 600] [--workers 4]

Reports messages a second and the sender's CPU per message for both, and their ratios; writes
`bench/results/email_channel.md` and `.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import aiosmtplib
from signaalpunt_notifications.channels import EmailChannel, Outgoing
from signaalpunt_notifications.sinks import free_port
from signaalpunt_notifications.templates import Rendered

RESULTS = Path(__file__).resolve().parent / "results"
SINK = (
    "import sys, time\n"
    "from signaalpunt_notifications.sinks import Sinks\n"
    "Sinks(smtp_port=int(sys.argv[1])).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(3600)\n"
)


def _messages(n: int) -> list[Outgoing]:
    text = (
        "Er is een nieuwe melding voor uw team. Open het werkoverzicht om haar te bekijken.\n" * 4
    )
    return [
        Outgoing(
            uuid4(),
            f"team-{i % 5}@gemeente.test",
            Rendered(subject=f"Nieuwe melding {i}", text=text, html=None),
            "nl",
        )
        for i in range(n)
    ]


async def _run(
    send: Callable[[Outgoing], Awaitable[None]], messages: list[Outgoing], workers: int
) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds to send `messages` with `workers` at once."""
    queue: asyncio.Queue[Outgoing] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def worker() -> None:
        while not queue.empty():
            await send(queue.get_nowait())

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(messages: int, workers: int, port: int) -> dict[str, dict[str, float]]:
    channel = EmailChannel(
        host="127.0.0.1", port=port, sender="signaalpunt@bench", message_id_domain="bench"
    )

    async def one_session_each(message: Outgoing) -> None:  # before: aiosmtplib.send per message
        await aiosmtplib.send(channel.build(message), hostname="127.0.0.1", port=port)

    await _run(channel.send, _messages(20), workers)  # warm up both paths
    await _run(one_session_each, _messages(20), workers)
    results: dict[str, dict[str, float]] = {}
    for name, send in (("session per message", one_session_each), ("kept sessions", channel.send)):
        wall, cpu = await _run(send, _messages(messages), workers)
        results[name] = {
            "messages_per_s": messages / wall,
            "cpu_ms_per_message": cpu * 1000 / messages,
        }
    results["kept sessions"]["sessions_opened"] = channel.sessions.opened
    await channel.sessions.close()
    return results


def report(results: dict[str, dict[str, float]], messages: int, workers: int) -> str:
    base, kept = results["session per message"], results["kept sessions"]
    lines = [
        "# E-mail channel: kept SMTP sessions against a session per message",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {messages} messages, "
        f"{workers} senders at once, aiosmtpd in its own process on loopback (no TLS, no AUTH: "
        "a real relay's handshakes make a session dearer still).",
        "",
        "| | messages/s | sender CPU ms per message |",
        "|---|---:|---:|",
    ]
    for name, row in results.items():
        lines.append(f"| {name} | {row['messages_per_s']:.0f} | {row['cpu_ms_per_message']:.2f} |")
    lines += [
        "",
        f"Ratio kept / per message: **{kept['messages_per_s'] / base['messages_per_s']:.2f}x** "
        f"the rate, **{kept['cpu_ms_per_message'] / base['cpu_ms_per_message']:.2f}x** the CPU "
        f"per message; {kept['sessions_opened']:.0f} sessions opened for {messages + 20} messages.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    port = free_port()
    sink = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        sink.stdout.readline()  # "ready"
        results = asyncio.run(measure(args.messages, args.workers, port))
    finally:
        sink.terminate()
        sink.wait()
    text = report(results, args.messages, args.workers)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "email_channel.md").write_text(text)
    (RESULTS / "email_channel.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
