"""Deployments through the API key (reference nosana-network.md §1.3 Deployments): the client
against the stand-in gateway, which checks every request and answer against the schemas of
the pinned ``@nosana/api`` (the gateway's and the Deployment Manager's ``Deployment``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.cli.deployments import cost_words
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
    assert [d.name for d in found] == [f"d{i}" for i in reversed(range(12))]  # newest first
    assert call(standin, lambda c: c.deployments(page_size=10, limit=3))[-1].name == "d9"
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


def test_cli_create_json_then_stop_and_start(standin: Standin, tmp_path: Path) -> None:
    """``create --json``: the gateway's answer on stdout, what follows it on stderr, after the
    summary of what it spends; ``stop`` and ``start`` print the status the gateway gives."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB))
    done = cli(
        standin, tmp_path, "deployments", "create", str(job), "--market", "nvidia-3090", "--yes",
        "--json", "--name", "web",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    deployment_id = data["id"]
    assert data["name"] == "web" and deployment_id in standin.deployments
    market = standin.market("nvidia-3090")
    assert market is not None
    summary = done.stderr.splitlines()
    assert summary[:5] == [
        "deployment  web",
        "network     mainnet",
        f"market      nvidia-3090 ({market['address']})",
        f"GPU         {', '.join(market['gpu_types'])}",
        f"price       ${market['usd_reward_per_hour'] * 1.1:.2f}/hour per replica",
    ], summary
    assert f"created: deployment {deployment_id} (STARTING)" in done.stderr
    stopped = cli(standin, tmp_path, "deployments", "stop", deployment_id)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == f"deployment {deployment_id}: STOPPING\n"
    started = cli(standin, tmp_path, "deployments", "start", deployment_id)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(f"deployment {deployment_id}: ")


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


# --- review findings ---------------------------------------------------------------------------------

CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: writes the terminal's clipboard


def _job_file(tmp_path: Path) -> str:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(JOB))
    return str(job)


def test_cli_network_before_the_action_is_kept(standin: Standin, tmp_path: Path) -> None:
    from nosana_tui.cli.main import build_parser

    parser = build_parser()
    for argv in (
        ["deployments", "--network", "devnet", "show", "X"],
        ["deployments", "show", "X", "--network", "devnet"],
    ):
        assert parser.parse_args(argv).network == "devnet", argv
    assert parser.parse_args(["deployments", "--json", "show", "X"]).json is True
    assert parser.parse_args(["deployments", "show", "X"]).network is None
    asked = cli(
        standin,
        tmp_path,
        "deployments",
        "--network",
        "devnet",
        "create",
        _job_file(tmp_path),
        "--market",
        "nvidia-h100",
    )
    assert asked.returncode == 2 and "pass --yes" in asked.stderr
    assert "network     devnet" in asked.stderr, asked.stderr


def test_cli_show_and_create_clean_the_gateways_words(standin: Standin, tmp_path: Path) -> None:
    made = create(
        standin,
        name=f"evil{CLIPBOARD}\x1b[2Jname",
        replicas=1,
        strategy="SCHEDULED",
        schedule=f"0 * * * *{CLIPBOARD}",
    )
    standin.deployments[made.id]["endpoints"] = [
        {"opId": "web", "port": 80, "url": f"https://x.example{CLIPBOARD}"}
    ]
    shown = cli(standin, tmp_path, "deployments", "show", made.id)
    assert shown.returncode == 0, shown.stderr
    assert "evilname" in shown.stdout and "https://x.example" in shown.stdout
    assert "SCHEDULED (0 * * * *)" in shown.stdout
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout, repr(shown.stdout)
    listed = cli(standin, tmp_path, "deployments")
    assert "evilname" in listed.stdout and "\x1b" not in listed.stdout
    standin.markets[1]["gpu_types"] = [f"H100{CLIPBOARD}"]
    done = cli(
        standin,
        tmp_path,
        "deployments",
        "create",
        _job_file(tmp_path),
        "--market",
        "nvidia-h100",
        "--name",
        f"mine{CLIPBOARD}",
        "--yes",
    )
    assert done.returncode == 0, done.stderr
    assert "H100" in done.stderr and "mine" in done.stderr
    assert "\x1b" not in done.stderr + done.stdout and "\x07" not in done.stderr + done.stdout


def _ask(standin: Standin, tmp_path: Path, *flags: str) -> Any:
    return cli(
        standin,
        tmp_path,
        "deployments",
        "create",
        _job_file(tmp_path),
        "--market",
        "nvidia-h100",
        "--replicas",
        "2",
        *flags,
    )


def test_cli_create_says_what_each_strategy_may_spend(standin: Standin, tmp_path: Path) -> None:
    simple = _ask(standin, tmp_path, "--timeout", "2h")
    assert "the most it can cost: $8.80 (one round)" in simple.stderr  # 2 × 2 h × $2.20
    assert "until" not in simple.stderr
    for strategy, said in (
        ("SIMPLE-EXTEND", "each job is extended as it ends: repeats until stopped"),
        ("INFINITE", "new jobs replace them every 1h30m"),
    ):
        extra = ["--rotation-time", "90m"] if strategy == "INFINITE" else []
        asked = _ask(standin, tmp_path, "--timeout", "2h", "--strategy", strategy, *extra)
        assert asked.returncode == 2 and "pass --yes" in asked.stderr, asked.stderr
        assert "$8.80 per round of 2 replicas × 2h" in asked.stderr and said in asked.stderr
        assert "the most it can cost" not in asked.stderr
    scheduled = _ask(standin, tmp_path, "--strategy", "SCHEDULED", "--schedule", "0 * * * *")
    assert "each time the schedule (0 * * * *) fires" in scheduled.stderr
    assert not standin.deployments
    # the question (asked at a terminal) in the same words
    assert cost_words("SIMPLE", 2, 120, 8.8)[1] == "for up to $8.80"
    for strategy in ("SIMPLE-EXTEND", "SCHEDULED", "INFINITE"):
        asked_words = cost_words(strategy, 2, 120, 8.8, "0 * * * *", 5400)[1]
        assert (
            asked_words
            == "at up to $8.80 per round of 2 replicas × 2h, repeating until you stop it"
        )

    done = _ask(standin, tmp_path, "--strategy", "INFINITE", "--rotation-time", "50m", "--yes")
    assert done.returncode == 0, done.stderr
    assert standin.deployments[done.stdout.strip()]["rotation_time"] == 3000


def test_cli_create_checks_the_rules_before_asking(standin: Standin, tmp_path: Path) -> None:
    for flags, said in (
        (["--timeout", "30m"], "at least 60 minutes"),
        (["--strategy", "SCHEDULED"], "needs a schedule"),
        (["--rotation-time", "1h"], "rotation time is for --strategy INFINITE only"),
        (["--schedule", "* * * * *"], "schedule is for --strategy SCHEDULED only"),
    ):
        refused = _ask(standin, tmp_path, *flags)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "pass --yes" not in refused.stderr and "price" not in refused.stderr
    assert not any(p.startswith("/markets") for _m, p in standin.requests)  # nothing asked


def test_an_unknown_status_or_strategy_is_shown_as_it_is(standin: Standin, tmp_path: Path) -> None:
    made = create(standin, replicas=1)
    other = create(standin, "other", replicas=1)
    standin.newer = True  # values newer than the pinned @nosana/api knows
    standin.deployments[made.id].update(status="PAUSED", strategy="BURST")
    found = {d.id: d for d in call(standin, lambda c: c.deployments())}
    assert found[made.id].status == "PAUSED" and found[made.id].strategy == "BURST"
    assert found[other.id].status is net.DeploymentStatus.RUNNING  # the known ones: enums
    assert not found[made.id].live
    listed = cli(standin, tmp_path, "deployments")
    assert listed.returncode == 0, listed.stderr
    assert "PAUSED" in listed.stdout and "BURST" in listed.stdout and "other" in listed.stdout
    shown = cli(standin, tmp_path, "deployments", "show", made.id)
    assert "status      PAUSED" in shown.stdout and "strategy    BURST" in shown.stdout
    assert standin.newer_seen  # the stand-in's schemas know the documented values only


@pytest.mark.parametrize("status", ["DRAFT", "ERROR", "ARCHIVED", "INSUFFICIENT_FUNDS"])
def test_only_a_stopped_deployment_is_deleted(standin: Standin, status: str) -> None:
    made = create(standin, replicas=1)
    call(standin, lambda c: c.stop_deployment(made.id))
    standin.deployments[made.id]["status"] = status
    with pytest.raises(net.BadRequest, match=f"it is {status}; "):
        call(standin, lambda c: c.delete_deployment(made.id))
    assert ("DELETE", f"/deployments/{made.id}") not in standin.requests
    standin.deployments[made.id]["status"] = "STOPPED"
    call(standin, lambda c: c.delete_deployment(made.id))
    assert made.id not in standin.deployments


def test_events_wait_out_a_rate_limit_when_following(standin: Standin) -> None:
    made = create(standin, replicas=1)
    slept: list[float] = []

    async def fast(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0.01)

    async def main() -> net.DeploymentFrame:
        async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url, sleep=fast) as c:
            standin.fail_path, standin.fail_next = "/stream", [429, 429]
            async for frame in c.deployment_events(made.id):
                return frame
        raise AssertionError("no frame")

    frame = asyncio.run(asyncio.wait_for(main(), 20))
    assert frame.type == "deployment" and standin.streams_opened == 1 and len(slept) == 2
    standin.fail_path, standin.fail_next = "/stream", [429]

    async def snapshot() -> list[net.DeploymentFrame]:
        async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url) as c:
            return [f async for f in c.deployment_events(made.id, follow=False, quiet=0.5)]

    with pytest.raises(net.RateLimited):  # without -f: said, not waited for
        asyncio.run(snapshot())


def test_a_deployments_words_are_cleaned_as_they_are_read() -> None:
    """The Deployments screen and --json show what the client read: no escape survives it."""
    from nosana_tui.client.network import Deployment

    raw = {
        "id": "d1",
        "name": "evil\x1b]52;c;SGVsbG8=\x07\x1b[2J",
        "vault": "v",
        "market": "m",
        "owner": "o",
        "status": "RUNNING",
        "replicas": 1,
        "timeout": 60,
        "endpoints": [{"opId": "web", "port": 80, "url": "https://x\x1b[31m.example"}],
        "confidential": False,
        "active_revision": 1,
        "active_jobs": 0,
        "created_at": "2026-12-01T00:00:00.000Z",
        "updated_at": "2026-12-01T00:00:00.000Z",
        "strategy": "SIMPLE",
    }
    found = Deployment.model_validate(raw)
    assert not any(c in found.name + found.endpoints[0].url for c in "\x1b\x07")
    assert found.name.startswith("evil")
