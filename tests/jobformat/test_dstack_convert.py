"""dstack ``type: service`` -> Nosana job conversion, end to end (no mocks).

Each test writes a small service file (inline YAML, or the seed examples in
``examples/seeds``), converts it with :mod:`nosana_tui.jobformat.dstack.convert` and checks the job,
or the diagnostics with their codes, field paths and line numbers. Expected behaviour follows
``reference/dstack.md`` §1.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from nosana_tui.jobformat.diagnostics import Diagnostic, Severity
from nosana_tui.jobformat.dstack.convert import ConvertResult, convert_document, convert_file
from nosana_tui.jobformat.source import parse_text
from nosana_tui.jobformat.validate import validate_data

SEEDS = Path(__file__).resolve().parents[2] / "examples" / "seeds"
SEED_FILES = sorted(p.name for p in SEEDS.glob("*.dstack.yml"))
HF_ENV = {"HUGGING_FACE_HUB_TOKEN": "hf_test"}

BASE_IMAGE = "dstackai/base:0.10-base-ubuntu22.04"
DEVEL_IMAGE = "dstackai/base:0.10-devel-ubuntu22.04"
SYSTEM_ENV = {"DSTACK_RUN_NAME": "svc", "DSTACK_NODES_NUM": "1", "DSTACK_NODE_RANK": "0"}


# --- helpers -----------------------------------------------------------------------------------


def convert(
    text: str,
    *,
    environ: dict[str, str] | None = None,
    env_overrides: dict[str, str] | None = None,
) -> ConvertResult:
    """Convert YAML text (dedented; its first line is line 1) with a controlled environment."""
    doc = parse_text("svc.dstack.yml", textwrap.dedent(text))
    return convert_document(
        doc, environ={} if environ is None else environ, env_overrides=env_overrides
    )


def _render(result: ConvertResult) -> str:
    return "\n".join(d.render() for d in result.report.diagnostics)


def ok(text: str, **kwargs: Any) -> dict[str, Any]:
    """The converted data; fails on any error and re-validates the job."""
    result = convert(text, **kwargs)
    assert result.report.errors == [], _render(result)
    assert result.job is not None
    assert result.data is not None
    _, diags = validate_data(result.data)
    assert [d for d in diags if d.severity is Severity.ERROR] == []
    return result.data


def run_args(data: dict[str, Any]) -> dict[str, Any]:
    """The args of the (last) container/run op."""
    op = data["ops"][-1]
    assert op["type"] == "container/run"
    return op["args"]


def failed(text: str, **kwargs: Any) -> list[Diagnostic]:
    """The errors of a conversion that must fail."""
    result = convert(text, **kwargs)
    assert result.job is None
    assert result.data is None
    assert result.report.errors, "expected at least one error"
    return result.report.errors


def only_error(text: str, **kwargs: Any) -> Diagnostic:
    errors = failed(text, **kwargs)
    assert len(errors) == 1, "\n".join(d.render() for d in errors)
    return errors[0]


def svc(extra: str, *, commands: bool = True, port: bool = True) -> str:
    """A minimal valid service named ``svc`` with ``extra`` appended (lines 1-5 are fixed)."""
    lines = ["type: service", "name: svc"]
    lines.append("port: 8000" if port else "# no port")
    if commands:
        lines += ["commands:", "  - python3 -m http.server"]
    else:
        lines += ["# no commands", "#"]
    return "\n".join(lines) + "\n" + textwrap.dedent(extra)


# --- the seed examples -------------------------------------------------------------------------


def test_every_dstack_seed_in_the_manifest_is_tested() -> None:
    manifest = yaml.safe_load((SEEDS / "MANIFEST.yaml").read_text())
    listed = sorted(e["file"] for e in manifest if e["kind"] == "dstack")
    assert listed == SEED_FILES
    assert len(SEED_FILES) == 15
    assert "004-llama31-service.dstack.yml" in SEED_FILES


@pytest.mark.parametrize("name", SEED_FILES)
def test_seed_converts_to_a_valid_job(name: str) -> None:
    result = convert_file(SEEDS / name, environ=HF_ENV)
    assert result.report.errors == [], _render(result)
    assert result.job is not None
    assert result.data is not None
    job, diags = validate_data(result.data)
    assert job is not None
    assert [d.render() for d in diags if d.severity is Severity.ERROR] == []
    assert result.data["version"] == "0.1"
    assert result.data["type"] == "container"
    assert result.data["meta"]["trigger"] == "nosana-tui"
    args = run_args(result.data)
    assert args["expose"][0]["port"] == 8000
    assert args["cmd"][-1]  # every seed has commands
    assert args["env"]["DSTACK_NODES_NUM"] == "1"


def test_seed_004_llama31_service() -> None:
    result = convert_file(SEEDS / "004-llama31-service.dstack.yml", environ=HF_ENV)
    data = result.data
    assert data is not None
    [op] = data["ops"]
    assert op["id"] == "llama31-service"
    args = op["args"]
    assert args["image"] == BASE_IMAGE
    assert args["cmd"] == [
        "/bin/bash",
        "-i",
        "-c",
        "pip install vllm && vllm serve meta-llama/Meta-Llama-3.1-8B-Instruct --max-model-len 4096",
    ]
    assert args["env"] == {
        "DSTACK_RUN_NAME": "llama31-service",
        "DSTACK_NODES_NUM": "1",
        "DSTACK_NODE_RANK": "0",
        "DSTACK_GPUS_NUM": "1",
        "DSTACK_GPUS_PER_NODE": "1",
        "HUGGING_FACE_HUB_TOKEN": "hf_test",
    }
    assert args["gpu"] is True
    [expose] = args["expose"]
    assert expose["port"] == 8000
    assert expose["type"] == "api"
    [check] = expose["health_checks"]
    assert check["path"] == "/v1/chat/completions"
    assert check["method"] == "POST"
    assert check["body"]["model"] == "meta-llama/Meta-Llama-3.1-8B-Instruct"
    assert check["continuous"] is True
    meta = data["meta"]
    assert meta["description"] == "Converted from the dstack service 'llama31-service'"
    assert meta["system_requirements"] == {
        "required_vram": 24.0,
        "vram_total_mb": 24576,
        "gpu_vendor": "nvidia",
        "gpu_count_min": 1,
        "gpu_memory_gb_min": 24.0,
        "gpu_memory_gb_max": 24.0,
        "cpu_count_min": 2,
        "memory_gb_min": 8.0,
        "disk_gb_min": 100.0,
    }
    assert meta["dstack"] == {
        "python": "3.10",
        "spot_policy": "auto",
        "model.type": "chat",
        "model.name": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "model.format": "openai",
        "model.prefix": "/v1",
    }
    [warning] = result.report.warnings
    assert (warning.code, warning.field, warning.line) == ("dstack-ignored", "spot_policy", 18)


def test_seed_004_without_the_token_names_the_env_line() -> None:
    result = convert_file(SEEDS / "004-llama31-service.dstack.yml", environ={})
    assert result.job is None
    [error] = result.report.errors
    assert error.message == "Environment variable HUGGING_FACE_HUB_TOKEN is not set"
    assert (error.field, error.line, error.column) == ("env[0]", 10, 5)
    assert error.file.endswith("004-llama31-service.dstack.yml")


def test_seed_004_token_from_env_overrides() -> None:
    result = convert_file(
        SEEDS / "004-llama31-service.dstack.yml",
        environ={},
        env_overrides={"HUGGING_FACE_HUB_TOKEN": "hf_cli"},
    )
    assert result.data is not None
    assert run_args(result.data)["env"]["HUGGING_FACE_HUB_TOKEN"] == "hf_cli"


def test_seed_003_llama2_env() -> None:
    result = convert_file(SEEDS / "003-llama2-env.dstack.yml", environ=HF_ENV)
    assert result.data is not None
    env = run_args(result.data)["env"]
    assert env["HUGGING_FACE_HUB_TOKEN"] == "hf_test"
    assert env["MODEL"] == "NousResearch/Llama-2-7b-chat-hf"
    assert run_args(result.data)["expose"] == [{"port": 8000, "type": "web"}]

    missing = convert_file(SEEDS / "003-llama2-env.dstack.yml", environ={})
    [error] = missing.report.errors
    assert "Environment variable HUGGING_FACE_HUB_TOKEN is not set" in error.message
    assert (error.field, error.line) == ("env[0]", 9)


def test_seed_003_mixtral_resources_folds_the_command_and_counts_two_gpus() -> None:
    data = convert_file(SEEDS / "003-mixtral-resources.dstack.yml", environ={}).data
    assert data is not None
    args = run_args(data)
    assert args["cmd"][3] == (
        "pip install vllm && python -m vllm.entrypoints.openai.api_server"
        " --model mistralai/Mixtral-8X7B-Instruct-v0.1 --host 0.0.0.0"
        " --tensor-parallel-size $DSTACK_GPUS_NUM"
    )
    assert args["env"]["DSTACK_GPUS_NUM"] == "2"
    assert args["env"]["DSTACK_GPUS_PER_NODE"] == "2"
    req = data["meta"]["system_requirements"]
    assert (req["gpu_count_min"], req["gpu_count_max"]) == (2, 2)
    assert (req["gpu_memory_gb_min"], req["gpu_memory_gb_max"]) == (80.0, 80.0)
    assert req["required_vram"] == 80.0
    assert (req["disk_gb_min"], req["disk_gb_max"]) == (200.0, 200.0)


def test_seed_003_private_registry() -> None:
    result = convert_file(SEEDS / "003-http-server-private-registry.dstack.yml", environ={})
    assert result.data is not None
    args = run_args(result.data)
    assert args["image"] == "dstackai/base:py3.10-0.5-cuda-12.1"
    assert args["cmd"] == ["/bin/sh", "-c", "python3 -m http.server"]
    assert args["authentication"] == {
        "docker": {
            "username": "peterschmidt85",
            "password": "ghp_e49HcZ9oYwBzUbcSk2080gXZOU2hiT9AeSR5",
        }
    }
    # The validator warns that credentials in a job definition are public.
    assert "public-credentials" in {d.code for d in result.report.warnings}


def test_seed_003_python_nvcc_uses_the_devel_image() -> None:
    data = convert_file(SEEDS / "003-http-server-python-nvcc.dstack.yml", environ={}).data
    assert data is not None
    assert run_args(data)["image"] == DEVEL_IMAGE
    assert run_args(data)["cmd"] == ["/bin/bash", "-i", "-c", "python3 -m http.server"]
    assert data["meta"]["dstack"] == {"python": "3.10"}


def test_seed_003_python_uses_the_base_image() -> None:
    data = convert_file(SEEDS / "003-http-server-python.dstack.yml", environ={}).data
    assert data is not None
    assert run_args(data)["image"] == BASE_IMAGE
    assert "gpu" not in run_args(data)


def test_seed_003_volumes() -> None:
    data = convert_file(SEEDS / "003-http-server-volumes.dstack.yml", environ={}).data
    assert data is not None
    volume_op, run_op = data["ops"]
    assert volume_op == {
        "type": "container/create-volume",
        "id": "volume-my-new-volume",
        "args": {"name": "my-new-volume"},
    }
    assert run_op["args"]["volumes"] == [{"name": "my-new-volume", "dest": "/volume_data"}]


def test_seed_003_auto_scaling_keeps_replicas_and_scaling() -> None:
    result = convert_file(SEEDS / "003-llama31-auto-scaling.dstack.yml", environ={})
    assert result.data is not None
    kept = result.data["meta"]["dstack"]
    assert kept["replicas"] == "1..4"
    assert (kept["scaling.metric"], kept["scaling.target"]) == ("rps", 10)
    [warning] = result.report.warnings
    assert (warning.code, warning.field, warning.line) == ("dstack-replicas", "replicas", 19)
    assert warning.severity is Severity.WARNING


def test_seed_003_tgi_model_has_no_default_probe() -> None:
    data = convert_file(SEEDS / "003-tgi-chat-template.dstack.yml", environ={}).data
    assert data is not None
    [op] = data["ops"]
    assert op["id"] == "service"  # the file has no name
    assert op["args"]["expose"] == [{"port": 8000, "type": "api"}]
    assert op["args"]["env"]["MODEL_ID"] == "TheBloke/Llama-2-13B-chat-GPTQ"
    # An explicit image: no vendor is inferred for a bare memory spec.
    assert "gpu_vendor" not in data["meta"]["system_requirements"]
    assert data["meta"]["dstack"]["model.format"] == "tgi"
    assert data["meta"]["dstack"]["model.eos_token"] == "</s>"


@pytest.mark.parametrize(
    ("name", "key", "value", "line"),
    [
        ("003-http-server-backends.dstack.yml", "backends", ["aws", "gcp"], 12),
        ("003-http-server-regions.dstack.yml", "regions", ["eu-west-1", "eu-west-2"], 12),
        ("003-http-server-spot-policy.dstack.yml", "spot_policy", "auto", 11),
        ("003-http-server-no-auth.dstack.yml", "auth", "false", 6),  # JSON text of a boolean
    ],
)
def test_seed_003_placement_keys_are_kept_with_a_warning(
    name: str, key: str, value: Any, line: int
) -> None:
    result = convert_file(SEEDS / name, environ={})
    assert result.data is not None
    assert result.data["meta"]["dstack"][key] == value
    [warning] = result.report.warnings
    assert (warning.code, warning.field, warning.line) == ("dstack-ignored", key, line)
    assert key in warning.message


def test_convert_file_from_tmp_path(tmp_path: Path) -> None:
    path = tmp_path / "app.dstack.yml"
    path.write_text("type: service\nname: app\nport: 9000\nimage: nginx:1.27\n")
    result = convert_file(path, environ={})
    assert result.data is not None
    [op] = result.data["ops"]
    assert op == {
        "type": "container/run",
        "id": "app",
        "args": {
            "image": "nginx:1.27",
            "env": {"DSTACK_RUN_NAME": "app", "DSTACK_NODES_NUM": "1", "DSTACK_NODE_RANK": "0"},
            "expose": [{"port": 9000, "type": "web"}],
        },
    }


def test_convert_file_missing_and_broken(tmp_path: Path) -> None:
    missing = convert_file(tmp_path / "nope.dstack.yml", environ={})
    assert missing.job is None
    assert [d.code for d in missing.report.errors] == ["file-not-found"]

    broken = tmp_path / "broken.dstack.yml"
    broken.write_text("type: service\nport: [8000\n")
    result = convert_file(broken, environ={})
    assert result.job is None
    assert len(result.report.errors) == 1
    assert result.report.errors[0].line is not None


# --- commands, shell and entrypoint ------------------------------------------------------------


def test_commands_joined_with_and_and_run_by_bash_on_the_default_image() -> None:
    text = svc("commands:\n  - pip install -r req.txt\n  - python app.py\n", commands=False)
    args = run_args(ok(text))
    assert args["image"] == BASE_IMAGE
    assert args["cmd"] == ["/bin/bash", "-i", "-c", "pip install -r req.txt && python app.py"]
    assert "entrypoint" not in args


def test_background_command_is_wrapped_in_braces() -> None:
    text = """\
        type: service
        port: 8000
        commands:
          - redis-server &
          - sleep 1
          - python app.py
        """
    args = run_args(ok(text))
    assert args["cmd"][-1] == "{ redis-server & } && sleep 1 && python app.py"


def test_image_runs_commands_with_sh() -> None:
    args = run_args(ok(svc("image: python:3.12-slim\n")))
    assert args["image"] == "python:3.12-slim"
    assert args["cmd"] == ["/bin/sh", "-c", "python3 -m http.server"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("shell: bash\nimage: python:3.12\n", ["/bin/bash", "-i", "-c"]),
        ("shell: bash\n", ["/bin/bash", "-i", "-c"]),
        ("shell: sh\n", ["/bin/sh", "-c"]),
        ("shell: /usr/bin/zsh\nimage: python:3.12\n", ["/usr/bin/zsh", "-c"]),
        ("shell: /usr/local/bin/bash\nimage: python:3.12\n", ["/usr/local/bin/bash", "-i", "-c"]),
    ],
)
def test_shell(extra: str, expected: list[str]) -> None:
    args = run_args(ok(svc(extra)))
    assert args["cmd"] == [*expected, "python3 -m http.server"]


def test_bad_shell_is_an_error() -> None:
    error = only_error(svc("shell: zsh\n"))
    assert error.field == "shell"
    assert error.message == "The value must be `sh`, `bash`, or an absolute path"
    assert error.line == 6


def test_entrypoint_is_split_and_commands_become_cmd() -> None:
    text = """\
        type: service
        image: python:3.12
        entrypoint: python3 -m http.server --bind "0.0.0.0"
        commands:
          - "8000"
        port: 8000
        """
    args = run_args(ok(text))
    assert args["entrypoint"] == ["python3", "-m", "http.server", "--bind", "0.0.0.0"]
    assert args["cmd"] == ["8000"]


def test_entrypoint_without_commands_has_no_cmd() -> None:
    args = run_args(
        ok("type: service\nimage: nginx\nentrypoint: nginx -g 'daemon off;'\nport: 80\n")
    )
    assert args["entrypoint"] == ["nginx", "-g", "daemon off;"]
    assert "cmd" not in args


def test_image_without_commands_keeps_the_image_command() -> None:
    args = run_args(ok("type: service\nimage: nginx\nport: 80\n"))
    assert args["image"] == "nginx"
    assert "cmd" not in args
    assert "entrypoint" not in args


def test_run_args_placeholder_is_dropped_with_a_warning() -> None:
    result = convert(svc("commands:\n  - python app.py ${{ run.args }}\n", commands=False))
    assert result.data is not None
    assert run_args(result.data)["cmd"][-1] == "python app.py "
    [warning] = result.report.warnings
    assert warning.field == "commands[0]"
    assert warning.line == 7


def test_no_commands_and_no_image_is_an_error() -> None:
    error = only_error("type: service\nport: 8000\nname: svc\n")
    assert error.message == "Either `commands` or `image` must be set"
    assert error.field == "commands"
    assert error.code == "dstack-invalid"


def test_commands_must_be_strings() -> None:
    errors = failed("type: service\nport: 8000\ncommands: python app.py\n")
    assert any(
        e.field == "commands" and e.message == "commands must be a list of strings" for e in errors
    )


def test_name_becomes_op_id_and_run_name() -> None:
    data = ok("type: service\nname: My Service_1\nport: 80\nimage: nginx\n")
    [op] = data["ops"]
    assert op["id"] == "my-service-1"
    assert op["args"]["env"]["DSTACK_RUN_NAME"] == "My Service_1"


def test_working_dir() -> None:
    args = run_args(ok(svc("working_dir: /srv/app\n")))
    assert args["work_dir"] == "/srv/app"
    assert args["env"]["DSTACK_WORKING_DIR"] == "/srv/app"

    error = only_error(svc("working_dir: srv/app\n"))
    assert (error.field, error.message, error.line) == (
        "working_dir",
        "working_dir must be absolute",
        6,
    )


# --- image, python, nvcc, docker ---------------------------------------------------------------


def test_python_float_3_1_means_3_10() -> None:
    data = ok(svc("python: 3.10\n"))
    assert data["meta"]["dstack"]["python"] == "3.10"
    assert run_args(data)["image"] == BASE_IMAGE


@pytest.mark.parametrize(
    ("written", "kept"), [("'3.12'", "3.12"), ("3.11", "3.11"), ("3.9", "3.9"), ('"3.14"', "3.14")]
)
def test_python_versions(written: str, kept: str) -> None:
    assert ok(svc(f"python: {written}\n"))["meta"]["dstack"]["python"] == kept


def test_unsupported_python_version() -> None:
    error = only_error(svc("python: 3.8\n"))
    assert error.message == "'3.8' is not a valid PythonVersion"
    assert (error.field, error.line, error.column) == ("python", 6, 9)
    assert "3.10" in error.hint


def test_python_string_3_1_is_not_3_10() -> None:
    # Only the YAML float 3.10 (read as 3.1) is mapped; the string "3.1" is wrong as written.
    error = only_error(svc("python: '3.1'\n"))
    assert error.message == "'3.1' is not a valid PythonVersion"


def test_image_and_python_are_mutually_exclusive() -> None:
    error = only_error(svc("image: python:3.11\npython: '3.11'\n"))
    assert error.message == "`image` and `python` are mutually exclusive fields"
    assert (error.field, error.line) == ("python", 7)


@pytest.mark.parametrize(
    ("extra", "message", "field"),
    [
        (
            "image: ubuntu\ndocker: true\n",
            "`image` and `docker` are mutually exclusive fields",
            "docker",
        ),
        (
            "python: '3.11'\ndocker: true\n",
            "`python` and `docker` are mutually exclusive fields",
            "docker",
        ),
        (
            "nvcc: true\ndocker: true\n",
            "`nvcc` and `docker` are mutually exclusive fields",
            "docker",
        ),
    ],
)
def test_docker_exclusions(extra: str, message: str, field: str) -> None:
    error = only_error(svc(extra))
    assert (error.message, error.field) == (message, field)


@pytest.mark.parametrize(("nvcc", "image"), [("true", DEVEL_IMAGE), ("false", BASE_IMAGE)])
def test_nvcc_picks_the_devel_image(nvcc: str, image: str) -> None:
    assert run_args(ok(svc(f"nvcc: {nvcc}\n")))["image"] == image


def test_nvcc_with_an_explicit_image_keeps_the_image() -> None:
    assert run_args(ok(svc("image: my/image:1\nnvcc: true\n")))["image"] == "my/image:1"


def test_docker_true_uses_the_dind_image() -> None:
    data = ok(svc("docker: true\nresources:\n  gpu: 24GB\n"))
    args = run_args(data)
    assert args["image"] == "dstackai/dind"
    # No `image` is written, so the default shell (bash) applies.
    assert args["cmd"][:3] == ["/bin/bash", "-i", "-c"]
    # Not dstack's own CUDA image: no vendor is inferred.
    assert "gpu_vendor" not in data["meta"]["system_requirements"]


def test_image_must_be_a_string() -> None:
    errors = failed(svc("image: 42\n"))
    assert any(e.field == "image" and "expected an image name" in e.message for e in errors)


def test_privileged_is_kept_with_a_warning() -> None:
    result = convert(svc("privileged: true\n"))
    assert result.data is not None
    assert result.data["meta"]["dstack"]["privileged"] == "true"  # the network takes no boolean
    [warning] = result.report.warnings
    assert (warning.field, warning.line) == ("privileged", 6)


# --- env ---------------------------------------------------------------------------------------


def test_env_list_form() -> None:
    env = run_args(ok(svc("env:\n  - A=1\n  - B=\n  - C=x=y\n")))["env"]
    assert env == {**SYSTEM_ENV, "A": "1", "B": "", "C": "x=y"}


def test_env_dict_form_coerces_numbers() -> None:
    env = run_args(ok(svc("env:\n  A: one\n  PORT: 8080\n  RATIO: 0.5\n")))["env"]
    assert env == {**SYSTEM_ENV, "A": "one", "PORT": "8080", "RATIO": "0.5"}


def test_env_bare_key_comes_from_the_environment() -> None:
    env = run_args(ok(svc("env:\n  - HF_TOKEN\n"), environ={"HF_TOKEN": "hf_x", "OTHER": "y"}))[
        "env"
    ]
    assert env["HF_TOKEN"] == "hf_x"
    assert "OTHER" not in env  # only the variables the file names


def test_env_missing_key_is_an_error_at_its_line() -> None:
    text = """\
        type: service
        port: 8000
        commands: [python app.py]
        env:
          - A=1
          - KEY
        """
    error = only_error(text)
    assert "Environment variable KEY is not set" in error.message
    assert (error.field, error.line, error.column) == ("env[1]", 6, 5)
    assert "-e" in error.hint


def test_env_overrides_win_over_the_file_and_the_environment() -> None:
    text = svc("env:\n  - A=1\n  - B\n  - C=3\n")
    env = run_args(
        ok(text, environ={"A": "env", "B": "env"}, env_overrides={"A": "cli", "B": "cli"})
    )["env"]
    assert env["A"] == "cli"  # -e beats the file
    assert env["B"] == "cli"  # -e beats the environment for a bare KEY
    assert env["C"] == "3"


def test_env_file_value_beats_the_environment() -> None:
    env = run_args(ok(svc("env:\n  - A=1\n"), environ={"A": "from-shell"}))["env"]
    assert env["A"] == "1"


def test_env_override_supplies_a_missing_key() -> None:
    env = run_args(ok(svc("env:\n  - KEY\n"), env_overrides={"KEY": "v"}))["env"]
    assert env["KEY"] == "v"


def test_env_override_adds_a_variable() -> None:
    env = run_args(ok(svc(""), env_overrides={"EXTRA": "1"}))["env"]
    assert env["EXTRA"] == "1"


def test_env_duplicate_and_bad_names() -> None:
    error = only_error(svc("env:\n  - A=1\n  - A=2\n"))
    assert error.message == "Duplicate environment variable: A=2"
    assert (error.field, error.line) == ("env[1]", 8)

    error = only_error(svc("env:\n  - 1A=x\n"))
    assert error.field == "env[0]"
    assert "1A=x" in error.message


def test_user_env_can_override_system_env() -> None:
    env = run_args(ok(svc("env:\n  - DSTACK_NODES_NUM=4\n")))["env"]
    assert env["DSTACK_NODES_NUM"] == "4"


# --- port --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "port",
    [
        "8000",
        "'8000'",
        "'80:8000'",
        "{container_port: 8000}",
        "{local_port: 80, container_port: 8000}",
    ],
)
def test_port_forms(port: str) -> None:
    data = ok(f"type: service\nname: svc\nport: {port}\ncommands: [python app.py]\n")
    assert run_args(data)["expose"] == [{"port": 8000, "type": "web"}]


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("'*:8000'", "Invalid port: '*:8000' (expected PORT or LOCAL_PORT:PORT)"),
        ("0", "Invalid port: 0 is not between 1 and 65535"),
        ("70000", "Invalid port: 70000 is not between 1 and 65535"),
        ("'80:70000'", "Invalid container port: 70000 is not between 1 and 65535"),
        ("true", "Invalid port: True"),
    ],
)
def test_bad_ports(port: str, message: str) -> None:
    error = only_error(f"type: service\nname: svc\nport: {port}\ncommands: [python app.py]\n")
    assert error.field == "port"
    assert error.message == message
    assert (error.line, error.column) == (3, 7)
    assert "1..65535" in error.hint


def test_missing_port() -> None:
    error = only_error(svc("", port=False))
    assert error.field == "port"
    assert error.message == "Field required"
    assert "port: 8000" in error.hint


# --- probes and the model's default probe ------------------------------------------------------


def test_probe_becomes_a_health_check() -> None:
    text = svc(
        """\
        probes:
          - type: http
            url: /health
            method: post
            body: '{"ping": true}'
            until_ready: true
            timeout: 20s
            interval: 1m
            headers:
              - name: Authorization
                value: Bearer abc
              - name: X-Id
                value: "7"
        """
    )
    [expose] = run_args(ok(text))["expose"]
    assert expose["health_checks"] == [
        {
            "type": "http",
            "path": "/health",
            "method": "POST",
            "expected_status": 200,
            "continuous": False,
            "headers": {"Authorization": "Bearer abc", "X-Id": "7"},
            "body": '{"ping": true}',
        }
    ]


def test_probe_defaults() -> None:
    [expose] = run_args(ok(svc("probes:\n  - type: http\n")))["expose"]
    assert expose["health_checks"] == [
        {"type": "http", "path": "/", "method": "GET", "expected_status": 200, "continuous": True}
    ]


def test_several_probes_keep_their_order() -> None:
    text = svc(
        "probes:\n  - type: http\n    url: /a\n  - type: http\n    url: /b\n    method: delete\n"
    )
    checks = run_args(ok(text))["expose"][0]["health_checks"]
    assert [(c["path"], c["method"]) for c in checks] == [("/a", "GET"), ("/b", "DELETE")]


def test_probe_header_interpolates_env() -> None:
    text = svc(
        "probes:\n  - type: http\n    url: /h\n    headers:\n"
        "      - name: Authorization\n        value: Bearer ${{ env.TOKEN }}\n"
    )
    check = run_args(ok(text, environ={"TOKEN": "t0k"}))["expose"][0]["health_checks"][0]
    assert check["headers"] == {"Authorization": "Bearer t0k"}

    error = only_error(text)
    assert error.message == "${{ env.TOKEN }} is not set"
    assert error.field == "probes[0].headers[0]"


def test_probe_body_with_get_is_an_error() -> None:
    error = only_error(svc("probes:\n  - type: http\n    body: x\n"))
    assert error.message == "Cannot set request body for the `get` method"
    assert (error.field, error.line) == ("probes[0].body", 8)


def test_probe_method_without_a_nosana_equivalent_is_dropped() -> None:
    result = convert(svc("probes:\n  - type: http\n    method: patch\n"))
    assert result.data is not None
    assert "health_checks" not in run_args(result.data)["expose"][0]
    [warning] = result.report.warnings
    assert (warning.field, warning.line) == ("probes[0].method", 8)


@pytest.mark.parametrize(
    ("probe", "field", "message"),
    [
        ("  - type: tcp\n", "probes[0].type", "probe type must be `http`"),
        ("  - type: http\n    url: health\n", "probes[0].url", "url must start with /"),
        (
            "  - type: http\n    timeout: soon\n",
            "probes[0].timeout",
            "Cannot parse the duration 'soon'",
        ),
        ("  - type: http\n    verb: get\n", "probes[0].verb", "unknown field 'verb'"),
        ("  - type: http\n  - type: http\n", "probes[1]", "Probes must be unique"),
    ],
)
def test_bad_probes(probe: str, field: str, message: str) -> None:
    error = only_error(svc("probes:\n" + probe))
    assert (error.field, error.message) == (field, message)


def test_model_name_gives_the_default_chat_completions_probe() -> None:
    text = svc("model: meta-llama/Llama-3.1-8B\n")
    data = ok(text)
    [expose] = run_args(data)["expose"]
    assert expose["type"] == "api"
    assert expose["health_checks"] == [
        {
            "type": "http",
            "path": "/v1/chat/completions",
            "method": "POST",
            "expected_status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {
                "model": "meta-llama/Llama-3.1-8B",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 1,
            },
            "continuous": True,
        }
    ]
    assert data["meta"]["dstack"] == {
        "model.type": "chat",
        "model.name": "meta-llama/Llama-3.1-8B",
        "model.format": "openai",
        "model.prefix": "/v1",
    }


def test_default_probe_follows_the_model_prefix() -> None:
    text = svc("model:\n  type: chat\n  name: m\n  format: openai\n  prefix: /api/v1/\n")
    check = run_args(ok(text))["expose"][0]["health_checks"][0]
    assert check["path"] == "/api/v1/chat/completions"
    assert check["body"]["model"] == "m"


def test_empty_probes_disable_the_default_probe() -> None:
    [expose] = run_args(ok(svc("model: my-model\nprobes: []\n")))["expose"]
    assert expose == {"port": 8000, "type": "api"}


def test_explicit_probes_replace_the_default_probe() -> None:
    text = svc("model: my-model\nprobes:\n  - type: http\n    url: /v1/models\n")
    checks = run_args(ok(text))["expose"][0]["health_checks"]
    assert [c["path"] for c in checks] == ["/v1/models"]


@pytest.mark.parametrize("prefix", ["null", "1", "[/v1]"])
def test_model_prefix_must_be_a_string(prefix: str) -> None:
    # Used to crash building the default probe path (None.rstrip).
    error = only_error(
        svc(f"model:\n  type: chat\n  name: m\n  format: openai\n  prefix: {prefix}\n")
    )
    assert (error.field, error.message) == ("model.prefix", "prefix must be a string, such as /v1")
    assert error.line == 10


def test_bad_model_format() -> None:
    error = only_error(svc("model:\n  type: chat\n  name: m\n  format: vllm\n"))
    assert error.field == "model.format"
    assert "Input tag 'vllm' found using 'format'" in error.message
    assert error.line == 9


# --- registry_auth -----------------------------------------------------------------------------


def test_registry_auth_becomes_docker_authentication() -> None:
    text = svc("image: ghcr.io/me/app:1\nregistry_auth:\n  username: me\n  password: s3cret\n")
    args = run_args(ok(text))
    assert args["authentication"] == {"docker": {"username": "me", "password": "s3cret"}}


def test_registry_auth_interpolates_env() -> None:
    text = svc(
        "image: ghcr.io/me/app:1\nregistry_auth:\n"
        "  username: ${{ env.REG_USER }}\n  password: ${{env.REG_PASS}}\n"
    )
    args = run_args(
        ok(
            text,
            environ={"REG_USER": "u", "REG_PASS": "env-p"},
            env_overrides={"REG_PASS": "cli-p"},
        )
    )
    assert args["authentication"] == {"docker": {"username": "u", "password": "cli-p"}}


def test_registry_auth_missing_env_is_an_error() -> None:
    text = svc("image: x\nregistry_auth:\n  username: u\n  password: ${{ env.REG_PASS }}\n")
    error = only_error(text)
    assert error.message == "${{ env.REG_PASS }} is not set"
    assert (error.field, error.line) == ("registry_auth.password", 9)
    assert "REG_PASS" in error.hint


def test_registry_auth_needs_both_fields() -> None:
    error = only_error(svc("image: x\nregistry_auth:\n  username: u\n"))
    assert (error.field, error.message) == (
        "registry_auth.password",
        "required field 'password' is missing",
    )


# --- volumes -----------------------------------------------------------------------------------


def test_network_volume_becomes_a_create_volume_op_and_mount() -> None:
    data = ok(svc("volumes:\n  - my-vol:/data\n  - my-vol:/cache/./x/\n  - other:/o\n"))
    ops = data["ops"]
    assert [op["type"] for op in ops] == [
        "container/create-volume",
        "container/create-volume",
        "container/run",
    ]
    assert ops[0] == {
        "type": "container/create-volume",
        "id": "volume-my-vol",
        "args": {"name": "my-vol"},
    }
    assert ops[1]["id"] == "volume-other"
    assert ops[2]["args"]["volumes"] == [
        {"name": "my-vol", "dest": "/data"},
        {"name": "my-vol", "dest": "/cache/x"},
        {"name": "other", "dest": "/o"},
    ]


def test_volume_with_several_names_uses_the_first() -> None:
    result = convert(svc("volumes:\n  - name: [v1, v2]\n    path: /data\n"))
    assert result.data is not None
    assert run_args(result.data)["volumes"] == [{"name": "v1", "dest": "/data"}]
    [warning] = result.report.warnings
    assert warning.field == "volumes[0].name"


def test_instance_volume_is_dropped_with_a_warning() -> None:
    result = convert(svc("volumes:\n  - /mnt/cache:/root/.cache\n"))
    assert result.data is not None
    assert [op["type"] for op in result.data["ops"]] == ["container/run"]
    assert "volumes" not in run_args(result.data)
    [warning] = result.report.warnings
    assert warning.code == "dstack-instance-volume"
    assert (warning.field, warning.line, warning.column) == ("volumes[0]", 7, 5)
    assert "/mnt/cache" in warning.message


@pytest.mark.parametrize(
    ("mount", "field", "message"),
    [
        ("my-vol", "volumes[0]", "invalid mount point format: my-vol"),
        ("a:/b:ro", "volumes[0]", "invalid mount point format: a:/b:ro"),
        ("my-vol:data", "volumes[0]", "path must be absolute: data"),
        ("vol:/a/../b", "volumes[0]", ".. are not allowed: /a/../b"),
        ("{name: v}", "volumes[0].path", "Field required"),
    ],
)
def test_bad_volume(mount: str, field: str, message: str) -> None:
    error = only_error(svc(f"volumes:\n  - {mount}\n"))
    assert (error.field, error.message, error.line) == (field, message, 7)


# --- resources ---------------------------------------------------------------------------------


def test_default_resources() -> None:
    data = ok(svc(""))
    # dstack's defaults, cpu=2.. mem=8GB.. disk=100GB.. gpu=0.. (an open end is left out)
    assert data["meta"]["system_requirements"] == {
        "gpu_vendor": "nvidia",
        "gpu_count_min": 0,
        "cpu_count_min": 2,
        "memory_gb_min": 8.0,
        "disk_gb_min": 100.0,
    }
    assert "gpu" not in run_args(data)
    assert "DSTACK_GPUS_NUM" not in run_args(data)["env"]


def test_named_gpus_with_memory_and_count() -> None:
    text = svc(
        "resources:\n  gpu: A100:80GB:2\n  cpu: arm:8..\n  memory: 64GB..\n"
        "  disk: 500GB..1TB\n  shm_size: 16GB\n"
    )
    data = ok(text)
    assert data["meta"]["system_requirements"] == {
        "required_vram": 80.0,
        "vram_total_mb": 81920,
        "gpu_vendor": "nvidia",
        "gpu_names": ["A100"],
        "gpu_count_min": 2,
        "gpu_count_max": 2,
        "gpu_memory_gb_min": 80.0,
        "gpu_memory_gb_max": 80.0,
        "cpu_arch": "arm",
        "cpu_count_min": 8,
        "memory_gb_min": 64.0,
        "disk_gb_min": 500.0,
        "disk_gb_max": 1024.0,
        "shm_size_gb": 16.0,
    }
    args = run_args(data)
    assert args["gpu"] is True
    assert args["env"]["DSTACK_GPUS_NUM"] == "2"


def test_gpu_count_range_takes_the_minimum() -> None:
    data = ok(svc("resources:\n  gpu: 24GB..:1..4\n"))
    req = data["meta"]["system_requirements"]
    assert (req["gpu_count_min"], req["gpu_count_max"]) == (1, 4)
    assert req["gpu_memory_gb_min"] == 24.0
    assert "gpu_memory_gb_max" not in req  # open
    assert req["required_vram"] == 24.0
    assert run_args(data)["env"]["DSTACK_GPUS_NUM"] == "1"


def test_gpu_mapping_form() -> None:
    text = svc(
        "resources:\n  gpu:\n    name: [H100, H200]\n    count: 8\n"
        "    total_memory: 640GB..\n    compute_capability: '9.0'\n"
    )
    req = ok(text)["meta"]["system_requirements"]
    gpu = {k: v for k, v in req.items() if k.startswith("gpu_")}
    assert gpu == {
        "gpu_vendor": "nvidia",
        "gpu_names": ["H100", "H200"],
        "gpu_count_min": 8,
        "gpu_count_max": 8,
        "gpu_total_memory_gb_min": 640.0,
        "gpu_compute_capability": "9.0",
    }
    assert "required_vram" not in req  # no per-GPU memory bound


def test_amd_gpu_with_an_image_infers_amd() -> None:
    data = ok(svc("image: rocm/vllm\nresources:\n  gpu: MI300X:8\n"))
    assert data["meta"]["system_requirements"]["gpu_vendor"] == "amd"


def test_gpu_zero_requires_no_gpu() -> None:
    data = ok(svc("resources:\n  gpu: 0\n"))
    req = data["meta"]["system_requirements"]
    assert not [k for k in req if k.startswith("gpu_")]
    assert "required_vram" not in req and "vram_total_mb" not in req
    assert "gpu" not in run_args(data)
    assert "DSTACK_GPUS_NUM" not in run_args(data)["env"]


def test_optional_gpu_is_described_but_not_required() -> None:
    data = ok(svc("resources:\n  gpu: 24GB:0..1\n"))
    req = data["meta"]["system_requirements"]
    assert (req["gpu_count_min"], req["gpu_count_max"]) == (0, 1)
    assert "required_vram" not in req  # only a required GPU sets required_vram
    assert "gpu" not in run_args(data)


def test_unknown_resources_key_names_it() -> None:
    error = only_error(svc("resources:\n  gpus: 1\n"))
    assert error.field == "resources.gpus"
    assert error.message == "Extra inputs are not permitted: 'gpus'"
    assert error.line == 7


def test_bad_gpu_spec() -> None:
    error = only_error(svc("resources:\n  gpu: A100:H100\n"))
    assert error.field == "resources.gpu"
    assert error.message == "GPU spec name conflict: A100:H100"


def test_deprecated_tpu_prefix_warns() -> None:
    result = convert(svc("image: x\nresources:\n  gpu: tpu-v5p-8\n"))
    assert result.data is not None
    assert result.data["meta"]["system_requirements"]["gpu_names"] == ["v5p-8"]
    assert result.data["meta"]["system_requirements"]["gpu_vendor"] == "google"
    assert [w.code for w in result.report.warnings] == ["dstack-deprecated"]


# --- replicas, scaling and placement -----------------------------------------------------------


def test_replicas_range_with_scaling_is_kept_with_a_warning() -> None:
    result = convert(svc("replicas: 0..3\nscaling:\n  metric: rps\n  target: 2.5\n"))
    assert result.data is not None
    assert result.data["meta"]["dstack"]["replicas"] == "0..3"
    kept = result.data["meta"]["dstack"]
    assert (kept["scaling.metric"], kept["scaling.target"]) == ("rps", 2.5)
    [warning] = result.report.warnings
    assert warning.code == "dstack-replicas"
    assert (warning.field, warning.line) == ("replicas", 6)
    assert "0..3" in warning.message


def test_fixed_replicas_other_than_one_warn() -> None:
    result = convert(svc("replicas: 2\n"))
    assert result.data is not None
    assert result.data["meta"]["dstack"]["replicas"] == "2"
    assert [w.code for w in result.report.warnings] == ["dstack-replicas"]


def test_one_replica_is_silent() -> None:
    result = convert(svc("replicas: 1\n"))
    assert result.data is not None
    assert result.report.warnings == []
    assert result.data["meta"]["dstack"] == {"replicas": "1"}


def test_replicas_range_without_scaling_is_an_error() -> None:
    error = only_error(svc("replicas: 1..4\n"))
    assert error.message == "When you set `replicas` to a range, ensure to specify `scaling`."
    assert (error.field, error.line) == ("replicas", 6)


def test_scaling_with_fixed_replicas_is_an_error() -> None:
    error = only_error(svc("replicas: 2\nscaling:\n  metric: rps\n  target: 10\n"))
    assert error.message == "To use `scaling`, `replicas` must be set to a range."
    assert error.field == "replicas"


def test_scaling_without_replicas_is_an_error() -> None:
    # No `replicas` means one replica, which dstack rejects together with `scaling`.
    error = only_error(svc("scaling:\n  metric: rps\n  target: 10\n"))
    assert error.message == "To use `scaling`, `replicas` must be set to a range."
    assert (error.field, error.line) == ("scaling", 7)


def test_replicas_without_a_maximum() -> None:
    error = only_error(svc("replicas: 1..\nscaling:\n  metric: rps\n  target: 10\n"))
    assert error.message == "The maximum number of replicas is required"


@pytest.mark.parametrize(
    ("scaling", "field"),
    [
        ("  metric: qps\n  target: 10\n", "scaling.metric"),
        ("  metric: rps\n  target: 0\n", "scaling.target"),
        ("  metric: rps\n  target: 10\n  step: 2\n", "scaling.step"),
    ],
)
def test_bad_scaling(scaling: str, field: str) -> None:
    errors = failed(svc("replicas: 1..2\nscaling:\n" + scaling))
    assert field in {e.field for e in errors}


def test_placement_keys_are_kept_with_one_warning() -> None:
    text = svc("spot_policy: auto\nbackends: [aws, gcp]\nmax_price: 1.5\n")
    result = convert(text)
    assert result.data is not None
    kept = result.data["meta"]["dstack"]
    assert kept == {"spot_policy": "auto", "backends": ["aws", "gcp"], "max_price": 1.5}
    [warning] = result.report.warnings
    assert warning.code == "dstack-ignored"
    assert warning.field == "backends"  # the first kept key, in dstack's field order
    assert warning.line == 7
    assert "backends, spot_policy, max_price" in warning.message


def test_kept_keys_are_one_level_deep_as_the_network_takes_meta() -> None:
    """Nested keys joined with dots, nulls dropped, booleans and lists of objects as JSON text."""
    text = svc(
        "auth: false\nrate_limits:\n  - prefix: /\n    rps: 10\nretry:\n  on_events: [no-capacity]"
        "\n  duration: 1h\ntags:\n  team: ml\nmax_price: null\nbackend_options: {}\n"
    )
    data = ok(text)
    assert data["meta"]["dstack"] == {
        "auth": "false",
        "rate_limits": '[{"prefix": "/", "rps": 10}]',
        "retry.on_events": ["no-capacity"],
        "retry.duration": "1h",
        "tags.team": "ml",
        "backend_options": "{}",
    }


def test_groups_do_not_convert() -> None:
    errors = failed(svc("groups:\n  - count: 1\n"))
    assert any(
        e.field == "groups" and e.message == "replica groups do not convert to a Nosana job"
        for e in errors
    )


# --- unknown and missing top-level fields ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("comands", "commands"),
        ("resource", "resources"),
        ("working-dir", "working_dir"),
        ("regsitry_auth", "registry_auth"),
        ("probe", "probes"),
        ("imag", "image"),
    ],
)
def test_unknown_field_suggests_a_known_one(key: str, suggestion: str) -> None:
    error = only_error(svc(f"{key}: x\n"))
    assert error.code == "dstack-unknown-field"
    assert error.message == f"unknown field {key!r}"
    assert error.hint == f"did you mean {suggestion!r}?"
    assert (error.field, error.line, error.column) == (key, 6, 1)


def test_unknown_field_line_is_the_key_line() -> None:
    text = """\
        type: service
        port: 8000
        commands:
          - a
          - b

        # comment
        comands:
          - c
        """
    error = only_error(text)
    assert (error.code, error.line, error.column) == ("dstack-unknown-field", 8, 1)


def test_unrelated_unknown_field_says_remove_it() -> None:
    error = only_error(svc("zzzzzz: 1\n"))
    assert error.code == "dstack-unknown-field"
    assert error.hint == "remove it"


def test_ports_hints_at_port() -> None:
    error = only_error(svc("ports: [8000]\n"))
    assert error.code == "dstack-unknown-field"
    assert error.field == "ports"
    assert "`port`" in error.hint
    assert error.line == 6


def test_type_task_is_an_error() -> None:
    error = only_error("type: task\nport: 8000\ncommands: [python train.py]\n")
    assert error.field == "type"
    assert "'task'" in error.message
    assert (error.line, error.column) == (1, 7)
    assert "type: service" in error.hint


def test_missing_type_is_an_error() -> None:
    error = only_error("port: 8000\ncommands: [python app.py]\n")
    assert error.field == "type"
    assert error.message == "required field 'type' is missing"
    assert error.hint == "add `type: service`"


def test_errors_come_in_source_order() -> None:
    text = """\
        type: service
        port: 0
        python: 3.8
        commands: [x]
        resources:
          gpus: 1
        """
    errors = failed(text)
    assert [(e.field, e.line) for e in errors] == [
        ("port", 2),
        ("python", 3),
        ("resources.gpus", 6),
    ]
    assert all(e.file == "svc.dstack.yml" for e in errors)
