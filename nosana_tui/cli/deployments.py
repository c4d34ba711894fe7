"""``nosana-tui deployments``: the API key's deployments on the Nosana network (reference
nosana-network.md §1.3 Deployments), through ``client.network`` only: list, show, create
(confirming the most it can cost, as ``run --market`` does), start, stop, rm, scale and
events (the deployment's SSE stream, ``-f`` to follow it)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, Any

from nosana_tui.cli.jobs import EXIT_OK, say
from nosana_tui.cli.network import (
    _client,
    _confirm,
    _dump,
    _hours,
    _table,
    _usd,
    duration,
    run_network,
)

if TYPE_CHECKING:
    from nosana_tui.client.network import Deployment, NetworkClient

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
            d.status.value,
            f"{d.active_jobs}/{d.replicas}",
            d.strategy.value,
            slugs.get(d.market, d.market),
            _endpoints(d),
        ]
        for d in found
    ]
    _table(["ID", "NAME", "STATUS", "JOBS", "STRATEGY", "MARKET", "ENDPOINTS"], rows)
    if not found:
        say("no deployments: `nosana-tui deployments create JOB --market M ...` makes one")
    return EXIT_OK


@run_network
async def cmd_show(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        found = await client.deployment(args.id)
        jobs = await client.deployment_jobs(args.id)
        slugs = await _slugs(client)
    if args.json:
        _dump({**found.model_dump(mode="json"), "jobs": [j.model_dump(mode="json") for j in jobs]})
        return EXIT_OK
    print(f"deployment  {found.id}")
    print(f"name        {found.name}")
    print(f"status      {found.status.value}")
    print(f"replicas    {found.replicas} ({found.active_jobs} live jobs)")
    print(
        f"strategy    {found.strategy.value}" + (f" ({found.schedule})" if found.schedule else "")
    )
    print(f"market      {slugs.get(found.market, found.market)}")
    print(f"timeout     {_hours(found.timeout * 60)} per job")
    print(f"revision    {found.active_revision}")
    print(f"endpoints   {_endpoints(found)}")
    if jobs:
        print()
        _table(
            ["JOB", "STATE", "REVISION", "CREATED"],
            [[j.job, j.state, str(j.revision), j.created_at] for j in jobs],
        )
    return EXIT_OK


@run_network
async def cmd_create(args: argparse.Namespace) -> int:
    from nosana_tui.cli.jobs import load_job
    from nosana_tui.jobformat import templates as tpl

    definition, name, _source = load_job(args.target, tpl.parse_sets(args.set or []))
    minutes = math.ceil(args.timeout / 60)
    async with _client(args) as client:
        market = await client.market(args.market)
        each = market.most_usd(minutes * 60)
        most = None if each is None else each * args.replicas
        say(f"deployment  {args.name or name}")
        say(f"market      {market.slug} ({market.address})")
        say(f"GPU         {', '.join(market.gpu_types) or '-'}")
        say(f"price       {_usd(market.usd_per_hour)}/hour per replica")
        say(
            f"replicas    {args.replicas} replicas × {_hours(minutes * 60)} "
            f"({args.strategy}); the most one round can cost: {_usd(most)}"
        )
        _confirm(args, f"Deploy {args.name or name} to {market.slug} for up to {_usd(most)}?")
        made = await client.create_deployment(
            args.name or name,
            market.address,
            args.replicas,
            minutes,
            args.strategy,
            definition,
            schedule=args.schedule,
        )
    if args.json:
        _dump(made.model_dump(mode="json"))
    else:
        print(made.id, flush=True)
    say(
        f"created: deployment {made.id} ({made.status.value}); "
        f"`nosana-tui deployments events {made.id} -f` follows it"
    )
    return EXIT_OK


@run_network
async def cmd_start(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        changed = await client.start_deployment(args.id)
    print(f"deployment {args.id}: {changed.status.value if changed.status else 'started'}")
    return EXIT_OK


@run_network
async def cmd_stop(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        changed = await client.stop_deployment(args.id)
    print(f"deployment {args.id}: {changed.status.value if changed.status else 'stopped'}")
    return EXIT_OK


@run_network
async def cmd_rm(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        await client.delete_deployment(args.id)
    print(f"deployment {args.id} deleted")
    return EXIT_OK


@run_network
async def cmd_scale(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        changed = await client.scale_deployment(args.id, args.replicas)
    print(f"deployment {args.id}: {changed.replicas} replicas")
    return EXIT_OK


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
    top.add_argument("--network", choices=("mainnet", "devnet"), help=network_help)
    top.set_defaults(func=cmd_list)
    actions = top.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help_text: str, func: Any, with_id: bool = True) -> Any:
        p = actions.add_parser(name, help=help_text)
        if with_id:
            p.add_argument("id", metavar="ID")
        p.add_argument("--network", choices=("mainnet", "devnet"), help=network_help)
        p.set_defaults(func=func)
        return p

    action("show", "a deployment and its jobs", cmd_show).add_argument(
        "--json", action="store_true"
    )
    p = action("create", "create a deployment (spends credits: asks first)", cmd_create, False)
    p.add_argument("target", metavar="FILE|TEMPLATE")
    p.add_argument("--market", required=True, metavar="SLUG|ADDRESS")
    p.add_argument("--replicas", type=int, default=1, metavar="N")
    p.add_argument(
        "--timeout", type=duration, default=3600, metavar="DURATION", help="per job (1h)"
    )
    p.add_argument("--strategy", choices=STRATEGIES, default="SIMPLE")
    p.add_argument("--schedule", metavar="CRON", help="with --strategy SCHEDULED")
    p.add_argument("--name", help="default: the job's name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a template variable")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before spending")
    p.add_argument("--json", action="store_true")
    action("start", "start a stopped deployment", cmd_start)
    action("stop", "stop a deployment (its jobs stop; unused credits come back)", cmd_stop)
    action("rm", "delete a stopped deployment", cmd_rm)
    p = action("scale", "change the replica count", cmd_scale)
    p.add_argument("replicas", type=int, metavar="N")
    p = action("events", "the deployment's events (-f: follow)", cmd_events)
    p.add_argument("--follow", "-f", action="store_true")
