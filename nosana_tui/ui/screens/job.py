"""One job: its dependency graph, its ops table, and live logs of the selected op (or ``system``).

The job's state arrives from the node's event stream (``/job/{job}/info``), not by polling; log
lines go from the node's log stream straight into the log view's bounded queue. Selecting an op
in the graph selects it in the table and, once the selection rests, switches the log view to it;
the log stream follows the op across restarts. A job with GPU ops gets a GPU column: the GPU
memory its processes hold, from the node's telemetry, polled only while the screen is seen.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header

from nosana_tui.api.models import SYSTEM, GpuTelemetry, JobStatus, JobView, OpView
from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.opstats import OpStats
from nosana_tui.ui.shell import open_shell
from nosana_tui.ui.style import health_text, op_look, state_text
from nosana_tui.ui.tables import put_row
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import LogView
from nosana_tui.ui.widgets.nodebar import NodeBar

OP_COLUMNS = (
    ("op", "OP"),
    ("group", "GROUP"),
    ("status", "STATE"),
    ("health", "HEALTH"),
    ("endpoints", "ENDPOINTS"),
    ("started", "STARTED"),
    ("duration", "TIME"),
    ("exit", "EXIT"),
    ("restarts", "↻"),
)
GPU_COLUMN = ("gpu", "GPU MEM")  # after STATE, for jobs with GPU ops only
GPU_POLL = 2.0  # seconds between telemetry polls while a GPU job is on screen
LOG_SWITCH_DELAY = 0.15  # seconds a new selection rests before the log follows it
ALL_OPS = "*"  # the log target of every op's lines at once (no op id has a "*": ids are names)


def op_gpu_memory(telemetry: GpuTelemetry, job_id: str) -> dict[str, int]:
    """MiB of GPU memory held by each op of the job (its processes, on every GPU)."""
    held: dict[str, int] = {}
    for process in telemetry.processes:
        if process.job_id == job_id and process.op_id:
            held[process.op_id] = held.get(process.op_id, 0) + process.memory_mb
    return held


def gpu_cell(op: OpView, held: dict[str, int] | None) -> str:
    if not op.gpu:
        return ""
    if held is None:
        return "…"  # not polled yet, or the node does not say
    mib = held.get(op.id)
    if mib is None:
        return "-"
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib} MiB"


def _duration(op: OpView) -> str:
    if op.started_at is None:
        return "-"
    seconds = int((op.ended_at or time.time()) - op.started_at)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _status_cell(op: OpView, variables: dict[str, str], job: JobStatus | None = None) -> Any:
    text = state_text(op_look(op, job), variables)  # "skipped" for an op that never starts
    if op.pull is not None and not op.pull.done:
        fraction = op.pull.fraction
        text.append(f" pulling {fraction:.0%}" if fraction is not None else " pulling")
    if op.fetching:  # its S3/HF/Ollama resources
        fraction = op.fetch_fraction
        text.append(f" fetching {fraction:.0%}" if fraction is not None else " fetching")
    return text


def short_id(job_id: str) -> str:
    """A job's id as the title shows it: a network job's 44-character address shortened
    (``5HxQab…Zk3q``, as Jobs shows it), so that the job's name and state fit at 80 columns."""
    from nosana_tui.client.network_node import short  # the network's code, when there is one

    return short(job_id)


def title(view: JobView) -> str:
    """``job ID · NAME · STATE``; a network job's ``job ADDRESS · STATE · COST · MARKET``, the
    network's own state only where it says more than ours (QUEUED, or the network's end before
    the node's), and a note last: at 80 columns the header has 62 columns for it, and the
    address, state and cost must stay on it."""
    from nosana_tui.client.network_node import NetworkJobView, money

    if not isinstance(view, NetworkJobView):
        return f"job {short_id(view.id)} · {view.name} · {view.status.value}"
    facts = view.network
    parts = [f"job {short_id(view.id)}", view.status.value]
    if facts.state.lower() != view.status.value and not (
        facts.state == "COMPLETED" and view.status.value == "success"
    ):
        parts.append(facts.state)
    if facts.time_start:
        parts.append(
            money(facts.cost_usd) if facts.cost_usd is not None else f"{facts.cost_nos:.4f} NOS"
        )
    parts.append(facts.market)
    if facts.note:
        parts.append(facts.note)
    return " · ".join(parts)


def _unlisted(key: str, action: str, description: str, tooltip: str) -> Binding:
    """A binding of the job screen kept out of the footer, which is full at 80 columns; Help
    (?) and the command palette list it. Its id is ``job.ACTION``."""
    return Binding(key, action, description, id=f"job.{action}", show=False, tooltip=tooltip)


class JobScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        # the footer has room for the everyday keys at 80 columns; the rest are in Help (?) and
        # the command palette
        Binding("escape", "back", "Back", id="job.back"),
        Binding("l", "logs", "Logs", id="job.logs", tooltip="Follow the selected op's log"),
        Binding("L", "system_logs", "System log", id="job.system", show=False),
        _unlisted(
            "a",
            "all_logs",
            "All logs",
            "Every op's lines in one log, by time, each op in its own colour",
        ),
        Binding(
            "enter",
            "open_op",
            "Op",
            id="job.open_op",
            show=False,  # enter in the graph or the table; Help (?) lists it
            tooltip="The selected op in full: message, image, command, env, ports, last lines",
        ),
        Binding("x", "stop_op", "Stop", id="job.stop_op", tooltip="Stop the selected op"),
        Binding(
            "r", "restart_op", "Restart", id="job.restart_op", tooltip="Restart the selected op"
        ),
        Binding("X", "stop_group", "Stop group", id="job.stop_group", show=False),
        Binding("R", "restart_group", "Restart group", id="job.restart_group", show=False),
        Binding("K", "stop_job", "Stop job", id="job.stop_job", show=False),
        _unlisted(
            "s",
            "shell",
            "Shell",
            "A shell (sh) in the selected op, if it runs: the UI lends it the terminal",
        ),
        Binding(
            "D",
            "remove_job",
            "Remove",
            id="job.remove",
            tooltip="Remove the job, its containers, network and volumes (asks first)",
        ),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.view: JobView | None = None
        self.selected: str | None = None
        self.log_target: str | None = None
        self.gpu_held: dict[str, int] | None = None  # MiB per op, from the last telemetry
        self._gpu_timer: Timer | None = None  # the next poll, while polling
        self._gpu_polling = False
        self._gpu_chain = 0  # which start the polls in flight belong to
        self._log_switch: Timer | None = None  # the pending switch of the log to the selection
        # each running op's CPU and memory, while the screen is seen (``ui.opstats``)
        self.op_stats = OpStats(self, job_id, lambda: self.client, self._render_stats)

    def compose(self) -> ComposeResult:
        yield Header()
        yield NodeBar()
        with Horizontal(id="job-top"):
            yield OpGraph(id="job-graph")
            table: DataTable[Any] = DataTable(id="job-ops", cursor_type="row")
            for key, label in OP_COLUMNS:
                table.add_column(label, key=key)
            yield table
        yield LogView(id="job-log")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"job {short_id(self.job_id)}"
        self.query_one("#job-graph", OpGraph).focus()
        self.watch(nosana_app(self), "client", self.client_changed)  # and now, with the one there

    @property
    def client(self) -> NodeClient | None:
        return nosana_app(self).client

    def client_changed(self) -> None:
        """The app's client, at mount and whenever it changes (or goes while the app switches
        nodes): the state and log streams start again over it; being exclusive workers, the new
        ones end the old ones. With no client they end there, until the next one."""
        self.watch_job()
        self.follow_logs(self.log_target or SYSTEM)
        self.op_stats.stop()
        self.op_stats.want(self.view)

    # --- state ------------------------------------------------------------------------------

    @work(exclusive=True, group="job-watch", exit_on_error=False)
    async def watch_job(self) -> None:
        client = self.client
        if client is None:
            return  # ``client_changed`` starts it again with the next client
        while True:
            try:
                async for view in client.watch(self.job_id):
                    self.apply(view)
            except NodeError as err:
                if err.status == 404:
                    self.notify(f"job {self.job_id} is gone", severity="warning", markup=False)
                    return
            # the stream ended (the job ended, or the node went away): look again in a moment,
            # since an ended job can be restarted
            await asyncio.sleep(1.0)

    def apply(self, view: JobView) -> None:
        first = self.view is None
        self.view = view
        self.sub_title = title(view)
        graph = self.query_one("#job-graph", OpGraph)
        graph.job = view
        self.render_ops(view)
        self.op_stats.want(view)
        if self.log_target == ALL_OPS:  # ops the first view named, or the job now names
            self.query_one("#job-log", LogView).colour_ops(op.id for op in view.ops)
        if first and view.ops:
            self.select(view.ops[0].id, move_logs=False)

    def render_ops(self, view: JobView) -> None:
        table: DataTable[Any] = self.query_one("#job-ops", DataTable)
        variables = self.app.get_css_variables()
        gpu_job = any(op.gpu for op in view.ops)
        if gpu_job and GPU_COLUMN[0] not in table.columns:
            self._add_gpu_column(table)
        if gpu_job:
            self.start_gpu_poll()  # no-op while polling, or when no GPU op may still run
        stats_made = self.op_stats.put_columns(table, (GPU_COLUMN[0], "status"))
        for op in view.ops:
            started = (
                time.strftime("%H:%M:%S", time.localtime(op.started_at)) if op.started_at else "-"
            )
            cells = {
                "op": op.id,
                "group": op.group,
                "status": _status_cell(op, variables, view.status),
                "health": health_text(op.health, variables),
                "endpoints": " ".join(e.url or f":{e.port}" for e in op.endpoints) or "-",
                "started": started,
                "duration": _duration(op),
                "exit": "-" if op.exit_code is None else str(op.exit_code),
                "restarts": str(op.restarts),
            }
            if GPU_COLUMN[0] in table.columns:
                cells[GPU_COLUMN[0]] = gpu_cell(op, self.gpu_held)
            cells.update(self.op_stats.cells(table, op))
            put_row(table, op.id, cells)
        if stats_made and self.selected is not None and self.selected in table.rows:
            table.move_cursor(row=table.get_row_index(self.selected))  # the rebuild lost it

    def _render_stats(self) -> None:
        if self.view is not None:
            self.render_ops(self.view)

    def _add_gpu_column(self, table: DataTable[Any]) -> None:
        """Rebuild the columns with GPU MEM after STATE (DataTable only appends); the rows are
        added again by ``render_ops``, which calls this first."""
        table.clear(columns=True)
        for key, label in OP_COLUMNS:
            table.add_column(label, key=key)
            if key == "status":
                table.add_column(GPU_COLUMN[1], key=GPU_COLUMN[0])

    # --- GPU memory of the ops ---------------------------------------------------------------
    # Poll, render, then re-arm a one-shot timer (a slow node delays the next poll rather than
    # having it cancel this one); only while the screen is seen and a GPU op may still run.

    def _gpu_wanted(self) -> bool:
        view = self.view
        return (
            self.is_active  # top of the stack: Textual counts the screen just below as current
            and view is not None
            and any(op.gpu and not op.status.terminal for op in view.ops)
        )

    def start_gpu_poll(self) -> None:
        if self._gpu_polling or not self._gpu_wanted():
            return
        self._gpu_polling = True
        self._gpu_chain += 1
        self.poll_gpu_memory(self._gpu_chain)

    def stop_gpu_poll(self) -> None:
        self._gpu_polling = False
        if self._gpu_timer is not None:
            self._gpu_timer.stop()
            self._gpu_timer = None

    def on_screen_suspend(self) -> None:
        self.stop_gpu_poll()
        self.op_stats.stop()

    def on_screen_resume(self) -> None:
        self.start_gpu_poll()
        self.op_stats.want(self.view)

    @work(group="job-gpu", exit_on_error=False)
    async def poll_gpu_memory(self, chain: int) -> None:
        self._gpu_timer = None
        client, view = self.client, self.view
        if client is not None and view is not None:
            try:
                telemetry = await client.gpus()
            except (NodeError, ValueError):  # an old agent without the route, a node that is down
                self.gpu_held = None
            else:
                self.gpu_held = op_gpu_memory(telemetry, view.id)
            if self.view is not None:
                self.render_ops(self.view)
        if chain != self._gpu_chain or not self._gpu_polling:
            return  # stopped (or stopped and started again) meanwhile
        if self._gpu_wanted():
            self._gpu_timer = self.set_timer(GPU_POLL, lambda: self.poll_gpu_memory(chain))
        else:
            self._gpu_polling = False  # every GPU op has ended: the last figures stay

    def select(self, op_id: str, *, move_logs: bool = True) -> None:
        """Select ``op_id`` in the graph and the table at once; its log follows once the
        selection has rested for ``LOG_SWITCH_DELAY`` (holding ↓ restarts no stream per op)."""
        if self.selected == op_id:
            return
        self.selected = op_id
        graph = self.query_one("#job-graph", OpGraph)
        if graph.selected != op_id:
            graph.selected = op_id
        table: DataTable[Any] = self.query_one("#job-ops", DataTable)
        if op_id in table.rows:
            row = table.get_row_index(op_id)
            if table.cursor_row != row:
                table.move_cursor(row=row)
        if move_logs:
            self._cancel_log_switch()
            self._log_switch = self.set_timer(LOG_SWITCH_DELAY, self._switch_logs)

    def _switch_logs(self) -> None:
        self._log_switch = None
        if self.selected is not None and self.selected != self.log_target:
            self.follow_logs(self.selected)

    def show_logs(self, target: str) -> None:
        """Follow ``target``'s log now (a key asked for it): no switch pending overrides it."""
        self._cancel_log_switch()
        self.follow_logs(target)

    def _cancel_log_switch(self) -> None:
        if self._log_switch is not None:
            self._log_switch.stop()
            self._log_switch = None

    # Messages report a selection that may be stale by the time they are handled (two quick ↓
    # post B then C; C is already selected when B's message arrives). Acting on a stale one
    # selected B again, which posted B again, behind C's message that selected C again: an
    # endless ping-pong. Only the widget's current selection counts.

    @on(OpGraph.Selected)
    def graph_selected(self, event: OpGraph.Selected) -> None:
        if event.op_id == event.graph.selected:
            self.select(event.op_id)

    @on(OpGraph.Activated)
    def graph_activated(self, event: OpGraph.Activated) -> None:
        self.select(event.op_id, move_logs=False)
        self.open_op(event.op_id)

    @on(DataTable.RowSelected, "#job-ops")
    def table_activated(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.select(str(event.row_key.value), move_logs=False)
            self.open_op(str(event.row_key.value))

    def action_open_op(self) -> None:
        if self.selected is not None:
            self.open_op(self.selected)

    def open_op(self, op_id: str) -> None:
        """The op panel (like k9s describe) of ``op_id``, over this screen."""
        from nosana_tui.ui.screens.op import OpScreen

        if self.view is not None and any(op.id == op_id for op in self.view.ops):
            self.app.push_screen(OpScreen(self.job_id, op_id, self.view))

    @on(LogView.Saved)
    def log_saved(self, event: LogView.Saved) -> None:
        self.notify(f"log saved to {event.path}", title="Saved", markup=False)

    @on(LogView.Copied)
    def log_copied(self, event: LogView.Copied) -> None:
        lines = "line" if event.n_lines == 1 else "lines"
        self.notify(f"{event.n_lines} {lines} copied (OSC 52)", title="Copied", markup=False)

    @on(DataTable.RowHighlighted, "#job-ops")
    def table_selected(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        if (
            event.row_key.value is not None
            and event.cursor_row == table.cursor_row
            and table.has_focus
        ):
            self.select(str(event.row_key.value))

    # --- logs -------------------------------------------------------------------------------

    @work(exclusive=True, group="job-logs", exit_on_error=False)
    async def follow_logs(self, target: str) -> None:
        self.log_target = target
        every = target == ALL_OPS
        log = self.query_one("#job-log", LogView)
        log.show_op = target == SYSTEM or every
        generation = log.reset(f"{short_id(self.job_id)} · {'all ops' if every else target}")
        if every and self.view is not None:
            log.colour_ops(op.id for op in self.view.ops)
        client = self.client
        if client is None:
            return  # ``client_changed`` starts it again with the next client
        after = 0
        while True:
            try:
                async for entry in client.logs(
                    self.job_id, None if every else target, follow=True, after=after
                ):
                    # Straight to the view's bounded queue, which its own 50 ms tick drains:
                    # no batch held here, so the last line of a burst waits for nothing. The
                    # generation drops what a replaced follower still hands over.
                    if isinstance(entry, int):
                        log.note_dropped(entry, generation)
                    else:
                        after = entry.seq
                        log.feed((entry,), generation)
            except NodeError as err:
                if err.status == 404:
                    return
            await asyncio.sleep(1.0)  # the stream ended: re-attach after the last line

    def action_logs(self) -> None:
        if self.selected:
            self.show_logs(self.selected)

    def action_system_logs(self) -> None:
        self.show_logs(SYSTEM)

    def action_all_logs(self) -> None:
        self.show_logs(ALL_OPS)

    # --- controls ---------------------------------------------------------------------------

    def _op(self) -> OpView | None:
        if self.view is None or self.selected is None:
            self.notify("select an op first", severity="warning", markup=False)
            return None
        try:
            return self.view.op(self.selected)
        except KeyError:
            return None

    @work(group="job-action", exit_on_error=False)
    async def act(self, what: str, call: Any) -> None:
        try:
            message = await call
        except NodeError as err:
            self.notify(f"{what}: {err}", severity="error", timeout=8, markup=False)
            return
        self.notify(f"{what}: {message}", markup=False)

    def action_stop_op(self) -> None:
        op = self._op()
        if op and self.client:
            self.act(f"stop {op.id}", self.client.stop_op(self.job_id, op.group, op.id))

    def action_restart_op(self) -> None:
        op = self._op()
        if op and self.client:
            self.act(f"restart {op.id}", self.client.restart_op(self.job_id, op.group, op.id))

    def action_shell(self) -> None:
        op = self._op()
        if op and self.client:
            open_shell(self.app, self.client.url, self.job_id, op)

    def action_stop_group(self) -> None:
        op = self._op()
        if op and self.client:
            self.act(f"stop group {op.group}", self.client.stop_group(self.job_id, op.group))

    def action_restart_group(self) -> None:
        op = self._op()
        if op and self.client:
            self.act(f"restart group {op.group}", self.client.restart_group(self.job_id, op.group))

    def action_stop_job(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes and self.client:
                self.act(f"stop job {self.job_id}", self.client.stop_job(self.job_id))

        self.app.push_screen(Confirm(f"Stop every op of job {self.job_id}?"), answered)

    def action_remove_job(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_job()

        self.app.push_screen(
            Confirm(f"Remove job {self.job_id} and its containers, network and volumes?"),
            answered,
        )

    @work(group="job-action", exit_on_error=False)
    async def remove_job(self) -> None:
        client = self.client
        if client is None:
            return
        self.workers.cancel_group(self, "job-watch")
        self.workers.cancel_group(self, "job-logs")
        try:
            message = await client.remove(self.job_id)
        except NodeError as err:
            self.notify(f"remove: {err}", severity="error", timeout=8, markup=False)
            return
        self.notify(message, markup=False)
        self.dismiss()

    def action_back(self) -> None:
        self.dismiss()
