"""Log volume: an op that prints 1,000,000 lines; how fast the agent follows and stores them while
the op runs, how fast ``nosana-tui logs`` reads them back compared with ``docker logs`` (the
engine's own rate on this machine: the floor), and the agent's memory. Not a test: it prints
figures.

    .venv/bin/python bench/logs.py [-n 5] [--lines 1000000]

- **Follow rate**: while the op runs, the benchmark asks the agent for the op's newest stored
  line every 0.25 s; the rate is the slope of those line numbers over the time the container
  ran. (Lines read only after the op ended, by the follower's catch-up read, do not count.)
- **Reads**: each reader runs as a process with stdout (and stderr) to /dev/null, 1 warm-up + n
  timed; lines/s = lines it printed / median time. ``nosana-tui logs`` reads every line the agent
  kept (all of them within ``NOSANA_TUI_LOG_RETENTION``, 1 GiB a job; agents before it kept the
  last 25,000), ``docker logs`` the engine's json-file log; the ``--tail`` rows compare like for
  like.
- **Memory**: the agent's VmRSS every 20 ms from /proc/PID/status, per phase; VmHWM at the end.

The agent runs the code of the checkout this script lies in: to measure the code before a
change, run a copy of this script from a checkout of it (``git worktree add /tmp/before HEAD``).
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

from nosana_tui.api.models import JobStatus
from nosana_tui.backends.docker import _ts


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


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def docker_follow(dclient: docker.DockerClient, lines: int) -> tuple[float | None, float, float]:
    """The engine's own floor for following: ``docker logs -f`` (the Go CLI, output counted and
    dropped) on a container like the op's. Returns its follow rate (as ``follow_rate``), the
    time from start to its last line, and the container's run time."""
    container = dclient.containers.create(
        "busybox:latest", ["seq", "1", str(lines)], labels={"nosana-tui-bench": "logs"}
    )
    progress: list[tuple[float, int]] = []
    try:
        wall0 = time.time()
        container.start()
        reader = subprocess.Popen(
            ["docker", "logs", "-f", container.id],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert reader.stdout is not None
        count = 0
        while chunk := reader.stdout.read1(1 << 20):
            count += chunk.count(b"\n")
            progress.append((time.time() - wall0, count))
        reader.wait()
        container.reload()
        state = container.attrs["State"]
        started, finished = _ts(state["StartedAt"]) or wall0, _ts(state["FinishedAt"]) or wall0
        ran = (started - wall0, finished - wall0)
        return follow_rate(progress, *ran), progress[-1][0] if progress else 0.0, ran[1] - ran[0]
    finally:
        container.remove(force=True)


def follow_rate(progress: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Lines/s: the slope of the stored line numbers sampled between ``start`` and ``end``
    (seconds since submit: when the container ran), first sample with a line to the last."""
    inside = [(t, n) for t, n in progress if start <= t <= end and n > 0]
    if len(inside) < 2:
        return None
    (ta, la), (tb, lb) = inside[0], inside[-1]
    return (lb - la) / (tb - ta) if tb > ta else None


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="timed reads of each kind (default 5)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print_machine()
    print(f"  code            {ROOT}")
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
            # --- following -----------------------------------------------------------------------
            sampler.phase = "ingest"
            t0 = time.perf_counter()
            wall0 = time.time()
            view = await client.submit(definition, "logs-bench", "bench/logs.py")
            job_id = view.id
            cname = f"nosana-{job_id}-printer"
            cpu0 = agent.cpu_s()
            t_done = t_last = None
            last_text = ""
            progress: list[tuple[float, int]] = []  # (t, highest line stored)
            while time.perf_counter() - t0 < 300:
                view = await client.job(job_id)
                if t_done is None and view.status is not JobStatus.RUNNING:
                    t_done = time.perf_counter() - t0
                tail = [e async for e in client.logs(job_id, "printer", tail=1)]
                last_text = tail[-1].text if tail and not isinstance(tail[-1], int) else ""
                if last_text.isdigit():
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
            ran = ((started or wall0) - wall0, (finished or wall0) - wall0)
            stored = [e async for e in client.logs(job_id, "printer") if not isinstance(e, int)]
            at_exit = max((n for t, n in progress if t <= ran[1]), default=0)
            rate = follow_rate(progress, *ran)
            print(f"\njob {job_id}: op printer ran `seq 1 {args.lines}` in container {cname}")
            print(
                f"  container ran (StartedAt -> FinishedAt):           {container_s:7.3f}s "
                f"-> it printed {args.lines / container_s:,.0f} lines/s"
            )
            print(
                f"  FOLLOW RATE (lines stored while it ran):          "
                f"{f'{rate:,.0f} lines/s' if rate else 'not measured (too short)'}"
            )
            print(f"  lines stored when the container exited:          {at_exit:,}")
            done = t_done if t_done is not None else float("nan")
            print(f"  submit -> job ended ({view.status.value}, as the agent saw it): {done:7.3f}s")
            if t_last is not None:
                print(f"  submit -> last line ({args.lines:,}) stored:        {t_last:7.3f}s")
            else:
                print(f"  the last line never reached the store (last: {last_text!r})")
            print(f"  agent CPU time from submit until settled:        {cpu_ingest:7.2f}s")
            print(
                f"  lines the agent kept for the op: {len(stored):,} "
                f"(first {stored[0].text if stored else '-'!s}, "
                f"last {stored[-1].text if stored else '-'!s})"
            )
            data = agent.tmp / "data"
            print(f"  agent data folder (SQLite + log files): {folder_bytes(data) / 2**20:.1f} MiB")
            print(f"  agent peak RSS while ingesting: {sampler.peak('ingest') / 1024:.1f} MiB")
            del stored

            # --- the engine's own floor: `docker logs -f` on the same output --------------------
            sampler.phase = "docker"
            floor, floor_all, floor_ran = docker_follow(dclient, args.lines)
            print(
                f"\ndocker floor: `docker logs -f` on a container like it (ran {floor_ran:.3f}s): "
                f"{f'{floor:,.0f} lines/s' if floor else '-'} while it ran, all "
                f"{args.lines:,} lines after {floor_all:.3f}s"
            )

            # --- reading back --------------------------------------------------------------------
            sampler.phase = "read"
            readers = {
                "nosana-tui logs JOB printer": agent.cli("logs", job_id, "printer"),
                "nosana-tui logs JOB printer --tail 25000": agent.cli(
                    "logs", job_id, "printer", "--tail", "25000"
                ),
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
            n = 0
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
                    f"  {key:42} {lines:>9,} lines ({first}..{last})  {fmt(times[key])}"
                    f"  -> {lines / med:>11,.0f} lines/s"
                )
            med = statistics.median(api_times)
            print(
                f"  {'NodeClient.logs (API, in-process)':42} {n:>9,} lines"
                f"{'':>17}{fmt(api_times)}  -> {n / med:>11,.0f} lines/s"
            )
            print(
                f"  {'NodeClient.log_text (API, in-process)':42} {n:>9,} lines"
                f"{'':>17}{fmt(text_times)}  -> {n / statistics.median(text_times):>11,.0f} lines/s"
            )
            ours = counts["nosana-tui logs JOB printer"][0] / statistics.median(
                times["nosana-tui logs JOB printer"]
            )
            theirs = counts["docker logs C"][0] / statistics.median(times["docker logs C"])
            print(
                f"\ntarget: follow >= 100,000 lines/s: "
                f"{f'{rate:,.0f}' if rate else '-'} lines/s -> "
                f"{'holds' if rate and rate >= 100_000 else 'does NOT hold'} (the docker floor in "
                f"this run: `docker logs -f` {f'{floor:,.0f}' if floor else '-'} lines/s while "
                f"the container ran, `docker logs` reads {theirs:,.0f} lines/s)"
            )
            print(
                f"target: `nosana-tui logs` at >= half the rate of `docker logs`: "
                f"{ours:,.0f} / {theirs:,.0f} lines/s = {ours / theirs:.2f}x "
                f"-> {'holds' if ours >= theirs / 2 else 'does NOT hold'}"
            )
            print(
                f"\nagent memory: after start-up / peak following / peak reading / VmHWM: "
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
