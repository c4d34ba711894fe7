"""A shell in a running op from the UI (``s`` in the job screen): the app hands the terminal to
``nosana-tui exec`` (the same command line a person types, as a child process: raw mode, the
window's size and its changes, the exit code) and takes it back when the shell ends
(``App.suspend``). The shell's output goes to the terminal alone, never into a pane of the UI.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from textual.app import App, SuspendNotSupported

from nosana_tui.api.models import OpStatus, OpView


def exec_command(url: str, job_id: str, op_id: str) -> list[str]:
    """``nosana-tui exec --node URL JOB OP``: ``sh`` in the op, with a terminal."""
    return [sys.executable, "-m", "nosana_tui", "exec", "--node", url, job_id, op_id]


def open_shell(app: App[Any], url: str, job_id: str, op: OpView) -> int | None:
    """The shell's exit code, or None when there was none to open (the app says why)."""
    if op.status is not OpStatus.RUNNING:
        app.notify(
            f"op {op.id} is {op.status.value}, not running: a shell runs only in a running op",
            severity="warning",
            markup=False,
        )
        return None
    try:
        with app.suspend():
            sys.stdout.write(
                f"nosana-tui: sh in op {op.id} of job {job_id}; `exit` returns to the UI\r\n"
            )
            sys.stdout.flush()
            code = subprocess.call(exec_command(url, job_id, op.id))
    except SuspendNotSupported:
        app.notify(
            f"no terminal to hand to a shell here: run `nosana-tui exec {job_id} {op.id}` in one",
            severity="warning",
            markup=False,
        )
        return None
    except OSError as err:
        app.notify(f"shell in {op.id}: {err}", severity="error", markup=False)
        return None
    if code == 0:
        app.notify(f"shell in {op.id} ended", markup=False)
    else:
        app.notify(
            f"shell in {op.id} ended with exit code {code}", severity="warning", markup=False
        )
    return code
