"""``nosana-tui node serve``: run the agent in this process (or detached) on a loopback address.

The token is made on first start and written readable by the owner alone; clients read it from
the same place. Listening on anything but loopback has to be asked for (``--host``), and the
token is required either way. ``--auth nosana``: a job's routes take the signature of its poster
instead, as a Nosana node's do (``access``).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import uvicorn

from nosana_tui.config import EXIT_AGENT_ALREADY_RUNS, Paths
from nosana_tui.engine.backend import BackendError
from nosana_tui.engine.runner import Timing
from nosana_tui.node.access import AUTH_MODES, AuthMode
from nosana_tui.node.agent import Agent
from nosana_tui.node.app import create_app
from nosana_tui.node.gpus import GpuMonitor
from nosana_tui.node.sockets import MAX_HANDSHAKE
from nosana_tui.settings import ENV_ONLY, SettingError, Settings, load_settings, shown_value


def ensure_token(path: Path) -> str:
    """The agent's token: read it, or make one readable by the owner alone."""
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def timing_of(settings: Settings) -> Timing:
    """The engine's timing from the settings: the engine reads none itself."""
    return Timing(continuous_interval=settings.health_interval, stop_timeout=settings.stop_timeout)


class AgentAlreadyRuns(Exception):
    """Another agent holds this data folder; the message says which and where."""


LOCK_WAIT = 5.0
"""How long a new agent waits for the folder's lock: an agent that was just told to stop
releases it within its bounded shutdown."""

SHUTDOWN_GRACE = 3.0
"""Seconds a shutting-down agent gives its clients (log followers, job streams, the UI) after
telling them, before it cuts them; jobs keep running either way."""


SOCKETS_GRACE = 1.0
"""Seconds the websockets get to close themselves when the agent shuts down."""


class FolderLock:
    """One agent per data folder: an exclusive ``flock`` on ``agent.lock``, taken before the
    agent reads or changes anything there and released by the kernel when the process ends,
    however it ends (kill -9 included). The file says who holds it, for the message a second
    agent prints."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, owner: str, wait: float = LOCK_WAIT) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise AgentAlreadyRuns(
                        f"another node agent already serves {self.path.parent} "
                        f"({holder or 'its process id is not known'}); use it, or stop it "
                        "first (one agent per data folder: NOSANA_TUI_DATA_DIR picks another)"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any job is resumed: an agent that cannot have its
    port must not touch the jobs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    paths: Paths,
    host: str,
    port: int,
    gpu_ids: list[int] | None = None,
    flags: dict[str, str | None] | None = None,
    auth: str = "token",
) -> int:
    """Run the agent until SIGINT/SIGTERM; containers keep running after it exits. AUTH:
    ``token`` (the bearer token) or ``nosana`` (a job's poster signs, as for a Nosana node).

    Order matters: the data folder (0700, every file in it 0600 from creation) and its lock
    first, then the port, and only then are jobs resumed (in the app's start-up)."""
    if auth not in AUTH_MODES:
        print(
            f"nosana-tui node: --auth {auth}: give one of {', '.join(AUTH_MODES)}", file=sys.stderr
        )
        return 2
    mode: AuthMode = "nosana" if auth == "nosana" else "token"
    try:
        settings = load_settings(paths.config_file, dict(flags or {}))
    except SettingError as err:
        print(f"nosana-tui node: {err}", file=sys.stderr)
        return 2
    os.umask(0o077)  # the database, its WAL and every log this process writes: owner only
    paths.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(paths.data_dir)
    lock = FolderLock(paths.data_dir / "agent.lock")
    try:
        lock.acquire(f"pid {os.getpid()}, http://{host}:{port}")
    except AgentAlreadyRuns as err:
        print(f"nosana-tui node: {err}", file=sys.stderr)
        return EXIT_AGENT_ALREADY_RUNS
    try:
        code = _serve_locked(paths, host, port, gpu_ids, settings, mode)
    except SystemExit as stop:  # SIGTERM, raised again by uvicorn once it has shut down
        code = stop.code if isinstance(stop.code, int) else 0
    finally:
        lock.release()
    exit_now_if_threads_linger(code)
    return code


def _serve_locked(
    paths: Paths,
    host: str,
    port: int,
    gpu_ids: list[int] | None,
    settings: Settings,
    auth: AuthMode = "token",
) -> int:
    from nosana_tui.backends.docker import DockerBackend
    from nosana_tui.backends.downloads import Downloads, Endpoints

    token = ensure_token(paths.token_file)
    pid_file = paths.agent_pid_file(port)
    pid = str(os.getpid())
    pid_file.write_text(pid)  # before the port answers: whoever reaches it may look for this
    # uvicorn shuts down gracefully on SIGTERM, then raises SIGTERM again under the handler it
    # found: with the default one the process would die there, before the pid file is removed.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        try:
            sock = bind(host, port)
            backend = DockerBackend(agent_id=f"{host}:{port}", gpu_ids=gpu_ids)
            agent = Agent(
                paths.data_dir,
                backend,
                timing=timing_of(settings),
                log_retention=settings.log_retention,
                node_id=f"local-{port}",
                gpu_monitor=GpuMonitor(ids=gpu_ids),
                fetcher=Downloads(
                    Endpoints(
                        s3=settings.s3_endpoint,
                        s3_region=settings.s3_region,
                        hf=settings.hf_endpoint,
                        ollama=settings.ollama_registry,
                    )
                ),
            )
        except (OSError, BackendError) as err:  # (the engine, the port, the data folder)
            print(f"nosana-tui node: {err}", file=sys.stderr)
            return 1
        config = uvicorn.Config(
            create_app(agent, token, auth=auth),
            log_level="warning",
            access_log=False,
            # the websockets (/flog, /log): a client sends one handshake, nothing bigger
            ws="websockets-sansio",
            ws_max_size=MAX_HANDSHAKE,
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
        )
        print(
            f"nosana-tui node agent on http://{host}:{port} (data in {paths.data_dir})", flush=True
        )
        if auth == "nosana":
            print("auth: nosana (a job's routes take its poster's signature)", flush=True)
        chosen = [
            f"{name} {shown_value(settings, name)} ({settings.source(name)})"
            for name in Settings.model_fields
            if settings.source(name) != "default" and name not in ENV_ONLY  # (the folders: above)
        ]
        if chosen:
            print(f"settings: {', '.join(chosen)}", flush=True)
        _run_bounded(_Server(config, agent).serve(sockets=[sock]))
    finally:
        _remove_if_mine(pid_file, pid)
        signal.signal(signal.SIGTERM, previous)
    return 0


def _run_bounded(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run``, without its last step: waiting for every engine call still running in
    a thread (a pull can take minutes). The shutdown is bounded; what those calls would have
    answered is not needed (the containers run on, and the next agent looks at them)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()  # the executor is shut down without waiting


def exit_now_if_threads_linger(code: int) -> None:
    """Python waits for the executor's threads at exit (a pull in progress): end the process
    now instead, once everything of ours is written."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class _Server(uvicorn.Server):
    """uvicorn's server, which tells the agent first when it shuts down, so that every stream
    (``logs -f``, a job's state stream) ends at once instead of holding the shutdown open."""

    def __init__(self, config: uvicorn.Config, agent: Agent) -> None:
        super().__init__(config)
        self.agent = agent

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.agent.begin_shutdown()
        # uvicorn closes websockets first, with 1012 ("restart"): let ours say goodbye themselves
        # (1001, "shutting down") in the moment they take to notice
        deadline = time.monotonic() + SOCKETS_GRACE
        while self.agent.open_sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await super().shutdown(sockets)


def _tighten(data_dir: Path) -> None:
    """A data folder made before this version (or by hand) may be readable by others, with a
    database that holds env values in clear: make it and the agent's files in it (``agent*``)
    the owner's alone, and say so. New files are never loose in the first place (the umask)."""
    own = [data_dir, *(p for p in data_dir.iterdir() if p.name.startswith("agent"))]
    loose = [p for p in own if p.stat().st_mode & 0o077]
    for path in loose:
        path.chmod(0o700 if path.is_dir() else 0o600)
    if loose:
        print(
            f"nosana-tui node: made {len(loose)} path(s) in {data_dir} readable by you alone",
            file=sys.stderr,
        )


def _remove_if_mine(pid_file: Path, pid: str) -> None:
    """Remove the pid file only if it still names this process: a later agent's is not ours."""
    try:
        if pid_file.read_text().strip() == pid:
            pid_file.unlink()
    except OSError:
        pass


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)
