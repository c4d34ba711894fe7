"""Hostile requests against a real agent: the token checked before a byte of the body is read,
bodies and names bounded (413, 422), numbers in a query range-checked (400, never 500), and the
engine failing answered 503."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nosana_tui.client.node import NodeClient, job_done
from nosana_tui.engine.backend import BackendError
from nosana_tui.node.app import MAX_BODY, create_app
from tests.node.conftest import AgentProcess, job, run_op, wait_for

MiB = 1024 * 1024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def raw_request(
    agent: AgentProcess, head: str, body: bytes = b""
) -> tuple[int, dict[str, str], Any]:
    """Send a request's head (and what there is of its body), then read the answer up to the
    agent hanging up: an agent that waited for the rest of the body would time out here."""
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    top, _, content = answer.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return int(status_line.split()[1]), headers, json.loads(content)


def test_the_token_is_checked_before_the_body_is_read(agent: AgentProcess) -> None:
    head = (
        f"POST /api/jobs HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        f"Content-Length: {100 * MiB}\n"
    )
    status, headers, answer = raw_request(agent, head)  # and not one byte of the 100 MB
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert answer == {
        "error": "a valid token is required (Authorization: Bearer <token>)",
        "diagnostics": [],
    }
    status, _, answer = raw_request(agent, head.replace("\n", "\nAuthorization: Bearer wrong\n", 1))
    assert status == 401


def test_unauthenticated_floods_leave_the_agent_as_small_as_it_was(agent: AgentProcess) -> None:
    assert agent.process is not None
    pid = agent.process.pid

    def flood() -> Iterator[bytes]:  # a valid JSON body of ~100 MB, never held here whole
        yield b'{"definition": {"padding": "'
        block = b"a" * MiB
        for _ in range(100):
            yield block
        yield b'"}}'

    before = rss_mib(pid)
    answers = []
    with httpx.Client(base_url=agent.url, timeout=60) as anon:
        for _ in range(4):
            try:
                response = anon.post(
                    "/api/jobs", content=flood(), headers={"Content-Type": "application/json"}
                )
                answers.append(response.status_code)
            except httpx.TransportError:
                answers.append(0)  # the agent answered 401 and hung up mid-body: fine
    after = rss_mib(pid)
    print(f"agent RSS {before:.0f} MiB before 4 x 100 MB unauthenticated bodies, {after:.0f} after")
    assert set(answers) <= {401, 0}, answers
    assert after - before < 100, f"RSS grew from {before:.0f} to {after:.0f} MiB"


def test_a_declared_body_over_the_limit_is_refused_unread(agent: AgentProcess) -> None:
    status, _, answer = raw_request(
        agent,
        f"POST /api/jobs HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {agent.token}\n"
        f"Content-Type: application/json\nContent-Length: {MAX_BODY + 1}\n",
    )
    assert status == 413
    assert answer["error"] == "the request body is over 4 MiB, the most this node reads"


def test_a_chunked_body_is_cut_at_the_limit(agent: AgentProcess) -> None:
    # MAX_BODY + 1 bytes in chunks, the last one unfinished: an agent that read on would wait
    body = b'{"definition": {"padding": "' + b"a" * (MAX_BODY + 1 - 30) + b'"}'
    assert len(body) == MAX_BODY + 1
    chunks = b"\r\n".join(
        b"%x\r\n%s" % (len(part), part)
        for part in (body[i : i + 65536] for i in range(0, len(body), 65536))
    )
    status, _, answer = raw_request(
        agent,
        f"POST /api/jobs HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {agent.token}\n"
        f"Content-Type: application/json\nTransfer-Encoding: chunked\n",
        chunks,
    )
    assert status == 413 and "over 4 MiB" in answer["error"]


@pytest.mark.anyio
async def test_names_over_the_limit_answer_422_naming_them(
    agent: AgentProcess, client: NodeClient
) -> None:
    before = len(await client.jobs())
    definition = job(run_op("a", "true"))
    long = "x" * 257
    for body, name in (
        ({"definition": definition, "name": long}, "name"),
        ({"definition": definition, "source": "s" * 4097}, "source"),
    ):
        response = await client.http.post("/api/jobs", json=body)
        assert response.status_code == 422
        assert response.json() == {
            "error": f"{name}: string should have at most {len(body[name]) - 1} characters",
            "diagnostics": [],
        }
    assert len(await client.jobs()) == before
    for method, path, name in (
        ("GET", f"/api/jobs/{long}", "job"),
        ("DELETE", f"/api/jobs/{long}", "job"),
        ("GET", f"/job/{long}/ops", "job"),
        ("GET", f"/job/abc/ops/{long}", "op"),
        ("POST", f"/job/abc/group/{long}/stop", "group"),
        ("POST", f"/job/abc/group/g/operation/{long}/restart", "op"),
    ):
        response = await client.http.request(method, path)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"] == f"{name}: string should have at most 256 characters"
    response = await client.http.get("/api/jobs/abc/logs", params={"op": long})
    assert (response.status_code, response.json()["error"]) == (
        400,
        "op: string should have at most 256 characters",
    )
    assert "Traceback" not in agent.log()


@pytest.mark.anyio
async def test_numbers_in_a_query_are_range_checked(
    agent: AgentProcess, client: NodeClient
) -> None:
    view = await client.submit(job(run_op("a", "echo one; echo two")))
    await wait_for(client, view.id, job_done)
    path = f"/api/jobs/{view.id}/logs"
    too_big = "input should be less than or equal to 9223372036854775807"
    negative = "input should be greater than or equal to 0"
    not_whole = "input should be a valid integer, unable to parse string as an integer"
    infinite = "input should be a finite number"
    for name, value, allowed in (
        ("tail", 2**63, too_big),
        ("tail", -1, negative),
        ("tail", "1e400", not_whole),
        ("tail", "nan", not_whole),
        ("after", 2**63, too_big),
        ("after", -1, negative),
        ("after", "nan", not_whole),
        ("since", "1e400", infinite),
        ("since", "nan", infinite),
        ("since", "-inf", infinite),
        ("since", -1, negative),
    ):
        response = await client.http.get(path, params={name: value})
        assert response.status_code == 400, (name, value, response.text)
        assert response.json() == {"error": f"{name}: {allowed}", "diagnostics": []}
    response = await client.http.get(path, params={"tail": 2**63 - 1, "after": 0, "since": 0})
    assert response.status_code == 200 and response.text.count("\n") >= 2
    response = await client.http.get(path, params={"format": "yaml"})
    assert response.status_code == 400
    assert response.json()["error"] == "format: input should be 'ndjson' or 'text'"
    assert "Traceback" not in agent.log()
    await client.remove(view.id)


@pytest.mark.anyio
async def test_unknown_routes_answer_in_the_error_shape(client: NodeClient) -> None:
    response = await client.http.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "diagnostics": []}


class EngineGone:
    """An agent whose engine went away: every call to it raises what DockerBackend raises."""

    node_id = "local-test"

    async def info(self) -> None:
        raise BackendError("Error while fetching server API version: Connection refused")


@pytest.mark.anyio
async def test_the_engine_failing_answers_503_with_its_message() -> None:
    app = create_app(EngineGone(), "t0ken", manage_lifecycle=False)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Bearer t0ken"}
    async with httpx.AsyncClient(transport=transport, base_url="http://a", headers=headers) as c:
        response = await c.get("/node/info")
    assert response.status_code == 503
    assert response.json() == {
        "error": "the container engine failed: "
        "Error while fetching server API version: Connection refused",
        "diagnostics": [],
    }
