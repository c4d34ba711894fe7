"""``nosana-tui serve``: the UI in a web browser, open to this machine's user alone.

Over HTTP: no secret or a wrong one is refused, on every route; the secret is traded for a
cookie; a foreign ``Host`` is refused; the app's websocket is refused from another origin (or
none) and works from the server's own, where it carries the app's screen.

In a real headless Chromium (Debian's ``chromium``; ``scripts/browser-env.sh`` installs it):
the printed URL loads the UI, and a screenshot is compared with the screen the app sent. What
is compared: the app's output received on the page's websocket is replayed into a terminal
emulator (pyte) to get each cell's background colour; the screenshot's pixels at the cell's
inner corners must show that colour (within 24 per channel) for at least 95 % of the cells.
Glyph shapes are not compared (fonts differ between machines); the text is checked in the
emulated screen. And a page from another origin on this machine, in the same browser holding
the cookie, cannot open the app's websocket.
"""

from __future__ import annotations

import http.server
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyte
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ROOT
from tests.ui.browser import chromium_page, find_chromium, read_png, save

NO_NODE = "http://127.0.0.1:9"  # nothing answers there: the UI says so and draws all the same


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str  # as printed, with the secret
    base: str  # http://127.0.0.1:PORT
    secret: str

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    @property
    def cookie(self) -> str:
        return f"nosana_tui_serve_{self.port}={self.secret}"


@pytest.fixture
def served() -> Iterator[Served]:
    process = subprocess.Popen(
        [sys.executable, "-m", "nosana_tui", "serve", "--port", "0", "--node", NO_NODE],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_-]+)", line)
        assert found, (
            f"no URL in {line!r}; stderr: {process.stderr.read() if process.stderr else ''}"
        )
        yield Served(process, found.group(0), found.group(1), found.group(2))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, follow_redirects=False, timeout=10, trust_env=False)


# --- over HTTP ------------------------------------------------------------------------------------


def test_it_listens_on_loopback_and_prints_a_url_with_a_secret(served: Served) -> None:
    assert served.base.startswith("http://127.0.0.1:")
    assert len(served.secret) >= 40  # 32 random bytes


@pytest.mark.parametrize(
    "path", ["/", "/?token=wrong", "/static/js/textual.js", "/ws", "/download/x"]
)
def test_without_the_secret_every_route_is_refused(served: Served, path: str) -> None:
    answer = _get(served.base + path)
    assert answer.status_code == 403
    assert "open the URL `nosana-tui serve` printed" in answer.text
    wrong = _get(served.base + path, Cookie=f"nosana_tui_serve_{served.port}=wrong")
    assert wrong.status_code == 403


def test_the_secret_becomes_a_cookie_and_leaves_the_address_bar(served: Served) -> None:
    answer = _get(served.url + "&fontsize=14")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/?fontsize=14"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"nosana_tui_serve_{served.port}={served.secret};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = _get(served.base + "/", Cookie=served.cookie)
    assert page.status_code == 200
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in page.text
    assert _get(served.base + "/static/js/textual.js", Cookie=served.cookie).status_code == 200


def test_a_foreign_host_is_refused_even_with_the_secret(served: Served) -> None:
    """DNS rebinding: a name of the attacker's that resolves to 127.0.0.1."""
    answer = _get(served.base + "/", Cookie=served.cookie, Host=f"evil.example:{served.port}")
    assert answer.status_code == 403


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", None])
def test_the_websocket_is_refused_from_another_origin(served: Served, origin: str | None) -> None:
    ws = served.base.replace("http://", "ws://") + "/ws"
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(
            ws,
            origin=origin,  # type: ignore[arg-type]  # None: no Origin header at all
            additional_headers={"Cookie": served.cookie},
            open_timeout=10,
        ),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_the_websocket_from_its_own_page_drives_the_app(served: Served) -> None:
    ws = served.base.replace("http://", "ws://") + "/ws?width=100&height=30"
    screen = pyte.Screen(100, 30)
    stream = pyte.Stream(screen)
    with connect(
        ws, origin=served.base, additional_headers={"Cookie": served.cookie}, open_timeout=10
    ) as socket:  # type: ignore[arg-type]
        deadline = time.monotonic() + 60
        while not ("busybox-hello" in _text(screen) and NO_NODE in _text(screen)):
            assert time.monotonic() < deadline, "\n".join(screen.display)
            message = socket.recv(timeout=60)
            if isinstance(message, bytes):
                stream.feed(message.decode(errors="replace"))
        socket.send('["stdin", "q"]')  # quit: the app ends, and the server closes the socket
    assert "Templates" in _text(screen)


def _text(screen: pyte.Screen) -> str:
    return "\n".join(screen.display)


# --- in a real browser ----------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    find_chromium() is None and not os.environ.get("NOSANA_TUI_REQUIRE_BROWSER"),
    reason="chromium is not installed: scripts/browser-env.sh installs it (.ci/run does)",
)


def _cells_that_match(png: bytes, text: str, rect: dict[str, float]) -> tuple[int, int, str]:
    """Replay TEXT (the app's output) into a terminal of the page's size; count the cells whose
    background colour the screenshot shows at one of the cell's inner corners."""
    image = read_png(png)
    columns, rows = _size
    screen = pyte.Screen(columns, rows)
    pyte.Stream(screen).feed(text)
    width, height = rect["width"] / columns, rect["height"] / rows
    matched = total = 0
    for y in range(rows):
        for x in range(columns):
            cell = screen.buffer[y][x]
            colour = cell.fg if cell.reverse else cell.bg
            if len(colour) != 6:  # "default": the app paints every cell itself
                continue
            want = tuple(int(colour[i : i + 2], 16) for i in (0, 2, 4))
            total += 1
            left, top = rect["x"] + x * width, rect["y"] + y * height
            corners = [
                (int(left + dx), int(top + dy)) for dx in (1, width - 2) for dy in (1, height - 2)
            ]
            if any(
                max(abs(a - b) for a, b in zip(want, image.pixel(px, py), strict=True)) <= 24
                for px, py in corners
            ):
                matched += 1
    return matched, total, "\n".join(screen.display)


_size = (0, 0)


@needs_chromium
def test_chromium_shows_the_served_ui(served: Served) -> None:
    global _size
    with chromium_page() as page:
        page.call("Page.navigate", url=served.url)
        page.wait_for(
            "window.__received && window.__received.join('').includes('busybox-hello')",
            90,
            "the app's screen on the page's websocket",
        )
        assert page.evaluate("location.href") == served.base + "/"  # the secret left the URL
        time.sleep(1.5)  # the app settles (node bar) and xterm paints the last frame
        sent = page.evaluate("window.__sent.join('\\n')")
        size = re.search(r'\["resize",\{"width":(\d+),"height":(\d+)\}\]', sent)
        assert size, sent
        _size = (int(size.group(1)), int(size.group(2)))
        rect = page.evaluate(
            "JSON.parse(JSON.stringify(document.querySelector('.xterm-screen')"
            ".getBoundingClientRect()))"
        )
        text = page.evaluate("window.__received.join('')")
        png = page.screenshot()
        save(png, "served-ui.png")
    matched, total, shown = _cells_that_match(png, text, rect)
    assert "nosana-tui" in shown and "Templates" in shown and "busybox-hello" in shown, shown
    assert total >= _size[0] * _size[1] * 0.9, (total, _size)
    assert matched >= 0.95 * total, f"{matched} of {total} cells as the app drew them\n{shown}"


FOREIGN_PAGE = """<!doctype html><script>
window.result = "pending";
const socket = new WebSocket("ws://127.0.0.1:%d/ws");
socket.onopen = () => { window.result = "opened"; };
socket.onerror = () => { window.result = "refused"; };
</script>"""


@needs_chromium
def test_chromium_page_of_another_origin_cannot_open_the_websocket(served: Served) -> None:
    """Same browser, cookie held (same site: cookies ignore ports), another origin: refused."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (FOREIGN_PAGE % served.port).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as foreign:
        threading.Thread(target=foreign.serve_forever, daemon=True).start()
        try:
            with chromium_page() as page:
                page.call("Page.navigate", url=served.url)  # the cookie is set
                page.wait_for("document.readyState === 'complete'", 30, "the UI's page")
                page.call("Page.navigate", url=f"http://127.0.0.1:{foreign.server_address[1]}/")
                result = page.wait_for(
                    "window.result !== undefined && window.result !== 'pending' && window.result",
                    30,
                    "the foreign page's websocket",
                )
        finally:
            foreign.shutdown()
    assert result == "refused"


def test_a_port_in_use_is_one_line_and_exit_code_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "nosana_tui", "serve", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: "), result.stderr
    assert "Traceback" not in result.stderr
