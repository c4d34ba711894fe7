"""The Docker backend: the engine's container operations over the Docker Engine API.

The only module that imports the ``docker`` SDK. Blocking SDK calls run in worker threads (the
loop's pool, which every job's engine calls share); log streams, the event stream and image pulls,
which may last for ever, each run in a daemon thread of their own and hand batches of lines (or
progress) to the caller's sink (which hops onto the event loop), so nothing blocks the loop,
nothing is delivered one line at a time, and no stream holds a thread that other calls wait for.

Errors: every call raises ``BackendError`` and nothing else, worded for the user: the engine's own
message when it refused something, "the Docker engine at … does not answer: …" when it is away.
The event watcher outlives the engine going away: it reconnects with backoff and then tells its
sink (``EVENT_RECONNECT``) so the agent can reconcile what it missed.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import functools
import http.client
import itertools
import math
import operator
import os
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.types import CancellableStream, DeviceRequest

from nosana_tui.backends.resource_volumes import ResourceVolumes
from nosana_tui.config import is_loopback
from nosana_tui.engine.backend import (
    EVENT_RECONNECT,
    LABEL_AGENT,
    LABEL_JOB,
    LABEL_OP,
    BackendError,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    Drained,
    EventSink,
    ExecSession,
    ExecSink,
    GpuAccess,
    LogLine,
    LogSink,
    PullProgress,
    StatsSink,
)
from nosana_tui.engine.registry import RegistryAuth
from nosana_tui.engine.threads import in_own_thread
from nosana_tui.host import gpus as gpu_host

NETWORK_PREFIX = "nosana-tui-"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_ENGINE = "unix:///var/run/docker.sock"  # the SDK's, when DOCKER_HOST is not set

RECONNECT_FIRST_S = 0.2  # the event watcher's first wait after the engine went away ...
RECONNECT_MAX_S = 5.0  # ... doubling up to this

MAX_LINE_BYTES = 1 << 20
"""A longer line (a container that prints without newlines) is handed on in pieces this long,
each but the last ending with ``LINE_CUT_MARK``: a follower holds at most this much per stream."""
LINE_CUT_MARK = " [line cut at 1 MiB: it continues on the next line]"

CATCH_UP_FIRST = 10_000
"""Messages a finished follower asks for first (see ``_Follower.finish``)."""

ORDER_SKEW_S = 0.01  # how much earlier than the newest stamp a line of the other stream may come
ORDER_GRACE_S = 0.1  # how long a line waits at most for the other stream (see ``_Merge``)

NO_POOL_HINT = (
    "Docker has no free address pool for another network: remove finished jobs "
    "(nosana-tui rm JOB) or add default-address-pools to /etc/docker/daemon.json"
)

# What a broken or vanished engine connection raises, from any layer under the SDK.
_GONE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
# ... and what a stream reader may meet besides: the engine's own refusals, a torn frame.
_STREAM_ERRORS = (
    *_GONE,
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ValueError,
)


def _ts(text: str | None) -> float | None:
    """Docker's RFC 3339 nanosecond times -> epoch seconds (None for the zero time)."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    frac_digits = "".join(c for c in frac if c.isdigit())[:6]
    tz = ""
    for sign in ("+", "-"):
        if sign in frac:
            tz = sign + frac.split(sign, 1)[1]
    stamp = datetime.fromisoformat(
        head + (f".{frac_digits}" if frac_digits else "") + (tz or "+00:00")
    )
    return stamp.timestamp()


def _state(attrs: dict[str, Any]) -> ContainerState:
    state = attrs.get("State") or {}
    ports: dict[int, int] = {}
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if not bindings:
            continue
        for binding in bindings:
            if binding.get("HostPort"):
                ports[int(key.split("/")[0])] = int(binding["HostPort"])
                break
    return ContainerState(
        id=attrs["Id"],
        name=attrs.get("Name", "").lstrip("/"),
        status=state.get("Status", "unknown"),
        exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None,
        started_at=_ts(state.get("StartedAt")),
        finished_at=_ts(state.get("FinishedAt")),
        restart_count=int(attrs.get("RestartCount") or 0),
        ports=ports,
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        error=state.get("Error") or "",
    )


def _ids(ids: list[int]) -> str:
    return ",".join(map(str, ids))


def _reason(err: BaseException) -> str:
    """Why a connection failed, in words: the innermost OS error ("Connection refused", "No such
    file or directory") rather than the tuple-of-reprs that requests and urllib3 print."""
    queue: list[BaseException] = [err]
    seen: set[int] = set()
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        for inner in (*current.args, getattr(current, "reason", None)):
            if isinstance(inner, BaseException):
                queue.append(inner)
        for inner in (current.__cause__, current.__context__):
            if inner is not None:
                queue.append(inner)
    if isinstance(err, requests.exceptions.Timeout | TimeoutError):
        return "no answer in time"
    return str(err) or type(err).__name__


def _is_no_pool(err: docker.errors.APIError) -> bool:
    text = str(err.explanation or err)
    return "address pool" in text or "non-overlapping" in text


def _gpu_hint(err: Exception) -> str:
    text = str(err)
    if "could not select device driver" in text or "nvidia" in text.lower():
        return (
            "this Docker engine cannot give containers a GPU: install the NVIDIA container "
            "toolkit (nvidia-container-toolkit) and restart dockerd, or run the op without "
            f"gpu: true ({text})"
        )
    return text


def _auth_config(auth: RegistryAuth) -> dict[str, str]:
    """Credentials as the engine takes them (X-Registry-Auth, /auth)."""
    config = {"username": auth.username, "password": auth.password, "serveraddress": auth.server}
    if auth.email:
        config["email"] = auth.email
    return config


class _Missing(BackendError):
    """The engine answered 404: the thing asked about does not exist (any more)."""


class DockerBackend(ResourceVolumes):
    """Containers, networks and volumes of nosana-tui jobs on one Docker engine."""

    def __init__(
        self, base_url: str | None = None, agent_id: str = "", gpu_ids: list[int] | None = None
    ) -> None:
        # where the engine is, for messages: what the SDK connects to (docker.from_env reads
        # DOCKER_HOST)
        self.engine = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE
        try:
            self.client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            self.client.ping()
        except (docker.errors.DockerException, *_GONE) as err:
            raise BackendError(
                f"no Docker engine answers at {self.engine} ({_reason(err)}); start dockerd, "
                "or set DOCKER_HOST"
            ) from None
        self.api = self.client.api
        self.agent_id = agent_id
        self.gpu_ids = gpu_ids  # None: all GPUs (`node serve --gpus all`)
        self._gpu: tuple[GpuAccess, gpu_host.Passthrough | list[str] | None] | None = None

    def _error(self, err: Exception, doing: str = "") -> BackendError:
        """Any failure of an engine call, as the user should read it: the engine's own message
        when it answered, else that it does not answer (and why)."""
        prefix = f"{doing}: " if doing else ""
        if isinstance(err, docker.errors.APIError):
            return BackendError(prefix + str(err.explanation or err))
        if isinstance(err, _GONE):
            return BackendError(
                f"{prefix}the Docker engine at {self.engine} does not answer: {_reason(err)}"
            )
        return BackendError(prefix + (str(err) or type(err).__name__))

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` in a worker thread; its failures as ``BackendError`` (``_Missing`` for a 404,
        which callers that mean "gone is fine" catch)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.NotFound as err:
            raise _Missing(str(err.explanation or err)) from None
        except (docker.errors.DockerException, *_GONE) as err:
            raise self._error(err) from None

    # --- engine -------------------------------------------------------------------------------

    async def info(self) -> dict[str, object]:
        info = await self._call(self.client.info)
        version = await self._call(self.client.version)
        runtimes = sorted((info.get("Runtimes") or {}).keys())
        return {
            "name": "docker",
            "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "os": info.get("OperatingSystem"),
            "storage_driver": info.get("Driver"),
            "runtimes": runtimes,
            "cdi_devices": [d.get("ID") for d in info.get("DiscoveredDevices") or []],
            "gpu_runtime": "nvidia" in runtimes,
            "cpus": info.get("NCPU"),
            "memory": info.get("MemTotal"),
            "containers_running": info.get("ContainersRunning"),
        }

    async def gpu_access(self) -> GpuAccess:
        """Chosen once per agent: the engine's NVIDIA runtime when it has one, else direct
        passthrough of the devices and driver files, else none (with what to install)."""
        if self._gpu is None:
            self._gpu = await asyncio.to_thread(self._choose_gpu_access)
        return self._gpu[0]

    def _engine_is_local(self) -> bool:
        """The engine runs on this machine: its unix socket, or a TCP address on loopback."""
        url = str(self.api.base_url)
        return urlparse(url).scheme in ("http+docker", "http+unix") or is_loopback(url)

    def _choose_gpu_access(self) -> tuple[GpuAccess, gpu_host.Passthrough | list[str] | None]:
        """The access, and what ``run`` applies: a passthrough plan, CDI names, or None (the
        runtime's device request, or no access)."""
        which = "all GPUs" if self.gpu_ids is None else f"GPUs {_ids(self.gpu_ids)}"
        try:
            info = self.client.info()
        except (docker.errors.DockerException, *_GONE):
            info = {}
        if "nvidia" in (info.get("Runtimes") or {}):
            return GpuAccess("runtime", f"the engine's NVIDIA runtime ({which})"), None
        cdi_problem = ""
        if names := gpu_host.cdi_gpu_names(info, read_specs=self._engine_is_local()):
            try:
                request = gpu_host.cdi_request(names, self.gpu_ids)
            except ValueError as err:
                cdi_problem = f"; {err}"
            else:
                return GpuAccess("cdi", f"the engine's CDI devices ({', '.join(request)})"), request
        try:
            plan = gpu_host.plan_passthrough(self.gpu_ids)
        except ValueError as err:
            return (
                GpuAccess(
                    "none",
                    f"no GPU can be given to containers on this machine: {str(err).rstrip('.')}"
                    f"{cdi_problem} (with the NVIDIA driver alone nosana-tui passes the GPU "
                    "through itself; the NVIDIA container toolkit, nvidia-container-toolkit, is "
                    "the other way)",
                ),
                None,
            )
        return (
            GpuAccess(
                "passthrough",
                f"direct passthrough of {which}, the engine has no NVIDIA runtime{cdi_problem}: "
                f"{len(plan.devices)} devices and {len(plan.binds)} driver files (read-only, "
                f"under {gpu_host.LIB_DIR})",
            ),
            plan,
        )

    async def images(self) -> list[dict[str, object]]:
        images = await self._call(self.api.images)
        return [
            {"tags": img.get("RepoTags") or [], "size": img.get("Size"), "id": img.get("Id")}
            for img in images
        ]

    # --- networks and volumes -----------------------------------------------------------------

    def _labels(self, job_id: str, op_id: str | None = None) -> dict[str, str]:
        labels = {LABEL_JOB: job_id, LABEL_AGENT: self.agent_id}
        if op_id is not None:
            labels[LABEL_OP] = op_id
        return labels

    async def ensure_network(self, job_id: str) -> str:
        name = NETWORK_PREFIX + job_id
        found = await self._call(self.api.networks, names=[name])
        if any(n.get("Name") == name for n in found):
            return name
        try:
            await asyncio.to_thread(
                self.api.create_network, name, driver="bridge", labels=self._labels(job_id)
            )
        except docker.errors.APIError as err:
            # the engine answers 404 (20.10) or 400 when its address pools are used up
            if _is_no_pool(err):
                raise BackendError(f"{NO_POOL_HINT} (the engine said: {err.explanation})") from None
            raise self._error(err, f"network {name}") from None
        except (docker.errors.DockerException, *_GONE) as err:
            raise self._error(err, f"network {name}") from None
        return name

    async def remove_network(self, job_id: str) -> None:
        for net in await self._call(self.api.networks, filters={"label": f"{LABEL_JOB}={job_id}"}):
            with contextlib.suppress(_Missing):
                await self._call(self.api.remove_network, net["Id"])

    async def create_volume(self, job_id: str, name: str) -> str:
        full = f"{job_id}-{name}"
        await self._call(self.api.create_volume, name=full, labels=self._labels(job_id))
        return full

    async def remove_volumes(self, job_id: str) -> None:
        found = await self._call(self.api.volumes, filters={"label": f"{LABEL_JOB}={job_id}"})
        for vol in found.get("Volumes") or []:
            with contextlib.suppress(_Missing):
                await self._call(self.api.remove_volume, vol["Name"], force=True)

    # --- images -------------------------------------------------------------------------------

    async def has_image(self, image: str) -> bool:
        try:
            await self._call(self.api.inspect_image, image)
        except _Missing:
            return False
        return True

    async def pull(
        self,
        image: str,
        progress: Callable[[PullProgress], None],
        auth: RegistryAuth | None = None,
    ) -> None:
        repo, tag = image, None
        last = image.rsplit("/", 1)[-1]
        if "@" not in image and ":" in last:
            repo, tag = image.rsplit(":", 1)
        # The job's own credentials go with this pull alone (X-Registry-Auth); without them the
        # SDK takes the user's from config.json and credential helpers, read again now so a
        # `docker login` since the agent started counts.
        auth_config = _auth_config(auth) if auth is not None else None

        def run() -> None:
            if auth_config is None:
                self.api.reload_config()
            pulled = self.api.pull(
                repo, tag=tag or "latest", stream=True, decode=True, auth_config=auth_config
            )
            for event in pulled:
                if "error" in event:
                    raise BackendError(f"pull {image}: {event['error']}")
                detail = event.get("progressDetail") or {}
                progress(
                    PullProgress(
                        image=image,
                        layer=event.get("id", ""),
                        status=event.get("status", ""),
                        current=detail.get("current"),
                        total=detail.get("total"),
                    )
                )

        try:
            # Not in the pool: the SDK reads a pull with no timeout, and the engine waits on a
            # registry that stops answering for ever, so a pull may hold its thread for ever (a
            # slow one of a big image, for minutes). As many as the pool has threads, and every
            # job's engine calls waited behind them: a job submitted then stayed "submitted".
            await in_own_thread(run, f"docker-pull {image}")
        except BackendError:
            raise
        except (docker.errors.DockerException, *_STREAM_ERRORS) as err:
            raise self._error(err, f"pull {image}") from None

    async def check_login(self, auth: RegistryAuth) -> None:
        # The engine's /auth, as `docker login` asks it; not APIClient.login, which keeps the
        # credentials in the client and would lend them to every later pull of any job.
        def login() -> None:
            answer = self.api._post_json(self.api._url("/auth"), data=_auth_config(auth))
            self.api._result(answer, json=True)

        try:
            await self._call(login)
        except BackendError as err:
            raise BackendError(f"registry {auth.describe()} refused the login: {err}") from None

    async def remove_image(self, image: str) -> None:
        with contextlib.suppress(_Missing):  # force: a stopped container of the op holds it
            await self._call(self.api.remove_image, image, force=True)

    # --- containers ---------------------------------------------------------------------------

    async def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start the container; the returned state has its published ports."""
        host_config: dict[str, Any] = {
            "port_bindings": {p.container_port: ("127.0.0.1", p.host_port) for p in spec.ports},
            "binds": {vol: {"bind": dest, "mode": "rw"} for vol, dest in spec.volumes},
        }
        host_config["binds"].update(
            {
                vol: {"bind": dest, "mode": "ro" if read_only else "rw"}
                for vol, dest, read_only in spec.resource_mounts
            }
        )
        if spec.restart_policy and spec.restart_policy != "no":
            policy: dict[str, Any] = {"Name": spec.restart_policy}
            if spec.restart_policy == "on-failure" and spec.restart_tries is not None:
                policy["MaximumRetryCount"] = spec.restart_tries
            host_config["restart_policy"] = policy
        env = dict(spec.env)
        if spec.gpu:
            await self.gpu_access()
            assert self._gpu is not None
            _, plan = self._gpu
            if isinstance(plan, list):  # CDI names: the engine applies the spec
                host_config["device_requests"] = [DeviceRequest(driver="cdi", device_ids=plan)]
            elif plan is not None:
                host_config["devices"] = [f"{d}:{d}:rwm" for d in plan.devices]
                host_config["binds"].update(
                    {host: {"bind": inside, "mode": "ro"} for host, inside in plan.binds}
                )
                env = await self._passthrough_env(spec.image, env, plan)
            elif self.gpu_ids is None:
                host_config["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
            else:
                ids = [str(i) for i in self.gpu_ids]
                host_config["device_requests"] = [
                    DeviceRequest(device_ids=ids, capabilities=[["gpu"]])
                ]
        endpoint = self.api.create_endpoint_config(aliases=list(spec.aliases))

        def create_and_start() -> dict[str, Any]:
            created = self.api.create_container(
                spec.image,
                command=spec.cmd,
                entrypoint=spec.entrypoint,
                environment=env,
                working_dir=spec.work_dir,
                name=spec.name,
                labels=self._labels(spec.job_id, spec.op_id),
                ports=[p.container_port for p in spec.ports],
                host_config=self.api.create_host_config(**host_config),
                networking_config=self.api.create_networking_config({spec.network: endpoint}),
            )
            try:
                self.api.start(created["Id"])
            except docker.errors.APIError:
                with contextlib.suppress(docker.errors.APIError):
                    self.api.remove_container(created["Id"], force=True)
                raise
            return dict(self.api.inspect_container(created["Id"]))

        try:
            attrs = await asyncio.to_thread(create_and_start)
        except docker.errors.ImageNotFound as err:
            raise BackendError(f"image {spec.image} not found: {err.explanation}") from None
        except docker.errors.APIError as err:
            if spec.gpu:
                raise BackendError(_gpu_hint(err)) from None
            raise self._error(err, "start failed") from None
        except (docker.errors.DockerException, *_GONE) as err:
            raise self._error(err, "start failed") from None
        return _state(attrs)

    async def _passthrough_env(
        self, image: str, env: dict[str, str], plan: gpu_host.Passthrough
    ) -> dict[str, str]:
        """The op's env plus the plan's, search paths put in front of what the container would
        otherwise have (the op's value, else the image's), not in its place."""
        try:
            config = (await self._call(self.api.inspect_image, image)).get("Config") or {}
        except BackendError:
            config = {}
        seen = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
        seen.setdefault("PATH", DEFAULT_PATH)  # what the engine gives an image without one
        seen.update(env)
        merged = plan.merged_env(seen)
        keep = {k: v for k, v in merged.items() if k not in env or k in ("LD_LIBRARY_PATH", "PATH")}
        return {**env, **keep}

    async def inspect(self, container_id: str) -> ContainerState | None:
        try:
            return _state(await self._call(self.api.inspect_container, container_id))
        except _Missing:
            return None

    async def stop(self, container_id: str, timeout: float = 10) -> None:
        with contextlib.suppress(_Missing):
            await self._call(self.api.stop, container_id, timeout=int(timeout))

    async def remove(self, container_id: str) -> None:
        with contextlib.suppress(_Missing):
            await self._call(self.api.remove_container, container_id, force=True, v=True)

    async def containers(self, job_id: str | None = None) -> list[ContainerState]:
        label = f"{LABEL_JOB}={job_id}" if job_id else LABEL_JOB
        found = await self._call(self.api.containers, all=True, filters={"label": label})
        states = []
        for item in found:
            with contextlib.suppress(_Missing):
                states.append(_state(await self._call(self.api.inspect_container, item["Id"])))
        return states

    # --- streams ------------------------------------------------------------------------------

    def follow_logs(self, container_id: str, since: float | None, sink: LogSink) -> _Follower:
        """A daemon thread that reads the container's stdout and stderr as the engine interleaves
        them (one request) and sends batches of lines to ``sink``."""
        return _Follower(self.api, container_id, since, sink)

    def watch_events(self, sink: EventSink) -> Callable[[], None]:
        """Start/die/destroy events of our containers, in a daemon thread, for as long as the
        agent runs: when the stream breaks (the engine stopped or restarted) it reconnects, waiting
        ``RECONNECT_FIRST_S`` doubling to ``RECONNECT_MAX_S``, and once the engine answers again
        calls ``sink("", EVENT_RECONNECT, {})`` before any newer event, so the caller can compare
        every op with the engine: what happened while it was away is not replayed."""
        stop = threading.Event()
        current: list[Any] = []

        def deliver(event: dict[str, Any]) -> None:
            actor = event.get("Actor") or {}
            action = str(event.get("Action") or event.get("status") or "")
            sink(
                str(actor.get("ID") or event.get("id")),
                action.split(":")[0],
                dict(actor.get("Attributes") or {}),
            )

        def pump() -> None:
            since: int | None = int(time.time()) - 1
            lost, wait = False, 0.0
            while not stop.is_set():
                if lost:
                    wait = min(max(wait * 2, RECONNECT_FIRST_S), RECONNECT_MAX_S)
                    if stop.wait(wait):
                        return
                try:
                    events = self.api.events(
                        decode=True,
                        filters={"type": "container", "label": LABEL_JOB},
                        since=since,
                    )
                except Exception:  # away, or not answering yet: the next try waits longer
                    lost = True
                    continue
                current[:] = [events]
                # the subscription runs before the reconnect is told: nothing falls in between
                since = None
                try:
                    if stop.is_set():
                        return
                    if lost:
                        sink("", EVENT_RECONNECT, {})
                        lost, wait = False, 0.0
                    for event in events:
                        if stop.is_set():
                            return
                        deliver(event)
                except Exception:  # a torn stream, a sink that failed: reconnect all the same
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        events.close()
                lost = True  # the stream ended without a cancel: the engine went away

        thread = threading.Thread(target=pump, daemon=True, name="docker-events")
        thread.start()

        def cancel() -> None:
            stop.set()
            for events in current:
                with contextlib.suppress(Exception):
                    events.close()

        return cancel

    # --- use of the machine, and commands in a container --------------------------------------

    async def stats(self, container_id: str) -> ContainerStats | None:
        """One sample. The engine takes two readings a second apart for the CPU share, so this
        takes about a second."""
        try:
            raw = await self._call(self.api.stats, container_id, stream=False, decode=False)
        except _Missing:
            return None
        return _sample(raw)

    def follow_stats(self, container_id: str, sink: StatsSink) -> Callable[[], None]:
        """The engine's stats stream (a sample a second) in a daemon thread; it ends when the
        container stops (the engine then sends empty samples), is gone, or on cancel."""
        stop = threading.Event()
        current: list[Any] = []

        def pump() -> None:
            with contextlib.suppress(*_STREAM_ERRORS):
                stream = self.api.stats(container_id, stream=True, decode=True)
                current.append(stream)
                if stop.is_set():
                    return
                for raw in stream:
                    if stop.is_set():
                        return
                    sample = _sample(raw)
                    if sample is None:
                        return  # the container has stopped
                    if not (raw.get("precpu_stats") or {}).get("system_cpu_usage"):
                        continue  # the stream's first: no earlier reading, no CPU share yet
                    sink(sample)

        thread = threading.Thread(target=pump, daemon=True, name="docker-stats")
        thread.start()

        def cancel() -> None:
            stop.set()
            for stream in current:
                with contextlib.suppress(Exception):
                    stream.close()

        return cancel

    async def exec(
        self,
        container_id: str,
        cmd: list[str],
        sink: ExecSink,
        *,
        tty: bool,
        cols: int = 80,
        rows: int = 24,
        env: dict[str, str] | None = None,
    ) -> ExecSession:
        """``docker exec -i [-t]``: the hijacked connection of the exec is read in a daemon
        thread (demultiplexed without a TTY) and handed to SINK."""

        def start() -> tuple[str, Any]:
            made = self.api.exec_create(
                container_id, cmd, stdin=True, tty=tty, environment=env or None
            )
            sock = self.api.exec_start(made["Id"], tty=tty, socket=True)
            return made["Id"], sock

        try:
            exec_id, sock = await self._call(start)
        except _Missing:
            raise BackendError("the op's container is gone") from None
        session = _DockerExec(self.api, exec_id, sock, sink, tty, container_id)
        if tty:
            with contextlib.suppress(BackendError):
                await session.resize(cols, rows)
        return session

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


def _sample(raw: dict[str, Any]) -> ContainerStats | None:
    """A sample of the engine's stats as ``docker stats`` computes it (CPU share over the
    engine's two readings, memory without the page cache it can drop); None for the empty
    sample of a container that does not run."""
    read = _ts(raw.get("read"))
    if read is None:
        return None
    cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    percent = 0.0
    if cpu_delta > 0 and system_delta > 0 and pre.get("system_cpu_usage"):
        percent = cpu_delta / system_delta * (online or 1) * 100.0
    memory = raw.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0)) or 0  # v1, v2
    usage = int(memory.get("usage") or 0)
    usage = usage - cache if cache < usage else usage
    rx = tx = 0
    for net in (raw.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    disk = {"read": 0, "write": 0}
    for entry in (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op in disk:
            disk[op] += int(entry.get("value") or 0)
    return ContainerStats(
        ts=read,
        cpu_percent=round(percent, 2),
        memory_usage=usage,
        memory_limit=int(memory.get("limit") or 0),
        net_rx=rx,
        net_tx=tx,
        disk_read=disk["read"],
        disk_write=disk["write"],
    )


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    """SIZE bytes from SOCK, fewer only at its end."""
    parts: list[bytes] = []
    while size > 0 and (part := sock.recv(min(size, _READ_SIZE))):
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class _DockerExec:
    """One exec's hijacked connection: written from the loop (in threads, one write at a time),
    read in a daemon thread."""

    def __init__(
        self, api: Any, exec_id: str, sock: Any, sink: ExecSink, tty: bool, container_id: str
    ) -> None:
        self._api, self._id, self._sink, self._tty = api, exec_id, sink, tty
        self._container = container_id
        self._sock = getattr(sock, "_sock", sock)  # the socket under the SDK's SocketIO
        self._lock = asyncio.Lock()
        self._ended = threading.Event()
        threading.Thread(target=self._pump, daemon=True, name="docker-exec").start()

    def _pump(self) -> None:
        try:
            with contextlib.suppress(OSError, ValueError):
                if self._tty:
                    while data := self._sock.recv(_READ_SIZE):
                        self._sink("stdout", data)
                else:
                    read = functools.partial(_recv_exactly, self._sock)
                    while len(header := read(_FRAME_HEADER.size)) == _FRAME_HEADER.size:
                        stream, length = _FRAME_HEADER.unpack(header)
                        payload = read(length)
                        if payload:
                            self._sink(_STREAM_NAMES.get(stream, "stdout"), payload)
                        if len(payload) < length:
                            break
        finally:
            self._ended.set()
            self._sink("eof", b"")

    async def write(self, data: bytes) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self._sock.sendall, data)
            except OSError as err:
                raise BackendError(f"the command's stdin is closed ({_reason(err)})") from None

    async def close_stdin(self) -> None:
        async with self._lock:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    async def resize(self, cols: int, rows: int) -> None:
        try:
            await asyncio.to_thread(self._api.exec_resize, self._id, height=rows, width=cols)
        except (docker.errors.DockerException, *_GONE) as err:
            raise BackendError(f"resize: {_reason(err)}") from None

    async def exit_code(self) -> int | None:
        """Once the output has ended the engine may need a moment to note the exit."""
        await asyncio.to_thread(self._ended.wait, 5.0)
        for _ in range(50):
            try:
                found = await asyncio.to_thread(self._api.exec_inspect, self._id)
            except (docker.errors.DockerException, *_GONE):
                return None
            if not found.get("Running"):
                code = found.get("ExitCode")
                return int(code) if code is not None else None
            await asyncio.sleep(0.05)
        return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.hang_up = threading.Thread(
            target=self._hang_up, daemon=True, name="docker-exec-hangup"
        )
        self.hang_up.start()

    def _hang_up(self) -> None:
        """The engine leaves an exec's command running when its connection goes, with or
        without a TTY (moby/moby#9098: ``docker exec`` leaks the same way), so a client killed
        in a shell would leave its commands in the op for good. A terminal's hang-up is done
        here: SIGHUP to the process group the engine made for the command (each exec is a
        session of its own), SIGKILL to it HANG_UP_GRACE seconds later if its leader is still
        there. A child that made a session of its own escapes both, as from a terminal.

        The engine names the command by its pid in the engine's pid namespace. It is signalled
        only when that pid, seen from here, is a session leader in this container's cgroup
        (its full id in /proc/PID/cgroup) and in a pid namespace below this one; else (an
        engine in a VM or on another machine, an agent in a container of its own) nothing is
        signalled: that pid would be some other process here."""
        for sig in (signal.SIGHUP, signal.SIGKILL):
            pid = self._running_pid()
            if pid is None or not self._ours(pid):
                return
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return
            except PermissionError:  # an agent that is not root: the container's own kill
                self._kill_inside(pid, sig)
            deadline = time.monotonic() + HANG_UP_GRACE
            while time.monotonic() < deadline and self._running_pid() is not None:
                time.sleep(0.1)

    def _running_pid(self) -> int | None:
        """The exec's process (a pid in the engine's pid namespace) while it runs."""
        try:
            found = self._api.exec_inspect(self._id)
        except (docker.errors.DockerException, *_GONE):
            return None
        pid = found.get("Pid")
        if not found.get("Running") or not isinstance(pid, int) or pid <= 0:
            return None
        return pid

    def _ours(self, pid: int) -> bool:
        try:
            full_id = str(self._api.inspect_container(self._container)["Id"])
            with open(f"/proc/{pid}/cgroup") as cgroups:
                in_container = len(full_id) == 64 and full_id in cgroups.read()
            return in_container and os.getpgid(pid) == pid and len(_ns_pids(pid)) >= 2
        except (OSError, KeyError, docker.errors.DockerException, *_GONE):
            return False

    def _kill_inside(self, pid: int, sig: signal.Signals) -> None:
        """The container's own ``kill`` on the command's process group, by its pid inside the
        container (``_ours`` has checked that PID is the command's, in the container)."""
        inside = _ns_pids(pid)[-1:]
        if not inside or inside[0] == "1":
            return  # gone meanwhile; never the container's first process
        with contextlib.suppress(docker.errors.DockerException, *_GONE):
            made = self._api.exec_create(
                self._container, ["kill", f"-{sig.name.removeprefix('SIG')}", f"-{inside[0]}"]
            )
            self._api.exec_start(made["Id"])


HANG_UP_GRACE = 5.0  # seconds between the hang-up and the kill of a command left running


def _ns_pids(pid: int) -> list[str]:
    """The pid of PID in each pid namespace it is in, outermost first (``NSpid`` of
    /proc/PID/status): two or more for a process in a container."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return line.split()[1:]
    except OSError:
        pass
    return []


# --- reading a container's output -----------------------------------------------------------

_FRAME_HEADER = struct.Struct(">BxxxL")  # stream (1 stdout, 2 stderr), 3 zero bytes, length
_STREAM_NAMES = {0: "stdout", 1: "stdout", 2: "stderr"}
_READ_SIZE = 1 << 18

Frame = tuple[str, bytes]  # stream name, one log message as the engine sent it
Joined = tuple[str, str, LogLine]  # stream name, stamp key (see ``_log_line``), the line


def _arrivals(response: Any) -> Iterator[bytes]:
    """The body of a streamed HTTP response, as it arrives: each item is all that had arrived.

    The engine flushes every log message as an HTTP chunk of its own, and the HTTP layers above
    the socket hand on at most one chunk per read: one line at a time. So the chunked encoding
    is undone here, over the connection's buffered reader, whose ``read1`` returns everything
    buffered or else waits for one read from the socket. This runs once per line: each chunk
    costs a ``find``, an ``int`` and a slice, and the whole chunks of a read are handed on as one.
    """
    http_response = response.raw._fp  # the SDK reads the same attributes for its streams
    if not http_response.chunked:
        while data := response.raw.read1(_READ_SIZE):
            yield data
        return
    read1 = _socket_reads(http_response.fp)
    pending = b""  # the start of a chunk not all read yet
    while data := read1(_READ_SIZE):
        buffer = pending + data if pending else data
        size, pos = len(buffer), 0
        body: list[bytes] = []
        while (end := buffer.find(b"\r\n", pos)) >= 0:
            field = buffer[pos:end]
            try:
                length = int(field, 16)
            except ValueError:  # a chunk extension (";name=value"), which no engine sends
                length = int(field.split(b";")[0], 16)
            if not length:  # the last chunk
                if body:
                    yield b"".join(body)
                return
            start = end + 2
            if start + length + 2 > size:
                break  # the chunk is not all here yet
            body.append(buffer[start : start + length])
            pos = start + length + 2
        pending = buffer[pos:]
        if body:
            yield b"".join(body)


def _socket_reads(reader: Any) -> Callable[[int], bytes]:
    """``read1`` of the connection's buffered reader, which returns at most its buffer (8 KiB:
    some 150 lines) a call: after the first call has taken what it held, reads go to the socket
    beneath it, taking all that has arrived, up to the size asked for."""
    raw = getattr(reader, "raw", None)
    if raw is None:
        return reader.read1
    first = [True]
    buffer = memoryview(bytearray(_READ_SIZE))  # one buffer: a fresh one would be zeroed a read

    def read(size: int) -> bytes:
        if first:
            first.clear()
            return reader.read1(size)
        got = raw.readinto(buffer[:size])
        return bytes(buffer[:got]) if got else b""

    return read


def _frames(blocks: Iterable[bytes]) -> Iterator[list[Frame]]:
    """A logs response, block by block: each item is every whole frame that had arrived.

    The engine multiplexes a container's stdout and stderr into frames of one log message each,
    in the order it wrote them; cutting whatever has arrived into frames hands on many lines per
    batch when a container is chatty and one when it is not. A stream that does not start with a
    frame header is a TTY container's raw output (with ``timestamps`` every message starts with a
    digit): it is all stdout, cut at newlines.
    """
    blocks = iter(blocks)
    first = next(blocks, b"")
    if not first:
        return
    if first[0] not in _STREAM_NAMES:
        yield from _raw_frames(itertools.chain([first], blocks))
        return
    buffer = bytearray()
    for data in itertools.chain([first], blocks):
        buffer += data
        frames: list[Frame] = []
        pos, size = 0, len(buffer)
        while size - pos >= 8:
            stream, length = _FRAME_HEADER.unpack_from(buffer, pos)
            end = pos + 8 + length
            if end > size:
                break
            frames.append((_STREAM_NAMES.get(stream, "stdout"), bytes(buffer[pos + 8 : end])))
            pos = end
        del buffer[:pos]
        if frames:
            yield frames


def _raw_frames(chunks: Iterable[bytes]) -> Iterator[list[Frame]]:
    """Output without frames (a TTY container's, or a stand-in's ``logs()``): stdout, cut into
    one message per line; a run longer than ``MAX_LINE_BYTES`` without a newline is handed on as
    an unfinished message, which the next one continues."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        frames = [("stdout", line + b"\n") for line in lines]
        if len(pending) > MAX_LINE_BYTES:
            frames.append(("stdout", pending))
            pending = b""
        if frames:
            yield frames
    if pending:
        yield [("stdout", pending)]


def _closing(batches: Iterator[list[Frame]], response: Any) -> Iterator[list[Frame]]:
    """``batches``, then the response closed (its connection is not fit to be used again: the
    body was read beneath the HTTP layers)."""
    try:
        yield from batches
    finally:
        response.close()


def _is_stamp(prefix: bytes) -> bool:
    return len(prefix) >= 20 and prefix[4:5] == b"-" and prefix[10:11] == b"T"


def _cut_at(data: bytearray, limit: int) -> int:
    """Where to cut ``data`` at most ``limit`` bytes in, not inside a UTF-8 character."""
    at = limit
    while at > 0 and (data[at] & 0xC0) == 0x80:
        at -= 1
    return at or limit


class _Stream:
    """Where one of a container's streams is: the newest engine timestamp handed on, and how many
    lines carried it, so a second read from that time on can skip what was already delivered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last: str = ""  # sortable form of the newest timestamp, see ``_log_line``
        self.last_ts: float | None = None
        self.at_last = 0  # lines handed on with exactly that timestamp
        self.skip = 0  # how many lines stamped ``last`` a second read will see again


class _Joiner:
    """Turns one read's frames into whole lines.

    The engine's log driver splits a line longer than 16 KiB into messages of 16 KiB; each is a
    frame of its own, with its own timestamp prefix, and all but the last lack the final newline.
    So a frame without a newline continues in the next frame of the same stream, whose timestamp
    is dropped; the line keeps the first one's. A line is held up to ``MAX_LINE_BYTES``, then
    handed on in pieces marked ``LINE_CUT_MARK``.
    """

    def __init__(self) -> None:
        self.partial: dict[str, bytearray] = {}

    def lines(self, frames: list[Frame]) -> list[Joined]:
        """(stream, stamp key, line) of every line the frames finish, in their order within
        each stream (the streams are put in order by ``_Merge``, by their stamps)."""
        if not self.partial and frames:
            # the common case, a batch of whole lines: parsed in bulk (see ``_whole_lines``)
            names = set(map(_FRAME_STREAM, frames))
            if len(names) == 1:
                whole = _whole_lines(names.pop(), list(map(_FRAME_PAYLOAD, frames)))
                if whole is not None:
                    return whole
            else:
                parts = [
                    _whole_lines(name, [p for s, p in frames if s == name])
                    for name in sorted(names, key=_STREAM_ORDER.__getitem__)
                ]
                if all(part is not None for part in parts):
                    return [line for part in parts if part is not None for line in part]
        out: list[Joined] = []
        partial = self.partial
        for stream, payload in frames:
            held = partial.get(stream)
            if held is None:
                if payload.endswith(b"\n"):
                    out.append((stream, *_log_line(stream, payload[:-1])))
                    continue
                held = partial[stream] = bytearray(payload)
            else:
                stamp, sep, rest = payload.partition(b" ")
                held += rest if sep and _is_stamp(stamp) else payload
            if held.endswith(b"\n"):
                del partial[stream]
                out.append((stream, *_log_line(stream, bytes(held[:-1]))))
                continue
            while len(held) > MAX_LINE_BYTES:
                at = _cut_at(held, MAX_LINE_BYTES)
                stamp, sep, _ = bytes(held[:40]).partition(b" ")
                key, line = _log_line(stream, bytes(held[:at]))
                out.append((stream, key, LogLine(line.stream, line.ts, line.text + LINE_CUT_MARK)))
                del held[:at]
                if sep and _is_stamp(stamp):
                    held[:0] = stamp + b" "  # the rest keeps the line's stamp
        return out

    def rest(self) -> list[Joined]:
        """The unfinished lines, as they are (the read has ended)."""
        out = [(stream, *_log_line(stream, bytes(held))) for stream, held in self.partial.items()]
        self.partial.clear()
        return out


class _Held:
    """One stream's lines that ``_Merge`` holds: the lines, their stamps (kept apart, so that
    finding how many may go is one ``bisect``) and when each batch of them arrived."""

    __slots__ = ("arrivals", "base", "items", "ordered", "ts")

    def __init__(self) -> None:
        self.items: list[Joined] = []
        self.ts: list[float] = []
        self.arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self.base = 0  # how many lines were taken before ``items[0]``
        self.ordered = True  # ``ts`` never decreases (the engine's clock did not step back)

    def add(self, items: list[Joined], stamps: list[float], now: float) -> None:
        if self.ordered:
            self.ordered = (not self.ts or self.ts[-1] <= stamps[0]) and stamps == sorted(stamps)
        self.items += items
        self.ts += stamps
        self.arrivals.append((now, self.base + len(self.items)))

    def count_until(self, bound: float) -> int:
        """How many of the first lines are stamped ``bound`` or earlier."""
        if self.ordered:
            return bisect.bisect_right(self.ts, bound)
        count = 0
        for ts in self.ts:
            if ts > bound:
                break
            count += 1
        return count

    def take(self, count: int) -> tuple[list[Joined], list[float]]:
        items, stamps = self.items[:count], self.ts[:count]
        del self.items[:count], self.ts[:count]
        self.base += count
        while self.arrivals and self.arrivals[0][1] <= self.base:
            self.arrivals.popleft()
        if not self.items:
            self.ordered = True
        return items, stamps

    def first_arrival(self) -> float | None:
        return self.arrivals[0][0] if self.items else None

    def arrived_by(self, cutoff: float) -> int:
        """How many of the first lines arrived at ``cutoff`` or before."""
        end = self.base
        for arrived, batch_end in self.arrivals:
            if arrived > cutoff:
                break
            end = batch_end
        return end - self.base

    def clear(self) -> None:
        self.take(len(self.items))


class _Merge:
    """One read's lines of both streams, handed on in timestamp order.

    Each stream's stamps only grow, but the engine stamps a message when it takes it from the
    container and writes it to the log a moment later, so across the two streams a message can
    come after one stamped later (often, on a busy machine). A line is handed on once nothing
    stamped earlier can follow it: the other stream has shown a later stamp, or a line stamped
    ``ORDER_SKEW_S`` later has come, or it has waited ``ORDER_GRACE_S`` (the last lines before
    a quiet spell: ``run``, in a thread of its own, hands those on).

    Lines are held per stream in lists, and what may go is cut off in bulk: this runs for every
    line of every op, at up to hundreds of thousands of lines a second.
    """

    def __init__(self, hand_on: Callable[[list[Joined]], None]) -> None:
        self._hand_on = hand_on
        self._cond = threading.Condition()
        self._held = {name: _Held() for name in ("stdout", "stderr")}
        self._newest = dict.fromkeys(self._held, -math.inf)  # per stream, in this read
        self._closed = False

    def add(self, lines: list[Joined]) -> None:
        if not lines:
            return
        now = time.monotonic()
        with self._cond:
            if self._closed:
                return
            idle = not any(held.items for held in self._held.values())
            names = set(map(_FRAME_STREAM, lines))
            for name in sorted(names, key=_STREAM_ORDER.__getitem__):
                items = lines if len(names) == 1 else [j for j in lines if j[0] == name]
                stamps = [j[2].ts for j in items]
                self._held[name].add(items, stamps, now)
                self._newest[name] = max(self._newest[name], max(stamps))
            newest = self._newest.values()
            self._release(max(min(newest), max(newest) - ORDER_SKEW_S))
            # ``run`` waits for the oldest held line's time; only when none was held does it
            # wait for this (a wake-up per batch would cost the GIL per batch)
            if idle and any(held.items for held in self._held.values()):
                self._cond.notify()

    def _release(self, bound: float) -> None:
        """Hand on the held lines stamped ``bound`` or earlier, merging the streams."""
        first, second = self._held["stdout"], self._held["stderr"]
        orderly = first.ordered and second.ordered
        out_items, out_ts = first.take(first.count_until(bound))
        err_items, err_ts = second.take(second.count_until(bound))
        if not err_items:
            out = out_items
        elif not out_items:
            out = err_items
        elif orderly:  # a stable sort: on equal stamps stdout comes first
            items, stamps = out_items + err_items, out_ts + err_ts
            out = [items[i] for i in sorted(range(len(items)), key=stamps.__getitem__)]
        else:
            out = []
            i = j = 0
            while i < len(out_items) or j < len(err_items):
                if i < len(out_items) and (j == len(err_items) or out_ts[i] <= err_ts[j]):
                    out.append(out_items[i])
                    i += 1
                else:
                    out.append(err_items[j])
                    j += 1
        if out:
            self._hand_on(out)

    def run(self) -> None:
        """Hand on the lines that have waited ``ORDER_GRACE_S``, until ``close``."""
        with self._cond:
            while not self._closed:
                heads = [
                    arrived
                    for held in self._held.values()
                    if (arrived := held.first_arrival()) is not None
                ]
                if not heads:
                    self._cond.wait()
                    continue
                wait = min(heads) + ORDER_GRACE_S - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                cutoff = time.monotonic() - ORDER_GRACE_S
                bound = -math.inf
                for held in self._held.values():
                    if count := held.arrived_by(cutoff):
                        bound = max(bound, max(held.ts[:count]))
                self._release(bound)

    def close(self, flush: bool) -> None:
        """The read has ended: hand on what is held (``flush``) or drop it."""
        with self._cond:
            if flush and not self._closed:
                self._release(math.inf)
            for held in self._held.values():
                held.clear()
            self._closed = True
            self._cond.notify_all()


class _Follower:
    """Follows a container's stdout and stderr: one request, read in a daemon thread.

    Both streams come in one request, and lines are handed on in timestamp order across them
    (``_Merge``, whose thread hands on the last lines before a quiet spell). Two requests, one
    per stream, used to hand on each stream's backlog separately after a re-adoption.

    Docker 20.10 can end a ``follow`` stream when the container exits before the reader has
    caught up with the log file (lines are then silently missing: seen here with a slow reader on
    a busy machine). So when the container has stopped, ``finish`` stops following and reads what
    is left with a plain, non-follow read from the last timestamp handed on, which the engine
    serves from the file to its end; lines are de-duplicated by their nanosecond stamps, per
    stream. A stream that breaks because the engine went away ends the follower quietly.
    """

    def __init__(self, api: Any, container_id: str, since: float | None, sink: LogSink) -> None:
        self._api, self._id, self._since, self._sink = api, container_id, since, sink
        self._stop = threading.Event()
        self._lock = threading.Lock()  # hand-offs happen one at a time, so no line twice
        self._responses: list[Any] = []
        self._streams = {name: _Stream(name) for name in ("stdout", "stderr")}
        self._merge = _Merge(self._hand_on)
        self._threads = [
            threading.Thread(target=self._pump, daemon=True, name="logs-follow"),
            threading.Thread(target=self._merge.run, daemon=True, name="logs-order"),
        ]
        for thread in self._threads:
            thread.start()

    def _read(
        self, since: float | None, *, follow: bool, tail: int | None
    ) -> Iterator[list[Frame]]:
        """One ``logs`` request for both streams, with engine timestamps, as batches of frames.

        The SDK's ``logs()`` drops which stream a frame belongs to, so the request is made at the
        level below it. An API object offering only ``logs()`` is read as untagged output."""
        if not isinstance(self._api, docker.APIClient):
            kwargs: dict[str, Any] = {"since": since} if since is not None else {}
            result = self._api.logs(
                self._id,
                stdout=True,
                stderr=True,
                timestamps=True,
                stream=follow,
                follow=follow,
                tail="all" if tail is None else tail,
                **kwargs,
            )
            return _raw_frames([result] if isinstance(result, bytes) else result)
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "timestamps": 1,
            "follow": int(follow),
            "tail": "all" if tail is None else str(tail),
        }
        if since is not None and since > 0:
            params["since"] = f"{since:.9f}"
        url = self._api._url("/containers/{0}/logs", self._id)
        # a follow stream may stay quiet for hours: no read timeout (cancel closes it)
        response = self._api._get(url, params=params, stream=True, timeout=None if follow else 60)
        self._api._raise_for_status(response)
        stream = CancellableStream(iter(()), response)
        self._responses.append(stream)
        if follow and self._stop.is_set():  # cancelled while the request was on its way
            stream.close()
        return _closing(_frames(_arrivals(response)), response)

    def _pump(self) -> None:
        # ends quietly when the container or the engine goes away; ``finish`` reads what is left
        try:
            with contextlib.suppress(*_STREAM_ERRORS):
                batches = self._read(self._since, follow=True, tail=None)
                self._deliver(batches, self._merge, self._stop)
        finally:
            self._merge.close(flush=not self._stop.is_set())

    def _deliver(
        self, batches: Iterable[list[Frame]], merge: _Merge, stop: threading.Event | None
    ) -> int:
        """Hand on the lines of ``batches`` through ``merge``; returns how many frames were read.
        Unfinished lines at the end are handed on only by a read that has no ``stop`` (the last
        read); a cancelled read hands on nothing more (``finish`` reads it again)."""
        joiner = _Joiner()
        count = 0
        try:
            for frames in batches:
                if stop is not None and stop.is_set():
                    return count
                count += len(frames)
                merge.add(joiner.lines(frames))
            if stop is None:
                merge.add(joiner.rest())
        finally:
            merge.close(flush=stop is None or not stop.is_set())
        return count

    def _hand_on(self, lines: list[Joined]) -> None:
        with self._lock:
            fresh = self._all_fresh(lines)
            if fresh is not None:
                if fresh:
                    self._sink(fresh)
                return
            fresh = []
            for name, key, line in lines:
                stream = self._streams[name]
                if key:
                    if key < stream.last:
                        continue
                    if key == stream.last and stream.skip > 0:
                        stream.skip -= 1  # handed on already, by the follow stream
                        continue
                    if key > stream.last:
                        stream.last, stream.last_ts, stream.at_last = key, line.ts, 1
                    else:
                        stream.at_last += 1
                fresh.append(line)
            if fresh:
                self._sink(fresh)

    def _all_fresh(self, lines: list[Joined]) -> list[LogLine] | None:
        """The lines, when all are new without looking at each (one stream, stamps growing and
        after the last one handed on, nothing to skip): what following a chatty op hands on.
        None when they must be looked at one by one."""
        if not lines:
            return []
        names = set(map(_FRAME_STREAM, lines))
        if len(names) != 1:
            return None
        stream = self._streams[names.pop()]
        keys = list(map(_JOINED_KEY, lines))
        if stream.skip or not keys[0] > stream.last:
            return None
        if not all(map(operator.le, keys, itertools.islice(keys, 1, None))):
            return None
        last = len(keys) - 1
        while last > 0 and keys[last - 1] == keys[-1]:
            last -= 1
        stream.last, stream.last_ts, stream.at_last = keys[-1], lines[last][2].ts, len(keys) - last
        return list(map(_JOINED_LINE, lines))

    def cancel(self) -> None:
        self._stop.set()
        self._merge.close(flush=False)
        for response in self._responses:
            with contextlib.suppress(Exception):
                response.close()

    def finish(self, timeout: float, keep: int) -> Drained:
        """The container has stopped: stop following, then read what the follow stream has not
        delivered, at most the newest ``keep`` messages (a plain read of both streams).

        The engine serves a read with a ``tail`` by decoding its log file from that many
        messages before the end, so the first read asks for ``CATCH_UP_FIRST`` messages (what
        a follower that kept up has missed at most); only when those all came after the last
        line followed is the rest read, up to ``keep``."""
        deadline = time.monotonic() + timeout
        self.cancel()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        gap: list[bool] = []
        unread: list[bool] = []

        def catch_up() -> None:
            with self._lock:
                for stream in self._streams.values():
                    stream.skip = stream.at_last
                stamps = [s.last_ts for s in self._streams.values() if s.last_ts is not None]
                last = {name: s.last for name, s in self._streams.items()}
            since = min(stamps) - 0.001 if stamps else self._since

            def missed(frames: list[Frame]) -> bool:
                """The read began after the last line followed: lines before it were not read."""
                stream, payload = frames[0]
                return _log_line(stream, payload.rstrip(b"\n"))[0] > last[stream]

            first: list[list[Frame]] = []

            def noting_first(batches: Iterable[list[Frame]]) -> Iterator[list[Frame]]:
                for frames in batches:
                    if frames and not first:
                        first.append(frames)
                    yield frames

            try:
                tail = min(keep, CATCH_UP_FIRST)
                newest = list(self._read(since, follow=False, tail=tail))
                read: Iterable[list[Frame]] = newest
                if tail < keep and sum(map(len, newest)) >= tail and missed(newest[0]):
                    tail = keep  # more than that was missed: read what is kept, as it comes
                    read = self._read(since, follow=False, tail=tail)
                count = self._deliver(noting_first(read), _Merge(self._hand_on), None)
            except docker.errors.NotFound:
                return  # the container is gone: there is nothing left to read
            except _STREAM_ERRORS:
                unread.append(True)  # the engine went away: what is left was not read
                return
            if count >= tail and first and missed(first[0]):
                gap.append(True)

        reader = threading.Thread(target=catch_up, daemon=True, name="logs-end")
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        return Drained(complete=not reader.is_alive() and not unread, gap=bool(gap))


_EPOCH_OF_SECOND: dict[str, float] = {}

_FRAME_STREAM = operator.itemgetter(0)  # of a Frame or a Joined
_FRAME_PAYLOAD = operator.itemgetter(1)
_JOINED_KEY = operator.itemgetter(1)
_JOINED_LINE = operator.itemgetter(2)
_STREAM_ORDER = {"stdout": 0, "stderr": 1}
_ENGINE_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z ")
_NEWLINE = itertools.repeat(b"\n")


def _whole_lines(stream: str, payloads: list[bytes]) -> list[Joined] | None:
    """``_log_line`` of every payload, done in bulk: the same keys and lines, at a fraction of
    the cost (one decode, one split, and list operations that run in C), for payloads that each
    hold one whole line stamped as the engine stamps (RFC 3339, nine fraction digits). None when
    any does not: then each goes through ``_log_line``."""
    if not payloads or not all(map(bytes.endswith, payloads, _NEWLINE)):
        return None
    blob = b"".join(payloads)
    if blob.count(b"\n") != len(payloads):
        return None
    text = blob.decode("utf-8", "replace")
    rows = text.split("\n")
    rows.pop()
    if "\r" in text:
        rows = [row.rstrip("\r") for row in rows]
    if not all(map(_ENGINE_STAMP.match, rows)):
        return None
    seconds = [row[:19] for row in rows]
    bases: dict[str, float] = {}
    for second in set(seconds):
        base = _EPOCH_OF_SECOND.get(second)
        if base is None:
            try:
                base = datetime.fromisoformat(second + "+00:00").timestamp()
            except ValueError:
                return None
            if len(_EPOCH_OF_SECOND) > 4096:
                _EPOCH_OF_SECOND.clear()
            _EPOCH_OF_SECOND[second] = base
        bases[second] = base
    stamps = [
        bases[second] + int(row[20:29]) / 1e9 for second, row in zip(seconds, rows, strict=True)
    ]
    texts = [row[31:] for row in rows]
    names = itertools.repeat(stream, len(rows))
    lines = map(tuple.__new__, itertools.repeat(LogLine), zip(names, stamps, texts, strict=True))
    keys = [row[:29] for row in rows]
    return list(zip(itertools.repeat(stream, len(rows)), keys, lines, strict=True))


def _log_line(stream: str, raw: bytes) -> tuple[str, LogLine]:
    """A line of a ``timestamps=True`` stream -> (its stamp in a sortable form, the line).

    The engine writes RFC 3339 UTC stamps with nine fixed fraction digits; the sortable form pads
    the fraction anyway. Parsing is by slicing, with the second's epoch cached (one datetime per
    second of output, not per line): this runs for every line of every op.
    """
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, sep, rest = text.partition(" ")
    if sep and len(stamp) >= 20 and stamp[4] == "-" and stamp[10] == "T" and stamp[-1] == "Z":
        second, _, fraction = stamp[:-1].partition(".")
        base = _EPOCH_OF_SECOND.get(second)
        if base is None:
            try:
                base = datetime.fromisoformat(second + "+00:00").timestamp()
            except ValueError:
                return "", LogLine(stream, time.time(), text)
            if len(_EPOCH_OF_SECOND) > 4096:
                _EPOCH_OF_SECOND.clear()
            _EPOCH_OF_SECOND[second] = base
        digits = fraction[:9].ljust(9, "0")
        if digits.isdigit():
            return second + "." + digits, LogLine(stream, base + int(digits) / 1e9, rest)
    if sep and stamp[:4].isdigit() and "T" in stamp:
        try:
            return "", LogLine(stream, _ts(stamp) or time.time(), rest)
        except ValueError:
            pass
    return "", LogLine(stream, time.time(), text)
