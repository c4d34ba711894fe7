"""The line under the title that always says which node the UI talks to, and how it is.

For the Nosana network it says the account's credits and its live jobs instead of an engine.
It is one line at any width: when everything does not fit, the engine's version goes first, then
the engine's name, then the URL's scheme; only then is the end cut. The GPU part comes from the
node's info (the app polls it every few seconds); the bar never polls anything itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from nosana_tui.ui.settings import NodeEntry

if TYPE_CHECKING:  # (pydantic: not before the first frame, bench/README.md "Start-up")
    from nosana_tui.api.models import GpuDevice, NodeInfo

# words a GPU's marketing name carries that say nothing in a one-line summary
_NAME_NOISE = re.compile(r"^(NVIDIA|GeForce|Tesla|Quadro|\d+GB|HBM\w*|PCIe|SXM\d*)$", re.I)


def short_gpu_name(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``H100``; ``NVIDIA GeForce RTX 4090`` -> ``RTX 4090``."""
    words = [w for w in name.split() if not _NAME_NOISE.match(w)]
    return " ".join(words) or name


def gpu_summary(gpus: list[GpuDevice]) -> str:
    """``1 GPU H100 41% 12.3/79.6 GiB``, ``2 GPUs avg 37%`` or ``no GPU``."""
    if not gpus:
        return "no GPU"
    if len(gpus) == 1:
        gpu = gpus[0]
        parts = [f"1 GPU {short_gpu_name(gpu.name)}"]
        if gpu.utilization_pct is not None:
            parts.append(f"{gpu.utilization_pct}%")
        total = gpu.memory_total_mb / 1024
        used = None if gpu.memory_used_mb is None else gpu.memory_used_mb / 1024
        if gpu.memory_total_mb:
            parts.append(f"{total:.1f} GiB" if used is None else f"{used:.1f}/{total:.1f} GiB")
        elif used is not None:  # unified memory (GB10): the driver reports no total
            parts.append(f"{used:.1f} GiB used")
        return " ".join(parts)
    text = f"{len(gpus)} GPUs"
    utils = [g.utilization_pct for g in gpus if g.utilization_pct is not None]
    if utils:
        text += f" avg {round(sum(utils) / len(utils))}%"
    return text


def bar_text(
    node: NodeEntry, info: NodeInfo | None, error: str | None, width: int | None = None
) -> Text:
    """The bar's line; with ``width``, the widest variant that fits, cut with an ellipsis last."""
    engine = info.engine if info is not None else {}
    name, version = str(engine.get("name", "?")), str(engine.get("version", ""))
    variants = [
        (f"{name} {version}".strip(), node.url),
        (name, node.url),
        ("", node.url),
        ("", re.sub(r"^[a-z]+://", "", node.url)),
    ]
    text = Text()
    for engine_part, url in variants:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"node {node.name} ", style="bold")
        text.append(url)
        if error is not None:
            text.append(f"  · not answering: {error}")
        elif info is None:
            text.append("  · connecting…")
        elif node.network is not None:  # the Nosana network: its account, not an engine
            credits = str(engine.get("credits", "?"))
            text.append("  · online")
            text.append(f" · credits {credits}" if credits.startswith("$") else f" · {credits}")
            text.append(f" · {info.jobs} live job{'s' if info.jobs != 1 else ''}")
        else:
            text.append("  · online")
            if engine_part:
                text.append(f" · {engine_part}")
            text.append(f" · {gpu_summary(info.gpus)}")
            text.append(f" · {info.jobs} job{'s' if info.jobs != 1 else ''}")
        if width is None or cell_len(text.plain) <= width or error is not None or info is None:
            break  # an error is cut at the end: what went wrong matters more than the URL
    if width is not None:
        text.truncate(width, overflow="ellipsis")
    return text


class NodeBar(Widget):
    DEFAULT_CSS = """
    NodeBar {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    NodeBar.-down { color: $error; }
    NodeBar.-connecting { color: $warning; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._state: tuple[NodeEntry, NodeInfo | None, str | None] | None = None

    def on_mount(self) -> None:
        app = self.app
        self.show(
            getattr(app, "node", None),
            getattr(app, "node_info", None),
            getattr(app, "node_error", None),
        )

    def show(self, node: NodeEntry | None, info: NodeInfo | None, error: str | None) -> None:
        if node is None:
            return
        self._state = (node, info, error)
        self.show_classes(info, error)
        self.refresh()

    def show_classes(self, info: NodeInfo | None, error: str | None) -> None:
        self.set_class(error is not None, "-down")
        self.set_class(error is None and info is None, "-connecting")

    def render(self) -> Text:
        app = self.app  # the app's state now: a bar on a screen that was hidden is not stale
        if getattr(app, "node", None) is not None:
            self.show_classes(app.node_info, app.node_error)  # type: ignore[attr-defined]
            return bar_text(
                app.node,  # type: ignore[attr-defined]
                app.node_info,  # type: ignore[attr-defined]
                app.node_error,  # type: ignore[attr-defined]
                self.content_size.width or None,
            )
        if self._state is None:
            return Text()
        node, info, error = self._state
        return bar_text(node, info, error, self.content_size.width or None)
