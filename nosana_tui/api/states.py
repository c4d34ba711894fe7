"""The states jobs, ops, health checks and endpoints go through: plain enums, apart from the
pydantic views in ``api.models`` (which re-exports them), so that the UI's widgets can draw
states before the first frame without importing pydantic (bench/README.md, "Start-up")."""

from __future__ import annotations

from enum import StrEnum


class OpStatus(StrEnum):
    """Progress of one op (the Nosana node's ``OperationProgressStatuses``, minus ``init``)."""

    PENDING = "pending"  # the job has started; this op's stage has not
    WAITING = "waiting"  # its stage runs; it waits for its dependencies
    STARTING = "starting"  # resolving literals, pulling the image, creating the container
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"  # stopped by a person, a timeout, or the job stopping
    FINISHED = "finished"  # exited with code 0 (a create-volume op: the volume exists)
    FAILED = "failed"  # exited non-zero, or could not start

    @property
    def terminal(self) -> bool:
        return self in (OpStatus.STOPPED, OpStatus.FINISHED, OpStatus.FAILED)

    @property
    def active(self) -> bool:
        return self in (OpStatus.STARTING, OpStatus.RUNNING, OpStatus.RESTARTING)


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def terminal(self) -> bool:
        return self is not JobStatus.RUNNING


class Health(StrEnum):
    NONE = "none"  # no health checks
    STARTING = "starting"  # start-up checks have not all passed yet
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # a continuous check failed; the op keeps running


class EndpointStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    UNKNOWN = "UNKNOWN"
