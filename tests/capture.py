"""Capture what a running Textual app shows: the screen as plain text (as a terminal shows it,
line by line) and as Textual's SVG screenshot. Used by the UI tests and, on a GPU host, for the
GPU panel's capture in docs/gpu.md."""

from __future__ import annotations

from pathlib import Path

from textual.app import App


def screen_text(app: App[object]) -> str:
    """The whole screen, composited as the terminal gets it, trailing blanks trimmed."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


def capture(app: App[object], folder: Path, stem: str) -> str:
    """Write ``STEM.txt`` and ``STEM.svg`` of the current screen to FOLDER; return the text."""
    folder.mkdir(parents=True, exist_ok=True)
    text = screen_text(app)
    (folder / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    app.save_screenshot(f"{stem}.svg", str(folder))
    return text
