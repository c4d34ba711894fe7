"""The ``/flog`` and ``/log`` websockets, as a Nosana node serves them (reference
nosana-network.md §4.3, nosana.md §3 and §2.5).

- The URL path does not matter (a node upgrades every request the same way); the client's first
  message decides: ``{"path": "/flog"|"/log", "header": "<authorization>", "body":
  {"jobAddress": job, "opId"?, "group"?, "type"?}}``. ``header`` is what the route's REST
  calls would send as ``Authorization`` (the token as ``Bearer <token>``, or with
  ``--auth nosana`` the poster's signature); the upgrade request's own ``Authorization`` is taken
  when the message has none.
- Then frames ``{"path": "flog", "data": "<JSON string of a TaskLog>"}`` (every line of the job:
  its ops' and, with ``opId: "system"``, the agent's) or ``{"path": "log", "data": "<JSON
  string of a NodeLogEntry>"}`` (the agent's events about the job: our system log), history
  first, then live.

Where we differ from the node, on purpose: each line is sent once and in order (history and live
meet at a sequence number, so a client has nothing to deduplicate), ``type`` filters history
too, and the socket is closed (1000, the reason in words) when nothing more can come: the job
(or, with ``opId``, the op) has ended or was removed; 1001 when the agent shuts down. A reader
that falls behind loses lines and gets a line that says how many.

Close codes as the node's: 1007 no ``jobAddress`` / no such job or op, 3000 unauthorised (with
the reason), 3003 a path other than ``/flog``, ``/log`` or ``/terminal``, 1011 a first message
that is not JSON. ``/terminal`` (a command in a running op) is served by ``terminal``, after the
same checks of the job and the header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from nosana_tui.api.models import SYSTEM, NodeLogEntry, TaskLog
from nosana_tui.node.access import Access
from nosana_tui.node.agent import Agent, AgentError
from nosana_tui.node.store import StoredLine
from nosana_tui.node.terminal import serve_terminal

HANDSHAKE_WAIT = 30.0  # seconds a client has to send its first message
MAX_HANDSHAKE = 64 * 1024  # bytes of a message from a client (uvicorn's ws_max_size)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_BAD_DATA = 1007
CLOSE_ERROR = 1011
CLOSE_UNAUTHORIZED = 3000
CLOSE_INVALID_PATH = 3003

PATHS = ("flog", "log")
TERMINAL = "terminal"


async def serve_socket(ws: WebSocket, agent: Agent, access: Access) -> None:
    await ws.accept()
    try:
        raw = await asyncio.wait_for(ws.receive_text(), HANDSHAKE_WAIT)
    except (WebSocketDisconnect, RuntimeError):
        return
    except TimeoutError:
        await _close(ws, CLOSE_BAD_DATA, "no handshake: send {path, header, body} first")
        return
    except KeyError:  # a binary message
        await _close(ws, CLOSE_ERROR, "the handshake is JSON text: {path, header, body}")
        return
    try:
        first = json.loads(raw)
        if not isinstance(first, dict):
            raise ValueError("not an object")
    except ValueError:
        await _close(ws, CLOSE_ERROR, "the handshake is not JSON: send {path, header, body}")
        return
    body = first.get("body")
    job_id = body.get("jobAddress") if isinstance(body, dict) else None
    if not isinstance(job_id, str) or not job_id:
        await _close(ws, CLOSE_BAD_DATA, "Expected body to contain jobAddress.")
        return
    assert isinstance(body, dict)
    try:
        view = agent.job(job_id)
    except AgentError as err:
        await _close(ws, CLOSE_BAD_DATA, f"Could not find job with id {job_id}: {err}")
        return
    header = first.get("header")
    denied = access.owner(
        header if isinstance(header, str) and header else ws.headers.get("authorization"),
        view.id,
    )
    if denied is not None:
        await _close(ws, CLOSE_UNAUTHORIZED, f"Unauthorized Request: {denied.reason}")
        return
    path = str(first.get("path", "")).strip("/")
    if path == TERMINAL:  # a command in a running op (``terminal``)
        agent.open_sockets += 1
        try:
            await serve_terminal(ws, agent, view, body)
        finally:
            agent.open_sockets -= 1
        return
    if path not in PATHS:
        await _close(ws, CLOSE_INVALID_PATH, "Invalid Path")
        return
    op = _text(body.get("opId"))
    groups = {o.id: o.group for o in view.ops}
    if path == "flog" and op is not None and op != SYSTEM and op not in groups:
        await _close(ws, CLOSE_BAD_DATA, f"job {view.id} has no op {op!r}")
        return
    agent.open_sockets += 1
    try:
        await _serve(ws, agent, view.id, path, body, groups)
    finally:
        agent.open_sockets -= 1


async def _serve(
    ws: WebSocket,
    agent: Agent,
    job_id: str,
    path: str,
    body: dict[str, Any],
    groups: Mapping[str, str | None],
) -> None:
    op, group, kind = (_text(body.get(k)) for k in ("opId", "group", "type"))
    followed = SYSTEM if path == "log" else op
    frame = _task_log if path == "flog" else _node_log

    def wanted(op_id: str, stream: str) -> bool:
        if group is not None and groups.get(op_id) != group:
            return False
        return kind is None or _type(op_id, stream) == kind

    gone = asyncio.get_running_loop().create_task(_client_gone(ws))
    pulls = _PullProgress(agent, job_id) if path == "log" else None
    try:
        over = await _stream(ws, agent, job_id, followed, groups, wanted, frame, gone, pulls)
        if over is not None:
            code = CLOSE_GOING_AWAY if agent.closing.is_set() else CLOSE_NORMAL
            await _close(ws, code, over)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gone


Frame = Callable[[str, "str | None", str, str, int, str], str]


async def _stream(
    ws: WebSocket,
    agent: Agent,
    job_id: str,
    followed: str | None,
    groups: Mapping[str, str | None],
    wanted: Callable[[str, str], bool],
    frame: Frame,
    gone: asyncio.Task[None],
    pulls: _PullProgress | None = None,
) -> str | None:
    """History, then live lines, each once (with PULLS, image pull progress as it changes);
    returns why the stream is over (None: the client went away)."""
    store = agent.store
    sub = store.subscribe(job_id, followed)
    stamps = _Stamps()
    last = 0
    try:
        for _seq, block in store.read_logs(job_id, followed):
            for row in block.splitlines():
                entry = json.loads(row)
                last = entry["seq"]
                op_id, stream = entry["op_id"], entry["stream"]
                if wanted(op_id, stream):
                    ms = stamps(entry["ts"])
                    await ws.send_text(
                        frame(op_id, groups.get(op_id), stream, entry["text"], ms, job_id)
                    )
            if gone.done():
                return None
        reported = 0
        followed_op = None if followed == SYSTEM else followed
        while True:
            if gone.done():
                return None
            over = agent.stream_over(job_id, followed_op)
            if over:  # the last lines are stored and published by now: hand them on
                store.flush()
            if pulls is not None:
                for text in pulls(stamps):
                    await ws.send_text(text)
            if over:
                try:
                    batch = sub.queue.get_nowait()
                except asyncio.QueueEmpty:
                    return over
            else:
                got = await _next(sub.queue, agent.closing, 1.0 if pulls is None else 0.25)
                if got is None:
                    continue
                batch = got
            for line in batch:
                if line.seq <= last:
                    continue
                last = line.seq
                if wanted(line.op_id, line.stream):
                    ms = stamps(line.ts)
                    await ws.send_text(
                        frame(
                            line.op_id, groups.get(line.op_id), line.stream, line.text, ms, job_id
                        )
                    )
            if sub.dropped > reported:
                dropped, reported = sub.dropped - reported, sub.dropped
                note = f"[{dropped} lines dropped: this reader fell behind]"
                await ws.send_text(frame(SYSTEM, None, "error", note, stamps(None), job_id))
    finally:
        store.unsubscribe(sub)


async def _next(
    queue: asyncio.Queue[list[StoredLine]], closing: asyncio.Event, wait: float
) -> list[StoredLine] | None:
    """The next batch of lines, or None after WAIT seconds or as soon as the agent begins to
    shut down (its sockets close themselves before the server cuts them)."""
    getter = asyncio.ensure_future(queue.get())
    closer = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({getter, closer}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closer.cancel()
        getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return None


def _type(op_id: str, stream: str) -> str:
    """A TaskLog's type: an op's output is ``container``, the agent's lines ``info``."""
    if stream == "error":
        return "error"
    return "info" if op_id == SYSTEM else "container"


def _task_log(op_id: str, group: str | None, stream: str, text: str, ms: int, job_id: str) -> str:
    data = TaskLog(op_id=op_id, group=group, type=_type(op_id, stream), timestamp=ms, message=text)
    return json.dumps({"path": "flog", "data": data.model_dump_json(by_alias=True)})


def _node_log(op_id: str, group: str | None, stream: str, text: str, ms: int, job_id: str) -> str:
    data = NodeLogEntry(
        log=text,
        method=SYSTEM,
        type="error" if stream == "error" else "info",
        timestamp=ms,
        job=job_id,
    )
    return json.dumps({"path": "log", "data": data.model_dump_json(exclude_none=True)})


class _PullProgress:
    """``/log`` frames of image pulls: one per layer whose state changed since the last look,
    shaped as a node's progress events (``multi-process-bar-update`` with ``payload.event
    {id, status, progressDetail}``; nosana-network.md §4.3). Live only: a pull's progress is
    not kept (its ``pulling image`` and ``pulled image`` lines are)."""

    def __init__(self, agent: Agent, job_id: str) -> None:
        self.agent = agent
        self.job_id = job_id
        self.sent: dict[tuple[str, str], tuple[Any, ...]] = {}

    def __call__(self, stamps: _Stamps) -> list[str]:
        try:
            view = self.agent.job(self.job_id)
        except AgentError:
            return []
        frames = []
        for op in view.ops:
            pull = op.pull
            if pull is None:
                continue
            for layer, state in list(pull.layers.items()):
                status, current, total = (state.get(k) for k in ("status", "current", "total"))
                if self.sent.get((op.id, layer)) == (status, current, total):
                    continue
                self.sent[(op.id, layer)] = (status, current, total)
                entry = NodeLogEntry(
                    log=f"[{op.id}] {pull.image} {layer}: {status}",
                    method="pull",
                    type="multi-process-bar-update",
                    pending=not pull.done,
                    timestamp=stamps(None),
                    job=self.job_id,
                    payload={
                        "opId": op.id,
                        "image": pull.image,
                        "event": {
                            "id": layer,
                            "status": status,
                            "progressDetail": {"current": current, "total": total},
                        },
                    },
                )
                frames.append(json.dumps({"path": "log", "data": entry.model_dump_json()}))
        return frames


class _Stamps:
    """Unix ms of each line, strictly increasing along one stream (as a node's TaskLog
    timestamps are): a line in the same millisecond as the one before gets the next one."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self, ts: float | None) -> int:
        ms = int((time.time() if ts is None else ts) * 1000)
        self.last = max(ms, self.last + 1)
        return self.last


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def _client_gone(ws: WebSocket) -> None:
    """Ends when the client closes or goes away; what else it sends is not read (a node would
    take each message as a new handshake: a client sends none)."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    data = reason.encode()[:123]  # a close frame's reason: 123 bytes at most
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await ws.close(code, data.decode(errors="ignore"))
