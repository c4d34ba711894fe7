"""Property-based tests: the validator and the dstack converter never raise, whatever they read.

Starting from every job that validates (the library and the complete seed examples), random
mutations of the JSON tree, random serialisations to JSON and YAML, random corruptions of that
text and fully random values all go through :func:`validate_data` / :func:`validate_text` /
:func:`convert_document`; each must answer with well-formed diagnostics, never an exception, and
must return a job exactly when there is no error.
"""

from __future__ import annotations

import copy
import glob
import json
import warnings
from pathlib import Path as FsPath
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.diagnostics import Diagnostic, Report, Severity
from nosana_tui.jobformat.dstack import convert as dstack
from nosana_tui.jobformat.source import SourceError, parse_text
from nosana_tui.jobformat.validate import _SYNONYMS, validate_data, validate_file, validate_text

ROOT = FsPath(__file__).resolve().parents[2]

# The autouse fixture of conftest.py (user dirs in tmp_path) is harmless to share between the
# examples of one test.
SETTINGS = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}


def _valid_jobs() -> list[tuple[str, dict[str, Any]]]:
    files = sorted(glob.glob(str(ROOT / "nosana_tui" / "library" / "*" / "job.json")))
    files += sorted(glob.glob(str(ROOT / "examples" / "seeds" / "*.json")))
    out = []
    for name in files:
        job, _ = validate_file(name)
        if job is not None:
            out.append(
                (FsPath(name).relative_to(ROOT).as_posix(), json.loads(FsPath(name).read_text()))
            )
    return out


VALID = _valid_jobs()
VALID_JOBS = [job for _, job in VALID]
DSTACK_FILES = sorted(glob.glob(str(ROOT / "nosana_tui" / "library" / "*" / "*.dstack.yml")))
DSTACK_FILES += sorted(glob.glob(str(ROOT / "examples" / "seeds" / "*.dstack.yml")))
DSTACK_SEEDS = [yaml.safe_load(FsPath(f).read_text()) for f in DSTACK_FILES]


def test_there_are_valid_jobs_to_start_from() -> None:
    assert len(VALID_JOBS) >= 10
    assert len(DSTACK_SEEDS) >= 10


# --- value strategies --------------------------------------------------------------------------


def _schema_keys() -> list[str]:
    names: set[str] = set()
    for obj in vars(m).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for name, info in obj.model_fields.items():
                names.add(info.alias or name)
    names |= set(_SYNONYMS) | {"depends", "output", "required_vram", "system_requirements"}
    names |= {"vram_total_mb", "__spread__", "chunked", "[key]", ""}
    return sorted(names)


SCHEMA_KEYS = _schema_keys()

INTERESTING_STRINGS = [
    "",
    " ",
    "0.1",
    "container",
    m.OP_RUN,
    m.OP_CREATE_VOLUME,
    m.REMOVE_IF_EMPTY,
    "%%",
    "%%%%",
    "%%%",
    "%%ops%%",
    "%%ops.%%",
    "%%ops..results.%%",
    "%%ops.a.host%%",
    "%%ops.a.deployment_endpoint%%",
    "%%ops.a.results.x%%",
    "%%ops.a.endpoint.80%%",
    "%%ops.a.endpoint.x%%",
    "%%ops.a.endpoint.99999999999999999999%%",
    "%%global.job%%",
    "%%globals.host%%",
    "%%global.variables.x%%",
    "%%global.variables.%%",
    "%%ops.é.results.🙂%%",
    "prefix %%ops.a.host%% and %%global.job%% suffix",
    "80",
    "80-90",
    " 1 - 70000 ",
    "99999999999999999999-1",
    "http",
    "websocket",
    "S3",
    "HF",
    "Ollama",
    "GET",
    "get",
    "POST",
    "on-failure",
    "always",
    "api",
    "api-listen",
    "stdout",
    "a b",
    "a.b",
    "\t",
    "\n",
    "\r\n",
    "é漢字🙂",
    "\u2028",
    "\x00",
    "\ufeff",
    "sh -c",
    "true",
    "null",
    "0x1F",
    "1e999",
]

ints = st.integers() | st.sampled_from(
    [0, -1, 1, 80, 65535, 65536, 99, 100, 599, 600, 2**31, 2**63, -(2**63), 10**30, -(10**30)]
)
floats = st.floats() | st.sampled_from([0.1, -0.0, 0.5, 1e308, -1e308, 5e-324, 80.0, 200.0])
strings = st.text(max_size=24) | st.sampled_from(INTERESTING_STRINGS)
keys = st.sampled_from(SCHEMA_KEYS) | st.text(max_size=12)
scalars = st.none() | st.booleans() | ints | floats | strings
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` three times in four (``a | b`` flattens unions and would dilute ``usual``)."""
    return st.integers(0, 3).flatmap(lambda i: other if i == 0 else usual)


# --- mutations of a JSON tree --------------------------------------------------------------------

Tree = Any
TreePath = tuple[str | int, ...]


def _all_paths(doc: Tree) -> list[TreePath]:
    """Every path in ``doc``, the root included (iterative: documents may be nested deeply)."""
    out: list[TreePath] = []
    stack: list[tuple[TreePath, Tree]] = [((), doc)]
    while stack:
        path, node = stack.pop()
        out.append(path)
        if len(out) > 2000:
            break
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return sorted(out, key=lambda p: (len(p), repr(p)))


def _at(doc: Tree, path: TreePath) -> Tree:
    for part in path:
        doc = doc[part]
    return doc


def _put(doc: Tree, path: TreePath, value: Tree) -> Tree:
    if not path:
        return value
    _at(doc, path[:-1])[path[-1]] = value
    return doc


def _ops_of(doc: Tree) -> list[dict[str, Any]]:
    ops = doc.get("ops") if isinstance(doc, dict) else None
    return [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []


def _ids_of(doc: Tree) -> list[str]:
    return [op["id"] for op in _ops_of(doc) if isinstance(op.get("id"), str)]


def _nest(value: Tree, depth: int, kind: str) -> Tree:
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def _swap(value: Tree) -> Tree:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)  # "80", "0.1", "NaN"
    if isinstance(value, str):
        try:
            return json.loads(value.strip())
        except (ValueError, RecursionError):
            return len(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


MUTATIONS = (
    "delete",
    "replace",
    "insert",
    "duplicate-op",
    "swap",
    "rename-id",
    "depends-on",
    "nest",
    "literal",
)


def _mutate(draw: st.DrawFn, doc: Tree, max_depth: int) -> Tree:
    kind = draw(st.sampled_from(MUTATIONS))
    path = draw(st.sampled_from(_all_paths(doc)))
    node = _at(doc, path)
    ops = _ops_of(doc)
    ids = _ids_of(doc)
    some_id = st.sampled_from(ids) | strings if ids else strings
    if kind == "delete" and path:
        parent = _at(doc, path[:-1])
        del parent[path[-1]]
        return doc
    if kind == "insert" and isinstance(node, dict):
        node[draw(keys)] = draw(json_values)
        return doc
    if kind == "insert" and isinstance(node, list):
        node.insert(draw(st.integers(0, len(node))), draw(json_values))
        return doc
    if kind == "duplicate-op" and ops:
        op = copy.deepcopy(draw(st.sampled_from(ops)))
        if draw(st.booleans()):
            op["id"] = draw(some_id)
        doc["ops"].insert(draw(st.integers(0, len(doc["ops"]))), op)
        return doc
    if kind == "swap":
        return _put(doc, path, _swap(node))
    if kind == "rename-id" and ops:
        op = draw(st.sampled_from(ops))
        op["id"] = draw(some_id | json_values)
        return doc
    if kind == "depends-on" and ops:
        op = draw(st.sampled_from(ops))
        if not isinstance(op.get("execution"), dict) or draw(st.booleans()):
            op["execution"] = {}
        execution = op["execution"]
        if draw(st.booleans()):
            execution["group"] = draw(
                st.sampled_from([*ids, "g"]) | strings if ids else st.just("g")
            )
        deps = execution.get("depends_on")
        if not isinstance(deps, list):
            deps = execution["depends_on"] = []
        deps.extend(draw(st.lists(some_id | scalars, min_size=1, max_size=3)))
        if draw(st.booleans()):
            execution["stop_if_dependent_stops"] = draw(st.booleans())
        return doc
    if kind == "nest":
        depth = draw(st.integers(1, max_depth))
        return _put(doc, path, _nest(node, depth, draw(st.sampled_from(["list", "dict"]))))
    if kind == "literal":
        body = draw(
            st.builds(
                lambda head, mid, what, tail: ".".join(p for p in (head, mid, what, tail) if p),
                st.sampled_from(["ops", "global", "globals", "x", ""]),
                some_id,
                st.sampled_from(["host", "results", "endpoint", "variables", "job", ""]),
                st.sampled_from(["", "x", "80", "8080", "é"]) | strings,
            )
        )
        text = draw(st.sampled_from(["%%{}%%", "a %%{}%% b", "%%{}", "{}%%%%"])).format(body)
        return _put(doc, path, text)
    return _put(doc, path, draw(json_values))


@st.composite
def mutated(
    draw: st.DrawFn, bases: list[Tree], max_mutations: int = 6, max_depth: int = 40
) -> Tree:
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, max_mutations))):
        doc = _mutate(draw, doc, max_depth)
    return doc


# --- checks ----------------------------------------------------------------------------------------


def _check_diagnostics(diags: list[Diagnostic]) -> None:
    assert isinstance(diags, list)
    for d in diags:
        assert isinstance(d, Diagnostic), d
        assert isinstance(d.path, tuple), d
        assert all(isinstance(p, str | int) for p in d.path), d
        assert isinstance(d.message, str) and d.message.strip(), d
        assert isinstance(d.code, str) and d.code, d
        assert isinstance(d.severity, Severity), d
        assert isinstance(d.hint, str), d
        d.render()  # and it prints
        json.dumps(d.to_json())


def _check_validated(data: Any) -> tuple[m.JobDefinition | None, list[Diagnostic]]:
    job, diags = validate_data(data)
    _check_diagnostics(diags)
    has_error = any(d.severity is Severity.ERROR for d in diags)
    assert (job is None) == has_error, diags
    if job is not None:
        assert isinstance(job, m.JobDefinition)
        _check_round_trip(job)
    return job, diags


def _check_round_trip(job: m.JobDefinition) -> None:
    with warnings.catch_warnings():
        # pydantic warns when a tagged union cannot tag a validated object while dumping
        warnings.simplefilter("error")
        dumped = job.model_dump(by_alias=True, exclude_none=True)
    again, diags = validate_data(dumped)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    assert not errors, errors
    assert again is not None


def _check_report(report: Report, text: str, job: m.JobDefinition | None) -> None:
    _check_diagnostics(report.diagnostics)
    assert (job is None) == (not report.ok), report.diagnostics
    lines = len(text.splitlines())
    for d in report.diagnostics:
        if d.line is not None:
            assert 1 <= d.line <= lines + 1, (d, lines)
        if d.column is not None:
            assert d.column >= 1, d


# --- 1. mutated jobs through validate_data ---------------------------------------------------------


@settings(max_examples=1200, **SETTINGS)
@given(mutated(VALID_JOBS))
@example({"version": "0.1", "type": "container", "ops": [{"id": [1], "type": m.OP_RUN}]})
@example(
    {
        "version": "0.1",
        "type": "container",
        "ops": [
            {"id": {}, "type": m.OP_RUN, "args": {"image": "x", "depends": ["a"]}},
            {"id": "a", "type": m.OP_RUN, "args": {"image": "x"}, "execution": {"group": []}},
        ],
    }
)
def test_mutated_jobs_never_raise(doc: Tree) -> None:
    _check_validated(doc)


@st.composite
def nesting_plans(draw: st.DrawFn) -> tuple[Tree, TreePath, int, str]:
    """A mutated job, where to nest and how deep (built in the test: too deep to print)."""
    doc = draw(mutated(VALID_JOBS, max_mutations=2))
    path = draw(st.sampled_from(_all_paths(doc)))
    return doc, path, draw(st.integers(1, 3000)), draw(st.sampled_from(["list", "dict"]))


@settings(max_examples=60, **SETTINGS)
@given(nesting_plans())
def test_deeply_nested_jobs_never_raise(plan: tuple[Tree, TreePath, int, str]) -> None:
    doc, path, depth, kind = plan
    doc = copy.deepcopy(doc)
    _check_validated(_put(doc, path, _nest(_at(doc, path), depth, kind)))


# --- 2. mutated jobs as JSON and YAML text, and corruptions of that text -------------------------


def _serialise(draw: st.DrawFn, doc: Tree) -> tuple[str, str]:
    """(file name, text) for ``doc`` in JSON or YAML, with a random layout."""
    fmt = draw(st.sampled_from(["json", "yaml"]))
    if fmt == "json":
        indent = draw(st.sampled_from([None, 2, 4, "\t"]))
        text = json.dumps(doc, indent=indent, ensure_ascii=draw(st.booleans()))
    else:
        text = yaml.safe_dump(
            doc,
            sort_keys=False,
            allow_unicode=draw(st.booleans()),
            default_flow_style=draw(st.sampled_from([False, None, True])),
        )
    name = draw(st.sampled_from([f"job.{fmt}", "job.yml", "<input>", "job.txt"]))
    return name, text


_NOISE = st.sampled_from(
    [
        *(",", "\t", "\n", " ", ":", "- ", "{", "}", "[", "]", '"', "'", "#", "//", "%%", "&a"),
        *("*a", "!!binary", "!!python/tuple", "<<: 1", "? ", "---", "...", "\\", "\ufeff", "\x00"),
        *("é", "2001-13-45", "2001-02-30 25:61:61", "1" * 4400, "0x", "0o9", ".inf", "NaN"),
        "-Infinity",
    ]
) | st.text(max_size=4)


def _corrupt(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "tab", "trailing-comma"]))
        at = draw(st.integers(0, len(text)))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif kind == "insert":
            text = text[:at] + draw(_NOISE) + text[at:]
        elif kind == "replace":
            text = text[:at] + draw(_NOISE) + text[at + 1 :]
        elif kind == "tab":
            start = text.rfind("\n", 0, at) + 1
            text = text[:start] + "\t" + text[start:]
        else:
            closers = [i for i, c in enumerate(text) if c in "}]"]
            if closers:
                i = draw(st.sampled_from(closers))
                text = text[:i] + "," + text[i:]
    return text


@st.composite
def job_texts(draw: st.DrawFn) -> tuple[str, str, str | None]:
    doc = draw(mutated(VALID_JOBS, max_mutations=4, max_depth=20))
    name, text = _serialise(draw, doc)
    if draw(st.booleans()):
        text = _corrupt(draw, text)
    fmt = draw(st.sampled_from([None, "json", "yaml"]))
    return name, text, fmt


@settings(max_examples=800, **SETTINGS)
@given(job_texts())
@example(("job.json", '{"a": ' + "1" * 5000 + "}", None))
@example(("job.yaml", "a: " + "1" * 5000 + "\n", None))
@example(("job.yaml", "version: 2001-13-45\n", None))
@example(("job.yaml", "version: 2001-02-30 25:61:61\n", None))
@example(("job.yaml", "ops:\n- args:\n    env:\n      2001-01-01: '%%x%%'\n      1.5: a\n", None))
def test_job_text_never_raises(case: tuple[str, str, str | None]) -> None:
    name, text, fmt = case
    job, report = validate_text(text, name, fmt=fmt)
    _check_report(report, text, job)


def _deep(open_: str, close: str, depth: int, fmt: str) -> str:
    inner = open_ * depth + "0" + close * depth
    if fmt == "json":
        return '{"version": "0.1", "type": "container", "ops": [], "meta": ' + inner + "}"
    return 'version: "0.1"\ntype: container\nops: []\nmeta: ' + inner + "\n"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("brackets", ["[]", "{}"])
def test_nesting_at_every_depth_up_to_the_recursion_limit(fmt: str, brackets: str) -> None:
    """Around the depth where the parser gives up, every later pass must cope too."""
    open_, close = brackets
    if open_ == "{":
        open_ = '{"a": ' if fmt == "json" else "{a: "
    step = 1 if fmt == "json" else 23  # PyYAML is slow on deep documents
    for depth in range(250, 1100, step):
        text = _deep(open_, close, depth, fmt)
        job, report = validate_text(text, f"deep.{fmt}")
        _check_report(report, text, job)


# --- 3. fully random values, and random dstack files ---------------------------------------------


@settings(max_examples=800, **SETTINGS)
@given(json_values)
@example(None)
@example([])
@example({"ops": [{"id": [], "args": {"depends": [[]], "expose": ["1-2", {"port": "3-4"}]}}]})
def test_random_values_never_raise(data: Any) -> None:
    _check_validated(data)


@settings(max_examples=400, **SETTINGS)
@given(st.dictionaries(keys, json_values, max_size=8))
def test_random_objects_as_text_never_raise(data: dict[str, Any]) -> None:
    for name, text in (("r.json", json.dumps(data)), ("r.yaml", yaml.safe_dump(data))):
        job, report = validate_text(text, name)
        _check_report(report, text, job)


DSTACK_STRINGS = st.sampled_from(
    [
        *("", " ", "service", "task", "sh", "bash", "/bin/zsh", "zsh", "${{ env.X }}"),
        *("${{ env.Y }}", "'unterminated", '"open', "a b 'c d'", "echo hi &"),
        *("python -m x ${{ run.args }}", "8000", "80:8000", "8000:80:1", "0", "70000", "1..3"),
        *("0..2", "2..1", "..", "1..", "..4", "24GB", "80GB:2", "A100", "A100:2", "H100:80GB:8"),
        *("nvidia", "amd:MI300X", "tpu-v5-8", "tpu-v2-8", "16GB..", "1.5GB", "x86:4", "arm:2..8"),
        *("1TB", "512MB", "100GB..", "8.0", "name:/path", "/instance:/path", "a:b:c", "rel:rel"),
        *("/only", "vol:/data", "1h", "30s", "3.10", "3.14", "2.7", "openai", "tgi", "rps"),
        *("K=V", "K", "=V", "K=${{ env.Y }}", "X", "http", "/", "/health", "health", "get"),
        *("POST", "head", "patch", "5s", "1m", "off"),
    ]
) | st.text(max_size=10)
dstack_scalars = st.none() | st.booleans() | ints | floats | DSTACK_STRINGS
dstack_values = st.recursive(
    dstack_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    *("gpu", "cpu", "memory", "disk", "shm_size", "name", "count", "total_memory"),
                    *("compute_capability", "vendor", "size", "min", "max", "path"),
                    *("instance_path", "username", "password", "value"),
                    *dstack.PROBE_KEYS,
                    *dstack.MODEL_KEYS,
                    *dstack.SCALING_KEYS,
                ]
            )
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)
DSTACK_FIELDS = {
    "commands": st.lists(DSTACK_STRINGS | dstack_scalars, max_size=4),
    "env": st.lists(DSTACK_STRINGS, max_size=4)
    | st.dictionaries(DSTACK_STRINGS, dstack_scalars, max_size=3),
    "resources": st.dictionaries(
        st.sampled_from(["gpu", "cpu", "memory", "disk", "shm_size", "tpu"]),
        dstack_values,
        max_size=4,
    ),
    "entrypoint": DSTACK_STRINGS,
    "shell": DSTACK_STRINGS,
    "image": DSTACK_STRINGS,
    "name": DSTACK_STRINGS,
    "working_dir": DSTACK_STRINGS,
    "replicas": DSTACK_STRINGS | ints,
    "probes": st.lists(
        st.fixed_dictionaries(
            {"type": mostly(st.just("http"), dstack_scalars)},
            optional={
                "url": DSTACK_STRINGS | dstack_scalars,
                "method": DSTACK_STRINGS | dstack_scalars,
                "headers": st.lists(
                    st.dictionaries(st.sampled_from(["name", "value", "x"]), dstack_scalars),
                    max_size=2,
                )
                | dstack_scalars
                | dstack_values,
                "body": dstack_values,
                "timeout": dstack_values,
                "interval": dstack_values,
                "until_ready": dstack_values,
                "ready_after": dstack_values,
                "x": dstack_values,
            },
        )
        | dstack_values,
        max_size=3,
    ),
    "model": st.dictionaries(
        st.sampled_from(dstack.MODEL_KEYS), st.sampled_from(["openai", "tgi"]) | dstack_values
    ),
    "scaling": st.dictionaries(st.sampled_from(dstack.SCALING_KEYS), dstack_values),
    "volumes": st.lists(
        DSTACK_STRINGS
        | st.dictionaries(st.sampled_from(["name", "path", "instance_path"]), dstack_values),
        max_size=3,
    ),
    "registry_auth": st.dictionaries(
        st.sampled_from(["username", "password", "x"]), dstack_scalars
    ),
}
DSTACK_KEYS = [*dstack.ALL_KEYS, "ports", "unknown"]


@st.composite
def dstack_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A service that mostly converts, with a few fields of random (often wrong) values."""
    doc: dict[str, Any] = {
        "type": draw(mostly(st.just("service"), dstack_scalars)),
        "port": draw(mostly(st.sampled_from([8000, 80, "8000", "80:8000"]), dstack_scalars)),
    }
    if draw(st.booleans()):
        doc["image"] = "python:3.11"
    else:
        doc["commands"] = ["python -m http.server"]
    fields = st.sampled_from(sorted(DSTACK_FIELDS)) | st.sampled_from(DSTACK_KEYS)
    for key in draw(st.lists(fields, max_size=5, unique=True)):
        specific = DSTACK_FIELDS.get(key)
        doc[key] = draw(dstack_values if specific is None else mostly(specific, dstack_values))
    return doc


# Crashes of dstack/convert.py these properties found, now fixed; kept as explicit cases.
FORMER_DSTACK_CRASHES = [
    pytest.param(
        {"type": "service", "port": 8000, "image": "x", "probes": [{"type": "http", "headers": 5}]},
        id="probe-headers-not-a-list",
    ),
    pytest.param(
        {"type": "service", "port": 8000, "image": "x", "entrypoint": "sh -c 'echo"},
        id="entrypoint-unbalanced-quote",
    ),
]


def _convert(data: Any, environ: dict[str, str]) -> None:
    text = yaml.safe_dump(data)
    try:
        doc = parse_text("x.dstack.yml", text)
    except SourceError as err:
        _check_diagnostics([err.diagnostic])
        return
    result = dstack.convert_document(doc, environ=environ, env_overrides={"OVR": "1"})
    _check_report(result.report, text, result.job)
    assert (result.job is None) == (result.data is None)


ENVIRON = st.dictionaries(st.sampled_from(["X", "Y", "HUGGING_FACE_HUB_TOKEN", "K"]), strings)


@settings(max_examples=800, **SETTINGS)
@given(dstack_documents() | st.dictionaries(keys, json_values, max_size=6), ENVIRON)
def test_random_dstack_documents_never_raise(data: dict[str, Any], env: dict[str, str]) -> None:
    _convert(data, env)


@settings(max_examples=500, **SETTINGS)
@given(mutated(DSTACK_SEEDS, max_mutations=4, max_depth=10), ENVIRON)
def test_mutated_dstack_seeds_never_raise(data: Any, env: dict[str, str]) -> None:
    _convert(data, env)


@pytest.mark.parametrize("data", FORMER_DSTACK_CRASHES)
def test_former_dstack_crashes_are_errors_now(data: dict[str, Any]) -> None:
    doc = parse_text("x.dstack.yml", yaml.safe_dump(data))
    result = dstack.convert_document(doc, environ={})
    assert result.job is None
    assert result.report.errors


# --- 4. round trip -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [name for name, _ in VALID])
def test_valid_jobs_round_trip(name: str) -> None:
    job, _ = validate_data(dict(VALID)[name])
    assert job is not None
    _check_round_trip(job)
