"""Restore the local broker's SCRAM credentials when a restart lost them.

Seen on the local single-node Kafka 4.1.1 (KRaft): after some restarts the broker answered with
no SCRAM credential at all (`describe_user_scram_credentials` empty, every SCRAM login refused,
the admin's bootstrap credential included), although the controller had replayed their records.
Every client of the project logs in with SCRAM, so the whole local system (and CI) stood still.
The admin's PLAIN login (a static JAAS user) does not depend on the metadata: through it this
puts the admin's SCRAM credential back and says `restored`; infra.sh then applies the local
users again (`signaalpunt-topics acls --apply --local-users`). Prints `present` when nothing
was lost. Development only: production brokers' users come from their operator (Strimzi).

    SIGNAALPUNT_KAFKA_ADMIN_PASSWORD=… python deploy/local/kafka_users.py HOST:PORT ADMIN
"""

from __future__ import annotations

import os
import sys

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)


def main() -> int:
    bootstrap, username = sys.argv[1], sys.argv[2]
    password = os.environ.get("SIGNAALPUNT_KAFKA_ADMIN_PASSWORD", "signaalpunt-dev-admin")
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": username,
            "sasl.password": password,
        }
    )
    present = admin.describe_user_scram_credentials().result(30)  # type: ignore[union-attr]  # without users: one future
    if username in present:
        print("present")
        return 0
    mechanism = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    upsert = UserScramCredentialUpsertion(username, mechanism, password.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(30)
    print("restored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
