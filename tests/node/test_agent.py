"""The agent as a process: its token, its API document, surviving a kill, following logs,
pulling with progress, and containers' escape sequences."""

from __future__ import annotations

import asyncio
import signal
import stat
import subprocess
import sys

import httpx
import pytest

from nosana_tui.api.models import JobStatus, LogEntry, OpStatus
from nosana_tui.client.node import NodeClient, NodeError, job_done, job_ready
from tests.dockerenv import REGISTRY_IMAGE
from tests.node.conftest import AgentProcess, job, op_log, run_op, wait_for

pytestmark = pytest.mark.anyio


async def test_token_is_required_and_a_refused_request_changes_nothing(
    agent: AgentProcess, client: NodeClient
) -> None:
    mode = stat.S_IMODE((agent.config_dir / "token").stat().st_mode)
    assert mode == 0o600
    before = len(await client.jobs())
    definition = job(run_op("a", "true"))
    async with httpx.AsyncClient(base_url=agent.url) as anon:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await anon.post(
                "/api/jobs", json={"definition": definition}, headers=headers
            )
            assert response.status_code == 401
            assert "token" in response.json()["error"]
            assert (await anon.get("/openapi.json", headers=headers)).status_code == 401
    assert len(await client.jobs()) == before


async def test_openapi_document_lists_nosana_routes_and_ours(client: NodeClient) -> None:
    document = (await client.http.get("/openapi.json")).json()
    paths = set(document["paths"])
    for route in (
        "/node/info",
        "/job/{job}/info",
        "/job/{job}/ops",
        "/job/{job}/group/{group}/operation/{op}/stop",
        "/job/{job}/group/{group}/operation/{op}/restart",
        "/job/{job}/group/{group}/stop",
        "/job/{job}/group/{group}/restart",
        "/job/{job}/endpoints",
        "/job/{job}/stop",
        "/api/jobs",
        "/api/jobs/{job}",
        "/api/jobs/{job}/logs",
    ):
        assert route in paths


async def test_node_info_reports_engine_and_images(client: NodeClient) -> None:
    info = await client.info()
    assert info.engine["name"] == "docker" and info.engine["version"]
    assert any("busybox:latest" in (img.get("tags") or []) for img in info.images)


async def test_killed_agent_restarts_and_readopts_its_containers(agent: AgentProcess) -> None:
    async with agent.client() as client:
        counter = run_op("counter", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done")
        view = await client.submit(job(counter))
        await wait_for(client, view.id, job_ready)
        await asyncio.sleep(0.6)
    agent.stop(signal.SIGKILL)
    # while the agent is gone the container keeps running
    running = subprocess.run(
        ["docker", "ps", "--filter", f"label=nosana-tui.job={view.id}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert running == [f"nosana-{view.id}-counter"]
    await asyncio.sleep(0.6)
    agent.start()
    async with agent.client() as client:
        again = await client.job(view.id)
        assert again.op("counter").status is OpStatus.RUNNING
        assert again.status is JobStatus.RUNNING
        ticks_before = len(await op_log(client, view.id, "counter"))
        await asyncio.sleep(1.0)
        lines = await op_log(client, view.id, "counter")
        assert len(lines) > ticks_before, "logs are followed again after re-adoption"
        numbers = [int(t.split()[1]) for t in lines if t.startswith("tick ")]
        assert numbers == sorted(set(numbers)), "no line is stored twice"
        assert any("re-adopting" in t for t in await op_log(client, view.id, "system"))
        await client.stop_op(view.id, "counter", "counter")
        done = await wait_for(client, view.id, job_done)
        assert done.op("counter").status is OpStatus.STOPPED
        await client.remove(view.id)


async def test_follow_streams_new_lines_and_tail_limits(client: NodeClient) -> None:
    view = await client.submit(
        job(run_op("talker", "for i in $(seq 1 5); do echo line $i; sleep 0.3; done"))
    )
    seen: list[str] = []

    async def follow() -> None:
        async for entry in client.logs(view.id, "talker", follow=True):
            if isinstance(entry, LogEntry):
                seen.append(entry.text)
                if entry.text == "line 5":
                    return

    await asyncio.wait_for(follow(), 20)
    assert seen == [f"line {i}" for i in range(1, 6)]
    tail = [e async for e in client.logs(view.id, "talker", tail=2)]
    assert [e.text for e in tail if isinstance(e, LogEntry)] == ["line 4", "line 5"]
    await wait_for(client, view.id, job_done)
    await client.remove(view.id)


async def test_pull_from_a_registry_reports_per_layer_progress(client: NodeClient) -> None:
    subprocess.run(["docker", "rmi", "-f", REGISTRY_IMAGE], capture_output=True, check=False)
    definition = job(run_op("pulled", "cat /etc/nosana-tui-image || echo pulled"))
    definition["ops"][0]["args"]["image"] = REGISTRY_IMAGE
    view = await client.submit(definition)
    layers_seen: set[str] = set()

    async def watch() -> None:
        async for state in client.watch(view.id):
            pull = state.op("pulled").pull
            if pull and pull.layers:
                layers_seen.update(v.get("status", "") for v in pull.layers.values())
            if job_done(state):
                return

    await asyncio.wait_for(watch(), 60)
    system = await op_log(client, view.id, "system")
    assert any(f"pulling image {REGISTRY_IMAGE}" in t for t in system)
    assert any(f"pulled image {REGISTRY_IMAGE}" in t for t in system)
    assert layers_seen & {"Downloading", "Pull complete", "Extracting", "Pulling fs layer"}
    done = await client.job(view.id)
    assert done.status is JobStatus.SUCCESS
    await client.remove(view.id)
    subprocess.run(["docker", "rmi", "-f", REGISTRY_IMAGE], capture_output=True, check=False)


async def test_a_missing_image_fails_the_op_with_the_engine_s_reason(client: NodeClient) -> None:
    definition = job(run_op("ghost", "true"))
    definition["ops"][0]["args"]["image"] = "127.0.0.1:5000/does-not-exist:1"
    view = await client.submit(definition)
    done = await wait_for(client, view.id, job_done, timeout=60)
    op = done.op("ghost")
    assert op.status is OpStatus.FAILED
    assert "does-not-exist" in op.message
    await client.remove(view.id)


async def test_escape_sequences_from_containers_are_stored_raw_and_cleaned_for_display(
    agent: AgentProcess, client: NodeClient
) -> None:
    view = await client.submit(
        job(run_op("evil", r"printf '\033]0;owned\007\033[2J\033[31mred\033[0m plain\n'"))
    )
    await wait_for(client, view.id, job_done)
    proc = subprocess.run(
        [sys.executable, "-m", "nosana_tui", "logs", view.id, "evil"],
        capture_output=True,
        text=True,
        env=agent.env,
        check=True,
    )
    assert "\x1b[31mred\x1b[0m plain" in proc.stdout
    assert "\x1b]0" not in proc.stdout and "\x1b[2J" not in proc.stdout
    assert "owned" not in proc.stdout
    await client.remove(view.id)


async def test_logs_as_text_by_id_prefix_are_neutralised_by_the_client(
    client: NodeClient,
) -> None:
    """``format=text`` over the real agent: the layout `docker logs` has, the op prefix for all
    ops, UTC times with ``timestamps``; the client strips every escape but colour, even though
    the node sends the raw bytes."""
    script = r"printf 'plain\n\033[31mred\033[0m\n\033]52;c;ZXZpbA==\007gone\n\033[2Jcleared\n'"
    view = await client.submit(job(run_op("printer", script)))
    await wait_for(client, view.id, job_done)
    short = view.id[:6]
    text = "".join([t async for t in client.log_text(short, "printer")])
    assert text == "plain\n\x1b[31mred\x1b[0m\ngone\ncleared\n"
    everything = "".join([t async for t in client.log_text(short)])
    assert "printer | plain\n" in everything and "system | " in everything
    stamped = "".join([t async for t in client.log_text(view.id, "printer", timestamps=True)])
    first = stamped.splitlines()[0]
    assert first.endswith("Z plain") and first[4] == "-" and first[10] == "T", first
    last = "".join([t async for t in client.log_text(view.id, "printer", tail=1)])
    assert last == "cleared\n"
    # the raw stream from the node still holds the sequences: cleaning is the client's job
    raw = await client.http.get(
        f"/api/jobs/{short}/logs", params={"op": "printer", "format": "text"}
    )
    assert "\x1b]52;" in raw.text
    assert (await client.find(short)).id == view.id
    with pytest.raises(NodeError) as err:
        _ = [t async for t in client.log_text(view.id, "nope")]
    assert err.value.status == 404 and "(ops: printer, or system)" in str(err.value)
    await client.remove(short)


async def test_what_a_node_says_reaches_the_terminal_without_escapes(
    agent: AgentProcess, client: NodeClient
) -> None:
    """Not only logs: a job's name (or any string a node answers: messages, GPU names and
    notes, engine details) is cleaned by the client, so neither the UI nor the CLI passes a
    node's escape sequences to the user's terminal."""
    name = "demo\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[31m-red\x1b[0m\x08"
    view = await client.submit(job(run_op("t", "true")), name=name)
    assert view.name == "demo-red^H"
    assert (await client.job(view.id)).name == "demo-red^H"
    assert [j.name for j in await client.jobs() if j.id == view.id] == ["demo-red^H"]
    done = await wait_for(client, view.id, job_done)  # the event stream
    assert done.name == "demo-red^H"
    raw = await client.http.get(f"/api/jobs/{view.id}")
    assert "\\u001b]52;" in raw.text  # the node keeps what it was given
    proc = subprocess.run(
        [sys.executable, "-m", "nosana_tui", "ps"],
        capture_output=True,
        text=True,
        env=agent.env,
        check=True,
    )
    assert "demo-red" in proc.stdout and "\x1b" not in proc.stdout
    await client.remove(view.id)


async def test_gpu_admission_refuses_before_anything_starts(client: NodeClient) -> None:
    """This machine has no GPU: a job asking for VRAM is refused with what it needs and what the
    node has, and nothing of it exists afterwards; the GPU routes answer that calmly."""
    before = {j.id for j in await client.jobs()}
    definition = job(run_op("model", "true", args={"gpu": True}))
    definition["meta"] = {"system_requirements": {"vram_total_mb": 6144}}
    with pytest.raises(NodeError) as err:
        await client.submit(definition)
    assert err.value.status == 409
    assert str(err.value).startswith(
        "the job needs 1 GPU with at least 6 GiB VRAM; this node has no GPU ("
    )
    assert "Nothing was started." in str(err.value)
    assert {j.id for j in await client.jobs()} == before
    telemetry = await client.gpus()
    assert telemetry.gpus == [] and telemetry.source == "none"
    assert telemetry.access == "none" and telemetry.note
    info = await client.info()
    assert info.gpus == [] and info.gpu_access == "none" and info.gpu_note
