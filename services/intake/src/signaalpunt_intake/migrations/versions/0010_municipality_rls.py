"""Row-level security per municipality on intake's tables that say something about a person
(issue 17; `signaalpunt_runtime.tenancy`): the stored signals (sealed values, blind index,
handling) and the erasure requests (which signals of a person were erased, by whom). A
coordinator's query that forgets its municipality still returns no other municipality's rows.

The web form, the desk, the partners' channel and portal, the consumers and the retention job run
with the service's own scope (a submission is authorised per municipality by its route before it
is stored). Not here: idempotency keys (keyed hashes, per caller), rate limits (hashed windows),
partner events (a partner's event id and a keyed digest) and the partner registry, none of which
has a municipality of its own.

Revision ID: 0010
Revises: 0009
"""

from signaalpunt_runtime.migrations import run_sql
from signaalpunt_runtime.tenancy import drop_policy, municipality_policy

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(municipality_policy("signals") + municipality_policy("erasures"))


def downgrade() -> None:
    run_sql(drop_policy("erasures") + drop_policy("signals"))
