"""The README's session through the real command line, as a person types it.

Every command is a new ``python -m nosana_tui`` process with its own config and data folders and
``NOSANA_TUI_NODE`` on a free port. No agent runs at first: the first command that needs one
starts it in the background, as it would for a person. The finalisers remove every job and stop
that agent (SIGTERM to the pid in its pid file) even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import Health, JobStatus, JobView, OpStatus
from nosana_tui.client.node import NodeClient
from nosana_tui.config import Paths
from tests.node.conftest import agent_env, free_port

COMMAND_TIMEOUT = 120
JOB_ID = re.compile(r"[0-9a-f]{12}")


@dataclass
class CliEnv:
    """One person's set-up: config and data folders and the address of their local node."""

    root: Path
    port: int = field(default_factory=free_port)
    extra: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def paths(self) -> Paths:
        return Paths(self.root / "config", self.root / "data")

    @property
    def config_dir(self) -> Path:
        return self.paths.config_dir

    @property
    def data_dir(self) -> Path:
        return self.paths.data_dir

    @property
    def pid_file(self) -> Path:
        return self.paths.agent_pid_file(self.port)

    @property
    def env(self) -> dict[str, str]:
        return {**agent_env(self.config_dir, self.data_dir, self.url), **self.extra}

    def cli(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [sys.executable, "-m", "nosana_tui", *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise AssertionError(
                f"{' '.join(args)} did not end within {timeout} s\n--- stderr\n"
                f"{_text(err.stderr)}\n--- agent log\n{self.agent_log()}"
            ) from None

    def ok(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command that must succeed; its stdout."""
        proc = self.cli(*args, timeout=timeout)
        assert proc.returncode == 0, self.explain(proc)
        return proc.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "nosana_tui", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def view(self, job_id: str) -> JobView:
        return JobView.model_validate_json(self.ok("ps", job_id, "--json"))

    def agent_log(self) -> str:
        path = self.data_dir / "agent.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no agent log)"

    def explain(self, proc: subprocess.CompletedProcess[str]) -> str:
        return (
            f"{' '.join(map(str, proc.args[3:]))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n--- agent log\n"
            f"{self.agent_log()}"
        )

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    # --- clean-up -----------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every job this person's agent has, then stop the agent and wait for it."""
        if self.closed or not self.pid_file.exists():
            return
        self.closed = True
        try:
            asyncio.run(asyncio.wait_for(self._remove_jobs(), 60))
        finally:
            self._stop_agent()

    async def _remove_jobs(self) -> None:
        token = (self.config_dir / "token").read_text().strip()
        async with NodeClient(self.url, token) as client:
            for job in await client.jobs():
                await client.remove(job.id)

    def _stop_agent(self) -> None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (_alive(pid) or self.pid_file.exists()):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the agent (pid {pid}) did not exit within 30 s of SIGTERM")
        assert not self.pid_file.exists(), "the agent exited without removing its pid file"


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (not our child: the agent was started by a CLI process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie waits for a parent that is not us


@pytest.fixture(scope="module")
def new_env(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., CliEnv]]:
    """Make a fresh set-up (no agent yet); each is cleaned up when the module ends."""
    made: list[CliEnv] = []

    def make(**extra: str) -> CliEnv:
        env = CliEnv(tmp_path_factory.mktemp("cli"), extra=dict(extra))
        env.data_dir.mkdir(parents=True)
        made.append(env)
        return env

    yield make
    errors = []
    for env in made:
        try:
            env.close()
        except Exception as err:  # clean up the others, then fail
            errors.append(f"{env.url}: {err!r}")
    assert not errors, errors


@pytest.fixture
def fresh(new_env: Callable[..., CliEnv]) -> Iterator[CliEnv]:
    """A set-up of its own, its agent stopped when the test ends, pass or fail."""
    env = new_env()
    yield env
    env.close()


@pytest.fixture(scope="module")
def shared(new_env: Callable[..., CliEnv]) -> CliEnv:
    """One set-up for the smaller tests of this module; its agent starts on first use."""
    return new_env()


def job_id_of(stdout: str) -> str:
    first = stdout.splitlines()[0] if stdout else ""
    assert JOB_ID.fullmatch(first), f"the first line is not a job id: {stdout!r}"
    return first


class LineReader:
    """The lines of a process's stdout, read in a thread so that a test can wait with a limit."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self.lines.put(line)
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, needle: str, timeout: float) -> str:
        """The first line from here on that contains ``needle``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} did not appear within {timeout} s; saw {self.seen!r}")


def poll(
    env: CliEnv, job_id: str, until: Callable[[JobView], bool], timeout: float = 60
) -> JobView:
    deadline = time.monotonic() + timeout
    view = env.view(job_id)
    while not until(view):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the job is {view.model_dump_json(indent=1)}")
        time.sleep(0.25)
        view = env.view(job_id)
    return view


def docker_names(job_id: str) -> dict[str, list[str]]:
    """Containers (any state), networks and volumes that carry the job's label or its id."""
    found: dict[str, list[str]] = {}
    for kind, command, fmt in (
        ("containers", ["docker", "ps", "-a"], "{{.Names}}"),
        ("networks", ["docker", "network", "ls"], "{{.Name}}"),
        ("volumes", ["docker", "volume", "ls"], "{{.Name}}"),
    ):
        names: set[str] = set()
        for flt in (f"label=nosana-tui.job={job_id}", f"name={job_id}"):
            proc = subprocess.run(
                [*command, "--filter", flt, "--format", fmt],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            names.update(n for n in proc.stdout.split() if n)
        found[kind] = sorted(names)
    return found


# --- the README's session -------------------------------------------------------------------------


def test_readme_session(fresh: CliEnv) -> None:
    env = fresh
    assert not env.answers() and not env.pid_file.exists()

    # run: no agent answers, so one starts in the background; the job id comes first
    proc = env.cli("run", "busybox-pipeline", "--wait", "ready")
    assert proc.returncode == 0, env.explain(proc)
    assert "starting one in the background" in proc.stderr
    assert env.url in proc.stderr
    job_id = job_id_of(proc.stdout)
    assert env.pid_file.exists() and env.answers()
    assert int(env.pid_file.read_text())
    table = proc.stdout.splitlines()[1:]
    assert table[0].split() == ["OP", "GROUP", "STATUS", "HEALTH", "EXIT", "RESTARTS", "ENDPOINTS"]
    assert [r.split()[:6] for r in table[1:5]] == [
        ["data", "prepare", "finished", "-", "0", "0"],
        ["producer", "prepare", "finished", "-", "0", "0"],
        ["web", "serve", "running", "healthy", "-", "0"],
        ["client", "serve", "running", "-", "-", "0"],
    ], proc.stdout
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", table[3].split()[6]), proc.stdout
    short = job_id[:4]  # as the README types it: any unambiguous prefix

    # ps: the table, with the job and every op ready
    out = env.ok("ps")
    header, *rows = out.splitlines()
    assert header.split() == ["JOB", "NAME", "STATUS", "READY", "AGE", "ENDPOINTS"]
    row = next(r for r in rows if r.startswith(job_id))
    cells = row.split()
    assert cells[1:4] == ["busybox-pipeline", "running", "4/4"], row
    assert re.search(r"http://127\.0\.0\.1:\d+", row), row

    out = env.ok("ps", job_id[:6])  # a prefix is enough
    assert out.startswith(f"job {job_id}  busybox-pipeline  running")

    # ps JOB --json: the node's JobView
    data = json.loads(env.ok("ps", job_id, "--json"))
    view = JobView.model_validate(data)
    assert set(data) >= {"id", "name", "source", "status", "created_at", "groups", "ops"}
    assert view.id == job_id
    assert view.name == "busybox-pipeline"
    assert view.source == "template:busybox-pipeline"
    assert view.status is JobStatus.RUNNING
    assert view.groups == ["prepare", "serve"]
    assert view.current_group == "serve"
    assert [o.id for o in view.ops] == ["data", "producer", "web", "client"]
    assert {o.id: o.status for o in view.ops} == {
        "data": OpStatus.FINISHED,
        "producer": OpStatus.FINISHED,
        "web": OpStatus.RUNNING,
        "client": OpStatus.RUNNING,
    }
    assert view.ready_count == 4
    producer, web = view.op("producer"), view.op("web")
    assert producer.exit_code == 0
    assert producer.results["items"] == ["RESULT: 5 items written", "5"]
    assert web.ready and web.health is Health.HEALTHY
    assert web.restarts == 0
    assert [(e.port, e.status.value) for e in web.endpoints] == [(8080, "ONLINE")]
    web_url = web.endpoints[0].url
    assert web_url and web_url.startswith("http://127.0.0.1:")
    assert view.op("client").depends_on == ["web"]

    # logs -f of one op: follow until the client has fetched from web, then Ctrl-C it away
    follower = env.popen("logs", short, "client", "-f")
    try:
        reader = LineReader(follower)
        line = reader.until("GET http://web:8080", timeout=30)
        assert line == "[1] GET http://web:8080/items/item-1.txt\n", reader.seen
        reader.until("item 1 of 5, produced by", timeout=30)
        assert not any(" | " in seen for seen in reader.seen)  # one op: no op prefix
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(10)
        for stream in (follower.stdout, follower.stderr):
            if stream:
                stream.close()

    # stop one op
    out = env.ok("stop", short, "--op", "web")
    assert out.strip() == "Operation Stopped"
    web = env.view(job_id).op("web")
    assert web.status is OpStatus.STOPPED
    assert web.message == "stopped by user"
    assert not web.ready
    assert [e.status.value for e in web.endpoints] == ["OFFLINE"]

    # restart it: running again, counted, at the same URL
    out = env.ok("restart", short, "--op", "web")
    assert out.strip() == "Operation restarted"
    view = poll(
        env,
        job_id,
        lambda v: (
            v.op("web").status is OpStatus.RUNNING
            and v.op("web").restarts == 1
            and v.op("web").ready
        ),
    )
    assert view.op("web").endpoints[0].url == web_url
    assert view.op("web").health is Health.HEALTHY

    # logs --tail 5: the last five lines of all ops, each with its op
    out = env.ok("logs", short, "--tail", "5")
    lines = out.splitlines()
    assert len(lines) == 5, out
    ops = {o.id for o in view.ops} | {"system"}
    for line in lines:
        op_id, sep, _ = line.partition(" | ")
        assert sep and op_id in ops, line

    # rm: the job and everything it made are gone
    out = env.ok("rm", short)
    assert out == f"Job {job_id} removed\n"
    assert docker_names(job_id) == {"containers": [], "networks": [], "volumes": []}
    assert job_id not in env.ok("ps")
    assert json.loads(env.ok("ps", "--json")) == []

    # node info: the engine behind this node
    out = env.ok("node", "info")
    server = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert re.search(rf"^node\s+local-{env.port} at {re.escape(env.url)}", out, re.M), out
    assert re.search(rf"^engine\s+docker {re.escape(server)} \(", out, re.M), out
    assert re.search(r"^images\s+.*busybox:latest", out, re.M), out
    assert re.search(r"^jobs\s+0$", out, re.M), out
    info = json.loads(env.ok("node", "info", "--json"))
    assert info["engine"]["version"] == server
    assert info["jobs"] == 0


# --- invalid input, failures, waiting ------------------------------------------------------------

INVALID = """\
version: "0.1"
type: container
ops:
  - type: container/run
    id: server
    args: {image: busybox}
    execution: {group: app}
  - type: container/run
    id: client
    args: {image: busybox}
    execution:
      group: app
      depends_on: [servr]
"""


def test_run_of_an_invalid_file_starts_nothing(
    new_env: Callable[..., CliEnv], shared: CliEnv, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(INVALID)

    # no agent: none is started
    env = new_env()
    proc = env.cli("run", str(path))
    assert proc.returncode == 2, env.explain(proc)
    assert "ops[1].execution.depends_on[0]: no op has the id 'servr'" in proc.stderr
    assert "did you mean 'server'?" in proc.stderr
    assert "is not a valid job; nothing was started" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert not env.answers()
    assert not env.pid_file.exists()
    assert not (env.data_dir / "agent.log").exists()

    # an agent runs: it gets no job
    before = json.loads(shared.ok("ps", "--json"))
    proc = shared.cli("run", str(path), "--detach")
    assert proc.returncode == 2, shared.explain(proc)
    assert "no op has the id 'servr'" in proc.stderr
    assert json.loads(shared.ok("ps", "--json")) == before


def test_logs_of_an_unknown_job_exits_2(shared: CliEnv) -> None:
    proc = shared.cli("logs", "nosuchjob")
    assert proc.returncode == 2, shared.explain(proc)
    assert "no job 'nosuchjob'" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    for args in (["ps", "nosuchjob"], ["stop", "nosuchjob"], ["rm", "nosuchjob"]):
        proc = shared.cli(*args)
        assert proc.returncode == 2, shared.explain(proc)
        assert "no job 'nosuchjob'" in proc.stderr


def test_run_without_detach_waits_until_done(shared: CliEnv) -> None:
    proc = shared.cli("run", "busybox-hello")
    assert proc.returncode == 0, shared.explain(proc)
    job_id = job_id_of(proc.stdout)
    try:
        assert f"following job {job_id}" in proc.stderr
        assert re.search(r"^hello\s+hello\s+finished\s+-\s+0\s+0\s+-$", proc.stdout, re.M), (
            proc.stdout
        )
        view = shared.view(job_id)
        assert view.status is JobStatus.SUCCESS
        assert view.op("hello").results == {"answer": ["RESULT: 42", "42"]}
        out = shared.ok("logs", job_id, "hello")
        assert out.splitlines()[0] == "Hello from nosana-tui!"
        assert "RESULT: 42" in out.splitlines()

        proc = shared.cli("logs", job_id, "nosuchop")
        assert proc.returncode == 2, shared.explain(proc)
        assert "has no op 'nosuchop'" in proc.stderr
    finally:
        shared.ok("rm", job_id)
    assert docker_names(job_id) == {"containers": [], "networks": [], "volumes": []}


def test_a_failing_job_makes_run_wait_done_exit_1(shared: CliEnv, tmp_path: Path) -> None:
    path = tmp_path / "fails.json"
    definition: dict[str, Any] = {
        "version": "0.1",
        "type": "container",
        "ops": [
            {
                "type": "container/run",
                "id": "doomed",
                "args": {"image": "busybox:latest", "cmd": "echo about to fail; exit 3"},
            }
        ],
    }
    path.write_text(json.dumps(definition))
    proc = shared.cli("run", str(path), "--wait", "done")
    assert proc.returncode == 1, shared.explain(proc)
    job_id = job_id_of(proc.stdout)
    try:
        assert f"job {job_id} failed" in proc.stderr
        assert "exited with code 3" in proc.stderr
        assert re.search(r"^doomed\s+doomed\s+failed\s+-\s+3\s", proc.stdout, re.M), proc.stdout
        view = shared.view(job_id)
        assert view.status is JobStatus.FAILED
        assert view.name == "fails.json"
        assert view.op("doomed").exit_code == 3
        assert view.op("doomed").status is OpStatus.FAILED
        assert "about to fail" in shared.ok("logs", job_id, "doomed")
    finally:
        shared.ok("rm", job_id)


def test_a_proxy_in_the_environment_is_not_used_for_the_local_node(
    new_env: Callable[..., CliEnv],
) -> None:
    """A person behind a proxy (HTTP_PROXY set, no NO_PROXY): the CLI still reaches the agent on
    127.0.0.1 and the agent's health checks of 127.0.0.1 still pass."""
    dead = f"http://127.0.0.1:{free_port()}"  # a proxy that answers nothing
    env = new_env(
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        NO_PROXY="",  # nothing that would hide the problem
        no_proxy="",
    )
    proc = env.cli("run", "busybox-web", "--wait", "ready", timeout=45)
    assert proc.returncode == 0, env.explain(proc)
    job_id = job_id_of(proc.stdout)
    try:
        web = env.view(job_id).op("web")
        assert web.ready and web.health is Health.HEALTHY
    finally:
        env.ok("rm", job_id)
    env.close()
