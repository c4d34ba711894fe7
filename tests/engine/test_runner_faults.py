"""The job runner's rules and the faults of a real engine, as unit tests on the FakeBackend.

Each test drives a JobRunner through its public API over the fake engine (whose behaviour
tests/engine/test_backend_contract.py checks against Docker), with an in-memory recorder and
the agent's wiring of events to ops. ``settle()`` waits until the engine has nothing in flight
and the runner's own timer changes nothing more, and every test is bounded, so a hang fails it.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import httpx
import pytest

from nosana_tui.api.models import JobStatus, JobView, OpStatus, OpView
from nosana_tui.client.node import job_done
from nosana_tui.engine.backend import EVENT_RECONNECT, BackendError, ContainerSpec, LogLine
from nosana_tui.engine.runner import JobRunner, Timing, container_name
from nosana_tui.jobformat.model import JobDefinition
from tests.engine.fakebackend import POOLS_EXHAUSTED, FakeBackend

pytestmark = pytest.mark.anyio

BOUND = 2.0  # seconds a test may take before it counts as hung (each takes milliseconds)
FAST = Timing(
    startup_interval=0.01,
    startup_fast_for=1.0,
    startup_max_interval=0.05,
    continuous_interval=0.05,
    stop_timeout=0.05,
    restart_settle=0.01,
)
JOB = "job1"


class MemoryRecorder:
    """The Recorder protocol in memory, keeping every saved state (so a test can read what an
    op went through, not only where it ended)."""

    def __init__(self) -> None:
        self.job_saves: list[JobView] = []
        self.op_saves: dict[tuple[str, str], list[OpView]] = defaultdict(list)
        self.lines: dict[tuple[str, str], list[LogLine]] = defaultdict(list)
        self.flushes = 0

    def save_job(self, view: JobView) -> None:
        self.job_saves.append(view.model_copy(deep=True))

    def save_op(self, job_id: str, view: OpView) -> None:
        self.op_saves[(job_id, view.id)].append(view.model_copy(deep=True))

    def append_logs(self, job_id: str, op_id: str, lines: list[LogLine]) -> None:
        self.lines[(job_id, op_id)].extend(lines)

    def op_log_text(self, job_id: str, op_id: str) -> list[tuple[str, str]]:
        return [(ln.stream, ln.text) for ln in self.lines[(job_id, op_id)]]

    def flush(self) -> None:
        self.flushes += 1

    def last_log_ts(self, job_id: str, op_id: str) -> float | None:
        return max((ln.ts for ln in self.lines[(job_id, op_id)]), default=None)

    def lines_kept(self, job_id: str, op_id: str) -> int:
        return 25_000

    # --- for the tests ------------------------------------------------------------------------

    def texts(self, op_id: str, job_id: str = JOB) -> list[str]:
        return [ln.text for ln in self.lines[(job_id, op_id)]]

    def statuses(self, op_id: str, since: int = 0, job_id: str = JOB) -> list[OpStatus]:
        """The op's saved statuses (from its ``since``-th save on), repeats folded."""
        seen: list[OpStatus] = []
        for view in self.op_saves[(job_id, op_id)][since:]:
            if not seen or seen[-1] is not view.status:
                seen.append(view.status)
        return seen


class Node:
    """What the agent does around JobRunners: the backend's events go to the op that owns the
    container (hopping onto the loop, as the agent's sink does)."""

    def __init__(self) -> None:
        self.backend = FakeBackend(agent_id="unit")
        self.recorder = MemoryRecorder()
        self.http = httpx.AsyncClient(trust_env=False)
        self.runners: list[JobRunner] = []
        self.reconnects = 0
        self._cancel_events: Callable[[], None] | None = None

    async def __aenter__(self) -> Node:
        loop = asyncio.get_running_loop()

        def sink(container_id: str, action: str, attrs: dict[str, str]) -> None:
            loop.call_soon_threadsafe(self._on_event, container_id, action)

        self._cancel_events = self.backend.watch_events(sink)
        self.backend.count_threads()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for runner in self.runners:
            runner.detach()
        if self._cancel_events:
            self._cancel_events()
        await self.backend.close()
        await self.http.aclose()

    def _on_event(self, container_id: str, action: str) -> None:
        if action == EVENT_RECONNECT:
            self.reconnects += 1
            return
        for runner in self.runners:
            op = runner.containers.get(container_id)
            if op is not None:
                op.on_event(action)
                return

    def runner(self, definition: dict[str, Any], view: JobView | None = None) -> JobRunner:
        parsed = JobDefinition.model_validate(definition)
        view = view or JobRunner.new_view(JOB, parsed, "test", "test")
        runner = JobRunner(view, parsed, self.backend, self.recorder, self.http, FAST)
        self.runners.append(runner)
        return runner

    async def start(self, definition: dict[str, Any]) -> JobRunner:
        runner = self.runner(definition)
        runner.start()
        await self.settle()
        return runner

    async def settle(self) -> None:
        """Until nothing moves: the engine has nothing in flight, and waiting out the runner's
        own timer (a non-zero exit waits ``restart_settle`` for a start) changes nothing."""
        while True:
            await self.backend.quiesce()
            before = self._progress()
            await asyncio.sleep(FAST.restart_settle * 2)
            await self.backend.quiesce()
            if self._progress() == before:
                return

    def _progress(self) -> tuple[int, ...]:
        recorder = self.recorder
        return (
            len(self.backend.calls),
            len(self.backend.history),
            len(recorder.job_saves),
            sum(map(len, recorder.op_saves.values())),
            sum(map(len, recorder.lines.values())),
        )

    def container(self, op_id: str, job_id: str = JOB) -> str:
        found = self.backend.container_of(job_id, op_id)
        assert found is not None, f"op {op_id} has no container"
        return found.id

    def describe(self) -> str:
        return "; ".join(
            f"job {r.id} {r.view.status.value} ({r.view.message}): "
            + ", ".join(f"{o.id} {o.status.value} {o.message!r}" for o in r.view.ops)
            for r in self.runners
        )


def scenario(body: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The test: ``body`` on a fresh Node (and the test's other parameters), failed, not stuck,
    if it runs past BOUND."""

    async def test(**params: Any) -> None:
        async with Node() as node:
            try:
                await asyncio.wait_for(body(node, **params), BOUND)
            except TimeoutError:
                raise AssertionError(f"hung for {BOUND} s; {node.describe()}") from None

    signature = inspect.signature(body)  # what pytest reads: the parameters after ``node``
    test.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    test.__module__ = body.__module__
    return test


def job(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0.1", "type": "container", "ops": list(ops)}


def op(
    op_id: str, cmd: str, group: str | None = None, depends_on: list[str] | None = None
) -> dict[str, Any]:
    execution: dict[str, Any] = {}
    if group:
        execution["group"] = group
    if depends_on:
        execution["depends_on"] = depends_on
    found: dict[str, Any] = {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox:latest", "cmd": cmd},
    }
    if execution:
        found["execution"] = execution
    return found


def all_terminal(view: JobView) -> bool:
    return all(o.status.terminal for o in view.ops)


# --- rules that hold today (the harness proven) -----------------------------------------------


@scenario
async def test_stages_run_in_order(node: Node) -> None:
    """The second stage's op is created only after the first stage's op has ended; both finish
    and the job succeeds, with the op's output recorded."""
    runner = await node.start(job(op("a", "echo a-done", "g1"), op("b", "true", "g2")))
    view = runner.view
    assert view.status is JobStatus.SUCCESS, node.describe()
    assert [o.status for o in view.ops] == [OpStatus.FINISHED, OpStatus.FINISHED]
    history = node.backend.history
    assert history.index((container_name(JOB, "a"), "die")) < history.index(
        (container_name(JOB, "b"), "create")
    )
    assert node.recorder.texts("a") == ["a-done"]


@scenario
async def test_depends_on_starts_an_op_once_its_dependency_runs(node: Node) -> None:
    """In one stage, an op that depends on another is created only after that one has started
    (ready: running), even when the dependency is slow to start."""
    node.backend.slow("run", 0.05, target=container_name(JOB, "srv"))
    runner = await node.start(
        job(op("srv", "sleep 30", "g"), op("cli", "true", "g", depends_on=["srv"]))
    )
    history = node.backend.history
    assert history.index((container_name(JOB, "srv"), "start")) < history.index(
        (container_name(JOB, "cli"), "create")
    )
    assert runner.view.op("srv").status is OpStatus.RUNNING
    assert runner.view.op("cli").status is OpStatus.FINISHED


@scenario
async def test_a_dependency_that_fails_to_start_stops_its_dependent(node: Node) -> None:
    """An op whose dependency ends before it was ready never starts: it is stopped, naming the
    dependency."""
    node.backend.refuse_create("the engine says no", times=1)
    runner = await node.start(
        job(op("srv", "sleep 30", "g"), op("cli", "true", "g", depends_on=["srv"]))
    )
    cli = runner.view.op("cli")
    assert runner.view.op("srv").status is OpStatus.FAILED
    assert cli.status is OpStatus.STOPPED and "srv" in cli.message, cli.message
    assert node.backend.container_of(JOB, "cli") is None


@scenario
async def test_a_failed_op_stops_later_stages(node: Node) -> None:
    """An op that exits non-zero fails the job, and no later stage starts."""
    runner = await node.start(job(op("a", "exit 3", "g1"), op("b", "true", "g2")))
    a = runner.view.op("a")
    assert a.status is OpStatus.FAILED and a.exit_code == 3
    assert "exited with code 3" in a.message
    assert runner.view.status is JobStatus.FAILED
    assert node.backend.container_of(JOB, "b") is None


# --- rules of issue 10 --------------------------------------------------------------------------


@scenario
async def test_a_failure_ends_every_op_that_never_started(node: Node) -> None:
    """(a) When stage 1 fails, the pending stage-2 op ends STOPPED "never started", every op is
    terminal and job_done() is true (so `run --wait done` returns)."""
    runner = await node.start(job(op("a", "exit 3", "g1"), op("b", "true", "g2")))
    view = runner.view
    assert view.status is JobStatus.FAILED
    b = view.op("b")
    assert b.status is OpStatus.STOPPED, node.describe()
    assert "never started" in b.message
    assert all_terminal(view) and job_done(view), node.describe()


@scenario
async def test_docker_restart_of_a_running_op_keeps_it_running(node: Node) -> None:
    """(b) `docker restart` (die, seen exited 137, then start) leaves the op RUNNING, never
    FAILED, with the restart counted, and its output after the restart is recorded."""
    runner = await node.start(job(op("srv", "echo hello; sleep 30")))
    cid = node.container("srv")
    await node.backend.docker_restart(cid)
    await node.settle()
    node.backend.emit(cid, ["after the restart"])
    await node.settle()
    srv = runner.view.op("srv")
    assert srv.status is OpStatus.RUNNING, node.describe()
    assert srv.restarts == 1
    assert OpStatus.FAILED not in node.recorder.statuses("srv")
    assert node.recorder.texts("srv") == ["hello", "hello", "after the restart"]


@scenario
async def test_stop_during_an_inflight_restart_stays_stopped(node: Node) -> None:
    """(c) stop_op while restart_op waits on a slow create: the op ends STOPPED and stays so
    (no container of it runs), and the job does not end SUCCESS."""
    runner = await node.start(job(op("srv", "sleep 30")))
    node.backend.slow("run", 0.05)
    restart = asyncio.create_task(runner.restart_op("srv"))
    while node.backend.in_flight["run"] == 0:
        await asyncio.sleep(0.001)
    saves = len(node.recorder.op_saves[(JOB, "srv")])
    await runner.stop_op("srv")
    await restart
    await node.settle()
    srv = runner.view.op("srv")
    assert srv.status is OpStatus.STOPPED, node.describe()
    assert OpStatus.RUNNING not in node.recorder.statuses("srv", since=saves)
    container = node.backend.container_of(JOB, "srv")
    assert container is None or container.status != "running"
    assert runner.view.status is not JobStatus.SUCCESS


@scenario
async def test_remove_during_an_inflight_launch_leaves_no_container(node: Node) -> None:
    """rm while an op's container is being created (a restart, or a relaunch on resume): the
    container the launch makes after rm listed the job's containers is removed too, and rm
    does not fail on one both remove (seen on real Docker: a Created container left behind,
    and once 'removal already in progress')."""
    runner = await node.start(job(op("srv", "sleep 30")))
    node.backend.slow("run", 0.05)
    restart = asyncio.create_task(runner.restart_op("srv"))
    while node.backend.in_flight["run"] == 0:
        await asyncio.sleep(0.001)
    await runner.remove()
    await restart
    await node.settle()
    assert await node.backend.containers(JOB) == [], node.describe()


@scenario
async def test_a_refused_create_fails_the_op_with_the_engines_message(node: Node) -> None:
    """(d) run() refused ("Conflict ..."): the op FAILS with the engine's message, the job
    FAILS, and every op is terminal."""
    node.backend.refuse_create('Conflict. The container name "/x" is already in use')
    runner = await node.start(job(op("a", "true", "g1"), op("b", "true", "g2")))
    view = runner.view
    a = view.op("a")
    assert a.status is OpStatus.FAILED
    assert 'Conflict. The container name "/x" is already in use' in a.message
    assert view.status is JobStatus.FAILED
    assert all_terminal(view) and job_done(view), node.describe()


@scenario
async def test_no_free_network_fails_the_job_saying_what_to_do(node: Node) -> None:
    """(e) Docker has no free network: the job FAILS with a message that says so and what to do
    (remove finished jobs), every op is terminal, nothing hangs."""
    node.backend.refuse_network(POOLS_EXHAUSTED)
    runner = await node.start(job(op("a", "true", "g1"), op("b", "true", "g2")))
    view = runner.view
    assert view.status is JobStatus.FAILED
    assert "network" in view.message
    assert re.search(r"\brm\b|remove", view.message), view.message
    assert all_terminal(view) and job_done(view), node.describe()


@scenario
async def test_a_container_removed_behind_its_back_fails_the_op(node: Node) -> None:
    """(f) The op's container is removed by someone else: the op FAILS "container disappeared"
    and the job FAILS."""
    runner = await node.start(job(op("srv", "sleep 30")))
    node.backend.remove_behind_back(node.container("srv"))
    await node.settle()
    srv = runner.view.op("srv")
    assert srv.status is OpStatus.FAILED, node.describe()
    assert re.search(r"disappeared|removed|gone", srv.message), srv.message
    assert runner.view.status is JobStatus.FAILED


@scenario
async def test_an_exit_during_an_engine_outage_is_found_on_reconcile(node: Node) -> None:
    """(g) The op's container exits while the engine is down (its die event lost); once the
    engine is back (a "reconnect" event), reconcile() ends the op with its real exit code."""
    runner = await node.start(job(op("srv", "sleep 30")))
    cid = node.container("srv")
    node.backend.engine_down()
    node.backend.exit(cid, 5)
    await node.settle()
    node.backend.engine_up()
    await node.settle()
    assert node.reconnects == 1
    await runner.reconcile()
    await node.settle()
    srv = runner.view.op("srv")
    assert srv.status is OpStatus.FAILED and srv.exit_code == 5, node.describe()
    assert runner.view.status is JobStatus.FAILED


def killed_while_starting() -> JobView:
    """The saved view of a job whose agent was killed -9 while op "a" was starting."""
    parsed = JobDefinition.model_validate(job(op("a", "sleep 30", "g1")))
    view = JobRunner.new_view(JOB, parsed, "test", "test")
    view.current_group = "g1"
    view.op("a").status = OpStatus.STARTING
    assert view.op("a").container_id is None
    return view


@scenario
async def test_resume_adopts_a_container_made_before_the_kill(node: Node) -> None:
    """(h) resume() of an op saved STARTING without a container id, whose labelled container
    exists and runs: the container is adopted (op RUNNING with its id), no second one made."""
    view = killed_while_starting()
    network = await node.backend.ensure_network(JOB)
    made = await node.backend.run(
        ContainerSpec(
            JOB, "a", container_name(JOB, "a"), "busybox:latest", network, ["sleep", "30"]
        )
    )
    runner = node.runner(job(op("a", "sleep 30", "g1")), view)
    await runner.resume()
    await node.settle()
    a = runner.view.op("a")
    assert a.status is OpStatus.RUNNING, node.describe()
    assert a.container_id == made.id
    assert [s.id for s in await node.backend.containers(JOB)] == [made.id]


@scenario
async def test_resume_starts_again_an_op_that_never_got_a_container(node: Node) -> None:
    """(h) resume() of an op saved STARTING with no container at all starts it again."""
    runner = node.runner(job(op("a", "sleep 30", "g1")), killed_while_starting())
    await runner.resume()
    await node.settle()
    a = runner.view.op("a")
    assert a.status is OpStatus.RUNNING, node.describe()
    container = node.backend.container_of(JOB, "a")
    assert container is not None and container.status == "running"
    assert a.container_id == container.id


@pytest.mark.parametrize("cmd", ["true", "exit 1"])
@scenario
async def test_a_finished_job_releases_its_network(node: Node, cmd: str) -> None:
    """(i) Once the job has ended (succeeded or failed), the engine holds no network for it."""
    runner = await node.start(job(op("a", cmd)))
    assert runner.view.status.terminal, node.describe()
    assert node.backend.network_of(JOB) is None


@scenario
async def test_resume_keeps_what_an_op_printed_while_no_line_was_stored(node: Node) -> None:
    """(bench/soak.py) An op that printed only while the agent was down: re-adopted, all its
    lines are read from the start (they were read from "now", and lost)."""
    network = await node.backend.ensure_network(JOB)
    made = await node.backend.run(
        ContainerSpec(
            JOB, "a", container_name(JOB, "a"), "busybox:latest", network, ["sleep", "30"]
        )
    )
    node.backend.emit(made.id, ["one", "two"])
    parsed = JobDefinition.model_validate(job(op("a", "sleep 30", "g1")))
    view = JobRunner.new_view(JOB, parsed, "test", "test")
    view.current_group = "g1"
    view.op("a").status = OpStatus.RUNNING
    view.op("a").container_id = made.id
    runner = node.runner(job(op("a", "sleep 30", "g1")), view)
    await runner.resume()
    await node.settle()
    node.backend.emit(made.id, ["three"])
    await node.settle()
    assert [text for _, text in node.recorder.op_log_text(JOB, "a")] == ["one", "two", "three"]


@scenario
async def test_a_done_jobs_network_left_by_a_kill_is_released_on_resume(node: Node) -> None:
    """(bench/soak.py) Killed between a job's end and its network's removal, the agent gives
    the network back when it starts again."""
    await node.backend.ensure_network(JOB)
    parsed = JobDefinition.model_validate(job(op("a", "true")))
    view = JobRunner.new_view(JOB, parsed, "test", "test")
    view.status = JobStatus.SUCCESS
    view.op("a").status = OpStatus.FINISHED
    runner = node.runner(job(op("a", "true")), view)
    await runner.release_network()
    assert node.backend.network_of(JOB) is None


# --- found by review (helper-7): each failed on the first version of these fixes --------------


@scenario
async def test_restarting_the_last_running_op_does_not_end_the_job(node: Node) -> None:
    """Its stop for the restart is not its end: the job stays running throughout."""
    runner = await node.start(job(op("srv", "sleep 30")))
    saves = len(node.recorder.job_saves)
    await runner.restart_op("srv")
    await node.settle()
    assert [v.status for v in node.recorder.job_saves[saves:]] in ([], [JobStatus.RUNNING])
    assert runner.view.status is JobStatus.RUNNING, node.describe()
    assert runner.view.op("srv").status is OpStatus.RUNNING


@scenario
async def test_a_restart_during_a_stop_in_flight_runs_the_op(node: Node) -> None:
    """stop, then restart before the engine has stopped the container: the restart wins, and
    the stop's end does not fail the new launch."""
    runner = await node.start(job(op("srv", "sleep 30")))
    node.backend.slow("stop", 0.1)
    stopping = asyncio.create_task(runner.stop_op("srv"))
    await asyncio.sleep(0.02)
    await runner.restart_op("srv")
    await stopping
    await node.settle()
    assert runner.view.status is JobStatus.RUNNING, node.describe()
    assert runner.view.op("srv").status is OpStatus.RUNNING
    made = node.backend.container_of(JOB, "srv")
    assert (
        made is not None
        and made.status == "running"
        and made.id == runner.view.op("srv").container_id
    )


@scenario
async def test_restart_pressed_twice_runs_one_container(node: Node) -> None:
    runner = await node.start(job(op("srv", "sleep 30")))
    node.backend.slow("run", 0.05)
    first = asyncio.create_task(runner.restart_op("srv"))
    while node.backend.in_flight["run"] == 0:
        await asyncio.sleep(0.001)
    await asyncio.gather(first, runner.restart_op("srv"))
    await node.settle()
    assert runner.view.status is JobStatus.RUNNING, node.describe()
    assert runner.view.op("srv").status is OpStatus.RUNNING
    running = [s for s in await node.backend.containers(JOB) if s.running]
    assert [s.id for s in running] == [runner.view.op("srv").container_id]


@scenario
async def test_a_restart_after_a_failure_is_not_a_success_when_stages_never_ran(
    node: Node,
) -> None:
    runner = await node.start(job(op("a", "sleep 30", "g1"), op("b", "true", "g2")))
    node.backend.exit(node.container("a"), 3)
    await node.settle()
    await runner.restart_op("a")
    await node.settle()
    node.backend.exit(node.container("a"), 0)
    await node.settle()
    assert runner.view.status is JobStatus.STOPPED, node.describe()
    assert runner.view.op("b").message.startswith("never started")


@scenario
async def test_a_stop_the_engine_missed_is_done_when_it_is_back(node: Node) -> None:
    runner = await node.start(job(op("a", "sleep 30")))
    node.backend.engine_down()
    with pytest.raises(BackendError):
        await runner.stop_op("a")
    assert runner.view.op("a").status is OpStatus.STOPPING
    node.backend.engine_up()
    await node.settle()
    await runner.reconcile()
    await node.settle()
    assert runner.view.op("a").status is OpStatus.STOPPED, node.describe()
    made = node.backend.container_of(JOB, "a")
    assert made is not None and made.status == "exited"


@scenario
async def test_an_op_adopted_mid_stop_is_not_ready_and_its_dependents_wait(node: Node) -> None:
    definition = job(op("a", "sleep 30", "g1"), op("b", "true", "g1", depends_on=["a"]))
    network = await node.backend.ensure_network(JOB)
    made = await node.backend.run(
        ContainerSpec(
            JOB, "a", container_name(JOB, "a"), "busybox:latest", network, ["sleep", "30"]
        )
    )
    parsed = JobDefinition.model_validate(definition)
    view = JobRunner.new_view(JOB, parsed, "test", "test")
    view.current_group = "g1"
    view.op("a").status = OpStatus.STOPPING
    view.op("a").message = "stopped by user"
    view.op("a").ready = True
    view.op("a").container_id = made.id
    view.op("b").status = OpStatus.WAITING
    node.backend.slow("stop", 0.2)
    runner = node.runner(definition, view)
    await runner.resume()
    await asyncio.sleep(0.05)
    assert not runner.view.op("a").ready
    await node.settle()
    assert runner.view.op("a").status is OpStatus.STOPPED, node.describe()
    assert runner.view.op("b").status is OpStatus.STOPPED
    assert node.backend.container_of(JOB, "b") is None, "b never started"


# --- a person's stop is never a success (issue 13, finding 6): each failed before the fix -----


@scenario
async def test_a_timeout_during_a_persons_stop_leaves_the_job_stopped(node: Node) -> None:
    """The op's execution.timeout fires while a person's stop is still in flight (the engine
    takes its grace period): the stop stays the person's, and the job ends stopped. It ended
    'success', the op re-labelled with the timeout."""
    timed = op("a", "sleep 30", "g2")
    timed["execution"]["timeout"] = 0.2
    runner = await node.start(job(op("first", "true", "g1"), timed))
    node.backend.slow("stop", 0.4)
    await runner.stop_op("a")
    await node.settle()
    assert runner.view.op("a").status is OpStatus.STOPPED
    assert runner.view.op("a").message == "stopped by user"
    assert runner.view.status is JobStatus.STOPPED, node.describe()


@scenario
async def test_a_stop_between_a_restarts_stop_and_its_launch_leaves_the_job_stopped(
    node: Node,
) -> None:
    """restart, then stop: the restart's own stop has ended the op (its die event was handled
    while the engine was slow to answer the stop's inspect) and the person's stop arrives before
    the launch. The stop wins, and says so: the op ended 'restarting' and the job 'success'."""
    runner = await node.start(job(op("a", "sleep 30")))
    backend = node.backend
    real_stop, real_inspect = backend.stop, backend.inspect
    slow_next_inspect = [False]

    async def stop(container_id: str, timeout: float = 10) -> None:
        await real_stop(container_id, timeout)
        slow_next_inspect[0] = True  # the stop's own look at the container answers late

    async def inspect(container_id: str) -> Any:
        if slow_next_inspect[0]:
            slow_next_inspect[0] = False
            await asyncio.sleep(0.2)
        return await real_inspect(container_id)

    backend.stop, backend.inspect = stop, inspect  # type: ignore[method-assign]
    restarting = asyncio.create_task(runner.restart_op("a"))
    while runner.view.op("a").status is not OpStatus.STOPPED:
        await asyncio.sleep(0.005)
    assert runner.view.op("a").message == "restarting"  # the window this test is about
    await runner.stop_op("a")
    await restarting
    await node.settle()
    assert runner.view.op("a").status is OpStatus.STOPPED, node.describe()
    assert runner.view.op("a").message == "stopped by user"
    assert runner.view.status is JobStatus.STOPPED
    runs = [call for call in backend.calls if call[0] == "run"]
    assert len(runs) == 1, "the overruled restart made no container"


@scenario
async def test_an_unexpected_fault_before_the_first_stage_fails_the_job_saying_why(
    node: Node,
) -> None:
    """Issue 13 (finding 7, not reproduced; this is the one way found to get its symptom): a
    fault other than the engine's (an OSError of the host) as the job starts left it 'running'
    for ever, every op pending and nothing in its system log after "submitted"."""

    async def full_disk(job_id: str) -> str:
        raise OSError(28, "No space left on device")

    node.backend.ensure_network = full_disk  # type: ignore[method-assign]
    runner = await node.start(job(op("a", "true", "g1"), op("b", "true", "g2")))
    why = "the agent could not run the job: OSError: [Errno 28] No space left on device"
    assert runner.view.status is JobStatus.FAILED, node.describe()
    assert runner.view.message == why
    assert all(o.message == f"never started: the job failed ({why})" for o in runner.view.ops)
    assert f"job failed: {why}" in node.recorder.texts("system")
