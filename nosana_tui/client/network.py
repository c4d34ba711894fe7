"""The client of the Nosana network with an API key (httpx, async): markets, credits, posting a
job (validate, pin, list), reading, stopping and extending jobs.

Routes and shapes: shared/reference/nosana-network.md §1.3. The models below were written from
the JSON schemas exported from npm ``@nosana/api`` (the version tests/network/package.json pins;
the stand-in gateway checks every request and answer against those schemas, so drift fails a
test). Fields the pinned schema lacks but newer Client Manager schemas return (``outcome``,
``tx: null`` on a no-op) are optional here.

Every host is a constructor argument (the CLI passes the settings' values). One helper,
:func:`send_with_retry`, retries what is safe to repeat: GETs, and POSTs that carry an
``Idempotency-Key`` (the gateway replays the first answer for the same key). It honours
``Retry-After``. Every failure is a :class:`NetworkError` subclass whose message says what to do.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import httpx
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

API_KEY_ENV = "NOSANA_API_KEY"
QUEUED_NODE = "11111111111111111111111111111111"  # the indexer's node while a job is queued
MIN_CREDIT_TIMEOUT = 3600  # credit-paid jobs run at least an hour (§1.3, POST /jobs/list)
NETWORK_FEE = 0.10  # the dashboard adds 10 % to the market's USD rate (§1.3, markets)
RESULT_TIMEOUT = 5.0  # seconds for a job's result from the IPFS gateway (one attempt)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """``1h``, ``30m``, ``2h30m``, ``3600s``, ``1d``: seconds. ValueError, saying how to write
    one, for anything else or for zero."""
    found = _DURATION.match(text.strip().lower())
    if not text.strip() or found is None or not any(found.groups()):
        raise ValueError(f"{text!r}: give a duration like 1h, 90m or 2h30m")
    d, h, m, s = (int(g or 0) for g in found.groups())
    seconds = d * 86400 + h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError(f"{text!r}: give a duration longer than zero")
    return seconds


def is_cid_v0(cid: str) -> bool:
    """A CIDv0: the base58btc of a sha2-256 multihash (0x12, 0x20, 32 bytes), the form whose
    digest the chain stores (reference §3.2). Decoded with ``base58``, not by hand."""
    import base58

    try:
        raw = base58.b58decode(cid)
    except ValueError:
        return False
    return len(raw) == 34 and raw[:2] == b"\x12\x20"


# --- errors ---------------------------------------------------------------------------------------


class NetworkError(Exception):
    """The network refused or could not be reached; ``status`` is the HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NoApiKey(NetworkError):
    def __init__(self) -> None:
        super().__init__(
            f"no Nosana API key: create one at https://dashboard.nosana.com (Account, API keys) "
            f"and set {API_KEY_ENV}=nos_... in the environment, or api_key in config.toml"
        )


class InvalidJob(NetworkError):
    """The job definition does not validate: it never left this machine."""

    def __init__(self, message: str, diagnostics: list[Any]) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


class BadRequest(NetworkError):
    pass


class Unauthorized(NetworkError):
    pass


class OutOfCredits(NetworkError):
    pass


class Forbidden(NetworkError):
    pass


class MissingScope(Forbidden):
    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message, 403)
        self.scope = scope


class NotFound(NetworkError):
    pass


class IdempotencyConflict(NetworkError):
    def __init__(self, message: str, code: str, retry_after: float | None = None) -> None:
        super().__init__(message, 409)
        self.code = code
        self.retry_after = retry_after


class RateLimited(NetworkError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class ServerError(NetworkError):
    pass


class Unreachable(NetworkError):
    pass


class BadAnswer(NetworkError):
    """An answer that does not have the documented shape (the API changed, or a wrong host)."""


class PlainHttp(NetworkError):
    """A credential (the API key, a pin JWT, a poster's signature) would go over plain http://
    to a host off this machine: refused unless the ``allow_http`` setting says otherwise."""


def refuse_plain_http(url: str, what: str, allow_http: bool) -> None:
    """:class:`PlainHttp` when WHAT (a credential) would go to URL over plain http:// off this
    machine and ``allow_http`` is off: anyone on the way could read it and reuse it. The same
    rule as a node's token (``client.local.token_for``); loopback is this machine."""
    from nosana_tui.config import plain_http_refusal

    refused = plain_http_refusal(url, what, allow_http)
    if refused is not None:
        raise PlainHttp(refused)


# --- models (from @nosana/api's schemas; see tests/network/schemas.ts) ----------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Market(_Answer):
    address: str
    slug: str
    name: str
    type: str
    gpu_types: list[str] = Field(default_factory=list)
    usd_reward_per_hour: float | None = None  # ``unknown`` in the schema: a number where seen
    nos_job_price_per_second: float = 0.0
    network_fee_percentage: float = 0.0
    lowest_vram: float | None = None
    required_images: list[str] = Field(default_factory=list)

    @property
    def usd_per_hour(self) -> float | None:
        """What an hour costs the poster in USD: the hosts' rate and the network fee (§1.3)."""
        if self.usd_reward_per_hour is None:
            return None
        return float(self.usd_reward_per_hour) * (1 + NETWORK_FEE)

    @property
    def nos_per_hour(self) -> float:
        return self.nos_job_price_per_second * 3600

    def most_usd(self, seconds: int) -> float | None:
        """The most a job of this timeout can cost, in USD (price per hour × hours)."""
        rate = self.usd_per_hour
        return None if rate is None else rate * seconds / 3600


class Credits(_Answer):
    assignedCredits: float
    reservedCredits: float
    settledCredits: float

    @property
    def available(self) -> float:
        return self.assignedCredits - self.reservedCredits - self.settledCredits


class CreditUse(_Answer):
    costUSD: float
    creditsUsed: float
    reservationId: str
    project: str | None = None


class PostedJob(_Answer):
    tx: str
    job: str
    run: str
    credits: CreditUse
    ipfsHash: str = ""  # ours: the CID we pinned and listed


class JobState(enum.IntEnum):
    QUEUED = 0
    RUNNING = 1
    COMPLETED = 2
    STOPPED = 3

    @property
    def terminal(self) -> bool:
        return self in (JobState.COMPLETED, JobState.STOPPED)


class Job(_Answer):
    address: str = ""  # in the indexer's rows; /jobs/{address} answers without it (2.1.8)
    ipfsJob: str | None = None
    ipfsResult: str | None = None
    market: str
    node: str
    payer: str = ""
    project: str = ""
    price: float = 0  # NOS base units (1e-6 NOS) per second
    state: JobState
    timeStart: int = 0
    timeEnd: int = 0
    timeout: int = 0
    usdRewardPerHour: float | None = None
    listedAt: int | None = None
    jobDefinition: Any = None  # the indexer's copy of the pinned definition (its plan, in the UI)
    jobResult: Any = None  # the indexer's copy of the result (a FlowState) once it has ended

    @property
    def node_address(self) -> str | None:
        return None if self.node == QUEUED_NODE else self.node

    def ran_seconds(self, now: float | None = None) -> int:
        if not self.timeStart:
            return 0
        end = self.timeEnd or int(time.time() if now is None else now)
        return max(0, end - self.timeStart)

    def cost_nos(self, now: float | None = None) -> float:
        """NOS spent so far: seconds run × price (the Nosana CLI's ``Total Costs``)."""
        return self.ran_seconds(now) * self.price / 1e6

    def cost_usd(self, now: float | None = None) -> float | None:
        if self.usdRewardPerHour is None:
            return None
        return self.ran_seconds(now) / 3600 * self.usdRewardPerHour * (1 + NETWORK_FEE)


class JobPage(_Answer):
    jobs: list[Job]
    totalJobs: int


class StopResult(_Answer):
    tx: str | None
    job: str
    delisted: bool
    outcome: str | None = None


class ExtendResult(_Answer):
    tx: str | None
    job: str
    credits: CreditUse | None = None


class SignedMessage(_Answer):
    message: str
    userAddress: str
    signature: str
    timestamp: int | None = None


class ApiKeyUser(_Answer):
    generatedAddress: str


class ApiKeyInfo(_Answer):
    valid: bool
    user: ApiKeyUser | None = None
    scopes: list[str] | None = None


# --- deployments (the gateway's /deployments, reference §1.3 Deployments) -------------------------


class Strategy(enum.StrEnum):
    SIMPLE = "SIMPLE"
    SIMPLE_EXTEND = "SIMPLE-EXTEND"
    SCHEDULED = "SCHEDULED"
    INFINITE = "INFINITE"


class DeploymentStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    ERROR = "ERROR"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    ARCHIVED = "ARCHIVED"


# a status or strategy newer than this client is kept as the gateway's word (and shown as it is):
# one unknown value must not make the whole list unreadable
def _known_or_text(kind: type[enum.StrEnum]) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                return value
        return value

    return BeforeValidator(parse)


StatusOrText = Annotated[DeploymentStatus | str, _known_or_text(DeploymentStatus)]
StrategyOrText = Annotated[Strategy | str, _known_or_text(Strategy)]


class Endpoint(_Answer):
    opId: str
    port: int | str
    url: str


class Deployment(_Answer):
    """Every string of it cleaned of terminal escapes as it is read (``clean_data``): names,
    schedules and endpoint URLs are anyone's words, shown in the UI and the CLI."""

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        from nosana_tui.sanitize import clean_data

        return clean_data(data)

    id: str
    name: str
    vault: str
    market: str
    owner: str
    status: StatusOrText  # str(status): its name, known or not
    replicas: int
    timeout: int  # MINUTES
    endpoints: list[Endpoint] = Field(default_factory=list)
    confidential: bool = False
    active_revision: int = 0
    active_jobs: int = 0
    created_at: str = ""
    updated_at: str = ""
    strategy: StrategyOrText
    schedule: str | None = None  # SCHEDULED: a cron expression
    rotation_time: int | None = None  # INFINITE: seconds

    @property
    def live(self) -> bool:
        return self.status in (
            DeploymentStatus.STARTING,
            DeploymentStatus.RUNNING,
            DeploymentStatus.STOPPING,
        )


class Pagination(_Answer):
    cursor_next: str | None = None
    cursor_prev: str | None = None
    total_items: int = 0


class DeploymentPage(_Answer):
    deployments: list[Deployment]
    pagination: Pagination


class DeploymentJob(_Answer):
    tx: str
    job: str
    deployment: str
    market: str
    revision: int
    state: str  # QUEUED, RUNNING, COMPLETED, STOPPED
    time_start: int = 0
    created_at: str = ""
    updated_at: str = ""


class DeploymentJobPage(_Answer):
    jobs: list[DeploymentJob]
    pagination: Pagination


class DeploymentChange(_Answer):
    """The answer of start, stop and archive (the new status), and of a replica change."""

    status: StatusOrText | None = None
    replicas: int | None = None
    updated_at: str = ""


class DeploymentFrame(BaseModel):
    """One frame of ``GET /deployments/{id}/stream``: ``type`` deployment (status, replicas,
    active_revision), job (job, state, node, timeStart, timeEnd), event (category, event,
    message, tx, created_at) or task (id, task, status, ...). Other fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    def text(self) -> str:
        """One line a person reads."""
        data = self.model_dump()
        if self.type == "deployment":
            return (
                f"deployment {data.get('status')}: {data.get('replicas')} replicas, "
                f"revision {data.get('active_revision')}"
            )
        if self.type == "job":
            node = data.get("node") or "-"
            return f"job {data.get('job')} {data.get('state')} on node {node}"
        if self.type == "event":
            tx = f" (tx {data['tx']})" if data.get("tx") else ""
            return f"{data.get('category')} {data.get('event')}: {data.get('message')}{tx}"
        if self.type == "task":
            job = f" job {data['job']}" if data.get("job") else ""
            return f"task {data.get('task') or data.get('id')} {data.get('status')}{job}"
        return json.dumps({k: v for k, v in data.items() if k != "type"})


# --- the result of a job that has ended (a FlowState, reference nosana.md §2.4) -------------------


class ResultLog(_Answer):
    type: str  # stdin, stdout, stderr, nodeerr
    log: str | None = None
    timestamp: str | int | float | None = None


class OpResult(_Answer):
    providerId: str | None = None
    operationId: str | None = None
    group: str | None = None
    status: str | None = None
    startTime: int | float | None = None
    endTime: int | float | None = None
    exitCode: int | None = None
    logs: list[ResultLog] = Field(default_factory=list)
    results: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class FlowState(_Answer):
    status: str
    startTime: int | float
    endTime: int | float | None = None
    errors: list[Any] | None = None
    opStates: list[OpResult] = Field(default_factory=list)


def clean_result(data: Any) -> Any:
    """A FlowState as read (decoded JSON) with every string cleaned for a terminal: escapes
    removed and controls made visible (``clean_data``), except that the colour of log lines
    is kept, as a node's ``/flog`` lines keep it. A node writes its result: it is not trusted
    to have done this."""
    from nosana_tui.sanitize import clean_data, clean_text

    if not isinstance(data, dict):
        return clean_data(data)
    states = data.get("opStates")
    cleaned = clean_data({k: v for k, v in data.items() if k != "opStates"})
    if isinstance(states, list):
        cleaned["opStates"] = [_clean_op_state(state, clean_text) for state in states]
    elif states is not None:
        cleaned["opStates"] = clean_data(states)
    return cleaned


def _clean_op_state(state: Any, clean_text: Callable[..., str]) -> Any:
    from nosana_tui.sanitize import clean_data

    if not isinstance(state, dict) or not isinstance(state.get("logs"), list):
        return clean_data(state)
    logs = [
        {
            **clean_data({k: v for k, v in line.items() if k != "log"}),
            **({"log": clean_text(line["log"])} if isinstance(line.get("log"), str) else {}),
        }
        if isinstance(line, dict)
        else clean_data(line)
        for line in state["logs"]
    ]
    return {**clean_data({k: v for k, v in state.items() if k != "logs"}), "logs": logs}


def check_deployment(
    name: str,
    replicas: int,
    timeout_minutes: int,
    strategy: Strategy | str,
    job_definition: dict[str, Any],
    schedule: str | None = None,
    rotation_time: int | None = None,
) -> Strategy:
    """The strategy, once the deployment keeps the rules (a valid job, at least one replica,
    at least an hour per credit-paid job, a schedule for SCHEDULED only, a rotation time for
    INFINITE only, longer than zero): checked before the cost is asked about and before anything is sent.
    :class:`InvalidJob` or :class:`BadRequest`, saying what to change."""
    from nosana_tui.jobformat.diagnostics import Severity
    from nosana_tui.jobformat.validate import validate_data

    what = f"create deployment {name}"
    try:
        strategy = Strategy(strategy)
    except ValueError:
        known = ", ".join(s.value for s in Strategy)
        raise BadRequest(f"{what}: no strategy {strategy!r}; use one of {known}") from None
    job, diagnostics = validate_data(job_definition)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if job is None or errors:
        raise InvalidJob("the job definition does not validate; nothing was created", errors)
    if replicas < 1:
        raise BadRequest(f"{what}: give at least one replica")
    if timeout_minutes < MIN_CREDIT_TIMEOUT // 60:
        raise BadRequest(
            f"{what}: a timeout of {timeout_minutes} min: credit-paid deployments run "
            f"each job at least {MIN_CREDIT_TIMEOUT // 60} minutes (1h)"
        )
    if strategy is Strategy.SCHEDULED and not schedule:
        raise BadRequest(f"{what}: a SCHEDULED deployment needs a schedule (cron)")
    if schedule and strategy is not Strategy.SCHEDULED:
        raise BadRequest(f"{what}: a schedule is for --strategy SCHEDULED only")
    if rotation_time is not None:
        if strategy is not Strategy.INFINITE:
            raise BadRequest(f"{what}: a rotation time is for --strategy INFINITE only")
        if rotation_time <= 0:
            raise BadRequest(f"{what}: give a rotation time longer than zero")
    return strategy


# --- retry ----------------------------------------------------------------------------------------


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number, or an HTTP date), else a body's ``retryAfter``."""
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value) if value else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("retryAfter"), int | float):
        return float(body["retryAfter"])
    return None


async def send_with_retry(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    idempotent: bool,
    attempts: int = 4,
    base_delay: float = 0.5,
    max_wait: float = 60.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Send, and again after a pause when the answer says to try later (429, 5xx, 409 in
    progress) or nothing came back: only when ``idempotent`` (a GET, or a POST with an
    ``Idempotency-Key``), since repeating anything else could do it twice. The pause is the
    server's ``Retry-After`` when it gives one, else an exponential backoff with jitter; a
    ``Retry-After`` past ``max_wait`` is not waited for (the caller's error shows it)."""
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = await send()
        except httpx.TransportError:
            if not idempotent or last:
                raise
            await sleep(_backoff(attempt, base_delay))
            continue
        status = response.status_code
        again = status == 429 or status >= 500 or _in_progress(response)
        if not again or not idempotent or last:
            return response
        wait = retry_after(response)
        if wait is not None and wait > max_wait:
            return response
        await sleep(wait if wait is not None else _backoff(attempt, base_delay))
    raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int, base: float) -> float:
    return float(base * 2**attempt * (0.5 + random.random() / 2))


def _in_progress(response: httpx.Response) -> bool:
    return response.status_code == 409 and _code(response) == "IDEMPOTENCY_KEY_IN_PROGRESS"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    return body if isinstance(body, dict) else {"message": str(body)[:200]}


def _code(response: httpx.Response) -> str:
    return str(_body(response).get("code") or "")


def error_for(response: httpx.Response, what: str) -> NetworkError:
    """The typed error of a failed answer, with a message a person can act on."""
    status = response.status_code
    body = _body(response)
    said = str(body.get("message") or body.get("error") or "").strip()
    detail = f": {said}" if said else ""
    if status == 401:
        return Unauthorized(
            f"{what}: the API key was refused (401){detail}; check {API_KEY_ENV} "
            f"(keys start with nos_, and a revoked key stops working)",
            401,
        )
    if status == 402:
        return OutOfCredits(
            f"{what}: out of credits (402){detail}; add credits at https://dashboard.nosana.com "
            f"(`nosana-tui credits` shows the balance)",
            402,
        )
    if status == 403:
        scope = _scope(response, said)
        if scope:
            return MissingScope(
                f"{what}: the API key lacks the scope {scope} (403); create a key with "
                f"{scope} at https://dashboard.nosana.com and set {API_KEY_ENV}",
                scope,
            )
        return Forbidden(f"{what}: not permitted (403){detail}", 403)
    if status == 404:
        return NotFound(f"{what}: not found (404){detail}", 404)
    if status == 409:
        code = str(body.get("code") or "")
        hint = {
            "IDEMPOTENCY_KEY_PAYLOAD_MISMATCH": "this idempotency key was used for a different "
            "request; nothing was posted again",
            "IDEMPOTENCY_KEY_EXPIRED": "the idempotency key expired; try again (a new key is used)",
            "IDEMPOTENCY_KEY_IN_PROGRESS": "the same request is still being processed; "
            "look at `nosana-tui ps --network ...` before trying again",
        }.get(code, "conflict")
        return IdempotencyConflict(
            f"{what}: {hint} (409 {code}){detail}", code, retry_after(response)
        )
    if status == 429:
        wait = retry_after(response)
        shown = f"wait {wait:.0f} s and try again" if wait is not None else "wait and try again"
        return RateLimited(f"{what}: rate limited (429); {shown}", wait)
    if status >= 500:
        return ServerError(
            f"{what}: the Nosana API failed ({status}){detail}; try again later", status
        )
    return BadRequest(f"{what}: refused ({status}){detail}", status)


def _scope(response: httpx.Response, message: str) -> str:
    header = response.headers.get("www-authenticate", "")
    found = re.search(r'scope="([^"]+)"', header)
    if found:
        return found.group(1)
    if _code(response) == "INSUFFICIENT_SCOPE":
        found = re.search(r"requires:\s*([\w:-]+)", message)
        return found.group(1) if found else "(unnamed)"
    return ""


# --- the client -----------------------------------------------------------------------------------


class NetworkClient:
    """One account on one Nosana network. ``api_url`` is the gateway (with ``/api`` where the
    host needs it), ``pin_url`` the pin service (Pinata's API), ``ipfs_gateway`` where pinned
    files are read back."""

    def __init__(
        self,
        api_url: str,
        api_key: str | None,
        *,
        pin_url: str,
        ipfs_gateway: str = "",
        pin_jwt: str | None = None,
        allow_http: bool = False,
        timeout: float = 30.0,
        attempts: int = 4,
        max_wait: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.pin_url = pin_url.rstrip("/")
        self.ipfs_gateway = ipfs_gateway.rstrip("/")
        self._key = api_key or None
        self._pin_jwt = pin_jwt or None
        self._allow_http = allow_http
        self._retry: dict[str, Any] = {"attempts": attempts, "max_wait": max_wait, "sleep": sleep}
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._project: str | None = None

    def __repr__(self) -> str:  # never the key
        return f"NetworkClient({self.api_url!r}, api_key={'set' if self._key else 'unset'})"

    async def __aenter__(self) -> NetworkClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing

    def _auth(self) -> dict[str, str]:
        if not self._key:
            raise NoApiKey()
        refuse_plain_http(self.api_url, "the API key", self._allow_http)
        return {"Authorization": f"Bearer {self._key}"}

    async def _call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        auth: bool = True,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
    ) -> Any:
        sent = {**(self._auth() if auth else {}), **(headers or {})}
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        retry = {**self._retry, **({} if attempts is None else {"attempts": attempts})}

        async def send() -> httpx.Response:
            return await self._http.request(
                method, url, json=json, params=params, headers=sent, **extra
            )

        try:
            response = await send_with_retry(
                send, idempotent=method == "GET" or bool(idempotency_key), **retry
            )
        except httpx.TransportError as err:
            host = httpx.URL(url).host
            raise Unreachable(f"{what}: cannot reach {host} ({type(err).__name__})") from None
        if response.status_code >= 400:
            raise error_for(response, what)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise BadAnswer(f"{what}: the answer is not JSON ({response.status_code})") from None

    @staticmethod
    def _parse(model: type[Any], data: Any, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadAnswer(f"{what}: unexpected answer ({where}: {first['msg']})") from None

    # --- markets and credits

    async def markets(self) -> list[Market]:
        data = await self._call("GET", f"{self.api_url}/markets/", "markets", auth=False)
        if not isinstance(data, list):
            raise BadAnswer("markets: expected a list")
        return [self._parse(Market, m, "markets") for m in data]

    async def market(self, slug_or_address: str) -> Market:
        """A market by its address or its slug (the Host Manager resolves both)."""
        what = f"market {slug_or_address}"
        data = await self._call(
            "GET", f"{self.api_url}/markets/{slug_or_address}/", what, auth=False
        )
        market: Market = self._parse(Market, data, what)
        return market

    async def credits(self) -> Credits:
        data = await self._call("GET", f"{self.api_url}/credits/balance", "credits")
        result: Credits = self._parse(Credits, data, "credits")
        return result

    # --- posting

    async def pin(self, definition: dict[str, Any]) -> str:
        """Pin the job definition (Pinata's ``pinJSONToIPFS``: the definition itself is the
        body) and return its CIDv0, the form the chain stores (§3.2)."""
        headers = {}
        if self._pin_jwt:
            refuse_plain_http(self.pin_url, "the pin service's JWT", self._allow_http)
            headers = {"Authorization": f"Bearer {self._pin_jwt}"}
        data = await self._call(
            "POST",
            f"{self.pin_url}/pinning/pinJSONToIPFS",
            "pin the job definition",
            auth=False,
            json=definition,
            headers=headers,
        )
        cid = data.get("IpfsHash") if isinstance(data, dict) else None
        if not isinstance(cid, str) or not is_cid_v0(cid):
            raise BadAnswer(f"pin the job definition: expected a CIDv0 (Qm...), got {cid!r}")
        return cid

    async def post(
        self,
        definition: dict[str, Any],
        market: str,
        timeout: int,
        node: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> PostedJob:
        """Validate, pin and list a job paid with credits. ``timeout`` is in seconds (at least
        an hour). One idempotency key for every attempt: a retried post lists the job once."""
        from nosana_tui.jobformat.diagnostics import Severity
        from nosana_tui.jobformat.validate import validate_data

        self._auth()  # no key: say so before pinning anything
        job, diagnostics = validate_data(definition)
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        if job is None or errors:
            raise InvalidJob("the job definition does not validate; nothing was posted", errors)
        if timeout < MIN_CREDIT_TIMEOUT:
            raise BadRequest(
                f"timeout {timeout} s: credit-paid jobs must have a timeout of at least "
                f"{MIN_CREDIT_TIMEOUT} seconds (1h)"
            )
        address = (await self.market(market)).address  # a slug, or a market that is gone
        cid = await self.pin(definition)
        body: dict[str, Any] = {"ipfsHash": cid, "market": address, "timeout": timeout}
        if node:
            body["node"] = node
        data = await self._call(
            "POST",
            f"{self.api_url}/jobs/list",
            "post the job",
            json=body,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        posted: PostedJob = self._parse(PostedJob, {**data, "ipfsHash": cid}, "post the job")
        self._project = posted.credits.project or self._project
        return posted

    # --- jobs

    async def job(self, address: str) -> Job:
        what = f"job {address}"
        data = await self._call("GET", f"{self.api_url}/jobs/{address}", what, auth=False)
        if isinstance(data, dict):
            data = {"address": address, **data}
        job: Job = self._parse(Job, data, what)
        return job

    async def project(self) -> str:
        """This key's custodial address: the ``poster`` of the jobs it posts (§1.3)."""
        if self._project is None:
            data = await self._call(
                "POST",
                f"{self.api_url}/auth/validate-api-key",
                "check the API key",
                json={"apiKey": self._key},
            )
            info: ApiKeyInfo = self._parse(ApiKeyInfo, data, "check the API key")
            if not info.valid or info.user is None:
                raise Unauthorized(f"the API key is not valid; check {API_KEY_ENV}", 401)
            self._project = info.user.generatedAddress
        return self._project

    async def my_jobs(
        self, *, state: JobState | None = None, page_size: int = 50, limit: int | None = None
    ) -> list[Job]:
        """The jobs this key posted, newest pages first as the indexer gives them; pages are
        fetched until ``limit`` or the end. The indexer's rate limit (429) is waited out."""
        poster = await self.project()
        jobs: list[Job] = []
        while limit is None or len(jobs) < limit:
            params: dict[str, Any] = {"poster": poster, "limit": page_size, "offset": len(jobs)}
            if state is not None:
                params["state"] = state.name
            data = await self._call(
                "GET", f"{self.api_url}/jobs/", "list my jobs", auth=False, params=params
            )
            page: JobPage = self._parse(JobPage, data, "list my jobs")
            jobs.extend(page.jobs)
            if not page.jobs or len(jobs) >= page.totalJobs:
                break
        return jobs if limit is None else jobs[:limit]

    async def stop(self, address: str, *, idempotency_key: str | None = None) -> StopResult:
        what = f"stop job {address}"
        data = await self._call(
            "POST",
            f"{self.api_url}/jobs/{address}/stop",
            what,
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        result: StopResult = self._parse(StopResult, data, what)
        return result

    async def extend(
        self, address: str, seconds: int, *, idempotency_key: str | None = None
    ) -> ExtendResult:
        """Add ``seconds`` to the job's timeout."""
        what = f"extend job {address}"
        if seconds <= 0:
            raise BadRequest(f"{what}: give a positive time to add")
        data = await self._call(
            "POST",
            f"{self.api_url}/jobs/{address}/extend",
            what,
            json={"seconds": seconds},
            idempotency_key=idempotency_key or str(uuid.uuid4()),
        )
        result: ExtendResult = self._parse(ExtendResult, data, what)
        return result

    async def sign_message(self, message: str, *, include_time: bool = False) -> SignedMessage:
        """A signature by the account's custodial key (needs the ``wallet:sign`` scope)."""
        body: dict[str, Any] = {"message": message}
        if include_time:
            body["includeTime"] = True
        data = await self._call(
            "POST", f"{self.api_url}/auth/sign-message/external", "sign a message", json=body
        )
        signed: SignedMessage = self._parse(SignedMessage, data, "sign a message")
        return signed

    async def node_header(self, message: str) -> str:
        """The ``authorization`` header a node takes from the job's poster, signed by this
        key's custodial wallet (Path B, reference §2.3): ``message:signature:time``, assembled
        here (newer kits return the bare signature)."""
        signed = await self.sign_message(message, include_time=True)
        parts = [signed.message, signed.signature]
        if signed.timestamp is not None:
            parts.append(str(signed.timestamp))
        return ":".join(parts)

    # --- deployments (the API key's; reference §1.3 Deployments)

    async def deployments(
        self, *, page_size: int = 50, limit: int | None = None
    ) -> list[Deployment]:
        """The key's deployments, newest first, page by page (the gateway's cursor) until
        ``limit`` or the end. (Newest first: a list cut at ``limit`` keeps the ones a person
        works with; the gateway's own default order is not documented.)"""
        found: list[Deployment] = []
        cursor: str | None = None
        while limit is None or len(found) < limit:
            params: dict[str, Any] = {"limit": page_size, "sort_order": "desc"}
            if cursor:
                params["cursor"] = cursor
            data = await self._call(
                "GET", f"{self.api_url}/deployments", "list deployments", params=params
            )
            page: DeploymentPage = self._parse(DeploymentPage, data, "list deployments")
            found.extend(page.deployments)
            cursor = page.pagination.cursor_next
            if not cursor or not page.deployments:
                break
        return found if limit is None else found[:limit]

    async def deployment(self, deployment_id: str) -> Deployment:
        what = f"deployment {deployment_id}"
        data = await self._call("GET", f"{self.api_url}/deployments/{deployment_id}", what)
        found: Deployment = self._parse(Deployment, data, what)
        return found

    async def create_deployment(
        self,
        name: str,
        market: str,
        replicas: int,
        timeout_minutes: int,
        strategy: Strategy | str,
        job_definition: dict[str, Any],
        *,
        schedule: str | None = None,
        rotation_time: int | None = None,
    ) -> Deployment:
        """A deployment of ``replicas`` copies of the job on ``market`` (its slug or address),
        each for ``timeout_minutes`` (MINUTES, at least 60 when paid with credits). The
        definition is validated here first; the Deployment Manager pins it itself."""
        what = f"create deployment {name}"
        self._auth()
        strategy = check_deployment(
            name, replicas, timeout_minutes, strategy, job_definition, schedule, rotation_time
        )
        address = (await self.market(market)).address
        body: dict[str, Any] = {
            "name": name,
            "market": address,
            "replicas": replicas,
            "timeout": timeout_minutes,
            "strategy": strategy.value,
            "job_definition": job_definition,
        }
        if schedule and strategy is Strategy.SCHEDULED:
            body["schedule"] = schedule
        if rotation_time is not None and strategy is Strategy.INFINITE:
            body["rotation_time"] = rotation_time
        data = await self._call("POST", f"{self.api_url}/deployments/create", what, json=body)
        created: Deployment = self._parse(Deployment, data, what)
        return created

    async def _deployment_change(
        self, deployment_id: str, verb: str, method: str = "POST", json: Any = None
    ) -> DeploymentChange:
        what = f"{verb} deployment {deployment_id}"
        data = await self._call(
            method, f"{self.api_url}/deployments/{deployment_id}/{verb}", what, json=json
        )
        change: DeploymentChange = self._parse(DeploymentChange, data, what)
        return change

    async def start_deployment(self, deployment_id: str) -> DeploymentChange:
        return await self._deployment_change(deployment_id, "start")

    async def stop_deployment(self, deployment_id: str) -> DeploymentChange:
        return await self._deployment_change(deployment_id, "stop")

    async def archive_deployment(self, deployment_id: str) -> DeploymentChange:
        return await self._deployment_change(deployment_id, "archive")

    async def scale_deployment(self, deployment_id: str, replicas: int) -> DeploymentChange:
        if replicas < 1:
            raise BadRequest(f"scale deployment {deployment_id}: give at least one replica")
        return await self._deployment_change(
            deployment_id, "update-replica-count", "PATCH", {"replicas": replicas}
        )

    async def delete_deployment(self, deployment_id: str) -> None:
        """Delete it for good: the Deployment Manager deletes only a STOPPED deployment
        (reference §1.3 Deployments), so any other is refused here, saying what to do."""
        what = f"delete deployment {deployment_id}"
        found = await self.deployment(deployment_id)
        if found.status != DeploymentStatus.STOPPED:
            live = found.live or found.status == DeploymentStatus.INSUFFICIENT_FUNDS
            todo = (
                f"stop it first (`nosana-tui deployments stop {deployment_id}`)"
                if live
                else "only a STOPPED deployment can be deleted"
            )
            raise BadRequest(f"{what}: it is {found.status}; {todo}")
        await self._call("DELETE", f"{self.api_url}/deployments/{deployment_id}", what)

    async def deployment_jobs(
        self, deployment_id: str, *, page_size: int = 50
    ) -> list[DeploymentJob]:
        what = f"jobs of deployment {deployment_id}"
        found: list[DeploymentJob] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            data = await self._call(
                "GET", f"{self.api_url}/deployments/{deployment_id}/jobs", what, params=params
            )
            page: DeploymentJobPage = self._parse(DeploymentJobPage, data, what)
            found.extend(page.jobs)
            cursor = page.pagination.cursor_next
            if not cursor or not page.jobs:
                return found

    async def deployment_events(
        self, deployment_id: str, *, follow: bool = True, quiet: float = 2.0
    ) -> AsyncIterator[DeploymentFrame]:
        """The frames of ``GET /deployments/{id}/stream`` (SSE: a snapshot, then changes).
        With ``follow`` a dropped stream is opened again after a growing pause (the gateway
        replays its snapshot then); without it the frames end after ``quiet`` seconds with
        none (the snapshot has come). Refusals (401, 403, 404) end it with their error."""
        what = f"events of deployment {deployment_id}"
        url = f"{self.api_url}/deployments/{deployment_id}/stream"
        failures = 0
        while True:
            try:
                async with self._http.stream(
                    "GET",
                    url,
                    headers={**self._auth(), "Accept": "text/event-stream"},
                    timeout=httpx.Timeout(30.0, read=None),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise error_for(response, what)
                    lines = response.aiter_lines()
                    while True:
                        try:
                            line = await (
                                asyncio.wait_for(anext(lines), quiet)
                                if not follow
                                else anext(lines)
                            )
                        except (StopAsyncIteration, TimeoutError):
                            break
                        if not line.startswith("data:"):
                            continue  # ": keep-alive" comments, event names, blank lines
                        failures = 0
                        try:
                            frame = DeploymentFrame.model_validate_json(line[5:].strip())
                        except ValidationError:
                            raise BadAnswer(
                                f"{what}: a frame is not an event: {line[:80]!r}"
                            ) from None
                        yield frame
            except httpx.TransportError as err:
                if not follow:
                    raise Unreachable(
                        f"{what}: cannot reach {httpx.URL(url).host} ({type(err).__name__})"
                    ) from None
            except (ServerError, RateLimited) as err:
                if not follow:
                    raise
                wait = err.retry_after if isinstance(err, RateLimited) else None
                if wait is not None:  # the gateway says when: that, and no sooner
                    await self._retry["sleep"](min(wait, self._retry["max_wait"]))
                    failures += 1
                    continue
            if not follow:
                return
            await self._retry["sleep"](_backoff(min(failures, 5), 1.0))
            failures += 1

    # --- the result of a job that has ended

    async def result(self, job: Job) -> FlowState | None:
        """The FlowState the node left when JOB ended: the indexer's ``jobResult`` where it
        gives one, else ``ipfsResult`` read from the IPFS gateway (the ``ipfs_gateway``
        setting). None while the job has not ended or no result is there.

        The node wrote it: every string in it is cleaned of terminal escapes here
        (:func:`clean_result`), so no caller prints one. The gateway is asked once, with a short
        timeout (``RESULT_TIMEOUT``): a job view waits on it, and a retry would not make an
        unreachable gateway answer sooner."""
        if not job.state.terminal:
            return None
        what = f"the result of job {job.address}"
        if isinstance(job.jobResult, dict) and "opStates" in job.jobResult:
            parsed: FlowState = self._parse(FlowState, clean_result(job.jobResult), what)
            return parsed
        if not job.ipfsResult or not self.ipfs_gateway:
            return None
        try:
            data = await asyncio.wait_for(
                self._call(
                    "GET",
                    f"{self.ipfs_gateway}/{job.ipfsResult}",
                    what,
                    auth=False,
                    timeout=RESULT_TIMEOUT,
                    attempts=1,
                ),
                RESULT_TIMEOUT + 1,  # the whole read, however slowly it trickles in
            )
        except TimeoutError:
            host = httpx.URL(self.ipfs_gateway).host
            raise Unreachable(f"{what}: {host} did not answer in {RESULT_TIMEOUT:.0f} s") from None
        found: FlowState = self._parse(FlowState, clean_result(data), what)
        return found


def node_url(address: str, template: str, domain: str) -> str:
    """Where the node at ADDRESS answers: TEMPLATE (the ``network_node_url`` setting, by
    default ``https://{address}.{domain}``, reference §4.1) filled in."""
    from nosana_tui.auth.address import public_key_of

    public_key_of(address)  # ValueError: not a node address (no host is made of it)
    return template.format(address=address, domain=domain).rstrip("/")
