"""No code builds Kafka clients around the broker factory's no-loss defaults.

Every broker, producer and consumer comes from `signaalpunt_runtime.broker_factory`. Tests that
prove the infrastructure itself (raw aiokafka against the broker) and the benchmark's raw baseline
are the only other places allowed to build clients, and even they may not use at-most-once settings.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FACTORY = REPO / "libs/runtime/src/signaalpunt_runtime/broker_factory.py"
SCANNED = ["services", "libs", "contracts", "scripts", "bench", "tests", "deploy"]

CLIENT_CLASSES = {"KafkaBroker", "AIOKafkaProducer", "AIOKafkaConsumer", "KafkaRouter"}
# Raw clients are the point of these files: infrastructure smoke tests and the raw baseline.
RAW_CLIENTS_ALLOWED = {
    "tests/infra/test_kafka_smoke.py",
    "tests/infra/test_broker_restart.py",
    # raw clients with chosen credentials (none, a wrong password, a service's, a partner's) are
    # what the ACL tests try the broker with
    "tests/infra/test_kafka_acls.py",
    "bench/pipeline_stage.py",
}


def _python_files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        files += [
            p
            for p in (REPO / top).rglob("*.py")
            if ".venv" not in p.parts and "__pycache__" not in p.parts
        ]
    return files


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _violations(path: Path, rel: str | None = None) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = rel or path.relative_to(REPO).as_posix()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _name(node.func)
            if called in CLIENT_CLASSES and path != FACTORY and rel not in RAW_CLIENTS_ALLOWED:
                found.append(f"{rel}:{node.lineno} builds {called}; use broker_factory")
            if called == "subscriber" and path != FACTORY and "/signaalpunt_runtime/" not in rel:
                found.append(f"{rel}:{node.lineno} declares a subscriber; use Service.consumer")
            for kw in node.keywords:
                value = kw.value
                if (
                    kw.arg == "enable_auto_commit"
                    and isinstance(value, ast.Constant)
                    and value.value
                ):
                    found.append(f"{rel}:{node.lineno} enable_auto_commit=True")
                if kw.arg == "acks" and isinstance(value, ast.Constant) and value.value in (0, 1):
                    found.append(f"{rel}:{node.lineno} acks={value.value}")
                if (
                    kw.arg == "enable_idempotence"
                    and isinstance(value, ast.Constant)
                    and not value.value
                ):
                    found.append(f"{rel}:{node.lineno} enable_idempotence=False")
        if isinstance(node, ast.Attribute) and node.attr == "ACK_FIRST":
            found.append(f"{rel}:{node.lineno} AckPolicy.ACK_FIRST (commit before handling)")
    return found


def test_no_kafka_client_is_built_around_the_factory() -> None:
    violations = [v for path in _python_files() for v in _violations(path)]
    assert violations == []


def test_the_scan_catches_what_it_is_for(tmp_path: Path) -> None:
    bad = tmp_path / "scan_probe.py"
    bad.write_text(
        "from faststream.kafka import KafkaBroker\n"
        "from faststream.middlewares import AckPolicy\n"
        "broker = KafkaBroker('x', acks=1)\n"
        "@broker.subscriber('t', ack_policy=AckPolicy.ACK_FIRST, enable_auto_commit=True)\n"
        "async def h(m): ...\n"
    )
    found = _violations(bad, rel="services/example/src/example/main.py")
    assert len(found) == 5, found


def test_the_factory_itself_sets_the_safe_defaults() -> None:
    from faststream.middlewares import AckPolicy
    from signaalpunt_runtime.broker_factory import PRODUCER_DEFAULTS, SUBSCRIBER_ACK_POLICY

    assert PRODUCER_DEFAULTS == {"acks": "all", "enable_idempotence": True}
    assert SUBSCRIBER_ACK_POLICY is AckPolicy.MANUAL
