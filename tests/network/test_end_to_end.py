"""A network job end to end: posted from the CLI to the stand-in gateway, taken by a real node
(our agent under ``--auth nosana``, on the real Docker engine, behind the stand-in's tunnel),
followed with ``ps --network`` (the network's state, then the node's op states), read with
``logs --network`` (the node's ``/flog``, signed as the poster), stopped with ``stop --network``
and costed. The signature is the API key's custodial wallet's (``sign-message/external``,
reference nosana-network.md §2.3) or the poster's own wallet file; anyone else's is refused.

(A retried post that lists the job once: tests/network/test_client.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.client.node import NodeClient, NodeError, signed_by
from tests.network.conftest import API_KEY, Linked
from tests.network.standin import NODE, PROJECT, PROJECT_SECRET, Key
from tests.network.test_cli import JOB_FILE, cli
from tests.node.test_node_protocol import keypair

COUNTING = {
    "version": "0.1",
    "type": "container",
    "ops": [
        {
            "type": "container/run",
            "id": "count",
            "args": {
                "image": "busybox:latest",
                "cmd": "for i in $(seq 1 120); do echo line $i; sleep 0.5; done",
            },
        }
    ],
}


def node_cli(
    linked: Linked, tmp_path: Path, *args: str, wallet: Path | None = None, **kw: Any
) -> Any:
    env = {
        "NOSANA_TUI_NETWORK_NODE_URL": linked.tunnel,
        "NOSANA_WALLET": str(wallet or tmp_path / "no-wallet.json"),
        **kw.pop("env_extra", {}),
    }
    return cli(linked.standin, tmp_path, *args, env_extra=env, **kw)


def post(linked: Linked, tmp_path: Path, definition: dict[str, Any] | None = None) -> str:
    path = JOB_FILE
    if definition is not None:
        path = tmp_path / "job.json"
        path.write_text(json.dumps(definition))
    done = node_cli(linked, tmp_path, "run", str(path), "--market", "nvidia-3090", "--yes")
    assert done.returncode == 0, done.stderr
    return str(done.stdout.strip())


def poster_wallet(tmp_path: Path, secret: bytes = PROJECT_SECRET) -> Path:
    path = tmp_path / "wallet.json"
    path.write_text(json.dumps(list(secret)))
    os.chmod(path, 0o600)
    return path


def wait_until(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_post_run_ps_logs_stop_and_cost(linked: Linked, tmp_path: Path) -> None:
    address = post(linked, tmp_path, COUNTING)

    queued = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet")
    assert queued.returncode == 0, queued.stderr
    assert "QUEUED" in queued.stdout and "no node has taken it yet" in queued.stderr

    linked.standin.assign_job(address)  # a node takes it from the market

    def running() -> Any:
        done = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet")
        return done if "count" in done.stdout and " running " in done.stdout else None

    shown = wait_until(running)
    assert shown, "the node never showed the op running"
    assert "RUNNING" in shown.stdout and NODE in shown.stdout
    assert "on the node: running" in shown.stdout
    data = json.loads(
        node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", "--json").stdout
    )
    assert data["state"] == "RUNNING" and data["node"] == NODE
    assert data["node_job"]["id"] == address  # the node knows the job by its address
    assert [op["status"] for op in data["node_job"]["ops"]] == ["running"]

    def logged() -> Any:
        done = node_cli(linked, tmp_path, "logs", address, "count", "--network", "mainnet")
        return done if "count | line 2" in done.stdout else None

    logs = wait_until(logged, 30)
    assert logs, "no log lines over /flog"
    assert logs.returncode == 0 and "count | line 1\n" in logs.stdout

    stopped = node_cli(linked, tmp_path, "stop", address, "--network", "mainnet")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr

    async def on_node() -> str:
        async with linked.standin._agent() as agent:
            return (await agent.job(linked.standin.on_node[address])).status.value

    assert asyncio.run(on_node()) == "stopped"  # the stop reached the node
    final = json.loads(
        node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", "--json").stdout
    )
    assert final["state"] == "STOPPED" and final["timeEnd"] >= final["timeStart"] > 0
    assert final["cost_nos"] == pytest.approx(
        (final["timeEnd"] - final["timeStart"]) * final["price"] / 1e6
    )
    shown = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet")
    assert "STOPPED" in shown.stdout and " NOS" in shown.stdout


def test_the_posters_wallet_follows_a_job_to_completion(linked: Linked, tmp_path: Path) -> None:
    address = post(linked, tmp_path)  # busybox-hello
    linked.standin.assign_job(address)
    wallet = poster_wallet(tmp_path)
    follow = node_cli(
        linked, tmp_path, "logs", address, "--network", "mainnet", "-f", key=None, wallet=wallet
    )
    assert follow.returncode == 0, follow.stderr
    assert "hello | Hello from nosana-tui!" in follow.stdout
    assert "hello | RESULT: 42" in follow.stdout

    def completed() -> Any:
        done = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", "--json")
        data = json.loads(done.stdout)
        return data if data["state"] == "COMPLETED" else None

    data = wait_until(completed, 30)
    assert data, "the job never completed on the network"
    assert data["node_job"]["status"] == "success"
    assert data["cost_nos"] >= 0 and data["ipfsResult"]


def test_a_wrong_signature_is_refused_by_the_node(linked: Linked, tmp_path: Path) -> None:
    address = post(linked, tmp_path, COUNTING)
    linked.standin.assign_job(address)
    other, _ = keypair()

    async def read(secret: bytes) -> Any:
        async with NodeClient(linked.tunnel, None, auth=signed_by(secret)) as node:
            return await node.job(address)

    with pytest.raises(NodeError) as refused:
        asyncio.run(read(other))
    assert refused.value.status == 401 and "wrong_key" in str(refused.value)
    assert asyncio.run(read(PROJECT_SECRET)).poster == PROJECT

    # the CLI with someone else's wallet and no API key: the node's refusal, no traceback
    stranger = poster_wallet(tmp_path, other)
    done = node_cli(
        linked, tmp_path, "logs", address, "--network", "mainnet", key=None, wallet=stranger
    )
    assert done.returncode == 1 and "Unauthorized" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    shown = node_cli(
        linked, tmp_path, "ps", address, "--network", "mainnet", key=None, wallet=stranger
    )
    assert shown.returncode == 0 and "RUNNING" in shown.stdout
    assert "ops: the node cannot be read" in shown.stderr and "401" in shown.stderr


def test_no_wallet_and_no_sign_scope_says_what_to_set(linked: Linked, tmp_path: Path) -> None:
    address = post(linked, tmp_path, COUNTING)
    linked.standin.assign_job(address)
    linked.standin.keys["nos_read_only"] = Key(scopes=frozenset({"jobs:read", "jobs:write"}))
    done = node_cli(linked, tmp_path, "logs", address, "--network", "mainnet", key="nos_read_only")
    assert done.returncode == 2, done.stderr
    assert "wallet:sign" in done.stderr and "NOSANA_WALLET" in done.stderr
    assert "Traceback" not in done.stderr and API_KEY not in done.stderr


def test_a_node_that_does_not_answer_is_shown(linked: Linked, tmp_path: Path) -> None:
    from tests.node.conftest import free_port

    address = post(linked, tmp_path, COUNTING)
    linked.standin.assign_job(address)
    gone = {"NOSANA_TUI_NETWORK_NODE_URL": f"http://127.0.0.1:{free_port()}"}
    shown = node_cli(linked, tmp_path, "ps", address, "--network", "mainnet", env_extra=gone)
    assert shown.returncode == 0 and "RUNNING" in shown.stdout
    assert "ops: the node cannot be read" in shown.stderr and "Traceback" not in shown.stderr
    logs = node_cli(linked, tmp_path, "logs", address, "--network", "mainnet", env_extra=gone)
    assert logs.returncode == 1 and "error:" in logs.stderr
    assert "Traceback" not in logs.stderr


def test_a_deployments_replicas_run_on_the_node_and_stop_with_it(
    linked: Linked, tmp_path: Path
) -> None:
    """A deployment made from the CLI: the gateway lists its replicas, the node runs each (real
    containers), ``ps --network`` follows them, and stopping the deployment stops them there."""
    linked.standin.assign_on_post = True
    path = tmp_path / "job.json"
    path.write_text(json.dumps(COUNTING))
    made = node_cli(
        linked,
        tmp_path,
        *("deployments", "create", str(path), "--market", "nvidia-3090"),
        *("--replicas", "2", "--timeout", "1h", "--yes"),
    )
    assert made.returncode == 0, made.stderr
    deployment_id = made.stdout.strip()
    replicas = [row["job"] for row in linked.standin.deployments[deployment_id]["jobs"]]
    assert len(replicas) == 2 and all(a in linked.standin.on_node for a in replicas)

    for address in replicas:
        last: list[Any] = []

        def running(address: str = address, last: list[Any] = last) -> Any:
            last[:] = [node_cli(linked, tmp_path, "ps", address, "--network", "mainnet")]
            return last[0] if " running " in last[0].stdout else None

        assert wait_until(running), f"replica {address} never ran: {last[0].stdout}{last[0].stderr}"

    shown = json.loads(
        node_cli(linked, tmp_path, "deployments", "show", deployment_id, "--json").stdout
    )
    assert shown["status"] == "RUNNING" and shown["active_jobs"] == 2
    assert sorted(j["job"] for j in shown["jobs"]) == sorted(replicas)

    stopped = node_cli(linked, tmp_path, "deployments", "stop", deployment_id)
    assert stopped.returncode == 0, stopped.stderr

    async def on_node() -> list[str]:
        async with linked.standin._agent() as agent:
            return [(await agent.job(linked.standin.on_node[a])).status.value for a in replicas]

    assert asyncio.run(on_node()) == ["stopped", "stopped"]  # the stop reached the node
    events = node_cli(linked, tmp_path, "deployments", "events", deployment_id)
    assert events.returncode == 0 and events.stdout.count("STOPPED") >= 2, events.stdout
