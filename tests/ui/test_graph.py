"""OpGraph: lines for real and fan-in jobs, updates in place, keyboard, width, theme colours.

The layout is tested through the pure ``graph_lines``; the widget through a tiny App and Pilot,
waiting on messages and state, never on fixed sleeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from nosana_tui.api.models import Health, JobStatus, JobView, OpStatus, OpView, planned_view
from nosana_tui.jobformat.validate import validate_file
from nosana_tui.ui.style import OP_STATUS, theme_style
from nosana_tui.ui.widgets.graph import OpGraph, graph_lines
from tests.pilot import until

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seeds" / "000-multi-stage-pipeline.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


def seed_view() -> JobView:
    definition, report = validate_file(SEED)
    assert definition is not None, report
    return planned_view("job1", definition)


def job(*ops: tuple[str, list[str]], group: str = "app") -> JobView:
    return JobView(
        id="job1",
        name="job1",
        created_at=0.0,
        groups=[group],
        ops=[
            OpView(id=op_id, index=i, group=group, type="container/run", depends_on=deps)
            for i, (op_id, deps) in enumerate(ops)
        ],
    )


def fan_in_job() -> JobView:
    # file order puts dependants first: the graph must still draw dependencies above them
    return job(
        ("web", ["api"]),
        ("api", ["db", "cache"]),
        ("worker", ["db"]),
        ("db", []),
        ("cache", []),
    )


def plain(lines: list[tuple[str | None, Text]]) -> list[tuple[str | None, str]]:
    return [(op_id, text.plain.rstrip()) for op_id, text in lines]


def with_status(view: JobView, op_id: str, **changes: object) -> JobView:
    new = view.model_copy(deep=True)
    op = new.op(op_id)
    for key, value in changes.items():
        setattr(op, key, value)
    return new


# --- graph_lines ----------------------------------------------------------------------------------


def test_seed_pipeline_lines() -> None:
    assert plain(graph_lines(seed_view(), "redis")) == [
        (None, " stage 1 · infrastructure  ○ pending  ▱▱ 0/2 ready"),
        ("database", "   ○ database      pending"),
        ("redis", "▸  ○ redis         pending"),
        (None, ""),
        (None, " stage 2 · application  ○ pending  ▱▱ 0/2 ready"),
        ("api-server", "   ○ api-server    pending"),
        ("web-frontend", "   ○ web-frontend  pending"),
    ]


def test_fan_in_and_fan_out_rails() -> None:
    assert plain(graph_lines(fan_in_job(), None)) == [
        (None, " stage 1 · app  ○ pending  ▱▱▱▱▱ 0/5 ready"),
        ("db", "   ○     db      pending"),
        # db fans out: its line goes on past worker to api
        ("worker", "   ├─○   worker  pending"),
        ("cache", "   │ ○   cache   pending"),
        # fan-in: both lines end at api, which also lists them
        ("api", "   └─┴─○ api     pending  ◀ db, cache"),
        # a plain edge from the right: web never sits in api's column
        ("web", "   ○───┘ web     pending"),
    ]


def test_rails_join_from_both_sides_and_pass_other_lines() -> None:
    view = job(
        ("a", []),
        ("b", []),
        ("c", []),
        ("d", ["a", "c"]),  # a and c both go on, so d takes a new column
        ("e", ["a"]),
        ("f", ["c", "b"]),
        ("g", ["d"]),
    )
    assert [text for _, text in plain(graph_lines(view, None))[1:]] == [
        "   ○         a  pending",
        "   │ ○       b  pending",
        "   │ │ ○     c  pending",
        "   ├─│─┼─○   d  pending  ◀ a, c",  # b's line passes under the join
        "   └─│─│─│─○ e  pending",
        "   ○─┴─┘ │   f  pending  ◀ c, b",
        "   ○─────┘   g  pending",
    ]


def test_single_dependency_needs_no_list_but_fan_in_does() -> None:
    lines = dict(plain(graph_lines(fan_in_job(), None)))
    assert "◀" not in lines["web"] and "◀" not in lines["worker"]
    assert lines["api"].endswith("◀ db, cache")


def test_wide_stage_lists_dependencies_instead_of_rails() -> None:
    sources: list[tuple[str, list[str]]] = [(f"s{i}", []) for i in range(12)]
    view = job(*sources, ("sink", [f"s{i}" for i in range(12)]))
    lines = dict(plain(graph_lines(view, None)))
    assert lines["s3"] == "   ○ s3    pending"
    assert lines["sink"].startswith("   ○ sink  pending  ◀ s0, s1, s2")


def test_states_show_glyph_word_health_exit_and_restarts() -> None:
    view = with_status(
        fan_in_job(), "db", status=OpStatus.RUNNING, health=Health.HEALTHY, restarts=1
    )
    view = with_status(view, "api", status=OpStatus.FAILED, exit_code=3, message="no image\nmore")
    lines = dict(plain(graph_lines(view, None)))
    assert lines["db"] == "   ●     db      running · healthy  ↻1"
    assert lines["api"] == "   └─┴─✖ api     failed  exit 3  ◀ db, cache  — no image"
    header = plain(graph_lines(view, None))[0][1]
    assert "✖ failed" in header and "0/5 ready" in header


def test_a_stage_that_never_started_is_not_done() -> None:
    """A failed job's later stage ends with its ops stopped before they began (the node says
    "never started: ..."): the ops and the stage read "skipped", not "✔ done" or "stopped"."""
    view = job(("later", []))
    view = with_status(view, "later", status=OpStatus.STOPPED, message="never started: x")
    lines = plain(graph_lines(view, None))
    assert "⊘ skipped" in lines[0][1] and "done" not in lines[0][1]
    assert lines[1][1] == "   ⊘ later  skipped"  # the reason is in the op panel, not cut here


def test_ops_still_waiting_in_an_ended_job_read_skipped() -> None:
    """An op still pending or waiting once its job has failed (an older node, or the moment
    before the node marks it) will never start: skipped, not pending."""
    view = job(("a", []), ("b", ["a"]))
    view = with_status(view, "a", status=OpStatus.FAILED, exit_code=3, started_at=1.0)
    view = with_status(view, "b", status=OpStatus.WAITING)
    view.status = JobStatus.FAILED
    lines = dict(plain(graph_lines(view, None)))
    assert lines["b"] == "   └─⊘ b  skipped"
    view.status = JobStatus.RUNNING
    assert dict(plain(graph_lines(view, None)))["b"] == "   └─◌ b  waiting"


def test_every_status_has_a_glyph_and_word_in_the_line() -> None:
    for status in OpStatus:
        look = OP_STATUS[status]
        line = dict(plain(graph_lines(with_status(fan_in_job(), "db", status=status), None)))
        assert f"{look.glyph}     db      {look.word}" in line["db"]


def test_width_cuts_lines_with_an_ellipsis() -> None:
    long_id = "a-very-long-operation-name-that-goes-on-and-on"
    view = job(("db", []), (long_id, ["db"]))
    view = with_status(view, long_id, status=OpStatus.FAILED, exit_code=137, message="x" * 200)
    for width in (80, 40):
        lines = graph_lines(view, long_id, width=width)
        assert all(text.cell_len <= width for _, text in lines)
    failed = dict(plain(graph_lines(view, None, width=80)))[long_id]
    assert failed.endswith("…") and "a-very-long-operation-n…" in failed


def test_colours_come_from_theme_variables() -> None:
    variables = {
        "background": "#000000",
        "foreground": "#ffffff",
        "foreground-muted": "#ffffff80",  # translucent: blended onto the background
        "success": "#00ff00",
        "error": "#ff0000",
        "primary": "#0000ff",
        "accent": "#ffff00",
        "warning": "#ff8800",
        "secondary": "#00ffff",
    }
    view = with_status(fan_in_job(), "db", status=OpStatus.RUNNING)
    lines = dict(graph_lines(view, None, variables=variables))
    db = lines["db"]
    glyph_at = db.plain.index("●")
    styles = [span.style for span in db.spans if span.start <= glyph_at < span.end]
    assert theme_style(variables, "success", bold=True) in styles
    muted = theme_style(variables, "foreground-muted")
    assert muted.color is not None and muted.color.get_truecolor().red in (127, 128)


# --- the widget ---------------------------------------------------------------------------------


class GraphApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield OpGraph(id="graph")

    def on_mount(self) -> None:
        self.query_one(OpGraph).focus()

    def on_op_graph_selected(self, event: OpGraph.Selected) -> None:
        self.events.append(("selected", event.op_id))

    def on_op_graph_activated(self, event: OpGraph.Activated) -> None:
        self.events.append(("activated", event.op_id))


def screen_text(graph: OpGraph) -> list[str]:
    return [
        "".join(segment.text for segment in graph.render_line(y)).rstrip()
        for y in range(graph.scrollable_content_region.height)
    ]


async def test_keyboard_moves_the_selection_and_enter_activates() -> None:
    app = GraphApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        graph.job = seed_view()
        await until(pilot, lambda: app.events == [("selected", "database")])
        # down past the last op changes nothing, and posts nothing
        await pilot.press("down", "j", "down", "down", "k", "up", "enter")
        await until(pilot, lambda: len(app.events) == 7)
        assert app.events == [
            ("selected", "database"),
            ("selected", "redis"),
            ("selected", "api-server"),
            ("selected", "web-frontend"),
            ("selected", "api-server"),
            ("selected", "redis"),
            ("activated", "redis"),
        ]
        assert graph.selected == "redis"
        await pilot.press("G")
        await until(pilot, lambda: graph.selected == "web-frontend")
        await pilot.press("g")
        await until(pilot, lambda: graph.selected == "database")


async def test_left_and_right_move_along_the_edges() -> None:
    """← goes to an op the selected one waits for, → to one that waits for it (the nearest);
    going back the way it came returns to the op it came from; an op without such an edge
    stays where it is."""
    app = GraphApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        graph.job = fan_in_job()  # db, worker, cache, api, web (drawn order)
        await until(pilot, lambda: graph.selected == "db")
        assert graph.dependants("db") == ["worker", "api"]
        assert graph.dependencies("api") == ["db", "cache"]
        await pilot.press("left")  # db waits for nothing
        await pilot.pause()
        assert graph.selected == "db"
        steps = [
            ("right", "worker"),  # db's nearest dependant
            ("left", "db"),
            ("right", "worker"),  # back the way it came
            ("up", "db"),
            ("down", "worker"),
            ("down", "cache"),
            ("right", "api"),
            ("right", "web"),
            ("left", "api"),
            ("left", "cache"),  # api's nearest dependency
            ("right", "api"),
            ("left", "cache"),
        ]
        for key, expected in steps:
            await pilot.press(key)
            await until(pilot, lambda expected=expected: graph.selected == expected)


def busybox_pipeline_view() -> JobView:
    definition, report = validate_file(
        ROOT / "nosana_tui" / "library" / "busybox-pipeline" / "job.json"
    )
    assert definition is not None, report
    return planned_view("job1", definition)


def test_a_plain_chain_is_an_edge() -> None:
    """busybox-pipeline: data → producer and web → client, each a line into its dependant
    (drawn as two independent ops, one above the other, before)."""
    assert plain(graph_lines(busybox_pipeline_view(), None)) == [
        (None, " stage 1 · prepare  ○ pending  ▱▱ 0/2 ready"),
        ("data", "   ○   data      pending"),
        ("producer", "   └─○ producer  pending"),
        (None, ""),
        (None, " stage 2 · serve  ○ pending  ▱▱ 0/2 ready"),
        ("web", "   ○   web       pending"),
        ("client", "   └─○ client    pending"),
    ]


def test_every_dependency_is_drawn_and_a_long_chain_stays_narrow() -> None:
    """Each op with a dependency in its stage has an edge turning into its glyph; a chain of 30
    zigzags between two columns rather than falling back to a list."""
    chain = job(*[(f"s{i:02d}", [f"s{i - 1:02d}"] if i else []) for i in range(30)])
    for view in (chain, fan_in_job(), seed_view(), busybox_pipeline_view()):
        for op_id, text in plain(graph_lines(view, None)):
            if op_id is None:
                continue
            op = view.op(op_id)
            gutter = text[3 : text.index(f" {op_id} ")]
            joins = sum(gutter.count(c) for c in "└├┘┤┴┼")
            assert joins == len(op.depends_on), (op_id, text)
    widths = {
        len(text) - len(text.lstrip("○ └─┘")) for _, text in plain(graph_lines(chain, None))[1:]
    }
    assert max(widths) <= 8  # "   └─○ ": two columns


async def test_bindings_have_ids() -> None:
    ids = {binding.id for binding in OpGraph.BINDINGS if not isinstance(binding, tuple)}
    assert {"graph.up", "graph.down", "graph.open"} <= ids


async def test_status_updates_change_lines_in_place_and_keep_selection_and_scroll() -> None:
    ops = [(f"op{i:02d}", [f"op{i - 1:02d}"] if i else []) for i in range(60)]
    view = job(*ops)
    app = GraphApp()
    async with app.run_test(size=(80, 12)) as pilot:
        graph = app.query_one(OpGraph)
        graph.job = view
        await pilot.pause()
        graph.selected = "op40"
        await until(pilot, lambda: graph.scroll_offset.y > 0)
        scroll = graph.scroll_offset.y
        line = graph.line_of("op40")
        assert line is not None and scroll <= line < scroll + graph.size.height
        assert any("▸" in row and "op40" in row for row in screen_text(graph))

        updated = with_status(view, "op40", status=OpStatus.RUNNING, restarts=2)
        graph.job = updated
        await pilot.pause()
        assert graph.selected == "op40"
        assert graph.scroll_offset.y == scroll
        row = next(r for r in screen_text(graph) if "op40" in r)
        assert "● op40" in row.replace("─┘", "").replace("└─", "")
        assert "running" in row and "↻2" in row
        assert "pending" not in row

        # the selected op disappears: the selection moves to the op now nearest its line
        gone = updated.model_copy(deep=True)
        gone.ops = [op for op in gone.ops if op.id != "op40"]
        graph.job = gone
        await until(pilot, lambda: graph.selected in ("op39", "op41"))


async def test_at_80_columns_no_line_is_wider_than_the_widget() -> None:
    long_id = "an-operation-with-a-name-far-longer-than-anyone-should-use"
    view = job(
        ("db", []),
        ("cache", []),
        (long_id, ["db", "cache"]),
        ("web", [long_id]),
    )
    view = with_status(view, long_id, status=OpStatus.FAILED, exit_code=1, message="y" * 300)
    view = with_status(view, "db", status=OpStatus.RUNNING, health=Health.UNHEALTHY, restarts=9)
    app = GraphApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        graph.job = view
        graph.selected = long_id
        await pilot.pause()
        width = graph.scrollable_content_region.width
        assert 0 < width <= 80
        assert all(text.cell_len <= width for _, text in graph.lines)
        assert graph.virtual_size.width <= width  # nothing to scroll sideways
        for y in range(graph.size.height):
            assert graph.render_line(y).cell_length == width


async def test_theme_switch_recolours_the_graph() -> None:
    app = GraphApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        graph.job = with_status(seed_view(), "database", status=OpStatus.RUNNING)
        await pilot.pause()

        def glyph_colour() -> str | None:
            text = dict(graph.lines)["database"]
            at = text.plain.index("●")
            styles = [s.style for s in text.spans if s.start <= at < s.end]
            colours = [s.color for s in styles if not isinstance(s, str) and s.color]
            return colours[0].name if colours else None

        app.theme = "textual-dark"
        await pilot.pause()
        dark = glyph_colour()
        app.theme = "ansi-dark"
        await until(pilot, lambda: glyph_colour() != dark)
        assert glyph_colour() == "color(2)"  # the terminal's own green


class PresetApp(GraphApp):
    def compose(self) -> ComposeResult:
        yield OpGraph(fan_in_job(), id="graph")


async def test_a_job_given_at_construction_selects_its_first_op_once() -> None:
    app = PresetApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        await until(pilot, lambda: bool(app.events))
        await pilot.pause()
        assert app.events == [("selected", "db")]
        assert graph.op_ids == ["db", "worker", "cache", "api", "web"]


async def test_clicking_selects_and_double_clicking_activates() -> None:
    app = PresetApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        await until(pilot, lambda: graph.selected == "db")
        line = graph.line_of("api")
        assert line is not None
        await pilot.click(OpGraph, offset=(10, line))
        await until(pilot, lambda: graph.selected == "api")
        await pilot.click(OpGraph, offset=(10, line), times=2)
        await until(pilot, lambda: ("activated", "api") in app.events)
        assert ("selected", "api") in app.events


async def test_a_selection_that_is_not_an_op_is_ignored() -> None:
    app = PresetApp()
    async with app.run_test(size=(80, 24)) as pilot:
        graph = app.query_one(OpGraph)
        await until(pilot, lambda: graph.selected == "db")
        graph.selected = "no-such-op"
        await pilot.pause()
        assert graph.selected is None
        await pilot.press("down")
        await until(pilot, lambda: graph.selected == "db")


def test_an_op_fetching_its_resources_shows_how_far() -> None:
    from nosana_tui.api.models import FetchState

    def fetch(done: int, total: int | None, finished: bool = False) -> FetchState:
        return FetchState(
            kind="S3",
            source="S3 s3://b/p",
            volume="v",
            target="/d",
            bytes_done=done,
            bytes_total=total,
            done=finished,
        )

    view = with_status(
        fan_in_job(),
        "db",
        status=OpStatus.STARTING,
        fetch=[fetch(300, 1000), fetch(100, 1000, finished=False)],
    )
    assert dict(plain(graph_lines(view, None)))["db"].endswith("starting  fetching 20%")
    unknown = with_status(fan_in_job(), "db", status=OpStatus.STARTING, fetch=[fetch(5, None)])
    assert dict(plain(graph_lines(unknown, None)))["db"].endswith("starting  fetching")
    done = with_status(
        fan_in_job(), "db", status=OpStatus.RUNNING, fetch=[fetch(1000, 1000, finished=True)]
    )
    assert "fetching" not in dict(plain(graph_lines(done, None)))["db"]
