"""OpGraph: a job's ops stage by stage, with the ``depends_on`` edges between them drawn as rails.

One line per op, so the graph is also a list to move through. Within a stage the ops are in
dependency order (an op below everything it waits for) and drawn git-log style: each op's glyph
sits in a column of the gutter, an op that others wait for keeps its column open (``│``) down to
its last dependant, and every dependant joins it with ``├─`` / ``└─`` (or ``─┤`` / ``─┘`` from
the right; ``┼`` / ``┴`` where the edge passes another of its lines). No op sits in the column
of an op it depends on, so every ``depends_on`` is a visible edge, a plain chain's too. A fan-in
op, whose edges are the hardest to follow, also lists what it waits for (``◀ a, b``); so does
every op when a stage is too wide for rails. Edges only run inside a stage: stages run one after
another, so that is where ``depends_on`` may point::

     stage 1 · app  ✖ failed  ▰▱▰▱▱ 1/5 ready
  ▸  ●     db      running · healthy
     ├─✖   worker  failed  exit 2  — crashed
     │ ●   cache   running  ↻1
     └─┴─◌ api     waiting  ◀ db, cache
     ○───┘ web     pending

``←`` / ``→`` move along the edges (to what the op waits for, to what waits for it); ``↑`` /
``↓`` move down the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.css.scalar import Scalar
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nosana_tui.api.states import Health, JobStatus, OpStatus
from nosana_tui.jobformat.graph import DependencyGraph, Node
from nosana_tui.ui.style import HEALTH, SKIPPED, Look, op_look, theme_style

if TYPE_CHECKING:  # the views (pydantic) are not needed before the first frame
    from nosana_tui.api.models import JobView, OpView

Line = tuple[str | None, Text]

CURSOR = "▸"
INDENT = 3  # cursor, then two spaces: ops sit under their stage header
MAX_RAIL_COLUMNS = 10  # wider than this and a stage lists dependencies instead of drawing rails
ID_WIDTH = 24  # longer op ids are cut with an ellipsis

_STAGE_FAILED = Look("✖", "failed", "error")
_STAGE_DONE = Look("✔", "done", "success")
_STAGE_RUNNING = Look("●", "running", "primary")
_STAGE_READY = Look("●", "ready", "success")  # every op ready or finished; services run on
_STAGE_PENDING = Look("○", "pending", "foreground-muted")
_STAGE_SKIPPED = Look(SKIPPED.glyph, "skipped", SKIPPED.role)
_STAGE_STOPPED = Look("■", "stopped", "foreground-muted")


# --- layout (pure) ------------------------------------------------------------------------------


def _stages(view: JobView) -> list[tuple[str, list[OpView]]]:
    """The job's stages in order (``view.groups``, then any group only the ops name)."""
    by_group: dict[str, list[OpView]] = {name: [] for name in view.groups}
    for op in sorted(view.ops, key=lambda o: o.index):
        by_group.setdefault(op.group, []).append(op)
    return [(name, ops) for name, ops in by_group.items() if ops]


def _dependency_order(ops: list[OpView]) -> list[OpView]:
    """A stage's ops in the job format's dependency order (:meth:`DependencyGraph.order`): each
    after the ops of its stage that it depends on, file order among the ready ones, ops caught in
    a cycle (a definition that did not validate) at the end in file order."""
    graph = DependencyGraph(Node(op.id, op.group, tuple(op.depends_on)) for op in ops)
    by_id = {op.id: op for op in reversed(ops)}  # the first op of a duplicated id
    order = [by_id[op_id] for op_id in graph.order()]
    placed = {id(op) for op in order}
    return order + [op for op in ops if id(op) not in placed]


class _Row:
    """One op's place in its stage's rails."""

    __slots__ = ("cells", "column", "drawn", "op")

    def __init__(self, op: OpView, column: int, cells: list[str], drawn: set[str]) -> None:
        self.op = op
        self.column = column  # the glyph's rail column
        self.cells = cells  # two characters per rail column; the glyph's cell is a placeholder
        self.drawn = drawn  # the dependencies the rails show


def _rails(ops: list[OpView]) -> tuple[list[_Row], int]:
    """Lay a stage out: one row per op in dependency order, and the gutter's width in columns.

    Every edge is drawn: an op never sits in the column of an op it depends on, so each of its
    dependencies' lines turns into it (``└─●``, ``●─┘``), even from the row just above; an op
    takes the leftmost free column that is none of its dependencies', so a long chain zigzags
    between two columns instead of drifting right."""
    order = _dependency_order(ops)
    position = {op.id: i for i, op in enumerate(order)}
    deps = {
        op.id: [
            d
            for d in dict.fromkeys(op.depends_on)
            if d in position and position[d] < position[op.id]
        ]
        for op in order
    }
    dependants = {op.id: 0 for op in order}
    for op in order:
        for d in deps[op.id]:
            dependants[d] += 1

    lanes: list[str | None] = []  # per column: the op whose edge runs down it, or None
    rows: list[_Row] = []
    width = 1
    for op in order:
        dep_columns = sorted(lanes.index(d) for d in deps[op.id])
        for d in deps[op.id]:
            dependants[d] -= 1
        column = next(
            (i for i, lane in enumerate(lanes) if lane is None and i not in dep_columns),
            len(lanes),
        )
        columns = max(len(lanes), column + 1)
        cells = [" "] * (2 * columns)
        for i, lane in enumerate(lanes):
            if lane is not None:
                cells[2 * i] = "│"
        if dep_columns:
            low = 2 * min([*dep_columns, column])
            high = 2 * max([*dep_columns, column])
            for x in range(low, high + 1):
                if cells[x] == " ":
                    cells[x] = "─"
            left = [c for c in dep_columns if c < column]
            right = [c for c in dep_columns if c > column]
            for c in dep_columns:
                goes_on = dependants[lanes[c] or ""] > 0
                if left and c == left[0]:
                    cells[2 * c] = "├" if goes_on else "└"
                elif right and c == right[-1]:
                    cells[2 * c] = "┤" if goes_on else "┘"
                else:  # a line the edge passes on its way to the glyph
                    cells[2 * c] = "┼" if goes_on else "┴"
        cells[2 * column] = "●"  # placeholder: the op's state glyph goes here
        rows.append(_Row(op, column, cells, set(deps[op.id])))
        for c in dep_columns:
            if dependants[lanes[c] or ""] == 0:
                lanes[c] = None
        if dependants[op.id] > 0:
            if column == len(lanes):
                lanes.append(op.id)
            else:
                lanes[column] = op.id
        while lanes and lanes[-1] is None:
            lanes.pop()
        width = max(width, columns)
    if width > MAX_RAIL_COLUMNS:
        for row in rows:
            row.column, row.cells, row.drawn = 0, ["●", " "], set()
        width = 1
    return rows, width


def _stage_look(ops: Sequence[OpView], job: JobStatus | None = None) -> Look:
    if any(op.status is OpStatus.FAILED for op in ops):
        return _STAGE_FAILED
    if all(op_look(op, job) is SKIPPED for op in ops):
        return _STAGE_SKIPPED  # its job failed before it began
    if all(op.status is OpStatus.PENDING for op in ops):
        return _STAGE_PENDING
    if all(op.status is OpStatus.STOPPED and op.started_at is None for op in ops):
        return _STAGE_SKIPPED  # its job was stopped before it began
    if all(op.status.terminal for op in ops):
        # stopped by hand (x, X, K): not done
        stopped = any(op.status is OpStatus.STOPPED for op in ops)
        return _STAGE_STOPPED if stopped else _STAGE_DONE
    if all(op.status.terminal or op.ready for op in ops):
        return _STAGE_READY
    return _STAGE_RUNNING


def _style(variables: Mapping[str, str] | None, role: str, *, bold: bool = False) -> Style:
    if variables is None:
        return Style(bold=bold or None)
    return theme_style(variables, role, bold=bold)


def _header(
    number: int,
    name: str,
    ops: Sequence[OpView],
    v: Mapping[str, str] | None,
    job: JobStatus | None = None,
    *,
    compact: bool = False,
) -> Text:
    text = Text(" ")
    text.append(f"stage {number}", _style(v, "primary", bold=True))
    text.append(" · ", _style(v, "foreground-muted"))
    text.append(name, _style(v, "foreground", bold=True))
    state = _stage_look(ops, job)
    text.append("  ")
    text.append(f"{state.glyph} {state.word}", _style(v, state.role))
    text.append("  ")
    if len(ops) <= 12 and not compact:
        for op in ops:
            done = op.ready or op.status is OpStatus.FINISHED
            look = op_look(op, job)
            text.append("▰" if done or op.status.active else "▱", _style(v, look.role))
        text.append(" ")
    ready = sum(1 for op in ops if op.ready or op.status is OpStatus.FINISHED)
    text.append(
        f"{ready}/{len(ops)}" + ("" if compact else " ready"), _style(v, "foreground-muted")
    )
    return text


def _op_line(
    row: _Row,
    gutter: int,
    id_width: int,
    selected: bool,
    v: Mapping[str, str] | None,
    job: JobStatus | None = None,
) -> Text:
    op = row.op
    look = op_look(op, job)
    muted = _style(v, "foreground-muted")
    text = Text(CURSOR if selected else " ", _style(v, "accent", bold=True))
    text.append(" " * (INDENT - 1))
    cells = row.cells + [" "] * (2 * gutter - len(row.cells))
    for x, char in enumerate(cells):
        if x == 2 * row.column:
            text.append(look.glyph, _style(v, look.role, bold=True))
        else:
            text.append(char, muted)
    shown = Text(op.id, _style(v, "foreground", bold=selected))
    shown.truncate(id_width, overflow="ellipsis", pad=True)
    text.append_text(shown)
    text.append("  ")
    text.append(look.word, _style(v, look.role))
    if op.health is not Health.NONE:
        health = HEALTH[op.health]
        text.append(" · ", muted)
        text.append(health.word, _style(v, health.role))
    if op.status.active and op.pull is not None and not op.pull.done:
        fraction = op.pull.fraction
        text.append("  pulling" + (f" {fraction:.0%}" if fraction is not None else ""), muted)
    if op.status.active and op.fetching:  # its S3/HF/Ollama resources
        fraction = op.fetch_fraction
        text.append("  fetching" + (f" {fraction:.0%}" if fraction is not None else ""), muted)
    if op.exit_code is not None:
        text.append(f"  exit {op.exit_code}", _style(v, "error" if op.exit_code else "success"))
    if op.restarts:
        text.append(f"  ↻{op.restarts}", _style(v, "warning"))
    listed = [d for d in dict.fromkeys(op.depends_on) if d != op.id]
    if listed and (len(listed) > 1 or set(listed) != row.drawn):
        text.append(f"  ◀ {', '.join(listed)}", muted)
    if op.message and op.status in (OpStatus.FAILED, OpStatus.STOPPED) and look is not SKIPPED:
        # the first line, as far as the width goes: the op panel (enter) has the whole message
        text.append(f"  — {op.message.splitlines()[0]}", muted)
    return text


def graph_lines(
    view: JobView,
    selected: str | None,
    *,
    variables: Mapping[str, str] | None = None,
    width: int | None = None,
    selected_style: Style | None = None,
) -> list[Line]:
    """The graph as lines: ``(op id, text)`` for an op, ``(None, text)`` for a stage header or
    the blank line between stages.

    ``variables`` are the app's theme variables (``App.get_css_variables()``); without them the
    text carries no colour. ``width`` cuts every line to fit (with ``…``). ``selected_style`` is
    laid over the selected op's line; the ``▸`` in its first column marks it either way.
    """
    longest = max((cell_len(op.id) for op in view.ops), default=1)
    id_width = min(longest, ID_WIDTH)
    lines: list[Line] = []
    for number, (name, ops) in enumerate(_stages(view), 1):
        if lines:
            lines.append((None, Text("")))
        rows, gutter = _rails(ops)
        ops_drawn = [row.op for row in rows]
        header = _header(number, name, ops_drawn, variables, view.status)
        if width is not None and header.cell_len > width:  # narrow: no bar, "2/4"
            header = _header(number, name, ops_drawn, variables, view.status, compact=True)
        lines.append((None, header))
        for row in rows:
            is_selected = row.op.id == selected
            text = _op_line(row, gutter, id_width, is_selected, variables, view.status)
            if is_selected and selected_style is not None:
                text.stylize(selected_style)
            lines.append((row.op.id, text))
    if width is not None:
        for _, text in lines:
            if text.cell_len > width:
                text.truncate(max(width, 0), overflow="ellipsis")
    return lines


# --- the widget ---------------------------------------------------------------------------------


class OpGraph(ScrollView, can_focus=True):
    """A job's ops by stage with their dependencies; one line per op, one of them selected.

    Set ``job`` (a :class:`JobView`) to show or update it: the scroll position and the
    selection (by op id) stay. ``selected`` is the selected op's id; every change posts
    :class:`OpGraph.Selected`, and Enter posts :class:`OpGraph.Activated`.
    """

    # The line API (ScrollView.render_line) rather than a Static in a scrolling container: only
    # the lines on screen are rendered, an update replaces the lines without touching the scroll
    # offset, and the selection is a style laid over one line at render time, so moving it never
    # rebuilds or re-lays-out anything.

    COMPONENT_CLASSES: ClassVar[set[str]] = {"opgraph--selected"}

    DEFAULT_CSS = """
    OpGraph {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;  /* a column more for the states at 80 columns */
        & > .opgraph--selected {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .opgraph--selected {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False, id="graph.up", tooltip="Select the op above"),
        Binding(
            "down,j", "move(1)", "Down", show=False, id="graph.down", tooltip="Select the op below"
        ),
        Binding(
            "left",
            "along(-1)",
            "Waits for",
            show=False,
            id="graph.dependency",
            tooltip="Along an edge to an op the selected op waits for (depends_on)",
        ),
        Binding(
            "right",
            "along(1)",
            "Waited on by",
            show=False,
            id="graph.dependant",
            tooltip="Along an edge to an op that waits for the selected op",
        ),
        Binding(
            "pageup", "page(-1)", "Page up", show=False, id="graph.page_up", tooltip="A page up"
        ),
        Binding(
            "pagedown",
            "page(1)",
            "Page down",
            show=False,
            id="graph.page_down",
            tooltip="A page down",
        ),
        Binding(
            "home,g", "first", "First", show=False, id="graph.first", tooltip="Select the first op"
        ),
        Binding(
            "end,G",
            "last",
            "Last",
            show=False,
            id="graph.last",
            tooltip="Select the last op",
        ),
        Binding(
            "enter",
            "open",
            "Open",
            id="graph.open",
            tooltip="Open the selected op",
            show=False,  # the screen's own keys need the footer's room; Help (?) lists it
        ),
    ]

    job: reactive[JobView | None] = reactive(None, always_update=True)
    """The job shown; set it again with each new view."""
    selected: reactive[str | None] = reactive(None, init=False)
    """The selected op's id."""

    class _OpMessage(Message):
        def __init__(self, graph: OpGraph, op_id: str) -> None:
            super().__init__()
            self.graph = graph
            self.op_id = op_id

        @property
        def control(self) -> OpGraph:
            return self.graph

    class Selected(_OpMessage):
        """The selection moved to ``op_id``."""

    class Activated(_OpMessage):
        """Enter (or a double click) on ``op_id``."""

    def __init__(
        self,
        job: JobView | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._lines: list[Line] = []
        self._rows: dict[str, int] = {}  # op id -> line number
        self._strips: dict[int, Strip] = {}
        self._variables: dict[str, str] = {}
        self._width = 0
        self._up: dict[str, list[str]] = {}  # op id -> the ops it depends on, in drawn order
        self._down: dict[str, list[str]] = {}  # op id -> the ops that depend on it
        self._edge_move: tuple[str, str, int] | None = None  # (from, to, direction) of the last
        if job is not None:
            self.set_reactive(OpGraph.job, job)

    # --- public ---------------------------------------------------------------------------------

    @property
    def lines(self) -> list[Line]:
        """The lines as drawn now (op id or None, text)."""
        return self._lines

    @property
    def op_ids(self) -> list[str]:
        """The ops in the order they are drawn."""
        return [op_id for op_id, _ in self._lines if op_id is not None]

    def line_of(self, op_id: str) -> int | None:
        """The line an op is drawn on."""
        return self._rows.get(op_id)

    def dependencies(self, op_id: str) -> list[str]:
        """The ops of its stage that ``op_id`` depends on (its edges up), as drawn."""
        return self._up.get(op_id, [])

    def dependants(self, op_id: str) -> list[str]:
        """The ops of its stage that depend on ``op_id`` (its edges down), as drawn."""
        return self._down.get(op_id, [])

    # --- state ----------------------------------------------------------------------------------

    def validate_selected(self, op_id: str | None) -> str | None:
        job = self.job
        if op_id is not None and job is not None and all(op.id != op_id for op in job.ops):
            return None  # not an op of this job
        return op_id

    def watch_job(self, job: JobView | None) -> None:
        before = self._rows.get(self.selected or "")
        was_empty = not self._rows
        self._rebuild()
        if job is None or not job.ops:
            return
        if self.selected in self._rows:
            if was_empty:
                self._scroll_to_op(self.selected or "")
        else:
            # the selected op went away (or there was none): take the op nearest its line
            ids = self.op_ids
            if before is None:
                self.selected = ids[0]
            else:
                self.selected = min(ids, key=lambda i: abs(self._rows[i] - before))

    def on_mount(self) -> None:
        if self.job is not None:
            self.watch_job(self.job)  # set before mounting: no watcher has run for it

    def watch_selected(self, old: str | None, new: str | None) -> None:
        if self._edge_move is not None and self._edge_move[1] != new:
            self._edge_move = None  # moved some other way: the way back is forgotten
        for op_id in (old, new):
            line = self._rows.get(op_id or "")
            if line is not None:
                self._strips.pop(line, None)
        self.refresh()
        if new is not None:
            self._scroll_to_op(new)
            self.post_message(self.Selected(self, new))

    def _rebuild(self) -> None:
        if not self.is_attached:
            return  # the watchers run again on mount
        job = self.job
        self._variables = dict(self.app.theme_variables or self.app.get_css_variables())
        width = self.scrollable_content_region.width
        self._width = width
        if job is None:
            self._lines, natural = [], 0
        else:
            whole = graph_lines(job, None, variables=self._variables)
            natural = max((text.cell_len for _, text in whole), default=0)
            self._lines = (
                graph_lines(job, None, variables=self._variables, width=width)
                if width and natural > width
                else whole
            )
        self._fit(natural)
        self._rows = {op_id: y for y, (op_id, _) in enumerate(self._lines) if op_id is not None}
        self._up, self._down = self._edges(job)
        self._strips.clear()
        widest = max((text.cell_len for _, text in self._lines), default=0)
        self.virtual_size = Size(max(width, widest), len(self._lines))
        self.refresh()

    def _fit(self, natural: int) -> None:
        """Grow no wider than the lines need (the layout's width, e.g. a share of the screen, is
        the most it takes): the ops table beside it keeps the rest."""
        if natural <= 0:
            return
        extra = self.outer_size.width - self.scrollable_content_region.width  # bar, border
        wanted = Scalar.from_number(natural + max(extra, 0))
        if self.styles.max_width != wanted:
            self.styles.max_width = wanted

    def _edges(self, job: JobView | None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        up: dict[str, list[str]] = {}
        down: dict[str, list[str]] = {}
        if job is None:
            return up, down
        group: dict[str, str] = {}
        for op in job.ops:
            group.setdefault(op.id, op.group)
        drawn = self._rows.get
        for op in job.ops:
            if op.id in up:
                continue  # a duplicated id: the first counts, as in the layout
            deps = [
                d
                for d in dict.fromkeys(op.depends_on)
                if d != op.id and group.get(d) == op.group and d in self._rows
            ]
            up[op.id] = sorted(deps, key=lambda d: drawn(d, 0))
            for d in deps:
                down.setdefault(d, []).append(op.id)
        for ids in down.values():
            ids.sort(key=lambda d: drawn(d, 0))
        return up, down

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_attached and self.app.theme_variables != self._variables:
            self._rebuild()  # the theme changed: every colour is resolved again
        else:
            self._strips.clear()
            self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.scrollable_content_region.width != self._width:
            self._rebuild()
            if self.selected is not None:
                self._scroll_to_op(self.selected)

    def _scroll_to_op(self, op_id: str) -> None:
        line = self._rows.get(op_id)
        if line is None:
            return
        top = line
        while top > 0 and line - top < 2 and self._lines[top - 1][0] is None:
            top -= 1  # bring the stage header into view with its first op
        self.scroll_to_region(
            Region(0, top, 1, line - top + 1), animate=False, force=True, x_axis=False
        )

    # --- actions --------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        ids = self.op_ids
        if not ids:
            return
        if self.selected not in ids:
            self.selected = ids[0]
            return
        index = ids.index(self.selected) + delta
        self.selected = ids[max(0, min(index, len(ids) - 1))]

    def action_along(self, direction: int) -> None:
        """Along an edge: up to an op the selected one depends on (-1), or down to one that
        depends on it (1). Going back the way it came returns to the op it came from; otherwise
        the nearest such op is taken."""
        here = self.selected
        if here is None:
            return
        targets = self.dependencies(here) if direction < 0 else self.dependants(here)
        if not targets:
            self.app.bell()
            return
        back = self._edge_move
        if back is not None and back[1] == here and back[2] == -direction and back[0] in targets:
            target = back[0]
        else:
            line = self._rows.get(here, 0)
            target = min(targets, key=lambda t: abs(self._rows.get(t, 0) - line))
        self._edge_move = (here, target, direction)
        self.selected = target

    def action_page(self, direction: int) -> None:
        ids = self.op_ids
        if not ids:
            return
        here = self._rows.get(self.selected or "", 0)
        target = here + direction * max(1, self.scrollable_content_region.height - 1)
        self.selected = min(ids, key=lambda i: abs(self._rows[i] - target))

    def action_first(self) -> None:
        if ids := self.op_ids:
            self.selected = ids[0]

    def action_last(self) -> None:
        if ids := self.op_ids:
            self.selected = ids[-1]

    def action_open(self) -> None:
        if self.selected is not None:
            self.post_message(self.Activated(self, self.selected))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        line = offset.y + self.scroll_offset.y
        if 0 <= line < len(self._lines) and (op_id := self._lines[line][0]) is not None:
            self.selected = op_id
            if event.chain > 1:
                self.post_message(self.Activated(self, op_id))

    # --- rendering ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if line >= len(self._lines):
            return Strip.blank(width, base)
        op_id, text = self._lines[line]
        if op_id is not None and op_id == self.selected:
            cursor = self.get_component_rich_style("opgraph--selected")
            selected = Text(CURSOR, theme_style(self._variables, "accent", bold=True))
            selected.append_text(text[1:])  # the marker reads without colour too
            selected.stylize(cursor)
            strip = Strip(list(selected.render(self.app.console)), selected.cell_len)
            fill = base + cursor
            return strip.apply_style(base).crop_extend(scroll_x, scroll_x + width, fill)
        cached = self._strips.get(line)
        if cached is None:
            cached = Strip(list(text.render(self.app.console)), text.cell_len).apply_style(base)
            self._strips[line] = cached
        return cached.crop_extend(scroll_x, scroll_x + width, base)
