"""Commands on the Nosana network with an API key: ``markets``, ``credits``, ``extend``, and the
network side of ``run --market``, ``ps --network`` and ``stop --network``.

They go through ``client.network`` only. ``--json`` prints the client's models, which hold no
key. Hosts come from :func:`network_config` (the settings ``api_url``, ``pin_url``,
``ipfs_gateway``, ``api_key``, ``pin_jwt``, by the environment names the Nosana tools use).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from nosana_tui.cli.jobs import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CommandError, say

if TYPE_CHECKING:
    import asyncio

    from pydantic import BaseModel

    from nosana_tui.api.models import TaskLog
    from nosana_tui.client.network import Job, Market, NetworkClient
    from nosana_tui.client.network_node import NetworkConfig
    from nosana_tui.client.node import NodeClient

NETWORK_NAMES = ("mainnet", "devnet")


def network_config(network: str | None) -> NetworkConfig:
    """The network's hosts and keys (``client.network_node.network_config``, the one reader of
    them the UI shares); a setting that cannot be used fails the command, naming it (exit 2)."""
    from nosana_tui.client.network_node import network_config as read

    return read(network)


def _client(args: argparse.Namespace) -> NetworkClient:
    from nosana_tui.client.network_node import network_client

    return network_client(network_config(getattr(args, "network", None)))


def run_network(
    fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """Run a command; a network error is one line, exit 2 where the input or the set-up is at
    fault (no key, an invalid job, a refused request), else 1."""

    def wrapper(args: argparse.Namespace) -> int:
        import asyncio

        from nosana_tui.client import network as net

        try:
            return asyncio.run(fn(args))
        except net.InvalidJob as err:
            for diag in err.diagnostics:
                say(diag.render())
            say(f"error: {err}")
            return EXIT_INVALID
        except (net.NoApiKey, net.BadRequest, net.NotFound, net.PlainHttp) as err:
            say(f"error: {err}")
            return EXIT_INVALID
        except net.NetworkError as err:
            say(f"error: {err}")
            return EXIT_FAILED
        except CommandError as err:
            say(f"error: {err}")
            return err.code

    return wrapper


# --- flag values ----------------------------------------------------------------------------------


def duration(text: str) -> int:
    """``1h``, ``30m``, ``2h30m``, ``3600s``, ``1d``: seconds (``client.network.parse_duration``)."""
    from nosana_tui.client.network import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _hours(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    if not h:
        return f"{rest // 60}m"
    return f"{h}h{rest // 60:02d}m" if rest else f"{h}h"


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


def _table(header: list[str], rows: list[list[str]]) -> None:
    from nosana_tui.jobformat.diagnostics import printable

    rows = [[printable(c) for c in row] for row in rows]  # a market's or job's own words
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip())


def _dump(data: Any) -> None:
    from nosana_tui.sanitize import escape_json

    sys.stdout.write(escape_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")


def _market_json(market: Market) -> dict[str, Any]:
    return {
        **market.model_dump(mode="json"),
        "usd_per_hour": market.usd_per_hour,
        "nos_per_hour": market.nos_per_hour,
    }


def _job_json(job: Job) -> dict[str, Any]:
    return {
        **job.model_dump(mode="json"),
        "state": job.state.name,
        "node": job.node_address,
        "cost_nos": job.cost_nos(),
        "cost_usd": job.cost_usd(),
    }


# --- commands -------------------------------------------------------------------------------------


@run_network
async def cmd_markets(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        markets = await client.markets()
    if args.json:
        _dump([_market_json(m) for m in markets])
        return EXIT_OK
    rows = [
        [
            m.slug,
            ", ".join(m.gpu_types) or "-",
            _usd(m.usd_per_hour),
            f"{m.nos_per_hour:.4f}",
            m.address,
        ]
        for m in markets
    ]
    _table(["MARKET", "GPU", "USD/HOUR", "NOS/HOUR", "ADDRESS"], rows)
    return EXIT_OK


@run_network
async def cmd_credits(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        credits = await client.credits()
    if args.json:
        _dump({**credits.model_dump(mode="json"), "available": credits.available})
        return EXIT_OK
    print(f"available  {_usd(credits.available)}")
    print(f"assigned   {_usd(credits.assignedCredits)}")
    print(f"reserved   {_usd(credits.reservedCredits)}")
    print(f"settled    {_usd(credits.settledCredits)}")
    return EXIT_OK


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(
            "this spends credits and there is no terminal to ask: pass --yes to post it",
            EXIT_INVALID,
        )
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandError("not posted", EXIT_FAILED)


def confirm_spending(
    args: argparse.Namespace, summary: list[tuple[str, str]], question: str
) -> None:
    """What a command will spend, a line per (label, value) on stderr, then QUESTION (``--yes``
    answers it; no terminal and no ``--yes`` is an error): ``run --market``, ``deployments
    create`` and ``extend``. Values are the gateway's and the job file's words: cleaned."""
    from nosana_tui.jobformat.diagnostics import printable

    width = max(len(label) for label, _value in summary)
    for label, value in summary:
        say(f"{label.ljust(width)}  {printable(value)}")
    _confirm(args, printable(question))


def spending_summary(
    what: str, name: str, network: str, market: Market, price: str
) -> list[tuple[str, str]]:
    """The first lines ``confirm_spending`` shows for what is sent to a market: what it is,
    the network, the market, its GPUs and PRICE (``run --market``, ``deployments create``)."""
    return [
        (what, name),
        ("network", network),
        ("market", f"{market.slug} ({market.address})"),
        ("GPU", ", ".join(market.gpu_types) or "-"),
        ("price", price),
    ]


def made(args: argparse.Namespace, answer: BaseModel, ident: str, said: str) -> int:
    """The end of a command that made something on the network: the gateway's answer
    (``--json``) or IDENT on stdout, SAID (what follows it) on stderr."""
    if getattr(args, "json", False):
        _dump(answer.model_dump(mode="json"))
    else:
        print(ident, flush=True)
    say(said)
    return EXIT_OK


def network_name(args: argparse.Namespace) -> str:
    """The network the command reaches (``--network``, else the setting)."""
    return network_config(getattr(args, "network", None)).network


@run_network
async def cmd_run_network(args: argparse.Namespace) -> int:
    from nosana_tui.cli.jobs import load_job
    from nosana_tui.jobformat import templates as tpl

    definition, name, _source = load_job(args.target, tpl.parse_sets(args.set or []))
    timeout = args.timeout or 3600
    async with _client(args) as client:
        market = await client.market(args.market)
        most = market.most_usd(timeout)
        network = network_name(args)
        price = f"{_usd(market.usd_per_hour)}/hour, {market.nos_per_hour:.4f} NOS/hour"
        summary = [
            *spending_summary("job", name, network, market, price),
            ("timeout", f"{_hours(timeout)}; the most it can cost: {_usd(most)}"),
        ]
        if args.node:
            summary.append(("node", args.node))
        question = f"Post {name} to {market.slug} on {network} for up to {_usd(most)}?"
        confirm_spending(args, summary, question)
        posted = await client.post(definition, market.address, timeout, args.node)
    return made(
        args,
        posted,
        posted.job,
        f"posted: job {posted.job}, {_usd(posted.credits.costUSD)} reserved; "
        f"`nosana-tui ps --network {network_config(args.network).network} {posted.job}` follows it",
    )


@run_network
async def cmd_ps_network(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        if args.job:
            jobs = [await client.job(args.job)]
        else:
            jobs = await client.my_jobs()
        view = None
        problem = ""
        flow = None
        if args.job and jobs[0].state.terminal:
            flow, problem = await _result_of(client, jobs[0])
        if flow is not None:
            from nosana_tui.client.network_node import result_view

            view = result_view(jobs[0], flow)
        elif args.job and jobs[0].node_address:
            view, problem = await _node_view(args, client, jobs[0])
    if args.json:
        if args.job:
            data = _job_json(jobs[0])
            data["node_job"] = view.model_dump(mode="json") if view else None
            data["result"] = flow.model_dump(mode="json") if flow else None
            if problem:
                data["node_error"] = problem
            _dump(data)
        else:
            _dump([_job_json(j) for j in jobs])
        return EXIT_OK
    rows = [
        [
            j.address,
            j.state.name,
            j.market,
            j.node_address or "-",
            _hours(j.timeout),
            f"{j.cost_nos():.4f} NOS" + (f" ({_usd(j.cost_usd())})" if j.cost_usd() else ""),
        ]
        for j in jobs
    ]
    _table(["JOB", "STATE", "MARKET", "NODE", "TIMEOUT", "COST SO FAR"], rows)
    if args.job:
        job = jobs[0]
        if view is not None:
            from nosana_tui.cli.jobs import _print_ops

            print()
            where = "in its result" if flow is not None else "on the node"
            print(f"{where}: {view.status.value}  {view.message}".rstrip())
            _print_ops(view)
        elif problem:
            say(f"ops: {problem}")
        elif not job.node_address:
            say("ops: the job is queued: no node has taken it yet")
    return EXIT_OK


# --- a network job's node: its URL, the poster's signature, then the node client ------------------


async def _node_header(args: argparse.Namespace, client: NetworkClient, job: Job) -> str:
    """The job poster's ``authorization`` header (``client.network_node.poster_header``: the
    wallet when it posted the job, else the API key's custodial wallet). CommandError, saying
    what to set, when neither can sign."""
    from nosana_tui.client.network_node import CannotSign, poster_header

    try:
        return await poster_header(network_config(getattr(args, "network", None)), client, job)
    except CannotSign as err:
        raise CommandError(str(err), EXIT_INVALID) from None


async def _node_of(args: argparse.Namespace, client: NetworkClient, job: Job) -> NodeClient:
    """A client of the node running JOB, signed as the job's poster."""
    from nosana_tui.client.network import PlainHttp
    from nosana_tui.client.network_node import node_of
    from nosana_tui.client.node import NodeClient

    address = job.node_address
    if address is None:
        raise CommandError(f"job {job.address} is queued: no node has taken it yet", EXIT_FAILED)
    conf = network_config(getattr(args, "network", None))
    try:
        url = node_of(conf, address)
    except (ValueError, PlainHttp) as err:
        raise CommandError(f"job {job.address}: its node: {err}", EXIT_FAILED) from None
    header = await _node_header(args, client, job)
    return NodeClient(url, None, auth=lambda: header)


async def _node_view(args: argparse.Namespace, client: NetworkClient, job: Job) -> tuple[Any, str]:
    """The job as its node shows it (the first frame of ``/job/{job}/info``), or why not."""
    from nosana_tui.client.node import NodeError

    try:
        async with await _node_of(args, client, job) as node:
            async for view in node.watch(job.address):
                return view, ""
            return None, f"the node at {node.url} sent nothing about the job"
    except NodeError as err:
        return None, f"the node cannot be read: {err}"
    except CommandError as err:
        return None, str(err)


async def _result_of(client: NetworkClient, job: Job) -> tuple[Any, str]:
    """The FlowState JOB left when it ended (``ipfsResult`` through the IPFS gateway, or the
    indexer's ``jobResult``), or None and why not."""
    from nosana_tui.client.network import NetworkError

    try:
        flow = await client.result(job)
    except NetworkError as err:
        return None, f"its result cannot be read: {err}"
    return flow, "" if flow is not None else "the job has ended and left no result yet"


def _log_line(entry: TaskLog) -> str:
    from nosana_tui.sanitize import clean_text

    message = entry.message
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    prefix = "" if entry.op_id == "system" else f"{entry.op_id} | "
    return clean_text(f"{prefix}{text}".rstrip("\n"), keep_colour=True) + "\n"


@run_network
async def cmd_logs_network(args: argparse.Namespace) -> int:
    """``logs JOB [OP] --network``: the node's ``/flog`` (history, then live with ``-f``),
    signed as the poster. Without ``-f`` it ends at the first line stamped after it asked (a
    live one), or once the node has been quiet for a moment (a Nosana node keeps the socket
    open); with it, when the node closes the socket or the
    network says the job has ended."""
    import asyncio

    from nosana_tui.client.node import NodeError

    if args.tail is not None or args.since is not None or args.timestamps:
        raise CommandError("--tail, --since and -t read a local node's log, not --network", 2)
    more = list(getattr(args, "more", None) or [])  # `logs JOB [OP]`: OP, if given
    if len(more) > 1:
        raise CommandError("logs --network reads one job: give JOB and at most one OP", 2)
    op = getattr(args, "op", None) or (more[0] if more else None)
    async with _client(args) as client:
        job = await client.job(args.job)
        if job.state.terminal:  # its node has let it go: the lines are in its result
            flow, problem = await _result_of(client, job)
            if flow is not None:
                return _print_result_logs(job.address, flow, op)
            say(f"logs: {problem}; asking its node")
        node = await _node_of(args, client, job)
        out = sys.stdout
        lines: asyncio.Queue[TaskLog | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for entry in node.flog(job.address, op=op):
                    await lines.put(entry)
            finally:
                await lines.put(None)

        # without -f: what the node had when we asked (lines stamped later are live ones; a
        # second of grace for the node's clock), else a job that prints steadily never ends it
        asked_ms = time.time() * 1000 + 1000
        reader = asyncio.create_task(read())
        try:
            while True:
                try:
                    entry = await asyncio.wait_for(lines.get(), 10.0 if args.follow else 1.5)
                except TimeoutError:
                    if not args.follow or (await client.job(job.address)).state.terminal:
                        break
                    continue
                if entry is None or (not args.follow and entry.timestamp > asked_ms):
                    break
                out.write(_log_line(entry))
                if args.follow:
                    out.flush()
        finally:
            out.flush()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([reader])
            await node.close()
        failed = None if reader.cancelled() else reader.exception()
        if isinstance(failed, NodeError):
            raise CommandError(f"job {job.address}: {failed}", EXIT_FAILED)
        if failed is not None:
            raise failed
    return EXIT_OK


def _print_result_logs(address: str, flow: Any, op: str | None) -> int:
    from nosana_tui.client.network_node import result_logs
    from nosana_tui.sanitize import clean_text

    entries = result_logs(address, flow, op)
    if op and not any(s.operationId == op for s in flow.opStates):
        raise CommandError(f"job {address}: no op {op!r} in its result", EXIT_INVALID)
    for entry in entries:
        line = clean_text(f"{entry.op_id} | {entry.text}", keep_colour=True)
        sys.stdout.write(line + "\n")  # as /flog's lines come: both streams, in order
    sys.stdout.flush()
    return EXIT_OK


@run_network
async def cmd_stop_network(args: argparse.Namespace) -> int:
    if args.op or args.group:
        raise CommandError("--op and --group stop ops on a local node, not network jobs", 2)
    async with _client(args) as client:
        result = await client.stop(args.job)
    if result.tx is None:
        print(f"job {result.job} had already ended; nothing to stop")
    elif result.delisted:
        print(f"job {result.job} delisted (it was queued); unused credits are refunded")
    else:
        print(f"job {result.job} stopped; unused credits are refunded")
    return EXIT_OK


@run_network
async def cmd_extend(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        job = await client.job(args.job)
        market = await client.market(job.market)
        cost = market.most_usd(args.timeout)
        confirm_spending(
            args,
            [("extend job", f"{job.address} by {_hours(args.timeout)}: up to {_usd(cost)} more")],
            f"Extend by {_hours(args.timeout)} for up to {_usd(cost)}?",
        )
        result = await client.extend(job.address, args.timeout)
    if result.tx is None:
        print(f"job {result.job} has ended; nothing was extended")
    else:
        spent = _usd(result.credits.costUSD) if result.credits else "-"
        print(f"job {result.job} extended by {_hours(args.timeout)} ({spent})")
    return EXIT_OK


# --- registration ---------------------------------------------------------------------------------


def _dispatch(
    local: Callable[[argparse.Namespace], int],
    remote: Callable[[argparse.Namespace], int],
    use_remote: Callable[[argparse.Namespace], bool],
) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return remote(args) if use_remote(args) else local(args)

    return command


def add_network_commands(sub: Any) -> None:
    """``markets``, ``credits``, ``extend``, ``deployments``; and the network flags of ``run``, ``ps``, ``stop``
    (which ``cli.jobs`` defines for a local node)."""
    network_help = "the Nosana network (default: the `network` setting, else mainnet)"

    def network_flag(p: argparse.ArgumentParser, required: bool = False) -> None:
        p.add_argument("--network", choices=NETWORK_NAMES, required=required, help=network_help)

    p = sub.add_parser("markets", help="Nosana network markets: GPUs and prices")
    network_flag(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_markets)

    p = sub.add_parser("credits", help="the credit balance of your Nosana API key")
    network_flag(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_credits)

    p = sub.add_parser("extend", help="add time to a job on the Nosana network")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--timeout", type=duration, required=True, metavar="DURATION", help="to add")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before spending")
    network_flag(p)
    p.set_defaults(func=cmd_extend)

    run = sub.choices["run"]
    run.add_argument("--market", metavar="SLUG|ADDRESS", help="post to this Nosana market")
    run.add_argument("--timeout", type=duration, metavar="DURATION", help="with --market (1h)")
    run.add_argument("--yes", "-y", action="store_true", help="with --market: do not ask")
    network_flag(run)
    run.set_defaults(
        func=_dispatch(run.get_default("func"), cmd_run_network, lambda a: bool(a.market))
    )

    from nosana_tui.cli.deployments import add_deployments_commands

    add_deployments_commands(sub)

    for name, remote in (
        ("ps", cmd_ps_network),
        ("stop", cmd_stop_network),
        ("logs", cmd_logs_network),
    ):
        p = sub.choices[name]
        network_flag(p)
        p.set_defaults(func=_dispatch(p.get_default("func"), remote, lambda a: bool(a.network)))
