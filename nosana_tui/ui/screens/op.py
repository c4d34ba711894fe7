"""The op panel (``enter`` on an op, like k9s ``describe``): one op of a job in full.

State, the whole message, exit code, restarts and times from the job's live state; image,
command, env (secrets masked), mounts and ports from the job's definition with ``global`` merged
in (``jobformat.plan``); its endpoints, each to copy (OSC 52) or open (the system opener, where
there is one), with the ``ssh -L`` line that reaches a loopback endpoint from another machine;
and its last log lines. An op that will never start reads ``skipped``, with the reason. While
it runs, its CPU, memory, network and disk use, live from the node's stats stream
(``/job/{job}/stats/stream``), each with a sparkline of the last two minutes.

What a node says is cleaned before it is shown (``sanitize``): escape sequences in a message,
an env value or a log line never act on the terminal. Secrets are masked as soon as the
definition arrives (``jobformat.secrets.redact``), before anything reads it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Sparkline, Static
from textual.widgets.option_list import Option

from nosana_tui.api.models import Endpoint, JobView, LogEntry, OpStatus, OpView
from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.plan import merged_args
from nosana_tui.jobformat.secrets import redact
from nosana_tui.sanitize import clean_line, clean_text
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.opstats import STATS_INTERVAL, OpHistory, OpStats, rate_text, size_text
from nosana_tui.ui.style import ENDPOINT_STATUS, HEALTH, SKIPPED, op_look, theme_style

LAST_LINES = 20  # log lines the panel shows
LABEL = 12  # width of the labels column
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
USAGE = (("cpu", "CPU"), ("memory", "Memory"), ("network", "Network"), ("disk", "Disk"))


def _clean(value: Any) -> str:
    return clean_text(str(value), keep_colour=False)


def ssh_tunnel(endpoint: Endpoint, node_url: str) -> str | None:
    """``ssh -L PORT:127.0.0.1:PORT host`` for an endpoint on the node's loopback (reachable
    from the node's machine only), else None. The host is the node's, or this machine's when
    the node is on this machine (where a person on a laptop logs in)."""
    if not endpoint.url:
        return None
    parts = urlsplit(endpoint.url)
    if parts.hostname not in LOOPBACK or parts.port is None:
        return None
    node_host = urlsplit(node_url).hostname or ""
    host = this_host() if node_host in LOOPBACK or not node_host else node_host
    return f"ssh -L {parts.port}:127.0.0.1:{parts.port} {host}"


def this_host() -> str:
    """This machine's name, as ``ssh`` from another machine would reach it."""
    return socket.gethostname()


def system_opener() -> list[str] | None:
    """The command that opens a URL in the user's browser on this machine, or None where there
    is none (a server reached over SSH, with no display)."""
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform.startswith("win"):
        return ["cmd", "/c", "start", ""]
    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which(
        "xdg-open"
    ):
        return ["xdg-open"]
    return None


def op_details(
    definition: Mapping[str, Any] | None, op_id: str
) -> tuple[dict[str, Any] | None, str]:
    """The op's args with ``global`` merged in and secrets masked, and its type; (None, "")
    when the definition does not say (an old or foreign node)."""
    if definition is None:
        return None, ""
    masked = redact(dict(definition))
    try:
        job = m.JobDefinition.model_validate(masked)
    except ValueError:
        for raw in masked.get("ops") or []:
            if isinstance(raw, dict) and raw.get("id") == op_id:
                args = raw.get("args")
                return (args if isinstance(args, dict) else None), str(raw.get("type", ""))
        return None, ""
    for op in job.ops:
        if op.id == op_id:
            if isinstance(op, m.RunOperation):
                return merged_args(job, op), op.type  # global's env was masked with the rest
            return op.args.model_dump(mode="python", by_alias=True, exclude_none=True), op.type
    return None, ""


def _command(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return shlex.join(str(part) for part in value)


def _ports(expose: Any) -> list[str]:
    entries = expose if isinstance(expose, list) else [expose]
    out: list[str] = []
    for entry in entries:
        if isinstance(entry, int | str):
            out.append(str(entry))
        elif isinstance(entry, dict):
            text = str(entry.get("port", "?"))
            if entry.get("type"):
                text += f" ({entry['type']})"
            checks = entry.get("health_checks") or []
            for check in checks:
                if isinstance(check, dict):
                    what = check.get("path") or check.get("body") or ""
                    text += f"  health: {check.get('type', '?')} {what}".rstrip()
            out.append(text)
    return out


def _sheet() -> Table:
    """Labels in a column of their own, values wrapping beside them."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=LABEL - 1, no_wrap=True)
    table.add_column(ratio=1, overflow="fold")
    return table


def _duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _when(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "-"


class OpScreen(Screen[None]):
    """One op in full, live: its state follows the job's; ``r`` reads the last lines again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="op.back"),
        Binding("y", "copy_endpoint", "Copy URL", id="op.copy", tooltip="Copy the endpoint (OSC 52)"),
        Binding("o", "open_endpoint", "Open", id="op.open", tooltip="Open the endpoint in a browser"),
        Binding("t", "copy_tunnel", "Copy ssh -L", id="op.tunnel", tooltip="Copy the ssh -L line"),
        Binding("r", "reload", "Reload", id="op.reload", tooltip="Read the last lines again"),
    ]  # fmt: skip

    DEFAULT_CSS = """
    OpScreen {
        & #op-body { height: 1fr; padding: 0 1; }
        & .op-section { height: auto; }
        & #op-endpoints { height: auto; max-height: 8; border: none; padding: 0; }
        & #op-endpoints.-empty { display: none; }
        & .op-usage { height: 1; }
        & .op-usage-label { width: 12; color: $foreground-muted; }
        & .op-usage Sparkline { width: 1fr; max-width: 60; }
        & .op-usage-value { width: auto; min-width: 22; padding: 0 0 0 1; }
        & #op-usage.-empty { display: none; }
        & #op-usage-note.-shown { display: block; }
        & #op-usage-note { display: none; }
    }
    """

    def __init__(self, job_id: str, op_id: str, view: JobView | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.op_id = op_id
        self.view = view
        self.args: dict[str, Any] | None = None
        self.op_type = ""
        self.definition_error = ""
        self.last_lines: list[LogEntry] | None = None
        self._endpoints: list[Endpoint] = []
        # its CPU, memory, network and disk, while it runs and the panel is seen (``ui.opstats``)
        self.history = OpHistory()
        self.op_stats = OpStats(self, job_id, lambda: self.client, self._stats_arrived)

    @property
    def op(self) -> OpView | None:
        if self.view is None:
            return None
        try:
            return self.view.op(self.op_id)
        except KeyError:
            return None

    @property
    def client(self) -> NodeClient | None:
        return nosana_app(self).client

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="op-body"):
            yield Static(id="op-state", classes="op-section", markup=False)
            yield Static(id="op-usage-note", classes="op-section", markup=False)
            with Vertical(id="op-usage", classes="op-section -empty"):
                for key, label in USAGE:
                    with Horizontal(classes="op-usage"):
                        yield Static(label, classes="op-usage-label", markup=False)
                        yield Sparkline([], id=f"op-spark-{key}")
                        yield Static(id=f"op-value-{key}", classes="op-usage-value", markup=False)
            yield Static(id="op-spec", classes="op-section", markup=False)
            yield Static(id="op-endpoints-title", classes="op-section", markup=False)
            yield OptionList(id="op-endpoints")
            yield Static(id="op-log", classes="op-section", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"op {self.op_id} · job {self.job_id}"
        self.render_all()
        self.load()
        self.watch_job()
        self.op_stats.want(self.view)

    def on_screen_suspend(self) -> None:
        self.op_stats.stop()

    def on_screen_resume(self) -> None:
        self.op_stats.want(self.view)

    # --- data ---------------------------------------------------------------------------------

    @work(exclusive=True, group="op-load", exit_on_error=False)
    async def load(self) -> None:
        client = self.client
        if client is None:
            return
        if self.args is None:
            try:
                definition = await client.definition(self.job_id)
            except NodeError as err:
                self.definition_error = str(err)
            else:
                self.args, self.op_type = op_details(definition, self.op_id)
        await self.read_last_lines(client)
        self.render_all()

    async def read_last_lines(self, client: NodeClient) -> None:
        lines: list[LogEntry] = []
        try:
            async for entry in client.logs(self.job_id, self.op_id, tail=LAST_LINES):
                if isinstance(entry, LogEntry):
                    lines.append(entry)
        except NodeError:
            return
        self.last_lines = lines[-LAST_LINES:]

    @work(exclusive=True, group="op-watch", exit_on_error=False)
    async def watch_job(self) -> None:
        client = self.client
        if client is None:
            return
        while True:
            try:
                async for view in client.watch(self.job_id):
                    before = self.op
                    self.view = view
                    after = self.op
                    if before is None or after is None or before.status != after.status:
                        await self.read_last_lines(client)
                    self.render_all()
                    self.op_stats.want(view)
            except NodeError as err:
                if err.status == 404:
                    return
            await asyncio.sleep(1.0)

    # --- rendering ----------------------------------------------------------------------------

    def _variables(self) -> dict[str, str]:
        return dict(self.app.theme_variables or self.app.get_css_variables())

    def render_all(self) -> None:
        v = self._variables()
        self.query_one("#op-state", Static).update(self._state_text(v))
        self.query_one("#op-spec", Static).update(self._spec_text(v))
        self._render_endpoints(v)
        self._render_usage(v)
        self.query_one("#op-log", Static).update(self._log_text(v))

    def _stats_arrived(self) -> None:
        stat = self.op_stats.latest.get(self.op_id)
        if stat is not None and self.history.add(stat):
            v = self._variables()
            self.query_one("#op-state", Static).update(self._state_text(v))  # its time so far
            self._render_usage(v)
        elif self.op_stats.unsupported:
            self._render_usage(self._variables())

    def _render_usage(self, v: dict[str, str]) -> None:
        """The sparklines, once there are figures; else a line that says why there are none."""
        history, op = self.history, self.op
        running = op is not None and op.status is OpStatus.RUNNING
        note = self.query_one("#op-usage-note", Static)
        rows = self.query_one("#op-usage")
        rows.set_class(history.last is None, "-empty")
        # an op that never ran here (or ran before the panel opened) has nothing to show
        note.set_class(running if history.last is None else not running, "-shown")
        if history.last is None:
            why = (
                "- (the node sends no figures)"
                if self.op_stats.unsupported
                else f"waiting for the first figures (every {STATS_INTERVAL:g} s)"
            )
            note.update(Text(f"{'Usage':<{LABEL}}{why}", theme_style(v, "foreground-muted")))
            return
        if not running:
            note.update(Text(f"{'Usage':<{LABEL}}the last figures before it stopped running",
                             theme_style(v, "foreground-muted")))  # fmt: skip
        last = history.last
        limit = size_text(float(last.memory.memory_limit))
        values = {
            "cpu": f"{last.cpu.cpu_percent:.1f}% of a CPU",
            "memory": f"{size_text(float(last.memory.memory_usage))} of {limit}",
            "network": rate_text(history.network[-1]) if history.network else "-",
            "disk": rate_text(history.disk[-1]) if history.disk else "-",
        }
        for key, _label in USAGE:
            self.query_one(f"#op-spark-{key}", Sparkline).data = history.padded(
                getattr(history, key)
            )
            self.query_one(f"#op-value-{key}", Static).update(values[key])

    def _row(self, text: Table, label: str, value: str | Text, v: dict[str, str]) -> None:
        """``label  value``: a long value wraps (and folds) in its own column."""
        text.add_row(Text(label, theme_style(v, "foreground-muted")), value)

    def _state_text(self, v: dict[str, str]) -> Group:
        text = _sheet()
        op, view = self.op, self.view
        title = Text(f"{self.op_id}", theme_style(v, "foreground", bold=True))
        if view is not None:
            title.append(f"  job {view.id} · {view.name}", theme_style(v, "foreground-muted"))
        if op is not None:
            title.append(f" · stage {op.group}", theme_style(v, "foreground-muted"))
        if op is None:
            title.append("\nthis op is not in the job (any more)", theme_style(v, "warning"))
            return Group(title)
        look = op_look(op, view.status if view else None)
        state = Text(f"{look.glyph} {look.word}", theme_style(v, look.role, bold=True))
        if op.health.value != "none":
            health = HEALTH[op.health]
            state.append(f"  {health.glyph} {health.word}", theme_style(v, health.role))
        self._row(text, "State", state, v)
        if op.message:
            role = "error" if op.status.value == "failed" else "foreground"
            self._row(text, "Message", Text(_clean(op.message), theme_style(v, role)), v)
        if op.exit_code is not None:
            role = "error" if op.exit_code else "success"
            self._row(text, "Exit code", Text(str(op.exit_code), theme_style(v, role)), v)
        self._row(text, "Restarts", str(op.restarts), v)
        if op.started_at:
            took = _duration((op.ended_at or time.time()) - op.started_at)
            times = f"started {_when(op.started_at)}"
            times += (
                f" · ended {_when(op.ended_at)} · took {took}"
                if op.ended_at
                else f" · {took} so far"
            )
        else:
            times = "never started" if look is SKIPPED else "not started"
        self._row(text, "Time", times, v)
        if op.fetch:  # its S3/HF/Ollama resources, as the node fetches them (or found them)
            self._row(text, "Resources", "\n".join(_clean(f.summary) for f in op.fetch), v)
        if op.depends_on:
            self._row(text, "Waits for", ", ".join(op.depends_on), v)
        if op.container_id:
            self._row(text, "Container", op.container_id[:12], v)
        return Group(title, text)

    def _spec_text(self, v: dict[str, str]) -> Table:
        text = _sheet()
        op, args = self.op, self.args
        image = (args or {}).get("image") or (op.image if op else None)
        if op is not None:
            self._row(text, "Type", self.op_type or op.type, v)
        if image:
            self._row(text, "Image", _clean(image), v)
        if self.definition_error and args is None:
            self._row(text, "Definition", f"not read: {_clean(self.definition_error)}", v)
        if args is None:
            return text
        if "image" not in args:  # container/create-volume: a volume, no container
            if args.get("name"):
                self._row(text, "Volume", _clean(args["name"]), v)
            return text
        if (cmd := _command(args.get("cmd"))) != "":
            self._row(text, "Command", _clean(cmd), v)
        if (entrypoint := _command(args.get("entrypoint"))) != "":
            self._row(text, "Entrypoint", _clean(entrypoint), v)
        if args.get("work_dir"):
            self._row(text, "Work dir", _clean(args["work_dir"]), v)
        env = args.get("env") or {}
        if env:
            lines = Text()
            for i, (key, value) in enumerate(sorted(env.items())):
                if i:
                    lines.append("\n")
                lines.append(_clean(key), theme_style(v, "foreground", bold=True))
                lines.append("=")
                masked = value == "***"
                lines.append(_clean(value), theme_style(v, "warning" if masked else "foreground"))
            self._row(text, "Env", lines, v)
        else:
            self._row(text, "Env", "-", v)
        mounts = [
            f"{_clean(vol.get('name', '?'))} → {_clean(vol.get('dest', '?'))}"
            for vol in args.get("volumes") or []
            if isinstance(vol, dict)
        ]
        for resource in args.get("resources") or []:
            if isinstance(resource, dict):
                source = resource.get("url") or resource.get("repo") or resource.get("model") or ""
                target = resource.get("target") or ""
                mounts.append(f"{resource.get('type', '?')} {_clean(source)} → {_clean(target)}")
        self._row(text, "Mounts", "\n".join(mounts) or "-", v)
        if args.get("expose") is not None:
            self._row(text, "Ports", _clean("\n".join(_ports(args["expose"]))), v)
        if args.get("gpu"):
            self._row(text, "GPU", "yes", v)
        if args.get("restart_policy"):
            self._row(text, "Restart", _clean(args["restart_policy"]), v)
        return text

    def _render_endpoints(self, v: dict[str, str]) -> None:
        op = self.op
        endpoints = list(op.endpoints) if op is not None else []
        title = self.query_one("#op-endpoints-title", Static)
        options = self.query_one("#op-endpoints", OptionList)
        options.set_class(not endpoints, "-empty")
        if not endpoints:
            title.update(Text(f"{'Endpoints':<{LABEL}}-", theme_style(v, "foreground-muted")))
            if self._endpoints:
                self.refresh_bindings()
            self._endpoints = []
            return
        heading = Text(f"{'Endpoints':<{LABEL}}", theme_style(v, "foreground-muted"))
        heading.append(
            "y copy · o open · t copy the ssh -L line", theme_style(v, "foreground-muted")
        )
        title.update(heading)
        url = self.client.url if self.client is not None else ""
        prompts = []
        for endpoint in endpoints:
            look = ENDPOINT_STATUS[endpoint.status]
            line = Text(f"{look.glyph} ", theme_style(v, look.role))
            line.append(_clean(endpoint.url or f"port {endpoint.port} (not published)"))
            line.append(f"  → {endpoint.port}  {look.word}", theme_style(v, "foreground-muted"))
            if (tunnel := ssh_tunnel(endpoint, url)) is not None:
                line.append("\n  from another machine: ", theme_style(v, "foreground-muted"))
                line.append(tunnel, theme_style(v, "accent"))
            prompts.append(line)
        if [e.model_dump() for e in endpoints] != [e.model_dump() for e in self._endpoints]:
            highlighted = options.highlighted
            options.clear_options()
            options.add_options([Option(p, id=str(i)) for i, p in enumerate(prompts)])
            options.highlighted = min(highlighted or 0, len(prompts) - 1)
        if bool(endpoints) != bool(self._endpoints):
            self.refresh_bindings()
        self._endpoints = endpoints

    def _log_text(self, v: dict[str, str]) -> Text:
        text = Text(f"{'Last lines':<{LABEL}}", theme_style(v, "foreground-muted"))
        lines = self.last_lines
        if lines is None:
            text.append("reading…", theme_style(v, "foreground-muted"))
            return text
        if not lines:
            text.append("none", theme_style(v, "foreground-muted"))
            return text
        text.append(f"the last {len(lines)} (l in the job view follows the log)\n",
                    theme_style(v, "foreground-muted"))  # fmt: skip
        for entry in lines:
            line = Text.from_ansi(clean_line(entry.text), no_wrap=True)
            if entry.stream == "stderr":
                line.stylize(theme_style(v, "warning"))
            text.append("  ")
            text.append_text(line)
            text.append("\n")
        return text

    # --- actions ------------------------------------------------------------------------------

    def _endpoint(self) -> Endpoint | None:
        if not self._endpoints:
            self.notify("this op has no endpoint", severity="warning", markup=False)
            return None
        index = self.query_one("#op-endpoints", OptionList).highlighted or 0
        return self._endpoints[min(index, len(self._endpoints) - 1)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("copy_endpoint", "open_endpoint", "copy_tunnel") and not self._endpoints:
            return None  # shown dimmed: this op has no endpoint
        return True

    def action_copy_endpoint(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None:
            return
        if not endpoint.url:
            self.notify("the port is not published: no URL", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(endpoint.url)
        self.notify(endpoint.url, title="Copied (OSC 52)", markup=False)

    def action_copy_tunnel(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None:
            return
        tunnel = ssh_tunnel(endpoint, self.client.url if self.client is not None else "")
        if tunnel is None:
            self.notify("not a loopback endpoint: no tunnel needed", markup=False)
            return
        self.app.copy_to_clipboard(tunnel)
        self.notify(tunnel, title="Copied (OSC 52)", markup=False)

    def action_open_endpoint(self) -> None:
        endpoint = self._endpoint()
        if endpoint is None or not endpoint.url:
            return
        if urlsplit(endpoint.url).scheme not in ("http", "https"):
            # a node publishes the URL: nothing but a web address goes to the opener
            self.notify(f"not a web address: {endpoint.url}", severity="error", markup=False)
            return
        opener = system_opener()
        if opener is None:
            self.app.copy_to_clipboard(endpoint.url)
            self.notify(
                f"no browser to open here (no display): {endpoint.url} copied instead",
                severity="warning",
                markup=False,
            )
            return
        try:
            subprocess.Popen(
                [*opener, endpoint.url],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as err:
            self.notify(f"could not open {endpoint.url}: {err}", severity="error", markup=False)
            return
        self.notify(f"opening {endpoint.url}", title="Open", markup=False)

    def action_reload(self) -> None:
        self.last_lines = None
        self.render_all()
        self.load()

    def action_back(self) -> None:
        self.dismiss()

    @on(OptionList.OptionSelected, "#op-endpoints")
    def endpoint_chosen(self, event: OptionList.OptionSelected) -> None:
        self.action_copy_endpoint()
