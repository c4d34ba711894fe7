"""What a node says is shown as text, never read as Textual markup: a job named ``exp [/v2]``
draws (it raised ``MarkupError`` before), ``[link=…]`` in an endpoint does not become a link,
and ``[@click=app.quit]`` in a node's error message does not become an action."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable

from nosana_tui.api.models import Endpoint, JobView, OpStatus, OpView
from nosana_tui.client.node import NodeError
from nosana_tui.ui.screens import job as job_screen
from nosana_tui.ui.screens.jobs import JobsScreen
from tests.pilot import screen_text, until
from tests.ui.fakes import GpuJobClient, offline_app, telemetry_none

pytestmark = pytest.mark.anyio

NAME = "exp [/v2] [bold]x"
LINK = "http://127.0.0.1:8080/[link=http://evil.example]here[/link]"


class HostileNode(GpuJobClient):
    async def jobs(self) -> list[JobView]:
        return [self.view]

    async def stop_op(self, job_id: str, group: str, op_id: str) -> str:
        raise NodeError("[@click=app.quit]refused[/] by [red]policy", 409)


def hostile_view() -> JobView:
    return JobView(
        id="abc123def456",
        name=NAME,
        created_at=time.time(),
        groups=["[b]g"],
        ops=[
            OpView(
                id="web",
                index=0,
                group="[b]g",
                type="container/run",
                status=OpStatus.RUNNING,
                endpoints=[Endpoint(op_id="web", port=8080, url=LINK)],
            )
        ],
    )


async def test_node_text_in_tables_header_and_messages_is_never_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    view = hostile_view()
    client = HostileNode(view, telemetry_none)
    app = offline_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        app.client = client  # type: ignore[assignment]
        await pilot.press("2")
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        jobs.poll()

        def shown(text: str) -> Callable[[], bool]:
            return lambda: text in screen_text(app)

        await until(pilot, shown(NAME))  # the Jobs table, literally

        screen = job_screen.JobScreen(view.id)
        await app.push_screen(screen)
        await until(pilot, shown("[b]g"))  # the ops table's group, literally
        text = screen_text(app)
        assert NAME in text.splitlines()[0]  # the header's sub-title
        cell = screen.query_one("#job-ops", DataTable).get_cell("web", "endpoints")
        assert str(cell) == LINK and not cell.spans and not cell.style  # as it is, not a link

        await pilot.press("x")  # stop the op: the node refuses with markup in its message
        await until(pilot, lambda: bool(app._notifications))
        [note] = list(app._notifications)
        assert "[@click=app.quit]refused[/] by [red]policy" in str(note.message)
        assert not note.markup
        await pilot.pause(0.1)
        assert app.is_running  # nothing quit
        await pilot.press("q")
