"""Real servers on loopback for the resource tests, and an agent pointed at them.

- S3: moto in server mode (a real HTTP S3 server from PyPI), with IAM authentication on, so a
  wrong key is refused as AWS refuses it.
- Ollama: the local registry (Debian's docker-registry on 127.0.0.1:5000, started by
  ``scripts/docker-env.sh --registry``); the tests push models to it through its own API.
- Hugging Face: ``hubstandin`` (no server implementation of the hub is published).

Every cached volume a test makes is removed by the test's clean-up (by its resource label), so
the session's leftover check sees none of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import docker
import pytest

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.client.node import NodeClient
from tests.node.conftest import (  # noqa: F401  (docker_engine: a fixture used here)
    AgentProcess,
    docker_engine,
    free_port,
    started_agent,
    system_log,
    wait_for,
)

LABEL_RESOURCE = "nosana-tui.resource"
MARKER = ".nosana-tui-resource.json"

# moto lets this many requests through before it checks credentials: the three that make the
# test's IAM user and its key (create_user, put_user_policy, create_access_key)
MOTO_FREE_ACTIONS = 3


@dataclass(frozen=True)
class S3Server:
    url: str
    key_id: str
    secret: str
    region: str = "us-east-1"

    def client(self, key_id: str | None = None, secret: str | None = None) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret or self.secret,
        )

    def iam(self) -> dict[str, str]:
        return {
            "REGION": self.region,
            "ACCESS_KEY_ID": self.key_id,
            "SECRET_ACCESS_KEY": self.secret,
        }


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:  # a connection, not a request: moto counts requests against its free ones
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(MOTO_FREE_ACTIONS),
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        _wait_port(port, process, "moto")
        import boto3

        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        iam.create_user(UserName="tester")
        iam.put_user_policy(
            UserName="tester",
            PolicyName="all-s3",
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Action":"s3:*","Resource":"*"}]}',
        )
        key = iam.create_access_key(UserName="tester")["AccessKey"]
        yield S3Server(f"http://127.0.0.1:{port}", key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@contextlib.contextmanager
def agent_with(root: Path, env: dict[str, str]) -> Iterator[AgentProcess]:
    """An agent (``started_agent``) whose environment has ENV besides."""
    with mock.patch.dict(os.environ, env), started_agent(root) as proc:
        yield proc


def remove_volumes(names: list[str]) -> None:
    api = docker.from_env().api
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(name, force=True)


def resource_volumes() -> dict[str, dict[str, str]]:
    api = docker.from_env().api
    found = api.volumes(filters={"label": LABEL_RESOURCE}).get("Volumes") or []
    return {v["Name"]: v.get("Labels") or {} for v in found}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum_op(target: str, op_id: str = "read", **args: Any) -> dict[str, Any]:
    """An op that prints the sha256 of every file under TARGET (the marker left out), then
    whether it could write there."""
    cmd = (
        f"cd {target} && find . -type f ! -name {MARKER} | sort | xargs sha256sum; "
        f"if touch {target}/.probe 2>/dev/null; then echo WRITABLE; else echo READ-ONLY; fi"
    )
    return {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox:latest", "cmd": cmd, **args},
    }


def sums(lines: list[str]) -> dict[str, str]:
    """``sha256sum`` lines -> {path without ./: digest}."""
    out = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            out[parts[1].removeprefix("./")] = parts[0]
    return out


async def run_job(client: NodeClient, definition: dict[str, Any], timeout: float = 90) -> JobView:
    view = await client.submit(definition)
    return await wait_for(client, view.id, lambda v: v.status.terminal, timeout=timeout)


async def failed_with(client: NodeClient, definition: dict[str, Any]) -> tuple[JobView, str]:
    """Run a job that must fail; its op's message and its system log."""
    view = await run_job(client, definition)
    assert view.status is JobStatus.FAILED, view.model_dump_json(indent=1)
    log = "\n".join(await system_log(client, view.id))
    return view, log
