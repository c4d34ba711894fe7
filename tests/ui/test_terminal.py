"""``nosana-tui`` in a real terminal (a pseudo-terminal at 80x24), as a user over SSH gets it: it
starts the local agent when none answers, draws, quits on ``q``, and when the SSH connection
drops (SIGHUP, the terminal gone) it exits at once without a traceback while the agent, in a
session of its own, keeps running with the user's jobs."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
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
        # as a login shell starts it: a test run under nohup would pass on SIGHUP ignored, and
        # the UI would then (rightly) outlive the hang-up test's SIGHUP
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
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


# --- the log pane shows every line (issue 13) ----------------------------------------------------

LOG_ROWS = range(14, 23)  # the log pane's rows at 80x24, under its status line
FAILING_JOB = {
    "version": "0.1",
    "type": "container",
    "ops": [
        {
            "type": "container/run",
            "id": "boom",
            "args": {
                "image": "busybox:latest",
                "cmd": "echo step 1; echo step 2; echo step 3; "
                "echo 'error: the input is broken' >&2; echo 'error: giving up' >&2; exit 3",
            },
        }
    ],
}


def _in_order(rows: list[str], lines: list[str]) -> bool:
    """Each of LINES on its own row of ROWS, in order (a line wider than the screen: its start)."""
    at = 0
    for line in lines:
        while at < len(rows) and line[:70] not in rows[at]:
            at += 1
        if at == len(rows):
            return False
        at += 1
    return True


def _read_until_lines(terminal: Terminal, lines: list[str], timeout: float = 15) -> None:
    """Until every one of LINES is in the log pane, in order."""
    deadline = time.monotonic() + timeout
    while not _in_order([terminal.rows[y] for y in LOG_ROWS], lines):
        if time.monotonic() > deadline:
            shown = "\n".join(terminal.rows)
            raise AssertionError(f"not every line of {lines} is shown; the screen:\n{shown}")
        if select.select([terminal.fd], [], [], 0.05)[0]:
            terminal._read()


async def _run_and_read(port: int, token: str) -> list[tuple[str, list[str], list[str]]]:
    """busybox-hello and a failing op run to their end; for each, its id, its op's log and its
    system log as the node has them."""
    from nosana_tui.client.node import NodeClient

    hello = json.loads(
        (Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json").read_text()
    )
    done: list[tuple[str, list[str], list[str]]] = []
    async with NodeClient(f"http://127.0.0.1:{port}", token) as client:
        for name, definition, op in (
            ("busybox-hello", hello, "hello"),
            ("failing", FAILING_JOB, "boom"),
        ):
            view = await client.submit(definition, name=name)
            await asyncio.wait_for(client.wait(view.id, lambda v: v.status.terminal), 60)
            op_lines = [e.text async for e in client.logs(view.id, op) if not isinstance(e, int)]
            system = [
                e.text async for e in client.logs(view.id, "system") if not isinstance(e, int)
            ]
            done.append((view.id, op_lines, system))
    return done


async def _remove(port: int, token: str, job_ids: list[str]) -> None:
    from nosana_tui.client.node import NodeClient

    async with NodeClient(f"http://127.0.0.1:{port}", token) as client:
        for job_id in job_ids:
            await client.remove(job_id)


def test_every_log_line_of_a_finished_and_a_failed_op_is_on_screen(
    docker_engine: None, terminal: Terminal, tmp_path: Path
) -> None:
    """In a real terminal, against the real agent and Docker: the system log and the op's log
    of busybox-hello (6 lines) and of an op that fails (its error lines last) are on screen,
    every line, the last of each stream included."""
    terminal.read_until("online", timeout=40)
    token = (tmp_path / "config" / "token").read_text().strip()
    jobs = asyncio.run(_run_and_read(terminal.port, token))
    try:
        (_, hello_lines, _), (boom_id, boom_lines, _) = jobs
        assert len(hello_lines) == 6 and "error: giving up" in boom_lines, jobs
        os.write(terminal.fd, b"2")
        terminal.read_until(boom_id)
        # the newest job first: the failing one, then (↓) busybox-hello
        for down, (job_id, op_lines, system) in enumerate(reversed(jobs)):
            os.write(terminal.fd, b"\x1b[B" * down + b"\r")  # (↓ to the job, Enter)
            terminal.read_until(f"{job_id} · system")
            _read_until_lines(terminal, [f"system {line}" for line in system])
            os.write(terminal.fd, b"l")
            terminal.read_until(f"{job_id} · {'boom' if down == 0 else 'hello'}")
            _read_until_lines(terminal, op_lines)
            os.write(terminal.fd, b"\x1b")
            time.sleep(0.2)  # (Escape is told from a sequence's start by a pause)
            terminal.read_until("/ Filter")
    finally:
        asyncio.run(_remove(terminal.port, token, [job_id for job_id, _, _ in jobs]))
    os.write(terminal.fd, b"q")
    assert os.WIFEXITED(terminal.wait_exit(10))
    assert b"Traceback" not in terminal.output
