"""Nodes: the local agent first, then the nodes added by URL and token; switch, add, remove."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.ui.settings import NodeEntry
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.nodebar import NodeBar


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
            self.notify("the URL must start with http:// or https://", severity="error")
            return
        token = self.query_one("#node-token", Input).value.strip() or None
        self.dismiss(NodeEntry(name or url, url, token))

    def action_cancel(self) -> None:
        self.dismiss(None)


class NodesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "switch", "Use node", id="nodes.switch"),
        Binding("a", "add", "Add", id="nodes.add"),
        Binding("d", "remove", "Remove", id="nodes.remove"),
        Binding("i", "info", "Info", id="nodes.info"),
    ]

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
        yield Footer()

    def on_screen_resume(self) -> None:
        self.render_rows()
        self.action_info()

    def on_node_changed(self) -> None:
        self.render_rows()

    def render_rows(self) -> None:
        app: Any = self.app
        table: DataTable[Any] = self.query_one("#nodes-table", DataTable)
        table.clear()  # a handful of rows that change only on add/remove/switch
        for node in app.nodes:
            token = "own file" if node.token is None else "set"
            table.add_row(
                "▶" if node.url == app.node.url else "", node.name, node.url, token, key=node.url
            )
        table.focus()

    def _current_row(self) -> NodeEntry | None:
        app: Any = self.app
        table: DataTable[Any] = self.query_one("#nodes-table", DataTable)
        if not table.row_count:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((n for n in app.nodes if n.url == row_key.value), None)

    def action_switch(self) -> None:
        node = self._current_row()
        if node is not None:
            app: Any = self.app
            app.switch_node(node)
            self.notify(f"talking to {node.name} ({node.url})")
            self.render_rows()

    def action_add(self) -> None:
        def added(entry: NodeEntry | None) -> None:
            if entry is not None:
                app: Any = self.app
                app.add_node(entry)
                self.render_rows()

        self.app.push_screen(AddNode(), added)

    def action_remove(self) -> None:
        node = self._current_row()
        if node is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                app: Any = self.app
                app.remove_node(node)
                self.render_rows()

        self.app.push_screen(Confirm(f"Forget node {node.name} ({node.url})?"), answered)

    @on(DataTable.RowHighlighted, "#nodes-table")
    def highlighted(self) -> None:
        self.action_info()

    @work(exclusive=True, group="node-info-view", exit_on_error=False)
    async def action_info(self) -> None:
        node = self._current_row()
        box = self.query_one("#node-info-text", Static)
        if node is None:
            return
        app: Any = self.app
        if node.url == app.node.url and app.client is not None:
            client, own = app.client, False
        else:
            from nosana_tui.client.local import is_local, read_token

            token = node.token or (read_token(app.locations) if is_local(node.url) else None)
            client, own = NodeClient(node.url, token, timeout=5), True
        try:
            info = await client.info()
            box.update(json.dumps(info.model_dump(mode="json"), indent=2))
        except NodeError as err:
            box.update(f"{node.name}: {err}")
        finally:
            if own:
                await client.close()
