"""The agent's GPU monitor: history, the GPUs it may give, who uses them, when it samples.

Discovery itself is faked here (recorded devices); ``tests/gpu`` tests the real parsers.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from nosana_tui.api.models import GpuDevice, GpuProcess
from nosana_tui.host.gpus import Discovery
from nosana_tui.node import gpus as gpus_mod
from nosana_tui.node.gpus import GpuMonitor

pytestmark = pytest.mark.anyio


def device(index: int, util: int, used: int) -> GpuDevice:
    return GpuDevice(
        index=index,
        name="NVIDIA A10G",
        uuid=f"GPU-{index}",
        memory_total_mb=23028,
        memory_used_mb=used,
        utilization_pct=util,
        driver_version="580.159.04",
        cuda_version="13.0",
    )


class FakeHost:
    def __init__(self) -> None:
        self.step = 0
        self.calls = 0

    def discover(self) -> Discovery:
        self.calls += 1
        self.step += 1
        return Discovery("nvml", [device(0, 10 * self.step, 1000 * self.step), device(1, 5, 500)])

    def processes(self, gpus: list[GpuDevice]) -> list[GpuProcess]:
        return [
            GpuProcess(gpu_index=0, pid=4242, memory_mb=900, container_id="c" * 64),
            GpuProcess(gpu_index=1, pid=99, memory_mb=400, container_id=""),
        ]


def monitor(host: FakeHost, ids: list[int] | None = None) -> GpuMonitor:
    return GpuMonitor(
        ids=ids,
        discover=host.discover,
        processes=host.processes,
        owner=lambda cid: ("job1", "vllm") if cid == "c" * 64 else None,
    )


async def test_history_grows_per_gpu_and_processes_name_job_and_op() -> None:
    host = FakeHost()
    mon = monitor(host)
    for _ in range(3):
        await mon.refresh()
    t = mon.telemetry("passthrough")
    assert t.source == "nvml" and t.access == "passthrough"
    assert [g.index for g in t.gpus] == [0, 1]
    first = next(s for s in t.history if s.index == 0)
    assert first.utilization_pct == [10, 20, 30]
    assert first.memory_used_mb == [1000, 2000, 3000]
    assert first.ts == sorted(first.ts) and len(first.ts) == 3
    ours = next(p for p in t.processes if p.pid == 4242)
    assert (ours.job_id, ours.op_id) == ("job1", "vllm")
    stranger = next(p for p in t.processes if p.pid == 99)
    assert (stranger.job_id, stranger.op_id) == ("", "")


async def test_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus_mod, "HISTORY", 5)
    host = FakeHost()
    mon = monitor(host)
    for _ in range(8):
        await mon.refresh()
    series = mon.telemetry("runtime").history[0]
    assert series.utilization_pct == [40, 50, 60, 70, 80]


async def test_agent_gpu_ids_limit_what_is_shown_and_given() -> None:
    host = FakeHost()
    mon = monitor(host, ids=[1])
    await mon.refresh()
    assert [g.index for g in mon.gpus] == [1]
    t = mon.telemetry("runtime")
    assert [s.index for s in t.history] == [1]
    assert [p.pid for p in t.processes] == [99]
    absent = monitor(FakeHost(), ids=[7])
    await absent.refresh()
    assert absent.gpus == [] and absent.note == "none of GPUs 7 exists"


async def test_no_gpu_is_a_normal_answer_with_its_note() -> None:
    mon = GpuMonitor(discover=lambda: Discovery("none", [], "nvidia-smi is not installed"))
    await mon.refresh()
    t = mon.telemetry("none")
    assert t.gpus == [] and t.history == [] and t.note == "nvidia-smi is not installed"


async def test_sampling_is_fast_only_while_someone_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus_mod, "FAST_INTERVAL", 0.02)
    monkeypatch.setattr(gpus_mod, "IDLE_INTERVAL", 5.0)
    monkeypatch.setattr(gpus_mod, "WATCHED_FOR", 0.3)
    host = FakeHost()
    mon = monitor(host)
    mon.start()  # discovers at once
    try:
        await mon.ready()
        await asyncio.sleep(0.2)
        assert host.calls == 1  # idle: nobody asked
        mon.telemetry("runtime")  # a reader wakes it
        await asyncio.sleep(0.25)
        watched = host.calls
        assert watched >= 5
        await asyncio.sleep(0.5)  # the reader went away: back to the idle pace
        settled = host.calls
        await asyncio.sleep(0.3)
        assert host.calls == settled
    finally:
        await mon.stop()


async def test_a_failing_driver_does_not_stop_the_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus_mod, "FAST_INTERVAL", 0.01)

    def broken() -> Discovery:
        raise RuntimeError("NVML_ERROR_GPU_IS_LOST")

    mon = GpuMonitor(discover=broken)
    mon.discovery = Discovery("nvml", [device(0, 1, 1)])
    mon.telemetry("runtime")
    mon.start()
    try:
        await asyncio.sleep(0.1)
        assert mon.discovery.source == "none"
        assert mon.note == "GPU discovery failed: NVML_ERROR_GPU_IS_LOST"
    finally:
        await mon.stop()


async def test_start_does_not_wait_for_a_slow_driver_but_readers_do() -> None:
    """The agent opens its port while nvidia-smi is still answering; admission and reports wait
    for the first discovery rather than seeing "no GPU"."""
    release = threading.Event()

    def slow() -> Discovery:
        release.wait(5)
        return Discovery("nvidia-smi", [device(0, 10, 80)])

    mon = GpuMonitor(discover=slow, processes=lambda gpus: [])
    mon.start()  # returns with the discovery still blocked in its thread
    try:
        waiting = asyncio.create_task(mon.ready())
        await asyncio.sleep(0.1)
        assert not waiting.done() and mon.gpus == []
        release.set()
        await asyncio.wait_for(waiting, 5)
        assert [g.index for g in mon.gpus] == [0]
    finally:
        release.set()
        await mon.stop()


async def test_a_hung_driver_delays_readers_only_up_to_the_limit() -> None:
    release = threading.Event()

    def hung() -> Discovery:
        release.wait(5)
        return Discovery("none", [], "late")

    mon = GpuMonitor(discover=hung, processes=lambda gpus: [])
    mon.start()
    try:
        await asyncio.wait_for(mon.ready(timeout=0.1), 2)  # gives up, does not raise
        assert mon.discovery.note == "not looked yet"
    finally:
        release.set()
        await mon.stop()


async def test_ready_does_not_wait_when_the_monitor_is_not_running() -> None:
    mon = GpuMonitor(discover=lambda: Discovery("none", [], "no driver"))
    await asyncio.wait_for(mon.ready(), 0.5)  # never started
    release = threading.Event()
    mon = GpuMonitor(discover=lambda: Discovery("none", [], str(release.wait(5))))
    mon.start()
    await mon.stop()  # before its first discovery
    await asyncio.wait_for(mon.ready(), 0.5)
    release.set()


async def test_a_restarted_monitor_makes_readers_wait_for_its_new_discovery() -> None:
    answers = iter([Discovery("none", [], "first"), Discovery("nvml", [device(0, 1, 1)])])
    gate = threading.Event()

    def discover() -> Discovery:
        gate.wait(5)
        return next(answers)

    mon = GpuMonitor(discover=discover, processes=lambda gpus: [])
    gate.set()
    mon.start()
    await mon.ready()
    assert mon.discovery.note == "first"
    await mon.stop()
    gate.clear()
    mon.start()
    mon.start()  # a second start while running is a no-op, not a second loop
    try:
        waiting = asyncio.create_task(mon.ready())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.set()
        await asyncio.wait_for(waiting, 5)
        assert mon.discovery.source == "nvml"
    finally:
        gate.set()
        await mon.stop()
