"""Start-up of ``nosana-tui ps`` and of the terminal UI's first frame, each beside its floor.

Every run is a fresh interpreter; the variants take turns (one of each per round) so that the
load of a busy machine falls on all of them alike. Printed per variant: wall time (median, min,
max) and the CPU time the process used (user + system, median): on a shared machine the CPU
time moves less than the wall time.

- ``python -c pass``: the floor of any command (the interpreter alone).
- ``nosana-tui ps``: ``python -m nosana_tui ps`` against a real agent (started here, on a free
  port, its config and data in a temp folder), from ``Popen`` to exit.
- ``bare Textual``: the floor of the UI: an ``App`` with one ``Static``, headless at 80x24,
  from ``Popen`` to its first frame (``run_test``, one refresh after mount).
- ``UI first frame``: ``NosanaApp`` headless at 80x24 (the Templates section painted, no node
  answering, as ``tui_startup.py`` measures it), from ``Popen`` to its first frame; the child
  imports ``nosana_tui.entry`` first, as the program does.

``--before DIR`` runs ``ps`` and the UI also from another checkout (e.g. ``git archive HEAD |
tar -x -C DIR``), with this virtual environment, for a before/after in the same run.

    .venv/bin/python bench/startup.py [-n 15] [--before DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, print_machine, start_agent

PY = sys.executable

# Prints the wall-clock time (time.time()) at which the first frame was drawn.
BARE = r"""
import asyncio, time
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("nosana-tui", id="hello")

async def main():
    app = Bare()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0)
        print(time.time())
        app.exit()

asyncio.run(main())
"""

UI = r"""
import asyncio, tempfile, time
import nosana_tui.entry  # as the program starts: the entry first, then the UI
from pathlib import Path
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp

async def main():
    root = Path(tempfile.mkdtemp())
    app = NosanaApp(locations=Paths(root / "c", root / "d"), autostart=False,
                    node_url="http://127.0.0.1:9")
    async with app.run_test(size=(80, 24)) as pilot:
        while not app.screen.query("#template-list"):
            await pilot.pause(0)
        await pilot.pause(0)  # one refresh: the first frame is drawn
        print(time.time())
        app.exit()

asyncio.run(main())
"""


def run_once(
    command: list[str], cwd: Path, env: dict[str, str], frame: bool
) -> tuple[float, float]:
    """(seconds to exit, or to the first frame when FRAME; CPU seconds of the process)."""
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
    if frame:
        elapsed = float(out.strip().splitlines()[-1]) - start_wall
    return elapsed, usage.ru_utime + usage.ru_stime


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another checkout to run ps and the UI from")
    args = parser.parse_args()
    print_machine()
    import textual

    print(f"  textual         {textual.__version__}")
    agent = await start_agent()
    env = {**agent.env, "NOSANA_TUI_SKIP_DOCKER": "1"}
    variants: dict[str, tuple[list[str], Path, bool]] = {
        "python -c pass": ([PY, "-c", "pass"], ROOT, False),
        "nosana-tui ps": ([PY, "-m", "nosana_tui", "ps"], ROOT, False),
        "bare Textual first frame": ([PY, "-c", BARE], ROOT, True),
        "UI first frame": ([PY, "-c", UI], ROOT, True),
    }
    if args.before:
        before = args.before.resolve()
        variants["nosana-tui ps (before)"] = ([PY, "-m", "nosana_tui", "ps"], before, False)
        variants["UI first frame (before)"] = ([PY, "-c", UI], before, True)
    results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in variants}
    try:
        for command, cwd, frame in variants.values():  # warm-up: disk caches, .pyc
            run_once(command, cwd, env, frame)
        for _ in range(args.n):
            for name, (command, cwd, frame) in variants.items():
                wall, cpu = run_once(command, cwd, env, frame)
                results[name][0].append(wall)
                results[name][1].append(cpu)
    finally:
        agent.stop()
    print(f"\nn={args.n}, load average after: {os.getloadavg()[0]:.2f}")
    print(f"{'':28} {'wall median':>11} {'min':>7} {'max':>7} {'CPU median':>11}")
    for name, (walls, cpus) in results.items():
        print(
            f"{name:28} {statistics.median(walls):10.3f}s {min(walls):6.3f}s {max(walls):6.3f}s "
            f"{statistics.median(cpus):10.3f}s"
        )
    ps = statistics.median(results["nosana-tui ps"][0])
    bare = statistics.median(results["bare Textual first frame"][0])
    ui = statistics.median(results["UI first frame"][0])
    floor = statistics.median(results["python -c pass"][0])
    print(f"\nps: {ps / floor:.1f}x python -c pass;  UI first frame: {ui / bare:.2f}x bare Textual")


if __name__ == "__main__":
    asyncio.run(main())
