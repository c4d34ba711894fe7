"""The rules that make ``validate`` agree with the network's validator (``@nosana/types``), and
the messages they give. tests/conformance checks the agreement over thousands of jobs; these read
the messages of each rule found there."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nosana_tui.jobformat.diagnostics import OWN_RULE, Diagnostic, Severity
from nosana_tui.jobformat.validate import validate_data, validate_text

JOB: dict[str, Any] = {
    "version": "0.1",
    "type": "container",
    "meta": {"trigger": "cli", "system_requirements": {"required_vram": 6}},
    "ops": [
        {
            "type": "container/run",
            "id": "web",
            "args": {"image": "nginx", "cmd": "nginx", "env": {"A": "1"}, "gpu": False},
            "execution": {"group": "g", "depends_on": []},
        }
    ],
}


def _errors(data: dict[str, Any]) -> list[Diagnostic]:
    job, diags = validate_data(data)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    assert (job is None) == bool(errors)
    return errors


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(JOB)
    cur: Any = data
    for part in path[:-1]:
        cur = cur[part]
    cur[path[-1]] = value
    return data


def test_the_base_job_is_valid() -> None:
    assert _errors(JOB) == []


@pytest.mark.parametrize(
    "path",
    [
        ("meta",),
        ("meta", "system_requirements"),
        ("ops", 0, "execution"),
        ("ops", 0, "execution", "group"),
        ("ops", 0, "execution", "depends_on"),
        ("ops", 0, "args", "cmd"),
        ("ops", 0, "args", "env"),
        ("ops", 0, "args", "gpu"),
        ("ops", 0, "args", "expose"),
        ("ops", 0, "args", "aliases"),
    ],
    ids=lambda p: ".".join(map(str, p)),
)
def test_null_for_an_optional_field_is_an_error_that_says_leave_it_out(
    path: tuple[str | int, ...],
) -> None:
    [error] = _errors(_with(path, None))
    assert error.code == "null-value"
    assert error.path == path
    assert f"{path[-1]!r} is null" in error.message
    assert "left out" in error.message
    assert f"delete {path[-1]!r}" in error.hint
    assert not error.own_rule, "the network rejects null itself"


def test_null_health_checks_name_the_entry() -> None:
    data = _with(("ops", 0, "args", "expose"), [{"port": 80, "health_checks": None}])
    [error] = _errors(data)
    assert (error.code, error.field) == ("null-value", "ops[0].args.expose[0].health_checks")


def test_null_expose_entry_is_a_clean_error() -> None:
    """The network's validator 2.1.6 crashes on this; ours names the entry."""
    [error] = _errors(_with(("ops", 0, "args", "expose"), [None]))
    assert error.field == "ops[0].args.expose[0]"
    assert "expose entry" in error.message


@pytest.mark.parametrize("trigger", [7, True, ["cli"], {"by": "cli"}])
def test_trigger_must_be_a_string(trigger: Any) -> None:
    [error] = _errors(_with(("meta", "trigger"), trigger))
    assert (error.code, error.field) == ("wrong-type", "meta.trigger")
    assert "meta.trigger must be a string" in error.message
    assert error.hint == "put the value in quotes"


def test_system_resources_takes_strings_and_numbers() -> None:
    [error] = _errors(_with(("meta", "system_resources"), {"required_vram": [6]}))
    assert (error.code, error.field) == ("wrong-type", "meta.system_resources")
    assert "strings and numbers" in error.message


def test_a_meta_value_deeper_than_the_network_allows_is_an_error() -> None:
    data = _with(("meta", "system_requirements"), {"gpu": {"count": {"min": 1}}})
    [error] = _errors(data)
    assert (error.code, error.field) == ("meta-shape", "meta.system_requirements.gpu")
    assert "the network's validator rejects this meta value" in error.message
    assert "one level deep" in error.message and "got an object" in error.message
    assert "flatten it" in error.hint and "convert it again" in error.hint
    assert not error.own_rule  # the network's rule, not ours
    text = '{"version": "0.1", "type": "container", "meta": {"ok": true}, "ops": []}'
    _, report = validate_text(text, "job.json")
    assert not report.ok
    [meta] = [d for d in report.errors if d.code == "meta-shape"]
    assert (meta.field, meta.line) == ("meta.ok", 1)


@pytest.mark.parametrize(
    "value",
    ["cli", 6, 1.5, ["12.8", 12.9], [], {"required_vram": 6, "gpu_names": ["H100", "A100"]}],
)
def test_meta_values_the_network_allows_are_accepted(value: Any) -> None:
    job, diags = validate_data(_with(("meta", "anything"), value))
    assert job is not None
    assert [d.code for d in diags if d.code == "meta-shape"] == []


def test_stop_if_dependent_stops_needs_depends_on() -> None:
    data = _with(("ops", 0, "execution"), {"stop_if_dependent_stops": False})
    [error] = _errors(data)
    assert error.field == "ops[0].execution.stop_if_dependent_stops"
    assert "only allowed together with depends_on" in error.message
    assert "depends_on" in error.hint


def test_logistics_args_are_required() -> None:
    data = _with(("logistics",), {"send": {"type": "api-listen"}, "receive": {"type": "api"}})
    errors = _errors(data)
    assert {(e.code, e.field) for e in errors} == {
        ("missing-field", "logistics.send.args"),
        ("missing-field", "logistics.receive.args"),
    }


def test_legacy_field_is_an_error_the_network_shares() -> None:
    [error] = _errors(_with(("ops", 0, "args", "output"), "/out"))
    assert error.code == "legacy-args-output"
    assert not error.own_rule


def test_an_error_of_our_own_says_so_and_why_the_job_could_not_run() -> None:
    data = _with(("ops", 0, "execution", "depends_on"), ["nobody"])
    [error] = _errors(data)
    assert error.code == "unknown-dependency"
    assert "init error" in error.own_rule
    assert f"note: {OWN_RULE} " in error.render()
    assert error.to_json()["own_rule"] == error.own_rule


def test_s3_without_a_source_is_our_own_rule() -> None:
    data = _with(("ops", 0, "args", "resources"), [{"type": "S3", "target": "/data"}])
    [error] = _errors(data)
    assert "needs url, bucket or buckets" in error.message
    assert "Missing required resource" in error.own_rule


def test_a_warning_becomes_an_error_with_strict_and_keeps_its_own_rule() -> None:
    diag = Diagnostic("x", "m", own_rule="why").as_error().located("f", 1, 2)
    assert (diag.severity, diag.own_rule, diag.file, diag.line) == (Severity.ERROR, "why", "f", 1)


def test_args_of_the_other_op_type_are_our_own_rule() -> None:
    """The network's validator takes create-volume args on a container/run op; the node could
    not run it."""
    data = _with(("ops", 0, "args"), {"name": "models"})
    errors = _errors(data)
    assert {(e.code, e.field) for e in errors} == {
        ("missing-field", "ops[0].args.image"),
        ("unknown-field", "ops[0].args.name"),
    }
    assert all("container/create-volume args" in e.own_rule for e in errors)
    volume = _with(("ops", 0, "type"), "container/create-volume")
    assert all("needs args.name" in e.own_rule for e in _errors(volume))


@pytest.mark.parametrize("target", ["models", "/", "//", "./data"])
def test_a_resource_target_that_cannot_be_mounted_is_refused_before_any_download(
    target: str,
) -> None:
    """The network's validator takes any string (checked with @nosana/types: {"valid": true});
    the engine refuses the mount only after the whole download, so we say it first."""
    resource = {"type": "HF", "repo": "org/model", "target": target}
    [error] = _errors(_with(("ops", 0, "args", "resources"), [resource]))
    assert error.code == "resource-target" and error.field == "ops[0].args.resources[0].target"
    assert "absolute path" in error.hint and "refuses the mount" in error.own_rule


def test_an_ollama_resource_without_a_target_takes_the_default_and_is_fine() -> None:
    resource = {"type": "Ollama", "model": "qwen3:0.6b"}
    assert _errors(_with(("ops", 0, "args", "resources"), [resource])) == []


def test_a_resource_target_given_by_a_literal_is_left_to_the_engine() -> None:
    data = _with(("ops", 0, "args", "resources"), [{"type": "HF", "repo": "o/m", "target": "x"}])
    data["ops"][0]["args"]["resources"][0]["target"] = "%%global.variables.DIR%%"
    data["global"] = {"variables": {"DIR": "/models"}}
    assert [e.code for e in _errors(data)] == []
