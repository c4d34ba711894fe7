"""Issue 13, finding 7: "2 of about 20 submissions stayed 'submitted' for ever with no error".

A cause, found and fixed: every engine call of the agent ran in one pool of ``ENGINE_THREADS``
threads, and so did image pulls, which the SDK reads with no timeout. A pull from a registry that
stops answering (the engine waits on it for ever: a ``docker pull`` of such an image was still
waiting after 60 s) held its thread for ever; slow pulls of big images hold theirs for minutes.
With as many pulls as threads, a job submitted next waited for a thread for its first engine call
(its network), so it stayed "running" with every op pending, its system log ending at "job ...
submitted", with no error. A pull now reads its stream in a thread of its own, as log, event and
stats streams do.

The tests use a registry (in this process) that answers the engine's ``/v2/`` ping and holds
every other request open. The backend's: pulls from it stall while the loop's pool has one
thread; an engine call must still be answered. The agent's: one job whose ops pull more images
from it than the agent has threads, then an echo job, which must end. Before the fix both
failed: the call waited, the job stayed "submitted" (job running, its op pending, its system log
ending with "job ... submitted (after-stall)")."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from nosana_tui.api.models import JobStatus
from nosana_tui.backends.docker import DockerBackend
from nosana_tui.client.node import NodeClient, job_done
from nosana_tui.engine.backend import BackendError
from nosana_tui.node.agent import ENGINE_THREADS
from tests.dockerenv import IMAGE
from tests.node.conftest import job, run_op, system_log

PULLS = ENGINE_THREADS + 4  # every thread of the pool, and some waiting for one
BOUND = 60  # seconds for the echo job to end (it takes a few on a busy two-core machine)

TLS_HANDSHAKE = b"\x16"
PING_ANSWER = (
    b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
)


class StalledRegistry:
    """A registry on loopback that answers the engine's ping and then never answers again: what
    a registry (or a network path to one) that hangs looks like to the engine."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def held(self) -> int:
        """Requests held open (each one a pull waiting)."""
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk or chunk.startswith(TLS_HANDSHAKE):
                    break  # (the engine tries TLS first: refused at once, it asks over HTTP)
                data += chunk
            path = data.split(b"\r\n", 1)[0].split(b" ")[1:2]
            if path in ([b"/v2/"], [b"/v2"]):
                conn.sendall(PING_ANSWER)
            else:
                with self._lock:
                    if not self._closed:
                        self._held.append(conn)  # held open: never answered
                        return
        conn.close()

    def close(self) -> None:
        """Refuse new requests, then drop those held: the engine's pulls fail."""
        with self._lock:
            self._closed = True
            held, self._held = self._held, []
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def stalled_registry() -> Iterator[StalledRegistry]:
    registry = StalledRegistry()
    try:
        yield registry
    finally:
        registry.close()


async def _until_held(registry: StalledRegistry, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while registry.held < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {registry.held} of {count} pulls reached the registry")
        await asyncio.sleep(0.2)


def test_a_stalled_pull_holds_no_thread_of_the_pool(
    docker_engine: None, stalled_registry: StalledRegistry
) -> None:
    async def main() -> None:
        # one thread stands for all of them: the pool a stalled pull would hold
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
        backend = DockerBackend(agent_id="stalled-pulls-test")
        image = f"127.0.0.1:{stalled_registry.port}/stalled"
        pulls = [
            asyncio.create_task(backend.pull(f"{image}-{i}:latest", lambda progress: None))
            for i in range(2)
        ]
        try:
            await _until_held(stalled_registry, 1, BOUND)
            try:
                assert await asyncio.wait_for(backend.has_image(IMAGE), BOUND / 2)
            except TimeoutError:
                raise AssertionError(
                    f"issue 13 finding 7: an engine call waited {BOUND / 2:g} s for a thread "
                    "held by a stalled pull"
                ) from None
        finally:
            stalled_registry.close()  # the pulls fail now
            failed = await asyncio.gather(*pulls, return_exceptions=True)
            await backend.close()
        assert all(isinstance(f, BackendError) for f in failed), failed

    asyncio.run(main())


@pytest.mark.anyio
async def test_a_job_runs_while_more_pulls_than_engine_threads_stall(
    client: NodeClient, stalled_registry: StalledRegistry
) -> None:
    image = f"127.0.0.1:{stalled_registry.port}/stalled"
    stalled = job(
        *(
            run_op(f"pull-{i}", "true", "pulls", args={"image": f"{image}-{i}:latest"})
            for i in range(PULLS)
        )
    )
    ids: list[str] = []
    try:
        ids.append((await client.submit(stalled, name="stalled-pulls")).id)
        # every thread of the pool is now held by a pull (or, fixed, every pull has its own)
        await _until_held(stalled_registry, ENGINE_THREADS, BOUND)
        echo = await client.submit(job(run_op("hello", "echo hello", "g")), name="after-stall")
        ids.append(echo.id)
        try:
            view = await asyncio.wait_for(client.wait(echo.id, job_done), BOUND)
        except TimeoutError:
            view = await client.job(echo.id)
            lines = await system_log(client, echo.id)
            raise AssertionError(
                f"issue 13 finding 7: after {BOUND} s the job is {view.status.value} (ops: "
                f"{', '.join(f'{o.id} {o.status.value}' for o in view.ops)}); its system log "
                f"ends with {lines[-1] if lines else None!r}"
            ) from None
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        lines = await system_log(client, echo.id)
        assert any("stage g starts" in line for line in lines), lines
    finally:
        stalled_registry.close()  # the pulls fail: every thread is free again
        if ids:
            with contextlib.suppress(TimeoutError):  # (removed all the same)
                await asyncio.wait_for(client.wait(ids[0], job_done), BOUND)
        for job_id in ids:
            await client.remove(job_id)
