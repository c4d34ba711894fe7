"""Registry ``authentication`` on the fake engine: the rules of engine/registry.py and the runner.

The same behaviour on the real engine, with a real registry that wants a login, is in
tests/node/test_registry_auth.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.engine.registry import (
    DOCKER_HUB,
    RegistryAuth,
    credentials_of,
    registry_of,
    without_registry_passwords,
)
from nosana_tui.jobformat.model import JobDefinition, RunOperation
from tests.engine.test_runner_faults import JOB, Node, job, op, scenario

pytestmark = pytest.mark.anyio

REGISTRY = "127.0.0.1:5999"
PRIVATE = f"{REGISTRY}/team/app:1.0"
PASSWORD = "pw-0f1e2d3c"


def private(op_id: str, password: str = PASSWORD, group: str | None = None) -> dict[str, Any]:
    found = op(op_id, "echo private", group)
    found["args"]["image"] = PRIVATE
    found["args"]["authentication"] = {"docker": {"username": "alice", "password": password}}
    return found


def made(node: Node) -> list[str]:
    return [target for method, target in node.backend.calls if method == "run"]


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("busybox", DOCKER_HUB),
        ("library/busybox:1.36", DOCKER_HUB),
        ("user/app", DOCKER_HUB),
        ("ghcr.io/org/app:v1", "ghcr.io"),
        ("127.0.0.1:5000/busybox:latest", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
    ],
)
def test_the_registry_of_an_image_is_dockers(image: str, registry: str) -> None:
    assert registry_of(image) == registry


def test_credentials_take_the_images_registry_unless_the_job_names_a_server() -> None:
    definition = JobDefinition.model_validate(job(private("a")))
    run = definition.ops[0]
    assert isinstance(run, RunOperation)
    auth = credentials_of(run, PRIVATE)
    assert auth == RegistryAuth(REGISTRY, "alice", PASSWORD)
    assert PASSWORD not in repr(auth) and PASSWORD not in auth.describe()
    named = private("b")
    named["args"]["authentication"]["docker"]["server"] = "registry.example.com"
    run = JobDefinition.model_validate(job(named)).ops[0]
    assert isinstance(run, RunOperation)
    assert credentials_of(run, PRIVATE) == RegistryAuth("registry.example.com", "alice", PASSWORD)


def test_what_is_kept_on_disk_has_no_password() -> None:
    definition = job(private("a"), op("b", "true"))
    kept = without_registry_passwords(definition)
    assert PASSWORD not in json.dumps(kept)
    assert kept["ops"][0]["args"]["authentication"]["docker"] == {
        "username": "alice",
        "password": "***",
    }
    assert definition["ops"][0]["args"]["authentication"]["docker"]["password"] == PASSWORD
    assert kept["ops"][1] == definition["ops"][1]


@scenario
async def test_a_private_image_is_pulled_with_the_jobs_credentials_and_removed(
    node: Node,
) -> None:
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    runner = await node.start(job(private("a")))
    assert runner.view.status is JobStatus.SUCCESS, node.describe()
    calls = node.backend.calls
    assert calls.index(("check_login", REGISTRY)) < calls.index(("pull", PRIVATE))
    assert calls.index(("pull", PRIVATE)) < calls.index(("run", f"nosana-{JOB}-a"))
    assert ("remove_image", PRIVATE) in calls
    assert not await node.backend.has_image(PRIVATE)
    log = node.recorder.texts("system")
    assert f"[a] removed image {PRIVATE}: it was pulled with the job's credentials" in log
    assert not any(PASSWORD in line for line in log)


@scenario
async def test_an_image_already_there_is_pulled_again_with_the_credentials(node: Node) -> None:
    """A copy on the engine proves nothing about the password: the pull is the check."""
    node.backend.local_images.add(PRIVATE)
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    runner = await node.start(job(private("a")))
    assert runner.view.status is JobStatus.SUCCESS, node.describe()
    assert ("pull", PRIVATE) in node.backend.calls


@scenario
async def test_a_wrong_password_fails_the_op_before_any_container_is_made(node: Node) -> None:
    """The login is checked as the job starts: the op fails with the registry's answer, the ops
    of the first stage (which need no login) never start, nothing is pulled or made."""
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    runner = await node.start(
        job(op("first", "echo first", "g1"), private("a", password="wrong", group="g2"))
    )
    assert runner.view.status is JobStatus.FAILED, node.describe()
    failed = runner.view.op("a")
    assert failed.status is OpStatus.FAILED
    assert failed.message == (
        f"registry alice at {REGISTRY} refused the login: login attempt to "
        f"http://{REGISTRY}/v2/ failed with status: 401 Unauthorized"
    )
    assert runner.view.op("first").status is OpStatus.STOPPED
    assert runner.view.op("first").message.startswith("never started")
    assert made(node) == [] and not any(m == "pull" for m, _ in node.backend.calls)
    assert node.backend.networks == {}, "the job's network was never made"


@scenario
async def test_without_job_credentials_the_users_docker_login_pulls(node: Node) -> None:
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    plain = op("a", "echo private")
    plain["args"]["image"] = PRIVATE
    runner = await node.start(job(plain))
    assert runner.view.status is JobStatus.FAILED
    assert runner.view.op("a").message == (
        f'pull {PRIVATE}: Head "http://{REGISTRY}/v2/team/app/manifests/latest": '
        "no basic auth credentials"
    )
    node.backend.docker_config[REGISTRY] = ("alice", PASSWORD)  # `docker login` since
    await runner.restart_op("a")
    await node.settle()
    assert runner.view.status is JobStatus.SUCCESS, node.describe()
    assert ("remove_image", PRIVATE) not in node.backend.calls, "the user's image is kept"


@scenario
async def test_two_ops_of_one_private_image_remove_it_after_the_last(node: Node) -> None:
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    serving = private("srv", group="g")
    serving["args"]["cmd"] = "sleep 30"
    runner = await node.start(job(serving, private("once", group="g")))
    assert runner.view.op("once").status is OpStatus.FINISHED
    assert runner.view.op("srv").status is OpStatus.RUNNING, node.describe()
    assert ("remove_image", PRIVATE) not in node.backend.calls, "srv still runs it"
    assert [c for c in node.backend.calls if c[0] == "check_login"] == [
        ("check_login", REGISTRY)
    ], "one login for the same credentials"
    await runner.stop_op("srv")
    await node.settle()
    assert node.backend.calls.count(("remove_image", PRIVATE)) == 1


@scenario
async def test_after_a_restart_the_lost_password_is_said_not_sent(node: Node) -> None:
    """The definition read back from disk has the password masked: an op that must still start
    fails saying why, instead of pulling with '***'."""
    node.backend.logins[REGISTRY] = ("alice", PASSWORD)
    definition = without_registry_passwords(job(private("a")))
    view = node.runner(definition).view
    view.op("a").status = OpStatus.STARTING
    node.runners.clear()
    runner = node.runner(definition, view)
    await runner.resume()
    await node.settle()
    assert runner.view.op("a").status is OpStatus.FAILED, node.describe()
    assert "kept in memory only" in runner.view.op("a").message
    assert not any(m == "pull" for m, _ in node.backend.calls)
