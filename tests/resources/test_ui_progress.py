"""A resource's download in the UI, at 80x24, against the real agent and Docker engine: the job
view's graph says how far the op's fetch is, and the op panel shows each resource with its
bytes, files and rate while it arrives, then that it was fetched (or found cached)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from nosana_tui.api.models import FetchState, JobStatus
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.screens.op import OpScreen
from nosana_tui.ui.widgets.graph import OpGraph
from tests.node.conftest import AgentProcess, job
from tests.pilot import screen_text, until
from tests.resources.conftest import checksum_op, endpoints, resource_agent
from tests.resources.hubstandin import Hub, Repo

pytestmark = pytest.mark.anyio

# served at 10 MiB/s by the stand-in: about 5 s to watch
SLOW = os.urandom(48 << 20)


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with Hub() as server:
        server.repos["tiny/slow"] = Repo({"slow.bin": SLOW}, slow={"slow.bin"})
        yield server


@pytest.fixture(scope="module")
def ui_agent(
    hub: Hub, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("ui-agent"), endpoints(hf=hub.url)) as proc:
        yield proc


PART_WAY = re.compile(
    r"HF tiny/slow → /hf\n +fetching 0/1 file, [\d.]+ MiB of 48\.0 MiB \((\d+)%\)"
    r"(, [\d.]+ [KM]iB/s)?"
)


async def test_the_job_view_and_op_panel_show_a_resource_arriving(
    ui_agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", ui_agent.url)
    app = NosanaApp(locations=Paths(ui_agent.config_dir, ui_agent.data_dir), autostart=False)
    resource = {"type": "HF", "repo": "tiny/slow", "target": "/hf"}
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.client is not None and app.node_info is not None)
        assert app.client is not None
        view = await app.client.submit(job(checksum_op("/hf", resources=[resource])), name="slow")
        await pilot.press("2")
        screen = JobScreen(view.id)
        await app.push_screen(screen)
        graph = screen.query_one(OpGraph)
        graph.focus()

        def graph_fetching() -> bool:
            """the graph's line of the op says it is fetching, part-way"""
            line = dict(graph.lines).get("read")
            found = re.search(r"fetching (\d+)%", line.plain) if line else None
            return found is not None and 0 < int(found.group(1)) < 100

        await until(pilot, graph_fetching, timeout=60)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OpScreen))
        panel: Any = app.screen

        seen: list[int] = []
        rates: list[str] = []

        def panel_part_way() -> bool:
            """the panel shows the resource part-way, twice, further the second time, with
            its rate"""
            found = PART_WAY.search(screen_text(app))
            if found and (not seen or int(found.group(1)) > seen[-1]):
                seen.append(int(found.group(1)))
                rates.extend([found.group(2)] if found.group(2) else [])
            return len(seen) >= 2 and bool(rates)

        await until(pilot, panel_part_way, timeout=30)
        assert "Resources" in screen_text(app)

        def fetched() -> bool:
            """the panel says the resource was fetched, all of it"""
            text = screen_text(app)
            return (
                re.search(r"HF tiny/slow → /hf\n +fetched 1/1 file, 48\.0 MiB of 48\.0 MiB", text)
                is not None
            )

        await until(pilot, fetched, timeout=60)
        await until(pilot, lambda: panel.op is not None and panel.op.status.terminal, 60)
        assert screen.view is not None and screen.view.status is JobStatus.SUCCESS


def test_a_resources_summary_is_two_lines_that_fit_beside_the_panels_labels() -> None:
    fetching = FetchState(
        kind="HF",
        source="HF org/model",
        volume="v",
        target="/models",
        bytes_done=700 << 20,
        bytes_total=1100 << 30,
        files_done=12,
        files_total=345,
        rate=123.4 * (1 << 20),
    )
    assert fetching.summary == (
        "HF org/model → /models\n  fetching 12/345 files, 700.0 MiB of 1100.0 GiB (0%), 123.4 MiB/s"
    )
    assert all(len(line) <= 80 - 13 for line in fetching.summary.splitlines())
    cached = fetching.model_copy(update={"cached": True, "done": True, "rate": None})
    assert cached.summary.splitlines()[1].startswith("  cached 12/345 files")
    one = FetchState(kind="S3", source="S3 s3://b/p", volume="v", target="/d", files_total=1)
    assert one.summary.splitlines()[1] == "  fetching 0/1 file, 0 B"
