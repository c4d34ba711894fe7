"""Secrets on the user's side: which token goes to which node, files readable by their owner
alone from the moment they exist, and nothing a job file holds reaching the terminal raw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.cli.main import main
from nosana_tui.client import local
from nosana_tui.client.local import token_for
from nosana_tui.client.node import NodeError
from nosana_tui.config import paths
from nosana_tui.jobformat.validate import validate_text
from nosana_tui.ui.settings import NodeEntry, load_settings, save_nodes

LOCAL_TOKEN = "local-agent-secret"
OFF_LOOPBACK = "http://192.0.2.10:5001"  # TEST-NET-1: never answers, never reached here


class Recorder:
    """A node that answers every GET with ``[]`` and keeps the Authorization header of each."""

    def __init__(self, host: str) -> None:
        seen: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("Authorization"))
                body = b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["127.0.0.1", "127.0.0.2"])
def node(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    try:
        recorder = Recorder(request.param)
    except OSError:
        pytest.skip(f"cannot listen on {request.param} here")
    yield recorder
    recorder.close()


@pytest.fixture
def local_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local agent's token file, and the local agent somewhere else (nothing answers)."""
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    monkeypatch.delenv("NOSANA_TUI_TOKEN", raising=False)
    monkeypatch.delenv("NOSANA_TUI_ALLOW_HTTP", raising=False)
    token_file = paths().token_file
    token_file.parent.mkdir(parents=True)
    token_file.write_text(LOCAL_TOKEN + "\n")


@pytest.mark.usefixtures("local_token")
def test_the_local_token_goes_to_the_local_node_only(
    node: Recorder, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ps", "--node", node.url]) == 0, capsys.readouterr().err
    assert node.seen and set(node.seen) == {None}  # another node: no token at all

    node.seen.clear()
    monkeypatch.setenv("NOSANA_TUI_TOKEN", "from-the-environment")
    assert main(["ps", "--node", node.url]) == 0
    assert set(node.seen) == {"Bearer from-the-environment"}

    node.seen.clear()
    save_nodes(paths(), [NodeEntry("gpu box", node.url + "/", "saved-with-the-node")])
    assert main(["ps", "--node", node.url]) == 0
    assert set(node.seen) == {"Bearer saved-with-the-node"}  # nodes.json first, by URL

    node.seen.clear()
    monkeypatch.setenv("NOSANA_TUI_NODE", node.url)  # now it is the local agent
    assert main(["ps"]) == 0
    assert set(node.seen) == {f"Bearer {LOCAL_TOKEN}"}


@pytest.mark.usefixtures("local_token")
def test_no_token_goes_over_plain_http_off_this_machine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = paths()
    assert token_for(where, OFF_LOOPBACK) is None  # nothing to send: nothing to refuse
    save_nodes(where, [NodeEntry("box", OFF_LOOPBACK, "saved-token")])
    with pytest.raises(NodeError) as refused:
        token_for(where, OFF_LOOPBACK)
    assert "https://" in str(refused.value) and "NOSANA_TUI_ALLOW_HTTP=1" in str(refused.value)
    assert token_for(where, "https://192.0.2.10:5001") is None  # saved for http only
    monkeypatch.setenv("NOSANA_TUI_TOKEN", "env-token")
    assert token_for(where, "https://192.0.2.10:5001") == "env-token"
    assert token_for(where, "http://127.0.0.2:5001") == "env-token"  # loopback: allowed

    # the CLI refuses before it connects, and says what to do
    assert main(["ps", "--node", OFF_LOOPBACK]) == 1
    err = capsys.readouterr().err
    assert "not sending this node's token" in err and "NOSANA_TUI_ALLOW_HTTP=1" in err
    assert "saved-token" not in err

    monkeypatch.setenv("NOSANA_TUI_ALLOW_HTTP", "1")  # the user says so
    assert token_for(where, OFF_LOOPBACK) == "saved-token"

    # a local node URL off this machine is not the local agent: its token file stays home
    monkeypatch.setenv("NOSANA_TUI_NODE", "https://192.0.2.10:5001")
    monkeypatch.delenv("NOSANA_TUI_TOKEN")
    assert token_for(where, "https://192.0.2.10:5001") is None


def test_the_agent_log_and_data_folder_are_the_owners_from_creation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Created with their modes (umask 0 shows it), never made private afterwards."""
    started: list[Any] = []

    def fake_popen(command: list[str], **kwargs: Any) -> object:
        started.append(kwargs["stdout"])
        return object()

    def no_chmod(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("made private after creation")

    monkeypatch.setattr(local.subprocess, "Popen", fake_popen)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    where = paths()
    old = os.umask(0)
    try:
        local.start_agent(where, "http://127.0.0.1:9")
        save_nodes(where, [NodeEntry("box", "https://gpu.example:5001", "saved-token")])
    finally:
        os.umask(old)
    assert started
    assert where.data_dir.stat().st_mode & 0o777 == 0o700
    assert (where.data_dir / "agent.log").stat().st_mode & 0o777 == 0o600
    assert where.nodes_file.stat().st_mode & 0o777 == 0o600
    assert where.config_dir.stat().st_mode & 0o777 == 0o700
    assert load_settings(where).nodes == [
        NodeEntry("box", "https://gpu.example:5001", "saved-token")
    ]


OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"


def test_a_job_file_cannot_write_the_terminal(tmp_path: Path) -> None:
    """An OSC 52 (clipboard write) in a key and in the file name, a bidi override in another
    key: ``validate`` and ``run`` print the diagnostics, the real CLI in a subprocess."""
    job = {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "a", "args": {"image": "busybox", OSC52: 1}}],
        "x\u202eevil": 2,
    }
    file = tmp_path / f"job{OSC52}.json"
    file.write_text(json.dumps(job))  # JSON writes the controls as \u001b, as a file may
    for command in ("validate", "run"):
        proc = subprocess.run(
            [sys.executable, "-m", "nosana_tui", command, str(file)],
            capture_output=True,
            text=True,
            env={**os.environ, "NOSANA_TUI_NODE": "http://127.0.0.1:9"},
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert "unknown field" in out
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "x<U+202E>evil" in out


def test_secret_env_values_are_never_echoed_by_validate() -> None:
    text = json.dumps(
        {
            "version": "0.1",
            "type": "container",
            "ops": [
                {
                    "type": "container/run",
                    "id": "a",
                    "args": {
                        "image": "busybox",
                        "env": {"DB_PASSWORD": 12345678, "": "hf_value_the_engine_echoes"},
                    },
                }
            ],
        }
    )
    job, report = validate_text(text, "job.json")
    shown = "\n".join(d.render() for d in report.diagnostics)
    assert job is None
    assert "12345678" not in shown and "hidden: it is a secret" in shown
    # docker refuses an empty name quoting "=VALUE" into the job's log: refused here first
    assert "an env name is empty" in shown and "hf_value" not in shown
