"""A command in a running op, over a node's websocket (``/terminal``; the protocol is described
in ``nosana_tui.node.terminal`` and the README): stdin and resizes go up, output and the exit
code come down. :meth:`NodeClient.terminal` opens one.

Output is handed on raw, as bytes: it is meant for the terminal of the person who asked for the
command (``nosana-tui exec``), never for a UI pane, which would have to clean it first.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from nosana_tui.config import is_loopback
from nosana_tui.sanitize import clean_text

# close codes of the socket -> the HTTP status meant (1008: the op does not run)
CLOSE_STATUS = {1007: 404, 1008: 409, 3000: 401, 3003: 400, 1011: 500}
STDIN_CHUNK = 16 * 1024  # bytes of stdin a message: the agent reads messages of 64 KiB at most
MAX_FRAME = 16 * 1024 * 1024
STREAMS = {1: "stdout", 2: "stderr"}


class TerminalSession:
    """An open ``/terminal`` socket: :meth:`output` until the command ends, then
    :attr:`exit_code`."""

    def __init__(self, ws: Any, tty: bool, where: str) -> None:
        self._ws = ws
        self.tty = tty
        self.where = where
        self.exit_code: int | None = None
        self.exited = False

    async def send(self, data: bytes) -> None:
        """Bytes to the command's stdin."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):  # it ended: ``output`` says how
            for start in range(0, len(data), STDIN_CHUNK):
                await self._ws.send(data[start : start + STDIN_CHUNK])

    async def resize(self, cols: int, rows: int) -> None:
        await self._json({"type": "resize", "cols": cols, "rows": rows})

    async def end_stdin(self) -> None:
        """The end of stdin (a command without a TTY: ``cat`` ends)."""
        await self._json({"type": "eof"})

    async def _json(self, message: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(json.dumps(message))

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", bytes) as the command writes them (with a TTY all is stdout);
        ends when it has exited (:attr:`exit_code` is then set). A refusal, an error of the node
        or a socket that breaks is a :class:`NodeError`."""
        from websockets.exceptions import ConnectionClosed

        from nosana_tui.client.node import NodeError

        try:
            async for message in self._ws:
                if isinstance(message, bytes):
                    if self.tty:
                        yield "stdout", message
                    elif message:
                        yield STREAMS.get(message[0], "stdout"), message[1:]
                    continue
                try:
                    event = json.loads(message)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "exit":
                    code = event.get("code")
                    self.exit_code = code if isinstance(code, int) else None
                    self.exited = True
                elif event.get("type") == "error":
                    text = clean_text(str(event.get("message", "")), keep_colour=False)
                    raise NodeError(f"{self.where}: {text}", 500)
        except ConnectionClosed as err:
            code = err.rcvd.code if err.rcvd else 1006
            reason = clean_text(err.rcvd.reason, keep_colour=False) if err.rcvd else ""
            if code in (1000, 1001) and self.exited:
                return
            raise NodeError(
                f"{self.where}: {reason or 'the socket broke off'} (close {code})",
                CLOSE_STATUS.get(code, 0),
            ) from None
        if not self.exited:
            raise NodeError(f"{self.where}: the socket closed before the command ended")


@contextlib.asynccontextmanager
async def open_terminal(
    url: str,
    header: str,
    job_id: str,
    op_id: str,
    *,
    cmd: list[str] | None,
    tty: bool,
    cols: int,
    rows: int,
    term: str | None,
    timeout: float | None,
) -> AsyncIterator[TerminalSession]:
    """The socket, its first message sent; refusals come with the first read of ``output``."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

    from nosana_tui.client.node import NodeError

    where = f"{url}/terminal"
    body: dict[str, Any] = {"jobAddress": job_id, "opId": op_id, "tty": tty}
    body |= {"cols": cols, "rows": rows}
    if cmd:
        body["cmd"] = cmd
    if term:
        body["term"] = term
    uri = "ws" + url.removeprefix("http") + "/terminal"
    try:
        ws = await connect(
            uri,
            additional_headers={"authorization": header} if header else None,
            proxy=None if is_loopback(url) else True,
            max_size=MAX_FRAME,
            open_timeout=timeout,
        )
    except InvalidStatus as err:
        status = err.response.status_code
        raise NodeError(f"{where}: refused (HTTP {status})", status) from None
    except (OSError, TimeoutError, WebSocketException) as err:
        raise NodeError(f"{where}: {type(err).__name__}: {err}") from None
    try:
        with contextlib.suppress(ConnectionClosed):  # a refusal: ``output`` reads why
            await ws.send(json.dumps({"path": "/terminal", "header": header, "body": body}))
        yield TerminalSession(ws, tty, where)
    finally:
        with contextlib.suppress(Exception):
            await ws.close()
