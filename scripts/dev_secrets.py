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
from signaalpunt_referral.config import DEMO_MAP

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
SECRETS = LOCAL / "dev-secrets.env"
AUTH = LOCAL / "dev-auth"
PARTNER_KEY = AUTH / "intake-partner-key.json"  # intake's private key for partner events
PARTNER_JWKS = AUTH / "intake-partner-jwks.json"  # its public half, what partners encrypt to
# the same secrets as files, for compose (`<VARIABLE>_FILE=/run/secrets/...`)
SECRET_FILES = LOCAL / "dev-secrets"
SECRET_FILE_NAMES = {
    "SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS": "key-encryption-keys",
    "SIGNAALPUNT_INTAKE_BLIND_INDEX_KEY": "blind-index-key",
}


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
    SECRET_FILES.mkdir(mode=0o700, exist_ok=True)
    for variable, file_name in SECRET_FILE_NAMES.items():
        secret = SECRET_FILES / file_name
        if not secret.exists() or secret.read_text() != env[variable]:
            secret.write_text(env[variable])
            # compose (without swarm) mounts secret files as they are, with their owner and
            # mode: the containers' unprivileged user must be able to read them (development only)
            secret.chmod(0o644)
    partner_key = SECRET_FILES / PARTNER_KEY.name
    if not partner_key.exists() or partner_key.read_text() != PARTNER_KEY.read_text():
        partner_key.write_text(PARTNER_KEY.read_text())
        partner_key.chmod(0o644)
    env["SIGNAALPUNT_INTAKE_JWKS_FILE"] = str(AUTH / "jwks.json")
    # every service that opens sealed personal data unwraps data keys with the same KEK set
    # (production: each service's own KMS grant on the same key)
    for service in ("TRIAGE", "NOTIFICATIONS", "REFERRAL"):
        kek = env["SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS"]
        env[f"SIGNAALPUNT_{service}_KEY_ENCRYPTION_KEYS"] = kek
    for service in ("TRIAGE", "NOTIFICATIONS", "METRICS", "REFERRAL"):
        env[f"SIGNAALPUNT_{service}_JWKS_FILE"] = str(AUTH / "jwks.json")
    # the demo's social map (Humanitas, Huis voor Levensvragen, Samen eten, …), loaded once
    env.setdefault("SIGNAALPUNT_REFERRAL_DEMO_MAP", str(DEMO_MAP))
    env["SIGNAALPUNT_INTAKE_PARTNER_DECRYPTION_KEY_FILE"] = str(PARTNER_KEY)
    return env


if __name__ == "__main__":
    for name, value in environment().items():
        print(f"{name}={value}")
