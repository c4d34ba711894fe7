"""Writing rows of a ``DataTable`` from data that may come from a node.

A plain string cell is read by ``DataTable`` as Rich markup: a job named ``exp [/v2]`` would fail
to draw, and ``[link=…]`` would change where an endpoint points. Every string here becomes a
``Text`` (never markup). A row that is there already is updated cell by cell, only where the value
changed, and its column is measured again only when the cell grew: re-measuring a column on every
update costs the square of the row count (a 100-op job froze the UI for seconds a render).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


def as_text(value: Cell) -> Text:
    return value if isinstance(value, Text) else Text(value)


def put_row(table: DataTable[Any], key: str, cells: Mapping[str, Cell]) -> None:
    """Add the row KEY with CELLS (by column key; a column without a cell gets ""), or update
    the cells of the row that changed."""
    if key not in table.rows:
        table.add_row(*(as_text(cells.get(str(c.value), "")) for c in table.columns), key=key)
        return
    for column, value in cells.items():
        new = as_text(value)
        old = table.get_cell(key, column)
        if old == new:
            continue
        grew = new.cell_len > (old.cell_len if isinstance(old, Text) else len(str(old)))
        table.update_cell(key, column, new, update_width=grew)
