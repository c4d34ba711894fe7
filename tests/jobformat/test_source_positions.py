"""Positions of JSON values and keys: the one-pass line counter against the algorithm it
replaced (count from the start of the text for every value), on random documents."""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nosana_tui.jobformat.diagnostics import Diagnostic, Path, Severity
from nosana_tui.jobformat.source import _NUMBER, Document, _parse_json, parse_text

# --- the oracle: the walker as it was before the one-pass line counter ------------------------


def _old_line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


class _OldJsonPositions:
    def __init__(self, text: str, doc: Document) -> None:
        self.text = text
        self.doc = doc
        self.i = 0

    def skip(self) -> None:
        text = self.text
        while self.i < len(text) and text[self.i] in " \t\r\n":
            self.i += 1

    def value(self, path: Path) -> None:
        self.skip()
        self.doc.values[path] = _old_line_col(self.text, self.i)
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
                    self.doc.diagnostics.append(
                        Diagnostic(
                            "duplicate-key",
                            f"key {key!r} appears more than once; only the last one counts",
                            child,
                            "remove the duplicate so that the file says what it means",
                            Severity.WARNING,
                        )
                    )
                seen.add(key)
                self.doc.keys[child] = _old_line_col(self.text, key_at)
                self.skip()
                self.i += 1
                self.value(child)
                self.skip()
                if self.text[self.i] == ",":
                    self.i += 1
                    continue
                self.i += 1
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
                self.i += 1
                return
        if ch == '"':
            _, self.i = scanstring(self.text, self.i + 1)
            return
        for word in ("true", "false", "null"):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return
        match = _NUMBER.match(self.text, self.i)
        if match is None:
            while self.i < len(self.text) and self.text[self.i] not in ",]} \t\r\n":
                self.i += 1
            return
        self.i = match.end()


def _old(text: str) -> Document:
    doc = Document("x.json", json.loads(text), "json")
    _OldJsonPositions(text, doc).value(())
    return doc


# --- random JSON text: any whitespace between tokens, duplicate keys, non-ASCII -------------

_BLANKS = st.sampled_from(["", " ", "\n", "\r\n", "\t", "\n    ", " \n\n\t ", "\r"])
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),  # json.dumps escapes line breaks; ensure_ascii=False keeps the rest
)
_KEYS = st.sampled_from(["a", "b", "é", "日本", "\n", 'k\\"', ""]) | st.text(max_size=6)


@st.composite
def _json_text(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from(["scalar", "object", "array"] if depth < 4 else ["scalar"]))
    if kind == "scalar":
        return json.dumps(draw(_SCALARS), ensure_ascii=draw(st.booleans()))
    items: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        value = draw(_json_text(depth + 1))
        if kind == "object":
            key = json.dumps(draw(_KEYS), ensure_ascii=draw(st.booleans()))
            value = f"{key}{draw(_BLANKS)}:{draw(_BLANKS)}{value}"
        items.append(f"{draw(_BLANKS)}{value}{draw(_BLANKS)}")
    open_, close = "{}" if kind == "object" else "[]"
    return open_ + ",".join(items or [draw(_BLANKS)]) + close


@st.composite
def _documents(draw: st.DrawFn) -> str:
    return draw(_BLANKS) + draw(_json_text()) + draw(_BLANKS)


def _same(text: str) -> None:
    new, old = _parse_json("x.json", text), _old(text)
    assert new.values == old.values
    assert new.keys == old.keys
    assert new.diagnostics == old.diagnostics


@settings(max_examples=200, deadline=None)
@given(_documents())
def test_json_positions_equal_the_old_algorithm(text: str) -> None:
    _same(text)


def test_json_positions_of_a_large_job_equal_the_old_algorithm() -> None:
    ops: list[Any] = [
        {
            "type": "container/run",
            "id": f"op-{i}",
            "args": {
                "image": "ubuntu",
                "cmd": ["sh", "-c", f"echo {i}"],
                "env": {f"K{j}": "v" * j for j in range(20)},
            },
        }
        for i in range(60)
    ]
    job = {"version": "0.1", "type": "container", "ops": ops}
    for text in (json.dumps(job, indent=2), json.dumps(job), json.dumps(job, indent="\t")):
        _same(text.replace("\n", "\r\n"))
        _same(text)


def test_json_positions_count_characters_not_bytes_and_lf_not_cr() -> None:
    text = '{\r\n  "é": "日本",\r  "b": [1,\n\t2]}'
    doc = parse_text("x.json", text)
    assert doc.keys[("é",)] == (2, 3)
    assert doc.values[("é",)] == (2, 8)
    assert doc.keys[("b",)] == (2, 16)  # a lone CR is no line break, as before
    assert doc.values[("b", 1)] == (3, 2)
