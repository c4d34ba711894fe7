from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's config or data."""
    monkeypatch.setenv("NOSANA_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("NOSANA_TUI_DATA_DIR", str(tmp_path / "data"))
