"""Soak: many small jobs and one job of many ops through an agent that is killed -9 and started
again while they run; afterwards nothing may hang, leak a container or lose or repeat a log line.
Not a test: it prints figures, and exits 1 when any of them is not zero.

    .venv/bin/python bench/soak.py [--jobs 200] [--ops 100] [--kills 3] [--seed S]
                                   [--spread SECONDS] [--max-running 16] [--deadline SECONDS]
                                   [--show 8] [--keep-logs DIR]

Quick run (under a minute): ``--jobs 20 --ops 20 --kills 1``.

What runs, on one agent (``python -m nosana_tui node serve``, config and data in a temp dir, its
own port, ``NOSANA_TUI_STOP_TIMEOUT=2``):

- ``--jobs`` small busybox jobs, submitted one after the other over ``--spread`` seconds, each
  printing numbered lines that name it: one op (``plain``: N lines with a short sleep; ``stderr``:
  N lines on each stream; ``burst``: 20 N lines without a pause), two stages (``two-stage``), or
  failing with exit 3 (``fail``; ``fail-stage``: the first of two stages fails, the second never
  starts). N is 5-40, drawn from ``--seed``. No more is submitted while ``--max-running`` of
  the jobs have not ended: every job holds a bridge network while it runs, and Docker's default
  address pools have 31 for the whole engine (shared with whoever else uses it); past that, jobs
  fail as they should ("no free address pool"), which is not what this soak is about.
- one job ``soak-fleet`` of ``--ops`` ops in one group, each
  ``for i in $(seq 1 50); do echo "$OP line $i"; sleep 0.05; done``.
- ``--kills`` times SIGKILL to the agent and a new agent on the same port and data folder: the
  first while the fleet's ops are starting, the next ones 2-8 s (random) after the agent is back.
  Calls that the kill cut off are retried once the agent answers again; a submit that was cut off
  is looked up by the job's name first, so no job is submitted twice.

Then it waits (``--deadline`` seconds after the last submit and kill) until every job is done
(``client.node.job_done``), and counts:

- hung: jobs not done by the deadline (and jobs the agent no longer knows, or knows twice);
- orphans: containers of these jobs that run while their op has ended, that carry a job or op the
  agent does not know, or that are a second container of one op;
- wrong end state: a ``fail`` job not failed, any other not success, an op not finished with
  exit 0 (or failed with 3), a run op without a container, an op that should never start with one;
- log lines, per op that has a container: the agent's stored lines (``client.logs(job, op)``)
  against ``docker logs CONTAINER``, stream by stream (the order within a stream is kept, between
  the streams it is not): duplicated (stored more often than Docker has it), extra (Docker does
  not have it at all), lost (Docker has it, the agent does not), and ops whose lines are out of
  order; and, as a check of the check, containers whose ``docker logs`` is not what the command
  prints;
- networks of finished jobs: a job that has ended must give its network back (within 5 s);
- left after rm: containers, networks or volumes of these jobs that ``rm`` did not remove.

Every job is removed at the end (``client.remove``) and the agent stopped; anything ``rm`` left is
removed from the engine directly (and counted). ``--keep-logs DIR`` copies the agents' own output
(one file per agent started) to DIR before the temp dir goes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from collections.abc import Awaitable, Callable

import docker
from _common import Agent, docker_cleanup_job, print_machine, restart_agent, start_agent

from nosana_tui.api.models import JobStatus, JobView, LogEntry, OpStatus
from nosana_tui.client.node import NodeClient, NodeError, job_done
from nosana_tui.engine.backend import LABEL_AGENT, LABEL_JOB, LABEL_OP

T = TypeVar("T")

FLEET = "soak-fleet"
FLEET_LINES = 50
KINDS = [
    "plain",
    "stderr",
    "burst",
    "two-stage",
    "fail-stage",
    "stderr",
    "plain",
    "two-stage",
    "burst",
    "fail",
]


# --- what is submitted, and what it must give ----------------------------------------------------


@dataclass
class OpPlan:
    id: str
    out: list[str]  # what the command prints on stdout, in order
    err: list[str]  # ... on stderr
    exit_code: int | None  # None: its stage is never reached, it must never get a container


@dataclass
class JobPlan:
    name: str
    kind: str
    definition: dict[str, Any]
    ops: list[OpPlan]
    status: JobStatus
    job_id: str = ""


def _run_op(op_id: str, cmd: str, group: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"image": "busybox:latest", "cmd": cmd}
    if env:
        args["env"] = env
    return {"type": "container/run", "id": op_id, "args": args, "execution": {"group": group}}


def _lines_op(tag: str, op_id: str, n: int, pause: str, exit_code: int = 0) -> tuple[str, OpPlan]:
    cmd = f'for i in $(seq 1 {n}); do echo "{tag} {op_id} $i"; sleep {pause}; done'
    if exit_code:
        cmd += f"; exit {exit_code}"
    return cmd, OpPlan(op_id, [f"{tag} {op_id} {k}" for k in range(1, n + 1)], [], exit_code)


def small_job(index: int, rng: random.Random) -> JobPlan:
    name, tag = f"soak-{index:04d}", f"s{index:04d}"
    kind = KINDS[index % len(KINDS)]
    n = rng.randint(5, 40)
    pause = rng.choice(["0.02", "0.05", "0.1"])
    ops: list[dict[str, Any]] = []
    plans: list[OpPlan] = []
    status = JobStatus.SUCCESS
    if kind in ("plain", "fail"):
        cmd, plan = _lines_op(tag, "main", n, pause, 3 if kind == "fail" else 0)
        ops, plans = [_run_op("main", cmd, "main")], [plan]
        status = JobStatus.FAILED if kind == "fail" else JobStatus.SUCCESS
    elif kind == "stderr":
        cmd = (
            f'for i in $(seq 1 {n}); do echo "{tag} main out $i"; '
            f'echo "{tag} main err $i" >&2; sleep {pause}; done'
        )
        out = [f"{tag} main out {k}" for k in range(1, n + 1)]
        err = [f"{tag} main err {k}" for k in range(1, n + 1)]
        ops, plans = [_run_op("main", cmd, "main")], [OpPlan("main", out, err, 0)]
    elif kind == "burst":
        lines = 20 * n
        cmd = f'for i in $(seq 1 {lines}); do echo "{tag} main $i"; done'
        out = [f"{tag} main {k}" for k in range(1, lines + 1)]
        ops, plans = [_run_op("main", cmd, "main")], [OpPlan("main", out, [], 0)]
    else:  # two stages; with fail-stage the first fails and the second never starts
        failing = kind == "fail-stage"
        cmd1, plan1 = _lines_op(tag, "first", n, pause, 3 if failing else 0)
        cmd2, plan2 = _lines_op(tag, "second", rng.randint(5, 40), pause)
        if failing:
            plan2 = OpPlan("second", [], [], None)
            status = JobStatus.FAILED
        ops = [_run_op("first", cmd1, "one"), _run_op("second", cmd2, "two")]
        plans = [plan1, plan2]
    definition = {"version": "0.1", "type": "container", "ops": ops}
    return JobPlan(name, kind, definition, plans, status)


def fleet_job(count: int) -> JobPlan:
    ops, plans = [], []
    for k in range(count):
        op_id = f"op{k:03d}"
        cmd = f'for i in $(seq 1 {FLEET_LINES}); do echo "$OP line $i"; sleep 0.05; done'
        ops.append(_run_op(op_id, cmd, "fleet", {"OP": op_id}))
        plans.append(OpPlan(op_id, [f"{op_id} line {i}" for i in range(1, FLEET_LINES + 1)], [], 0))
    definition = {"version": "0.1", "type": "container", "ops": ops}
    return JobPlan(FLEET, "fleet", definition, plans, JobStatus.SUCCESS)


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Kill:
    at: float  # seconds since the start of the run
    fleet: str  # what the fleet's ops were doing just before
    restart_s: float  # Popen of the new agent -> its first answer


@dataclass
class Findings:
    """Every count that must be zero, with examples of each (``show`` at most)."""

    show: int = 8
    counts: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    examples: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))

    def add(self, kind: str, example: str, n: int = 1) -> None:
        self.counts[kind] += n
        if len(self.examples[kind]) < self.show:
            self.examples[kind].append(example)


class Soak:
    def __init__(self, agent: Agent, args: argparse.Namespace, rng: random.Random) -> None:
        self.agent = agent
        self.args = args
        self.rng = rng
        self.client: NodeClient = agent.client()
        self.t0 = time.perf_counter()
        self.up = asyncio.Event()
        self.up.set()
        self.fleet_submitted = asyncio.Event()
        self.kills: list[Kill] = []
        self.cut_off = 0  # calls a kill cut off (retried)
        self.found_by_name = 0  # cut-off submits that the agent had taken all the same
        self.logs: list[Path] = [agent.tmp / "agent.log"]
        self.plans: list[JobPlan] = [small_job(i, rng) for i in range(args.jobs)]
        self.fleet = fleet_job(args.ops) if args.ops else None
        self.peak_running = 0  # of these jobs not ended at once (sampled before each submit)
        self.held_back = 0  # polls that found --max-running jobs not ended
        self.peak_networks = 0  # job networks of these jobs at once (sampled every second)
        self.peak_all_networks = 0  # ... of any nosana-tui job on the engine

    def now(self) -> float:
        return time.perf_counter() - self.t0

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """FN(*ARGS), again and again while the agent is down (a kill cut it off)."""
        while True:
            try:
                return await fn(*args)
            except NodeError as err:
                if err.status != 0:
                    raise
                self.cut_off += 1
                if self.up.is_set() and self.agent.process.poll() is not None:
                    raise RuntimeError(
                        f"the agent ended by itself (exit {self.agent.process.returncode})"
                    ) from None
                await self.up.wait()
                await asyncio.sleep(0.05)

    async def submit(self, plan: JobPlan) -> None:
        while True:
            try:
                view = await self.client.submit(plan.definition, plan.name, "bench/soak.py")
                plan.job_id = view.id
                return
            except NodeError as err:
                if err.status != 0:
                    raise
                self.cut_off += 1
            await self.up.wait()
            # the agent may have taken the job before it died: never submit it twice
            known = [v for v in await self.call(self.client.jobs) if v.name == plan.name]
            if known:
                self.found_by_name += 1
                plan.job_id = known[0].id
                return

    async def submitter(self) -> None:
        gap = self.args.spread / max(1, len(self.plans))
        fleet_at = min(len(self.plans), max(1, len(self.plans) // 20))
        for index, plan in enumerate(self.plans):
            if index == fleet_at and self.fleet:
                await self.submit(self.fleet)
                self.fleet_submitted.set()
            await self.room()
            await self.submit(plan)
            await asyncio.sleep(self.rng.uniform(0, 2 * gap))
        if self.fleet and not self.fleet.job_id:
            await self.submit(self.fleet)
        self.fleet_submitted.set()

    async def room(self) -> None:
        """Wait while ``--max-running`` of these jobs have not ended: each holds a bridge
        network, and Docker's default address pools have 31 for the whole engine."""
        while True:
            views = {v.id: v for v in await self.call(self.client.jobs)}
            busy = sum(
                1
                for p in self.all_plans()
                if p.job_id in views and not views[p.job_id].status.terminal
            )
            self.peak_running = max(self.peak_running, busy)
            if busy < self.args.max_running:
                return
            self.held_back += 1
            await asyncio.sleep(0.25)

    async def sample_networks(self, halt: asyncio.Event) -> None:
        """The engine's job networks every second: ours, and everyone's (the engine is shared)."""
        while not halt.is_set():
            ours = {p.job_id for p in self.all_plans() if p.job_id}
            nets = await asyncio.to_thread(job_networks)
            mine = sum(1 for job_id in nets if job_id in ours)
            self.peak_networks = max(self.peak_networks, mine)
            self.peak_all_networks = max(self.peak_all_networks, len(nets))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(halt.wait(), 1.0)

    async def fleet_state(self) -> str:
        if not self.fleet or not self.fleet.job_id:
            return "-"
        try:
            view = await self.client.job(self.fleet.job_id)
        except NodeError as err:
            return f"? ({err})"
        counts = collections.Counter(o.status.value for o in view.ops)
        return ", ".join(f"{n} {s}" for s, n in counts.most_common())

    async def killer(self) -> None:
        if not self.args.kills:
            return
        await self.fleet_submitted.wait()
        if self.fleet and self.fleet.job_id:
            # the first kill while the fleet's ops are starting (the lost containers)
            want = max(1, len(self.fleet.ops) // 10)
            while True:
                view = await self.call(self.client.job, self.fleet.job_id)
                statuses = [o.status for o in view.ops]
                if statuses.count(OpStatus.STARTING) >= want:
                    break
                if sum(s is OpStatus.PENDING or s is OpStatus.WAITING for s in statuses) == 0:
                    break  # missed the moment (should not happen: they start together)
                await asyncio.sleep(0.05)
            await asyncio.sleep(self.rng.uniform(0, 0.3))
        for k in range(self.args.kills):
            if k:
                await asyncio.sleep(self.rng.uniform(2, 8))
            await self.kill_and_restart(k + 1)

    async def kill_and_restart(self, number: int) -> None:
        state = await self.fleet_state()
        self.up.clear()
        at = self.now()
        self.agent.process.kill()
        self.agent.process.wait()
        log = self.agent.tmp / f"agent-{number}.log"
        self.logs.append(log)
        startup = await restart_agent(self.agent, log)
        self.kills.append(Kill(at, state, startup))
        self.up.set()

    async def wait_done(self, deadline: float) -> tuple[dict[str, JobView], float | None]:
        plans = self.all_plans()
        while True:
            views = {v.id: v for v in await self.call(self.client.jobs)}
            busy = [p for p in plans if p.job_id in views and not job_done(views[p.job_id])]
            if not busy:
                return views, self.now()
            if time.perf_counter() > deadline:
                return views, None
            await asyncio.sleep(1.0)

    async def stored_lines(self, job_id: str, op_id: str) -> list[LogEntry]:
        """The op's output as the agent stored it (its own system lines left out)."""
        return [
            e
            async for e in self.client.logs(job_id, op_id)
            if isinstance(e, LogEntry) and e.stream in ("stdout", "stderr")
        ]

    def all_plans(self) -> list[JobPlan]:
        return self.plans + ([self.fleet] if self.fleet else [])


# --- the checks ------------------------------------------------------------------------------------


def docker_logs(container: str) -> tuple[list[str], list[str]] | None:
    out = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return out.stdout.splitlines(), out.stderr.splitlines()


def compare(stored: list[str], engine: list[str]) -> tuple[int, int, int, bool]:
    """(duplicated, extra, lost, out of order) of one stream's stored lines against Docker's."""
    have, want = collections.Counter(stored), collections.Counter(engine)
    duplicated = sum(n - want[line] for line, n in have.items() if want[line] and n > want[line])
    extra = sum(n for line, n in have.items() if not want[line])
    lost = sum(n - have[line] for line, n in want.items() if have[line] < n)
    common = [line for line in dict.fromkeys(stored) if line in want]
    reordered = common != [line for line in dict.fromkeys(engine) if line in have]
    return duplicated, extra, lost, reordered


async def check(soak: Soak, views: dict[str, JobView], found: Findings) -> dict[str, int]:
    """Fill FOUND; answer the totals of what was compared."""
    plans = soak.all_plans()
    ours = {p.job_id for p in plans}
    names = collections.Counter(v.name for v in views.values())
    for plan in plans:
        if plan.job_id not in views:
            found.add("hung", f"{plan.name} ({plan.job_id}): the agent no longer knows it")
        elif not job_done(known := views[plan.job_id]):
            busy = ", ".join(f"{o.id} {o.status.value}" for o in known.ops if not o.status.terminal)
            found.add("hung", f"{plan.name} ({plan.job_id}): job {known.status.value}; {busy}")
        if names[plan.name] > 1:
            found.add("hung", f"{plan.name}: {names[plan.name]} jobs of this name")
    for other in views.values():
        if other.id not in ours:
            found.add("orphans", f"job {other.id} ({other.name}) was never submitted by the soak")

    # every container of these jobs (or of this agent), by job and op
    engine = docker.from_env()
    try:
        listed = engine.api.containers(all=True, filters={"label": LABEL_JOB})
    finally:
        engine.close()
    me = f":{soak.agent.port}"
    by_op: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for c in listed:
        labels = c.get("Labels") or {}
        job_id, op_id = labels.get(LABEL_JOB, ""), labels.get(LABEL_OP, "")
        if job_id in ours or labels.get(LABEL_AGENT, "").endswith(me):
            by_op[(job_id, op_id)].append(c)
    for (job_id, op_id), containers in by_op.items():
        owner = views.get(job_id)
        names_ = ", ".join(c["Names"][0].lstrip("/") for c in containers)
        if owner is None or op_id not in {o.id for o in owner.ops}:
            found.add("orphans", f"{names_}: job {job_id} op {op_id!r} unknown", len(containers))
            continue
        op = owner.op(op_id)
        if len(containers) > 1:
            found.add(
                "orphans",
                f"{job_id}/{op_id}: {len(containers)} containers ({names_}); the op has "
                f"{(op.container_id or 'none')[:12]}",
                len(containers) - 1,
            )
        for c in containers:
            if c["State"] in ("running", "restarting", "paused") and op.status.terminal:
                found.add(
                    "orphans",
                    f"{job_id}/{op_id}: container {c['Id'][:12]} {c['State']} while the op is "
                    f"{op.status.value} ({op.message})",
                )

    # a finished job gives its network back (Docker has few); give the agent a moment to
    for _ in range(10):
        nets = await asyncio.to_thread(job_networks)
        held = [j for j in nets if j in views and job_done(views[j]) and j in ours]
        if not held:
            break
        await asyncio.sleep(0.5)
    for job_id in held:
        found.add("networks of finished jobs", f"{views[job_id].name} ({job_id}): {nets[job_id]}")

    # end states, and the logs of every op that has a container
    totals: collections.Counter[str] = collections.Counter()
    work: list[tuple[JobPlan, OpPlan, str]] = []
    for plan in plans:
        view = views.get(plan.job_id)
        if view is None:
            continue
        if job_done(view) and view.status is not plan.status:
            found.add(
                "wrong end state",
                f"{plan.name} ({plan.job_id}, {plan.kind}): job {view.status.value}, expected "
                f"{plan.status.value}; {view.message}",
            )
        for op_plan in plan.ops:
            op = view.op(op_plan.id)
            labelled = by_op.get((plan.job_id, op_plan.id), [])
            container = op.container_id or (labelled[0]["Id"] if labelled else "")
            if op_plan.exit_code is None:
                if container or op.status not in (OpStatus.STOPPED, OpStatus.FAILED):
                    found.add(
                        "wrong end state",
                        f"{plan.name}/{op.id}: should never start; {op.status.value}, "
                        f"container {container[:12] or 'none'}",
                    )
                continue
            expected = OpStatus.FINISHED if op_plan.exit_code == 0 else OpStatus.FAILED
            if op.status.terminal and (
                op.status is not expected or op.exit_code != op_plan.exit_code
            ):
                found.add(
                    "wrong end state",
                    f"{plan.name} ({plan.job_id})/{op.id}: {op.status.value} exit "
                    f"{op.exit_code}, expected {expected.value} exit {op_plan.exit_code}; "
                    f"{op.message}",
                )
            if not container:
                found.add("wrong end state", f"{plan.name} ({plan.job_id})/{op.id}: no container")
                continue
            work.append((plan, op_plan, container))

    gate = asyncio.Semaphore(4)

    async def one(plan: JobPlan, op_plan: OpPlan, container: str) -> None:
        async with gate:
            engine_lines = await asyncio.to_thread(docker_logs, container)
            stored = await soak.call(soak.stored_lines, plan.job_id, op_plan.id)
        where = f"{plan.name} ({plan.job_id})/{op_plan.id} [{container[:12]}]"
        if engine_lines is None:
            found.add("wrong end state", f"{where}: docker logs fails (container gone?)")
            return
        totals["ops"] += 1
        for name, engine_stream, want in (
            ("stdout", engine_lines[0], op_plan.out),
            ("stderr", engine_lines[1], op_plan.err),
        ):
            mine = [e.text for e in stored if e.stream == name]
            totals["docker lines"] += len(engine_stream)
            totals["stored lines"] += len(mine)
            duplicated, extra, lost, reordered = compare(mine, engine_stream)
            if duplicated:
                found.add("duplicated lines", f"{where} {name}: {duplicated}", duplicated)
            if extra:
                example = next(t for t in mine if t not in set(engine_stream))
                found.add("extra lines", f"{where} {name}: {extra}, e.g. {example!r}", extra)
            if lost:
                have = set(mine)
                gone = [t for t in engine_stream if t not in have]
                found.add(
                    "lost lines",
                    f"{where} {name}: {lost} of {len(engine_stream)} ({gone[0]!r} .. {gone[-1]!r})",
                    lost,
                )
            if reordered:
                found.add("ops out of order", f"{where} {name}")
            if engine_stream != want:
                found.add(
                    "docker logs not what the command prints",
                    f"{where} {name}: {len(engine_stream)} lines, expected {len(want)}",
                )

    await asyncio.gather(*(one(*w) for w in work))
    return dict(totals)


# --- clean-up ----------------------------------------------------------------------------------------


def job_networks() -> dict[str, str]:
    """Job id -> network name of every nosana-tui job network on the engine."""
    engine = docker.from_env()
    try:
        nets = engine.api.networks(filters={"label": LABEL_JOB})
    finally:
        engine.close()
    return {(n.get("Labels") or {}).get(LABEL_JOB, ""): n["Name"] for n in nets}


def engine_leftovers(job_ids: set[str]) -> list[str]:
    """Containers, networks and volumes that still carry one of JOB_IDS."""
    engine = docker.from_env()
    left = []
    try:
        for c in engine.api.containers(all=True, filters={"label": LABEL_JOB}):
            if (c.get("Labels") or {}).get(LABEL_JOB) in job_ids:
                left.append(f"container {c['Names'][0].lstrip('/')}")
        for n in engine.api.networks(filters={"label": LABEL_JOB}):
            if (n.get("Labels") or {}).get(LABEL_JOB) in job_ids:
                left.append(f"network {n['Name']}")
        for v in engine.api.volumes(filters={"label": LABEL_JOB}).get("Volumes") or []:
            if (v.get("Labels") or {}).get(LABEL_JOB) in job_ids:
                left.append(f"volume {v['Name']}")
    finally:
        engine.close()
    return left


async def remove_all(soak: Soak, found: Findings) -> None:
    ids = {p.job_id for p in soak.all_plans() if p.job_id}
    try:
        ids |= {v.id for v in await soak.call(soak.client.jobs)}
    except (NodeError, RuntimeError) as err:
        found.add("left after rm", f"cannot list jobs to remove them: {err}")
    gate = asyncio.Semaphore(8)

    async def rm(job_id: str) -> None:
        async with gate:
            try:
                await soak.call(soak.client.remove, job_id)
            except (NodeError, RuntimeError) as err:
                found.add("left after rm", f"rm {job_id}: {err}")

    await asyncio.gather(*(rm(j) for j in sorted(ids)))
    for left in await asyncio.to_thread(engine_leftovers, ids):
        found.add("left after rm", left)
    for job_id in ids:  # whatever rm left (counted above), and jobs never submitted
        await asyncio.to_thread(docker_cleanup_job, job_id)
        for v in await asyncio.to_thread(engine_leftovers, {job_id}):
            if v.startswith("volume "):
                subprocess.run(["docker", "volume", "rm", "-f", v[7:]], capture_output=True)


# --- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print_machine()
    print(
        f"\nsoak: {args.jobs} small jobs over {args.spread:.0f}s, one job of {args.ops} ops, "
        f"{args.kills} kill -9, seed {seed}"
    )
    agent = await start_agent()
    soak = Soak(agent, args, rng)
    found = Findings(show=args.show)
    started = time.perf_counter()
    failure = ""
    totals: dict[str, int] = {}
    done_at: float | None = None
    try:
        halt = asyncio.Event()
        sampler = asyncio.create_task(soak.sample_networks(halt))
        await asyncio.gather(soak.submitter(), soak.killer())
        load_end = soak.now()
        views, done_at = await soak.wait_done(time.perf_counter() + args.deadline)
        checked_at = soak.now()
        halt.set()
        await sampler
        totals = await check(soak, views, found)
        check_s = soak.now() - checked_at
    except Exception as err:  # reported with the figures; clean-up still runs
        failure = f"{type(err).__name__}: {err}"
        load_end = check_s = 0.0
    finally:
        cleanup_at = soak.now()
        try:
            await remove_all(soak, found)
        finally:
            await soak.client.close()
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in soak.logs:
                    if log.exists():
                        shutil.copy(log, args.keep_logs / log.name)
            agent.stop()
        cleanup_s = soak.now() - cleanup_at

    print(f"\nkills (agent restarts answered with {len(soak.all_plans())} jobs in its store):")
    for n, kill in enumerate(soak.kills, 1):
        print(
            f"  {n}. t={kill.at:6.1f}s  fleet: {kill.fleet}; new agent answered in "
            f"{kill.restart_s:.2f}s"
        )
    print(
        f"calls cut off by a kill and retried: {soak.cut_off}; submits the agent had taken "
        f"before it died: {soak.found_by_name}"
    )
    print(
        f"jobs not ended at once: at most {soak.peak_running} (cap {args.max_running}, reached "
        f"{soak.held_back} times); job networks at once: at most {soak.peak_networks} of these "
        f"jobs, {soak.peak_all_networks} on the engine"
    )
    print(
        f"submits and kills over at t={load_end:.1f}s; "
        + (
            f"every job done at t={done_at:.1f}s"
            if done_at is not None
            else f"NOT every job done within {args.deadline:.0f}s"
        )
    )
    print(
        f"compared the logs of {totals.get('ops', 0)} ops: {totals.get('docker lines', 0)} "
        f"lines in docker logs, {totals.get('stored lines', 0)} stored by the agent "
        f"(check {check_s:.1f}s); clean-up {cleanup_s:.1f}s; "
        f"whole run {time.perf_counter() - started:.1f}s"
    )
    kinds = [
        "hung",
        "orphans",
        "wrong end state",
        "networks of finished jobs",
        "duplicated lines",
        "extra lines",
        "lost lines",
        "ops out of order",
        "docker logs not what the command prints",
        "left after rm",
    ]
    print("\nfigures (each must be 0):")
    for kind in kinds:
        print(f"  {kind:40} {found.counts.get(kind, 0)}")
    for kind in kinds:
        if found.examples.get(kind):
            print(f"\n{kind}:")
            for example in found.examples[kind]:
                print(f"  {example}")
    if failure:
        print(f"\nthe soak broke off: {failure}")
    bad = failure or any(found.counts.values())
    print("\nFAIL" if bad else "\nOK")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="small jobs (default 200)")
    parser.add_argument("--ops", type=int, default=100, help="ops of the one big job (100)")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 and restart (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--spread",
        type=float,
        default=None,
        help="seconds over which the small jobs are submitted (default 0.2 s per job)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=600.0,
        help="seconds after the last submit and kill by which every job must be done (600)",
    )
    parser.add_argument(
        "--max-running",
        type=int,
        default=16,
        help="submit no more while this many of the jobs have not ended (16; every job holds a "
        "network, and the engine has 31)",
    )
    parser.add_argument("--show", type=int, default=8, help="examples printed per finding (8)")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the agents' output here")
    args = parser.parse_args()
    if args.spread is None:
        args.spread = 0.2 * args.jobs
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
