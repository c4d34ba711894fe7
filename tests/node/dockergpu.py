"""Running a ``gpu: true`` container through the real Docker backend, and an engine that
reports what a GPU-equipped or newer one would (shared by the GPU access and GPU-host tests)."""

from __future__ import annotations

import asyncio
import uuid

import docker
import pytest

from nosana_tui.backends.docker import DockerBackend
from nosana_tui.engine.backend import ContainerSpec
from tests.dockerenv import IMAGE


def run_container(
    backend: DockerBackend,
    script: str,
    env: dict[str, str],
    *,
    cmd: list[str] | None = None,
    image: str = IMAGE,
) -> str:
    """Run SCRIPT with sh (or CMD) in a ``gpu: true`` container of IMAGE; its output."""

    async def go() -> str:
        job_id = f"gputest{uuid.uuid4().hex[:8]}"
        network = await backend.ensure_network(job_id)
        state = None
        try:
            spec = ContainerSpec(
                job_id=job_id,
                op_id="g",
                name=f"nosana-{job_id}-g",
                image=image,
                network=network,
                cmd=cmd or ["sh", "-c", script],
                env=env,
                gpu=True,
            )
            state = await backend.run(spec)
            client = docker.from_env()
            try:
                client.api.wait(state.id, timeout=30)
                return bytes(client.api.logs(state.id)).decode()
            finally:
                client.close()
        finally:
            if state is not None:
                await backend.remove(state.id)
            await backend.remove_network(job_id)

    return asyncio.run(go())


def engine_with(backend: DockerBackend, monkeypatch: pytest.MonkeyPatch, **extra: object) -> None:
    """The real engine's ``info()``, with what a newer or GPU-equipped engine would add."""
    real_info = backend.client.info

    def info() -> dict[str, object]:
        return {**real_info(), **extra}

    monkeypatch.setattr(backend.client, "info", info)
