"""The real thing: a node agent process over loopback, driving the real Docker engine.

Each test module gets its own agent (own port, own config and data folders); each test submits
its own jobs and removes them. After the whole session, nothing our agents made may be left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobView
from nosana_tui.client.node import NodeClient
from tests.dockerenv import ensure_docker, leftovers

AGENT_ENV = {
    "NOSANA_TUI_HEALTH_INTERVAL": "0.5",
    "NOSANA_TUI_STOP_TIMEOUT": "2",
}


def agent_env(config_dir: Path, data_dir: Path, url: str) -> dict[str, str]:
    """The environment of one user's set-up: their folders, their node, fast test timings."""
    return {
        **os.environ,
        **AGENT_ENV,
        "NOSANA_TUI_CONFIG_DIR": str(config_dir),
        "NOSANA_TUI_DATA_DIR": str(data_dir),
        "NOSANA_TUI_NODE": url,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


AGENT_COMMAND = (sys.executable, "-m", "nosana_tui", "node", "serve")


@dataclass
class AgentProcess:
    url: str
    port: int
    config_dir: Path
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    args: tuple[str, ...] = ()  # more `node serve` flags, e.g. ("--auth", "nosana")

    @property
    def env(self) -> dict[str, str]:
        return agent_env(self.config_dir, self.data_dir, self.url)

    @property
    def token(self) -> str:
        return (self.config_dir / "token").read_text().strip()

    def start(self) -> None:
        log = open(self.data_dir / "agent-test.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*AGENT_COMMAND, "--port", str(self.port), *self.args],
            env=self.env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"agent exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"agent did not start: {self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(20)

    def log(self) -> str:
        path = self.data_dir / "agent-test.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self) -> NodeClient:
        return NodeClient(self.url, self.token)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    ensure_docker(registry=True)
    before = leftovers()
    yield
    # Every test removes what it made; the agents' own clean-up must leave nothing behind.
    after = leftovers()
    new = {kind: sorted(set(after[kind]) - set(before[kind])) for kind in after}
    assert not any(new.values()), f"left behind by the tests: {new}"


@pytest.fixture(scope="module")
def agent(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    with started_agent(tmp_path_factory.mktemp("agent")) as proc:
        yield proc


@contextlib.contextmanager
def started_agent(root: Path) -> Iterator[AgentProcess]:
    """An agent process on a free port with its folders under ROOT (and the environment of
    this process); on the way out, its jobs removed and the agent stopped."""
    port = free_port()
    proc = AgentProcess(f"http://127.0.0.1:{port}", port, root / "config", root / "data")
    proc.data_dir.mkdir(parents=True)
    proc.start()
    try:
        yield proc
    finally:
        try:
            asyncio.run(_remove_all(proc))
        finally:
            proc.stop()


async def _remove_all(proc: AgentProcess) -> None:
    async with proc.client() as client:
        for job in await client.jobs():
            await client.remove(job.id)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(agent: AgentProcess) -> AsyncIterator[NodeClient]:
    async with agent.client() as c:
        yield c


async def wait_for(
    client: NodeClient, job_id: str, until: Callable[[JobView], bool], timeout: float = 30
) -> JobView:
    try:
        return await asyncio.wait_for(client.wait(job_id, until), timeout)
    except TimeoutError:
        view = await client.job(job_id)
        raise AssertionError(f"timed out; job is {view.model_dump_json(indent=1)}") from None


def job(*ops: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": "0.1", "type": "container", "ops": list(ops), **top}


def run_op(op_id: str, cmd: str, group: str | None = None, **extra: Any) -> dict[str, Any]:
    execution = extra.pop("execution", {})
    if group:
        execution["group"] = group
    op: dict[str, Any] = {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox:latest", "cmd": cmd, **extra.pop("args", {})},
        **extra,
    }
    if execution:
        op["execution"] = execution
    return op


def http_check(continuous: bool = True, path: str = "/") -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "method": "GET",
        "expected_status": 200,
        "continuous": continuous,
    }


async def system_log(client: NodeClient, job_id: str) -> list[str]:
    return [e.text async for e in client.logs(job_id, "system") if not isinstance(e, int)]


async def op_log(client: NodeClient, job_id: str, op_id: str) -> list[str]:
    return [e.text async for e in client.logs(job_id, op_id) if not isinstance(e, int)]
