"""What start-up may skip, and that skipping it changes nothing.

``nosana-tui ps`` against an answering local node loads neither pydantic nor pydantic-settings
(nor Textual, the node's servers, websockets or the signing keys): the import graph of a real
run is checked, not its time (bench/startup.py measures that). The quick readings that make it
possible (``config.paths``, ``config.local_node_url``, ``ps``'s table from the node's JSON)
agree with the settings and the models they stand in for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nosana_tui import config
from nosana_tui.api import ready
from nosana_tui.api.models import Endpoint, JobStatus, JobView, OpStatus, OpView
from nosana_tui.cli.jobs import _job_rows
from nosana_tui.config import Paths, local_node_url, paths
from nosana_tui.settings import (
    APP,
    DEFAULT_NODE,
    SettingError,
    Settings,
    env_name,
    load_settings,
    read_folders,
)
from tests.conftest import ROOT

# Loaded by `ps` only if something imports them again: each of these is most of a start-up.
HEAVY = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "textual",
    "rich",
    "click",
    "fastapi",
    "starlette",
    "uvicorn",
    "docker",
    "websockets",
    "nacl",
    "yaml",
    "sqlite3",
    "nosana_tui.settings",
    "nosana_tui.api.models",
    "nosana_tui.jobformat",
    "nosana_tui.ui",
    "nosana_tui.node",
)

_MODULES_AT_EXIT = """
import atexit, sys
out, sys.argv = sys.argv[1], ["nosana-tui", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
from nosana_tui.entry import run
run()
"""


def _jobs() -> list[JobView]:
    web = OpView(
        id="web",
        index=0,
        group="serve",
        type="container/run",
        status=OpStatus.RUNNING,
        ready=True,
        endpoints=[Endpoint(op_id="web", port=80, host_port=32781, url="http://127.0.0.1:32781")],
    )
    data = OpView(id="data", index=1, group="prep", type="container/run")
    done = OpView(id="done", index=2, group="prep", type="container/run")
    done = done.model_copy(update={"status": OpStatus.FINISHED})
    return [
        JobView(
            id="e53d11d632dd", name="pipeline", created_at=time.time() - 90, ops=[web, data, done]
        ),
        JobView(id="0a1b2c3d4e5f", name="empty", created_at=time.time(), status=JobStatus.SUCCESS),
    ]


@pytest.fixture
def node() -> Iterator[str]:
    """A node that answers ``/`` and ``/api/jobs`` with the models' JSON, on this machine."""
    body = json.dumps([j.model_dump(mode="json") for j in _jobs()]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = body if self.path == "/api/jobs" else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_ps_loads_no_pydantic_no_settings_no_ui(node: str, tmp_path: Path) -> None:
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, str(listing), "ps"],
        cwd=ROOT,
        env={**os.environ, "NOSANA_TUI_NODE": node},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB", "NAME", "STATUS", "READY", "AGE", "ENDPOINTS"]
    assert lines[1].split() == [
        "e53d11d632dd",
        "pipeline",
        "running",
        "2/3",
        "1m",
        "http://127.0.0.1:32781",
    ]
    assert lines[2].split()[:4] == ["0a1b2c3d4e5f", "empty", "success", "0/0"]
    modules = set(listing.read_text().split())
    assert "nosana_tui.client.node" in modules and "httpx" in modules  # it did ask the node
    loaded = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not loaded


def test_ps_table_counts_ready_as_the_models_do() -> None:
    jobs = _jobs()
    rows = _job_rows([j.model_dump(mode="json") for j in jobs])
    assert [r[3] for r in rows] == [f"{j.ready_count}/{len(j.ops)}" for j in jobs]
    assert OpStatus.FINISHED.value == ready.FINISHED


def test_paths_are_read_as_the_settings_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    cases: list[dict[str, str]] = [
        {"NOSANA_TUI_CONFIG_DIR": "/c", "NOSANA_TUI_DATA_DIR": "/d"},
        {"NOSANA_TUI_CONFIG_DIR": "", "NOSANA_TUI_DATA_DIR": "/d"},  # empty: not set
        {"nosana_tui_config_dir": "/lower"},  # the settings read any case
        {},
    ]
    for case in cases:
        for name in list(os.environ):
            if name.upper() in ("NOSANA_TUI_CONFIG_DIR", "NOSANA_TUI_DATA_DIR"):
                monkeypatch.delenv(name)
        for name, value in case.items():
            monkeypatch.setenv(name, value)
        assert paths() == Paths(*read_folders()), case
    assert config.APP == APP and config.DEFAULT_NODE == DEFAULT_NODE


@pytest.mark.parametrize(
    ("env", "file"),
    [
        (None, None),
        ("http://127.0.0.1:5999", None),
        ("  https://node.example:443/  ", None),
        ("", 'node = "http://127.0.0.1:6001"\n'),  # empty: not set, the file says
        (None, 'node = "http://localhost:6002"\ntheme = "nosana-light"\n'),
        (None, 'theme = "nosana-light"\n'),
        ("127.0.0.1:5001", None),  # no scheme
        ("http://127.0.0.1:0", None),
        ("http://127.0.0.1:99999", None),
        (None, "node = 5001\n"),
        (None, "node = [\n"),  # not TOML
        (None, 'node = "ftp://x"\n'),
    ],
)
def test_the_node_is_read_as_the_settings_read_it(
    env: str | None, file: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in Settings.model_fields:
        if name not in ("config_dir", "data_dir"):  # the test's own folders (tests/conftest.py)
            monkeypatch.delenv(env_name(name), raising=False)
    if env is not None:
        monkeypatch.setenv("NOSANA_TUI_NODE", env)
    where = paths()
    assert str(where.config_dir).startswith(os.environ["NOSANA_TUI_CONFIG_DIR"])
    if file is not None:
        where.config_dir.mkdir(parents=True, exist_ok=True)
        where.config_file.write_text(file, encoding="utf-8")
    try:
        expected: str | None = load_settings(where.config_file).node
    except SettingError as err:
        expected, told = None, str(err)
    if expected is None:
        with pytest.raises(SettingError) as raised:
            local_node_url()
        assert str(raised.value) == told  # told the one way, by the settings
    else:
        assert local_node_url() == expected
