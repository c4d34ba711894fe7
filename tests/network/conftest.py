"""The stand-in gateway (standin.py), with the JSON schemas exported once per session from the
pinned npm ``@nosana/api`` (package.json, package-lock.json)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.network.standin import (
    Key,
    Server,
    Standin,
    build_tunnel,
    default_markets,
    load_schemas,
)
from tests.npm import installed_version, npm_ci, pinned_version

HERE = Path(__file__).parent
API_KEY = "nos_test_key_0123456789"


@pytest.fixture(scope="session")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    node = npm_ci(HERE, "@nosana/api")  # skips, saying why, only without node and npm
    installed = installed_version(HERE, "@nosana/api")
    assert installed == pinned_version(HERE, "@nosana/api"), f"@nosana/api {installed} installed"
    out = tmp_path_factory.mktemp("nosana-api-schemas")
    subprocess.run([node, str(HERE / "export-schemas.mjs"), str(out)], check=True, timeout=120)
    return load_schemas(out)


@pytest.fixture
def standin(schemas: dict[str, dict[str, Any]]) -> Iterator[Standin]:
    state = Standin(schemas=schemas, keys={API_KEY: Key()}, markets=default_markets())
    with Server(state):
        yield state
    assert state.violations == [], "the stand-in saw requests or answers off the schemas"


# --- a real node: our agent under --auth nosana on the real Docker engine, behind the tunnel ------


@dataclass
class Linked:
    """The stand-in gateway with a real node: ``tunnel`` is the URL every node address leads
    to (the ``network_node_url`` the CLI is given), ``agent`` our agent behind it."""

    standin: Standin
    tunnel: str
    agent: Any


@pytest.fixture(scope="module")
def nosana_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.dockerenv import ensure_docker
    from tests.node.test_node_protocol import nosana_agent

    ensure_docker()
    with nosana_agent(tmp_path_factory.mktemp("network-node")) as agent:
        yield agent


@pytest.fixture
def linked(standin: Standin, nosana_node: Any) -> Iterator[Linked]:
    from tests.dockerenv import leftovers

    standin.agent_url = nosana_node.url
    with Server(standin, build_tunnel(standin)) as tunnel:
        yield Linked(standin, tunnel.url, nosana_node)
    asyncio.run(_remove_all(standin))
    # what the node made for these jobs is gone (names carry the agent's job id; other
    # sessions' containers on the same engine are not ours to judge)
    ids = list(standin.on_node.values())
    left = {
        kind: [n for n in names if any(i in n for i in ids)] for kind, names in leftovers().items()
    }
    assert not any(left.values()), f"left behind by the node: {left}"


async def _remove_all(standin: Standin) -> None:
    """Stop each job on the node, wait for it to end, then remove it (and what it made)."""
    from nosana_tui.client.node import NodeError, job_done

    async with standin._agent() as agent:
        for job_id in standin.on_node.values():
            with contextlib.suppress(NodeError):
                await agent.stop_job(job_id)
            await asyncio.wait_for(agent.wait(job_id, job_done), 60)
            for attempt in range(10):
                try:
                    await agent.remove(job_id)
                    break
                except NodeError as err:  # the engine may still be removing a container
                    if err.status != 503 or attempt == 9:
                        raise
                    await asyncio.sleep(0.5)
