"""Where the UI opens and what it remembers: Jobs when the node has jobs, else Templates (before,
always Templates, even with jobs running); the section it was left on; the theme picked in the
command palette (before, forgotten at the next start), written into config.toml with every other
line of it kept."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.client.node import NodeClient
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.settings import load_settings, save_theme
from tests.node.conftest import AgentProcess, job, run_op
from tests.pilot import until
from tests.ui.fakes import offline_app

pytestmark = pytest.mark.anyio


def agent_app(agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, config: Path) -> NosanaApp:
    """The UI of a person whose local node is AGENT, with a config folder of their own (the
    token copied in) so that what the UI remembers stays in the test."""
    config.mkdir(parents=True, exist_ok=True)
    (config / "token").write_text(agent.token)
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    return NosanaApp(locations=Paths(config, agent.data_dir), autostart=False)


async def test_opens_on_jobs_when_the_node_has_jobs_else_templates(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = agent_app(agent, monkeypatch, tmp_path / "config")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_info is not None)
        await app.workers.wait_for_complete()
        assert app.current_mode == "templates"  # no jobs
        await pilot.press("q")

    async with agent.client() as client:
        job_id = (await client.submit(job(run_op("main", "sleep 60")), "sleeper")).id
        try:
            app = agent_app(agent, monkeypatch, tmp_path / "config")
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.current_mode == "jobs")
                await pilot.press("q")
            # the person moved to Nodes and quit: the next start is on Nodes, jobs or not
            app = agent_app(agent, monkeypatch, tmp_path / "config")
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.current_mode == "jobs")
                await pilot.press("3")
                await pilot.press("q")
            assert load_settings(app.locations).section == "nodes"
        finally:
            await client.remove(job_id)

    app = agent_app(agent, monkeypatch, tmp_path / "config")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.current_mode == "nodes"  # where it was left
        await until(pilot, lambda: app.node_info is not None)
        await app.workers.wait_for_complete()
        assert app.current_mode == "nodes"
        await pilot.press("2")  # Jobs, left with no jobs: Templates next time
        await pilot.press("q")
    app = agent_app(agent, monkeypatch, tmp_path / "config")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.current_mode == "templates")
        await pilot.press("q")


@pytest.mark.parametrize("keys", [("3",), ("down",)], ids=["to-nodes", "down-in-templates"])
async def test_a_person_who_moved_is_not_moved_back(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keys: tuple[str, ...]
) -> None:
    """A key pressed before the node's answer about its jobs has come: the UI stays put."""
    gate = asyncio.Event()
    real_jobs = NodeClient.jobs

    async def slow_jobs(self: NodeClient) -> Any:
        await gate.wait()
        return await real_jobs(self)

    async with agent.client() as client:
        job_id = (await client.submit(job(run_op("main", "sleep 60")), "sleeper")).id
        try:
            monkeypatch.setattr(NodeClient, "jobs", slow_jobs)
            app = agent_app(agent, monkeypatch, tmp_path / "config")
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.node_info is not None)
                start = app.current_mode
                await pilot.press(*keys)
                moved = app.current_mode
                gate.set()
                await app.workers.wait_for_complete()
                await pilot.pause(0.1)
                assert start == "templates" and app.current_mode == moved
                await pilot.press("q")
        finally:
            gate.set()
            await client.remove(job_id)


async def test_the_theme_picked_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    original = '# my settings\nhealth_interval = 5\n\n[keys]\n"app.quit" = "ctrl+q"\n'
    (config / "config.toml").write_text(original)
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "nosana-dark"
        app.theme = "nosana-light"  # what the palette's theme picker does
        await pilot.pause()
        await pilot.press("ctrl+q")
    text = (config / "config.toml").read_text()
    assert text == 'theme = "nosana-light"\n' + original  # every line of the person's kept
    app = offline_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "nosana-light"
        app.theme = "nosana-ansi"
        await pilot.pause()
        await pilot.press("ctrl+q")
    assert (config / "config.toml").read_text() == 'theme = "nosana-ansi"\n' + original
    assert tomllib.loads((config / "config.toml").read_text())["keys"] == {"app.quit": "ctrl+q"}


def test_save_theme_replaces_the_top_level_line_only(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data")
    assert save_theme(paths, "nosana-light") is None  # no file yet: one is made
    assert paths.config_file.read_text() == 'theme = "nosana-light"\n'
    paths.config_file.write_text(
        'node = "http://127.0.0.1:5002"\n  theme = "x"  # mine\n[t]\ntheme = 1\n'
    )
    assert save_theme(paths, "mine") is None
    assert paths.config_file.read_text() == (
        'node = "http://127.0.0.1:5002"\ntheme = "mine"\n[t]\ntheme = 1\n'
    )
    broken = 'theme = "a"\nnode = [\n'  # a file the person broke: not touched, and it says so
    paths.config_file.write_text(broken)
    problem = save_theme(paths, "nosana-dark")
    assert problem and "the theme was not saved" in problem and 'theme = "nosana-dark"' in problem
    assert paths.config_file.read_text() == broken
