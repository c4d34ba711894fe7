"""What the UI reads at start: its theme and key remaps, the nodes a person has added, and
the section it was left on.

The theme and keys are settings like any other (``nosana_tui.settings``): ``config.toml`` in the
config folder, or ``NOSANA_TUI_THEME`` and ``NOSANA_TUI_KEYS`` (JSON)::

    theme = "nosana-light"
    [keys]                 # binding id -> keys, e.g. remap quitting to ctrl+q
    "app.quit" = "ctrl+q"

A value that cannot be used stops the UI before it starts, with a message that names it
(``nosana_tui.errors.SettingError``), as it stops every command. Where only the theme, keys
and node are set, plainly, they are read without the settings model
(``config.quick_ui_settings``: pydantic-settings is a large part of the start-up).

The user edits the file; the app writes one line of it, ``theme = "..."``, when a theme is
picked in the command palette (:func:`save_theme`: every other line is left as it is, and
nothing is written that would not read back as the same file plus that theme).

``nodes.json`` beside it holds the nodes added from the Nodes section (the app writes it;
``client.nodes`` reads and writes it, since the CLI finds a node's token there too), and
``ui.json`` what the UI remembers between runs: the section it was left on.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nosana_tui.client.nodes import NodeEntry, load_nodes, save_nodes
from nosana_tui.config import Paths, quick_ui_settings

__all__ = [
    "SECTIONS",
    "NodeEntry",
    "Settings",
    "load_settings",
    "save_nodes",
    "save_section",
    "save_theme",
]

SECTIONS = ("templates", "jobs", "nodes")
"""The UI's sections, by mode name (``ui.sections`` has their keys and titles)."""


@dataclass
class Settings:
    """The UI's share of the settings, and the saved nodes."""

    theme: str = "nosana-dark"
    keys: dict[str, str] = field(default_factory=dict)
    nodes: list[NodeEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    section: str | None = None
    """The section the UI was left on (``ui.json``), None the first time."""


def load_settings(paths: Paths) -> Settings:
    """SettingError when config.toml or the environment holds a value that cannot be used."""
    quick = quick_ui_settings(paths.config_file)  # where nothing else is set: no pydantic
    if quick is None:
        from nosana_tui.settings import load_settings as load_all_settings

        every = load_all_settings(paths.config_file)
        quick = every.theme, dict(every.keys)
    settings = Settings(theme=quick[0], keys=quick[1])
    settings.nodes, problem = load_nodes(paths)
    if problem:
        settings.problems.append(problem)
    settings.section = _read_section(paths)
    return settings


def _read_section(paths: Paths) -> str | None:
    """The remembered section; a missing or broken ``ui.json`` is nothing remembered (it only
    ever holds what the app wrote)."""
    try:
        data = json.loads(paths.ui_state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    section = data.get("section") if isinstance(data, dict) else None
    return section if section in SECTIONS else None


def save_section(paths: Paths, section: str) -> str | None:
    """Remember SECTION for the next start; a problem to show, or None."""
    return _write(paths.ui_state_file, json.dumps({"section": section}) + "\n")


THEME_LINE = re.compile(r"^\s*theme\s*=")


def save_theme(paths: Paths, theme: str) -> str | None:
    """Write ``theme = "THEME"`` into config.toml, replacing the top-level ``theme`` line or
    adding one at the top, every other line as it was; a problem to show, or None. Nothing is
    written unless the new text reads back as TOML with THEME as its theme."""
    path = paths.config_file
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as err:
        return f"{path}: the theme was not saved ({err})"
    line = f"theme = {json.dumps(theme)}"  # (a JSON string is a TOML basic string)
    lines = text.splitlines(keepends=True)
    new = line + "\n" + text  # no top-level theme yet: one at the top
    for i, old in enumerate(lines):
        if old.lstrip().startswith("["):  # a table: top-level keys come before the first
            break
        if THEME_LINE.match(old):
            lines[i] = line + "\n"
            new = "".join(lines)
            break
    try:
        saved = tomllib.loads(new).get("theme")
    except tomllib.TOMLDecodeError:
        saved = None
    if saved != theme:
        return f"{path}: the theme was not saved (set theme = {json.dumps(theme)} there yourself)"
    return _write(path, new)


def _write(path: Path, text: str) -> str | None:
    """Write TEXT to PATH by replacing it whole (never half a file), owner-only."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as err:
        return f"{path}: not saved ({err.strerror or err})"
    return None
