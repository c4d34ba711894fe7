"""The job screen's log view under a flood: is the UI still quick to answer keys?

    .venv/bin/python bench/tui_logs.py [--seconds 10] [--rate 50000] [--batch-ms 20] [--parse]

A headless ``run_test(size=(80, 24))`` app holds one ``LogView`` (max_lines 10,000, queue cap
20,000). A producer task feeds ``--rate`` lines per second for ``--seconds``, every
``--batch-ms`` a batch (1,000 lines at the defaults), as an async worker receives them from the
node; if the loop falls behind, the lines that came due meanwhile arrive in the next batches, so
the offered total is always rate x seconds. Every 200 ms a key is sent through the driver, as a
terminal would (``t`` timestamps, which re-renders the 10,000 retained lines; ``k`` up, which
pauses; ``G`` follow); the view's action methods are instrumented, and the latency is the time from
the key being sent to its action starting. Also: the drain tick's cost, frames rendered, the
worst event-loop stall, and peak RSS (VmHWM). Headless means the compositor renders each frame
(every visible line's strip) but nothing is written to a terminal.

``--parse`` builds each LogEntry with ``model_validate`` from a dict inside the producer, as the
HTTP client does, instead of cycling a pool of prebuilt entries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import textual  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402

from nosana_tui.api.models import LogEntry  # noqa: E402
from nosana_tui.ui.widgets.logview import LogView  # noqa: E402

KEYS = [("t", "t"), ("k", "k"), ("G", "G")]
ACTIONS = {"t": "action_toggle_timestamps", "k": "action_scroll", "G": "action_follow"}
WORDS = [
    "GET",
    "POST",
    "/api/v1/jobs",
    "200",
    "404",
    "ms",
    "user=alice",
    "id=",
    "worker",
    "started",
    "request",
    "done",
    "cache",
    "hit",
    "miss",
]


def status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Linux {platform.release()}; "
        f"Python {platform.python_version()}; Textual {textual.__version__}"
    )


def texts(n: int) -> list[str]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14)))
        line = f"2024-05-01T12:00:00.{i % 1000:03d}Z INFO [{i}] {body}"
        if i % 10 == 0:
            line = f"\x1b[33mWARN\x1b[0m {line}"  # some colour, as containers print
        out.append(line)
    return out


def stats(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "-"
    vals = sorted(v * scale for v in values)
    p95 = vals[min(len(vals) - 1, round(0.95 * (len(vals) - 1)))]
    return (
        f"median {statistics.median(vals):7.1f} {unit}  p95 {p95:7.1f} {unit}  "
        f"max {vals[-1]:7.1f} {unit}  (n={len(vals)})"
    )


class BenchApp(App[None]):
    def __init__(self, save_dir: Path) -> None:
        super().__init__()
        self.save_dir = save_dir

    def compose(self) -> ComposeResult:
        yield LogView(id="log", save_dir=self.save_dir)

    def on_mount(self) -> None:
        self.query_one(LogView).focus()


def instrument(view: LogView, name: str, record: Callable[[float, float], None]) -> None:
    original = getattr(view, name)

    def wrapped(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args)
        finally:
            record(start, time.perf_counter())

    setattr(view, name, wrapped)


async def bench(seconds: float, rate: int, batch_ms: float, parse: bool) -> None:
    print(f"machine: {machine()}")
    rss_start = status_kb("VmRSS")
    pool = texts(5_000)
    entries = [
        LogEntry(seq=i, job_id="job", op_id="web", stream="stdout", ts=time.time(), text=t)
        for i, t in enumerate(pool)
    ]
    rss_pool = status_kb("VmRSS")

    pressed: dict[str, deque[float]] = defaultdict(deque)
    latency: dict[str, list[float]] = defaultdict(list)
    action_s: dict[str, list[float]] = defaultdict(list)
    ticks: list[float] = []
    writes: list[int] = []
    stalls: list[float] = []
    frames = 0

    with tempfile.TemporaryDirectory() as tmp:
        app = BenchApp(Path(tmp))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            view = app.query_one(LogView)
            rss_app = status_kb("VmRSS")

            for key, action in ACTIONS.items():

                def record(start: float, end: float, key: str = key) -> None:
                    if pressed[key]:
                        latency[key].append(start - pressed[key].popleft())
                        action_s[key].append(end - start)

                instrument(view, action, record)
            # The timer holds the bound _tick; _tick looks _drain up on the instance.
            instrument(view, "_drain", lambda start, end: ticks.append(end - start))
            write_lines = view.lines.write_lines

            def counted(lines: list[str], scroll_end: bool | None = None) -> Any:
                writes.append(len(lines))
                return write_lines(lines, scroll_end)

            view.lines.write_lines = counted  # type: ignore[method-assign,assignment]
            refresh = app.screen._compositor_refresh

            def counted_refresh() -> None:
                nonlocal frames
                frames += 1
                refresh()

            app.screen._compositor_refresh = counted_refresh  # type: ignore[method-assign]

            done = asyncio.Event()

            async def producer() -> int:
                per_batch = max(1, int(rate * batch_ms / 1000))
                start = time.perf_counter()
                sent = seq = 0
                total = int(rate * seconds)
                while sent < total:
                    due = min(total, int(rate * (time.perf_counter() - start)))
                    while sent < due:
                        n = min(per_batch, due - sent)
                        if parse:
                            now = time.time()
                            batch = [
                                LogEntry.model_validate(
                                    {
                                        "seq": seq + i,
                                        "job_id": "job",
                                        "op_id": "web",
                                        "stream": "stdout",
                                        "ts": now,
                                        "text": pool[(seq + i) % len(pool)],
                                    }
                                )
                                for i in range(n)
                            ]
                        else:
                            batch = [entries[(seq + i) % len(entries)] for i in range(n)]
                        view.feed(batch)
                        sent += n
                        seq += n
                    await asyncio.sleep(batch_ms / 1000)
                done.set()
                return sent

            async def keys() -> None:
                driver = app._driver
                assert driver is not None
                i = 0
                while not done.is_set():
                    await asyncio.sleep(0.2)
                    key, char = KEYS[i % len(KEYS)]
                    i += 1
                    pressed[key].append(time.perf_counter())
                    event = events.Key(key, char)
                    event.set_sender(app)
                    driver.send_message(event)

            async def loop_watch() -> None:
                while not done.is_set():
                    before = time.perf_counter()
                    await asyncio.sleep(0.01)
                    stalls.append(time.perf_counter() - before - 0.01)

            t0 = time.perf_counter()
            sent, _, _ = await asyncio.gather(producer(), keys(), loop_watch())
            produced_s = time.perf_counter() - t0
            while view.pending:
                await pilot.pause(0.01)
            drained_s = time.perf_counter() - t0
            await pilot.pause(0.3)  # the last keys' actions
            shown = len(view.lines.lines)
            dropped = view.dropped

    peak = status_kb("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"offered {sent:,} lines in {produced_s:.2f} s ({sent / produced_s:,.0f}/s), "
        f"{'parsed per line' if parse else 'prebuilt entries'}; all drained after {drained_s:.2f} s"
    )
    print(f"dropped by the queue cap: {dropped:,}; rows retained: {shown:,}")
    print(
        f"write_lines calls (drains and re-renders): {len(writes)} (median {statistics.median(writes):,.0f} rows each); "
        f"frames rendered: {frames} ({frames / drained_s:.0f}/s)"
    )
    print(f"drain per tick:    {stats(ticks)}")
    print(f"loop stall (10ms): {stats(stalls)}")
    every = [v for key in latency for v in latency[key]]
    print(f"key -> action, all: {stats(every)}")
    for key, action in ACTIONS.items():
        print(f"  {key} {action:26} latency {stats(latency[key])}")
        print(f"  {'':28} runs    {stats(action_s[key])}")
    print(
        f"RSS: start {rss_start / 1024:.0f} MiB, +entry pool {rss_pool / 1024:.0f} MiB, "
        f"app up {rss_app / 1024:.0f} MiB; peak (VmHWM) {peak / 1024:.0f} MiB "
        f"(ru_maxrss {maxrss / 1024:.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--batch-ms", type=float, default=20.0)
    parser.add_argument("--parse", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.seconds, args.rate, args.batch_ms, args.parse))


if __name__ == "__main__":
    main()
