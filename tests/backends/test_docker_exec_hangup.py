"""A command run in an op (``exec``, the shell of ``s``) ends when the person who asked for it
goes away. The engine does not do it: a client killed with -9, with or without a TTY, left
``sleep`` running in the op for good (seen with ``nosana-tui exec`` and ``docker exec`` alike,
moby/moby#9098). The backend hangs the command up when the session closes. Real engine."""

from __future__ import annotations

import asyncio
import time
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


def commands(container: Any) -> list[str]:
    return [row[-1] for row in container.top()["Processes"]]


def wait_gone(container: Any, word: str, seconds: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if not any(word in cmd for cmd in commands(container)):
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"{word} still runs after {seconds} s: {commands(container)}")


async def start(container: Any, cmd: list[str], tty: bool, word: str) -> _DockerExec:
    session = await DockerBackend().exec(container.id, cmd, lambda _s, _d: None, tty=tty)
    assert isinstance(session, _DockerExec)
    for _ in range(50):
        if any(word in c for c in commands(container)):
            return session
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cmd} never started: {commands(container)}")


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "no-tty"])
async def test_closing_a_session_hangs_up_its_command_and_its_children(
    container: Any, tty: bool
) -> None:
    session = await start(container, ["sh", "-c", "sleep 771; echo never"], tty, "771")
    session.close()
    assert wait_gone(container, "771", 3) < 3  # the shell and its child, by SIGHUP
    assert commands(container) == ["sleep 600"]  # the op's own process is untouched


async def test_a_command_that_ignores_the_hang_up_is_killed(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docker_backend, "HANG_UP_GRACE", 1.0)
    session = await start(container, ["sh", "-c", "trap '' HUP; sleep 772"], tty=False, word="772")
    session.close()
    assert wait_gone(container, "772", 4) >= 0.9  # SIGHUP ignored, SIGKILL a grace later


async def test_an_agent_that_may_not_signal_it_kills_it_inside_the_container(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent that is not root may not signal the op's processes: it runs the container's
    own ``kill`` on the command's process group instead."""

    def refused(_pid: int, _sig: int) -> None:
        raise PermissionError("not permitted")

    monkeypatch.setattr(docker_backend.os, "killpg", refused)
    session = await start(container, ["sh", "-c", "sleep 773; echo never"], tty=True, word="773")
    session.close()
    wait_gone(container, "773", 3)
    assert commands(container) == ["sleep 600"]


async def test_a_command_that_ended_is_not_signalled(
    container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(docker_backend.os, "killpg", lambda pid, sig: sent.append(sig))
    session = await start(container, ["sh", "-c", "sleep 1; echo done 774"], tty=False, word="774")
    assert await session.exit_code() == 0
    session.close()
    await asyncio.sleep(0.5)  # the hang-up thread has looked by now
    assert sent == []
