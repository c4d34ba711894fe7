"""The command line, end to end: exit codes, output forms, no tracebacks for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from nosana_tui.cli.main import main
from tests.conftest import FIXTURES, ROOT

SEEDS = ROOT / "examples" / "seeds"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    exe = Path(sys.executable).with_name("nosana-tui")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "nosana_tui"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_console_script_runs_and_reports_its_version() -> None:
    proc = _cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("nosana-tui ")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "no/such/file.json"],
        ["validate", str(FIXTURES / "malformed" / "trailing-comma.json")],
        ["validate", str(FIXTURES / "malformed" / "tab-indent.yaml")],
        ["validate", str(FIXTURES / "malformed" / "empty.json")],
        ["validate", str(FIXTURES)],
        ["convert", str(FIXTURES / "malformed" / "top-level-list.json")],
        ["templates", "show", "nope"],
        ["templates", "show", "busybox-hello", "--set", "BROKEN"],
        ["validate"],
        ["frobnicate"],
    ],
)
def test_bad_input_exits_2_without_a_traceback(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).strip()


def test_missing_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/file.json"]) == 2
    assert "no/such/file.json: error: no such file" in capsys.readouterr().out


def test_validate_json_output_is_stable(capsys: pytest.CaptureFixture[str]) -> None:
    # 2: the network rejects the seed's args.depends, and so do we
    assert main(["validate", "--json", str(SEEDS / "001-multi-operations.json")]) == 2
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"valid", "files"}
    (file_report,) = report["files"]
    assert set(file_report) == {"file", "valid", "errors", "warnings", "diagnostics"}
    (diag,) = file_report["diagnostics"]
    assert set(diag) == {
        "code",
        "message",
        "path",
        "hint",
        "severity",
        "file",
        "line",
        "column",
        "own_rule",
    }
    assert diag["path"] == "ops[1].args.depends" and diag["line"] == 50


def test_schema_is_a_json_schema_that_agrees_with_the_validator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = json.loads((SEEDS / "000-vllm-openwebui-multi-operations.json").read_text())
    assert not list(validator.iter_errors(good))
    bad = {**good, "opps": []}
    assert list(validator.iter_errors(bad))
    assert "global" in schema["properties"]


def test_convert_writes_a_job_file_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "job.json"
    src = SEEDS / "003-http-server-python.dstack.yml"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    assert "converted to" in capsys.readouterr().err
    assert main(["validate", str(out)]) == 0
    job = json.loads(out.read_text())
    assert job["ops"][0]["args"]["expose"][0]["port"] == 8000


def test_convert_env_flag_fills_a_missing_variable(capsys: pytest.CaptureFixture[str]) -> None:
    src = SEEDS / "004-llama31-service.dstack.yml"
    assert main(["convert", str(src), "-e", "HUGGING_FACE_HUB_TOKEN=hf_x"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["ops"][0]["args"]["env"]["HUGGING_FACE_HUB_TOKEN"] == "hf_x"


def test_convert_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    src = SEEDS / "003-http-server-spot-policy.dstack.yml"
    assert main(["convert", str(src)]) == 0
    capsys.readouterr()
    assert main(["convert", "--strict", str(src)]) == 2


def test_templates_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "CATEGORY", "ORIGIN", "DESCRIPTION"]
    assert any(line.startswith("busybox-pipeline") for line in table)
    assert main(["templates", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"id", "name", "description", "category", "variables", "origin"} <= set(listed[0])


def test_info_prints_every_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["paths"]["templates_dir"].endswith(os.path.join("config", "templates"))
    assert set(info["paths"]) >= {
        "config_dir",
        "config_file",
        "templates_dir",
        "data_dir",
        "token_file",
    }
    assert info["paths"]["builtin_templates"].endswith("library")


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "validate" in capsys.readouterr().out


def test_node_serve_runs_the_agent_only_through_the_program(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The CLI never imports the node: ``nosana_tui.entry`` hands it the function that runs the
    agent. Called without one (a caller of ``cli.main`` alone), it says so instead."""
    assert main(["node", "serve"]) == 1
    assert "`node serve` runs the agent from the `nosana-tui` program" in capsys.readouterr().err
