"""``nosana-tui`` in a real terminal (a pseudo-terminal at 80x24), as a user over SSH gets it: it
starts the local agent when none answers, draws, quits on ``q``, and when the SSH connection
drops (SIGHUP, the terminal gone) it exits at once without a traceback while the agent, in a
session of its own, keeps running with the user's jobs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyte
import pytest

from tests.node.conftest import free_port

ROWS, COLUMNS = 24, 80


@dataclass
class Terminal:
    """The UI's side of a pseudo-terminal, and what a VT100-style terminal shows of its output
    (pyte emulates the screen: cursor moves, colours and the alternate screen)."""

    pid: int
    fd: int
    port: int
    output: bytearray
    screen: pyte.Screen
    stream: pyte.ByteStream

    def _read(self) -> None:
        data = os.read(self.fd, 65536)
        self.output += data
        self.stream.feed(data)

    @property
    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def read_until(self, text: str, timeout: float = 30) -> None:
        """Until TEXT is on the screen."""
        deadline = time.monotonic() + timeout
        while not any(text in row for row in self.rows):
            if time.monotonic() > deadline:
                shown = "\n".join(self.rows)
                raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown}")
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self._read()
                except OSError:  # the UI closed its side
                    return

    def wait_exit(self, timeout: float) -> int:
        """The UI's wait status once it has exited, with everything it wrote read; fails if
        it is still running after TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._drain()
                return status
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                with contextlib.suppress(OSError):
                    self._read()
        raise AssertionError(f"nosana-tui still runs {timeout} s later")

    def _drain(self) -> None:
        """Read what is left (a traceback printed on the way out would be here)."""
        while select.select([self.fd], [], [], 0.2)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the last writer closed: nothing more
                return
            if not data:
                return
            self.output += data
            self.stream.feed(data)


def _agent_pids(port: int) -> list[int]:
    """The agents serving PORT (the UI starts them detached: they are not its children)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and str(port).encode() in args and b"nosana_tui" in args:
            found.append(int(cmdline.parent.name))
    return found


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    port = free_port()
    env = {
        **os.environ,
        "NOSANA_TUI_CONFIG_DIR": str(tmp_path / "config"),
        "NOSANA_TUI_DATA_DIR": str(tmp_path / "data"),
        "NOSANA_TUI_NODE": f"http://127.0.0.1:{port}",
        "TERM": "xterm-256color",
    }
    env.pop("TEXTUAL", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        os.execve(sys.executable, [sys.executable, "-m", "nosana_tui"], env)
    screen = pyte.Screen(COLUMNS, ROWS)
    term = Terminal(pid, fd, port, bytearray(), screen, pyte.ByteStream(screen))
    try:
        yield term
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        with contextlib.suppress(OSError):
            os.close(term.fd)
        for agent in _agent_pids(port):
            os.kill(agent, signal.SIGTERM)


def _agent_answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/node/info", timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def test_it_starts_the_agent_draws_at_80x24_and_quits_on_q(terminal: Terminal) -> None:
    terminal.read_until("online", timeout=40)  # the node bar: the agent it started answers
    terminal.read_until("q Quit")
    rows = terminal.rows
    assert "nosana-tui — [1 Templates]  2 Jobs  3 Nodes" in rows[0], rows
    assert rows[1].startswith(f" node local http://127.0.0.1:{terminal.port}"), rows
    assert "/ Search" in rows[-1] and "? Help" in rows[-1] and "q Quit" in rows[-1], rows
    assert _agent_pids(terminal.port)
    os.write(terminal.fd, b"3")  # keyboard only: to Nodes, and the GPU panel's line
    terminal.read_until("a Add")  # the Nodes footer (a frame may arrive in more than one write)
    terminal.read_until("GPUs · local")
    os.write(terminal.fd, b"q")
    status = terminal.wait_exit(10)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert b"Traceback" not in terminal.output


def test_a_hang_up_ends_the_ui_at_once_and_the_agent_keeps_running(terminal: Terminal) -> None:
    """SIGHUP is what the kernel sends when the SSH session drops. The pseudo-terminal stays
    open here so that anything the UI prints on the way out (a traceback) is read."""
    terminal.read_until("online", timeout=40)
    agents = _agent_pids(terminal.port)
    assert agents
    os.kill(terminal.pid, signal.SIGHUP)
    status = terminal.wait_exit(5)
    assert os.WIFEXITED(status) or os.WTERMSIG(status) == signal.SIGHUP
    assert b"Traceback" not in terminal.output and b"Error" not in terminal.output[-4000:]
    assert _agent_pids(terminal.port) == agents and _agent_answers(terminal.port)
