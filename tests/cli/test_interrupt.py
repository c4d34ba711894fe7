"""Ctrl-C in ``logs -f``: the lines already received are on stdout, the exit code is 130 (the
README's "interrupted"), and no traceback. A stand-in node streams two lines and then nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT


class _Node(BaseHTTPRequestHandler):
    """``GET /`` answers; ``GET /api/jobs/<job>/logs`` sends two lines and holds the stream."""

    release = threading.Event()

    def do_GET(self) -> None:
        if not self.path.startswith("/api/jobs/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in (b"web | first line\n", b"web | second line\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
        self.release.wait(30)  # a quiet, followed op

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Node.release.set()
        server.shutdown()


def test_ctrl_c_in_logs_follow_keeps_the_lines_and_exits_130(node: str, tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    with out.open("wb") as sink:  # a file, not a pipe: stdout is block-buffered, as when piped
        proc = subprocess.Popen(
            [sys.executable, "-m", "nosana_tui", "logs", "job1", "-f", "--node", node],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": ""},
        )
        deadline = time.monotonic() + 60
        while "second line" not in out.read_text() and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert "second line" in out.read_text(), proc.poll()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert out.read_text().splitlines() == ["web | first line", "web | second line"]
    assert b"Traceback" not in err
