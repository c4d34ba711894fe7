"""A registry that wants a login (Debian's ``docker-registry`` with htpasswd, on a free loopback
port of its own), holding one private image made here: busybox plus a marker file, so an op
proves which image it ran. The image is pushed with the Docker SDK and then removed locally, so
every pull really downloads it. 127.0.0.0/8 is an insecure registry range by default, so Docker
talks plain HTTP to it.

Used by the registry ``authentication`` tests (``tests/node/test_registry_auth.py``) and by the
job that mounts every kind of resource from a private image (``test_all_kinds.py``).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.dockerenv import TEST_LABEL
from tests.node.conftest import free_port

USER = "alice"
MARKER = "served by the private test registry"


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    image: str  # the private image it holds
    password: str
    process: subprocess.Popen[bytes]
    log: Path


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError as err:
        return err.code == 401  # up, and it wants a login
    except OSError:
        return False
    return False  # no login asked: not the registry this test set up


@contextlib.contextmanager
def private_registry(root: Path) -> Iterator[Registry]:
    """A registry with htpasswd authentication (bcrypt, as the registry wants), holding one
    private image; ours alone, stopped afterwards, and the image removed from the engine."""
    bcrypt = pytest.importorskip("bcrypt")
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: run scripts/docker-env.sh --registry")
    password = "pw-" + secrets.token_hex(8)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    log = root / "registry.log"
    # the registry takes a port number, not 0: a free one is picked, and picked again if another
    # process binds it first (the engine's machine is shared)
    for _ in range(5):
        host = f"127.0.0.1:{free_port()}"
        process = _serve(binary, root, host, log)
        if _started(process, host, log):
            break
    else:
        pytest.fail(f"registry did not start: {log.read_text()[-2000:]}")
    image = f"{host}/private/busybox:latest"
    try:
        _push_private_image(image, password)
        yield Registry(host, image, password, process, log)
    finally:
        process.terminate()
        process.wait(10)
        with contextlib.suppress(Exception):
            docker.from_env().images.remove(image, force=True)


def _serve(binary: str, root: Path, host: str, log: Path) -> subprocess.Popen[bytes]:
    (root / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n  secret: {secrets.token_hex(8)}\n"
        f"auth:\n  htpasswd:\n    realm: nosana-tui-test\n    path: {root / 'htpasswd'}\n"
    )
    with open(log, "wb") as out:  # this try's words alone
        return subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=out, stderr=out)


def _started(process: subprocess.Popen[bytes], host: str, log: Path) -> bool:
    """True once the registry answers at HOST; False if it exited because the port was taken."""
    deadline = time.monotonic() + 20
    while not _answers(f"http://{host}/v2/"):
        if process.poll() is not None:
            if "address already in use" in log.read_text(errors="replace"):
                return False
            pytest.fail(f"registry exited: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            process.terminate()
            process.wait(10)
            pytest.fail(f"registry did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return True


def _push_private_image(image: str, password: str) -> None:
    """busybox plus /marker, committed as IMAGE, pushed with the credentials, removed here."""
    client = docker.from_env()
    made = client.containers.run(
        "busybox:latest",
        ["sh", "-c", f"echo '{MARKER}' > /marker"],
        detach=True,
        labels={TEST_LABEL: "registry-auth"},
    )
    try:
        made.wait(timeout=30)
        repo, tag = image.rsplit(":", 1)
        made.commit(repository=repo, tag=tag)
    finally:
        made.remove(force=True)
    auth = {"username": USER, "password": password}
    for event in client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
        assert "error" not in event, event
    client.images.remove(image)


def has_image(image: str) -> bool:
    try:
        docker.from_env().images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def private_credentials(password: str) -> dict[str, dict[str, str]]:
    """An op's ``authentication`` for the registry's user."""
    return {"docker": {"username": USER, "password": password}}
