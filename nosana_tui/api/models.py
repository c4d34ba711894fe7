"""The states jobs and ops go through, and the views of them that the node API serves.

Defined once and used everywhere: the engine sets them, the node API serves them, the client
parses them, and the CLI's ``--json`` and the UI show them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from nosana_tui.api.ready import counts_as_ready
from nosana_tui.api.states import EndpointStatus, Health, JobStatus, OpStatus

if TYPE_CHECKING:  # the job model is imported by planned_view alone: `ps` never builds it
    from nosana_tui.jobformat import model as m


class _View(BaseModel):
    """Every model here is built (its schema and validator) on first use, not on import: the
    UI's first frame imports this module for its types and parses none of them (pydantic's
    ``defer_build``; ~0.03-0.05 s of the start, bench/README.md "Start-up")."""

    model_config = ConfigDict(defer_build=True)


class Endpoint(_View):
    op_id: str
    port: int
    host_port: int | None = None
    url: str | None = None
    status: EndpointStatus = EndpointStatus.UNKNOWN


class PullState(_View):
    """Image pull progress of an op: bytes per layer."""

    image: str
    layers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    done: bool = False

    @property
    def fraction(self) -> float | None:
        total = sum(int(v.get("total") or 0) for v in self.layers.values())
        current = sum(int(v.get("current") or 0) for v in self.layers.values())
        return current / total if total else None


NEVER_STARTED = "never started"
"""How the message of an op that will never start begins (its job failed, or a dependency ended
before it was ready): the engine writes it, :attr:`OpView.skipped` reads it."""


class FetchState(_View):
    """Progress of one resource (S3, HF, Ollama) an op mounts: fetched into a cached volume, or
    found there. ``source`` says what it is without any credential."""

    kind: str  # "S3", "HF" or "Ollama"
    source: str
    volume: str
    target: str
    bytes_done: int = 0
    bytes_total: int | None = None
    files_done: int = 0
    files_total: int | None = None
    rate: float | None = None  # bytes per second, lately
    cached: bool = False  # found complete in its volume: nothing was fetched
    done: bool = False

    @property
    def fraction(self) -> float | None:
        if self.done:
            return 1.0
        return self.bytes_done / self.bytes_total if self.bytes_total else None

    @property
    def progress(self) -> str:
        """``3/5 files, 12.0 MiB of 40.0 MiB (30%), 5.1 MiB/s``: what the system log, the job
        view and the op panel show of it."""
        files = f"{self.files_done}" + (f"/{self.files_total}" if self.files_total else "")
        text = f"{files} file{'' if self.files_total == 1 else 's'}, {size_text(self.bytes_done)}"
        if self.bytes_total:
            text += f" of {size_text(self.bytes_total)} ({self.bytes_done / self.bytes_total:.0%})"
        if self.rate:
            text += f", {size_text(self.rate)}/s"
        return text

    @property
    def summary(self) -> str:
        """Two lines (so that each fits 80 columns beside a label): ``HF org/model → /models``,
        then ``  fetching 0/1 file, ...`` (or ``cached``, ``fetched``)."""
        word = "cached" if self.cached else "fetched" if self.done else "fetching"
        return f"{self.source} → {self.target}\n  {word} {self.progress}"


def size_text(count: float) -> str:
    """A count of bytes as people read it: ``512 B``, ``12.0 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


class OpView(_View):
    id: str
    index: int
    group: str
    type: str
    status: OpStatus = OpStatus.PENDING
    health: Health = Health.NONE
    ready: bool = False
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    restarts: int = 0
    container_id: str | None = None
    image: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    results: dict[str, list[str]] = Field(default_factory=dict)
    message: str = ""  # why it failed or stopped
    pull: PullState | None = None
    fetch: list[FetchState] = Field(default_factory=list)  # its resources, while they arrive
    gpu: bool = False  # it asked for the GPUs (``gpu: true``, its own or the job's global)

    @property
    def fetching(self) -> bool:
        """Its resources are still arriving (``fetch``)."""
        return any(not f.done for f in self.fetch)

    @property
    def fetch_fraction(self) -> float | None:
        """How much of its resources has arrived, over all of them (None: sizes not known)."""
        total = sum(f.bytes_total or 0 for f in self.fetch)
        return sum(f.bytes_done for f in self.fetch) / total if total else None

    @property
    def skipped(self) -> bool:
        """It ended without ever starting, and never will: its job failed, or a dependency
        ended before it was ready (not an op a person stopped before it began)."""
        return (
            self.status is OpStatus.STOPPED
            and self.started_at is None
            and self.message.startswith(NEVER_STARTED)
        )


class JobView(_View):
    id: str
    name: str
    source: str = ""
    status: JobStatus = JobStatus.RUNNING
    created_at: float
    ended_at: float | None = None
    current_group: str | None = None
    groups: list[str] = Field(default_factory=list)
    message: str = ""
    ops: list[OpView] = Field(default_factory=list)
    poster: str | None = None  # the Solana address that posted it (``node serve --auth nosana``)

    @property
    def ready_count(self) -> int:
        return sum(1 for op in self.ops if counts_as_ready(op.ready, op.status))

    def op(self, op_id: str) -> OpView:
        for op in self.ops:
            if op.id == op_id:
                return op
        raise KeyError(op_id)


class LogEntry(_View):
    """One log line: of an op's container, or of the agent about a job (``op_id == "system"``)."""

    seq: int
    job_id: str
    op_id: str
    stream: str  # stdout, stderr, system
    ts: float
    text: str


SYSTEM = "system"


class TaskLog(_View):
    """One frame's ``data`` on the ``/flog`` websocket, as a Nosana node sends it (its
    ``TaskLog``; reference nosana-network.md §4.3): a line of an op, or of the node about the
    job (``op_id == "system"``). ``timestamp``: Unix ms, strictly increasing along a stream."""

    op_id: str = Field(alias="opId")
    group: str | None = None
    type: str  # container (an op's stdout/stderr), info (the node), error
    timestamp: int
    message: Any

    model_config = {"populate_by_name": True}


class NodeLogEntry(_View):
    """One frame's ``data`` on the ``/log`` websocket: an event of the node about the job (its
    ``NodeLogEntry {log, method, type, pending?, timestamp, job, payload?}``; nosana.md §2.5)."""

    log: str
    method: str
    type: str  # info, error; process-bar-update for image pull progress (with ``payload``)
    pending: bool = False
    timestamp: int
    job: str
    payload: dict[str, Any] | None = None


class CpuStat(_View):
    cpu_percent: float  # of one CPU: 200 is two CPUs busy


class MemoryStat(_View):
    memory_usage: int  # bytes, without the page cache the kernel can drop
    memory_limit: int  # bytes: the op's limit, else the machine's memory
    memory_percent: float


class DiskStat(_View):
    read: int  # bytes read from block devices since the op's container started
    write: int


class NetworkStat(_View):
    received: int  # bytes, over all its networks, since the op's container started
    sent: int


class TaskStat(_View):
    """One op's use of the machine at one moment, as a Nosana node serves it on
    ``/job/{job}/stats`` and ``/job/{job}/stats/stream`` (its ``TaskStat``; reference
    nosana.md §3). ``timestamp``: Unix ms."""

    op_id: str = Field(alias="opId")
    timestamp: int
    cpu: CpuStat
    memory: MemoryStat
    disk: DiskStat
    network: NetworkStat

    model_config = {"populate_by_name": True}


MAX_NAME = 256  # characters of a job's name, and of a job, op or group id in a request
MAX_SOURCE = 4096  # characters of where a job came from (a file's path: PATH_MAX)


class SubmitRequest(_View):
    definition: dict[str, Any]
    name: str = Field("", max_length=MAX_NAME)
    source: str = Field("", max_length=MAX_SOURCE)


class ActionResult(_View):
    message: str


class PrunedVolume(_View):
    name: str
    source: str  # what it held (S3 …, HF …, Ollama …)


class PruneResult(_View):
    """What ``node prune`` did: cached resource volumes removed, and those kept."""

    older_than: float  # seconds unused
    removed: list[PrunedVolume] = Field(default_factory=list)
    in_use: list[str] = Field(default_factory=list)  # old enough, but a container mounts it
    kept: int = 0  # used more recently, or being filled now


class GpuDevice(_View):
    """One GPU of a node, as discovery found it (NVML, else ``nvidia-smi``)."""

    index: int
    name: str
    uuid: str = ""
    memory_total_mb: int  # MiB, as the driver reports it
    memory_used_mb: int | None = None
    utilization_pct: int | None = None  # of the GPU's cores, over the driver's last period
    driver_version: str = ""
    cuda_version: str = ""  # the newest CUDA the driver supports, e.g. "13.0"
    compute_capability: str = ""  # e.g. "9.0"; empty when the source does not say


class GpuProcess(_View):
    """A process using GPU memory; job and op when its container is one of ours."""

    gpu_index: int
    pid: int  # as the host sees it
    memory_mb: int
    container_id: str = ""
    job_id: str = ""
    op_id: str = ""


class GpuSeries(_View):
    """Recent samples of one GPU, oldest first (``ts`` in epoch seconds)."""

    index: int
    ts: list[float] = Field(default_factory=list)
    utilization_pct: list[int] = Field(default_factory=list)
    memory_used_mb: list[int] = Field(default_factory=list)


class GpuTelemetry(_View):
    """What ``GET /api/gpus`` answers: the GPUs now, their recent history, who uses them."""

    source: str = "none"  # "nvml", "nvidia-smi" or "none"
    access: str = "none"  # how ops get GPUs: "runtime", "cdi", "passthrough" or "none"
    note: str = ""  # why there are no GPUs, or what is missing for ops to get them
    interval_s: float = 1.0
    gpus: list[GpuDevice] = Field(default_factory=list)
    history: list[GpuSeries] = Field(default_factory=list)
    processes: list[GpuProcess] = Field(default_factory=list)


class NodeInfo(_View):
    version: str
    node_id: str
    engine: dict[str, Any]
    gpus: list[GpuDevice] = Field(default_factory=list)
    gpu_source: str = "none"  # see GpuTelemetry
    gpu_access: str = "none"
    gpu_note: str = ""
    images: list[dict[str, Any]] = Field(default_factory=list)
    jobs: int = 0
    data_dir: str = ""


def planned_view(
    job_id: str,
    definition: m.JobDefinition,
    name: str = "",
    source: str = "",
    *,
    created_at: float = 0.0,
) -> JobView:
    """The view of a job that has not started: every op pending, in its stage."""
    from nosana_tui.jobformat import model as m
    from nosana_tui.jobformat.plan import effective, stages

    return JobView(
        id=job_id,
        name=name or job_id,
        source=source,
        created_at=created_at,
        groups=[s.name for s in stages(definition)],
        ops=[
            OpView(
                id=op.id,
                index=i,
                group=op.group,
                type=op.type,
                depends_on=op.depends_on,
                image=op.args.image if isinstance(op, m.RunOperation) else None,
                gpu=isinstance(op, m.RunOperation) and bool(effective(definition, op).gpu),
            )
            for i, op in enumerate(definition.ops)
        ],
    )
