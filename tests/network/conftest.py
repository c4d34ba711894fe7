"""The stand-in gateway (standin.py), with the JSON schemas exported once per session from the
pinned npm ``@nosana/api`` (package.json, package-lock.json)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.network.standin import Key, Server, Standin, default_markets, load_schemas
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
