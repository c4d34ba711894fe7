"""Bring-up and tear-down of the seeds' multi-stage pipeline: nosana-tui vs docker-compose vs a
plain ``docker run`` script. Not a test: it prints figures.

    .venv/bin/python bench/bringup.py [-n 5] [--warmup 1] [--only nosana-api,compose-1s,...]
                                      [--delay SECONDS]

Variants (run round-robin, so drift and other people's load hit them all alike):

- ``nosana-api``: a real agent (``python -m nosana_tui node serve``, started once, not timed
  here but reported); ``NodeClient.submit`` then ``NodeClient.wait(job_ready)`` (SSE); tear-down
  ``NodeClient.remove`` (the agent's ``rm``).
- ``nosana-cli``: ``nosana-tui run bench/pipeline.json --wait ready`` and ``nosana-tui rm JOB``
  as processes (Python start-up and imports included, like docker-compose's own).
- ``compose-1s``: ``docker-compose up -d`` of bench/docker-compose.yml (health-check interval
  1 s), then polling the engine every 20 ms until all four containers are healthy; tear-down
  ``docker-compose down -t 0``.
- ``compose-250ms``: the same with a 250 ms interval (nosana-tui's first start-up interval).
- ``script``: bench/pipeline.sh up (``docker run -d`` + curl polling every 0.25 s); tear-down
  bench/pipeline.sh down (``docker rm -f`` + ``docker network rm``).
- ``nosana-proto`` (not by default): as ``nosana-api``, on a second agent started through
  bench/proto_agent.py, whose start-up health checks poll every 0.25 s instead of backing off
  to 2 s (a prototype of a fix; nosana_tui/ unchanged).

"Ready" is the same for all: every one of the four ops answers HTTP 200 on its port.
``--delay S`` makes every service sleep S seconds before it listens (all variants alike; default
0), to see how each tool's polling cadence copes with a service that is not up at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docker
from _common import PY, ROOT, Agent, docker_cleanup_job, fmt, free_port, print_machine, start_agent

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.client.node import job_ready

BENCH = ROOT / "bench"
JOB_FILE = BENCH / "pipeline.json"
COMPOSE_FILE = BENCH / "docker-compose.yml"
SCRIPT = BENCH / "pipeline.sh"
OPS = ["database", "redis", "api-server", "web-frontend"]
INFRA, APP = OPS[:2], OPS[2:]
VARIANTS = ["nosana-api", "nosana-cli", "compose-1s", "compose-250ms", "script", "nosana-proto"]
DEFAULT = VARIANTS[:5]


class BenchError(Exception):
    pass


def run(cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    if check and out.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} -> {out.returncode}: {out.stderr.strip()[-800:]}")
    return took, out.stdout


# --- nosana-tui -----------------------------------------------------------------------------------


def _phases(view: JobView, logs: list[tuple[float, str]], wall0: float, wall_seen: float) -> dict:
    """Where the time went, from the agent's own system log lines (its clock = ours)."""
    ts: dict[str, float] = {}
    for stamp, text in logs:
        for stage in ("infrastructure", "application"):
            if text == f"stage {stage} starts":
                ts[f"stage:{stage}"] = stamp
        for op in OPS:
            if text.startswith(f"[{op}] starting container"):
                ts[f"start:{op}"] = stamp
            elif text.startswith(f"[{op}] container ") and text.endswith(" started"):
                ts[f"started:{op}"] = stamp
            elif text.startswith(f"[{op}] health checks passed"):
                ts[f"ready:{op}"] = stamp
    need = ["stage:infrastructure", "stage:application"] + [
        f"{k}:{op}" for k in ("start", "started", "ready") for op in OPS
    ]
    if any(k not in ts for k in need):
        return {}
    infra_started = max(ts[f"started:{o}"] for o in INFRA)
    infra_ready = max(ts[f"ready:{o}"] for o in INFRA)
    app_started = max(ts[f"started:{o}"] for o in APP)
    app_ready = max(ts[f"ready:{o}"] for o in APP)
    return {
        "submit -> stage 1 starts (HTTP, validate, SQLite, network)": ts["stage:infrastructure"]
        - wall0,
        "stage 1 starts -> both containers started (docker API)": infra_started
        - ts["stage:infrastructure"],
        "containers started -> both healthy (health polling)": infra_ready - infra_started,
        "stage 1 ready -> stage 2 starts": ts["stage:application"] - infra_ready,
        "stage 2 starts -> both containers started (docker API)": app_started
        - ts["stage:application"],
        "containers started -> both healthy (health polling) ": app_ready - app_started,
        "last op ready -> client sees it (SSE)": wall_seen - app_ready,
        # per-op docker time (start request -> started), and started -> healthy
        "_docker_per_op": [ts[f"started:{o}"] - ts[f"start:{o}"] for o in OPS],
        "_health_per_op": [ts[f"ready:{o}"] - ts[f"started:{o}"] for o in OPS],
    }


async def nosana_api(agent: Agent, definition: dict) -> dict:
    async with agent.client() as client:
        job_id = None
        try:
            wall0 = time.time()
            t0 = time.perf_counter()
            view = await client.submit(definition, "bench", "bench/pipeline.json")
            job_id = view.id
            t_submit = time.perf_counter() - t0
            final = await client.wait(job_id, job_ready)
            up = time.perf_counter() - t0
            wall_seen = time.time()
            if final.status is not JobStatus.RUNNING or not all(o.ready for o in final.ops):
                raise BenchError(f"job not ready: {final.status} {final.message}")
            logs = [
                (e.ts, e.text)
                async for e in client.logs(job_id, "system")
                if not isinstance(e, int)
            ]
            phases = _phases(final, logs, wall0, wall_seen)
            t1 = time.perf_counter()
            await client.remove(job_id)
            down = time.perf_counter() - t1
            job_id = None
            return {"up": up, "down": down, "submit_call": t_submit, "phases": phases}
        finally:
            if job_id is not None:
                with contextlib.suppress(Exception):
                    await client.remove(job_id)
                docker_cleanup_job(job_id)


async def nosana_cli(agent: Agent, job_file: Path) -> dict:
    job_id = None
    try:
        up, out = run(agent.cli("run", str(job_file), "--wait", "ready"), env=agent.env)
        job_id = out.split()[0]
        if out.count("running") < 4:
            raise BenchError(f"not all ops running:\n{out}")
        down, _ = run(agent.cli("rm", job_id), env=agent.env)
        job_id = None
        return {"up": up, "down": down}
    finally:
        if job_id is not None:
            run(agent.cli("rm", job_id), env=agent.env, check=False)
            docker_cleanup_job(job_id)


# --- docker-compose -------------------------------------------------------------------------------


def compose(project: str, interval: str, dclient: docker.DockerClient, delay: float) -> dict:
    env = {**os.environ, "BENCH_HC_INTERVAL": interval, "BENCH_DELAY": f"{delay:g}"}
    base = ["docker-compose", "-p", project, "-f", str(COMPOSE_FILE)]
    label = f"com.docker.compose.project={project}"
    try:
        t0 = time.perf_counter()
        t_upcmd, _ = run([*base, "up", "-d"], env=env)
        while True:
            healthy = dclient.api.containers(filters={"label": label, "health": "healthy"})
            if len(healthy) == 4:
                break
            if time.perf_counter() - t0 > 120:
                raise BenchError("compose: not healthy after 120 s")
            time.sleep(0.02)
        up = time.perf_counter() - t0
        # where compose's time went: container start and first passing probe, per service
        probe_wait = []
        for c in dclient.api.containers(filters={"label": label}):
            attrs = dclient.api.inspect_container(c["Id"])
            started = _iso(attrs["State"]["StartedAt"])
            log = attrs["State"]["Health"]["Log"]
            first_ok = next((_iso(x["End"]) for x in log if x["ExitCode"] == 0), None)
            if first_ok:
                probe_wait.append(first_ok - started)
        down, _ = run([*base, "down", "-t", "0"], env=env)
        project = ""
        return {
            "up": up,
            "down": down,
            "up_cmd": t_upcmd,
            "_health_per_op": probe_wait,
        }
    finally:
        if project:
            run([*base, "down", "-t", "0"], env=env, check=False)


def _iso(text: str) -> float:
    from nosana_tui.backends.docker import _ts

    value = _ts(text)
    assert value is not None
    return value


# --- plain script ---------------------------------------------------------------------------------


def script(name: str, delay: float) -> dict:
    ports = [str(free_port()) for _ in OPS]
    env = {**os.environ, "DELAY": f"{delay:g}"}
    try:
        up, _ = run(["bash", str(SCRIPT), "up", name, *ports], env=env)
        down, _ = run(["bash", str(SCRIPT), "down", name])
        name = ""
        return {"up": up, "down": down}
    finally:
        if name:
            subprocess.run(
                ["docker", "rm", "-f", *(f"{name}-{op}" for op in OPS)], capture_output=True
            )
            subprocess.run(["docker", "network", "rm", name], capture_output=True)


# --- main -----------------------------------------------------------------------------------------


def fixed_costs(agent: Agent) -> dict[str, list[float]]:
    """Process start-up of each tool doing nothing useful: what every CLI call pays."""
    out: dict[str, list[float]] = defaultdict(list)
    for _ in range(3):
        out["python -m nosana_tui --help"].append(run(agent.cli("--help"))[0])
        out["nosana-tui ps (one API call)"].append(run(agent.cli("ps"), env=agent.env)[0])
        out["docker-compose version --short"].append(
            run(["docker-compose", "version", "--short"])[0]
        )
        out["docker version"].append(run(["docker", "version"])[0])
        out["docker run --rm busybox true"].append(
            run(["docker", "run", "--rm", "busybox:latest", "true"])[0]
        )
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated variants (default {','.join(DEFAULT)}; also nosana-proto)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        help="seconds each service sleeps before it listens (default 0)",
    )
    parser.add_argument("--no-fixed", action="store_true", help="skip the per-process costs")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args()
    variants = [v for v in args.only.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    info = print_machine()
    definition = json.loads(JOB_FILE.read_text())
    for op in definition["ops"]:  # the same `sleep N;` as the compose file and the script
        op["args"]["cmd"] = f"sleep {args.delay:g}; " + op["args"]["cmd"]
    dclient = docker.from_env()
    agent = await start_agent()
    proto = None
    if "nosana-proto" in variants:
        proto = await start_agent(
            {"BENCH_STARTUP_MAX_INTERVAL": "0.25"}, [PY, str(BENCH / "proto_agent.py")]
        )
    job_file = agent.tmp / "pipeline.json"
    job_file.write_text(json.dumps(definition, indent=2))
    print(f"\ndelay before each service listens: {args.delay:g}s")
    print(f"\nagent start-up (Popen -> answers GET /): {agent.startup_s:.3f}s (not in the figures)")
    results: dict[str, list[dict]] = defaultdict(list)
    tag = f"bb{os.getpid()}"
    try:
        if not args.no_fixed:
            costs = fixed_costs(agent)
            print("\nfixed per-process costs:")
            for key, vals in costs.items():
                print(f"  {key:36} {fmt(vals)}")
        rounds = args.warmup + args.n
        for i in range(rounds):
            timed = i >= args.warmup
            for variant in variants:
                if variant == "nosana-api":
                    r = await nosana_api(agent, definition)
                elif variant == "nosana-proto":
                    assert proto is not None
                    r = await nosana_api(proto, definition)
                elif variant == "nosana-cli":
                    r = await nosana_cli(agent, job_file)
                elif variant.startswith("compose-"):
                    project = f"{tag}{i}{variant[8:].replace('ms', 'm')}"
                    r = compose(project, variant[8:], dclient, args.delay)
                else:
                    r = script(f"{tag}-{i}", args.delay)
                if timed:
                    results[variant].append(r)
                label = "timed " if timed else "warmup"
                print(f"  [{label} {i}] {variant:14} up {r['up']:6.3f}s  down {r['down']:6.3f}s")
                await asyncio.sleep(0.3)
        agent_rss = agent.hwm_kb()
    finally:
        agent.stop()
        if proto is not None:
            proto.stop()
        dclient.close()

    print(f"\nresults (n={args.n}, after {args.warmup} warm-up round(s)):")
    print("bring-up, submit -> every op answers HTTP 200:")
    for v in variants:
        print(f"  {v:14} {fmt([r['up'] for r in results[v]])}")
    print("tear-down:")
    for v in variants:
        print(f"  {v:14} {fmt([r['down'] for r in results[v]])}")
    for v in variants:
        if v.startswith("compose"):
            print(
                f"  ({v}: `up -d` itself returned after {fmt([r['up_cmd'] for r in results[v]])})"
            )

    med = {v: statistics.median(r["up"] for r in results[v]) for v in variants}
    if "nosana-api" in med and "compose-1s" in med:
        print("\ntargets (medians):")
        for nv in ("nosana-api", "nosana-cli", "nosana-proto"):
            if nv not in med:
                continue
            ratio = med[nv] / med["compose-1s"]
            ok = ratio <= 0.6
            print(
                f"  {nv} vs compose-1s: {med[nv]:.3f}s / {med['compose-1s']:.3f}s = {ratio:.2f}"
                f" -> {(1 - ratio) * 100:.0f}% less time; '40% faster' (<= 0.60x): "
                f"{'HOLDS' if ok else 'DOES NOT HOLD'}"
            )
            if "script" in med:
                ok2 = med[nv] <= med["script"]
                print(
                    f"  {nv} vs script: {med[nv]:.3f}s vs {med['script']:.3f}s -> 'no slower': "
                    f"{'HOLDS' if ok2 else 'DOES NOT HOLD'} ({med[nv] / med['script']:.2f}x)"
                )

    for nv in ("nosana-api", "nosana-proto"):
        if not results.get(nv):
            continue
        print(f"\n{nv}: where the bring-up time goes (agent's system log; median over runs):")
        phases = [r["phases"] for r in results[nv] if r["phases"]]
        if phases:
            for key in phases[0]:
                if key.startswith("_"):
                    continue
                print(f"  {key:60} {statistics.median(p[key] for p in phases) * 1000:7.1f} ms")
            dock = [x for p in phases for x in p["_docker_per_op"]]
            health = [x for p in phases for x in p["_health_per_op"]]
            print(
                f"  per op, docker (inspect image + inspect name + create + start + inspect): "
                f"{fmt(dock, 'ms', 1000)}"
            )
            print(f"  per op, container started -> health check passed: {fmt(health, 'ms', 1000)}")
            print(
                f"  POST /api/jobs call itself: "
                f"{fmt([r['submit_call'] for r in results[nv]], 'ms', 1000)}"
            )
    for v in variants:
        if v.startswith("compose") and results[v]:
            waits = [x for r in results[v] for x in r["_health_per_op"]]
            print(
                f"{v}: per service, container started -> first passing probe ends: "
                f"{fmt(waits, 'ms', 1000)}"
            )
    print(f"\nagent peak RSS over the whole run (VmHWM): {agent_rss / 1024:.1f} MiB")

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"machine": info, "agent_startup_s": agent.startup_s, "results": results},
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
