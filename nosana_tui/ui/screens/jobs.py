"""Jobs: a table of the node's jobs, updated in place, filtered with ``/``."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input

from nosana_tui.api.models import JobView
from nosana_tui.client.node import NodeError
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.sections import section_tabs
from nosana_tui.ui.style import job_status_text
from nosana_tui.ui.tables import Cell, put_row
from nosana_tui.ui.widgets.nodebar import NodeBar

POLL = 1.0
COLUMNS = (
    ("id", "JOB"),
    ("name", "NAME"),
    ("status", "STATUS"),
    ("ready", "READY"),
    ("age", "AGE"),
    ("endpoints", "ENDPOINTS"),
)


def age(ts: float) -> str:
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class JobsScreen(Screen[None]):
    SUB_TITLE = section_tabs("Jobs")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="jobs.filter", key_display="/"),
        Binding("enter", "open", "Open", id="jobs.open"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="jobs.clear"),
        Binding("j", "cursor('down')", "Down", show=False, id="jobs.down"),
        Binding("k", "cursor('up')", "Up", show=False, id="jobs.up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[JobView] = []
        self.query_text = ""
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield NodeBar()
        yield Input(placeholder="filter by id, name or status", id="jobs-filter")
        table: DataTable[Any] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#jobs-filter").display = False
        self.query_one("#jobs-table", DataTable).focus()
        self.watch(nosana_app(self), "client", self.client_changed, init=False)

    def on_screen_resume(self) -> None:
        self.poll()

    def on_screen_suspend(self) -> None:
        self.stop_polls()

    def stop_polls(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def client_changed(self) -> None:
        """Another node (or none, while the app switches): poll it now, if this is seen."""
        if self.is_active:
            self.stop_polls()  # the pending re-arm: one chain of polls, not two
            self.poll()

    @work(exclusive=True, group="jobs-poll", exit_on_error=False)
    async def poll(self) -> None:
        client = nosana_app(self).client
        if client is not None:
            try:
                self.jobs = await client.jobs()
            except NodeError as err:
                self.notify(str(err), severity="error", timeout=4, markup=False)
            self.render_rows()
        # one-shot re-arm: polls never overlap, and stop when hidden. is_active, not is_current:
        # Textual counts the screen just below the top (this one, under a job) as current
        if self.is_active:
            self._timer = self.set_timer(POLL, self.poll)

    def visible_jobs(self) -> list[JobView]:
        needle = self.query_text.lower()
        return [
            j
            for j in sorted(self.jobs, key=lambda j: j.created_at, reverse=True)
            if not needle or needle in f"{j.id} {j.name} {j.status.value}".lower()
        ]

    def render_rows(self) -> None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        wanted = self.visible_jobs()
        keys = [j.id for j in wanted]
        for row_key in list(table.rows):
            if row_key.value not in keys:
                table.remove_row(row_key)
        for job in wanted:
            urls = " ".join(e.url for o in job.ops for e in o.endpoints if e.url) or "-"
            cells: dict[str, Cell] = {
                "id": job.id,
                "name": job.name,
                "status": job_status_text(job.status, self.app.get_css_variables()),
                "ready": f"{job.ready_count}/{len(job.ops)}",
                "age": age(job.created_at),
                "endpoints": urls,
            }
            put_row(table, job.id, cells)

    @on(Input.Changed, "#jobs-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.render_rows()

    @on(Input.Submitted, "#jobs-filter")
    def filter_done(self) -> None:
        self.query_one("#jobs-table", DataTable).focus()

    def action_filter(self) -> None:
        box = self.query_one("#jobs-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#jobs-filter", Input)
        box.value = ""
        box.display = False
        self.query_one("#jobs-table", DataTable).focus()

    def action_cursor(self, direction: str) -> None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        table.action_cursor_down() if direction == "down" else table.action_cursor_up()

    @on(DataTable.RowSelected, "#jobs-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_job(str(event.row_key.value))

    def action_open(self) -> None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        if table.row_count:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
            self.open_job(str(row_key.value))

    def open_job(self, job_id: str) -> None:
        from nosana_tui.ui.screens.job import JobScreen

        self.app.push_screen(JobScreen(job_id))
