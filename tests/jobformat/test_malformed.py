"""The malformed-job corpus: one file per validation rule.

Each file goes through the real CLI entry point (``nosana-tui validate --json``); the test checks
the exit code, the rule's code, the field path and the line of the message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nosana_tui.cli.main import main
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "malformed"

# file -> (code, field path, line, needs --strict)
EXPECTED: dict[str, tuple[str, str, int, bool]] = {
    "trailing-comma.json": ("parse-error", "", 6, False),
    "json-comment.json": ("parse-error", "", 4, False),
    "tab-indent.yaml": ("parse-error", "", 4, False),
    "empty.json": ("empty-file", "", 1, False),
    "top-level-list.json": ("not-an-object", "", 1, False),
    "unknown-top-key.json": ("unknown-field", "opps", 4, False),
    "unknown-arg.yaml": ("unknown-field", "ops[0].args.ports", 8, False),
    "version-number.yaml": ("invalid-value", "version", 1, False),
    "wrong-job-type.json": ("invalid-value", "type", 1, False),
    "missing-ops.json": ("missing-field", "ops", 1, False),
    "unknown-op-type.json": ("wrong-type", "ops[0].type", 5, False),
    "missing-image.json": ("missing-field", "ops[0].args.image", 6, False),
    "cmd-number.json": ("wrong-type", "ops[0].args.cmd", 5, False),
    "gpu-string.yaml": ("wrong-type", "ops[0].args.gpu", 8, False),
    "env-number.yaml": ("wrong-type", "ops[0].args.env.PORT", 9, False),
    "duplicate-op-id.json": ("duplicate-op-id", "ops[1].id", 6, False),
    "op-id-space.json": ("op-id-space", "ops[0].id", 5, False),
    "op-id-control.json": ("op-id-control", "ops[0].id", 6, False),
    "group-control.json": ("group-control", "ops[0].execution.group", 9, False),
    "unknown-dependency.yaml": ("unknown-dependency", "ops[1].execution.depends_on[0]", 13, False),
    "cross-group-dependency.yaml": (
        "cross-group-dependency",
        "ops[1].execution.depends_on[0]",
        13,
        False,
    ),
    "self-dependency.json": ("self-dependency", "ops[0].execution.depends_on[0]", 6, False),
    "dependency-cycle.yaml": ("dependency-cycle", "ops[0].execution.depends_on", 7, False),
    "duplicate-port.json": ("duplicate-port", "ops[0].args.expose[2]", 5, False),
    "port-out-of-range.json": ("port-range", "ops[0].args.expose[1]", 5, False),
    "port-as-string.json": ("wrong-type", "ops[0].args.expose", 5, False),
    "health-check-method.yaml": (
        "invalid-value",
        "ops[0].args.expose[0].health_checks[0].method",
        13,
        False,
    ),
    "health-check-status.yaml": (
        "invalid-value",
        "ops[0].args.expose[0].health_checks[0].expected_status",
        14,
        False,
    ),
    "health-check-continuous-missing.json": (
        "missing-field",
        "ops[0].args.expose[0].health_checks[0].continuous",
        11,
        False,
    ),
    "health-check-type.yaml": (
        "invalid-value",
        "ops[0].args.expose[0].health_checks[0].type",
        11,
        False,
    ),
    "unknown-volume.yaml": ("unknown-volume", "ops[1].args.volumes[0].name", 12, False),
    "volume-op-with-image.json": ("unknown-field", "ops[0].args.image", 5, False),
    "restart-policy.yaml": ("invalid-value", "ops[0].args.restart_policy", 8, False),
    "results-logtype.yaml": ("invalid-value", "ops[0].results.answer.logType[1]", 10, False),
    "timeout-negative.yaml": ("invalid-value", "ops[0].execution.timeout", 7, False),
    "literal-unknown-op.yaml": ("literal-unknown-op", "ops[0].args.env.TARGET", 9, False),
    "literal-unknown-variable.yaml": ("literal-unknown-variable", "ops[0].args.cmd", 10, False),
    "legacy-args-depends.json": ("legacy-args-depends", "ops[1].args.depends", 6, False),
    "logistics-incomplete.json": ("missing-field", "logistics.receive", 5, False),
}


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir()}
    assert on_disk == set(EXPECTED), "every corpus file has an expectation and vice versa"
    assert len(on_disk) >= 25


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["validate", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_is_rejected_with_its_rule(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code_, path, line, strict = EXPECTED[name]
    file = str(CORPUS / name)
    args = ["--strict", file] if strict else [file]
    code, report = _run(capsys, *args)
    assert code == 2
    assert report["valid"] is False
    (file_report,) = report["files"]  # type: ignore[misc]
    errors = [d for d in file_report["diagnostics"] if d["severity"] == "error"]
    matching = [d for d in errors if d["code"] == code_ and d["path"] == path]
    assert matching, f"no {code_} error at {path!r}; got {errors}"
    diag = matching[0]
    assert diag["line"] == line
    assert diag["file"] == file
    assert diag["message"]
    assert diag["hint"], "every error says what to do"


def test_legacy_field_is_an_error_without_strict_too(capsys: pytest.CaptureFixture[str]) -> None:
    """The network's validator rejects args.depends, so a plain ``validate`` does too (it was a
    warning: tests/conformance found the disagreement)."""
    code, report = _run(capsys, str(CORPUS / "legacy-args-depends.json"))
    assert code == 2
    (file_report,) = report["files"]  # type: ignore[misc]
    assert file_report["errors"] == 1
    (diag,) = file_report["diagnostics"]
    assert diag["severity"] == "error"
    assert "network rejects it" in diag["message"]
    assert "execution.depends_on" in diag["hint"] or "delete it" in diag["hint"]


def test_human_output_names_file_line_column_and_path(capsys: pytest.CaptureFixture[str]) -> None:
    file = CORPUS / "unknown-dependency.yaml"
    assert main(["validate", str(file)]) == 2
    out = capsys.readouterr().out
    assert f"{file}:13:20: error: ops[1].execution.depends_on[0]: no op has the id 'servr'" in out
    assert "hint: did you mean 'server'?" in out
    assert "Traceback" not in out


def test_several_files_report_each_and_fail_if_any_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(
        '{"version": "0.1", "type": "container", "ops": '
        '[{"type": "container/run", "id": "a", "args": {"image": "busybox"}}]}'
    )
    code, report = _run(capsys, str(good), str(CORPUS / "cmd-number.json"))
    assert code == 2
    files = report["files"]  # type: ignore[assignment]
    assert [f["valid"] for f in files] == [True, False]  # type: ignore[index]
