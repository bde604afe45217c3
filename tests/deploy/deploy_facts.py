"""What the deployment files must agree with, read from the code: the services, their settings and
the environment variables those settings read. Shared by the compose and Kubernetes checks."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic.fields import FieldInfo
from signaalpunt_runtime import ServiceSettings

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    env: str
    name: str
    required: bool
    is_path: bool
    default: Any


@dataclass(frozen=True)
class ServiceFacts:
    name: str
    """The folder under services/, the compose service and the Kubernetes app name."""
    package: str
    settings: type[ServiceSettings]
    prefix: str

    @property
    def main_module(self) -> str:
        return f"{self.package}.main"

    @property
    def settings_by_env(self) -> dict[str, Setting]:
        return {s.env: s for s in settings_of(self.settings, self.prefix)}


def _is_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_path(a) for a in get_args(annotation))
    return False


def settings_of(cls: type[ServiceSettings], prefix: str) -> list[Setting]:
    found = []
    for name, info in cls.model_fields.items():
        assert isinstance(info, FieldInfo)
        found.append(
            Setting(
                env=f"{prefix}{name}".upper(),
                name=name,
                required=info.is_required(),
                is_path=_is_path(info.annotation),
                default=None if info.is_required() else info.get_default(call_default_factory=True),
            )
        )
    return found


FRONT_ENDS = frozenset({"console"})
"""Under services/ without Kafka or a database (no `ServiceSettings`): the staff console, a web
front end over the services' APIs, with checks of its own (k8s: test_deploy_k8s; compose does
not run it yet, docs/console.md)."""


@cache
def services() -> tuple[ServiceFacts, ...]:
    """Every service under services/ (a new one is covered as soon as its folder exists)."""
    found = []
    for project in sorted(REPO.glob("services/*/pyproject.toml")):
        name = project.parent.name
        package = "signaalpunt_" + name.replace("-", "_")
        config = importlib.import_module(f"{package}.config")
        classes = [
            c
            for _, c in inspect.getmembers(config, inspect.isclass)
            if issubclass(c, ServiceSettings)
            and c is not ServiceSettings
            and c.__module__ == config.__name__
        ]
        if not classes and name in FRONT_ENDS:
            continue
        assert len(classes) == 1, f"{package}.config should define one settings class: {classes}"
        prefix = str(classes[0].model_config.get("env_prefix", ""))
        found.append(ServiceFacts(name, package, classes[0], prefix))
    return tuple(found)


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size_in_bytes(text: str) -> int:
    """`512m`, `1g`, `768Mi`, `1Gi` → bytes (Compose, JVM and Kubernetes spellings)."""
    match = _SIZE.match(str(text).strip())
    assert match, f"not a size: {text!r}"
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def jvm_max_heap(options: str) -> int:
    match = re.search(r"-Xmx(\S+)", options)
    assert match, f"no -Xmx in {options!r}"
    return size_in_bytes(match.group(1))
