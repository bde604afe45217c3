"""Development secrets for running Signaalpunt locally (never used in production).

Makes, once, `.local/dev-secrets.env` (the key-encryption key and the blind-index key), the
development token key pair in `.local/dev-auth/` and notifications' partners file with generated
webhook secrets (`.local/dev-secrets/notifications-partners.yaml`: the packaged one has none);
`environment()` returns them as variables.
Production takes these from its secret store / KMS and identity provider.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_matching.config import DEMO_VOLUNTEERS
from signaalpunt_notifications.config import HERE as NOTIFICATIONS_PACKAGE
from signaalpunt_notifications.config import development_webhook_secret
from signaalpunt_privacy import KeyEncryptionKeys
from signaalpunt_privacy.partner_encryption import generate_key_pair as generate_partner_keys
from signaalpunt_privacy.partner_encryption import new_signing_key
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
PARTNER_SEED = REPO / "deploy" / "local" / "partners.yaml"  # the development partners
PARTNER_KEYS = LOCAL / "dev-partners"  # each development partner's private signing key


def partner_signing_key(urn: str) -> dict[str, Any]:
    """The development partner's own signing key (what its system would hold), made once."""
    slug = urn.rsplit(":", 1)[-1]
    path = PARTNER_KEYS / f"{slug}.jwk"
    if not path.exists():
        PARTNER_KEYS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(new_signing_key(f"{slug}-dev-1")))
        path.chmod(0o600)
    key: dict[str, Any] = json.loads(path.read_text())
    return key


def register_dev_partners(env: dict[str, str]) -> None:
    """The development partners into intake's partner registry (data, not a file intake reads),
    with the CLI an operator uses; unchanged entries are left alone."""
    for entry in yaml.safe_load(PARTNER_SEED.read_text())["partners"]:
        partner_signing_key(entry["urn"])
    subprocess.run(  # noqa: S603 - fixed argument list
        [
            sys.executable,
            "-m",
            "signaalpunt_intake.partners_cli",
            "import",
            str(PARTNER_SEED),
            "--keys-dir",
            str(PARTNER_KEYS),
            "--actor",
            "dev-setup (scripts/dev_secrets.py)",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def notifications_partners() -> Path:
    """notifications' development partners file: the packaged one (which carries no secrets)
    with a webhook secret per partner, generated once and kept (a partner's sink may check it)."""
    path = SECRET_FILES / "notifications-partners.yaml"
    kept: dict[str, str] = {}
    if path.exists():
        for entry in yaml.safe_load(path.read_text())["partners"]:
            kept[entry["urn"]] = (entry.get("webhook") or {}).get("secret", "")
    partners = yaml.safe_load((NOTIFICATIONS_PACKAGE / "partners.yaml").read_text())
    for entry in partners["partners"]:
        if entry.get("webhook"):
            entry["webhook"]["secret"] = kept.get(entry["urn"]) or development_webhook_secret()
    text = yaml.safe_dump(partners, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        SECRET_FILES.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)  # compose mounts it as it is (development only)
    return path


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
    # compose's development identity provider signs with the development token key: a copy its
    # unprivileged user can read (the original stays owner-only)
    for name, copy in (("signing-key.pem", "dev-idp-signing-key.pem"), ("kid", "dev-idp-kid")):
        idp_file = SECRET_FILES / copy
        if not idp_file.exists() or idp_file.read_bytes() != (AUTH / name).read_bytes():
            idp_file.write_bytes((AUTH / name).read_bytes())
            idp_file.chmod(0o644)
    partner_key = SECRET_FILES / PARTNER_KEY.name
    if not partner_key.exists() or partner_key.read_text() != PARTNER_KEY.read_text():
        partner_key.write_text(PARTNER_KEY.read_text())
        partner_key.chmod(0o644)
    env["SIGNAALPUNT_INTAKE_JWKS_FILE"] = str(AUTH / "jwks.json")
    # every service that opens sealed personal data unwraps data keys with the same KEK set
    # (production: each service's own KMS grant on the same key)
    for service in ("TRIAGE", "NOTIFICATIONS", "REFERRAL", "MATCHING"):
        kek = env["SIGNAALPUNT_INTAKE_KEY_ENCRYPTION_KEYS"]
        env[f"SIGNAALPUNT_{service}_KEY_ENCRYPTION_KEYS"] = kek
    for service in ("TRIAGE", "NOTIFICATIONS", "METRICS", "REFERRAL", "MATCHING"):
        env[f"SIGNAALPUNT_{service}_JWKS_FILE"] = str(AUTH / "jwks.json")
    # the demo's social map (Humanitas, Huis voor Levensvragen, Samen eten, …), loaded once
    env.setdefault("SIGNAALPUNT_REFERRAL_DEMO_MAP", str(DEMO_MAP))
    # the demo's volunteers in Terneuzen and Hulst, loaded once
    env.setdefault("SIGNAALPUNT_MATCHING_DEMO_VOLUNTEERS", str(DEMO_VOLUNTEERS))
    env["SIGNAALPUNT_INTAKE_PARTNER_DECRYPTION_KEY_FILE"] = str(PARTNER_KEY)
    env["SIGNAALPUNT_NOTIFICATIONS_PARTNERS_FILE"] = str(notifications_partners())
    return env


if __name__ == "__main__":
    for name, value in environment().items():
        print(f"{name}={value}")
