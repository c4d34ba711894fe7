"""The engine's values for literals: what ``%%ops.<id>.host%%`` and friends stand for on this node.

The grammar (which spans are literals, what they name) and the substitution (one pass; a field
that is exactly one literal keeps the value's type; spreads) are the job format's:
:mod:`nosana_tui.jobformat.literals`. Any literal that cannot be resolved fails the op before it
starts.

Locally, ``%%ops.<id>.endpoint.<port>%%`` is the address other containers of the job reach the op
at (``http://<host>:<port>``); the URL a person opens is in the op's endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nosana_tui.jobformat import literals as grammar
from nosana_tui.jobformat.literals import Kind, NotALiteral, parse_reference


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
        """The value of ``%%body%%``; raises :class:`UnresolvedLiteral`."""
        literal = f"%%{body}%%"
        try:
            ref = parse_reference(body)
        except NotALiteral as err:
            raise UnresolvedLiteral(literal, err.reason) from None
        if ref.kind is Kind.GLOBAL:
            return {
                "job": self.job_id,
                "host": self.node_host,
                "project": self.project,
                "frps_address": self.node_host,
            }[ref.name]
        if ref.kind is Kind.VARIABLE:
            if ref.name in self.variables:
                return self.variables[ref.name]
            raise UnresolvedLiteral(literal, f"global.variables has no {ref.name!r}")
        op_id = ref.name
        if op_id not in self.hosts:
            raise UnresolvedLiteral(literal, f"op {op_id!r} has not started")
        host = self.hosts[op_id]
        if ref.kind is Kind.HOST:
            return host
        if ref.kind in (Kind.ENDPOINT, Kind.DEPLOYMENT_ENDPOINT):
            if ref.key is not None and ref.port is None:
                raise UnresolvedLiteral(literal, f"{ref.key!r} is not a port number")
            exposed = self.ports.get(op_id, [])
            port = ref.port if ref.key is not None else (exposed[0] if exposed else None)
            if port is None or port not in exposed:
                raise UnresolvedLiteral(literal, f"op {op_id!r} does not expose that port")
            return f"http://{host}:{port}"
        key = ref.key or ""  # a result literal always names its key
        results = self.results.get(op_id)
        if results is None or key not in results:
            raise UnresolvedLiteral(
                literal, f"op {op_id!r} has no result {key!r} (has it finished?)"
            )
        return list(results[key])

    def resolve(self, literal: grammar.Literal) -> Any:
        return self.value(literal.body)


def interpolate(value: Any, ctx: LiteralContext) -> Any:
    """A copy of ``value`` with every literal resolved; raises :class:`UnresolvedLiteral`."""
    return grammar.interpolate(value, ctx.resolve)
