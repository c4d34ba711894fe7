"""``nosana-tui serve``: the same UI in a web browser, through ``textual-serve``.

Each browser tab that connects gets its own ``nosana-tui`` process (textual-serve's web driver),
and that process controls jobs. So the server is not open to every page the user's browser
shows (a page on any site may make requests to 127.0.0.1, and open websockets to it):

- it listens on 127.0.0.1 alone;
- every request needs the secret made at start and printed in the URL (``?token=...``); the
  first page load trades it for a cookie (HttpOnly, SameSite=Strict, this port's own name) and
  redirects to the same page without it, so it does not stay in the address bar;
- the ``Host`` must be this server (127.0.0.1 or localhost at its port), against DNS rebinding;
- the websocket that drives the app is refused unless its ``Origin`` is this server itself.

The app processes run ``python -m nosana_tui [--node URL]`` with the server's environment (the
same config and data folders). Refusals are 403 with a line that says what is missing.
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from textual_serve.server import Server

HOST = "127.0.0.1"
TOKEN_PARAMETER = "token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def app_command(node_url: str | None) -> str:
    """The shell command textual-serve runs for each browser session: this program's UI."""
    words = [sys.executable, "-m", "nosana_tui"]
    if node_url:
        words += ["--node", node_url]
    return shlex.join(words)


class GuardedServer(Server):
    """textual-serve's server behind a secret, a Host check and an Origin check."""

    def __init__(self, command: str, sock: socket.socket, secret: str | None = None) -> None:
        self.sock = sock
        port = sock.getsockname()[1]
        super().__init__(command, host=HOST, port=port, title="nosana-tui")
        self.secret = secret or secrets.token_urlsafe(32)
        self.cookie = f"nosana_tui_serve_{port}"  # cookies are shared across ports: one each
        self.hosts = {f"{HOST}:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    @property
    def url(self) -> str:
        """The address to open, secret included."""
        return f"{self.public_url}/?{urlencode({TOKEN_PARAMETER: self.secret})}"

    def _is_secret(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.secret.encode())

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in self.hosts:
            raise web.HTTPForbidden(text=f"refused: this server answers as {self.public_url}\n")
        given = request.query.get(TOKEN_PARAMETER)
        if self._is_secret(given) and request.path == "/":
            # trade the secret in the URL for a cookie, and take it out of the address bar
            rest = {k: v for k, v in request.query.items() if k != TOKEN_PARAMETER}
            target = "/" + (f"?{urlencode(rest)}" if rest else "")
            response = web.HTTPSeeOther(target)
            response.set_cookie(
                self.cookie, self.secret, httponly=True, samesite="Strict", path="/"
            )
            raise response
        if not (self._is_secret(given) or self._is_secret(request.cookies.get(self.cookie))):
            raise web.HTTPForbidden(
                text="refused: open the URL `nosana-tui serve` printed (it holds the secret)\n"
            )
        if request.path == "/ws" and request.headers.get("Origin") not in self.origins:
            raise web.HTTPForbidden(text="refused: a websocket from another origin\n")
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        return app

    async def handle_index(self, request: web.Request) -> Any:
        # the page's websocket and static URLs name the host the browser used (one of ours,
        # checked above), so the cookie it holds for that host goes with them
        self.public_url = f"http://{request.host}"
        return await super().handle_index(request)

    async def on_startup(self, app: web.Application) -> None:
        self.public_url = f"http://{HOST}:{self.port}"
        print(f"nosana-tui in your browser: {self.url}", flush=True)
        print(
            "Only this machine can connect, and only with the secret in that URL. "
            "Ctrl-C stops the server (jobs keep running).",
            flush=True,
        )

    def serve(self, debug: bool = False) -> None:
        import asyncio
        import signal

        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(
            self._make_app(),
            sock=self.sock,
            handle_signals=False,
            loop=loop,
            print=lambda *args: None,
        )


def listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:PORT (0: a free port). OSError when it cannot."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve_ui(port: int, node_url: str | None = None) -> int:
    """``nosana-tui serve``: serve the UI on 127.0.0.1:PORT until Ctrl-C."""
    try:
        sock = listen(port)
    except OSError as err:
        print(f"error: cannot listen on {HOST}:{port}: {err.strerror}", file=sys.stderr)
        return 1
    GuardedServer(app_command(node_url), sock).serve()
    return 0
