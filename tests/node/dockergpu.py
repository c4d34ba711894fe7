"""GPU test helpers: running a ``gpu: true`` container through the real Docker backend, an
engine that reports what a GPU-equipped or newer one would, and watching the TUI's GPU panel
come alive against a real agent (shared by the GPU access, telemetry and GPU-host tests)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import docker
import pytest

from nosana_tui.api.models import GpuTelemetry
from nosana_tui.backends.docker import DockerBackend
from nosana_tui.engine.backend import ContainerSpec
from tests.dockerenv import IMAGE
from tests.node.conftest import AgentProcess
from tests.pilot import capture, until


def run_container(
    backend: DockerBackend,
    script: str,
    env: dict[str, str],
    *,
    cmd: list[str] | None = None,
    image: str = IMAGE,
) -> str:
    """Run SCRIPT with sh (or CMD) in a ``gpu: true`` container of IMAGE; its output."""

    async def go() -> str:
        job_id = f"gputest{uuid.uuid4().hex[:8]}"
        network = await backend.ensure_network(job_id)
        state = None
        try:
            spec = ContainerSpec(
                job_id=job_id,
                op_id="g",
                name=f"nosana-{job_id}-g",
                image=image,
                network=network,
                cmd=cmd or ["sh", "-c", script],
                env=env,
                gpu=True,
            )
            state = await backend.run(spec)
            client = docker.from_env()
            try:
                client.api.wait(state.id, timeout=30)
                return bytes(client.api.logs(state.id)).decode()
            finally:
                client.close()
        finally:
            if state is not None:
                await backend.remove(state.id)
            await backend.remove_network(job_id)

    return asyncio.run(go())


def engine_with(backend: DockerBackend, monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    """The real engine's ``info()``, with what a newer or GPU-equipped engine would add."""
    real_info = backend.client.info

    def info() -> dict[str, object]:
        return {**real_info(), **extra}

    monkeypatch.setattr(backend.client, "info", info)


async def gpu_panel_live(
    agent: AgentProcess,
    job_id: str,
    op_id: str,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    busy_samples: int = 5,
    timeout: float = 60,
) -> tuple[str, GpuTelemetry]:
    """Open the UI on AGENT at 80x24, go to Nodes, and wait until its GPU panel shows OP_ID of
    JOB_ID using a GPU and BUSY_SAMPLES busy samples; capture the screen to FOLDER
    (``gpu-panel.txt`` and ``.svg``). The screen's text and the telemetry it showed."""
    from nosana_tui.config import Paths
    from nosana_tui.ui.app import NosanaApp
    from nosana_tui.ui.widgets.gpupanel import GpuPanel

    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_info is not None, 20)
        await pilot.press("3")
        panel = app.screen.query_one(GpuPanel)

        def live() -> bool:
            """the panel shows the op's process and a few busy samples"""
            data = panel.telemetry
            if data is None or not data.history:
                return False
            ours = [p for p in data.processes if p.job_id == job_id and p.op_id == op_id]
            busy = [u for u in data.history[0].utilization_pct if u > 0]
            return bool(ours) and len(busy) >= busy_samples

        await until(pilot, live, timeout)
        await pilot.pause(0.3)  # the last answer drawn
        text = capture(app, folder, "gpu-panel")
        telemetry = panel.telemetry
        assert telemetry is not None
        await pilot.press("q")
    return text, telemetry
