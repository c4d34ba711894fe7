"""Commands on the Nosana network with an API key: ``markets``, ``credits``, ``extend``, and the
network side of ``run --market``, ``ps --network`` and ``stop --network``.

They go through ``client.network`` only. ``--json`` prints the client's models, which hold no
key. Hosts come from :func:`network_config` (the settings ``api_url``, ``pin_url``,
``ipfs_gateway``, ``api_key``, ``pin_jwt``, by the environment names the Nosana tools use).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nosana_tui.cli.jobs import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CommandError, say

if TYPE_CHECKING:
    from nosana_tui.client.network import Job, Market, NetworkClient

NETWORK_NAMES = ("mainnet", "devnet")


@dataclass(frozen=True)
class NetworkConfig:
    network: str
    api_url: str
    pin_url: str
    ipfs_gateway: str
    api_key: str | None
    pin_jwt: str | None

    def __repr__(self) -> str:  # never the key
        return f"NetworkConfig({self.network}, {self.api_url})"


def network_config(network: str | None) -> NetworkConfig:
    """The network's hosts and keys, from the settings (config.toml < ``NOSANA_*`` variables <
    ``--network``, which makes the hosts default to that network's); a setting that cannot be
    used fails the command, naming it (exit 2)."""
    from nosana_tui import settings as cfg
    from nosana_tui.config import paths

    found = cfg.load_settings(paths().config_file, {"network": network} if network else None)
    return NetworkConfig(
        network=found.network,
        api_url=found.api_url,
        pin_url=found.pin_url,
        ipfs_gateway=found.ipfs_gateway,
        api_key=found.api_key.get_secret_value() if found.api_key else None,
        pin_jwt=found.pin_jwt.get_secret_value() if found.pin_jwt else None,
    )


def _client(args: argparse.Namespace) -> NetworkClient:
    from nosana_tui.client.network import NetworkClient

    conf = network_config(getattr(args, "network", None))
    return NetworkClient(
        conf.api_url,
        conf.api_key,
        pin_url=conf.pin_url,
        ipfs_gateway=conf.ipfs_gateway,
        pin_jwt=conf.pin_jwt,
    )


def run_network(
    fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """Run a command; a network error is one line, exit 2 where the input or the set-up is at
    fault (no key, an invalid job, a refused request), else 1."""

    def wrapper(args: argparse.Namespace) -> int:
        from nosana_tui.client import network as net

        try:
            return asyncio.run(fn(args))
        except net.InvalidJob as err:
            for diag in err.diagnostics:
                say(diag.render())
            say(f"error: {err}")
            return EXIT_INVALID
        except (net.NoApiKey, net.BadRequest, net.NotFound) as err:
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

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def duration(text: str) -> int:
    """``1h``, ``30m``, ``2h30m``, ``3600s``, ``1d``: seconds."""
    found = _DURATION.match(text.strip().lower())
    if not text.strip() or found is None or not any(found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration like 1h, 90m or 2h30m")
    d, h, m, s = (int(g or 0) for g in found.groups())
    seconds = d * 86400 + h * 3600 + m * 60 + s
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration longer than zero")
    return seconds


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


@run_network
async def cmd_run_network(args: argparse.Namespace) -> int:
    from nosana_tui.cli.jobs import load_job
    from nosana_tui.jobformat import templates as tpl

    definition, name, _source = load_job(args.target, tpl.parse_sets(args.set or []))
    timeout = args.timeout or 3600
    async with _client(args) as client:
        market = await client.market(args.market)
        most = market.most_usd(timeout)
        say(f"job      {name}")
        say(f"market   {market.slug} ({market.address})")
        say(f"GPU      {', '.join(market.gpu_types) or '-'}")
        say(f"price    {_usd(market.usd_per_hour)}/hour, {market.nos_per_hour:.4f} NOS/hour")
        say(f"timeout  {_hours(timeout)}; the most it can cost: {_usd(most)}")
        if args.node:
            say(f"node     {args.node}")
        _confirm(args, f"Post {name} to {market.slug} for up to {_usd(most)}?")
        posted = await client.post(definition, market.address, timeout, args.node)
    if getattr(args, "json", False):
        _dump(posted.model_dump(mode="json"))
    else:
        print(posted.job, flush=True)
    say(
        f"posted: job {posted.job}, {_usd(posted.credits.costUSD)} reserved; "
        f"`nosana-tui ps --network {network_config(args.network).network} {posted.job}` follows it"
    )
    return EXIT_OK


@run_network
async def cmd_ps_network(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        if args.job:
            jobs = [await client.job(args.job)]
        else:
            jobs = await client.my_jobs()
    if args.json:
        _dump(_job_json(jobs[0]) if args.job else [_job_json(j) for j in jobs])
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
        say(f"extend job {job.address} by {_hours(args.timeout)}: up to {_usd(cost)} more")
        _confirm(args, f"Extend by {_hours(args.timeout)} for up to {_usd(cost)}?")
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
    """``markets``, ``credits``, ``extend``; and the network flags of ``run``, ``ps``, ``stop``
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

    for name, remote in (("ps", cmd_ps_network), ("stop", cmd_stop_network)):
        p = sub.choices[name]
        network_flag(p)
        p.set_defaults(func=_dispatch(p.get_default("func"), remote, lambda a: bool(a.network)))
