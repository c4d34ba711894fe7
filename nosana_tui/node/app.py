"""The node API: the Nosana Node API routes over the agent, plus ours for what the network does
on-chain (submit, list, remove jobs) and for logs. FastAPI serves the OpenAPI document at
``/openapi.json``.

Every route requires ``Authorization: Bearer <token>``; a request without it gets 401 and changes
nothing. With ``node serve --auth nosana`` a job's routes take the signature of the job's poster
instead, as a Nosana node does (``access``). Either is checked before a byte of the body is read
(``Guard``, an ASGI middleware: FastAPI reads and parses a body before any dependency runs).
Errors are ``{"error": message, "diagnostics": [...]}`` (a 401 adds ``reason``).

The ``/flog`` and ``/log`` websockets (``sockets``) serve a job's logs as a node's do;
``/terminal`` on the same socket runs a command in a running op (``terminal``). Each op's use of
the machine is ``/job/{job}/stats`` and ``/job/{job}/stats/stream`` (``stats``).

Limits, so that a client cannot make the agent hold what it sends:

- ``MAX_BODY`` (4 MiB): a larger body answers 413, unread when its ``Content-Length`` says so,
  cut at the limit when it is chunked.
- ``MAX_NAME`` (256 characters): job, op and group ids in a path or a query; a submission's
  ``name`` (and ``source``, ``MAX_SOURCE``: 4096) likewise, in ``SubmitRequest``.
- Numbers in a query: ``after`` and ``tail`` from 0 to 2^63-1 (SQLite's integers), ``since`` a
  finite epoch time, not negative.

A query value out of range answers 400, a body or path value 422 (a job definition that does not
validate is 422 too, with diagnostics); the error names the parameter and says what is allowed.
The container engine failing answers 503 with its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nosana_tui import __version__
from nosana_tui.api.models import (
    MAX_NAME,
    ActionResult,
    Endpoint,
    EndpointStatus,
    GpuTelemetry,
    JobView,
    LogEntry,
    NodeInfo,
    OpStatus,
    PrunedVolume,
    PruneResult,
    SubmitRequest,
    TaskStat,
)
from nosana_tui.engine.backend import BackendError
from nosana_tui.node import stats as op_stats
from nosana_tui.node.access import POSTER_HEADER, TOKEN_REQUIRED, Access, AuthMode
from nosana_tui.node.agent import Agent, AgentError
from nosana_tui.node.sockets import serve_socket
from nosana_tui.node.store import render_lines

MAX_BODY = 4 * 1024 * 1024
MAX_INTEGER = 2**63 - 1  # SQLite's largest integer: seq numbers and counts

JobId = Annotated[str, Path(max_length=MAX_NAME, description="a job id, or a unique prefix")]
OpId = Annotated[str, Path(max_length=MAX_NAME)]
GroupId = Annotated[str, Path(max_length=MAX_NAME)]

_bearer = HTTPBearer(auto_error=False)


class Guard:
    """The token (or the poster's signature: ``access``), then the body's size, checked before
    any route runs and before a byte of the body is read (a refused body of up to 64 KiB is
    read then, and dropped: ``_drain``). Pure ASGI: ``BaseHTTPMiddleware`` would buffer the body
    first. Websockets are checked on their first message (``sockets``)."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        denied = self.access.http(
            scope["method"], scope["path"], headers.get("authorization"), headers.get(POSTER_HEADER)
        )
        if denied is not None:
            await _drain(receive, headers)
            if denied.reason == "token":  # (the answer as it always was)
                await _refuse(send, 401, denied.error, [(b"www-authenticate", b"Bearer")])
            else:
                await _refuse(send, denied.status, denied.error, None, denied.reason)
            return
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:  # (the server refuses such framing before we are called)
            declared = 0
        if declared > MAX_BODY:
            await _refuse(send, 413, _too_large())
            return
        received = 0
        refused = False
        started = False

        async def bounded_receive() -> Message:
            # A chunked body is counted as it comes; past the limit the app is told the client
            # went away (it stops reading) and the client gets 413.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY:
                    refused = True
                    if not started:
                        await _refuse(send, 413, _too_large())
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, bounded_receive, send_unless_refused)


DRAIN_BYTES = 64 * 1024
DRAIN_WAIT = 1.0


async def _drain(receive: Receive, headers: Headers) -> None:
    """Read and drop a small body (DRAIN_BYTES, DRAIN_WAIT at most) before refusing it: the
    connection is closed after the answer, and a socket closed with unread bytes is reset,
    which can take the answer with it (the client sees a broken connection, not the 401)."""
    try:
        declared = int(headers.get("content-length", "0"))
    except ValueError:
        return
    if not 0 < declared <= DRAIN_BYTES:
        return

    async def drop() -> None:
        received = 0
        while received < declared:
            message = await receive()
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(drop(), DRAIN_WAIT)


def _too_large() -> str:
    return f"the request body is over {MAX_BODY // (1024 * 1024)} MiB, the most this node reads"


async def _refuse(
    send: Send,
    status: int,
    error: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    reason: str | None = None,
) -> None:
    """An error answer, and the connection closed after it: what the client still sends is
    neither read nor kept."""
    answer: dict[str, Any] = {"error": error, "diagnostics": []}
    if reason is not None and status == 401:
        answer["reason"] = reason
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _problem(error: dict[str, Any]) -> str:
    """``tail: input should be ...``: the parameter, then what pydantic says is allowed."""
    where = [str(part) for part in error.get("loc", ())]
    name = ".".join(where[1:]) or (where[0] if where else "request")
    if error.get("type") == "json_invalid":
        name = "body"
    message = str(error.get("msg", "is not valid"))
    return f"{name}: {message[:1].lower()}{message[1:]}"


def _answer(error: str, status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "diagnostics": []}, status_code=status, headers=headers)


def create_app(
    agent: Agent, token: str, *, manage_lifecycle: bool = True, auth: AuthMode = "token"
) -> FastAPI:
    access = Access(agent, token, auth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await agent.startup()
        try:
            yield
        finally:
            if manage_lifecycle:
                await agent.shutdown()

    def authorised(
        connection: HTTPConnection,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        # Guard has refused a request without the token already; this puts the bearer scheme
        # into the OpenAPI document, and checks again should the app be served without Guard.
        # (With --auth nosana, Guard alone decides: a job's routes take no token then; a
        # websocket is checked on its first message, as a node's.)
        if (
            connection.scope["type"] == "http"
            and auth == "token"
            and (
                credentials is None
                or not secrets.compare_digest(credentials.credentials.encode(), token.encode())
            )
        ):
            raise AgentError(TOKEN_REQUIRED, 401)

    app = FastAPI(
        title="nosana-tui node API",
        version=__version__,
        description="The Nosana Node API of a local nosana-tui agent, plus job submission, "
        "listing, removal and logs.",
        lifespan=lifespan,
        dependencies=[Depends(authorised)],
        # served below, behind the token like every other route
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    app.add_middleware(Guard, access=access)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.exception_handler(AgentError)
    async def agent_error(request: Request, err: AgentError) -> JSONResponse:
        return JSONResponse(
            {"error": str(err), "diagnostics": [d.to_json() for d in err.diagnostics]},
            status_code=err.status,
            headers={"WWW-Authenticate": "Bearer"} if err.status == 401 else None,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = list(err.errors())
        in_query = all(e.get("loc", ("",))[0] in ("query", "header", "cookie") for e in errors)
        return _answer("; ".join(_problem(e) for e in errors), 400 if in_query else 422)

    @app.exception_handler(BackendError)
    async def engine_failed(request: Request, err: BackendError) -> JSONResponse:
        return _answer(f"the container engine failed: {err}", 503)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        return _answer(str(err.detail), err.status_code, err.headers)

    # --- Nosana Node API ----------------------------------------------------------------------

    @app.get("/", response_class=PlainTextResponse, summary="node address (liveness)")
    async def root() -> str:
        return agent.node_id

    @app.get("/node/info", response_model=NodeInfo)
    async def node_info() -> NodeInfo:
        return await agent.info()

    @app.get(
        "/api/gpus",
        response_model=GpuTelemetry,
        summary="the GPUs now, their recent utilisation and memory, and the processes (with job "
        "and op) using them; reading it makes the agent sample every second for a while",
    )
    async def gpus() -> GpuTelemetry:
        return await agent.gpu_telemetry()

    @app.get("/job/{job}/info", summary="SSE stream of the job's state, sent on every change")
    async def job_info(job: JobId) -> StreamingResponse:
        agent.job(job)

        async def events() -> AsyncIterator[str]:
            async for view in agent.changes(job):
                yield ": keep-alive\n\n" if view is None else f"data: {view.model_dump_json()}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/job/{job}/job-definition")
    async def job_definition(job: JobId) -> dict[str, Any]:
        return agent.definition(job)

    @app.get("/job/{job}/ops", summary="{opId: status}")
    async def ops(job: JobId) -> dict[str, OpStatus]:
        return {op.id: op.status for op in agent.job(job).ops}

    @app.get("/job/{job}/ops/{op}")
    async def op_status(job: JobId, op: OpId) -> dict[str, OpStatus]:
        view = agent.job(job)
        try:
            return {op: view.op(op).status}
        except KeyError:
            raise AgentError(f"job {job} has no op {op!r}", 404) from None

    @app.get("/job/{job}/group/current")
    async def group_current(job: JobId) -> dict[str, OpStatus]:
        view = agent.job(job)
        return {o.id: o.status for o in view.ops if o.group == view.current_group}

    @app.get("/job/{job}/group/{group}")
    async def group_status(job: JobId, group: GroupId) -> dict[str, OpStatus]:
        found = {o.id: o.status for o in agent.job(job).ops if o.group == group}
        if not found:
            raise AgentError(f"job {job} has no group {group!r}", 404)
        return found

    @app.post("/job/{job}/group/{group}/operation/{op}/stop", response_model=ActionResult)
    async def stop_op(job: JobId, group: GroupId, op: OpId) -> ActionResult:
        await agent.stop_op(job, op, group)
        return ActionResult(message="Operation Stopped")

    @app.post("/job/{job}/group/{group}/operation/{op}/restart", response_model=ActionResult)
    async def restart_op(job: JobId, group: GroupId, op: OpId) -> ActionResult:
        agent._op(job, op, group)
        asyncio.get_running_loop().create_task(agent.restart_op(job, op, group))
        return ActionResult(message="Operation restarted")

    @app.post("/job/{job}/group/{group}/stop", response_model=ActionResult)
    async def stop_group(job: JobId, group: GroupId) -> ActionResult:
        await agent.stop_group(job, group)
        return ActionResult(message="Group Operation Stopped")

    @app.post("/job/{job}/group/{group}/restart", response_model=ActionResult)
    async def restart_group(job: JobId, group: GroupId) -> ActionResult:
        agent._group(job, group)
        asyncio.get_running_loop().create_task(agent.restart_group(job, group))
        return ActionResult(message="Group Operation restarted")

    @app.get("/job/{job}/endpoints")
    async def endpoints(job: JobId) -> dict[str, Any]:
        view = agent.job(job)
        urls: dict[str, Endpoint] = {
            f"{ep.op_id}-{ep.port}": ep for op in view.ops for ep in op.endpoints
        }
        if not urls:
            raise AgentError("No exposed url for job id", 400)
        online = any(ep.status is EndpointStatus.ONLINE for ep in urls.values())
        return {
            "urls": {k: v.model_dump() for k, v in urls.items()},
            "status": "ONLINE" if online else "OFFLINE",
        }

    @app.post("/job/{job}/stop", response_model=ActionResult)
    async def stop_job(job: JobId) -> ActionResult:
        await agent.stop_job(job)
        return ActionResult(message="Job stopped")

    @app.get(
        "/job/{job}/stats",
        response_model=list[TaskStat],
        summary="a sample of each running op's CPU, memory, disk and network use now "
        "(about a second: the engine measures the CPU share over one)",
    )
    async def stats(job: JobId) -> list[TaskStat]:
        return await op_stats.sample_job(agent, job)

    @app.get(
        "/job/{job}/stats/stream",
        summary="SSE: `data: <TaskStat[]>` every `interval` seconds, the latest sample of each "
        "running op; ends when the job has ended",
    )
    async def stats_stream(
        job: JobId,
        interval: Annotated[
            float, Query(ge=1, le=3600, allow_inf_nan=False, description="seconds between frames")
        ] = 5.0,
    ) -> StreamingResponse:
        agent.job(job)

        async def events() -> AsyncIterator[str]:
            async for stats in op_stats.stream_job(agent, job, interval):
                if stats is None:
                    yield ": keep-alive\n\n"
                else:
                    data = json.dumps([s.model_dump(by_alias=True) for s in stats])
                    yield f"data: {data}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # --- ours: what the network does on-chain, and logs ---------------------------------------

    @app.post("/api/jobs", response_model=JobView, status_code=201)
    async def submit(
        body: SubmitRequest,
        poster: Annotated[
            str | None,
            Header(
                alias=POSTER_HEADER,
                max_length=MAX_NAME,
                description="--auth nosana: the address that signed the request, recorded as "
                "the job's poster",
            ),
        ] = None,
    ) -> JobView:
        # (the token mode checks no signature: a poster named there is not recorded)
        return await agent.submit(
            body.definition, body.name, body.source, poster=poster if auth == "nosana" else None
        )

    @app.post(
        "/api/resources/prune",
        response_model=PruneResult,
        summary="remove the cached resource volumes (S3, HF, Ollama) this agent made (or no agent)"
        " that were unused for `older_than` seconds",
    )
    async def prune_resources(
        older_than: Annotated[float, Query(ge=0, allow_inf_nan=False)],
    ) -> PruneResult:
        pruned = await agent.prune_resources(older_than)
        return PruneResult(
            older_than=older_than,
            removed=[PrunedVolume(name=n, source=s) for n, s in pruned.removed],
            in_use=pruned.in_use,
            kept=pruned.kept,
        )

    @app.get("/api/jobs", response_model=list[JobView])
    async def list_jobs() -> list[JobView]:
        return agent.jobs()

    @app.get("/api/jobs/{job}", response_model=JobView)
    async def get_job(job: JobId) -> JobView:
        return agent.job(job)

    @app.delete("/api/jobs/{job}", response_model=ActionResult)
    async def remove_job(job: JobId) -> ActionResult:
        leftover = await agent.remove(job)
        return ActionResult(message=f"Job {job} removed" + (f"; {leftover}" if leftover else ""))

    @app.get(
        "/api/jobs/{job}/logs",
        summary="log lines: NDJSON (LogEntry per line) or plain text; with follow, new lines "
        "as they come",
        response_model=list[LogEntry],
    )
    async def logs(
        job: JobId,
        op: Annotated[
            str | None, Query(max_length=MAX_NAME, description="an op id, or 'system'")
        ] = None,
        after: Annotated[
            int, Query(ge=0, le=MAX_INTEGER, description="only lines with seq above this")
        ] = 0,
        since: Annotated[
            float | None,
            Query(ge=0, allow_inf_nan=False, description="only lines at or after (epoch s)"),
        ] = None,
        tail: Annotated[
            int | None, Query(ge=0, le=MAX_INTEGER, description="only the last N lines")
        ] = None,
        follow: bool = False,
        format: Annotated[
            Literal["ndjson", "text"],
            Query(
                description="ndjson: one LogEntry object per line; text: the lines themselves, "
                "as `docker logs` prints them (not sanitised: a client must neutralise escape "
                "sequences before showing them)"
            ),
        ] = "ndjson",
        timestamps: Annotated[
            bool, Query(description="text: each line starts with its UTC time")
        ] = False,
        prefix: Annotated[
            bool | None,
            Query(description="text: each line starts with its op id (default: when no op)"),
        ] = None,
    ) -> StreamingResponse:
        view = agent.job(job)
        if op is not None and op != "system" and op not in {o.id for o in view.ops}:
            ops = ", ".join(o.id for o in view.ops)
            raise AgentError(f"job {view.id} has no op {op!r} (ops: {ops}, or system)", 404)
        store = agent.store
        text = format == "text"
        with_op = op is None if prefix is None else prefix
        sub = store.subscribe(view.id, op) if follow else None
        # read a chunk at a time as the response is sent: a million lines are never all in
        # memory at once
        history = store.read_logs(
            view.id,
            op,
            after=after,
            since=since,
            tail=tail,
            form=format,
            timestamps=timestamps,
            prefix=with_op,
        )

        async def lines() -> AsyncIterator[bytes]:
            last = after
            try:
                for seq, block in history:
                    last = seq
                    yield block.encode()
                if sub is None:
                    return
                reported = 0
                quiet = 0.0
                followed = None if op == "system" else op
                while True:
                    over = agent.stream_over(view.id, followed)
                    if over:  # the last lines are stored and published by now: hand them on
                        store.flush()
                    try:
                        batch = (
                            sub.queue.get_nowait()
                            if over
                            else await asyncio.wait_for(sub.queue.get(), 1.0)
                        )
                    except asyncio.QueueEmpty:
                        return  # over, and every line handed on
                    except TimeoutError:
                        quiet += 1.0
                        if quiet >= 15.0 and not text:  # (text has no empty line to spare;
                            quiet = 0.0  # disconnects are noticed through the ASGI message)
                            yield b"\n"
                        continue
                    quiet = 0.0
                    fresh = [e for e in batch if e.seq > last]
                    if fresh:
                        last = fresh[-1].seq
                        yield render_lines(
                            fresh, form=format, timestamps=timestamps, prefix=with_op
                        ).encode()
                    if sub.dropped > reported:
                        dropped = sub.dropped - reported
                        reported = sub.dropped
                        if text:
                            yield f"[{dropped} lines dropped: this reader fell behind]\n".encode()
                        else:
                            yield (json.dumps({"dropped": dropped}) + "\n").encode()
            finally:
                if sub is not None:
                    store.unsubscribe(sub)

        media = "text/plain; charset=utf-8" if text else "application/x-ndjson"
        return StreamingResponse(lines(), media_type=media)

    # --- websockets, as a node's: the first message says which (``sockets``) --------------------

    @app.websocket("/")
    @app.websocket("/{path:path}")
    async def socket(ws: WebSocket) -> None:
        await serve_socket(ws, agent, access)

    return app
