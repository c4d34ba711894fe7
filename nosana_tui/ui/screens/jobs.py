"""Jobs: a table of the node's jobs, updated in place, in a stable order.

The order is the chosen sort (age, state or name), computed afresh on each poll and applied to
the table's rows in place: a new job takes its place in the order instead of landing at the
bottom, and the cursor stays on its job. ``/`` filters by text, ``f`` by state; ``D`` removes
every finished job (asking first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.client.node import NodeError, job_done
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
    ("duration", "TIME"),
    ("ended", "ENDED"),
    ("endpoints", "ENDPOINTS"),
)
NARROW_COLUMNS = COLUMNS[:-1]
"""Below WIDE columns the ENDPOINTS column would start near the right edge and its URLs run off
the screen: the table leaves it out, and a line under the table shows the highlighted job's
endpoints whole."""
WIDE = 100  # columns of the screen from which the table has room for ENDPOINTS

SORTS = ("age", "state", "name")
"""The orders the list can take; ``s`` goes through them in this order."""

STATE_ORDER = {
    JobStatus.RUNNING: 0,
    JobStatus.FAILED: 1,
    JobStatus.STOPPED: 2,
    JobStatus.SUCCESS: 3,
}
"""Sorting by state: what runs, then what went wrong, then what ended well."""

STATE_FILTERS: tuple[JobStatus | None, ...] = (None, *JobStatus)
"""``f`` goes through these: every job, then each state alone."""


def compact(seconds: float) -> str:
    """A span as a terminal shows it in a narrow column: ``42s``, ``3m12s``, ``1h04m``, ``2d3h``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def age(ts: float) -> str:
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def duration(job: JobView) -> str:
    """How long the job ran: until it ended, or until now."""
    return compact((job.ended_at or time.time()) - job.created_at)


def ended(job: JobView) -> str:
    """When the job ended (local time; with the date when not today), or ``-``."""
    if job.ended_at is None:
        return "-"
    at = time.localtime(job.ended_at)
    today = time.localtime(time.time())
    if (at.tm_year, at.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", at)
    return time.strftime("%b %d %H:%M", at)


def sort_key(order: str) -> Callable[[JobView], Any]:
    """The key that puts jobs in ORDER; every order ends on the id, so that two jobs never swap
    places between polls."""
    if order == "state":
        return lambda j: (STATE_ORDER[j.status], -j.created_at, j.id)
    if order == "name":
        return lambda j: (j.name.casefold(), -j.created_at, j.id)
    return lambda j: (-j.created_at, j.id)  # age: newest first


def ordered(
    jobs: list[JobView],
    order: str = "age",
    reverse: bool = False,
    state: JobStatus | None = None,
    needle: str = "",
) -> list[JobView]:
    """JOBS as the list shows them: filtered by STATE and by text, in ORDER."""
    needle = needle.lower()
    chosen = [
        j
        for j in jobs
        if (state is None or j.status is state)
        and (not needle or needle in f"{j.id} {j.name} {j.status.value}".lower())
    ]
    return sorted(chosen, key=sort_key(order), reverse=reverse)


def finished(jobs: list[JobView]) -> list[JobView]:
    """Jobs that have ended and have nothing left running (``job_done``): what ``D`` removes,
    as ``nosana-tui rm --finished`` does. A failed job whose services still run, so that a
    person can look, is not finished."""
    return [j for j in jobs if job_done(j)]


def endpoints_line(job: JobView) -> str:
    """The job's endpoints, whole, for the line under a narrow table."""
    urls = [f"{e.url} ({o.id})" for o in job.ops for e in o.endpoints if e.url]
    return f"{job.id} endpoints: " + ("  ".join(urls) if urls else "none")


class JobsScreen(Screen[None]):
    SUB_TITLE = section_tabs("Jobs")
    # the table, not the first focusable widget: Textual gave a screen shown by a switch (as
    # the app makes when the node first answers with jobs) its hidden filter box, which then
    # took the next keys ("3" filtered the list instead of going to Nodes)
    AUTO_FOCUS = "#jobs-table"
    DEFAULT_CSS = """
    JobsScreen #jobs-detail { height: auto; max-height: 3; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="jobs.filter", key_display="/"),
        Binding("enter", "open", "Open", id="jobs.open"),
        Binding("f", "state_filter", "State", id="jobs.state", tooltip="Show one state only"),
        Binding("s", "sort", "Sort", id="jobs.sort", tooltip="Sort by age, state or name"),
        Binding(
            "D",
            "remove_finished",
            "Rm finished",
            id="jobs.remove_finished",
            tooltip="Remove every finished job (asks first)",
        ),
        Binding(
            "t",
            "save_template",
            "Save as template",
            show=False,
            id="jobs.template",
            tooltip="Save the job's definition as a template of your own",
        ),
        Binding("A", "sort_by('age')", "Sort by age", show=False, id="jobs.sort_age"),
        Binding("S", "sort_by('state')", "Sort by state", show=False, id="jobs.sort_state"),
        Binding("N", "sort_by('name')", "Sort by name", show=False, id="jobs.sort_name"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="jobs.clear"),
        Binding("j", "cursor('down')", "Down", show=False, id="jobs.down"),
        Binding("k", "cursor('up')", "Up", show=False, id="jobs.up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[JobView] = []
        self.loaded = False  # a first answer has come (an empty list then means: no jobs)
        self.query_text = ""
        self.order = "age"
        self.reverse = False
        self.state: JobStatus | None = None
        self._timer: Timer | None = None
        self._narrow_shown = False  # the table's columns are those of a narrow screen

    def compose(self) -> ComposeResult:
        yield Header()
        yield NodeBar()
        yield Input(placeholder="filter by id, name or status", id="jobs-filter")
        yield Static(id="jobs-status", markup=False)
        table: DataTable[Any] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(id="jobs-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#jobs-filter").display = False
        self.query_one("#jobs-detail").display = False
        self.query_one("#jobs-table", DataTable).focus()
        self.watch(nosana_app(self), "client", self.client_changed, init=False)
        self.show_status()

    _shown = False  # between a resume and a suspend: polls re-arm only then

    def on_screen_resume(self) -> None:
        self._shown = True
        self.stop_polls()  # one chain of polls, not two
        self.poll()

    def on_screen_suspend(self) -> None:
        self._shown = False
        self.stop_polls()

    def stop_polls(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def client_changed(self) -> None:
        """Another node (or none, while the app switches): poll it now, if this is seen."""
        if self._shown:
            self.stop_polls()  # the pending re-arm: one chain of polls, not two
            self.poll()

    @work(exclusive=True, group="jobs-poll", exit_on_error=False)
    async def poll(self) -> None:
        client = nosana_app(self).client
        if client is not None:
            try:
                self.jobs = await client.jobs()
                self.loaded = True
            except NodeError as err:
                self.notify(str(err), severity="error", timeout=4, markup=False)
            self.render_rows()
        # one-shot re-arm: polls never overlap, and stop when hidden. Not is_active: a first
        # poll that ends while the screen is still being switched to would end the chain, and
        # the list would stay empty (seen when the app moves to Jobs as the node first answers)
        if self._shown:
            self.stop_polls()
            self._timer = self.set_timer(POLL, self.poll)

    def visible_jobs(self) -> list[JobView]:
        return ordered(self.jobs, self.order, self.reverse, self.state, self.query_text)

    def render_rows(self) -> None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        wanted = self.visible_jobs()
        keys = [j.id for j in wanted]
        current = self.cursor_job()
        from nosana_tui.client.network_node import NetworkJobView
        from nosana_tui.ui.network import NETWORK_COLUMNS, network_cells, use_columns

        # the Nosana network's jobs have their own columns (issue 12)
        narrow = self._narrow_shown = self.size.width < WIDE
        columns = NARROW_COLUMNS if narrow else COLUMNS
        use_columns(table, NETWORK_COLUMNS if nosana_app(self).node.network else columns)
        for row_key in list(table.rows):
            if row_key.value not in keys:
                table.remove_row(row_key)
        for job in wanted:
            if isinstance(job, NetworkJobView):
                put_row(table, job.id, network_cells(job, self.app.get_css_variables()))
                continue
            urls = " ".join(e.url for o in job.ops for e in o.endpoints if e.url) or "-"
            cells: dict[str, Cell] = {
                "id": job.id,
                "name": job.name,
                "status": job_status_text(job.status, self.app.get_css_variables()),
                "ready": f"{job.ready_count}/{len(job.ops)}",
                "age": age(job.created_at),
                "duration": duration(job),
                "ended": ended(job),
                "endpoints": urls,
            }
            if narrow:
                del cells["endpoints"]  # on the line under the table
            put_row(table, job.id, cells)
        # rows are added at the bottom: put them in the list's order, in place (the cursor
        # stays on its job; nothing is cleared)
        shown = [
            str(table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value)
            for i in range(len(keys))
        ]
        if shown != keys:
            place = {key: i for i, key in enumerate(keys)}
            table.sort("id", key=lambda cell: place[str(cell)])
            if current in place:
                table.move_cursor(row=place[current], animate=False)
        self.show_status()
        self.show_detail()

    def show_detail(self) -> None:
        """The highlighted job's endpoints under a table too narrow for them (local jobs)."""
        detail = self.query_one("#jobs-detail", Static)
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        job_id = self.cursor_job()
        job = next((j for j in self.jobs if j.id == job_id), None)
        shown = job is not None and "endpoints" not in table.columns and "ready" in table.columns
        detail.display = shown
        if job is not None and shown:
            detail.update(endpoints_line(job))

    def on_resize(self, event: events.Resize) -> None:
        # only when the width crosses WIDE: a render on every resize event starved the polls
        if (event.size.width < WIDE) != (self._narrow_shown):
            self.render_rows()

    @on(DataTable.RowHighlighted, "#jobs-table")
    def row_highlighted(self) -> None:
        self.show_detail()

    def cursor_job(self) -> str | None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value)

    def show_status(self) -> None:
        arrow = "↑" if self.reverse else "↓"
        state = self.state.value if self.state else "all"
        shown = len(self.visible_jobs())
        count = f"{len(self.jobs)} jobs" + (f", {shown} shown" if shown != len(self.jobs) else "")
        done = len(finished(self.jobs))
        text = f"sort {self.order} {arrow}  ·  state {state}  ·  {count}"
        if done:
            text += f"  ·  {done} finished"
        self.query_one("#jobs-status", Static).update(text)

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

    def action_state_filter(self) -> None:
        at = STATE_FILTERS.index(self.state)
        self.state = STATE_FILTERS[(at + 1) % len(STATE_FILTERS)]
        self.render_rows()

    def action_sort(self) -> None:
        self.order = SORTS[(SORTS.index(self.order) + 1) % len(SORTS)]
        self.reverse = False
        self.render_rows()

    def action_sort_by(self, order: str) -> None:
        """Sort by ORDER; asked again, the other way round (as k9s does)."""
        self.reverse = not self.reverse if order == self.order else False
        self.order = order
        self.render_rows()

    def action_cursor(self, direction: str) -> None:
        table: DataTable[Any] = self.query_one("#jobs-table", DataTable)
        table.action_cursor_down() if direction == "down" else table.action_cursor_up()

    def action_remove_finished(self) -> None:
        from nosana_tui.ui.widgets.confirm import Confirm

        doomed = finished(self.jobs)
        if not doomed:
            self.notify("no finished jobs to remove", markup=False)
            return
        names = ", ".join(j.name for j in doomed[:3]) + (", …" if len(doomed) > 3 else "")
        several = len(doomed) != 1
        question = (
            f"Remove {len(doomed)} finished job{'s' if several else ''} ({names}), "
            f"with {'their' if several else 'its'} containers, volumes and logs?"
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_jobs([j.id for j in doomed])

        self.app.push_screen(Confirm(question), answered)

    @work(exclusive=True, group="jobs-remove", exit_on_error=False)
    async def remove_jobs(self, job_ids: list[str]) -> None:
        client = nosana_app(self).client
        if client is None:
            return
        removed, failed = 0, []
        for job_id in job_ids:
            try:
                await client.remove(job_id)
                removed += 1
            except NodeError as err:
                failed.append(f"{job_id}: {err}")
        self.notify(f"removed {removed} finished job{'s' if removed != 1 else ''}", markup=False)
        for problem in failed:
            self.notify(problem, severity="error", timeout=8, markup=False)
        self.stop_polls()
        self.poll()

    def action_save_template(self) -> None:
        job_id = self.cursor_job()
        if job_id is not None:
            self.save_template(job_id)

    @work(group="jobs-template", exit_on_error=False)
    async def save_template(self, job_id: str) -> None:
        """The job's definition, as the node holds it, becomes a template in the user's folder
        (Templates lists it; ``e`` there edits it)."""
        from nosana_tui.jobformat import templates as tpl
        from nosana_tui.ui import usertemplates

        app = nosana_app(self)
        client = app.client
        job = next((j for j in self.jobs if j.id == job_id), None)
        if client is None or job is None:
            return
        try:
            definition = await client.definition(job_id)
        except NodeError as err:
            self.notify(str(err), severity="error", markup=False)
            return
        folder = app.locations.templates_dir
        taken = [t.id for t in tpl.load_library(folder)[0]]
        made = usertemplates.from_definition(
            folder, job.name, definition, taken, f"saved from job {job_id}"
        )
        self.notify(
            f"template {made.parent.name} saved in {folder} (1 Templates lists it)", markup=False
        )

    @on(DataTable.RowSelected, "#jobs-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_job(str(event.row_key.value))

    def action_open(self) -> None:
        job_id = self.cursor_job()
        if job_id is not None:
            self.open_job(job_id)

    def open_job(self, job_id: str) -> None:
        from nosana_tui.ui.screens.job import JobScreen

        self.app.push_screen(JobScreen(job_id))
