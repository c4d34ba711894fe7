"""The API key's deployments on the Nosana network (reference nosana-network.md §1.3
Deployments), reached from the network's row in Nodes (``D``): name, status, jobs of replicas,
strategy, market and endpoints, keyed by the deployment's id and updated in place; ``s``
starts and ``x`` stops the highlighted one (asking first: it spends or ends credits' work),
``r`` reads them again. Keyboard only; fits 80x24 (the endpoints column takes what is left).

Every page of the list is read, up to ``MOST`` deployments: past that the screen says that more
exist (and that ``nosana-tui deployments list`` lists them all) rather than read without end
every ``POLL`` seconds.

The list is read while the screen is on top: poll, render, then re-arm a one-shot timer."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from nosana_tui.ui.widgets.confirm import Confirm

if TYPE_CHECKING:
    from nosana_tui.client.network import Deployment, NetworkClient
    from nosana_tui.client.network_node import NetworkConfig

POLL = 10.0  # seconds between reads of the list while the screen is shown
MOST = 500  # deployments shown at the most: every read reads them all, page by page
PAGE = 100  # deployments a page (the gateway's largest: 10, 20, 50 or 100)
COLUMNS = (
    ("name", "NAME", 16),
    ("status", "STATUS", 9),
    ("jobs", "JOBS", 5),
    ("strategy", "STRATEGY", 13),
    ("market", "MARKET", 12),
    ("endpoints", "ENDPOINTS", None),
)
STATUS_COLOUR = {  # theme variables
    "RUNNING": "success",
    "STARTING": "warning",
    "STOPPING": "warning",
    "ERROR": "error",
    "INSUFFICIENT_FUNDS": "error",
}


class DeploymentsScreen(Screen[None]):
    DEFAULT_CSS = """
    DeploymentsScreen #deployments-table { height: 1fr; scrollbar-size-horizontal: 0; }
    DeploymentsScreen #deployments-note { height: auto; max-height: 3; padding: 0 1;
                                          color: $foreground-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="deployments.back"),
        Binding(
            "s", "start", "Start", id="deployments.start", tooltip="Start the deployment (asks)"
        ),
        Binding("x", "stop", "Stop", id="deployments.stop", tooltip="Stop the deployment (asks)"),
        Binding("r", "refresh", "Refresh", id="deployments.refresh", tooltip="Read them again"),
    ]

    def __init__(self, conf: NetworkConfig) -> None:
        super().__init__()
        self.conf = conf
        self.deployments: dict[str, Deployment] = {}
        self.slugs: dict[str, str] = {}
        self.more = False  # the key has more than MOST deployments: the first MOST are shown
        self._client: NetworkClient | None = None
        self._timer: Timer | None = None

    @property
    def client(self) -> NetworkClient:
        if self._client is None:
            from nosana_tui.client.network_node import network_client

            self._client = network_client(self.conf)
        return self._client

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Any] = DataTable(id="deployments-table", cursor_type="row")
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static(f"nosana {self.conf.network}: reading deployments…", id="deployments-note")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Deployments · nosana {self.conf.network}"

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def on_screen_suspend(self) -> None:
        self._disarm()

    async def on_unmount(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # --- reading

    def action_refresh(self) -> None:
        self._disarm()
        self.poll()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _rearm(self) -> None:
        """One timer at most: the next read, POLL seconds from now, while the screen is shown."""
        self._disarm()
        if self.is_current:
            self._timer = self.set_timer(POLL, self.poll)

    @work(exclusive=True, group="deployments-poll", exit_on_error=False)
    async def poll(self) -> None:
        """Read, render, re-arm. A read cancelled by a newer one (``r``, a change) re-arms
        nothing: the newer one does, so there is never more than one chain of reads."""
        from nosana_tui.client.network import NetworkError

        try:
            # one past the bound: whether more exist, without reading them all
            found = await self.client.deployments(page_size=PAGE, limit=MOST + 1)
        except NetworkError:
            self._rearm()  # said by the worker's handler; read again later
            raise
        if not self.slugs:
            with contextlib.suppress(NetworkError):
                self.slugs = {m.address: m.slug for m in await self.client.markets()}
        self.render_rows(found)
        self._rearm()

    def render_rows(self, found: list[Deployment]) -> None:
        """Rows keyed by id: new ones added, changed cells updated, gone ones removed. Past
        ``MOST`` the first ``MOST`` are shown, and the screen says that more exist."""
        self.more = len(found) > MOST
        found = found[:MOST]
        table = self.query_one("#deployments-table", DataTable)
        variables = self.app.get_css_variables()
        seen = set()
        for deployment in found:
            seen.add(deployment.id)
            cells = self.cells(deployment, variables)
            if deployment.id in self.deployments:
                for key, value in cells.items():
                    table.update_cell(deployment.id, key, value)
            else:
                table.add_row(*cells.values(), key=deployment.id)
            self.deployments[deployment.id] = deployment
        for gone in [d for d in self.deployments if d not in seen]:
            table.remove_row(gone)
            del self.deployments[gone]
        self.show_highlighted()

    @on(DataTable.RowHighlighted, "#deployments-table")
    def show_highlighted(self) -> None:
        """Below the table, the highlighted deployment in full: its id and endpoints (the
        table's column cuts them at 80 columns)."""
        note = self.query_one("#deployments-note", Static)
        deployment = self._highlighted()
        if deployment is None:
            note.update(
                Text("no deployments yet: `nosana-tui deployments create JOB --market M ...`")
            )
            return
        live = sum(1 for d in self.deployments.values() if d.live)
        count = f"{len(self.deployments)}{'+' if self.more else ''}"
        self.sub_title = f"Deployments · nosana {self.conf.network} · {count}, {live} live"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{deployment.name} ", style="bold")
        text.append(f"{deployment.id}\n")
        urls = [e.url for e in deployment.endpoints]
        text.append("endpoints: " + (" ".join(urls) if urls else "none"))
        if self.more:
            text.append(
                f"\nthe first {MOST} shown, more exist: `nosana-tui deployments list` lists all",
                style="bold",
            )
        note.update(text)

    def cells(self, deployment: Deployment, variables: dict[str, str]) -> dict[str, Any]:
        status = str(deployment.status)  # a status newer than this client: as the gateway says
        style = variables.get(STATUS_COLOUR.get(status, ""), "")
        return {
            "name": Text(deployment.name, no_wrap=True, overflow="ellipsis"),
            "status": Text(status, style=style),
            "jobs": f"{deployment.active_jobs}/{deployment.replicas}",
            "strategy": str(deployment.strategy),
            "market": Text(self.slugs.get(deployment.market, deployment.market)),
            "endpoints": Text(", ".join(e.url for e in deployment.endpoints) or "-"),
        }

    # --- commands

    def _highlighted(self) -> Deployment | None:
        table = self.query_one("#deployments-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.deployments.get(str(key))

    def action_start(self) -> None:
        self._ask("start")

    def action_stop(self) -> None:
        self._ask("stop")

    def _ask(self, verb: str) -> None:
        deployment = self._highlighted()
        if deployment is None:
            self.notify("no deployment to " + verb, severity="warning", markup=False)
            return
        question = (
            f"Start {deployment.name}? It lists {deployment.replicas} jobs (spends credits)."
            if verb == "start"
            else f"Stop {deployment.name}? Its jobs stop; unused credits come back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.change(deployment.id, verb)

        self.app.push_screen(Confirm(question), answered)

    @work(group="deployments-change", exit_on_error=False)
    async def change(self, deployment_id: str, verb: str) -> None:
        call = self.client.start_deployment if verb == "start" else self.client.stop_deployment
        changed = await call(deployment_id)
        name = self.deployments[deployment_id].name if deployment_id in self.deployments else ""
        status = str(changed.status) if changed.status else verb
        self.notify(f"{name or deployment_id}: {status}", markup=False)
        self.action_refresh()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read or command: its message (the network's words, never markup)."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.notify(str(event.worker.error), severity="error", markup=False, timeout=8)

    def action_back(self) -> None:
        self.app.pop_screen()
