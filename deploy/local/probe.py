"""Readiness probes for the local infrastructure.

Ready means the service answers a real request, not that a port is open: a Kafka metadata request
(cluster description and topic list) and a PostgreSQL query.

    probe.py kafka --bootstrap 127.0.0.1:19092 [--quiet]
    probe.py postgres --dsn postgresql://u:p@127.0.0.1:15432/postgres [--database NAME] [--quiet]

Exit 0 when ready, 1 when not; without --quiet a one-line report is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys


async def probe_kafka(
    bootstrap: str, username: str, password: str, mechanism: str = "SCRAM-SHA-512"
) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    # as the local broker's admin principal (infra.sh passes it): nothing answers anonymously
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=username,
        sasl_plain_password=password,
    )
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    brokers = len(cluster["brokers"])
    return (
        f"          ready: metadata answered (cluster {cluster['cluster_id']}, "
        f"{brokers} broker, controller {cluster['controller_id']}, {len(topics)} topics)"
    )


async def probe_postgres(dsn: str, database: str | None) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        version = await conn.fetchval("SHOW server_version")
        if database:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                # identifiers cannot be bound as parameters; quote_ident makes the name safe
                quoted = await conn.fetchval("SELECT quote_ident($1)", database)
                await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()
    return (
        f"          ready: SQL answered (PostgreSQL {version}, database {database or 'postgres'})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    kafka = sub.add_parser("kafka")
    kafka.add_argument("--bootstrap", required=True)
    kafka.add_argument("--username", default="signaalpunt-admin")
    # PLAIN: the admin's static JAAS user, there as soon as the broker is (infra.sh waits with it,
    # then checks SCRAM, whose credentials live in the metadata)
    kafka.add_argument("--mechanism", default="SCRAM-SHA-512", choices=["SCRAM-SHA-512", "PLAIN"])
    # from the environment, not the command line (which every local user can read)
    kafka.add_argument("--quiet", action="store_true")
    postgres = sub.add_parser("postgres")
    postgres.add_argument("--dsn", required=True)
    postgres.add_argument("--database")
    postgres.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    # aiokafka logs every refused connection while the broker starts; the probe reports by exit code
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.what == "kafka":
            report = asyncio.run(
                asyncio.wait_for(
                    probe_kafka(
                        args.bootstrap,
                        args.username,
                        os.environ.get("SIGNAALPUNT_KAFKA_ADMIN_PASSWORD", "signaalpunt-dev-admin"),
                        args.mechanism,
                    ),
                    15,
                )
            )
        else:
            report = asyncio.run(asyncio.wait_for(probe_postgres(args.dsn, args.database), 15))
    except Exception as exc:
        if not args.quiet:
            print(f"          not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
