"""Jobs named by a prefix of their id, as ``docker`` takes container ids (the agent resolves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nosana_tui.node.agent import Agent, AgentError


class Runner:
    def __init__(self, job_id: str) -> None:
        self.id = job_id


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    agent = Agent(tmp_path, backend=None)  # type: ignore[arg-type]  # _get never uses it
    agent.runners = {i: Runner(i) for i in ("abc", "abc123", "abd456")}  # type: ignore[misc]
    yield agent
    agent.store.close()


def test_exact_id_wins_over_prefix(agent: Any) -> None:
    assert agent._get("abc").id == "abc"


def test_unique_prefix_names_the_job(agent: Any) -> None:
    assert agent._get("abd").id == "abd456"
    assert agent._get("abc1").id == "abc123"


def test_ambiguous_prefix_lists_the_jobs(agent: Any) -> None:
    with pytest.raises(AgentError) as err:
        agent._get("ab")
    assert err.value.status == 400
    assert str(err.value) == "'ab' matches several jobs: abc, abc123, abd456; give more of the id"


def test_unknown_job_is_404(agent: Any) -> None:
    with pytest.raises(AgentError) as err:
        agent._get("zz")
    assert err.value.status == 404 and str(err.value) == "no job 'zz' on this node"
