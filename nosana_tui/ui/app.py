"""The Textual app: three sections (Templates, Jobs, Nodes) over one node client.

Everything that reaches a node goes through :mod:`nosana_tui.client`; the app never touches
Docker or the agent's internals. Polls re-arm a one-shot timer after each answer, so they never
overlap, and only the section on screen polls.

The node's client is the app's :attr:`NosanaApp.client`, None while it connects. Screens watch it
(``self.watch(nosana_app(self), "client", ...)``) and start their streams and polls when it
changes: attributes down, and nobody waits in a loop for a client to appear.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from nosana_tui.client.local import connect, is_local, token_for
from nosana_tui.config import Paths, local_node_url, paths
from nosana_tui.ui.settings import (
    SECTIONS,
    NodeEntry,
    Settings,
    load_settings,
    save_nodes,
    save_section,
    save_theme,
)
from nosana_tui.ui.themes import builtin_themes_dir, load_themes

if TYPE_CHECKING:
    from nosana_tui.api.models import NodeInfo
    from nosana_tui.client.node import NodeClient

# Before the first frame the app imports only what draws it: the client (httpx) comes with the
# first connection, the network's models (client.network_node) with the first look at the nodes
# (bench/README.md, "Start-up").

NODE_POLL = 5.0


class NosanaApp(App[int]):
    """``nosana-tui`` with no command."""

    CSS_PATH = "app.tcss"
    TITLE = "nosana-tui"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "section('templates')", "Templates", id="app.templates", show=False),
        Binding("2", "section('jobs')", "Jobs", id="app.jobs", show=False),
        Binding("3", "section('nodes')", "Nodes", id="app.nodes", show=False),
        Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    client: var[NodeClient | None] = var(None)
    """The current node's client; None until it answers (or while switching nodes)."""

    def __init__(
        self,
        *,
        node_url: str | None = None,
        open_file: Path | None = None,
        locations: Paths | None = None,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        self.locations = locations or paths()
        self.settings: Settings = load_settings(self.locations)
        self.open_file = open_file
        self.autostart = autostart
        local = NodeEntry("local", local_node_url())
        self._node_entries: list[NodeEntry] = [
            local,
            *(n for n in self.settings.nodes if n.url != local.url),
        ]
        self._network_listed = False  # the network's entry: see `nodes`
        self.node: NodeEntry = next((n for n in self._node_entries if n.url == node_url), local)
        if node_url and self.node.url != node_url:
            self.node = next((n for n in self.nodes if n.url == node_url), local)  # the network?
            if self.node.url != node_url:
                self.node = NodeEntry(node_url, node_url)
                self.nodes.append(self.node)
        self.node_info: NodeInfo | None = None
        self.node_error: str | None = None
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            self.animation_level = "none"  # over SSH every frame costs

    @property
    def nodes(self) -> list[NodeEntry]:
        """The local agent, the nodes added, then the Nosana network itself (issue 12): its
        entry is made on the first look at the list, not before the first frame (it imports the
        network's client). Its settings were checked with the others' (``load_settings``)."""
        if not self._network_listed:
            from nosana_tui.client.network_node import network_config, network_entry

            self._network_listed = True
            conf = network_config(None, self.locations.config_file)
            self._node_entries.append(network_entry(conf))
        return self._node_entries

    @nodes.setter
    def nodes(self, value: list[NodeEntry]) -> None:
        self._network_listed = True  # a list made from this one: the network is in it
        self._node_entries = value

    # --- start-up -------------------------------------------------------------------------

    def on_mount(self) -> None:
        themes, problems = load_themes([builtin_themes_dir(), self.locations.data_dir / "themes"])
        for theme in themes:
            self.register_theme(theme)
        names = {t.name for t in themes} | set(self.available_themes)
        wanted = self.settings.theme
        if wanted not in names:
            problems.append(f"theme {wanted!r} not found; using nosana-dark")
            wanted = "nosana-dark" if "nosana-dark" in names else "textual-dark"
        self.theme = wanted
        self._saved_theme = wanted
        self.theme_changed_signal.subscribe(self, self.theme_picked)
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
        for problem in [*self.settings.problems, *problems]:
            self.notify(problem, severity="warning", timeout=8, markup=False)
        # each section's module is imported when the section is first shown
        self.add_mode("templates", _templates_screen)
        self.add_mode("jobs", _jobs_screen)
        self.add_mode("nodes", _nodes_screen)
        # the section it was left on (a file to open: its preview, in Templates); once the node
        # answers, Jobs if it has jobs, else Templates (``choose_start``)
        remembered = self.settings.section
        self.switch_mode("templates" if self.open_file or remembered is None else remembered)
        self._start_switches = self._switches
        # the first frame first: the client (httpx) and the node's first answers come after it
        self.call_after_refresh(self.connect_node)

    _switches = 0  # sections switched to since start: a person who moved is not moved back
    _start_switches: int | None = None  # until the start section is chosen
    _touched = False  # a key pressed or a click since start
    _saved_theme = ""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)) and not event.is_forwarded:
            self._touched = True  # a person has started: the start section stays
        await super().on_event(event)

    def switch_mode(self, mode: str) -> Any:
        """Switch section, and remember it for the next start."""
        self._switches += 1
        done = super().switch_mode(mode)
        if mode in SECTIONS:
            problem = save_section(self.locations, mode)
            if problem:
                self.notify(problem, severity="warning", timeout=6, markup=False)
        return done

    @work(group="start-section", exit_on_error=False)
    async def choose_start(self, client: NodeClient) -> None:
        """The first time the node answers: open on Jobs when it has jobs, else on Templates
        (the issue's "the UI opens on Templates even when jobs are running"), unless the person
        has moved on, or opened something, already."""
        from nosana_tui.client.node import NodeError

        switches, self._start_switches = self._start_switches, None
        if switches is None or self.open_file is not None:
            return
        try:
            jobs = await client.jobs()
        except NodeError:
            return
        if self._touched or self._switches != switches or len(self.screen_stack) > 1:
            return
        if jobs and self.current_mode == "templates":
            self.switch_mode("jobs")
        elif not jobs and self.current_mode == "jobs":
            await self.switch_mode("templates")
            # as on a start on Templates, the list has the focus: Textual's auto-focus gives a
            # screen shown by a switch its search box, which would take the next key ("3")
            self.screen.set_focus(None)
            await self.screen.run_action("focus_list")

    def theme_picked(self, theme: Any) -> None:
        """A theme chosen in the palette is written to config.toml, so the next start has it."""
        if theme.name == self._saved_theme:
            return
        self._saved_theme = theme.name
        problem = save_theme(self.locations, theme.name)
        if problem:
            self.notify(problem, severity="warning", timeout=8, markup=False)

    # --- the node ---------------------------------------------------------------------------

    @work(exclusive=True, group="connect", exit_on_error=False)
    async def connect_node(self) -> None:
        from nosana_tui.client.node import NodeClient, NodeError

        old, self.client = self.client, None
        if old is not None:
            await old.close()
        self.node_info, self.node_error = None, None
        self.refresh_node_bar()
        entry = self.node
        client: NodeClient
        try:
            if entry.network is not None:
                from nosana_tui.client.network_node import connect_network, network_config

                client = connect_network(network_config(entry.network, self.locations.config_file))
            elif entry.name == "local" and is_local(entry.url):
                client = await connect(
                    self.locations,
                    None if entry.url == local_node_url() else entry.url,
                    autostart=self.autostart,
                    say=lambda text: self.notify(text, timeout=6, markup=False),
                )
            else:
                token = token_for(self.locations, entry.url, entry.token)
                client = NodeClient(entry.url, token)
        except NodeError as err:
            self.node_error = str(err)
            self.refresh_node_bar()
            return
        self.client = client  # the screens watching it start their streams and polls
        self.poll_node()
        if self._start_switches is not None and entry.network is None:
            self.choose_start(client)

    @work(exclusive=True, group="node-info", exit_on_error=False)
    async def poll_node(self) -> None:
        from nosana_tui.client.node import NodeError

        client = self.client
        if client is None:
            return
        try:
            self.node_info = await client.info()
            self.node_error = None
        except NodeError as err:
            self.node_info, self.node_error = None, str(err)
        self.refresh_node_bar()
        self.set_timer(NODE_POLL, self.poll_node)

    def refresh_node_bar(self) -> None:
        from nosana_tui.ui.widgets.nodebar import NodeBar

        for bar in self.query(NodeBar):
            bar.show(self.node, self.node_info, self.node_error)
        if isinstance(self.screen, Screen):
            for bar in self.screen.query(NodeBar):
                bar.show(self.node, self.node_info, self.node_error)

    def switch_node(self, entry: NodeEntry) -> None:
        self.node = entry
        self.connect_node()

    def add_node(self, entry: NodeEntry) -> None:
        self.nodes = [n for n in self.nodes if n.url != entry.url] + [entry]
        save_nodes(self.locations, [n for n in self.nodes if n.name != "local"])

    def remove_node(self, entry: NodeEntry) -> None:
        if entry.network is not None:
            self.notify("the Nosana network cannot be removed", severity="warning", markup=False)
            return
        if entry.name == "local":
            self.notify("the local node cannot be removed", severity="warning", markup=False)
            return
        self.nodes = [n for n in self.nodes if n.url != entry.url]
        save_nodes(self.locations, [n for n in self.nodes if n.name != "local"])
        if self.node.url == entry.url:
            self.switch_node(self.nodes[0])

    # --- actions ----------------------------------------------------------------------------

    def action_section(self, name: str) -> None:
        self.switch_mode(name)

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        yield from super().get_system_commands(screen)
        # every key binding of what is on screen is a command too, under its description
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.description in seen or not active.enabled:
                continue
            seen.add(binding.description)
            yield SystemCommand(
                binding.description,
                f"key: {binding.key_display or binding.key}",
                partial(self.call_later, self.run_action, binding.action, active.node),
            )
        yield SystemCommand(
            "Templates", "Show the template library", lambda: self.switch_mode("templates")
        )
        yield SystemCommand("Jobs", "Show the jobs on this node", lambda: self.switch_mode("jobs"))
        yield SystemCommand("Nodes", "Show and switch nodes", lambda: self.switch_mode("nodes"))

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """One place where background failures become notifications."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            from nosana_tui.client.node import NodeError

            error = event.worker.error
            text = (
                str(error) if isinstance(error, NodeError) else f"{type(error).__name__}: {error}"
            )
            self.notify(text, severity="error", timeout=8, markup=False)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()


def _templates_screen() -> Screen[Any]:
    from nosana_tui.ui.screens.templates import TemplatesScreen

    return TemplatesScreen()


def _jobs_screen() -> Screen[Any]:
    from nosana_tui.ui.screens.jobs import JobsScreen

    return JobsScreen()


def _nodes_screen() -> Screen[Any]:
    from nosana_tui.ui.screens.nodes import NodesScreen

    return NodesScreen()


def nosana_app(node: DOMNode) -> NosanaApp:
    """The app NODE runs in, typed (Textual types ``node.app`` as any app)."""
    app = node.app
    if not isinstance(app, NosanaApp):
        raise TypeError(f"{node!r} runs in {type(app).__name__}, not NosanaApp")
    return app


def run_app(node_url: str | None = None, open_file: Path | None = None) -> int:
    app = NosanaApp(node_url=node_url, open_file=open_file)
    result = app.run()
    return int(result or 0)
