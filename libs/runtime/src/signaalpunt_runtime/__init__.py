"""The spine every Signaalpunt service stands on.

- `Service`: the composition helper (broker, database, migrations, outbox relay, and on the
  management port /livez, /readyz, /metrics, AsyncAPI) — see `service.py` and `serving.py`;
- `ServiceSettings`: the settings base;
- `UnitOfWork`: what a handler gets (the transaction's connection, `publish` to the outbox);
- `PermanentError`: raise it for an event that can never succeed (dead-lettered without retries).
"""

from .consumer import UnitOfWork
from .failures import PermanentError
from .service import Service
from .settings import ServiceSettings

__all__ = ["PermanentError", "Service", "ServiceSettings", "UnitOfWork"]
