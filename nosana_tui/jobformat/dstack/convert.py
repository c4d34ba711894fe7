"""dstack ``type: service`` files -> Nosana job definitions.

What maps, and how (dstack's behaviour from ../shared/reference/dstack.md):

- ``image``, or for ``python`` dstack's base image (``devel`` flavour with ``nvcc``);
- ``commands`` joined with `` && `` (a command ending in ``&`` wrapped in ``{ ... }``) and run as
  ``<shell> -i -c`` (bash) or ``<shell> -c`` (sh); with ``entrypoint`` the process is
  ``shlex.split(entrypoint) + commands``, as in Docker;
- ``working_dir`` -> ``work_dir``; ``env`` (list or dict; a bare ``KEY`` from the environment or
  ``-e``); ``registry_auth`` -> ``authentication.docker``;
- ``port`` -> ``expose`` with ``probes`` (or, with ``model`` and no probes, dstack's default
  chat-completions probe) as HTTP health checks;
- network ``volumes`` -> ``container/create-volume`` ops mounted at their path;
- ``resources`` -> ``meta.system_requirements`` (below) and ``gpu: true`` when a GPU is
  required.

What a Nosana node cannot honour (replicas, scaling, gateways, cloud placement) is kept under
``meta.dstack`` and reported as a warning, so nothing the user wrote is silently lost.

Both are flat, because the network's validator takes a ``meta`` value only as a string, a number,
an array of those, or an object of those one level deep (no nulls): a deeper meta is a job the
network rejects (``meta-shape`` in ``jobformat/validate.py``). ``meta.system_requirements`` holds
(sizes in GB as dstack reads them, ``MB`` / 1024; a range's open end is left out, as is anything
the spec does not say):

- ``required_vram`` (GB, per GPU; the key the dashboard reads) and ``vram_total_mb`` (the same in
  MB; the key the templates use since 2026), only when a GPU is required and its memory has a
  lower bound;
- ``gpu_vendor`` (as dstack infers it), ``gpu_names`` (an array, any of them),
  ``gpu_count_min``/``_max``, ``gpu_memory_gb_min``/``_max`` (per GPU),
  ``gpu_total_memory_gb_min``/``_max`` (over the GPUs taken), ``gpu_compute_capability``
  (``"8.0"``, a minimum); none of them when the spec asks for no GPU (``gpu: 0``);
- ``cpu_arch``, ``cpu_count_min``/``_max``, ``memory_gb_min``/``_max``, ``disk_gb_min``/``_max``,
  ``shm_size_gb``.

``engine/admission.py`` reads the GPU keys. ``meta.dstack`` keeps the dstack fields with dotted
keys (``"model.name"``, ``"scaling.target"``), nulls dropped, and any value that does not flatten
(a boolean, a list of objects) as its JSON text (``"auth": "false"``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.diagnostics import Diagnostic, Path, Report, Severity
from nosana_tui.jobformat.dstack import grammar as g
from nosana_tui.jobformat.source import Document, SourceError, read_file
from nosana_tui.jobformat.validate import validate_data

# dstack's default image: dstackai/base:<version>-{base|devel}-ubuntu<ubuntu version>; dstack
# pins the version per release; ours is the one current when this was written.
DSTACK_BASE_IMAGE = "dstackai/base"
DSTACK_BASE_IMAGE_VERSION = "0.10"
DSTACK_BASE_IMAGE_UBUNTU = "22.04"
DSTACK_DIND_IMAGE = "dstackai/dind"
PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")

BASE_KEYS = [
    "type",
    "name",
    "image",
    "user",
    "privileged",
    "entrypoint",
    "working_dir",
    "home_dir",
    "registry_auth",
    "python",
    "nvcc",
    "single_branch",
    "env",
    "shell",
    "resources",
    "priority",
    "volumes",
    "docker",
    "repos",
    "files",
    "dstack",
    "setup",
    "commands",
]
SERVICE_KEYS = [
    "port",
    "gateway",
    "strip_prefix",
    "model",
    "https",
    "auth",
    "replicas",
    "scaling",
    "rate_limits",
    "probes",
    "groups",
]
PROFILE_KEYS = [
    "backends",
    "regions",
    "availability_zones",
    "instance_types",
    "reservation",
    "spot_policy",
    "retry",
    "max_duration",
    "stop_duration",
    "max_price",
    "creation_policy",
    "idle_duration",
    "utilization_policy",
    "startup_order",
    "stop_criteria",
    "schedule",
    "fleets",
    "instances",
    "tags",
    "backend_options",
]
ALL_KEYS = (*BASE_KEYS, *SERVICE_KEYS, *PROFILE_KEYS)
# Kept under meta.dstack: they steer dstack's gateway, cloud placement or repo upload, none of
# which a Nosana node has.
KEPT_KEYS = (
    "gateway",
    "strip_prefix",
    "https",
    "auth",
    "rate_limits",
    "home_dir",
    "single_branch",
    "repos",
    "files",
    "dstack",
    "setup",
    "priority",
    *PROFILE_KEYS,
)
PROBE_KEYS = (
    "type",
    "url",
    "method",
    "headers",
    "body",
    "timeout",
    "interval",
    "ready_after",
    "until_ready",
)
MODEL_KEYS = ("type", "name", "format", "prefix", "chat_template", "eos_token")
SCALING_KEYS = ("metric", "target", "window", "scale_up_delay", "scale_down_delay")
_ENV_REF = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class ConvertResult:
    """The job (model and plain data) and every diagnostic; ``job`` is None on errors."""

    job: m.JobDefinition | None
    data: dict[str, Any] | None
    report: Report


class _Converter:
    def __init__(self, doc: Document, env: Mapping[str, str], overrides: Mapping[str, str]):
        self.doc = doc
        self.src: dict[str, Any] = doc.data
        self.environ = env
        self.overrides = overrides
        self.diags: list[Diagnostic] = []

    # -- reporting

    def error(self, path: Path, message: str, hint: str = "", code: str = "dstack-invalid") -> None:
        self.diags.append(Diagnostic(code, message, path, hint))

    def warn(self, path: Path, message: str, hint: str = "", code: str = "dstack-ignored") -> None:
        self.diags.append(Diagnostic(code, message, path, hint, Severity.WARNING))

    def grammar(self, path: Path, err: g.GrammarError, hint: str = "") -> None:
        self.error((*path, *err.loc), str(err), hint)

    def typed(self, key: str, kinds: tuple[type, ...], words: str) -> Any:
        value = self.src.get(key)
        if value is None:
            return None
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.error((key,), f"expected {words}, got {type(value).__name__} {value!r}")
            return None
        return value

    # -- pieces

    def check_keys(self) -> None:
        for key in self.src:
            if key not in ALL_KEYS:
                close = difflib.get_close_matches(str(key), ALL_KEYS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "remove it"
                if key == "ports":
                    hint = "a service has one `port`; `ports` is for tasks"
                self.diags.append(
                    Diagnostic("dstack-unknown-field", f"unknown field {key!r}", (key,), hint)
                )
        kind = self.src.get("type")
        if kind is None:
            self.error(("type",), "required field 'type' is missing", "add `type: service`")
        elif kind != "service":
            self.error(
                ("type",),
                f"only services convert to a Nosana job; this file is type {kind!r}",
                "use `type: service` with a `port`",
            )

    def image_and_shell(self) -> tuple[str, str]:
        image = self.typed("image", (str,), "an image name")
        docker = self.src.get("docker")
        nvcc = self.src.get("nvcc")
        python = self.src.get("python")
        for a, b in (
            ("image", "python"),
            ("image", "docker"),
            ("python", "docker"),
            ("nvcc", "docker"),
        ):
            if self.src.get(a) not in (None, False) and self.src.get(b) not in (None, False):
                self.error((b,), f"`{a}` and `{b}` are mutually exclusive fields")
        py_version = None
        if python is not None:
            text = "3.10" if python == 3.1 else str(python)
            if text not in PYTHON_VERSIONS:
                self.error(
                    ("python",),
                    f"'{text}' is not a valid PythonVersion",
                    "use one of " + ", ".join(PYTHON_VERSIONS),
                )
            py_version = text
        if docker:
            self.warn(
                ("docker",),
                "docker: true needs a privileged container running dockerd, which a Nosana "
                "node does not give; docker commands in this service will not work",
                "build an image with what the service needs instead",
                code="dstack-docker",
            )
        if image is None:
            if docker:
                image = DSTACK_DIND_IMAGE
            else:
                flavour = "devel" if nvcc else "base"
                image = (
                    f"{DSTACK_BASE_IMAGE}:{DSTACK_BASE_IMAGE_VERSION}-{flavour}"
                    f"-ubuntu{DSTACK_BASE_IMAGE_UBUNTU}"
                )
            if py_version:
                self.kept["python"] = py_version
        shell = self.src.get("shell")
        default_shell = "/bin/sh" if self.src.get("image") else "/bin/bash"
        if shell is None:
            shell = default_shell
        elif shell in ("sh", "bash"):
            shell = f"/bin/{shell}"
        elif not (isinstance(shell, str) and shell.startswith("/")):
            self.error(("shell",), "The value must be `sh`, `bash`, or an absolute path")
            shell = default_shell
        return image, shell

    def command(self, shell: str) -> tuple[list[str] | None, list[str] | None]:
        commands = self.src.get("commands") or []
        if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
            self.error(("commands",), "commands must be a list of strings")
            commands = []
        entrypoint = self.src.get("entrypoint")
        if entrypoint is not None and not isinstance(entrypoint, str):
            self.error(("entrypoint",), "entrypoint must be a string")
            entrypoint = None
        if not commands and self.src.get("image") is None and not self.src.get("groups"):
            self.error(
                ("commands",),
                "Either `commands` or `image` must be set",
                "add the commands that start the service, or an image that starts it itself",
            )
        for i, c in enumerate(commands):
            if "${{ run.args }}" in c.replace("${{run.args}}", "${{ run.args }}"):
                self.warn(
                    ("commands", i),
                    "${{ run.args }} is replaced by nothing: there are no run arguments here",
                )
        commands = [re.sub(r"\$\{\{\s*run\.args\s*\}\}", "", c) for c in commands]
        if entrypoint is not None:
            try:
                return shlex.split(entrypoint), (list(commands) or None)
            except ValueError as err:  # an unclosed quote
                self.error(("entrypoint",), f"entrypoint cannot be split into words: {err}")
                return None, None
        if not commands:
            return None, None
        joined = " && ".join(
            f"{{ {c.strip()} }}" if c.rstrip().endswith("&") else c for c in commands
        )
        flags = ["-i", "-c"] if shell.endswith("bash") else ["-c"]
        return None, [shell, *flags, joined]

    def env(self) -> dict[str, str]:
        raw = self.src.get("env")
        merged = {**self.environ, **self.overrides}
        try:
            env = g.parse_env(raw if raw is not None else [], merged)
        except g.GrammarError as err:
            hint = ""
            if "is not set" in str(err):
                hint = "export it, or pass it with `-e KEY=VALUE` (`--set` for a template)"
            self.grammar(("env",), err, hint)
            return dict(self.overrides)
        return {**env, **self.overrides}

    def interpolate(self, path: Path, text: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            value = self.overrides.get(name, self.environ.get(name))
            if value is None:
                self.error(path, f"${{{{ env.{name} }}}} is not set", f"export {name}")
                return ""
            return value

        return _ENV_REF.sub(sub, text)

    def registry_auth(self) -> dict[str, Any] | None:
        auth = self.src.get("registry_auth")
        if auth is None:
            return None
        if not isinstance(auth, dict):
            self.error(("registry_auth",), "registry_auth must be {username, password}")
            return None
        for key in auth:
            if key not in ("username", "password"):
                self.error(("registry_auth", key), f"unknown field {key!r}", "remove it")
        out: dict[str, Any] = {}
        for key in ("username", "password"):
            value = auth.get(key)
            if not isinstance(value, str | int) or isinstance(value, bool):
                self.error(("registry_auth", key), f"required field {key!r} is missing")
                continue
            out[key] = self.interpolate(("registry_auth", key), str(value))
        return {"docker": out}

    def probes(self, model: dict[str, Any] | None) -> list[dict[str, Any]]:
        probes = self.src.get("probes")
        if probes is None:
            if model and model.get("format") == "openai":
                # dstack's default probe for an OpenAI-format model
                return [
                    {
                        "type": "http",
                        "path": f"{model.get('prefix', '/v1').rstrip('/')}/chat/completions",
                        "method": "POST",
                        "expected_status": 200,
                        "headers": {"Content-Type": "application/json"},
                        "body": {
                            "model": model["name"],
                            "messages": [{"role": "user", "content": "hi"}],
                            "max_tokens": 1,
                        },
                        "continuous": True,
                    }
                ]
            return []
        if not isinstance(probes, list):
            self.error(("probes",), "probes must be a list")
            return []
        checks = []
        seen: list[Any] = []
        for i, probe in enumerate(probes):
            path: Path = ("probes", i)
            if not isinstance(probe, dict):
                self.error(path, "a probe must be a mapping with type: http")
                continue
            if probe in seen:
                self.error(path, "Probes must be unique")
            seen.append(probe)
            for key in probe:
                if key not in PROBE_KEYS:
                    self.error((*path, key), f"unknown field {key!r}", "remove it")
            if probe.get("type") != "http":
                self.error((*path, "type"), "probe type must be `http`")
                continue
            url = probe.get("url", "/")
            if not isinstance(url, str) or not url.startswith("/"):
                self.error((*path, "url"), "url must start with /")
                continue
            method = str(probe.get("method", "get")).lower()
            body = probe.get("body")
            if method in ("get", "head") and body is not None:
                self.error((*path, "body"), f"Cannot set request body for the `{method}` method")
            if method not in ("get", "post", "put", "delete"):
                self.warn(
                    (*path, "method"),
                    f"method {method!r} has no Nosana health check equivalent; probe dropped",
                    "use get, post, put or delete",
                )
                continue
            headers = {}
            raw_headers = probe.get("headers") or []
            if not isinstance(raw_headers, list):
                self.error((*path, "headers"), "headers must be a list of {name, value}")
                raw_headers = []
            for j, h in enumerate(raw_headers):
                if not (isinstance(h, dict) and {"name", "value"} <= set(h)):
                    self.error((*path, "headers", j), "a header is {name, value}")
                    continue
                headers[str(h["name"])] = self.interpolate((*path, "headers", j), str(h["value"]))
            for key in ("timeout", "interval"):
                if key in probe:
                    try:
                        g.parse_duration(probe[key])
                    except g.GrammarError as err:
                        self.grammar((*path, key), err)
            check: dict[str, Any] = {
                "type": "http",
                "path": self.interpolate((*path, "url"), url),
                "method": method.upper(),
                # dstack counts any 2xx as success; a Nosana check names one status.
                "expected_status": 200,
                "continuous": not probe.get("until_ready", False),
            }
            if headers:
                check["headers"] = headers
            if body is not None:
                check["body"] = self.interpolate((*path, "body"), str(body))
            checks.append(check)
        return checks

    def model(self) -> dict[str, Any] | None:
        model = self.src.get("model")
        if model is None:
            return None
        if isinstance(model, str):
            return {"type": "chat", "name": model, "format": "openai", "prefix": "/v1"}
        if not isinstance(model, dict):
            self.error(("model",), "model must be a name or {type, name, format}")
            return None
        for key in model:
            if key not in MODEL_KEYS:
                self.error(("model", key), f"unknown field {key!r}", "remove it")
        fmt = model.get("format")
        if fmt not in ("openai", "tgi"):
            self.error(
                ("model", "format"),
                f"Input tag {fmt!r} found using 'format' does not match any of the expected "
                "tags: 'tgi', 'openai'",
            )
        if not isinstance(model.get("name"), str):
            self.error(("model", "name"), "required field 'name' is missing")
            return None
        if "prefix" in model and not isinstance(model["prefix"], str):
            # the default probe's path is built from it
            self.error(("model", "prefix"), "prefix must be a string, such as /v1")
            return None
        out = dict(model)
        if fmt == "openai":
            out.setdefault("prefix", "/v1")
        return out

    def replicas(self) -> None:
        scaling = self.src.get("scaling")
        if scaling is not None:
            if not isinstance(scaling, dict):
                self.error(("scaling",), "scaling must be {metric: rps, target: N}")
            else:
                for key in scaling:
                    if key not in SCALING_KEYS:
                        self.error(("scaling", key), f"unknown field {key!r}", "remove it")
                if scaling.get("metric") != "rps":
                    self.error(("scaling", "metric"), "metric must be `rps`")
                target = scaling.get("target")
                if not isinstance(target, int | float) or isinstance(target, bool) or target <= 0:
                    self.error(("scaling", "target"), "target must be a number greater than 0")
                self.kept["scaling"] = scaling
        if self.src.get("groups") is not None and self.src.get("replicas") is not None:
            self.error(("groups",), "`replicas` and `groups` are mutually exclusive")
        if self.src.get("groups") is not None:
            self.error(
                ("groups",),
                "replica groups do not convert to a Nosana job",
                "describe one replica at the top level instead",
            )
        # No `replicas` means 1, which dstack rejects together with `scaling`.
        if "replicas" not in self.src and scaling is None:
            return
        try:
            replicas = g.parse_replicas(self.src.get("replicas"), scaling is not None)
        except g.GrammarError as err:
            self.grammar(("replicas",) if "replicas" in self.src else ("scaling",), err)
            return
        self.kept["replicas"] = str(replicas)
        if replicas.min != 1 or replicas.max != 1:
            self.warn(
                ("replicas",),
                f"replicas {replicas} kept in meta.dstack: a Nosana job runs one replica",
                "post the job once per replica you need",
                code="dstack-replicas",
            )

    def volumes(self) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        raw = self.src.get("volumes") or []
        if not isinstance(raw, list):
            self.error(("volumes",), "volumes must be a list")
            return [], []
        ops: list[dict[str, Any]] = []
        mounts: list[dict[str, str]] = []
        for i, item in enumerate(raw):
            try:
                vol = g.parse_volume(item)
            except g.GrammarError as err:
                self.grammar(("volumes", i), err)
                continue
            if vol.is_instance:
                self.warn(
                    ("volumes", i),
                    f"instance path {vol.instance_path} cannot be mounted by a Nosana job; dropped",
                    "use a network volume (name:/path), which becomes a create-volume op",
                    code="dstack-instance-volume",
                )
                continue
            name = vol.name if isinstance(vol.name, str) else (vol.name or ["volume"])[0]
            if isinstance(vol.name, list) and len(vol.name) > 1:
                self.warn(("volumes", i, "name"), f"of several volume names, {name!r} is used")
            op_id = "volume-" + _slug(name)
            if all(o["id"] != op_id for o in ops):
                ops.append({"type": m.OP_CREATE_VOLUME, "id": op_id, "args": {"name": name}})
            mounts.append({"name": name, "dest": vol.path})
        return ops, mounts

    def resources(self, default_image: bool) -> tuple[dict[str, Any], bool, int]:
        raw = self.src.get("resources")
        try:
            spec, warnings = g.parse_resources(raw)
        except g.GrammarError as err:
            self.grammar(("resources",), err)
            return {}, False, 0
        for text in warnings:
            self.warn(("resources", "gpu"), text, code="dstack-deprecated")
        return normalise_resources(spec, default_image)

    # -- the whole

    def run(self) -> dict[str, Any] | None:
        self.kept: dict[str, Any] = {}
        self.check_keys()
        name = self.src.get("name")
        if name is not None and not isinstance(name, str | int):
            self.error(("name",), "name must be a string")
            name = None
        op_id = _slug(str(name)) if name else "service"
        image, shell = self.image_and_shell()
        entrypoint, cmd = self.command(shell)
        env = self.env()
        try:
            port = g.parse_service_port(self.src.get("port"))
        except g.GrammarError as err:
            hint = (
                "add `port: 8000` (the port the service listens on)"
                if "required" in str(err)
                else "a service port is N or LOCAL:N with N in 1..65535"
            )
            self.grammar(("port",), err, hint)
            port = None
        working_dir = self.src.get("working_dir")
        if working_dir is not None and not (
            isinstance(working_dir, str) and working_dir.startswith("/")
        ):
            self.error(("working_dir",), "working_dir must be absolute", "e.g. /workflow")
        model = self.model()
        checks = self.probes(model)
        self.replicas()
        volume_ops, mounts = self.volumes()
        auth = self.registry_auth()
        default_image = self.src.get("image") is None and not self.src.get("docker")
        requirements, gpu, gpu_count = self.resources(default_image)
        for key in ("privileged", "user"):
            if self.src.get(key) not in (None, False):
                self.warn((key,), f"{key} has no Nosana equivalent; kept in meta.dstack")
                self.kept[key] = self.src[key]
        for key in KEPT_KEYS:
            if key in self.src:
                self.kept[key] = self.src[key]
        ignored = [k for k in KEPT_KEYS if k in self.src]
        if ignored:
            self.warn(
                (ignored[0],),
                "kept in meta.dstack, not applied: "
                + ", ".join(ignored)
                + " (dstack gateway, placement and repo settings have no Nosana equivalent)",
            )
        if model:
            self.kept["model"] = model
        if any(d.severity is Severity.ERROR for d in self.diags):
            return None

        run_name = str(name) if name else op_id
        system_env = {"DSTACK_RUN_NAME": run_name, "DSTACK_NODES_NUM": "1", "DSTACK_NODE_RANK": "0"}
        if gpu:
            system_env |= {
                "DSTACK_GPUS_NUM": str(gpu_count),
                "DSTACK_GPUS_PER_NODE": str(gpu_count),
            }
        if isinstance(working_dir, str):
            system_env["DSTACK_WORKING_DIR"] = working_dir
        args: dict[str, Any] = {"image": image}
        if entrypoint is not None:
            args["entrypoint"] = entrypoint
        if cmd is not None:
            args["cmd"] = cmd
        args["env"] = {**system_env, **env}
        if isinstance(working_dir, str):
            args["work_dir"] = working_dir
        if gpu:
            args["gpu"] = True
        expose: dict[str, Any] = {"port": port, "type": "api" if model else "web"}
        if checks:
            expose["health_checks"] = checks
        args["expose"] = [expose]
        if mounts:
            args["volumes"] = mounts
        if auth:
            args["authentication"] = auth
        meta: dict[str, Any] = {
            "trigger": "nosana-tui",
            "description": f"Converted from the dstack service {run_name!r}",
        }
        if requirements:
            meta["system_requirements"] = requirements
        kept = flatten_meta(self.kept)
        if kept:
            meta["dstack"] = kept
        return {
            "version": "0.1",
            "type": "container",
            "meta": meta,
            "ops": [*volume_ops, {"type": m.OP_RUN, "id": op_id, "args": args}],
        }


def normalise_resources(
    spec: g.ResourcesSpec, default_image: bool
) -> tuple[dict[str, Any], bool, int]:
    """``meta.system_requirements`` for a parsed spec, whether a GPU is required, and how many.

    Flat, as the network's ``Meta`` allows (module docstring); an open end of a range is left
    out. A count range takes its smallest count, as dstack does on shared instances.
    """
    gpu = spec.gpu
    count_min = int(gpu.count.min or 0)
    required = count_min >= 1
    out: dict[str, Any] = {}
    if required and gpu.memory is not None and gpu.memory.min is not None:
        out["required_vram"] = gpu.memory.min
        out["vram_total_mb"] = round(gpu.memory.min * 1024)
    if gpu.count.max != 0:
        vendor = g.infer_gpu_vendor(gpu, default_image)
        if vendor is not None:
            out["gpu_vendor"] = vendor
        if gpu.names:
            out["gpu_names"] = list(gpu.names)
        _put_range(out, "gpu_count", gpu.count)
        _put_range(out, "gpu_memory_gb", gpu.memory)
        _put_range(out, "gpu_total_memory_gb", gpu.total_memory)
        if gpu.compute_capability is not None:
            out["gpu_compute_capability"] = ".".join(map(str, gpu.compute_capability))
    if spec.cpu.arch is not None:
        out["cpu_arch"] = spec.cpu.arch
    _put_range(out, "cpu_count", spec.cpu.count)
    _put_range(out, "memory_gb", spec.memory)
    _put_range(out, "disk_gb", spec.disk.size)
    if spec.shm_size is not None:
        out["shm_size_gb"] = spec.shm_size
    return out, required, count_min


def _put_range(out: dict[str, Any], key: str, value: g.Range[Any] | None) -> None:
    """``key_min`` and ``key_max``, each only where that end is bounded."""
    if value is None:
        return
    if value.min is not None:
        out[f"{key}_min"] = value.min
    if value.max is not None:
        out[f"{key}_max"] = value.max


def flatten_meta(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``value`` as one level of the network's ``Meta``: nested keys joined with dots
    (``model.name``), strings, numbers and arrays of those kept, nulls dropped, and anything else
    (a boolean, an array of objects, an empty object) written as its JSON text."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if item is None:
            continue
        if isinstance(item, Mapping) and item:
            out |= flatten_meta(item, f"{name}.")
        elif m.is_meta_scalar(item) or (
            isinstance(item, list) and all(m.is_meta_scalar(i) for i in item)
        ):
            out[name] = item
        else:
            out[name] = json.dumps(item)
    return out


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug or "service"


def convert_document(
    doc: Document,
    *,
    env_overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConvertResult:
    conv = _Converter(doc, os.environ if environ is None else environ, env_overrides or {})
    data = conv.run()
    diags = [
        doc.locate(d, key=d.severity is Severity.WARNING or d.code == "dstack-unknown-field")
        for d in conv.diags
    ]
    diags.sort(key=lambda d: (d.line or 0, d.column or 0))
    if data is None:
        return ConvertResult(None, None, Report(doc.file, list(doc.diagnostics) + diags))
    job, job_diags = validate_data(data)
    # Problems in the produced job have no place in the dstack file; say which job field.
    for d in job_diags:
        diags.append(d.located(f"{doc.file} (converted job)", None, None))
    return ConvertResult(
        job, data if job else None, Report(doc.file, list(doc.diagnostics) + diags)
    )


def convert_file(
    path: FsPath,
    *,
    env_overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConvertResult:
    try:
        doc = read_file(path)
    except SourceError as err:
        return ConvertResult(None, None, Report(str(path), [err.diagnostic]))
    return convert_document(doc, env_overrides=env_overrides, environ=environ)
