"""The commands of the compose-like workflow, each a real ``python -m nosana_tui`` process against
a real agent on the real Docker engine (the set-ups of ``tests/node/test_cli_session.py``):
``run`` follows a job's states and logs and ends with its outcome; ``logs -f`` of several jobs;
``rm --finished``; ``node status`` and ``node stop``."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from tests.node.conftest import docker_engine, job, run_op
from tests.node.test_cli_session import (
    CliEnv,
    LineReader,
    _alive,
    docker_names,
    job_id_of,
    new_env,
    poll,
)

__all__ = ["docker_engine", "new_env"]  # the fixtures this module uses

FAILING = job(
    run_op("server", "echo serving; sleep 600", group="one"),
    run_op(
        "broken",
        "for i in $(seq 1 14); do echo line $i; sleep 0.01; done; "
        "printf '\\033]0;pwned\\007\\033[31mred\\033[0m\\n'; sleep 0.2; exit 3",
        group="one",
    ),
    run_op("later", "echo never", group="two"),
)


@pytest.fixture(scope="module")
def shared(new_env: Callable[..., CliEnv]) -> CliEnv:
    return new_env()


def write_job(tmp_path: Path, name: str, definition: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(definition))
    return str(path)


# --- run follows like `docker compose up` -----------------------------------------------------


def test_run_follows_states_and_logs_and_ends_with_the_outcome(
    shared: CliEnv, tmp_path: Path
) -> None:
    proc = shared.cli("run", "busybox-hello")
    assert proc.returncode == 0, shared.explain(proc)
    job_id = job_id_of(proc.stdout)
    try:
        out = proc.stdout.splitlines()
        assert "hello | Hello from nosana-tui!" in out, proc.stdout
        assert "hello | RESULT: 42" in out, proc.stdout
        assert "hello > finished (exit 0)" in out, proc.stdout
        ended = out.index(f"job {job_id} success")
        assert out.index("hello | RESULT: 42") < ended  # every line before the outcome
        assert out[ended + 1].split() == [
            "OP",
            "GROUP",
            "STATUS",
            "HEALTH",
            "EXIT",
            "RESTARTS",
            "ENDPOINTS",
        ]
        assert not any(" | " in line and line.startswith("hello  ") for line in out)
        assert "system |" not in proc.stdout  # the states say it in fewer words
    finally:
        shared.ok("rm", job_id)

    # a failure: the failing op's reason and last lines, exit code 1; no escape sequence of the
    # op's output reaches a stdout that is not a terminal
    proc = shared.cli("run", write_job(tmp_path, "fails.json", FAILING))
    assert proc.returncode == 1, shared.explain(proc)
    job_id = job_id_of(proc.stdout)
    try:
        out = proc.stdout.splitlines()
        assert "broken | line 14" in out and "server | serving" in out, proc.stdout
        assert "broken > failed: exited with code 3" in out, proc.stdout
        assert any(line.startswith("later  > stopped: never started") for line in out), out
        assert out.index("broken | line 14") < out.index(f"job {job_id} failed")
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
        assert "broken | red" in out, proc.stdout
        err = proc.stderr
        assert f"job {job_id} failed: op broken failed: exited with code 3" in err, err
        assert "op broken failed: exited with code 3" in err
        last = err[err.index("last 10 lines of broken:") :].splitlines()[1:11]
        assert [line.strip() for line in last][-1] == "| red", err
        assert "  | line 14" in err and "  | line 4" not in err, err
        assert "still running so that you can look: server" in err
    finally:
        shared.ok("rm", job_id)


def test_run_returns_when_the_job_is_stopped(shared: CliEnv) -> None:
    follower = shared.popen("run", "busybox-web")
    try:
        reader = LineReader(follower)
        job_id = reader.until("", 60).strip()
        assert re.fullmatch(r"[0-9a-f]{12}", job_id), reader.seen
        reader.until("web > running (healthy) http://127.0.0.1:", 60)
        shared.ok("stop", job_id)
        reader.until(f"job {job_id} stopped", 60)
        assert follower.wait(30) == 1
        assert follower.stderr is not None
        assert f"job {job_id} was stopped" in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)
        for stream in (follower.stdout, follower.stderr):
            if stream:
                stream.close()
        for view in json.loads(shared.ok("ps", "--json")):
            shared.ok("rm", view["id"])


def test_run_colours_its_prefixes_on_a_terminal(shared: CliEnv) -> None:
    main, other = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nosana_tui", "run", "busybox-hello"],
        env={**shared.env, "NO_COLOR": ""},
        stdin=subprocess.DEVNULL,
        stdout=other,
        stderr=subprocess.PIPE,
    )
    os.close(other)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([main], [], [], 0.2)[0]:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
        proc.wait(10)
        while select.select([main], [], [], 0.2)[0]:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    text = seen.decode(errors="replace")
    assert "\x1b[36mhello |\x1b[0m Hello from nosana-tui!" in text, text
    assert "\x1b[32mfinished (exit 0)\x1b[0m" in text, text
    job_id = re.search(r"[0-9a-f]{12}", text)
    assert job_id
    shared.ok("rm", job_id.group())


# --- logs -f of several jobs ------------------------------------------------------------------


def test_logs_follow_of_several_jobs_interleaves_them_prefixed(shared: CliEnv) -> None:
    ticker = "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done"
    a = job_id_of(shared.ok("run", "--detach", _file(shared, "a.json", ticker)))
    b = job_id_of(shared.ok("run", "--detach", _file(shared, "b.json", ticker)))
    try:
        proc = shared.cli("logs", a[:6], b[:6], "-f")  # ends when both jobs have ended
        assert proc.returncode == 0, shared.explain(proc)
        lines = [line for line in proc.stdout.splitlines() if "/main" in line]
        for job_id in (a, b):
            mine = [line for line in lines if line.startswith(f"{job_id[:8]}/main")]
            assert [line.split(" | ")[1] for line in mine] == [f"tick {i}" for i in range(1, 7)]
        firsts = [line[:8] for line in lines]
        assert firsts != sorted(firsts), lines  # interleaved, not one job after the other
        out = shared.ok("logs", a, b, "--tail", "1", "-t")  # the last line of each
        stamped = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
        assert re.fullmatch(rf"({stamped}({a[:8]}|{b[:8]})/\S+ +\| .*\n){{2}}", out), out
        # a second word that is neither an op of the first job nor a job: said so, exit 2
        proc = shared.cli("logs", a, "nosuchthing")
        assert proc.returncode == 2
        assert "has no op 'nosuchthing'" in proc.stderr
        assert "nor is there a job 'nosuchthing'" in proc.stderr
    finally:
        shared.ok("rm", a, b)


def _file(env: CliEnv, name: str, cmd: str) -> str:
    path = env.root / name
    path.write_text(json.dumps(job(run_op("main", cmd))))
    return str(path)


# --- rm --finished ----------------------------------------------------------------------------


def test_rm_finished_removes_the_ended_jobs_only(shared: CliEnv) -> None:
    done = job_id_of(shared.ok("run", _file(shared, "ok.json", "echo ok")))
    failed_proc = shared.cli("run", _file(shared, "bad.json", "exit 4"))
    assert failed_proc.returncode == 1
    failed = job_id_of(failed_proc.stdout)
    live = job_id_of(shared.ok("run", "--detach", _file(shared, "live.json", "sleep 120")))
    try:
        poll(shared, live, lambda v: v.op("main").status is OpStatus.RUNNING)
        out = shared.ok("rm", "--finished")
        assert sorted(out.splitlines()) == sorted(
            [f"Job {done} removed", f"Job {failed} removed"]
        ), out
        assert [j["id"] for j in json.loads(shared.ok("ps", "--json"))] == [live]
        assert docker_names(done) == {"containers": [], "networks": [], "volumes": []}
        proc = shared.cli("rm", "--finished")
        assert proc.returncode == 0 and "no finished jobs" in proc.stderr
        proc = shared.cli("rm")
        assert proc.returncode == 2 and "give --finished" in proc.stderr
    finally:
        shared.ok("rm", live)


# --- node status and node stop ----------------------------------------------------------------


def test_node_status_and_stop(new_env: Callable[..., CliEnv]) -> None:
    env = new_env()
    proc = env.cli("node", "status")
    assert proc.returncode == 3, env.explain(proc)
    assert proc.stdout == f"stopped   no node agent answers at {env.url}\n"
    status = json.loads(env.cli("node", "status", "--json").stdout)
    assert status == {"url": env.url, "running": False, "pid": None, "jobs": None}

    proc = env.cli("node", "serve", "--port", str(env.port), "--detach")
    assert proc.returncode == 0, env.explain(proc)
    pid = int(env.pid_file.read_text())
    job_id = job_id_of(env.ok("run", "--detach", _file(env, "s.json", "sleep 300")))
    poll(env, job_id, lambda v: v.op("main").status is OpStatus.RUNNING)

    out = env.ok("node", "status")
    assert out.splitlines()[:2] == [f"running   {env.url} (pid {pid})", "jobs      1 (1 running)"]
    status = json.loads(env.ok("node", "status", "--json"))
    assert status["running"] is True and status["pid"] == pid and status["jobs"] == 1
    assert status["log"] == str(env.data_dir / "agent.log")

    # stop: the agent exits and removes its pid file; its job's container runs on
    proc = env.cli("node", "stop")
    assert proc.returncode == 0, env.explain(proc)
    assert f"(pid {pid}) stopped; its jobs keep running" in proc.stderr
    assert not _alive(pid) and not env.pid_file.exists() and not env.answers()
    assert docker_names(job_id)["containers"] == [f"nosana-{job_id}-main"]
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", f"nosana-{job_id}-main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert running == "true"
    assert env.cli("node", "status").returncode == 3
    proc = env.cli("node", "stop")  # nothing to stop: said so, and still 0
    assert proc.returncode == 0 and "no node agent runs" in proc.stderr

    # the next command starts an agent, which adopts the job where it was
    view = env.view(job_id)
    assert view.status is JobStatus.RUNNING and view.op("main").status is OpStatus.RUNNING
    env.ok("rm", job_id)

    proc = env.cli("node", "stop", "--node", "http://192.0.2.10:5001")
    assert proc.returncode == 2 and "an agent on this machine" in proc.stderr


def test_node_stop_leaves_a_process_that_is_not_an_agent_alone(
    new_env: Callable[..., CliEnv],
) -> None:
    """A pid file left by a machine that went down, its id since taken by another program."""
    env = new_env()
    other = subprocess.Popen(["sleep", "60"])
    try:
        env.data_dir.mkdir(parents=True, exist_ok=True)
        env.pid_file.write_text(str(other.pid))
        proc = env.cli("node", "stop")
        assert proc.returncode == 0 and "no node agent runs" in proc.stderr
        assert other.poll() is None  # not signalled
        assert env.cli("node", "status").returncode == 3
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait(10)
        env.pid_file.unlink(missing_ok=True)
