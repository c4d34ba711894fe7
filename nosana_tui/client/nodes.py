"""The nodes a person has added, with their tokens: ``nodes.json`` in the config folder.

The UI's Nodes section writes it; the CLI and the UI read it to find a remote node's token
(``client.local.token_for``). It holds secrets, so it is created readable by its owner alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from nosana_tui.config import Paths


@dataclass(frozen=True)
class NodeEntry:
    name: str
    url: str
    token: str | None = None  # None: the local agent's token file, or NOSANA_TUI_TOKEN
    network: str | None = None  # "mainnet"/"devnet": the Nosana network itself (never saved)


def load_nodes(paths: Paths) -> tuple[list[NodeEntry], str | None]:
    """The saved nodes and, when the file cannot be read, why (then no nodes)."""
    file = paths.nodes_file
    if not file.exists():
        return [], None
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        nodes = [NodeEntry(str(n["name"]), str(n["url"]), n.get("token")) for n in raw]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [], f"{file}: {err}; no saved nodes loaded"
    return nodes, None


def save_nodes(paths: Paths, nodes: list[NodeEntry]) -> None:
    """Write ``nodes.json`` through a temporary file made 0600 when it is created (never
    readable by others, not even for a moment), then moved into place."""
    file = paths.nodes_file
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = [{"name": n.name, "url": n.url, "token": n.token} for n in nodes if n.network is None]
    tmp = file.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # O_EXCL: a left-over file keeps its own mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2))
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    tmp.replace(file)
