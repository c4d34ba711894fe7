"""The ``nosana-tui`` program: the terminal UI with no command (or a file), else the CLI.

It sits above both so that neither has to import the other: the CLI stays free of Textual.
``node serve`` runs the agent in this process; the program hands the CLI the function that does
(:func:`serve_node`), so the CLI never imports the node (``lint-imports`` holds it to that).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# httpx loads its own command line (click, and rich's progress bars and syntax highlighting)
# whenever click is installed, on every `import httpx`; nosana-tui never runs it. Without it
# httpx keeps a stub `httpx.main` (bench/README.md, "Start-up": a sixth of `ps`).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# The CLI (its commands' modules) is imported when a command runs: the UI has no use for it.


def wants_ui(arguments: Sequence[str]) -> bool:
    """No command, ``--node URL``, or the path of a file: the terminal UI."""
    if not arguments or arguments[0] == "--node":
        return True
    from nosana_tui.cli.main import COMMANDS

    first = arguments[0]
    return first not in COMMANDS and not first.startswith("-") and Path(first).is_file()


def run_ui(arguments: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="nosana-tui", description="The terminal UI.")
    parser.add_argument("file", nargs="?", type=Path, help="a job or dstack file to open")
    parser.add_argument("--node", metavar="URL", help="talk to this node, not the local one")
    args = parser.parse_args(arguments)
    served = bool(os.environ.get("TEXTUAL_DRIVER"))  # `serve`: a browser is the terminal
    if not served and not (sys.stdout.isatty() and sys.stdin.isatty()):
        from nosana_tui.cli.main import EXIT_INVALID
        from nosana_tui.cli.main import main as cli_main

        if not arguments:
            return cli_main([])  # no terminal to draw on: say what there is instead
        print("error: the UI needs a terminal; see `nosana-tui --help`", file=sys.stderr)
        return EXIT_INVALID
    from nosana_tui.errors import SettingError  # (loads no pydantic)
    from nosana_tui.ui.app import run_app

    try:
        return run_app(node_url=args.node, open_file=args.file)
    except SettingError as err:  # read before the first frame: the terminal is still plain
        from nosana_tui.cli.main import EXIT_INVALID

        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID


def serve_node(
    host: str,
    port: int,
    gpu_ids: list[int] | None,
    flags: dict[str, str | None],
    auth: str = "token",
) -> int:
    """``nosana-tui node serve`` in the foreground: the agent, in this process."""
    from nosana_tui.config import paths
    from nosana_tui.node.serve import serve

    return serve(paths(), host, port, gpu_ids, flags, auth)


def serve_ui(port: int, node_url: str | None) -> int:
    """``nosana-tui serve``: the UI in a browser (textual-serve), this program per session."""
    from nosana_tui.ui.serve import serve_ui as serve

    return serve(port, node_url)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:  # before the CLI's modules: as its parser says it
        from nosana_tui import __version__

        print(f"nosana-tui {__version__}")
        return 0
    if wants_ui(arguments):
        try:
            return run_ui(arguments)
        except KeyboardInterrupt:
            from nosana_tui.cli.main import EXIT_INTERRUPTED

            return EXIT_INTERRUPTED
    from nosana_tui.cli.main import main as cli_main

    return cli_main(arguments, serve_node=serve_node, serve_ui=serve_ui)


def run() -> NoReturn:
    sys.exit(main())


__all__ = ["main", "run"]
