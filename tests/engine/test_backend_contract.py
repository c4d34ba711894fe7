"""One contract, two engines: each test runs against the FakeBackend and the real DockerBackend.

Every test was written against Docker's real behaviour first; the fake
(tests/engine/fakebackend.py) copies it, so the unit tests of the engine that run on the fake
(tests/engine/test_runner_faults.py) test against what Docker does. The Docker half needs an
engine (tests/dockerenv.py sets one up) and is skipped only with NOSANA_TUI_SKIP_DOCKER=1.

The faults a test cannot ask of a real engine without disturbing others on it (dockerd going
away, refusals) are tested on the fake alone, at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from nosana_tui.backends.docker import NETWORK_PREFIX, NO_POOL_HINT
from nosana_tui.engine.backend import (
    EVENT_RECONNECT,
    LABEL_AGENT,
    LABEL_JOB,
    LABEL_OP,
    Backend,
    BackendError,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    LogLine,
    PortSpec,
)
from tests.dockerenv import IMAGE, ensure_docker, leftovers
from tests.engine.fakebackend import ENGINE_GONE, POOLS_EXHAUSTED, FakeBackend

pytestmark = pytest.mark.anyio

RUN = uuid.uuid4().hex[:8]  # in every name this module gives the engine, to find leftovers
MISSING_IMAGE = "nosana-tui-contract/missing:none"


@dataclass
class Engine:
    """A backend under test, the events it delivered, and the jobs made on it."""

    kind: str
    backend: Backend
    agent_id: str
    events: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    on_loop_thread: list[bool] = field(default_factory=list)  # per event: delivered on the loop's
    jobs: list[str] = field(default_factory=list)

    def job_id(self) -> str:
        job = f"contract-{RUN}-{len(self.jobs)}"
        self.jobs.append(job)
        return job

    def spec(self, job_id: str, op_id: str, script: str, **extra: object) -> ContainerSpec:
        return ContainerSpec(
            job_id=job_id,
            op_id=op_id,
            name=f"{job_id}-{op_id}",
            image=IMAGE,
            network=NETWORK_PREFIX + job_id,
            cmd=["sh", "-c", script],
            **extra,  # type: ignore[arg-type]
        )

    def actions(self, container_id: str) -> list[str]:
        return [action for cid, action, _ in list(self.events) if cid == container_id]

    def attrs(self, container_id: str, action: str) -> dict[str, str]:
        return next(a for cid, act, a in list(self.events) if cid == container_id and act == action)

    async def eventually(self, check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
        deadline = time.monotonic() + 15
        while True:
            result = check()
            if isinstance(result, Awaitable):
                result = await result
            if result:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.kind}: never happened: {what}")
            await asyncio.sleep(0.01)

    async def exited(self, container_id: str) -> ContainerState:
        async def check() -> bool:
            state = await self.backend.inspect(container_id)
            return state is not None and state.status == "exited"

        await self.eventually(check, f"{container_id[:12]} exited")
        state = await self.backend.inspect(container_id)
        assert state is not None
        return state

    async def docker_restart(self, container_id: str) -> None:
        """`docker restart` with no grace period, from outside the backend."""
        if isinstance(self.backend, FakeBackend):
            await self.backend.docker_restart(container_id, inspect_gap=False)
        else:
            await asyncio.to_thread(
                subprocess.run, ["docker", "restart", "-t", "0", container_id], check=True
            )


@pytest.fixture(scope="module")
def docker_leftovers() -> Iterator[None]:
    """After the Docker half of the module: nothing with this module's names is left."""
    ensure_docker()
    yield
    left = {kind: [n for n in names if RUN in n] for kind, names in leftovers().items()}
    assert not any(left.values()), f"left behind by the contract tests: {left}"


@pytest.fixture(params=["fake", "docker"])
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[Engine]:
    agent_id = f"contract-{RUN}"
    backend: Backend
    if request.param == "docker":
        request.getfixturevalue("docker_leftovers")
        from nosana_tui.backends.docker import DockerBackend

        backend = DockerBackend(agent_id=agent_id)
    else:
        backend = FakeBackend(agent_id=agent_id)
    engine = Engine(request.param, backend, agent_id)

    def sink(container_id: str, action: str, attrs: dict[str, str]) -> None:
        engine.on_loop_thread.append(threading.current_thread() is threading.main_thread())
        engine.events.append((container_id, action, attrs))

    cancel = backend.watch_events(sink)
    if request.param == "docker":
        await asyncio.sleep(0.2)  # the event stream connects in its thread
    try:
        yield engine
    finally:
        cancel()
        for job in engine.jobs:
            for state in await backend.containers(job):
                await backend.remove(state.id)
            await backend.remove_network(job)
            await backend.remove_volumes(job)
        await backend.close()


# --- containers -------------------------------------------------------------------------------


async def test_a_container_runs_by_its_spec_and_is_found_by_id_name_and_prefix(
    engine: Engine,
) -> None:
    """run() answers the running container with our labels; inspect finds it by id, name, or an
    id prefix (the runner inspects by name)."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 30"))
    assert state.status == "running" and state.running
    assert state.name == f"{job}-a"
    assert state.exit_code is None and state.restart_count == 0
    assert state.started_at is not None and state.started_at > 0
    assert state.labels == {LABEL_JOB: job, LABEL_OP: "a", LABEL_AGENT: engine.agent_id}
    for ref in (state.id, state.name, state.id[:12]):
        seen = await backend.inspect(ref)
        assert seen is not None and seen.id == state.id and seen.status == "running", ref


async def test_a_taken_name_is_a_conflict(engine: Engine) -> None:
    """A second run() with a name in use raises BackendError with Docker's 409 text; no second
    container is made."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    first = await backend.run(engine.spec(job, "a", "sleep 30"))
    with pytest.raises(BackendError, match=r"Conflict\. The container name .* already in use"):
        await backend.run(engine.spec(job, "a", "sleep 30"))
    assert [s.id for s in await backend.containers(job)] == [first.id]


async def test_an_ended_container_has_its_exit_code_and_a_die_event(engine: Engine) -> None:
    """After the process ends, inspect says exited with its code; the events create, start and
    die (with exitCode and our labels) reach the sink on a thread that is not the loop's."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "echo done; exit 3"))
    ended = await engine.exited(state.id)
    assert ended.exit_code == 3 and not ended.running
    # (no order between the two: Docker may stamp a quick process's end before its start)
    assert ended.finished_at is not None and ended.started_at is not None
    await engine.eventually(lambda: "die" in engine.actions(state.id), "a die event")
    assert engine.actions(state.id)[:3] == ["create", "start", "die"]
    die = engine.attrs(state.id, "die")
    assert die["exitCode"] == "3" and die[LABEL_JOB] == job and die[LABEL_OP] == "a"
    assert die["name"] == f"{job}-a"
    assert not any(engine.on_loop_thread)


async def test_logs_come_with_their_stream_names(engine: Engine) -> None:
    """follow_logs hands on batches of lines with stream names and engine timestamps; a stream
    opened with ``since`` starts at that time (to the millisecond: a float cannot carry the
    engine's nanoseconds, so callers ask from a little earlier and drop what they have)."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "echo out; echo err >&2; sleep 30"))
    lines: list[LogLine] = []
    follower = backend.follow_logs(state.id, None, lines.extend)
    await engine.eventually(lambda: len(lines) >= 2, "two lines")
    follower.cancel()
    assert sorted((ln.stream, ln.text) for ln in lines) == [("stderr", "err"), ("stdout", "out")]
    assert all(abs(ln.ts - time.time()) < 60 for ln in lines)
    err = next(ln for ln in lines if ln.stream == "stderr")
    since = err.ts - 0.001
    later: list[LogLine] = []
    follower = backend.follow_logs(state.id, since, later.extend)
    await engine.eventually(
        lambda: ("stderr", "err") in [(ln.stream, ln.text) for ln in later], "the line since"
    )
    follower.cancel()
    assert all(ln.ts >= since for ln in later)


async def test_finish_hands_on_every_line_once(engine: Engine) -> None:
    """finish() on a stream of an ended container hands on what was not handed on yet: every
    line exactly once, and says the read was complete."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "echo one; echo two; echo three >&2; exit 0"))
    await engine.exited(state.id)
    lines: list[LogLine] = []
    follower = backend.follow_logs(state.id, None, lines.extend)
    drained = await asyncio.to_thread(follower.finish, 10, 100)
    assert drained.complete and not drained.gap
    assert sorted((ln.stream, ln.text) for ln in lines) == [
        ("stderr", "three"),
        ("stdout", "one"),
        ("stdout", "two"),
    ]


async def test_containers_lists_a_jobs_containers_by_label(engine: Engine) -> None:
    """containers(job) lists that job's containers, ended ones too; containers() every job's."""
    backend, first, second = engine.backend, engine.job_id(), engine.job_id()
    await backend.ensure_network(first)
    await backend.ensure_network(second)
    runs = await backend.run(engine.spec(first, "a", "sleep 30"))
    ends = await backend.run(engine.spec(second, "b", "true"))
    await engine.exited(ends.id)
    assert [s.id for s in await backend.containers(first)] == [runs.id]
    assert [s.id for s in await backend.containers(second)] == [ends.id]
    assert {runs.id, ends.id} <= {s.id for s in await backend.containers()}


async def test_stop_then_remove_and_both_are_quiet_when_nothing_is_there(engine: Engine) -> None:
    """stop ends the container (busybox ignores SIGTERM as PID 1: killed, 137; events kill,
    die, stop); remove destroys it; stop, remove and inspect of a missing container are quiet."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 30"))
    await backend.stop(state.id, 0)
    stopped = await backend.inspect(state.id)
    assert stopped is not None and stopped.status == "exited" and stopped.exit_code == 137
    await backend.stop(state.id, 0)  # already stopped: nothing happens
    await engine.eventually(lambda: "stop" in engine.actions(state.id), "a stop event")
    assert engine.actions(state.id)[-4:] == ["kill", "kill", "die", "stop"]
    assert engine.attrs(state.id, "die")["exitCode"] == "137"
    await backend.remove(state.id)
    assert await backend.inspect(state.id) is None
    await engine.eventually(lambda: "destroy" in engine.actions(state.id), "a destroy event")
    await backend.remove(state.id)
    await backend.stop(state.id)
    assert await backend.containers(job) == []


async def test_removing_a_running_container_kills_it(engine: Engine) -> None:
    """remove of a running container (docker rm -f): events kill, die 137, destroy."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 30"))
    await backend.remove(state.id)
    assert await backend.inspect(state.id) is None
    await engine.eventually(lambda: "destroy" in engine.actions(state.id), "a destroy event")
    assert engine.actions(state.id)[-3:] == ["kill", "die", "destroy"]
    assert engine.attrs(state.id, "die")["exitCode"] == "137"


async def test_docker_restart_kills_and_starts_without_counting(engine: Engine) -> None:
    """`docker restart`: kill, die 137, stop, start, restart; it runs again; the restart count
    (restarts by policy) stays 0."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 30"))
    await engine.eventually(lambda: "start" in engine.actions(state.id), "the first start")
    await engine.docker_restart(state.id)
    await engine.eventually(lambda: "restart" in engine.actions(state.id), "a restart event")
    assert engine.actions(state.id) == [
        "create",
        "start",
        "kill",
        "kill",
        "die",
        "stop",
        "start",
        "restart",
    ]
    after = await backend.inspect(state.id)
    assert after is not None and after.status == "running" and after.restart_count == 0


async def test_a_restart_policy_restarts_and_counts(engine: Engine) -> None:
    """on-failure with one try: the command runs twice (die, start, die), the restart count is
    1, the last exit code stays, and the log holds both runs."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    spec = engine.spec(job, "a", "echo run; exit 3", restart_policy="on-failure", restart_tries=1)
    state = await backend.run(spec)

    async def done() -> bool:
        seen = await backend.inspect(state.id)
        return seen is not None and seen.status == "exited" and seen.restart_count == 1

    await engine.eventually(done, "the second run ended")
    ended = await backend.inspect(state.id)
    assert ended is not None and ended.exit_code == 3
    await engine.eventually(lambda: engine.actions(state.id).count("die") == 2, "two die events")
    assert engine.actions(state.id) == ["create", "start", "die", "start", "die"]
    lines: list[LogLine] = []
    await asyncio.to_thread(backend.follow_logs(state.id, None, lines.extend).finish, 10, 100)
    assert [ln.text for ln in lines] == ["run", "run"]


# --- images, ports, networks, volumes ---------------------------------------------------------


async def test_a_missing_image_is_not_found_and_makes_no_container(engine: Engine) -> None:
    """has_image knows busybox (with or without its tag) and not a missing image; run() with a
    missing image raises "not found" and leaves nothing."""
    backend, job = engine.backend, engine.job_id()
    assert await backend.has_image("busybox:latest") and await backend.has_image("busybox")
    assert not await backend.has_image(MISSING_IMAGE)
    await backend.ensure_network(job)
    spec = engine.spec(job, "a", "true")
    with pytest.raises(BackendError, match="not found"):
        await backend.run(dataclasses.replace(spec, image=MISSING_IMAGE))
    assert await backend.containers(job) == []


async def test_ports_are_published_on_loopback_and_a_taken_one_refuses(engine: Engine) -> None:
    """A port without a host port gets a free one; asking for a taken host port raises "port is
    already allocated" and leaves no container; an exited container publishes nothing."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 30", ports=(PortSpec(80),)))
    host_port = state.ports[80]
    assert host_port > 0
    with pytest.raises(BackendError, match="port is already allocated"):
        await backend.run(engine.spec(job, "b", "sleep 30", ports=(PortSpec(80, host_port),)))
    assert [s.id for s in await backend.containers(job)] == [state.id]
    await backend.stop(state.id, 0)
    stopped = await backend.inspect(state.id)
    assert stopped is not None and stopped.ports == {}


async def test_networks_are_idempotent_and_kept_while_a_container_runs(engine: Engine) -> None:
    """ensure_network twice gives one network; remove_network refuses while a container runs on
    it ("active endpoints"), works once it stopped, and again quietly; a container cannot start
    on a removed network."""
    backend, job = engine.backend, engine.job_id()
    name = await backend.ensure_network(job)
    assert name == NETWORK_PREFIX + job
    assert await backend.ensure_network(job) == name
    state = await backend.run(engine.spec(job, "a", "sleep 30"))
    with pytest.raises(BackendError, match="active endpoints"):
        await backend.remove_network(job)
    await backend.stop(state.id, 0)
    await backend.remove_network(job)
    await backend.remove_network(job)
    with pytest.raises(BackendError, match=f"network {name} not found"):
        await backend.run(engine.spec(job, "b", "true"))


async def test_volumes_are_kept_while_any_container_uses_them(engine: Engine) -> None:
    """create_volume twice gives one volume; remove_volumes refuses while a container uses it,
    even an exited one ("volume is in use"), and works, twice, once it is removed."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    volume = await backend.create_volume(job, "data")
    assert volume == f"{job}-data"
    assert await backend.create_volume(job, "data") == volume
    state = await backend.run(engine.spec(job, "a", "true", volumes=((volume, "/data"),)))
    await engine.exited(state.id)
    with pytest.raises(BackendError, match="volume is in use"):
        await backend.remove_volumes(job)
    await backend.remove(state.id)
    await backend.remove_volumes(job)
    await backend.remove_volumes(job)


# --- use of the machine, and commands in a container --------------------------------------------


async def test_stats_of_a_running_container_and_none_of_a_stopped_one(engine: Engine) -> None:
    """A sample with memory in use and a limit; a stream of samples until cancelled; None once the
    container has ended, or for one that does not exist."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 300"))
    sample = await backend.stats(state.id)
    assert sample is not None and sample.memory_usage > 0 and sample.memory_limit > 0
    assert sample.cpu_percent >= 0 and 0 < sample.memory_percent < 100
    samples: list[ContainerStats] = []
    cancel = backend.follow_stats(state.id, samples.append)
    try:
        await engine.eventually(lambda: len(samples) >= 2, "two samples")
    finally:
        cancel()
    await backend.stop(state.id, timeout=0)
    assert await backend.stats(state.id) is None
    assert await backend.stats("nosana-tui-contract-no-such-container") is None


async def test_exec_hands_on_output_and_the_exit_code(engine: Engine) -> None:
    """Without a TTY stdout and stderr apart, then "eof" and the exit code; with one, a terminal's
    line ends; a container that does not run refuses."""
    backend, job = engine.backend, engine.job_id()
    await backend.ensure_network(job)
    state = await backend.run(engine.spec(job, "a", "sleep 300"))
    loop = asyncio.get_running_loop()

    async def run(cmd: list[str], tty: bool) -> tuple[list[tuple[str, bytes]], int | None]:
        got: list[tuple[str, bytes]] = []
        ended = asyncio.Event()

        def sink(stream: str, data: bytes) -> None:
            loop.call_soon_threadsafe(got.append, (stream, data))
            if stream == "eof":
                loop.call_soon_threadsafe(ended.set)

        session = await backend.exec(state.id, cmd, sink, tty=tty)
        if not tty:
            await session.close_stdin()
        await asyncio.wait_for(ended.wait(), 15)
        code = await session.exit_code()
        session.close()
        return got, code

    got, code = await run(["sh", "-c", "echo out; exit 7"], tty=False)
    assert (got, code) == ([("stdout", b"out\n"), ("eof", b"")], 7)
    got, code = await run(["sh", "-c", "echo err >&2"], tty=False)
    assert (got, code) == ([("stderr", b"err\n"), ("eof", b"")], 0)
    got, code = await run(["echo", "hi"], tty=True)
    assert (got, code) == ([("stdout", b"hi\r\n"), ("eof", b"")], 0)
    await backend.stop(state.id, timeout=0)
    with pytest.raises(BackendError, match="is not running"):
        await backend.exec(state.id, ["sh"], lambda stream, data: None, tty=True)


# --- what only the fake can play ---------------------------------------------------------------


async def test_fake_engine_outage_refuses_calls_and_reports_its_return() -> None:
    """While the engine is down every call raises BackendError and events are lost; a container
    that died meanwhile is seen exited once it is back, and watchers are told "reconnect"."""
    fake = FakeBackend()
    events: list[tuple[str, str, dict[str, str]]] = []
    cancel = fake.watch_events(lambda cid, action, attrs: events.append((cid, action, attrs)))
    try:
        await fake.ensure_network("j")
        spec = ContainerSpec("j", "a", "j-a", IMAGE, NETWORK_PREFIX + "j", ["sleep", "30"])
        state = await fake.run(spec)
        lines: list[LogLine] = []
        follower = fake.follow_logs(state.id, None, lines.extend)
        fake.emit(state.id, ["before"])
        await fake.quiesce()
        fake.engine_down()
        for call in (fake.inspect(state.id), fake.ensure_network("k"), fake.containers()):
            with pytest.raises(BackendError) as refused:
                await call
            assert str(refused.value) == ENGINE_GONE
        with pytest.raises(BackendError, match=f"^start failed: {ENGINE_GONE}$"):
            await fake.run(dataclasses.replace(spec, name="j-b"))
        fake.emit(state.id, ["during"])
        fake.exit(state.id, 5)
        await fake.quiesce()
        assert [a for _, a, _ in events] == ["create", "start"]
        assert [ln.text for ln in lines] == ["before"]  # the stream ended with the engine
        fake.engine_up()
        await fake.quiesce()
        assert events[-1] == ("", EVENT_RECONNECT, {})
        seen = await fake.inspect(state.id)
        assert seen is not None and seen.status == "exited" and seen.exit_code == 5
        await asyncio.to_thread(follower.finish, 1, 100)
        assert [ln.text for ln in lines] == ["before", "during"]
    finally:
        cancel()
        await fake.close()


async def test_fake_refusals_and_slow_calls() -> None:
    """refuse_create makes run() fail as Docker's API errors do and creates nothing;
    refuse_network fails only a network that must be made; slow() holds a call in flight."""
    fake = FakeBackend()
    try:
        await fake.ensure_network("j")
        fake.refuse_network()
        with pytest.raises(BackendError) as refused:
            await fake.ensure_network("k")
        assert str(refused.value) == f"{NO_POOL_HINT} (the engine said: {POOLS_EXHAUSTED})"
        assert await fake.ensure_network("j") == NETWORK_PREFIX + "j"
        fake.refuse_create("Conflict. something else", times=1)
        spec = ContainerSpec("j", "a", "j-a", IMAGE, NETWORK_PREFIX + "j", ["true"])
        with pytest.raises(BackendError, match=r"^start failed: Conflict\. something else$"):
            await fake.run(spec)
        assert await fake.containers("j") == []
        fake.slow("run", 0.05)
        task = asyncio.create_task(fake.run(spec))
        await asyncio.sleep(0.01)
        assert fake.in_flight["run"] == 1 and fake.container_of("j", "a") is None
        state = await task
        assert state.status == "running"
        await fake.quiesce()  # `true` has run and ended
        ended = await fake.inspect(state.id)
        assert ended is not None and ended.status == "exited" and ended.exit_code == 0
    finally:
        await fake.close()


async def test_fake_docker_restart_shows_the_exit_until_someone_looks() -> None:
    """docker_restart(inspect_gap=True): after the die event the container is seen exited 137
    by the next inspect; only then does it start again."""
    fake = FakeBackend()
    seen: list[ContainerState | None] = []
    try:
        await fake.ensure_network("j")
        state = await fake.run(
            ContainerSpec("j", "a", "j-a", IMAGE, NETWORK_PREFIX + "j", ["sleep", "30"])
        )
        loop = asyncio.get_running_loop()

        looks: list[asyncio.Task[None]] = []

        async def look(cid: str) -> None:
            seen.append(await fake.inspect(cid))

        def sink(cid: str, action: str, attrs: dict[str, str]) -> None:
            if action == "die":  # on the engine's thread: look from the loop, as the agent does
                loop.call_soon_threadsafe(lambda: looks.append(loop.create_task(look(cid))))

        cancel = fake.watch_events(sink)
        await fake.docker_restart(state.id)
        await fake.quiesce()
        cancel()
        assert len(seen) == 1 and seen[0] is not None
        assert seen[0].status == "exited" and seen[0].exit_code == 137
        now = await fake.inspect(state.id)
        assert now is not None and now.status == "running"
    finally:
        await fake.close()


def test_fake_has_every_method_of_the_backend_protocol() -> None:
    """The fake offers each method of engine.backend.Backend, with the same parameters, so the
    protocol cannot grow without the fake (mypy does not check tests/)."""
    wanted = {n for n in vars(Backend) if not n.startswith("_") and callable(getattr(Backend, n))}
    for name in sorted(wanted):
        ours = getattr(FakeBackend, name, None)
        assert ours is not None, f"FakeBackend has no {name}"
        theirs = list(inspect.signature(getattr(Backend, name)).parameters)
        assert list(inspect.signature(ours).parameters) == theirs, name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(
            getattr(Backend, name)
        ), name
