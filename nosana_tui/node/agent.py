"""The node agent: jobs on the local Docker engine, kept in SQLite, supervised by the engine.

The agent owns execution; clients come and go. Killed and started again, it reloads every job
from SQLite and re-adopts the running containers by their labels, so nothing that ran is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from nosana_tui import __version__
from nosana_tui.api.models import GpuTelemetry, JobView, NodeInfo, OpStatus
from nosana_tui.engine.admission import admit, gpu_need
from nosana_tui.engine.backend import Backend, BackendError
from nosana_tui.engine.registry import without_registry_passwords
from nosana_tui.engine.resources import (
    Fetcher,
    Pruned,
    ResourceCache,
    owner_of,
    without_credentials,
)
from nosana_tui.engine.runner import JobRunner, Timing
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.diagnostics import Diagnostic
from nosana_tui.jobformat.secrets import redact
from nosana_tui.jobformat.validate import validate_data
from nosana_tui.node.gpus import GpuMonitor
from nosana_tui.node.store import DEFAULT_LOG_RETENTION, Store

ENGINE_THREADS = 32


class AgentError(Exception):
    """A request the agent refuses; ``status`` is the HTTP status to answer with."""

    def __init__(
        self, message: str, status: int = 400, diagnostics: list[Diagnostic] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.diagnostics = diagnostics or []


class Agent:
    def __init__(
        self,
        data_dir: Path,
        backend: Backend,
        *,
        timing: Timing | None = None,
        node_id: str = "local",
        gpu_monitor: GpuMonitor | None = None,
        log_retention: int = DEFAULT_LOG_RETENTION,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.store = Store(data_dir / "agent.sqlite3", retention=log_retention)
        self.backend = backend
        self.timing = timing or Timing()
        self.node_id = node_id
        self.runners: dict[str, JobRunner] = {}
        # health checks go to 127.0.0.1: never through a proxy from the environment
        self.http = httpx.AsyncClient(trust_env=False)
        self._changes: dict[str, asyncio.Condition] = {}
        self._versions: dict[str, int] = {}  # each job's changes, counted (``changes``)
        self._cancel_events: Callable[[], None] | None = None
        self._resuming: asyncio.Task[None] | None = None
        self.closing = asyncio.Event()  # set when the agent shuts down: every stream ends
        self.open_sockets = 0  # /flog and /log websockets being served (``node.sockets``)
        self.gpu_monitor = gpu_monitor or GpuMonitor()
        self.gpu_monitor.owner = self._owner_of
        # S3, HF and Ollama resources: fetched into cached volumes (downloads land here first)
        # (its volumes carry the id kept in the data folder: this agent prunes only those)
        self.resources = (
            ResourceCache(backend, fetcher, data_dir / "downloads", owner=owner_of(data_dir))
            if fetcher is not None
            else None
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def startup(self) -> None:
        loop = asyncio.get_running_loop()

        def sink(container_id: str, action: str, attrs: dict[str, str]) -> None:
            loop.call_soon_threadsafe(self._on_event, container_id, action)

        # Engine calls run in threads; the default pool (cores + 4) is too few for a restart
        # that re-adopts a hundred ops while other requests wait (measured: bench/soak.py).
        # Every job's engine calls wait for these threads, so what may last for ever (a stream,
        # a pull, a resource download, a volume fill) has a thread of its own instead
        # (``engine.threads``; issue 13, finding 7).
        loop.set_default_executor(ThreadPoolExecutor(max_workers=ENGINE_THREADS))
        self._cancel_events = self.backend.watch_events(sink)
        self.gpu_monitor.start()  # discovers in the background; readers wait for its first answer
        saved = [
            self._runner(view, m.JobDefinition.model_validate(definition))
            for view, definition in self.store.jobs()
        ]
        # Jobs are resumed in the background: the agent answers at once (showing each job as
        # it was last saved) instead of after every container has been looked at.
        self._resuming = loop.create_task(self._resume_all(saved))

    async def _resume_all(self, saved: list[JobRunner]) -> None:
        """Re-adopt the jobs this agent found saved (not those submitted since it started)."""
        for runner in saved:
            if self.runners.get(runner.id) is not runner:
                continue  # removed meanwhile
            view = runner.view
            try:
                if not view.status.terminal or any(
                    o.status.active or o.status is OpStatus.STOPPING for o in view.ops
                ):
                    await runner.resume()
                else:
                    await runner.release_network()
            except BackendError as err:
                runner.system(f"could not resume: {err}")

    def begin_shutdown(self) -> None:
        """Tell every stream to end (clients see their stream close at once, not cut)."""
        self.closing.set()
        for cond in self._changes.values():
            self._notify(cond)

    async def shutdown(self) -> None:
        """Stop watching; containers keep running and are re-adopted at the next start."""
        self.begin_shutdown()
        if self._resuming is not None and not self._resuming.done():
            self._resuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resuming
        if self._cancel_events:
            self._cancel_events()
        await self.gpu_monitor.stop()
        for runner in self.runners.values():
            runner.detach()
        self.store.close()
        await self.http.aclose()
        await self.backend.close()

    def _runner(self, view: JobView, job: m.JobDefinition) -> JobRunner:
        runner = JobRunner(
            view,
            job,
            self.backend,
            self.store,
            self.http,
            self.timing,
            on_change=self._changed,
        )
        runner.resources = self.resources
        self.runners[view.id] = runner
        return runner

    def _on_event(self, container_id: str, action: str) -> None:
        if action == "reconnect":  # the engine is back: what happened while it was away?
            self.system_all("the Docker engine answers again; checking every op against it")
            for runner in list(self.runners.values()):
                runner.spawn(runner.reconcile())
            return
        for runner in self.runners.values():
            op = runner.containers.get(container_id)
            if op is not None:
                op.on_event(action)
                return

    def system_all(self, text: str) -> None:
        for runner in self.runners.values():
            if not runner.view.status.terminal:
                runner.system(text)

    def _changed(self, view: JobView) -> None:
        if view.id in self.runners:  # (not a late save of a removed job)
            self._versions[view.id] = self._versions.get(view.id, 0) + 1
        cond = self._changes.get(view.id)
        if cond is not None:
            self._notify(cond)

    @staticmethod
    def _notify(cond: asyncio.Condition) -> None:
        async def notify() -> None:
            async with cond:
                cond.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def stream_over(self, job_id: str, op_id: str | None = None) -> str | None:
        """Why a stream of the job (its state, its followed logs; with OP_ID, that op's logs)
        ends now, or None: the agent shuts down, the job was removed, the job and all its ops
        have ended, or the op has (nothing more can come). Every wait a client does ends on
        one of these; none hangs."""
        if self.closing.is_set():
            return "the node agent is shutting down"
        runner = self.runners.get(job_id)
        if runner is None:
            return f"job {job_id} was removed"
        if runner.done():
            return f"job {job_id} has ended"
        op = runner.ops.get(op_id or "")
        if op is not None and op.view.status.terminal:
            return f"op {op_id} has ended"
        return None

    async def changes(self, job_id: str, keepalive: float = 15.0) -> AsyncIterator[JobView | None]:
        """The job's view now and after every change; None every ``keepalive`` seconds. Ends
        after the job's last change, when it is removed, or when the agent shuts down."""
        job_id = self._get(job_id).id
        cond = self._changes.setdefault(job_id, asyncio.Condition())
        last = ""
        while True:
            # Whether it is over is asked before the view is read, and changes are counted: one
            # made while the reader of this stream still handles the last view (a notification
            # with nobody waiting) is sent at once, the job's end included, not at the next
            # keep-alive, and the stream never ends without the job's last state.
            seen = self._versions.get(job_id, 0)
            over = self.stream_over(job_id)
            runner = self.runners.get(job_id)
            if runner is not None:
                dumped = runner.view.model_dump_json()
                if dumped != last:
                    last = dumped
                    yield runner.view
            if over:
                return
            async with cond:
                if self._versions.get(job_id, 0) != seen or self.stream_over(job_id):
                    continue
                try:
                    await asyncio.wait_for(cond.wait(), keepalive)
                    quiet = False
                except TimeoutError:
                    quiet = True
            if quiet:
                yield None  # (not holding the condition: its other streams go on meanwhile)

    # --- queries ------------------------------------------------------------------------------

    def jobs(self) -> list[JobView]:
        return [r.view for r in self.runners.values()]

    def job(self, job_id: str) -> JobView:
        return self._get(job_id).view

    def _get(self, job_id: str) -> JobRunner:
        """A job by its id or, as ``docker`` takes container ids, an unambiguous prefix."""
        runner = self.runners.get(job_id)
        if runner is not None:
            return runner
        found = [r for key, r in self.runners.items() if job_id and key.startswith(job_id)]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(sorted(r.id for r in found))
            raise AgentError(f"{job_id!r} matches several jobs: {ids}; give more of the id", 400)
        raise AgentError(f"no job {job_id!r} on this node", 404)

    def definition(self, job_id: str) -> dict[str, Any]:
        return redact(  # (S3 keys, HF tokens and registry passwords never leave the agent)
            self._get(job_id).definition.model_dump(mode="json", by_alias=True, exclude_none=True)
        )

    async def info(self) -> NodeInfo:
        engine = await self.backend.info()
        images = await self.backend.images()
        access = await self.backend.gpu_access()
        await self.gpu_monitor.ready()
        return NodeInfo(
            version=__version__,
            node_id=self.node_id,
            engine=engine,
            gpus=self.gpu_monitor.gpus,
            gpu_source=self.gpu_monitor.discovery.source,
            gpu_access=access.mode,
            gpu_note=self.gpu_monitor.note or (access.detail if access.mode == "none" else ""),
            images=images,
            jobs=len(self.runners),
            data_dir=str(self.data_dir),
        )

    async def gpu_telemetry(self) -> GpuTelemetry:
        access = await self.backend.gpu_access()
        await self.gpu_monitor.ready()
        return self.gpu_monitor.telemetry(access.mode)

    def _owner_of(self, container_id: str) -> tuple[str, str] | None:
        for runner in self.runners.values():
            op = runner.containers.get(container_id)
            if op is not None:
                return runner.id, op.id
        return None

    # --- commands -----------------------------------------------------------------------------

    async def submit(
        self,
        definition: dict[str, Any],
        name: str = "",
        source: str = "",
        *,
        poster: str | None = None,
    ) -> JobView:
        """POSTER: the address that posted it (``--auth nosana``: its signature was checked)."""
        job, diags = validate_data(definition)
        if job is None:
            errors = [d for d in diags if d.severity == "error"]
            raise AgentError("the job definition is not valid", 422, errors)
        if gpu_need(job) is not None:
            await self.gpu_monitor.ready()  # admission needs the GPUs found
        admission = admit(job, self.gpu_monitor.gpus, note=self.gpu_monitor.note)
        if not admission.ok:
            raise AgentError(admission.message, 409)
        job_id = secrets.token_hex(6)
        view = JobRunner.new_view(job_id, job, name or source or job_id, source)
        view.poster = poster
        # credentials stay in memory (the runner's definition): never in the state database
        self.store.add_job(view, without_registry_passwords(without_credentials(definition)))
        runner = self._runner(view, job)
        runner.system(f"job {job_id} submitted ({name or source or 'no name'})")
        runner.start()
        return view

    async def prune_resources(self, older_than: float) -> Pruned:
        """Remove cached resource volumes not used for ``older_than`` seconds (``node prune``)."""
        if self.resources is None:
            raise AgentError("this agent fetches no resources: it has no cached volumes", 409)
        return await self.resources.prune(older_than)

    async def stop_job(self, job_id: str) -> None:
        await self._get(job_id).stop()

    def _op(self, job_id: str, op_id: str, group: str | None = None) -> JobRunner:
        runner = self._get(job_id)
        if op_id not in runner.ops:
            ops = ", ".join(runner.ops)
            raise AgentError(f"job {runner.id} has no op {op_id!r} (ops: {ops})", 404)
        if group is not None and runner.ops[op_id].view.group != group:
            raise AgentError(f"op {op_id!r} is not in group {group!r}", 404)
        return runner

    async def stop_op(self, job_id: str, op_id: str, group: str | None = None) -> None:
        await self._op(job_id, op_id, group).stop_op(op_id)

    def restart_op(
        self, job_id: str, op_id: str, group: str | None = None
    ) -> Coroutine[Any, Any, None]:
        """The restart, to await now or run as a task: it is registered at once, so a stop that
        arrives after it (even before the task runs) overrules it."""
        runner = self._op(job_id, op_id, group)
        return runner.restart_op(op_id, runner.ops[op_id].ticket())

    def _group(self, job_id: str, group: str) -> tuple[JobRunner, list[str]]:
        runner = self._get(job_id)
        ops = runner.group_ops(group)
        if not ops:
            raise AgentError(f"job {runner.id} has no group {group!r}", 404)
        return runner, ops

    async def stop_group(self, job_id: str, group: str) -> None:
        runner, ops = self._group(job_id, group)
        await asyncio.gather(*(runner.stop_op(o) for o in ops))

    def restart_group(self, job_id: str, group: str) -> Coroutine[Any, Any, None]:
        runner, ops = self._group(job_id, group)
        tickets = {op_id: runner.ops[op_id].ticket() for op_id in ops}

        async def restart() -> None:
            for op_id, ticket in tickets.items():
                await runner.restart_op(op_id, ticket)

        return restart()

    async def remove(self, job_id: str) -> str:
        """Remove the job; returns what could not be removed with it ("" when nothing)."""
        runner = self._get(job_id)
        await runner.remove()
        del self.runners[runner.id]
        self._versions.pop(runner.id, None)
        self.store.delete_job(runner.id)
        cond = self._changes.pop(runner.id, None)
        if cond is not None:
            self._notify(cond)  # its streams end now
        self.store.end_streams(runner.id)
        return runner.leftover
