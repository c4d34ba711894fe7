"""The literal grammar of the job format: where ``%%...%%`` references are, which ones the node
knows, and how their values are spliced in. ``validate`` reads it for its diagnostics, the engine
for substitution (it only supplies the values, ``engine.literals``), the schema for its
``%%literal%%`` fields.

**Tokens.** A literal is ``%%``, a body of one or more characters that are neither ``%`` nor white
space, and ``%%``; text is read left to right and literals do not overlap. Everything else is plain
text and reaches the container unchanged: there is no escape, so ``100%%%% done`` is four percent
signs, a lone ``%%`` is two, ``%% x %%`` is text. That is what the Nosana node does: it rewrites
only spans that match ``%%(ops|global)\\.<id>\\.<path>%%`` or ``%%(global|globals)\\.<key>%%`` and
leaves every other ``%`` alone (nosana-cli 1d3a04c,
``src/services/NodeManager/node/task/globalStore/interpolateOperation.ts``; reference/nosana.md
§1.11).

**References** (:func:`parse_reference`): ``%%global(s).job|host|project|frps_address%%``,
``%%global(s).variables.<name>%%``, ``%%ops.<id>.host%%``, ``%%ops.<id>.results.<key>%%``,
``%%ops.<id>.endpoint.<port>%%`` and ``%%ops.<id>.deployment_endpoint[.<port>]%%``. A literal with
any other body (``%%op.x.host%%``, ``%%something.else%%``) is an error, to ``validate`` and to the
engine alike: there we are stricter than the node, which hands such a span to the container as
text, so a misspelt literal would fail far from its cause (reference/nosana.md §5, item 4).

**Substitution** (:func:`interpolate`) reads the original text once; a substituted value is never
read again, so a result or variable that holds ``%%global.job%%`` stays that text. (The node
replaces the three-part literals first and then scans the result for two-part ones; we do not copy
that.) A field that is exactly one literal keeps the value's own type (a results list stays a
list); within text a list becomes its items joined by spaces and any other non-string its JSON; an
array element ``{"__spread__": "%%...%%"}`` splices a list (``chunked``: a JSON text of one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

LITERAL = re.compile(r"%%([^%\s]+)%%")
EXACT_LITERAL_PATTERN = r"^%%[^%\s]+%%$"
"""A string that is one literal and nothing else (the schema's ``%%literal%%`` fields)."""

GLOBAL_KEYS = ("job", "host", "project", "frps_address")
UNKNOWN_GLOBAL = "unknown global literal"
UNKNOWN = "not a literal the node knows"


@dataclass(frozen=True)
class Literal:
    """One ``%%body%%`` in a text, at ``text[start:end]``."""

    body: str
    start: int
    end: int

    @property
    def source(self) -> str:
        return f"%%{self.body}%%"


@dataclass(frozen=True)
class Text:
    """Plain text between literals, at ``text[start:start + len(text)]``."""

    text: str
    start: int


Token = Literal | Text


def literals(text: str) -> Iterator[Literal]:
    """The literals of ``text``, left to right."""
    for match in LITERAL.finditer(text):
        yield Literal(match.group(1), match.start(), match.end())


def tokens(text: str) -> list[Token]:
    """``text`` as plain parts and literals, in order; joined again they give ``text``."""
    out: list[Token] = []
    pos = 0
    for lit in literals(text):
        if lit.start > pos:
            out.append(Text(text[pos : lit.start], pos))
        out.append(lit)
        pos = lit.end
    if pos < len(text):
        out.append(Text(text[pos:], pos))
    return out


def whole(text: str) -> Literal | None:
    """The literal ``text`` consists of, if it is exactly one."""
    match = LITERAL.fullmatch(text)
    return Literal(match.group(1), 0, len(text)) if match else None


class Kind(StrEnum):
    GLOBAL = "global"  # name: job, host, project or frps_address
    VARIABLE = "variable"  # name: the variable
    HOST = "host"  # name: the op id
    ENDPOINT = "endpoint"  # name: the op id; key: the port as written
    DEPLOYMENT_ENDPOINT = "deployment_endpoint"  # name: the op id; key: the port, if any
    RESULT = "result"  # name: the op id; key: the result's key


@dataclass(frozen=True)
class Reference:
    """What a literal names."""

    kind: Kind
    name: str
    key: str | None = None

    @property
    def port(self) -> int | None:
        """The port an endpoint literal names, if it is a number."""
        return int(self.key) if self.key is not None and self.key.isdigit() else None


class NotALiteral(ValueError):
    """The body is no literal the node knows; ``reason`` says which kind of not."""

    def __init__(self, body: str, reason: str) -> None:
        super().__init__(f"%%{body}%%: {reason}")
        self.body = body
        self.reason = reason


def parse_reference(body: str) -> Reference:
    """What ``%%body%%`` names; raises :class:`NotALiteral`. (An op id with a dot in it cannot be
    named: the id is the second part; ``validate`` warns about such ids.)"""
    parts = body.split(".")
    head = parts[0]
    if head in ("global", "globals"):
        if len(parts) == 2 and parts[1] in GLOBAL_KEYS:
            return Reference(Kind.GLOBAL, parts[1])
        if len(parts) == 3 and parts[1] == "variables":
            return Reference(Kind.VARIABLE, parts[2])
        raise NotALiteral(body, UNKNOWN_GLOBAL)
    if head == "ops" and len(parts) in (3, 4):
        op_id, what, rest = parts[1], parts[2], parts[3:]
        key = rest[0] if rest else None
        if what == "host" and key is None:
            return Reference(Kind.HOST, op_id)
        if what == "endpoint" and key is not None:
            return Reference(Kind.ENDPOINT, op_id, key)
        if what == "deployment_endpoint":
            return Reference(Kind.DEPLOYMENT_ENDPOINT, op_id, key)
        if what == "results" and key is not None:
            return Reference(Kind.RESULT, op_id, key)
    raise NotALiteral(body, UNKNOWN)


# --- substitution ----------------------------------------------------------------------------------

Resolve = Callable[[Literal], Any]
"""The value of one literal (raising for one it cannot resolve)."""


def as_text(value: Any) -> str:
    """A value as it reads within text: a list as its items joined by spaces."""
    if isinstance(value, list):
        return " ".join(as_text(v) for v in value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


def substitute(text: str, resolve: Resolve) -> Any:
    """``text`` with its literals replaced, in one pass over ``text``: a value put in is never
    read again. A text that is exactly one literal becomes the value itself."""
    exact = whole(text)
    if exact is not None:
        return resolve(exact)
    parts: list[str] = []
    for token in tokens(text):
        parts.append(token.text if isinstance(token, Text) else as_text(resolve(token)))
    return "".join(parts)


def interpolate(value: Any, resolve: Resolve) -> Any:
    """A copy of ``value`` (JSON-like) with every literal in every string substituted."""
    if isinstance(value, str):
        return substitute(value, resolve)
    if isinstance(value, dict):
        if "__spread__" in value and isinstance(value["__spread__"], str):
            return substitute(value["__spread__"], resolve)
        return {k: interpolate(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            spread = isinstance(item, dict) and "__spread__" in item
            resolved = interpolate(item, resolve)
            if spread and isinstance(resolved, list):
                out.extend(resolved)
            elif spread and isinstance(resolved, str) and item.get("chunked"):
                out.extend(json.loads(resolved))
            else:
                out.append(resolved)
        return out
    return value
