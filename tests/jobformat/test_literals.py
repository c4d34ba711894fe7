"""The literal grammar (``jobformat.literals``): tokens, references, one-pass substitution, and the
same string read alike by ``validate`` and by the engine."""

from __future__ import annotations

from typing import Any

import pytest

from nosana_tui.engine.literals import LiteralContext, UnresolvedLiteral
from nosana_tui.engine.literals import interpolate as engine_interpolate
from nosana_tui.jobformat.literals import (
    Kind,
    Literal,
    NotALiteral,
    Reference,
    Text,
    interpolate,
    literals,
    parse_reference,
    substitute,
    tokens,
    whole,
)
from nosana_tui.jobformat.validate import validate_data

# --- tokens ---------------------------------------------------------------------------------------


def test_tokens_split_text_and_literals_with_positions() -> None:
    text = "curl %%ops.web.endpoint.80%%/v1?job=%%global.job%%"
    assert tokens(text) == [
        Text("curl ", 0),
        Literal("ops.web.endpoint.80", 5, 28),
        Text("/v1?job=", 28),
        Literal("global.job", 36, 50),
    ]
    assert text[5:28] == "%%ops.web.endpoint.80%%"
    assert "".join(t.text if isinstance(t, Text) else t.source for t in tokens(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "echo 100%%%% done",  # no escape: four percent signs, as on the node
        "%%%%",
        "%%",
        "%%%",
        "50%% off, 20%% more",
        "%% x %%",  # white space: not a body
        "%%ops.a.results.my key%%",
        "printf '%%%%d'",
        "",
    ],
)
def test_text_that_holds_no_literal_is_plain(text: str) -> None:
    assert list(literals(text)) == []
    assert tokens(text) == ([Text(text, 0)] if text else [])


def test_adjacent_literals_and_stray_percent_signs() -> None:
    assert [lit.source for lit in literals("%%ops.a.host%%%%global.job%%")] == [
        "%%ops.a.host%%",
        "%%global.job%%",
    ]
    # a third % before a literal is text: the literal starts at the last %% before its body
    assert tokens("%%%ops.a.host%%") == [Text("%", 0), Literal("ops.a.host", 1, 15)]
    assert whole("%%a%%-%%b%%") is None
    assert whole("%%ops.a.host%%") == Literal("ops.a.host", 0, 14)


# --- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ref"),
    [
        ("global.job", Reference(Kind.GLOBAL, "job")),
        ("globals.frps_address", Reference(Kind.GLOBAL, "frps_address")),
        ("global.variables.MODEL", Reference(Kind.VARIABLE, "MODEL")),
        ("ops.web.host", Reference(Kind.HOST, "web")),
        ("ops.web.endpoint.8080", Reference(Kind.ENDPOINT, "web", "8080")),
        ("ops.web.endpoint.http", Reference(Kind.ENDPOINT, "web", "http")),
        ("ops.web.deployment_endpoint", Reference(Kind.DEPLOYMENT_ENDPOINT, "web")),
        ("ops.web.deployment_endpoint.9", Reference(Kind.DEPLOYMENT_ENDPOINT, "web", "9")),
        ("ops.prep.results.files", Reference(Kind.RESULT, "prep", "files")),
    ],
)
def test_every_reference_the_node_knows(body: str, ref: Reference) -> None:
    assert parse_reference(body) == ref


def test_a_port_is_a_number_or_none() -> None:
    assert parse_reference("ops.w.endpoint.8080").port == 8080
    assert parse_reference("ops.w.endpoint.http").port is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("global.nope", "unknown global literal"),
        ("global.variables", "unknown global literal"),
        ("globals.variables.a.b", "unknown global literal"),
        ("ops.web", "not a literal the node knows"),
        ("ops.web.endpoint", "not a literal the node knows"),
        ("ops.web.host.extra", "not a literal the node knows"),
        ("ops.a.results.x.y", "not a literal the node knows"),
        ("op.web.host", "not a literal the node knows"),
        ("something.else", "not a literal the node knows"),
    ],
)
def test_bodies_the_node_does_not_know(body: str, reason: str) -> None:
    with pytest.raises(NotALiteral) as caught:
        parse_reference(body)
    assert caught.value.reason == reason


# --- substitution: one pass -----------------------------------------------------------------------


def test_a_substituted_value_is_never_read_again() -> None:
    values = {"ops.a.results.r": ["%%global.job%%"], "global.variables.V": "%%ops.a.host%%"}
    seen: list[str] = []

    def resolve(lit: Literal) -> Any:
        seen.append(lit.body)
        return values[lit.body]

    assert substitute("x %%ops.a.results.r%% %%global.variables.V%%", resolve) == (
        "x %%global.job%% %%ops.a.host%%"
    )
    assert seen == ["ops.a.results.r", "global.variables.V"]  # each literal of the text, once
    assert interpolate({"env": {"A": "%%global.variables.V%%"}}, resolve) == {
        "env": {"A": "%%ops.a.host%%"}
    }


def test_a_whole_literal_keeps_its_type_and_text_joins_lists() -> None:
    def resolve(lit: Literal) -> Any:
        return {"l": ["a", "b"], "n": 3}[lit.body]

    assert substitute("%%l%%", resolve) == ["a", "b"]
    assert substitute("[%%l%%] %%n%%", resolve) == "[a b] 3"
    assert substitute("100%%%% %%n%%", resolve) == "100%%%% 3"


# --- validate and the engine read a string alike ---------------------------------------------------

_CTX = LiteralContext(
    job_id="j1",
    variables={"V": "v"},
    hosts={"a": "nosana-j1-a"},
    ports={"a": [8080]},
    results={"a": {"r": ["x"]}},
)


def _validate(cmd: str) -> list[str]:
    doc = {
        "version": "0.1",
        "type": "container",
        "global": {"variables": {"V": "v"}},
        "ops": [
            {
                "type": "container/run",
                "id": "a",
                "args": {"image": "busybox", "expose": 8080},
                "results": {"r": "x"},
            },
            {"type": "container/run", "id": "b", "args": {"image": "busybox", "cmd": cmd}},
        ],
    }
    _, diags = validate_data(doc)
    return [d.code for d in diags if d.code.startswith("literal")]


@pytest.mark.parametrize(
    ("cmd", "runs_as"),
    [
        ("echo 100%%%% done", "echo 100%%%% done"),
        ("echo 50%% off", "echo 50%% off"),
        ("%%", "%%"),
        ("echo %% x %%", "echo %% x %%"),
        ("echo %%global.job%%", "echo j1"),
        ("echo %%%%global.job%%%%", "echo %%j1%%"),
        ("%%ops.a.host%%:%%ops.a.endpoint.8080%%", "nosana-j1-a:http://nosana-j1-a:8080"),
        ("echo %%ops.a.results.r%% %%global.variables.V%%", "echo x v"),
        ("echo %%ops.a.deployment_endpoint.8080%%", "echo http://nosana-j1-a:8080"),
        ("echo %%something.else%%", None),
        ("echo %%global.nope%%", None),
        ("echo %%ops.a%%", None),
        ("echo %%ops.a.endpoint%%", None),
        ("echo %%ops.a.endpoint.9%%", None),
        ("echo %%ops.a.deployment_endpoint.9%%", None),
        ("echo %%ops.ghost.host%%", None),
        ("echo %%global.variables.NOPE%%", None),
    ],
)
def test_validate_and_the_engine_agree(cmd: str, runs_as: str | None) -> None:
    problems = _validate(cmd)
    if runs_as is None:
        assert problems, "validate must refuse what the engine cannot run"
        with pytest.raises(UnresolvedLiteral):
            engine_interpolate(cmd, _CTX)
    else:
        assert problems == []
        assert engine_interpolate(cmd, _CTX) == runs_as
