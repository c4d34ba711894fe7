"""Ollama resources on the real agent and Docker engine, pulled over the registry protocol from
the local registry (Debian's docker-registry on 127.0.0.1:5000), to which each test pushes a
model through the registry's own API (blob uploads, then a manifest with Ollama's media types),
as ``ollama push`` does. The volume must hold Ollama's own layout, byte for byte."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    REGISTRY_URL,
    checksum_op,
    endpoints,
    failed_with,
    made,
    push_model,
    resource_agent,
    run_job,
    sha256,
    sums,
)

pytestmark = pytest.mark.anyio


class BreakingProxy:
    """The registry, except that every blob download breaks off half-way."""

    def __init__(self) -> None:
        self.blob_gets = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                upstream = httpx.get(
                    REGISTRY_URL + self.path,
                    headers={k: v for k, v in self.headers.items() if k.lower() == "accept"},
                    trust_env=False,
                    follow_redirects=True,
                )
                blob = re.search(r"/blobs/sha256:", self.path) is not None
                body = upstream.content
                self.send_response(upstream.status_code)
                for key in ("Content-Type", "Docker-Content-Digest"):
                    if key in upstream.headers:
                        self.send_header(key, upstream.headers[key])
                self.send_header("Content-Length", str(len(body)))
                if blob:
                    # said on a HEAD too: a client must not take the connection, closed below,
                    # for one to reuse (an attempt lost on it never reached the proxy)
                    self.send_header("Connection", "close")
                if blob and self.command == "GET":
                    proxy.blob_gets += 1
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body[: len(body) // 2] if blob else body)
                if blob:
                    self.close_connection = True

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def model() -> tuple[str, dict[str, bytes]]:
    name = f"tinyllm-{uuid.uuid4().hex[:8]}"
    return name, push_model(name, "q4")


@pytest.fixture(scope="module")
def ollama_agent(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("ollama-agent"), endpoints(ollama=True)) as proc:
        yield proc


def ollama(model_name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Ollama", "model": model_name, **extra}


async def test_model_arrives_in_ollamas_layout_and_is_reused(
    ollama_agent: AgentProcess, model: tuple[str, dict[str, bytes]]
) -> None:
    name, files = model
    # no target: Ollama's own folder, where an ollama container looks
    definition = job(checksum_op("/root/.ollama/models", resources=[ollama(f"{name}:q4")]))
    async with ollama_agent.client() as client:
        first = await run_job(client, definition)
        assert first.status is JobStatus.SUCCESS, first.model_dump_json(indent=1)
        out = await op_log(client, first.id, "read")
        assert sums(out) == {path: sha256(data) for path, data in files.items()}
        assert "READ-ONLY" in out
        fetch = first.ops[0].fetch[0]
        assert fetch.target == "/root/.ollama/models"
        assert (fetch.files_done, fetch.files_total) == (4, 4)  # config + 3 layers
        log = "\n".join(await system_log(client, first.id))
        assert f"fetching Ollama {name}:q4 into volume {fetch.volume}" in log

        second = await run_job(client, definition)
        assert second.status is JobStatus.SUCCESS
        assert sums(await op_log(client, second.id, "read")) == sums(out)
        assert f"reused cached volume {fetch.volume}" in "\n".join(
            await system_log(client, second.id)
        )


async def test_a_target_of_its_own(
    ollama_agent: AgentProcess, model: tuple[str, dict[str, bytes]]
) -> None:
    name, files = model
    resource = ollama(f"library/{name}:q4", target="/models")
    async with ollama_agent.client() as client:
        view = await run_job(client, job(checksum_op("/models", resources=[resource])))
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "read")) == {
            p: sha256(d) for p, d in files.items()
        }


async def test_missing_model_and_tag_fail_with_the_registrys_words(
    ollama_agent: AgentProcess, model: tuple[str, dict[str, bytes]]
) -> None:
    name, _ = model
    tried = [ollama(m, target="/m") for m in ("no-such-model:7b", f"{name}:no-such-tag")]
    tried.append(ollama("Not A Name!", target="/m"))
    assert not made(endpoints(ollama=True), *tried)
    async with ollama_agent.client() as client:
        for wanted in ("no-such-model:7b", f"{name}:no-such-tag"):
            view, log = await failed_with(
                client, job(checksum_op("/m", resources=[ollama(wanted, target="/m")]))
            )
            message = view.ops[0].message
            assert view.ops[0].status is OpStatus.FAILED
            assert f"Ollama resource Ollama {wanted}" in message, message
            assert "404" in message and "UNKNOWN" in message, message  # MANIFEST/NAME_UNKNOWN
            assert message in log
        bad, _ = await failed_with(
            client, job(checksum_op("/m", resources=[ollama("Not A Name!", target="/m")]))
        )
        assert "is not an Ollama model name" in bad.ops[0].message
    assert not made(endpoints(ollama=True), *tried)


async def test_broken_download_fails_after_retries_and_leaves_nothing(
    ollama_agent: AgentProcess, model: tuple[str, dict[str, bytes]]
) -> None:
    name, _ = model
    proxy = BreakingProxy()
    resource = ollama(f"{proxy.host}/library/{name}:q4", target="/m")
    try:
        async with ollama_agent.client() as client:
            view, log = await failed_with(client, job(checksum_op("/m", resources=[resource])))
    finally:
        proxy.close()
    message = view.ops[0].message
    assert "broke off" in message and "3 tries" in message, message
    assert message in log
    assert proxy.blob_gets == 3  # tried three times, then gave up
    assert not made(endpoints(ollama=True), resource)
    assert not any((ollama_agent.data_dir / "downloads").iterdir())
