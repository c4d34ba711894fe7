"""Reaching the local agent: its address and token, and starting it when none answers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from urllib.parse import urlparse

from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.config import Paths, is_loopback, local_node_url

START_TIMEOUT = 20.0


def read_token(paths: Paths) -> str | None:
    try:
        return paths.token_file.read_text().strip() or None
    except OSError:
        return None


def is_local(url: str) -> bool:
    return is_loopback(url)


def start_agent(paths: Paths, url: str, gpus: str = "all") -> subprocess.Popen[bytes]:
    """Start ``nosana-tui node serve`` detached from this terminal; its output goes to a log."""
    parsed = urlparse(url)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    log = open(paths.data_dir / "agent.log", "ab")  # noqa: SIM115 - handed to the child
    command = [
        sys.executable,
        "-m",
        "nosana_tui",
        "node",
        "serve",
        "--host",
        parsed.hostname or "127.0.0.1",
        "--port",
        str(parsed.port or 5001),
        "--gpus",
        gpus,
    ]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        env=os.environ.copy(),
    )


async def wait_for_agent(client: NodeClient, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if await client.alive():
            return
        if process is not None and process.poll() is not None:
            raise NodeError(f"the node agent exited with code {process.returncode}; see its log")
        await asyncio.sleep(0.1)
    raise NodeError(f"the node agent did not answer at {client.url} within {START_TIMEOUT:.0f} s")


async def connect(
    paths: Paths, url: str | None = None, *, autostart: bool = True, say: object = None
) -> NodeClient:
    """A client of the node at ``url`` (default: the local agent, started if none answers)."""
    target = url or local_node_url()
    client = NodeClient(target, read_token(paths))
    if await client.alive():
        return client
    if not (autostart and url is None and is_local(target)):
        await client.close()
        raise NodeError(f"no node answers at {target}")
    if callable(say):
        say(
            f"no node agent answers at {target}; starting one in the background "
            f"(log: {paths.data_dir / 'agent.log'})"
        )
    process = start_agent(paths, target)
    await wait_for_agent(client, process)
    await client.close()
    return NodeClient(target, read_token(paths))
