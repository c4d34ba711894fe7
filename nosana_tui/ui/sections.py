"""The UI's three sections and their keys, shown in the header (the footer has no room for them
at 80 columns beside each section's own keys)."""

from __future__ import annotations

SECTIONS = (("1", "Templates"), ("2", "Jobs"), ("3", "Nodes"))


def section_tabs(current: str) -> str:
    """``"[1 Templates]  2 Jobs  3 Nodes"``: every section's key, the current one in brackets."""
    return "  ".join(
        f"[{key} {name}]" if name == current else f"{key} {name}" for key, name in SECTIONS
    )
