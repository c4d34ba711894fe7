"""Our agent speaks a Nosana node's protocol (reference nosana-network.md §2.1, §2.3, §4.3): the
``/flog`` and ``/log`` websockets, and ``node serve --auth nosana``, where a job's routes take
the signature of its poster instead of the token. On the real Docker engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from nosana_tui.api.models import OpStatus, TaskLog
from nosana_tui.auth.address import address_of
from nosana_tui.auth.signing import sign
from nosana_tui.client.node import NodeClient, NodeError, job_done, signed_by
from tests.dockerenv import REGISTRY_IMAGE
from tests.node.conftest import (
    AgentProcess,
    free_port,
    job,
    run_op,
    started_agent,
    system_log,
    wait_for,
)

pytestmark = pytest.mark.anyio

COUNT = 6


def counting(op_id: str = "count", pause: float = 0.4, count: int = COUNT) -> dict[str, Any]:
    """An op that prints ``<op> 1`` .. ``<op> COUNT``, one every PAUSE seconds."""
    script = f"for i in $(seq 1 {count}); do echo {op_id} $i; sleep {pause}; done"
    return run_op(op_id, ["sh", "-c", script])  # type: ignore[arg-type]  # an array cmd


async def _frames(url: str, handshake: dict[str, Any], limit: float = 30) -> list[dict[str, Any]]:
    """Every frame of a raw websocket, until the server closes it."""
    frames: list[dict[str, Any]] = []
    uri = "ws" + url.removeprefix("http") + "/"
    async with connect(uri, proxy=None) as ws:
        await ws.send(json.dumps(handshake))
        async with asyncio.timeout(limit):
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:
                    frames.append(json.loads(message))
    return frames


async def _close_of(url: str, handshake: Any) -> tuple[int, str]:
    uri = "ws" + url.removeprefix("http") + "/flog"
    async with connect(uri, proxy=None) as ws:
        await ws.send(handshake if isinstance(handshake, str) else json.dumps(handshake))
        async with asyncio.timeout(10):
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def _until_logged(client: NodeClient, job_id: str, text: str) -> None:
    async with asyncio.timeout(30):
        while True:
            lines = [e.text async for e in client.logs(job_id, "count") if not isinstance(e, int)]
            if text in lines:
                return
            await asyncio.sleep(0.1)


# --- /flog and /log -------------------------------------------------------------------------------


async def test_flog_sends_history_then_live_each_line_once_in_order(
    agent: AgentProcess, client: NodeClient
) -> None:
    view = await client.submit(job(counting()), name="flog")
    try:
        await _until_logged(client, view.id, "count 2")  # some lines are history by now
        frames = await _frames(
            agent.url,
            {"path": "/flog", "header": f"Bearer {agent.token}", "body": {"jobAddress": view.id}},
        )
        assert frames and all(set(f) == {"path", "data"} for f in frames)
        assert {f["path"] for f in frames} == {"flog"}
        assert all(isinstance(f["data"], str) for f in frames)  # a JSON string, as a node's
        logs = [TaskLog.model_validate_json(f["data"]) for f in frames]
        ops = [(t.message, t.type, t.group) for t in logs if t.op_id == "count"]
        assert ops == [(f"count {i}", "container", "count") for i in range(1, COUNT + 1)]
        stamps = [t.timestamp for t in logs]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        system = [t.message for t in logs if t.op_id == "system"]
        assert system == await system_log(client, view.id)  # every system line, in order
        assert {t.type for t in logs if t.op_id == "system"} == {"info"}
        assert job_done(await client.job(view.id))  # the socket closed: the job has ended
    finally:
        await client.remove(view.id)


async def test_the_client_reads_flog_of_one_op_and_log_of_the_node(
    agent: AgentProcess, client: NodeClient
) -> None:
    view = await client.submit(job(counting("a", 0.2, 3), counting("b", 0.2, 3)), name="two")
    try:
        a = [t async for t in client.flog(view.id, op="a")]
        assert [(t.op_id, t.message) for t in a] == [("a", f"a {i}") for i in range(1, 4)]
        await wait_for(client, view.id, job_done)
        events = [e async for e in client.node_log(view.id)]  # the job has ended: history only
        assert [e.log for e in events] == await system_log(client, view.id)
        assert all(e.job == view.id and e.type == "info" for e in events)
        assert any("starting container" in e.log for e in events)
        info = [t async for t in client.flog(view.id, type="info")]
        assert info and {t.op_id for t in info} == {"system"}
    finally:
        await client.remove(view.id)


async def test_log_frames_are_node_log_entries(agent: AgentProcess, client: NodeClient) -> None:
    view = await client.submit(job(run_op("one", "true")), name="log")
    try:
        await wait_for(client, view.id, job_done)
        frames = await _frames(
            agent.url,
            {"path": "/log", "header": f"Bearer {agent.token}", "body": {"jobAddress": view.id}},
        )
        assert frames and {f["path"] for f in frames} == {"log"}
        data = json.loads(frames[0]["data"])
        assert set(data) >= {"log", "method", "type", "pending", "timestamp", "job"}
        assert data["job"] == view.id and data["log"].startswith(f"job {view.id} submitted")
    finally:
        await client.remove(view.id)


async def test_a_socket_ends_when_its_job_is_removed(agent: AgentProcess) -> None:
    async with agent.client() as client:
        view = await client.submit(job(run_op("long", "sleep 60")), name="removed")
        got: list[TaskLog] = []

        async def read() -> None:
            async for t in client.flog(view.id):
                got.append(t)

        reader = asyncio.create_task(read())
        await asyncio.sleep(1.0)
        assert not reader.done()
        await client.remove(view.id)
        await asyncio.wait_for(reader, 10)  # closed cleanly (1000): no error
        assert any(t.op_id == "system" for t in got)


async def test_log_sends_image_pull_progress(client: NodeClient) -> None:
    subprocess.run(["docker", "rmi", "-f", REGISTRY_IMAGE], capture_output=True, check=False)
    definition = job(run_op("pulled", "echo pulled"))
    definition["ops"][0]["args"]["image"] = REGISTRY_IMAGE
    view = await client.submit(definition, name="pull")
    try:
        events = [e async for e in client.node_log(view.id)]  # open from the start: live
        progress = [e for e in events if e.type == "multi-process-bar-update"]
        assert progress, [e.log for e in events]
        event = progress[0].payload["event"] if progress[0].payload else {}
        assert set(event) == {"id", "status", "progressDetail"}
        statuses = {e.payload["event"]["status"] for e in progress if e.payload}
        assert statuses & {"Downloading", "Pull complete", "Extracting", "Pulling fs layer"}
        logs = [e.log for e in events if e.type == "info"]
        assert any(f"pulled image {REGISTRY_IMAGE}" in t for t in logs)
    finally:
        await client.remove(view.id)


def test_sockets_end_when_the_agent_shuts_down(docker_engine: None, tmp_path: Path) -> None:
    with started_agent(tmp_path) as proc:

        async def submit() -> str:
            async with proc.client() as client:
                view = await client.submit(job(run_op("long", "sleep 60")), name="shutdown")
                # running, not starting: a restart would start it again, racing the removal
                await wait_for(client, view.id, lambda v: v.op("long").status is OpStatus.RUNNING)
                return view.id

        async def read_through_shutdown(job_id: str) -> list[TaskLog]:
            got: list[TaskLog] = []
            async with proc.client() as client:

                async def read() -> None:
                    async for t in client.flog(job_id):
                        got.append(t)

                reader = asyncio.create_task(read())
                await asyncio.sleep(1.0)
                assert not reader.done()
                await asyncio.to_thread(proc.stop)  # SIGTERM: the socket closes (1001)
                await asyncio.wait_for(reader, 10)  # and the reader ends without an error
            return got

        async def remove(job_id: str) -> None:
            # the agent re-adopts its jobs in the background after a start: a removal that
            # meets it may be answered 503 (the engine removes the container already); again
            async with proc.client() as client:
                async with asyncio.timeout(20):  # re-adopted first
                    while not any("re-adopting" in t for t in await system_log(client, job_id)):
                        await asyncio.sleep(0.1)
                for _ in range(20):
                    try:
                        await client.remove(job_id)
                        return
                    except NodeError as err:
                        if err.status != 503:
                            raise
                        await asyncio.sleep(0.5)

        job_id = asyncio.run(submit())
        assert asyncio.run(read_through_shutdown(job_id))
        proc.start()  # back, so that the job is removed
        asyncio.run(remove(job_id))


async def test_socket_refusals_use_the_nodes_close_codes(
    agent: AgentProcess, client: NodeClient
) -> None:
    view = await client.submit(job(run_op("one", "true")), name="refusals")
    try:
        bearer = f"Bearer {agent.token}"
        assert (await _close_of(agent.url, {"path": "/flog", "header": bearer, "body": {}}))[
            0
        ] == 1007
        code, reason = await _close_of(
            agent.url, {"path": "/flog", "header": bearer, "body": {"jobAddress": "nope"}}
        )
        assert code == 1007 and "Could not find job with id nope" in reason
        code, reason = await _close_of(
            agent.url, {"path": "/flog", "header": "Bearer wrong", "body": {"jobAddress": view.id}}
        )
        assert (code, reason) == (3000, "Unauthorized Request: token")
        code, reason = await _close_of(
            agent.url, {"path": "/status", "header": bearer, "body": {"jobAddress": view.id}}
        )
        assert (code, reason) == (3003, "Invalid Path")
        assert (await _close_of(agent.url, "not json"))[0] == 1011
        async with NodeClient(agent.url, "wrong") as stranger:
            with pytest.raises(NodeError) as refused:
                async for _ in stranger.flog(view.id):
                    pass
        assert refused.value.status == 401 and "Unauthorized Request" in str(refused.value)
    finally:
        await client.remove(view.id)


# --- --auth nosana --------------------------------------------------------------------------------


NosanaAgent = AgentProcess  # started with --auth nosana by nosana_agent()


@contextlib.contextmanager
def nosana_agent(root: Path) -> Iterator[NosanaAgent]:
    port = free_port()
    proc = AgentProcess(
        f"http://127.0.0.1:{port}", port, root / "config", root / "data", args=("--auth", "nosana")
    )
    proc.data_dir.mkdir(parents=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def keypair() -> tuple[bytes, str]:
    key = SigningKey.generate()
    return bytes(key) + bytes(key.verify_key), address_of(bytes(key.verify_key))


@pytest.fixture(scope="module")
def signed_agent(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NosanaAgent]:
    with nosana_agent(tmp_path_factory.mktemp("nosana-agent")) as proc:
        yield proc


@pytest.fixture
async def posted(signed_agent: NosanaAgent) -> AsyncIterator[tuple[NodeClient, str, bytes]]:
    """A job posted by a fresh key: (that poster's client, the job id, its secret key)."""
    secret, address = keypair()
    async with NodeClient(signed_agent.url, None, auth=signed_by(secret), poster=address) as c:
        view = await c.submit(job(counting("count", 0.2, 3)), name="signed")
        assert view.poster == address
        try:
            yield c, view.id, secret
        finally:
            await wait_for(c, view.id, job_done)
            await c.remove(view.id)


async def test_auth_nosana_takes_the_posters_signature(
    signed_agent: NosanaAgent, posted: tuple[NodeClient, str, bytes]
) -> None:
    client, job_id, _ = posted
    ops = (await client.http.get(f"/job/{job_id}/ops")).raise_for_status().json()
    assert set(ops) == {"count"}
    await wait_for(client, job_id, job_done)  # /job/{id}/info, signed
    lines = [t.message async for t in client.flog(job_id, op="count")]
    assert lines == ["count 1", "count 2", "count 3"]
    assert [e.log async for e in client.node_log(job_id)]
    async with httpx.AsyncClient(base_url=signed_agent.url, trust_env=False) as anyone:
        assert (await anyone.get("/")).status_code == 200  # public, as on a node
        assert (await anyone.get("/node/info")).status_code == 200


async def test_auth_nosana_refuses_others_with_the_reason(
    signed_agent: NosanaAgent, posted: tuple[NodeClient, str, bytes]
) -> None:
    _, job_id, secret = posted
    other, _ = keypair()
    good = sign("NosanaApiAuthentication", secret)
    message, _, stamp = good.split(":")
    forged = f"{message}:{sign('other', secret).split(':')[1]}:{stamp}"
    cases = {
        "another key": (sign("NosanaApiAuthentication", other), "wrong_key"),
        "a wrong signature": (forged, "wrong_key"),
        "an expired one": (
            sign("NosanaApiAuthentication", secret, now_ms=int(time.time() * 1000) - 400_000),
            "expired",
        ),
        "a malformed one": ("NosanaApiAuthentication", "malformed"),
        "no header": (None, "malformed"),
        "the bearer token": (f"Bearer {signed_agent.token}", "malformed"),
    }
    async with httpx.AsyncClient(base_url=signed_agent.url, trust_env=False) as http:
        for case, (header, reason) in cases.items():
            headers = {"authorization": header} if header else {}
            for method, path in (("GET", f"/job/{job_id}/ops"), ("POST", f"/job/{job_id}/stop")):
                response = await http.request(method, path, headers=headers)
                assert response.status_code == 401, (case, path, response.text)
                assert response.json()["reason"] == reason, (case, response.json())
            response = await http.delete(f"/api/jobs/{job_id}", headers=headers)
            assert response.status_code == 401, case
        response = await http.get(f"/job/{job_id}/ops", headers={"authorization": good})
        assert response.status_code == 200  # still there, unharmed
        # a submission names its poster and is signed by it
        definition = {"definition": job(run_op("x", "true"))}
        response = await http.post("/api/jobs", json=definition, headers={"authorization": good})
        assert response.status_code == 401 and response.json()["reason"] == "malformed"
        _, address = keypair()  # a poster that did not sign
        response = await http.post(
            "/api/jobs",
            json=definition,
            headers={"authorization": good, "x-nosana-poster": address},
        )
        assert response.status_code == 401 and response.json()["reason"] == "wrong_key"
    async with NodeClient(signed_agent.url, None, auth=signed_by(other)) as stranger:
        with pytest.raises(NodeError) as refused:
            async for _ in stranger.flog(job_id):
                pass
        assert refused.value.status == 401 and "wrong_key" in str(refused.value)
        with pytest.raises(NodeError) as refused:
            await stranger.job(job_id)
        assert refused.value.status == 401 and "[wrong_key]" in str(refused.value)
    async with NodeClient(signed_agent.url, signed_agent.token) as operator:
        with pytest.raises(NodeError) as refused:
            await operator.job(job_id)
        assert refused.value.status == 401
        assert [j.id for j in await operator.jobs()] == [job_id]  # the job list: the token


async def test_the_poster_is_kept_across_a_restart(
    signed_agent: NosanaAgent, posted: tuple[NodeClient, str, bytes]
) -> None:
    client, job_id, _ = posted
    await wait_for(client, job_id, job_done)
    await asyncio.to_thread(signed_agent.stop)
    await asyncio.to_thread(signed_agent.start)
    assert (await client.job(job_id)).poster == client.poster
    assert [t.message async for t in client.flog(job_id, op="count")] == [
        "count 1",
        "count 2",
        "count 3",
    ]
