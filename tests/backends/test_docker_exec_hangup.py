"""A command run in an op (``exec``, the shell of ``s``) ends when the person who asked for it
goes away. The engine does not do it: a client killed with -9, with or without a TTY, left
``sleep`` running in the op for good (seen with ``nosana-tui exec`` and ``docker exec`` alike,
moby/moby#9098). The backend hangs the command up when the session closes, and signals only a
process it has checked is the command's, in the op's container. Real engine."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from nosana_tui.backends import docker as docker_backend
from nosana_tui.backends.docker import DockerBackend, _DockerExec
from tests.dockerenv import IMAGE, TEST_LABEL, ensure_docker

pytestmark = pytest.mark.anyio


@pytest.fixture
def container() -> Iterator[Any]:
    ensure_docker()
    client = docker.from_env()
    made = client.containers.run(
        IMAGE, ["sleep", "600"], detach=True, labels={TEST_LABEL: "exec-hangup"}
    )
    try:
        yield made
    finally:
        made.remove(force=True)
        client.close()


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every killpg the backend makes (passed on to the real one)."""
    sent: list[tuple[int, int]] = []
    real = os.killpg

    def record(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        real(pid, sig)

    monkeypatch.setattr(docker_backend.os, "killpg", record)
    return sent


def commands(container: Any) -> list[str]:
    """The container's processes, without the ``kill`` the backend may be running in it."""
    rows = [row[-1] for row in container.top()["Processes"]]
    return [cmd for cmd in rows if not cmd.startswith("kill ")]


async def start(container: Any, cmd: list[str], tty: bool, word: str) -> _DockerExec:
    session = await DockerBackend().exec(container.id, cmd, lambda _s, _d: None, tty=tty)
    assert isinstance(session, _DockerExec)
    for _ in range(50):
        if any(word in c for c in commands(container)):
            return session
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cmd} never started: {commands(container)}")


async def hang_up(session: _DockerExec, seconds: float) -> None:
    session.close()
    await asyncio.to_thread(session.hang_up.join, seconds)
    assert not session.hang_up.is_alive(), "the hang-up did not end"


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "no-tty"])
async def test_closing_a_session_hangs_up_its_command_and_its_children(
    container: Any, tty: bool, signals: list[tuple[int, int]]
) -> None:
    session = await start(container, ["sh", "-c", "sleep 771; echo never"], tty, "771")
    await hang_up(session, 5)
    assert commands(container) == ["sleep 600"]  # the shell and its child gone; the op's stays
    assert [sig for _, sig in signals] == [1]  # one SIGHUP to the command's group did it


async def test_a_command_that_ignores_the_hang_up_is_killed(
    container: Any, monkeypatch: pytest.MonkeyPatch, signals: list[tuple[int, int]]
) -> None:
    monkeypatch.setattr(docker_backend, "HANG_UP_GRACE", 1.0)
    session = await start(container, ["sh", "-c", "trap '' HUP; sleep 772"], False, "772")
    await hang_up(session, 5)
    assert commands(container) == ["sleep 600"]
    assert [sig for _, sig in signals] == [1, 9]  # SIGHUP ignored, SIGKILL a grace later


async def test_an_agent_that_may_not_signal_it_kills_it_inside_the_container(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent that is not root may not signal the op's processes: it runs the container's
    own ``kill`` on the command's process group instead."""

    def refused(_pid: int, _sig: int) -> None:
        raise PermissionError("not permitted")

    monkeypatch.setattr(docker_backend.os, "killpg", refused)
    session = await start(container, ["sh", "-c", "sleep 773; echo never"], True, "773")
    await hang_up(session, 8)
    assert commands(container) == ["sleep 600"]


async def test_a_command_that_ended_is_not_signalled(
    container: Any, signals: list[tuple[int, int]]
) -> None:
    session = await start(container, ["sh", "-c", "sleep 1; echo done 774"], False, "774")
    assert await session.exit_code() == 0
    await hang_up(session, 5)
    assert signals == []


async def test_a_pid_that_is_not_the_commands_is_never_signalled(
    container: Any, monkeypatch: pytest.MonkeyPatch, signals: list[tuple[int, int]]
) -> None:
    """As with an engine in a VM or on another machine, whose pids name other processes here:
    the engine's answer names a session leader on this machine, outside the container."""
    outsider = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        session = await start(container, ["sh", "-c", "sleep 775"], False, "775")
        real = session._api.exec_inspect
        monkeypatch.setattr(
            session._api, "exec_inspect", lambda i: {**real(i), "Pid": outsider.pid}
        )
        await hang_up(session, 5)
        assert signals == [] and outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()
