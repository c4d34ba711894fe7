"""Making and changing the user's templates from the Templates section: ``n`` a new one from a
job or dstack file, ``c`` a copy of the one shown, ``e`` edit it in ``$EDITOR`` (a built-in one:
a copy of it), checked on return: a template that does not validate is not kept unless you say
so, and you may go back to the editor. The files: :mod:`nosana_tui.ui.usertemplates`.

These run in the screen's workers (they wait for dialogs); the Templates screen only binds the
keys, so that its own code stays its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import SuspendNotSupported
from textual.widgets import Input, OptionList
from textual.widgets.option_list import OptionDoesNotExist

from nosana_tui.jobformat import templates as tpl
from nosana_tui.jobformat.diagnostics import Report
from nosana_tui.ui import usertemplates as user
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.widgets.confirm import Confirm
from nosana_tui.ui.widgets.prompt import Prompt

if TYPE_CHECKING:
    from nosana_tui.ui.screens.templates import TemplatesScreen

_seen: weakref.WeakKeyDictionary[TemplatesScreen, tuple[tuple[str, float], ...]] = (
    weakref.WeakKeyDictionary()
)


def _folder_state(folder: Path) -> tuple[tuple[str, float], ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted((p.name, p.stat().st_mtime) for p in folder.iterdir()))


def reload(screen: TemplatesScreen, select: str | None = None) -> None:
    """Read the library again (the user's folder changed) and show SELECT, or keep the list's
    place."""
    folder = nosana_app(screen).locations.templates_dir
    screen.templates, problems = tpl.load_library(folder)
    _seen[screen] = _folder_state(folder)
    for problem in problems:
        screen.notify(problem, severity="warning", markup=False)
    options = screen.query_one("#template-list", OptionList)
    keep = select
    if keep is None and options.highlighted is not None:
        keep = options.get_option_at_index(options.highlighted).id
    screen.fill_list(screen.query_one("#template-search", Input).value)
    if keep is not None:
        with contextlib.suppress(OptionDoesNotExist):  # (filtered out by the search)
            options.highlighted = options.get_option_index(keep)


def reload_if_changed(screen: TemplatesScreen) -> None:
    """On coming back to Templates: a template saved elsewhere (from a job, in the Jobs list)
    is in the list."""
    folder = nosana_app(screen).locations.templates_dir
    state = _folder_state(folder)
    if screen not in _seen:
        _seen[screen] = state
    elif _seen[screen] != state:
        reload(screen)


def _problems(report: Report, limit: int = 3) -> str:
    lines = [d.render() for d in report.errors[:limit]]
    more = len(report.errors) - limit
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def _taken(screen: TemplatesScreen) -> list[str]:
    return [t.id for t in screen.templates]


async def new_from_file(screen: TemplatesScreen) -> None:
    answer = await screen.app.push_screen_wait(
        Prompt(
            "New template from a job or dstack file (JSON, YAML, .dstack.yml):",
            placeholder="path/to/job.yaml",
        )
    )
    if answer is None:
        return
    path = Path(answer).expanduser()
    if not path.is_file():
        screen.notify(f"{path}: no such file", severity="error", markup=False)
        return
    folder = nosana_app(screen).locations.templates_dir
    made, report = await asyncio.to_thread(user.from_file, folder, path, _taken(screen))
    if made is None:
        screen.notify(
            f"{path.name} is not a valid job; no template made:\n{_problems(report)}",
            severity="error",
            timeout=12,
            markup=False,
        )
        return
    reload(screen, select=made.parent.name)
    screen.notify(f"template {made.parent.name} saved in {folder}", markup=False)


async def duplicate(screen: TemplatesScreen) -> None:
    template = screen.current
    if template is None:
        screen.notify("choose a template to copy first", severity="warning", markup=False)
        return
    folder = nosana_app(screen).locations.templates_dir
    made = await asyncio.to_thread(user.duplicate, folder, template, _taken(screen))
    reload(screen, select=made.parent.name)
    screen.notify(f"copied to template {made.parent.name} ({folder})", markup=False)


async def edit(screen: TemplatesScreen) -> None:
    template = screen.current
    if template is None:
        screen.notify("choose a template to edit first", severity="warning", markup=False)
        return
    if template.origin != "user" or template.path.parent.name != template.id:
        # a built-in (read-only) or a bare file in the folder: edit a folder copy of it
        folder = nosana_app(screen).locations.templates_dir
        made = await asyncio.to_thread(user.duplicate, folder, template, _taken(screen))
        reload(screen, select=made.parent.name)
        screen.notify(f"editing a copy: template {made.parent.name}", markup=False)
        template = next((t for t in screen.templates if t.id == made.parent.name), None)
        if template is None:
            return
    copy = user.edit_copy(template.path)
    try:
        while True:
            code = await run_editor(screen, copy)
            if code != 0:
                screen.notify(
                    f"the editor exited with code {code}; the template is unchanged",
                    severity="warning",
                    markup=False,
                )
                return
            report = await asyncio.to_thread(user.check, copy)
            if report.ok:
                break
            again = await screen.app.push_screen_wait(
                Confirm(
                    f"{template.id}: {len(report.errors)} problem(s):\n{_problems(report)}\n\n"
                    "Edit again? (n: drop the changes)"
                )
            )
            if not again:
                screen.notify(f"{template.id}: unchanged", markup=False)
                return
        await asyncio.to_thread(user.keep, copy, template.path)
    finally:
        user.discard(copy)
    reload(screen, select=template.id)
    warned = len(report.warnings)
    screen.notify(
        f"template {template.id} saved" + (f" ({warned} warning(s))" if warned else ""),
        markup=False,
    )


async def run_editor(screen: TemplatesScreen, path: Path) -> int:
    """Run the editor on PATH with the terminal handed to it (the UI suspended), or, where the
    UI cannot be suspended (a headless run: the tests, or a browser), beside it."""
    command = user.editor_command(path)
    try:
        try:
            with screen.app.suspend():
                return subprocess.run(command, check=False).returncode
        except SuspendNotSupported:
            done = await asyncio.to_thread(
                subprocess.run, command, check=False, stdin=subprocess.DEVNULL
            )
            return done.returncode
    except OSError as err:
        screen.notify(f"cannot run {command[0]}: {err.strerror}", severity="error", markup=False)
        return -1
