"""Snapshots of real states, at 80x24 and 160x48: the job screen with a running job and with a
failed one, the log view with coloured and cleaned lines, the template preview with diagnostics,
and the GPU panel with figures.

The UI is real; only the node client is a stand-in (``tests/ui/fakes.py``), answering with the
views, log lines and GPU figures fixed here. Nothing in the picture depends on when or where the
test runs: fixed timestamps, the job screen's clock frozen at ``NOW`` and read as UTC. Each test
waits on the state it pictures (rows, drained log lines, polled figures), then checks a few words
of it, so that a snapshot can never be of a loading screen. Review changes with
``pytest --snapshot-update`` only after reading the HTML report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from nosana_tui.api.models import (
    SYSTEM,
    Endpoint,
    EndpointStatus,
    GpuProcess,
    GpuTelemetry,
    Health,
    JobStatus,
    JobView,
    OpStatus,
    OpView,
    PullState,
)
from nosana_tui.jobformat.diagnostics import Diagnostic, Severity
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens import templates as templates_screen
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.screens.nodes import NodesScreen
from nosana_tui.ui.screens.templates import Rendered, TemplatesScreen
from nosana_tui.ui.widgets.gpupanel import GpuPanel
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.logview import LogView, plain
from tests.pilot import screen_text, until
from tests.ui.fakes import (
    ScriptedNode,
    attach_node,
    freeze_job_clock,
    h100_telemetry,
    log_entries,
    offline_app,
)

SIZES = ((80, 24), (160, 48))
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the job screen's clock, frozen


@pytest.fixture(autouse=True)
def no_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """No node answers the app itself (and none is started): the test hands it one."""
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    freeze_job_clock(monkeypatch, NOW)


# --- the states ---------------------------------------------------------------------------------

RUNNING_ID = "7f3a9c2e41b0"


def running_job() -> JobView:
    """A vLLM + Open WebUI job in its second stage: a volume made and the weights fetched, the
    model served (on the GPU, healthy), the web UI up but not yet healthy, a metrics op pulling
    its image, a smoke test waiting for both, and a report stage still to come."""
    run = "container/run"
    return JobView(
        id=RUNNING_ID,
        name="vllm-openwebui",
        source="template:vllm-openwebui-ops",
        created_at=NOW - 400,
        current_group="serve",
        groups=["prepare", "serve", "report"],
        ops=[
            OpView(
                id="models",
                index=0,
                group="prepare",
                type="container/create-volume",
                status=OpStatus.FINISHED,
                started_at=NOW - 400,
                ended_at=NOW - 399,
            ),
            OpView(
                id="fetch-weights",
                index=1,
                group="prepare",
                type=run,
                status=OpStatus.FINISHED,
                exit_code=0,
                started_at=NOW - 398,
                ended_at=NOW - 290,
                depends_on=["models"],
                image="ghcr.io/huggingface/hf-cli:0.26",
            ),
            OpView(
                id="vllm",
                index=2,
                group="serve",
                type=run,
                status=OpStatus.RUNNING,
                health=Health.HEALTHY,
                ready=True,
                started_at=NOW - 285,
                image="vllm/vllm-openai:v0.6.3",
                gpu=True,
                endpoints=[
                    Endpoint(
                        op_id="vllm",
                        port=8000,
                        host_port=32768,
                        url="http://127.0.0.1:32768",
                        status=EndpointStatus.ONLINE,
                    )
                ],
            ),
            OpView(
                id="openwebui",
                index=3,
                group="serve",
                type=run,
                status=OpStatus.RUNNING,
                health=Health.STARTING,
                started_at=NOW - 42,
                depends_on=["vllm"],
                image="ghcr.io/open-webui/open-webui:v0.3.35",
                endpoints=[Endpoint(op_id="openwebui", port=8080, host_port=32769)],
            ),
            OpView(
                id="metrics",
                index=4,
                group="serve",
                type=run,
                status=OpStatus.STARTING,
                started_at=NOW - 12,
                image="prom/prometheus:v2.55.0",
                pull=PullState(
                    image="prom/prometheus:v2.55.0",
                    layers={
                        "a1": {"current": 30_000_000, "total": 30_000_000},
                        "b2": {"current": 12_000_000, "total": 70_000_000},
                    },
                ),
            ),
            OpView(
                id="smoke-test",
                index=5,
                group="serve",
                type=run,
                status=OpStatus.WAITING,
                depends_on=["vllm", "openwebui"],
                image="curlimages/curl:8.11.0",
            ),
            OpView(
                id="report",
                index=6,
                group="report",
                type=run,
                image="busybox:1.37",
            ),
        ],
    )


RUNNING_SYSTEM_LOG = [
    "stage prepare starts",
    "[models] volume models created",
    "[fetch-weights] pulling image ghcr.io/huggingface/hf-cli:0.26",
    "[fetch-weights] container 5e1d0c2b9a47 started",
    "[fetch-weights] exited with code 0",
    "stage serve starts",
    "[vllm] GPU access: runtime (--gpus all)",
    "[vllm] container 0b9e4d7c1f23 started",
    "[vllm] health checks passed: ready",
    "[openwebui] container 7a2c9e0d4b18 started",
    "[metrics] pulling image prom/prometheus:v2.55.0",
    "[smoke-test] waiting for vllm, openwebui",
]

# What vllm writes: colours (SGR) to keep, then lines a hostile container could write, which must
# reach the screen cleaned (nosana_tui.sanitize): nothing but colour acts on the terminal.
VLLM_LOG = [
    "\x1b[32mINFO\x1b[0m     Uvicorn running on http://0.0.0.0:8000",
    "\x1b[33mWARNING\x1b[0m  max_num_seqs lowered to 128 to fit the KV cache",
    "\x1b[1;31mERROR\x1b[0m    request 42 aborted: the client went away",
    "\x1b[38;5;208m256-colour\x1b[0m \x1b[38;2;90;160;255mtruecolour\x1b[0m "
    "\x1b[1mbold\x1b[0m \x1b[4munderline\x1b[0m \x1b[7mreverse\x1b[0m",
    "clipboard: [\x1b]52;c;cm0gLXJmIH4K\x07] title: [\x1b]0;pwned\x07] "
    "link: [\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\]",
    "cursor: [\x1b[2J\x1b[H\x1b[5A\x1b[2K] (clear, home, up, erase line)",
    "HF_\u200bTOKEN and \u202eexe.txt\u202c (zero-width, bidi)",
    "bell\x07 backspace\x08 nul\x00 del\x7f",
]
VLLM_LOG_CLEANED = [  # as the screen must show them (the colours are in the SVG)
    "INFO     Uvicorn running on http://0.0.0.0:8000",
    "256-colour truecolour bold underline reverse",
    "clipboard: [] title: [] link: [click]",
    "cursor: [] (clear, home, up, erase line)",
    "HF_<U+200B>TOKEN and <U+202E>exe.txt<U+202C> (zero-width, bidi)",
    "bell^G backspace^H nul^@ del^?",
]


def running_telemetry() -> GpuTelemetry:
    """The H100 recording, with the vllm op holding most of its memory."""
    data = h100_telemetry()
    data.processes = [
        GpuProcess(
            gpu_index=0,
            pid=412873,
            memory_mb=71_264,
            container_id="0b9e4d7c1f23",
            job_id=RUNNING_ID,
            op_id="vllm",
        ),
        *(p for p in data.processes if not p.job_id),
    ]
    return data


def running_node() -> ScriptedNode:
    lines = {
        SYSTEM: log_entries(RUNNING_ID, SYSTEM, RUNNING_SYSTEM_LOG, ts=NOW - 400, stream="system"),
        "vllm": log_entries(RUNNING_ID, "vllm", VLLM_LOG, ts=NOW - 280),
    }
    return ScriptedNode(running_job(), lines, running_telemetry())


FAILED_ID = "c0ffee123456"
FAILED_WHY = "op producer failed: exited with code 2"


def failed_job() -> JobView:
    """busybox-pipeline with a bad ITEMS: the producer exited with code 2, so the job failed and
    its serve stage never started."""
    never = f"never started: the job failed ({FAILED_WHY})"
    run = "container/run"
    return JobView(
        id=FAILED_ID,
        name="busybox-pipeline",
        source="template:busybox-pipeline",
        status=JobStatus.FAILED,
        created_at=NOW - 95,
        ended_at=NOW - 80,
        current_group="prepare",
        groups=["prepare", "serve"],
        message=FAILED_WHY,
        ops=[
            OpView(
                id="data",
                index=0,
                group="prepare",
                type="container/create-volume",
                status=OpStatus.FINISHED,
                started_at=NOW - 95,
                ended_at=NOW - 94,
            ),
            OpView(
                id="producer",
                index=1,
                group="prepare",
                type=run,
                status=OpStatus.FAILED,
                exit_code=2,
                started_at=NOW - 93,
                ended_at=NOW - 81,
                depends_on=["data"],
                image="busybox:latest",
                message="exited with code 2",
            ),
            OpView(
                id="web",
                index=2,
                group="serve",
                type=run,
                status=OpStatus.STOPPED,
                image="busybox:latest",
                message=never,
            ),
            OpView(
                id="client",
                index=3,
                group="serve",
                type=run,
                status=OpStatus.STOPPED,
                depends_on=["web"],
                image="busybox:latest",
                message=never,
            ),
        ],
    )


FAILED_SYSTEM_LOG = [
    "stage prepare starts",
    "[data] volume shared created",
    "[producer] starting container busybox-pipeline-producer",
    "[producer] container 3d8f1a6c0e52 started",
    "[producer] failed: exited with code 2",
    "job failed: op producer failed (exited with code 2); later stages will not start",
    "job ended: failed",
]


def failed_node() -> ScriptedNode:
    lines = {
        SYSTEM: log_entries(FAILED_ID, SYSTEM, FAILED_SYSTEM_LOG, ts=NOW - 95, stream="system"),
        "producer": log_entries(
            FAILED_ID,
            "producer",
            ["ITEMS must be a positive integer, got 'five'"],
            ts=NOW - 82,
            stream="stderr",
        ),
    }
    return ScriptedNode(failed_job(), lines)


# The template preview of a job file with errors and warnings, and of one with warnings only (its
# job is still previewed). The findings are fixed here, as the validator words them today: the
# screen is under test, and the validator's wording has its own tests (and changes with them).
PREVIEW_JOB: dict[str, Any] = {
    "version": "0.1",
    "type": "container",
    "ops": [
        {
            "type": "container/run",
            "id": "fetch.weights",
            "args": {"image": "busybox:latest", "cmd": "echo fetching"},
            "execution": {"group": "prepare"},
        },
        {
            "type": "container/run",
            "id": "serve",
            "args": {"image": "nginx:1.27", "expose": 80},
            "execution": {"group": "serve", "depends_on": ["proxy", "proxy"]},
        },
        {
            "type": "container/run",
            "id": "proxy",
            "args": {"image": "caddy:2.8", "cmd": "caddy reverse-proxy --to serve:80"},
            "execution": {"group": "serve"},
        },
    ],
}
WARNINGS = [
    Diagnostic(
        "op-id-dot",
        "op id 'fetch.weights' contains a dot, which makes %%ops.<id>...%% literals ambiguous",
        ("ops", 0, "id"),
        "use dashes instead of dots",
        Severity.WARNING,
        line=7,
        column=13,
    ),
    Diagnostic(
        "duplicate-dependency",
        "'proxy' is listed twice",
        ("ops", 1, "execution", "depends_on", 1),
        "list each dependency once",
        Severity.WARNING,
        line=15,
        column=63,
    ),
]
ERRORS = [
    Diagnostic(
        "unknown-op-literal",
        "%%ops.trainer.results.model%% names op 'trainer', which this job does not have",
        ("ops", 1, "args", "cmd"),
        "an unresolved literal fails the op before it starts",
        line=14,
        column=59,
    ),
    Diagnostic(
        "missing",
        "required field 'image' is missing",
        ("ops", 2, "args", "image"),
        'add the image to run, e.g. "image": "ubuntu:24.04"',
        line=20,
        column=15,
    ),
]


# --- waiting for a state --------------------------------------------------------------------------


async def open_job_screen(app: NosanaApp, pilot: Pilot[Any], node: ScriptedNode) -> JobScreen:
    assert node.view is not None
    await attach_node(app, pilot, node)
    screen = JobScreen(node.view.id)
    await app.push_screen(screen)
    return screen


async def job_shown(pilot: Pilot[Any], screen: JobScreen, node: ScriptedNode) -> None:
    """Until every op has its row and the log shows every line the node has for its target."""
    assert node.view is not None
    table: DataTable[Any] = screen.query_one("#job-ops", DataTable)
    log = screen.query_one("#job-log", LogView)
    wanted = len(node.lines.get(screen.log_target or "", []))

    def shown() -> bool:
        """every op in the table, every log line drawn and the widest measured (a thread
        worker does it: the horizontal scrollbar's thumb depends on it)"""
        rows = log.lines.lines
        widest = max((cell_len(plain(row)) for row in rows), default=0)
        return (
            screen.view is not None
            and table.row_count == len(node.view.ops)  # type: ignore[union-attr]
            and log.pending == 0
            and len(rows) == wanted
            and log.lines.virtual_size.width >= widest
        )

    await until(pilot, shown)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


# --- the job screen ------------------------------------------------------------------------------


@size_ids
def test_job_screen_running(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = running_node()

    async def show(pilot: Pilot[Any]) -> None:
        screen = await open_job_screen(app, pilot, node)
        table: DataTable[Any] = screen.query_one("#job-ops", DataTable)

        def gpu_polled() -> bool:
            """the GPU MEM column has vllm's figure"""
            return "gpu" in table.columns and str(table.get_cell("vllm", "gpu")) != "…"

        await until(pilot, gpu_polled)
        await job_shown(pilot, screen, node)
        assert screen.log_target == SYSTEM
        text = screen_text(app)
        assert "stage 2 · serve  ● running" in text and "└─┴─◌" in text  # smoke-test's fan-in
        assert str(table.get_cell("vllm", "health")) == "✓ healthy"
        assert "[smoke-test] waiting for vllm, openwebui" in text  # the last log line
        if size == (160, 48):  # the graph grows with the terminal: every stage is in sight
            assert "stage 3 · report  ○ pending" in text
        assert str(table.get_cell("vllm", "gpu")) == "69.6 GiB"
        assert str(table.get_cell("vllm", "duration")) == "4m45s"  # from the frozen clock
        assert str(table.get_cell("vllm", "started")) == "23:55:15"

    assert snap_compare(app, terminal_size=size, run_before=show)


@size_ids
def test_job_screen_failed(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = failed_node()

    async def show(pilot: Pilot[Any]) -> None:
        screen = await open_job_screen(app, pilot, node)
        await job_shown(pilot, screen, node)
        text = screen_text(app)
        assert "stage 1 · prepare  ✖ failed" in text
        assert "✖ producer" in text and "exit 2" in text
        assert "stage 2 · serve  ⊘ skipped" in text and "└─⊘ client" in text
        assert "job failed: op producer failed (exited with code 2)" in text  # the system log

    assert snap_compare(app, terminal_size=size, run_before=show)


# --- the log view --------------------------------------------------------------------------------


@size_ids
def test_log_view_colours_and_cleaned_lines(
    size: tuple[int, int], snap_compare: Any, tmp_path: Path
) -> None:
    app = offline_app(tmp_path)
    node = running_node()

    async def show(pilot: Pilot[Any]) -> None:
        screen = await open_job_screen(app, pilot, node)
        await job_shown(pilot, screen, node)
        graph = screen.query_one(OpGraph)
        while graph.selected != "vllm":  # down the graph to vllm, as a person would
            await pilot.press("down")
        await pilot.press("l")  # its log
        await until(pilot, lambda: screen.log_target == "vllm")
        await pilot.press("tab", "tab")  # past the ops table to the log
        await job_shown(pilot, screen, node)
        assert screen.query_one("#job-log", LogView).has_focus_within
        text = screen_text(app)
        for line in VLLM_LOG_CLEANED:
            assert line in text
        assert "pwned" not in text and "evil.example" not in text

    assert snap_compare(app, terminal_size=size, run_before=show)


# --- the template preview ------------------------------------------------------------------------


def file_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, rendered: Rendered
) -> NosanaApp:
    """The app opened on the job file NAME, which makes RENDERED (data and findings)."""
    path = tmp_path / name
    path.write_text(json.dumps(PREVIEW_JOB), encoding="utf-8")
    monkeypatch.setattr(templates_screen, "_render_file", lambda _: rendered)
    app = offline_app(tmp_path)
    app.open_file = path
    return app


async def preview_shown(app: NosanaApp, pilot: Pilot[Any]) -> TemplatesScreen:
    await until(pilot, lambda: app.node_error is not None)  # the node bar is settled too

    def rendered() -> bool:
        """the opened file is previewed"""
        screen = app.screen
        return isinstance(screen, TemplatesScreen) and screen.rendered is not None

    await until(pilot, rendered)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, TemplatesScreen)
    return screen


@size_ids
def test_template_preview_with_errors_and_warnings(
    size: tuple[int, int], snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # in file order, as the validator gives them: the screen puts the errors first
    findings = [WARNINGS[0], ERRORS[0], WARNINGS[1], ERRORS[1]]
    rendered = Rendered(None, findings, "broken-job.json")
    app = file_app(tmp_path, monkeypatch, "broken-job.json", rendered)

    async def show(pilot: Pilot[Any]) -> None:
        screen = await preview_shown(app, pilot)
        assert screen.rendered is not None and screen.rendered.data is None
        text = screen_text(app)
        assert "no job: fix the 2" in text
        # the errors come first: at 80x24 the box has room for them only, at 160x48 for all
        box = str(screen.query_one("#template-problems", Static).render())
        assert box.index("error: ") < box.index("warning: ")
        # the Job tab (it scrolls) holds every problem in full, whatever the box could show
        tab = str(screen.query_one("#template-job", Static).render())
        assert tab.startswith("no job: fix the 2 errors; every problem in full:")
        for diag in findings:
            assert diag.message in tab and diag.hint in tab

    assert snap_compare(app, terminal_size=size, run_before=show)


@size_ids
def test_template_preview_with_warnings(
    size: tuple[int, int], snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = Rendered(PREVIEW_JOB, WARNINGS, "warned-job.json")
    app = file_app(tmp_path, monkeypatch, "warned-job.json", rendered)

    async def show(pilot: Pilot[Any]) -> None:
        screen = await preview_shown(app, pilot)
        assert screen.rendered is not None and screen.rendered.data is not None
        text = screen_text(app)
        assert "warning: " in text and "error: " not in text
        assert '"version": "0.1"' in text  # the job's JSON is previewed

    assert snap_compare(app, terminal_size=size, run_before=show)


# --- the GPU panel -------------------------------------------------------------------------------


@size_ids
def test_gpu_panel_with_figures(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    app = offline_app(tmp_path)
    node = ScriptedNode(telemetry=h100_telemetry())

    async def show(pilot: Pilot[Any]) -> None:
        await attach_node(app, pilot, node)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, NodesScreen))
        panel = app.screen.query_one(GpuPanel)
        info = app.screen.query_one("#node-info-text", Static)

        def polled() -> bool:
            """the panel has the node's figures and the info box its answer"""
            return panel.telemetry is not None and "driver_version" in str(info.content)

        await until(pilot, polled)
        await pilot.pause()
        text = screen_text(app)
        assert "#0 NVIDIA H100 80GB HBM3" in text and "util  41%" in text
        assert "13164/81559 MiB" in text
        assert "412873" in text and "a1b2c3d4e5f6" in text  # the process of one of our ops

    assert snap_compare(app, terminal_size=size, run_before=show)
