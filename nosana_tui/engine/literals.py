"""Literal interpolation: ``%%ops.<id>.host%%`` and friends, resolved when an op starts.

As on the Nosana node: a string field gets the values spliced into the text; a field that is
exactly one literal keeps the value's own type (a results list stays a list); an array element
``{"__spread__": "%%...%%"}`` splices an array; ``"__remove-if-empty__"`` drops the field when
nothing else is left. Any literal that cannot be resolved fails the op before it starts.

Locally, ``%%ops.<id>.endpoint.<port>%%`` is the address other containers of the job reach the op
at (``http://<host>:<port>``); the URL a person opens is in the op's endpoints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nosana_tui.jobformat.model import REMOVE_IF_EMPTY

LITERAL = re.compile(r"%%(.+?)%%")


class UnresolvedLiteral(Exception):
    def __init__(self, literal: str, reason: str) -> None:
        super().__init__(f"unresolved literal {literal}: {reason}")
        self.literal = literal


@dataclass
class LiteralContext:
    job_id: str
    node_host: str = "127.0.0.1"
    project: str = "local"
    variables: Mapping[str, str] = field(default_factory=dict)
    hosts: Mapping[str, str] = field(default_factory=dict)  # op id -> container name
    ports: Mapping[str, list[int]] = field(default_factory=dict)  # op id -> exposed ports
    results: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)

    def value(self, body: str) -> Any:
        literal = f"%%{body}%%"
        parts = body.split(".")
        if parts[0] in ("global", "globals"):
            if len(parts) == 2:
                simple = {
                    "job": self.job_id,
                    "host": self.node_host,
                    "project": self.project,
                    "frps_address": self.node_host,
                }
                if parts[1] in simple:
                    return simple[parts[1]]
            if len(parts) == 3 and parts[1] == "variables":
                if parts[2] in self.variables:
                    return self.variables[parts[2]]
                raise UnresolvedLiteral(literal, f"global.variables has no {parts[2]!r}")
            raise UnresolvedLiteral(literal, "unknown global literal")
        if parts[0] == "ops" and len(parts) >= 3:
            op_id, what = parts[1], parts[2]
            if op_id not in self.hosts:
                raise UnresolvedLiteral(literal, f"op {op_id!r} has not started")
            host = self.hosts[op_id]
            if what == "host" and len(parts) == 3:
                return host
            if what in ("endpoint", "deployment_endpoint") and len(parts) <= 4:
                if len(parts) == 4 and not parts[3].isdigit():
                    raise UnresolvedLiteral(literal, f"{parts[3]!r} is not a port number")
                port = int(parts[3]) if len(parts) == 4 else None
                exposed = self.ports.get(op_id, [])
                if port is None and exposed:
                    port = exposed[0]
                if port is None or port not in exposed:
                    raise UnresolvedLiteral(literal, f"op {op_id!r} does not expose that port")
                return f"http://{host}:{port}"
            if what == "results" and len(parts) == 4:
                results = self.results.get(op_id)
                if results is None or parts[3] not in results:
                    raise UnresolvedLiteral(
                        literal, f"op {op_id!r} has no result {parts[3]!r} (has it finished?)"
                    )
                return list(results[parts[3]])
        raise UnresolvedLiteral(literal, "not a literal the node knows")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _string(text: str, ctx: LiteralContext) -> Any:
    whole = LITERAL.fullmatch(text)
    # "%%a%%-%%b%%" matches as a whole too (the lazy body stretches): that is two literals
    if whole and "%%" not in whole.group(1):
        return ctx.value(whole.group(1))
    return LITERAL.sub(lambda m: _text(ctx.value(m.group(1))), text)


def interpolate(value: Any, ctx: LiteralContext) -> Any:
    """A copy of ``value`` with every literal resolved; raises :class:`UnresolvedLiteral`."""
    if isinstance(value, str):
        return _string(value, ctx)
    if isinstance(value, dict):
        if "__spread__" in value and isinstance(value["__spread__"], str):
            return _string(value["__spread__"], ctx)
        return {k: interpolate(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            spread = isinstance(item, dict) and "__spread__" in item
            resolved = interpolate(item, ctx)
            if spread and isinstance(resolved, list):
                out.extend(resolved)
            elif spread and isinstance(resolved, str) and item.get("chunked"):
                out.extend(json.loads(resolved))
            else:
                out.append(resolved)
        return out
    return value


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
