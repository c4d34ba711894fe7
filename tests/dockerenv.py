"""A real Docker engine and images for the tests that need them.

``ensure_docker()`` makes sure ``docker info`` answers and ``busybox:latest`` exists, running
``scripts/docker-env.sh`` (which installs Debian's docker.io / busybox-static / docker-registry and
starts dockerd when needed) at most once per test process. With ``registry=True`` it also makes
sure a local registry on 127.0.0.1:5000 holds ``127.0.0.1:5000/busybox:latest``.

When the engine can't be had the tests *fail*, so CI never passes by skipping them. Set
``NOSANA_TUI_SKIP_DOCKER=1`` to skip them instead; the set-up script is then not run either
(no packages installed, no daemons started), only an engine that already answers is used.

``leftovers()`` lists what our agent left behind (anything carrying the ``nosana-tui.job`` label);
tests label their own helper containers with ``TEST_LABEL``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "docker-env.sh"

TEST_LABEL = "nosana-tui.test"
JOB_LABEL = "nosana-tui.job"
IMAGE = "busybox:latest"
REGISTRY = "127.0.0.1:5000"
REGISTRY_IMAGE = f"{REGISTRY}/busybox:latest"
SKIP_ENV = "NOSANA_TUI_SKIP_DOCKER"

_SCRIPT_TIMEOUT_S = 1200  # a cold apt-get install on a slow mirror, a queue behind another run

_ready: set[bool] = set()  # the `registry` values already ensured in this process
_failed: dict[bool, str] = {}  # ... and those that failed, with why (so we don't retry per test)


def _run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def docker_ok() -> bool:
    """The docker command line is here and an engine answers it."""
    if shutil.which("docker") is None:
        return False
    try:
        return _run(["docker", "info"]).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _image_ok(image: str) -> bool:
    try:
        return _run(["docker", "image", "inspect", image]).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _registry_ok() -> bool:
    """The registry answers and holds busybox:latest."""
    try:
        url = f"http://{REGISTRY}/v2/busybox/tags/list"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        with opener.open(url, timeout=5) as resp:
            return "latest" in (json.load(resp).get("tags") or [])
    except (OSError, ValueError):
        return False


def _quick_ok(registry: bool) -> bool:
    return docker_ok() and _image_ok(IMAGE) and (not registry or _registry_ok())


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _setup(registry: bool) -> str | None:
    """Run the set-up script (it serialises itself with flock); None if it worked, else why not."""
    args = ["bash", str(SCRIPT)] + (["--registry"] if registry else [])
    try:
        proc = _run(args, timeout=_SCRIPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"{' '.join(args)} took more than {_SCRIPT_TIMEOUT_S}s"
    if proc.returncode != 0:
        return (
            f"{' '.join(args)} failed (exit {proc.returncode}):\n"
            f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}".rstrip()
        )
    if not _quick_ok(registry):
        return f"{' '.join(args)} succeeded, yet the engine/images still do not answer"
    return None


def ensure_docker(registry: bool = False) -> None:
    """A Docker engine answers and busybox:latest (and, if asked, the local registry) exist.

    Fails the calling test loudly when that can't be arranged; skips it instead only when
    NOSANA_TUI_SKIP_DOCKER=1.
    """
    if registry in _ready or (not registry and True in _ready):
        return
    what = "Docker engine + busybox:latest" + (f" + registry {REGISTRY}" if registry else "")
    skip = os.environ.get(SKIP_ENV, "") == "1"
    if registry and False in _failed:  # no engine: no registry either; don't try again
        _failed[True] = _failed[False]
    if registry not in _failed:
        if _quick_ok(registry):
            _ready.add(registry)
            return
        if skip:
            pytest.skip(f"{SKIP_ENV}=1 and no {what} answers (run scripts/docker-env.sh)")
        reason = _setup(registry)
        if reason is None:
            _ready.add(registry)
            return
        _failed[registry] = reason
    reason = _failed[registry]
    if skip:
        pytest.skip(f"{what} unavailable ({SKIP_ENV}=1): {reason.splitlines()[0]}")
    pytest.fail(
        f"{what} unavailable; set {SKIP_ENV}=1 to skip these tests instead.\n{reason}",
        pytrace=False,
    )


def _names(args: list[str]) -> list[str]:
    proc = _run(args)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return sorted(line for line in proc.stdout.splitlines() if line.strip())


def leftovers(label: str = JOB_LABEL) -> dict[str, list[str]]:
    """Names of containers (any state), networks and volumes carrying the label key ``label``."""
    flt = ["--filter", f"label={label}"]
    return {
        "containers": _names(["docker", "ps", "-a", *flt, "--format", "{{.Names}}"]),
        "networks": _names(["docker", "network", "ls", *flt, "--format", "{{.Name}}"]),
        "volumes": _names(["docker", "volume", "ls", *flt, "--format", "{{.Name}}"]),
    }
