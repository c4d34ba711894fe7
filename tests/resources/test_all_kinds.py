"""One op with a resource of each kind (S3 from moto, HF from the hub stand-in, Ollama from the
local registry), each at its own target: every file arrives, as uploaded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from nosana_tui.api.models import JobStatus
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    MARKER,
    S3Server,
    agent_with,
    remove_volumes,
    resource_volumes,
    run_job,
    sha256,
    sums,
)
from tests.resources.hubstandin import Hub, Repo
from tests.resources.test_ollama import REGISTRY_URL, push_model

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with Hub() as server:
        server.repos["org/tiny"] = Repo({"config.json": b'{"a": 1}\n'})
        yield server


@pytest.fixture(scope="module")
def every_agent(
    s3_server: S3Server, hub: Hub, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    before = set(resource_volumes())
    env = {
        "NOSANA_TUI_S3_ENDPOINT": s3_server.url,
        "HF_ENDPOINT": hub.url,
        "NOSANA_TUI_OLLAMA_REGISTRY": REGISTRY_URL,
    }
    with agent_with(tmp_path_factory.mktemp("every-agent"), env) as proc:
        yield proc
    remove_volumes(sorted(set(resource_volumes()) - before))


async def test_one_op_mounts_a_resource_of_each_kind(
    every_agent: AgentProcess, s3_server: S3Server
) -> None:
    bucket = f"every-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="data/rows.csv", Body=b"a,b\n1,2\n")
    model = f"every-{uuid.uuid4().hex[:8]}"
    files = push_model(model, "latest")
    cmd = (
        "for d in /s3 /hf /root/.ollama/models; do "
        f'(cd $d && find . -type f ! -name {MARKER} | sort | xargs sha256sum | sed "s|  ./|  $d/|"); '
        "done"
    )
    definition = job(
        {
            "type": "container/run",
            "id": "read",
            "args": {
                "image": "busybox:latest",
                "cmd": cmd,
                "resources": [
                    {
                        "type": "S3",
                        "url": f"s3://{bucket}/data",
                        "target": "/s3",
                        "IAM": s3_server.iam(),
                    },
                    {"type": "HF", "repo": "org/tiny", "target": "/hf"},
                    {"type": "Ollama", "model": model},
                ],
            },
        }
    )
    async with every_agent.client() as node:
        view = await run_job(node, definition)
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        expected = {"/s3/rows.csv": sha256(b"a,b\n1,2\n"), "/hf/config.json": sha256(b'{"a": 1}\n')}
        expected |= {f"/root/.ollama/models/{p}": sha256(d) for p, d in files.items()}
        assert sums(await op_log(node, view.id, "read")) == expected
        assert [f.kind for f in view.ops[0].fetch] == ["S3", "HF", "Ollama"]
        assert all(f.done for f in view.ops[0].fetch)
        log = "\n".join(await system_log(node, view.id))
        assert log.count("fetched ") == 3
