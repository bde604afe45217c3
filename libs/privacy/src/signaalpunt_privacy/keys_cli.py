"""`signaalpunt-keys`: the key generations (KEKs) of the subject key store, for operators.

signaalpunt-keys status    how many data keys each KEK wraps; which configured KEK wraps none
signaalpunt-keys rewrap    re-wrap every data key under the first (newest) KEK

Rotation, which makes every erasure final: put a new KEK first in the configuration (the old one
stays second), run `rewrap`, and once `status` shows the old KEK wraps nothing and the oldest WAL
segment and backup are younger than the rewrap, destroy the old KEK (remove it from the
configuration; in production destroy the KMS/Vault key version). See docs/privacy.md.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
import typer
from rich.console import Console

from .keys import KeyEncryptionKeys, PostgresSubjectKeyStore

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(width=120)

DatabaseUrl = typer.Option(
    os.environ.get("SIGNAALPUNT_KEY_STORE_DATABASE_URL")
    or os.environ.get("SIGNAALPUNT_DATABASE_URL", ""),
    help="the key store's database (its own role in production)",
    show_default=False,
)
Keks = typer.Option(
    os.environ.get("SIGNAALPUNT_KEY_ENCRYPTION_KEYS", ""),
    help="the KEKs, id:base64key[,…], newest first (default: $SIGNAALPUNT_KEY_ENCRYPTION_KEYS)",
    show_default=False,
)


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT kek_id, count(*) AS n FROM subject_keys.data_keys GROUP BY kek_id"
        )
    finally:
        await conn.close()
    return {r["kek_id"]: int(r["n"]) for r in rows}


@app.command()
def status(database_url: str = DatabaseUrl, keks: str = Keks) -> None:
    """Data keys per KEK; a configured KEK that wraps none may be destroyed (mind the backups)."""
    configured = KeyEncryptionKeys.from_spec(keks)
    counts = asyncio.run(_counts(database_url))
    for kek_id, _ in configured.keys:
        n = counts.pop(kek_id, 0)
        note = "active" if kek_id == configured.active_id else ("wraps none" if n == 0 else "")
        console.print(f"{kek_id:<24} {n:>10}  {note}")
    for kek_id, n in counts.items():
        console.print(f"{kek_id:<24} {n:>10}  NOT CONFIGURED: these keys no longer open")


@app.command()
def rewrap(database_url: str = DatabaseUrl, keks: str = Keks) -> None:
    """Re-wrap every data key under the first configured KEK (batches of 500)."""

    async def run() -> int:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        store = PostgresSubjectKeyStore(pool, KeyEncryptionKeys.from_spec(keks))
        total = 0
        try:
            while done := await store.rewrap():
                total += done
        finally:
            await pool.close()
        return total

    console.print(f"re-wrapped {asyncio.run(run())} data keys")


if __name__ == "__main__":
    app()
