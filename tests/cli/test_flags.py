"""Bad flag values: one line that names the flag and says what it takes, exit code 2, before
anything runs (no traceback, no agent started, no request a node refuses)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nosana_tui.cli.main import build_parser


@pytest.mark.parametrize(
    ("argv", "flag", "allowed"),
    [
        (["node", "serve", "--port", "70000"], "--port", "a TCP port from 1 to 65535"),
        (["node", "serve", "--port", "0"], "--port", "a TCP port from 1 to 65535"),
        (["node", "serve", "--port=-1"], "--port", "a TCP port from 1 to 65535"),
        (["node", "serve", "--gpus", "first"], "--gpus", "`all` or GPU indexes like 0,1"),
        (["node", "serve", "--gpus", "-1"], "--gpus", "`all` or GPU indexes like 0,1"),
        (["logs", "j", "--tail", str(2**63)], "--tail", "a number of lines, 0 or more"),
        (["logs", "j", "--tail", "-1"], "--tail", "a number of lines, 0 or more"),
        (["logs", "j", "--since", "nan"], "--since", "a duration like 30s, 10m, 2h or 1d"),
        (["logs", "j", "--since", "1e400"], "--since", "a duration like 30s, 10m, 2h or 1d"),
        (["logs", "j", "--since", "infh"], "--since", "a duration like 30s, 10m, 2h or 1d"),
        (["logs", "j", "--since=-5m"], "--since", "a duration like 30s, 10m, 2h or 1d"),
        (["logs", "j", "--since", "10x"], "--since", "a duration like 30s, 10m, 2h or 1d"),
        (["ps", "--node", "http://127.0.0.1:99999"], "--node", "the node's URL"),
        (["node", "info", "--node", "127.0.0.1:5001"], "--node", "the node's URL"),
        (["rm", "j", "--node", "ftp://host"], "--node", "the node's URL"),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag(
    argv: list[str], flag: str, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    value = argv[-1].partition("=")[2] or argv[-1]
    assert f": error: argument {flag}: {value!r}: give {allowed}" in error


def test_good_flag_values_are_taken() -> None:
    args = build_parser().parse_args(["node", "serve", "--port", "65535", "--gpus", "0,1"])
    assert (args.port, args.gpus) == (65535, "0,1")
    args = build_parser().parse_args(["logs", "j", "--tail", "0", "--since", "1700000000"])
    assert (args.tail, args.since) == (0, 1700000000.0)
    args = build_parser().parse_args(["logs", "j", "--since", "99999999d"])
    assert args.since == 0.0  # before the epoch: every line


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NOSANA_TUI_CONFIG_DIR": str(tmp_path / "config"),
        "NOSANA_TUI_DATA_DIR": str(tmp_path / "data"),
    }


def test_a_port_past_65535_is_refused_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nosana_tui", "node", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "nosana-tui node serve: error: argument --port: '70000': give a TCP port from 1 to 65535"
    )


@pytest.fixture
def node_answering() -> Iterator[int]:
    """Something that answers as a node does to a client without the token (401)."""

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_detached_serve_beyond_loopback_warns_in_this_terminal(
    tmp_path: Path, node_answering: int
) -> None:
    serve = [sys.executable, "-m", "nosana_tui", "node", "serve", "--detach"]
    proc = subprocess.run(
        [*serve, "--host", "0.0.0.0", "--port", str(node_answering)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "warning: listening on 0.0.0.0, beyond this machine; the token is still required",
        f"a node already answers at http://0.0.0.0:{node_answering}",
    ]
