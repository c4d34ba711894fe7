"""The client of the node API (httpx, async): the only way the CLI and the UI reach a node.

It parses answers into the same models the node serves (``api.models``) and turns every failure
into :class:`NodeError` with the node's own message, so callers never see a raw HTTP error.

``api.models`` (pydantic models) is imported on first use, not with this module: a command that
only prints log text never pays for building them (~0.1 s of a CLI call; bench/README.md).

One client serves our agent and a Nosana node: it authorises with the agent's token, or with a
header provider (``auth``: a function giving a fresh ``authorization`` value per request, such as
:func:`signed_by`, the job poster's signature a node checks; reference nosana-network.md §2.3),
and reads the ``/flog`` and ``/log`` websockets a node serves (:meth:`NodeClient.flog`,
:meth:`NodeClient.node_log`; §4.3) with the ``websockets`` library (httpx speaks no
websockets).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any

import httpx

from nosana_tui.config import is_loopback
from nosana_tui.sanitize import LineChunks, clean_data, clean_text

if TYPE_CHECKING:
    from nosana_tui.api.models import (
        GpuTelemetry,
        JobView,
        LogEntry,
        NodeInfo,
        NodeLogEntry,
        PruneResult,
        TaskLog,
        TaskStat,
    )
    from nosana_tui.client.terminal import TerminalSession

HeaderProvider = Callable[[], str]
"""A fresh ``authorization`` header value, asked for before each request (and each websocket
handshake): a signature that expires is made again in time."""

POSTER_HEADER = "x-nosana-poster"  # a submission's poster, to an agent under --auth nosana

# close codes of a node's websockets (reference nosana-network.md §4.3) -> the HTTP status meant
_CLOSE_STATUS = {1007: 404, 1008: 404, 3000: 401, 3003: 400, 1011: 500}
_SEEN = 10_000  # fingerprints of lines kept to drop a node's duplicates (history meets live)
MAX_FRAME = 16 * 1024 * 1024


def signed_by(
    secret_key: bytes, message: str | None = None, *, refresh: float = 240.0
) -> HeaderProvider:
    """A header provider: the job poster's signature of MESSAGE (default the kit's
    ``NosanaApiAuthentication``) with the time, made again once REFRESH seconds old (a node
    takes it for 300 s; the kit renews 60 s before that)."""
    from nosana_tui.auth.signing import NODE_MESSAGE, sign

    made: list[tuple[float, str]] = []

    def header() -> str:
        now = time.monotonic()
        if not made or now - made[0][0] >= refresh:
            made[:] = [(now, sign(message or NODE_MESSAGE, secret_key))]
        return made[0][1]

    return header


class _HeaderAuth(httpx.Auth):
    def __init__(self, provider: HeaderProvider) -> None:
        self.provider = provider

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authorization"] = self.provider()
        yield request


class NodeError(Exception):
    """The node refused or could not be reached; ``status`` is the HTTP status (0: no answer)."""

    def __init__(
        self, message: str, status: int = 0, diagnostics: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.diagnostics = diagnostics or []


class NodeClient:
    """AUTH: a header provider that replaces the token (a node, or an agent under
    ``--auth nosana``); POSTER: the address a submission names as its poster (that agent
    records it, and then takes only its signature for the job)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        auth: HeaderProvider | None = None,
        poster: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.auth = auth
        self.poster = poster
        headers = {"Authorization": f"Bearer {token}"} if token and auth is None else {}
        # a proxy from the environment (HTTP_PROXY without NO_PROXY) cannot reach our loopback
        loopback = is_loopback(self.url)
        # verify=False for http:// only: there is no TLS to verify, and the default builds a
        # certificate store (~16 ms) that would never be used
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            trust_env=not loopback,
            verify=self.url.startswith("https://"),
            auth=_HeaderAuth(auth) if auth is not None else None,
        )

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise NodeError(f"no node answers at {self.url}") from None
        except httpx.TimeoutException:
            raise NodeError(f"the node at {self.url} did not answer in time") from None
        except httpx.HTTPError as err:
            raise NodeError(f"{self.url}: {err}") from None
        if response.is_error:
            raise _error(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The node's JSON answer, every string in it cleaned (``clean_data``)."""
        return clean_data((await self._request(method, path, **kwargs)).json())

    # --- queries ------------------------------------------------------------------------------

    async def alive(self) -> bool:
        try:
            await self._request("GET", "/", timeout=2.0)
        except NodeError as err:
            return err.status not in (0,) and err.status != 404
        return True

    async def info(self) -> NodeInfo:
        from nosana_tui.api.models import NodeInfo

        return NodeInfo.model_validate(await self._json("GET", "/node/info"))

    async def prune_resources(self, older_than: float) -> PruneResult:
        """Remove the node's cached resource volumes unused for ``older_than`` seconds."""
        from nosana_tui.api.models import PruneResult

        return PruneResult.model_validate(
            await self._json("POST", "/api/resources/prune", params={"older_than": older_than})
        )

    async def gpus(self) -> GpuTelemetry:
        """The node's GPUs now, their recent utilisation and memory, and the processes (with
        job and op) using them: ``GET /api/gpus``."""
        from nosana_tui.api.models import GpuTelemetry

        return GpuTelemetry.model_validate(await self._json("GET", "/api/gpus"))

    async def jobs(self) -> list[JobView]:
        from nosana_tui.api.models import JobView

        data = await self._json("GET", "/api/jobs")
        return [JobView.model_validate(j) for j in data]

    async def jobs_data(self) -> list[dict[str, Any]]:
        """The job list as the node serves it (``JobView`` as JSON, every string cleaned), not
        parsed into the models: ``ps`` prints it without importing pydantic."""
        data = await self._json("GET", "/api/jobs")
        return [j for j in data if isinstance(j, dict)] if isinstance(data, list) else []

    async def job(self, job_id: str) -> JobView:
        from nosana_tui.api.models import JobView

        return JobView.model_validate(await self._json("GET", f"/api/jobs/{job_id}"))

    async def definition(self, job_id: str) -> dict[str, Any]:
        """The job's definition as it was posted (the node's ``/job/{job}/job-definition``).
        Data, as it stays: secrets included (mask them with ``jobformat.secrets.redact`` before
        showing any of it) and strings not cleaned of escapes (clean what is printed)."""
        data = await self._json("GET", f"/job/{job_id}/job-definition")
        if not isinstance(data, dict):
            raise NodeError(f"{self.url}: job {job_id}: the definition is not an object")
        return data

    async def find(self, prefix: str) -> JobView:
        """A job by its id or an unambiguous prefix of it (the node resolves prefixes)."""
        return await self.job(prefix)

    # --- commands -----------------------------------------------------------------------------

    async def submit(self, definition: dict[str, Any], name: str = "", source: str = "") -> JobView:
        from nosana_tui.api.models import JobView

        body = {"definition": definition, "name": name, "source": source}
        headers = {POSTER_HEADER: self.poster} if self.poster else None
        return JobView.model_validate(
            await self._json("POST", "/api/jobs", json=body, headers=headers)
        )

    async def _action(self, path: str) -> str:
        return str((await self._json("POST", path)).get("message", ""))

    async def stop_job(self, job_id: str) -> str:
        return await self._action(f"/job/{job_id}/stop")

    async def stop_op(self, job_id: str, group: str, op_id: str) -> str:
        return await self._action(f"/job/{job_id}/group/{group}/operation/{op_id}/stop")

    async def restart_op(self, job_id: str, group: str, op_id: str) -> str:
        return await self._action(f"/job/{job_id}/group/{group}/operation/{op_id}/restart")

    async def stop_group(self, job_id: str, group: str) -> str:
        return await self._action(f"/job/{job_id}/group/{group}/stop")

    async def restart_group(self, job_id: str, group: str) -> str:
        return await self._action(f"/job/{job_id}/group/{group}/restart")

    async def remove(self, job_id: str) -> str:
        return str((await self._json("DELETE", f"/api/jobs/{job_id}"))["message"])

    # --- each op's use of the machine, and commands in an op --------------------------------------

    async def stats(self, job_id: str) -> list[TaskStat]:
        """A sample of each running op's CPU, memory, disk and network use now (the node's
        ``/job/{job}/stats``; about a second)."""
        return _task_stats(await self._json("GET", f"/job/{job_id}/stats"))

    async def stats_stream(
        self, job_id: str, interval: float = 5.0
    ) -> AsyncIterator[list[TaskStat]]:
        """The latest sample of each running op every INTERVAL seconds (``/job/{job}/stats/
        stream``); a frame of one ``TaskStat`` (as the Nosana dashboard reads a node's) or of a
        list (as the node's OpenAPI says, and our agent sends) alike. Ends when the node ends
        it (our agent: once the job has ended)."""
        path = f"/job/{job_id}/stats/stream"
        try:
            async with self.http.stream(
                "GET", path, params={"interval": interval}, timeout=None
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise _error(response)
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        yield _task_stats(clean_data(json.loads(line[5:])))
        except httpx.HTTPError as err:
            raise NodeError(
                f"{self.url}: the stats stream broke off ({type(err).__name__})"
            ) from None
        except ValueError as err:
            raise NodeError(f"{self.url}{path}: not a stats frame ({err})") from None

    def terminal(
        self,
        job_id: str,
        op_id: str,
        *,
        cmd: list[str] | None = None,
        tty: bool = True,
        cols: int = 80,
        rows: int = 24,
        term: str | None = None,
    ) -> contextlib.AbstractAsyncContextManager[TerminalSession]:
        """CMD (default ``sh``) in the running op, over the node's ``/terminal`` websocket:
        ``async with client.terminal(job, op) as session``, then ``session.output()``,
        ``session.send(stdin)``, ``session.resize(cols, rows)``, ``session.exit_code``. An op
        that does not run is a :class:`NodeError` with status 409."""
        from nosana_tui.client.terminal import open_terminal

        return open_terminal(
            self.url,
            self._authorization(),
            job_id,
            op_id,
            cmd=cmd,
            tty=tty,
            cols=cols,
            rows=rows,
            term=term,
            timeout=self.http.timeout.connect,
        )

    # --- streams ------------------------------------------------------------------------------

    async def watch(self, job_id: str) -> AsyncIterator[JobView]:
        """The job's state now and after each change (the node's SSE ``/job/{job}/info``)."""
        from nosana_tui.api.models import JobView

        try:
            async with self.http.stream("GET", f"/job/{job_id}/info", timeout=None) as response:
                if response.is_error:
                    await response.aread()
                    raise _error(response)
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        yield JobView.model_validate(clean_data(json.loads(line[6:])))
        except httpx.HTTPError as err:
            raise NodeError(
                f"{self.url}: the job stream broke off ({type(err).__name__})"
            ) from None

    async def wait(self, job_id: str, until: Callable[[JobView], bool]) -> JobView:
        async for view in self.watch(job_id):
            if until(view):
                return view
        raise NodeError(f"{self.url}: the job stream ended")

    async def logs(
        self,
        job_id: str,
        op: str | None = None,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        after: int = 0,
    ) -> AsyncIterator[LogEntry | int]:
        """Log entries, oldest first; with ``follow``, new ones as they come. An ``int`` is a count
        of lines the node dropped because this reader fell behind."""
        from nosana_tui.api.models import LogEntry

        params = {"after": after, "follow": follow, "op": op, "tail": tail, "since": since}
        async with self._log_stream(job_id, params) as response:
            async for line in response.aiter_lines():
                if not line:
                    continue
                if line.startswith('{"dropped"'):
                    yield int(json.loads(line)["dropped"])
                else:
                    yield LogEntry.model_validate_json(line)

    async def log_text(
        self,
        job_id: str,
        op: str | None = None,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[str]:
        """The log as text, ready to print: ``[time ][op | ]line`` per line, escape sequences
        other than colour neutralised here (never trusting the node to have done it). ``job_id``
        may be a unique prefix. Chunks end at line ends."""
        params = {"format": "text", "follow": follow, "timestamps": timestamps}
        params |= {"op": op, "tail": tail, "since": since}
        async with self._log_stream(job_id, params) as response:
            chunks = LineChunks()
            async for chunk in response.aiter_text():
                if text := chunks.feed(chunk):
                    yield text
            if text := chunks.end():
                yield text

    @contextlib.asynccontextmanager
    async def _log_stream(
        self, job_id: str, params: dict[str, Any]
    ) -> AsyncIterator[httpx.Response]:
        """``GET /api/jobs/{job}/logs`` as a stream (unset params left out); an HTTP error or a
        broken stream becomes a :class:`NodeError`."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            async with self.http.stream(
                "GET", f"/api/jobs/{job_id}/logs", params=query, timeout=None
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise _error(response)
                yield response
        except httpx.HTTPError as err:
            raise NodeError(
                f"{self.url}: the log stream broke off ({type(err).__name__})"
            ) from None

    # --- websockets: a node's /flog and /log ----------------------------------------------------

    async def flog(
        self,
        job_id: str,
        *,
        op: str | None = None,
        group: str | None = None,
        type: str | None = None,
    ) -> AsyncIterator[TaskLog]:
        """The job's log lines (``/flog``): its ops' and, with ``op_id == "system"``, the node's;
        history, then live. Filters: one op, one group, one ``type`` (container, info, error).
        A line a node sends twice (its history and live overlap) comes once. Ends when the node
        closes the socket (our agent: when the job, or the op, has ended or was removed); a
        Nosana node keeps it open, so stop reading when the job is done."""
        from nosana_tui.api.models import TaskLog

        body = {"opId": op, "group": group, "type": type}
        async for data in self._socket("/flog", job_id, body):
            yield TaskLog.model_validate(data)

    async def node_log(self, job_id: str) -> AsyncIterator[NodeLogEntry]:
        """The node's events about the job (``/log``): history, then live."""
        from nosana_tui.api.models import NodeLogEntry

        async for data in self._socket("/log", job_id, {}):
            yield NodeLogEntry.model_validate(data)

    def _authorization(self) -> str:
        if self.auth is not None:
            return self.auth()
        return f"Bearer {self.token}" if self.token else ""

    async def _socket(
        self, path: str, job_id: str, filters: dict[str, str | None]
    ) -> AsyncIterator[dict[str, Any]]:
        """The decoded ``data`` of each frame of a node websocket, cleaned (``clean_data``),
        duplicates dropped; a refusal or a broken socket is a :class:`NodeError`."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosedError, InvalidStatus, WebSocketException

        header = self._authorization()
        body = {"jobAddress": job_id, **{k: v for k, v in filters.items() if v is not None}}
        uri = "ws" + self.url.removeprefix("http") + path
        seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        try:
            async with connect(
                uri,
                additional_headers={"authorization": header} if header else None,
                proxy=None if is_loopback(self.url) else True,
                max_size=MAX_FRAME,
                open_timeout=self.http.timeout.connect,
            ) as ws:
                await ws.send(json.dumps({"path": path, "header": header, "body": body}))
                async for message in ws:
                    frame = json.loads(message)
                    data = frame.get("data") if isinstance(frame, dict) else None
                    if isinstance(data, str):
                        data = json.loads(data)
                    if not isinstance(data, dict):
                        continue
                    data = clean_data(data)
                    key = _fingerprint(data)
                    if key in seen:
                        continue
                    seen[key] = None
                    if len(seen) > _SEEN:
                        seen.popitem(last=False)
                    yield data
        except ConnectionClosedError as err:
            code = err.rcvd.code if err.rcvd else 1006
            reason = clean_text(err.rcvd.reason, keep_colour=False) if err.rcvd else ""
            status = _CLOSE_STATUS.get(code, 0)
            raise NodeError(
                f"{self.url}{path}: {reason or 'the socket broke off'} (close {code})", status
            ) from None
        except InvalidStatus as err:
            status = err.response.status_code
            raise NodeError(f"{self.url}{path}: refused (HTTP {status})", status) from None
        except (OSError, TimeoutError, WebSocketException, ValueError) as err:
            raise NodeError(f"{self.url}{path}: {type(err).__name__}: {err}") from None


def _task_stats(data: Any) -> list[TaskStat]:
    """``TaskStat[]``, or one ``TaskStat`` (a node's stream frame, as its dashboard reads it)."""
    from nosana_tui.api.models import TaskStat

    items = data if isinstance(data, list) else [data]
    return [TaskStat.model_validate(item) for item in items]


def _fingerprint(data: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a line one line (the dashboard's ``useFLogs.ts`` fingerprint)."""
    message = data.get("message", data.get("log"))
    return (
        data.get("opId"),
        data.get("type"),
        data.get("timestamp"),
        json.dumps(message, sort_keys=True, default=str),
    )


def _error(response: httpx.Response) -> NodeError:
    try:
        body = clean_data(response.json())
    except ValueError:
        body = {"error": clean_text(response.text, keep_colour=False)}
    if isinstance(body, dict):
        message = body.get("error") or body.get("detail") or response.reason_phrase
        diagnostics = body.get("diagnostics") or []
    else:
        message, diagnostics = str(body), []
    if not isinstance(message, str):
        message = json.dumps(message)
    signed = isinstance(body, dict) and body.get("reason") not in (None, "token")
    if signed:  # a refused signature (a node, or an agent under --auth nosana): say why
        message += f" [{body['reason']}]"
    elif response.status_code == 401:
        message += (
            "; a node other than the local agent takes its token from nodes.json (the UI's Nodes"
            " section saves it) or from NOSANA_TUI_TOKEN"
        )
    return NodeError(f"{message} (HTTP {response.status_code})", response.status_code, diagnostics)


def job_done(view: JobView) -> bool:
    from nosana_tui.api.models import JobStatus

    return view.status is not JobStatus.RUNNING and all(o.status.terminal for o in view.ops)


def job_decided(view: JobView) -> bool:
    """The job's outcome is known: it is done, or it has failed (ops that still run are kept
    running so that a person can look; nothing more starts)."""
    from nosana_tui.api.models import JobStatus

    return job_done(view) or view.status is JobStatus.FAILED


def job_ready(view: JobView) -> bool:
    """Every op is ready or finished (or the job has failed, which ends the wait too)."""
    from nosana_tui.api.models import OpStatus

    if view.status.terminal:
        return True  # over: nothing more will become ready (a served op may have stopped)
    return all(o.ready or o.status is OpStatus.FINISHED for o in view.ops)


def job_started(view: JobView) -> bool:
    from nosana_tui.api.models import JobStatus, OpStatus

    return view.status is not JobStatus.RUNNING or any(
        o.status not in (OpStatus.PENDING, OpStatus.WAITING) for o in view.ops
    )
