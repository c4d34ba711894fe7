"""The built-in templates that use resources, run by a real agent on the real engine: where the
data cannot be reached (no internet here; each service's endpoint a closed loopback port) the op
fails saying which resource, from where, and why; where it can (the endpoints at the test
servers) the resource is fetched and mounted as the template asks.

The templates ask for a GPU and an image from Docker Hub, neither of which this machine has, so
the test keeps each template's ``resources`` (and variables) as shipped and runs them in a
busybox op without a GPU: the resource part is what is tested here.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.jobformat import templates as tpl
from tests.node.conftest import AgentProcess, op_log, system_log
from tests.resources.conftest import (
    MARKER,
    endpoints,
    failed_with,
    made,
    push_model,
    resource_agent,
    run_job,
    sha256,
    sums,
)

pytestmark = pytest.mark.anyio


def resource_templates() -> list[tpl.Template]:
    templates, problems = tpl.load_library()
    assert not problems
    found = []
    for template in templates:
        if template.kind != "job":
            continue
        _, data, _ = tpl.render(template, {})
        if any((op.get("args") or {}).get("resources") for op in data["ops"]):
            found.append(template)
    return found


def test_the_ollama_template_uses_an_ollama_resource_and_validates() -> None:
    assert [t.id for t in resource_templates()] == ["ollama-model"]
    template = tpl.find(tpl.load_library()[0], "ollama-model")
    _, data, report = tpl.render(template, {"MODEL": "llama3.2:1b"})
    assert report.ok, report
    (op,) = data["ops"]
    assert op["args"]["resources"] == [{"type": "Ollama", "model": "%%global.variables.MODEL%%"}]
    # the model is mounted read-only: the server must not prune it when it starts
    assert op["args"]["env"] == {"OLLAMA_NOPRUNE": "1"}
    assert data["global"]["variables"]["MODEL"] == "llama3.2:1b"


def on_this_machine(data: dict[str, Any]) -> dict[str, Any]:
    """The template's job, its resources and variables untouched, each op a busybox one without
    a GPU (nor the job's VRAM requirement) that prints the sha256 of every file its resources mount."""
    job = copy.deepcopy(data)
    job.pop("meta", None)  # (its system_requirements ask for a GPU)
    for op in job["ops"]:
        args = op["args"]
        targets = [r.get("target") or "/root/.ollama/models" for r in args.get("resources", [])]
        cmd = "; ".join(
            f'(cd {t} && find . -type f ! -name {MARKER} | sort | xargs sha256sum | sed "s|  ./|  {t}/|")'
            for t in targets
        )
        op["args"] = {"image": "busybox:latest", "cmd": cmd, "resources": args.get("resources")}
    return job


@pytest.fixture(scope="module")
def unreachable_agent(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AgentProcess, str]]:
    # a port held bound and never listened on: a connection is refused, and no other process
    # (another session's server) can take the port while the module runs
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{held.getsockname()[1]}"
        with resource_agent(
            tmp_path_factory.mktemp("unreachable-agent"), closed_env(closed)
        ) as proc:
            yield proc, closed


def closed_env(closed: str) -> dict[str, str]:
    """The agent's environment: every service at the closed port."""
    return {
        "NOSANA_TUI_S3_ENDPOINT": closed,
        "HF_ENDPOINT": closed,
        "NOSANA_TUI_OLLAMA_REGISTRY": closed,
    }


@pytest.mark.parametrize("template", resource_templates(), ids=lambda t: t.id)
async def test_a_resource_template_says_what_it_could_not_reach(
    unreachable_agent: tuple[AgentProcess, str], template: tpl.Template
) -> None:
    agent, closed = unreachable_agent
    _, data, _ = tpl.render(template, {})
    resources = [r for op in data["ops"] for r in op["args"].get("resources", [])]
    assert resources
    async with agent.client() as client:
        view, log = await failed_with(client, on_this_machine(data))
    op = view.ops[0]
    assert op.status is OpStatus.FAILED
    model = data["global"]["variables"]["MODEL"]
    assert op.message.startswith(f"Ollama resource Ollama {model}: "), op.message
    assert closed.removeprefix("http://") in op.message, op.message
    assert "could not connect" in op.message.lower() or "refused" in op.message, op.message
    assert op.message in log
    assert not made(closed_env(closed), *resources)  # nothing half-made


@pytest.fixture(scope="module")
def reachable_agent(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("template-agent"), endpoints(ollama=True)) as proc:
        yield proc


@pytest.mark.parametrize("template", resource_templates(), ids=lambda t: t.id)
async def test_a_resource_template_fetches_what_it_names(
    reachable_agent: AgentProcess, template: tpl.Template
) -> None:
    _, data, _ = tpl.render(template, {})
    name, tag = data["global"]["variables"]["MODEL"].split(":")
    files = push_model(name, tag)  # the template's own model, as the local registry holds it
    async with reachable_agent.client() as client:
        view = await run_job(client, on_this_machine(data))
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "server")) == {
            f"/root/.ollama/models/{p}": sha256(d) for p, d in files.items()
        }
        log = "\n".join(await system_log(client, view.id))
        assert f"fetched Ollama {name}:{tag} into volume " in log


# Each kind of resource, its service unreachable: the message names the resource and where.
@pytest.mark.parametrize(
    ("resource", "starts"),
    [
        (
            {"type": "S3", "url": "s3://models/llm", "target": "/d"},
            "S3 resource S3 s3://models/llm: ",
        ),
        ({"type": "HF", "repo": "org/tiny", "target": "/d"}, "HF resource HF org/tiny: "),
        (
            {"type": "Ollama", "model": "tiny:q4", "target": "/d"},
            "Ollama resource Ollama tiny:q4: ",
        ),
    ],
    ids=["S3", "HF", "Ollama"],
)
async def test_each_kind_unreachable_says_which_resource_and_where(
    unreachable_agent: tuple[AgentProcess, str], resource: dict[str, Any], starts: str
) -> None:
    agent, closed = unreachable_agent
    job = {
        "version": "0.1",
        "type": "container",
        "ops": [
            {
                "type": "container/run",
                "id": "read",
                "args": {"image": "busybox:latest", "cmd": "ls /d", "resources": [resource]},
            }
        ],
    }
    async with agent.client() as client:
        view, log = await failed_with(client, job)
    message = view.ops[0].message
    assert message.startswith(starts), message
    assert closed.removeprefix("http://") in message, message
    assert message in log
