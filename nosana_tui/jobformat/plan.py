"""Derived views of a valid job that the engine needs: stages and each op's effective settings.

- Stages run in the order in which their ``execution.group`` first appears in ``ops``; an op
  without a group is a stage of its own, named after the op (as the Nosana node does).
- ``global`` merges into each op: ``image``, ``entrypoint`` and ``work_dir`` are fallbacks, ``env``
  is ``{**global.env, **op.env}``, ``gpu`` is ``op.gpu or global.gpu``.
- A string ``cmd`` runs under ``/bin/sh -c`` (not bash, whatever the docs say); an array is the
  exec form. A string ``entrypoint`` becomes a one-element array. ``"__remove-if-empty__"``
  elements are dropped, and the field with them if nothing else is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nosana_tui.jobformat.model import (
    REMOVE_IF_EMPTY,
    CreateVolumeOperation,
    ExposedPort,
    JobDefinition,
    RunOperation,
    SpreadMarker,
)

Op = RunOperation | CreateVolumeOperation


@dataclass(frozen=True)
class Stage:
    """One stage: the ops of one group, in file order."""

    name: str
    index: int
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Port:
    """One exposed port of an op, with its health checks."""

    port: int
    type: str
    health_checks: tuple[Any, ...] = ()


@dataclass(frozen=True)
class EffectiveOp:
    """What the engine runs for one ``container/run`` op once ``global`` is merged."""

    id: str
    group: str
    image: str
    cmd: list[str] | None
    entrypoint: list[str] | None
    env: dict[str, str]
    work_dir: str | None
    gpu: bool
    ports: tuple[Port, ...] = ()
    dynamic_expose: tuple[str, ...] = ()  # literals/spreads resolved only at start
    depends_on: tuple[str, ...] = field(default=())


def stages(job: JobDefinition) -> list[Stage]:
    """Groups in order of first appearance; each holds its ops in file order."""
    order: dict[str, list[str]] = {}
    for op in job.ops:
        order.setdefault(op.group, []).append(op.id)
    return [Stage(name, i, tuple(ids)) for i, (name, ids) in enumerate(order.items())]


def stage_of(job: JobDefinition) -> dict[str, int]:
    """Map op id -> index of its stage."""
    return {op_id: stage.index for stage in stages(job) for op_id in stage.ops}


def resolve_command(value: str | list[str] | None, *, shell: bool) -> list[str] | None:
    """``cmd``/``entrypoint`` as an argv list (``shell``: a string runs under /bin/sh -c)."""
    if value is None:
        return None
    if isinstance(value, str):
        return ["/bin/sh", "-c", value] if shell else [value]
    kept = [part for part in value if part != REMOVE_IF_EMPTY]
    if not kept and REMOVE_IF_EMPTY in value:
        return None
    return kept


def exposed_ports(op: RunOperation) -> tuple[tuple[Port, ...], tuple[str, ...]]:
    """The static ports of an op, and the expose entries that are literals or spreads."""
    raw = op.args.expose
    if raw is None:
        return (), ()
    entries = raw if isinstance(raw, list) else [raw]
    ports: list[Port] = []
    dynamic: list[str] = []
    for entry in entries:
        if isinstance(entry, int):
            ports.append(Port(entry, "none"))
        elif isinstance(entry, ExposedPort):
            ports.append(Port(entry.port, entry.type or "none", tuple(entry.health_checks or ())))
        elif isinstance(entry, SpreadMarker):
            dynamic.append(entry.spread)
        else:
            dynamic.append(entry)
    return tuple(ports), tuple(dynamic)


def effective(job: JobDefinition, op: RunOperation) -> EffectiveOp:
    """The op's settings after ``global`` is merged."""
    g = job.global_
    env = dict((g.env if g and g.env else {}) | (op.args.env or {}))
    entrypoint = op.args.entrypoint if op.args.entrypoint is not None else (g and g.entrypoint)
    ports, dynamic = exposed_ports(op)
    return EffectiveOp(
        id=op.id,
        group=op.group,
        image=op.args.image or (g.image if g and g.image else ""),
        cmd=resolve_command(op.args.cmd, shell=True),
        entrypoint=resolve_command(entrypoint or None, shell=False),
        env=env,
        work_dir=op.args.work_dir or (g.work_dir if g else None),
        gpu=bool(op.args.gpu or (g and g.gpu)),
        ports=ports,
        dynamic_expose=dynamic,
        depends_on=tuple(op.depends_on),
    )


def required_vram_gb(job: JobDefinition) -> float | None:
    """VRAM the job asks for, in GB, from ``required_vram`` (GB) or ``vram_total_mb`` (MB).

    Both keys are read because the templates moved from the first to the second in 2026 while the
    dashboard still reads the first; where both are given the larger need wins.
    """
    meta = job.meta or {}
    found: list[float] = []
    for holder in (meta.get("system_requirements"), meta.get("system_resources")):
        if not isinstance(holder, dict):
            continue
        gb = holder.get("required_vram")
        if isinstance(gb, int | float) and not isinstance(gb, bool):
            found.append(float(gb))
        mb = holder.get("vram_total_mb")
        if isinstance(mb, int | float) and not isinstance(mb, bool):
            found.append(float(mb) / 1024)
    return max(found) if found else None
