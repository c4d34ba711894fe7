"""The user's own templates from the UI: a job a node runs saved as a template (Jobs, ``t``), a
new one from a job file (Templates, ``n``), a copy (``c``), an edit in ``$EDITOR`` (``e``) checked
on return: a broken edit is not kept, a built-in is edited as a copy. The editor is a script
here (the headless app runs it beside the UI; a terminal suspends the UI for it)."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from textual.widgets import OptionList

from nosana_tui.config import Paths
from nosana_tui.jobformat import templates as tpl
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.templates import TemplatesScreen
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.prompt import Prompt
from tests.node.conftest import AgentProcess, job, run_op
from tests.pilot import screen_text, until
from tests.ui.fakes import offline_app

pytestmark = pytest.mark.anyio


def highlighted(app: NosanaApp) -> str | None:
    options = app.screen.query_one("#template-list", OptionList)
    if options.highlighted is None:
        return None
    return options.get_option_at_index(options.highlighted).id


def editor(tmp_path: Path, name: str, body: str) -> str:
    """An "editor": a Python script run on the file, as $EDITOR would be."""
    script = tmp_path / f"{name}.py"
    script.write_text(f"import sys, pathlib\npath = pathlib.Path(sys.argv[1])\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{sys.executable} {script}"


def told(app: NosanaApp, text: str) -> bool:
    """Whether a notification (on screen or gone) says TEXT."""
    return any(text in n.message for n in app._notifications)  # (private: toasts wrap lines)


def user_ids(app: NosanaApp) -> list[str]:
    return [t.id for t in tpl.load_library(app.locations.templates_dir)[0] if t.origin == "user"]


async def test_a_running_job_saved_as_a_template(
    agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "token").write_text(agent.token)
    monkeypatch.setenv("NOSANA_TUI_NODE", agent.url)
    definition = job(run_op("main", "echo from a job; sleep 60", args={"env": {"GREETING": "hi"}}))
    async with agent.client() as client:
        job_id = (await client.submit(definition, "my-service")).id
        try:
            app = NosanaApp(locations=Paths(config, agent.data_dir), autostart=False)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.current_mode == "jobs")
                await until(pilot, lambda: job_id in screen_text(app))
                await pilot.press("t")
                await until(pilot, lambda: user_ids(app) == ["my-service"])
                saved = json.loads((config / "templates" / "my-service" / "job.json").read_text())
                assert saved["ops"][0]["args"]["env"] == {"GREETING": "hi"}
                await pilot.press("1")  # Templates lists it, without a restart
                await until(pilot, lambda: isinstance(app.screen, TemplatesScreen))
                screen = app.screen
                assert isinstance(screen, TemplatesScreen)
                await until(pilot, lambda: any(t.id == "my-service" for t in screen.templates))
                template = tpl.find(screen.templates, "my-service")
                assert template.origin == "user" and template.description.startswith("saved from")
                tpl.render(template, {})  # a valid job
                await pilot.press("q")
        finally:
            await client.remove(job_id)


async def test_new_from_file_copy_and_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    good = tmp_path / "web.yaml"
    good.write_text(
        "# my web job\nversion: '0.1'\ntype: container\nops:\n"
        "  - {type: container/run, id: web, args: {image: busybox:latest, cmd: 'echo hi'}}\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "0.1", "type": "container", "ops": [{"id": "x"}]}')
    app = offline_app(tmp_path)
    folder = app.locations.templates_dir
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        screen = app.screen
        assert isinstance(screen, TemplatesScreen)

        # n: a file that does not validate makes nothing, and says why
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, Prompt))
        await pilot.press(*str(bad), "enter")
        await until(pilot, lambda: told(app, "is not a valid job; no template made"))
        assert user_ids(app) == []
        # n: a valid one becomes a template folder, as written (its comment kept), shown
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, Prompt))
        await pilot.press(*str(good), "enter")
        await until(pilot, lambda: user_ids(app) == ["web"])
        assert (folder / "web" / "job.yaml").read_text() == good.read_text()
        await until(pilot, lambda: highlighted(app) == "web")

        # c: a copy of a built-in
        await pilot.press("slash", *"busybox-hello", "enter")
        await until(pilot, lambda: highlighted(app) == "busybox-hello")
        await pilot.press("c")
        await until(pilot, lambda: "busybox-hello-copy" in user_ids(app))
        await until(pilot, lambda: highlighted(app) == "busybox-hello-copy")
        copy = tpl.find(screen.templates, "busybox-hello-copy")
        assert copy.name.endswith("(copy)") and copy.origin == "user"

        # e: an edit that breaks the job is not kept (n: drop it)
        before = copy.path.read_text()
        monkeypatch.setenv("VISUAL", editor(tmp_path, "breaks", "path.write_text('{\"ops\": 3')"))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, Confirm), 20)
        await until(pilot, lambda: "Edit again?" in screen_text(app))
        assert "problem" in screen_text(app), screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TemplatesScreen))
        await until(pilot, lambda: told(app, "busybox-hello-copy: unchanged"))
        assert copy.path.read_text() == before
        # e: a good edit is kept
        change = "path.write_text(path.read_text().replace('Hello from', 'Hi from'))"
        monkeypatch.setenv("VISUAL", editor(tmp_path, "changes", change))
        await pilot.press("e")
        await until(pilot, lambda: told(app, "template busybox-hello-copy saved"), 20)
        assert "Hi from" in copy.path.read_text() and "Hi from" not in before

        # e on a built-in: a copy is made and edited; the built-in is never written
        await pilot.press("escape", "slash", *"busybox-web", "enter")
        await until(pilot, lambda: highlighted(app) == "busybox-web")
        builtin = tpl.find(screen.templates, "busybox-web")
        original = builtin.path.read_text()
        await pilot.press("e")
        await until(pilot, lambda: "busybox-web-copy" in user_ids(app), 20)
        await until(pilot, lambda: told(app, "template busybox-web-copy saved"), 20)
        assert builtin.path.read_text() == original
        await pilot.press("q")
    assert app.return_code in (0, None)


def test_ids_never_hide_a_built_in(tmp_path: Path) -> None:
    from nosana_tui.ui import usertemplates as user

    assert user.free_id("busybox-hello", ["busybox-hello"], tmp_path) == "busybox-hello-2"
    assert user.slug("My Service: v2!") == "my-service-v2"
    assert user.slug("***") == "template"
