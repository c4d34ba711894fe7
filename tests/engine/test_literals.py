"""Literal interpolation as the runner applies it when an op starts (no Docker)."""

from __future__ import annotations

from typing import Any

import pytest

from nosana_tui.engine.literals import LiteralContext, UnresolvedLiteral, interpolate
from nosana_tui.jobformat.model import REMOVE_IF_EMPTY
from nosana_tui.jobformat.plan import drop_remove_markers


@pytest.fixture
def ctx() -> LiteralContext:
    return LiteralContext(
        job_id="job123",
        node_host="10.0.0.7",
        project="proj",
        variables={"MODEL": "llama", "EMPTY": "", "CHUNKS": '["x", "y"]'},
        hosts={"web": "nosana-job123-web", "prep": "nosana-job123-prep"},
        ports={"web": [8080, 9090], "prep": []},
        results={"prep": {"files": ["a.txt", "b.txt"], "count": ["2"], "none": []}},
    )


# --- every literal form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%%global.job%%", "job123"),
        ("%%globals.job%%", "job123"),
        ("%%global.host%%", "10.0.0.7"),
        ("%%global.project%%", "proj"),
        ("%%global.frps_address%%", "10.0.0.7"),
        ("%%global.variables.MODEL%%", "llama"),
        ("%%global.variables.EMPTY%%", ""),
        ("%%ops.web.host%%", "nosana-job123-web"),
        ("%%ops.web.endpoint.8080%%", "http://nosana-job123-web:8080"),
        ("%%ops.web.endpoint.9090%%", "http://nosana-job123-web:9090"),
        ("%%ops.web.deployment_endpoint.9090%%", "http://nosana-job123-web:9090"),
        ("%%ops.web.deployment_endpoint%%", "http://nosana-job123-web:8080"),
        ("%%ops.prep.results.count%%", ["2"]),
    ],
)
def test_every_literal_form_resolves(ctx: LiteralContext, text: str, expected: Any) -> None:
    assert interpolate(text, ctx) == expected


def test_a_field_that_is_exactly_one_literal_keeps_the_list_type(ctx: LiteralContext) -> None:
    value = interpolate("%%ops.prep.results.files%%", ctx)
    assert value == ["a.txt", "b.txt"]
    assert isinstance(value, list)
    # a copy: changing it does not change the op's results
    value.append("c")
    assert ctx.results["prep"]["files"] == ["a.txt", "b.txt"]


def test_literals_inside_text_are_spliced_as_text(ctx: LiteralContext) -> None:
    text = "curl %%ops.web.endpoint.8080%%/v1 --model %%global.variables.MODEL%% in %%global.job%%"
    assert interpolate(text, ctx) == (
        "curl http://nosana-job123-web:8080/v1 --model llama in job123"
    )
    # a list result spliced into text becomes its items joined by spaces
    assert interpolate("files: %%ops.prep.results.files%%!", ctx) == "files: a.txt b.txt!"


def test_a_field_of_two_literals_is_two_literals(ctx: LiteralContext) -> None:
    # the lazy pattern matches the whole field too; it must not be read as one literal
    assert interpolate("%%global.job%%-%%global.job%%", ctx) == "job123-job123"
    assert interpolate("%%ops.web.host%%%%global.variables.MODEL%%", ctx) == (
        "nosana-job123-webllama"
    )
    assert interpolate("%%ops.prep.results.files%%,%%ops.prep.results.count%%", ctx) == (
        "a.txt b.txt,2"
    )


def test_text_without_literals_and_non_strings_are_unchanged(ctx: LiteralContext) -> None:
    assert interpolate("50% off, 100%", ctx) == "50% off, 100%"
    assert interpolate("%%", ctx) == "%%"
    for value in (8080, 1.5, True, None):
        assert interpolate(value, ctx) == value


def test_nested_structures_are_copied_with_every_literal_resolved(ctx: LiteralContext) -> None:
    args: dict[str, Any] = {
        "image": "busybox:latest",
        "cmd": ["sh", "-c", "wget %%ops.web.endpoint.8080%%"],
        "env": {"HOST": "%%ops.web.host%%", "N": 3, "FILES": "%%ops.prep.results.files%%"},
        "expose": [{"port": 8080, "health_checks": [{"path": "/%%global.job%%"}]}],
    }
    out = interpolate(args, ctx)
    assert out == {
        "image": "busybox:latest",
        "cmd": ["sh", "-c", "wget http://nosana-job123-web:8080"],
        "env": {"HOST": "nosana-job123-web", "N": 3, "FILES": ["a.txt", "b.txt"]},
        "expose": [{"port": 8080, "health_checks": [{"path": "/job123"}]}],
    }
    assert args["env"]["HOST"] == "%%ops.web.host%%"  # the input is untouched


# --- spread markers -------------------------------------------------------------------------------


def test_a_spread_marker_in_a_list_splices_the_list(ctx: LiteralContext) -> None:
    value = ["--in", {"__spread__": "%%ops.prep.results.files%%"}, "--out", "x"]
    assert interpolate(value, ctx) == ["--in", "a.txt", "b.txt", "--out", "x"]


def test_a_spread_of_an_empty_result_adds_nothing(ctx: LiteralContext) -> None:
    assert interpolate(["a", {"__spread__": "%%ops.prep.results.none%%"}], ctx) == ["a"]


def test_a_chunked_spread_of_a_json_text_splices_its_items(ctx: LiteralContext) -> None:
    value = ["a", {"__spread__": "%%global.variables.CHUNKS%%", "chunked": True}, "z"]
    assert interpolate(value, ctx) == ["a", "x", "y", "z"]


def test_a_spread_of_a_plain_value_is_one_item(ctx: LiteralContext) -> None:
    assert interpolate(["a", {"__spread__": "%%global.variables.MODEL%%"}], ctx) == ["a", "llama"]


def test_a_spread_marker_outside_a_list_becomes_its_value(ctx: LiteralContext) -> None:
    assert interpolate({"__spread__": "%%ops.prep.results.files%%"}, ctx) == ["a.txt", "b.txt"]
    assert interpolate({"resources": {"__spread__": "%%ops.prep.results.count%%"}}, ctx) == {
        "resources": ["2"]
    }


# --- unresolved literals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("%%global.variables.NOPE%%", "NOPE"),
        ("%%global.nope%%", "unknown global literal"),
        ("%%global.variables%%", "unknown global literal"),
        ("%%ops.ghost.host%%", "'ghost' has not started"),
        ("%%ops.web.endpoint.7000%%", "does not expose that port"),
        ("%%ops.web.endpoint.http%%", "'http' is not a port number"),
        ("%%ops.prep.endpoint.80%%", "does not expose that port"),
        ("%%ops.prep.deployment_endpoint%%", "does not expose that port"),
        ("%%ops.prep.results.missing%%", "no result 'missing'"),
        ("%%ops.web.results.files%%", "no result 'files'"),
        ("%%ops.web.host.extra%%", "not a literal the node knows"),
        ("%%ops.web%%", "not a literal the node knows"),
        ("%%something.else%%", "not a literal the node knows"),
    ],
)
def test_an_unresolved_literal_raises_naming_it(
    ctx: LiteralContext, text: str, reason: str
) -> None:
    with pytest.raises(UnresolvedLiteral) as caught:
        interpolate(f"prefix {text} suffix", ctx)
    assert caught.value.literal == text
    assert text in str(caught.value)
    assert reason in str(caught.value)


def test_an_unresolved_literal_deep_inside_fails_the_whole_value(ctx: LiteralContext) -> None:
    args = {"env": {"OK": "%%global.job%%"}, "cmd": ["x", {"__spread__": "%%ops.x.results.y%%"}]}
    with pytest.raises(UnresolvedLiteral) as caught:
        interpolate(args, ctx)
    assert caught.value.literal == "%%ops.x.results.y%%"


def test_results_of_an_op_that_has_not_finished_are_unresolved() -> None:
    ctx = LiteralContext(job_id="j", hosts={"prep": "c"}, results={})
    with pytest.raises(UnresolvedLiteral, match="has it finished"):
        interpolate("%%ops.prep.results.files%%", ctx)


# --- __remove-if-empty__ --------------------------------------------------------------------------


def test_drop_remove_markers() -> None:
    args = {
        "image": "busybox",
        "cmd": ["echo", REMOVE_IF_EMPTY, "hi"],
        "entrypoint": [REMOVE_IF_EMPTY],
        "resources": [REMOVE_IF_EMPTY, REMOVE_IF_EMPTY],
        "env": {"A": "1"},
        "expose": [8080],
        "empty": [],
    }
    assert drop_remove_markers(args) == {
        "image": "busybox",
        "cmd": ["echo", "hi"],
        "env": {"A": "1"},
        "expose": [8080],
        "empty": [],
    }
    assert args["entrypoint"] == [REMOVE_IF_EMPTY]  # the input is untouched


def test_spread_then_remove_markers_leave_only_what_resolved(ctx: LiteralContext) -> None:
    args = {
        "cmd": [{"__spread__": "%%ops.prep.results.none%%"}, REMOVE_IF_EMPTY],
        "entrypoint": ["run", {"__spread__": "%%ops.prep.results.files%%"}, REMOVE_IF_EMPTY],
    }
    assert drop_remove_markers(interpolate(args, ctx)) == {"entrypoint": ["run", "a.txt", "b.txt"]}
