"""What the engine needs from a container runtime. ``backends.docker`` implements it.

The protocol is asynchronous; an implementation over a blocking SDK runs its calls in threads.
Long waits (log streams, exit events) are delivered by callbacks rather than one blocked thread
per container, so a job with many ops does not starve the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from nosana_tui.engine.registry import RegistryAuth

LABEL_JOB = "nosana-tui.job"
LABEL_OP = "nosana-tui.op"
LABEL_AGENT = "nosana-tui.agent"
LABEL_RESOURCE = "nosana-tui.resource"  # a cached resource volume: the resource's key
LABEL_RESOURCE_KIND = "nosana-tui.resource.kind"  # S3, HF or Ollama
LABEL_RESOURCE_SOURCE = "nosana-tui.resource.source"  # what it holds, in words (no credentials)
# the id of the agent (its data folder) that made it: that agent prunes it, no other does
LABEL_RESOURCE_OWNER = "nosana-tui.resource.owner"


class BackendError(Exception):
    """A runtime operation failed; the message says why and, where known, what to do."""


@dataclass(frozen=True)
class PortSpec:
    container_port: int
    host_port: int | None = None  # None: a free port on 127.0.0.1


@dataclass(frozen=True)
class ContainerSpec:
    job_id: str
    op_id: str
    name: str
    image: str
    network: str
    cmd: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    work_dir: str | None = None
    gpu: bool = False
    aliases: tuple[str, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()  # (volume name, mount point)
    restart_policy: str | None = None  # "always", "unless-stopped", "on-failure"
    restart_tries: int | None = None
    # cached resource volumes (``engine.resources``): (volume name, mount point, read-only)
    resource_mounts: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    status: str  # created, running, restarting, exited, paused, dead
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    restart_count: int
    ports: dict[int, int]  # container port -> host port on 127.0.0.1
    labels: dict[str, str]
    error: str = ""

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting")


class LogLine(NamedTuple):
    """One line of a container's output. A tuple, not a dataclass: every line an op prints makes
    one, and a tuple is made several times faster (``tuple.__new__`` in bulk, see the Docker
    backend's follower)."""

    stream: str  # "stdout" or "stderr"
    ts: float  # seconds since the epoch
    text: str


@dataclass(frozen=True)
class PullProgress:
    """One update of an image pull: per layer, as the engine reports it."""

    image: str
    layer: str
    status: str  # "Downloading", "Extracting", "Pull complete", ...
    current: int | None = None
    total: int | None = None


LogSink = Callable[[list[LogLine]], None]


@dataclass(frozen=True)
class CachedVolume:
    """A named volume that holds one fetched resource, kept across jobs (``engine.resources``).

    ``marker`` is the completion marker, written into the volume after everything else: a
    volume without one was being filled when something stopped, and is never mounted."""

    name: str
    labels: dict[str, str]
    marker: dict[str, object] | None
    in_use: bool = False  # some container (of any state) mounts it


@dataclass(frozen=True)
class Drained:
    """How the end of a container's output was read."""

    complete: bool  # False: the read took longer than it was allowed to
    gap: bool  # the op printed faster than it was followed: only its newest lines were read


class LogFollower(Protocol):
    """A running log stream of one container."""

    def cancel(self) -> None: ...

    def finish(self, timeout: float, keep: int) -> Drained:
        """The container has stopped: hand on every line not handed on yet (at most the newest
        ``keep``: what the store would keep), then stop. Blocks, for ``timeout`` at most."""
        ...


EventSink = Callable[[str, str, dict[str, str]], None]  # container id, action, attributes

EVENT_RECONNECT = "reconnect"
"""The action of the event a watcher sends, with no container id, once the engine answers again
after the connection to it was lost: events of the time between are not replayed."""


@dataclass(frozen=True)
class GpuAccess:
    """How an op with ``gpu: true`` gets the GPUs on this backend."""

    mode: str  # "runtime" (the engine's NVIDIA runtime), "cdi" (the engine's CDI devices),
    #            "passthrough" (devices + driver files given directly) or "none"
    detail: str  # for the op's system log: how, or why not and what to install


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a running container's use of the machine, as the engine measures it."""

    ts: float  # seconds since the epoch, when the engine read it
    cpu_percent: float  # of one CPU: 200 is two CPUs busy (as ``docker stats`` shows it)
    memory_usage: int  # bytes, page cache that can be dropped left out (as ``docker stats``)
    memory_limit: int  # bytes: the container's limit, else the machine's memory
    net_rx: int  # bytes received, over all its networks, since it started
    net_tx: int  # bytes sent
    disk_read: int  # bytes read from block devices since it started
    disk_write: int  # bytes written

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory_usage / self.memory_limit if self.memory_limit else 0.0


StatsSink = Callable[[ContainerStats], None]

ExecSink = Callable[[str, bytes], None]
"""Output of an exec session: ("stdout" | "stderr", bytes) as it comes (with a TTY, everything
is "stdout"), then ("eof", b"") once when the output has ended."""


class ExecSession(Protocol):
    """A command running in a container (``Backend.exec``); its output goes to the sink."""

    async def write(self, data: bytes) -> None:
        """Bytes to the command's stdin."""
        ...

    async def close_stdin(self) -> None:
        """The end of stdin (without a TTY; with one, a person types ^D)."""
        ...

    async def resize(self, cols: int, rows: int) -> None: ...

    async def exit_code(self) -> int | None:
        """The command's exit code, once its output has ended (None: the engine cannot say)."""
        ...

    def close(self) -> None:
        """Hang up: the connection to the command is closed, and a command still running gets
        SIGHUP, then SIGKILL if it has not ended (the process group made for it: a child
        that made a session of its own escapes, as from a terminal)."""
        ...


class Backend(Protocol):
    async def info(self) -> dict[str, object]: ...

    async def gpu_access(self) -> GpuAccess: ...

    async def ensure_network(self, job_id: str) -> str: ...

    async def remove_network(self, job_id: str) -> None: ...

    async def create_volume(self, job_id: str, name: str) -> str: ...

    async def remove_volumes(self, job_id: str) -> None: ...

    async def cached_volume(self, name: str) -> CachedVolume | None:
        """The cached resource volume of that name with its marker, or None when there is none."""
        ...

    async def cached_volumes(self, owner: str | None = None) -> list[CachedVolume]:
        """Every cached resource volume (found by ``LABEL_RESOURCE``), with its marker; with
        ``owner``, those whose ``LABEL_RESOURCE_OWNER`` is that and those without one (made
        before volumes carried their maker's id: any agent may prune them, or none would), and
        no other agent's volume is looked into."""
        ...

    async def fill_cached_volume(
        self, name: str, labels: dict[str, str], source: Path, marker: dict[str, object]
    ) -> None:
        """Make the volume and copy the folder ``source`` into it, then write ``marker`` last.
        Nothing is left of the volume when it fails (``BackendError``)."""
        ...

    async def mark_cached_volume(self, name: str, marker: dict[str, object]) -> None:
        """Write the volume's completion marker again (the time it was last used)."""
        ...

    async def remove_cached_volume(self, name: str) -> bool:
        """Remove the volume; False when a container still uses it (it is then kept)."""
        ...

    async def images(self) -> list[dict[str, object]]:
        """The engine's images (for ``node info``): repository tags, id, size."""
        ...

    async def has_image(self, image: str) -> bool: ...

    async def pull(
        self,
        image: str,
        progress: Callable[[PullProgress], None],
        auth: RegistryAuth | None = None,
    ) -> None:
        """Pull IMAGE with AUTH, or with the user's Docker credentials (config.json, credential
        helpers, read afresh) when None; a refusal's BackendError carries the registry's words."""
        ...

    async def check_login(self, auth: RegistryAuth) -> None:
        """Ask the registry whether AUTH is good (``docker login``), keeping nothing of it: a
        refusal raises BackendError with the registry's answer."""
        ...

    async def remove_image(self, image: str) -> None:
        """Remove the image by its name (untagged if a stopped container still holds it)."""
        ...

    async def run(self, spec: ContainerSpec) -> ContainerState: ...

    async def inspect(self, container_id: str) -> ContainerState | None: ...

    async def stop(self, container_id: str, timeout: float = 10) -> None: ...

    async def remove(self, container_id: str) -> None: ...

    async def containers(self, job_id: str | None = None) -> list[ContainerState]: ...

    def follow_logs(self, container_id: str, since: float | None, sink: LogSink) -> LogFollower:
        """Stream the container's output to ``sink`` until it ends."""
        ...

    async def stats(self, container_id: str) -> ContainerStats | None:
        """One sample of the container's use now (None when it does not run, or is gone)."""
        ...

    def follow_stats(self, container_id: str, sink: StatsSink) -> Callable[[], None]:
        """A sample to ``sink`` about every second (from a thread of the backend's) until the
        container stops or the returned cancel is called."""
        ...

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
    ) -> ExecSession:
        """CMD in the running container, stdin open (with TTY, a terminal of COLS x ROWS);
        ``BackendError`` when the container does not run or the command cannot be started."""
        ...

    def watch_events(self, sink: EventSink) -> Callable[[], None]:
        """Deliver start/die/destroy events of our containers to ``sink``; returns a cancel.

        The watch lasts until cancelled, whatever the engine does: when the connection to it is
        lost (the engine stopped or restarted) the watcher reconnects with backoff, and once the
        engine answers again calls ``sink("", EVENT_RECONNECT, {})`` before any newer event. What
        happened meanwhile is not replayed (containers may have died, restarted or gone, log
        streams may have ended), so the caller then compares every op with what the engine says.
        While the engine is away every other call raises ``BackendError``."""
        ...

    async def close(self) -> None: ...
