"""The template library: built-in templates, user templates, variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nosana_tui.cli.main import main
from nosana_tui.jobformat import templates as tpl
from nosana_tui.jobformat.model import RunOperation
from nosana_tui.jobformat.plan import effective, stages

TOKEN_ENV = {"HUGGING_FACE_HUB_TOKEN": "hf_test_token"}


def _library(user_dir: Path | None = None) -> list[tpl.Template]:
    templates, problems = tpl.load_library(user_dir)
    assert not problems
    return templates


def test_builtin_library_holds_the_seed_examples_dstack_and_offline_templates() -> None:
    ids = {t.id for t in _library()}
    for needed in (
        "nginx-service",
        "vllm-openwebui",
        "vllm-openwebui-ops",
        "multi-stage-pipeline",
        "gpu-stats-whisper",
        "dstack-http-server",
        "dstack-llama31-vllm",
    ):
        assert needed in ids


@pytest.mark.parametrize("template", _library(), ids=lambda t: t.id)
def test_every_builtin_template_renders_to_a_valid_job(template: tpl.Template) -> None:
    assert template.name and template.description and template.category
    job, data, report = tpl.render(template, {}, environ=TOKEN_ENV)
    assert job.version == "0.1"
    assert data["ops"]
    assert report.ok


def test_at_least_three_templates_need_nothing_but_busybox() -> None:
    offline = []
    for template in _library():
        if template.kind != "job":
            continue
        job, _, _ = tpl.render(template, {})
        images = {effective(job, op).image for op in job.ops if isinstance(op, RunOperation)}
        if images and all(
            i.split(":")[0] in ("busybox", "docker.io/library/busybox") for i in images
        ):
            offline.append(template.id)
    assert len(offline) >= 3, offline


def test_the_busybox_pipeline_has_two_stages_with_a_dependency() -> None:
    template = tpl.find(_library(), "busybox-pipeline")
    job, _, _ = tpl.render(template, {})
    plan = stages(job)
    assert len(plan) >= 2
    assert any(op.depends_on for op in job.ops)


def test_set_fills_a_job_variable() -> None:
    template = tpl.find(_library(), "busybox-hello")
    assert [v.name for v in template.variables] == ["GREETING"]
    assert template.variables[0].default
    _, data, _ = tpl.render(template, {"GREETING": "bonjour"})
    assert data["global"]["variables"]["GREETING"] == "bonjour"


def test_set_fills_a_dstack_env_variable() -> None:
    template = tpl.find(_library(), "dstack-llama31-vllm")
    names = {v.name: v.default for v in template.variables}
    assert "MODEL" in names and names["HUGGING_FACE_HUB_TOKEN"] is None
    _, data, _ = tpl.render(template, {"MODEL": "org/tiny"}, environ=TOKEN_ENV)
    (op,) = [o for o in data["ops"] if o["type"] == "container/run"]
    assert op["args"]["env"]["MODEL"] == "org/tiny"


def test_unknown_variable_is_refused_naming_the_known_ones() -> None:
    template = tpl.find(_library(), "busybox-hello")
    with pytest.raises(tpl.TemplateError, match=r"no variable NOPE \(its variables: GREETING\)"):
        tpl.render(template, {"NOPE": "1"})


def test_unknown_template_name_suggests_close_ones() -> None:
    with pytest.raises(tpl.TemplateError, match="did you mean busybox-hello"):
        tpl.find(_library(), "busybox-helo")


def test_parse_sets_requires_name_equals_value() -> None:
    assert tpl.parse_sets(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(tpl.TemplateError, match="NAME=VALUE"):
        tpl.parse_sets(["A"])


def _write_user_templates(root: Path) -> None:
    (root / "mine").mkdir(parents=True)
    (root / "mine" / "info.yaml").write_text(
        "name: My job\ndescription: Says hi.\ncategory: [Mine]\n"
        "variables:\n  WHO: {description: who to greet}\n"
    )
    (root / "mine" / "job.yaml").write_text(
        'version: "0.1"\ntype: container\nglobal:\n  variables: {WHO: world}\n'
        "ops:\n  - type: container/run\n    id: hi\n    args:\n      image: busybox\n"
        '      cmd: "echo hi %%global.variables.WHO%%"\n'
    )
    (root / "bare.json").write_text(
        json.dumps(
            {
                "version": "0.1",
                "type": "container",
                "meta": {"description": "a bare file"},
                "ops": [{"type": "container/run", "id": "x", "args": {"image": "busybox"}}],
            }
        )
    )


def test_user_templates_are_listed_beside_builtin_ones(tmp_path: Path) -> None:
    _write_user_templates(tmp_path)
    templates = _library(tmp_path)
    by_id = {t.id: t for t in templates}
    assert by_id["mine"].origin == "user"
    assert by_id["mine"].variables == (tpl.Variable("WHO", "world", "who to greet"),)
    assert by_id["bare"].description == "a bare file"
    assert by_id["busybox-hello"].origin == "built-in"


def test_a_broken_user_template_is_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"version": "0.1",}')
    templates, problems = tpl.load_library(tmp_path)
    assert "busybox-hello" in {t.id for t in templates}
    assert len(problems) == 1 and "broken.json" in problems[0] and "trailing comma" in problems[0]


def test_cli_lists_user_templates_from_the_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cfg"
    _write_user_templates(config / "templates")
    monkeypatch.setenv("NOSANA_TUI_CONFIG_DIR", str(config))
    assert main(["templates", "--json"]) == 0
    listed = {t["id"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed["mine"]["origin"] == "user"
    assert main(["templates", "show", "mine", "--set", "WHO=you"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["global"]["variables"]["WHO"] == "you"


def test_show_hides_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_very_secret")
    assert main(["templates", "show", "dstack-llama31-vllm", "--json"]) == 0
    captured = capsys.readouterr()
    assert "hf_very_secret" not in captured.out
    assert "***" in captured.out
    assert "secrets in this job are shown as ***" in captured.err
