"""The job view against the real agent and the real Docker engine (issue 13), keyboard only at
80x24: the graph draws busybox-pipeline's edges with live states; ``enter`` on an op opens its
panel (message, image, command, env with the secret masked, mounts, ports, endpoint with copy and
the ``ssh -L`` line, last lines); ``a`` shows every op's lines in one log, each op prefixed in its
own colour; a failed job's ops that never start read ``skipped``, and the failing op's panel
holds its whole message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens import op as op_screen
from nosana_tui.ui.screens.job import ALL_OPS, JobScreen
from nosana_tui.ui.screens.op import OpScreen
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import OP_COLOURS, LogView, plain
from tests.node.conftest import AgentProcess
from tests.pilot import screen_text, until

pytestmark = pytest.mark.anyio

LIBRARY = Path(__file__).resolve().parents[2] / "nosana_tui" / "library"
SECRET = "hf_do-not-show-me-0123456789"


def pipeline(items: str = "3") -> dict[str, Any]:
    """busybox-pipeline with ITEMS and a secret in the producer's env, fetching every 0.2 s."""
    data: dict[str, Any] = json.loads((LIBRARY / "busybox-pipeline" / "job.json").read_text())
    data["global"]["variables"].update(ITEMS=items, FETCH_INTERVAL="0.2")
    data["ops"][1]["args"]["env"]["HF_TOKEN"] = SECRET
    return data


async def open_job(app: NosanaApp, pilot: Pilot[Any], definition: dict[str, Any]) -> JobScreen:
    await until(pilot, lambda: app.client is not None and app.node_info is not None)
    assert app.client is not None
    view = await app.client.submit(definition, name="busybox-pipeline")
    await pilot.press("2")
    screen = JobScreen(view.id)
    await app.push_screen(screen)
    screen.query_one(OpGraph).focus()
    return screen


def text_of(app: NosanaApp) -> str:
    return screen_text(app)


def notes(app: NosanaApp) -> list[str]:
    """The notifications so far, ``title: message`` (run_test shows no toasts)."""
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def select(pilot: Pilot[Any], graph: OpGraph, op_id: str) -> None:
    await pilot.press("g")
    while graph.selected != op_id:
        await pilot.press("down")


async def test_graph_op_panel_and_all_logs_of_a_running_job(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    monkeypatch.setattr(op_screen, "this_host", lambda: "gpu-box")
    app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_job(app, pilot, pipeline())

        def serving() -> bool:
            """web healthy and client running, every op in the graph with its state"""
            view = screen.view
            return (
                view is not None
                and view.op("web").ready
                and view.op("client").status is OpStatus.RUNNING
            )

        await until(pilot, serving, timeout=60)
        graph = screen.query_one(OpGraph)
        await until(pilot, lambda: "running" in dict(graph.lines)["client"].plain)
        lines = {op_id: text.plain for op_id, text in graph.lines if op_id}
        # every depends_on is an edge, with each op's live state
        assert "└─✔ producer  finished" in lines["producer"]
        assert "└─● client    running" in lines["client"]
        assert "web       running · healthy" in lines["web"]
        text = text_of(app)
        assert "└─✔ producer" in text and "└─● client" in text

        # ← / → along the edges
        await select(pilot, graph, "client")
        await pilot.press("left")
        await until(pilot, lambda: graph.selected == "web")
        await pilot.press("right")
        await until(pilot, lambda: graph.selected == "client")

        # the op panel of web: its endpoint, copied, with the ssh -L line beside it
        await select(pilot, graph, "web")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OpScreen))
        panel = app.screen
        assert isinstance(panel, OpScreen)
        await until(pilot, lambda: panel.args is not None and panel.last_lines is not None)
        web = screen.view.op("web")  # type: ignore[union-attr]
        url = web.endpoints[0].url
        assert url is not None and url.startswith("http://127.0.0.1:")
        port = url.rsplit(":", 1)[1]
        await pilot.pause()
        text = text_of(app)
        for shown in (
            "● running  ✓ healthy",
            "busybox:latest",
            "exec busybox httpd -f -v -p 8080 -h /data",
            "shared → /data",
            "8080  health: http /",
            url,
            f"ssh -L {port}:127.0.0.1:{port} gpu-box",
        ):
            assert shown in text, (shown, text)
        await pilot.press("y")
        await until(pilot, lambda: app.clipboard == url)
        await until(pilot, lambda: f"Copied (OSC 52): {url}" in notes(app))
        await pilot.press("t")
        await until(pilot, lambda: app.clipboard == f"ssh -L {port}:127.0.0.1:{port} gpu-box")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        # the producer's panel: env with the secret masked, its whole command, its last lines
        await select(pilot, graph, "producer")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OpScreen))
        panel = app.screen
        assert isinstance(panel, OpScreen)
        await until(pilot, lambda: bool(panel.args) and bool(panel.last_lines))
        await pilot.pause()
        body = panel.query_one("#op-body")
        text = ""
        for _ in range(10):  # the panel scrolls at 24 rows: read it all, a page at a time
            text += text_of(app)
            await pilot.press("pagedown")
            await pilot.pause()
        assert "HF_TOKEN=***" in text and SECRET not in text
        assert "ITEMS=%%global.variables.ITEMS%%" in text
        assert "✔ finished" in text and "Exit code   0" in text
        assert "RESULT: 3 items written" in text  # its last line
        assert body is not None
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)

        # every op's lines in one log, each op prefixed in its own colour
        await pilot.press("a")
        log = screen.query_one(LogView)
        await until(pilot, lambda: screen.log_target == ALL_OPS)

        def interleaved() -> bool:
            """lines of the producer, the client and the system in the one log"""
            rows = [plain(row) for row in log.lines.lines]
            return (
                any(row.startswith("producer │ RESULT: 3 items written") for row in rows)
                and any(row.startswith("client   │ [") for row in rows)
                and any(row.startswith("system   │ ") for row in rows)
            )

        await until(pilot, interleaved, timeout=30)
        colour = {
            op: f"\x1b[{OP_COLOURS[i]}m"
            for i, op in enumerate(("data", "producer", "web", "client"))
        }
        rows = log.lines.lines
        assert any(row.startswith(colour["producer"] + "producer") for row in rows)
        assert any(row.startswith(colour["web"] + "web") for row in rows)
        assert "all ops" in log.status_text
        await until(pilot, lambda: "client   │ [" in text_of(app))  # the newest, on screen

        # save gives feedback
        log.focus()
        await pilot.press("s")
        await until(pilot, lambda: any("log saved to" in note for note in notes(app)))
        await app.client.remove(screen.job_id)  # type: ignore[union-attr]


async def test_a_failed_job_reads_skipped_and_its_panel_holds_the_whole_reason(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    app = NosanaApp(locations=Paths(agent.config_dir, agent.data_dir), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_job(app, pilot, pipeline(items="five"))
        await until(
            pilot,
            lambda: screen.view is not None and screen.view.status is JobStatus.FAILED,
            timeout=60,
        )
        view = screen.view
        assert view is not None
        # what the node reports: stopped, never started, saying why
        for op_id in ("web", "client"):
            op = view.op(op_id)
            assert op.status is OpStatus.STOPPED and op.started_at is None and op.skipped
        graph = screen.query_one(OpGraph)
        await until(pilot, lambda: "skipped" in dict(graph.lines)["client"].plain)
        text = text_of(app)
        assert "⊘ skipped" in text and "pending" not in text
        table = screen.query_one("#job-ops")
        assert str(table.get_cell("web", "status")) == "⊘ skipped"  # type: ignore[attr-defined]

        # the producer's whole reason, which the graph cuts at 80 columns
        producer = view.op("producer")
        assert producer.status is OpStatus.FAILED and producer.exit_code == 2
        await select(pilot, graph, "producer")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OpScreen))
        panel = app.screen
        assert isinstance(panel, OpScreen)
        await until(pilot, lambda: bool(panel.last_lines))
        await pilot.pause()
        text = text_of(app)
        assert f"Message     {producer.message}" in text
        assert "Exit code   2" in text
        await pilot.press("escape")

        # a skipped op's panel says so, with the node's reason whole
        await select(pilot, graph, "client")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OpScreen))
        await pilot.pause()
        text = " ".join(line.strip() for line in text_of(app).splitlines())
        assert "⊘ skipped" in text
        assert "never started: the job failed (op producer failed: exited with code 2)" in text
        await pilot.press("escape")
        await app.client.remove(screen.job_id)  # type: ignore[union-attr]
