"""A network job's title at 80 columns (issue 13): its id is a 44-character base58 address, and
the title ``job ADDRESS · market · STATE · cost · state`` ran off the header; the address is
shortened (first 6…last 4, as Jobs shows it), the job's state and its cost come before the
market, and the network's state is left out where it says what ours says, so that the whole
title fits the header's 62 columns at 80. A local job's 12-character id is shown whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus
from nosana_tui.client.network_node import NetworkFacts, NetworkJobView
from nosana_tui.ui.screens.job import short_id, title
from tests.pilot import screen_text, until
from tests.ui.fakes import ScriptedNode, freeze_job_clock, offline_app
from tests.ui.test_snapshots_states import NOW, open_job_screen, running_job

pytestmark = pytest.mark.anyio

ADDRESS = "5HxQabCdEfGhJkLmNpQrStUvWxYz12345678AbCdZk3q"


@pytest.fixture(autouse=True)
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    freeze_job_clock(monkeypatch, NOW)


def network_job() -> NetworkJobView:
    """A job running on the network, as the network's client words it."""
    facts = NetworkFacts(state="RUNNING", market="nvidia-3090", node=ADDRESS[::-1],
                         time_start=int(NOW) - 60, cost_usd=0.02)  # fmt: skip
    view = running_job()
    data = view.model_dump()
    data.update(id=ADDRESS, name="nvidia-3090 · RUNNING · $0.02", network=facts)
    return NetworkJobView.model_validate(data)


def test_short_id() -> None:
    assert len(ADDRESS) == 44
    assert short_id(ADDRESS) == "5HxQab…Zk3q"
    assert short_id("0123456789ab") == "0123456789ab"  # a local job's id, whole


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_a_network_jobs_title_keeps_its_state(tmp_path: Path, size: tuple[int, int]) -> None:
    app = offline_app(tmp_path)
    node = ScriptedNode(network_job())
    async with app.run_test(size=size) as pilot:
        screen = await open_job_screen(app, pilot, node)
        await until(pilot, lambda: screen.view is not None)
        await pilot.pause()
        header = screen_text(app).splitlines()[0]
        assert "job 5HxQab…Zk3q · running · $0.02 · nvidia-3090" in header, header
        assert ADDRESS not in screen_text(app)


def with_facts(**facts: Any) -> NetworkJobView:
    view = network_job()
    return view.model_copy(update={"network": view.network.model_copy(update=facts)})


def test_the_network_state_is_shown_where_it_says_more() -> None:
    assert title(network_job()) == "job 5HxQab…Zk3q · running · $0.02 · nvidia-3090"
    queued = with_facts(state="QUEUED", time_start=0)  # not started: no cost yet
    assert title(queued) == "job 5HxQab…Zk3q · running · QUEUED · nvidia-3090"
    done = network_job().model_copy(update={"status": JobStatus.SUCCESS})
    done = done.model_copy(
        update={"network": done.network.model_copy(update={"state": "COMPLETED"})}
    )
    assert title(done) == "job 5HxQab…Zk3q · success · $0.02 · nvidia-3090"
    gone = with_facts(cost_usd=None, cost_nos=1.5, note="the node does not answer")
    assert title(gone) == (
        "job 5HxQab…Zk3q · running · 1.5000 NOS · nvidia-3090 · the node does not answer"
    )


def test_title_snapshot(snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = ScriptedNode(network_job())

    async def show(pilot: Any) -> None:
        screen = await open_job_screen(app, pilot, node)
        await until(pilot, lambda: screen.view is not None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=show)
