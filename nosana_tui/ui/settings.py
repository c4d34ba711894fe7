"""The UI's settings: theme, key remaps and the nodes a person has added.

``config.toml`` in the config folder (read-only for the app; the user edits it)::

    theme = "nosana-light"
    [keys]                 # binding id -> keys, e.g. remap quitting to ctrl+q
    "app.quit" = "ctrl+q"

``nodes.json`` beside it holds the nodes added from the Nodes section (the app writes it).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nosana_tui.config import Paths


@dataclass(frozen=True)
class NodeEntry:
    name: str
    url: str
    token: str | None = None  # None: the local agent's own token file


@dataclass
class Settings:
    theme: str = "nosana-dark"
    keys: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def nodes_file(paths: Paths) -> Path:
    return paths.config_dir / "nodes.json"


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
    nodes = nodes_file(paths)
    if nodes.exists():
        try:
            raw = json.loads(nodes.read_text(encoding="utf-8"))
            settings.nodes = [NodeEntry(str(n["name"]), str(n["url"]), n.get("token")) for n in raw]
        except (OSError, ValueError, KeyError, TypeError) as err:
            settings.problems.append(f"{nodes}: {err}; no saved nodes loaded")
    return settings


def save_nodes(paths: Paths, nodes: list[NodeEntry]) -> None:
    file = nodes_file(paths)
    file.parent.mkdir(parents=True, exist_ok=True)
    data = [{"name": n.name, "url": n.url, "token": n.token} for n in nodes]
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.chmod(0o600)  # tokens of remote nodes are secrets
    tmp.replace(file)
