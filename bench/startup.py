"""Start-up of ``nosana-tui ps`` and of the terminal UI's first frame, each beside its floor.

Every run is a fresh interpreter; the variants take turns (one of each per round) so that the
load of a busy machine falls on all of them alike. Printed per variant: wall time (median, min,
max) and the CPU time the process used (user + system, median): on a shared machine the CPU
time moves less than the wall time. For the two first-frame variants also the CPU time used up
to the first frame ("CPU to frame"; the process's own CPU median runs on to its exit, through
whatever the app does right after the frame).

- ``python -c pass``: the floor of any command (the interpreter alone).
- ``python -c 'import httpx'``: the floor of a command that would reach a node through httpx
  (the stub of httpx's own command line in place, as ``nosana_tui.entry`` does).
- ``nosana-tui --version``: the program's own floor (the entry and the CLI's parser).
- ``nosana-tui ps``: ``python -m nosana_tui ps`` against a real agent (started here, on a free
  port, its config and data in a temp folder, one job in it), from ``Popen`` to exit.
- ``nosana-tui logs JOB``: that job's log (a few lines), one request, to exit.
- ``bare Textual``: the floor of the UI: an ``App`` with one ``Static``, headless at 80x24,
  from ``Popen`` to its first frame. The first frame is Textual's first ``App._display`` of a
  screen holding the widget (the update is rendered; headless, not written); before
  2026-12-01 04:00 it was "the widget is queried, then one ``pilot.pause(0)``", which let the
  app run whatever it had queued after the frame (the UI's template preview) into the figure.
- ``UI first frame``: ``NosanaApp`` headless at 80x24 (the Templates section painted, no node
  answering, as ``tui_startup.py`` measures it), from ``Popen`` to its first frame; the child
  imports ``nosana_tui.entry`` first, as the program does. The node is the local one
  (``NOSANA_TUI_NODE`` at a port where nothing answers, no autostart), as ``nosana-tui`` with
  no arguments starts; before 2026-12-01 it was ``node_url=`` that port, a ``--node URL`` start
  (which also lists the Nosana network before the first frame, to tell whether URL is it).
  The bench agent's ``NOSANA_TUI_STOP_TIMEOUT`` is taken out of the child's environment (until
  2026-12-01 05:37 it was left in): with only the theme, keys, node, folders and token set,
  the UI reads its theme and keys without pydantic-settings (``config.quick_ui_settings``).
- ``UI first frame, settings whole``: the same with ``NOSANA_TUI_STOP_TIMEOUT=2`` set, a
  setting the quick reading leaves to the settings: they are read whole before the frame.

``--before DIR`` runs ``ps`` and the UI also from another checkout (e.g. ``git archive HEAD |
tar -x -C DIR``), with this virtual environment, for a before/after in the same run.
``--only ps,ui,...`` keeps the variants whose names contain one of the words.

Bytecode: every child writes and reads its ``.pyc`` files under a temp ``PYTHONPYCACHEPREFIX``
(filled by the warm-up round), with ``PYTHONDONTWRITEBYTECODE`` taken out of its environment:
an installed program has its bytecode, and a shell that sets that variable would otherwise
have every run compile the project's sources again (~0.1 s of ``ps``).

    .venv/bin/python bench/startup.py [-n 15] [--before DIR] [--only WORDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, print_machine, start_agent

PY = sys.executable

# Both first-frame children mark the first frame where Textual draws it: the first
# ``App._display`` of a screen that holds FRAME_ID (its update is rendered before the call;
# headless, nothing is written). They print its wall-clock time (time.time()) and the CPU time
# the process had used by then (time.process_time()).
MARK = r"""
import time
from textual.app import App

_frame = []
_display = App._display

def _display_marked(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is not None and not _frame and screen.query(FRAME_ID):
        _frame.append((time.time(), time.process_time()))

App._display = _display_marked
"""

BARE = r"""
import asyncio
from textual.app import App
from textual.widgets import Static
FRAME_ID = "#hello"
# MARK

class Bare(App):
    def compose(self):
        yield Static("nosana-tui", id="hello")

async def main():
    app = Bare()
    async with app.run_test(size=(80, 24)) as pilot:
        while not _frame:
            await pilot.pause(0)
        app.exit()
    print(*_frame[0])

asyncio.run(main())
""".replace("# MARK\n", MARK)

UI = r"""
import asyncio, os, tempfile
os.environ["NOSANA_TUI_NODE"] = "http://127.0.0.1:9"  # the local node; nothing answers there
os.environ.pop("NOSANA_TUI_STOP_TIMEOUT", None)  # the bench agent's: a person's UI has none
# WHOLE
import nosana_tui.entry  # as the program starts: the entry first, then the UI
from pathlib import Path
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
FRAME_ID = "#template-list"
# MARK

async def main():
    root = Path(tempfile.mkdtemp())
    app = NosanaApp(locations=Paths(root / "c", root / "d"), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        while not _frame:
            await pilot.pause(0)
        app.exit()
    print(*_frame[0])

asyncio.run(main())
""".replace("# MARK\n", MARK)

# a setting of the agent's in the environment: the UI reads the settings whole (pydantic-settings)
UI_WHOLE = UI.replace("# WHOLE\n", 'os.environ["NOSANA_TUI_STOP_TIMEOUT"] = "2"\n')


def run_once(
    command: list[str], cwd: Path, env: dict[str, str], frame: bool
) -> tuple[float, float, float]:
    """(seconds to exit, or to the first frame when FRAME; CPU seconds of the process; CPU
    seconds to the first frame when FRAME, else to exit)."""
    start_wall, start = time.time(), time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"{command[:3]} failed ({status}): {err[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    if frame:
        wall_mark, cpu_mark = out.strip().splitlines()[-1].split()
        return float(wall_mark) - start_wall, cpu, float(cpu_mark)
    return elapsed, cpu, cpu


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another checkout to run ps and the UI from")
    parser.add_argument("--only", help="comma-separated words: the variants whose names have one")
    args = parser.parse_args()
    print_machine()
    import textual

    print(f"  textual         {textual.__version__}")
    print(f"  load average    {' '.join(f'{x:.2f}' for x in os.getloadavg())} (before)")
    agent = await start_agent()
    env = {**agent.env, "NOSANA_TUI_SKIP_DOCKER": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="nosana-bench-pyc-")
    job = _a_job(env)
    ps = ["-m", "nosana_tui", "ps"]
    logs = ["-m", "nosana_tui", "logs", job]
    httpx = "import sys; sys.modules['httpx._main'] = None; import httpx"
    variants: dict[str, tuple[list[str], Path, bool]] = {
        "python -c pass": ([PY, "-c", "pass"], ROOT, False),
        "python -c 'import httpx'": ([PY, "-c", httpx], ROOT, False),
        "nosana-tui --version": ([PY, "-m", "nosana_tui", "--version"], ROOT, False),
        "nosana-tui ps": ([PY, *ps], ROOT, False),
        "nosana-tui logs JOB": ([PY, *logs], ROOT, False),
        "bare Textual first frame": ([PY, "-c", BARE], ROOT, True),
        "UI first frame": ([PY, "-c", UI], ROOT, True),
        "UI first frame, settings whole": ([PY, "-c", UI_WHOLE], ROOT, True),
    }
    if args.before:
        before = args.before.resolve()
        variants["nosana-tui ps (before)"] = ([PY, *ps], before, False)
        variants["nosana-tui logs JOB (before)"] = ([PY, *logs], before, False)
        variants["UI first frame (before)"] = ([PY, "-c", UI], before, True)
    if args.only:
        words = args.only.split(",")
        variants = {k: v for k, v in variants.items() if any(w in k for w in words)}
    results: dict[str, tuple[list[float], list[float], list[float]]] = {
        k: ([], [], []) for k in variants
    }
    try:
        for command, cwd, frame in variants.values():  # warm-up: disk caches, .pyc
            run_once(command, cwd, env, frame)
        for _ in range(args.n):
            for name, (command, cwd, frame) in variants.items():
                wall, cpu, cpu_frame = run_once(command, cwd, env, frame)
                results[name][0].append(wall)
                results[name][1].append(cpu)
                results[name][2].append(cpu_frame)
    finally:
        subprocess.run([PY, "-m", "nosana_tui", "rm", job], env=env, capture_output=True)
        agent.stop()
    loads = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nn={args.n}, load average after: {loads}")
    heads = ("wall median", "min", "max", "CPU median", "CPU to frame")
    print(f"{'':32} {heads[0]:>11} {heads[1]:>7} {heads[2]:>7} {heads[3]:>11} {heads[4]:>12}")
    for name, (walls, cpus, cpu_frames) in results.items():
        to_frame = f"{statistics.median(cpu_frames):11.3f}s" if frame_of(name) else ""
        print(
            f"{name:32} {statistics.median(walls):10.3f}s {min(walls):6.3f}s {max(walls):6.3f}s "
            f"{statistics.median(cpus):10.3f}s {to_frame}"
        )


def frame_of(name: str) -> bool:
    return "first frame" in name


def _a_job(env: dict[str, str]) -> str:
    """A job that prints a few lines and ends, on the agent: ``ps`` has a row, ``logs`` text."""
    job = Path(env["PYTHONPYCACHEPREFIX"]) / "job.json"
    job.write_text(
        '{"version": "0.1", "type": "container", "ops": [{"type": "container/run", "id": "hello",'
        ' "args": {"image": "busybox:latest", "cmd": ["sh", "-c", "seq 1 20"]}}]}'
    )
    done = subprocess.run(
        [PY, "-m", "nosana_tui", "run", str(job), "--wait", "done"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    listing = subprocess.run(
        [PY, "-m", "nosana_tui", "ps"], env=env, capture_output=True, text=True, check=True
    )
    rows = listing.stdout.splitlines()[1:]
    if not rows:
        raise RuntimeError(f"no job: {done.stdout}{done.stderr}")
    return rows[0].split()[0]


if __name__ == "__main__":
    asyncio.run(main())
