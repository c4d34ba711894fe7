"""The cache of resource volumes: a half-filled volume is never mounted (it is fetched again),
and ``nosana-tui node prune`` removes the volumes its agent made that were unused for a while,
but none in use and none another agent made (other sessions share this engine: a prune here
must leave their caches alone)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import docker
import pytest

from nosana_tui.api.models import JobStatus
from nosana_tui.engine.backend import LABEL_RESOURCE, LABEL_RESOURCE_OWNER
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    MARKER,
    S3Server,
    checksum_op,
    endpoints,
    resource_agent,
    resource_volumes,
    run_job,
    sha256,
    sums,
)

pytestmark = pytest.mark.anyio

DATA = b"cached bytes\n"


@pytest.fixture(scope="module")
def cache_agent(
    s3_server: S3Server, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("cache-agent"), endpoints(s3=s3_server)) as proc:
        yield proc


def one_file_bucket(server: S3Server) -> str:
    name = f"cache-{uuid.uuid4().hex[:10]}"
    client = server.client()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="data/file.txt", Body=DATA)
    return name


def resource(server: S3Server, bucket: str) -> dict[str, object]:
    return {"type": "S3", "url": f"s3://{bucket}/data", "target": "/d", "IAM": server.iam()}


def cli(agent: AgentProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_half_filled_volume_is_removed_and_fetched_again(
    cache_agent: AgentProcess, s3_server: S3Server
) -> None:
    definition = job(checksum_op("/d", resources=[resource(s3_server, one_file_bucket(s3_server))]))
    async with cache_agent.client() as client:
        first = await run_job(client, definition)
        assert first.status is JobStatus.SUCCESS, first.model_dump_json(indent=1)
        volume = first.ops[0].fetch[0].volume
        await client.remove(first.id)  # (its container mounts the volume)
        # as an agent killed while filling it leaves it: some files, no completion marker
        docker.from_env().containers.run(
            "busybox:latest",
            f"sh -c 'rm /v/{MARKER} && echo partial > /v/partial.bin'",
            volumes={volume: {"bind": "/v", "mode": "rw"}},
            remove=True,
        )
        second = await run_job(client, definition)
        assert second.status is JobStatus.SUCCESS, second.model_dump_json(indent=1)
        log = "\n".join(await system_log(client, second.id))
        assert f"volume {volume} was left half-filled" in log
        assert "fetching S3 s3://" in log and "reused" not in log
        assert sums(await op_log(client, second.id, "read")) == {"file.txt": sha256(DATA)}


@pytest.fixture
def others_volumes() -> Iterator[list[str]]:
    """Resource volumes of another agent, and one of no agent (made before volumes carried
    their maker's id): unused, and as old as can be."""
    volumes = docker.from_env().volumes
    tag = uuid.uuid4().hex[:10]
    made = [
        volumes.create(
            f"nosana-tui-resource-s3-other-{tag}",
            labels={LABEL_RESOURCE: "o" * 64, LABEL_RESOURCE_OWNER: f"another-agent-{tag}"},
        ),
        volumes.create(f"nosana-tui-resource-s3-unowned-{tag}", labels={LABEL_RESOURCE: "u" * 64}),
    ]
    try:
        yield [v.name for v in made]
    finally:
        for volume in made:
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)


async def test_node_prune_removes_unused_volumes_but_not_those_in_use(
    cache_agent: AgentProcess, s3_server: S3Server, others_volumes: list[str]
) -> None:
    definition = job(checksum_op("/d", resources=[resource(s3_server, one_file_bucket(s3_server))]))
    async with cache_agent.client() as client:
        view = await run_job(client, definition)
        assert view.status is JobStatus.SUCCESS
        volume = view.ops[0].fetch[0].volume

        recent = cli(cache_agent, "node", "prune", "--older-than", "1h", "--json")
        assert recent.returncode == 0, recent.stderr
        assert volume not in [v["name"] for v in json.loads(recent.stdout)["removed"]]
        assert volume in resource_volumes()

        # the job's (exited) container still mounts it: kept, and said so
        busy = cli(cache_agent, "node", "prune", "--older-than", "0")
        assert busy.returncode == 0, busy.stderr
        assert f"kept    {volume}  (in use by a container)" in busy.stdout
        assert volume in resource_volumes()

        await client.remove(view.id)
        done = cli(cache_agent, "node", "prune", "--older-than", "0s")
        assert done.returncode == 0, done.stderr
        assert f"removed {volume}  S3 s3://" in done.stdout
        assert volume not in resource_volumes()
        # another agent's volume is not this agent's to prune; one of no agent (made before
        # volumes carried their maker's id) is any agent's: with no marker it is half-filled,
        # and goes (this agent's prune, or another session's on this shared engine, took it)
        other, unowned = others_volumes
        assert other not in recent.stdout + busy.stdout + done.stdout, done.stdout
        assert other in resource_volumes()
        assert unowned not in resource_volumes()

        # and the next job fetches it again
        again = await run_job(client, definition)
        assert again.status is JobStatus.SUCCESS
        assert "fetching S3" in "\n".join(await system_log(client, again.id))


def test_node_prune_refuses_a_duration_it_cannot_read(cache_agent: AgentProcess) -> None:
    bad = cli(cache_agent, "node", "prune", "--older-than", "soon")
    assert bad.returncode == 2
    assert "--older-than 'soon' is not a duration" in bad.stderr
    assert "Traceback" not in bad.stderr
