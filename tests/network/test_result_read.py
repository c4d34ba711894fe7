"""A network job's result as it is read (reference nosana-network.md §2.5), with no node:
the node wrote it, so every string in it is cleaned of terminal escapes where it is read
(``NetworkClient.result``), for ``ps``, ``logs`` and the UI alike; and an IPFS gateway that
does not answer holds the job's view for seconds, not minutes."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import LogEntry
from nosana_tui.client import network as net
from nosana_tui.client import network_node
from nosana_tui.client.network_node import NetworkConfig, NetworkNodeClient, connect_network
from tests.network.conftest import API_KEY
from tests.network.standin import Standin
from tests.network.test_cli import cli
from tests.network.test_client import call

JOB = json.loads(
    (Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json").read_text()
)
CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: writes the terminal's clipboard
CLEAR = "\x1b[2J"


def flow(op_id: str = f"hello{CLIPBOARD}") -> dict[str, Any]:
    """A FlowState (``@nosana/types``) whose op id, error message and log carry escapes."""
    now = int(time.time() * 1000)
    return {
        "status": "failed",
        "startTime": now - 60_000,
        "endTime": now,
        "opStates": [
            {
                "providerId": None,
                "operationId": op_id,
                "group": f"g{CLEAR}",
                "status": "failed",
                "startTime": now - 60_000,
                "endTime": now,
                "exitCode": 3,
                "logs": [
                    {
                        "type": "stdout",
                        "log": f"\x1b[31mred\x1b[0m{CLIPBOARD}{CLEAR}end\n",
                        "timestamp": str(now),
                    }
                ],
                "results": {"out": f"r{CLIPBOARD}"},
                "error": {"event": "exit", "message": f"boom{CLIPBOARD}{CLEAR}!"},
                "diagnostics": {
                    "reason": {"hostShutDown": False, "jobStopped": False, "jobExpired": False}
                },
            }
        ],
    }


def no_escape_but_colour(text: str) -> None:
    assert "\x07" not in text and "]52;" not in text and "\x1b[2J" not in text, repr(text)
    assert "\x1b" not in text.replace("\x1b[31m", "").replace("\x1b[0m", ""), repr(text)


def conf_of(standin: Standin, tmp_path: Path, gateway: str | None = None) -> NetworkConfig:
    return NetworkConfig(
        network="mainnet",
        api_url=standin.url,
        pin_url=standin.url,
        ipfs_gateway=gateway or f"{standin.url}/ipfs",
        api_key=API_KEY,
        pin_jwt=None,
        node_url="http://127.0.0.1:9",  # no node: the result alone answers
        wallet=tmp_path / "no-wallet.json",
    )


def test_the_result_is_cleaned_where_it_is_read(standin: Standin, tmp_path: Path) -> None:
    address = standin.ended_job(JOB, flow())

    job = call(standin, lambda c: c.job(address))
    found = call(standin, lambda c: c.result(job))
    assert found is not None
    state = found.opStates[0]
    assert state.operationId == "hello" and state.group == "g"
    assert state.error == {"event": "exit", "message": "boom!"}
    assert state.results == {"out": "r"}
    assert state.logs[0].log == "\x1b[31mred\x1b[0mend\n"  # colour kept, as /flog's lines
    no_escape_but_colour(found.model_dump_json())

    shown = cli(standin, tmp_path, "ps", address, "--network", "mainnet")
    assert shown.returncode == 0, shown.stderr
    assert "in its result: failed" in shown.stdout and "hello: boom!" in shown.stdout
    no_escape_but_colour(shown.stdout + shown.stderr)
    logs = cli(standin, tmp_path, "logs", address, "--network", "mainnet")
    assert logs.returncode == 0, logs.stderr
    assert "hello | \x1b[31mred\x1b[0mend" in logs.stdout
    no_escape_but_colour(logs.stdout)

    async def read() -> tuple[Any, list[LogEntry]]:
        client: NetworkNodeClient = connect_network(conf_of(standin, tmp_path))
        async with client:
            view = await client.job(address)
            lines = [e async for e in client.logs(address) if isinstance(e, LogEntry)]
            return view, lines

    view, lines = asyncio.run(read())
    assert [(op.id, op.message) for op in view.ops] == [("hello", "boom!")]  # the plan's op
    assert view.ops[0].results == {"out": ["r"]}
    no_escape_but_colour(view.model_dump_json())
    assert [e.text for e in lines if e.op_id == "hello"] == ["\x1b[31mred\x1b[0mend"]


def test_the_result_in_the_indexer_is_cleaned_too(standin: Standin) -> None:
    address = standin.ended_job(JOB, flow())
    standin.jobs[address]["jobResult"] = flow()
    standin.pinned.pop(standin.jobs[address]["ipfsResult"])  # the indexer's copy alone
    job = call(standin, lambda c: c.job(address))
    found = call(standin, lambda c: c.result(job))
    assert found is not None and found.opStates[0].operationId == "hello"
    no_escape_but_colour(found.model_dump_json())


@pytest.fixture
def silent_gateway() -> Iterator[str]:
    """A port that takes connections and never answers (a gateway that hangs)."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/ipfs"


def test_a_silent_ipfs_gateway_does_not_hold_the_job_view(
    standin: Standin, tmp_path: Path, silent_gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(net, "RESULT_TIMEOUT", 1.0)
    address = standin.ended_job(JOB, flow())

    async def read() -> tuple[Any, Any, int]:
        client: NetworkNodeClient = connect_network(conf_of(standin, tmp_path, silent_gateway))
        async with client:
            # NetworkClient's own timeout is 30 s and 4 attempts: minutes, before the fix
            first = await asyncio.wait_for(client.job(address), 10)
            asked = len(standin.requests)
            again = await asyncio.wait_for(client.job(address), 10)  # the failure is kept
            return first, again, len(standin.requests) - asked

    first, again, requests = asyncio.run(read())
    for view in (first, again):
        assert view.network.state == "COMPLETED" and view.message != "boom!"
    assert requests == 1  # GET /jobs/{address}: the result was not asked for again

    async def result() -> Any:
        async with net.NetworkClient(
            standin.url, API_KEY, pin_url=standin.url, ipfs_gateway=silent_gateway
        ) as client:
            return await asyncio.wait_for(client.result(await client.job(address)), 10)

    with pytest.raises(net.Unreachable, match=r"the result of job .*127\.0\.0\.1"):
        asyncio.run(result())


def test_a_failed_result_is_asked_for_again_after_a_while(
    standin: Standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = standin.ended_job(JOB, flow())
    cid = standin.jobs[address]["ipfsResult"]
    kept = standin.pinned.pop(cid)  # not on the gateway (yet)
    monkeypatch.setattr(network_node, "RESULT_RETRY", 0.0)

    async def read() -> tuple[Any, Any]:
        client: NetworkNodeClient = connect_network(conf_of(standin, tmp_path))
        async with client:
            first = await client.job(address)
            standin.pinned[cid] = kept
            return first, await client.job(address)

    first, second = asyncio.run(read())
    assert not first.ops or first.ops[0].message == ""
    assert [op.id for op in second.ops] == ["hello"]
