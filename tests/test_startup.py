"""What start-up may skip, and that skipping it changes nothing.

``nosana-tui ps`` and ``logs JOB`` against an answering local agent load neither pydantic nor
pydantic-settings (nor Textual, the node's servers, websockets or the signing keys), nor httpx
and asyncio: one synchronous request (``client.oneshot``) answers them, and what they print is
what the full path (``NodeClient``) prints, which answers whenever the one-shot path does not.
``--version`` loads not even the CLI. The UI's first frame is drawn before the client, the
network's models, the other sections and the template preview's job model are imported. The import graph of a real run is
checked, not its time (bench/startup.py measures that). The quick readings that make it
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
from typing import Any

import pytest

from nosana_tui import __version__, config
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
# ... and what the one-shot path spares a command that the node answers in one request
CLIENT = ("httpx", "httpcore", "anyio", "asyncio", "nosana_tui.client.node")

_MODULES_AT_EXIT = """
import atexit, sys
out, sys.argv = sys.argv[1], ["nosana-tui", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write(
    "\\n".join(sorted(k for k, v in sys.modules.items() if v is not None))  # not the stubs
))
from nosana_tui.entry import run
run()
"""


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in names))


def _run(
    tmp_path: Path, node: str, *arguments: str, token: str | None = "t0k3n"
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``nosana-tui ARGUMENTS`` against NODE as the local agent (its token file holding TOKEN,
    none when None): the result and the modules it had loaded when it exited."""
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "token").unlink(missing_ok=True)
    if token is not None:
        (config / "token").write_text(token + "\n")
    listing = tmp_path / "modules.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MODULES_AT_EXIT, str(listing), *arguments],
        cwd=ROOT,
        env={**os.environ, "NOSANA_TUI_NODE": node, "NOSANA_TUI_CONFIG_DIR": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, set(listing.read_text().split())


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


LOG = "web | \x1b[31mred\x1b[0m line\nweb | a title\x1b]0;pwned\x07 here\n" + "x" * 70_000 + "\nend"
SEEN: list[tuple[str, str | None]] = []  # (path, authorization) of each request


@pytest.fixture
def node() -> Iterator[str]:
    """A node that answers ``/`` and ``/api/jobs`` with the models' JSON, the log of job
    ``e53d11d632dd`` (chunked, as the agent streams it) and a 404 for any other job's log."""
    body = json.dumps([j.model_dump(mode="json") for j in _jobs()]).encode()
    SEEN.clear()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            SEEN.append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/api/jobs/e53d11d632dd/logs?"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                data = LOG.encode()
                for start in range(0, len(data), 5000):
                    piece = data[start : start + 5000]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            status, answer = 200, body if self.path == "/api/jobs" else b"{}"
            if "/logs" in self.path:
                status, answer = 404, b'{"error": "no job \\u001b[2Jnope"}'
            self.send_response(status)
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


def test_ps_loads_no_pydantic_no_settings_no_ui_no_httpx(node: str, tmp_path: Path) -> None:
    result, modules = _run(tmp_path, node, "ps")
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
    assert "nosana_tui.client.oneshot" in modules  # it did ask the node, in one request
    assert SEEN == [("/api/jobs", "Bearer t0k3n")]
    assert not _loaded(modules, HEAVY + CLIENT)


def test_ps_prints_what_the_client_prints(node: str, tmp_path: Path) -> None:
    """No token file (an agent that never started): the full path answers, the same table."""
    fast, _ = _run(tmp_path, node, "ps")
    full, modules = _run(tmp_path, node, "ps", token=None)
    assert full.returncode == 0, full.stderr
    assert "httpx" in modules and not _loaded(modules, HEAVY)
    assert full.stderr == fast.stderr == ""
    assert _without_age(full.stdout) == _without_age(fast.stdout)


def _without_age(table: str) -> list[list[str]]:
    return [row[:4] + row[5:] for row in (line.split() for line in table.splitlines())]


def test_logs_is_one_request_and_prints_what_the_client_prints(node: str, tmp_path: Path) -> None:
    fast, modules = _run(tmp_path, node, "logs", "e53d11d632dd", "web", "--tail", "5")
    assert fast.returncode == 0, fast.stderr
    assert not _loaded(modules, HEAVY + CLIENT)
    path, authorization = SEEN[-1]
    assert authorization == "Bearer t0k3n"
    assert path.startswith("/api/jobs/e53d11d632dd/logs?")
    query = dict(part.split("=") for part in path.split("?")[1].split("&"))
    assert query == {"format": "text", "follow": "false", "timestamps": "false", "op": "web"} | {
        "tail": "5"
    }
    full, modules = _run(tmp_path, node, "logs", "e53d11d632dd", "web", "--tail", "5", token=None)
    assert full.returncode == 0 and "httpx" in modules
    assert fast.stdout == full.stdout
    assert "\x1b[31mred" in fast.stdout and "pwned" not in fast.stdout  # colour kept, OSC not
    assert fast.stdout.endswith("x" * 70_000 + "\nend")


def test_logs_an_error_is_the_clients(node: str, tmp_path: Path) -> None:
    """The one-shot path takes only a 2xx answer: an error is told by the full path, in the
    node's words (cleaned), with its exit code."""
    result, modules = _run(tmp_path, node, "logs", "0a1b2c3d")
    assert result.returncode == 2
    assert result.stderr == "error: no job nope (HTTP 404)\n"  # the escape taken out
    assert "httpx" in modules  # the full path told it
    asked = [p for p, _ in SEEN if "/logs" in p]
    assert len(asked) == 2 and asked[0] == asked[1]  # the one-shot path asked as the client did


def test_version_loads_not_even_the_cli(tmp_path: Path) -> None:
    from nosana_tui.cli.main import build_parser

    result, modules = _run(tmp_path, "http://127.0.0.1:9", "--version")
    assert result.returncode == 0, result.stderr
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])  # argparse's own answer, to compare
    assert "nosana_tui.cli.main" not in modules and not _loaded(modules, HEAVY + CLIENT)
    assert result.stdout == f"nosana-tui {__version__}\n"


def test_help_of_a_command_loads_no_client(tmp_path: Path) -> None:
    result, modules = _run(tmp_path, "http://127.0.0.1:9", "ps", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: nosana-tui ps")
    assert not _loaded(modules, HEAVY + CLIENT)


_FIRST_FRAME = """
import asyncio, json, os, sys, tempfile
from pathlib import Path
import nosana_tui.entry
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from textual.app import App

# what is loaded, and what the screen holds, when Textual draws the Templates section first
first = {}
display = App._display

def display_marked(self, screen, renderable):
    display(self, screen, renderable)
    if renderable is not None and not first and screen.query("#template-list"):
        first["modules"] = sorted(k for k, v in sys.modules.items() if v is not None)
        first["options"] = screen.query_one("#template-list").option_count
        first["rendered"] = screen.rendered is not None

App._display = display_marked

async def main():
    root = Path(tempfile.mkdtemp())
    app = NosanaApp(locations=Paths(root / "c", root / "d"), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        while not first or app.screen.rendered is None:
            await pilot.pause(0.01)
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        first["then"] = {
            "current": screen.current.id,
            "data": screen.rendered.data is not None,
            "graph": screen.query_one("#template-graph").job is not None,
        }
        app.exit()
    print(json.dumps(first))

asyncio.run(main())
"""


def _first_frame(**settings: str) -> dict[str, Any]:
    """What the UI's process had loaded at its first frame, with SETTINGS (variable -> value)
    its only settings in the environment, beside the test's folders."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in config.SETTING_ENV}
    env.update(
        NOSANA_TUI_CONFIG_DIR=os.environ["NOSANA_TUI_CONFIG_DIR"],
        NOSANA_TUI_DATA_DIR=os.environ["NOSANA_TUI_DATA_DIR"],
        NOSANA_TUI_NODE="http://127.0.0.1:9",
        **settings,
    )
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_FRAME],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    first: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return first


def test_the_first_frame_comes_before_the_client_and_the_other_sections() -> None:
    """What the Templates section does not draw waits: httpx (the node's client connects after
    the first frame), the network's models (listed on the first look at the nodes), the Jobs
    and Nodes sections (imported when shown), the highlighted template's preview (the job
    model, validation, pygments), drawn right after the first frame from the list, and, with
    no setting but the theme, keys, node, folders and token, pydantic and pydantic-settings
    (``config.quick_ui_settings``; the API's views are types until then)."""
    first = _first_frame(NOSANA_TUI_TOKEN="t0ken", NOSANA_TUI_THEME="nosana-light")
    modules = set(first["modules"])
    assert "nosana_tui.ui.screens.templates" in modules
    later = (
        "pydantic",
        "pydantic_settings",
        "nosana_tui.settings",
        "nosana_tui.api.models",
        "httpx",
        "httpcore",
        "docker",
        "nosana_tui.client.node",
        "nosana_tui.client.network",
        "nosana_tui.client.network_node",
        "nosana_tui.ui.screens.jobs",
        "nosana_tui.ui.screens.nodes",
        "nosana_tui.jobformat.dstack",
        "nosana_tui.jobformat.model",
        "nosana_tui.jobformat.validate",
        "pygments",
    )
    assert not _loaded(modules, later)
    assert first["options"] > 0 and not first["rendered"]  # the list; its preview follows
    then = first["then"]
    assert then["current"] and then["data"] and then["graph"]  # the first template, previewed


def test_any_other_setting_reads_the_settings_whole_before_the_first_frame() -> None:
    """A setting the quick reading does not take (here the agent's stop timeout) has the
    settings read whole before the first frame, so a bad value still stops the UI first."""
    modules = set(_first_frame(NOSANA_TUI_STOP_TIMEOUT="2")["modules"])
    assert {"pydantic_settings", "nosana_tui.settings"} <= modules


def test_the_quick_reading_knows_every_variable_of_the_settings() -> None:
    assert {env_name(name).lower() for name in Settings.model_fields} == config.SETTING_ENV


# (environment, config.toml, whether the quick reading takes it)
_UI_CASES: list[tuple[dict[str, str], str | None, bool]] = [
    ({}, None, True),
    ({"NOSANA_TUI_THEME": "  nosana-light "}, None, True),
    ({"nosana_tui_theme": "from-env"}, 'theme = "from-file"\n', True),  # any case; env wins
    ({"NOSANA_TUI_THEME": ""}, 'theme = "from-file"\n', True),  # empty: not set
    (
        {},
        'theme = "nosana-light"\nnode = "http://127.0.0.1:6001"\n[keys]\n"app.quit" = "ctrl+q"\n',
        True,
    ),
    ({"NOSANA_TUI_KEYS": '{"app.quit": "ctrl+q"}'}, '[keys]\n"app.help" = "f1"\n', True),
    ({"NOSANA_TUI_TOKEN": "t0ken", "NOSANA_TUI_SKIP_DOCKER": "1", "OTHER": "x"}, None, True),
    ({"NOSANA_TUI_NODE": "https://node.example:8443/"}, None, True),
    ({"NOSANA_TUI_THEME": "from-env", "nosana_tui_theme": ""}, None, True),  # empty dropped first
    ({"NOSANA_API_KEY": "nos_x", "NOSANA_PIN_JWT": "jwt"}, None, True),  # never refused
    # what the settings refuse: the quick reading leaves it to them
    ({"NOSANA_TUI_KEYS": "ctrl+q"}, None, False),
    ({"NOSANA_TUI_KEYS": '{"app.quit": 1}'}, None, False),
    ({"NOSANA_TUI_KEYS": '["app.quit"]'}, None, False),
    ({}, '[keys]\n"app.quit" = 1\n', False),
    ({}, '[keys]\napp = { quit = "q" }\n', False),
    ({}, "keys = 3\n", False),
    ({}, 'theme = ""\n', False),
    ({}, "theme = 5\n", False),
    ({"NOSANA_TUI_THEME": "   "}, None, False),
    ({}, 'node = "ftp://x"\n', False),
    ({"NOSANA_TUI_NODE": "127.0.0.1:5001"}, None, False),
    ({"NOSANA_TUI_NODE": "http://[::1"}, None, False),  # urlparse itself refuses it
    ({}, 'node = "http://[::1"\n', False),
    ({}, "theme = [\n", False),  # not TOML
    ({}, "bogus = 1\n", False),  # an unknown key
    ({}, 'config_dir = "/x"\n', False),  # environment only
    # what the quick reading does not take, though the settings do: read whole
    ({"NOSANA_TUI_STOP_TIMEOUT": "2"}, None, False),
    ({"NOSANA_TUI_STOP_TIMEOUT": "soon"}, None, False),
    ({"NOSANA_TUI_STOP_TIMEOUT": "soon", "nosana_tui_stop_timeout": ""}, None, False),
    ({}, "stop_timeout = 2\n", False),
    ({"HF_ENDPOINT": "http://127.0.0.1:9"}, None, False),
]


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_config_file_that_is_not_a_file_is_none(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings read a file there and nothing else: a folder or a FIFO at that path is no
    config (the quick reading neither fails nor blocks on it)."""
    for name in list(os.environ):
        if name.lower() in config.SETTING_ENV and "_dir" not in name.lower():
            monkeypatch.delenv(name)
    where = paths()
    where.config_dir.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        where.config_file.mkdir()
    else:
        os.mkfifo(where.config_file)
    whole = load_settings(where.config_file)
    assert config.quick_ui_settings(where.config_file) == (whole.theme, whole.keys)


@pytest.mark.parametrize(("env", "file", "quick"), _UI_CASES)
def test_the_ui_theme_and_keys_are_read_as_the_settings_read_them(
    env: dict[str, str], file: str | None, quick: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config.quick_ui_settings`` gives what the settings give, or leaves it to them: never
    a theme or keys they would not give, never a value they refuse."""
    for name in list(os.environ):
        if name.lower() in config.SETTING_ENV and "_dir" not in name.lower():
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    where = paths()
    if file is not None:
        where.config_dir.mkdir(parents=True, exist_ok=True)
        where.config_file.write_text(file, encoding="utf-8")
    read = config.quick_ui_settings(where.config_file)
    assert (read is not None) is quick, read
    try:
        whole = load_settings(where.config_file)
    except SettingError:
        assert read is None
        return
    if read is not None:
        assert read == (whole.theme, whole.keys)


def test_api_models_are_built_on_first_use() -> None:
    """``defer_build``: importing the views builds no validator; the first use does, and
    parses as an eagerly built model would."""
    code = (
        "import json; from nosana_tui.api import models as m; "
        "before = m.OpView.__pydantic_complete__; "
        "view = m.Endpoint.model_validate({'op_id': 'web', 'port': 80, 'url': 'http://x'}); "
        "print(json.dumps([before, view.model_dump(mode='json')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    before, dumped = json.loads(result.stdout)
    assert before is False
    assert dumped == Endpoint.model_validate(
        {"op_id": "web", "port": 80, "url": "http://x"}
    ).model_dump(mode="json")


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
        {"NOSANA_TUI_CONFIG_DIR": "/x", "nosana_tui_config_dir": ""},  # empty dropped first
        {"NOSANA_TUI_CONFIG_DIR": "~/profile"},  # the user's, as a shell reads it
        {},
    ]
    for case in cases:
        for name in list(os.environ):
            if name.upper() in ("NOSANA_TUI_CONFIG_DIR", "NOSANA_TUI_DATA_DIR"):
                monkeypatch.delenv(name)
        for name, value in case.items():
            monkeypatch.setenv(name, value)
        assert paths() == Paths(*read_folders()), case
        assert "~" not in str(paths().config_dir), case
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
        ("http://[::1", None),  # urlparse itself refuses it: told as the settings tell it
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
