"""The Nosana network behind the node client's protocol: the UI holds one ``NodeClient`` and
does not know whether a local agent, a remote agent or the network answers it.

:class:`NetworkNodeClient` lists the account's jobs (the indexer, through
:class:`~nosana_tui.client.network.NetworkClient`), and for one job follows the network's state
(QUEUED, RUNNING, COMPLETED, STOPPED, its node and cost) and, once a node runs it, that node's
``/job/{job}/info`` (op states) and ``/flog`` (logs), signed as the job's poster: the wallet when
it posted the job (or there is no API key), else the API key's custodial wallet
(``sign-message/external``, scope ``wallet:sign``; reference nosana-network.md §2.3). Streams
come back after a node goes away, with a growing pause, and say so instead of failing.

Views of network jobs are :class:`NetworkJobView` (a ``JobView`` with the network's facts), so
the Jobs table can show state, market, node, time and cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from nosana_tui.api.models import SYSTEM, JobStatus, JobView, LogEntry, NodeInfo
from nosana_tui.client import network as net
from nosana_tui.client.node import NodeClient, NodeError
from nosana_tui.client.nodes import NodeEntry

if TYPE_CHECKING:
    from nosana_tui.api.models import GpuTelemetry

QUEUE_POLL = 5.0  # seconds between reads of a job the network has not given to a node yet
LIST_TTL = 10.0  # the job list is read at most this often (the indexer: 20 requests / 30 s)
CREDITS_TTL = 15.0
HEADER_AGE = 240.0  # a node takes a signature for 300 s: make a new one before that
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # pauses before reaching a node again
RESULT_RETRY = 30.0  # seconds before a job's result that could not be read is asked for again


@dataclass(frozen=True)
class NetworkConfig:
    network: str
    api_url: str
    pin_url: str
    ipfs_gateway: str
    api_key: str | None
    pin_jwt: str | None
    node_domain: str = ""
    node_url: str = ""  # the network_node_url template
    wallet: Path | None = None
    allow_http: bool = False  # send the key or a signature over plain http:// off this machine

    def __repr__(self) -> str:  # never the key
        return f"NetworkConfig({self.network}, {self.api_url})"


def network_config(network: str | None = None, config_file: Path | None = None) -> NetworkConfig:
    """The network's hosts and keys, from the settings (config.toml < ``NOSANA_*`` variables <
    NETWORK, which makes the hosts default to that network's); CONFIG_FILE: config.toml's path
    (default: the config folder's). SettingError names a setting that cannot be used."""
    from nosana_tui import settings as cfg
    from nosana_tui.config import paths

    file = config_file or paths().config_file
    found = cfg.load_settings(file, {"network": network} if network else None)
    return NetworkConfig(
        network=found.network,
        api_url=found.api_url,
        pin_url=found.pin_url,
        ipfs_gateway=found.ipfs_gateway,
        api_key=found.api_key.get_secret_value() if found.api_key else None,
        pin_jwt=found.pin_jwt.get_secret_value() if found.pin_jwt else None,
        node_domain=found.node_domain,
        node_url=found.network_node_url,
        wallet=found.wallet,
        allow_http=found.allow_http,
    )


def network_client(conf: NetworkConfig) -> net.NetworkClient:
    """The network's API client for CONF (tests replace it to reach a stand-in in-process)."""
    return net.NetworkClient(
        conf.api_url,
        conf.api_key,
        pin_url=conf.pin_url,
        ipfs_gateway=conf.ipfs_gateway,
        pin_jwt=conf.pin_jwt,
        allow_http=conf.allow_http,
    )


def node_of(conf: NetworkConfig, address: str) -> str:
    """The URL of the node at ADDRESS (``network_node_url``), where a poster's signature may
    go: ValueError for an address that is no node's, :class:`~nosana_tui.client.network.PlainHttp`
    for plain http:// off this machine without ``allow_http``."""
    url = net.node_url(address, conf.node_url, conf.node_domain)
    net.refuse_plain_http(url, "the job poster's signature", conf.allow_http)
    return url


def network_entry(conf: NetworkConfig) -> NodeEntry:
    """The network as an entry of the Nodes section."""
    return NodeEntry(f"nosana {conf.network}", conf.api_url, None, network=conf.network)


class CannotSign(net.NetworkError):
    """Neither a wallet nor the API key can sign as the job's poster."""


def read_wallet_of(conf: NetworkConfig) -> tuple[Any, str]:
    """The wallet (``auth.keys.Wallet``) or None, and why not (a file others can read, none)."""
    from nosana_tui.auth.keys import CredentialError, read_wallet

    if conf.wallet is None:
        return None, "none set"
    if not conf.wallet.exists():
        return None, f"no file at {conf.wallet}"
    try:
        return read_wallet(conf.wallet), ""
    except CredentialError as err:
        return None, str(err)


async def poster_header(conf: NetworkConfig, client: net.NetworkClient, job: net.Job) -> str:
    """The job poster's ``authorization`` header for its node: signed by the wallet when it is
    the job's poster (or there is no API key), else by the API key's custodial wallet.
    :class:`CannotSign`, saying what to set, when neither can sign."""
    from nosana_tui.auth.signing import NODE_MESSAGE, sign

    wallet, problem = read_wallet_of(conf)
    if wallet is not None and (wallet.address == job.project or not conf.api_key):
        return sign(NODE_MESSAGE, wallet.secret_key)
    try:
        return await client.node_header(NODE_MESSAGE)
    except (net.NoApiKey, net.MissingScope) as err:
        if wallet is not None:  # not the poster's, but the only signature there is
            return sign(NODE_MESSAGE, wallet.secret_key)
        raise CannotSign(
            "a node shows a job to its poster only, by a signature: there is no wallet "
            f"({problem or 'none set'}), and the API key cannot sign ({err}); set "
            "NOSANA_WALLET to the poster's keypair, or use an API key with the wallet:sign "
            "scope"
        ) from None


# --- views ----------------------------------------------------------------------------------------


class NetworkFacts(BaseModel):
    """A job as the network has it, for the Jobs table and the job's title."""

    state: str  # QUEUED, RUNNING, COMPLETED, STOPPED
    market: str  # the market's slug where known, else its address
    node: str | None = None
    time_start: int = 0
    time_end: int = 0
    timeout: int = 0
    cost_nos: float = 0.0
    cost_usd: float | None = None
    note: str = ""  # e.g. the node does not answer

    def elapsed(self, now: float | None = None) -> int:
        if not self.time_start:
            return 0
        end = self.time_end or int(time.time() if now is None else now)
        return max(0, end - self.time_start)


class NetworkJobView(JobView):
    network: NetworkFacts

    @property
    def network_state_over(self) -> bool:
        return self.network.state in ("COMPLETED", "STOPPED")


_STATUS = {
    net.JobState.QUEUED: JobStatus.RUNNING,  # not over: nothing to show but its plan
    net.JobState.RUNNING: JobStatus.RUNNING,
    net.JobState.COMPLETED: JobStatus.SUCCESS,
    net.JobState.STOPPED: JobStatus.STOPPED,
}


def short(address: str) -> str:
    """``5HxQab…Zk3q``: enough of an address to tell jobs and nodes apart in a table."""
    return address if len(address) <= 13 else f"{address[:6]}…{address[-4:]}"


def money(value: float | None) -> str:
    """Dollars as the UI shows a cost: four decimals below a cent, else two."""
    if value is None:
        return "-"
    return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


# --- the client -----------------------------------------------------------------------------------


class NetworkNodeClient(NodeClient):
    """The network as the UI's node. ``url`` is the gateway's; NETWORK_CLIENT the API client
    (closed with this one)."""

    def __init__(self, conf: NetworkConfig, network_client: net.NetworkClient) -> None:
        super().__init__(conf.api_url, None)
        self.conf = conf
        self.net = network_client
        self._markets: dict[str, net.Market] = {}
        self._list: tuple[float, list[NetworkJobView]] | None = None
        self._credits: tuple[float, net.Credits | str] | None = None
        self._jobs: dict[str, net.Job] = {}  # the last read of each job
        self._headers: dict[str, tuple[float, str]] = {}  # job -> (made, header)
        self._said: dict[str, dict[str, int]] = {}  # job -> state -> seq of its log line
        self._results: dict[str, net.FlowState] = {}  # job -> its result, once read
        self._result_failed: dict[str, float] = {}  # job -> when reading its result failed

    def __repr__(self) -> str:
        return f"NetworkNodeClient({self.conf.network}, {self.url!r})"

    async def close(self) -> None:
        await self.net.aclose()
        await super().close()

    # --- the account ------------------------------------------------------------------------

    async def markets(self) -> list[net.Market]:
        markets = await self.net.markets()
        self._markets = {m.address: m for m in markets}
        return markets

    async def credits(self, *, fresh: bool = False) -> net.Credits:
        now = time.monotonic()
        if not fresh and self._credits and now - self._credits[0] < CREDITS_TTL:
            cached = self._credits[1]
            if isinstance(cached, str):
                raise net.NetworkError(cached)
            return cached
        try:
            credits = await self.net.credits()
        except net.NetworkError as err:
            self._credits = (now, str(err))
            raise
        self._credits = (now, credits)
        return credits

    def wallet_address(self) -> tuple[str | None, str]:
        """The wallet's public address (never its key), or None and why."""
        wallet, problem = read_wallet_of(self.conf)
        return (wallet.address, "") if wallet is not None else (None, problem)

    async def post(
        self, definition: dict[str, Any], market: str, timeout: int, node: str | None = None
    ) -> net.PostedJob:
        posted = await self.net.post(definition, market, timeout, node)
        self._list = None  # the next list shows it
        return posted

    # --- the node protocol ------------------------------------------------------------------

    async def alive(self) -> bool:
        try:
            await self.markets()
        except net.NetworkError:
            return False
        return True

    async def info(self) -> NodeInfo:
        """What the node bar shows: the network, the credits (or why not), the live jobs."""
        try:
            credits = money((await self.credits()).available)
        except net.NoApiKey:
            credits = "no API key"
        except (net.Unreachable, net.ServerError, net.BadAnswer) as err:
            raise NodeError(str(err), err.status) from None  # the network does not answer
        except net.NetworkError as err:  # it answers, but not with the credits: say why
            credits = f"credits: {str(err).split(';')[0].removeprefix('credits: ')}"
        try:
            live = sum(1 for j in await self.network_jobs() if not j.network_state_over)
        except NodeError:
            live = 0
        return NodeInfo(
            version=self.conf.network,
            node_id=self.conf.network,
            engine={"name": "nosana", "version": self.conf.network, "credits": credits},
            jobs=live,
        )

    async def gpus(self) -> GpuTelemetry:
        raise NodeError("the Nosana network: its GPUs are its markets' (see the Nodes section)")

    async def _market_slug(self, address: str) -> str:
        if address not in self._markets:
            with contextlib.suppress(net.NetworkError):
                await self.markets()
        market = self._markets.get(address)
        return market.slug if market else address

    async def _view(
        self, job: net.Job, node_view: JobView | None = None, note: str = ""
    ) -> NetworkJobView:
        facts = NetworkFacts(
            state=job.state.name,
            market=await self._market_slug(job.market),
            node=job.node_address,
            time_start=job.timeStart,
            time_end=job.timeEnd,
            timeout=job.timeout,
            cost_nos=job.cost_nos(),
            cost_usd=job.cost_usd(),
            note=note,
        )
        name = f"{facts.market} · {facts.state}"
        if facts.time_start:
            name += f" · {money(facts.cost_usd) if facts.cost_usd is not None else f'{facts.cost_nos:.4f} NOS'}"
        if note:
            name += f" · {note}"
        if node_view is not None:
            data = node_view.model_dump()
            data.update(id=job.address, name=name, network=facts)
            if job.state.terminal and node_view.status is JobStatus.RUNNING:
                data["status"] = _STATUS[job.state]
            return NetworkJobView.model_validate(data)
        view = _planned(job)
        return NetworkJobView(
            **{
                **view.model_dump(),
                "name": name,
                "status": _STATUS[job.state],
                "network": facts,
                "message": note,
            }
        )

    async def jobs(self) -> list[JobView]:
        return list(await self.network_jobs())

    async def network_jobs(self) -> list[NetworkJobView]:
        """The account's jobs (read at most every ``LIST_TTL`` seconds: the indexer limits)."""
        now = time.monotonic()
        if self._list is not None and now - self._list[0] < LIST_TTL:
            return list(self._list[1])
        last = self._list[1] if self._list is not None else []
        try:
            found = await self.net.my_jobs(limit=100)
        except net.NetworkError as err:
            # said once; until the next read the last list stands (no error every poll)
            self._list = (now, last)
            raise NodeError(
                str(err), 401 if isinstance(err, net.NoApiKey) else err.status
            ) from None
        views = [await self._view(j) for j in found]
        for job in found:
            self._jobs[job.address] = job
        self._list = (now, views)
        return list(views)

    async def _job(self, address: str) -> net.Job:
        try:
            job = await self.net.job(address)
        except net.NetworkError as err:
            raise NodeError(str(err), err.status) from None
        self._jobs[address] = job
        return job

    async def job(self, job_id: str) -> JobView:
        job = await self._job(job_id)
        flow = await self._result(job) if job.state.terminal else None
        if flow is not None:
            return await self._view(job, result_view(job, flow))
        return await self._view(job)

    async def _result(self, job: net.Job) -> net.FlowState | None:
        """The FlowState JOB left (read once: a result does not change), or None when there
        is none (yet) or it cannot be read. A read that failed is not tried again for
        ``RESULT_RETRY`` seconds: each poll of the job's view would wait on a gateway that
        does not answer (``NetworkClient.result`` waits ``RESULT_TIMEOUT`` at most)."""
        failed = self._result_failed.get(job.address)
        if failed is not None and time.monotonic() - failed < RESULT_RETRY:
            return None
        if job.address not in self._results:
            try:
                flow = await self.net.result(job)
            except net.NetworkError:
                self._result_failed[job.address] = time.monotonic()
                return None
            self._result_failed.pop(job.address, None)
            if flow is None:
                return None
            self._results[job.address] = flow
        return self._results[job.address]

    async def _node(self, job: net.Job) -> NodeClient:
        """A client of the node that runs JOB, signed as its poster."""
        address = job.node_address
        if address is None:
            raise NodeError(f"job {job.address} is queued: no node has taken it yet")
        try:
            url = node_of(self.conf, address)
        except (ValueError, net.PlainHttp) as err:
            raise NodeError(f"job {job.address}: its node: {err}") from None
        made = self._headers.get(job.address)
        if made is None or time.monotonic() - made[0] > HEADER_AGE:
            try:
                header = await poster_header(self.conf, self.net, job)
            except net.NetworkError as err:
                raise NodeError(
                    str(err), 401 if isinstance(err, CannotSign) else err.status
                ) from None
            made = (time.monotonic(), header)
            self._headers[job.address] = made
        header = made[1]
        return NodeClient(url, None, auth=lambda: header)

    async def watch(self, job_id: str) -> AsyncIterator[JobView]:
        """The job now and after each change: the network's state while no node runs it, then
        its node's op states (``/job/{job}/info``). A node that does not answer is shown in the
        view (its title) and tried again with a growing pause. Once the job has ended on the
        network, its last view stays and nothing more is read."""
        failures = 0
        last_node: JobView | None = None
        while True:
            job = await self._job(job_id)
            flow = await self._result(job) if job.state.terminal else None
            if flow is not None:  # it has ended: the result says how (the node forgets it)
                yield await self._view(job, result_view(job, flow))
                await asyncio.Event().wait()
            if job.node_address is None:
                yield await self._view(job, last_node)
                if job.state.terminal:
                    await asyncio.Event().wait()
                await asyncio.sleep(QUEUE_POLL)
                continue
            note = ""
            try:
                async with await self._node(job) as node:
                    async for view in node.watch(job.address):
                        failures = 0
                        last_node = view
                        yield await self._view(job, view)
            except NodeError as err:
                if err.status in (401, 403):
                    note = f"its node refuses us: {err}"
                else:
                    note = f"its node does not answer ({err})"
            job = await self._job(job_id)
            if job.state.terminal:
                flow = await self._result(job)
                yield await self._view(job, result_view(job, flow) if flow else last_node)
                await asyncio.Event().wait()
            if not note:  # the node's stream ended but the network says the job goes on
                await asyncio.sleep(1.0)
                continue
            pause = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            yield await self._view(job, last_node, f"{note}; trying again in {pause:.0f} s")
            await asyncio.sleep(pause)

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
        """The job's lines from its node's ``/flog`` (history, then live), as log entries
        numbered by their place in the stream (``after`` skips what a reader already has).
        Waits for a node while the job is queued. In the system log (OP ``system``) the
        network's word on each state comes too (queued, running on which node, ended and what
        it cost). A node that goes away is a line in the log, and is tried again with a
        growing pause."""
        failures = 0
        seq = 0
        said = self._said.setdefault(job_id, {})
        here: set[str] = set()  # the states said in this call

        async def network_line(job: net.Job, running: bool = False) -> LogEntry | None:
            """The network's word on the job's state (RUNNING: that a node took it), once per
            state, in the system log."""
            state = "RUNNING" if running else job.state.name
            if op not in (None, SYSTEM) or state in here:
                return None
            here.add(state)
            if state in said and after and said[state] <= after:
                return None  # the reader has it (a fresh reader, after 0, gets them all)
            market = await self._market_slug(job.market)
            if job.state is net.JobState.QUEUED:
                text = f"nosana: QUEUED on market {market}: waiting for a node to take it"
            elif state == "RUNNING":
                text = f"nosana: RUNNING on node {job.node_address} ({market})"
            else:
                cost = job.cost_usd()
                spent = money(cost) if cost is not None else f"{job.cost_nos():.4f} NOS"
                text = f"nosana: {state} after {job.ran_seconds()} s on {market}; cost {spent}"
            said[state] = after  # numbered as the node line before it: a reader that comes
            # back after it misses no node line
            return LogEntry(
                seq=after, job_id=job_id, op_id=SYSTEM, stream=SYSTEM, ts=time.time(), text=text
            )

        job = await self._job(job_id)
        flow = await self._result(job) if job.state.terminal else None
        if flow is not None:  # it has ended: its lines are in the result, not on a node
            for entry in result_logs(job_id, flow, op):
                if entry.seq > after:
                    yield entry
            if (said_line := await network_line(job)) is not None:
                yield said_line
            if follow:
                await asyncio.Event().wait()
            return
        while True:
            job = await self._job(job_id)
            said_line = await network_line(job, running=job.node_address is not None)
            if said_line is not None:
                yield said_line
            if job.node_address is None:
                if job.state.terminal or not follow:
                    return
                await asyncio.sleep(QUEUE_POLL)
                continue
            problem = ""
            seq = 0
            try:
                async with await self._node(job) as node:
                    async for line in node.flog(job.address, op=op or None):
                        failures = 0
                        seq += 1  # the line's place in the node's stream (history first)
                        if seq <= after:
                            continue
                        message = line.message
                        text = message if isinstance(message, str) else json.dumps(message)
                        stream = {"container": "stdout", "error": "stderr"}.get(line.type, SYSTEM)
                        yield LogEntry(
                            seq=seq,
                            job_id=job_id,
                            op_id=line.op_id,
                            stream=stream,
                            ts=line.timestamp / 1000,
                            text=text.rstrip("\n"),
                        )
                        after = seq
            except NodeError as err:
                if err.status == 404:
                    return  # the node no longer has the job (it ended there)
                problem = str(err)
            if not follow:
                return
            job = await self._job(job_id)
            if (said_line := await network_line(job)) is not None:
                yield said_line
            if job.state.terminal and not problem:
                await asyncio.Event().wait()  # all there is has come: nothing to read again
            if not problem:
                await asyncio.sleep(1.0)
                continue
            pause = BACKOFF[min(failures, len(BACKOFF) - 1)]
            failures += 1
            yield LogEntry(
                seq=after,
                job_id=job_id,
                op_id=SYSTEM,
                stream=SYSTEM,
                ts=time.time(),
                text=f"nosana-tui: the job's node does not answer ({problem}); "
                f"trying again in {pause:.0f} s",
            )
            await asyncio.sleep(pause)

    # --- commands ---------------------------------------------------------------------------

    async def submit(self, definition: dict[str, Any], name: str = "", source: str = "") -> JobView:
        raise NodeError("the Nosana network takes a job for a market: deploy asks for one")

    async def stop_job(self, job_id: str) -> str:
        """Stop the job on the network (a queued one is delisted); unused credits come back."""
        try:
            result = await self.net.stop(job_id)
        except net.NetworkError as err:
            raise NodeError(str(err), err.status) from None
        self._list = None
        if result.tx is None:
            return f"job {result.job} had already ended; nothing to stop"
        if result.delisted:
            return f"job {result.job} delisted (it was queued); unused credits are refunded"
        return f"job {result.job} stopped; unused credits are refunded"

    async def _on_node(self, job_id: str, call: str, *args: str) -> str:
        job = await self._job(job_id)
        async with await self._node(job) as node:
            result: str = await getattr(node, call)(job.address, *args)
            return result

    async def stop_op(self, job_id: str, group: str, op_id: str) -> str:
        return await self._on_node(job_id, "stop_op", group, op_id)

    async def restart_op(self, job_id: str, group: str, op_id: str) -> str:
        return await self._on_node(job_id, "restart_op", group, op_id)

    async def stop_group(self, job_id: str, group: str) -> str:
        return await self._on_node(job_id, "stop_group", group)

    async def restart_group(self, job_id: str, group: str) -> str:
        return await self._on_node(job_id, "restart_group", group)

    async def remove(self, job_id: str) -> str:
        raise NodeError("a job on the Nosana network cannot be removed: stop it (K)")


def _planned(job: net.Job) -> JobView:
    """The job's plan from the definition the network holds (every op pending), or an empty
    view when it does not hold one or it does not validate."""
    from nosana_tui.api.models import planned_view
    from nosana_tui.jobformat.model import JobDefinition

    definition = job.jobDefinition
    if isinstance(definition, dict):
        with contextlib.suppress(ValueError):
            return planned_view(
                job.address,
                JobDefinition.model_validate(definition),
                job.address,
                created_at=float(job.listedAt or 0),
            )
    return JobView(id=job.address, name=job.address, created_at=float(job.listedAt or 0))


# --- the result a node left when the job ended (reference nosana-network.md §2.5) -----------------

_RESULT_STATUS = {
    "success": "finished",
    "finished": "finished",
    "failed": "failed",
    "stopped": "stopped",
    "running": "running",
    "pending": "pending",
    "waiting": "waiting",
}


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else float(ms) / 1000


def result_view(job: net.Job, flow: net.FlowState) -> JobView:
    """JOB as its FlowState left it: the plan (from the definition the network holds) with
    each op's status, exit code and times from the result; ops the plan lacks are added.
    FLOW as ``NetworkClient.result`` gives it: cleaned of terminal escapes."""
    from nosana_tui.api.models import OpStatus, OpView

    view = _planned(job)
    ops = {op.id: op for op in view.ops}
    for i, state in enumerate(flow.opStates):
        op_id = state.operationId or f"op{i}"
        status = _RESULT_STATUS.get((state.status or "").lower())
        if status is None:  # a word we do not know: the exit code says how it ended
            status = "finished" if state.exitCode == 0 else "failed"
        results = {
            k: v if isinstance(v, list) else [str(v)] for k, v in (state.results or {}).items()
        }
        change = {
            "status": OpStatus(status),
            "exit_code": state.exitCode,
            "started_at": _seconds(state.startTime),
            "ended_at": _seconds(state.endTime),
            "results": results,
            "message": str((state.error or {}).get("message") or ""),
        }
        if op_id in ops:
            ops[op_id] = ops[op_id].model_copy(update=change)
        else:
            ops[op_id] = OpView(
                id=op_id, index=len(ops), group=state.group or "", type="container/run", **change
            )
    failed = any(op.status.value == "failed" for op in ops.values())
    status = _STATUS[job.state]
    if job.state is net.JobState.COMPLETED and failed:
        status = JobStatus.FAILED
    return view.model_copy(
        update={
            "ops": list(ops.values()),
            "status": status,
            "ended_at": _seconds(flow.endTime),
            "message": "from the job's result (the node has let it go)",
        }
    )


def result_logs(job_id: str, flow: net.FlowState, op: str | None = None) -> list[LogEntry]:
    """Each op's lines in the result (stdout and stderr; a node's own words as the system's),
    numbered in order; OP: that op's only. FLOW is cleaned (``NetworkClient.result``); colour is
    kept."""
    entries: list[LogEntry] = []
    for i, state in enumerate(flow.opStates):
        op_id = state.operationId or f"op{i}"
        if op not in (None, op_id):
            continue
        for line in state.logs:
            if line.log is None or line.type == "stdin":
                continue
            try:
                ts = float(line.timestamp or 0)
            except ValueError:
                ts = 0.0
            entries.append(
                LogEntry(
                    seq=len(entries) + 1,
                    job_id=job_id,
                    op_id=op_id,
                    stream=line.type if line.type in ("stdout", "stderr") else SYSTEM,
                    ts=ts / 1000 if ts > 1e11 else ts,
                    text=line.log.rstrip("\n"),
                )
            )
    return entries


def connect_network(conf: NetworkConfig | None = None) -> NetworkNodeClient:
    conf = conf or network_config()
    return NetworkNodeClient(conf, network_client(conf))
