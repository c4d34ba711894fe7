"""Health checks against real servers on 127.0.0.1 (no Docker): an HTTP server in a thread and a
tiny TCP server that answers a websocket upgrade."""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from nosana_tui.engine.health import check_http, check_websocket, run_check
from nosana_tui.jobformat.model import HttpHealthCheck, WebSocketHealthCheck

pytestmark = pytest.mark.anyio


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpServer:
    port: int
    requests: list[Seen] = field(default_factory=list)


def _handler(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.requests.append(
                Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            # /status/<code> answers <code>; anything else 200
            code = 200
            if self.path.startswith("/status/"):
                code = int(self.path.rsplit("/", 1)[1])
            payload = b'{"ok": true}'
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    state = HttpServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
async def http() -> Any:
    # never a proxy: the checks go to 127.0.0.1, as the agent's do
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_check(**kwargs: Any) -> HttpHealthCheck:
    values: dict[str, Any] = {
        "type": "http",
        "path": "/",
        "method": "GET",
        "expected_status": 200,
        "continuous": False,
        **kwargs,
    }
    return HttpHealthCheck.model_validate(values)


# --- http -----------------------------------------------------------------------------------------


async def test_http_expected_status_matches(http: httpx.AsyncClient, http_server: HttpServer):
    result = await check_http(http, "127.0.0.1", http_server.port, http_check(path="/health"))
    assert result.ok
    assert "GET /health: 200" in result.detail
    assert [(r.method, r.path) for r in http_server.requests] == [("GET", "/health")]


async def test_http_other_status_codes(http: httpx.AsyncClient, http_server: HttpServer):
    port = http_server.port
    mismatch = await check_http(http, "127.0.0.1", port, http_check(path="/status/503"))
    assert not mismatch.ok
    assert "503, expected 200" in mismatch.detail
    wanted = await check_http(
        http, "127.0.0.1", port, http_check(path="/status/404", expected_status=404)
    )
    assert wanted.ok
    # 200 is a failure when something else is expected
    other = await check_http(http, "127.0.0.1", port, http_check(expected_status=204))
    assert not other.ok and "200, expected 204" in other.detail


async def test_http_path_without_a_slash_is_rooted(
    http: httpx.AsyncClient, http_server: HttpServer
):
    result = await check_http(http, "127.0.0.1", http_server.port, http_check(path="v1/models"))
    assert result.ok
    assert http_server.requests[-1].path == "/v1/models"


async def test_http_post_sends_json_body_and_headers(
    http: httpx.AsyncClient, http_server: HttpServer
):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "héllo"}], "max_tokens": 1}
    check = http_check(
        path="/v1/chat/completions",
        method="POST",
        headers={"Authorization": "Bearer s3cret", "X-Probe": "nosana"},
        body=body,
    )
    result = await check_http(http, "127.0.0.1", http_server.port, check)
    assert result.ok, result.detail
    seen = http_server.requests[-1]
    assert seen.method == "POST"
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer s3cret"
    assert seen.headers["x-probe"] == "nosana"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == body


async def test_http_string_body_is_sent_as_is_and_headers_may_set_its_type(
    http: httpx.AsyncClient, http_server: HttpServer
):
    check = http_check(
        method="PUT", body="plain text", headers={"Content-Type": "text/plain"}, path="/p"
    )
    assert (await check_http(http, "127.0.0.1", http_server.port, check)).ok
    seen = http_server.requests[-1]
    assert (seen.method, seen.body, seen.headers["content-type"]) == (
        "PUT",
        b"plain text",
        "text/plain",
    )
    # a JSON body keeps a Content-Type the check sets itself
    check = http_check(method="POST", body={"a": 1}, headers={"Content-Type": "application/x"})
    assert (await check_http(http, "127.0.0.1", http_server.port, check)).ok
    assert http_server.requests[-1].headers["content-type"] == "application/x"


async def test_http_delete_without_body(http: httpx.AsyncClient, http_server: HttpServer):
    assert (await check_http(http, "127.0.0.1", http_server.port, http_check(method="DELETE"))).ok
    seen = http_server.requests[-1]
    assert seen.method == "DELETE" and seen.body == b""


async def test_http_connection_refused_is_not_ok(http: httpx.AsyncClient):
    result = await check_http(http, "127.0.0.1", closed_port(), http_check(path="/x"))
    assert not result.ok
    assert result.detail == "GET /x: ConnectError"


async def test_run_check_dispatches_http(http: httpx.AsyncClient, http_server: HttpServer):
    assert (await run_check(http, "127.0.0.1", http_server.port, http_check())).ok


# --- websocket ------------------------------------------------------------------------------------


@dataclass
class WsServer:
    port: int
    requests: list[bytes] = field(default_factory=list)


def ws_server(
    answer: bytes, close: bool = True
) -> tuple[socketserver.ThreadingTCPServer, WsServer]:
    state = WsServer(port=0)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(4096)
                if not chunk:
                    return
                data += chunk
            state.requests.append(data)
            self.request.sendall(answer)
            if not close:
                # keep the connection open, as a real websocket server does
                self.request.settimeout(5)
                with contextlib.suppress(OSError):
                    self.request.recv(1)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, state


UPGRADE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: x\r\n\r\n"
)


@pytest.fixture
def ws() -> Iterator[Any]:
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(answer: bytes, close: bool = True) -> WsServer:
        server, state = ws_server(answer, close)
        servers.append(server)
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def ws_check(expected: str) -> WebSocketHealthCheck:
    return WebSocketHealthCheck.model_validate(
        {"type": "websocket", "expected_response": expected, "continuous": True}
    )


async def test_websocket_expected_response_in_the_status_line(ws: Any):
    server = ws(UPGRADE + b"\x81\x05hello", close=False)
    result = await check_websocket("127.0.0.1", server.port, ws_check("101 Switching Protocols"))
    assert result.ok, result.detail
    request = server.requests[0].decode()
    assert request.startswith("GET / HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in request
    assert "Upgrade: websocket\r\n" in request
    assert "Connection: Upgrade\r\n" in request
    assert "Sec-WebSocket-Key: " in request
    assert "Sec-WebSocket-Version: 13\r\n" in request


async def test_websocket_expected_response_in_the_first_frame(ws: Any):
    server = ws(UPGRADE + b"\x81\x0bserver-ready")
    assert (await check_websocket("127.0.0.1", server.port, ws_check("server-ready"))).ok


async def test_websocket_expected_response_not_found(ws: Any):
    server = ws(UPGRADE + b"\x81\x05hello")
    result = await check_websocket("127.0.0.1", server.port, ws_check("pong"))
    assert not result.ok
    assert "'pong' not in the answer" in result.detail


async def test_websocket_not_found_on_an_open_connection_gives_up(ws: Any):
    server = ws(b"HTTP/1.1 400 Bad Request\r\n\r\n", close=False)
    result = await check_websocket("127.0.0.1", server.port, ws_check("101"))
    assert not result.ok


async def test_websocket_refused_is_not_ok(http: httpx.AsyncClient):
    check = ws_check("101")
    result = await check_websocket("127.0.0.1", closed_port(), check)
    assert not result.ok
    assert result.detail.startswith("websocket: ")
    assert not (await run_check(http, "127.0.0.1", closed_port(), check)).ok
