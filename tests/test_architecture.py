"""The layers stay apart: nothing outside the UI imports Textual; jobformat imports no other layer.

import-linter checks the whole contract in .ci/run; this test keeps the two rules that matter
most inside the test suite, so they fail where people look first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nosana_tui"
LAYERS = ("jobformat", "engine", "backends", "node", "client", "cli", "ui")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(layer: str | None = None) -> list[Path]:
    root = PACKAGE / layer if layer else PACKAGE
    return sorted(root.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_ui_imports_textual(path: Path) -> None:
    if path.relative_to(PACKAGE).parts[0] == "ui":
        return
    assert not {m for m in _imports(path) if m == "textual" or m.startswith("textual.")}


@pytest.mark.parametrize("path", _modules("jobformat"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_jobformat_depends_on_no_other_layer(path: Path) -> None:
    others = {f"nosana_tui.{layer}" for layer in LAYERS if layer != "jobformat"}
    bad = {m for m in _imports(path) for o in others if m == o or m.startswith(o + ".")}
    assert not bad


def test_only_backends_import_docker() -> None:
    for path in _modules():
        if path.relative_to(PACKAGE).parts[0] == "backends":
            continue
        assert not {m for m in _imports(path) if m == "docker" or m.startswith("docker.")}, path
