"""Logs of a chatty op, end to end: every line kept (the agent kept the last 25,000 of an op),
and retention by size (``NOSANA_TUI_LOG_RETENTION``) dropping the oldest lines past the budget.

The real agent over loopback and the real Docker engine; no test reads a wall-clock time
(``bench/logs.py`` measures the rates).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nosana_tui.api.models import JobStatus
from nosana_tui.client.node import NodeClient, job_done
from nosana_tui.node.store import DEFAULT_LOG_RETENTION
from nosana_tui.settings import SettingError, load_settings, parse_size
from tests.node.conftest import (
    AgentProcess,
    free_port,
    job,
    run_op,
    started_agent,
    system_log,
    wait_for,
)

pytestmark = pytest.mark.anyio


async def stored(client: NodeClient, job_id: str, op_id: str) -> list[str]:
    return [e.text async for e in client.logs(job_id, op_id) if not isinstance(e, int)]


async def test_an_op_printing_200000_lines_keeps_every_line(client: NodeClient) -> None:
    view = await client.submit(job(run_op("printer", "seq 1 200000")), name="chatty")
    done = await wait_for(client, view.id, job_done, timeout=120)
    assert done.status is JobStatus.SUCCESS
    lines = await stored(client, view.id, "printer")
    assert len(lines) == 200_000
    assert lines[0] == "1" and lines[-1] == "200000"
    assert lines == [str(i) for i in range(1, 200_001)]  # in order, none twice
    # the text form reads the same lines
    text = "".join([c async for c in client.log_text(view.id, "printer")])
    assert text.splitlines() == lines
    # tail and after find their place among them
    tail = [e async for e in client.logs(view.id, "printer", tail=3) if not isinstance(e, int)]
    assert [e.text for e in tail] == ["199998", "199999", "200000"]
    after = [
        e.text
        async for e in client.logs(view.id, "printer", after=tail[0].seq)
        if not isinstance(e, int)
    ]
    assert after == ["199999", "200000"]
    assert not any("faster than its output" in line for line in await system_log(client, view.id))
    await client.remove(view.id)


@pytest.fixture
def small_budget(
    docker_engine: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgentProcess]:
    monkeypatch.setenv("NOSANA_TUI_LOG_RETENTION", "1MiB")
    with started_agent(tmp_path) as agent:
        yield agent


async def test_past_the_retention_budget_the_oldest_lines_go(small_budget: AgentProcess) -> None:
    async with small_budget.client() as client:
        view = await client.submit(job(run_op("printer", "seq 1 200000")), name="budget")
        done = await wait_for(client, view.id, job_done, timeout=120)
        assert done.status is JobStatus.SUCCESS
        lines = await stored(client, view.id, "printer")
        # 1 MiB holds ~55,000 of these lines (each stored as its text, its time, 3 bytes)
        assert 40_000 < len(lines) < 62_000, len(lines)
        first = int(lines[0])
        assert lines == [str(i) for i in range(first, 200_001)]  # the newest, none missing
        assert sum(f.stat().st_size for f in (small_budget.data_dir / "logs").rglob("*.log")) < (
            2 << 20
        )
        await client.remove(view.id)
        assert not (small_budget.data_dir / "logs" / view.id).exists()


def test_a_retention_that_is_not_a_size_stops_the_agent_with_what_to_write(
    tmp_path: Path,
) -> None:
    port = free_port()
    agent = AgentProcess(f"http://127.0.0.1:{port}", port, tmp_path / "config", tmp_path / "data")
    for value, says in (("lots", "is not a size"), ("100KiB", "is less than the least")):
        result = subprocess.run(
            [sys.executable, "-m", "nosana_tui", "node", "serve", "--port", str(port)],
            env={**agent.env, "NOSANA_TUI_LOG_RETENTION": value},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 2, result.stderr
        assert f"NOSANA_TUI_LOG_RETENTION={value!r} {says}" in result.stderr
        assert "Traceback" not in result.stderr


def test_retention_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("1GiB") == parse_size("1g") == parse_size("1 G") == 1 << 30
    assert parse_size("512MiB") == parse_size("512m") == 512 << 20
    assert parse_size("800MB") == 800_000_000 and parse_size("2kb") == 2_000
    assert parse_size("1.5GiB") == 3 << 29 and parse_size("1048576") == 1 << 20
    for bad in ("", "lots", "1 GiBs", "-1G", "1e9", "GiB"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.delenv("NOSANA_TUI_LOG_RETENTION", raising=False)
    assert load_settings(None).log_retention == DEFAULT_LOG_RETENTION == 1 << 30
    monkeypatch.setenv("NOSANA_TUI_LOG_RETENTION", " 2GiB ")
    assert load_settings(None).log_retention == 2 << 30
    monkeypatch.setenv("NOSANA_TUI_LOG_RETENTION", "1e9")
    with pytest.raises(SettingError, match="write bytes, or a number with a unit"):
        load_settings(None)
