"""Driving and reading a Textual app under Pilot: wait for a condition (no fixed sleeps), and
capture what it shows, as plain text (as a terminal shows it, line by line) and as Textual's SVG
screenshot. Used by the UI tests and, on a GPU host, for the GPU panel's capture in docs/gpu.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot


async def until(
    pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 30, step: float = 0.02
) -> None:
    """Let the app run until ``condition`` holds; fail after TIMEOUT seconds, naming the
    condition by its docstring."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__ or condition}")
        await pilot.pause(step)


def screen_text(app: App[Any]) -> str:
    """The whole screen, composited as the terminal gets it, trailing blanks trimmed."""
    strips = app.screen._compositor.render_strips()  # private, but what the driver writes
    return "\n".join(strip.text.rstrip() for strip in strips)


def capture(app: App[Any], folder: Path, stem: str) -> str:
    """Write ``STEM.txt`` and ``STEM.svg`` of the current screen to FOLDER; return the text."""
    folder.mkdir(parents=True, exist_ok=True)
    text = screen_text(app)
    (folder / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    app.save_screenshot(f"{stem}.svg", str(folder))
    return text
