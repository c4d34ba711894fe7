"""Start-up of the terminal UI to its first drawn frame, headless, at 80x24.

Measures, in a fresh interpreter each time, the wall time from before ``import nosana_tui.ui.app``
to the moment the Templates screen has been painted once (``on_mount`` of the screen has run and
the compositor has rendered). No node answers (autostart off): what the person sees first does
not wait for one. Prints the median, min and max of N runs and the machine.

    .venv/bin/python bench/tui_startup.py [-n 10]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys

CHILD = r"""
import time
t0 = time.perf_counter()
import asyncio, tempfile
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
        print(time.perf_counter() - t0)
        app.exit()

asyncio.run(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    times = []
    for _ in range(args.n):
        out = subprocess.run(
            [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    print(
        f"start-up to first frame, n={args.n}: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    main()
