"""Real servers on loopback for the resource tests, and an agent pointed at them.

- S3: moto in server mode (a real HTTP S3 server from PyPI), with IAM authentication on, so a
  wrong key is refused as AWS refuses it.
- Ollama: the local registry (Debian's docker-registry on 127.0.0.1:5000, started by
  ``scripts/docker-env.sh --registry``); the tests push models to it through its own API.
- Hugging Face: ``hubstandin`` (no server implementation of the hub is published).

Every cached volume a test makes is removed by the test's clean-up, so the session's leftover
check sees none of them: ``resource_agent`` starts an agent pointed at the servers a module needs
and removes, when the module is done, the volumes its jobs name. Other sessions use the same
engine at the same time: a test looks only at the volumes its own resources would make
(``volume_of``, ``made``), never at every volume with the resource label.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from nosana_tui.api.models import JobStatus, JobView
from nosana_tui.backends.downloads import Downloads, Endpoints
from nosana_tui.client.node import NodeClient
from nosana_tui.engine.resources import AnyResource, FetchError, resource_key, volume_name
from tests.dockerenv import REGISTRY
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

REGISTRY_URL = f"http://{REGISTRY}"  # Ollama models are pushed here
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"

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
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(MOTO_FREE_ACTIONS),
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    # moto takes a port number, not 0: a free one is picked, and picked again when another
    # process took it first (moto then exits) - the machine is shared
    for tries_left in reversed(range(5)):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            _wait_port(port, process, "moto")
            break
        except RuntimeError:
            if process.poll() is None or not tries_left:
                process.terminate()
                process.wait(10)
                log.close()
                raise
    try:
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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def agent_with(root: Path, env: dict[str, str]) -> Iterator[AgentProcess]:
    """An agent (``started_agent``) whose environment has ENV besides."""
    with mock.patch.dict(os.environ, env), started_agent(root) as proc:
        yield proc


@contextlib.contextmanager
def resource_agent(root: Path, env: dict[str, str]) -> Iterator[AgentProcess]:
    """``agent_with``, and afterwards the cached volumes its jobs made removed: those its jobs
    name (``fetch[].volume``), not every volume made meanwhile (other sessions share the engine,
    and may be using theirs)."""
    before = set(resource_volumes())
    fetched: set[str] = set()
    try:
        with agent_with(root, env) as proc:
            try:
                yield proc
            finally:
                fetched = fetched_volumes(proc)
    finally:
        remove_volumes(sorted(fetched - before))


def fetched_volumes(agent: AgentProcess) -> set[str]:
    """The volumes the resources of the agent's jobs (those not removed) were fetched into."""
    headers = {"Authorization": f"Bearer {agent.token}"}
    try:
        answer = httpx.get(f"{agent.url}/api/jobs", headers=headers, timeout=10, trust_env=False)
        answer.raise_for_status()
    except httpx.HTTPError:
        return set()  # (the agent is gone: a test stopped it)
    return {
        fetch["volume"]
        for view in answer.json()
        for op in view.get("ops") or []
        for fetch in op.get("fetch") or []
        if fetch.get("volume")
    }


def endpoints(
    s3: S3Server | None = None, hf: str | None = None, ollama: bool = False
) -> dict[str, str]:
    """The agent's environment that points its fetchers at the test servers."""
    env = {}
    if s3 is not None:
        env["NOSANA_TUI_S3_ENDPOINT"] = s3.url
    if hf is not None:
        env["HF_ENDPOINT"] = hf
    if ollama:
        env["NOSANA_TUI_OLLAMA_REGISTRY"] = REGISTRY_URL
    return env


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_model(name: str, tag: str, weights: bytes | None = None) -> dict[str, bytes]:
    """Push a small model to the local registry as ``ollama push`` lays one out (blob uploads,
    then a manifest with Ollama's media types); returns {path in the volume: bytes}."""
    weights = os.urandom(4 << 20) if weights is None else weights
    template = b"{{ .Prompt }}"
    params = b'{"stop": ["</s>"]}'
    layers = [
        ("application/vnd.ollama.image.model", weights),
        ("application/vnd.ollama.image.template", template),
        ("application/vnd.ollama.image.params", params),
    ]
    config = json.dumps(
        {
            "model_format": "gguf",
            "model_family": "llama",
            "model_type": "tiny",
            "file_type": "Q4_0",
            "rootfs": {"type": "layers", "diff_ids": [_digest(d) for _, d in layers]},
        }
    ).encode()
    with httpx.Client(base_url=REGISTRY_URL, trust_env=False, timeout=30) as http:
        for data in (config, *(d for _, d in layers)):
            start = http.post(f"/v2/library/{name}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = start.headers["Location"]
            joiner = "&" if "?" in location else "?"
            done = http.put(
                f"{location}{joiner}digest={_digest(data)}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert done.status_code == 201, done.text
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": _digest(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": kind, "digest": _digest(data), "size": len(data)}
                    for kind, data in layers
                ],
            }
        ).encode()
        put = http.put(
            f"/v2/library/{name}/manifests/{tag}",
            content=manifest,
            headers={"Content-Type": MANIFEST_TYPE},
        )
        assert put.status_code == 201, put.text
    files = {f"blobs/{_digest(d).replace(':', '-')}": d for d in (config, template, params)}
    files[f"blobs/{_digest(weights).replace(':', '-')}"] = weights
    files[f"manifests/registry.ollama.ai/library/{name}/{tag}"] = manifest
    return files


def remove_volumes(names: list[str]) -> None:
    api = docker.from_env().api
    for name in names:
        try:
            api.remove_volume(name, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:
            if err.status_code != 409:  # in use: another session's job reuses it; leave it
                raise


def resource_volumes() -> dict[str, dict[str, str]]:
    api = docker.from_env().api
    found = api.volumes(filters={"label": LABEL_RESOURCE}).get("Volumes") or []
    return {v["Name"]: v.get("Labels") or {} for v in found}


def volume_of(env: dict[str, str], resource: dict[str, Any]) -> str | None:
    """The cached volume an agent started with ENV (``endpoints``) makes for RESOURCE, named as
    the agent names it (the key of what the fetcher says the resource is); None for a resource it
    cannot name. Other sessions share the engine and make resource volumes of their own: a test
    looks at the names its own resources would make, never at every labelled volume."""
    ends = Endpoints(
        s3=env.get("NOSANA_TUI_S3_ENDPOINT", Endpoints.s3),
        hf=env.get("HF_ENDPOINT", Endpoints.hf),
        ollama=env.get("NOSANA_TUI_OLLAMA_REGISTRY", Endpoints.ollama),
    )
    try:
        parsed: AnyResource = TypeAdapter(AnyResource).validate_python(resource)
        return volume_name(parsed, resource_key(Downloads(ends).identity(parsed), parsed))
    except (ValidationError, FetchError):
        return None


def made(env: dict[str, str], *resources: dict[str, Any]) -> set[str]:
    """Which of the volumes RESOURCES would make (``volume_of``) are on the engine."""
    names = {volume_of(env, r) for r in resources}
    return {n for n in names if n is not None} & set(resource_volumes())


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
