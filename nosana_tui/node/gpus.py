"""The agent's view of the host's GPUs: discovery, recent history, and who uses them.

Sampling runs in a worker thread (NVML calls, or ``nvidia-smi`` at ~tens of ms each), never on
the event loop. It is fast (every ``interval`` seconds) while someone watches ``GET /api/gpus``
and slow otherwise, so an idle agent does not keep a CPU busy polling a driver nobody reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nosana_tui.api.models import GpuDevice, GpuProcess, GpuSeries, GpuTelemetry
from nosana_tui.host import gpus as gpu_host

HISTORY = 120  # samples kept per GPU (two minutes at the fast interval)
FAST_INTERVAL = 1.0
IDLE_INTERVAL = 15.0
WATCHED_FOR = 30.0  # seconds of fast sampling after the last read
NO_GPU_INTERVAL = 60.0  # re-discovery when there is none (a driver installed meanwhile)
# One discovery may take a few nvidia-smi calls of up to 5 s each (the query, the query again
# without compute_cap for an old driver, plain nvidia-smi for the CUDA version); NVML calls
# have no timeout at all. Readers wait this long at most.
READY_TIMEOUT = 20.0

Owner = Callable[[str], tuple[str, str] | None]  # container id -> (job id, op id)


@dataclass
class _History:
    ts: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    util: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))
    memory: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))


class GpuMonitor:
    def __init__(
        self,
        *,
        ids: list[int] | None = None,
        discover: Callable[[], gpu_host.Discovery] = gpu_host.discover,
        processes: Callable[[list[GpuDevice]], list[GpuProcess]] = gpu_host.gpu_processes,
        owner: Owner | None = None,
    ) -> None:
        self.ids = ids  # the GPUs the agent may give ops (`node serve --gpus 0,1`); None: all
        self._discover, self._processes, self.owner = discover, processes, owner
        self.discovery = gpu_host.Discovery("none", [], "not looked yet")
        self.processes: list[GpuProcess] = []
        self._history: dict[int, _History] = {}
        self._watched_until = 0.0
        self._wake = asyncio.Event()
        self._looked = asyncio.Event()  # the first discovery has answered (or failed)
        self._task: asyncio.Task[None] | None = None

    # --- what the agent asks ------------------------------------------------------------------

    async def ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait for the first discovery of the running loop, at most TIMEOUT seconds (a driver
        that hangs must not hang the agent's answers: they then say what is known so far).
        The agent opens its port without waiting; admission and reports wait here."""
        if self._task is None or self._task.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._looked.wait(), timeout)

    @property
    def gpus(self) -> list[GpuDevice]:
        """The GPUs ops may get (all, or those the agent was started with)."""
        found = self.discovery.gpus
        return found if self.ids is None else [g for g in found if g.index in self.ids]

    @property
    def note(self) -> str:
        if self.discovery.gpus and self.ids is not None and not self.gpus:
            return f"none of GPUs {','.join(map(str, self.ids))} exists"
        return self.discovery.note

    def telemetry(self, access: str) -> GpuTelemetry:
        """A reader is watching: sample fast for a while (from the next tick on)."""
        was_idle = time.monotonic() > self._watched_until
        self._watched_until = time.monotonic() + WATCHED_FOR
        if was_idle:
            self._wake.set()
        gpus = self.gpus
        return GpuTelemetry(
            source=self.discovery.source,
            access=access,
            note=self.note,
            interval_s=FAST_INTERVAL,
            gpus=gpus,
            history=[
                GpuSeries(
                    index=g.index,
                    ts=list(h.ts),
                    utilization_pct=list(h.util),
                    memory_used_mb=list(h.memory),
                )
                for g in gpus
                if (h := self._history.get(g.index)) is not None
            ],
            processes=[p for p in self.processes if p.gpu_index in {g.index for g in gpus}],
        )

    # --- sampling -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """One sample, now (in a worker thread)."""
        discovery = await asyncio.to_thread(self._discover)
        processes: list[GpuProcess] = []
        if discovery.gpus:
            with contextlib.suppress(Exception):  # a process list is a nicety, never fatal
                processes = await asyncio.to_thread(self._processes, discovery.gpus)
        self.discovery = discovery
        self._looked.set()
        self.processes = [self._label(p) for p in processes]
        now = time.time()
        for gpu in discovery.gpus:
            history = self._history.setdefault(gpu.index, _History())
            history.ts.append(now)
            history.util.append(gpu.utilization_pct or 0)
            history.memory.append(gpu.memory_used_mb or 0)

    def _label(self, process: GpuProcess) -> GpuProcess:
        if self.owner is None or not process.container_id:
            return process
        owner = self.owner(process.container_id)
        if owner is None:
            return process
        return process.model_copy(update={"job_id": owner[0], "op_id": owner[1]})

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return  # already sampling
        self._looked.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._looked.set()  # nobody waits for a discovery that will not come

    async def _loop(self) -> None:
        """Discover now, then sample at the pace readers ask for."""
        while True:
            try:
                await self.refresh()
            except Exception as err:  # the agent outlives a misbehaving driver
                self.discovery = gpu_host.Discovery("none", [], f"GPU discovery failed: {err}")
            finally:
                self._looked.set()
            if not self.discovery.gpus:
                pause = NO_GPU_INTERVAL
            elif time.monotonic() < self._watched_until:
                pause = FAST_INTERVAL
            else:
                pause = IDLE_INTERVAL
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
