"""Stand-ins for a node client in the UI tests that need answers no real node gives here (a
GPU, a job view fixed by the test); the UI under test is real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from textual.pilot import Pilot

from nosana_tui.api.models import (
    SYSTEM,
    GpuDevice,
    GpuProcess,
    GpuTelemetry,
    JobView,
    LogEntry,
    NodeInfo,
    OpView,
)
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens import job as job_screen
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
        self.jobs_calls = 0
        self.url = "http://127.0.0.1:9"

    async def gpus(self) -> GpuTelemetry:
        self.gpu_calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer()

    async def info(self) -> NodeInfo:
        return node_info([])

    async def jobs(self) -> list[JobView]:
        self.jobs_calls += 1
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


def h100_telemetry() -> GpuTelemetry:
    """The agent's answer recorded for an H100 running one of our ops (tests/fixtures/gpu)."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "gpu" / "telemetry-h100.json"
    return GpuTelemetry.model_validate_json(path.read_text(encoding="utf-8"))


def gpu_job(
    monkeypatch: pytest.MonkeyPatch, *others: str
) -> tuple[GpuTelemetry, GpuProcess, JobView]:
    """The H100 recording, its process of one of our jobs, and that job's view: the process's
    op (a GPU op), then OTHERS: "idle-gpu" a GPU op holding nothing, any other a CPU op. Polls
    made fast, and no node answers the app itself."""
    monkeypatch.setattr(job_screen, "GPU_POLL", 0.05)
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    data = h100_telemetry()
    ours = next(p for p in data.processes if p.job_id)
    ops = [OpView(id=ours.op_id, index=0, group="g", type="container/run", gpu=True)]
    for index, op_id in enumerate(others, start=1):
        gpu = op_id == "idle-gpu"
        ops.append(OpView(id=op_id, index=index, group="g", type="container/run", gpu=gpu))
    view = JobView(id=ours.job_id, name="llm", created_at=time.time(), groups=["g"], ops=ops)
    return data, ours, view


# --- a node whose job, logs and GPUs the test fixes (the snapshots of real states) --------------


class ScriptedNode(FakeClient):
    """A node with one job: ``watch`` answers VIEW once, ``logs`` the lines LINES holds for the op
    (or ``system``) asked for, ``gpus`` TELEMETRY (or no GPU), ``info`` the same GPUs; then the
    streams wait for changes that never come, as a quiet node's do."""

    def __init__(
        self,
        view: JobView | None = None,
        lines: dict[str, list[LogEntry]] | None = None,
        telemetry: GpuTelemetry | None = None,
    ) -> None:
        super().__init__(lambda: telemetry or telemetry_none())
        self.view = view
        self.lines = lines or {}
        self.telemetry = telemetry

    async def info(self) -> NodeInfo:
        return node_info(self.telemetry.gpus if self.telemetry else [])

    async def jobs(self) -> list[JobView]:
        self.jobs_calls += 1
        return [self.view] if self.view else []

    async def watch(self, job_id: str) -> Any:
        if self.view is not None and self.view.id == job_id:
            yield self.view
        await asyncio.Event().wait()

    async def logs(self, job_id: str, op: str | None = None, *, after: int = 0, **_: Any) -> Any:
        for entry in self.lines.get(op or SYSTEM, []):
            if entry.seq > after:
                yield entry
        await asyncio.Event().wait()


def log_entries(
    job_id: str, op_id: str, texts: list[str], *, ts: float, stream: str = "stdout"
) -> list[LogEntry]:
    """TEXTS as the node sends them: one entry each, a second apart from TS, numbered from 1."""
    return [
        LogEntry(seq=i, job_id=job_id, op_id=op_id, stream=stream, ts=ts + i, text=text)
        for i, text in enumerate(texts, start=1)
    ]


async def attach_node(app: NosanaApp, pilot: Pilot[Any], client: FakeClient) -> None:
    """Once the app's own (real, failing) connection has given up, hand it CLIENT and let the
    node bar read CLIENT's info, as after a connection that worked."""
    await until(pilot, lambda: app.node_error is not None)
    app.client = client  # type: ignore[assignment]
    app.poll_node()
    await until(pilot, lambda: app.node_info is not None)


def freeze_job_clock(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    """The job screen's clock stops at NOW (its TIME column counts from it) and its STARTED
    column reads UTC, so neither the hour nor the time zone of the run is in the picture."""
    frozen = SimpleNamespace(time=lambda: now, strftime=time.strftime, localtime=time.gmtime)
    monkeypatch.setattr(job_screen, "time", frozen)
