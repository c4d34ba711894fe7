"""The user's own templates, made and changed from the UI: a new one from a job file or from a
job a node runs, a copy of any template, and an edit in ``$EDITOR`` that is checked before it
is kept. Each is a folder in the user's template folder, laid out as the library reads one
(``jobformat.templates``): ``info.yaml`` and the job (``job.json``, ``job.yaml``) or dstack
service (``service.dstack.yml``).

Files are written whole or not at all (a temporary file moved into place): a template folder is
never left half-written for the library to skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from nosana_tui.jobformat import templates as tpl
from nosana_tui.jobformat.diagnostics import Report

INFO = "info.yaml"


def slug(name: str) -> str:
    """A template id from a name: lower case letters, digits and dashes."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return text[:60].strip("-") or "template"


def free_id(wanted: str, taken: Iterable[str], folder: Path) -> str:
    """WANTED, or WANTED-2, -3, ...: an id no template has (a user template with a built-in's id
    would hide the built-in) and no entry of FOLDER uses."""
    used = {t.lower() for t in taken}
    if folder.is_dir():
        used |= {p.name.lower() for p in folder.iterdir()}
    base = slug(wanted)
    candidate, n = base, 1
    while candidate in used or any(candidate + s in used for s in (".json", ".yaml", ".yml")):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def check(path: Path) -> Report:
    """What the library would say of the job or dstack file at PATH."""
    if tpl.is_dstack_file(path):
        from nosana_tui.jobformat.dstack.convert import convert_file

        return convert_file(path).report
    from nosana_tui.jobformat.validate import validate_file

    return validate_file(path)[1]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_name(path: Path) -> str:
    """The name a template folder gives the job or service file PATH."""
    if tpl.is_dstack_file(path):
        return "service.dstack.yml"
    return "job.json" if path.suffix == ".json" else "job.yaml"


def _make(folder: Path, template_id: str, info: dict[str, Any], file_name: str, text: str) -> Path:
    """The folder FOLDER/TEMPLATE_ID with its info and job file; the job file's path."""
    target = folder / template_id
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=f".{template_id}."))
    try:
        _write(staging / INFO, yaml.safe_dump(info, sort_keys=False, allow_unicode=True))
        _write(staging / file_name, text)
        os.rename(staging, target)  # (fails if the id was taken meanwhile: nothing is lost)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / file_name


def from_definition(
    folder: Path, name: str, definition: dict[str, Any], taken: Iterable[str], description: str
) -> Path:
    """A new template holding DEFINITION (a job as a node holds it); its job file."""
    folder.mkdir(parents=True, exist_ok=True)
    template_id = free_id(name, taken, folder)
    info = {"name": name, "description": description, "category": ["User"]}
    text = json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
    return _make(folder, template_id, info, "job.json", text)


def from_file(folder: Path, path: Path, taken: Iterable[str]) -> tuple[Path | None, Report]:
    """A new template from the job or dstack file at PATH, as it is written (comments kept),
    if it is valid: (its job file, the report), or (None, the report saying why not)."""
    report = check(path)
    if not report.ok:
        return None, report
    folder.mkdir(parents=True, exist_ok=True)
    name = path.name
    for suffix in (".dstack.yml", ".dstack.yaml", ".json", ".yaml", ".yml"):
        name = name.removesuffix(suffix)
    info = {"name": name, "description": f"made from {path.name}", "category": ["User"]}
    text = path.read_text(encoding="utf-8")
    return _make(folder, free_id(name, taken, folder), info, _file_name(path), text), report


def duplicate(folder: Path, template: tpl.Template, taken: Iterable[str]) -> Path:
    """A copy of TEMPLATE (built-in or the user's) in FOLDER, named "<name> (copy)"; its file."""
    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    info_file = template.path.parent / INFO
    if template.path.name in (*tpl.JOB_FILES, *tpl.DSTACK_FILES) and info_file.exists():
        loaded = yaml.safe_load(info_file.read_text(encoding="utf-8"))
        info = loaded if isinstance(loaded, dict) else {}
    info = {
        **info,
        "name": f"{template.name} (copy)",
        "description": template.description,
        "category": list(template.category),
    }
    text = template.path.read_text(encoding="utf-8")
    template_id = free_id(f"{template.id}-copy", taken, folder)
    return _make(folder, template_id, info, _file_name(template.path), text)


def editor_command(path: Path) -> list[str]:
    """``$VISUAL``, else ``$EDITOR``, else ``vi``, with PATH last (the variable may hold flags)."""
    import shlex

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return [*shlex.split(editor), str(path)]


def edit_copy(path: Path) -> Path:
    """A copy of the file at PATH to edit (same name, in a folder of its own): the template is
    replaced by it only once it checks out (:func:`keep`)."""
    scratch = Path(tempfile.mkdtemp(prefix="nosana-tui-edit-"))
    copy = scratch / path.name
    shutil.copyfile(path, copy)
    return copy


def keep(copy: Path, path: Path) -> None:
    """The edited COPY becomes the template file PATH."""
    _write(path, copy.read_text(encoding="utf-8"))
    discard(copy)


def discard(copy: Path) -> None:
    shutil.rmtree(copy.parent, ignore_errors=True)
