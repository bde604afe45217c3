"""Intake as a process of its own, for the tests that run it in a role or with several workers
(test_process_roles.py). Its private topics come from the environment (INTAKE_TOPIC_RECEIVED,
…_PARTNER_SIGNALS, …_REJECTIONS, …_CASE_STEPS, …_ERASED); everything else from intake's own
settings (SIGNAALPUNT_INTAKE_…), as in a deployment."""

from __future__ import annotations

import os
from dataclasses import replace

from signaalpunt_contracts import (
    CASE_STEPS,
    PARTNER_REJECTIONS,
    PARTNER_SIGNALS,
    SIGNALS_ERASED,
    SIGNALS_RECEIVED,
    Topic,
)
from signaalpunt_intake.config import IntakeSettings
from signaalpunt_intake.main import build

TOPICS = {
    "received": SIGNALS_RECEIVED,
    "partner_signals": PARTNER_SIGNALS,
    "rejections": PARTNER_REJECTIONS,
    "case_steps": CASE_STEPS,
    "erased": SIGNALS_ERASED,
}


def topic(name: str) -> Topic:
    return replace(TOPICS[name], name=os.environ[f"INTAKE_TOPIC_{name.upper()}"])


if __name__ == "__main__":
    service, app = build(IntakeSettings(), **{name: topic(name) for name in TOPICS})
    service.run(app)
