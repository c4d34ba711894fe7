"""Derived views of a valid job that the engine needs: stages and each op's effective settings.

- Stages, edges and their order are the dependency graph's (:mod:`nosana_tui.jobformat.graph`).
- ``global`` merges into each op (:func:`merged_args`, the one place it happens): ``image``,
  ``entrypoint`` and ``work_dir`` are fallbacks, ``env`` is ``{**global.env, **op.env}``, ``gpu`` is
  ``op.gpu or global.gpu``. The merge comes before literals are substituted, so the merged values
  are read once, like the op's own.
- A string ``cmd`` runs under ``/bin/sh -c`` (not bash, whatever the docs say); an array is the
  exec form. A string ``entrypoint`` becomes a one-element array. ``"__remove-if-empty__"``
  elements are dropped, and the field with them if nothing else is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nosana_tui.jobformat.graph import DependencyGraph, Stage
from nosana_tui.jobformat.model import (
    REMOVE_IF_EMPTY,
    CreateVolumeOperation,
    ExposedPort,
    JobDefinition,
    RunOperation,
    SpreadMarker,
)

Op = RunOperation | CreateVolumeOperation

__all__ = [
    "EffectiveOp",
    "Op",
    "Port",
    "Stage",
    "drop_remove_markers",
    "effective",
    "exposed_ports",
    "merged_args",
    "required_vram_gb",
    "resolve_command",
    "stage_of",
    "stages",
]


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
    return DependencyGraph.of_job(job).stages


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


def merged_args(job: JobDefinition, op: RunOperation) -> dict[str, Any]:
    """The op's ``args`` as written (JSON-like, by alias, unset fields left out) with ``global``
    merged in; literals are still text."""
    args = op.args.model_dump(mode="python", by_alias=True, exclude_none=True)
    g = job.global_
    if g is None:
        return args
    if not args.get("image") and g.image:
        args["image"] = g.image
    if args.get("entrypoint") is None and g.entrypoint:
        args["entrypoint"] = g.entrypoint if isinstance(g.entrypoint, str) else list(g.entrypoint)
    if g.env:
        args["env"] = {**g.env, **(args.get("env") or {})}
    if not args.get("work_dir") and g.work_dir:
        args["work_dir"] = g.work_dir
    if g.gpu:
        args["gpu"] = True
    return args


def effective(job: JobDefinition, op: RunOperation) -> EffectiveOp:
    """The op's settings after ``global`` is merged (literals not substituted)."""
    args = merged_args(job, op)
    ports, dynamic = exposed_ports(op)
    return EffectiveOp(
        id=op.id,
        group=op.group,
        image=args.get("image") or "",
        cmd=resolve_command(args.get("cmd"), shell=True),
        entrypoint=resolve_command(args.get("entrypoint") or None, shell=False),
        env=dict(args.get("env") or {}),
        work_dir=args.get("work_dir") or None,
        gpu=bool(args.get("gpu")),
        ports=ports,
        dynamic_expose=dynamic,
        depends_on=tuple(op.depends_on),
    )


def drop_remove_markers(args: dict[str, Any]) -> dict[str, Any]:
    """Remove ``__remove-if-empty__`` elements, and a field with nothing else left."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, list) and REMOVE_IF_EMPTY in value:
            kept = [v for v in value if v != REMOVE_IF_EMPTY]
            if kept:
                out[key] = kept
            continue
        out[key] = value
    return out


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
