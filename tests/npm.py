"""A pinned npm package for a test: ``npm ci`` from the folder's package-lock.json when it is not
installed yet; skip, saying so, only when node or npm is absent (CI has both, so there it runs).

Used for every npm package the tests hold us to: ``@nosana/types`` (tests/conformance),
``@nosana/authorization`` (tests/network_auth).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest


def installed_version(folder: Path, package: str) -> str | None:
    manifest = folder / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


def pinned_version(folder: Path, package: str) -> str:
    return str(json.loads((folder / "package.json").read_text())["dependencies"][package])


def npm_ci(folder: Path, package: str) -> str:
    """Node's path, once PACKAGE is installed in FOLDER/node_modules as FOLDER's lock file pins it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    installed = installed_version(folder, package) is not None
    if node is None or (npm is None and not installed):
        pytest.skip(
            f"node and npm are needed to run the network's own {package}; install Node.js 20+ "
            "with npm to run this test (CI does)"
        )
    if not installed and npm is not None:
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"npm ci failed in {folder}:\n{proc.stdout}\n{proc.stderr}"
    return node
