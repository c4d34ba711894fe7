"""The layers stay apart, and the checks that say so can fail.

The rules are import-linter contracts in pyproject.toml (README.md, "Layout", lists them). Here:
they hold on this tree; each kind of forbidden import, written into a copy of the package, breaks
the contract it should; the README lists every contract; and real commands, run as a user runs
them, load only what their layer may (as Harlequin checks its own).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "nosana_tui"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS: list[dict[str, Any]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "importlinter"
]["contracts"]


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package in CWD, with the contracts in CWD's pyproject.toml;
    lines wide enough that no contract's name is wrapped."""
    env = {**os.environ, "COLUMNS": "400", "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _contract(start: str) -> str:
    names = [c["name"] for c in CONTRACTS if c["name"].startswith(start)]
    assert len(names) == 1, f"no single contract named {start!r}…: {names}"
    return names[0]


# --- the contracts ------------------------------------------------------------------------------


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout


def test_every_folder_of_modules_is_a_package() -> None:
    """import-linter does not look inside a folder without ``__init__.py`` (a namespace
    package): its modules would escape every contract (ui/screens/ did, once)."""
    folders = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert not sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())


# (module the import is added to, the import, the contract that must break)
VIOLATIONS = [
    ("ui/app.py", "import nosana_tui.engine.runner", "The UI and the CLI reach a node only"),
    ("ui/screens/jobs.py", "import nosana_tui.backends.docker", "The UI and the CLI reach"),
    ("cli/jobs.py", "import nosana_tui.node.serve", "The UI and the CLI reach a node only"),
    ("cli/main.py", "import nosana_tui.ui.app", "The UI and the CLI stay apart"),
    ("client/node.py", "import nosana_tui.node.store", "The client speaks HTTP only"),
    ("client/local.py", "import textual", "The client speaks HTTP only"),
    ("node/agent.py", "import docker", "Only the backends import Docker"),
    ("host/gpus.py", "import docker", "Only the backends import Docker"),
    ("engine/health.py", "import textual", "Only the UI imports Textual"),
    ("backends/docker.py", "import fastapi", "Only the node serves HTTP"),
    ("cli/main.py", "import textual_serve", "Only the UI serves the browser"),
    ("engine/health.py", "import nosana_tui.backends.docker", "The engine works over the Backend"),
    ("jobformat/diagnostics.py", "import nosana_tui.config", "The job format is pure"),
    ("jobformat/diagnostics.py", "import subprocess", "The job format is pure"),
    ("api/models.py", "import httpx", "The API's models are data"),
    ("sanitize.py", "import nosana_tui.jobformat", "Terminal-escape cleaning, the config"),
    ("engine/states.py", "import nosana_tui.node.store", "Data flows one way"),
]


@pytest.mark.parametrize(("module", "line", "contract"), VIOLATIONS, ids=lambda v: str(v))
def test_a_forbidden_import_breaks_its_contract(
    module: str, line: str, contract: str, tmp_path: Path
) -> None:
    shutil.copytree(
        PACKAGE, tmp_path / "nosana_tui", ignore=shutil.ignore_patterns("__pycache__", "library")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "nosana_tui" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # the violation\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{_contract(contract)} BROKEN" in result.stdout, result.stdout
    assert str(tmp_path) not in result.stderr  # it read the copy, and read it without an error


def test_the_readme_lists_every_contract() -> None:
    layout = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    missing = [c["name"] for c in CONTRACTS if c["name"] not in layout]
    assert not missing, "README.md's Layout does not list these contracts: " + "; ".join(missing)


# --- what real commands import ------------------------------------------------------------------

# Runs ``nosana-tui ARGS...`` as the console script does, then writes every module it loaded.
_MODULES_AT_EXIT = """
import atexit, sys
out, sys.argv = sys.argv[1], ["nosana-tui", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
from nosana_tui.entry import run
run()
"""

NODE_SIDE = ("nosana_tui.node", "nosana_tui.engine", "nosana_tui.backends", "nosana_tui.host")
SERVERS = ("docker", "fastapi", "starlette", "uvicorn", "sqlite3")


def _loaded(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, str(listing), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.exists(), result.stderr
    return set(listing.read_text().split()), result


def _any_of(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something already listens on: ``node serve`` there stops once it has loaded the
    agent, before it runs anything."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["validate", "examples/seeds/000-single-service.json"],
        ["templates", "list"],
        ["schema"],
        ["node", "serve", "--help"],
        ["ps", "--node", "http://127.0.0.1:9"],  # through the client; no node answers there
        ["logs", "job1", "--node", "http://127.0.0.1:9"],
    ],
    ids=" ".join,
)
def test_a_cli_command_loads_neither_the_ui_nor_the_node(args: list[str], tmp_path: Path) -> None:
    modules, result = _loaded(tmp_path, *args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result.stderr  # 1: no node at :9
    assert not _any_of(modules, ("textual", "nosana_tui.ui"))
    assert not _any_of(modules, NODE_SIDE + SERVERS)
    if args[0] in ("ps", "logs"):
        assert "nosana_tui.client.node" in modules  # it did reach for the node, by the client


def test_node_serve_runs_the_agent_without_the_ui(tmp_path: Path, busy_port: int) -> None:
    modules, result = _loaded(tmp_path, "node", "serve", "--port", str(busy_port))
    assert result.returncode == 1 and "cannot listen on" in result.stderr, result.stderr
    assert {"nosana_tui.node.serve", "nosana_tui.backends.docker", "uvicorn"} <= modules
    assert not _any_of(modules, ("textual", "nosana_tui.ui"))
