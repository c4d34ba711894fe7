"""A screen that another covers stops polling its node, and starts again when it is back on top:
the Jobs list under an open job, the job view under a dialog. (Textual counts the screen just
below the top as "current", so the screens ask whether they are on top.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.screen import Screen

from nosana_tui.ui.screens import jobs as jobs_screen
from nosana_tui.ui.screens.jobs import JobsScreen
from tests.pilot import until
from tests.ui.fakes import GpuJobClient, gpu_job, offline_app, telemetry_none

pytestmark = pytest.mark.anyio


async def test_the_jobs_list_stops_polling_under_an_open_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_screen, "POLL", 0.05)
    _, _, view = gpu_job(monkeypatch)
    client = GpuJobClient(view, telemetry_none)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        app.client = client  # type: ignore[assignment]
        await pilot.press("2")
        listing = app.screen
        assert isinstance(listing, JobsScreen)
        listing.poll()
        await until(pilot, lambda: client.jobs_calls >= 3)  # polling while on top

        await app.push_screen(Screen())  # a job opened over it
        await pilot.pause(0.25)  # a poll already under way may still finish
        calls = client.jobs_calls
        await pilot.pause(0.3)  # six poll intervals
        assert client.jobs_calls == calls

        app.pop_screen()  # back on top: it polls again
        await until(pilot, lambda: client.jobs_calls > calls)
