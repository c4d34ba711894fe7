"""Stand-ins for a node client in the UI tests that need answers no real node gives here (a
GPU, a job view fixed by the test); the UI under test is real."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from nosana_tui.config import Paths
from nosana_tui.spec.status import GpuDevice, GpuTelemetry, JobView, NodeInfo
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.job import JobScreen
from tests.pilot import until


def node_info(gpus: list[GpuDevice]) -> NodeInfo:
    return NodeInfo(
        version="1",
        node_id="n",
        engine={"name": "docker", "version": "27.3.1"},
        gpus=gpus,
        jobs=2,
    )


class FakeClient:
    """A node client whose GPU answers the test decides; it counts the GPU polls."""

    def __init__(self, answer: Callable[[], GpuTelemetry], *, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay  # seconds each GPU answer takes
        self.gpu_calls = 0
        self.url = "http://127.0.0.1:9"

    async def gpus(self) -> GpuTelemetry:
        self.gpu_calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer()

    async def info(self) -> NodeInfo:
        return node_info([])

    async def jobs(self) -> list[JobView]:
        return []

    async def close(self) -> None:
        pass


def offline_app(tmp_path: Path) -> NosanaApp:
    return NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)


class GpuJobClient(FakeClient):
    """A node running one job with a GPU op and a CPU op; its telemetry names the GPU op."""

    def __init__(
        self, view: JobView, answer: Callable[[], GpuTelemetry], *, delay: float = 0.0
    ) -> None:
        super().__init__(answer, delay=delay)
        self.view = view

    async def watch(self, job_id: str) -> Any:
        yield self.view
        await asyncio.Event().wait()  # no further change

    async def logs(self, job_id: str, op: str, **kwargs: Any) -> Any:
        await asyncio.Event().wait()
        yield  # pragma: no cover - never reached


def telemetry_none() -> GpuTelemetry:
    """A node without GPUs."""
    return GpuTelemetry(source="none", access="none", note="no NVIDIA driver found")


async def open_job(app: NosanaApp, pilot: Pilot[Any], client: FakeClient, job_id: str) -> JobScreen:
    """Once the app's own (real, failing) connection has given up, hand it CLIENT and open the
    job screen of JOB_ID."""
    await until(pilot, lambda: app.node_error is not None)
    app.client = client  # type: ignore[assignment]
    screen = JobScreen(job_id)
    await app.push_screen(screen)
    return screen
