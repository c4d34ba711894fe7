"""Each running op's CPU and memory in the job screen's ops table, from the node's stats stream
(``/job/{job}/stats/stream``): followed only while the screen is seen and an op of the job runs.

The CPU and MEM columns appear once the first figures arrive (after STATE, or GPU MEM), so a
node without the route, or a job with nothing running, shows the table as it was. The op panel
follows the same stream and keeps each figure's history (``OpHistory``) for its sparklines.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from textual.widgets import DataTable

from nosana_tui.api.models import JobView, OpStatus, OpView, TaskStat, size_text
from nosana_tui.client.node import NodeClient, NodeError

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.worker import Worker

STATS_COLUMNS = (("cpu", "CPU"), ("mem", "MEM"))
STATS_INTERVAL = 2.0  # seconds between the node's frames
RETRY = 2.0  # seconds before following again after the stream broke off
HISTORY = 60  # figures an op's sparklines hold: two minutes, a frame every STATS_INTERVAL


def cpu_text(stat: TaskStat) -> str:
    percent = stat.cpu.cpu_percent
    return f"{percent:.1f}%" if percent < 10 else f"{percent:.0f}%"


def memory_text(stat: TaskStat) -> str:
    return size_text(float(stat.memory.memory_usage))


def rate_text(value: float) -> str:
    return f"{size_text(value)}/s"


class OpHistory:
    """One op's figures, oldest first, at most SIZE of each: CPU (percent of one CPU), memory
    (bytes), and network and disk traffic (bytes a second, from the totals of two samples in a
    row). A sample seen before (the node sends its latest again) adds nothing."""

    def __init__(self, size: int = HISTORY) -> None:
        self.size = size
        self.cpu: deque[float] = deque(maxlen=size)
        self.memory: deque[float] = deque(maxlen=size)
        self.network: deque[float] = deque(maxlen=size)
        self.disk: deque[float] = deque(maxlen=size)
        self.last: TaskStat | None = None

    def add(self, stat: TaskStat) -> bool:
        """Keep STAT's figures; False when it is not newer than the last."""
        last = self.last
        if last is not None and stat.timestamp <= last.timestamp:
            return False
        if last is not None:
            seconds = (stat.timestamp - last.timestamp) / 1000
            net = stat.network.received + stat.network.sent
            net -= last.network.received + last.network.sent
            disk = stat.disk.read + stat.disk.write - last.disk.read - last.disk.write
            # a restarted op's container counts from 0 again: no negative rate
            self.network.append(max(0, net) / seconds)
            self.disk.append(max(0, disk) / seconds)
        self.cpu.append(stat.cpu.cpu_percent)
        self.memory.append(float(stat.memory.memory_usage))
        self.last = stat
        return True

    def padded(self, series: deque[float]) -> list[float]:
        """SERIES as a sparkline draws it: SIZE figures, the missing older ones 0, so that the
        line grows from the right and its floor is 0, not the lowest figure so far."""
        return [0.0] * (self.size - len(series)) + list(series)


def insert_columns(table: DataTable[Any], new: Sequence[tuple[str, str]], after: str) -> None:
    """TABLE's columns again with NEW after the column AFTER (a ``DataTable`` only appends):
    its rows go, to be put again by whoever fills it."""
    current = [(str(key.value), column.label) for key, column in table.columns.items()]
    table.clear(columns=True)
    for key, label in current:
        table.add_column(label, key=key)
        if key == after:
            for new_key, new_label in new:
                table.add_column(new_label, key=new_key)


class OpStats:
    """The latest figures of each op of one job, and the worker that follows them."""

    def __init__(
        self,
        screen: Screen[Any],
        job_id: str,
        client: Callable[[], NodeClient | None],
        render: Callable[[], object],
    ) -> None:
        self.screen = screen
        self.job_id = job_id
        self.client = client
        self.render = render  # draws the table again (``put_columns`` and ``cells`` inside)
        self.latest: dict[str, TaskStat] = {}
        self.unsupported = False  # the node has no stats stream (an old or foreign node)
        self._worker: Worker[None] | None = None

    # --- following ----------------------------------------------------------------------------

    def want(self, view: JobView | None) -> None:
        """Follow while the screen is seen and an op runs (a no-op when following already)."""
        if self._worker is not None and self._worker.is_running:
            return
        if view is None or not self.screen.is_active or self.client() is None:
            return
        if not any(op.status is OpStatus.RUNNING for op in view.ops):
            return
        self._worker = self.screen.run_worker(
            self._follow(), group="job-stats", exclusive=True, exit_on_error=False
        )

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def _follow(self) -> None:
        client = self.client()
        if client is None or not hasattr(client, "stats_stream"):
            self.unsupported = client is not None
            self.render()
            return
        while True:
            try:
                async for frame in client.stats_stream(self.job_id, STATS_INTERVAL):
                    self.latest = {stat.op_id: stat for stat in frame}
                    self.render()
                return  # the job has ended: the last figures stay
            except NodeError as err:
                if err.status in (400, 401, 404):  # a node without the route, the job gone
                    self.unsupported = err.status != 404 or not self.latest
                    self.render()
                    return
            await asyncio.sleep(RETRY)

    # --- the table ----------------------------------------------------------------------------

    def put_columns(self, table: DataTable[Any], after: Sequence[str]) -> bool:
        """The CPU and MEM columns, once there are figures, after the first of AFTER that the
        table has; True when the columns were made (the rows are to be put again)."""
        if not self.latest or STATS_COLUMNS[0][0] in table.columns:
            return False
        where = next((key for key in after if key in table.columns), None)
        if where is None:
            return False
        insert_columns(table, STATS_COLUMNS, where)
        return True

    def cells(self, table: DataTable[Any], op: OpView) -> dict[str, str]:
        if STATS_COLUMNS[0][0] not in table.columns:
            return {}
        stat = self.latest.get(op.id) if op.status is OpStatus.RUNNING else None
        if stat is None:
            return {"cpu": "-", "mem": "-"}
        return {"cpu": cpu_text(stat), "mem": memory_text(stat)}
