"""Snapshots of each section in each built-in theme, at 80x24 and 160x48.

No node answers (a fixed, unreachable address and no autostart), so the content is the same on
every run. Review changes with `pytest --snapshot-update` only after reading the HTML report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp

SECTIONS = ("templates", "jobs", "nodes")
THEMES = ("nosana-dark", "nosana-light", "nosana-ansi")
SIZES = ((80, 24), (160, 48))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("section", SECTIONS)
def test_section_snapshot(
    section: str,
    theme: str,
    size: tuple[int, int],
    snap_compare: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    app = NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)

    async def show(pilot: Pilot[Any]) -> None:
        app.theme = theme
        await pilot.press({"templates": "1", "jobs": "2", "nodes": "3"}[section])
        for _ in range(200):  # until the unreachable node has been reported
            if app.node_error is not None:
                break
            await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.anyio
async def test_command_palette_lists_the_screen_s_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    app = NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Deploy", "Search", "Templates", "Jobs", "Nodes", "Quit"} <= titles
