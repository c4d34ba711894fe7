"""Reading job files: JSON or YAML text to data, with the line and column of every value.

Parse errors (a trailing comma, a comment in JSON, a tab in YAML, an empty file, a top level that
is not an object) become diagnostics with a position and a hint, never exceptions a user sees.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path as FsPath
from typing import Any

import yaml

from nosana_tui.jobformat.diagnostics import Diagnostic, Path, Severity

Position = tuple[int, int]  # 1-based line and column

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None}


class SourceError(Exception):
    """The text could not be read as a document; carries the diagnostic to show."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Document:
    """Parsed data plus where each value (and each mapping key) stands in the text."""

    file: str
    data: Any
    format: str  # "json" or "yaml"
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> Position | None:
        """Where ``path`` stands; for a path the text lacks, its nearest ancestor."""
        probe = tuple(path)
        while True:
            found = (self.keys.get(probe) if key else None) or self.values.get(probe)
            if found is not None:
                return found
            if not probe:
                return None
            probe = probe[:-1]

    def locate(self, diagnostic: Diagnostic, *, key: bool = False) -> Diagnostic:
        pos = self.position(diagnostic.path, key=key)
        line, column = pos if pos else (None, None)
        return diagnostic.located(self.file, line, column)


def _duplicate_key(key: str, path: Path) -> Diagnostic:
    return Diagnostic(
        "duplicate-key",
        f"key {key!r} appears more than once; only the last one counts",
        path,
        "remove the duplicate so that the file says what it means",
        Severity.WARNING,
    )


def _line_col(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


class _Lines:
    """Line and column of offsets asked for in increasing order, in one pass over the text.

    ``_line_col`` counts from the start of the text, so asking it for every value of a document
    is quadratic (a 1 MiB job took 25 s, bench/README.md); this counts only the stretch since
    the offset asked for before.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0  # counted up to here
        self.line = 1  # the line of ``offset``
        self.start = 0  # where that line starts

    def at(self, offset: int) -> Position:
        text, last = self.text, self.offset
        breaks = text.count("\n", last, offset)
        if breaks:
            self.line += breaks
            self.start = text.rfind("\n", last, offset) + 1
        self.offset = offset
        return self.line, offset - self.start + 1


_BLANK = re.compile(r"[ \t\r\n]*")


class _JsonPositions:
    """Walks JSON text that ``json.loads`` accepted and records where each value stands."""

    def __init__(self, text: str, doc: Document) -> None:
        self.text = text
        self.doc = doc
        self.i = 0
        self.lines = _Lines(text)

    def skip(self) -> None:
        self.i = _BLANK.match(self.text, self.i).end()  # type: ignore[union-attr]

    def value(self, path: Path) -> None:
        self.skip()
        self.doc.values[path] = self.lines.at(self.i)
        ch = self.text[self.i]
        if ch == "{":
            self.i += 1
            seen: set[str] = set()
            self.skip()
            if self.text[self.i] == "}":
                self.i += 1
                return
            while True:
                self.skip()
                key_at = self.i
                key, self.i = scanstring(self.text, self.i + 1)
                child = (*path, key)
                if key in seen:
                    self.doc.diagnostics.append(_duplicate_key(key, child))
                seen.add(key)
                self.doc.keys[child] = self.lines.at(key_at)
                self.skip()
                self.i += 1  # ':'
                self.value(child)
                self.skip()
                if self.text[self.i] == ",":
                    self.i += 1
                    continue
                self.i += 1  # '}'
                return
        if ch == "[":
            self.i += 1
            self.skip()
            if self.text[self.i] == "]":
                self.i += 1
                return
            index = 0
            while True:
                self.value((*path, index))
                index += 1
                self.skip()
                if self.text[self.i] == ",":
                    self.i += 1
                    continue
                self.i += 1  # ']'
                return
        if ch == '"':
            _, self.i = scanstring(self.text, self.i + 1)
            return
        for word in _LITERALS:
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return
        match = _NUMBER.match(self.text, self.i)
        if match is None:  # json.loads accepted NaN/Infinity; skip the token
            while self.i < len(self.text) and self.text[self.i] not in ",]} \t\r\n":
                self.i += 1
            return
        self.i = match.end()


def _json_hint(text: str, err: json.JSONDecodeError) -> str:
    before = text[: err.pos].rstrip()
    here = text[err.pos : err.pos + 2]
    if here.startswith(("//", "/*")) or here.startswith("#"):
        return "JSON has no comments: delete the comment (or write the file as YAML, which has #)"
    if before.endswith(",") and (
        err.msg.startswith("Expecting property name") or "value" in err.msg
    ):
        return "remove the trailing comma before this point: JSON allows no comma before } or ]"
    if err.msg.startswith("Expecting ',' delimiter"):
        return "a comma is missing between two items, or a bracket or quote is not closed above"
    if err.msg.startswith("Invalid control character"):
        return "strings may not hold raw tabs or line breaks: write \\t or \\n instead"
    if err.msg.startswith("Expecting property name"):
        return "keys must be strings in double quotes"
    return "fix the JSON syntax at this point"


def _parse_json(file: str, text: str) -> Document:
    doc = Document(file, None, "json")
    try:
        doc.data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceError(
            Diagnostic(
                "parse-error",
                f"invalid JSON: {err.msg}",
                (),
                _json_hint(text, err),
                Severity.ERROR,
                file,
                err.lineno,
                err.colno,
            )
        ) from None
    except RecursionError:
        raise SourceError(
            Diagnostic("parse-error", "the document is nested too deeply", (), "", file=file)
        ) from None
    except ValueError as err:  # a number of more than 4300 digits (sys.int_info)
        raise SourceError(
            Diagnostic("parse-error", f"invalid JSON: {err}", (), _TOO_LONG, file=file)
        ) from None
    _JsonPositions(text, doc).value(())
    return doc


_TOO_LONG = "write a number of thousands of digits as a string, in quotes"


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that also keeps every node's position and reports duplicate keys."""


# libyaml (PyYAML's C parser) reads 1 MiB of YAML in ~0.5 s where the pure-Python parser takes
# 3-5 s (bench/README.md); the nodes, marks and constructed values are the same (a test holds
# them equal). A document it refuses is read again by the pure-Python parser, whose error
# messages (and hints) users know.
_FAST_LOADERS: tuple[type[yaml.CSafeLoader], ...] = (
    (yaml.CSafeLoader,) if getattr(yaml, "__with_libyaml__", False) else ()
)


# Aliases let a few lines of YAML stand for a huge (or endless) value: a job has no use for that.
MAX_YAML_VALUES = 200_000


class _AliasTrouble(Exception):
    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def _walk_yaml_checked(node: yaml.Node, file: str, doc: Document) -> None:
    try:
        _walk_yaml(node, (), doc, set(), [0])
    except _AliasTrouble as err:
        raise SourceError(
            Diagnostic(
                "parse-error",
                f"invalid YAML: {err}",
                err.path,
                "write the value out instead of referring to it with an alias (*name)",
                file=file,
            )
        ) from None
    except RecursionError:
        raise SourceError(
            Diagnostic(
                "parse-error",
                "invalid YAML: values are nested too deeply to read",
                (),
                "a job needs a few levels of nesting, not hundreds",
                file=file,
            )
        ) from None


def _walk_yaml(
    node: yaml.Node, path: Path, doc: Document, inside: set[int], count: list[int]
) -> None:
    count[0] += 1
    if count[0] > MAX_YAML_VALUES:
        raise _AliasTrouble(f"aliases make this file more than {MAX_YAML_VALUES:,} values", path)
    mark = node.start_mark
    doc.values[path] = (mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in inside:
            raise _AliasTrouble("an alias refers to a value that contains it", path)
        inside = inside | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[object] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            child = (*path, key)
            if key in seen:
                doc.diagnostics.append(_duplicate_key(key, child))
            seen.add(key)
            km = key_node.start_mark
            doc.keys[child] = (km.line + 1, km.column + 1)
            _walk_yaml(value_node, child, doc, inside, count)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_yaml(item, (*path, index), doc, inside, count)


def _yaml_hint(problem: str) -> str:
    if "'\\t'" in problem or "\t" in problem:
        return "YAML does not allow tabs for indentation: indent with spaces"
    if "mapping values are not allowed" in problem:
        return "a ':' follows a value on the same line: quote the value or fix the indentation"
    if "could not find expected ':'" in problem:
        return "a key is missing its ':' or the indentation is off"
    if "expected <block end>" in problem:
        return "the indentation of this line does not match the lines above"
    return "fix the YAML syntax at this point"


def _compose_fast(text: str) -> tuple[yaml.Node | None, Any] | None:
    """The document's node and data by libyaml, or None when it is absent or refuses the text."""
    for loader_class in _FAST_LOADERS:
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            return node, None if node is None else loader.construct_document(node)
        except Exception:  # any refusal: the pure-Python parser says why, in its words
            return None
        finally:
            loader.dispose()
    return None


def _parse_yaml(file: str, text: str, *, fast: bool = True) -> Document:
    doc = Document(file, None, "yaml")
    composed = _compose_fast(text) if fast else None
    if composed is not None:
        node, doc.data = composed
        if node is not None:
            _walk_yaml_checked(node, file, doc)
        return doc
    try:
        loader = _YamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                doc.data = None
                return doc
            doc.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        raise SourceError(
            Diagnostic(
                "parse-error",
                f"invalid YAML: {problem}",
                (),
                _yaml_hint(problem),
                Severity.ERROR,
                file,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
            )
        ) from None
    except (yaml.YAMLError, RecursionError) as err:
        raise SourceError(
            Diagnostic("parse-error", f"invalid YAML: {err}", (), "", file=file)
        ) from None
    except (ValueError, OverflowError) as err:  # 2001-13-45 read as a date; a 5000-digit number
        raise SourceError(
            Diagnostic(
                "parse-error",
                f"invalid YAML: a value cannot be read: {err}",
                (),
                "quote a value that is not meant as a date, or a number too long to be one",
                file=file,
            )
        ) from None
    _walk_yaml_checked(node, file, doc)
    return doc


def detect_format(file: str, text: str) -> str:
    suffix = FsPath(file).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip().startswith(("{", "[")) else "yaml"


def parse_text(file: str, text: str, *, fmt: str | None = None) -> Document:
    """Parse ``text``; raise :class:`SourceError` if it is not a document with an object on top."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise SourceError(
            Diagnostic(
                "empty-file",
                "the file is empty",
                (),
                "a job definition is an object with version, type and ops; "
                "see `nosana-tui templates` for examples",
                Severity.ERROR,
                file,
                1,
                1,
            )
        )
    fmt = fmt or detect_format(file, text)
    doc = _parse_json(file, text) if fmt == "json" else _parse_yaml(file, text)
    if not isinstance(doc.data, dict):
        kind = "nothing" if doc.data is None else type(doc.data).__name__
        kind = {"list": "a list", "str": "a string", "int": "a number", "float": "a number"}.get(
            kind, kind
        )
        line, column = doc.values.get((), (1, 1))
        raise SourceError(
            Diagnostic(
                "not-an-object",
                f"the top level is {kind}, not an object",
                (),
                'a job definition is an object: {"version": "0.1", "type": "container", '
                '"ops": [...]}',
                Severity.ERROR,
                file,
                line,
                column,
            )
        )
    doc.diagnostics = [doc.locate(d, key=True) for d in doc.diagnostics]
    return doc


def read_file(path: str | FsPath) -> Document:
    """Read and parse a file; unreadable files become a :class:`SourceError` too."""
    name = str(path)
    try:
        raw = FsPath(path).read_bytes()
    except FileNotFoundError:
        raise SourceError(
            Diagnostic("file-not-found", "no such file", (), "check the path", file=name)
        ) from None
    except IsADirectoryError:
        raise SourceError(
            Diagnostic("file-not-found", "this is a folder, not a file", (), "", file=name)
        ) from None
    except OSError as err:
        raise SourceError(
            Diagnostic("file-unreadable", f"cannot read the file: {err.strerror}", file=name)
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _line_col(raw[: err.start].decode("utf-8", "replace"), err.start)
        raise SourceError(
            Diagnostic(
                "not-utf8",
                "the file is not UTF-8 text",
                (),
                "save it as UTF-8",
                Severity.ERROR,
                name,
                line,
                column,
            )
        ) from None
    return parse_text(name, text)
