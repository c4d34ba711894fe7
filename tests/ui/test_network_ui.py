"""The UI on the Nosana network, keyboard only at 80x24, against the stand-in gateway
(tests/network/standin.py, checked against @nosana/api's schemas) and a real node: our agent
under ``--auth nosana`` on the real Docker engine, behind the stand-in's tunnel.

A template is deployed from Templates to a market (the deploy screen shows the GPU, the price
and the most the job can cost, and asks), the app follows the job to the network: QUEUED, then
RUNNING once a node takes it, its op states from the node's ``/job/{job}/info``, its log from
``/flog`` (signed as the poster), stopped with ``K``, and its cost in the job's title and in
Jobs. Escape at the confirmation posts nothing. Enter in Nodes switches the app's node."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import OpStatus
from nosana_tui.client import network_node
from nosana_tui.client.network_node import NetworkJobView
from nosana_tui.config import Paths
from nosana_tui.ui.app import NosanaApp
from nosana_tui.ui.screens.deploy import DeployTarget
from nosana_tui.ui.screens.job import JobScreen
from nosana_tui.ui.widgets.logview import LogView
from tests.network.conftest import API_KEY, Linked
from tests.network.conftest import linked as linked
from tests.network.conftest import nosana_node as nosana_node
from tests.network.conftest import schemas as schemas
from tests.network.conftest import standin as standin
from tests.network.standin import Standin
from tests.pilot import screen_text, until

pytestmark = pytest.mark.anyio

SEEN = (
    Path(os.environ.get("NOSANA_TUI_UI_CAPTURES", ""))
    if "NOSANA_TUI_UI_CAPTURES" in os.environ
    else None
)


def on_network(
    monkeypatch: pytest.MonkeyPatch, gateway: Standin, tmp_path: Path, tunnel: str = ""
) -> NosanaApp:
    """An app whose network is the stand-in (and its nodes the tunnel), with no local agent."""
    for name in list(os.environ):
        if name.startswith("NOSANA_") and not name.startswith(
            ("NOSANA_TUI_CONFIG", "NOSANA_TUI_DATA")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NOSANA_API_URL", gateway.url)
    monkeypatch.setenv("NOSANA_PIN_URL", gateway.url)
    monkeypatch.setenv("NOSANA_IPFS_GATEWAY", f"{gateway.url}/ipfs")
    monkeypatch.setenv("NOSANA_API_KEY", API_KEY)
    monkeypatch.setenv("NOSANA_WALLET", str(tmp_path / "no-wallet.json"))
    monkeypatch.setenv("NOSANA_TUI_NODE", "http://127.0.0.1:9")  # no local agent answers
    if tunnel:
        monkeypatch.setenv("NOSANA_TUI_NETWORK_NODE_URL", tunnel)
    monkeypatch.setattr(network_node, "QUEUE_POLL", 0.3)
    monkeypatch.setattr(network_node, "LIST_TTL", 0.5)
    monkeypatch.setattr(network_node, "CREDITS_TTL", 0.5)
    return NosanaApp(locations=Paths(tmp_path / "config", tmp_path / "data"), autostart=False)


def seen(app: NosanaApp, stem: str) -> str:
    """The screen as a user sees it; kept under $NOSANA_TUI_UI_CAPTURES when set."""
    text = screen_text(app)
    if SEEN is not None:
        SEEN.mkdir(parents=True, exist_ok=True)
        (SEEN / f"{stem}.txt").write_text(text + "\n", encoding="utf-8")
    return text


async def choose_market(app: NosanaApp, pilot: Any, template: str, slug: str) -> DeployTarget:
    """From Templates: pick TEMPLATE, press d, move to the market SLUG and press enter."""
    await until(pilot, lambda: app.node_error is not None)  # the local agent is not there
    await pilot.press("slash", *template, "enter")
    await pilot.press("d")
    await until(pilot, lambda: isinstance(app.screen, DeployTarget))
    modal = app.screen
    assert isinstance(modal, DeployTarget)

    def listed() -> bool:
        """the deploy screen lists the stand-in's markets"""
        return len(modal.markets) == 2

    await until(pilot, listed)
    address = next(m.address for m in modal.markets if m.slug == slug)
    targets = modal.query_one("#deploy-targets")
    for _ in range(10):
        option = targets.highlighted_option  # type: ignore[attr-defined]
        if option is not None and option.id == f"market:{address}":
            break
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: modal.has_class("-confirming"))
    return modal


async def test_post_a_template_to_a_market_watch_it_stop_it_and_see_its_cost(
    linked: Linked,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    gateway = linked.standin
    app = on_network(monkeypatch, gateway, tmp_path, linked.tunnel)
    async with app.run_test(size=(80, 24)) as pilot:
        modal = await choose_market(app, pilot, "busybox-logs", "nvidia-3090")
        asked = seen(app, "1-confirm")
        assert "Post busybox-logs to nvidia-3090 for up to $0.22?" in asked, asked
        assert "NVIDIA GeForce RTX 3090" in asked and "$0.22/hour" in asked, asked
        assert "the most it can cost: $0.22" in asked, asked
        assert not gateway.listed  # nothing is spent before y
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), 30)
        screen = app.screen
        assert isinstance(screen, JobScreen) and modal is not app.screen
        assert len(gateway.listed) == 1
        address = screen.job_id
        assert address in gateway.jobs and app.node.network == "mainnet"

        def state(name: str) -> Any:
            def check() -> bool:
                view = screen.view
                return isinstance(view, NetworkJobView) and view.network.state == name

            check.__doc__ = f"the job view says {name}"
            return check

        await until(pilot, state("QUEUED"), 30)
        assert screen.view is not None and [o.id for o in screen.view.ops] == ["logs"]
        queued = seen(app, "2-queued")
        assert "QUEUED" in queued, queued

        await gateway.assign(address)  # a node takes it from the market

        def op_running() -> bool:
            """the node's op state, running, reaches the view"""
            view = screen.view
            return (
                isinstance(view, NetworkJobView)
                and view.network.state == "RUNNING"
                and view.op("logs").status is OpStatus.RUNNING
            )

        await until(pilot, op_running, 60)
        log = screen.query_one(LogView)

        def log_has(text: str) -> Any:
            def check() -> bool:
                return any(text in row for row in log.lines.lines)

            check.__doc__ = f"the log shows {text!r}"
            return check

        await until(pilot, log_has("nosana: RUNNING on node"), 30)  # the system log
        running = seen(app, "3-running")
        assert "RUNNING on node" in running and "● running" in running, running
        await pilot.press("l")  # the selected op's log, from the node's /flog
        await until(pilot, log_has("INFO ok"), 30)
        logs = seen(app, "4-op-log")
        assert "INFO ok" in logs and "· logs ·" in logs, logs
        assert API_KEY not in logs

        await pilot.press("K")
        await pilot.press("y")
        await until(pilot, state("STOPPED"), 60)
        view = screen.view
        assert isinstance(view, NetworkJobView)
        assert view.network.cost_usd is not None and view.network.time_start > 0
        await pilot.press("L")  # the system log: the network's last word, with the cost
        await until(pilot, log_has("nosana: STOPPED after"), 30)
        stopped = seen(app, "5-stopped")
        assert "STOPPED after" in stopped and "cost $" in stopped, stopped

        await pilot.press("escape")  # Jobs: the network's jobs, with their cost

        def listed_stopped() -> bool:
            """Jobs lists the job as STOPPED with its cost"""
            table = app.screen.query("#jobs-table")
            if not table:
                return False
            rows = table.first().rows  # type: ignore[attr-defined]
            return address in rows and "STOPPED" in str(
                table.first().get_cell(address, "status")  # type: ignore[attr-defined]
            )

        await until(pilot, listed_stopped, 30)
        jobs = seen(app, "5-jobs")
        assert "STOPPED" in jobs and "nvidia-3090" in jobs and "$0.0" in jobs, jobs
        assert API_KEY not in jobs
        await pilot.press("q")


async def test_cancel_at_the_confirmation_posts_nothing(
    standin: Standin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app = on_network(monkeypatch, standin, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        modal = await choose_market(app, pilot, "busybox-hello", "nvidia-h100")
        assert "for up to $2.20?" in screen_text(app)
        await pilot.press("n")  # back to the list: nothing sent
        assert not modal.has_class("-confirming") and isinstance(app.screen, DeployTarget)
        await pilot.press("escape")  # cancel
        await until(pilot, lambda: not isinstance(app.screen, DeployTarget))
        await pilot.pause(0.3)
        assert standin.listed == [] and standin.pinned == {}
        assert ("POST", "/jobs/list") not in standin.requests
        assert app.node.network is None  # still on the local node
        await pilot.press("q")


async def test_enter_in_nodes_switches_to_the_network_and_back(
    standin: Standin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app = on_network(monkeypatch, standin, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        await pilot.press("3")
        table = app.screen.query_one("#nodes-table")
        await pilot.press("down")  # the network, after the local agent

        def markets_shown() -> bool:
            """the Nodes section shows the network's account, credits and markets"""
            return "nvidia-h100" in screen_text(app)

        await until(pilot, markets_shown, 15)
        text = seen(app, "nodes-network")
        assert "API key set" in text and "$100.00 available" in text, text
        assert "NVIDIA H100 80GB HBM3" in text and "$2.20" in text, text
        assert API_KEY not in text
        await pilot.press("enter")
        await until(pilot, lambda: app.node.network == "mainnet" and app.node_info is not None)
        bar = seen(app, "nodes-network-used")
        assert "credits $100.00" in bar, bar
        await pilot.press("2")  # Jobs now lists the network's jobs (none yet), in its columns
        await until(pilot, lambda: "MARKET" in screen_text(app))
        await pilot.press("3", "up", "enter")
        await until(pilot, lambda: app.node.network is None and app.node_error is not None)
        assert table.row_count >= 2  # type: ignore[attr-defined]
        await pilot.press("q")


async def test_deployments_from_the_network_row_start_and_stop(
    standin: Standin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """D on the network's row in Nodes: its deployments (name, status, jobs of replicas,
    strategy, market, endpoints) at 80x24; x stops the highlighted one, s starts it, each
    after y at the question."""
    from nosana_tui.client import network as net
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
    async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url) as client:
        await client.create_deployment("batch", "nvidia-h100", 1, 120, "SIMPLE-EXTEND", job)
        web = await client.create_deployment("web", "nvidia-3090", 2, 60, "SIMPLE", job)
    app = on_network(monkeypatch, standin, tmp_path)  # (newest first: web on top)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        await pilot.press("3", "down")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DeploymentsScreen))
        screen = app.screen
        assert isinstance(screen, DeploymentsScreen)

        def listed() -> bool:
            """the deployments screen lists both deployments"""
            return "batch" in screen_text(app) and "web" in screen_text(app)

        await until(pilot, listed, 15)
        text = seen(app, "deployments")
        assert "NAME" in text and "STATUS" in text and "ENDPOINTS" in text, text
        assert "RUNNING" in text and "2/2" in text and "SIMPLE-EXTEND" in text, text
        assert "nvidia-3090" in text and ".node.example" in text, text
        assert API_KEY not in text
        await pilot.press("x")
        await until(pilot, lambda: "Stop web?" in screen_text(app))
        await pilot.press("y")

        def stopped() -> bool:
            """the stopped deployment shows STOPPED in place"""
            return screen.deployments[web.id].status.value == "STOPPED"

        await until(pilot, stopped, 15)
        assert "STOPPED" in seen(app, "deployments-stopped")
        assert ("POST", f"/deployments/{web.id}/stop") in standin.requests
        await pilot.press("s")
        await until(pilot, lambda: "Start web?" in screen_text(app))
        await pilot.press("n")  # no: nothing sent
        assert ("POST", f"/deployments/{web.id}/start") not in standin.requests
        await pilot.press("s", "y")

        def running() -> bool:
            """the started deployment shows RUNNING again"""
            return screen.deployments[web.id].status.value == "RUNNING"

        await until(pilot, running, 15)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DeploymentsScreen))
        await pilot.press("q")


async def test_deployments_are_read_page_by_page_and_past_the_bound_it_says_more_exist(
    standin: Standin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every page is read, up to MOST deployments; one more than MOST: the first MOST are
    shown and the screen says that more exist (and where to see them all); MOST exactly: all
    are shown and nothing is said."""
    from nosana_tui.client import network as net
    from nosana_tui.ui.screens import deployments as screen_module
    from nosana_tui.ui.screens.deployments import DeploymentsScreen

    most = 12
    monkeypatch.setattr(screen_module, "MOST", most)
    monkeypatch.setattr(screen_module, "PAGE", 10)  # the gateway's smallest: two pages a read
    job = {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "a", "args": {"image": "busybox:latest"}}],
    }
    async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url) as client:
        for n in range(most + 1):
            await client.create_deployment(f"dep{n:02d}", "nvidia-3090", 1, 60, "SIMPLE", job)
    more = f"the first {most} shown, more exist: `nosana-tui deployments list` lists all"
    app = on_network(monkeypatch, standin, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        await pilot.press("3", "down", "D")
        await until(pilot, lambda: isinstance(app.screen, DeploymentsScreen))
        screen = app.screen
        assert isinstance(screen, DeploymentsScreen)

        def capped() -> bool:
            """the screen shows the first MOST deployments and says that more exist"""
            return len(screen.deployments) == most and more in screen_text(app)

        await until(pilot, capped, 15)
        text = seen(app, "deployments-more")
        assert f"{most}+, {most} live" in screen.sub_title
        names = [d.name for d in screen.deployments.values()]
        assert names == [f"dep{n:02d}" for n in range(most, 0, -1)], names  # the newest first
        assert "dep12" in text and "dep00" not in text
        pages = [p for m, p in standin.requests if m == "GET" and p == "/deployments"]
        assert len(pages) >= 2, pages  # the second page was read too

        last = next(d for d in list(standin.deployments) if d not in screen.deployments)
        del standin.deployments[last]  # MOST exactly: gone from the gateway

        def all_shown() -> bool:
            """MOST deployments, all of them: no word of more"""
            return not screen.more and more not in screen_text(app)

        await pilot.press("r")
        await until(pilot, all_shown, 15)
        assert len(screen.deployments) == most
        assert "+" not in screen.sub_title
        await pilot.press("escape")
        await pilot.press("q")


async def test_refreshing_deployments_keeps_one_chain_of_polls(
    standin: Standin,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """r while a read is under way replaces it (an exclusive worker): the cancelled read arms
    no timer of its own, so the list is read once per POLL however often r is pressed."""
    from nosana_tui.client import network as net
    from nosana_tui.ui.screens import deployments as screen_module
    from nosana_tui.ui.screens.deployments import DeploymentsScreen

    async with net.NetworkClient(standin.url, API_KEY, pin_url=standin.url) as client:
        job = {
            "version": "0.1",
            "type": "container",
            "ops": [{"type": "container/run", "id": "a", "args": {"image": "busybox:latest"}}],
        }
        await client.create_deployment("one", "nvidia-3090", 1, 60, "SIMPLE", job)
    poll = 0.5
    monkeypatch.setattr(screen_module, "POLL", poll)
    standin.slow_path, standin.slow_seconds = "/deployments", 0.3  # r lands during a read
    armed: list[Any] = []
    set_timer = DeploymentsScreen.set_timer

    def recorded(self: DeploymentsScreen, *args: Any, **kwargs: Any) -> Any:
        armed.append(set_timer(self, *args, **kwargs))
        return armed[-1]

    monkeypatch.setattr(DeploymentsScreen, "set_timer", recorded)
    app = on_network(monkeypatch, standin, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.node_error is not None)
        await pilot.press("3", "down", "D")
        await until(pilot, lambda: isinstance(app.screen, DeploymentsScreen))
        await until(pilot, lambda: "one" in screen_text(app), 15)

        def reads() -> int:
            return sum(1 for m, p in standin.requests if m == "GET" and p == "/deployments")

        def chains() -> int:
            """the screen's timers armed and not yet fired: one chain of reads is one such
            timer (or one read under way)"""
            return sum(1 for t in armed if t._task is not None and not t._task.done())

        for _ in range(12):
            await pilot.press("r")
            await pilot.pause(0.1)
        before = reads()
        window = 4.0
        most = 0
        for _ in range(int(window / 0.1)):  # a span of time is what is measured here
            await pilot.pause(0.1)
            most = max(most, chains())
        made = reads() - before
        assert most == 1, f"{most} poll timers armed at once"
        # one chain: about window / (poll + the read's 0.3 s); each extra chain adds reads
        assert 2 <= made <= window / poll + 1, f"{made} reads in {window} s with POLL {poll} s"
        await pilot.press("escape")
        await pilot.press("q")
