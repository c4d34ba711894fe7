"""``nosana-tui node serve``: run the agent in this process (or detached) on a loopback address.

The token is made on first start and written readable by the owner alone; clients read it from
the same place. Listening on anything but loopback has to be asked for (``--host``), and the
token is required either way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

import uvicorn

from nosana_tui.config import Paths
from nosana_tui.engine.backend import BackendError
from nosana_tui.engine.runner import Timing
from nosana_tui.node.agent import Agent
from nosana_tui.node.app import create_app
from nosana_tui.node.gpus import GpuMonitor


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


def timing_from_env() -> Timing:
    timing = Timing()
    if value := os.environ.get("NOSANA_TUI_HEALTH_INTERVAL"):
        timing.continuous_interval = float(value)
    if value := os.environ.get("NOSANA_TUI_STOP_TIMEOUT"):
        timing.stop_timeout = float(value)
    return timing


def serve(paths: Paths, host: str, port: int, gpu_ids: list[int] | None = None) -> int:
    """Run the agent until SIGINT/SIGTERM; containers keep running after it exits."""
    from nosana_tui.backends.docker import DockerBackend

    token = ensure_token(paths.token_file)
    try:
        backend = DockerBackend(agent_id=f"{host}:{port}", gpu_ids=gpu_ids)
    except BackendError as err:
        print(f"nosana-tui node: {err}", file=sys.stderr)
        return 1
    agent = Agent(
        paths.data_dir,
        backend,
        timing=timing_from_env(),
        node_id=f"local-{port}",
        gpu_monitor=GpuMonitor(ids=gpu_ids),
    )
    app = create_app(agent, token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = paths.agent_pid_file(port)
    # uvicorn shuts down gracefully on SIGTERM, then raises SIGTERM again under the handler it
    # found: with the default one the process would die there, before the pid file is removed.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    pid_file.write_text(str(os.getpid()))
    print(f"nosana-tui node agent on http://{host}:{port} (data in {paths.data_dir})", flush=True)
    try:
        asyncio.run(server.serve())
    finally:
        pid_file.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)
