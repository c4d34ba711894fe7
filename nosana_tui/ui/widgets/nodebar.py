"""The line under the title that always says which node the UI talks to, and how it is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from nosana_tui.spec.status import NodeInfo
from nosana_tui.ui.settings import NodeEntry


class NodeBar(Static):
    DEFAULT_CSS = """
    NodeBar {
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    NodeBar.-down { color: $error; }
    NodeBar.-connecting { color: $warning; }
    """

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
        text = Text()
        text.append(f"node {node.name} ", style="bold")
        text.append(node.url)
        self.set_class(error is not None, "-down")
        self.set_class(error is None and info is None, "-connecting")
        if error is not None:
            text.append(f"  · not answering: {error}")
        elif info is None:
            text.append("  · connecting…")
        else:
            engine = info.engine
            text.append(f"  · online · {engine.get('name', '?')} {engine.get('version', '')}")
            gpus = len(info.gpus)
            text.append(f" · {gpus} GPU{'s' if gpus != 1 else ''}" if gpus else " · no GPU")
            text.append(f" · {info.jobs} job{'s' if info.jobs != 1 else ''}")
        self.update(text)
