"""Where the time of ``nosana-tui run bench/pipeline.json --wait ready`` goes, phase by phase
(a diagnostic beside bringup.py; it prints figures, changes nothing in nosana_tui/).

    .venv/bin/python bench/cli_breakdown.py [-n 5]

Each repetition is a fresh interpreter (like the real CLI) that times: the imports of the CLI and the client (the commands import the rest when they run, so part of
the import time now falls into ``load_job``),
reading and validating the file (``load_job``), ``connect`` (one ``GET /``), ``submit``, and the
SSE wait until every op is ready; then the job is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, docker_cleanup_job, print_machine, start_agent

CHILD = r"""
import time, sys, json, asyncio
t0 = time.perf_counter()
from nosana_tui.cli import main as _m
from nosana_tui.cli import jobs
from nosana_tui.client.local import connect
from nosana_tui.client.node import job_ready
t_import = time.perf_counter()

async def go():
    t = {}
    a = time.perf_counter()
    definition, name, source = jobs.load_job(sys.argv[1], {})
    b = time.perf_counter(); t["load_job (read + validate)"] = b - a
    client = await connect(jobs.paths(), None)
    c = time.perf_counter(); t["connect (GET /)"] = c - b
    view = await client.submit(definition, name, source)
    d = time.perf_counter(); t["submit (POST /api/jobs)"] = d - c
    await client.wait(view.id, job_ready)
    e = time.perf_counter(); t["wait until ready (SSE)"] = e - d
    await client.close()
    return view.id, t

job_id, t = asyncio.run(go())
t_end = time.perf_counter()
print(json.dumps({"job": job_id, "imports": t_import - t0, **t, "in-process total": t_end - t0}))
"""


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args()
    print_machine()
    agent = await start_agent()
    rows: list[dict[str, float]] = []
    try:
        for i in range(args.n + 1):
            t0 = time.perf_counter()
            out = subprocess.run(
                [PY, "-c", CHILD, str(ROOT / "bench" / "pipeline.json")],
                capture_output=True,
                text=True,
                env=agent.env,
                cwd=ROOT,
            )
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            data = json.loads(out.stdout)
            job = data.pop("job")
            async with agent.client() as client:
                await client.remove(job)
            docker_cleanup_job(job)
            data["process wall (incl. interpreter start/exit)"] = wall
            if i:  # the first is a warm-up
                rows.append(data)
    finally:
        agent.stop()
    print(f"\nnosana-tui run --wait ready, in phases (median of {args.n}, after 1 warm-up):")
    for key in rows[0]:
        print(f"  {key:48} {statistics.median(r[key] for r in rows) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
