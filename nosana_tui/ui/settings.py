"""The UI's settings: theme, key remaps and the nodes a person has added.

``config.toml`` in the config folder (read-only for the app; the user edits it)::

    theme = "nosana-light"
    [keys]                 # binding id -> keys, e.g. remap quitting to ctrl+q
    "app.quit" = "ctrl+q"

``nodes.json`` beside it holds the nodes added from the Nodes section (the app writes it;
``client.nodes`` reads and writes it, since the CLI finds a node's token there too).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from nosana_tui.client.nodes import NodeEntry, load_nodes, save_nodes
from nosana_tui.config import Paths

__all__ = ["NodeEntry", "Settings", "load_settings", "save_nodes"]


@dataclass
class Settings:
    theme: str = "nosana-dark"
    keys: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_settings(paths: Paths) -> Settings:
    settings = Settings()
    file = paths.config_file
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            settings.problems.append(f"{file}: {err}; using defaults")
            data = {}
        if isinstance(data.get("theme"), str):
            settings.theme = data["theme"]
        keys = data.get("keys")
        if isinstance(keys, dict):
            settings.keys = {str(k): str(v) for k, v in keys.items()}
    settings.nodes, problem = load_nodes(paths)
    if problem:
        settings.problems.append(problem)
    return settings
