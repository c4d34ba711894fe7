"""LogView: batching, drops, colours, sticky follow, search, save, copy, timestamps, wrap, reset.

Every test waits on a condition (the queue drained, a message arrived), never on a fixed sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from nosana_tui.api.models import LogEntry
from nosana_tui.ui.widgets.logview import LogView, plain, wrap_row
from tests.pilot import until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


TS = 1_700_000_000.25  # a fixed time, so rendered timestamps are known


class LogApp(App[None]):
    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options
        self.saved: list[Path] = []
        self.copied: list[int] = []

    def compose(self) -> ComposeResult:
        yield LogView(id="log", **options_or_default(self.options))

    def on_mount(self) -> None:
        self.query_one(LogView).focus()

    def on_log_view_saved(self, message: LogView.Saved) -> None:
        self.saved.append(message.path)

    def on_log_view_copied(self, message: LogView.Copied) -> None:
        self.copied.append(message.n_lines)


def options_or_default(options: dict[str, Any]) -> dict[str, Any]:
    return {"save_dir": Path("/nonexistent/never-used"), **options}


def entries(texts: Iterable[str], *, op: str = "web", start: int = 0) -> list[LogEntry]:
    return [
        LogEntry(seq=start + i, job_id="job1", op_id=op, stream="stdout", ts=TS + i, text=text)
        for i, text in enumerate(texts)
    ]


def numbered(n: int, start: int = 0, word: str = "line") -> list[LogEntry]:
    return entries((f"{word} {i}" for i in range(start, start + n)), start=start)


async def show(pilot: Pilot[None], view: LogView, entries: list[LogEntry]) -> None:
    """Feed ENTRIES and let the view draw every one of them."""
    view.feed(entries)
    await until(pilot, drained(view))


def drained(view: LogView) -> Callable[[], bool]:
    return lambda: view.pending == 0


def rows(view: LogView) -> list[str]:
    return [plain(row) for row in view.lines.lines]


def screen_row(view: LogView, y: int) -> str:
    """The text the inner log shows on screen row ``y``."""
    return "".join(segment.text for segment in view.lines.render_line(y))


async def test_lines_arrive_in_one_write_per_tick() -> None:
    app = LogApp(max_lines=50_000, max_pending=50_000)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        calls: list[int] = []
        write_lines = view.lines.write_lines

        def counting(lines: Iterable[str], scroll_end: bool | None = None) -> Any:
            batch = list(lines)
            calls.append(len(batch))
            return write_lines(batch, scroll_end)

        view.lines.write_lines = counting  # type: ignore[method-assign]
        for chunk in range(50):  # as an async worker receives them: 1,000 at a time
            view.feed(numbered(1000, start=chunk * 1000))
            if chunk % 10 == 9:
                await pilot.pause()
        await until(pilot, lambda: len(view.lines.lines) == 50_000)

        assert sum(calls) == 50_000
        assert 1 <= len(calls) <= 6  # one write per tick, never one per line or per chunk
        assert rows(view)[0] == "line 0"
        assert rows(view)[-1] == "line 49999"
        assert view.dropped == 0
        assert view.follow


async def test_a_full_queue_drops_the_oldest_and_the_status_counts_them() -> None:
    app = LogApp(max_pending=1000)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        view.feed(numbered(600))
        view.feed(numbered(900, start=600))  # 1,500 queued before a tick: 500 too many
        assert view.dropped == 500
        view.note_dropped(7)  # the node dropped some for this reader too
        await until(pilot, drained(view))
        await until(pilot, lambda: "dropped 507" in view.status_text)

        assert rows(view)[0] == "line 500"
        assert rows(view)[-1] == "line 1499"
        assert "dropped 507" in str(view.query_one("#logview-status").render())


async def test_colours_render_and_other_escapes_are_removed() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        view.feed(
            entries(
                [
                    "\x1b[31mred\x1b[0m plain",
                    "before\x1b]0;evil title\x07after\x1b[2J\x1b[H done",
                    "",
                    "one\u2028row",
                ]
            )
        )
        await until(pilot, drained(view))

        assert view.lines.lines[0] == "\x1b[31mred\x1b[0m plain"
        assert view.lines.lines[1] == "beforeafter done"  # OSC title and screen clear gone
        assert view.lines.lines[2] == " "  # an empty line keeps its row
        assert view.lines.lines[3] == "one\\u2028row"  # a line separator does not split it
        assert len(view.lines.lines) == 4
        segments = list(view.lines.render_line(0))
        red = [s for s in segments if s.text == "red"]
        assert red and red[0].style is not None and red[0].style.color is not None
        assert red[0].style.color.number == 1  # ANSI red, drawn in the theme's red
        rest = next(s for s in segments if "plain" in s.text)
        assert rest.style is not None and rest.style.color != red[0].style.color
        assert "\x1b" not in screen_row(view, 1)


async def test_scrolling_up_pauses_and_counts_new_lines_until_end() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await show(pilot, view, numbered(100))
        assert view.follow and view.lines.is_vertical_scroll_end

        await pilot.press("up")
        assert not view.follow
        top = view.lines.scroll_y
        view.feed(numbered(25, start=100))
        await until(pilot, lambda: view.new_lines == 25)
        await until(pilot, lambda: "paused · 25 new lines · end to follow" in view.status_text)
        assert view.lines.scroll_y == top  # the view stays where the user put it
        assert view.has_class("-paused")

        await pilot.press("end")
        assert view.follow and view.new_lines == 0
        assert view.lines.is_vertical_scroll_end
        assert " · follow · " in view.status_text
        await show(pilot, view, numbered(5, start=125))
        assert view.lines.is_vertical_scroll_end  # following again

        await pilot.press("k", "k", "G")  # vim keys do the same
        assert view.follow and view.lines.is_vertical_scroll_end


async def test_a_paused_view_keeps_its_place_while_old_lines_are_pruned() -> None:
    app = LogApp(max_lines=200)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await show(pilot, view, numbered(200))
        await pilot.press("pageup")
        reading = screen_row(view, 0)
        view.feed(numbered(30, start=200))
        await until(pilot, lambda: view.new_lines == 30)
        await pilot.pause()
        assert screen_row(view, 0) == reading
        assert rows(view)[0] == "line 30"


async def test_search_highlights_and_n_moves_between_matches() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        texts = [f"row {i}" + (" the Needle here" if i in (10, 50, 90) else "") for i in range(100)]
        await show(pilot, view, entries(texts))

        await pilot.press("slash")
        assert view.has_class("-searching")
        await pilot.press(*"needle", "enter")
        assert not view.has_class("-searching")
        assert view.has_focus
        lines = view.lines
        # Following, the screen shows rows 79..99: the first match from its top is row 90.
        assert lines.current_match == 90
        assert not view.follow

        def visible_row(y: int) -> int:
            row = y - int(lines.scroll_y)
            assert 0 <= row < lines.scrollable_content_region.height
            return row

        current = lines.get_component_rich_style("logview--match-current")
        other = lines.get_component_rich_style("logview--match")
        segments = list(lines.render_line(visible_row(90)))
        hit = [s for s in segments if s.text.lower() == "needle"]
        assert hit and hit[0].style is not None and hit[0].style.bgcolor == current.bgcolor

        await pilot.press("n")
        assert lines.current_match == 10  # wraps round to the top
        await pilot.press("n")
        assert lines.current_match == 50
        segments = list(lines.render_line(visible_row(50)))
        assert any(
            s.text == "Needle" and s.style and s.style.bgcolor == current.bgcolor for s in segments
        )
        await pilot.press("N")
        assert lines.current_match == 10
        segments = list(lines.render_line(visible_row(10)))
        assert any(
            s.text == "Needle" and s.style and s.style.bgcolor == current.bgcolor for s in segments
        )
        assert current.bgcolor != other.bgcolor
        assert not view.follow

        await pilot.press("slash", "escape")
        assert not view.has_class("-searching")
        assert view.has_focus


async def test_save_writes_the_history_as_plain_text(tmp_path: Path) -> None:
    app = LogApp(save_dir=tmp_path / "logs")
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        view.set_title("job1 · web/api")
        view.feed(entries(["\x1b[32mok\x1b[0m started", "second"]))
        await pilot.press("s")
        await until(pilot, lambda: bool(app.saved))

        [path] = app.saved
        assert path.parent == tmp_path / "logs"
        assert path.name.startswith("job1-web-api-")
        assert path.suffix == ".log"
        assert path.read_text(encoding="utf-8") == "ok started\nsecond\n"


async def test_copy_takes_the_match_line_else_the_screen() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await show(pilot, view, numbered(5))
        await pilot.press("y")
        assert app.clipboard == "line 0\nline 1\nline 2\nline 3\nline 4"
        view.search("line 3")
        await pilot.press("y")
        assert app.clipboard == "line 3"
        await until(pilot, lambda: len(app.copied) == 2)
        assert app.copied == [5, 1]


async def test_timestamps_toggle_changes_the_rendered_text() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await show(pilot, view, entries(["hello"]))
        assert screen_row(view, 0).rstrip() == "hello"

        await pilot.press("t")
        stamp = time.strftime("%H:%M:%S", time.localtime(TS)) + ".250"
        assert screen_row(view, 0).rstrip() == f"{stamp} hello"
        assert "timestamps" in view.status_text and "no timestamps" not in view.status_text

        view.show_op = True  # the system and all-ops view names each line's op
        assert screen_row(view, 0).rstrip() == f"{stamp} web hello"

        await pilot.press("t")
        assert screen_row(view, 0).rstrip() == "web hello"


async def test_wrap_cuts_long_lines_to_the_width_and_back() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        await show(pilot, view, entries(["x" * 200, "short"]))
        assert len(view.lines.lines) == 2

        await pilot.press("w")
        width = view.lines.scrollable_content_region.width
        assert 70 <= width <= 80
        assert [len(r) for r in rows(view)] == [width, width, 200 - 2 * width, 5]

        await pilot.press("w")
        assert rows(view) == ["x" * 200, "short"]


def test_wrap_row_carries_colours_to_the_next_piece() -> None:
    pieces = wrap_row("\x1b[31mabcdef\x1b[0mgh", 4)
    assert [plain(p) for p in pieces] == ["abcd", "efgh"]
    assert pieces[0] == "\x1b[31mabcd\x1b[0m"
    assert pieces[1].startswith("\x1b[31mef")
    assert wrap_row("日本語です", 4) == ["日本", "語で", "す"]  # wide characters take two cells
    assert wrap_row("", 10) == [""]


async def test_reset_clears_everything_and_ignores_stale_feeds() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        old = view.generation
        view.feed(numbered(50), generation=old)
        view.note_dropped(3)
        await until(pilot, drained(view))
        view.search("line")
        await pilot.press("up")

        new = view.reset("job1 · db")
        assert new == old + 1
        assert view.lines.lines == [] and view.dropped == 0 and view.new_lines == 0
        assert view.follow and view.lines.search == ""
        view.feed(numbered(5), generation=old)  # a worker of the previous stream
        view.feed(entries(["fresh"]), generation=new)
        await until(pilot, drained(view))
        assert rows(view) == ["fresh"]
        await until(pilot, lambda: view.status_text.startswith("job1 · db · follow"))
        assert "dropped" not in view.status_text


def test_every_action_is_a_binding_with_an_id_and_a_description() -> None:
    bindings = LogView.BINDINGS
    ids = {b.id for b in bindings}  # type: ignore[union-attr]
    assert {
        "log.follow",
        "log.wrap",
        "log.timestamps",
        "log.search",
        "log.next",
        "log.previous",
        "log.save",
        "log.copy",
    } <= ids
    assert all(b.id and b.description for b in bindings)  # type: ignore[union-attr]
    assert len(ids) == len(bindings)


@pytest.mark.parametrize("key", ["escape", "n"])
async def test_keys_it_does_not_use_reach_the_screen(key: str) -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        # Without an open search, escape belongs to the screen (back) and n is greyed out.
        assert view.check_action({"escape": "close_search", "n": "next_match"}[key], ()) in (
            False,
            None,
        )
        await pilot.press(key)
        assert view.follow
