"""GpuPanel: a node's GPUs live, nvitop style: load, memory, their recent history, who uses them.

Two lines per GPU, then the processes on them, under one status line::

    GPUs · local · nvml · access runtime · driver 580.159.04 · CUDA 13.0
    #0 NVIDIA H100 80GB HBM3  util  41%    ▁▁▁▂▆███████████████▄▁▇██████▄
       mem ▕██░░░░░░░░░░░░▏ 13164/81559 MiB ▁▁▁▁▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂
    GPU      PID     MiB  JOB           OP
      0   412873   12582  a1b2c3d4e5f6  train
      0     2291     582  -             -

The sparklines have a fixed scale (0-100 %, 0-total MiB), as nvitop's graphs do, so a flat line
reads as idle rather than as "as busy as it gets". Load colours follow nvitop's thresholds: light
in ``$success``, moderate in ``$warning``, heavy in ``$error``. Processes that are not one of our
ops' (no job) are dimmed, as nvitop dims other users' processes.

The widget only draws what it is given (``telemetry``, ``error``, ``node``); the screen that holds
it polls. With no GPU it is one calm line: the node's note and its GPU access mode. The status
line breaks between its parts where the panel is too narrow, rather than cutting the last ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from nosana_tui.api.models import GpuDevice, GpuProcess, GpuSeries, GpuTelemetry
from nosana_tui.ui.style import theme_style

BLOCKS = "▁▂▃▄▅▆▇█"
MAX_PROCESSES = 5  # more are summed up in one line: the panel shares the screen with the nodes
UTIL_THRESHOLDS = (10, 75)  # nvitop's defaults: light below 10 %, heavy from 75 %
MEMORY_THRESHOLDS = (10, 80)
MIN_SPARKLINE = 6  # narrower than this and the sparklines are left out
MIN_BAR = 6
MAX_BAR_GROWTH = 24  # cells a memory bar may grow by on a wide screen
MIN_NAME_ROOM = 16  # cells of sparkline a long GPU name leaves


def sparkline(values: Sequence[float], top: float, width: int) -> str:
    """The last ``width`` values as block characters on a 0..``top`` scale, right-aligned."""
    if width <= 0:
        return ""
    recent = list(values)[-width:]
    blocks = [
        BLOCKS[min(len(BLOCKS) - 1, max(0, int(v / top * len(BLOCKS))))] if top > 0 else BLOCKS[0]
        for v in recent
    ]
    return " " * (width - len(blocks)) + "".join(blocks)


def bar(fraction: float, width: int) -> tuple[str, str]:
    """A bar of ``width`` cells: the filled part and the empty part (any use shows one cell)."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    if fraction > 0 and filled == 0:
        filled = 1
    return "█" * filled, "░" * (width - filled)


def load_role(pct: float, thresholds: tuple[int, int]) -> str:
    """The theme variable for a load: light, moderate or heavy."""
    light, heavy = thresholds
    if pct < light:
        return "success"
    return "warning" if pct < heavy else "error"


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    cut = Text(text)
    cut.truncate(width, overflow="ellipsis")
    return cut.plain


def panel_lines(
    telemetry: GpuTelemetry | None,
    *,
    width: int,
    variables: Mapping[str, str],
    node: str = "",
    error: str | None = None,
    skipped: int = 0,
) -> list[Text]:
    """Every line of the panel, each at most ``width`` cells (pure: the tests read it)."""
    width = max(width, 1)
    lines = _status_lines(
        telemetry, variables, node=node, error=error, skipped=skipped, width=width
    )
    if telemetry is None or not telemetry.gpus:
        return [_clip(line, width) for line in lines]
    history = {series.index: series for series in telemetry.history}
    index_width = max(len(str(g.index)) for g in telemetry.gpus) + 2  # "#0 "
    # a name is cut only to keep a sparkline of MIN_NAME_ROOM cells beside it
    room = width - index_width - len("  util 100% ") - MIN_NAME_ROOM
    name_width = min(max(cell_len(g.name) for g in telemetry.gpus), max(12, room))
    for gpu in telemetry.gpus:
        lines.extend(
            _gpu_lines(
                gpu,
                history.get(gpu.index),
                variables,
                width=width,
                name_width=name_width,
                index_width=index_width,
            )
        )
    lines.extend(_process_lines(telemetry.processes, variables, width=width))
    return [_clip(line, width) for line in lines]


def _clip(line: Text, width: int) -> Text:
    line.truncate(width, overflow="ellipsis")
    return line


def _status_lines(
    telemetry: GpuTelemetry | None,
    variables: Mapping[str, str],
    *,
    node: str,
    error: str | None,
    skipped: int,
    width: int,
) -> list[Text]:
    """The status, its parts joined by `` · `` and broken between parts, never inside one, so
    that a narrow screen loses none of it (a part wider than the panel is still cut)."""
    muted = theme_style(variables, "foreground-muted")
    parts = [Text("GPUs", style=theme_style(variables, "accent", bold=True))]
    if node:
        parts.append(Text(node))
    if error is not None:
        stale = telemetry is not None and bool(telemetry.gpus)
        role = "warning" if stale else "error"
        parts.append(
            Text(f"{'stale: ' if stale else ''}{error}", style=theme_style(variables, role))
        )
    elif telemetry is None:
        parts.append(Text("waiting for the node…", style=muted))
    elif not telemetry.gpus:
        parts.append(Text(telemetry.note or "no GPU found", style=muted))
        parts.append(Text(f"access {telemetry.access}", style=muted))
    else:
        if skipped:  # before the details: it is the one thing here that may need a look
            parts.append(
                Text(
                    f"{skipped} poll{'s' if skipped != 1 else ''} skipped (slow answers)",
                    style=theme_style(variables, "warning"),
                )
            )
        parts.append(Text(f"{telemetry.source} · access {telemetry.access}", style=muted))
        drivers = {g.driver_version for g in telemetry.gpus if g.driver_version}
        cudas = {g.cuda_version for g in telemetry.gpus if g.cuda_version}
        if drivers:
            parts.append(Text(f"driver {', '.join(sorted(drivers))}", style=muted))
        if cudas:
            parts.append(Text(f"CUDA {', '.join(sorted(cudas))}", style=muted))
        if telemetry.note:
            parts.append(Text(telemetry.note, style=theme_style(variables, "warning")))
    return _pack(parts, width, separator=Text(" · ", style=muted))


def _pack(parts: list[Text], width: int, *, separator: Text, indent: int = 2) -> list[Text]:
    """Join PARTS with SEPARATOR, starting a new line (indented) where the next part would not
    fit in WIDTH cells."""
    lines = [parts[0].copy()]
    for part in parts[1:]:
        line = lines[-1]
        if line.cell_len + separator.cell_len + part.cell_len <= width:
            line.append_text(separator)
            line.append_text(part)
        else:
            lines.append(Text(" " * indent) + part)
    return lines


def _gpu_lines(
    gpu: GpuDevice,
    series: GpuSeries | None,
    variables: Mapping[str, str],
    *,
    width: int,
    name_width: int,
    index_width: int,
) -> list[Text]:
    total = gpu.memory_total_mb
    digits = len(str(total))
    used = gpu.memory_used_mb
    if total:
        memory = f"{'?' if used is None else used:>{digits}}/{total} MiB"
    else:  # unified memory (GB10) or a driver that does not say: no figure to pretend
        memory = "not reported" if used is None else f"{used} MiB used"
    util = gpu.utilization_pct
    util_text = f"util {'  ?' if util is None else f'{util:>3}'}%"
    # both sparklines start in one column: after the name and util, or after the memory figures;
    # the memory bar grows into what the figures leave of the left half (up to MAX_BAR_GROWTH)
    figures = index_width + len("mem ") + 2 + MIN_BAR + 1 + len(memory)
    columns = max(
        index_width + name_width + 2 + len(util_text),
        figures + min(MAX_BAR_GROWTH, max(0, width // 2 - figures)),
    )
    spark = width - columns - 1
    if spark < MIN_SPARKLINE:
        spark = 0
    bar_width = columns - (index_width + len("mem ") + 2 + 1 + len(memory))

    top = Text()
    top.append(f"#{gpu.index}".ljust(index_width), style=theme_style(variables, "accent"))
    top.append(_cut(gpu.name, name_width).ljust(name_width), style="bold")
    top.append("  " + util_text[:5])
    util_role = "foreground-muted" if util is None else load_role(util, UTIL_THRESHOLDS)
    top.append(util_text[5:], style=theme_style(variables, util_role, bold=True))
    top.append(" " * (columns - (index_width + name_width + 2 + len(util_text))))
    bottom = Text(" " * index_width)
    bottom.append("mem ")
    fraction = (used or 0) / total if total else 0.0
    filled, empty = bar(fraction, bar_width)
    if not total:  # no scale to fill against: an empty frame, not a bar reading 0 %
        empty = " " * len(empty + filled)
        filled = ""
    mem_role = load_role(fraction * 100, MEMORY_THRESHOLDS)
    bottom.append("▕", style=theme_style(variables, "foreground-muted"))
    bottom.append(filled, style=theme_style(variables, mem_role))
    bottom.append(empty, style=theme_style(variables, "foreground-muted"))
    bottom.append("▏", style=theme_style(variables, "foreground-muted"))
    bottom.append(f" {memory}")
    if spark:
        utils = series.utilization_pct if series is not None else []
        memories = series.memory_used_mb if series is not None else []
        top.append(" " + sparkline(utils, 100, spark), style=theme_style(variables, "accent"))
        bottom.append(
            " " + sparkline(memories, total, spark), style=theme_style(variables, "primary")
        )
    return [top, bottom]


def _process_lines(
    processes: Sequence[GpuProcess],
    variables: Mapping[str, str],
    *,
    width: int,
) -> list[Text]:
    dim = theme_style(variables, "foreground-muted")
    if not processes:
        return [Text("no processes on the GPUs", style=dim)]
    ordered = sorted(processes, key=lambda p: (p.gpu_index, -p.memory_mb, p.pid))
    shown = ordered[:MAX_PROCESSES] if len(ordered) > MAX_PROCESSES + 1 else ordered
    job_width = min(max([3, *(cell_len(p.job_id) for p in shown)]), 24)
    op_width = max(3, width - (3 + 1 + 8 + 1 + 7 + 2 + job_width + 2))
    header = Text(
        f"{'GPU':>3} {'PID':>8} {'MiB':>7}  {'JOB'.ljust(job_width)}  OP",
        style=theme_style(variables, "foreground-muted", bold=True),
    )
    lines = [header]
    for process in shown:
        ours = bool(process.job_id)
        job = _cut(process.job_id, job_width) if ours else "-"
        op = _cut(process.op_id, op_width) if process.op_id else "-"
        lines.append(
            Text(
                f"{process.gpu_index:>3} {process.pid:>8} {process.memory_mb:>7}  "
                f"{job.ljust(job_width)}  {op}",
                style=theme_style(variables, "foreground") if ours else dim,
            )
        )
    if len(shown) < len(ordered):
        rest = ordered[len(shown) :]
        lines.append(
            Text(f"… {len(rest)} more processes, {sum(p.memory_mb for p in rest)} MiB", style=dim)
        )
    return lines


class GpuPanel(Widget):
    """Draws one node's GPU telemetry; the screen sets ``telemetry``, ``error`` and ``node``."""

    DEFAULT_CSS = """
    GpuPanel {
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    telemetry: reactive[GpuTelemetry | None] = reactive(None, layout=True)
    error: reactive[str | None] = reactive(None, layout=True)  # the last poll failed: why
    node: reactive[str] = reactive("")
    skipped: reactive[int] = reactive(0)  # polls dropped because the one before was in flight

    def lines(self, width: int | None = None) -> list[Text]:
        variables = self.app.theme_variables or self.app.get_css_variables()
        return panel_lines(
            self.telemetry,
            width=self.content_size.width if width is None else width,
            variables=variables,
            node=self.node,
            error=self.error,
            skipped=self.skipped,
        )

    def render(self) -> Text:
        return Text("\n", no_wrap=True, overflow="ellipsis").join(self.lines())

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))  # one line each, never wrapped

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()  # the theme may have changed: colours are resolved again in render
