"""Themes from files: the built-in ones shipped in ``themes/`` and the user's own.

A theme file is TOML (or YAML) whose fields mirror :class:`textual.theme.Theme`::

    name = "my-theme"
    primary = "#4FB3FF"          # required; every other colour is optional
    dark = true
    [variables]
    footer-key-foreground = "#2BE38A"

User themes live in ``<data dir>/themes`` (``nosana_tui.config.paths().data_dir / "themes"``);
a user theme with a built-in theme's name replaces it. A file that cannot be read, parsed or
validated is skipped, and :func:`load_themes` says why in a problem message instead of raising,
so one bad file never keeps the app from starting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.theme import Theme

from nosana_tui.config import paths

SUFFIXES = (".toml", ".yaml", ".yml")

_COLOURS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_BOOLS = ("dark", "ansi")
_FLOATS = ("luminosity_spread", "text_alpha")
_KNOWN = frozenset({"name", "variables", *_COLOURS, *_BOOLS, *_FLOATS})


class ThemeFileError(Exception):
    """What is wrong with a theme file, and where (``line`` is 1-based, ``None`` if unknown)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def builtin_themes_dir() -> Path:
    """The themes shipped with nosana-tui.

    A wheel carries the top-level ``themes/`` folder as ``nosana_tui/themes`` (pyproject's
    force-include); an editable install or a checkout reads the repository's ``themes/``.
    """
    package = Path(__file__).resolve().parent.parent
    installed = package / "themes"
    if installed.is_dir():
        return installed
    return package.parent / "themes"


def user_themes_dir() -> Path:
    """Where a person's own theme files go."""
    return paths().data_dir / "themes"


def load_themes(dirs: Iterable[Path]) -> tuple[list[Theme], list[str]]:
    """Every theme in ``dirs`` (in order; a later theme replaces an earlier one of the same name),
    and one message per file that was skipped, naming the file and, where known, the line."""
    found: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in SUFFIXES or not file.is_file():
                continue
            try:
                theme = load_theme_file(file)
            except ThemeFileError as err:
                where = f"{file}:{err.line}" if err.line is not None else str(file)
                problems.append(f"{where}: {err.message}; theme skipped")
                continue
            found.pop(theme.name, None)  # a replacement goes where the newest came from
            found[theme.name] = theme
    return list(found.values()), problems


def load_theme_file(file: Path) -> Theme:
    """One theme file as a Theme; raises :class:`ThemeFileError`."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ThemeFileError(f"cannot read it: {err}") from None
    data = _parse(text, file.suffix.lower())
    return _theme(data, text, default_name=file.stem)


def _parse(text: str, suffix: str) -> dict[str, Any]:
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            match = re.search(r"\(at line (\d+), column \d+\)", str(err))
            raise ThemeFileError(
                f"not valid TOML: {err}", int(match.group(1)) if match else None
            ) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            problem = getattr(err, "problem", None) or str(err)
            raise ThemeFileError(
                f"not valid YAML: {problem}", mark.line + 1 if mark is not None else None
            ) from None
    if not isinstance(data, dict):
        raise ThemeFileError("a theme file holds a table of fields (name, primary, ...)")
    return data


def _line_of(text: str, key: str) -> int | None:
    """The line that sets ``key``: tomllib gives no positions for values, so search for it."""
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*[=:]""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def _theme(data: dict[str, Any], text: str, *, default_name: str) -> Theme:
    unknown = sorted(str(k) for k in data if k not in _KNOWN)
    if unknown:
        raise ThemeFileError(
            f"unknown field {unknown[0]!r}; a theme has: {', '.join(sorted(_KNOWN))}",
            _line_of(text, unknown[0]),
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError("'name' must be a non-empty string", _line_of(text, "name"))
    if "primary" not in data:
        raise ThemeFileError("'primary' is missing: every theme needs a primary colour")
    fields: dict[str, Any] = {}
    for key in _COLOURS:
        if key in data:
            fields[key] = _colour(data[key], key, text)
    for key in _BOOLS:
        if key in data:
            if not isinstance(data[key], bool):
                raise ThemeFileError(f"{key!r} must be true or false", _line_of(text, key))
            fields[key] = data[key]
    for key in _FLOATS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ThemeFileError(f"{key!r} must be a number", _line_of(text, key))
            fields[key] = float(value)
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError("'variables' must be a table of names and values")
    for key, value in variables.items():
        problem = _variable_problem(str(key), value)
        if problem:
            raise ThemeFileError(f"variable {key!r}: {problem}", _line_of(text, str(key)))
    theme = Theme(name=name.strip(), variables={str(k): v for k, v in variables.items()}, **fields)
    try:
        theme.to_color_system().generate()
    except Exception as err:  # Textual may reject a combination the checks above allow
        raise ThemeFileError(f"Textual cannot use it: {err}") from None
    return theme


def _variable_problem(key: str, value: Any) -> str | None:
    """Why Textual would reject this variable when the theme is applied (it raises then, and the
    app stops), or None. Style variables hold flags; every other variable holds a colour."""
    if not isinstance(value, str):
        return 'must be a string, e.g. "#4FB3FF" or "bold"'
    words = value.split()
    if "style" in key:
        wrong = [w for w in words if w not in VALID_STYLE_FLAGS]
        if wrong or not words:
            return f'{value!r} is not a text style (use e.g. "bold", "reverse" or "none")'
        return None
    if len(words) == 2 and re.fullmatch(r"\d+(\.\d+)?%", words[1]):
        words = words[:1]
    if len(words) != 1:
        return f'{value!r} is not a colour (use e.g. "#4FB3FF" or "#4FB3FF 40%")'
    if words[0] == "auto" or words[0].startswith("$"):
        return None
    try:
        Color.parse(words[0])
    except ColorParseError:
        return f'{value!r} is not a colour (use e.g. "#4FB3FF" or "#4FB3FF 40%")'
    return None


def _colour(value: Any, key: str, text: str) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{key!r} must be a colour string", _line_of(text, key))
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(
            f'{key!r} is not a colour: {value!r} (use e.g. "#4FB3FF", "red" or "ansi_blue")',
            _line_of(text, key),
        ) from None
    return value
