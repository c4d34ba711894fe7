"""Nodes: the local agent first, then the nodes added by URL and token, then the Nosana network
(its account, credits and markets, with each market's GPU and price per hour); enter switches
the app to the row's node, add and remove agents.

Below them, the current node's GPUs live (``g`` shows or hides them). The GPU poll runs on a
fixed cadence, the node's ``interval_s`` (never more than once a second), only while this
screen is on top and the panel shown; a tick that finds the previous request still in flight is
dropped and counted, so a slow node never gets a queue of requests.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Label, Static
from textual.worker import Worker

from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.sections import section_tabs
from nosana_tui.ui.settings import NodeEntry
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.gpupanel import GpuPanel
from nosana_tui.ui.widgets.nodebar import NodeBar

GPU_POLL = 1.0  # seconds: the default cadence, and the floor whatever the node asks for
GPU_ERROR_POLL = 3.0  # after a failed poll (an old agent without the route, a node that is down)
GPU_IDLE_POLL = 10.0  # a node without GPUs: its agent looks for new ones once a minute


class AddNode(ModalScreen[NodeEntry | None]):
    DEFAULT_CSS = """
    AddNode { align: center middle; }
    AddNode > Vertical { width: 70; height: auto; padding: 1 2; background: $surface;
                         border: round $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="addnode.cancel")
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add a node (enter in the last field saves)")
            yield Input(placeholder="name", id="node-name")
            yield Input(placeholder="URL, e.g. http://10.0.0.5:5001", id="node-url")
            yield Input(placeholder="token (optional)", password=True, id="node-token")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "node-token":
            self.focus_next()
            return
        name = self.query_one("#node-name", Input).value.strip()
        url = self.query_one("#node-url", Input).value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            self.notify(
                "the URL must start with http:// or https://", severity="error", markup=False
            )
            return
        token = self.query_one("#node-token", Input).value.strip() or None
        self.dismiss(NodeEntry(name or url, url, token))

    def action_cancel(self) -> None:
        self.dismiss(None)


class NodesScreen(Screen[None]):
    SUB_TITLE = section_tabs("Nodes")
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the table would take enter for itself, and the footer would not show it
        Binding("enter", "switch", "Use node", id="nodes.switch", priority=True),
        Binding("a", "add", "Add", id="nodes.add"),
        Binding("d", "remove", "Remove", id="nodes.remove"),
        Binding("i", "info", "Info", id="nodes.info"),
        Binding(
            "D",
            "deployments",
            "Deployments",
            id="nodes.deployments",
            tooltip="The Nosana network's deployments (on the network's row)",
        ),
        Binding(
            "g",
            "toggle_gpus",
            "GPUs",
            id="nodes.gpus",
            tooltip="Show or hide the current node's GPUs, live",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._gpu_timer: Timer | None = None
        self._gpu_interval = GPU_POLL
        self._gpu_worker: Worker[None] | None = None
        self._gpu_client: NodeClient | None = None  # whose telemetry the panel shows

    def compose(self) -> ComposeResult:
        yield Header()
        yield NodeBar()
        table: DataTable[Any] = DataTable(id="nodes-table", cursor_type="row")
        table.add_column("", key="current")
        table.add_column("NAME", key="name")
        table.add_column("URL", key="url")
        table.add_column("TOKEN", key="token")
        yield table
        with VerticalScroll(id="node-info"):
            yield Static("", id="node-info-text")
        with VerticalScroll(id="gpu-box"):
            yield GpuPanel(id="gpu-panel")
        yield Footer()

    def on_screen_resume(self) -> None:
        self.render_rows()
        self.action_info()
        self.start_gpu_poll()

    def on_screen_suspend(self) -> None:
        self.stop_gpu_poll()

    def on_mount(self) -> None:
        self.watch(nosana_app(self), "client", self.client_changed, init=False)

    def client_changed(self) -> None:
        """Another node (or none, while the app switches): mark it, and poll its GPUs."""
        self.render_rows()
        if self.is_active:
            self.stop_gpu_poll()  # a request to the old node is of no use now
            self.start_gpu_poll()

    # --- the GPU panel ------------------------------------------------------------------------

    @property
    def gpus_shown(self) -> bool:
        return bool(self.query_one("#gpu-box").display)

    def action_toggle_gpus(self) -> None:
        box = self.query_one("#gpu-box")
        box.display = not box.display
        if box.display:
            self.start_gpu_poll()
        else:
            self.stop_gpu_poll()

    def start_gpu_poll(self) -> None:
        """(Re)start the cadence, and poll now unless a poll is in flight (Textual may resume a
        screen twice in a row), if the panel can be seen."""
        self.stop_gpu_poll(cancel=False)
        if not self.is_active or not self.gpus_shown:
            return
        self._gpu_timer = self.set_interval(self._gpu_interval, self.gpu_tick)
        if not self._gpu_in_flight:
            self.gpu_tick()

    @property
    def _gpu_in_flight(self) -> bool:
        return self._gpu_worker is not None and not self._gpu_worker.is_finished

    def stop_gpu_poll(self, *, cancel: bool = True) -> None:
        if self._gpu_timer is not None:
            self._gpu_timer.stop()
            self._gpu_timer = None
        if cancel:
            self.workers.cancel_group(self, "gpu-poll")

    @property
    def gpu_polling(self) -> bool:
        """Whether the GPU cadence runs (false while the screen is hidden or the panel is)."""
        return self._gpu_timer is not None

    def gpu_tick(self) -> None:
        panel = self.query_one(GpuPanel)
        if not self.is_active or not self.gpus_shown:
            self.stop_gpu_poll()
            return
        if self._gpu_in_flight:
            panel.skipped += 1
            return
        app = nosana_app(self)
        if app.client is not self._gpu_client:  # another node (or none): forget the old one's
            self._gpu_client = app.client
            panel.telemetry, panel.error, panel.skipped = None, None, 0
        panel.node = app.node.name
        if app.node.network is not None:  # no GPU of its own: the markets list theirs
            panel.telemetry, panel.error = None, "the Nosana network: its GPUs are its markets'"
            return
        if app.client is None:
            panel.error = None if app.node_error is None else "the node is not answering"
            return
        self._gpu_worker = self.poll_gpus(app.client)

    @work(group="gpu-poll", exit_on_error=False)
    async def poll_gpus(self, client: NodeClient) -> None:
        panel = self.query_one(GpuPanel)
        try:
            telemetry = await client.gpus()
        except (NodeError, ValueError) as err:  # ValueError: an answer that does not parse
            if self._gpu_client is client and nosana_app(self).client is client:
                panel.error = gpu_error(err)
                self._set_gpu_interval(max(GPU_ERROR_POLL, self._gpu_interval))
            return
        app = nosana_app(self)
        if self._gpu_client is not client or app.client is not client:
            return  # the node changed while this was in flight
        panel.telemetry, panel.error = telemetry, None
        wanted = max(GPU_POLL, telemetry.interval_s) if telemetry.gpus else GPU_IDLE_POLL
        self._set_gpu_interval(wanted)

    def _set_gpu_interval(self, interval: float) -> None:
        """A new cadence from the next tick on (the node asked for one, or it failed)."""
        if interval == self._gpu_interval:
            return
        self._gpu_interval = interval
        if self._gpu_timer is not None:
            self._gpu_timer.stop()
            self._gpu_timer = self.set_interval(interval, self.gpu_tick)

    def entries(self) -> list[NodeEntry]:
        """The agents first (local, then those added), then the Nosana network."""
        nodes = nosana_app(self).nodes
        return [n for n in nodes if n.network is None] + [n for n in nodes if n.network]

    def render_rows(self) -> None:
        app = nosana_app(self)
        table: DataTable[Any] = self.query_one("#nodes-table", DataTable)
        row = table.cursor_row
        table.clear()  # a handful of rows that change only on add/remove/switch
        for node in self.entries():
            if node.network is not None:
                token = "API key set" if self.api_key_set(node) else "no API key"
            else:
                token = "own file" if node.token is None else "set"
            table.add_row(  # names and URLs are the user's text: never markup
                "▶" if node.url == app.node.url else "",
                Text(node.name),
                Text(node.url),
                token,
                key=node.url,
            )
        if row and table.row_count:  # where it was (clear() put it on the first row)
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)
        table.focus()

    def api_key_set(self, node: NodeEntry) -> bool:
        from nosana_tui.client.network_node import network_config

        conf = network_config(node.network, nosana_app(self).locations.config_file)
        return bool(conf.api_key)

    def _current_row(self) -> NodeEntry | None:
        app = nosana_app(self)
        table: DataTable[Any] = self.query_one("#nodes-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((n for n in app.nodes if n.url == row_key.value), None)

    @on(DataTable.RowSelected, "#nodes-table")
    def row_selected(self) -> None:
        """A click on the chosen row, as enter."""
        self.action_switch()

    def action_switch(self) -> None:
        node = self._current_row()
        if node is not None:
            app = nosana_app(self)
            app.switch_node(node)
            self.notify(f"talking to {node.name} ({node.url})", markup=False)
            self.render_rows()

    def action_add(self) -> None:
        def added(entry: NodeEntry | None) -> None:
            if entry is not None:
                app = nosana_app(self)
                app.add_node(entry)
                self.render_rows()

        self.app.push_screen(AddNode(), added)

    def action_remove(self) -> None:
        node = self._current_row()
        if node is None:
            return
        if node.network is not None:
            self.notify("the Nosana network cannot be removed", severity="warning", markup=False)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                app = nosana_app(self)
                app.remove_node(node)
                self.render_rows()

        self.app.push_screen(Confirm(f"Forget node {node.name} ({node.url})?"), answered)

    def action_deployments(self) -> None:
        """The highlighted network's deployments (its own screen: a table of them)."""
        from nosana_tui.client.network_node import network_config
        from nosana_tui.ui.screens.deployments import DeploymentsScreen

        node = self._current_row()
        if node is None or node.network is None:
            self.notify(
                "deployments are the Nosana network's: highlight its row first",
                severity="warning",
                markup=False,
            )
            return
        conf = network_config(node.network, nosana_app(self).locations.config_file)
        self.app.push_screen(DeploymentsScreen(conf))

    @on(DataTable.RowHighlighted, "#nodes-table")
    def highlighted(self) -> None:
        self.refresh_bindings()  # D is the network's: in the footer on its row only
        self.action_info()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "deployments":
            try:
                node = self._current_row()
            except NoMatches:  # not mounted yet
                return False
            return node is not None and node.network is not None
        return True

    @work(exclusive=True, group="node-info-view", exit_on_error=False)
    async def action_info(self) -> None:
        node = self._current_row()
        box = self.query_one("#node-info-text", Static)
        if node is None:
            return
        app = nosana_app(self)
        if node.network is not None:
            await self.show_network(node, box)
            return
        if node.url == app.node.url and app.client is not None:
            client, own = app.client, False
        else:
            from nosana_tui.client.local import token_for

            try:
                token = token_for(app.locations, node.url, node.token)
            except NodeError as err:
                box.update(Text(f"{node.name}: {err}"))
                return
            client, own = NodeClient(node.url, token, timeout=5), True
        try:
            info = await client.info()
            box.update(Text(json.dumps(info.model_dump(mode="json"), indent=2)))  # not markup
        except NodeError as err:
            box.update(Text(f"{node.name}: {err}"))
        finally:
            if own:
                await client.close()

    async def show_network(self, node: NodeEntry, box: Static) -> None:
        """The network's account (API key set or not, the wallet's public address), credits and
        markets, with each market's GPU and price per hour. No secret is shown."""
        from nosana_tui.client import network as net
        from nosana_tui.client.network_node import (
            NetworkNodeClient,
            connect_network,
            network_config,
        )

        app = nosana_app(self)
        current = app.client if isinstance(app.client, NetworkNodeClient) else None
        if current is not None and current.conf.network == node.network:
            client, own = current, False
        else:
            client = connect_network(network_config(node.network, app.locations.config_file))
            own = True
        box.update(Text(f"{node.name}: reading its markets…"))
        try:
            wallet, why = client.wallet_address()
            account = Text("account  ", style="bold", no_wrap=True, overflow="ellipsis")
            account.append("API key set" if client.conf.api_key else "no API key (NOSANA_API_KEY)")
            account.append(" · wallet ")
            account.append(wallet or f"none ({why})")
            try:
                credits = await client.credits()
                money = Text(
                    f"${credits.available:,.2f} available (${credits.reservedCredits:,.2f} "
                    "reserved)"
                )
            except net.NetworkError as err:
                money = Text(str(err).split(";")[0])
            lines = [account, Text.assemble(("credits  ", "bold"), money)]
            try:
                markets = await client.markets()
            except net.NetworkError as err:
                lines.append(Text(f"markets: {err}"))
                box.update(Text("\n").join(lines))
                return
            box.update(Text("\n").join([*lines, Text(), market_table(markets)]))
        finally:
            if own:
                await client.close()


def market_table(markets: list[Any]) -> Text:
    """The markets as aligned text: slug, GPU, USD and NOS per hour (the network's words,
    never markup)."""
    rows = [("MARKET", "GPU", "$/HOUR", "NOS/HOUR")]
    for market in markets:
        usd = market.usd_per_hour
        rows.append(
            (
                market.slug,
                ", ".join(market.gpu_types) or "-",
                "-" if usd is None else f"${usd:,.2f}",
                f"{market.nos_per_hour:.4f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, row in enumerate(rows):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        text.append(line + ("\n" if index < len(rows) - 1 else ""), "bold" if not index else "")
    return text


def gpu_error(err: Exception) -> str:
    """A failed GPU poll as one line for the panel."""
    if isinstance(err, NodeError) and err.status == 404:
        return "this agent has no GPU route yet (GET /api/gpus: HTTP 404)"
    if isinstance(err, NodeError):
        return str(err)
    return f"the node's GPU answer does not parse: {str(err).splitlines()[0]}"
