"""What the engine needs from a container runtime. ``backends.docker`` implements it.

The protocol is asynchronous; an implementation over a blocking SDK runs its calls in threads.
Long waits (log streams, exit events) are delivered by callbacks rather than one blocked thread
per container, so a job with many ops does not starve the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

LABEL_JOB = "nosana-tui.job"
LABEL_OP = "nosana-tui.op"
LABEL_AGENT = "nosana-tui.agent"


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


class Backend(Protocol):
    async def info(self) -> dict[str, object]: ...

    async def gpu_access(self) -> GpuAccess: ...

    async def ensure_network(self, job_id: str) -> str: ...

    async def remove_network(self, job_id: str) -> None: ...

    async def create_volume(self, job_id: str, name: str) -> str: ...

    async def remove_volumes(self, job_id: str) -> None: ...

    async def images(self) -> list[dict[str, object]]:
        """The engine's images (for ``node info``): repository tags, id, size."""
        ...

    async def has_image(self, image: str) -> bool: ...

    async def pull(self, image: str, progress: Callable[[PullProgress], None]) -> None: ...

    async def run(self, spec: ContainerSpec) -> ContainerState: ...

    async def inspect(self, container_id: str) -> ContainerState | None: ...

    async def stop(self, container_id: str, timeout: float = 10) -> None: ...

    async def remove(self, container_id: str) -> None: ...

    async def containers(self, job_id: str | None = None) -> list[ContainerState]: ...

    def follow_logs(self, container_id: str, since: float | None, sink: LogSink) -> LogFollower:
        """Stream the container's output to ``sink`` until it ends."""
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
