"""What the UI reads at start: its theme and key remaps, and the nodes a person has added.

The theme and keys are settings like any other (``nosana_tui.settings``): ``config.toml`` in the
config folder (read-only for the app; the user edits it), or ``NOSANA_TUI_THEME`` and
``NOSANA_TUI_KEYS`` (JSON)::

    theme = "nosana-light"
    [keys]                 # binding id -> keys, e.g. remap quitting to ctrl+q
    "app.quit" = "ctrl+q"

A value that cannot be used stops the UI before it starts, with a message that names it
(``nosana_tui.settings.SettingError``), as it stops every command.

``nodes.json`` beside it holds the nodes added from the Nodes section (the app writes it;
``client.nodes`` reads and writes it, since the CLI finds a node's token there too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nosana_tui.client.nodes import NodeEntry, load_nodes, save_nodes
from nosana_tui.config import Paths
from nosana_tui.settings import load_settings as load_all_settings

__all__ = ["NodeEntry", "Settings", "load_settings", "save_nodes"]


@dataclass
class Settings:
    """The UI's share of the settings, and the saved nodes."""

    theme: str = "nosana-dark"
    keys: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_settings(paths: Paths) -> Settings:
    """SettingError when config.toml or the environment holds a value that cannot be used."""
    every = load_all_settings(paths.config_file)
    settings = Settings(theme=every.theme, keys=dict(every.keys))
    settings.nodes, problem = load_nodes(paths)
    if problem:
        settings.problems.append(problem)
    return settings
