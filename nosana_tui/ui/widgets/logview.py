"""The live log of the job screen: a bounded queue drained into a ``Log`` on a timer.

Log lines arrive from async workers in batches. ``feed`` only appends them to a bounded queue
(lines beyond its cap are dropped and counted); a 50 ms timer drains the queue into the inner
``Log`` with one ``write_lines`` call, which is cheap per line and costly per call
(reference/tui.md §B.8). Lines are cleaned of every escape but colour (``sanitize``) and
their colours are rendered, only for the rows on screen.

Following is sticky: at the bottom the view follows; scrolled up it pauses and counts new lines
until ``end``/``G``. Wrap and timestamps are re-rendered from the widget's own bounded history
of the last ``max_lines`` entries, which is also what ``s`` saves.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, get_character_cell_size
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import var
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Log, Static

from nosana_tui.api.models import SYSTEM, LogEntry
from nosana_tui.config import paths
from nosana_tui.sanitize import clean_line

# What clean_line keeps: SGR (colour and attribute) sequences, nothing else.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_SGR_TOKENS = re.compile(r"(\x1b\[[0-9;:]*m)")  # split() keeps the sequences
_RESET = ("\x1b[0m", "\x1b[m")
# str.splitlines() breaks on these too; clean_line leaves them, Log.write_lines would split.
_LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def _clean(text: str) -> str:
    """``clean_line``, skipped for the common line that has nothing to clean."""
    if text.isprintable():  # C speed; false for any escape, control or line separator
        return text
    return clean_line(text).translate(_LINE_SEPARATORS)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_DIM, _UNDIM = "\x1b[2m", "\x1b[22m"
# Each op's colour in the all-ops view, as docker compose gives its services: the terminal's own
# palette (the theme's ANSI colours), cyan, yellow, green, magenta, blue, then their bright kin.
OP_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def plain(row: str) -> str:
    """``row`` without its colour sequences."""
    return _SGR.sub("", row) if "\x1b" in row else row


def wrap_row(row: str, width: int) -> list[str]:
    """``row`` cut into pieces of at most ``width`` cells; colours carry over to the next piece."""
    if width <= 0:
        return [row]
    if "\x1b" not in row and "\t" not in row and row.isascii():
        if len(row) <= width:
            return [row]
        return [row[i : i + width] for i in range(0, len(row), width)]
    pieces: list[str] = []
    active: list[str] = []  # SGR sequences in force since the last reset
    current: list[str] = []
    col = 0
    for token in _SGR_TOKENS.split(row) if "\x1b" in row else [row]:
        if not token:
            continue
        if token.startswith("\x1b["):
            active = [] if token in _RESET else [*active, token]
            current.append(token)
            continue
        for char in token:
            if char == "\t":
                char = " " * (8 - col % 8)
            size = cell_len(char) if len(char) > 1 else get_character_cell_size(char)
            if col + size > width and col > 0:
                if active:
                    current.append("\x1b[0m")
                pieces.append("".join(current))
                current = list(active)
                col = 0
            current.append(char)
            col += size
    pieces.append("".join(current))
    return pieces


class _Entry(NamedTuple):
    ts: float
    op_id: str
    text: str  # cleaned: colour sequences only


class LogLines(Log, can_focus=False):
    """The rows of a ``LogView``: a ``Log`` whose rows may hold colour sequences.

    Colours are rendered with ``Text.from_ansi`` for the rows on screen only, and matches of
    ``search`` are highlighted. ``pruned`` counts rows dropped from the top, so that
    ``pruned + y`` numbers a row for as long as it lives.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logview--match", "logview--match-current"}
    DEFAULT_CSS = """
    LogLines {
        height: 1fr;
        overflow-x: auto;  /* Log's own 'scroll' spends a row on an empty bar: a line less shown */
        & > .logview--match { background: $warning 40%; }
        & > .logview--match-current { background: $warning; color: $text; text-style: bold; }
    }
    """

    def __init__(self, max_lines: int | None = None, *, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, id=id)
        self.pruned = 0
        self.search = ""
        self.current_match: int | None = None  # pruned + y of the current match

    @classmethod
    def _process_line(cls, line: str) -> str:
        # Used to measure widths (in a thread worker): measure what is shown, not the escapes.
        return plain(line).expandtabs()

    @work(thread=True, description="LogLines: the widest new row")
    def _update_size(self, updates: int, lines: list[str]) -> None:
        # Log's own worker has no description, so Textual builds one from repr() of every line.
        if lines:
            widest = max(
                len(row) if row.isascii() and "\t" not in row else cell_len(row.expandtabs())
                for row in map(plain, lines)
            )
            self.app.call_from_thread(self._update_maximum_width, updates, widest)

    def _prune_max_lines(self) -> None:
        if self.max_lines is not None:
            self.pruned += max(0, len(self._lines) - self.max_lines)
        super()._prune_max_lines()

    def clear(self) -> LogLines:
        super().clear()
        self.current_match = None
        return self

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract("\n".join(plain(row) for row in self._lines)), "\n"

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        selection = self.text_selection
        cache = self._render_line_cache
        if selection is None and y in cache:
            return cache[y]
        row = self._lines[y]
        text = Text.from_ansi(row, no_wrap=True) if "\x1b" in row else Text(row, no_wrap=True)
        if "\t" in row:
            text.expand_tabs()
        text.stylize_before(rich_style)  # the row's own colours win over the widget's
        if self.search:
            name = (
                "logview--match-current"
                if self.current_match == self.pruned + y
                else "logview--match"
            )
            style = self.get_component_rich_style(name)
            folded, needle = text.plain.lower(), self.search.lower()
            start = folded.find(needle)
            while start >= 0:
                text.stylize(style, start, start + len(needle))
                start = folded.find(needle, start + len(needle))
        if selection is not None and (span := selection.get_span(y - self._clear_y)):
            start, end = span
            text.stylize(
                self.screen.get_component_rich_style("screen--selection"),
                start,
                len(text) if end == -1 else end,
            )
        strip = Strip(text.render(self.app.console), text.cell_len)
        if selection is None:  # Log 8.2.8 caches only *with* a selection; the reverse is meant
            cache[y] = strip
        return strip


class LogView(Widget, can_focus=True):
    """A live, bounded log: follow, wrap, timestamps, search, save and copy.

    Call ``feed``, ``note_dropped``, ``reset`` and ``set_title`` on the app's event loop (from
    async workers), never from threads.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end,G", "follow", "Follow", id="log.follow", tooltip="Scroll to the end and follow new lines"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap", tooltip="Wrap long lines to the width"),
        Binding("t", "toggle_timestamps", "Times", id="log.timestamps", tooltip="Show when each line was written"),
        Binding("slash", "search", "Search", id="log.search", tooltip="Find text in the log"),
        Binding("n", "next_match", "Next", id="log.next", tooltip="Next match"),
        Binding("N", "previous_match", "Prev", id="log.previous", tooltip="Previous match"),
        Binding("s", "save", "Save", id="log.save", tooltip="Save the retained log to a file"),
        Binding("y", "copy", "Copy", id="log.copy", tooltip="Copy the match, or the lines on screen"),
        Binding("escape", "close_search", "Close search", show=False, id="log.close_search"),
        Binding("up,k", "scroll('up')", "Up", show=False, id="log.up"),
        Binding("down,j", "scroll('down')", "Down", show=False, id="log.down"),
        Binding("pageup,ctrl+b", "scroll('page_up')", "Page up", show=False, id="log.page_up"),
        Binding("pagedown,ctrl+f,space", "scroll('page_down')", "Page down", show=False, id="log.page_down"),
        Binding("home,g", "scroll('home')", "Top", show=False, id="log.top"),
        Binding("left", "scroll('left')", "Left", show=False, id="log.left"),
        Binding("right", "scroll('right')", "Right", show=False, id="log.right"),
    ]  # fmt: skip

    DEFAULT_CSS = """
    LogView {
        layout: vertical;
        height: 1fr;
        & > #logview-status {
            height: 1;
            padding: 0 1;
            background: $panel;
            color: $text-muted;
        }
        &:focus-within > #logview-status { color: $text; }
        &.-paused > #logview-status { background: $warning-muted; color: $text; }
        & > #logview-search { dock: bottom; display: none; }
        &.-searching > #logview-search { display: block; }
        &.-wrap > LogLines { overflow-x: hidden; }
    }
    """

    TICK_S = 0.05  # how often the queue is drained (k9s: 50 ms)

    class Saved(Message):
        """The retained log was written to ``path``."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    class Copied(Message):
        """``n_lines`` lines went to the clipboard."""

        def __init__(self, n_lines: int) -> None:
            super().__init__()
            self.n_lines = n_lines

    follow: var[bool] = var(True, init=False)
    wrap: var[bool] = var(False, init=False)
    timestamps: var[bool] = var(False, init=False)
    title: var[str] = var("", init=False)

    def __init__(
        self,
        max_lines: int = 10_000,
        *,
        max_pending: int = 20_000,
        save_dir: Path | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self.save_dir: Path = save_dir if save_dir is not None else paths().data_dir / "logs"
        self.generation = 0
        self._pending: deque[LogEntry] = deque(maxlen=max_pending)
        self._history: deque[_Entry] = deque(maxlen=max_lines)
        self._dropped = 0
        self._new_lines = 0
        self._show_op = False
        self._op_colours: dict[str, str] = {}  # op id -> SGR colour, in the all-ops view
        self._op_width = 0
        self._hold = False  # a search jump paused following; reaching the end does not resume
        self._rows_width = 0  # the width rows were wrapped to (0: not wrapped)
        self._stamp_second = -1
        self._stamp_text = ""
        self._status_text = ""
        self._lines = LogLines(max_lines=max_lines, id="logview-lines")
        self._status = Static("", id="logview-status", markup=False)
        self._search_input = Input(
            placeholder="search (Enter: find, Esc: close)", id="logview-search"
        )

    # --- the API the job screen calls ---------------------------------------------------------

    @property
    def lines(self) -> LogLines:
        """The inner ``Log`` of rendered rows."""
        return self._lines

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def new_lines(self) -> int:
        """Lines that arrived while following was paused."""
        return self._new_lines

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def status_text(self) -> str:
        return self._status_text

    @property
    def show_op(self) -> bool:
        """Prefix each line with its op's name (the system and all-ops view)."""
        return self._show_op

    @show_op.setter
    def show_op(self, value: bool) -> None:
        if value != self._show_op:
            self._show_op = value
            self._rerender()

    def colour_ops(self, op_ids: Iterable[str]) -> None:
        """Prefix each line with its op's name padded to the longest, each op in its own colour
        (in this order; ``system`` dim), as the all-ops view does; no ops: the plain prefix."""
        ids = [op for op in dict.fromkeys(op_ids) if op != SYSTEM]
        colours = {op: f"\x1b[{OP_COLOURS[i % len(OP_COLOURS)]}m" for i, op in enumerate(ids)}
        width = max((cell_len(_clean(op)) for op in [*ids, SYSTEM]), default=0) if ids else 0
        if colours != self._op_colours or width != self._op_width:
            self._op_colours, self._op_width = colours, width
            if self._show_op:
                self._rerender()

    def feed(self, entries: Iterable[LogEntry], generation: int | None = None) -> None:
        """Queue ``entries`` for the next tick; beyond the queue's cap the oldest are dropped.

        With ``generation``, entries of an earlier generation (before a ``reset``) are ignored.
        """
        if generation is not None and generation != self.generation:
            return
        batch = entries if isinstance(entries, (list, tuple)) else list(entries)
        pending = self._pending
        overflow = len(pending) + len(batch) - (pending.maxlen or 0)
        if overflow > 0:
            self._dropped += overflow
        pending.extend(batch)

    def note_dropped(self, n: int, generation: int | None = None) -> None:
        """Add ``n`` lines the node dropped for this reader (of ``generation``, as ``feed``)."""
        if generation is not None and generation != self.generation:
            return
        if n > 0:
            self._dropped += n
            self._update_status()

    def reset(self, title: str) -> int:
        """Clear everything for a new op or stream; returns the new generation id."""
        self.generation += 1
        self._op_colours, self._op_width = {}, 0
        self._pending.clear()
        self._history.clear()
        self._dropped = 0
        self._new_lines = 0
        self._hold = False
        lines = self._lines
        lines.clear()
        lines.pruned = 0
        lines.search = ""
        lines.scroll_to(0, 0, animate=False, immediate=True)
        self.follow = True
        self.title = title
        self._update_status()
        return self.generation

    def set_title(self, title: str) -> None:
        self.title = title

    # --- widget -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._lines
        yield self._search_input

    def on_mount(self) -> None:
        self.watch(self._lines, "scroll_y", self._scrolled, init=False)
        self.set_interval(self.TICK_S, self._tick)
        self._update_status()

    def _tick(self) -> None:
        if self.wrap and self._wrap_width() != self._rows_width:
            self._rerender()
        self._drain()
        lines = self._lines
        if self.follow and not lines.is_vertical_scroll_end and lines.region.height:
            # Log scrolls a write to the end only if it was at the end already: a size that
            # changed under it (the screen covered by the op panel, a resize) left it short of
            # the end for good, still "following". Following means at the end.
            lines.scroll_end(animate=False, immediate=True, x_axis=False)
        self._update_status()

    def _drain(self) -> None:
        pending = self._pending
        if not pending:
            return
        count = len(pending)
        if count > self.max_lines:
            # The same write would prune them at once: do not format them.
            for _ in range(count - self.max_lines):
                pending.popleft()
        entries = [_Entry(e.ts, e.op_id, _clean(e.text)) for e in pending]
        pending.clear()
        self._history.extend(entries)
        self._write(self._rows(entries))
        if not self.follow:
            self._new_lines += count

    def _write(self, rows: list[str]) -> None:
        lines = self._lines
        before = len(lines.lines)
        lines.write_lines(rows)  # one call per tick: each call starts a thread worker
        removed = before + len(rows) - len(lines.lines)
        if removed <= 0:
            return
        if not self.follow and lines.scroll_y > 0:
            # Keep the rows the user is reading in place while older ones are pruned.
            lines.scroll_to(y=max(0, lines.scroll_y - removed), animate=False, immediate=True)
        # Once full, every row moves up under a scroll offset that stays (already at the end):
        # Log repaints only the rows it appended, below the screen, so without this the screen
        # froze on the rows of the tick that first filled the log (about 10,000 lines in).
        lines.refresh()

    def _rows(self, entries: Iterable[_Entry]) -> list[str]:
        width = self._rows_width if self.wrap else 0
        fmt = self._formatter()
        rows: list[str] = []
        if width:
            for entry in entries:
                rows.extend(wrap_row(fmt(entry), width))
        else:
            rows.extend(map(fmt, entries))
        return rows

    def _formatter(self) -> Callable[[_Entry], str]:
        """How an entry becomes a row, for the options now in force (looked up once a batch)."""
        stamp, show_time, show_op = self._stamp, self.timestamps, self._show_op
        colours, width = self._op_colours, self._op_width
        names: dict[str, str] = {}

        def name(op_id: str) -> str:
            # the op's name as it is shown (cleaned: it comes from a node), padded and coloured
            shown = names.get(op_id)
            if shown is None:
                colour = colours.get(op_id, _DIM)
                clean = _clean(op_id)
                pad = " " * max(0, width - cell_len(clean))
                shown = names[op_id] = f"{colour}{clean}\x1b[0m{pad} {_DIM}│{_UNDIM}"
            return shown

        def bare(entry: _Entry) -> str:
            # Log.write_lines drops empty strings (splitlines): keep the row.
            return entry.text or " "

        def prefixed(entry: _Entry) -> str:
            prefix = f"{_DIM}{stamp(entry.ts)}{_UNDIM} " if show_time else ""
            if show_op and colours:
                prefix += f"{name(entry.op_id)} "
            elif show_op:
                prefix += f"{_DIM}{entry.op_id}{_UNDIM} "
            return prefix + entry.text

        return prefixed if show_time or show_op else bare

    def _stamp(self, ts: float) -> str:
        second = int(ts)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp_text = time.strftime("%H:%M:%S", time.localtime(second))
        return f"{self._stamp_text}.{min(999, int((ts - second) * 1000)):03d}"

    def _wrap_width(self) -> int:
        return max(0, self._lines.scrollable_content_region.width)

    def _rerender(self) -> None:
        """Rebuild every row from the history (wrap, timestamps or op names changed)."""
        lines = self._lines
        self._rows_width = self._wrap_width() if self.wrap else 0
        keep_y = lines.scroll_y
        lines.clear()
        lines.write_lines(self._rows(self._history), scroll_end=False)
        if self.follow:
            lines.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            lines.scroll_to(y=min(keep_y, lines.max_scroll_y), animate=False, immediate=True)

    def _scrolled(self, _old: float, _new: float) -> None:
        if self._lines.is_vertical_scroll_end:
            if not self._hold:
                self.follow = True
        else:
            self._hold = False
            self.follow = False

    def _update_status(self) -> None:
        parts = [self.title or "log"]
        if self.follow:
            parts.append("follow")
        else:
            parts.append(f"paused · {self._new_lines:,} new lines · end to follow")
        parts.append("wrap" if self.wrap else "no wrap")
        parts.append("timestamps" if self.timestamps else "no timestamps")
        if self._dropped:
            parts.append(f"dropped {self._dropped:,}")
        if self._lines.search:
            parts.append(f"/{self._lines.search}")
        text = " · ".join(parts)
        if text != self._status_text:
            self._status_text = text
            self._status.update(text)

    # --- reactive state -----------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        self._lines.auto_scroll = follow
        if follow:
            self._new_lines = 0
            self._hold = False
        self.set_class(not follow, "-paused")
        self._update_status()

    def watch_wrap(self, wrap: bool) -> None:
        self.set_class(wrap, "-wrap")
        self._rerender()
        self._update_status()

    def watch_timestamps(self, _timestamps: bool) -> None:
        self._rerender()
        self._update_status()

    def watch_title(self, _title: str) -> None:
        self._update_status()

    # --- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "close_search":
            return self.has_class("-searching")
        if action in ("next_match", "previous_match"):
            return True if self._lines.search else None
        return True

    def action_follow(self) -> None:
        self._hold = False
        self.follow = True
        self._lines.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_scroll(self, where: str) -> None:
        lines = self._lines
        move = {
            "up": lines.scroll_up,
            "down": lines.scroll_down,
            "left": lines.scroll_left,
            "right": lines.scroll_right,
            "page_up": lines.scroll_page_up,
            "page_down": lines.scroll_page_down,
            "home": lines.scroll_home,
        }[where]
        move(animate=False)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps

    def action_search(self) -> None:
        self.add_class("-searching")
        self._search_input.value = self._lines.search
        self._search_input.focus()

    def action_close_search(self) -> None:
        self.remove_class("-searching")
        self.focus()

    @on(Input.Submitted, "#logview-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_close_search()
        self.search(event.value)

    def search(self, query: str) -> None:
        """Highlight ``query`` (case-insensitive) and go to its first match from the top of the
        screen down, else the last one."""
        lines = self._lines
        lines.search = query
        lines.current_match = None
        lines._render_line_cache.clear()
        lines.refresh()
        self._update_status()
        if query:
            top = int(lines.scroll_y)
            found = self._find(top, forward=True, wrap=False)
            if found is None:
                found = self._find(len(lines.lines) - 1, forward=False, wrap=False)
            if not self._jump(found):
                self.notify(f"not found: {query}", severity="warning", timeout=3, markup=False)
        self.refresh_bindings()

    def action_next_match(self) -> None:
        self._step(forward=True)

    def action_previous_match(self) -> None:
        self._step(forward=False)

    def _step(self, *, forward: bool) -> None:
        lines = self._lines
        if lines.current_match is not None and lines.current_match >= lines.pruned:
            start = lines.current_match - lines.pruned + (1 if forward else -1)
        else:
            height = lines.scrollable_content_region.height
            start = int(lines.scroll_y) + (0 if forward else height - 1)
        if not self._jump(self._find(start, forward=forward, wrap=True)):
            self.notify(f"not found: {lines.search}", severity="warning", timeout=3, markup=False)

    def _find(self, start: int, *, forward: bool, wrap: bool) -> int | None:
        """The row of the next match from ``start`` (inclusive) in one direction."""
        rows = self._lines.lines
        needle = self._lines.search.lower()
        if not needle or not rows:
            return None
        count = len(rows)
        start = min(max(start, 0), count - 1) if wrap else start
        if forward:
            order = range(start, count)
            rest = range(0, start)
        else:
            order = range(min(start, count - 1), -1, -1)
            rest = range(count - 1, start, -1)
        for y in (*order, *rest) if wrap else order:
            if needle in plain(rows[y]).lower():
                return y
        return None

    def _jump(self, y: int | None) -> bool:
        if y is None:
            return False
        lines = self._lines
        old = lines.current_match
        lines.current_match = lines.pruned + y
        if old is not None and old >= lines.pruned:
            lines.refresh_lines(old - lines.pruned)
        lines.refresh_lines(y)
        height = lines.scrollable_content_region.height
        self._hold = True  # even if the match is on the last screen, stay on it
        self.follow = False
        lines.scroll_to(y=max(0, y - height // 2), animate=False, immediate=True)
        return True

    def action_save(self) -> None:
        self._drain()
        fmt = self._formatter()
        rows = (plain(fmt(entry)) for entry in self._history)
        text = "".join(("" if row == " " else row) + "\n" for row in rows)
        self._save(self.save_dir, self.title or "log", text)

    @work(thread=True, exit_on_error=False, group="logview-save")
    def _save(self, directory: Path, title: str, text: str) -> None:
        name = _UNSAFE_NAME.sub("-", title).strip("-.") or "log"
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for n in range(1000):
                path = directory / (f"{name}-{stamp}.log" if n == 0 else f"{name}-{stamp}-{n}.log")
                try:
                    with path.open("x", encoding="utf-8") as out:
                        out.write(text)
                    break
                except FileExistsError:
                    continue
        except OSError as err:
            self.app.call_from_thread(
                self.notify, f"could not save the log: {err}", severity="error"
            )
            return
        self.post_message(self.Saved(path))

    def action_copy(self) -> None:
        lines = self._lines
        rows = lines.lines
        match = lines.current_match
        if match is not None and 0 <= match - lines.pruned < len(rows):
            picked = [rows[match - lines.pruned]]
        else:
            top = int(lines.scroll_y)
            picked = list(rows[top : top + lines.scrollable_content_region.height])
        text = "\n".join(plain(row).rstrip() for row in picked)
        self.app.copy_to_clipboard(text)
        self.post_message(self.Copied(len(picked)))
