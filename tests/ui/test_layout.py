"""At 80x24 every section's footer keeps its own keys, Help and Quit (nothing cut at the right
edge), and the header names the three sections with their keys, the current one in brackets."""

from __future__ import annotations

from pathlib import Path

import pytest

from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.sections import section_tabs
from tests.pilot import screen_text, until

pytestmark = pytest.mark.anyio

SECTION_KEYS = {
    "1": ("Templates", ["/ Search", "d Deploy", "v Variables", "g Graph", "p Preview"]),
    "2": ("Jobs", ["/ Filter"]),
    "3": ("Nodes", ["a Add", "d Remove", "i Info", "g GPUs"]),
}


async def test_every_section_fits_its_keys_and_names_the_others_at_80x24(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")  # nothing answers there
    app = NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, (name, own_keys) in SECTION_KEYS.items():
            await pilot.press(key)

            tab, first_key = f"[{key} {name}]", own_keys[0]

            def shown(tab: str = tab, first_key: str = first_key) -> bool:
                """the section is on screen with its own footer"""
                text = screen_text(app)
                return tab in text and first_key in text.splitlines()[-1]

            await until(pilot, shown)
            lines = screen_text(app).splitlines()
            assert len(lines) == 24
            header, footer = lines[0], lines[-1]
            assert section_tabs(name) in header, header
            assert f"[{key} {name}]" in header
            for shown in [*own_keys, "? Help", "q Quit", "^p palette"]:
                assert shown in footer, (name, footer)
        await pilot.press("q")


def test_section_tabs_mark_the_current_one() -> None:
    assert section_tabs("Jobs") == "1 Templates  [2 Jobs]  3 Nodes"
