"""Running one job: stages, readiness, health checks, controls, and re-adoption after a restart.

Semantics (the README repeats them):

- Stages run in the order in which their group first appears; an ungrouped op is its own stage.
- Inside a stage an op starts when **all** of its ``depends_on`` are ready. Ready means: a
  create-volume op has made its volume; an op with health checks has passed every start-up check
  on every exposed port; any other op is running. (The Nosana node starts a dependent on the
  first ready dependency and never for exposed ports without checks: we do not copy that.)
- ``stop_if_dependent_stops: true`` (the newer meaning): the op *serves* the ops it names in
  ``depends_on``: it starts first, they wait for it to be ready, and it is stopped once they have
  all ended.
- The next stage starts when every op of the current one has finished with code 0 or serves
  (exposes a port) and is ready. An op that exposes nothing is a task: the stage waits for it to
  end, so a later stage can use what it made. A failed op (non-zero exit, failed pull or start, unresolved literal) fails the
  job: no later stage starts, and what runs keeps running so that a person can look.
- Continuous health checks keep running and mark the op unhealthy and back; they never kill it.
- ``execution.timeout`` stops the op after that many seconds, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from nosana_tui.api.models import (
    NEVER_STARTED,
    SYSTEM,
    Endpoint,
    EndpointStatus,
    Health,
    JobStatus,
    JobView,
    OpStatus,
    OpView,
    PullState,
    planned_view,
)
from nosana_tui.engine.backend import (
    LABEL_OP,
    Backend,
    BackendError,
    ContainerState,
    LogFollower,
    LogLine,
    PortSpec,
    PullProgress,
)
from nosana_tui.engine.container import OpContext, container_for, container_name
from nosana_tui.engine.health import run_check
from nosana_tui.engine.literals import LiteralContext, UnresolvedLiteral
from nosana_tui.engine.registry import (
    CredentialsLost,
    RegistryAuth,
    credentials_of,
    names_credentials,
)
from nosana_tui.engine.resources import ResourceCache, resources_of
from nosana_tui.engine.states import OpEvent, RefusedEvent, next_state
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.graph import DependencyGraph
from nosana_tui.jobformat.plan import effective

LOG_DRAIN_TIMEOUT = 30.0
CATCH_UP_LINES = 1_000_000
"""At most this many of an op's lines are read after it ended (those it printed faster than
they were followed, newest first, within what the job's log retention holds): the engine serves
them at 50,000-100,000 lines/s on a 2-core machine (bench/README.md section 2), so the op's end
and its results wait for them well within ``LOG_DRAIN_TIMEOUT``."""
STOPPED_BY_USER = "stopped by user"
RESTARTING = "restarting"
JOB_STOPPED = "the job was stopped"
BY_A_PERSON = (STOPPED_BY_USER, JOB_STOPPED)
"""The reasons of a person's stop (an op, a group, the job): such a stop is never re-labelled
by one of the agent's own (a timeout, the ops it serves ending), and its job is no success."""


class Recorder(Protocol):
    """Where the runner keeps state and logs (the node's SQLite store)."""

    def save_job(self, view: JobView) -> None: ...

    def save_op(self, job_id: str, view: OpView) -> None: ...

    def append_logs(self, job_id: str, op_id: str, lines: list[LogLine]) -> None: ...

    def op_log_text(self, job_id: str, op_id: str) -> list[tuple[str, str]]:
        """(stream, text) of the op's stored lines, oldest first."""
        ...

    def flush(self) -> None:
        """Write what :meth:`append_logs` holds back, now (an op's last lines before it ends)."""
        ...

    def last_log_ts(self, job_id: str, op_id: str) -> float | None:
        """When the newest stored line of the op was written, if any."""
        ...

    def lines_kept(self, job_id: str, op_id: str) -> int:
        """How many lines of the op its job's log retention holds: what an op that printed
        faster than it was followed has read of its output when it ends."""
        ...


@dataclass
class Timing:
    """How often health checks run; tests and benchmarks may make them faster."""

    startup_interval: float = 0.25  # start-up checks poll this often while the op is young...
    startup_fast_for: float = 60.0  # ...for this long (a loopback GET costs ~5 ms),
    startup_max_interval: float = 2.0  # then back off towards this (models take minutes)
    continuous_interval: float = 10.0
    stop_timeout: float = 10.0
    # a container that died with a non-zero code gets this long to be started again (as
    # `docker restart` does: the die event comes first) before the op counts as failed
    restart_settle: float = 0.5


def _cut_short(op: OpView) -> bool:
    """The op was stopped by a person or with its job, or never ran: its job is no success."""
    return op.status is OpStatus.STOPPED and (
        op.message in BY_A_PERSON or op.message.startswith(NEVER_STARTED)
    )


class OpRunner:
    """One op of a job: its container, logs, health, and state."""

    def __init__(self, job: JobRunner, op: m.RunOperation | m.CreateVolumeOperation, view: OpView):
        self.job = job
        self.op = op
        self.view = view
        self.ready = asyncio.Event()
        self.ended = asyncio.Event()  # terminal state reached (for this launch)
        # the stage may move on: the op has ended, or it serves (exposes ports) and is ready
        self.settled = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._logs: LogFollower | None = None
        self._exit: asyncio.Future[None] | None = None
        self._stop_reason: str | None = None
        self._generation = 0
        self._controls = 0  # counts stop/restart requests: a later one overrules an earlier
        self._restarts = 0  # restarts in flight (between a restart's stop and its launch)
        self._launching = asyncio.Lock()  # one launch at a time: each owns the container name
        self.pulled_with_credentials: str | None = None  # the image to remove when it ends
        if view.ready:
            self._mark_ready()
        if view.status.terminal:
            self.ended.set()
            self.settled.set()

    # --- helpers ------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.op.id

    def save(self) -> None:
        self.job.recorder.save_op(self.job.id, self.view)
        self.job.changed()

    def system(self, text: str) -> None:
        self.job.system(f"[{self.id}] {text}")

    def _mark_ready(self) -> None:
        self.ready.set()
        if self._serves():
            self.settled.set()

    def send(self, event: OpEvent, message: str | None = None) -> bool:
        """Move the op along the state table (``engine.states``). An event the table refuses
        in the op's state changes nothing and is written to the system log; returns whether
        the event was taken."""
        try:
            status = next_state(self.view.status, event)
        except RefusedEvent as refused:
            self.system(f"ignored: {refused}")
            return False
        self.view.status = status
        if message is not None:
            self.view.message = message
        if status.terminal:
            self.view.ended_at = time.time()
            self.view.ready = False
            self.view.health = Health.NONE  # an ended op is neither healthy nor reachable
            for ep in self.view.endpoints:
                ep.status = EndpointStatus.OFFLINE
                ep.url = None  # (its host port is kept: a restart takes the same one)
            self.ended.set()
            self.settled.set()
        self.save()
        return True

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if self._logs:
            self._logs.cancel()
            self._logs = None

    # --- launch -------------------------------------------------------------------------------

    async def launch(self, *, restart: bool = False) -> None:
        """Start the op now (its dependencies are the caller's business). A stop while it
        starts wins: the launch sees its generation gone and leaves the op stopped."""
        async with self._launching:
            await self._launch(restart)

    async def _launch(self, restart: bool) -> None:
        self._generation += 1
        generation = self._generation
        self._stop_reason = None
        self.ready.clear()
        self.ended.clear()
        self.settled.clear()
        self.view.ready = False
        self.view.exit_code = None
        self.view.ended_at = None
        self.view.message = ""
        self.view.results = {}
        if restart:
            self.view.restarts += 1
        self.send(OpEvent.LAUNCH)
        try:
            await self.job.ensure_network()
            if isinstance(self.op, m.CreateVolumeOperation):
                name = await self.job.backend.create_volume(self.job.id, self.op.args.name)
                if generation != self._generation:
                    return
                self.system(f"volume {name} created")
                self.view.started_at = time.time()
                self.view.ready = True
                self._mark_ready()
                self.view.exit_code = 0
                self.send(OpEvent.VOLUME_MADE)
                self.save()
                return
            await self._launch_container(generation)
        except UnresolvedLiteral as err:
            if generation != self._generation:
                return
            self.system(f"failed: {err}")
            self.view.exit_code = 0  # as on the node: the container never started
            self.send(OpEvent.START_FAILED, str(err))
            self.job.op_failed(self)
            self.job.op_ended(self)
        except BackendError as err:
            if generation != self._generation:
                return
            self.system(f"failed: {err}")
            self.send(OpEvent.START_FAILED, str(err))
            self.job.op_failed(self)
            self.job.op_ended(self)

    async def _launch_container(self, generation: int) -> None:
        assert isinstance(self.op, m.RunOperation)
        job = self.job
        spec = container_for(
            self.op,
            OpContext(
                definition=job.definition,
                job_id=job.id,
                network=job.network,
                literals=job.literal_context(),
                host_ports={e.port: e.host_port for e in self.view.endpoints if e.host_port},
            ),
        )
        image = spec.image
        self.view.image = image
        if spec.gpu:  # before a pull: a GPU image can be many GB for nothing
            access = await job.backend.gpu_access()
            if access.mode == "none":
                raise BackendError(f"this op asks for a GPU (gpu: true): {access.detail}")
            self.system(f"GPU access: {access.detail}")

        try:
            auth = credentials_of(self.op, image)
        except CredentialsLost as lost:
            raise BackendError(str(lost)) from None
        # with credentials of its own the op always pulls (a copy on the engine proves nothing
        # about the password), and the image goes when the op ends (``release_image``)
        if auth is not None or not await job.backend.has_image(image):
            with_auth = f" with the job's credentials ({auth.describe()})" if auth else ""
            self.system(f"pulling image {image}{with_auth}")
            self.view.pull = PullState(image=image)
            self.save()
            loop = asyncio.get_running_loop()
            last = [0.0]

            def progress(p: PullProgress) -> None:
                def apply() -> None:
                    if self.view.pull is None or not p.layer:
                        return
                    self.view.pull.layers[p.layer] = {
                        "status": p.status,
                        "current": p.current,
                        "total": p.total,
                    }
                    now = time.monotonic()
                    if now - last[0] > 0.2 or p.status in ("Pull complete", "Already exists"):
                        last[0] = now
                        self.job.changed()

                loop.call_soon_threadsafe(apply)

            await job.backend.pull(image, progress, auth=auth)
            if self.view.pull:
                self.view.pull.done = True
            self.system(f"pulled image {image}")
            if auth is not None:
                self.pulled_with_credentials = image
                if generation != self._generation:  # stopped while it pulled: it has ended
                    await self.release_image()
                    return

        mounts = await self._provide_resources(generation)
        if generation != self._generation:
            return  # stopped while its resources were fetched
        if mounts:
            spec = dataclasses.replace(spec, resource_mounts=mounts)
        old = await job.backend.inspect(spec.name)
        if old is not None:
            await job.backend.remove(old.id)
        self.system(f"starting container {spec.name} ({image})")
        try:
            state = await job.backend.run(spec)
        except BackendError:
            if not any(p.host_port for p in spec.ports):
                raise
            # the old host port is taken now: take any free one
            spec = dataclasses.replace(
                spec, ports=tuple(PortSpec(p.container_port) for p in spec.ports)
            )
            state = await job.backend.run(spec)
        if generation != self._generation:  # stopped while it started: keep it stopped
            if job.removing:  # rm may have listed the job's containers before this one was made
                with contextlib.suppress(BackendError):
                    await job.backend.remove(state.id)
                return
            self.system(f"container {state.id[:12]} stopped: the op was stopped while it started")
            await job.backend.stop(state.id, 0)
            return
        self.view.pull = None
        self.attach(state, since=None)
        self.system(f"container {state.id[:12]} started")

    async def _provide_resources(self, generation: int) -> tuple[tuple[str, str, bool], ...]:
        """The op's S3, HF and Ollama resources in their cached volumes (``engine.resources``),
        progress in ``view.fetch``; raises ``BackendError`` naming what could not be had."""
        assert isinstance(self.op, m.RunOperation)
        wanted = resources_of(self.job.definition, self.op, self.job.literal_context())
        if not wanted:
            return ()
        cache = self.job.resources
        if cache is None:
            raise BackendError("this node fetches no resources (S3, Hugging Face, Ollama)")
        self.view.fetch = [cache.state_of(r) for r in wanted]
        self.save()
        mounts = []
        for resource, state in zip(wanted, self.view.fetch, strict=True):
            mounts.append(
                await cache.provide(
                    resource,
                    state,
                    log=self.system,
                    changed=self.job.changed,
                    wanted=lambda: generation == self._generation,
                )
            )
        self.save()
        return tuple(mounts)

    async def release_image(self) -> None:
        """Remove the image this op pulled with the job's credentials, as the Nosana node does,
        once no other op of the job that runs it is active (the last one removes it)."""
        image = self.pulled_with_credentials
        if image is None or any(
            other is not self
            and other.pulled_with_credentials == image
            and not other.view.status.terminal
            for other in self.job.ops.values()
        ):
            return
        self.pulled_with_credentials = None
        for other in self.job.ops.values():
            if other.pulled_with_credentials == image:
                other.pulled_with_credentials = None
        try:
            await self.job.backend.remove_image(image)
        except BackendError as err:
            self.system(
                f"could not remove image {image} (pulled with the job's credentials): {err}"
            )
            return
        self.system(f"removed image {image}: it was pulled with the job's credentials")

    # --- supervision (new or adopted container) -----------------------------------------------

    def attach(self, state: ContainerState, since: float | None) -> None:
        self.view.container_id = state.id
        self.view.started_at = (
            self.view.started_at if since is not None else (state.started_at or time.time())
        )
        self.view.endpoints = [
            Endpoint(
                op_id=self.id,
                port=port,
                host_port=state.ports.get(port),
                url=f"http://127.0.0.1:{state.ports[port]}" if port in state.ports else None,
                status=EndpointStatus.UNKNOWN,
            )
            for port in self.ports()
        ]
        for old in [c for c, op in self.job.containers.items() if op is self]:
            del self.job.containers[old]  # the old container's late events are not this one's
        self.job.containers[state.id] = self
        generation = self._generation
        self._exit = asyncio.get_running_loop().create_future()
        self._logs = self.job.backend.follow_logs(
            state.id, since, self.job.log_sink(self.id, after=since)
        )
        if state.running and self.send(OpEvent.RUNNING) and self.view.status is OpStatus.RUNNING:
            # (adopted mid-stop, it stays stopping: not ready, no checks, no timeout)
            self._spawn(self._health())
            timeout = self.op.execution.timeout if self.op.execution else None
            if timeout:
                self._spawn(self._timeout(float(timeout), generation))
        self._spawn(self._supervise(generation))
        if not state.running:
            self.on_event("die")

    def ports(self) -> list[int]:
        if not isinstance(self.op, m.RunOperation):
            return []
        return [p.port for p in effective(self.job.definition, self.op).ports]

    def _serves(self) -> bool:
        """Whether the op exposes anything (a service), as opposed to a task that should end."""
        return isinstance(self.op, m.RunOperation) and self.op.args.expose is not None

    def _checks(self) -> list[tuple[int, Any]]:
        if not isinstance(self.op, m.RunOperation):
            return []
        eff = effective(self.job.definition, self.op)
        return [(p.port, c) for p in eff.ports for c in p.health_checks]

    def on_event(self, action: str) -> None:
        """A container event for this op: ``die`` ends (or restarts) it, ``start`` revives it."""
        died = self._exit is not None and self._exit.done()
        if action == "die" and self._exit is not None and not self._exit.done():
            self._exit.set_result(None)
        elif action == "start" and (
            self.view.status is OpStatus.RESTARTING
            # the engine restarted it before the agent had looked at why it died (a busy
            # machine): the start is a restart all the same, and this supervision takes over
            or (died and self.view.status is OpStatus.RUNNING)
        ):
            self.view.restarts += 1
            self.system("container restarted by its restart policy")
            if self._logs is not None:  # the old stream ended with the old process
                self._logs.cancel()
                self._logs = None
            if self.view.container_id and self._logs is None:
                last = self.job.last_log_ts(self.id)
                self._logs = self.job.backend.follow_logs(
                    self.view.container_id, last, self.job.log_sink(self.id, after=last)
                )
            self.send(OpEvent.RUNNING)
            self._exit = asyncio.get_running_loop().create_future()
            self._spawn(self._supervise(self._generation))

    def reconcile(self, state: ContainerState | None) -> None:
        """What the engine says after it was away: a container that ended meanwhile ends the
        op (its die event was lost with the engine); one that runs has its output followed
        again from the last line stored."""
        if state is None or not state.running:
            if self._exit is not None and not self._exit.done():
                self._exit.set_result(None)  # supervision reads the exit code and ends the op
            return
        if self.view.status is OpStatus.RESTARTING:
            self.on_event("start")
            return
        if self.view.status is OpStatus.STOPPING:  # the stop did not reach the engine
            self.job.spawn(self.stop(self._stop_reason or STOPPED_BY_USER, control=False))
        if self._logs is not None:
            self._logs.cancel()
        last = self.job.last_log_ts(self.id)
        self._logs = self.job.backend.follow_logs(
            state.id, last, self.job.log_sink(self.id, after=last)
        )

    async def _supervise(self, generation: int) -> None:
        assert self._exit is not None
        exit_future = self._exit
        await exit_future
        if generation != self._generation or self.view.container_id is None:
            return
        state = await self._inspect_quietly(self.view.container_id)
        if exit_future is not self._exit:
            return  # restarted while it was inspected: the start event took over
        if (
            state is not None
            and not state.running
            and state.exit_code != 0
            and not self._stop_reason
            and self.job.timing.restart_settle > 0
        ):
            # `docker restart` (or a person's `docker start`) sends die first: wait a moment
            # for the start before calling it a failure
            await asyncio.sleep(self.job.timing.restart_settle)
            if exit_future is not self._exit or generation != self._generation:
                return
            state = await self._inspect_quietly(self.view.container_id)
            if exit_future is not self._exit or generation != self._generation:
                return  # (every await is a moment for the start event to take over)
        if (
            state is not None
            and state.status in ("restarting", "running")
            and not self._stop_reason
        ):
            if self._logs:
                self._logs.cancel()
                self._logs = None
            self.send(OpEvent.ENGINE_RESTARTING)
            return
        code = state.exit_code if state else None
        # Read the output to its end before the op counts as ended: results are taken from it.
        if self._logs is not None:
            follower = self._logs
            self._logs = None
            keep = min(CATCH_UP_LINES, self.job.recorder.lines_kept(self.job.id, self.id))
            drained = await asyncio.to_thread(follower.finish, LOG_DRAIN_TIMEOUT, keep)
            if drained.gap:
                self.system(
                    "printed faster than its output could be followed: the newest "
                    f"{keep:,} lines were read after it ended; lines before them are missing "
                    "here (the engine's own log has them)"
                )
            if not drained.complete:
                self.system(
                    f"log stream not drained after {LOG_DRAIN_TIMEOUT:.0f} s; stopped reading"
                )
        await asyncio.sleep(0)  # lines handed over by the follower threads land first
        self.job.recorder.flush()
        self._finish(code, state)

    async def _inspect_quietly(self, container_id: str) -> ContainerState | None:
        """The container now; None when it is gone. While the engine is away the answer waits
        for it (trying again every few seconds): a missing engine does not mean a missing
        container, and the op's end must not be lost with the question."""
        delay = 0.2
        while True:
            try:
                return await self.job.backend.inspect(container_id)
            except BackendError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _finish(self, code: int | None, state: ContainerState | None) -> None:
        self._cancel_tasks()
        self.view.exit_code = code
        self.view.ready = False
        if self.view.health is not Health.NONE:
            self.view.health = Health.NONE
        self.view.results = self._results()
        if self._stop_reason:
            self.system(f"stopped: {self._stop_reason}")
            self.send(OpEvent.EXITED_STOPPED, self._stop_reason)
        elif code == 0:
            self.system("exited with code 0")
            self.send(OpEvent.EXITED_OK)
        else:
            why = f"exited with code {code}" if code is not None else "container disappeared"
            if state is not None and state.error:
                why += f": {state.error}"
            self.system(f"failed: {why}")
            self.send(OpEvent.EXITED_FAILED, why)
            self.job.op_failed(self)
        self.job.op_ended(self)

    def _results(self) -> dict[str, list[str]]:
        specs = self.op.results or {}
        if not specs:
            return {}
        lines = self.job.recorder.op_log_text(self.job.id, self.id)
        out: dict[str, list[str]] = {}
        for key, spec in specs.items():
            regex_text = spec if isinstance(spec, str) else spec.regex
            streams = {"stdout", "stderr"} if isinstance(spec, str) else set(spec.logType)
            values: list[str] = []
            if regex_text == "*":
                values = [text for stream, text in lines if stream in streams]
            else:
                try:
                    regex = re.compile(regex_text)
                except re.error as err:
                    out[key] = [f"invalid regex: {err}"]
                    continue
                for stream, text in lines:
                    if stream not in streams:
                        continue
                    found = regex.search(text)
                    if found:
                        values.append(found.group(0))
                        values.extend(g for g in found.groups() if g is not None)
            out[key] = values
        return out

    async def _health(self) -> None:
        checks = self._checks()
        if not checks:
            self.view.ready = True
            self._mark_ready()
            self.save()
            return
        self.view.health = Health.STARTING
        self.save()
        timing = self.job.timing
        interval = timing.startup_interval
        fast_until = time.monotonic() + timing.startup_fast_for
        pending = list(checks)
        while pending:
            results = await asyncio.gather(*(self._check(port, c) for port, c in pending))
            pending = [pc for pc, r in zip(pending, results, strict=True) if not r]
            if pending:
                await asyncio.sleep(interval)
                if time.monotonic() >= fast_until:
                    interval = min(interval * 1.5, timing.startup_max_interval)
        self.view.health = Health.HEALTHY
        self.view.ready = True
        for ep in self.view.endpoints:
            ep.status = EndpointStatus.ONLINE
        self.system("health checks passed: ready")
        self._mark_ready()
        self.save()
        continuous = [(p, c) for p, c in checks if c.continuous]
        while continuous:
            await asyncio.sleep(timing.continuous_interval)
            results = await asyncio.gather(*(self._check(p, c) for p, c in continuous))
            healthy = all(results)
            new = Health.HEALTHY if healthy else Health.UNHEALTHY
            if new is not self.view.health:
                self.view.health = new
                for ep in self.view.endpoints:
                    ep.status = EndpointStatus.ONLINE if healthy else EndpointStatus.OFFLINE
                self.system(f"health: {new.value}")
                self.save()

    async def _check(self, port: int, check: Any) -> bool:
        host_port = next((e.host_port for e in self.view.endpoints if e.port == port), None)
        if host_port is None:
            return False
        result = await run_check(self.job.http, "127.0.0.1", host_port, check)
        return result.ok

    async def _timeout(self, seconds: float, generation: int) -> None:
        await asyncio.sleep(seconds)
        if generation == self._generation and not self.view.status.terminal:
            await self.stop(f"execution.timeout of {seconds:g} s reached")

    # --- controls -----------------------------------------------------------------------------

    def ticket(self) -> int:
        """Register a control request now (in the order requests arrive) for :meth:`restart`,
        which may run later: a stop requested after it overrules it."""
        self._controls += 1
        return self._controls

    def current(self, ticket: int) -> bool:
        """No stop or restart was asked for after TICKET."""
        return ticket == self._controls

    async def stop(
        self, reason: str = STOPPED_BY_USER, timeout: float | None = None, *, control: bool = True
    ) -> None:
        if control:
            self.ticket()
        if self.view.status.terminal:
            if self.restarting and self.view.message == RESTARTING and reason in BY_A_PERSON:
                # stopped by a restart whose launch this stop overrules: it stays stopped, now
                # by a person (left "restarting", its job would end a success)
                self.view.message = reason
                self.save()
            return
        if self._stop_reason not in BY_A_PERSON or reason in (*BY_A_PERSON, RESTARTING):
            self._stop_reason = reason
        if self.view.status is OpStatus.STARTING:
            # the launch in flight sees its generation gone and leaves what it made stopped
            self._generation += 1
            self._cancel_tasks()
            self.system(f"stopped while starting: {reason}")
            self.send(OpEvent.STOP, reason)
            self.job.op_ended(self)
            return
        if self.view.container_id and self.view.status in (
            OpStatus.RUNNING,
            OpStatus.RESTARTING,
            OpStatus.STOPPING,  # asked again (the engine was away the first time): try again
        ):
            generation = self._generation
            if self.view.status is not OpStatus.STOPPING:
                self.send(OpEvent.STOP)
            grace = self.job.timing.stop_timeout if timeout is None else timeout
            # an engine that does not answer leaves the op stopping: the caller hears why,
            # and the stop is tried again when the engine is back (reconcile)
            await self.job.backend.stop(self.view.container_id, grace)
            state = await self.job.backend.inspect(self.view.container_id)
            if generation != self._generation:
                return  # started again meanwhile (a restart): that launch owns the op now
            if self._exit is not None and not self._exit.done():
                self._exit.set_result(None)
            if not self.ended.is_set():
                self._finish(state.exit_code if state else None, state)
        else:
            self._cancel_tasks()
            self.send(OpEvent.STOP, reason)
            if self.view.status is not OpStatus.STOPPED:  # (adopted mid-stop, no container)
                self.send(OpEvent.EXITED_STOPPED, reason)
            self.job.op_ended(self)

    @property
    def restarting(self) -> bool:
        return self._restarts > 0

    def resume_stop(self, state: ContainerState) -> None:
        """The agent was killed while this op stopped: finish the stop it had begun."""
        self._stop_reason = self.view.message or STOPPED_BY_USER
        self.view.ready = False
        self.ready.clear()  # (set from the saved view): its dependents must not start
        if state.running:
            self.job.spawn(self.job.backend.stop(state.id, self.job.timing.stop_timeout))

    async def restart(self, ticket: int | None = None) -> None:
        """Stop the op (if it runs) and start it again, unless a stop was requested after this
        restart was: then the op stays stopped. While it restarts, its stop does not count as
        its end (the job does not end, the ops it serves are not stopped)."""
        ticket = self.ticket() if ticket is None else ticket
        if ticket != self._controls:
            return
        self._restarts += 1
        try:
            if not self.view.status.terminal:
                await self.stop(RESTARTING, control=False)
                if ticket != self._controls:
                    return
            await self.launch(restart=True)
        finally:
            self._restarts -= 1

    def detach(self) -> None:
        """Stop watching (the agent is shutting down); the container keeps running."""
        self._generation += 1
        self._cancel_tasks()


class JobRunner:
    """One job on one node."""

    def __init__(
        self,
        view: JobView,
        definition: m.JobDefinition,
        backend: Backend,
        recorder: Recorder,
        http: httpx.AsyncClient,
        timing: Timing,
        on_change: Callable[[JobView], None] | None = None,
        node_host: str = "127.0.0.1",
    ) -> None:
        self.view = view
        self.id = view.id
        self.definition = definition
        self.backend = backend
        self.recorder = recorder
        self.http = http
        self.timing = timing
        self.node_host = node_host
        self.network = ""  # set while the job's network exists
        self.containers: dict[str, OpRunner] = {}
        self._on_change = on_change
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._planning = False  # the stage loop has stages left to start
        self._network_lock = asyncio.Lock()
        self.leftover = ""  # what ``remove`` could not remove, and why
        self.resources: ResourceCache | None = None  # set by the node: fetches S3, HF, Ollama
        self.removing = False  # set by ``remove``: a launch still in flight removes its container
        by_id = {o.id: o for o in view.ops}
        self.ops: dict[str, OpRunner] = {
            op.id: OpRunner(self, op, by_id[op.id]) for op in definition.ops
        }
        self.graph = DependencyGraph.of_job(definition)
        self.plan = self.graph.stages

    @staticmethod
    def new_view(job_id: str, definition: m.JobDefinition, name: str, source: str) -> JobView:
        return planned_view(job_id, definition, name, source, created_at=time.time())

    # --- plumbing -----------------------------------------------------------------------------

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def changed(self) -> None:
        if self._on_change:
            self._on_change(self.view)

    def save(self) -> None:
        self.recorder.save_job(self.view)
        self.changed()

    def system(self, text: str) -> None:
        """A line of the job's system log, written at once (with whatever op lines wait): it
        tells what the agent did, and a kill -9 a moment later must not take it away."""
        self.recorder.append_logs(self.id, SYSTEM, [LogLine("system", time.time(), text)])
        self.recorder.flush()

    def log_sink(self, op_id: str, after: float | None = None) -> Callable[[list[LogLine]], None]:
        """Hand a follower's batches to the recorder on the loop; with ``after``, drop the lines
        already stored (the engine's ``since`` is not exact enough to rely on)."""
        loop = asyncio.get_running_loop()
        # Follower threads hand on a few lines at a time; waking the loop for each hand-off
        # costs more than the lines (measured: bench/ingest_profile.py). So hand-offs gather in
        # a buffer and the loop takes the whole buffer in one call, scheduled once per batch.
        buffer: list[LogLine] = []
        lock = threading.Lock()
        scheduled = False

        def take() -> None:
            nonlocal scheduled
            with lock:
                lines = buffer.copy()
                buffer.clear()
                scheduled = False
            self.recorder.append_logs(self.id, op_id, lines)

        def sink(lines: list[LogLine]) -> None:
            nonlocal scheduled
            if after is not None:
                lines = [ln for ln in lines if ln.ts > after]
                if not lines:
                    return
            with lock:
                buffer.extend(lines)
                if scheduled:
                    return
                scheduled = True
            loop.call_soon_threadsafe(take)

        return sink

    def literal_context(self) -> LiteralContext:
        variables = {}
        if self.definition.global_ and self.definition.global_.variables:
            variables = dict(self.definition.global_.variables)
        hosts, ports, results = {}, {}, {}
        for op_id, runner in self.ops.items():
            if runner.view.container_id or runner.view.status.terminal or runner.view.status.active:
                hosts[op_id] = container_name(self.id, op_id)
            ports[op_id] = runner.ports()
            if runner.view.results or runner.view.status is OpStatus.FINISHED:
                results[op_id] = runner.view.results
        return LiteralContext(
            job_id=self.id,
            node_host=self.node_host,
            variables=variables,
            hosts=hosts,
            ports=ports,
            results=results,
        )

    def done(self) -> bool:
        """The job has ended and so has every op: nothing more will happen unless a person
        restarts something."""
        return self.view.status.terminal and all(r.ended.is_set() for r in self.ops.values())

    async def ensure_network(self) -> None:
        async with self._network_lock:
            if not self.network:
                self.network = await self.backend.ensure_network(self.id)

    def op_failed(self, op: OpRunner) -> None:
        if self.view.status is JobStatus.RUNNING and not self._stopping:
            self._fail(
                f"op {op.id} failed: {op.view.message}",
                f"op {op.id} failed ({op.view.message}); later stages will not start",
            )

    def _fail(self, message: str, log: str) -> None:
        """The job has failed: ops that have not started never will (they end, saying so), so
        every wait on the job ends; what runs keeps running so that a person can look."""
        self.view.status = JobStatus.FAILED
        self.view.message = message
        self.system(f"job failed: {log}")
        for runner in self.ops.values():
            if runner.view.status in (OpStatus.PENDING, OpStatus.WAITING):
                runner.send(OpEvent.NEVER_STARTS, f"{NEVER_STARTED}: the job failed ({message})")
        self.save()

    def op_ended(self, op: OpRunner) -> None:
        if op.restarting:
            return  # stopped to be started again: not an end
        if op.pulled_with_credentials:
            self.spawn(op.release_image())
        # An op that serves others stops once every op it serves has ended.
        for runner in self.ops.values():
            served = self.graph.serves(runner.id)
            if op.id in served and all(self.ops[s].ended.is_set() for s in served):
                self.spawn(runner.stop("the ops it serves have ended"))
        self._maybe_end()

    def _maybe_end(self) -> None:
        if not all(r.ended.is_set() for r in self.ops.values()):
            return
        if self._planning and not self._stopping:
            return  # later stages are still to run
        if any(r.restarting for r in self.ops.values()):
            return  # one is being started again
        statuses = {r.view.status for r in self.ops.values()}
        if OpStatus.FAILED in statuses or self.view.status is JobStatus.FAILED:
            status = JobStatus.FAILED
        elif self._stopping or any(_cut_short(r.view) for r in self.ops.values()):
            status = JobStatus.STOPPED  # stopped by a person, or some of it never ran
        else:
            status = JobStatus.SUCCESS
        if self.view.ended_at is None or self.view.status is not status:
            self.view.status = status
            self.view.ended_at = time.time()
            self.system(f"job ended: {status.value}")
            self.save()
        if self.network:  # nothing runs: give the network back (Docker has few of them)
            self.network = ""
            self.spawn(self._release_network())

    async def _release_network(self) -> None:
        async with self._network_lock:
            if self.network or not self.done():
                return  # something was started again meanwhile
            try:
                await self.backend.remove_network(self.id)
            except BackendError as err:
                self.system(f"could not remove the job's network: {err}")

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._planning = True
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            start_index = 0
            if self.view.current_group in self.view.groups:
                start_index = self.view.groups.index(self.view.current_group)
            fresh = all(r.view.status is OpStatus.PENDING for r in self.ops.values())
            if start_index == 0 and fresh and not await self._check_registry_logins():
                return
            await self.ensure_network()
            for stage in self.plan[start_index:]:
                if self._stopping or self.view.status is JobStatus.FAILED:
                    return
                self.view.current_group = stage.name
                self.system(f"stage {stage.name} starts")
                self.save()
                for op_id in stage.ops:
                    runner = self.ops[op_id]
                    if runner.view.status is OpStatus.PENDING:
                        runner.send(OpEvent.SCHEDULED)
                    if runner.view.status is OpStatus.WAITING:
                        self.spawn(self._start_when_ready(runner))
                await asyncio.gather(*(self.ops[o].settled.wait() for o in stage.ops))
                if any(self.ops[o].view.status is OpStatus.FAILED for o in stage.ops):
                    return
            self.system("every stage has started")
        except BackendError as err:
            self._fail(str(err), str(err))
        except Exception as err:
            # a fault of ours or of the host (a full disk): the job fails saying why, instead of
            # staying 'running' with every op pending and nothing logged after "submitted"
            why = f"the agent could not run the job: {type(err).__name__}: {err}"
            self._fail(why, why)
        finally:
            self._planning = False
            if self.view.status is JobStatus.FAILED or self._stopping:
                for runner in self.ops.values():  # stages that will never run
                    if runner.view.status in (OpStatus.PENDING, OpStatus.WAITING):
                        why = self.view.message or "the job was stopped"
                        runner.send(OpEvent.NEVER_STARTS, f"{NEVER_STARTED}: {why}")
            self._maybe_end()

    async def _check_registry_logins(self) -> bool:
        """Each op's own registry credentials, checked with the registry before anything of the
        job starts: a wrong password fails its op, and so the job, in the registry's words."""
        checked: set[RegistryAuth] = set()
        for runner in self.ops.values():
            if not isinstance(runner.op, m.RunOperation):
                continue
            try:
                auth = credentials_of(runner.op, runner.op.args.image)
            except CredentialsLost:
                continue  # (a job read back after a restart: its launch says why it cannot pull)
            if auth is None or auth in checked:
                continue
            try:
                await self.backend.check_login(auth)
            except BackendError as err:
                runner.system(f"failed: {err}")
                runner.send(OpEvent.START_FAILED, str(err))
                self.op_failed(runner)
                return False
            checked.add(auth)
            runner.system(f"registry login accepted: {auth.describe()}")
        return True

    async def _start_when_ready(self, runner: OpRunner) -> None:
        deps = [self.ops[d] for d in self.graph.waits_for(runner.id) if d in self.ops]
        if deps:
            self.system(f"[{runner.id}] waiting for {', '.join(d.id for d in deps)}")
        for dep in deps:
            ready = asyncio.create_task(dep.ready.wait())
            ended = asyncio.create_task(dep.ended.wait())
            await asyncio.wait({ready, ended}, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            ended.cancel()
            if not dep.ready.is_set() and dep.view.status is not OpStatus.FINISHED:
                runner.send(
                    OpEvent.NEVER_STARTS,
                    f"{NEVER_STARTED}: dependency {dep.id} ended before it was ready",
                )
                self.op_ended(runner)
                return
            if self._stopping or runner.view.status is not OpStatus.WAITING:
                return
        await runner.launch()

    async def release_network(self) -> None:
        """Give the network back if the job is done (an agent killed between a job's end and
        its network's removal left it behind)."""
        if self.done() and not self.network:
            await self._release_network()

    async def resume(self) -> None:
        """Re-adopt this job's containers after the agent restarted, then carry on.

        Containers are found by their labels (job and op), not only by the saved id: an agent
        killed while ops were starting had made containers it had not written down yet. A
        container that was created but never started, and an op that never got a container,
        are started again; an op whose container is gone has failed, saying so."""
        if not self.done():
            await self.ensure_network()
        found = await self.backend.containers(self.id)
        by_id = {c.id: c for c in found}
        by_op: dict[str, ContainerState] = {}
        for labelled in found:
            op_id = labelled.labels.get(LABEL_OP, "")
            if op_id and (op_id not in by_op or labelled.running):
                by_op[op_id] = labelled
        for runner in self.ops.values():
            status = runner.view.status
            if status.terminal or status in (OpStatus.PENDING, OpStatus.WAITING):
                continue
            state: ContainerState | None = by_id.get(runner.view.container_id or "") or by_op.get(
                runner.id
            )
            if state is not None and state.status == "created":
                runner.system("agent restarted; the container was made but never started")
                state = None
                if status is OpStatus.STARTING:
                    self.spawn(runner.launch())
                    continue
            if state is None:
                if status is OpStatus.STARTING or isinstance(runner.op, m.CreateVolumeOperation):
                    runner.system("agent restarted while the op was starting; starting it again")
                    self.spawn(runner.launch())
                    continue
                runner.system("agent restarted; container is gone")
                runner.send(OpEvent.CONTAINER_LOST, "container lost while the agent was down")
                self.op_failed(runner)
                continue
            runner.system("agent restarted; re-adopting the container")
            if isinstance(runner.op, m.RunOperation) and names_credentials(runner.op):
                runner.pulled_with_credentials = runner.view.image  # removed when it ends
            # from the newest line stored; from the start when none was (the op printed
            # before the agent had stored anything of it: those lines must not be lost)
            since = self.last_log_ts(runner.id)
            if status is OpStatus.STOPPING:  # killed mid-stop: the stop goes on
                runner.resume_stop(state)
            runner.attach(state, since=since)
        if self.view.status is JobStatus.RUNNING:
            self.start()
        else:
            self._maybe_end()

    async def reconcile(self) -> None:
        """The engine was away and is back: bring every op in line with what it says now (a
        container that died meanwhile has ended; one that runs is followed again)."""
        for runner in list(self.ops.values()):
            if runner.view.status not in (
                OpStatus.RUNNING,
                OpStatus.RESTARTING,
                OpStatus.STOPPING,
            ):
                continue
            container_id = runner.view.container_id
            if not container_id:
                continue
            try:
                state = await self.backend.inspect(container_id)
            except BackendError as err:
                self.system(f"[{runner.id}] could not check its container: {err}")
                continue
            runner.reconcile(state)

    def last_log_ts(self, op_id: str) -> float | None:
        """When the newest stored line of the op was written, if any."""
        return self.recorder.last_log_ts(self.id, op_id)

    # --- controls -----------------------------------------------------------------------------

    async def stop(self, timeout: float | None = None) -> None:
        self._stopping = True
        self.system("stopping the job")
        await asyncio.gather(*(r.stop(JOB_STOPPED, timeout) for r in self.ops.values()))
        if self._task and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._maybe_end()

    async def stop_op(self, op_id: str) -> None:
        await self.ops[op_id].stop()

    async def restart_op(self, op_id: str, ticket: int | None = None) -> None:
        runner = self.ops[op_id]
        ticket = runner.ticket() if ticket is None else ticket
        if not runner.current(ticket):
            return  # stopped after this restart was asked for
        if self.view.status.terminal:
            self.view.status = JobStatus.RUNNING
            self.view.ended_at = None
            self.view.message = ""
            self._stopping = False
            self.save()
        await runner.restart(ticket)
        self._maybe_end()  # the restart may have been overruled: the job must still end

    def group_ops(self, group: str) -> list[str]:
        return [o for o, r in self.ops.items() if r.view.group == group]

    async def remove(self) -> None:
        """Stop everything and delete what the job made: containers, network, volumes."""
        self.removing = True
        if not all(r.ended.is_set() for r in self.ops.values()):
            await self.stop(timeout=0)  # it is being deleted: no grace period
        for runner in self.ops.values():
            runner.detach()
        for state in await self.backend.containers(self.id):
            try:
                await self.backend.remove(state.id)
            except BackendError:
                # a launch in flight may be removing it too ("removal already in progress")
                if await self.backend.inspect(state.id) is not None:
                    raise
        try:
            await self.backend.remove_network(self.id)
        except BackendError as err:
            # Docker 20.10 can hold a stale endpoint after kills (bench/soak.py): the job is
            # removed all the same, rather than kept for ever behind an engine fault
            self.leftover = f"its network could not be removed ({err}); `docker network prune` may"
        await self.backend.remove_volumes(self.id)

    def detach(self) -> None:
        for runner in self.ops.values():
            runner.detach()
        if self._task and not self._task.done():
            self._task.cancel()
