"""An in-memory container engine that obeys the ``Backend`` contract the way ``DockerBackend``
does, and plays on demand the faults a real engine shows.

tests/engine/test_backend_contract.py runs one set of tests against this fake and against the
real engine; what is copied from Docker is checked there. Where the fake had to guess, the
guess is named where it is made (search for "Guess").

What a container does is read from its command, as far as tests use busybox: ``echo`` (``>&2``
for stderr), ``true``, ``false`` and ``exit N`` run at once, in order; ``sleep`` and anything
else keeps the container running until a test makes it exit (the fake keeps no time).

As in ``DockerBackend``, log lines and events reach their sinks on a thread of the backend's
own, never on the event loop's; one thread, in the order the engine produced them.
``quiesce()`` waits until all of that has been delivered and no call is in flight.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import hashlib
import itertools
import queue
import re
import shlex
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nosana_tui.backends.docker import NETWORK_PREFIX, NO_POOL_HINT
from nosana_tui.engine.backend import (
    EVENT_RECONNECT,
    LABEL_AGENT,
    LABEL_JOB,
    LABEL_OP,
    LABEL_RESOURCE,
    LABEL_RESOURCE_OWNER,
    BackendError,
    CachedVolume,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    Drained,
    EventSink,
    ExecSink,
    GpuAccess,
    LogLine,
    LogSink,
    PullProgress,
    StatsSink,
)
from nosana_tui.engine.registry import RegistryAuth, registry_of

POOLS_EXHAUSTED = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults to "
    "assign to the network"
)
# What DockerBackend says when dockerd has gone away (a call that starts something says
# "start failed: " first).
ENGINE_GONE = "the Docker engine at fake:// does not answer: Connection refused"
FIRST_EPHEMERAL_PORT = 32768

METHODS = frozenset(
    {
        "info",
        "gpu_access",
        "images",
        "ensure_network",
        "remove_network",
        "create_volume",
        "remove_volumes",
        "has_image",
        "pull",
        "check_login",
        "remove_image",
        "run",
        "inspect",
        "stop",
        "remove",
        "containers",
        "stats",
        "exec",
    }
)


# --- what a container runs --------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """What a container prints when it starts, and how it ends (None: it keeps running)."""

    lines: tuple[tuple[str, str], ...] = ()  # (stream, text)
    exit_code: int | None = None


def program_of(argv: list[str]) -> Program:
    """The busybox commands tests use, read from the container's entrypoint + cmd."""
    if len(argv) >= 3 and argv[0].rsplit("/", 1)[-1] == "sh" and argv[1] == "-c":
        commands = re.split(r";|&&|\n", argv[2])
    elif argv:
        commands = [shlex.join(argv)]
    else:
        # Guess: an image's default command is taken to be a service that keeps running.
        return Program()
    lines: list[tuple[str, str]] = []
    status = 0
    for command in commands:
        words = shlex.split(command)
        if not words:
            continue
        stream = "stdout"
        if words[-1] in (">&2", "1>&2"):
            words, stream = words[:-1], "stderr"
        name, args = words[0].rsplit("/", 1)[-1], words[1:]
        if name == "echo":
            lines.append((stream, " ".join(args)))
            status = 0
        elif name in ("true", ":"):
            status = 0
        elif name == "false":
            status = 1
        elif name == "exit":
            return Program(tuple(lines), int(args[0]) if args else status)
        else:  # sleep, a server: runs until it is stopped or a test makes it exit
            return Program(tuple(lines))
    return Program(tuple(lines), status)


# --- threads the loop hands work to -------------------------------------------------------------


class CountingExecutor(ThreadPoolExecutor):
    """A loop's default executor that knows how much work it holds, so ``quiesce`` can wait for
    work handed to threads (the runner reads a stopped container's last lines with
    ``asyncio.to_thread``)."""

    def __init__(self) -> None:
        super().__init__(max_workers=8, thread_name_prefix="fake-engine-loop")
        self._count_lock = threading.Lock()
        self.pending = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            self.pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._count_lock:
            self.pending -= 1


# --- the engine's objects ---------------------------------------------------------------------


@dataclass(eq=False)
class FakeContainer:
    id: str
    name: str
    spec: ContainerSpec
    labels: dict[str, str]
    created: int  # order of creation: ``containers()`` lists the newest first, as Docker does
    status: str = "created"  # created, running, restarting, exited
    exit_code: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    restart_count: int = 0  # restarts by the restart policy; `docker restart` does not count
    host_ports: dict[int, int] = field(default_factory=dict)
    log: list[LogLine] = field(default_factory=list)
    # busybox as PID 1 ignores SIGTERM, so `docker stop` kills it once the grace is over
    stop_code: int = 137
    runs: int = 0  # starts so far; a step scheduled by an earlier run does nothing
    stopped_by_hand: bool = False  # `docker stop`: no restart policy brings it back
    removed: bool = False

    def state(self) -> ContainerState:
        return ContainerState(
            id=self.id,
            name=self.name,
            status=self.status,
            exit_code=self.exit_code if self.status in ("exited", "dead") else None,
            started_at=self.started_at,
            finished_at=self.finished_at,
            restart_count=self.restart_count,
            ports=dict(self.host_ports) if self.status == "running" else {},
            labels=dict(self.labels),
        )


@dataclass
class FakeNetwork:
    name: str
    id: str
    labels: dict[str, str]


@dataclass
class _Refusal:
    message: str
    times: int | None  # None: until ``accept``


@dataclass
class _Watch:
    sink: EventSink
    active: bool = True


def _normal_image(image: str) -> str:
    """``busybox`` and ``busybox:latest`` are one image, as the engine resolves them."""
    last = image.rsplit("/", 1)[-1]
    return image if "@" in image or ":" in last else f"{image}:latest"


def _hex_id(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


class FakeFollower:
    """A log stream of one container, with the semantics of ``DockerBackend``'s ``_Follower``:
    it follows while the container runs (the stream ends with the process, or when the engine
    goes away); ``finish`` hands on what the stream has not, at most the newest ``keep`` lines
    of each stream; ``cancel`` stops it. Lines are handed on at most once."""

    def __init__(
        self,
        backend: FakeBackend,
        container: FakeContainer | None,
        since: float | None,
        sink: LogSink,
    ) -> None:
        self._backend = backend
        self._container = container
        self._sink = sink
        self._cancelled = False
        log = container.log if container else []
        # the engine's ``since`` keeps lines stamped at or after it
        self._handed = 0 if since is None else bisect.bisect_left([ln.ts for ln in log], since)
        live = container is not None and container.status == "running" and not backend.down
        self._live_until: int | None = None if live else len(log)
        if container is not None:
            with backend._lock:
                backend._followers.append(self)
            backend._send(self._pump)

    @property
    def container(self) -> FakeContainer | None:
        return self._container

    @property
    def live(self) -> bool:
        return not self._cancelled and self._live_until is None

    def end_stream(self) -> None:
        """The process stopped or the engine went away: what was printed is the stream's end."""
        if self._container is not None and self._live_until is None:
            self._live_until = len(self._container.log)
            self._backend._send(self._pump)

    def _pump(self) -> None:
        """On the delivery thread: hand on what the stream has printed since the last time."""
        with self._backend._lock:
            if self._cancelled or self._container is None:
                return
            log = self._container.log
            end = len(log) if self._live_until is None else self._live_until
            fresh = log[self._handed : end]
            self._handed = max(self._handed, end)
            if fresh:
                self._sink(list(fresh))

    def cancel(self) -> None:
        with self._backend._lock:
            self._cancelled = True
            self._backend._forget(self)

    def finish(self, timeout: float, keep: int) -> Drained:
        self._backend._enter()
        try:
            with self._backend._lock:
                self._cancelled = True
                container = self._container
                if container is None or container.removed or self._backend.down:
                    return Drained(complete=True, gap=False)  # nothing left to read
                rest = container.log[self._handed :]
                self._handed = len(container.log)
                kept: list[LogLine] = []
                gap = False
                for stream in ("stdout", "stderr"):
                    lines = [ln for ln in rest if ln.stream == stream]
                    gap = gap or len(lines) > keep
                    kept.extend(lines[-keep:] if keep else [])
                kept.sort(key=lambda ln: ln.ts)
                if kept:
                    self._sink(kept)
                return Drained(complete=True, gap=gap)
        finally:
            with self._backend._lock:
                self._backend._forget(self)
            self._backend._leave()


STATS_PERIOD = 0.05  # seconds between the samples of ``follow_stats``


def _fake_stats(container: FakeContainer) -> ContainerStats:
    return ContainerStats(
        ts=time.time(),
        cpu_percent=1.5,
        memory_usage=1 << 20,
        memory_limit=1 << 30,
        net_rx=100,
        net_tx=50,
        disk_read=0,
        disk_write=0,
    )


class FakeExec:
    """An exec session of the fake engine (``FakeBackend.exec``)."""

    def __init__(self, engine: FakeBackend, program: Program, sink: ExecSink, tty: bool) -> None:
        self.engine, self.program, self.sink = engine, program, sink
        self.stdin = bytearray()
        self.size: tuple[int, int] | None = None
        self.ended = False
        end = "\r\n" if tty else "\n"
        for stream, text in program.lines:
            self._out("stdout" if tty else stream, (text + end).encode())
        if program.exit_code is not None:
            self._end()

    def _out(self, stream: str, data: bytes) -> None:
        self.engine._send(functools.partial(self.sink, stream, data))

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self._out("eof", b"")

    async def write(self, data: bytes) -> None:
        if self.ended:
            raise BackendError("the command's stdin is closed (Broken pipe)")
        self.stdin += data

    async def close_stdin(self) -> None:
        self._end()

    async def resize(self, cols: int, rows: int) -> None:
        self.size = (cols, rows)

    async def exit_code(self) -> int | None:
        return self.program.exit_code if self.program.exit_code is not None else 0

    def close(self) -> None:
        self._end()


# --- the engine -------------------------------------------------------------------------------


class FakeBackend:
    """Containers, networks, volumes and images in memory, behind the ``Backend`` protocol."""

    def __init__(self, agent_id: str = "fake", images: set[str] | None = None) -> None:
        self.agent_id = agent_id
        self.local_images = {_normal_image(i) for i in (images or {"busybox:latest"})}
        self.registry: set[str] | None = None  # what ``pull`` finds; None: every image
        # registries that want a login: host -> (username, password); and what the user's Docker
        # configuration (config.json, credential helpers) holds for a pull without credentials
        self.logins: dict[str, tuple[str, str]] = {}
        self.docker_config: dict[str, tuple[str, str]] = {}
        self.gpu = GpuAccess("none", "the fake engine has no GPUs")
        self.networks: dict[str, FakeNetwork] = {}
        self.volumes: dict[str, dict[str, str]] = {}  # name -> labels
        # cached resource volumes: name -> (marker or None, files: path -> bytes); the volume's
        # labels are in ``volumes``. ``fill_fails``: the next fill raises this (then forgets it)
        self.cached: dict[str, tuple[dict[str, object] | None, dict[str, bytes]]] = {}
        self.fill_fails: str | None = None
        self.down = False
        self.calls: list[tuple[str, str]] = []  # (method, its first argument) as each takes effect
        self.history: list[tuple[str, str]] = []  # (container name, action) of every event
        self.in_flight: Counter[str] = Counter()
        self.delivery_errors: list[BaseException] = []  # what a sink raised on the thread
        self.policy_delay = 0.005  # Guess: Docker waits 100 ms, doubling; scaled down here
        self._containers: dict[str, FakeContainer] = {}
        self._followers: list[FakeFollower] = []
        self._watches: list[_Watch] = []
        self._slow: dict[str, tuple[float, str | None]] = {}
        self._refusals: dict[str, _Refusal] = {}
        self._inspected: dict[str, list[asyncio.Event]] = {}
        self._timers: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._busy = 0  # calls, scheduled steps and log reads not yet done
        self._undelivered = 0
        self._executor: CountingExecutor | None = None
        self._outbox: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._deliver, daemon=True, name="fake-engine")
        self._thread.start()

    # --- plumbing -----------------------------------------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1

    def _forget(self, follower: FakeFollower) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._followers.remove(follower)

    def _followers_of(self, container: FakeContainer) -> list[FakeFollower]:
        with self._lock:
            return [f for f in self._followers if f.container is container]

    def _send(self, job: Callable[[], None]) -> None:
        """Deliver on the backend's thread, after everything sent before."""
        with self._lock:
            self._undelivered += 1
        self._outbox.put(job)

    def _deliver(self) -> None:
        while True:
            job = self._outbox.get()
            if job is None:
                return
            try:
                job()
            except BaseException as err:  # a sink that raised: a test failure, not a dead thread
                self.delivery_errors.append(err)
            finally:
                with self._lock:
                    self._undelivered -= 1

    @contextlib.asynccontextmanager
    async def _call(self, method: str, target: str = "", doing: str = "") -> AsyncIterator[None]:
        """One API call: slow if asked, refused while the engine is down, then recorded."""
        self._enter()
        self.in_flight[method] += 1
        try:
            seconds, only = self._slow.get(method, (0.0, None))
            if seconds and (only is None or only in target):
                await asyncio.sleep(seconds)
            if self.down:
                raise BackendError(f"{doing}: {ENGINE_GONE}" if doing else ENGINE_GONE)
            if method not in ("run", "ensure_network", "pull"):  # they refuse at their own point
                refusal = self._refused(method)
                if refusal is not None:
                    raise BackendError(refusal)
            self.calls.append((method, target))
            yield
        finally:
            self.in_flight[method] -= 1
            self._leave()

    def _refused(self, method: str) -> str | None:
        refusal = self._refusals.get(method)
        if refusal is None:
            return None
        if refusal.times is not None:
            refusal.times -= 1
            if refusal.times <= 0:
                del self._refusals[method]
        return refusal.message

    def _find(self, ref: str) -> FakeContainer | None:
        """By id, by name, or by an unambiguous id prefix: what the engine accepts."""
        if ref in self._containers:
            return self._containers[ref]
        name = ref.lstrip("/")
        for container in self._containers.values():
            if container.name == name:
                return container
        found = [c for c in self._containers.values() if ref and c.id.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def _event(self, container: FakeContainer, action: str, **extra: str) -> None:
        self.history.append((container.name, action))
        if self.down:
            return  # the event stream is down: the event is lost, as it is with dockerd
        attrs = {**container.labels, "image": container.spec.image, "name": container.name}
        attrs.update(extra)
        for watch in list(self._watches):
            if watch.active:
                self._send(self._event_job(watch, container.id, action, attrs))

    @staticmethod
    def _event_job(
        watch: _Watch, container_id: str, action: str, attrs: dict[str, str]
    ) -> Callable[[], None]:
        def job() -> None:
            if watch.active:
                watch.sink(container_id, action, dict(attrs))

        return job

    def _later(self, delay: float, step: Callable[[], None]) -> None:
        """Run ``step`` on the loop after ``delay``; the engine counts as busy meanwhile."""
        self._enter()

        async def wait() -> None:
            try:
                await asyncio.sleep(delay)
                step()
            finally:
                self._leave()

        task = asyncio.get_running_loop().create_task(wait())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    def _free_port(self) -> int:
        taken = {p for c in self._containers.values() for p in c.host_ports.values()}
        return next(p for p in itertools.count(FIRST_EPHEMERAL_PORT) if p not in taken)

    # --- container life ---------------------------------------------------------------------

    def _start(self, container: FakeContainer) -> None:
        container.status = "running"
        container.exit_code = 0
        container.started_at = time.time()
        container.stopped_by_hand = False
        container.runs += 1
        # Ephemeral host ports are taken again at every start (Docker gives new ones).
        for port in container.spec.ports:
            if port.host_port is None:
                container.host_ports[port.container_port] = self._free_port()
        self._event(container, "start")
        argv = list(container.spec.entrypoint or []) + list(container.spec.cmd or [])
        self._later(0, functools.partial(self._execute, container, argv, container.runs))

    def _execute(self, container: FakeContainer, argv: list[str], run: int) -> None:
        if container.runs != run or container.status != "running" or container.removed:
            return
        program = program_of(argv)
        for stream, text in program.lines:
            self._print(container, stream, text)
        if program.exit_code is not None:
            self._die(container, program.exit_code)

    def _print(self, container: FakeContainer, stream: str, text: str) -> None:
        with self._lock:
            now = time.time()
            if container.log and now <= container.log[-1].ts:
                now = container.log[-1].ts + 1e-6  # stamps only grow, as the engine's do
            container.log.append(LogLine(stream, now, text))
        for follower in self._followers_of(container):
            if follower.live:
                self._send(follower._pump)

    def _die(self, container: FakeContainer, code: int, *, policy: bool = True) -> None:
        """The container's process ended with ``code``."""
        container.status = "exited"
        container.exit_code = code
        container.finished_at = time.time()
        for follower in self._followers_of(container):
            follower.end_stream()
        self._event(container, "die", exitCode=str(code))
        if policy and self._policy_restarts(container, code):
            self._restarting(container)
            delay = min(self.policy_delay * 2 ** (container.restart_count - 1), 0.1)
            self._later(delay, functools.partial(self._policy_start, container, container.runs))

    def _policy_restarts(self, container: FakeContainer, code: int) -> bool:
        policy = container.spec.restart_policy
        if container.stopped_by_hand or policy in (None, "no"):
            return False
        if policy == "on-failure":
            tries = container.spec.restart_tries
            return code != 0 and (tries is None or container.restart_count < tries)
        return True  # always, unless-stopped

    def _restarting(self, container: FakeContainer) -> None:
        # Docker counts the restart as it enters "restarting", before the new start.
        container.status = "restarting"
        container.restart_count += 1

    def _policy_start(self, container: FakeContainer, run: int) -> None:
        if container.runs == run and container.status == "restarting" and not container.removed:
            self._start(container)

    def _destroy(self, container: FakeContainer) -> None:
        """``docker rm -f``: a running container is killed first."""
        if container.status in ("running", "restarting"):
            self._event(container, "kill", signal="9")
            self._die(container, 137, policy=False)
        container.removed = True
        del self._containers[container.id]
        for follower in self._followers_of(container):
            follower.end_stream()
        self._event(container, "destroy")

    async def _inspect_gap(
        self, container: FakeContainer, waiter: asyncio.Event, most: float
    ) -> None:
        """Let someone inspect the container in its present state, or give up after ``most``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), most)
        with contextlib.suppress(ValueError):
            self._inspected.get(container.id, []).remove(waiter)

    def _arm_inspect(self, container: FakeContainer) -> asyncio.Event:
        waiter = asyncio.Event()
        self._inspected.setdefault(container.id, []).append(waiter)
        return waiter

    # --- Backend: engine ----------------------------------------------------------------------

    async def info(self) -> dict[str, object]:
        async with self._call("info"):
            running = sum(c.status == "running" for c in self._containers.values())
            return {
                "name": "fake",
                "version": "0",
                "api_version": "0",
                "os": "memory",
                "storage_driver": "memory",
                "runtimes": [],
                "cdi_devices": [],
                "gpu_runtime": False,
                "cpus": 1,
                "memory": 0,
                "containers_running": running,
            }

    async def gpu_access(self) -> GpuAccess:
        async with self._call("gpu_access"):
            return self.gpu

    async def images(self) -> list[dict[str, object]]:
        async with self._call("images"):
            return [
                {"tags": [i], "size": 0, "id": "sha256:" + _hex_id(i)} for i in self.local_images
            ]

    # --- Backend: networks and volumes --------------------------------------------------------

    def _labels(self, job_id: str, op_id: str | None = None) -> dict[str, str]:
        labels = {LABEL_JOB: job_id, LABEL_AGENT: self.agent_id}
        if op_id is not None:
            labels[LABEL_OP] = op_id
        return labels

    async def ensure_network(self, job_id: str) -> str:
        async with self._call("ensure_network", job_id):
            name = NETWORK_PREFIX + job_id
            if name not in self.networks:
                refusal = self._refused("ensure_network")  # only creating one can fail
                if refusal is not None and (
                    "address pool" in refusal or "non-overlapping" in refusal
                ):
                    raise BackendError(f"{NO_POOL_HINT} (the engine said: {refusal})")
                if refusal is not None:
                    raise BackendError(f"network {name}: {refusal}")
                self.networks[name] = FakeNetwork(name, _hex_id("net", name), self._labels(job_id))
            return name

    async def remove_network(self, job_id: str) -> None:
        async with self._call("remove_network", job_id):
            for net in list(self.networks.values()):
                if net.labels.get(LABEL_JOB) != job_id:
                    continue
                # Docker refuses while a running container is attached; stopped ones do not count
                if any(
                    c.spec.network == net.name and c.status in ("running", "restarting")
                    for c in self._containers.values()
                ):
                    raise BackendError(
                        f"error while removing network: network {net.name} id {net.id} has "
                        "active endpoints"
                    )
                del self.networks[net.name]

    async def create_volume(self, job_id: str, name: str) -> str:
        full = f"{job_id}-{name}"
        async with self._call("create_volume", full):
            self.volumes.setdefault(full, self._labels(job_id))  # an existing one is kept
            return full

    async def remove_volumes(self, job_id: str) -> None:
        async with self._call("remove_volumes", job_id):
            for name, labels in list(self.volumes.items()):
                if labels.get(LABEL_JOB) != job_id:
                    continue
                users = [
                    c.id
                    for c in self._containers.values()
                    if any(v == name for v, _ in c.spec.volumes)
                ]
                if users:  # any container, stopped ones too
                    raise BackendError(f"remove {name}: volume is in use - [{', '.join(users)}]")
                del self.volumes[name]

    # --- Backend: cached resource volumes --------------------------------------------------

    def _cached_volume(self, name: str) -> CachedVolume:
        marker, _ = self.cached.get(name, (None, {}))
        users = [
            c for c in self._containers.values() if name in (v for v, *_ in c.spec.resource_mounts)
        ]
        return CachedVolume(name, dict(self.volumes[name]), marker, in_use=bool(users))

    async def cached_volume(self, name: str) -> CachedVolume | None:
        async with self._call("cached_volume", name):
            return self._cached_volume(name) if name in self.volumes else None

    async def cached_volumes(self, owner: str | None = None) -> list[CachedVolume]:
        async with self._call("cached_volumes", ""):
            return [
                self._cached_volume(n)
                for n, labels in self.volumes.items()
                if LABEL_RESOURCE in labels
                and (owner is None or labels.get(LABEL_RESOURCE_OWNER) in (owner, None))
            ]

    async def fill_cached_volume(
        self, name: str, labels: dict[str, str], source: Path, marker: dict[str, object]
    ) -> None:
        async with self._call("fill_cached_volume", name):
            if not source.is_dir():  # as the real one: the tar of it cannot be made
                raise BackendError(f"could not read the download: {source} is gone")
            files = {
                str(p.relative_to(source)): p.read_bytes() for p in source.rglob("*") if p.is_file()
            }
            if self.fill_fails is not None:
                why, self.fill_fails = self.fill_fails, None
                raise BackendError(f"filling volume {name}: {why}")  # (nothing is left of it)
            self.volumes[name] = dict(labels)
            self.cached[name] = (dict(marker), files)

    async def mark_cached_volume(self, name: str, marker: dict[str, object]) -> None:
        async with self._call("mark_cached_volume", name):
            self.cached[name] = (dict(marker), self.cached.get(name, (None, {}))[1])

    async def remove_cached_volume(self, name: str) -> bool:
        async with self._call("remove_cached_volume", name):
            if name not in self.volumes:
                return True
            if self._cached_volume(name).in_use:
                return False
            del self.volumes[name]
            self.cached.pop(name, None)
            return True

    # --- Backend: images ----------------------------------------------------------------------

    async def has_image(self, image: str) -> bool:
        async with self._call("has_image", image):
            return _normal_image(image) in self.local_images

    async def pull(
        self,
        image: str,
        progress: Callable[[PullProgress], None],
        auth: RegistryAuth | None = None,
    ) -> None:
        async with self._call("pull", image, f"pull {image}"):
            refusal = self._refused("pull") or self._unauthorized(image, auth)
            if refusal is None and self.registry is not None and image not in self.registry:
                repo = image.rsplit(":", 1)[0]
                refusal = (
                    f"pull access denied for {repo}, repository does not exist or may require "
                    "'docker login': denied: requested access to the resource is denied"
                )
            if refusal is not None:
                raise BackendError(f"pull {image}: {refusal}")

            def report() -> None:  # on a thread, as the SDK's stream is read on one
                layer = _hex_id("layer", image)[:12]
                progress(PullProgress(image, layer, "Downloading", 0, 100))
                progress(PullProgress(image, layer, "Downloading", 100, 100))
                progress(PullProgress(image, layer, "Pull complete"))

            await asyncio.to_thread(report)
            self.local_images.add(_normal_image(image))

    def _unauthorized(self, image: str, auth: RegistryAuth | None) -> str | None:
        """Docker's words when a registry that wants a login refuses the pull."""
        host = registry_of(image)
        wanted = self.logins.get(host)
        if wanted is None:
            return None
        given = (auth.username, auth.password) if auth else self.docker_config.get(host)
        if given is None:
            repo = image.rsplit(":", 1)[0].split("/", 1)[1]
            return f'Head "http://{host}/v2/{repo}/manifests/latest": no basic auth credentials'
        return None if given == wanted else "unauthorized: authentication required"

    async def check_login(self, auth: RegistryAuth) -> None:
        async with self._call("check_login", auth.server):
            wanted = self.logins.get(auth.server)
            if wanted is not None and wanted != (auth.username, auth.password):
                raise BackendError(
                    f"registry {auth.describe()} refused the login: login attempt to "
                    f"http://{auth.server}/v2/ failed with status: 401 Unauthorized"
                )

    async def remove_image(self, image: str) -> None:
        async with self._call("remove_image", image):
            self.local_images.discard(_normal_image(image))

    # --- Backend: containers ------------------------------------------------------------------

    async def run(self, spec: ContainerSpec) -> ContainerState:
        async with self._call("run", spec.name, "start failed"):
            refusal = self._refused("run")
            if refusal is not None:
                raise BackendError(f"start failed: {refusal}")
            taken = self._find(spec.name)
            if taken is not None and taken.name == spec.name:
                raise BackendError(
                    f'start failed: Conflict. The container name "/{spec.name}" is already in use '
                    f'by container "{taken.id}". You have to remove (or rename) that container to '
                    "be able to reuse that name."
                )
            if _normal_image(spec.image) not in self.local_images:
                raise BackendError(f"image {spec.image} not found: No such image: {spec.image}")
            if spec.network not in self.networks:
                raise BackendError(f"start failed: network {spec.network} not found")
            if spec.gpu and self.gpu.mode == "none":
                raise BackendError(
                    "this Docker engine cannot give containers a GPU: install the NVIDIA "
                    "container toolkit (nvidia-container-toolkit) and restart dockerd, or run the "
                    'op without gpu: true (could not select device driver "" with capabilities: '
                    "[[gpu]])"
                )
            container = FakeContainer(
                id=_hex_id("container", spec.name, next(self._ids)),
                name=spec.name,
                spec=spec,
                labels=self._labels(spec.job_id, spec.op_id),
                created=next(self._ids),
            )
            self._containers[container.id] = container
            self._event(container, "create")
            for volume, _ in spec.volumes:
                self.volumes.setdefault(volume, {})  # the engine makes a named volume on use
            for port in spec.ports:
                if port.host_port is None:
                    continue
                if any(
                    c.status == "running" and port.host_port in c.host_ports.values()
                    for c in self._containers.values()
                ):
                    self._destroy(container)  # DockerBackend removes what it could not start
                    raise BackendError(
                        "start failed: driver failed programming external connectivity on "
                        f"endpoint {spec.name} ({container.id}): Bind for "
                        f"127.0.0.1:{port.host_port} failed: port is already allocated"
                    )
                container.host_ports[port.container_port] = port.host_port
            self._start(container)
            return container.state()

    async def inspect(self, container_id: str) -> ContainerState | None:
        async with self._call("inspect", container_id):
            container = self._find(container_id)
            if container is None:
                return None
            for waiter in self._inspected.pop(container.id, []):
                waiter.set()
            return container.state()

    async def stop(self, container_id: str, timeout: float = 10) -> None:
        async with self._call("stop", container_id):
            container = self._find(container_id)
            if container is None:
                return
            if container.status == "restarting":  # Guess: stopping it cancels the restart, quietly
                container.status = "exited"
                container.stopped_by_hand = True
                return
            if container.status != "running":
                return  # Docker answers 304 Not Modified: no events
            container.stopped_by_hand = True
            self._event(container, "kill", signal="15")
            if container.stop_code == 137:
                self._event(container, "kill", signal="9")
            self._die(container, container.stop_code, policy=False)
            self._event(container, "stop")

    async def remove(self, container_id: str) -> None:
        async with self._call("remove", container_id):
            container = self._find(container_id)
            if container is not None:
                self._destroy(container)

    async def containers(self, job_id: str | None = None) -> list[ContainerState]:
        async with self._call("containers", job_id or ""):
            found = [
                c
                for c in self._containers.values()
                if LABEL_JOB in c.labels and (not job_id or c.labels[LABEL_JOB] == job_id)
            ]
            return [c.state() for c in sorted(found, key=lambda c: -c.created)]

    # --- Backend: streams ---------------------------------------------------------------------

    def follow_logs(self, container_id: str, since: float | None, sink: LogSink) -> FakeFollower:
        """Never raises, as DockerBackend's does not: a stream of a missing container (or one
        opened while the engine is down) hands on nothing."""
        container = None if self.down else self._find(container_id)
        return FakeFollower(self, container, since, sink)

    async def stats(self, container_id: str) -> ContainerStats | None:
        async with self._call("stats", container_id):
            container = self._find(container_id)
            if container is None or container.status != "running":
                return None
            return _fake_stats(container)

    def follow_stats(self, container_id: str, sink: StatsSink) -> Callable[[], None]:
        """A sample every ``STATS_PERIOD`` on a thread of its own while the container runs
        (Guess: the same figures each time; Docker's come about once a second)."""
        stop = threading.Event()

        def pump() -> None:
            while not stop.wait(STATS_PERIOD):
                container = None if self.down else self._find(container_id)
                if container is None or container.status != "running":
                    return
                sink(_fake_stats(container))

        threading.Thread(target=pump, daemon=True, name="fake-stats").start()
        return stop.set

    async def exec(
        self,
        container_id: str,
        cmd: list[str],
        sink: ExecSink,
        *,
        tty: bool,
        cols: int = 80,
        rows: int = 24,
        env: dict[str, str] | None = None,
    ) -> FakeExec:
        """What ``program_of`` reads from CMD is printed at once; a command that keeps running
        (``sh``) ends when its stdin ends or the session is closed, with code 0."""
        async with self._call("exec", container_id):
            container = self._find(container_id)
            if container is None:
                raise BackendError(f"No such container: {container_id}")
            if container.status != "running":
                raise BackendError(f"Container {container.id} is not running")
            return FakeExec(self, program_of(cmd), sink, tty)

    def watch_events(self, sink: EventSink) -> Callable[[], None]:
        watch = _Watch(sink)
        self._watches.append(watch)

        def cancel() -> None:
            watch.active = False
            with contextlib.suppress(ValueError):
                self._watches.remove(watch)

        return cancel

    async def close(self) -> None:
        for task in list(self._timers):
            task.cancel()
        for watch in self._watches:
            watch.active = False
        self._outbox.put(None)
        await asyncio.to_thread(self._thread.join, 5)

    # --- faults and what a test does to the containers ----------------------------------------

    def container(self, ref: str) -> FakeContainer:
        """An existing container by id, name or id prefix."""
        found = self._find(ref)
        if found is None:
            raise KeyError(f"no container {ref!r} in the fake engine")
        return found

    def container_of(self, job_id: str, op_id: str) -> FakeContainer | None:
        """The newest container of an op, if one exists."""
        found = [
            c
            for c in self._containers.values()
            if c.labels.get(LABEL_JOB) == job_id and c.labels.get(LABEL_OP) == op_id
        ]
        return max(found, key=lambda c: c.created) if found else None

    def network_of(self, job_id: str) -> str | None:
        return next(
            (n.name for n in self.networks.values() if n.labels.get(LABEL_JOB) == job_id), None
        )

    def _running(self, ref: str) -> FakeContainer:
        container = self.container(ref)
        if container.status != "running":
            raise ValueError(f"container {container.name} is {container.status}, not running")
        return container

    def emit(self, container: str, lines: list[str], stream: str = "stdout") -> None:
        """The container prints ``lines``."""
        found = self._running(container)
        for text in lines:
            self._print(found, stream, text)

    def exit(self, container: str, code: int) -> None:
        """The container's process exits with ``code`` (its restart policy applies)."""
        self._die(self._running(container), code)

    async def docker_restart(
        self, container: str, inspect_gap: bool = True, gap_timeout: float = 0.5
    ) -> None:
        """``docker restart``: the process is killed (kill, die 137, stop), then started again
        (start, restart). With ``inspect_gap`` the container stays visibly exited until someone
        inspects it (or ``gap_timeout`` passes), as when the engine is slower than the agent.
        The restart count does not change, as with Docker."""
        found = self.container(container)
        if found.status == "running":
            self._event(found, "kill", signal="15")
            if found.stop_code == 137:
                self._event(found, "kill", signal="9")
            waiter = self._arm_inspect(found) if inspect_gap else None
            self._die(found, found.stop_code, policy=False)
            self._event(found, "stop")
            if waiter is not None:
                await self._inspect_gap(found, waiter, gap_timeout)
        self._start(found)
        self._event(found, "restart")

    async def policy_restart(
        self, container: str, code: int = 1, inspect_gap: bool = True, gap_timeout: float = 0.5
    ) -> None:
        """The process exits with ``code`` and the engine's restart policy brings it back
        (die, the container "restarting" with its count raised, then start), whatever the
        container's policy. With ``inspect_gap`` it stays "restarting" until someone inspects it
        (or ``gap_timeout`` passes)."""
        found = self._running(container)
        waiter = self._arm_inspect(found) if inspect_gap else None
        self._die(found, code, policy=False)
        self._restarting(found)
        if waiter is not None:
            await self._inspect_gap(found, waiter, gap_timeout)
        if found.status == "restarting" and not found.removed:
            self._start(found)

    def remove_behind_back(self, container: str) -> None:
        """``docker rm -f`` by someone else: kill, die 137 (if it ran), destroy."""
        self._destroy(self.container(container))

    def engine_down(self) -> None:
        """dockerd goes away: every call raises BackendError, log streams and the event stream
        end, events meanwhile are lost. Containers keep their state (a test may make them exit
        meanwhile: ``exit`` still works)."""
        self.down = True
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            follower.end_stream()

    def engine_up(self) -> None:
        """dockerd is back: calls work again, and every event watcher is told
        ``("", EVENT_RECONNECT, {})`` (what it missed, it must ask for). Log streams stay
        ended."""
        self.down = False
        for watch in list(self._watches):
            if watch.active:
                self._send(self._event_job(watch, "", EVENT_RECONNECT, {}))

    def refuse(self, method: str, message: str, times: int | None = None) -> None:
        """``method`` raises BackendError(``message``), ``times`` times (None: until
        ``accept``)."""
        if method not in METHODS:
            raise ValueError(f"no Backend method {method!r}")
        self._refusals[method] = _Refusal(message, times)

    def accept(self, method: str) -> None:
        self._refusals.pop(method, None)

    def refuse_create(self, message: str, times: int | None = None) -> None:
        """``run`` fails with the engine's ``message`` (DockerBackend says "start failed: ...");
        nothing is created."""
        self.refuse("run", message, times)

    def refuse_network(self, message: str = POOLS_EXHAUSTED, times: int | None = None) -> None:
        """Creating a network fails with the engine's ``message`` (an existing network is still
        found). The default is Docker's when its address pools are used up, which DockerBackend
        words as ``NO_POOL_HINT`` (what to do) with the engine's text after it."""
        self.refuse("ensure_network", message, times)

    def slow(self, method: str, seconds: float, target: str | None = None) -> None:
        """Every call of ``method`` (whose first argument contains ``target``, if given) waits
        ``seconds`` before it takes effect; 0 makes it quick again."""
        if method not in METHODS:
            raise ValueError(f"no Backend method {method!r}")
        if seconds:
            self._slow[method] = (seconds, target)
        else:
            self._slow.pop(method, None)

    def count_threads(self) -> None:
        """Make the running loop's default executor one that ``quiesce`` watches too (each test
        of the anyio plugin has a loop of its own, which shuts it down at its end)."""
        self._executor = CountingExecutor()
        asyncio.get_running_loop().set_default_executor(self._executor)

    async def quiesce(self, timeout: float = 0.5) -> None:
        """Wait until no call or scheduled step is in flight, everything sent has been delivered,
        the loop's threads (with ``count_threads``) hold no work, and the loop has run what all
        that scheduled; re-raise what a sink raised."""
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 5:
            threads = self._executor.pending if self._executor else 0
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the fake engine is still busy after {timeout} s: {self._busy} calls or "
                    f"steps in flight ({dict(+self.in_flight)}), {self._undelivered} deliveries, "
                    f"{threads} jobs on the loop's threads"
                )
            with self._lock:
                idle = self._busy == 0 and self._undelivered == 0 and threads == 0
            calm = calm + 1 if idle else 0
            await asyncio.sleep(0 if idle else 0.001)
        if self.delivery_errors:
            raise self.delivery_errors[0]
