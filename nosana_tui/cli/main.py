"""``nosana-tui``: the command line.

Exit codes (documented in the README):
    0  success
    1  the operation failed for a reason outside the input (a node error, a failed job)
    2  invalid input: a job or dstack file that does not validate, a bad argument or setting
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from nosana_tui import __version__
from nosana_tui.cli.exec import add_exec_commands
from nosana_tui.cli.jobs import ServeNode, _node_url, add_commands, say
from nosana_tui.cli.network import add_network_commands
from nosana_tui.config import paths
from nosana_tui.errors import SettingError

if TYPE_CHECKING:  # the commands import these when they run (see cli/jobs.py)
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.diagnostics import Report

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A user-caused problem: printed as one message, exit code 2 unless said otherwise."""

    def __init__(self, message: str, code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.code = code


def _print_json(data: Any, out: TextIO) -> None:
    from nosana_tui.sanitize import escape_json

    out.write(escape_json(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")


def _print_report(report: Report, out: TextIO) -> None:
    """Diagnostics and the summary line, cleaned for the terminal where they are rendered
    (``spec.diagnostics``)."""
    for diag in report.diagnostics:
        print(diag.render(), file=out)
    print(report.summary(), file=out)


# --- commands ------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.dstack.convert import convert_file
    from nosana_tui.jobformat.validate import validate_file

    reports: list[Report] = []
    for file in args.files:
        if tpl.is_dstack_file(Path(file)):
            report = convert_file(Path(file)).report
            if args.strict:
                report = report.strict()
        else:
            _, report = validate_file(file, strict=args.strict)
        reports.append(report)
    if args.json:
        _print_json(
            {"valid": all(r.ok for r in reports), "files": [r.to_json() for r in reports]},
            sys.stdout,
        )
    else:
        for report in reports:
            _print_report(report, sys.stdout)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_INVALID


def cmd_schema(args: argparse.Namespace) -> int:
    from nosana_tui.jobformat.model import job_schema

    _print_json(job_schema(), sys.stdout)
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.dstack.convert import convert_file

    overrides = tpl.parse_sets(args.env or [])
    result = convert_file(Path(args.file), env_overrides=overrides)
    for diag in result.report.diagnostics:
        say(diag.render())
    if result.job is None or (args.strict and result.report.warnings):
        say(f"{args.file}: not converted")
        return EXIT_INVALID
    text = json.dumps(result.data, indent=2, ensure_ascii=False) + "\n"
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        say(f"{args.file}: converted to {args.output}")
    else:
        from nosana_tui.sanitize import escape_json

        sys.stdout.write(escape_json(text))
    return EXIT_OK


def _library() -> list[tpl.Template]:
    from nosana_tui.jobformat import templates as tpl

    templates, problems = tpl.load_library(paths().templates_dir)
    for problem in problems:
        say(f"warning: {problem}")
    return templates


def cmd_templates(args: argparse.Namespace) -> int:
    from nosana_tui.jobformat import templates as tpl
    from nosana_tui.jobformat.secrets import has_secrets, redact

    templates = _library()
    if args.action == "show":
        if not args.name:
            raise CliError("templates show: name the template (`nosana-tui templates` lists them)")
        template = tpl.find(templates, args.name)
        _job, data, report = tpl.render(template, tpl.parse_sets(args.set or []))
        for diag in report.diagnostics:
            say(diag.render())
        if has_secrets(data):
            say("note: secrets in this job are shown as ***")
        if args.json:
            _print_json({"template": template.to_json(), "job": redact(data)}, sys.stdout)
        else:
            _print_json(redact(data), sys.stdout)
        return EXIT_OK
    if args.json:
        _print_json([t.to_json() for t in templates], sys.stdout)
        return EXIT_OK
    rows = [(t.id, ", ".join(t.category), t.origin, t.description) for t in templates]
    _print_table(("ID", "CATEGORY", "ORIGIN", "DESCRIPTION"), rows, sys.stdout)
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from nosana_tui import settings as cfg
    from nosana_tui.jobformat import templates as tpl

    where = paths()
    found = cfg.load_settings(where.config_file)  # one that cannot be used: exit 2, naming it
    locations = {**where.as_dict(), "builtin_templates": str(tpl.BUILTIN_DIR)}
    values = {
        name: {
            "value": cfg.shown_value(found, name),
            "from": found.source(name),
            "env": cfg.env_name(name),
        }
        for name in cfg.Settings.model_fields
    }
    if args.json:
        _print_json({"version": __version__, "paths": locations, "settings": values}, sys.stdout)
        return EXIT_OK
    print(f"nosana-tui {__version__}")
    print("paths")
    for key, value in locations.items():
        print(f"  {key:18} {value}")
    print("settings (from the default, config_file or the environment)")
    for name, item in values.items():
        origin = f"env {item['env']}" if item["from"] == "env" else item["from"]
        print(f"  {name:18} {item['value']}  ({origin})")
    return EXIT_OK


ServeUi = Callable[[int, "str | None"], int]
"""Serves the UI in a browser (port, node URL): given by the program (``nosana_tui.entry``),
which may import the UI; the CLI never does."""


def cmd_serve(args: argparse.Namespace, serve: ServeUi | None = None) -> int:
    if serve is None:
        say("error: `serve` runs the UI from the `nosana-tui` program, not the CLI alone")
        return EXIT_FAILED
    return serve(args.port, args.node)


def _serve_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: give a TCP port from 1 to 65535, or 0 (any)")
    return port


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Columns padded to fit; the last one is cut to the terminal's width when it is a terminal."""
    from nosana_tui.jobformat.diagnostics import printable

    cleaned = [[printable(str(c)) for c in row] for row in rows]  # templates' own words
    width = [max(len(r[i]) for r in [header, *cleaned]) for i in range(len(header) - 1)]
    total = shutil.get_terminal_size((10_000, 24)).columns if out.isatty() else 10_000
    for row in [header, *cleaned]:
        cells = [str(c).ljust(w) for c, w in zip(row, width, strict=False)]
        line = "  ".join([*cells, str(row[-1])]).rstrip()
        if len(line) > total:
            line = line[: max(total - 1, 0)] + "…"
        print(line, file=out)


# --- parser ---------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def build_parser(
    serve_node: ServeNode | None = None, serve_ui: ServeUi | None = None
) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nosana-tui",
        description="Write, validate, run and monitor Nosana container jobs from a terminal.",
        epilog="Exit codes: 0 success, 1 failure, 2 invalid input or arguments, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"nosana-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("validate", help="check job definitions (JSON or YAML) and dstack services")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of a job definition")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("convert", help="convert a dstack service file into a Nosana job")
    p.add_argument("file", metavar="FILE.dstack.yml")
    p.add_argument("-o", "--output", metavar="OUT", help="write the job here (default: stdout)")
    p.add_argument(
        "-e", "--env", action="append", metavar="KEY=VALUE", help="set or override an env value"
    )
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("templates", help="list templates, or show one as a job")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="fill a variable")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)

    add_commands(sub, serve_node)
    add_network_commands(sub)

    p = sub.add_parser(
        "serve",
        help="serve the UI to a web browser on this machine (the URL it prints holds a secret)",
    )
    p.add_argument(
        "--port", type=_serve_port, default=5080, help="port on 127.0.0.1 (default 5080; 0: any)"
    )
    p.add_argument("--node", type=_node_url, metavar="URL", help="the node the UI talks to")
    p.set_defaults(func=partial(cmd_serve, serve=serve_ui))
    add_exec_commands(sub)

    p = sub.add_parser("info", help="print version, every path and every setting")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
    return parser


COMMANDS = {
    "validate",
    "schema",
    "convert",
    "templates",
    "info",
    "run",
    "ps",
    "logs",
    "stop",
    "restart",
    "rm",
    "node",
    "markets",
    "credits",
    "extend",
    "exec",
    "stats",
}


def main(
    argv: Sequence[str] | None = None,
    *,
    serve_node: ServeNode | None = None,
    serve_ui: ServeUi | None = None,
) -> int:
    """Run one command. ``serve_node`` runs ``node serve`` in this process, ``serve_ui`` the
    browser's ``serve`` (see ``entry``)."""
    parser = build_parser(serve_node, serve_ui)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        code: int = args.func(args)
    except CliError as err:
        say(f"error: {err}")
        return err.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as err:
        say(f"error: {err.filename or ''}: {err.strerror}")
        return EXIT_FAILED
    except SettingError as err:
        say(f"error: {err}")
        return EXIT_INVALID
    except Exception as err:
        templates = sys.modules.get("nosana_tui.jobformat.templates")  # loaded if it raised this
        if templates is None or not isinstance(err, templates.TemplateError):
            raise
        say(f"error: {err}")
        for diag in err.diagnostics:
            say(diag.render())
        return EXIT_INVALID
    return code
