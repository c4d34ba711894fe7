"""Health checks of exposed ports, run from the agent against the port published on 127.0.0.1.

- ``http``: the request (method, path, headers, body) must answer ``expected_status``.
- ``websocket``: an upgrade request; the answer (status line, headers and any first frame) must
  contain ``expected_response``, as the node's ``curl --include ws://...`` check does.

A check never raises: it returns whether it passed and a short reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

from nosana_tui.jobformat.model import HttpHealthCheck, WebSocketHealthCheck

TIMEOUT = 5.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


async def check_http(
    client: httpx.AsyncClient, host: str, port: int, check: HttpHealthCheck
) -> CheckResult:
    url = f"http://{host}:{port}{check.path if check.path.startswith('/') else '/' + check.path}"
    kwargs: dict[str, Any] = {"headers": check.headers or {}}
    if check.body is not None:
        if isinstance(check.body, str):
            kwargs["content"] = check.body
        else:
            kwargs["content"] = json.dumps(check.body)
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs["headers"]}
    try:
        response = await client.request(check.method, url, timeout=TIMEOUT, **kwargs)
    except httpx.HTTPError as err:
        return CheckResult(False, f"{check.method} {check.path}: {type(err).__name__}")
    if response.status_code == check.expected_status:
        return CheckResult(True, f"{check.method} {check.path}: {response.status_code}")
    return CheckResult(
        False,
        f"{check.method} {check.path}: {response.status_code}, expected {check.expected_status}",
    )


async def check_websocket(host: str, port: int, check: WebSocketHealthCheck) -> CheckResult:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    received = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
    except (OSError, TimeoutError) as err:
        return CheckResult(False, f"websocket: {type(err).__name__}")
    try:
        writer.write(request.encode())
        await writer.drain()
        deadline = asyncio.get_running_loop().time() + 2.0
        while check.expected_response.encode() not in received and len(received) < 65536:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(4096), left)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    except OSError as err:
        return CheckResult(False, f"websocket: {type(err).__name__}")
    finally:
        writer.close()
    if check.expected_response.encode() in received:
        return CheckResult(True, "websocket: expected response seen")
    return CheckResult(False, f"websocket: {check.expected_response!r} not in the answer")


async def run_check(
    client: httpx.AsyncClient, host: str, port: int, check: HttpHealthCheck | WebSocketHealthCheck
) -> CheckResult:
    if isinstance(check, HttpHealthCheck):
        return await check_http(client, host, port, check)
    return await check_websocket(host, port, check)
