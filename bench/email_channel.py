"""The e-mail channel, three ways in the same run (issue 22): a session per message with an
`EmailMessage` (what notifications did first), kept sessions (`SmtpSessions`) with an
`EmailMessage`, and kept sessions with the message written without the header registry (what it
does now), against a real SMTP server (aiosmtpd) in a process of its own, so the CPU counted is
the sender's alone.

    python bench/email_channel.py [--messages 600] [--workers 4]

Reports messages a second and the sender's CPU per message for each, and their ratios to the
first; writes
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
from signaalpunt_notifications.channels import EmailChannel, Mail, Outgoing
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
            Rendered(subject=f"Nieuwe melding {i}", text=text, html=f"<p>{text}</p>"),
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

    async def one_session_each(message: Outgoing) -> None:  # at first: aiosmtplib.send each
        await aiosmtplib.send(channel.email_message(message), hostname="127.0.0.1", port=port)

    async def kept_email_message(message: Outgoing) -> None:  # then: kept sessions
        email = channel.email_message(message)
        await channel.sessions.send(Mail("signaalpunt@bench", message.address, email))

    ways = (
        ("session per message", one_session_each),
        ("kept sessions, EmailMessage", kept_email_message),
        ("kept sessions", channel.send),
    )
    for _, send in ways:  # warm up every path
        await _run(send, _messages(20), workers)
    results: dict[str, dict[str, float]] = {}
    for name, send in ways:
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
        "# E-mail channel: how a message is written and over which session",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {messages} messages (text and "
        f"HTML), {workers} senders at once, aiosmtpd in its own process on loopback (no TLS, no "
        "AUTH: a real relay's handshakes make a session dearer still).",
        "",
        "| | messages/s | sender CPU ms per message | rate ÷ first | CPU ÷ first |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in results.items():
        lines.append(
            f"| {name} | {row['messages_per_s']:.0f} | {row['cpu_ms_per_message']:.2f} | "
            f"{row['messages_per_s'] / base['messages_per_s']:.2f}x | "
            f"{row['cpu_ms_per_message'] / base['cpu_ms_per_message']:.2f}x |"
        )
    lines += [
        "",
        f"{kept['sessions_opened']:.0f} sessions opened for the {2 * (messages + 20)} messages "
        "sent on kept sessions.",
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
