"""The job screen's log pane under load and under a quick hand (issue 13): every line reaches the
screen, a full log keeps following, and quick ↓ presses settle on one op without a loop.

What the screen shows is read from the compositor (``screen_text``), as the terminal gets it:
a row the log holds but never repainted would not be there."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.message import Message

from nosana_tui.api.models import SYSTEM, JobView, LogEntry, OpView
from nosana_tui.ui.screens import job as job_screen
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import LogView, plain
from tests.pilot import screen_text, until
from tests.ui.fakes import ScriptedNode, attach_node, log_entries, offline_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


# --- 200,000 lines ------------------------------------------------------------------------------


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(id="log", save_dir=Path("/nonexistent/never-used"))


def numbered(start: int, n: int) -> list[LogEntry]:
    return [
        LogEntry(seq=i + 1, job_id="j", op_id="op", stream="stdout", ts=1.0, text=f"line {i}")
        for i in range(start, start + n)
    ]


def last_log_row(app: App[Any]) -> str:
    """The last row of the log on screen (the last that is not blank)."""
    rows = [row for row in screen_text(app).splitlines() if row.strip()]
    return rows[-1].strip() if rows else ""


async def test_200000_lines_keep_following_past_the_log_cap() -> None:
    """Fed in bursts (as a node streams them), every burst's last line is on screen once the
    tick has drained it, long after the log reached its 10,000-row cap; nothing is dropped."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        burst = 5_000
        for start in range(0, 200_000, burst):
            view.feed(numbered(start, burst))
            await until(pilot, lambda: view.pending == 0)
            last = f"line {start + burst - 1}"

            def shown(last: str = last) -> bool:
                """the burst's last line on the screen's last log row"""
                return last_log_row(app) == last

            await until(pilot, shown, timeout=10)
            assert view.follow
            assert view.lines.scroll_y == view.lines.max_scroll_y
        assert plain(view.lines.lines[-1]) == "line 199999"
        assert len(view.lines.lines) == view.max_lines
        assert view.dropped == 0
        assert view.lines.pruned == 200_000 - view.max_lines


async def test_200000_lines_at_once_show_the_last_and_count_the_dropped() -> None:
    """One burst beyond the queue's cap: the oldest are dropped and counted, the last is on
    screen, and following goes on with the next line."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(LogView)
        view.feed(numbered(0, 200_000))
        await until(pilot, lambda: last_log_row(app) == "line 199999", timeout=20)
        assert view.dropped == 200_000 - 20_000
        assert "dropped 180,000" in view.status_text
        view.feed(numbered(200_000, 1))
        await until(pilot, lambda: last_log_row(app) == "line 200000", timeout=10)
        assert view.follow


# --- quick ↓ in the graph -----------------------------------------------------------------------

NOW = 1_700_000_000.0
JOB_ID = "feedbeef0001"
OP_IDS = [f"op{i:02d}" for i in range(12)]


def many_ops_node() -> ScriptedNode:
    """A finished job of twelve ops, each with five lines of its own, and a system log."""
    view = JobView(
        id=JOB_ID,
        name="many",
        created_at=NOW,
        groups=["g"],
        ops=[
            OpView(id=op_id, index=i, group="g", type="container/run")
            for i, op_id in enumerate(OP_IDS)
        ],
    )
    lines = {
        op_id: log_entries(JOB_ID, op_id, [f"{op_id} says {n}" for n in range(5)], ts=NOW)
        for op_id in OP_IDS
    }
    lines[SYSTEM] = log_entries(JOB_ID, SYSTEM, ["job submitted", "job ended"], ts=NOW)
    return ScriptedNode(view, lines)


@pytest.mark.parametrize("how", ["keys", "one-burst"])
@pytest.mark.parametrize("presses", [2, 10])
async def test_quick_downs_settle_on_the_op_and_nothing_keeps_running(
    presses: int, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keys``: the presses as Pilot sends them. ``one-burst``: every move made before any
    Selected message is handled, as when a terminal delivers the keys in one read; this is the
    order that made stale messages select the ops back and forth for ever."""
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    # A debounce is a matter of time: a delay no loaded machine takes between two Pilot presses
    # makes "one switch for the whole run" hold whatever the load.
    monkeypatch.setattr(job_screen, "LOG_SWITCH_DELAY", 1.0)
    app = offline_app(tmp_path)
    node = many_ops_node()
    async with app.run_test(size=(80, 24)) as pilot:
        await attach_node(app, pilot, node)
        screen = JobScreen(JOB_ID)
        await app.push_screen(screen)
        graph = screen.query_one(OpGraph)
        log = screen.query_one(LogView)
        await until(pilot, lambda: graph.selected == OP_IDS[0] and graph.has_focus)
        await until(pilot, lambda: screen.log_target == SYSTEM and len(log.lines.lines) == 2)

        resets: list[str] = []
        selected_posts: list[str] = []
        real_reset, real_post = log.reset, graph.post_message

        def counting_reset(title: str) -> int:
            resets.append(title)
            return real_reset(title)

        def counting_post(message: Message) -> bool:
            if isinstance(message, OpGraph.Selected):
                selected_posts.append(message.op_id)
            return real_post(message)

        log.reset = counting_reset  # type: ignore[method-assign]
        graph.post_message = counting_post  # type: ignore[method-assign]

        if how == "keys":
            await pilot.press(*["down"] * presses)
        else:
            for _ in range(presses):
                graph.action_move(1)
        target = OP_IDS[presses]
        wanted = [f"{target} says {n}" for n in range(5)]

        def settled() -> bool:
            """the log follows the selected op and shows its five lines"""
            return (
                graph.selected == target
                and screen.selected == target
                and screen.log_target == target
                and [plain(row) for row in log.lines.lines] == wanted
            )

        await until(pilot, settled, timeout=10)
        text = screen_text(app)
        assert all(line in text for line in wanted), text
        posts, switches, generation = len(selected_posts), len(resets), log.generation

        # Nothing may go on by itself now. A negative can only be watched for a while: half a
        # second is ten log ticks, and the ping-pong this guards against reset the log every
        # few milliseconds.
        started = time.process_time()
        await pilot.pause(0.5)
        cpu = time.process_time() - started
        assert len(selected_posts) == posts, selected_posts[-10:]
        assert len(resets) == switches and log.generation == generation, resets[-10:]
        assert settled()
        assert switches == 1  # one switch of the log for the whole run of presses
        assert posts == presses  # one message per move, none echoed back
        assert screen._log_switch is None  # no debounce timer left armed
        following = [
            w
            for w in app.workers
            if w.group == "job-logs" and w.node is screen and not w.is_finished
        ]
        assert len(following) == 1  # the one stream of the selected op
        assert cpu < 0.4, f"{cpu:.2f} s of CPU in 0.5 s of idle"
