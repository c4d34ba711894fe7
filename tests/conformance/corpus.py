"""The conformance corpus: every example and template, and mutants of each, deterministically.

Bases are a job of our own that uses every field (``kitchen-sink.json``), the seed examples (``examples/seeds``), the built-in templates
(``nosana_tui/library``) and the jobs that the dstack seeds and templates convert into. Each base
yields itself and, at every path (recursively), the value set to null, set to a value of each
other JSON type, deleted, and, for each object, an unknown key added; each op also gets the other
op type. Mutants that come out the
same (as canonical JSON) are kept once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nosana_tui.jobformat.dstack.convert import convert_file
from nosana_tui.jobformat.source import SourceError, read_file

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "examples" / "seeds"
LIBRARY = ROOT / "nosana_tui" / "library"
KITCHEN_SINK = Path(__file__).resolve().parent / "kitchen-sink.json"

# One value of each JSON type; a mutant takes each whose type differs from the value it replaces.
OTHER_VALUES: tuple[tuple[str, Any], ...] = (
    ("string", "x"),
    ("number", 7),
    ("bool", True),
    ("array", []),
    ("object", {}),
)
UNKNOWN_KEY = "x_unknown_key"
_SWAP = {"container/run": "container/create-volume", "container/create-volume": "container/run"}
# dstack files read ${{ env.X }}; give the one the seeds use a stand-in value.
DSTACK_ENV = {"HUGGING_FACE_HUB_TOKEN": "hf_conformance_token"}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Case:
    """One job definition to put to both validators."""

    name: str  # base file, then the mutation: "001-multi-operations.json ops[1].args=null"
    base: str
    mutation: str  # "" for the base, else "null", "string", ..., "delete", "unknown-key", "op-type"
    path: str
    data: Any


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fmt(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _load(path: Path) -> Any | None:
    """A job file's data, or None when it is not a whole document (some seeds are fragments)."""
    try:
        return read_file(path).data
    except SourceError:
        return None


def bases() -> list[tuple[str, Any]]:
    """(name, data) of every example and template, in a fixed order."""
    # Ours: a job the network accepts that uses every field, so that every field gets mutated.
    out: list[tuple[str, Any]] = [("kitchen-sink.json", json.loads(KITCHEN_SINK.read_text()))]
    for path in sorted(SEEDS.glob("*.json")):
        data = _load(path)
        if data is not None:
            out.append((path.name, data))
    for folder in sorted(p for p in LIBRARY.iterdir() if p.is_dir()):
        for name in ("job.json", "job.yaml", "job.yml"):
            if (folder / name).is_file():
                data = _load(folder / name)
                if data is not None:
                    out.append((f"library/{folder.name}/{name}", data))
    dstack = sorted(SEEDS.glob("*.dstack.yml")) + sorted(LIBRARY.glob("*/service.dstack.yml"))
    for path in dstack:
        result = convert_file(path, environ=DSTACK_ENV)
        if result.data is not None:
            out.append((f"{path.relative_to(ROOT)} (converted)", result.data))
    # JSON round trip: what node reads is JSON, so YAML-only values (dates) must not differ.
    return [(name, json.loads(json.dumps(data, default=str))) for name, data in out]


def _walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))


def _replace(data: Any, path: Path_, value: Any, *, delete: bool = False) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced (or deleted); copies only the
    containers on the way down."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        copy: Any = dict(data)
    else:
        copy = list(data)
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = _replace(data[head], rest, value, delete=delete)
    return copy


def mutants(name: str, data: Any) -> Iterator[Case]:
    yield Case(name, name, "", "", data)
    for path, value in _walk(data):
        where = _fmt(path)
        if path:
            if value is not None:
                yield Case(f"{name} {where}=null", name, "null", where, _replace(data, path, None))
            for kind, other in OTHER_VALUES:
                if kind != _json_type(value):
                    yield Case(
                        f"{name} {where}={kind}", name, kind, where, _replace(data, path, other)
                    )
            yield Case(
                f"{name} {where} deleted",
                name,
                "delete",
                where,
                _replace(data, path, None, delete=True),
            )
        swapped = _SWAP.get(value.get("type")) if isinstance(value, dict) else None
        if isinstance(value, dict) and swapped and path[:1] == ("ops",) and len(path) == 2:
            # The network does not tie an op's args to its type: either args fit either type.
            yield Case(
                f"{name} {where}.type={swapped}",
                name,
                "op-type",
                where,
                _replace(data, path, {**value, "type": swapped}),
            )
        if isinstance(value, dict) and UNKNOWN_KEY not in value:
            yield Case(
                f"{name} {where}+{UNKNOWN_KEY}",
                name,
                "unknown-key",
                where,
                _replace(data, path, {**value, UNKNOWN_KEY: "x"}),
            )


def corpus() -> list[Case]:
    """Every case, each distinct document once, in a fixed order."""
    seen: set[str] = set()
    out: list[Case] = []
    for name, data in bases():
        for case in mutants(name, data):
            key = json.dumps(case.data, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(case)
    return out


if __name__ == "__main__":  # a look at the corpus: python -m tests.conformance.corpus
    cases = corpus()
    print(f"{len(cases)} cases from {len({c.base for c in cases})} bases")
    for base, count in Counter(c.base for c in cases).items():
        print(f"{count:6}  {base}")
