"""The agent under the faults an operator meets in the first week, against real agent processes
and the real Docker engine: a second agent on the same data folder, a port already taken,
SIGTERM with clients streaming, kill -9 while ops start, ``docker restart`` behind the agent's
back, and waits (``run --wait done``, ``logs -f``) that must end.

Each test has its own agent (own port and folders) and removes what it made.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.client.node import NodeClient, job_done
from nosana_tui.config import EXIT_AGENT_ALREADY_RUNS
from tests.dockerenv import JOB_LABEL
from tests.node.conftest import (
    AgentProcess,
    free_port,
    job,
    op_log,
    run_op,
    started_agent,
    wait_for,
)

pytestmark = pytest.mark.anyio

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture
def proc(docker_engine: None, tmp_path: Path) -> Iterator[AgentProcess]:
    with started_agent(tmp_path) as agent:
        yield agent


def cli(agent: AgentProcess, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        env=agent.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def serve(agent: AgentProcess, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nosana_tui", "node", "serve", "--port", str(port)],
        env=agent.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def containers_of(job_id: str) -> list[dict[str, str]]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={JOB_LABEL}={job_id}", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def networks_of(job_id: str) -> list[str]:
    out = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label={JOB_LABEL}={job_id}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


async def test_a_second_agent_on_the_same_data_folder_says_which_runs_and_exits(
    proc: AgentProcess,
) -> None:
    """Two agents of one user would both supervise every job: the second one refuses."""
    second = serve(proc, free_port())
    _, err = second.communicate(timeout=30)
    assert second.returncode == EXIT_AGENT_ALREADY_RUNS, err
    assert proc.process is not None
    assert f"pid {proc.process.pid}" in err and proc.url in err, err
    assert "Traceback" not in err
    async with proc.client() as client:
        assert await client.alive()


async def test_an_agent_without_its_port_touches_no_job(proc: AgentProcess) -> None:
    """An agent that cannot bind its port must not resume (and so double-supervise) jobs."""
    async with proc.client() as client:
        view = await client.submit(job(run_op("server", "sleep 600")))
        await wait_for(client, view.id, lambda v: v.op("server").status is OpStatus.RUNNING)
    proc.stop(signal.SIGKILL)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", proc.port))
        squatter.listen()
        blocked = serve(proc, proc.port)
        _, err = blocked.communicate(timeout=30)
    assert blocked.returncode == 1, err
    assert f"cannot listen on 127.0.0.1:{proc.port}" in err, err
    proc.start()
    async with proc.client() as client:
        system: list[str] = []
        for _ in range(100):  # jobs are re-adopted in the background once the agent answers
            system = [
                e.text async for e in client.logs(view.id, "system") if not isinstance(e, int)
            ]
            if any("re-adopting" in line for line in system):
                break
            await asyncio.sleep(0.1)
        # re-adopted once: by the agent that got the port, not by the one that did not
        assert sum("re-adopting" in line for line in system) == 1, system
        assert (await client.job(view.id)).op("server").status is OpStatus.RUNNING


async def test_sigterm_with_clients_streaming_ends_promptly_and_jobs_run_on(
    proc: AgentProcess,
) -> None:
    """SIGTERM while `logs -f` and a job stream are attached: the agent tells them, exits within
    a few seconds, removes its own pid file, and the job's container keeps running."""
    async with proc.client() as client:
        view = await client.submit(job(run_op("ticker", TICKER)))
        await wait_for(client, view.id, lambda v: v.op("ticker").status is OpStatus.RUNNING)
    follower = subprocess.Popen(
        [sys.executable, "-m", "nosana_tui", "logs", view.id, "ticker", "-f"],
        env=proc.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher = NodeClient(proc.url, proc.token)
    watching = asyncio.create_task(watcher.wait(view.id, lambda v: False))
    await asyncio.sleep(1.5)  # both are attached and streaming
    assert proc.process is not None
    pid_file = proc.data_dir / f"agent-{proc.port}.pid"
    assert pid_file.exists()
    began = time.monotonic()
    proc.process.send_signal(signal.SIGTERM)
    proc.process.wait(20)
    took = time.monotonic() - began
    assert took < 8, f"the agent took {took:.1f} s to stop with clients attached"
    assert not pid_file.exists()
    out, _ = follower.communicate(timeout=20)  # `logs -f` ends too
    assert "tick 0" in out
    with pytest.raises(Exception):  # noqa: B017 - the stream ends: NodeError, whichever words
        await asyncio.wait_for(watching, 10)
    await watcher.close()
    running = [c for c in containers_of(view.id) if c["State"] == "running"]
    assert len(running) == 1, "the job runs on without its agent"
    proc.start()  # the fixture removes the job through it


async def test_kill_9_while_twenty_ops_start_loses_no_container(proc: AgentProcess) -> None:
    """Killed while ops are being created, the agent finds on restart every container it made
    (by label, not only by the ids it had saved) and starts the ops that never got one: no op
    "lost", no orphan, no duplicate."""
    ops = [run_op(f"op{i:02d}", "sleep 600", group="all") for i in range(20)]
    async with proc.client() as client:
        view = await client.submit(job(*ops))
    deadline = time.monotonic() + 60
    while not containers_of(view.id) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    proc.stop(signal.SIGKILL)  # some containers made, most ops still starting
    made_before_restart = len(containers_of(view.id))
    assert made_before_restart > 0
    proc.start()
    async with proc.client() as client:
        final = await wait_for(
            client,
            view.id,
            lambda v: all(o.status is OpStatus.RUNNING for o in v.ops),
            timeout=120,
        )
        assert final.status is JobStatus.RUNNING
    found = containers_of(view.id)
    assert len(found) == 20, [c["Names"] for c in found]
    assert all(c["State"] == "running" for c in found)
    assert {o.container_id for o in final.ops} == {c["ID"] for c in found} or all(
        any(o.container_id and o.container_id.startswith(c["ID"]) for c in found) for o in final.ops
    )


async def test_docker_restart_behind_the_agents_back_keeps_the_op_running(
    proc: AgentProcess,
) -> None:
    """`docker restart` sends die, then start: the op is restarted, not failed, and its logs
    go on."""
    async with proc.client() as client:
        view = await client.submit(job(run_op("ticker", TICKER)))
        running = await wait_for(
            client, view.id, lambda v: v.op("ticker").status is OpStatus.RUNNING
        )
        container = running.op("ticker").container_id
        assert container
        await asyncio.sleep(1)
        subprocess.run(["docker", "restart", "-t", "1", container], check=True, timeout=60)
        after = await wait_for(
            client,
            view.id,
            lambda v: v.op("ticker").restarts == 1 and v.op("ticker").status is OpStatus.RUNNING,
        )
        assert after.status is JobStatus.RUNNING
        before = len(await op_log(client, view.id, "ticker"))
        await asyncio.sleep(1.5)
        assert len(await op_log(client, view.id, "ticker")) > before, "logs go on after it"
        assert (await client.job(view.id)).op("ticker").status is OpStatus.RUNNING


async def test_run_wait_done_returns_when_a_job_fails_with_a_later_stage_pending(
    proc: AgentProcess, tmp_path: Path
) -> None:
    definition = job(
        run_op("server", "sleep 600", group="one"),
        run_op("broken", "exit 3", group="one"),
        run_op("later", "echo never", group="two"),
    )
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(definition))
    done = cli(proc, "run", str(path), "--wait", "done", timeout=60)
    assert done.returncode == 1, done.stderr
    assert "later: never started: the job failed (op broken failed" in done.stdout, done.stdout
    assert "still running so that you can look: server" in done.stderr, done.stderr
    async with proc.client() as client:
        (view,) = await client.jobs()
        assert view.status is JobStatus.FAILED
        assert view.op("later").status is OpStatus.STOPPED
        await client.stop_job(view.id)
        assert job_done(await wait_for(client, view.id, job_done))


async def test_logs_follow_ends_when_the_job_ends_and_when_it_is_removed(
    proc: AgentProcess,
) -> None:
    async with proc.client() as client:
        short = await client.submit(job(run_op("hello", "echo one; sleep 1; echo two")))
        ended = cli(proc, "logs", short.id, "-f", timeout=30)
        assert ended.returncode == 0, ended.stderr
        assert "hello | two" in ended.stdout
        await wait_for(client, short.id, job_done)

        long = await client.submit(job(run_op("ticker", TICKER)))
        await wait_for(client, long.id, lambda v: v.op("ticker").status is OpStatus.RUNNING)
        follower = subprocess.Popen(
            [sys.executable, "-m", "nosana_tui", "logs", long.id, "-f"],
            env=proc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(1)
        await client.remove(long.id)
        out, _ = follower.communicate(timeout=20)
        assert "ticker | tick 0" in out


async def test_a_finished_job_gives_its_network_back_and_can_restart(proc: AgentProcess) -> None:
    """Every finished job used to hold its bridge network until `rm`; 30 of them exhausted
    Docker's address pools."""
    async with proc.client() as client:
        view = await client.submit(job(run_op("hello", "echo hi", group="g")))
        await wait_for(client, view.id, job_done)
        deadline = time.monotonic() + 10
        while networks_of(view.id) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert networks_of(view.id) == []
        await client.restart_op(view.id, "g", "hello")
        again = await wait_for(
            client, view.id, lambda v: v.op("hello").restarts == 1 and job_done(v)
        )
        assert again.status is JobStatus.SUCCESS, again.op("hello")


def test_an_agent_that_cannot_start_is_explained_in_its_own_words(
    docker_engine: None, tmp_path: Path
) -> None:
    """The CLI starts an agent when none answers; if that agent exits, the CLI says why (its
    last words), not "see its log"."""
    port = free_port()
    agent = AgentProcess(f"http://127.0.0.1:{port}", port, tmp_path / "config", tmp_path / "data")
    with socket.socket() as squatter:  # takes the port and never answers HTTP
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = cli(agent, "ps", timeout=60)
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


async def test_a_stopped_op_is_neither_healthy_nor_reachable(proc: AgentProcess) -> None:
    serve_cmd = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
    check = {"type": "http", "path": "/", "method": "GET", "expected_status": 200}
    web = run_op(
        "web",
        serve_cmd,
        group="g",
        args={"expose": [{"port": 8080, "health_checks": [{**check, "continuous": True}]}]},
    )
    async with proc.client() as client:
        view = await client.submit(job(web))
        up = await wait_for(client, view.id, lambda v: v.op("web").ready)
        assert up.op("web").endpoints[0].url
        await client.stop_op(view.id, "g", "web")
        down = await wait_for(client, view.id, job_done)
        op = down.op("web")
        assert op.status is OpStatus.STOPPED and op.health.value == "none" and not op.ready
        assert [e.url for e in op.endpoints] == [None]
        assert down.status is JobStatus.STOPPED, "stopped by a person: not a success"


def test_an_agent_removes_only_its_own_pid_file(proc: AgentProcess) -> None:
    """An old agent that exits late must not delete the pid file of the agent after it."""
    pid_file = proc.data_dir / f"agent-{proc.port}.pid"
    assert proc.process is not None and pid_file.read_text() == str(proc.process.pid)
    pid_file.write_text("999999")  # as a newer agent would have written it
    proc.stop()
    assert pid_file.read_text() == "999999"
    pid_file.unlink()
    proc.start()  # the fixture removes the jobs through it


async def test_the_agents_files_are_its_owners_alone(proc: AgentProcess) -> None:
    """The database, its WAL and the agent's log held env values such as DB_PASSWORD in clear,
    readable by every user of the machine."""
    async with proc.client() as client:
        secret = run_op("s", "echo hi", args={"env": {"DB_PASSWORD": "hunter2"}})
        view = await client.submit(job(secret))
        await wait_for(client, view.id, job_done)
    assert proc.data_dir.stat().st_mode & 0o777 == 0o700
    files = [p for p in proc.data_dir.iterdir() if p.name != "agent-test.log"]
    assert {p.name for p in files} >= {"agent.sqlite3", "agent.sqlite3-wal", "agent.lock"}
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is {path.stat().st_mode:o}"
