"""Each op's use of the machine (``/job/{job}/stats``, ``/stats/stream``, ``nosana-tui stats``) and
a command in a running op (the ``/terminal`` websocket, ``nosana-tui exec``), on a real agent
over the real Docker engine (issue 13)."""

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
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator

import httpx
import pyte
import pytest

from nosana_tui.api.models import JobView, OpStatus, TaskStat
from nosana_tui.client.node import NodeClient, NodeError, job_done
from tests.node.conftest import AgentProcess, job, run_op, wait_for

pytestmark = pytest.mark.anyio

BUSY = "while :; do :; done"  # a busy op: one CPU at full use


def _running(*ops: str) -> object:
    def check(view: JobView) -> bool:
        return all(view.op(o).status is OpStatus.RUNNING for o in ops)

    return check


@pytest.fixture
async def busy(client: NodeClient) -> AsyncIterator[JobView]:
    """A job whose op ``busy`` spins and whose op ``idle`` sleeps, both running; ``done`` ends
    at once (one stage: the three start together)."""
    view = await client.submit(
        job(
            run_op("busy", BUSY, "g"),
            run_op("idle", "sleep 300", "g"),
            run_op("done", "echo over", "g"),
        )
    )

    def ready(v: JobView) -> bool:
        return _running("busy", "idle")(v) and v.op("done").status is OpStatus.FINISHED  # type: ignore[operator]

    try:
        yield await wait_for(client, view.id, ready)
    finally:
        with contextlib.suppress(NodeError):
            await client.remove(view.id)


def cli(
    agent: AgentProcess, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        env=agent.env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )


# --- stats ---------------------------------------------------------------------------------------


async def test_stats_of_a_busy_op_show_cpu_and_memory(client: NodeClient, busy: JobView) -> None:
    stats = {s.op_id: s for s in await client.stats(busy.id)}
    assert set(stats) == {"busy", "idle"}  # running ops only
    spinning = stats["busy"]
    assert spinning.cpu.cpu_percent > 20, spinning
    assert spinning.memory.memory_usage > 0 and spinning.memory.memory_limit > 0
    assert 0 < spinning.memory.memory_percent < 100
    assert spinning.network.received >= 0 and spinning.disk.read >= 0
    assert stats["idle"].cpu.cpu_percent < spinning.cpu.cpu_percent
    assert abs(spinning.timestamp / 1000 - time.time()) < 30


async def test_the_stats_route_answers_as_a_nosana_node(agent: AgentProcess, busy: JobView) -> None:
    """``TaskStat[]``: ``{opId, timestamp, cpu{cpu_percent}, memory{memory_usage, memory_limit,
    memory_percent}, disk{read, write}, network{received, sent}}``; a job prefix is taken."""
    async with httpx.AsyncClient(base_url=agent.url) as http:
        headers = {"Authorization": f"Bearer {agent.token}"}
        answer = await http.get(f"/job/{busy.id[:6]}/stats", headers=headers, timeout=30)
        assert answer.status_code == 200
        first = next(s for s in answer.json() if s["opId"] == "busy")
        assert set(first) == {"opId", "timestamp", "cpu", "memory", "disk", "network"}
        assert set(first["memory"]) == {"memory_usage", "memory_limit", "memory_percent"}
        assert set(first["network"]) == {"received", "sent"}
        assert set(first["disk"]) == {"read", "write"}
        assert (await http.get(f"/job/{busy.id}/stats")).status_code == 401
        refused = await http.get(f"/job/{busy.id}/stats/stream", params={"interval": 0})
        assert refused.status_code == 401  # the token first
        bad = await http.get(
            f"/job/{busy.id}/stats/stream", params={"interval": 0}, headers=headers
        )
        assert bad.status_code == 400 and "interval" in bad.json()["error"]
        missing = await http.get("/job/nosuchjob/stats", headers=headers)
        assert missing.status_code == 404


async def test_the_stats_stream_sends_samples_and_ends_with_the_job(
    client: NodeClient, busy: JobView
) -> None:
    frames: list[list[TaskStat]] = []

    async def read() -> None:
        async for stats in client.stats_stream(busy.id, interval=1):
            frames.append(stats)
            if len(frames) == 2:
                await client.stop_job(busy.id)

    await asyncio.wait_for(read(), 60)  # it ends by itself once the job has ended
    assert len(frames) >= 2
    first = {s.op_id: s for s in frames[0]}
    assert first["busy"].cpu.cpu_percent > 20 and first["busy"].memory.memory_usage > 0
    assert frames[1][0].timestamp >= frames[0][0].timestamp
    assert job_done(await client.job(busy.id))


async def test_stats_on_the_command_line(agent: AgentProcess, busy: JobView) -> None:
    table = cli(agent, "stats", busy.id[:6])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["OP", "CPU", "MEM"]
    assert any(line.startswith("busy ") and "%" in line for line in lines), lines
    data = cli(agent, "stats", busy.id, "--json")
    assert data.returncode == 0, data.stderr
    parsed = json.loads(data.stdout)
    assert {s["opId"] for s in parsed} == {"busy", "idle"}
    assert next(s for s in parsed if s["opId"] == "busy")["cpu"]["cpu_percent"] > 0
    follow = subprocess.Popen(
        [sys.executable, "-m", "nosana_tui", "stats", busy.id, "-f", "--json", "--interval", "1"],
        env=agent.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    try:
        assert follow.stdout is not None
        frames = [json.loads(follow.stdout.readline()) for _ in range(2)]  # a line a frame
        assert all({s["opId"] for s in frame} == {"busy", "idle"} for frame in frames)
    finally:
        follow.kill()
        follow.wait()


# --- exec ----------------------------------------------------------------------------------------


async def test_exec_runs_a_command_and_returns_its_exit_code(
    agent: AgentProcess, busy: JobView
) -> None:
    hi = cli(agent, "exec", busy.id, "idle", "--", "echo", "hi")
    assert (hi.returncode, hi.stdout, hi.stderr) == (0, b"hi\n", b"")
    seven = cli(agent, "exec", busy.id[:6], "idle", "--", "sh", "-c", "exit 7")
    assert seven.returncode == 7, seven.stderr
    both = cli(agent, "exec", busy.id, "idle", "--", "sh", "-c", "echo out; echo err >&2")
    assert (both.stdout, both.stderr) == (b"out\n", b"err\n")
    piped = cli(agent, "exec", busy.id, "idle", "--", "cat", stdin=b"line 1\nline 2\n")
    assert (piped.returncode, piped.stdout) == (0, b"line 1\nline 2\n")
    missing = cli(agent, "exec", busy.id, "idle", "--", "no-such-command")
    assert missing.returncode == 126 and b"no-such-command" in missing.stdout


async def test_exec_in_an_op_that_does_not_run_is_refused(
    agent: AgentProcess, busy: JobView
) -> None:
    ended = cli(agent, "exec", busy.id, "done", "--", "echo", "hi")
    assert ended.returncode == 125 and ended.stdout == b""
    assert b"op done of job" in ended.stderr and b"finished, not running" in ended.stderr
    unknown = cli(agent, "exec", busy.id, "nope")
    assert (
        unknown.returncode == 125 and b"has no op 'nope' (ops: busy, idle, done)" in unknown.stderr
    )
    no_job = cli(agent, "exec", "ffffffffffff", "busy")
    assert no_job.returncode == 125 and b"no job" in no_job.stderr


async def test_the_terminal_socket_refuses_an_op_that_does_not_run_and_a_missing_token(
    agent: AgentProcess, client: NodeClient, busy: JobView
) -> None:
    """The agent's own checks, whatever the client looked at first."""
    with pytest.raises(NodeError) as ended:
        async with client.terminal(busy.id, "done", cmd=["echo", "hi"], tty=False) as session:
            async for _ in session.output():
                pass
    assert ended.value.status == 409 and "done is finished, not running" in str(ended.value)
    for token in (None, "wrong"):
        async with NodeClient(agent.url, token) as stranger:
            with pytest.raises(NodeError) as refused:
                async with stranger.terminal(busy.id, "idle", cmd=["echo", "hi"]) as session:
                    async for _ in session.output():
                        pass
            assert refused.value.status == 401 and "Unauthorized" in str(refused.value)
    unknown = cli(agent, "exec", busy.id, "idle", "--", "echo", "hi")
    assert unknown.returncode == 0  # (the right token still works)


async def test_a_session_takes_stdin_as_text_messages_and_resizes(
    client: NodeClient, busy: JobView
) -> None:
    async with client.terminal(busy.id, "idle", cols=100, rows=30) as session:
        await session.send(b"stty size; exit 4\n")
        out = b"".join([data async for _stream, data in session.output()])
    assert b"30 100" in out and session.exit_code == 4


# --- exec in a real terminal ---------------------------------------------------------------------


async def test_an_interactive_shell_in_a_real_terminal(agent: AgentProcess, busy: JobView) -> None:
    """``nosana-tui exec JOB OP`` in a pseudo-terminal: a shell, in raw mode (keys go to it),
    resized with the window, and the shell's exit code is the command's."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**agent.env, "TERM": "xterm-256color"}
        os.execve(
            sys.executable, [sys.executable, "-m", "nosana_tui", "exec", busy.id, "idle"], env
        )
    screen = pyte.Screen(80, 24)
    stream = pyte.ByteStream(screen)

    def shown() -> str:
        return "\n".join(row.rstrip() for row in screen.display)

    def read_until(text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in shown():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown()}")
            if select.select([fd], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    stream.feed(os.read(fd, 65536))

    try:
        read_until("#")  # root's prompt in busybox
        os.write(fd, b"echo $((6*7))\r")
        read_until("\n42")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)  # the resize travels to the engine while nothing else is typed
        os.write(fd, b"stty size\r")
        read_until("33 111")
        os.write(fd, b"exit 3\r")
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, shown()
            if select.select([fd], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    stream.feed(os.read(fd, 65536))
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, shown()
        assert "Traceback" not in shown()
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.close(fd)
