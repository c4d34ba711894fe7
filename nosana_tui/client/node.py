"""The client of the node API (httpx, async): the only way the CLI and the UI reach a node.

It parses answers into the same models the node serves (``api.models``) and turns every failure
into :class:`NodeError` with the node's own message, so callers never see a raw HTTP error.

``api.models`` (pydantic models) is imported on first use, not with this module: a command that
only prints log text never pays for building them (~0.1 s of a CLI call; bench/README.md).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx

from nosana_tui.config import is_loopback
from nosana_tui.sanitize import clean_text

if TYPE_CHECKING:
    from nosana_tui.api.models import GpuTelemetry, JobView, LogEntry, NodeInfo


class NodeError(Exception):
    """The node refused or could not be reached; ``status`` is the HTTP status (0: no answer)."""

    def __init__(
        self, message: str, status: int = 0, diagnostics: list[dict[str, Any]] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.diagnostics = diagnostics or []


class NodeClient:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
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

    async def gpus(self) -> GpuTelemetry:
        """The node's GPUs now, their recent utilisation and memory, and the processes (with
        job and op) using them: ``GET /api/gpus``."""
        from nosana_tui.api.models import GpuTelemetry

        return GpuTelemetry.model_validate(await self._json("GET", "/api/gpus"))

    async def jobs(self) -> list[JobView]:
        from nosana_tui.api.models import JobView

        data = await self._json("GET", "/api/jobs")
        return [JobView.model_validate(j) for j in data]

    async def job(self, job_id: str) -> JobView:
        from nosana_tui.api.models import JobView

        return JobView.model_validate(await self._json("GET", f"/api/jobs/{job_id}"))

    async def find(self, prefix: str) -> JobView:
        """A job by its id or an unambiguous prefix of it (the node resolves prefixes)."""
        return await self.job(prefix)

    # --- commands -----------------------------------------------------------------------------

    async def submit(self, definition: dict[str, Any], name: str = "", source: str = "") -> JobView:
        from nosana_tui.api.models import JobView

        body = {"definition": definition, "name": name, "source": source}
        return JobView.model_validate(await self._json("POST", "/api/jobs", json=body))

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
            pending = ""
            async for chunk in response.aiter_text():
                pending += chunk
                cut = pending.rfind("\n") + 1
                if cut:
                    yield clean_text(pending[:cut])
                    pending = pending[cut:]
            if pending:
                yield clean_text(pending)

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


def clean_data(value: Any) -> Any:
    """VALUE (decoded JSON) with every string, keys included, cleaned of terminal escapes and
    its other control characters made visible (``^[``), newlines and tabs kept. What a node
    says (job names, messages, GPU names and notes, engine details) reaches the user's terminal
    through the UI and the CLI, and a node, a remote one above all, is not trusted to have done
    this itself. Job definitions are data and stay as they are."""
    if isinstance(value, str):
        return clean_text(value, keep_colour=False)
    if isinstance(value, list):
        return [clean_data(v) for v in value]
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    return value


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
    if response.status_code == 401:
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
