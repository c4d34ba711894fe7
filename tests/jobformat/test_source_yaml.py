"""YAML read by libyaml gives what the pure-Python parser gives: data, positions, warnings.

``source.py`` reads YAML with PyYAML's C parser when it is there (10x faster on a 1 MiB job,
bench/README.md) and falls back to the pure-Python one for anything the C parser refuses, so
error messages stay those of the pure-Python parser. These tests hold the two paths equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nosana_tui.jobformat import source
from nosana_tui.jobformat.source import SourceError, _parse_yaml

ROOT = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    p
    for pattern in ("*.yaml", "*.yml")
    for p in ROOT.rglob(pattern)
    if not {".venv", "node_modules", ".git"} & set(p.parts)
)

pytestmark = pytest.mark.skipif(
    not source._FAST_LOADERS, reason="PyYAML was built without libyaml: only one parser to test"
)


def _both(text: str) -> tuple[Any, Any]:
    def read(fast: bool) -> Any:
        try:
            doc = _parse_yaml("f.yaml", text, fast=fast)
        except SourceError as err:
            return ("error", err.diagnostic)
        return (doc.data, doc.values, doc.keys, doc.diagnostics)

    return read(True), read(False)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_repository_reads_the_same(path: Path) -> None:
    fast, pure = _both(path.read_text(encoding="utf-8"))
    assert fast == pure


_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=12
)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _text)
_data = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(_text, _data, min_size=1, max_size=5),
    flow=st.sampled_from([False, True, None]),
    unicode=st.booleans(),
    crlf=st.booleans(),
    indent=st.sampled_from([2, 4]),
)
def test_generated_documents_read_the_same(
    data: dict[str, Any], flow: bool | None, unicode: bool, crlf: bool, indent: int
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, indent=indent)
    if crlf:
        text = text.replace("\n", "\r\n")
    fast, pure = _both(text)
    assert fast == pure


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n\tb: 2\n",  # a tab
        "a: b: c\n",
        "a: [1, 2\n",
        "- a\nb: 1\n",
        "a: 1\na: 2\n",  # a duplicate key: a warning, same from both
        "",
        "# only a comment\n",
        "a: 2001-13-45\n",
        "a: !!python/object:os.system x\n",
        "k: &x [*x]\n",
    ],
)
def test_refused_and_odd_documents_read_the_same(text: str) -> None:
    fast, pure = _both(text)
    assert fast == pure


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("k: &x [*x]\n", "an alias refers to a value that contains it"),
        ("k: &x {a: *x}\n", "an alias refers to a value that contains it"),
        (LAUGHS, "aliases make this file more than 200,000 values"),
    ],
)
def test_aliases_that_never_end_are_refused_with_a_message(text: str, words: str) -> None:
    for fast in (True, False):
        with pytest.raises(SourceError) as caught:
            _parse_yaml("f.yaml", text, fast=fast)
        diagnostic = caught.value.diagnostic
        assert words in diagnostic.message
        assert "alias" in diagnostic.hint


def test_nesting_too_deep_is_refused_with_a_message() -> None:
    text = "[" * 5000 + "]" * 5000
    for fast in (True, False):
        with pytest.raises(SourceError) as caught:
            _parse_yaml("f.yaml", text, fast=fast)
        assert "invalid YAML" in caught.value.diagnostic.message
