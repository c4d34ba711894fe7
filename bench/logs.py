"""Log volume: an op that prints 1,000,000 lines; how fast the agent takes them in, how fast
``nosana-tui logs`` reads them back compared with ``docker logs``, and the agent's memory.
Not a test: it prints figures.

    .venv/bin/python bench/logs.py [-n 5] [--lines 1000000]

What each reader reads (they are not the same amount):

- ``nosana-tui logs JOB printer``: the agent keeps the **last 25,000 lines** of an op in SQLite
  (``MAX_LINES_PER_OP``), so this prints at most 25,000 lines.
- ``docker logs nosana-JOB-printer``: the engine's json-file log, **all** the lines.
- ``docker logs --tail 25000 nosana-JOB-printer``: the like-for-like comparison.

Each is run as a process with stdout (and stderr) to /dev/null, timed from spawn to exit, ``n``
times after one warm-up; lines/s = lines it printed / median time. The agent's RSS is sampled
from /proc/PID/status every 20 ms during the whole run; VmHWM is read at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docker
from _common import ROOT, Agent, docker_cleanup_job, fmt, print_machine, start_agent

from nosana_tui.backends.docker import _ts
from nosana_tui.spec.status import JobStatus


class Sampler(threading.Thread):
    """VmRSS of the agent every 20 ms, tagged with the phase the benchmark is in."""

    def __init__(self, agent: Agent) -> None:
        super().__init__(daemon=True)
        self.agent = agent
        self.phase = "idle"
        self.samples: list[tuple[float, str, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.perf_counter(), self.phase, self.agent.rss_kb()))
            self.halt.wait(0.02)

    def peak(self, phase: str) -> int:
        return max((kb for _, p, kb in self.samples if p == phase), default=0)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    took = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> {out.returncode}")
    return took


def count_lines(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Lines printed (stdout + stderr), first and last line."""
    out = subprocess.run(cmd, capture_output=True, env=env, cwd=ROOT)
    lines = (out.stdout + out.stderr).splitlines()
    return len(lines), (lines[0].decode() if lines else ""), (lines[-1].decode() if lines else "")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="timed reads of each kind (default 5)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print_machine()
    dclient = docker.from_env()
    agent = await start_agent()
    print(
        f"\nagent start-up: {agent.startup_s:.3f}s; RSS after start-up: "
        f"{agent.rss_kb() / 1024:.1f} MiB"
    )
    sampler = Sampler(agent)
    sampler.start()
    definition = {
        "version": "0.1",
        "type": "container",
        "ops": [
            {
                "type": "container/run",
                "id": "printer",
                "args": {"image": "busybox:latest", "cmd": f"seq 1 {args.lines}"},
            }
        ],
    }
    job_id = ""
    try:
        async with agent.client() as client:
            # --- ingestion ---------------------------------------------------------------------
            sampler.phase = "ingest"
            t0 = time.perf_counter()
            view = await client.submit(definition, "logs-bench", "bench/logs.py")
            job_id = view.id
            cname = f"nosana-{job_id}-printer"
            cpu0 = agent.cpu_s()
            t_done = t_last = None
            last_text = ""
            progress: list[tuple[float, int]] = []  # (t, highest line stored) while it runs
            while time.perf_counter() - t0 < 240:
                view = await client.job(job_id)
                if t_done is None and view.status is not JobStatus.RUNNING:
                    t_done = time.perf_counter() - t0
                tail = [e async for e in client.logs(job_id, "printer", tail=1)]
                last_text = tail[-1].text if tail and not isinstance(tail[-1], int) else ""
                if t_done is None and last_text.isdigit():
                    progress.append((time.perf_counter() - t0, int(last_text)))
                if t_last is None and last_text == str(args.lines):
                    t_last = time.perf_counter() - t0
                if t_done is not None and (
                    t_last is not None or time.perf_counter() - t0 > t_done + 10
                ):
                    break
                await asyncio.sleep(0.25)
            sampler.phase = "settled"
            cpu_ingest = agent.cpu_s() - cpu0
            attrs = dclient.api.inspect_container(cname)
            started, finished = _ts(attrs["State"]["StartedAt"]), _ts(attrs["State"]["FinishedAt"])
            container_s = (finished or 0) - (started or 0)
            stored = [e async for e in client.logs(job_id, "printer") if not isinstance(e, int)]
            print(f"\njob {job_id}: op printer ran `seq 1 {args.lines}` in container {cname}")
            print(f"  container ran (StartedAt -> FinishedAt):         {container_s:7.3f}s")
            print(
                f"  submit -> job ended ({view.status.value}, as the agent saw it):   "
                f"{t_done if t_done is not None else float('nan'):7.3f}s"
            )
            if t_last is not None:
                print(
                    f"  submit -> last line ({args.lines}) in the agent's store: {t_last:7.3f}s "
                    f"-> {args.lines / t_last:,.0f} lines/s (the tail comes from the end-of-op read, "
                    "not from following)"
                )
            else:
                print(
                    f"  the last line ({args.lines:,}) never reached the agent's store: "
                    f"{args.lines - int(last_text or 0):,} lines were never read "
                    f"(its last stored line: {last_text!r})"
                )
            if len(progress) >= 2:
                (ta, la), (tb, lb) = progress[0], progress[-1]
                print(
                    f"  agent ingest rate while the op ran (line {la:,} at {ta:.2f}s -> "
                    f"{lb:,} at {tb:.2f}s): {(lb - la) / (tb - ta):,.0f} lines/s"
                )
            print(f"  agent CPU time from submit until settled: {cpu_ingest:.2f}s")
            print(
                f"  lines the agent kept for the op: {len(stored):,} "
                f"(first {stored[0].text if stored else '-'!s}, "
                f"last {stored[-1].text if stored else '-'!s})"
            )
            print(f"  agent peak RSS while ingesting: {sampler.peak('ingest') / 1024:.1f} MiB")

            # --- reading back ------------------------------------------------------------------
            sampler.phase = "read"
            readers = {
                "nosana-tui logs JOB printer": agent.cli("logs", job_id, "printer"),
                "nosana-tui logs JOB printer --tail 1": agent.cli(
                    "logs", job_id, "printer", "--tail", "1"
                ),
                "docker logs C": ["docker", "logs", cname],
                "docker logs --tail 25000 C": ["docker", "logs", "--tail", "25000", cname],
                "docker logs --tail 1 C": ["docker", "logs", "--tail", "1", cname],
            }
            counts = {k: count_lines(cmd, agent.env) for k, cmd in readers.items()}
            times: dict[str, list[float]] = {k: [] for k in readers}
            for i in range(args.n + 1):
                for key, cmd in readers.items():
                    took = timed(cmd, agent.env)
                    if i:
                        times[key].append(took)
            # the API alone, in this process (no CLI start-up, no formatting)
            api_times = []
            for i in range(args.n + 1):
                t = time.perf_counter()
                n = 0
                async for _entry in client.logs(job_id, "printer"):
                    n += 1
                if i:
                    api_times.append(time.perf_counter() - t)
            text_times = []
            for i in range(args.n + 1):
                t = time.perf_counter()
                async for _chunk in client.log_text(job_id, "printer"):
                    pass
                if i:
                    text_times.append(time.perf_counter() - t)
            sampler.phase = "done"
            print(f"\nreading back (stdout to /dev/null; n={args.n} after 1 warm-up):")
            for key in readers:
                lines, first, last = counts[key]
                med = statistics.median(times[key])
                print(
                    f"  {key:38} {lines:>9,} lines ({first}..{last})  {fmt(times[key])}"
                    f"  -> {lines / med:>11,.0f} lines/s"
                )
            med = statistics.median(api_times)
            print(
                f"  {'NodeClient.logs (API, in-process)':38} {n:>9,} lines"
                f"{'':>17}{fmt(api_times)}  -> {n / med:>11,.0f} lines/s"
            )
            print(
                f"  {'NodeClient.log_text (API, in-process)':38} {n:>9,} lines"
                f"{'':>17}{fmt(text_times)}  -> {n / statistics.median(text_times):>11,.0f} lines/s"
            )
            ours = counts["nosana-tui logs JOB printer"][0] / statistics.median(
                times["nosana-tui logs JOB printer"]
            )
            theirs = counts["docker logs C"][0] / statistics.median(times["docker logs C"])
            print(
                f"\ntarget: `nosana-tui logs` at >= half the rate of `docker logs`: "
                f"{ours:,.0f} / {theirs:,.0f} lines/s = {ours / theirs:.2f}x "
                f"-> {'holds' if ours >= theirs / 2 else 'does NOT hold'}"
            )
            print(
                f"\nagent memory: after start-up / peak ingesting / peak reading / VmHWM: "
                f"{sampler.samples[0][2] / 1024:.1f} / {sampler.peak('ingest') / 1024:.1f} / "
                f"{sampler.peak('read') / 1024:.1f} / {agent.hwm_kb() / 1024:.1f} MiB"
            )
            await client.remove(job_id)
            job_id = ""
    finally:
        sampler.halt.set()
        if job_id:
            docker_cleanup_job(job_id)
        agent.stop()
        dclient.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
