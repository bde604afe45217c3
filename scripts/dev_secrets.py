"""Development secrets for running Signaalpunt locally (never used in production).

Makes, once, `.local/dev-secrets.env` (the key-encryption key and the blind-index key) and the
development token key pair in `.local/dev-auth/`; `environment()` returns them as variables.
Production takes these from its secret store / KMS and identity provider.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
SECRETS = LOCAL / "dev-secrets.env"
AUTH = LOCAL / "dev-auth"
PARTNER_KEY = AUTH / "intake-partner-key.json"  # intake's private key for partner events
PARTNER_JWKS = AUTH / "intake-partner-jwks.json"  # its public half, what partners encrypt to


def environment() -> dict[str, str]:
    LOCAL.mkdir(exist_ok=True)
    if not SECRETS.exists():
        SECRETS.write_text(
            f"SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS={KeyEncryptionKeys.generate_spec('dev-1')}\n"
            f"SIGNAALPUNT_INTAKE_BLIND_INDEX_KEY={base64.b64encode(os.urandom(32)).decode()}\n"
        )
        SECRETS.chmod(0o600)
    if not (AUTH / "jwks.json").exists():
        generate_key_pair(AUTH)
    if not PARTNER_KEY.exists():
        generate_partner_keys(PARTNER_KEY, PARTNER_JWKS, kid="intake-dev-1")
    env = dict(line.split("=", 1) for line in SECRETS.read_text().splitlines() if "=" in line)
    env["SIGNAALPUNT_INTAKE_JWKS_FILE"] = str(AUTH / "jwks.json")
    # every service that opens sealed personal data unwraps data keys with the same KEK set
    # (production: each service's own KMS grant on the same key)
    for service in ("TRIAGE", "NOTIFICATIONS"):
        kek = env["SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS"]
        env[f"SIGNAALPUNT_{service}_KEY_ENCRYPTION_KEYS"] = kek
    for service in ("TRIAGE", "NOTIFICATIONS", "METRICS"):
        env[f"SIGNAALPUNT_{service}_JWKS_FILE"] = str(AUTH / "jwks.json")
    env["SIGNAALPUNT_INTAKE_PARTNER_DECRYPTION_KEY_FILE"] = str(PARTNER_KEY)
    return env


if __name__ == "__main__":
    for name, value in environment().items():
        print(f"{name}={value}")
