"""The agent killed (``kill -9``) in the middle of a resource's download, then started again on
the same data folder: no half-made volume is mounted, ever. A public resource is fetched again
from the start and the op runs on the whole of it; one that needed the job's credentials (kept
in memory only) fails the op saying so. Garbage in a resource's fields, and a target no volume
can be mounted at, is refused (422) before anything starts, the diagnostic on the field's path.
Other sessions share the engine: a test looks only at the volumes its own resources would make."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, JobView, OpStatus
from nosana_tui.client.node import NodeClient, NodeError
from tests.node.conftest import AgentProcess, job, op_log, system_log, wait_for
from tests.resources.conftest import (
    checksum_op,
    endpoints,
    failed_with,
    made,
    resource_agent,
    resource_volumes,
    sha256,
    sums,
    volume_of,
)
from tests.resources.hubstandin import Hub, Repo

pytestmark = pytest.mark.anyio

TOKEN = "hf_killTestTokenNeverShown"
SLOW = os.urandom(40 << 20)  # about 4 s at the stand-in's 10 MiB/s


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with Hub() as server:
        server.repos["tiny/slow"] = Repo({"slow.bin": SLOW}, slow={"slow.bin"})
        server.repos["tiny/private-slow"] = Repo({"slow.bin": SLOW}, token=TOKEN, slow={"slow.bin"})
        yield server


@pytest.fixture(scope="module")
def killed_agent(
    hub: Hub, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("killed-agent"), endpoints(hf=hub.url)) as proc:
        yield proc


async def part_way(client: NodeClient, job_id: str) -> JobView:
    """The job once its op's download has begun and is not done."""

    def fetching(view: JobView) -> bool:
        fetch = view.ops[0].fetch
        return bool(fetch) and 0 < fetch[0].bytes_done < len(SLOW)

    return await wait_for(client, job_id, fetching, timeout=60)


def kill_and_restart(agent: AgentProcess) -> None:
    agent.stop(signal.SIGKILL)
    agent.start()


def partial_downloads(agent: AgentProcess) -> list[str]:
    folder = agent.data_dir / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_killed_mid_fetch_a_public_resource_is_fetched_again_whole(
    killed_agent: AgentProcess, hub: Hub
) -> None:
    resource = {"type": "HF", "repo": "tiny/slow", "target": "/hf"}
    assert not made(endpoints(hf=hub.url), resource)
    async with killed_agent.client() as client:
        view = await client.submit(job(checksum_op("/hf", resources=[resource])))
        seen = await part_way(client, view.id)
        volume = seen.ops[0].fetch[0].volume
        assert volume == volume_of(endpoints(hf=hub.url), resource)
        assert partial_downloads(killed_agent) == [f"{volume}.partial"]
    kill_and_restart(killed_agent)
    assert volume not in resource_volumes()  # the volume is made once the download is whole
    async with killed_agent.client() as client:
        done = await wait_for(client, view.id, lambda v: v.status.terminal, timeout=90)
        assert done.status is JobStatus.SUCCESS, done.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "read")) == {"slow.bin": sha256(SLOW)}
        log = "\n".join(await system_log(client, view.id))
        assert log.count(f"fetching HF tiny/slow into volume {volume}") == 2, log
        assert f"fetched HF tiny/slow into volume {volume}: 1/1 file, 40.0 MiB" in log
        fetch = done.ops[0].fetch[0]
        assert fetch.done and not fetch.cached and fetch.bytes_done == len(SLOW)
    assert made(endpoints(hf=hub.url), resource) == {volume}
    assert partial_downloads(killed_agent) == []


async def test_killed_mid_fetch_a_private_resource_fails_asking_for_the_job_again(
    killed_agent: AgentProcess, hub: Hub
) -> None:
    resource = {"type": "HF", "repo": "tiny/private-slow", "target": "/hf", "accessToken": TOKEN}
    assert not made(endpoints(hf=hub.url), resource)
    async with killed_agent.client() as client:
        view = await client.submit(job(checksum_op("/hf", resources=[resource])))
        await part_way(client, view.id)
    kill_and_restart(killed_agent)
    async with killed_agent.client() as client:
        done = await wait_for(client, view.id, lambda v: v.status.terminal, timeout=60)
        assert done.status is JobStatus.FAILED, done.model_dump_json(indent=1)
        op = done.ops[0]
        assert op.status is OpStatus.FAILED
        assert op.message == (
            "HF tiny/private-slow needs the job's credentials, and the agent keeps them in "
            "memory only: it has restarted since the job was submitted; submit the job again"
        ), op.message
        assert op.container_id is None  # nothing ran on a part of it
    assert not made(endpoints(hf=hub.url), resource)
    assert partial_downloads(killed_agent) == []


@pytest.mark.parametrize(
    ("resource", "path", "says"),
    [
        ({"type": "S3", "url": "s3://b/p"}, "target", "required field 'target' is missing"),
        ({"type": "HF", "repo": 42, "target": "/d"}, "repo", "expected a string, got the number"),
        ({"type": "Ollama", "model": "m", "target": ["/d"]}, "target", "expected a string"),
        ({"type": "Dropbox", "target": "/d"}, "", 'type "S3", "HF" or "Ollama"'),
        ({"type": "S3", "target": "/d", "buckets": "x"}, "buckets", "expected an array"),
        ({"type": "HF", "repo": "a/b", "target": "/d", "files": "x"}, "files", "expected an array"),
        (
            {"type": "S3", "url": "s3://b/p", "target": "/d", "IAM": "AKIAKEY:secret-value"},
            "IAM",
            "expected an object, got a value (hidden: it is a secret)",
        ),
        ("s3://bucket", "", "a resource must be an object"),
    ],
    ids=[
        "s3-no-target",
        "hf-repo-number",
        "ollama-target-list",
        "unknown-type",
        "s3-buckets-string",
        "hf-files-string",
        "iam-string",
        "a-string",
    ],
)
async def test_garbage_resource_fields_are_refused_with_their_path(
    killed_agent: AgentProcess, resource: Any, path: str, says: str
) -> None:
    definition = job(checksum_op("/d", resources=[resource]))
    async with killed_agent.client() as client:
        jobs = len(await client.jobs())
        with pytest.raises(NodeError) as err:
            await client.submit(definition)
        assert len(await client.jobs()) == jobs  # nothing started
    assert err.value.status == 422
    where = "ops[0].args.resources[0]" + (f".{path}" if path else "")
    found = [d for d in err.value.diagnostics if d["path"] == where]
    assert found, err.value.diagnostics
    assert says in found[0]["message"], found
    assert "secret-value" not in str(err.value.diagnostics)


# what the schema lets through, and the node cannot use: the op fails saying why, before a byte
# is fetched (the resource cannot be named: no volume either)
@pytest.mark.parametrize(
    ("resource", "says"),
    [
        (
            {"type": "Ollama", "model": ""},
            "Ollama resource: model '' is not an Ollama model name: write "
            "[registry/][namespace/]model[:tag]",
        ),
        (
            {"type": "HF", "repo": "", "target": "/d"},
            "HF resource: repo '' is not a Hugging Face repository id: write owner/name "
            "(letters, digits, '-', '_' and '.')",
        ),
        (
            {"type": "HF", "repo": "a b/c", "target": "/d"},
            "HF resource: repo 'a b/c' is not a Hugging Face repository id: write owner/name "
            "(letters, digits, '-', '_' and '.')",
        ),
    ],
    ids=["ollama-empty-model", "hf-empty-repo", "hf-repo-space"],
)
async def test_resources_the_schema_lets_through_fail_the_op_saying_why(
    killed_agent: AgentProcess, hub: Hub, resource: dict[str, Any], says: str
) -> None:
    asked = len(hub.requests)
    async with killed_agent.client() as client:
        view, log = await failed_with(client, job(checksum_op("/d", resources=[resource])))
    assert view.ops[0].message == says
    assert says in log
    assert len(hub.requests) == asked  # nothing was asked of the hub
    assert not made(endpoints(hf=hub.url), resource)


# a target no volume can be mounted at is refused at submission (our own rule: the network's
# schema takes it), before a byte is fetched; the engine's own check stays for a target that a
# literal gives (the last test)
@pytest.mark.parametrize(
    ("resource", "target"),
    [
        ({"type": "HF", "repo": "tiny/slow", "target": "/"}, "/"),
        ({"type": "Ollama", "model": "tiny:q4", "target": "models"}, "models"),
    ],
    ids=["target-root", "target-relative"],
)
async def test_a_target_that_cannot_be_mounted_is_refused_at_submission(
    killed_agent: AgentProcess, hub: Hub, resource: dict[str, Any], target: str
) -> None:
    asked = len(hub.requests)
    async with killed_agent.client() as client:
        jobs = len(await client.jobs())
        with pytest.raises(NodeError) as err:
            await client.submit(job(checksum_op("/d", resources=[resource])))
        assert len(await client.jobs()) == jobs  # nothing started
    assert err.value.status == 422
    found = [d for d in err.value.diagnostics if d["code"] == "resource-target"]
    assert [d["path"] for d in found] == ["ops[0].args.resources[0].target"], err.value.diagnostics
    assert found[0]["message"] == (
        f"resource target {target!r} is not a folder a volume can be mounted at"
    ), found
    assert found[0]["hint"] == "give an absolute path other than /, e.g. /models"
    assert len(hub.requests) == asked  # nothing was asked of the hub


async def test_a_target_a_literal_gives_is_checked_when_the_op_starts(
    killed_agent: AgentProcess, hub: Hub
) -> None:
    resource = {"type": "HF", "repo": "tiny/slow", "target": "%%global.variables.WHERE%%"}
    definition = job(
        checksum_op("/d", resources=[resource]), **{"global": {"variables": {"WHERE": "models"}}}
    )
    asked = len(hub.requests)
    async with killed_agent.client() as client:
        view, log = await failed_with(client, definition)  # taken at submission: known only now
    says = (
        "HF resource HF tiny/slow: target 'models' is not a folder it can be mounted at: give an "
        "absolute path other than /"
    )
    assert view.ops[0].message == says
    assert says in log
    assert len(hub.requests) == asked  # nothing was asked of the hub
