"""Deployments through the API key (reference nosana-network.md §1.3 Deployments): the client
against the stand-in gateway, which checks every request and answer against the schemas of
the pinned ``@nosana/api`` (the gateway's and the Deployment Manager's ``Deployment``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.client import network as net
from tests.network.conftest import API_KEY
from tests.network.standin import Key, Standin
from tests.network.test_cli import cli
from tests.network.test_client import call

JOB = json.loads(
    (Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json").read_text()
)


def create(standin: Standin, name: str = "hello", replicas: int = 2, **kw: Any) -> Any:
    return call(
        standin,
        lambda c: c.create_deployment(
            name,
            "nvidia-3090",
            replicas,
            kw.pop("timeout", 60),
            kw.pop("strategy", "SIMPLE"),
            JOB,
            **kw,
        ),
    )


def test_create_lists_the_replicas_as_jobs_on_the_market(standin: Standin) -> None:
    made = create(standin)
    assert made.status is net.DeploymentStatus.STARTING and made.replicas == 2
    assert made.timeout == 60 and made.strategy is net.Strategy.SIMPLE
    jobs = call(standin, lambda c: c.deployment_jobs(made.id))
    assert len(jobs) == 2 and {j.state for j in jobs} == {"QUEUED"}
    listed = [standin.jobs[j.job] for j in jobs]
    assert {j["timeout"] for j in listed} == {3600}  # minutes × 60
    assert {j["market"] for j in listed} == {standin.market("nvidia-3090")["address"]}  # type: ignore[index]
    shown = call(standin, lambda c: c.deployment(made.id))
    assert shown.status is net.DeploymentStatus.RUNNING and shown.active_jobs == 2


def test_list_pages_with_the_cursor(standin: Standin) -> None:
    for i in range(12):
        create(standin, f"d{i}", replicas=1)
    found = call(standin, lambda c: c.deployments(page_size=10))
    assert [d.name for d in found] == [f"d{i}" for i in range(12)]
    assert call(standin, lambda c: c.deployments(page_size=10, limit=3))[-1].name == "d2"
    cursors = [p for m, p in standin.requests if p == "/deployments"]
    assert len(cursors) >= 2


def test_stop_scale_start_and_delete(standin: Standin) -> None:
    made = create(standin, replicas=1)
    with pytest.raises(net.BadRequest, match="stop it first"):
        call(standin, lambda c: c.delete_deployment(made.id))
    changed = call(standin, lambda c: c.scale_deployment(made.id, 3))
    assert changed.replicas == 3
    assert len(call(standin, lambda c: c.deployment_jobs(made.id))) == 3
    stopped = call(standin, lambda c: c.stop_deployment(made.id))
    assert stopped.status is net.DeploymentStatus.STOPPING
    assert call(standin, lambda c: c.deployment(made.id)).status is net.DeploymentStatus.STOPPED
    jobs = call(standin, lambda c: c.deployment_jobs(made.id))
    assert {j.state for j in jobs} == {"STOPPED"}
    started = call(standin, lambda c: c.start_deployment(made.id))
    assert started.status is net.DeploymentStatus.STARTING
    call(standin, lambda c: c.stop_deployment(made.id))
    call(standin, lambda c: c.delete_deployment(made.id))
    with pytest.raises(net.NotFound, match="404"):
        call(standin, lambda c: c.deployment(made.id))


def test_refusals_say_what_to_do(standin: Standin) -> None:
    standin.keys["nos_read"] = Key(scopes=frozenset({"deployments:read"}))
    with pytest.raises(net.MissingScope) as missing:
        call(
            standin,
            lambda c: c.create_deployment("x", "nvidia-3090", 1, 60, "SIMPLE", JOB),
            api_key="nos_read",
        )
    assert missing.value.scope == "deployments:write" and "deployments:write" in str(missing.value)
    with pytest.raises(net.Unauthorized, match="NOSANA_API_KEY"):
        call(standin, lambda c: c.deployments(), api_key="nos_wrong")
    standin.keys[API_KEY].credits = 0.01
    with pytest.raises(net.OutOfCredits, match="add credits"):
        create(standin)
    with pytest.raises(net.BadRequest, match="at least 60 minutes"):
        create(standin, timeout=30)
    with pytest.raises(net.NotFound):
        call(standin, lambda c: c.stop_deployment("Nope" * 8))


def test_events_snapshot_then_frames_and_reconnect(standin: Standin) -> None:
    made = create(standin, replicas=1)

    async def main() -> list[net.DeploymentFrame]:
        async with net.NetworkClient(
            standin.url, API_KEY, pin_url=standin.url, sleep=_fast
        ) as client:
            frames: list[net.DeploymentFrame] = []
            standin.drop_stream_after = 2  # the first connection drops after two frames
            async for frame in client.deployment_events(made.id):
                frames.append(frame)
                if len(frames) == 2:
                    await client.scale_deployment(made.id, 2)
                if any(f.type == "deployment" and f.model_dump()["replicas"] == 2 for f in frames):
                    return frames
            return frames

    frames = asyncio.run(asyncio.wait_for(main(), 20))
    assert standin.streams_opened == 2  # it came back after the drop
    assert frames[0].type == "deployment" and "STARTING" in frames[0].text()
    assert any(f.type == "job" and "QUEUED" in f.text() for f in frames)
    assert any(f.type == "event" and "listed" in f.text() for f in frames)

    async def snapshot() -> list[net.DeploymentFrame]:
        async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url) as client:
            return [f async for f in client.deployment_events(made.id, follow=False, quiet=0.5)]

    assert len(asyncio.run(snapshot())) >= 4


async def _fast(seconds: float) -> None:
    await asyncio.sleep(0.01)


# --- the CLI ---------------------------------------------------------------------------------------


def test_cli_create_list_show_scale_stop_rm(standin: Standin, tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB))
    asked = cli(
        standin,
        tmp_path,
        "deployments",
        "create",
        str(job),
        "--market",
        "nvidia-h100",
        "--replicas",
        "2",
        "--timeout",
        "2h",
        "--strategy",
        "SIMPLE",
    )
    assert asked.returncode == 2 and "pass --yes" in asked.stderr
    assert "2 replicas" in asked.stderr and "$8.80" in asked.stderr  # 2 × 2 h × $2.20
    assert not standin.deployments
    done = cli(
        standin,
        tmp_path,
        "deployments",
        "create",
        str(job),
        "--market",
        "nvidia-h100",
        "--replicas",
        "2",
        "--timeout",
        "2h",
        "--strategy",
        "SIMPLE-EXTEND",
        "--yes",
    )
    assert done.returncode == 0, done.stderr
    deployment_id = done.stdout.strip()
    assert standin.deployments[deployment_id]["timeout"] == 120  # minutes

    listed = cli(standin, tmp_path, "deployments")
    assert listed.returncode == 0 and deployment_id in listed.stdout
    assert "RUNNING" in listed.stdout and "SIMPLE-EXTEND" in listed.stdout
    data = json.loads(cli(standin, tmp_path, "deployments", "--json").stdout)
    assert data[0]["id"] == deployment_id and API_KEY not in json.dumps(data)
    shown = cli(standin, tmp_path, "deployments", "show", deployment_id)
    assert shown.returncode == 0 and "QUEUED" in shown.stdout and "nvidia-h100" in shown.stdout
    data = json.loads(cli(standin, tmp_path, "deployments", "show", deployment_id, "--json").stdout)
    assert len(data["jobs"]) == 2

    scaled = cli(standin, tmp_path, "deployments", "scale", deployment_id, "3")
    assert scaled.returncode == 0 and "3 replicas" in scaled.stdout
    refused = cli(standin, tmp_path, "deployments", "rm", deployment_id)
    assert refused.returncode == 2 and "stop it first" in refused.stderr
    stopped = cli(standin, tmp_path, "deployments", "stop", deployment_id)
    assert stopped.returncode == 0 and "STOPPING" in stopped.stdout
    events = cli(standin, tmp_path, "deployments", "events", deployment_id)
    assert events.returncode == 0 and "deployment STOPPING" in events.stdout
    removed = cli(standin, tmp_path, "deployments", "rm", deployment_id)
    assert removed.returncode == 0 and "deleted" in removed.stdout
    missing = cli(standin, tmp_path, "deployments", "show", deployment_id)
    assert missing.returncode == 2 and "not found (404)" in missing.stderr


def test_cli_names_the_missing_scope(standin: Standin, tmp_path: Path) -> None:
    standin.keys["nos_read"] = Key(scopes=frozenset({"deployments:read"}))
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB))
    done = cli(
        standin,
        tmp_path,
        "deployments",
        "create",
        str(job),
        "--market",
        "nvidia-3090",
        "--replicas",
        "1",
        "--timeout",
        "1h",
        "--strategy",
        "SIMPLE",
        "--yes",
        key="nos_read",
    )
    assert done.returncode == 1 and "deployments:write" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli(standin, tmp_path, "deployments", "stop", "x" * 44, key="nos_wrong")
    assert done.returncode == 1 and "401" in done.stderr and "NOSANA_API_KEY" in done.stderr
