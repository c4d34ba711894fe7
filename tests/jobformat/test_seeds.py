"""Every example in the seed documents: complete ones validate, incomplete ones fail at a line.

The examples are committed verbatim under examples/seeds/ (MANIFEST.yaml says where each came
from); when ../shared/seeds is present the copies are checked against the seeds themselves.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml

from nosana_tui.cli.main import main
from nosana_tui.jobformat.dstack.convert import convert_file
from nosana_tui.jobformat.validate import validate_data
from tests.conftest import ROOT, SHARED

SEEDS = ROOT / "examples" / "seeds"
MANIFEST: list[dict[str, Any]] = yaml.safe_load((SEEDS / "MANIFEST.yaml").read_text())
JOBS = [e for e in MANIFEST if e["kind"] == "job"]
DSTACK = [e for e in MANIFEST if e["kind"] == "dstack"]


def test_manifest_lists_jobs_and_services_from_all_five_seeds() -> None:
    assert {e["seed"][:3] for e in MANIFEST} == {"000", "001", "002", "003", "004"}
    assert sum(e["complete"] for e in JOBS) >= 6
    assert [e for e in JOBS if not e["complete"]], "the seeds hold incomplete examples too"


@pytest.mark.skipif(
    not (SHARED / "seeds").is_dir(), reason="../shared/seeds is not beside the repo"
)
def test_committed_examples_match_the_seed_documents() -> None:
    proc = subprocess.run(
        [sys.executable, str(SEEDS / "extract.py"), str(SHARED / "seeds"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Complete as documents, but the network's validator rejects them: args.depends (legacy).
NETWORK_REJECTS = {"001-multi-operations.json"}


@pytest.mark.parametrize("entry", [e for e in JOBS if e["complete"]], ids=lambda e: e["file"])
def test_complete_job_example_validates(entry: dict[str, Any]) -> None:
    expected = 2 if entry["file"] in NETWORK_REJECTS else 0
    assert main(["validate", str(SEEDS / entry["file"])]) == expected


@pytest.mark.parametrize("entry", [e for e in JOBS if not e["complete"]], ids=lambda e: e["file"])
def test_incomplete_job_example_fails_naming_its_line(
    entry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    file = SEEDS / entry["file"]
    assert main(["validate", str(file)]) == 2
    out = capsys.readouterr().out
    assert f"{file}:{entry['error_line']}:" in out
    assert "error:" in out


def test_args_depends_is_an_error_as_on_the_network(capsys: pytest.CaptureFixture[str]) -> None:
    """Seed 001 puts depends in args, which the network's validator rejects: so do we, with and
    without --strict (it was a warning without; tests/conformance found the disagreement)."""
    file = SEEDS / "001-multi-operations.json"
    assert main(["validate", str(file)]) == 2
    assert "error: ops[1].args.depends" in capsys.readouterr().out
    assert main(["validate", "--strict", str(file)]) == 2
    assert "error: ops[1].args.depends" in capsys.readouterr().out


def test_array_cmd_with_spaces_in_the_seed_is_flagged() -> None:
    """Seed 002's cmd ["sh -c ", ...] would make Docker look for a program named "sh -c "."""
    text = (SEEDS / "002-gpu-stats-whisper.json").read_text()
    fixed = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    fixed = fixed.replace('audio.mp3;",\n]', 'audio.mp3;"\n]')
    data = yaml.safe_load(fixed)
    _, diags = validate_data(data)
    assert any(d.code == "cmd-array-spaces" and d.path[-2:] == ("cmd", 0) for d in diags)


@pytest.mark.parametrize("entry", DSTACK, ids=lambda e: e["file"])
def test_dstack_seed_example_converts_into_a_valid_job(entry: dict[str, Any]) -> None:
    result = convert_file(
        SEEDS / entry["file"], environ={"HUGGING_FACE_HUB_TOKEN": "hf_test_token"}
    )
    assert result.job is not None, [d.render() for d in result.report.errors]
    assert result.data is not None
    _, diags = validate_data(result.data)
    assert not [d for d in diags if d.severity == "error"]


def test_dstack_seed_files_validate_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_test_token")
    files = [str(SEEDS / e["file"]) for e in DSTACK]
    assert main(["validate", *files]) == 0
    assert "Traceback" not in capsys.readouterr().out


def test_seed_004_without_its_token_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    file = SEEDS / "004-llama31-service.dstack.yml"
    assert main(["convert", str(file)]) == 2
    err = capsys.readouterr().err
    assert "Environment variable HUGGING_FACE_HUB_TOKEN is not set" in err
    assert f"{file}:" in err
