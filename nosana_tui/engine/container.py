"""The container an op asks for: one pure function from an op and its context to a
:class:`~nosana_tui.engine.backend.ContainerSpec`.

``global`` is merged first (:func:`nosana_tui.jobformat.plan.merged_args`), then the literals of
the merged args are substituted once (:mod:`nosana_tui.jobformat.literals`): a value put in is
never read again. Env values become text as the node's ``finalizeEnv`` makes them (a list joins
with spaces, any other non-string is JSON), and ``NOSANA_ID`` is the job's id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nosana_tui.engine.backend import ContainerSpec, PortSpec
from nosana_tui.engine.literals import LiteralContext, interpolate
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.literals import as_text
from nosana_tui.jobformat.plan import exposed_ports, merged_args, resolve_command

_NAME_SAFE = re.compile(r"[^a-zA-Z0-9_.-]+")
_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


def container_name(job_id: str, op_id: str) -> str:
    return f"nosana-{job_id}-{_NAME_SAFE.sub('-', op_id)}"[:120]


@dataclass(frozen=True)
class OpContext:
    """What besides the op decides its container."""

    definition: m.JobDefinition
    job_id: str
    network: str
    literals: LiteralContext
    host_ports: Mapping[int, int] = field(default_factory=dict)
    """Container port -> the host port it had before: a restarted op keeps its URLs."""


def _env(value: Any) -> str:
    return "" if value is None else as_text(value)


def _argv(value: Any) -> Any:
    """An array ``cmd``/``entrypoint`` with each list a literal gave spliced in (the node
    flattens an array field's values); a string stays as it is."""
    if not isinstance(value, list):
        return value
    out: list[str] = []
    for item in value:
        if isinstance(item, list):
            out.extend(as_text(v) for v in item)
        else:
            out.append(item if isinstance(item, str) else as_text(item))
    return out


def container_for(op: m.RunOperation, ctx: OpContext) -> ContainerSpec:
    """The container ``op`` asks for; raises :class:`~nosana_tui.engine.literals.UnresolvedLiteral`."""
    args = interpolate(merged_args(ctx.definition, op), ctx.literals)
    env = {str(k): _env(v) for k, v in (args.get("env") or {}).items()}
    env["NOSANA_ID"] = ctx.job_id
    aliases = [op.id] if _HOSTNAME.match(op.id) else []
    raw_aliases = args.get("aliases")
    if isinstance(raw_aliases, str):
        aliases += [a.strip() for a in raw_aliases.split(",") if a.strip()]
    elif isinstance(raw_aliases, list):
        aliases += [str(a) for a in raw_aliases]
    policy = args.get("restart_policy")
    restart_name, restart_tries = None, None
    if isinstance(policy, str):
        restart_name = policy
    elif isinstance(policy, dict):
        restart_name, restart_tries = policy.get("policy"), policy.get("restart_tries")
    ports, _ = exposed_ports(op)
    return ContainerSpec(
        job_id=ctx.job_id,
        op_id=op.id,
        name=container_name(ctx.job_id, op.id),
        image=str(args.get("image") or ""),
        network=ctx.network,
        cmd=resolve_command(_argv(args.get("cmd")), shell=True),
        entrypoint=resolve_command(_argv(args.get("entrypoint")) or None, shell=False),
        env=env,
        work_dir=args.get("work_dir") or None,
        gpu=bool(args.get("gpu")),
        aliases=tuple(dict.fromkeys(aliases)),
        ports=tuple(PortSpec(p.port, ctx.host_ports.get(p.port)) for p in ports),
        volumes=tuple((f"{ctx.job_id}-{v.name}", v.dest) for v in (op.args.volumes or [])),
        restart_policy=restart_name,
        restart_tries=restart_tries,
    )
