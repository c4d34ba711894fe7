"""The node API: the Nosana Node API routes over the agent, plus ours for what the network does
on-chain (submit, list, remove jobs) and for logs. FastAPI serves the OpenAPI document at
``/openapi.json``.

Every route requires ``Authorization: Bearer <token>``; a request without it gets 401 and changes
nothing. Errors are ``{"error": message, "diagnostics": [...]}``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nosana_tui import __version__
from nosana_tui.node.agent import Agent, AgentError
from nosana_tui.node.store import text_line
from nosana_tui.spec.status import (
    ActionResult,
    Endpoint,
    EndpointStatus,
    GpuTelemetry,
    JobView,
    LogEntry,
    NodeInfo,
    OpStatus,
    SubmitRequest,
)

_bearer = HTTPBearer(auto_error=False)


def create_app(agent: Agent, token: str, *, manage_lifecycle: bool = True) -> FastAPI:
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
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), token.encode()
        ):
            raise AgentError("a valid token is required (Authorization: Bearer <token>)", 401)

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
    async def job_info(job: str) -> StreamingResponse:
        agent.job(job)

        async def events() -> AsyncIterator[str]:
            async for view in agent.changes(job):
                yield ": keep-alive\n\n" if view is None else f"data: {view.model_dump_json()}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/job/{job}/job-definition")
    async def job_definition(job: str) -> dict[str, Any]:
        return agent.definition(job)

    @app.get("/job/{job}/ops", summary="{opId: status}")
    async def ops(job: str) -> dict[str, OpStatus]:
        return {op.id: op.status for op in agent.job(job).ops}

    @app.get("/job/{job}/ops/{op}")
    async def op_status(job: str, op: str) -> dict[str, OpStatus]:
        view = agent.job(job)
        try:
            return {op: view.op(op).status}
        except KeyError:
            raise AgentError(f"job {job} has no op {op!r}", 404) from None

    @app.get("/job/{job}/group/current")
    async def group_current(job: str) -> dict[str, OpStatus]:
        view = agent.job(job)
        return {o.id: o.status for o in view.ops if o.group == view.current_group}

    @app.get("/job/{job}/group/{group}")
    async def group_status(job: str, group: str) -> dict[str, OpStatus]:
        found = {o.id: o.status for o in agent.job(job).ops if o.group == group}
        if not found:
            raise AgentError(f"job {job} has no group {group!r}", 404)
        return found

    @app.post("/job/{job}/group/{group}/operation/{op}/stop", response_model=ActionResult)
    async def stop_op(job: str, group: str, op: str) -> ActionResult:
        await agent.stop_op(job, op, group)
        return ActionResult(message="Operation Stopped")

    @app.post("/job/{job}/group/{group}/operation/{op}/restart", response_model=ActionResult)
    async def restart_op(job: str, group: str, op: str) -> ActionResult:
        agent._op(job, op, group)
        asyncio.get_running_loop().create_task(agent.restart_op(job, op, group))
        return ActionResult(message="Operation restarted")

    @app.post("/job/{job}/group/{group}/stop", response_model=ActionResult)
    async def stop_group(job: str, group: str) -> ActionResult:
        await agent.stop_group(job, group)
        return ActionResult(message="Group Operation Stopped")

    @app.post("/job/{job}/group/{group}/restart", response_model=ActionResult)
    async def restart_group(job: str, group: str) -> ActionResult:
        agent._group(job, group)
        asyncio.get_running_loop().create_task(agent.restart_group(job, group))
        return ActionResult(message="Group Operation restarted")

    @app.get("/job/{job}/endpoints")
    async def endpoints(job: str) -> dict[str, Any]:
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
    async def stop_job(job: str) -> ActionResult:
        await agent.stop_job(job)
        return ActionResult(message="Job stopped")

    # --- ours: what the network does on-chain, and logs ---------------------------------------

    @app.post("/api/jobs", response_model=JobView, status_code=201)
    async def submit(body: SubmitRequest) -> JobView:
        return await agent.submit(body.definition, body.name, body.source)

    @app.get("/api/jobs", response_model=list[JobView])
    async def list_jobs() -> list[JobView]:
        return agent.jobs()

    @app.get("/api/jobs/{job}", response_model=JobView)
    async def get_job(job: str) -> JobView:
        return agent.job(job)

    @app.delete("/api/jobs/{job}", response_model=ActionResult)
    async def remove_job(job: str) -> ActionResult:
        await agent.remove(job)
        return ActionResult(message=f"Job {job} removed")

    @app.get(
        "/api/jobs/{job}/logs",
        summary="log lines: NDJSON (LogEntry per line) or plain text; with follow, new lines "
        "as they come",
        response_model=list[LogEntry],
    )
    async def logs(
        job: str,
        op: Annotated[str | None, Query(description="an op id, or 'system'")] = None,
        after: Annotated[int, Query(description="only lines with seq above this")] = 0,
        since: Annotated[
            float | None, Query(description="only lines at or after (epoch s)")
        ] = None,
        tail: Annotated[int | None, Query(ge=0)] = None,
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
        history = store.log_lines(
            view.id,
            op,
            after=after,
            since=since,
            tail=tail,
            form=format,
            timestamps=timestamps,
            prefix=with_op,
        )

        def render(entries: list[LogEntry]) -> bytes:
            if text:
                return "".join(
                    text_line(e, timestamps=timestamps, prefix=with_op) for e in entries
                ).encode()
            return "".join(e.model_dump_json() + "\n" for e in entries).encode()

        async def lines() -> AsyncIterator[bytes]:
            last = history[-1][0] if history else after
            try:
                for start in range(0, len(history), 4000):
                    yield "".join(line for _, line in history[start : start + 4000]).encode()
                if sub is None:
                    return
                reported = 0
                while True:
                    try:
                        batch = await asyncio.wait_for(sub.queue.get(), 15.0)
                    except TimeoutError:
                        if not text:  # (text has no empty line to spare; disconnects are
                            yield b"\n"  # noticed through the ASGI disconnect message)
                        continue
                    fresh = [e for e in batch if e.seq > last]
                    if fresh:
                        last = fresh[-1].seq
                        yield render(fresh)
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

    return app
