"""The Docker backend when the engine fails under it, on an engine of the test's own
(tests/backends/second_engine.py): dockerd stopped and started again, no address pool left for
another network. The shared engine other suites use is never touched.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from nosana_tui.backends.docker import DockerBackend
from nosana_tui.engine.backend import EVENT_RECONNECT, BackendError, ContainerSpec, LogLine
from tests.backends.second_engine import SecondEngine
from tests.dockerenv import IMAGE

NO_POOL = (
    "Docker has no free address pool for another network: remove finished jobs "
    "(nosana-tui rm JOB) or add default-address-pools to /etc/docker/daemon.json"
)


@pytest.fixture
def engine() -> Iterator[SecondEngine]:
    second = SecondEngine()
    try:
        yield second
    finally:
        second.close()


@pytest.fixture
def one_network_engine() -> Iterator[SecondEngine]:
    second = SecondEngine(pool_networks=1)
    try:
        yield second
    finally:
        second.close()


def wait_for(what: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_no_address_pool_left_says_what_to_do(one_network_engine: SecondEngine) -> None:
    """The engine's pool holds one network: the second job's network is refused (HTTP 404 from
    Docker 20.10) with a BackendError that says what happened and what to do."""

    async def main() -> None:
        backend = DockerBackend(base_url=one_network_engine.url, agent_id="faults-test")
        try:
            await backend.ensure_network("pool-a")
            with pytest.raises(BackendError) as refused:
                await backend.ensure_network("pool-b")
            message = str(refused.value)
            assert message.startswith(NO_POOL), message
            assert "non-overlapping IPv4 address pool" in message  # the engine's own words
            assert await backend.ensure_network("pool-a") == "nosana-tui-pool-a"  # exists: fine
        finally:
            await backend.remove_network("pool-a")
            await backend.close()

    asyncio.run(main())


def test_engine_restart_events_reconnect_and_calls_in_between_say_why(
    engine: SecondEngine,
) -> None:
    """dockerd stops under a running op: every call raises BackendError "the Docker engine at …
    does not answer", info() too; the log follower ends quietly and finish() returns; once
    dockerd is back the event watcher says "reconnect" and goes on delivering events."""
    tag = secrets.token_hex(3)
    events: list[tuple[str, str]] = []
    reconnected = threading.Event()

    def sink(container_id: str, action: str, attrs: dict[str, str]) -> None:
        events.append((container_id, action))
        if action == EVENT_RECONNECT:
            reconnected.set()

    def spec(op: str, script: str) -> ContainerSpec:
        return ContainerSpec(
            job_id=f"restart-{tag}",
            op_id=op,
            name=f"restart-{tag}-{op}",
            image=IMAGE,
            network="bridge",
            cmd=["sh", "-c", script],
        )

    talker = spec(
        "talker",
        "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done",
    )

    async def main() -> None:
        backend = DockerBackend(base_url=engine.url, agent_id="faults-test")
        cancel = backend.watch_events(sink)
        try:
            state = await backend.run(talker)
            lines: list[LogLine] = []
            follower = backend.follow_logs(state.id, None, lines.extend)
            assert wait_for(lambda: len(lines) >= 3 and (state.id, "start") in events)

            engine.stop()
            away = re.escape(f"the Docker engine at {engine.url} does not answer: ")
            calls: dict[str, Callable[[], Awaitable[object]]] = {
                "info": backend.info,
                "inspect": lambda: backend.inspect(state.id),
                "containers": backend.containers,
                "stop": lambda: backend.stop(state.id, 1),
                "remove": lambda: backend.remove(state.id),
                "ensure_network": lambda: backend.ensure_network("pool-c"),
                "remove_network": lambda: backend.remove_network("pool-c"),
                "create_volume": lambda: backend.create_volume(f"restart-{tag}", "v"),
                "remove_volumes": lambda: backend.remove_volumes(f"restart-{tag}"),
                "has_image": lambda: backend.has_image(IMAGE),
                "images": backend.images,
                "pull": lambda: backend.pull(IMAGE, lambda progress: None),
                "run": lambda: backend.run(spec("late", "true")),
            }
            for name, call in calls.items():
                with pytest.raises(BackendError) as refused:
                    await call()
                assert re.search(away, str(refused.value)), (name, str(refused.value))

            # the follow stream broke with the engine: the follower ends, and finish() returns
            follower._threads[0].join(30)
            assert not follower._threads[0].is_alive()
            drained = await asyncio.to_thread(follower.finish, 5, 1000)
            assert not drained.complete  # what the engine had not sent yet could not be read
            texts = [line.text for line in lines]
            assert texts == [f"line {i}" for i in range(1, len(texts) + 1)]

            engine.start()
            assert await asyncio.to_thread(reconnected.wait, 60), events
            after = len(events)
            again = await backend.run(spec("again", "true"))
            assert wait_for(lambda: (again.id, "start") in events[after:]), events
            assert events.count(("", EVENT_RECONNECT)) == 1
        finally:
            cancel()
            await backend.close()

    asyncio.run(main())
