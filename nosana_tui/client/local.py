"""Reaching a node: which token goes to which node, and starting the local agent when none
answers.

The token rule lives here alone (:func:`token_for`); the CLI and the UI both ask it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from nosana_tui.config import (
    EXIT_AGENT_ALREADY_RUNS,
    Paths,
    is_loopback,
    local_node_url,
    plain_http_refusal,
)
from nosana_tui.sanitize import clean_text

if TYPE_CHECKING:
    from nosana_tui.client.node import NodeClient

# The client (httpx) and asyncio are imported where they are used: the one-shot path of `ps`
# and `logs` reads the token and the node's address from here without them (client.oneshot).

START_TIMEOUT = 20.0


def read_token(paths: Paths) -> str | None:
    try:
        return paths.token_file.read_text().strip() or None
    except OSError:
        return None


def is_local(url: str) -> bool:
    return is_loopback(url)


def _node_key(url: str) -> tuple[str, str, int | None, str]:
    """What names one node: scheme, host (``localhost`` as 127.0.0.1), port, path."""
    parsed = urlparse(url.strip())
    scheme = parsed.scheme.lower()
    host = (parsed.hostname or "").lower()
    try:
        port = parsed.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, "127.0.0.1" if host == "localhost" else host, port, parsed.path.rstrip("/")


def same_node(a: str, b: str) -> bool:
    return _node_key(a) == _node_key(b)


def is_local_agent(url: str) -> bool:
    """Whether URL is this user's own agent: the local node URL, on this machine."""
    return is_loopback(url) and same_node(url, local_node_url())


def token_for(paths: Paths, url: str, saved: str | None = None) -> str | None:
    """The token to send to the node at URL, or None: the one rule for it.

    The local agent (:func:`is_local_agent`) gets the token file and nothing else does. Another
    node gets ``saved`` (the token the UI holds for it), else its token in ``nodes.json``
    (matched by URL), else the ``token`` setting (``NOSANA_TUI_TOKEN``). A token never goes
    over plain http:// to a host off this machine unless the ``allow_http`` setting says so
    (``NOSANA_TUI_ALLOW_HTTP=1``): anyone on the way could read it.
    """
    if is_local_agent(url):
        return read_token(paths)
    from nosana_tui.client.node import NodeError
    from nosana_tui.client.nodes import load_nodes
    from nosana_tui.settings import load_settings  # pydantic-settings: not for `ps`

    settings = load_settings(paths.config_file)
    token = saved
    if not token:
        nodes, _problem = load_nodes(paths)  # the UI reports a broken file; here: no token
        token = next((n.token for n in nodes if n.token and same_node(n.url, url)), None)
    if not token and settings.token is not None:
        token = settings.token.get_secret_value()
    refused = plain_http_refusal(url, "this node's token", settings.allow_http) if token else None
    if refused is not None:
        raise NodeError(refused)
    return token


def start_agent(
    paths: Paths, url: str, gpus: str = "all", flags: dict[str, str | None] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``nosana-tui node serve`` detached from this terminal; its output goes to a log.
    FLAGS: settings given as ``node serve`` flags (name -> value; None: not given).
    SettingError, here and now, when a setting the agent would read cannot be used."""
    from nosana_tui.settings import flag_name, load_settings

    given = {name: value for name, value in (flags or {}).items() if value is not None}
    load_settings(paths.config_file, dict(given))  # the agent would exit on it, out of sight
    parsed = urlparse(url)
    # the data folder and the agent's log hold what jobs print: the owner's alone from creation
    paths.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = os.open(paths.data_dir / "agent.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if os.fstat(log).st_mode & 0o077:  # a log an older version made readable by others
        os.fchmod(log, 0o600)
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
        *(part for name, value in given.items() for part in (flag_name(name), value)),
    ]
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=os.environ.copy(),
        )
    finally:
        os.close(log)  # the child has its own copy


async def wait_for_agent(
    client: NodeClient, process: subprocess.Popen[bytes] | None, log: Path | None = None
) -> None:
    """Wait until the agent just started answers. If it exits, say why in its own words (the
    last lines of its log); if it exits because another agent already serves the data folder
    (one that was slow to answer), wait for that one instead."""
    import asyncio

    from nosana_tui.client.node import NodeError

    deadline = time.monotonic() + START_TIMEOUT
    other = False
    while time.monotonic() < deadline:
        if await client.alive():
            return
        if not other and process is not None and process.poll() is not None:
            if process.returncode != EXIT_AGENT_ALREADY_RUNS:
                raise NodeError(
                    f"the node agent exited with code {process.returncode}"
                    + (f": {_last_words(log)}" if log else "")
                )
            other = True  # another agent has the folder: it may answer yet
        await asyncio.sleep(0.1)
    if other:
        raise NodeError(
            f"another node agent holds the data folder but does not answer at {client.url}"
            + (f": {_last_words(log)}" if log else "")
        )
    raise NodeError(f"the node agent did not answer at {client.url} within {START_TIMEOUT:.0f} s")


def _last_words(log: Path) -> str:
    """The agent's last lines (what it printed before it exited), cleaned for the terminal."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()[-3:]
    except OSError:
        return f"see {log}"
    return clean_text(" / ".join(lines), keep_colour=False) or f"see {log}"


async def connect(
    paths: Paths, url: str | None = None, *, autostart: bool = True, say: object = None
) -> NodeClient:
    """A client of the node at ``url`` (default: the local agent, started if none answers)."""
    from nosana_tui.client.node import NodeClient, NodeError

    target = url or local_node_url()
    client = NodeClient(target, token_for(paths, target))
    if await client.alive():
        return client
    if not (autostart and url is None and is_local(target)):
        await client.close()
        raise NodeError(f"no node answers at {target}")
    from nosana_tui.settings import load_settings

    # every setting, before the agent is announced: one it could not use is told here, first
    # (a command that found its node answering read only the node's address: config.py)
    load_settings(paths.config_file)
    if callable(say):
        say(
            f"no node agent answers at {target}; starting one in the background "
            f"(log: {paths.data_dir / 'agent.log'})"
        )
    process = start_agent(paths, target)
    await wait_for_agent(client, process, paths.data_dir / "agent.log")
    await client.close()
    return NodeClient(target, token_for(paths, target))  # a first start writes the token


# --- the local agent's process: its pid file, and stopping it ------------------------------------


def agent_pid(paths: Paths, url: str) -> int | None:
    """The process id of the agent serving URL's port from this data folder, or None: no pid
    file, or one that names no running agent (left by a machine that went down, and the id
    reused since). The agent writes ``agent-<port>.pid`` before its port answers and removes it
    when it exits (``node serve``)."""
    port = urlparse(url).port or 5001
    try:
        pid = int(paths.agent_pid_file(port).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_agent(pid) else None


def _is_agent(pid: int) -> bool:
    """Whether PID runs, and (where ``/proc`` says) runs ``nosana-tui node serve``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: not this person's agent
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if stat[0] in ("Z", "X"):  # exited; its parent has not reaped it yet
            return False
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return True  # no /proc (macOS): the id is all there is to go by
    text = b" ".join(words)
    return b"nosana" in text and b"serve" in text


STOP_TIMEOUT = 30.0
"""Seconds ``node stop`` waits for the agent to exit: its shutdown is bounded (a few seconds for
its clients, the websockets and the database), jobs are left running."""


def stop_agent(paths: Paths, url: str, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the agent serving URL from this data folder, as Ctrl-C stops one in a terminal
    (SIGTERM: containers keep running, the next agent re-adopts them); its pid, or None when
    none runs. NodeError when it has not exited within TIMEOUT seconds."""
    import signal

    from nosana_tui.client.node import NodeError

    pid = agent_pid(paths, url)
    if pid is None:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_agent(pid):
            return pid
        time.sleep(0.05)
    raise NodeError(
        f"the node agent (pid {pid}) did not exit within {timeout:.0f} s of SIGTERM; "
        f"its log: {paths.data_dir / 'agent.log'}"
    )
