"""Snapshots of the Nosana network in the UI, with real content, at 80x24 and 160x48: the Nodes
section with the network's row chosen (account, credits, markets with GPU and price per hour),
the deploy screen (its targets, then a market's confirmation with the most it can cost) and the
network's deployments (``D`` on its row).

The network is the stand-in gateway (tests/network/standin.py), served in-process at a fixed
address so that every run draws the same picture; the local agent does not answer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot

from nosana_tui.client import network as net
from nosana_tui.client import network_node
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.deploy import DeployTarget
from tests.network.conftest import API_KEY
from tests.network.conftest import schemas as schemas
from tests.network.standin import PROJECT_SECRET, Key, Standin, build_app, default_markets

SIZES = ((80, 24), (160, 48))
GATEWAY = "https://gateway.example"


@pytest.fixture
def gateway(schemas: dict[str, dict[str, Any]]) -> Standin:
    state = Standin(schemas=schemas, keys={API_KEY: Key()}, markets=default_markets())
    state.url = GATEWAY
    return state


@pytest.fixture
def network_app(
    gateway: Standin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> NosanaApp:
    state = gateway
    transport = httpx.ASGITransport(app=build_app(state))

    def client(conf: network_node.NetworkConfig) -> net.NetworkClient:
        return net.NetworkClient(
            conf.api_url, conf.api_key, pin_url=conf.pin_url, transport=transport
        )

    for name in list(os.environ):
        if name.startswith("NOSANA_") and not name.startswith(
            ("NOSANA_TUI_CONFIG", "NOSANA_TUI_DATA")
        ):
            monkeypatch.delenv(name)
    wallet = tmp_path / "wallet.json"
    wallet.write_text(json.dumps(list(PROJECT_SECRET)))
    wallet.chmod(0o600)
    monkeypatch.setenv("NOSANA_API_URL", GATEWAY)
    monkeypatch.setenv("NOSANA_PIN_URL", GATEWAY)
    monkeypatch.setenv("NOSANA_API_KEY", API_KEY)
    monkeypatch.setenv("NOSANA_WALLET", str(wallet))
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")
    monkeypatch.setattr(network_node, "network_client", client)
    return NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)


async def wait(pilot: Pilot[Any], condition: Any) -> None:
    """Until CONDITION holds, up to 30 s (10 s was not enough for a loaded run; a snapshot
    taken before it holds fails as a mismatch, without saying why)."""
    for _ in range(1500):
        if condition():
            break
        await pilot.pause(0.02)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_nodes_with_the_network(
    size: tuple[int, int], network_app: NosanaApp, snap_compare: Any
) -> None:
    app = network_app

    async def show(pilot: Pilot[Any]) -> None:
        await wait(pilot, lambda: app.node_error is not None)
        await pilot.press("3", "down")  # the network's row, after the local agent
        info = app.screen.query_one("#node-info-text")
        await wait(pilot, lambda: "nvidia-h100" in str(info.content))  # type: ignore[attr-defined]

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.parametrize("confirm", [False, True], ids=["targets", "confirm"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_deploy_screen(
    size: tuple[int, int], confirm: bool, network_app: NosanaApp, snap_compare: Any
) -> None:
    app = network_app

    async def show(pilot: Pilot[Any]) -> None:
        await wait(pilot, lambda: app.node_error is not None)
        await pilot.press("slash", *"busybox-hello", "enter", "d")
        await wait(pilot, lambda: isinstance(app.screen, DeployTarget))
        modal = app.screen
        assert isinstance(modal, DeployTarget)
        await wait(pilot, lambda: len(modal.markets) == 2)
        if confirm:
            await pilot.press("down", "down", "enter")  # nvidia-h100
            await wait(pilot, lambda: modal.has_class("-confirming"))

    assert snap_compare(app, terminal_size=size, run_before=show)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_deployments_screen(
    size: tuple[int, int], gateway: Standin, network_app: NosanaApp, snap_compare: Any
) -> None:
    import asyncio

    from nosana_tui.ui.screens.deployments import DeploymentsScreen

    job = {
        "version": "0.1",
        "type": "container",
        "ops": [
            {
                "type": "container/run",
                "id": "web",
                "args": {"image": "busybox:latest", "cmd": "httpd -f", "expose": 8080},
            }
        ],
    }

    async def make() -> None:
        transport = httpx.ASGITransport(app=build_app(gateway))
        async with net.NetworkClient(
            GATEWAY, API_KEY, pin_url=GATEWAY, transport=transport
        ) as client:
            await client.create_deployment("web-frontend", "nvidia-3090", 2, 60, "SIMPLE", job)
            await client.create_deployment(
                "batch-embeddings", "nvidia-h100", 1, 120, "SIMPLE-EXTEND", job
            )
            stopped = await client.create_deployment(
                "llm-api", "nvidia-h100", 3, 600, "INFINITE", job
            )
            await client.stop_deployment(stopped.id)

    asyncio.run(make())
    app = network_app

    async def show(pilot: Pilot[Any]) -> None:
        await wait(pilot, lambda: app.node_error is not None)
        await pilot.press("3", "down", "D")
        await wait(pilot, lambda: isinstance(app.screen, DeploymentsScreen))
        screen = app.screen
        assert isinstance(screen, DeploymentsScreen)
        await wait(pilot, lambda: len(screen.deployments) == 3)
        await pilot.press("down")

    assert snap_compare(app, terminal_size=size, run_before=show)
