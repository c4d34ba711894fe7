"""``nosana-tui deployments``: the API key's deployments on the Nosana network (reference
nosana-network.md §1.3 Deployments), through ``client.network`` only: list, show, create
(confirming the most it can cost, as ``run --market`` does), start, stop, rm, scale and
events (the deployment's SSE stream, ``-f`` to follow it)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nosana_tui.cli.jobs import EXIT_OK, say
from nosana_tui.cli.network import (
    NETWORK_NAMES,
    _client,
    _dump,
    _hours,
    _table,
    _usd,
    confirm_spending,
    duration,
    made,
    network_name,
    run_network,
    spending_summary,
)

if TYPE_CHECKING:
    from nosana_tui.client.network import Deployment, DeploymentChange, NetworkClient

STRATEGIES = ("SIMPLE", "SIMPLE-EXTEND", "SCHEDULED", "INFINITE")


async def _slugs(client: NetworkClient) -> dict[str, str]:
    """Market address -> slug, to show markets by name (the address where it is unknown)."""
    from nosana_tui.client.network import NetworkError

    try:
        return {m.address: m.slug for m in await client.markets()}
    except NetworkError:
        return {}


def _endpoints(deployment: Deployment) -> str:
    return ", ".join(e.url for e in deployment.endpoints) or "-"


@run_network
async def cmd_list(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        found = await client.deployments()
        slugs = await _slugs(client) if not args.json else {}
    if args.json:
        _dump([d.model_dump(mode="json") for d in found])
        return EXIT_OK
    rows = [
        [
            d.id,
            d.name,
            str(d.status),
            f"{d.active_jobs}/{d.replicas}",
            str(d.strategy),
            slugs.get(d.market, d.market),
            _endpoints(d),
        ]
        for d in found
    ]
    _table(["ID", "NAME", "STATUS", "JOBS", "STRATEGY", "MARKET", "ENDPOINTS"], rows)
    if not found:
        say("no deployments: `nosana-tui deployments create JOB --market M ...` makes one")
    return EXIT_OK


def _print_clean(line: str) -> None:
    from nosana_tui.jobformat.diagnostics import printable

    print(printable(line))


def _fields(rows: list[tuple[str, str]]) -> None:
    """LABEL  value lines on stdout, each value cleaned (the gateway's words, as ``_table``)."""
    from nosana_tui.jobformat.diagnostics import printable

    for label, value in rows:
        print(f"{label:<10}  {printable(value)}")


def cost_words(
    strategy: str,
    replicas: int,
    minutes: int,
    most: float | None,
    schedule: str | None = None,
    rotation_time: int | None = None,
) -> tuple[str, str]:
    """What a deployment may spend, by strategy: the summary's line and the question's words.
    MOST is one round (REPLICAS jobs of MINUTES each); only SIMPLE stops after one."""
    one = f"{replicas} replica{'s' if replicas != 1 else ''} × {_hours(minutes * 60)}"
    per_round = f"{_usd(most)} per round of {one}"
    if strategy == "SIMPLE":
        return f"{one}; the most it can cost: {_usd(most)} (one round)", f"for up to {_usd(most)}"
    repeats = "at up to " + per_round + ", repeating until you stop it"
    if strategy == "SIMPLE-EXTEND":
        said = f"{per_round}; each job is extended as it ends: repeats until stopped"
    elif strategy == "SCHEDULED":
        said = f"{per_round}, each time the schedule ({schedule}) fires: repeats until stopped"
    else:  # INFINITE
        every = _hours(rotation_time) if rotation_time else "the gateway's rotation time"
        said = (
            f"{per_round}; new jobs replace them every {every} (old and new overlap while "
            "they hand over): repeats until stopped"
        )
    return said, repeats


@run_network
async def cmd_show(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        found = await client.deployment(args.id)
        jobs = await client.deployment_jobs(args.id)
        slugs = await _slugs(client)
    if args.json:
        _dump({**found.model_dump(mode="json"), "jobs": [j.model_dump(mode="json") for j in jobs]})
        return EXIT_OK
    strategy = str(found.strategy) + (f" ({found.schedule})" if found.schedule else "")
    if found.rotation_time:
        strategy += f" (a new job every {_hours(found.rotation_time)})"
    _fields(
        [
            ("deployment", found.id),
            ("name", found.name),
            ("status", str(found.status)),
            ("replicas", f"{found.replicas} ({found.active_jobs} live jobs)"),
            ("strategy", strategy),
            ("market", slugs.get(found.market, found.market)),
            ("timeout", f"{_hours(found.timeout * 60)} per job"),
            ("revision", str(found.active_revision)),
            ("endpoints", _endpoints(found)),
        ]
    )
    if jobs:
        print()
        _table(
            ["JOB", "STATE", "REVISION", "CREATED"],
            [[j.job, j.state, str(j.revision), j.created_at] for j in jobs],  # cleaned there
        )
    return EXIT_OK


@run_network
async def cmd_create(args: argparse.Namespace) -> int:
    from nosana_tui.cli.jobs import load_job
    from nosana_tui.client.network import check_deployment
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.diagnostics import printable

    definition, name, _source = load_job(args.target, tpl.parse_sets(args.set or []))
    name = args.name or name
    minutes = math.ceil(args.timeout / 60)
    rotation = args.rotation_time
    # the rules first: nothing is asked about a deployment the gateway would refuse
    check_deployment(
        name, args.replicas, minutes, args.strategy, definition, args.schedule, rotation
    )
    network = network_name(args)
    async with _client(args) as client:
        market = await client.market(args.market)
        each = market.most_usd(minutes * 60)
        most = None if each is None else each * args.replicas
        said, asked = cost_words(
            args.strategy, args.replicas, minutes, most, args.schedule, rotation
        )
        price = f"{_usd(market.usd_per_hour)}/hour per replica"
        confirm_spending(
            args,
            [
                *spending_summary("deployment", name, network, market, price),
                ("strategy", args.strategy),
                ("cost", said),
            ],
            f"Deploy {name} to {market.slug} on {network} {asked}?",
        )
        created = await client.create_deployment(
            name,
            market.address,
            args.replicas,
            minutes,
            args.strategy,
            definition,
            schedule=args.schedule,
            rotation_time=rotation,
        )
    return made(
        args,
        created,
        printable(created.id),
        printable(
            f"created: deployment {created.id} ({created.status}); "
            f"`nosana-tui deployments events {created.id} -f` follows it"
        ),
    )


async def _change(
    args: argparse.Namespace,
    call: Callable[[NetworkClient], Awaitable[DeploymentChange]],
    said: Callable[[DeploymentChange], object],
) -> int:
    """Change the deployment ``args.id`` (CALL) and print ``deployment ID: SAID``."""
    async with _client(args) as client:
        changed = await call(client)
    _print_clean(f"deployment {args.id}: {said(changed)}")
    return EXIT_OK


@run_network
async def cmd_start(args: argparse.Namespace) -> int:
    return await _change(
        args, lambda client: client.start_deployment(args.id), lambda d: d.status or "started"
    )


@run_network
async def cmd_stop(args: argparse.Namespace) -> int:
    return await _change(
        args, lambda client: client.stop_deployment(args.id), lambda d: d.status or "stopped"
    )


@run_network
async def cmd_rm(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        await client.delete_deployment(args.id)
    print(f"deployment {args.id} deleted")
    return EXIT_OK


@run_network
async def cmd_scale(args: argparse.Namespace) -> int:
    return await _change(
        args,
        lambda client: client.scale_deployment(args.id, args.replicas),
        lambda d: f"{d.replicas} replicas",
    )


@run_network
async def cmd_events(args: argparse.Namespace) -> int:
    from nosana_tui.sanitize import clean_text

    async with _client(args) as client:
        async for frame in client.deployment_events(args.id, follow=args.follow):
            sys.stdout.write(clean_text(frame.text()) + "\n")
            sys.stdout.flush()
    return EXIT_OK


def add_deployments_commands(sub: Any) -> None:
    network_help = "the Nosana network (default: the `network` setting, else mainnet)"
    top = sub.add_parser("deployments", help="deployments on the Nosana network (API key)")
    top.add_argument("--json", action="store_true")
    top.add_argument("--network", choices=NETWORK_NAMES, help=network_help)
    top.set_defaults(func=cmd_list)
    actions = top.add_subparsers(dest="action", metavar="ACTION")

    # --network and --json go before the action or after it: an action's own flag has no
    # default (SUPPRESS), so one given before the action is not overwritten by it
    def action(name: str, help_text: str, func: Any, with_id: bool = True) -> Any:
        p = actions.add_parser(name, help=help_text)
        if with_id:
            p.add_argument("id", metavar="ID")
        p.add_argument(
            "--network", choices=NETWORK_NAMES, default=argparse.SUPPRESS, help=network_help
        )
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
        p.set_defaults(func=func)
        return p

    action("show", "a deployment and its jobs", cmd_show)
    p = action("create", "create a deployment (spends credits: asks first)", cmd_create, False)
    p.add_argument("target", metavar="FILE|TEMPLATE")
    p.add_argument("--market", required=True, metavar="SLUG|ADDRESS")
    p.add_argument("--replicas", type=int, default=1, metavar="N")
    p.add_argument(
        "--timeout", type=duration, default=3600, metavar="DURATION", help="per job (1h)"
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="SIMPLE")
    p.add_argument("--schedule", metavar="CRON", help="with --strategy SCHEDULED")
    p.add_argument(
        "--rotation-time",
        type=duration,
        metavar="DURATION",
        help="with --strategy INFINITE: how often a new job replaces each one",
    )
    p.add_argument("--name", help="default: the job's name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a template variable")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before spending")
    action("start", "start a stopped deployment", cmd_start)
    action("stop", "stop a deployment (its jobs stop; unused credits come back)", cmd_stop)
    action("rm", "delete a STOPPED deployment", cmd_rm)
    p = action("scale", "change the replica count", cmd_scale)
    p.add_argument("replicas", type=int, metavar="N")
    p = action("events", "the deployment's events (-f: follow)", cmd_events)
    p.add_argument("--follow", "-f", action="store_true")
