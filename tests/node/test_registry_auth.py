"""Registry ``authentication`` on the real engine: a private image pulled from a real registry that
wants a login (``tests.resources.privateregistry``: Debian's ``docker-registry`` with htpasswd, on
a free loopback port of its own), by a real agent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.client.node import NodeClient, job_done
from tests.dockerenv import JOB_LABEL
from tests.node.conftest import (
    AgentProcess,
    job,
    op_log,
    run_op,
    started_agent,
    system_log,
    wait_for,
)
from tests.resources.privateregistry import (
    MARKER,
    USER,
    Registry,
    has_image,
    private_credentials,
    private_registry,
)

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def registry(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with private_registry(tmp_path_factory.mktemp("registry")) as found:
        yield found


@pytest.fixture(scope="module")
def docker_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent's DOCKER_CONFIG: the user's Docker credentials, empty until a test logs in."""
    folder = tmp_path_factory.mktemp("docker-config")
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def agent(
    registry: Registry, docker_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_CONFIG", str(docker_config))
        with started_agent(tmp_path_factory.mktemp("agent")) as proc:
            yield proc


@pytest.fixture
async def client(agent: AgentProcess) -> AsyncIterator[NodeClient]:
    async with agent.client() as c:
        yield c


def private_op(op_id: str, registry: Registry, password: str, **extra: Any) -> dict[str, Any]:
    found = run_op(op_id, "cat /marker", **extra)
    found["args"]["image"] = registry.image
    found["args"]["authentication"] = private_credentials(password)
    return found


def containers_of(job_id: str) -> list[str]:
    found = docker.from_env().containers.list(all=True, filters={"label": f"{JOB_LABEL}={job_id}"})
    return [c.name for c in found]


async def test_a_private_image_runs_with_the_jobs_credentials_and_is_removed_after(
    client: NodeClient, registry: Registry
) -> None:
    assert not has_image(registry.image)
    view = await client.submit(job(private_op("private", registry, registry.password)))
    done = await wait_for(client, view.id, job_done, timeout=60)
    assert done.status is JobStatus.SUCCESS, done.model_dump_json(indent=1)
    assert await op_log(client, view.id, "private") == [MARKER]
    log = await system_log(client, view.id)
    assert f"[private] registry login accepted: {USER} at {registry.host}" in log
    assert (
        f"[private] pulling image {registry.image} with the job's credentials "
        f"({USER} at {registry.host})"
    ) in log
    assert (
        f"[private] removed image {registry.image}: it was pulled with the job's credentials"
        in (log)
    )
    assert not has_image(registry.image), "the image pulled with the job's credentials is gone"
    await client.remove(view.id)


async def test_a_wrong_password_fails_the_op_in_the_registrys_words_before_anything_starts(
    client: NodeClient, registry: Registry
) -> None:
    view = await client.submit(
        job(
            run_op("first", "echo first", group="g1"),
            private_op("private", registry, "not-" + registry.password, execution={"group": "g2"}),
        )
    )
    done = await wait_for(client, view.id, job_done, timeout=60)
    assert done.status is JobStatus.FAILED
    failed = done.op("private")
    assert failed.status is OpStatus.FAILED
    assert failed.message == (
        f"registry {USER} at {registry.host} refused the login: login attempt to "
        f"http://{registry.host}/v2/ failed with status: 401 Unauthorized"
    )
    assert done.op("first").status is OpStatus.STOPPED
    assert done.op("first").message.startswith("never started")
    assert done.op("first").started_at is None
    assert containers_of(view.id) == [], "no container of the job was made"
    assert not has_image(registry.image)
    await client.remove(view.id)


async def test_without_job_credentials_the_users_docker_login_is_used(
    client: NodeClient, registry: Registry, docker_config: Path
) -> None:
    plain = run_op("plain", "cat /marker")
    plain["args"]["image"] = registry.image
    refused = await client.submit(job(plain))
    done = await wait_for(client, refused.id, job_done, timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.op("plain").message == (
        f'pull {registry.image}: Head "http://{registry.host}/v2/private/busybox/manifests/'
        'latest": no basic auth credentials'
    )
    await client.remove(refused.id)
    # `docker login` as the user would (config.json; read again by the agent for each pull)
    token = base64.b64encode(f"{USER}:{registry.password}".encode()).decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {registry.host: {"auth": token}}})
    )
    try:
        view = await client.submit(job(plain))
        done = await wait_for(client, view.id, job_done, timeout=60)
        assert done.status is JobStatus.SUCCESS, done.model_dump_json(indent=1)
        assert await op_log(client, view.id, "plain") == [MARKER]
        assert has_image(registry.image), "an image pulled with the user's login is kept"
        await client.remove(view.id)
    finally:
        (docker_config / "config.json").write_text("{}")
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker.from_env().images.remove(registry.image, force=True)


def _cli(agent: AgentProcess, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout + done.stderr


async def test_the_password_is_nowhere_but_in_memory(
    client: NodeClient, registry: Registry, agent: AgentProcess, tmp_path: Path
) -> None:
    """Neither the right password nor a wrong one reaches the data folder (the state database,
    its WAL, the logs, agent.log), `ps`, `ps --json`, the system log or the job's definition
    as the node serves it. The lint about credentials in a public job is still said."""
    wrong = "not-" + registry.password
    good = job(private_op("private", registry, registry.password))
    bad = job(private_op("private", registry, wrong))
    definition = tmp_path / "private.json"
    definition.write_text(json.dumps(good))
    outputs = [_cli(agent, "validate", str(definition))]
    assert "public-credentials" in outputs[0] or "registry credentials" in outputs[0]
    outputs.append(_cli(agent, "run", str(definition), "--wait", "done"))
    views = [await client.submit(bad)]
    views += [v for v in await client.jobs() if v.id not in {x.id for x in views}]
    for view in views:
        await wait_for(client, view.id, job_done, timeout=60)
        outputs.append(_cli(agent, "ps", view.id))
        outputs.append(_cli(agent, "ps", view.id, "--json"))
        outputs.append(_cli(agent, "logs", view.id, "system"))
        outputs.append(json.dumps(await client.definition(view.id)))
    outputs.append(_cli(agent, "ps", "--json"))
    statuses = {v.status for v in await client.jobs()}
    assert statuses == {JobStatus.SUCCESS, JobStatus.FAILED}, outputs
    for secret in (registry.password, wrong):
        for text in outputs:
            assert secret not in text
        for path in agent.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{secret!r} in {path}"
    for view in await client.jobs():
        await client.remove(view.id)
