"""The op state table: its shape, the rules it encodes, and the README quoting it verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from nosana_tui.api.models import OpStatus
from nosana_tui.engine.states import (
    TRANSITIONS,
    OpEvent,
    RefusedEvent,
    next_state,
    table_markdown,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_state_has_a_way_out_but_only_a_launch_leaves_an_end() -> None:
    for state in OpStatus:
        exits = {e for (s, e) in TRANSITIONS if s is state}
        assert exits, f"{state} is a dead end"
        if state.terminal:
            assert exits == {OpEvent.LAUNCH}, f"{state} may only be restarted: {exits}"


def test_every_event_is_used() -> None:
    assert {e for (_, e) in TRANSITIONS} == set(OpEvent)


def test_a_stop_always_ends_or_begins_ending() -> None:
    """Whatever the op is doing, a stop is never refused unless it has already ended."""
    for state in OpStatus:
        if state.terminal:
            continue
        after = next_state(state, OpEvent.STOP)
        assert after in (OpStatus.STOPPED, OpStatus.STOPPING)


def test_an_op_that_never_ran_can_never_start_but_one_that_runs_cannot_be_told_so() -> None:
    assert next_state(OpStatus.PENDING, OpEvent.NEVER_STARTS) is OpStatus.STOPPED
    assert next_state(OpStatus.WAITING, OpEvent.NEVER_STARTS) is OpStatus.STOPPED
    with pytest.raises(RefusedEvent, match="'never starts' refused in state running"):
        next_state(OpStatus.RUNNING, OpEvent.NEVER_STARTS)


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (OpStatus.STOPPED, OpEvent.RUNNING),  # a launch overruled by a stop must stay stopped
        (OpStatus.FAILED, OpEvent.EXITED_OK),  # an end is not rewritten
        (OpStatus.FINISHED, OpEvent.STOP),
        (OpStatus.PENDING, OpEvent.RUNNING),  # nothing runs before it was launched
    ],
)
def test_races_are_refused(state: OpStatus, event: OpEvent) -> None:
    with pytest.raises(RefusedEvent):
        next_state(state, event)


def test_the_readme_quotes_the_table() -> None:
    assert table_markdown() in README.read_text(), (
        "README.md must quote engine.states.table_markdown() as it is now"
    )
