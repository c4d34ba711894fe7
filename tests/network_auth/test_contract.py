"""auth stays a bottom layer: each kind of import it must not make breaks its contract
(tests/test_architecture.py's check, over a copy of the package, for the imports auth adds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_architecture as architecture

VIOLATIONS = [
    ("auth/signing.py", "import httpx", "Keys and signatures are pure"),
    ("auth/signing.py", "import websockets", "Keys and signatures are pure"),
    ("auth/keys.py", "import nosana_tui.client.local", "Keys and signatures are pure"),
    ("auth/keys.py", "import nosana_tui.config", "Keys and signatures are pure"),
    ("settings.py", "import nosana_tui.auth.signing", "Terminal-escape cleaning, the config"),
    ("jobformat/diagnostics.py", "import nosana_tui.auth.keys", "The job format is pure"),
    ("api/models.py", "import nosana_tui.auth.signing", "The API's models are data"),
    ("auth/address.py", "import nosana_tui.node.store", "Data flows one way"),
]


@pytest.mark.parametrize(("module", "line", "contract"), VIOLATIONS, ids=lambda v: str(v))
def test_a_forbidden_import_in_or_of_auth_breaks_its_contract(
    module: str, line: str, contract: str, tmp_path: Path
) -> None:
    architecture.test_a_forbidden_import_breaks_its_contract(module, line, contract, tmp_path)
