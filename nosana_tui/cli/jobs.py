"""Commands that talk to a node: run, ps, logs, stop, restart, rm, node serve, node info.

They go through the client layer only; ``node serve`` runs the agent through the function the
program hands in (:data:`ServeNode`), so the CLI never imports the node. ``--json`` output is
the node's own models (``api.models``), dumped as JSON: stable and documented in the README.

Each command imports what it needs when it runs: a CLI call pays for its own imports only
(``logs`` needs neither the job model nor pydantic; see bench/README.md for the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nosana_tui.config import LOOPBACK_HOSTS, local_node_url, paths

if TYPE_CHECKING:
    from nosana_tui.api.models import JobView
    from nosana_tui.client.node import NodeClient

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class CommandError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def say(text: str) -> None:
    """A message for the person at the terminal (stderr). What it names may come from a job
    file, a template or a node: it is cleaned of escape sequences (``spec.diagnostics``)."""
    from nosana_tui.jobformat.diagnostics import printable

    print(printable(text), file=sys.stderr, flush=True)


def run_async(
    fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        import asyncio  # ~0.1 s of start-up: not for what the one-shot path answers

        from nosana_tui.client.node import NodeError

        try:
            return asyncio.run(fn(args))
        except NodeError as err:
            say(f"error: {err}")
            for diag in err.diagnostics:
                if isinstance(diag, dict) and diag.get("message"):
                    say(f"  {diag.get('path') or ''}: {diag['message']}")
            return EXIT_INVALID if err.status in (400, 404, 422) else EXIT_FAILED
        except CommandError as err:
            say(f"error: {err}")
            return err.code

    return wrapper


async def _client(args: argparse.Namespace) -> NodeClient:
    from nosana_tui.client.local import connect

    return await connect(paths(), getattr(args, "node", None), say=say)


def _ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(header: list[str], rows: list[list[str]]) -> None:
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip())


# --- run ------------------------------------------------------------------------------------------


def load_job(target: str, sets: dict[str, str]) -> tuple[dict[str, Any], str, str]:
    """A job from a file (JSON, YAML, dstack) or a template name: (definition, name, source)."""
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.dstack.convert import convert_file
    from nosana_tui.jobformat.validate import validate_file

    path = Path(target)
    if path.exists():
        if tpl.is_dstack_file(path):
            result = convert_file(path, env_overrides=sets)
            report = result.report
            data = result.data
        else:
            if sets:
                raise CommandError("--set fills template variables; this is a file", EXIT_INVALID)
            job, report = validate_file(path)
            data = job.model_dump(mode="json", by_alias=True, exclude_none=True) if job else None
        for diag in report.diagnostics:
            say(diag.render())
        if data is None:
            raise CommandError(f"{target} is not a valid job; nothing was started", EXIT_INVALID)
        return data, path.name, str(path)
    templates, problems = tpl.load_library(paths().templates_dir)
    for problem in problems:
        say(f"warning: {problem}")
    try:
        template = tpl.find(templates, target)
        _, data, report = tpl.render(template, sets)
    except tpl.TemplateError as err:
        for diag in err.diagnostics:
            say(diag.render())
        raise CommandError(f"{err}", EXIT_INVALID) from None
    for diag in report.diagnostics:
        say(diag.render())
    return data, template.id, f"template:{template.id}"


@run_async
async def cmd_run(args: argparse.Namespace) -> int:
    from nosana_tui.api.models import JobStatus
    from nosana_tui.client.node import job_decided, job_ready, job_started
    from nosana_tui.jobformat import templates as tpl

    if args.node and NODE_ADDRESS.match(args.node):
        raise CommandError(f"--node {args.node}: a network node; add --market", EXIT_INVALID)
    definition, name, source = load_job(args.target, tpl.parse_sets(args.set or []))
    async with await _client(args) as client:
        view = await client.submit(definition, name, source)
        print(view.id, flush=True)
        wait = args.wait or ("done" if not args.detach else None)
        if wait is None:
            return EXIT_OK
        until = {"started": job_started, "ready": job_ready, "done": job_decided}[wait]
        if not args.detach and args.wait is None:
            # the default: follow it like `docker compose up`, states and logs as they come
            say(f"following job {view.id}; Ctrl-C detaches and leaves it running")
            final = await _follow(client, view)  # Ctrl-C: exit code 130 (``main``)
        else:
            if not args.detach and wait == "done":
                say(f"following job {view.id}; Ctrl-C detaches and leaves it running")
            final = await client.wait(view.id, until)  # Ctrl-C: exit code 130 (``main``)
        _print_ops(final)
        if final.status is JobStatus.FAILED:
            say(f"job {final.id} failed: {final.message}")
            await _explain_failure(client, final)
            running = [op.id for op in final.ops if not op.status.terminal]
            if running:
                say(
                    f"still running so that you can look: {', '.join(running)}; "
                    f"`nosana-tui stop {final.id}` stops them"
                )
            return EXIT_FAILED
        if final.status is JobStatus.STOPPED and wait == "done":
            say(f"job {final.id} was stopped" + (f": {final.message}" if final.message else ""))
            return EXIT_FAILED
        return EXIT_OK


# --- following a job: states and logs, prefixed, as `docker compose up` shows them -------------

PREFIX_COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)
"""ANSI colours of the prefixes, one per op (or job and op), in the order they first appear
(red is left for failures)."""

STATE_COLOURS = {"finished": 32, "success": 32, "failed": 31, "stopped": 33, "running": 36}
LAST_LINES = 10  # lines of a failed op shown with its reason


def _colour_wanted(out: Any) -> bool:
    """Colour when the output is a terminal, unless NO_COLOR is set (no-color.org)."""
    import os

    return bool(getattr(out, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


class _Prefixes:
    """``name | `` before each line, padded to the widest name so far, and coloured (one colour
    per name) when the output is a terminal."""

    def __init__(self, names: list[str], colour: bool) -> None:
        self.colour = colour
        self.width = max((len(n) for n in names), default=0)
        self.assigned: dict[str, int] = {}
        for name in names:
            self._code(name)

    def _code(self, name: str) -> int:
        if name not in self.assigned:
            self.assigned[name] = PREFIX_COLOURS[len(self.assigned) % len(PREFIX_COLOURS)]
        return self.assigned[name]

    def paint(self, text: str, code: int) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def __call__(self, name: str, mark: str = "|") -> str:
        self.width = max(self.width, len(name))
        return self.paint(f"{name:<{self.width}} {mark}", self._code(name)) + " "


def _state_line(op: Any) -> str:
    """What became of an op, in a few words: ``running (healthy) http://...``, ``failed:
    exited with code 3``, ``finished (exit 0)``."""
    words = op.status.value
    if op.status.value == "failed":
        return f"{words}: {op.message}" if op.message else words
    if op.status.value == "finished":
        return f"{words} (exit {op.exit_code})" if op.exit_code is not None else words
    if op.status.value == "stopped" and op.message:
        return f"{words}: {op.message}"
    extra = [op.health.value] if op.health.value != "none" else []
    if op.restarts:
        extra.append(f"restart {op.restarts}")
    urls = [e.url for e in op.endpoints if e.url and op.ready]
    return " ".join([words, *(["(" + ", ".join(extra) + ")"] if extra else []), *urls])


async def _follow(client: NodeClient, view: JobView) -> JobView:
    """Print the job's op states as they change and its ops' log lines as they come, each
    prefixed with its op (coloured on a terminal; lines cleaned of escape sequences) until the
    job has succeeded, failed or been stopped; then the lines that were still on their way.
    The final view."""
    import asyncio

    from nosana_tui.api.models import SYSTEM
    from nosana_tui.client.node import job_decided, job_done
    from nosana_tui.sanitize import clean_line

    out = sys.stdout
    colour = _colour_wanted(out)
    prefix = _Prefixes([o.id for o in view.ops], colour)
    last_seq = 0

    def write_entry(entry: Any) -> None:
        nonlocal last_seq
        last_seq = max(last_seq, entry.seq)
        if entry.op_id == SYSTEM:
            return  # the agent's own lines: the states above say it in fewer words
        text = clean_line(entry.text, keep_colour=colour)
        out.write(f"{prefix(entry.op_id)}{text}\n")

    async def logs() -> None:
        async for entry in client.logs(view.id, follow=True):
            if not isinstance(entry, int):
                write_entry(entry)
                out.flush()
            else:
                out.write(f"[{entry} lines dropped: this reader fell behind]\n")

    log_task = asyncio.ensure_future(logs())
    seen: dict[str, str] = {}
    final = view
    try:
        async for current in client.watch(view.id):
            final = current
            for op in current.ops:
                line = _state_line(op)
                if seen.get(op.id, "pending") != line:
                    seen[op.id] = line
                    code = STATE_COLOURS.get(op.status.value)
                    shown = prefix.paint(line, code) if code else line
                    out.write(f"{prefix(op.id, '>')}{shown}\n")
                    out.flush()
            if job_decided(current):
                break
        # the last lines: an ended job's log stream ends by itself once every line is handed
        # on; a failed job's services run on, so its stream is cut after a moment and what
        # came meanwhile is read once more
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(log_task), 10.0 if job_done(final) else 0.5)
    finally:
        log_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await log_task
    with contextlib.suppress(Exception):
        async for entry in client.logs(view.id, after=last_seq):
            if not isinstance(entry, int):
                write_entry(entry)
    code = STATE_COLOURS.get(final.status.value)
    shown = prefix.paint(final.status.value, code) if code else final.status.value
    out.write(f"job {final.id} {shown}\n")
    out.flush()
    return final


async def _explain_failure(client: NodeClient, view: JobView) -> None:
    """The failed op's reason and its last lines, on stderr, below the table."""
    from nosana_tui.sanitize import clean_line

    for op in view.ops:
        if op.status.value != "failed":
            continue
        say(f"op {op.id} failed: {op.message or 'no reason given'}")
        try:
            lines = [
                e.text
                async for e in client.logs(view.id, op.id, tail=LAST_LINES)
                if not isinstance(e, int)
            ]
        except Exception:  # the reason is said; the lines are a bonus
            continue
        if lines:
            say(f"  last {len(lines)} line{'s' if len(lines) != 1 else ''} of {op.id}:")
            for text in lines:
                say(f"  | {clean_line(text, keep_colour=False)}")


def _print_ops(view: JobView) -> None:
    rows = []
    for op in view.ops:
        urls = " ".join(e.url for e in op.endpoints if e.url) or "-"
        rows.append(
            [
                op.id,
                op.group,
                op.status.value,
                op.health.value if op.health.value != "none" else "-",
                "-" if op.exit_code is None else str(op.exit_code),
                str(op.restarts),
                urls,
            ]
        )
    _table(["OP", "GROUP", "STATUS", "HEALTH", "EXIT", "RESTARTS", "ENDPOINTS"], rows)
    messages = [(op.id, op.message) for op in view.ops if op.message]
    for op_id, message in messages:
        print(f"  {op_id}: {message}")


# --- ps -------------------------------------------------------------------------------------------


def cmd_ps(args: argparse.Namespace) -> int:
    """``ps``: the table from one synchronous request when the local agent answers it
    (``client.oneshot``: no httpx, no asyncio), else through the client."""
    if not args.job and not args.json:
        from nosana_tui.client.oneshot import get_json

        data = get_json(paths(), args.node, "/api/jobs")
        if isinstance(data, list):
            _print_job_table([j for j in data if isinstance(j, dict)])
            return EXIT_OK
    return _cmd_ps(args)


def _print_job_table(jobs: list[dict[str, Any]]) -> None:
    _table(["JOB", "NAME", "STATUS", "READY", "AGE", "ENDPOINTS"], _job_rows(jobs))


@run_async
async def _cmd_ps(args: argparse.Namespace) -> int:
    async with await _client(args) as client:
        if args.job:
            view = await client.find(args.job)
            if args.json:
                print(view.model_dump_json(indent=2))
            else:
                print(f"job {view.id}  {view.name}  {view.status.value}  {view.message}".rstrip())
                _print_ops(view)
            return EXIT_OK
        if args.json:
            jobs = await client.jobs()
            print(json.dumps([j.model_dump(mode="json") for j in jobs], indent=2))
            return EXIT_OK
        _print_job_table(await client.jobs_data())
        return EXIT_OK


def _job_rows(jobs: list[dict[str, Any]]) -> list[list[str]]:
    """``ps``'s table from the node's JSON: the models would import pydantic, most of the
    command's start-up (bench/README.md, "Start-up"); the READY rule is the models' own."""
    from nosana_tui.api.ready import counts_as_ready

    rows = []
    for job in jobs:
        ops = [o for o in job.get("ops") or [] if isinstance(o, dict)]
        urls = [e.get("url") for o in ops for e in o.get("endpoints") or [] if isinstance(e, dict)]
        ready = sum(1 for o in ops if counts_as_ready(o.get("ready", False), o.get("status", "")))
        created = job.get("created_at")
        rows.append(
            [
                str(job.get("id", "")),
                str(job.get("name", "")),
                str(job.get("status", "")),
                f"{ready}/{len(ops)}",
                _ago(created if isinstance(created, int | float) else None),
                " ".join(str(u) for u in urls if u) or "-",
            ]
        )
    return rows


# --- logs -----------------------------------------------------------------------------------------


# Flag values are checked where argparse reads them (``type=``): a bad one is a one-line error
# naming the flag, exit code 2, before anything runs (not a traceback, nor a node's 400).

MAX_LINES = 2**63 - 1  # the node's largest count (SQLite's integers)


def _since(text: str) -> float:
    """``--since 10m`` (ago: s, m, h, d) or epoch seconds: the epoch time lines start at."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text and text[-1] in units:
            ago = float(text[:-1]) * units[text[-1]]
            if math.isfinite(ago) and ago >= 0:
                return max(0.0, time.time() - ago)
        else:
            epoch = float(text)
            if math.isfinite(epoch) and epoch >= 0:
                return epoch
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{text!r}: give a duration like 30s, 10m, 2h or 1d, or epoch seconds"
    )


def _tail(text: str) -> int:
    try:
        lines = int(text)
    except ValueError:
        lines = -1
    if not 0 <= lines <= MAX_LINES:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of lines, 0 or more")
    return lines


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: give a TCP port from 1 to 65535")
    return port


def _node_url(text: str) -> str:
    from urllib.parse import urlparse

    try:
        url = urlparse(text)
        ok = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # a port that is not a number, or past 65535
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the node's URL, like http://127.0.0.1:5001"
        )
    return text


def _node_url_or_address(text: str) -> str:
    """``run --node``: a node's URL, or (with ``--market``) a network node's base58 address."""
    if NODE_ADDRESS.match(text):
        return text
    return _node_url(text)


NODE_ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


def _gpus(text: str) -> str:
    try:
        _gpu_ids(text)
    except CommandError:
        raise argparse.ArgumentTypeError(f"{text!r}: give `all` or GPU indexes like 0,1") from None
    return text


def cmd_logs(args: argparse.Namespace) -> int:
    """``logs JOB [OP]`` without ``-f``: one synchronous request when the local agent answers
    it (``client.oneshot``: no httpx, no asyncio), else through the client (:func:`_cmd_logs`)."""
    if not args.follow and len(args.more) <= 1:
        from urllib.parse import quote

        from nosana_tui.client.oneshot import StreamBroken, text_stream

        params = {"format": "text", "follow": False, "timestamps": args.timestamps}
        params |= {"op": args.more[0] if args.more else None}
        params |= {"tail": args.tail, "since": args.since}
        chunks = text_stream(
            paths(), args.node, f"/api/jobs/{quote(args.job, safe='')}/logs", params
        )
        if chunks is not None:
            out = sys.stdout
            try:
                for text in chunks:
                    out.write(text)
            except StreamBroken as err:  # once begun: as the client says it
                out.flush()
                node = args.node or local_node_url()
                say(f"error: {node}: the log stream broke off ({err})")
                return EXIT_FAILED
            finally:
                out.flush()
            return EXIT_OK
    return _cmd_logs(args)


@run_async
async def _cmd_logs(args: argparse.Namespace) -> int:
    """``logs JOB [OP]``: one request; the node resolves the job prefix and the op, renders the
    text, and the client neutralises escape sequences (``NodeClient.log_text``).
    ``logs JOB JOB...``: several jobs' lines, interleaved by time, each prefixed with its job
    and op. A second word is an op of the first job when it names one, else a job.

    Ctrl-C reaches this coroutine as a cancellation (``asyncio.run`` turns it into
    KeyboardInterrupt only once the coroutine has ended, and ``main`` into exit code 130): what
    was written is flushed on the way out all the same."""
    from nosana_tui.client.node import NodeError

    async with await _client(args) as client:
        if len(args.more) > 1:
            return await _several_logs(client, [args.job, *args.more], args)
        try:
            await _log_text(client, args.job, args.more[0] if args.more else None, args)
        except NodeError as err:
            if not args.more or err.status != 404 or "has no op" not in str(err):
                raise
            try:  # not an op of the first job: a second job, if there is one by that name
                await client.find(args.more[0])
            except NodeError:
                raise NodeError(f"{err}; nor is there a job {args.more[0]!r}", 404) from None
            return await _several_logs(client, [args.job, *args.more], args)
    return EXIT_OK


async def _log_text(client: NodeClient, job: str, op: str | None, args: argparse.Namespace) -> None:
    out = sys.stdout
    try:
        async for text in client.log_text(
            job,
            op,
            follow=args.follow,
            tail=args.tail,
            since=args.since,
            timestamps=args.timestamps,
        ):
            out.write(text)
            if args.follow:
                out.flush()
    finally:
        out.flush()


def _stamp(ts: float) -> str:
    """``2026-11-23T12:17:18.153Z `` (UTC, ms), as the node writes it for ``-t``."""
    ms = int(ts * 1000 + 0.5)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ms // 1000))}.{ms % 1000:03d}Z "


async def _several_logs(client: NodeClient, targets: list[str], args: argparse.Namespace) -> int:
    """The logs of several jobs: what they have (``--tail``/``--since`` per job) merged by
    time, then, with ``-f``, their new lines as they come, until every job has ended. Each line
    starts with ``<job id, 8 characters>/<op> | `` (coloured on a terminal)."""
    import asyncio

    from nosana_tui.sanitize import clean_line

    views: list[JobView] = []
    for target in targets:
        view = await client.find(target)
        if view.id not in {v.id for v in views}:
            views.append(view)
    out = sys.stdout
    colour = _colour_wanted(out)
    prefix = _Prefixes([f"{v.id[:8]}/{o.id}" for v in views for o in v.ops], colour)
    last: dict[str, int] = {v.id: 0 for v in views}

    def write(entry: Any) -> None:
        last[entry.job_id] = max(last[entry.job_id], entry.seq)
        stamp = _stamp(entry.ts) if args.timestamps else ""
        text = clean_line(entry.text, keep_colour=colour)
        out.write(f"{stamp}{prefix(f'{entry.job_id[:8]}/{entry.op_id}')}{text}\n")

    history = []
    for view in views:
        async for entry in client.logs(view.id, tail=args.tail, since=args.since):
            if not isinstance(entry, int):
                history.append(entry)
    for entry in sorted(history, key=lambda e: e.ts):
        write(entry)
    out.flush()
    if not args.follow:
        return EXIT_OK

    async def follow(job_id: str) -> None:
        async for entry in client.logs(job_id, follow=True, after=last[job_id]):
            if isinstance(entry, int):
                out.write(f"[{entry} lines of {job_id[:8]} dropped: this reader fell behind]\n")
            else:
                write(entry)
            out.flush()

    try:
        await asyncio.gather(*(follow(v.id) for v in views))
    finally:
        out.flush()
    return EXIT_OK


# --- controls -------------------------------------------------------------------------------------


@run_async
async def cmd_stop(args: argparse.Namespace) -> int:
    return await _control(args, "stop")


@run_async
async def cmd_restart(args: argparse.Namespace) -> int:
    return await _control(args, "restart")


async def _control(args: argparse.Namespace, action: str) -> int:
    """``stop``/``restart`` of an op, a group or (stop only) the whole job; prints the node's
    answer."""
    async with await _client(args) as client:
        view = await client.find(args.job)
        if args.op:
            act_op = client.stop_op if action == "stop" else client.restart_op
            message = await act_op(view.id, _group_of(view, args.op), args.op)
        elif args.group:
            act_group = client.stop_group if action == "stop" else client.restart_group
            message = await act_group(view.id, args.group)
        else:
            message = await client.stop_job(view.id)  # restart requires --op or --group
        print(message)
    return EXIT_OK


def _group_of(view: JobView, op_id: str) -> str:
    try:
        return view.op(op_id).group
    except KeyError:
        raise CommandError(
            f"job {view.id} has no op {op_id!r} (ops: {', '.join(o.id for o in view.ops)})",
            EXIT_INVALID,
        ) from None


@run_async
async def cmd_rm(args: argparse.Namespace) -> int:
    """``rm JOB...``, or ``rm --finished``: every job that has ended with nothing of it left
    running (``job_done``, the rule the UI's Jobs list removes by too)."""
    if bool(args.jobs) == bool(args.finished):
        raise CommandError("rm: name the jobs to remove, or give --finished", EXIT_INVALID)
    async with await _client(args) as client:
        if args.finished:
            from nosana_tui.client.node import job_done

            doomed = [j.id for j in await client.jobs() if job_done(j)]
            if not doomed:
                say("no finished jobs")
        else:
            doomed = [(await client.find(prefix)).id for prefix in args.jobs]
        for job_id in doomed:
            print(await client.remove(job_id))
    return EXIT_OK


# --- node -----------------------------------------------------------------------------------------


ServeNode = Callable[[str, int, "list[int] | None", "dict[str, str | None]", str], int]
"""Runs the node agent in this process (host, port, GPU ids, settings given as flags, auth mode):
given by the program (``nosana_tui.entry``), which may import the node; the CLI never does."""

AGENT_SETTING_FLAGS = ("health_interval", "stop_timeout", "log_retention")
"""Settings (``nosana_tui.settings``) that ``node serve`` also takes as flags, over the
environment and the config file."""


def _agent_flags(args: argparse.Namespace) -> dict[str, str | None]:
    return {name: getattr(args, name) for name in AGENT_SETTING_FLAGS}


def cmd_node_serve(args: argparse.Namespace, serve: ServeNode | None = None) -> int:
    if args.host not in LOOPBACK_HOSTS:  # (with --detach, not only in the agent's log)
        say(f"warning: listening on {args.host}, beyond this machine; the token is still required")
    if args.detach and args.auth != "token":
        say(f"error: --auth {args.auth} with --detach: run it in the foreground")
        return EXIT_INVALID
    if args.detach:
        from nosana_tui.client.local import start_agent, wait_for_agent
        from nosana_tui.client.node import NodeClient

        url = f"http://{args.host}:{args.port}"

        async def detach() -> int:
            client = NodeClient(url, None)
            try:
                if await client.alive():
                    say(f"a node already answers at {url}")
                    return EXIT_OK
                process = start_agent(paths(), url, args.gpus, _agent_flags(args))
                await wait_for_agent(client, process, paths().data_dir / "agent.log")
                say(f"node agent started at {url} (pid {process.pid})")
                return EXIT_OK
            finally:
                await client.close()

        return run_async(lambda _a: detach())(args)
    if serve is None:
        say("error: `node serve` runs the agent from the `nosana-tui` program, not the CLI alone")
        return EXIT_FAILED
    return serve(args.host, args.port, _gpu_ids(args.gpus), _agent_flags(args), args.auth)


def _gpu_ids(text: str) -> list[int] | None:
    """``--gpus all`` (None: every GPU) or ``--gpus 0,1``, as the Nosana node takes it."""
    if text.strip().lower() == "all":
        return None
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ids = []
    if not ids or any(i < 0 for i in ids):
        raise CommandError(f"--gpus {text!r}: give `all` or GPU indexes like 0,1", EXIT_INVALID)
    return sorted(set(ids))


EXIT_NOT_RUNNING = 3
"""``node status``: no agent runs (the LSB's "program is not running")."""


def cmd_node_stop(args: argparse.Namespace) -> int:
    """Stop the local agent (started by ``node serve --detach`` or by any command) as Ctrl-C
    stops one in a terminal: its jobs' containers keep running, and the next agent adopts
    them. 0 when it has stopped or none was running."""
    from nosana_tui.client.local import stop_agent
    from nosana_tui.client.node import NodeError
    from nosana_tui.config import is_loopback, local_node_url

    url = args.node or local_node_url()
    if not is_loopback(url):
        say(f"error: node stop stops an agent on this machine; {url} is not")
        return EXIT_INVALID
    try:
        pid = stop_agent(paths(), url)
    except NodeError as err:
        say(f"error: {err}")
        return EXIT_FAILED
    if pid is None:
        say(f"no node agent runs at {url} from {paths().data_dir}")
        return EXIT_OK
    say(f"node agent at {url} (pid {pid}) stopped; its jobs keep running")
    return EXIT_OK


@run_async
async def cmd_node_status(args: argparse.Namespace) -> int:
    """Whether the agent runs: its URL, pid, jobs (how many running) and where its data and
    log are. Exit 0: it runs and answers; 3: none runs; 1: one runs but does not answer."""
    from nosana_tui.api.models import JobStatus
    from nosana_tui.client.local import agent_pid, token_for
    from nosana_tui.client.node import NodeClient, NodeError
    from nosana_tui.config import is_loopback, local_node_url

    where = paths()
    url = args.node or local_node_url()
    pid = agent_pid(where, url) if is_loopback(url) else None
    status: dict[str, Any] = {"url": url, "running": False, "pid": pid, "jobs": None}
    async with NodeClient(url, token_for(where, url)) as client:
        answers = await client.alive()
        if answers:
            status["running"] = True
            try:
                jobs = await client.jobs()
                status["jobs"] = len(jobs)
                status["jobs_running"] = sum(j.status is JobStatus.RUNNING for j in jobs)
            except NodeError as err:
                status["error"] = str(err)
    if pid is not None:
        status["data_dir"] = str(where.data_dir)
        status["log"] = str(where.data_dir / "agent.log")
    code = EXIT_OK if answers else (EXIT_FAILED if pid is not None else EXIT_NOT_RUNNING)
    if args.json:
        print(json.dumps(status, indent=2))
        return code
    if answers:
        print(f"running   {url}" + (f" (pid {pid})" if pid is not None else ""))
    elif pid is not None:
        print(f"starting  {url} (pid {pid}): the process runs but does not answer yet")
    else:
        print(f"stopped   no node agent answers at {url}")
    if status["jobs"] is not None:
        print(f"jobs      {status['jobs']} ({status['jobs_running']} running)")
    elif status.get("error"):
        print(f"jobs      unknown: {status['error']}")
    if pid is not None:
        print(f"data      {status['data_dir']}")
        print(f"log       {status['log']}")
    return code


@run_async
async def cmd_node_prune(args: argparse.Namespace) -> int:
    """Remove the cached resource volumes (S3, HF, Ollama) the node made (never another
    agent's) not used for a while, and not in use: ``--older-than``, else the
    ``resource_keep`` setting."""
    from nosana_tui.settings import SettingError, format_duration, load_settings, parse_duration

    if args.older_than is not None:
        try:
            older_than = parse_duration(args.older_than)
        except ValueError as err:
            raise CommandError(f"--older-than {args.older_than!r} {err}", EXIT_INVALID) from None
    else:
        try:
            older_than = load_settings(paths().config_file).resource_keep
        except SettingError as err:
            raise CommandError(str(err), EXIT_INVALID) from None
    async with await _client(args) as client:
        result = await client.prune_resources(older_than)
    if args.json:
        print(result.model_dump_json(indent=2))
        return EXIT_OK
    for volume in result.removed:
        print(f"removed {volume.name}  {volume.source}")
    for name in result.in_use:
        print(f"kept    {name}  (in use by a container)")
    print(
        f"{len(result.removed)} cached volume{'s' if len(result.removed) != 1 else ''} unused "
        f"for {format_duration(older_than)} removed; {len(result.in_use)} in use, "
        f"{result.kept} used more recently"
    )
    return EXIT_OK


@run_async
async def cmd_node_info(args: argparse.Namespace) -> int:
    async with await _client(args) as client:
        info = await client.info()
        if args.json:
            print(info.model_dump_json(indent=2))
            return EXIT_OK
        engine = info.engine
        print(f"node      {info.node_id} at {client.url} (nosana-tui {info.version})")
        print(
            f"engine    {engine.get('name')} {engine.get('version')} ({engine.get('os')}, "
            f"storage {engine.get('storage_driver')})"
        )
        runtimes = ", ".join(map(str, engine.get("runtimes") or [])) or "-"
        print(f"runtimes  {runtimes}; GPU runtime: {'yes' if engine.get('gpu_runtime') else 'no'}")
        if info.gpus:
            for gpu in info.gpus:
                used = "" if gpu.memory_used_mb is None else f"{gpu.memory_used_mb:,}"
                if gpu.memory_total_mb:
                    memory = (
                        f"{used}/{gpu.memory_total_mb:,} MiB"
                        if used
                        else f"{gpu.memory_total_mb:,} MiB"
                    )
                else:  # unified memory (GB10): the driver reports no total
                    memory = (
                        f"{used} MiB used, total not reported" if used else "memory not reported"
                    )
                util = "" if gpu.utilization_pct is None else f", {gpu.utilization_pct}% busy"
                print(
                    f"gpu {gpu.index:<5} {gpu.name} ({memory}{util}; "
                    f"driver {gpu.driver_version or '?'}, CUDA {gpu.cuda_version or '?'})"
                )
            print(f"gpu access {info.gpu_access} (found with {info.gpu_source})")
        else:
            print(f"gpus      none: {info.gpu_note or 'no NVIDIA GPU found'}")
        print(f"jobs      {info.jobs}")
        tags = sorted(t for img in info.images for t in img.get("tags") or [])
        print(f"images    {', '.join(tags) or '-'}")
    return EXIT_OK


def add_commands(sub: Any, serve_node: ServeNode | None = None) -> None:
    node_help = "the node's URL (default: the local agent, started when none answers)"

    p = sub.add_parser("run", help="run a job file, dstack service or template on a node")
    p.add_argument("target", metavar="FILE|TEMPLATE")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="fill a variable")
    p.add_argument(
        "--node",
        type=_node_url_or_address,
        metavar="URL|ADDRESS",
        help=f"{node_help}; with --market, a network node's address",
    )
    p.add_argument("--detach", "-d", action="store_true", help="print the job id and return")
    p.add_argument("--wait", choices=("started", "ready", "done"), help="return when the job is")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("ps", help="list jobs, or one job's ops")
    p.add_argument("job", nargs="?", metavar="JOB")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ps)

    p = sub.add_parser(
        "logs", help="print a job's logs (all ops, one op, or system), or several jobs' logs"
    )
    p.add_argument("job", metavar="JOB")
    p.add_argument(
        "more",
        nargs="*",
        metavar="OP|JOB",
        help="an op of the job (or system); or more jobs, their lines interleaved and prefixed",
    )
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument(
        "--since", type=_since, metavar="DURATION", help="e.g. 10m, 2h, or epoch seconds"
    )
    p.add_argument("--tail", type=_tail, metavar="N", help="only the last N lines")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("stop", help="stop a job, an op or a group")
    p.add_argument("job", metavar="JOB")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--op", metavar="OP")
    scope.add_argument("--group", metavar="GROUP")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("restart", help="restart an op or a group")
    p.add_argument("job", metavar="JOB")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--op", metavar="OP")
    scope.add_argument("--group", metavar="GROUP")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("rm", help="remove jobs and everything they made (stops them first)")
    p.add_argument("jobs", nargs="*", metavar="JOB")
    p.add_argument(
        "--finished",
        action="store_true",
        help="every job that has ended (success, failed or stopped) with nothing left running",
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.set_defaults(func=cmd_rm)

    node = sub.add_parser("node", help="the local node agent")
    node_sub = node.add_subparsers(dest="node_command", metavar="COMMAND", required=True)
    p = node_sub.add_parser("serve", help="run the node agent (Docker + Nosana Node API)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=5001)
    p.add_argument("--detach", action="store_true", help="run it in the background and return")
    p.add_argument(
        "--gpus",
        type=_gpus,
        default="all",
        metavar="all|0,1",
        help="the GPUs ops with gpu: true get (default: all)",
    )
    p.add_argument(
        "--health-interval",
        metavar="SECONDS",
        help="time between an op's health checks (setting health_interval)",
    )
    p.add_argument(
        "--stop-timeout",
        metavar="SECONDS",
        help="how long a stopped op may take to exit before it is killed (setting stop_timeout)",
    )
    p.add_argument(
        "--log-retention",
        metavar="SIZE",
        help="log kept per job, e.g. 1GiB or 512MiB (setting log_retention)",
    )
    p.add_argument(
        "--auth",
        choices=("token", "nosana"),
        default="token",
        help="token: every route takes the agent's token (default); nosana: a job's routes and "
        "websockets take the signature of the job's poster, as a Nosana node's do",
    )
    p.set_defaults(func=partial(cmd_node_serve, serve=serve_node))
    p = node_sub.add_parser(
        "stop", help="stop the local node agent (its jobs keep running; the next one adopts them)"
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help="the local agent's URL")
    p.set_defaults(func=cmd_node_stop)
    p = node_sub.add_parser(
        "status", help="whether the node agent runs: URL, pid, jobs (exit 0 runs, 3 does not)"
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help="the agent's URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_node_status)
    p = node_sub.add_parser(
        "prune",
        help="remove the cached resource volumes (S3, HF, Ollama) this node made, unused for a "
        "while and not in use",
    )
    p.add_argument(
        "--older-than",
        metavar="DURATION",
        help="unused for this long: seconds, or 90m, 24h, 7d (default: the resource_keep setting)",
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help="the agent's URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_node_prune)

    p = node_sub.add_parser("info", help="the node's engine, GPUs and images")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_node_info)
