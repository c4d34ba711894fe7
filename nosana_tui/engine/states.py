"""An op's life as one table: state × event → next state.

The runner never sets an op's state directly: it sends an event, and this table says where the
op goes. A pair that is not in the table is a race or a bug, not a transition: the op stays
where it is and the op's system log says which event was refused in which state, so races are
rows a person can read and a test can assert. The README quotes :func:`table_markdown`.
"""

from __future__ import annotations

from enum import StrEnum

from nosana_tui.api.models import OpStatus


class OpEvent(StrEnum):
    SCHEDULED = "scheduled"  # its stage has begun; it waits for its dependencies
    LAUNCH = "launch"  # started (or restarted): literals, image, container
    VOLUME_MADE = "volume made"  # a create-volume op has made its volume
    START_FAILED = "start failed"  # literal, login, pull, engine or GPU refusal before it ran
    RUNNING = "running"  # the container runs (started, adopted, or started again)
    ENGINE_RESTARTING = "engine restarting"  # died; its restart policy brings it back
    EXITED_OK = "exited 0"
    EXITED_FAILED = "exited non-zero"
    EXITED_STOPPED = "exited after a stop"  # by a person, a timeout, the job, its dependents
    STOP = "stop"  # asked to stop
    NEVER_STARTS = "never starts"  # the job failed, or a dependency ended before it was ready
    CONTAINER_LOST = "container lost"  # gone while the agent was down


S, E = OpStatus, OpEvent
_EXITS = {
    E.EXITED_OK: S.FINISHED,
    E.EXITED_FAILED: S.FAILED,
    E.EXITED_STOPPED: S.STOPPED,
}

TRANSITIONS: dict[tuple[OpStatus, OpEvent], OpStatus] = {
    (S.PENDING, E.SCHEDULED): S.WAITING,
    (S.PENDING, E.STOP): S.STOPPED,
    (S.PENDING, E.NEVER_STARTS): S.STOPPED,
    (S.PENDING, E.START_FAILED): S.FAILED,  # refused as its job starts: its registry login
    (S.WAITING, E.LAUNCH): S.STARTING,
    (S.WAITING, E.STOP): S.STOPPED,
    (S.WAITING, E.NEVER_STARTS): S.STOPPED,
    (S.STARTING, E.LAUNCH): S.STARTING,  # the agent restarted while it was starting
    (S.STARTING, E.VOLUME_MADE): S.FINISHED,
    (S.STARTING, E.START_FAILED): S.FAILED,
    (S.STARTING, E.RUNNING): S.RUNNING,
    (S.STARTING, E.ENGINE_RESTARTING): S.RESTARTING,  # died at once; its policy revives it
    **{(S.STARTING, e): s for e, s in _EXITS.items()},  # ended before it was seen running
    (S.STARTING, E.STOP): S.STOPPED,  # the launch in flight is abandoned
    (S.STARTING, E.CONTAINER_LOST): S.FAILED,
    (S.RUNNING, E.RUNNING): S.RUNNING,  # restarted before the agent had looked at its death
    (S.RUNNING, E.ENGINE_RESTARTING): S.RESTARTING,
    **{(S.RUNNING, e): s for e, s in _EXITS.items()},
    (S.RUNNING, E.STOP): S.STOPPING,
    (S.RUNNING, E.CONTAINER_LOST): S.FAILED,
    (S.RESTARTING, E.RUNNING): S.RUNNING,
    **{(S.RESTARTING, e): s for e, s in _EXITS.items()},
    (S.RESTARTING, E.STOP): S.STOPPING,
    (S.RESTARTING, E.CONTAINER_LOST): S.FAILED,
    (S.STOPPING, E.RUNNING): S.STOPPING,  # adopted mid-stop: the stop goes on
    (S.STOPPING, E.EXITED_STOPPED): S.STOPPED,
    (S.STOPPING, E.STOP): S.STOPPED,  # asked again: it is stopped, whatever the engine says
    (S.STOPPING, E.CONTAINER_LOST): S.FAILED,
    (S.STOPPED, E.LAUNCH): S.STARTING,  # restarted by a person
    (S.FINISHED, E.LAUNCH): S.STARTING,
    (S.FAILED, E.LAUNCH): S.STARTING,
}


class RefusedEvent(Exception):
    """EVENT cannot happen in STATE: a race lost, or a bug. The op stays where it is."""

    def __init__(self, state: OpStatus, event: OpEvent) -> None:
        super().__init__(f"event '{event.value}' refused in state {state.value}")
        self.state = state
        self.event = event


def next_state(state: OpStatus, event: OpEvent) -> OpStatus:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise RefusedEvent(state, event) from None


def table_markdown() -> str:
    """The table as the README shows it: a row per state, a column per event."""
    events = list(OpEvent)
    lines = [
        "| state \\ event | " + " | ".join(e.value for e in events) + " |",
        "| --- |" + " --- |" * len(events),
    ]
    for state in OpStatus:
        cells = [TRANSITIONS[(state, e)].value if (state, e) in TRANSITIONS else "" for e in events]
        lines.append(f"| **{state.value}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)
