"""The Backend's cached-volume calls, one contract on two engines: the FakeBackend and the real
DockerBackend (as ``tests/engine/test_backend_contract.py`` does for the rest)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import pytest

from nosana_tui.backends.docker import NETWORK_PREFIX
from nosana_tui.engine.backend import (
    LABEL_RESOURCE,
    LABEL_RESOURCE_OWNER,
    Backend,
    BackendError,
    ContainerSpec,
)
from tests.dockerenv import IMAGE, ensure_docker
from tests.engine.fakebackend import FakeBackend
from tests.resources.conftest import MARKER

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["fake", "docker"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    made: Backend
    if request.param == "docker":
        ensure_docker()
        from nosana_tui.backends.docker import DockerBackend

        made = DockerBackend(agent_id="volume-contract")
    else:
        made = FakeBackend(agent_id="volume-contract")
    yield made
    for volume in await made.cached_volumes():
        if "contract" in volume.name:
            await made.remove_cached_volume(volume.name)
    await made.close()


def source(tmp_path: Path) -> Path:
    folder = tmp_path / "download"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a" * 5000)
    (folder / "sub" / "b.txt").write_bytes(b"bee\n")
    return folder


def name() -> str:
    return f"nosana-tui-resource-contract-{uuid.uuid4().hex[:10]}"


LABELS = {LABEL_RESOURCE: "k" * 64, "nosana-tui.resource.kind": "S3"}


async def test_filled_volume_holds_the_files_and_its_marker(
    backend: Backend, tmp_path: Path
) -> None:
    volume = name()
    assert await backend.cached_volume(volume) is None
    await backend.fill_cached_volume(volume, LABELS, source(tmp_path), {"last_used": 1.0})
    found = await backend.cached_volume(volume)
    assert found is not None and found.marker == {"last_used": 1.0}
    assert found.labels[LABEL_RESOURCE] == "k" * 64 and not found.in_use
    assert volume in [v.name for v in await backend.cached_volumes()]
    await backend.mark_cached_volume(volume, {"last_used": 2.0})
    again = await backend.cached_volume(volume)
    assert again is not None and again.marker == {"last_used": 2.0}
    if isinstance(backend, FakeBackend):
        assert backend.cached[volume][1] == {"a.bin": b"a" * 5000, "sub/b.txt": b"bee\n"}
    else:  # as a container sees it: owned by root, the marker beside the files
        out = (
            docker.from_env()
            .containers.run(
                IMAGE,
                "sh -c 'cd /v && find . -type f | sort | xargs ls -ln && cat sub/b.txt'",
                volumes={volume: {"bind": "/v", "mode": "ro"}},
                remove=True,
            )
            .decode()
        )
        assert "./a.bin" in out and "./sub/b.txt" in out and f"./{MARKER}" in out
        assert all(
            " 0 " in line and line.split()[2:4] == ["0", "0"] for line in out.splitlines()[:3]
        )
        assert out.endswith("bee\n")
    assert await backend.remove_cached_volume(volume)
    assert await backend.cached_volume(volume) is None
    assert await backend.remove_cached_volume(volume)  # gone already: fine


async def test_a_volume_in_use_is_kept(backend: Backend, tmp_path: Path) -> None:
    volume = name()
    await backend.fill_cached_volume(volume, LABELS, source(tmp_path), {"last_used": 1.0})
    job = f"contract{uuid.uuid4().hex[:8]}"
    await backend.ensure_network(job)
    state = await backend.run(
        ContainerSpec(
            job_id=job,
            op_id="reader",
            name=f"{job}-reader",
            image=IMAGE,
            network=NETWORK_PREFIX + job,
            cmd=["sh", "-c", "cat /d/sub/b.txt"],
            resource_mounts=((volume, "/d", True),),
        )
    )
    try:
        found = await backend.cached_volume(volume)
        assert found is not None and found.in_use
        assert not await backend.remove_cached_volume(volume)
        assert await backend.cached_volume(volume) is not None
    finally:
        await backend.remove(state.id)
        await backend.remove_network(job)
    assert await backend.remove_cached_volume(volume)


async def test_a_fill_that_fails_leaves_no_volume(backend: Backend, tmp_path: Path) -> None:
    volume = name()
    with pytest.raises(BackendError):
        await backend.fill_cached_volume(volume, LABELS, tmp_path / "missing", {"x": 1})
    assert await backend.cached_volume(volume) is None


async def test_volumes_of_one_owner_are_listed_apart(backend: Backend, tmp_path: Path) -> None:
    ours, theirs, unlabelled = name(), name(), name()
    owner = f"contract-{uuid.uuid4().hex[:8]}"
    files = source(tmp_path)
    for volume, labels in [
        (ours, {**LABELS, LABEL_RESOURCE_OWNER: owner}),
        (theirs, {**LABELS, LABEL_RESOURCE_OWNER: "another"}),
        (unlabelled, LABELS),
    ]:
        await backend.fill_cached_volume(volume, labels, files, {"last_used": 1.0})
    found = {v.name for v in await backend.cached_volumes(owner=owner)}
    # its own, and those of no agent (made before volumes carried their maker's id; another
    # session's prune on this shared engine may have taken ours already), never another agent's
    assert ours in found and theirs not in found
    assert unlabelled in found or await backend.cached_volume(unlabelled) is None
    every = [v.name for v in await backend.cached_volumes()]
    assert {ours, theirs, unlabelled} <= set(every)
