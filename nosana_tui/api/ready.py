"""When an op counts in a job's READY column (``ps``, the UI's job list): one rule, without
pydantic, so that ``ps`` can count from the node's JSON and ``JobView.ready_count`` from its
models (bench/README.md, "Start-up": pydantic is most of what ``ps`` would import)."""

from __future__ import annotations

FINISHED = "finished"  # OpStatus.FINISHED (tests/test_startup.py holds them equal)


def counts_as_ready(ready: bool, status: str) -> bool:
    """Ready now (running, its start-up checks passed), or finished: its work is done."""
    return bool(ready) or status == FINISHED
