"""Validation of job definitions, with messages a person can act on.

Three passes over the parsed document:

1. **Legacy fields** that the seeds use but the network rejects (``args.depends``,
   ``args.output``, ``args.required_vram``, port-range strings) are taken out and reported as
   errors (the network's validator rejects them) with a hint that says what to write instead.
2. **The schema** (:mod:`nosana_tui.jobformat.model`): pydantic errors are translated into messages
   that name the field path and say what to do.
3. **The plan**: op ids, dependencies, cycles, ports, volumes, literals, and a few lints of
   things the network accepts but that cannot work. An error the network's validator would not
   give carries ``own_rule``: why the job could not run all the same.

Nothing here raises for bad input: every problem becomes a :class:`Diagnostic`.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from nosana_tui.jobformat import literals as lit
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.diagnostics import Diagnostic, Path, Report, Severity
from nosana_tui.jobformat.graph import DependencyGraph, Node
from nosana_tui.jobformat.secrets import SECRET_KEYS, is_secret_env
from nosana_tui.jobformat.source import Document, SourceError, parse_text, read_file

# Values under these keys are never echoed back in a message.
_HIDDEN = SECRET_KEYS | {"authentication", "IAM"}

_PORT_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_TAGS = frozenset(
    {"string", "number", "array", "object", "spread", "bool", "remove", "http", "websocket"}
    | {"S3", "HF", "Ollama", m.OP_RUN, m.OP_CREATE_VOLUME}
)


# --- helpers -----------------------------------------------------------------------------------


def _describe(value: Any, path: Path) -> str:
    """A short, safe description of a value for a message."""
    secret_env = any(
        p == "env" and isinstance(name, str) and is_secret_env(name)
        for p, name in itertools.pairwise(path)
    )
    if secret_env or any(isinstance(p, str) and p in _HIDDEN for p in path):
        return "a value (hidden: it is a secret)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Path:
    """Drop pydantic's union tags from ``loc`` by walking the actual data."""
    out: list[str | int] = []
    cur: Any = data
    for part in loc:
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif part in _TAGS:
            continue  # no schema field has a tag's name, so this is a union member's tag
        else:
            out.append(part)
            cur = None
    return tuple(out)


def _get(data: Any, path: Path) -> Any:
    cur = data
    for part in path:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            return None
    return cur


def _model_at(path: Path, data: Any) -> type[BaseModel] | None:
    """Which schema object stands at ``path`` (for listing its allowed keys)."""
    n = len(path)
    if n == 0:
        return m.JobDefinition
    head = path[0]
    if head == "global" and n == 1:
        return m.Global
    if head == "ssh" and n == 1:
        return m.Ssh
    if head == "logistics":
        chain: list[type[BaseModel]] = [m.Logistics, m.Logistic, m.LogisticArgs]
        return chain[n - 1] if n <= len(chain) else None
    if head != "ops" or n < 2:
        return None
    op = _get(data, path[:2])
    op_type = op.get("type") if isinstance(op, dict) else None
    rest = path[2:]
    if not rest:
        return m.CreateVolumeOperation if op_type == m.OP_CREATE_VOLUME else m.RunOperation
    if rest == ("execution",):
        return m.Execution
    if rest[0] == "results" and len(rest) == 2:
        return m.ResultSpec
    if rest[0] != "args":
        return None
    if len(rest) == 1:
        return m.CreateVolumeArgs if op_type == m.OP_CREATE_VOLUME else m.ContainerRunArgs
    field, tail = rest[1], rest[2:]
    if field == "expose":
        if tail and tail[-1] == "health_checks":
            return None
        if len(tail) >= 2 and "health_checks" in tail:
            check = _get(data, path)
            kind = check.get("type") if isinstance(check, dict) else None
            return m.WebSocketHealthCheck if kind == "websocket" else m.HttpHealthCheck
        return m.ExposedPort
    if field == "volumes":
        return m.VolumeMount
    if field == "restart_policy":
        return m.RestartPolicyOnFailure
    if field == "authentication":
        return m.DockerAuth if "docker" in tail else m.Authentication
    if field == "resources" and len(tail) >= 1:
        if "buckets" in tail:
            return m.S3Bucket
        if "IAM" in tail:
            return m.S3Credentials
        res = _get(data, path[: 4 + 1])
        kind = res.get("type") if isinstance(res, dict) else None
        kinds: dict[str, type[BaseModel]] = {
            "S3": m.S3Resource,
            "HF": m.HFResource,
            "Ollama": m.OllamaResource,
        }
        if isinstance(res, dict) and "__spread__" in res:
            return m.SpreadMarker
        return kinds.get(str(kind))
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


# Names people reach for from Docker, Compose or dstack, and what this schema calls them.
_SYNONYMS = {
    "ports": "expose",
    "port": "expose",
    "command": "cmd",
    "commands": "cmd",
    "args": "cmd",
    "environment": "env",
    "workdir": "work_dir",
    "working_dir": "work_dir",
    "gpus": "gpu",
    "volume": "volumes",
    "restart": "restart_policy",
    "depends_on": "execution.depends_on",
    "group": "execution.group",
    "healthcheck": "health_checks",
    "health_check": "health_checks",
    "healthchecks": "health_checks",
}

_FORM_EXAMPLES = {
    "cmd": 'e.g. "cmd": "echo hello" or "cmd": ["echo", "hello"]',
    "entrypoint": 'e.g. "entrypoint": "/start.sh" or ["/bin/sh", "-c"]',
    "aliases": 'e.g. "aliases": "api" or ["api", "backend"]',
    "restart_policy": 'e.g. "restart_policy": "on-failure"',
}

_MISSING_HINTS = {
    "version": 'add "version": "0.1"',
    "type": 'add "type": "container" (for the job) or the operation type',
    "ops": 'add "ops": [...], the list of operations to run',
    "image": 'add the image to run, e.g. "image": "ubuntu:24.04"; every container/run op needs '
    "its own (global.image is only a fallback the network does not accept in place of it)",
    "continuous": 'add "continuous": true to keep checking while the op runs, or false to check '
    "only at start-up; the network requires it",
    "id": "give every operation a unique id without spaces",
    "args": "add the operation's args object",
}


def _translate(err: Any, data: Any) -> Diagnostic:
    """One pydantic error -> one diagnostic."""
    kind = err["type"]
    path = _clean_loc(tuple(err["loc"]), data)
    value = err.get("input")
    name = path[-1] if path else "document"
    what = _describe(value, path)
    if kind == "missing":
        return Diagnostic(
            "missing-field",
            f"required field {name!r} is missing",
            path,
            _MISSING_HINTS.get(str(name), f"add {name!r}"),
        )
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data)
        allowed = _field_names(model) if model else []
        close = difflib.get_close_matches(str(name), allowed, n=1)
        synonym = _SYNONYMS.get(str(name))
        if synonym and (synonym in allowed or "." in synonym):
            hint = f"did you mean {synonym!r}?"
        elif close:
            hint = f"did you mean {close[0]!r}?"
        elif allowed:
            hint = "remove it; allowed here: " + ", ".join(allowed)
        else:
            hint = "remove it"
        if path[:1] != ("meta",):
            hint += " (only meta takes keys of your own)"
        return Diagnostic("unknown-field", f"unknown field {name!r}", path, hint)
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        hint = f"use one of {expected}"
        if name == "version" and isinstance(value, int | float):
            hint = 'quote it: "0.1" (YAML and JSON read 0.1 without quotes as a number)'
        elif name == "method" and isinstance(value, str) and value.upper() != value:
            hint = f"write it in capitals: {value.upper()!r}"
        return Diagnostic("invalid-value", f"must be {expected}; got {what}", path, hint)
    if kind in ("wrong_form", "op_type"):
        message = err["msg"]
        hint = ""
        if kind == "op_type":
            hint = "set type to container/run (run a container) or container/create-volume"
            if isinstance(value, dict) and "type" in value:
                value = value["type"]
                what = _describe(value, path)
                path = (*path, "type")
        elif isinstance(value, bool):
            hint = "true/false is not allowed here"
        elif "expose" in path:
            hint = "a port is a number without quotes; a string must be a %%literal%%"
        else:
            hint = _FORM_EXAMPLES.get(str(name), "`nosana-tui schema` shows the accepted forms")
        return Diagnostic("wrong-type", f"{message}; got {what}", path, hint)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = err.get("ctx", {}).get("tag", "")
        expected = err.get("ctx", {}).get("expected_tags", "")
        if kind == "union_tag_not_found":
            return Diagnostic(
                "missing-field",
                "required field 'type' is missing",
                (*path, "type"),
                f"add type: one of {expected}",
            )
        hint = (
            "the network knows only http and websocket health checks"
            if ("health_checks" in path)
            else ""
        )
        return Diagnostic(
            "invalid-value",
            f"type must be one of {expected}; got {tag!r}",
            (*path, "type"),
            hint or f"use one of {expected}",
        )
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if name == "timeout":
            return Diagnostic(
                "invalid-value",
                f"timeout must be a number of seconds greater than 0; got {what}",
                path,
                "leave it out for no time limit",
                own_rule="an op with no time at all could never run",
            )
        if name != "expected_status" and (name == "port" or "expose" in path):
            return Diagnostic(
                "port-range",
                f"a port must be between 1 and 65535; got {what}",
                path,
                "use the port the program listens on inside the container",
            )
        if name == "expected_status":
            return Diagnostic(
                "invalid-value",
                f"expected_status must be an HTTP status code (100-599); got {what}",
                path,
                "use the status a healthy server answers with, usually 200",
                own_rule="no server answers with another status, so the check could never pass "
                "and the ops that wait on it would never start",
            )
        return Diagnostic(
            "invalid-value",
            f"{err['msg'].lower()}; got {what}",
            path,
            "",
            own_rule="the container engine refuses a negative count"
            if name == "restart_tries"
            else "",
        )
    type_words = {
        "string_type": "a string",
        "bool_type": "true or false",
        "int_type": "a whole number",
        "float_type": "a number",
        "list_type": "an array",
        "dict_type": "an object",
        "model_type": "an object",
        "model_attributes_type": "an object",
    }
    if kind in type_words:
        hint = ""
        if kind == "string_type" and "env" in path:
            hint = "environment values are strings: put the value in quotes"
        elif kind == "string_type":
            hint = "put the value in quotes"
        elif kind == "bool_type":
            hint = "write true or false without quotes"
        elif kind in ("int_type", "float_type"):
            hint = "write the number without quotes"
        return Diagnostic("wrong-type", f"expected {type_words[kind]}, got {what}", path, hint)
    if kind == "string_pattern_mismatch":
        return Diagnostic(
            "wrong-type",
            f"a string here must be a literal such as %%ops.<id>.results.<key>%%; got {what}",
            path,
            "write a port as a number without quotes",
        )
    if kind == "null_value":
        return Diagnostic(
            "null-value",
            f"{name!r} is null; an optional field may be left out, but not set to null",
            path,
            f"delete {name!r} to use the default, or give it a value (the network rejects null)",
        )
    if kind == "meta_key":
        key = err.get("ctx", {}).get("key", "")
        return Diagnostic(
            "wrong-type",
            f"{err['msg']}; got {_describe(_get(data, (*path, key)), (*path, key))}",
            (*path, key),
            "put the value in quotes" if key == "trigger" else "use strings and numbers",
        )
    if kind == "serves_nobody":
        return Diagnostic(
            "invalid-value",
            str(err["msg"]),
            (*path, "stop_if_dependent_stops"),
            "list in depends_on the ops this op serves (it stops when they finish), or delete "
            "stop_if_dependent_stops",
        )
    if kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
        own = ""
        if "needs url, bucket or buckets" in message:
            own = "the resource manager would have nothing to fetch, and the op fails with "
            own += "'Missing required resource'"
        return Diagnostic("invalid-value", message, path, "", own_rule=own)
    if kind in ("too_short", "too_long"):
        return Diagnostic("invalid-value", str(err["msg"]), path, "")
    return Diagnostic("invalid-value", f"{err['msg']}; got {what}", path, "")


# --- pass 1: legacy fields -------------------------------------------------------------------


def _ops(data: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    ops = data.get("ops") if isinstance(data, dict) else None
    if not isinstance(ops, list):
        return
    for i, op in enumerate(ops):
        if isinstance(op, dict):
            yield i, op


def _args(op: dict[str, Any]) -> dict[str, Any]:
    args = op.get("args")
    return args if isinstance(args, dict) else {}


def _legacy_depends(data: dict[str, Any], op: dict[str, Any], deps: Any, path: Path) -> Diagnostic:
    """``args.depends``: say where the intent belongs, given the groups the ops are in."""
    names = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
    groups = {o.get("id"): _group(o) for _, o in _ops(data) if isinstance(o.get("id"), str)}
    mine = _group(op)
    order = list(dict.fromkeys(_group(o) for _, o in _ops(data)))
    earlier = [
        d
        for d in names
        if d in groups
        and groups[d] != mine
        and groups[d] in order
        and order.index(groups[d]) < order.index(mine)
    ]
    if names and len(earlier) == len(names):
        hint = (
            f"delete it: {', '.join(map(repr, names))} run in an earlier group, and groups "
            "already run one after another"
        )
    else:
        hint = (
            f"move it to execution.depends_on: {names!r} (the ops must share an "
            "execution.group), or put the ops in successive groups"
        )
    return Diagnostic(
        "legacy-args-depends",
        "args.depends is not part of the job schema: the network rejects it and nothing waits on it",
        path,
        hint,
    )


def _strip_legacy(data: dict[str, Any]) -> tuple[dict[str, Any], list[Diagnostic]]:
    """A copy of ``data`` without the legacy fields, and a warning for each one removed."""
    # Copy only what is changed below (the ops and their args): a deep copy of a deeply nested
    # document (say meta: [[[...]]] from JSON) would overflow the stack.
    clean = dict(data)
    if isinstance(clean.get("ops"), list):
        clean["ops"] = [
            {**op, "args": dict(op["args"])}
            if isinstance(op, dict) and isinstance(op.get("args"), dict)
            else op
            for op in clean["ops"]
        ]
    found: list[Diagnostic] = []
    for i, op in _ops(clean):
        args = _args(op)
        base: Path = ("ops", i, "args")
        if "depends" in args:
            deps = args.pop("depends")
            found.append(_legacy_depends(clean, op, deps, (*base, "depends")))
        if "output" in args:
            args.pop("output")
            found.append(
                Diagnostic(
                    "legacy-args-output",
                    "args.output was removed from the job schema (it was never used)",
                    (*base, "output"),
                    "delete it; use results to extract values from the logs",
                )
            )
        if "required_vram" in args:
            args.pop("required_vram")
            found.append(
                Diagnostic(
                    "legacy-args-required-vram",
                    "args.required_vram was removed from the job schema",
                    (*base, "required_vram"),
                    "state the need in meta.system_requirements.required_vram (GB) or "
                    "vram_total_mb (MB)",
                )
            )
        expose = args.get("expose")
        entries = expose if isinstance(expose, list) else [expose]
        kept: list[Any] = []
        for j, entry in enumerate(entries):
            port = entry.get("port") if isinstance(entry, dict) else entry
            if isinstance(port, str) and _PORT_RANGE.match(port):
                where: Path = (
                    (*base, "expose", j)
                    if isinstance(expose, list)
                    else (
                        *base,
                        "expose",
                    )
                )
                found.append(
                    Diagnostic(
                        "legacy-port-range",
                        f"port range {port!r} is not in the current schema (ports are numbers)",
                        where,
                        "expose each port as a number",
                    )
                )
                continue
            kept.append(entry)
        if isinstance(expose, list):
            args["expose"] = kept
        elif expose is not None and not kept:
            args.pop("expose")
    return clean, found


# --- pass 3: the plan --------------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # in a name that goes into URLs and on screen


def _group(op: dict[str, Any]) -> Any:
    execution = op.get("execution")
    if isinstance(execution, dict) and isinstance(execution.get("group"), str):
        return execution["group"]
    # An id that is not a string (a list, an object) is an error of its own; it names no group.
    return op.get("id") if isinstance(op.get("id"), str) else None


def _depends(op: dict[str, Any]) -> list[Any]:
    execution = op.get("execution")
    deps = execution.get("depends_on") if isinstance(execution, dict) else None
    return deps if isinstance(deps, list) else []


def _ports(args: dict[str, Any]) -> Iterator[tuple[Path, int]]:
    expose = args.get("expose")
    if isinstance(expose, list):
        for j, entry in enumerate(expose):
            port = entry.get("port") if isinstance(entry, dict) else entry
            if isinstance(port, int) and not isinstance(port, bool):
                yield (("expose", j, "port") if isinstance(entry, dict) else ("expose", j)), port
    elif isinstance(expose, dict) and isinstance(expose.get("port"), int):
        yield ("expose", "port"), expose["port"]
    elif isinstance(expose, int) and not isinstance(expose, bool):
        yield ("expose",), expose


def _check_plan(data: dict[str, Any]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    ops = list(_ops(data))
    ids: dict[str, int] = {}
    for i, op in ops:
        execution = op.get("execution")
        group = execution.get("group") if isinstance(execution, dict) else None
        if isinstance(group, str) and _CONTROL.search(group):
            out.append(
                Diagnostic(
                    "group-control",
                    f"group {group!r} contains a control character",
                    ("ops", i, "execution", "group"),
                    "use letters, digits, dashes and underscores: the group appears in URLs and "
                    "on screen",
                )
            )
        op_id = op.get("id")
        if not isinstance(op_id, str):
            continue
        path: Path = ("ops", i, "id")
        if op_id in ids:
            out.append(
                Diagnostic(
                    "duplicate-op-id",
                    f"op id {op_id!r} is already used by ops[{ids[op_id]}]",
                    path,
                    "every op needs a unique id (ops[*].id must be unique)",
                )
            )
            continue
        ids[op_id] = i
        if not op_id.strip():
            out.append(Diagnostic("op-id-empty", "op id is empty", path, "give the op a name"))
        elif _CONTROL.search(op_id):
            out.append(
                Diagnostic(
                    "op-id-control",
                    f"op id {op_id!r} contains a control character",
                    path,
                    "use letters, digits, dashes and underscores: the id names the container "
                    "and appears in URLs and on screen",
                )
            )
        elif re.search(r"\s", op_id):
            dashed = re.sub(r"\s+", "-", op_id.strip())
            out.append(
                Diagnostic(
                    "op-id-space",
                    f"op id {op_id!r} contains white space",
                    path,
                    f"use dashes instead: {dashed!r}",
                )
            )
        elif "." in op_id:
            out.append(
                Diagnostic(
                    "op-id-dot",
                    f"op id {op_id!r} contains a dot, which makes %%ops.<id>...%% literals "
                    "ambiguous",
                    path,
                    "use dashes instead of dots",
                    Severity.WARNING,
                )
            )
    groups = {op.get("id"): _group(op) for _, op in ops if isinstance(op.get("id"), str)}

    for i, op in ops:
        op_id = op.get("id")
        deps = _depends(op)
        seen: set[str] = set()
        for j, dep in enumerate(deps):
            path = ("ops", i, "execution", "depends_on", j)
            if not isinstance(dep, str):
                continue
            if dep in seen:
                out.append(
                    Diagnostic(
                        "duplicate-dependency",
                        f"{dep!r} is listed twice",
                        path,
                        "list each dependency once",
                        Severity.WARNING,
                    )
                )
                continue
            seen.add(dep)
            if dep == op_id:
                out.append(
                    Diagnostic(
                        "self-dependency",
                        f"op {op_id!r} depends on itself",
                        path,
                        "remove it: an op cannot wait for itself",
                    )
                )
            elif dep not in groups:
                close = difflib.get_close_matches(dep, [str(k) for k in groups], n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else ("name the id of an op of this job; ids: " + ", ".join(map(str, groups)))
                )
                out.append(
                    Diagnostic("unknown-dependency", f"no op has the id {dep!r}", path, hint)
                )
            elif groups[dep] != _group(op):
                out.append(
                    Diagnostic(
                        "cross-group-dependency",
                        f"{dep!r} runs in group {groups[dep]!r} but this op runs in group "
                        f"{_group(op)!r}; depends_on may only name ops of the same group",
                        path,
                        "groups run one after another, so an op of an earlier group is already "
                        "done or ready: drop the dependency, or put both ops in one group",
                    )
                )
        execution = op.get("execution")
        if isinstance(execution, dict) and execution.get("stop_if_dependent_stops") and not deps:
            out.append(
                Diagnostic(
                    "stop-if-dependent-without-deps",
                    "stop_if_dependent_stops has no effect without depends_on",
                    ("ops", i, "execution", "stop_if_dependent_stops"),
                    "list in depends_on the ops this op serves; it stops when they finish",
                    Severity.WARNING,
                )
            )

    out.extend(_check_cycles(ops))

    volume_ops = {
        _args(op).get("name"): op.get("id")
        for _, op in ops
        if op.get("type") == m.OP_CREATE_VOLUME and isinstance(_args(op).get("name"), str)
    }
    for i, op in ops:
        args = _args(op)
        ports: dict[int, Path] = {}
        for rel, port in _ports(args):
            path = ("ops", i, "args", *rel)
            if port in ports:
                out.append(
                    Diagnostic(
                        "duplicate-port",
                        f"port {port} is exposed twice by this op",
                        path,
                        "expose each port once; put all its health checks in one entry",
                    )
                )
            ports[port] = path
        volumes = args.get("volumes")
        if isinstance(volumes, list):
            for j, vol in enumerate(volumes):
                name = vol.get("name") if isinstance(vol, dict) else None
                if isinstance(name, str) and name not in volume_ops:
                    hint = (
                        'add an op {"type": "container/create-volume", "id": ..., '
                        f'"args": {{"name": {name!r}}}}} in this or an earlier group'
                    )
                    if volume_ops:
                        hint = "volumes made by this job: " + ", ".join(map(str, volume_ops))
                    out.append(
                        Diagnostic(
                            "unknown-volume",
                            f"no container/create-volume op makes a volume named {name!r}",
                            ("ops", i, "args", "volumes", j, "name"),
                            hint,
                        )
                    )
        cmd = args.get("cmd")
        if isinstance(cmd, list) and cmd and isinstance(cmd[0], str) and " " in cmd[0].strip():
            out.append(
                Diagnostic(
                    "cmd-array-spaces",
                    f"cmd[0] is {cmd[0]!r}: in an array every element is one argument, so "
                    "Docker looks for a program with that whole name",
                    ("ops", i, "args", "cmd", 0),
                    "write cmd as one string (it runs under /bin/sh -c) or split it: "
                    '["sh", "-c", "..."]',
                    Severity.WARNING,
                )
            )
        if isinstance(args.get("authentication"), dict) and not isinstance(
            data.get("logistics"), dict
        ):
            out.append(
                Diagnostic(
                    "public-credentials",
                    "registry credentials in a job definition are public: the network pins "
                    "definitions to IPFS",
                    ("ops", i, "args", "authentication"),
                    "use a confidential job (logistics) for private images",
                    Severity.WARNING,
                )
            )

        resources = args.get("resources")
        for j, resource in enumerate(resources if isinstance(resources, list) else []):
            target = resource.get("target") if isinstance(resource, dict) else None
            if (
                isinstance(target, str)
                and "%%" not in target  # a literal: the engine checks what it becomes
                and (not target.startswith("/") or not target.strip("/"))
            ):
                out.append(
                    Diagnostic(
                        "resource-target",
                        f"resource target {target!r} is not a folder a volume can be mounted at",
                        ("ops", i, "args", "resources", j, "target"),
                        "give an absolute path other than /, e.g. /models",
                        own_rule="the container engine refuses the mount, after the whole download",
                    )
                )

    if isinstance(data.get("ops"), list) and not data["ops"] and "logistics" not in data:
        out.append(
            Diagnostic(
                "no-ops",
                "the job has no operations, so nothing will run",
                ("ops",),
                "add at least one container/run op (an empty list is only for confidential "
                "jobs that send their definition later)",
                Severity.WARNING,
            )
        )
    out.extend(_check_meta(data))
    out.extend(_check_literals(data, ops, groups))
    return out


def _graph(ops: list[tuple[int, dict[str, Any]]]) -> DependencyGraph:
    """The dependency graph of the ops that have a string id (the first of a duplicated one)."""
    nodes = []
    for _, op in ops:
        op_id = op.get("id")
        if isinstance(op_id, str):
            execution = op.get("execution")
            serves = isinstance(execution, dict) and execution.get("stop_if_dependent_stops")
            deps = tuple(d for d in _depends(op) if isinstance(d, str))
            nodes.append(Node(op_id, str(_group(op)), deps, serves is True))
    return DependencyGraph(nodes)


def _check_cycles(ops: list[tuple[int, dict[str, Any]]]) -> list[Diagnostic]:
    index: dict[str, int] = {}
    for i, op in ops:
        if isinstance(op.get("id"), str):
            index.setdefault(op["id"], i)
    return [
        Diagnostic(
            "dependency-cycle",
            "dependency cycle: " + " -> ".join(cycle),
            ("ops", index[cycle[0]], "execution", "depends_on"),
            "no op of a cycle could ever start: remove one of these dependencies",
        )
        for cycle in _graph(ops).cycles()
    ]


def _meta_misfit(value: Any, path: Path) -> tuple[Path, Any] | None:
    """The first place under a meta value that the network's ``Meta`` type does not allow: a
    string, a number, an array of those, or an object of those and arrays of those."""
    if m.is_meta_scalar(value):
        return None
    if isinstance(value, list):
        items: list[tuple[Path, Any]] = [((*path, j), v) for j, v in enumerate(value)]
        return next(((p, v) for p, v in items if not m.is_meta_scalar(v)), None)
    if not isinstance(value, dict):
        return path, value
    for key, child in value.items():
        here: Path = (*path, str(key))
        if isinstance(child, list):
            for j, item in enumerate(child):
                if not m.is_meta_scalar(item):
                    return (*here, j), item
        elif not m.is_meta_scalar(child):
            return here, child
    return None


def _check_meta_shape(meta: dict[str, Any]) -> list[Diagnostic]:
    out = []
    for key, value in meta.items():
        if key in ("trigger", "system_resources") or value is None:
            continue  # the schema pass reports these
        misfit = _meta_misfit(value, ("meta", str(key)))
        if misfit is not None:
            path, bad = misfit
            out.append(
                Diagnostic(
                    "meta-shape",
                    "the network's validator rejects this meta value: meta takes strings, "
                    "numbers, arrays of those, and objects of those (one level deep); got "
                    + _describe(bad, path),
                    path,
                    'flatten it (e.g. "gpu_count_min": 1 instead of "gpu": {"count": '
                    '{"min": 1}}) or write it as a string; if an older nosana-tui converted it '
                    "from a dstack service, convert it again",
                )
            )
    return out


def _check_meta(data: dict[str, Any]) -> list[Diagnostic]:
    meta = data.get("meta")
    out = _check_meta_shape(meta) if isinstance(meta, dict) else []
    req = meta.get("system_requirements") if isinstance(meta, dict) else None
    if not isinstance(req, dict):
        return out
    for key, unit in (("required_vram", "GB"), ("vram_total_mb", "MB")):
        value = req.get(key)
        if key in req and (not isinstance(value, int | float) or isinstance(value, bool)):
            out.append(
                Diagnostic(
                    "system-requirements-type",
                    f"{key} must be a number of {unit}; got {_describe(value, ())}",
                    ("meta", "system_requirements", key),
                    "write the number without quotes, or the requirement is ignored",
                    Severity.WARNING,
                )
            )
    return out


def _check_env(data: dict[str, Any]) -> list[Diagnostic]:
    """Env names the engine would refuse. Its refusal quotes ``NAME=VALUE`` (``invalid
    environment variable: =hf_...``), which would put the value in the job's log and message."""
    places: list[tuple[Path, Any]] = [
        (("ops", i, "args", "env"), _args(op).get("env")) for i, op in _ops(data)
    ]
    glob = data.get("global")
    if isinstance(glob, dict):
        places.append((("global", "env"), glob.get("env")))
    out = []
    for path, env in places:
        if not isinstance(env, dict):
            continue
        for name, value in env.items():
            if not isinstance(name, str):
                continue
            if not name or "=" in name or "\x00" in name:
                why = "is empty" if not name else "holds '=' or a NUL character"
                hint = "write NAME: value, with a name of letters, digits and underscores"
                out.append(Diagnostic("env-name", f"an env name {why}", (*path, name), hint))
            elif isinstance(value, str) and "\x00" in value:
                out.append(
                    Diagnostic("env-value", "an env value holds a NUL character", (*path, name), "")
                )
    return out


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string under ``value``, depth first; without recursion (documents may be deep)."""
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        here, value = stack.pop()
        if isinstance(value, str):
            yield here, value
        elif isinstance(value, dict):
            # YAML keys may be numbers, dates or null; a path holds strings and indexes only.
            items = [(k if isinstance(k, str | int) else str(k), v) for k, v in value.items()]
            stack.extend(((*here, k), v) for k, v in reversed(items))
        elif isinstance(value, list):
            stack.extend(((*here, j), v) for j, v in reversed(list(enumerate(value))))


def _check_literals(
    data: dict[str, Any], ops: list[tuple[int, dict[str, Any]]], groups: dict[Any, Any]
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    variables = _get(data, ("global", "variables"))
    variables = variables if isinstance(variables, dict) else {}
    stage_index: dict[Any, int] = {stage.name: stage.index for stage in _graph(ops).stages}
    by_id: dict[Any, dict[str, Any]] = {}
    for _, op in ops:
        if isinstance(op.get("id"), str):
            by_id.setdefault(op["id"], op)
    for i, op in ops:
        for path, text in _strings(op.get("args"), ("ops", i, "args")):
            for found in lit.literals(text):
                out.extend(_check_literal(found.body, path, op, by_id, variables, stage_index))
    return out


def _check_literal(
    body: str,
    path: Path,
    op: dict[str, Any],
    by_id: dict[Any, dict[str, Any]],
    variables: dict[str, Any],
    stage_index: dict[Any, int],
) -> list[Diagnostic]:
    literal = f"%%{body}%%"
    try:
        ref = lit.parse_reference(body)
    except lit.NotALiteral:
        return [_unknown_literal(literal, path)]
    if ref.kind is lit.Kind.GLOBAL:
        return []
    if ref.kind is lit.Kind.VARIABLE:
        if ref.name in variables:
            return []
        return [
            Diagnostic(
                "literal-unknown-variable",
                f"{literal} names a variable that global.variables does not define",
                path,
                f"add {ref.name!r} to global.variables, or fix the name; an unresolved "
                "literal fails the op before it starts",
            )
        ]
    producer_id = ref.name
    producer = by_id.get(producer_id)
    if producer is None:
        close = difflib.get_close_matches(producer_id, [str(k) for k in by_id], n=1)
        return [
            Diagnostic(
                "literal-unknown-op",
                f"{literal} names op {producer_id!r}, which this job does not have",
                path,
                (f"did you mean {close[0]!r}? " if close else "")
                + "an unresolved literal fails the op before it starts",
            )
        ]
    if ref.kind is lit.Kind.RESULT:
        results = producer.get("results")
        if not isinstance(results, dict) or ref.key not in results:
            return [
                Diagnostic(
                    "literal-unknown-result",
                    f"{literal}: op {producer_id!r} declares no result {ref.key!r}",
                    path,
                    f"add {ref.key!r} to ops[{producer_id}].results, or fix the key",
                )
            ]
    elif ref.kind in (lit.Kind.ENDPOINT, lit.Kind.DEPLOYMENT_ENDPOINT) and ref.key is not None:
        ports = {p for _, p in _ports(_args(producer))}
        expose = _args(producer).get("expose")
        entries = expose if isinstance(expose, list) else [expose]
        dynamic = any(
            isinstance(e, str) or (isinstance(e, dict) and "__spread__" in e) for e in entries
        )
        if not dynamic and (ref.port is None or ref.port not in ports):
            return [
                Diagnostic(
                    "literal-unknown-port",
                    f"{literal}: op {producer_id!r} does not expose port {ref.key}",
                    path,
                    "exposed ports: " + (", ".join(map(str, sorted(ports))) or "none"),
                )
            ]
    what = "results" if ref.kind is lit.Kind.RESULT else ref.kind.value
    return _check_order(literal, path, op, producer, what, stage_index)


def _unknown_literal(literal: str, path: Path) -> Diagnostic:
    return Diagnostic(
        "literal-unknown",
        f"{literal} is not a literal the node knows",
        path,
        "use %%ops.<id>.host%%, %%ops.<id>.results.<key>%%, %%ops.<id>.endpoint.<port>%%, "
        "%%global.job%%, %%global.host%% or %%global.variables.<name>%%",
    )


def _check_order(
    literal: str,
    path: Path,
    op: dict[str, Any],
    producer: dict[str, Any],
    what: str,
    stage_index: dict[Any, int],
) -> list[Diagnostic]:
    mine, theirs = stage_index.get(_group(op)), stage_index.get(_group(producer))
    if mine is None or theirs is None or theirs < mine or (producer is op and what == "host"):
        return []
    if theirs > mine:
        return [
            Diagnostic(
                "literal-order",
                f"{literal} refers to op {producer.get('id')!r}, which runs in a later group, "
                "so the literal cannot be resolved when this op starts",
                path,
                "move the producer to an earlier group",
            )
        ]
    if what == "results":
        return [
            Diagnostic(
                "literal-order",
                f"{literal}: results exist only once op {producer.get('id')!r} has finished, "
                "and it runs in this op's own group",
                path,
                "move the producer to an earlier group",
                Severity.WARNING,
            )
        ]
    if producer.get("id") not in _depends(op):
        return [
            Diagnostic(
                "literal-order",
                f"{literal} refers to op {producer.get('id')!r} of the same group, which this op "
                "does not wait for",
                path,
                f"add {producer.get('id')!r} to execution.depends_on",
                Severity.WARNING,
            )
        ]
    return []


# --- entry points ------------------------------------------------------------------------------


def _locate(doc: Document, diags: list[Diagnostic]) -> list[Diagnostic]:
    located = [
        doc.locate(
            d, key=d.code in ("unknown-field", "duplicate-key") or d.code.startswith("legacy")
        )
        for d in diags
    ]
    # Errors first is what a compiler does; here we keep source order, which reads better.
    return sorted(located, key=lambda d: (d.line or 0, d.column or 0))


# Errors of ours that the network's validator (``validateJobDefinition``) does not give, and why
# the job could not run all the same. tests/conformance checks, over thousands of jobs, that every
# error the network's validator would not give says so.
_NODE_PLAN = (
    "the node checks this when it builds the execution plan, after validation, and the job "
    "ends in 'init error' without running"
)
_UNRESOLVED = "the node fails the op before its container starts: the literal cannot be resolved"
_OWN_RULES = {
    "self-dependency": _NODE_PLAN,
    "unknown-dependency": _NODE_PLAN,
    "cross-group-dependency": _NODE_PLAN,
    "dependency-cycle": "no op of the cycle could ever start, so they would wait until the "
    "job times out",
    "literal-unknown": _UNRESOLVED,
    "literal-unknown-op": _UNRESOLVED,
    "literal-unknown-port": _UNRESOLVED,
    "literal-unknown-result": _UNRESOLVED,
    "literal-unknown-variable": _UNRESOLVED,
    "literal-order": _UNRESOLVED,
    "unknown-volume": "the node mounts the volume that a container/create-volume op of this "
    "job makes; with none, the op gets no shared volume",
    "op-id-empty": "the id names the op's container and its %%ops.<id>%% literals",
    "op-id-control": "the id names the op's container, which Docker and podman refuse",
    "group-control": "the group is part of the Node API's URLs and is shown on screen",
    "env-name": "the container engine refuses such a name when it creates the container",
    "env-value": "the container engine refuses a NUL character when it creates the container",
    "port-range": "no port outside 1-65535 exists, so nothing could listen on it",
}


# The network's validator takes args of either op type for either type; the node acts on the type.
_ARGS_OF_OTHER_TYPE: dict[str, tuple[type[BaseModel], str]] = {
    m.OP_RUN: (
        m.CreateVolumeArgs,
        "these are container/create-volume args, and a container/run op needs an image: the "
        "node would have nothing to pull and run",
    ),
    m.OP_CREATE_VOLUME: (
        m.ContainerRunArgs,
        "these are container/run args, and a container/create-volume op needs args.name: the "
        "node would have no volume to make",
    ),
}


def _args_of_other_type(data: dict[str, Any]) -> dict[int, str]:
    """Ops whose args fit the other op type, and why they could not run all the same."""
    out: dict[int, str] = {}
    for i, op in _ops(data):
        kind = op.get("type")
        other = _ARGS_OF_OTHER_TYPE.get(kind) if isinstance(kind, str) else None
        if other is None or not isinstance(op.get("args"), dict):
            continue
        try:
            other[0].model_validate(op["args"])
        except ValidationError:
            continue
        out[i] = other[1]
    return out


def _mark_own(diag: Diagnostic, mismatched: dict[int, str]) -> Diagnostic:
    why = _OWN_RULES.get(diag.code)
    path = diag.path
    if len(path) > 2 and path[0] == "ops" and path[2] == "args" and isinstance(path[1], int):
        why = mismatched.get(path[1], why)
    if diag.severity is not Severity.ERROR or diag.own_rule or why is None:
        return diag
    return dataclasses.replace(diag, own_rule=why)


def validate_data(data: Any) -> tuple[m.JobDefinition | None, list[Diagnostic]]:
    """Validate parsed data. Never raises for any JSON-like input."""
    if not isinstance(data, dict):
        return None, [
            Diagnostic(
                "not-an-object",
                f"the top level is {_describe(data, ())}, not an object",
                (),
                'a job definition is an object: {"version": "0.1", "type": "container", '
                '"ops": [...]}',
            )
        ]
    clean, diags = _strip_legacy(data)
    job: m.JobDefinition | None = None
    try:
        job = m.JobDefinition.model_validate(clean)
    except ValidationError as err:
        diags.extend(_translate(e, clean) for e in err.errors())
    diags.extend(_check_plan(clean))
    diags.extend(_check_env(clean))
    mismatched = _args_of_other_type(clean)
    diags = [_mark_own(d, mismatched) for d in diags]
    if any(d.severity is Severity.ERROR for d in diags):
        job = None
    return job, diags


def validate_document(doc: Document) -> tuple[m.JobDefinition | None, Report]:
    job, diags = validate_data(doc.data)
    return job, Report(doc.file, list(doc.diagnostics) + _locate(doc, diags))


def validate_text(
    text: str, file: str = "<input>", *, fmt: str | None = None, strict: bool = False
) -> tuple[m.JobDefinition | None, Report]:
    try:
        doc = parse_text(file, text, fmt=fmt)
    except SourceError as err:
        return None, Report(file, [err.diagnostic])
    job, report = validate_document(doc)
    return _finish(job, report, strict)


def validate_file(
    path: str | FsPath, *, strict: bool = False
) -> tuple[m.JobDefinition | None, Report]:
    try:
        doc = read_file(path)
    except SourceError as err:
        return None, Report(str(path), [err.diagnostic])
    job, report = validate_document(doc)
    return _finish(job, report, strict)


def _finish(
    job: m.JobDefinition | None, report: Report, strict: bool
) -> tuple[m.JobDefinition | None, Report]:
    if strict:
        report = report.strict()
    return (job if report.ok else None), report
