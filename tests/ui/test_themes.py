"""Theme files: the built-ins load and switch; bad files are skipped with a message naming them."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.widgets import Footer, Label

from nosana_tui.api.models import OpStatus
from nosana_tui.config import paths
from nosana_tui.ui.style import op_status_text
from nosana_tui.ui.themes import (
    builtin_themes_dir,
    load_theme_file,
    load_themes,
    user_themes_dir,
)

pytestmark = pytest.mark.anyio

BUILTIN = ["nosana-ansi", "nosana-dark", "nosana-light"]

GOOD = """\
name = "mine"
primary = "#112233"
dark = true
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / name
    file.write_text(text, encoding="utf-8")
    return file


def test_builtin_themes_load_without_problems() -> None:
    folder = builtin_themes_dir()
    assert folder.is_dir()
    themes, problems = load_themes([folder])
    assert problems == []
    assert sorted(t.name for t in themes) == BUILTIN
    ansi = next(t for t in themes if t.name == "nosana-ansi")
    assert ansi.ansi and ansi.primary == "ansi_blue" and ansi.foreground == "ansi_default"
    light = next(t for t in themes if t.name == "nosana-light")
    assert light.dark is False


def test_builtin_dir_is_the_repository_folder_in_a_checkout() -> None:
    assert builtin_themes_dir() == Path(__file__).resolve().parents[2] / "themes"
    assert not (builtin_themes_dir() / ".keep").exists()


class ThemedApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("hello")
        yield Footer()


async def test_builtin_themes_register_and_switch() -> None:
    themes, _ = load_themes([builtin_themes_dir()])
    app = ThemedApp()
    async with app.run_test() as pilot:
        for theme in themes:
            app.register_theme(theme)
        assert set(BUILTIN) <= set(app.available_themes)
        for name in BUILTIN:
            app.theme = name
            await pilot.pause()
            assert app.current_theme.name == name
            variables = app.get_css_variables()
            # the status colours resolve on every theme, ANSI included
            running = op_status_text(OpStatus.RUNNING, variables)
            assert running.plain == "● running"
            assert isinstance(running.style, Style) and running.style.color is not None
        app.theme = "nosana-ansi"
        await pilot.pause()
        text = op_status_text(OpStatus.FAILED, app.get_css_variables())
        assert isinstance(text.style, Style) and text.style.color is not None
        assert text.style.color.name == "color(1)"  # the terminal's own red


def test_malformed_file_is_skipped_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "good.toml", GOOD)
    bad = write(tmp_path, "broken.toml", 'name = "broken"\nprimary = "#112233\ndark = true\n')
    themes, problems = load_themes([tmp_path])
    assert [t.name for t in themes] == ["mine"]
    assert len(problems) == 1
    assert problems[0].startswith(f"{bad}:2: not valid TOML")
    assert problems[0].endswith("theme skipped")


def test_invalid_colour_is_skipped_naming_file_field_and_line(tmp_path: Path) -> None:
    bad = write(
        tmp_path, "blurple.toml", 'name = "blurple"\nprimary = "#112233"\nerror = "blurple"\n'
    )
    themes, problems = load_themes([tmp_path])
    assert themes == []
    assert problems == [
        f"{bad}:3: 'error' is not a colour: 'blurple' "
        '(use e.g. "#4FB3FF", "red" or "ansi_blue"); theme skipped'
    ]


def test_invalid_variable_is_caught_before_textual_would_stop_the_app(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "vars.toml",
        'name = "v"\nprimary = "#112233"\n[variables]\nfooter-key-foreground = "nope"\n',
    )
    style = write(
        tmp_path,
        "style.toml",
        'name = "s"\nprimary = "#112233"\n[variables]\nblock-cursor-text-style = "loud"\n',
    )
    fine = write(
        tmp_path,
        "fine.toml",
        'name = "f"\nprimary = "#112233"\n[variables]\n'
        'block-cursor-text-style = "bold reverse"\ninput-selection-background = "#4FB3FF 35%"\n',
    )
    themes, problems = load_themes([tmp_path])
    assert [t.name for t in themes] == ["f"]
    assert load_theme_file(fine).variables["input-selection-background"] == "#4FB3FF 35%"
    assert problems[0].startswith(f"{style}:4: variable 'block-cursor-text-style'")
    assert problems[1].startswith(f"{bad}:4: variable 'footer-key-foreground'")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "'primary' is missing"),
        ('name = "x"\nprimary = "#112233"\ndark = "yes"\n', "'dark' must be true or false"),
        ('name = "x"\nprimary = "#112233"\nprimray = "#000"\n', "unknown field 'primray'"),
        ('name = ""\nprimary = "#112233"\n', "'name' must be a non-empty string"),
        ("primary = 3\n", "'primary' must be a colour string"),
        ("[[x]]\n", "unknown field 'x'"),
    ],
)
def test_other_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    file = write(tmp_path, "t.toml", text)
    themes, problems = load_themes([tmp_path])
    assert themes == []
    assert len(problems) == 1 and str(file) in problems[0] and message in problems[0]


def test_yaml_themes_load_and_yaml_errors_give_the_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "name: from-yaml\nprimary: '#112233'\nvariables:\n  border: red\n")
    bad = write(tmp_path, "b.yml", "name: b\nprimary: [unclosed\n")
    themes, problems = load_themes([tmp_path])
    assert [t.name for t in themes] == ["from-yaml"]
    assert problems[0].startswith(f"{bad}:") and "not valid YAML" in problems[0]
    assert problems[0].split(":")[1].isdigit()


def test_user_themes_come_from_the_data_dir_and_replace_builtins() -> None:
    folder = user_themes_dir()
    assert folder == paths().data_dir / "themes"  # the test's own data dir (conftest)
    write(folder, "mine.toml", GOOD)
    write(folder, "dark.toml", 'name = "nosana-dark"\nprimary = "#ABCDEF"\n')
    write(folder, "notes.txt", "not a theme")
    themes, problems = load_themes([builtin_themes_dir(), folder])
    assert problems == []
    by_name = {t.name: t for t in themes}
    assert set(by_name) == {*BUILTIN, "mine"}
    assert by_name["nosana-dark"].primary == "#ABCDEF"


def test_missing_folders_are_not_a_problem(tmp_path: Path) -> None:
    assert load_themes([tmp_path / "nowhere"]) == ([], [])


def test_a_file_without_name_is_named_after_the_file(tmp_path: Path) -> None:
    write(tmp_path, "plain.toml", 'primary = "#112233"\n')
    themes, problems = load_themes([tmp_path])
    assert [t.name for t in themes] == ["plain"] and problems == []
