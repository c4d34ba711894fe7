"""Where to deploy a job: this node, another agent, or a market of the Nosana network.

A market shows its GPU and price per hour; choosing one asks once more, with the most the job
can cost (price per hour × timeout), before anything is spent. Escape at any point leaves with
nothing sent. The screen returns a :class:`Target`; the caller does the deploying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from nosana_tui.client import network as net
from nosana_tui.client.network_node import (
    NetworkNodeClient,
    connect_network,
    money,
    network_config,
)
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.settings import NodeEntry
from nosana_tui.ui.widgets.nodebar import short_gpu_name

DEFAULT_TIMEOUT = "1h"


@dataclass(frozen=True)
class Target:
    """A node (this one or another agent: ``node``), or a market with the job's timeout."""

    node: NodeEntry | None = None
    market: net.Market | None = None
    timeout: int = net.MIN_CREDIT_TIMEOUT
    network: NodeEntry | None = None  # the network the market belongs to


def hours(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    if not h:
        return f"{rest // 60}m"
    return f"{h}h{rest // 60:02d}m" if rest else f"{h}h"


class DeployTarget(ModalScreen[Target | None]):
    DEFAULT_CSS = """
    DeployTarget { align: center middle; }
    DeployTarget > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 90%; padding: 0 1;
        background: $surface; border: round $primary;
    }
    DeployTarget #deploy-targets { height: auto; max-height: 14; border: none; }
    DeployTarget #deploy-timeout-row { height: 1; }
    DeployTarget #deploy-timeout-row Label { width: auto; padding: 0 1 0 0; }
    DeployTarget #deploy-timeout { width: 12; height: 1; border: none; padding: 0;
                                   background: $panel; }
    DeployTarget #deploy-note { color: $foreground-muted; }
    DeployTarget #deploy-confirm { display: none; border: round $warning; padding: 0 1; }
    DeployTarget.-confirming #deploy-confirm { display: block; }
    DeployTarget.-confirming #deploy-targets { display: none; }
    DeployTarget.-confirming #deploy-timeout-row { display: none; }
    DeployTarget .keys { color: $foreground-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="deploy.cancel"),
        Binding("y", "post", "Post and pay", id="deploy.yes", show=False),
        Binding("n", "back", "No", id="deploy.no", show=False),
        Binding("t", "timeout", "Timeout", id="deploy.timeout", tooltip="The market job's timeout"),
    ]

    def __init__(self, job_name: str) -> None:
        super().__init__()
        self.job_name = job_name
        self.markets: list[net.Market] = []
        self.chosen: Target | None = None  # a market waiting for y
        self._client: NetworkNodeClient | None = None
        self._own = False
        self.status = Text()  # what the note line says when the timeout is fine

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble("Deploy ", (self.job_name, "bold"), " to:"))
            yield OptionList(id="deploy-targets")
            with Horizontal(id="deploy-timeout-row"):
                yield Label("timeout on a market (t):")
                yield Input(DEFAULT_TIMEOUT, id="deploy-timeout")
            yield Static("", id="deploy-note")
            yield Static("", id="deploy-confirm")
            yield Label(
                "enter: choose   t: timeout   esc: cancel (nothing is sent)", classes="keys"
            )

    def on_mount(self) -> None:
        app = nosana_app(self)
        targets = self.query_one("#deploy-targets", OptionList)
        current = app.node
        if current.network is None:
            targets.add_option(
                Option(
                    Text(f"this node   {current.name} ({current.url})"), id=f"node:{current.url}"
                )
            )
        for entry in app.nodes:
            if entry.network is None and entry.url != current.url:
                targets.add_option(
                    Option(Text(f"agent       {entry.name} ({entry.url})"), id=f"node:{entry.url}")
                )
        if targets.option_count:
            targets.highlighted = 0
        targets.focus()
        self.load_markets()

    def network(self) -> NodeEntry | None:
        app = nosana_app(self)
        current = app.node if app.node.network else None
        return current or next((n for n in app.nodes if n.network), None)

    @work(exclusive=True, group="deploy-markets", exit_on_error=False)
    async def load_markets(self) -> None:
        app = nosana_app(self)
        entry = self.network()
        note = self.query_one("#deploy-note", Static)
        if entry is None:
            return
        if isinstance(app.client, NetworkNodeClient) and app.node.network == entry.network:
            self._client = app.client
        else:
            conf = network_config(entry.network, app.locations.config_file)
            self._client, self._own = connect_network(conf), True
        client = self._client
        self.status = Text(f"reading the markets of {entry.name}…")
        note.update(self.status)
        try:
            self.markets = await client.markets()
        except net.NetworkError as err:
            note.update(Text(f"{entry.name}: {err}"))
            return
        if not client.conf.api_key:
            self.status = Text(str(net.NoApiKey()).split(":")[0] + ": posting needs one")
        else:
            self.status = Text(f"{len(self.markets)} markets on {entry.name}; prices per hour")
        note.update(self.status)
        self.show_markets()

    def timeout(self) -> int | None:
        """The timeout field's seconds, or None (and a note) when it is not a duration of at
        least an hour, the least a credit-paid job takes."""
        text = self.query_one("#deploy-timeout", Input).value
        note = self.query_one("#deploy-note", Static)
        try:
            seconds = net.parse_duration(text)
        except ValueError as err:
            note.update(Text(f"timeout {err}"))
            return None
        if seconds < net.MIN_CREDIT_TIMEOUT:
            note.update(Text("timeout: a job paid with credits runs at least 1h"))
            return None
        note.update(self.status)
        return seconds

    def show_markets(self) -> None:
        targets = self.query_one("#deploy-targets", OptionList)
        seconds = self.timeout() or net.MIN_CREDIT_TIMEOUT
        highlighted = targets.highlighted
        gpus = {m.address: ", ".join(map(short_gpu_name, m.gpu_types)) or "-" for m in self.markets}
        slug_width = max((len(m.slug) for m in self.markets), default=0)
        gpu_width = max((len(g) for g in gpus.values()), default=0)
        for market in self.markets:
            label = Text(no_wrap=True, overflow="ellipsis")
            label.append(
                f"market      {market.slug:<{slug_width}}  {gpus[market.address]:<{gpu_width}}"
            )
            label.append(f"  {money(market.usd_per_hour):>7}/h", "bold")
            label.append(f"  up to {money(market.most_usd(seconds))} for {hours(seconds)}")
            key = f"market:{market.address}"
            try:
                targets.replace_option_prompt(key, label)
            except OptionDoesNotExist:  # the first time
                targets.add_option(Option(label, id=key))
        if highlighted is None and targets.option_count:
            targets.highlighted = 0

    @on(Input.Changed, "#deploy-timeout")
    def timeout_changed(self) -> None:
        if self.markets:
            self.show_markets()

    @on(Input.Submitted, "#deploy-timeout")
    def timeout_done(self) -> None:
        self.query_one("#deploy-targets", OptionList).focus()

    @on(OptionList.OptionSelected, "#deploy-targets")
    def selected(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id or ""
        kind, _, value = key.partition(":")
        app = nosana_app(self)
        if kind == "node":
            entry = next((n for n in app.nodes if n.url == value), None)
            if entry is not None:
                self.dismiss(Target(node=entry))
            return
        market = next((m for m in self.markets if m.address == value), None)
        seconds = self.timeout()
        if market is None or seconds is None:
            return
        self.chosen = Target(market=market, timeout=seconds, network=self.network())
        self.query_one("#deploy-confirm", Static).update(self.confirmation(market, seconds))
        self.add_class("-confirming")
        self.set_focus(None)

    def confirmation(self, market: net.Market, seconds: int) -> Text:
        most = money(market.most_usd(seconds))
        text = Text()
        text.append(f"Post {self.job_name} to {market.slug} for up to {most}?\n", "bold")
        text.append(f"GPU      {', '.join(market.gpu_types) or '-'}\n")
        text.append(f"price    {money(market.usd_per_hour)}/hour with the network's fee, ")
        text.append(f"{market.nos_per_hour:.4f} NOS/hour\n")
        text.append(f"timeout  {hours(seconds)}; the most it can cost: {most}\n")
        text.append("paid from your credits; stopping early refunds what is not used\n\n")
        text.append("y: post and pay    n: back    esc: cancel", "bold")
        return text

    def action_post(self) -> None:
        if self.chosen is not None and self.has_class("-confirming"):
            self.dismiss(self.chosen)

    def action_back(self) -> None:
        if self.has_class("-confirming"):
            self.chosen = None
            self.remove_class("-confirming")
            self.query_one("#deploy-targets", OptionList).focus()

    def action_timeout(self) -> None:
        if not self.has_class("-confirming"):
            self.query_one("#deploy-timeout", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def on_unmount(self) -> None:
        if self._own and self._client is not None:
            await self._client.close()
