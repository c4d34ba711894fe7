"""One op with a resource of each kind (S3 from moto, HF from the hub stand-in, Ollama from the
local registry), each at its own target, run from a private image pulled with the job's
``authentication`` from a registry that wants a login (``privateregistry``): every file arrives,
as uploaded; the progress is in ``ps --json`` while the download runs; the image is removed
after the op; a second job reuses the three volumes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, JobView
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    MARKER,
    S3Server,
    endpoints,
    push_model,
    resource_agent,
    run_job,
    sha256,
    sums,
)
from tests.resources.hubstandin import Hub, Repo
from tests.resources.privateregistry import (
    MARKER as IMAGE_MARKER,
)
from tests.resources.privateregistry import (
    USER,
    Registry,
    has_image,
    private_credentials,
    private_registry,
)

pytestmark = pytest.mark.anyio

# served at 10 MiB/s by the stand-in: a fetch of about 4 s, long enough to watch from `ps`
SLOW = os.urandom(40 << 20)
HF_FILES = {"config.json": b'{"a": 1}\n', "slow.bin": SLOW}
S3_DATA = b"a,b\n1,2\n"


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with Hub() as server:
        server.repos["org/tiny"] = Repo(dict(HF_FILES), slow={"slow.bin"})
        yield server


@pytest.fixture(scope="module")
def registry(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with private_registry(tmp_path_factory.mktemp("registry")) as found:
        yield found


@pytest.fixture(scope="module")
def every_agent(
    s3_server: S3Server,
    hub: Hub,
    registry: Registry,
    docker_engine: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AgentProcess]:
    root = tmp_path_factory.mktemp("every-agent")
    docker_config = root / "docker-config"  # no `docker login` of the user's: the job's only
    docker_config.mkdir()
    (docker_config / "config.json").write_text("{}")
    env = {
        **endpoints(s3=s3_server, hf=hub.url, ollama=True),
        "DOCKER_CONFIG": str(docker_config),
    }
    with resource_agent(root, env) as proc:
        yield proc


def every_kind(s3_server: S3Server, registry: Registry) -> tuple[dict[str, Any], dict[str, str]]:
    """The job (its op prints the sha256 of every mounted file, then the image's marker) and
    the sums it must print."""
    bucket = f"every-{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="data/rows.csv", Body=S3_DATA)
    model = f"every-{uuid.uuid4().hex[:8]}"
    files = push_model(model, "latest")
    cmd = (
        "for d in /s3 /hf /root/.ollama/models; do "
        f'(cd $d && find . -type f ! -name {MARKER} | sort | xargs sha256sum | sed "s|  ./|  $d/|"); '
        "done; cat /marker"
    )
    definition = job(
        {
            "type": "container/run",
            "id": "read",
            "args": {
                "image": registry.image,
                "authentication": private_credentials(registry.password),
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
    expected = {"/s3/rows.csv": sha256(S3_DATA)}
    expected |= {f"/hf/{p}": sha256(d) for p, d in HF_FILES.items()}
    expected |= {f"/root/.ollama/models/{p}": sha256(d) for p, d in files.items()}
    return definition, expected


def ps_json(agent: AgentProcess, job_id: str) -> dict[str, Any]:
    shown = subprocess.run(
        [sys.executable, "-m", "nosana_tui", "ps", job_id, "--json"],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return dict(json.loads(shown.stdout))


def took(view: JobView) -> float:
    """From the job's start to its op's container start (pull, fetch or reuse, then run)."""
    assert view.ops[0].started_at is not None
    return float(view.ops[0].started_at - view.created_at)


async def test_a_private_image_with_a_resource_of_each_kind_then_all_reused(
    every_agent: AgentProcess, s3_server: S3Server, registry: Registry, tmp_path: Path
) -> None:
    definition, expected = every_kind(s3_server, registry)
    assert not has_image(registry.image)
    async with every_agent.client() as node:
        first = await node.submit(definition)
        # `ps JOB --json`, as a user runs it, while the slow file comes in
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            shown = ps_json(every_agent, first.id)
            if JobStatus(shown["status"]).terminal:
                break
            seen += [f for f in shown["ops"][0].get("fetch") or [] if not f["done"]]
            await asyncio.sleep(0.2)  # a user's pace: no back-to-back subprocesses on a shared box
        first = await node.job(first.id)
        assert first.status is JobStatus.SUCCESS, first.model_dump_json(indent=1)
        hf = [f for f in seen if f["kind"] == "HF" and 0 < f["bytes_done"] < len(SLOW)]
        assert hf, seen  # the HF download, part-way, as `ps --json` showed it
        assert all(f["bytes_total"] == sum(map(len, HF_FILES.values())) for f in hf), hf
        assert all(f["source"] == "HF org/tiny" and f["target"] == "/hf" for f in hf)

        out = await op_log(node, first.id, "read")
        assert sums(out) == expected
        assert out[-1] == IMAGE_MARKER  # the private image ran
        assert [f.kind for f in first.ops[0].fetch] == ["S3", "HF", "Ollama"]
        assert all(f.done and not f.cached for f in first.ops[0].fetch)
        log = "\n".join(await system_log(node, first.id))
        assert f"pulling image {registry.image} with the job's credentials ({USER} at " in log
        assert log.count("fetched ") == 3
        assert f"removed image {registry.image}: it was pulled with the job's credentials" in log
        assert not has_image(registry.image)

        second = await run_job(node, definition)
        assert second.status is JobStatus.SUCCESS, second.model_dump_json(indent=1)
        assert sums(await op_log(node, second.id, "read")) == expected
        log2 = "\n".join(await system_log(node, second.id))
        for fetched in first.ops[0].fetch:
            assert f"reused cached volume {fetched.volume} ({fetched.source}: " in log2
        assert "fetching " not in log2
        assert [f.cached for f in second.ops[0].fetch] == [True, True, True]
        assert not has_image(registry.image)
        # both pull the private image; only the first downloads the resources. Reuse is proven by
        # the log and `cached` above; the timings are printed, never asserted (STYLE: no
        # wall-clock assertions in tests)
        print(f"start to container start: first {took(first):.2f} s, second {took(second):.2f} s")
