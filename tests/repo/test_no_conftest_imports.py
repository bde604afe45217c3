"""No test imports from `conftest`.

`make test` runs every service's tests in one pytest process; each tests folder has its own
`conftest.py`, so `from conftest import x` finds whichever conftest module was imported first and
the whole run stops at collection ("cannot import name ... from 'conftest'"), although the file
passes when its folder runs alone. Shared test code lives in the folder's `*_harness.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("services", "libs", "contracts", "tests", "bench")


def test_no_test_module_imports_from_conftest() -> None:
    offenders = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.ImportFrom) and node.module == "conftest") or (
                    isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names)
                ):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == [], "import shared test code from a *_harness.py module instead"
