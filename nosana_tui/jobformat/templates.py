"""The template library: the built-in templates and the user's own, in one list.

A template is a folder, laid out as Nosana's own pipeline-templates repository lays one out::

    <id>/info.yaml            name, description, category, source, variables (descriptions)
    <id>/job.json|job.yaml    a Nosana job definition, or
    <id>/service.dstack.yml   a dstack service, converted when rendered

A bare job or dstack file in the user's folder is a template too (its id is the file name).

Variables are native to each format, not a template language of our own: in a Nosana job they are
``global.variables`` (referenced as ``%%global.variables.NAME%%``, resolved by the node when an op
starts); in a dstack service they are ``env`` entries. ``--set NAME=VALUE`` overrides the default.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nosana_tui.jobformat.diagnostics import Diagnostic, Report, Severity
from nosana_tui.jobformat.source import SourceError, read_file

if TYPE_CHECKING:
    from nosana_tui.jobformat import model as m

# Listing the library reads files only; the job model and validation are imported by `render`
# (the UI draws its first frame from the list: bench/README.md, "Start-up").

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "library"
JOB_FILES = ("job.json", "job.yaml", "job.yml")
DSTACK_FILES = ("service.dstack.yml", "service.dstack.yaml")


class TemplateError(Exception):
    """A template cannot be found or rendered; ``diagnostics`` say why."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: must be given (a dstack env entry without a value)
    description: str = ""


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    description: str
    category: tuple[str, ...]
    kind: str  # "job" or "dstack"
    path: Path  # the job or dstack file
    origin: str  # "built-in" or "user"
    source: str = ""
    variables: tuple[Variable, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "category": list(self.category),
            "kind": self.kind,
            "origin": self.origin,
            "source": self.source,
            "path": str(self.path),
            "variables": [
                {"name": v.name, "default": v.default, "description": v.description}
                for v in self.variables
            ],
        }


def is_dstack_file(path: Path) -> bool:
    return path.name.endswith((".dstack.yml", ".dstack.yaml"))


def _load_info(text: str) -> Any:
    """libyaml where PyYAML has it (~0.3 ms a file; the pure-Python parser ~4 ms, 0.05 s of the
    UI's first frame); a text it refuses is read again by the pure-Python parser, whose error
    messages users see (as ``source.read_file`` does)."""
    if getattr(yaml, "__with_libyaml__", False):
        try:
            return yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def _read_info(folder: Path) -> dict[str, Any]:
    info_file = folder / "info.yaml"
    if not info_file.exists():
        return {}
    try:
        info = _load_info(info_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise TemplateError(f"{info_file}: cannot read: {err}") from None
    if not isinstance(info, dict):
        raise TemplateError(f"{info_file}: must be a mapping of name, description, category")
    return info


def _variables(kind: str, data: Any, described: Mapping[str, Any]) -> tuple[Variable, ...]:
    found: dict[str, str | None] = {}
    if kind == "job" and isinstance(data, dict):
        variables = (data.get("global") or {}).get("variables") or {}
        if isinstance(variables, dict):
            found = {str(k): str(v) for k, v in variables.items()}
    elif kind == "dstack" and isinstance(data, dict):
        env = data.get("env") or []
        items = (
            env.items()
            if isinstance(env, dict)
            else [[*e.split("=", 1), None][:2] for e in env if isinstance(e, str)]
        )
        found = {str(k): (None if v is None else str(v)) for k, v in items}
    out = []
    for name, default in found.items():
        about = described.get(name)
        text = about.get("description", "") if isinstance(about, dict) else str(about or "")
        out.append(Variable(name, default, text))
    return tuple(out)


def load_template(path: Path, origin: str) -> Template:
    """One template from a folder (info.yaml + job file) or a bare job/dstack file."""
    if path.is_dir():
        info = _read_info(path)
        candidates = [path / n for n in (*JOB_FILES, *DSTACK_FILES) if (path / n).exists()]
        if len(candidates) != 1:
            raise TemplateError(
                f"{path}: a template folder needs exactly one of "
                + ", ".join((*JOB_FILES, *DSTACK_FILES))
            )
        file, template_id = candidates[0], path.name
    else:
        info, file = {}, path
        template_id = path.name
        for suffix in (".dstack.yml", ".dstack.yaml", ".json", ".yaml", ".yml"):
            template_id = template_id.removesuffix(suffix)
    kind = "dstack" if is_dstack_file(file) else "job"
    try:
        data = read_file(file).data
    except SourceError as err:
        raise TemplateError(err.diagnostic.render(), [err.diagnostic]) from None
    meta = data.get("meta") if kind == "job" and isinstance(data.get("meta"), dict) else {}
    category = info.get("category") or (["dstack"] if kind == "dstack" else ["User"])
    return Template(
        id=template_id,
        name=str(info.get("name") or data.get("name") or template_id),
        description=str(info.get("description") or meta.get("description") or ""),
        category=tuple(str(c) for c in (category if isinstance(category, list) else [category])),
        kind=kind,
        path=file,
        origin=origin,
        source=str(info.get("source") or ""),
        variables=_variables(kind, data, info.get("variables") or {}),
    )


def _entries(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and (p.is_dir() or p.suffix in (".json", ".yaml", ".yml"))
    )


def load_library(user_dir: Path | None = None) -> tuple[list[Template], list[str]]:
    """Built-in templates, then the user's (which win on the same id), and load problems."""
    found: dict[str, Template] = {}
    problems: list[str] = []
    for origin, folder in (("built-in", BUILTIN_DIR), ("user", user_dir)):
        if folder is None:
            continue
        for entry in _entries(folder):
            try:
                template = load_template(entry, origin)
            except TemplateError as err:
                problems.append(f"skipped template {entry}: {err}")
                continue
            found[template.id] = template
    return sorted(found.values(), key=lambda t: (t.origin != "built-in", t.id)), problems


def find(templates: list[Template], name: str) -> Template:
    for template in templates:
        if template.id == name or template.id.lower() == name.lower():
            return template
    close = difflib.get_close_matches(name, [t.id for t in templates], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise TemplateError(f"no template named {name!r}{hint} (`nosana-tui templates` lists them)")


def parse_sets(pairs: list[str]) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` -> ``{"A": "1", "B": "x=y"}``; a pair without ``=`` is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TemplateError(f"--set {pair!r}: write it as NAME=VALUE")
        out[key] = value
    return out


def render(
    template: Template, sets: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> tuple[m.JobDefinition, dict[str, Any], Report]:
    """The job a template makes with ``sets`` filled in: (model, data, report with warnings).

    Raises :class:`TemplateError` for an unknown variable or a job that does not validate.
    """
    from nosana_tui.jobformat.validate import validate_data, validate_document

    known = {v.name for v in template.variables}
    unknown = sorted(set(sets) - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise TemplateError(
            f"template {template.id!r} has no variable {', '.join(unknown)} (its variables: {listed})"
        )
    if template.kind == "dstack":
        from nosana_tui.jobformat.dstack.convert import convert_file

        env = dict(os.environ if environ is None else environ)
        result = convert_file(template.path, env_overrides=dict(sets), environ=env)
        if result.job is None or result.data is None:
            raise TemplateError(
                f"template {template.id!r} does not convert", result.report.diagnostics
            )
        return result.job, result.data, result.report
    try:
        doc = read_file(template.path)
    except SourceError as err:
        raise TemplateError(err.diagnostic.render(), [err.diagnostic]) from None
    if sets:
        data = dict(doc.data)
        glob = dict(data.get("global") or {})
        glob["variables"] = {**(glob.get("variables") or {}), **sets}
        data["global"] = glob
        job, diags = validate_data(data)
        report = Report(str(template.path), [doc.locate(d) for d in diags])
    else:
        data = doc.data
        job, report = validate_document(doc)
    if job is None:
        raise TemplateError(f"template {template.id!r} is not a valid job", report.errors)
    return (
        job,
        data,
        Report(report.file, [d for d in report.diagnostics if d.severity is Severity.WARNING]),
    )
