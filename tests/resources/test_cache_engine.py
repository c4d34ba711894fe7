"""The engine's resource cache (``engine.resources``) over the fake backend and a fetcher that
writes files it is told to: the rules of the cache without a network or an engine (the same
rules run end to end in the other tests of this folder)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.engine.backend import LABEL_RESOURCE_OWNER, BackendError
from nosana_tui.engine.resources import (
    OWNER_FILE,
    AnyResource,
    FetchError,
    FetchProgress,
    ResourceCache,
    owner_of,
    without_credentials,
)
from nosana_tui.engine.threads import in_own_thread
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.secrets import MASK
from tests.engine.fakebackend import FakeBackend

pytestmark = pytest.mark.anyio


class FilesFetcher:
    """Serves ``files`` for any resource; ``fail`` makes the next fetch fail half-way (after
    writing a file), ``refuse`` makes ``authorize`` refuse."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fail: str | None = None
        self.refuse: str | None = None
        self.fetches = 0

    def identity(self, resource: AnyResource) -> dict[str, Any]:
        return {"what": resource.model_dump(exclude={"IAM", "accessToken", "allowWrite"})}

    def describe(self, resource: AnyResource) -> str:
        return f"{resource.type} thing"

    def authorize(self, resource: AnyResource) -> None:
        if self.refuse:
            raise FetchError(self.refuse)

    def fetch(
        self,
        resource: AnyResource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        self.fetches += 1
        total = sum(map(len, self.files.values()))
        done = 0
        for index, (name, data) in enumerate(self.files.items()):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
            if self.fail:
                why, self.fail = self.fail, None
                raise FetchError(why)
            done += len(data)
            progress(FetchProgress(done, total, index + 1, len(self.files)))


FILES = {"a.bin": b"x" * 1000, "dir/b.txt": b"hello\n"}


def s3(**extra: Any) -> m.S3Resource:
    return m.S3Resource.model_validate(
        {"type": "S3", "url": "s3://bucket/prefix", "target": "/data", **extra}
    )


async def provide(
    cache: ResourceCache, resource: AnyResource
) -> tuple[Any, list[str], tuple[str, str, bool]]:
    state = cache.state_of(resource)
    log: list[str] = []
    mount = await cache.provide(resource, state, log=log.append, changed=lambda: None)
    return state, log, mount


async def test_fetched_once_then_reused(tmp_path: Path) -> None:
    backend, fetcher = FakeBackend(), FilesFetcher(FILES)
    cache = ResourceCache(backend, fetcher, tmp_path / "downloads")
    state, log, mount = await provide(cache, s3())
    assert mount == (state.volume, "/data", True)
    assert (state.done, state.cached, state.bytes_done, state.files_done) == (True, False, 1006, 2)
    assert backend.cached[state.volume][1] == FILES
    assert log[0] == f"fetching S3 thing into volume {state.volume}"
    assert log[-1].startswith(f"fetched S3 thing into volume {state.volume}: 2/2 files")
    assert not any((tmp_path / "downloads").iterdir())  # the download folder is emptied

    again, log2, _ = await provide(cache, s3())
    assert fetcher.fetches == 1
    assert again.cached and again.volume == state.volume
    assert log2 == [
        f"reused cached volume {state.volume} (S3 thing: 2/2 files, 1006 B of 1006 B (100%))"
    ]


async def test_credentials_are_not_part_of_the_key_but_allow_write_is(tmp_path: Path) -> None:
    cache = ResourceCache(FakeBackend(), FilesFetcher(FILES), tmp_path)
    iam = {"REGION": "r", "ACCESS_KEY_ID": "id", "SECRET_ACCESS_KEY": "secret"}
    plain = cache.state_of(s3()).volume
    assert cache.state_of(s3(IAM=iam)).volume == plain
    assert cache.state_of(s3(allowWrite=True)).volume != plain
    assert "secret" not in str(cache.state_of(s3(IAM=iam)).model_dump())


async def test_a_failed_fetch_leaves_no_volume_and_no_download(tmp_path: Path) -> None:
    backend, fetcher = FakeBackend(), FilesFetcher(FILES)
    cache = ResourceCache(backend, fetcher, tmp_path / "downloads")
    fetcher.fail = "AccessDenied: no"
    with pytest.raises(BackendError, match=r"^S3 resource S3 thing: AccessDenied: no$"):
        await provide(cache, s3())
    assert backend.cached == {}
    assert not any((tmp_path / "downloads").iterdir())
    backend.fill_fails = "disk full"
    with pytest.raises(BackendError, match="disk full"):
        await provide(cache, s3())
    assert backend.cached == {} and not any((tmp_path / "downloads").iterdir())


async def test_a_volume_without_its_marker_is_fetched_again(tmp_path: Path) -> None:
    backend, fetcher = FakeBackend(), FilesFetcher(FILES)
    cache = ResourceCache(backend, fetcher, tmp_path)
    state, _, _ = await provide(cache, s3())
    backend.cached[state.volume] = (None, {"a.bin": b"x"})  # a fill that never ended
    again, log, _ = await provide(cache, s3())
    assert (
        f"volume {state.volume} was left half-filled (a fetch was interrupted): fetching again"
        in log
    )
    assert fetcher.fetches == 2 and not again.cached
    assert backend.cached[state.volume][1] == FILES


async def test_reuse_asks_the_service_first(tmp_path: Path) -> None:
    fetcher = FilesFetcher(FILES)
    cache = ResourceCache(FakeBackend(), fetcher, tmp_path)
    await provide(cache, s3())
    fetcher.refuse = "InvalidAccessKeyId: not ours"
    with pytest.raises(BackendError, match="InvalidAccessKeyId: not ours"):
        await provide(cache, s3())


async def test_credentials_lost_in_a_restart_are_named(tmp_path: Path) -> None:
    cache = ResourceCache(FakeBackend(), FilesFetcher(FILES), tmp_path)
    masked = {"REGION": "r", "ACCESS_KEY_ID": MASK, "SECRET_ACCESS_KEY": MASK}
    with pytest.raises(BackendError, match=r"keeps them in memory only.*submit the job again"):
        await provide(cache, s3(IAM=masked))


def test_without_credentials_masks_keys_and_tokens_only() -> None:
    job = {
        "ops": [
            {
                "args": {
                    "env": {"HF_TOKEN": "kept"},
                    "resources": [
                        {"type": "HF", "repo": "a/b", "target": "/m", "accessToken": "hf_x"},
                        {
                            "type": "S3",
                            "url": "s3://b",
                            "target": "/d",
                            "IAM": {"REGION": "eu", "ACCESS_KEY_ID": "K", "SECRET_ACCESS_KEY": "S"},
                        },
                    ],
                }
            }
        ]
    }
    out = without_credentials(job)
    resources = out["ops"][0]["args"]["resources"]
    assert resources[0]["accessToken"] == MASK
    assert resources[1]["IAM"] == {"REGION": "eu", "ACCESS_KEY_ID": MASK, "SECRET_ACCESS_KEY": MASK}
    assert out["ops"][0]["args"]["env"] == {"HF_TOKEN": "kept"}
    assert job["ops"][0]["args"]["resources"][0]["accessToken"] == "hf_x"  # a copy


async def test_prune_removes_old_volumes_not_in_use(tmp_path: Path) -> None:
    backend = FakeBackend()
    cache = ResourceCache(backend, FilesFetcher(FILES), tmp_path)
    old, _, _ = await provide(cache, s3())
    new, _, _ = await provide(cache, s3(url="s3://bucket/other"))
    marker, files = backend.cached[old.volume]
    assert marker is not None
    backend.cached[old.volume] = ({**marker, "last_used": time.time() - 7200}, files)
    pruned = await cache.prune(3600)
    assert [name for name, _ in pruned.removed] == [old.volume]
    assert pruned.removed[0][1] == "S3 thing" and pruned.kept == 1
    assert old.volume not in backend.volumes and new.volume in backend.volumes


def test_resources_take_literals_and_global_variables() -> None:
    from nosana_tui.engine.literals import LiteralContext
    from nosana_tui.engine.resources import resources_of, target_of

    job = m.JobDefinition.model_validate(
        {
            "version": "0.1",
            "type": "container",
            "global": {"variables": {"MODEL": "llama3.2:1b"}},
            "ops": [
                {
                    "type": "container/run",
                    "id": "serve",
                    "args": {
                        "image": "ollama/ollama",
                        "resources": [
                            {"type": "Ollama", "model": "%%global.variables.MODEL%%"},
                            {"type": "HF", "repo": "org/repo", "target": "/hf"},
                        ],
                    },
                }
            ],
        }
    )
    op = job.ops[0]
    assert isinstance(op, m.RunOperation)
    context = LiteralContext(
        job_id="j",
        node_host="127.0.0.1",
        variables={"MODEL": "llama3.2:1b"},
        hosts={},
        ports={},
        results={},
    )
    found = resources_of(job, op, context)
    assert isinstance(found[0], m.OllamaResource) and found[0].model == "llama3.2:1b"
    assert target_of(found[0]) == "/root/.ollama/models"
    assert isinstance(found[1], m.HFResource) and target_of(found[1]) == "/hf"


async def test_each_agent_prunes_only_the_volumes_it_made(tmp_path: Path) -> None:
    """Two agents on one engine share what they fetch, but neither prunes the other's volumes:
    each volume carries the id of the agent that made it."""
    backend = FakeBackend()
    mine = ResourceCache(backend, FilesFetcher(FILES), tmp_path / "a" / "downloads")
    theirs = ResourceCache(backend, FilesFetcher(FILES), tmp_path / "b" / "downloads")
    assert mine.owner != theirs.owner
    made, _, _ = await provide(mine, s3())
    shared, _, _ = await provide(theirs, s3())  # the same resource: reused, not fetched again
    assert shared.cached and shared.volume == made.volume
    other, _, _ = await provide(theirs, s3(url="s3://bucket/other"))
    assert backend.volumes[made.volume][LABEL_RESOURCE_OWNER] == mine.owner
    assert backend.volumes[other.volume][LABEL_RESOURCE_OWNER] == theirs.owner

    pruned = await mine.prune(0)
    assert [name for name, _ in pruned.removed] == [made.volume]
    assert (pruned.in_use, pruned.kept) == ([], 0)  # the other agent's volume is not counted
    assert other.volume in backend.volumes
    assert (await mine.prune(0)).removed == []  # nothing left of its own
    assert [name for name, _ in (await theirs.prune(0)).removed] == [other.volume]


def test_the_owner_id_is_kept_in_the_data_folder(tmp_path: Path) -> None:
    first = owner_of(tmp_path / "data")
    assert (tmp_path / "data" / OWNER_FILE).read_text() == first + "\n"
    assert owner_of(tmp_path / "data") == first  # the same agent after a restart
    assert owner_of(tmp_path / "elsewhere") != first
    cache = ResourceCache(FakeBackend(), FilesFetcher(FILES), tmp_path / "data" / "downloads")
    assert cache.owner == first


class StallingFetcher(FilesFetcher):
    """A download that takes as long as the test says (a service that stops answering)."""

    def __init__(self) -> None:
        super().__init__(FILES)
        self.started = threading.Event()
        self.release = threading.Event()

    def fetch(self, resource: Any, dest: Path, progress: Any, cancel: threading.Event) -> None:
        self.started.set()
        while not self.release.wait(0.05):
            if cancel.is_set():
                return
        super().fetch(resource, dest, progress, cancel)


async def test_a_stalled_download_holds_no_thread_of_the_engine_pool(tmp_path: Path) -> None:
    """Issue 13, finding 7: a long call in the loop's default pool starves the agent's short
    engine calls. With a pool of one thread, a download that stalls must leave it free."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    fetcher = StallingFetcher()
    cache = ResourceCache(FakeBackend(), fetcher, tmp_path / "downloads")
    fetching = asyncio.ensure_future(provide(cache, s3()))
    try:
        assert await asyncio.to_thread(fetcher.started.wait, 10)
        answer = await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5)
        assert answer == "free"  # the pool's one thread answered while the download stalls
    finally:
        fetcher.release.set()
    mount = await asyncio.wait_for(fetching, 10)
    assert mount is not None


@pytest.mark.parametrize(
    ("content", "told"),
    [
        (b"x,y=z\n", "is not an agent id"),
        (b"\xff\xfe\n", "cannot be read"),
        (None, "cannot be read"),  # a folder where the file would be
    ],
)
def test_an_owner_file_that_cannot_be_used_is_told(
    tmp_path: Path, content: bytes | None, told: str
) -> None:
    """Never a new id in its place (the volumes of the old one would be pruned by no agent):
    the agent does not start, naming the file and what to do."""
    path = tmp_path / OWNER_FILE
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(BackendError) as raised:
        owner_of(tmp_path)
    assert str(path) in str(raised.value) and told in str(raised.value)
    assert "remove the file" in str(raised.value)


async def test_volumes_of_no_agent_are_pruned_by_any(tmp_path: Path) -> None:
    """Volumes made before they carried their maker's id belong to no agent: any prunes them
    (none would otherwise); another agent's are left alone."""
    backend = FakeBackend()
    mine = ResourceCache(backend, FilesFetcher(FILES), tmp_path / "a" / "downloads")
    theirs = ResourceCache(backend, FilesFetcher(FILES), tmp_path / "b" / "downloads")
    other = await provide(theirs, s3(url="s3://bucket/theirs"))
    legacy = await provide(mine, s3(url="s3://bucket/legacy"))
    del backend.volumes[legacy[0].volume][LABEL_RESOURCE_OWNER]  # as an older agent made it
    pruned = await mine.prune(0)
    assert [name for name, _ in pruned.removed] == [legacy[0].volume]
    assert other[0].volume in backend.volumes


async def test_in_own_thread_hands_back_what_the_call_raised() -> None:
    def stop() -> None:
        next(iter([]))  # StopIteration: a future cannot hold it

    with pytest.raises(RuntimeError, match="StopIteration"):
        await asyncio.wait_for(in_own_thread(stop, "t"), 5)
    with pytest.raises(KeyError):
        await in_own_thread(lambda: {}["x"], "t")
    assert await in_own_thread(lambda: 42, "t") == 42
