"""``nosana-tui exec JOB OP [-- CMD...]`` (a command, or a shell, in a running op) and
``nosana-tui stats JOB`` (each running op's CPU, memory, network and disk use), through the
node's ``/terminal`` websocket and ``/job/{job}/stats`` routes (``client``).

``exec`` exits with the command's own exit code, as ``docker exec`` does, so its own failures
use codes a command rarely does, as ``docker run`` does: 125 when the command could not be run
in the op (the op does not run, no such job or op, the node refused or did not answer), 2 for a
bad argument, 130 when interrupted.

With no CMD it opens ``sh`` with a terminal. A terminal (raw mode, the window's size, and its
changes: SIGWINCH) is used when stdin and stdout are both terminals, unless ``-T`` says not to;
without one, stdin is sent until it ends (``echo x | nosana-tui exec JOB OP -- cat`` ends) and
the command's stdout and stderr go to ours. Its output is written as it comes, unchanged: this
is the terminal the person asked it for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from nosana_tui.cli.jobs import _node_url, run_async, say
from nosana_tui.config import paths

if TYPE_CHECKING:
    import asyncio

    from nosana_tui.api.models import TaskStat
    from nosana_tui.client.node import NodeClient
    from nosana_tui.client.terminal import TerminalSession

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_CANNOT_EXEC = 125  # the command could not be run in the op (``docker run``'s code)
DEFAULT_SHELL = "sh"
READ_SIZE = 64 * 1024


class ExecRefused(Exception):
    """The command could not be run in the op: said on stderr, exit code 125."""


async def _client(args: argparse.Namespace) -> NodeClient:
    from nosana_tui.client.local import connect

    return await connect(paths(), getattr(args, "node", None), say=say)


# --- exec ------------------------------------------------------------------------------------------


def cmd_exec(args: argparse.Namespace) -> int:
    from nosana_tui.client.node import NodeError

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    stdin_tty, stdout_tty = _isatty(sys.stdin), _isatty(sys.stdout)
    tty = (stdin_tty and stdout_tty) if args.tty is None else args.tty
    if tty and not stdin_tty:
        say("error: exec -t: stdin is not a terminal (leave out -t, or give -T)")
        return EXIT_INVALID
    import asyncio

    try:
        return asyncio.run(_exec(args, cmd or [DEFAULT_SHELL], tty))
    except ExecRefused as err:
        say(f"error: {err}")
        return EXIT_CANNOT_EXEC
    except NodeError as err:
        say(f"error: {err}")
        return EXIT_CANNOT_EXEC


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):
        return False


async def _exec(args: argparse.Namespace, cmd: list[str], tty: bool) -> int:
    from nosana_tui.api.models import OpStatus
    from nosana_tui.client.node import NodeError

    async with await _client(args) as client:
        try:
            view = await client.find(args.job)
        except NodeError as err:
            raise ExecRefused(str(err)) from None
        try:
            op = view.op(args.op)
        except KeyError:
            ops = ", ".join(o.id for o in view.ops)
            raise ExecRefused(f"job {view.id} has no op {args.op!r} (ops: {ops})") from None
        if op.status is not OpStatus.RUNNING:
            raise ExecRefused(
                f"op {op.id} of job {view.id} is {op.status.value}, not running: "
                "a command runs only in a running op"
            )
        cols, rows = _window() if tty else (80, 24)
        term = os.environ.get("TERM") if tty else None
        async with client.terminal(
            view.id, op.id, cmd=cmd, tty=tty, cols=cols, rows=rows, term=term
        ) as session:
            try:
                await _drive(session, tty)
            except NodeError as err:
                if err.status == 409:  # it stopped between our look and the node's
                    raise ExecRefused(str(err)) from None
                raise
        return EXIT_CANNOT_EXEC if session.exit_code is None else session.exit_code


def _window() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (OSError, ValueError):
        return 80, 24
    return size.columns, size.lines


async def _drive(session: TerminalSession, tty: bool) -> None:
    """Our stdin to the command, its output to our stdout and stderr, the window's size (with a
    terminal) as it changes, until the command ends."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    stdin_fd = _fileno(sys.stdin)
    sender = loop.create_task(_send_stdin(session, chunks))
    restore: list[Any] = []
    try:
        if tty and stdin_fd is not None:
            restore.append(_raw(stdin_fd))
            _read_tty(loop, stdin_fd, chunks, restore)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(
                    signal.SIGWINCH,
                    lambda: loop.create_task(session.resize(*_window())),
                )
                restore.append(lambda: loop.remove_signal_handler(signal.SIGWINCH))
        elif stdin_fd is not None:
            _read_stream(loop, stdin_fd, chunks)
        else:
            chunks.put_nowait(None)
        out, err = sys.stdout.buffer, sys.stderr.buffer
        async for stream, data in session.output():
            target = err if stream == "stderr" else out
            target.write(data)
            target.flush()
    finally:
        for undo in reversed(restore):
            with contextlib.suppress(Exception):
                undo()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno()) if stream is not None else None
    except (ValueError, OSError, AttributeError):
        return None


def _raw(fd: int) -> Any:
    """The terminal in raw mode (keys, ^C included, go to the command); returns the undo."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_tty(
    loop: asyncio.AbstractEventLoop, fd: int, chunks: asyncio.Queue[bytes | None], undo: list[Any]
) -> None:
    """Keys as they are typed, read on the loop (no thread left blocked on the terminal after
    the command ends: the UI takes the terminal back then)."""

    def readable() -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except OSError:
            data = b""
        if data:
            chunks.put_nowait(data)
        else:
            loop.remove_reader(fd)

    loop.add_reader(fd, readable)
    undo.append(lambda: loop.remove_reader(fd))


def _read_stream(
    loop: asyncio.AbstractEventLoop, fd: int, chunks: asyncio.Queue[bytes | None]
) -> None:
    """A pipe or a file, read in a thread until it ends (None then)."""

    def pump() -> None:
        while True:
            try:
                data = os.read(fd, READ_SIZE)
            except OSError:
                data = b""
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(chunks.put_nowait, data or None)
            if not data:
                return

    threading.Thread(target=pump, daemon=True, name="exec-stdin").start()


async def _send_stdin(session: TerminalSession, chunks: asyncio.Queue[bytes | None]) -> None:
    while True:
        data = await chunks.get()
        if data is None:
            await session.end_stdin()
            return
        await session.send(data)


# --- stats -----------------------------------------------------------------------------------------


@run_async
async def cmd_stats(args: argparse.Namespace) -> int:
    async with await _client(args) as client:
        view = await client.find(args.job)
        if not args.follow:
            _print_stats(await client.stats(view.id), args.json)
            return EXIT_OK
        async for stats in client.stats_stream(view.id, args.interval):
            _print_stats(stats, args.json)
            if not args.json:
                print(flush=True)
    return EXIT_OK


def _print_stats(stats: list[TaskStat], as_json: bool) -> None:
    if as_json:
        print(json.dumps([s.model_dump(mode="json", by_alias=True) for s in stats]), flush=True)
        return
    rows = [
        [
            s.op_id,
            f"{s.cpu.cpu_percent:.1f}%",
            f"{size(s.memory.memory_usage)} / {size(s.memory.memory_limit)}",
            f"{s.memory.memory_percent:.1f}%",
            f"{size(s.network.received)} / {size(s.network.sent)}",
            f"{size(s.disk.read)} / {size(s.disk.write)}",
        ]
        for s in stats
    ]
    header = ["OP", "CPU", "MEM USAGE / LIMIT", "MEM", "NET RX / TX", "DISK READ / WRITE"]
    width = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, width, strict=True)).rstrip(), flush=True)


def size(count: int) -> str:
    """Bytes as ``docker stats`` shows them: 1.5MiB, 512B."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}TiB"


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 1 to 3600")
    return seconds


# --- parser ----------------------------------------------------------------------------------------


def add_exec_commands(sub: Any) -> None:
    node_help = "the node's URL (default: the local agent, started when none answers)"

    p = sub.add_parser(
        "exec",
        help="run a command (default: a shell) in a running op",
        description="Run CMD (default: sh, with a terminal) in a running op. Exit code: the "
        "command's own; 125 when it could not be run (the op does not run, no such job or op, "
        "the node refused or did not answer); 2 a bad argument.",
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    terminal = p.add_mutually_exclusive_group()
    terminal.add_argument(
        "-t", "--tty", dest="tty", action="store_true", default=None, help="use a terminal"
    )
    terminal.add_argument(
        "-T", "--no-tty", dest="tty", action="store_false", help="no terminal, even in one"
    )
    p.add_argument("job", metavar="JOB")
    p.add_argument("op", metavar="OP")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command and args")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("stats", help="each running op's CPU, memory, network and disk use")
    p.add_argument("job", metavar="JOB")
    p.add_argument("-f", "--follow", action="store_true", help="a sample every --interval")
    p.add_argument(
        "--interval", type=_interval, default=2.0, metavar="SECONDS", help="with -f (default 2)"
    )
    p.add_argument("--json", action="store_true", help="TaskStat[] as the node serves it")
    p.add_argument("--node", type=_node_url, metavar="URL", help=node_help)
    p.set_defaults(func=cmd_stats)
