"""How the UI shows jobs on the Nosana network: the Jobs table's columns for them (state,
market, node, time run of the timeout, cost so far) and their cells, from the network's facts
that the client puts on each view (``client.network_node.NetworkJobView``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from nosana_tui.client.network_node import NetworkJobView, short
from nosana_tui.ui.style import job_status_text
from nosana_tui.ui.tables import Cell

# "id" holds the job's whole address: the Jobs screen keys and orders rows by it. The widths
# fit the longest value each column can take (a row is written when a job is listed, and its
# cells change in place as the job goes on: a column sized to QUEUED would cut STOPPED).
NETWORK_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "STATE", 11),
    ("name", "MARKET", None),
    ("node", "NODE", 11),
    ("duration", "TIME", 13),
    ("cost", "COST", 9),
    ("id", "JOB", None),
)


def span(seconds: int) -> str:
    """``42s``, ``3m12s``, ``1h04m``: a narrow column's time."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if rest else f"{hours}h"


def cost_text(job: NetworkJobView) -> str:
    facts = job.network
    if not facts.time_start:
        return "-"
    if facts.cost_usd is not None:
        usd = facts.cost_usd
        return f"${usd:,.4f}" if 0 < usd < 0.01 else f"${usd:,.2f}"
    return f"{facts.cost_nos:.4f} NOS"


def network_cells(job: NetworkJobView, variables: Mapping[str, str]) -> dict[str, Cell]:
    facts = job.network
    state = job_status_text(job.status, variables, word=False)
    state.append(f" {facts.state}")
    timeout = span(facts.timeout) if facts.timeout else "-"
    return {
        "status": state,
        "name": Text(facts.market),
        "node": short(facts.node) if facts.node else "-",
        "duration": f"{span(facts.elapsed())}/{timeout}",
        "cost": cost_text(job),
        "id": job.id,
    }


def use_columns(
    table: DataTable[Any],
    columns: tuple[tuple[str, str], ...] | tuple[tuple[str, str, int | None], ...],
) -> None:
    """Give TABLE these columns (key, label[, width]), rows and all cleared, unless it has
    them."""
    if [str(c.value) for c in table.columns] == [column[0] for column in columns]:
        return
    table.clear(columns=True)
    for column in columns:
        width = column[2] if len(column) > 2 else None
        table.add_column(column[1], key=column[0], width=width)
