"""A network job's result after it ends (reference nosana-network.md §2.5): the node pins a
FlowState (checked against ``@nosana/types``' FlowState by the stand-in) and lets the job go;
``ps JOB``, ``logs JOB [OP]`` and the UI's client (``client.network_node``) read op states,
exit codes and each op's lines from ``ipfsResult`` through the IPFS gateway setting, or from
the indexer's ``jobResult``, with no node answering for the job any more."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from nosana_tui.api.models import LogEntry
from nosana_tui.client.network_node import NetworkConfig, NetworkNodeClient, connect_network
from tests.network.conftest import API_KEY, Linked
from tests.network.test_end_to_end import node_cli, post, wait_until
from tests.node.conftest import free_port

TWO_OPS = {
    "version": "0.1",
    "type": "container",
    "ops": [
        {
            "type": "container/run",
            "id": "fine",
            "args": {"image": "busybox:latest", "cmd": "echo all is well; exit 0"},
        },
        {
            "type": "container/run",
            "id": "broken",
            "args": {
                "image": "busybox:latest",
                "cmd": [
                    "sh",
                    "-c",
                    "echo to stderr >&2; printf '\\033]0;title\\007red\\n'; exit 3",
                ],
            },
        },
    ],
}


def ended(linked: Linked, tmp_path: Path, address: str) -> Any:
    def check() -> Any:
        done = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", "--json")
        data = json.loads(done.stdout)
        return data if data["state"] in ("COMPLETED", "STOPPED") else None

    data = wait_until(check, 60)
    assert data, "the job never ended on the network"
    return data


def test_logs_and_exit_codes_come_from_the_result(linked: Linked, tmp_path: Path) -> None:
    address = post(linked, tmp_path, TWO_OPS)
    linked.standin.assign_job(address)
    data = ended(linked, tmp_path, address)
    assert data["ipfsResult"] in linked.standin.pinned  # pinned on the stand-in's IPFS

    gone = {"NOSANA_TUI_NETWORK_NODE_URL": f"http://127.0.0.1:{free_port()}"}  # no node
    shown = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", env_extra=gone)
    assert shown.returncode == 0, shown.stderr
    assert "COMPLETED" in shown.stdout and "in its result: failed" in shown.stdout
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines() if line}
    assert rows["fine"][2] == "finished" and rows["fine"][4] == "0"
    assert rows["broken"][2] == "failed" and rows["broken"][4] == "3"
    data = json.loads(
        node_cli(
            linked, tmp_path, "ps", address, "--network", "mainnet", "--json", env_extra=gone
        ).stdout
    )
    assert {s["operationId"]: s["exitCode"] for s in data["result"]["opStates"]} == {
        "fine": 0,
        "broken": 3,
    }

    logs = node_cli(linked, tmp_path, "logs", address, "--network", "mainnet", env_extra=gone)
    assert logs.returncode == 0, logs.stderr
    assert "fine | all is well\n" in logs.stdout and "broken | to stderr\n" in logs.stdout
    assert "broken | red\n" in logs.stdout and "\x1b]0;" not in logs.stdout  # cleaned
    one = node_cli(
        linked, tmp_path, "logs", address, "broken", "--network", "mainnet", env_extra=gone
    )
    assert one.returncode == 0 and "fine |" not in one.stdout and "broken | red" in one.stdout
    none = node_cli(linked, tmp_path, "logs", address, "nope", "--network", "mainnet")
    assert none.returncode == 2 and "no op 'nope'" in none.stderr

    # the UI's client: the same, from the result (the IPFS gateway, then the indexer's copy)
    conf = NetworkConfig(
        network="mainnet",
        api_url=linked.standin.url,
        pin_url=linked.standin.url,
        ipfs_gateway=f"{linked.standin.url}/ipfs",
        api_key=API_KEY,
        pin_jwt=None,
        node_url=gone["NOSANA_TUI_NETWORK_NODE_URL"],
        wallet=tmp_path / "no-wallet.json",
    )

    async def read() -> tuple[Any, list[LogEntry]]:
        client: NetworkNodeClient = connect_network(conf)
        async with client:
            view = await client.job(address)
            lines = [e async for e in client.logs(address) if isinstance(e, LogEntry)]
            first = await asyncio.wait_for(anext(aiter(client.watch(address))), 10)
            assert first.ops == view.ops
            return view, lines

    view, lines = asyncio.run(read())
    assert {op.id: op.exit_code for op in view.ops} == {"fine": 0, "broken": 3}
    assert view.status.value == "failed" and view.network.state == "COMPLETED"
    assert ("broken", "stderr", "to stderr") in [(e.op_id, e.stream, e.text) for e in lines]
    assert any("COMPLETED after" in e.text for e in lines if e.op_id == "system")

    linked.standin.result_in_indexer = True  # the indexer's jobResult, no IPFS read
    linked.standin.jobs[address]["jobResult"] = linked.standin.pinned[data["ipfsResult"]]
    linked.standin.pinned.pop(data["ipfsResult"])
    view, _ = asyncio.run(read())
    assert {op.id: op.exit_code for op in view.ops} == {"fine": 0, "broken": 3}
