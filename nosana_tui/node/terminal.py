"""A command in a running op, over the agent's websocket: the ``/terminal`` of a Nosana node
(reference nosana.md §3), authorised as every other route of the job is.

The client's first message, on the same socket as ``/flog`` (``sockets``), is
``{"path": "/terminal", "header": "<authorization>", "body": {"jobAddress": job, "opId": op,
"cmd"?: [argv] (default ["sh"]), "tty"?: true, "cols"?: 80, "rows"?: 24, "term"?:
"xterm-256color"}}``. ``header`` is the token (``Bearer <token>``) or, under ``--auth nosana``,
the poster's signature; a node takes a signed terminal grant instead, which we do not mint.

Then, from the client: binary messages are stdin, byte for byte; text messages are JSON:
``{"type": "stdin", "data": "<text>"}`` (as a node takes it), ``{"type": "resize", "cols",
"rows"}`` and ``{"type": "eof"}`` (the end of stdin, for a command without a TTY). From the agent:
binary messages are the command's output (with a TTY, the terminal's bytes as they come; without,
each message starts with one byte, 1 for stdout and 2 for stderr, as the engine multiplexes them),
then ``{"type": "exit", "code": N}`` (null when the engine cannot say) and a close 1000; a failure
is ``{"type": "error", "message"}`` and a close 1011.

Refusals close the socket at once: 1007 no ``opId`` or no such op, or a ``cmd`` that is not a
list of strings; 1008 the op is not running (its state in the reason); 3000 unauthorised. The
agent shutting down closes 1001 and hangs up the command. Output is passed on raw: it goes to the
terminal of the person who asked for the shell, never into the UI's panes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from nosana_tui.api.models import JobView, OpStatus
from nosana_tui.engine.backend import BackendError, ExecSession
from nosana_tui.node.agent import Agent

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_BAD_DATA = 1007
CLOSE_NOT_RUNNING = 1008  # a node's "Invalid job address": nothing runs there to reach
CLOSE_ERROR = 1011

DEFAULT_CMD = ("sh",)
MAX_ARGS = 256
MAX_ARG = 4096
MAX_SIZE = 1000  # columns or rows of a terminal
MAX_FRAME = 60 * 1024  # bytes of output a message (the client's limit is larger)
MAX_PENDING = 4 << 20  # bytes of output held for a slow client before the command must wait
TERM = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
STREAM_BYTES = {"stdout": b"\x01", "stderr": b"\x02"}


def _size(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, 1), MAX_SIZE)
    return default


def _command(value: Any) -> list[str] | None:
    if value is None:
        return list(DEFAULT_CMD)
    if (
        isinstance(value, list)
        and 0 < len(value) <= MAX_ARGS
        and all(isinstance(a, str) and len(a) <= MAX_ARG and "\0" not in a for a in value)
    ):
        return value
    return None


async def serve_terminal(ws: WebSocket, agent: Agent, view: JobView, body: dict[str, Any]) -> None:
    """The socket has been accepted and its header checked (``sockets.serve_socket``)."""
    op_id = body.get("opId")
    if not isinstance(op_id, str) or not op_id:
        await _close(ws, CLOSE_BAD_DATA, "Expected body to contain opId.")
        return
    try:
        op = view.op(op_id)
    except KeyError:
        ops = ", ".join(o.id for o in view.ops)
        await _close(ws, CLOSE_BAD_DATA, f"job {view.id} has no op {op_id!r} (ops: {ops})")
        return
    if op.status is not OpStatus.RUNNING or not op.container_id:
        await _close(
            ws, CLOSE_NOT_RUNNING, f"op {op_id} is {op.status.value}, not running: no shell in it"
        )
        return
    cmd = _command(body.get("cmd"))
    if cmd is None:
        await _close(ws, CLOSE_BAD_DATA, 'cmd: give a list of strings, e.g. ["sh"]')
        return
    tty = body.get("tty", True) is not False
    term = body.get("term")
    env = {"TERM": term if isinstance(term, str) and TERM.match(term) else "xterm-256color"}
    pipe = _Pipe(asyncio.get_running_loop())
    try:
        session = await agent.backend.exec(
            op.container_id,
            cmd,
            pipe.put,
            tty=tty,
            cols=_size(body.get("cols"), 80),
            rows=_size(body.get("rows"), 24),
            env=env if tty else None,
        )
    except BackendError as err:
        await _send_json(ws, {"type": "error", "message": str(err)})
        await _close(ws, CLOSE_ERROR, f"exec failed: {err}")
        return
    runner = agent.runners.get(view.id)
    if runner is not None:  # (the command's name only: its arguments may hold a secret)
        runner.system(f"exec in op {op_id}: {cmd[0]}{' (with a terminal)' if tty else ''}")
    reader = asyncio.get_running_loop().create_task(_read_client(ws, session))
    try:
        ended = await _pump(ws, pipe, tty, reader, agent.closing)
        if ended == "exit":
            code = await session.exit_code()
            await _send_json(ws, {"type": "exit", "code": code})
            await _close(ws, CLOSE_NORMAL, f"exited with code {code}")
        elif ended == "closing":
            await _close(ws, CLOSE_GOING_AWAY, "the node agent is shutting down")
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away
    finally:
        pipe.close()
        session.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _pump(
    ws: WebSocket, pipe: _Pipe, tty: bool, reader: asyncio.Task[None], closing: asyncio.Event
) -> str:
    """Output to the client until the command's output ends ("exit"), the client goes away
    ("gone") or the agent shuts down ("closing")."""
    while True:
        getter = asyncio.ensure_future(pipe.queue.get())
        closer = asyncio.ensure_future(closing.wait())
        try:
            await asyncio.wait({getter, closer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closer.cancel()
            if not getter.done():
                getter.cancel()
        if not getter.done() or getter.cancelled():
            return "closing" if closing.is_set() else "gone"
        items = [getter.result()]
        while not pipe.queue.empty() and sum(len(d) for _, d in items) < MAX_FRAME:
            items.append(pipe.queue.get_nowait())
        for stream, data in _coalesce(items, tty):
            if stream == "eof":
                return "exit"
            await ws.send_bytes(data if tty else STREAM_BYTES.get(stream, b"\x01") + data)
            pipe.done(len(data))


def _coalesce(items: list[tuple[str, bytes]], tty: bool) -> list[tuple[str, bytes]]:
    """Neighbouring pieces of one stream as one message."""
    out: list[tuple[str, bytearray]] = []
    for stream, data in items:
        if out and out[-1][0] == stream and stream != "eof":
            out[-1][1].extend(data)
        else:
            out.append((stream, bytearray(data)))
    return [(stream, bytes(data)) for stream, data in out]


async def _read_client(ws: WebSocket, session: ExecSession) -> None:
    """The client's stdin, resizes and end of stdin, until it goes away (then the command is
    hung up)."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            session.close()
            return
        try:
            if message.get("bytes") is not None:
                await session.write(message["bytes"])
                continue
            request = json.loads(message.get("text") or "null")
            if not isinstance(request, dict):
                continue
            kind = request.get("type")
            if kind == "stdin" and isinstance(request.get("data"), str):
                await session.write(request["data"].encode())
            elif kind == "resize":
                await session.resize(_size(request.get("cols"), 80), _size(request.get("rows"), 24))
            elif kind == "eof":
                await session.close_stdin()
        except (BackendError, ValueError):
            continue  # stdin closed (the command ended: its exit is on its way), bad JSON


class _Pipe:
    """The command's output, from the backend's thread to the loop. The thread waits while
    MAX_PENDING bytes are not sent yet, so a client that reads slowly slows the command down
    rather than filling the agent's memory."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._cond = threading.Condition()
        self._pending = 0
        self._closed = False

    def put(self, stream: str, data: bytes) -> None:
        with self._cond:
            while self._pending > MAX_PENDING and not self._closed:
                self._cond.wait(1.0)
            if self._closed:
                return
            self._pending += len(data)
        with contextlib.suppress(RuntimeError):  # the loop has closed
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (stream, data))

    def done(self, size: int) -> None:
        with self._cond:
            self._pending -= size
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


async def _send_json(ws: WebSocket, data: dict[str, Any]) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await ws.send_text(json.dumps(data))


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    data = reason.encode()[:123]  # a close frame's reason: 123 bytes at most
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await ws.close(code, data.decode(errors="ignore"))
