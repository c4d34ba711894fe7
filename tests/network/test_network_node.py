"""The network behind the node client's protocol (``client.network_node``), against the stand-in
gateway: the account's jobs as views with the network's facts, a queued job's plan, a node that
does not answer shown in the view and the log (and tried again) rather than failing, a stop, and
no key anywhere in what it returns."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.client import network_node
from nosana_tui.client.network_node import (
    NetworkConfig,
    NetworkJobView,
    NetworkNodeClient,
    connect_network,
)
from nosana_tui.client.node import NodeError
from tests.network.conftest import API_KEY
from tests.network.standin import Standin
from tests.node.conftest import free_port

JOB = json.loads(
    (Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json").read_text()
)


def conf(standin: Standin, tmp_path: Path, **kw: Any) -> NetworkConfig:
    values: dict[str, Any] = {
        "network": "mainnet",
        "api_url": standin.url,
        "pin_url": standin.url,
        "ipfs_gateway": f"{standin.url}/ipfs",
        "api_key": API_KEY,
        "pin_jwt": None,
        "node_domain": "node.example",
        "node_url": f"http://127.0.0.1:{free_port()}",  # no node answers there
        "wallet": tmp_path / "no-wallet.json",
    }
    values.update(kw)
    return NetworkConfig(**values)


async def first(stream: Any, check: Any, timeout: float = 20) -> Any:
    async def scan() -> Any:
        async for item in stream:
            if check(item):
                return item
        return None

    try:
        return await asyncio.wait_for(scan(), timeout)
    finally:
        await stream.aclose()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network_node, "QUEUE_POLL", 0.1)
    monkeypatch.setattr(network_node, "LIST_TTL", 0.0)
    monkeypatch.setattr(network_node, "BACKOFF", (0.1,))


@pytest.mark.anyio
async def test_jobs_queued_running_a_node_away_and_stop(
    standin: Standin, tmp_path: Path, fast: None
) -> None:
    async with connect_network(conf(standin, tmp_path)) as client:
        assert isinstance(client, NetworkNodeClient)
        posted = await client.post(JOB, "nvidia-3090", 3600)
        [listed] = await client.jobs()
        assert isinstance(listed, NetworkJobView) and listed.id == posted.job
        assert listed.network.state == "QUEUED" and listed.network.market == "nvidia-3090"
        assert [op.id for op in listed.ops] == ["hello"]  # the plan, from the definition

        queued = await first(client.watch(posted.job), lambda v: True)
        assert queued.network.state == "QUEUED" and queued.ops[0].status.value == "pending"
        said = await first(client.logs(posted.job, "system", follow=True), lambda e: True)
        assert "QUEUED on market nvidia-3090" in said.text

        standin.start_job(posted.job)  # a node took it, but that node does not answer
        away = await first(client.watch(posted.job), lambda v: v.network.note)
        assert away.network.state == "RUNNING" and "does not answer" in away.network.note
        assert "trying again" in away.name
        line = await first(
            client.logs(posted.job, "hello", follow=True), lambda e: "does not answer" in e.text
        )
        assert "trying again" in line.text

        info = await client.info()
        assert info.engine["credits"].startswith("$") and info.jobs == 1
        message = await client.stop_job(posted.job)
        assert "stopped" in message and "refunded" in message
        stopped = await client.job(posted.job)
        assert isinstance(stopped, NetworkJobView) and stopped.network.state == "STOPPED"
        assert stopped.network.cost_usd is not None and stopped.network.cost_usd > 0
        with pytest.raises(NodeError, match="cannot be removed"):
            await client.remove(posted.job)
        shown = repr(client) + json.dumps([v.model_dump(mode="json") for v in await client.jobs()])
        assert API_KEY not in shown


@pytest.mark.anyio
async def test_no_key_says_how_to_set_one(standin: Standin, tmp_path: Path, fast: None) -> None:
    async with connect_network(conf(standin, tmp_path, api_key=None)) as client:
        info = await client.info()  # the node bar: the network answers, but no account
        assert info.engine["credits"] == "no API key"
        with pytest.raises(NodeError, match="NOSANA_API_KEY"):
            await client.jobs()
        assert len(await client.markets()) == 2  # public
