"""Hugging Face resources on the real agent and Docker engine, downloaded by ``huggingface_hub``
from the hub stand-in (``hubstandin``: why there is no real server, it says) through
``HF_ENDPOINT``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from nosana_tui.backends.huggingface import HubFetcher
from nosana_tui.engine.resources import FetchError
from nosana_tui.jobformat.model import HFResource
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    checksum_op,
    endpoints,
    failed_with,
    made,
    resource_agent,
    run_job,
    sha256,
    sums,
)
from tests.resources.hubstandin import Hub, Repo

pytestmark = pytest.mark.anyio

TOKEN = "hf_privateTokenNeverShown123"
BIG = os.urandom(2 << 20)
# written to disk in 10 MiB pieces by huggingface_hub, arriving at 10 MiB/s: progress is seen
SLOW = os.urandom(32 << 20)
PUBLIC = {
    "config.json": b'{"model_type": "tiny"}\n',
    "model.safetensors": os.urandom(3 << 20),
    "tokenizer/tokenizer.json": b'{"version": "1.0"}\n',
}


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with Hub() as server:
        server.repos["tiny/model"] = Repo(dict(PUBLIC))
        server.repos["tiny/private"] = Repo({"secret.txt": b"private bytes\n"}, token=TOKEN)
        server.repos["tiny/broken"] = Repo({"big.bin": os.urandom(1 << 20)})
        server.repos["tiny/interrupted"] = Repo({"big.bin": BIG})
        server.repos["tiny/slow"] = Repo({"slow.bin": SLOW}, slow={"slow.bin"})
        yield server


@pytest.fixture(scope="module")
def hf_agent(
    hub: Hub, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("hf-agent"), endpoints(hf=hub.url)) as proc:
        yield proc


def hf(repo: str, **extra: Any) -> dict[str, Any]:
    return {"type": "HF", "repo": repo, "target": "/hf", **extra}


async def test_repository_arrives_and_is_reused(hf_agent: AgentProcess, hub: Hub) -> None:
    definition = job(checksum_op("/hf", resources=[hf("tiny/model")]))
    async with hf_agent.client() as client:
        first = await run_job(client, definition)
        assert first.status is JobStatus.SUCCESS, first.model_dump_json(indent=1)
        out = await op_log(client, first.id, "read")
        assert sums(out) == {name: sha256(data) for name, data in PUBLIC.items()}
        assert "READ-ONLY" in out
        fetch = first.ops[0].fetch[0]
        total = sum(map(len, PUBLIC.values()))
        assert (fetch.bytes_done, fetch.bytes_total, fetch.files_done, fetch.files_total) == (
            total,
            total,
            3,
            3,
        )
        log = "\n".join(await system_log(client, first.id))
        assert f"fetching HF tiny/model into volume {fetch.volume}" in log

        second = await run_job(client, definition)
        assert second.status is JobStatus.SUCCESS
        assert sums(await op_log(client, second.id, "read")) == sums(out)
        assert f"reused cached volume {fetch.volume}" in "\n".join(
            await system_log(client, second.id)
        )


async def test_files_and_revision_choose_what_is_fetched(hf_agent: AgentProcess, hub: Hub) -> None:
    commit = hub.repos["tiny/model"].commit
    resource = hf("tiny/model", revision=commit, files=["config.json", "tokenizer/*"])
    async with hf_agent.client() as client:
        view = await run_job(client, job(checksum_op("/hf", resources=[resource])))
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "read")) == {
            "config.json": sha256(PUBLIC["config.json"]),
            "tokenizer/tokenizer.json": sha256(PUBLIC["tokenizer/tokenizer.json"]),
        }


async def test_private_repository_with_its_token_and_no_token_anywhere(
    hf_agent: AgentProcess, hub: Hub
) -> None:
    async with hf_agent.client() as client:
        view = await run_job(
            client, job(checksum_op("/hf", resources=[hf("tiny/private", accessToken=TOKEN)]))
        )
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "read")) == {
            "secret.txt": sha256(b"private bytes\n")
        }
        # the cached copy is not a way round the token: a wrong one is refused by the hub
        wrong, log = await failed_with(
            client, job(checksum_op("/hf", resources=[hf("tiny/private", accessToken="hf_bad")]))
        )
        assert "Invalid credentials" in wrong.ops[0].message, wrong.ops[0].message
        texts = log + "\n".join(await system_log(client, view.id)) + str(await client.job(view.id))
    assert TOKEN not in texts
    for path in Path(hf_agent.data_dir).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (hf("nobody/missing"), "Repository Not Found"),
        (hf("tiny/private"), "Repository Not Found"),  # private, no token: the hub says so
        (hf("tiny/model", revision="v9"), "Revision Not Found"),
        (hf("tiny/model", files=["weights.gguf"]), "the repository has no file weights.gguf"),
        (hf("tiny/broken"), "tiny/broken@main at http://127.0.0.1"),
    ],
    ids=["missing-repo", "private-without-token", "missing-revision", "missing-file", "broken"],
)
async def test_failures_name_what_is_missing_and_leave_no_volume(
    hf_agent: AgentProcess, hub: Hub, resource: dict[str, Any], expected: str
) -> None:
    hub.repos["tiny/broken"].broken["big.bin"] = "always"
    before = made(
        endpoints(hf=hub.url), resource
    )  # a complete volume an earlier test cached may stay
    async with hf_agent.client() as client:
        view, log = await failed_with(client, job(checksum_op("/hf", resources=[resource])))
    op = view.ops[0]
    assert op.status is OpStatus.FAILED
    assert expected in op.message and op.message.startswith("HF resource"), op.message
    assert expected in log
    assert made(endpoints(hf=hub.url), resource) == before  # nothing new, nothing half-made


async def test_interrupted_download_is_resumed(hf_agent: AgentProcess, hub: Hub) -> None:
    hub.repos["tiny/interrupted"].broken["big.bin"] = "once"
    async with hf_agent.client() as client:
        view = await run_job(client, job(checksum_op("/hf", resources=[hf("tiny/interrupted")])))
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "read")) == {"big.bin": sha256(BIG)}
    assert "broken" not in str(hub.repos["tiny/interrupted"].broken)
    ranged = [r for r in hub.requests if "tiny/interrupted/resolve" in r and r.startswith("GET")]
    assert len(ranged) >= 2  # broke off, then resumed


async def test_progress_shows_in_the_ops_state_and_the_system_log(hf_agent: AgentProcess) -> None:
    """A download of about 3 s: its bytes, files and rate are seen in the op's state (what
    `ps --json` and the UI show) while it runs, and in the system log."""
    async with hf_agent.client() as client:
        view = await client.submit(job(checksum_op("/hf", resources=[hf("tiny/slow")])))
        seen = []
        while not view.status.terminal:
            fetch = view.ops[0].fetch
            if fetch and not fetch[0].done:
                seen.append(fetch[0])
            await asyncio.sleep(0.1)
            view = await client.job(view.id)
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        log = await system_log(client, view.id)
    partial = [f for f in seen if 0 < f.bytes_done < len(SLOW)]
    assert partial, seen
    assert all(f.bytes_total == len(SLOW) and f.files_total == 1 for f in partial)
    assert any(f.rate for f in partial)
    assert [f.bytes_done for f in partial] == sorted(f.bytes_done for f in partial)
    progress = [line for line in log if "fetching HF tiny/slow: 0/1 file, " in line]
    assert progress and "MiB of 32.0 MiB" in progress[0] and "/s" in progress[0], "\n".join(log)


NAME_96 = "n" * 95 + "1"
OWNER_LONG = "o" * 40


@pytest.mark.parametrize(
    "repo",
    [
        "gpt2",  # a name alone
        f"owner/{NAME_96}",  # the name at its limit of 96, with an owner
        f"{OWNER_LONG}/{NAME_96}",  # owner/name longer than 96 in all: the limit is the name's
        "Owner_1/Foo-BAR_foo.bar123",
        "_owner/_name_",  # '_' is a word character: the name may start and end with it
        "a/b",
    ],
)
def test_repository_ids_the_hub_accepts_are_accepted(repo: str) -> None:
    identity = HubFetcher().identity(HFResource(type="HF", repo=repo, target="/hf"))
    assert identity["repo"] == repo


@pytest.mark.parametrize(
    "repo",
    [
        "",
        f"owner/{NAME_96}x",  # a name of 97
        "n" * 97,
        "a b/c",
        "a/b/c",
        "-owner/name",  # no word boundary at either end of the owner or of the name
        "owner-/name",
        "owner./name",
        "owner/.name",
        "owner/-name",
        "owner/name-",
        "owner/name.",
        "/name",
        "owner/",
        "owner/na--me",
        "owner/na..me",
    ],
)
def test_repository_ids_the_hub_refuses_fail_before_anything_is_fetched(repo: str) -> None:
    with pytest.raises(FetchError) as err:
        HubFetcher().identity(HFResource(type="HF", repo=repo, target="/hf"))
    assert str(err.value) == (
        f"repo {repo!r} is not a Hugging Face repository id: write owner/name (letters, digits, "
        "'-', '_' and '.')"
    )
