"""Prototype (bench only, nosana_tui/ untouched): does the agent keep an op's *last* lines if it
lets the log stream drain to its end instead of closing it when the container dies?

    .venv/bin/python bench/proto_drain.py [--lines 1000000]

Runs the agent in this process (``Agent`` + ``DockerBackend``, no HTTP) twice on a job whose op
prints N lines: as it is, and with ``DockerBackend.follow_logs`` patched so that its ``cancel()``
no longer closes the stream at once but lets the pump threads read on until the engine ends the
stream (it does, once the container has stopped), closing it after 120 s at the latest. Prints
how long the agent took to store the last line, the ingest rate, and what it kept.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import docker_cleanup_job, print_machine

from nosana_tui.backends.docker import DockerBackend
from nosana_tui.engine.runner import Timing
from nosana_tui.node.agent import Agent
from nosana_tui.spec.status import JobStatus

DRAIN_LIMIT = 120.0


def patch_drain() -> None:
    original = DockerBackend.follow_logs

    def follow_logs(self, container_id, since, sink):  # type: ignore[no-untyped-def]
        cancel = original(self, container_id, since, sink)

        def drain_then_cancel() -> None:
            # the prototype: close after DRAIN_LIMIT instead of now; a dead container's stream
            # ends by itself, so the pumps stop on their own once they have read everything
            timer = threading.Timer(DRAIN_LIMIT, cancel)
            timer.daemon = True
            timer.start()

        return drain_then_cancel

    DockerBackend.follow_logs = follow_logs  # type: ignore[method-assign]


async def one(lines: int, label: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        backend = DockerBackend(agent_id="proto-drain")
        agent = Agent(Path(tmp), backend, timing=Timing(stop_timeout=2))
        await agent.startup()
        job_id = ""
        try:
            definition = {
                "version": "0.1",
                "type": "container",
                "ops": [
                    {
                        "type": "container/run",
                        "id": "printer",
                        "args": {"image": "busybox:latest", "cmd": f"seq 1 {lines}"},
                    }
                ],
            }
            t0 = time.perf_counter()
            view = await agent.submit(definition, "proto-drain")
            job_id = view.id
            t_end = t_last = None
            while time.perf_counter() - t0 < 200:
                await asyncio.sleep(0.1)
                if t_end is None and agent.job(job_id).status is not JobStatus.RUNNING:
                    t_end = time.perf_counter() - t0
                last = agent.store.logs(job_id, "printer", tail=1)
                if last and last[-1].text == str(lines):
                    t_last = time.perf_counter() - t0
                    break
                if t_end is not None and time.perf_counter() - t0 > t_end + 15 and label == "as is":
                    break
            kept = agent.store.logs(job_id, "printer")
            print(f"\n{label}:")
            print(f"  submit -> op ended: {t_end:.3f}s" if t_end else "  op did not end")
            if t_last:
                print(
                    f"  submit -> line {lines:,} stored: {t_last:.3f}s "
                    f"(>= {lines / t_last:,.0f} lines/s ingested)"
                )
            else:
                print(f"  line {lines:,} never stored")
            print(
                f"  kept {len(kept):,} lines: {kept[0].text if kept else '-'} .. "
                f"{kept[-1].text if kept else '-'}"
            )
            await agent.remove(job_id)
            job_id = ""
        finally:
            if job_id:
                docker_cleanup_job(job_id)
            await agent.shutdown()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print_machine()
    await one(args.lines, "as is")
    patch_drain()
    await one(args.lines, "prototype: drain the log stream to its end")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
