"""The Docker backend: the engine's container operations over the Docker Engine API.

The only module that imports the ``docker`` SDK. Blocking SDK calls run in worker threads; log
streams and the event stream each run in a daemon thread of their own and hand batches of lines to
the caller's sink (which hops onto the event loop), so nothing blocks the loop and nothing is
delivered one line at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors
import requests.exceptions
from docker.types import DeviceRequest

from nosana_tui.backends import gpu as gpu_host
from nosana_tui.config import is_loopback
from nosana_tui.engine.backend import (
    LABEL_AGENT,
    LABEL_JOB,
    LABEL_OP,
    BackendError,
    ContainerSpec,
    ContainerState,
    Drained,
    EventSink,
    GpuAccess,
    LogLine,
    LogSink,
    PullProgress,
)

NETWORK_PREFIX = "nosana-tui-"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


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


def _gpu_hint(err: Exception) -> str:
    text = str(err)
    if "could not select device driver" in text or "nvidia" in text.lower():
        return (
            "this Docker engine cannot give containers a GPU: install the NVIDIA container "
            "toolkit (nvidia-container-toolkit) and restart dockerd, or run the op without "
            f"gpu: true ({text})"
        )
    return text


class DockerBackend:
    """Containers, networks and volumes of nosana-tui jobs on one Docker engine."""

    def __init__(
        self, base_url: str | None = None, agent_id: str = "", gpu_ids: list[int] | None = None
    ) -> None:
        try:
            self.client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            self.client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise BackendError(
                f"no Docker engine answers ({err}); start dockerd, or set DOCKER_HOST"
            ) from None
        self.api = self.client.api
        self.agent_id = agent_id
        self.gpu_ids = gpu_ids  # None: all GPUs (`node serve --gpus all`)
        self._gpu: tuple[GpuAccess, gpu_host.Passthrough | list[str] | None] | None = None

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.NotFound:
            raise
        except docker.errors.APIError as err:
            raise BackendError(err.explanation or str(err)) from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise BackendError(str(err)) from None

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
        except (docker.errors.DockerException, requests.exceptions.RequestException):
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
        if not any(n.get("Name") == name for n in found):
            await self._call(
                self.api.create_network, name, driver="bridge", labels=self._labels(job_id)
            )
        return name

    async def remove_network(self, job_id: str) -> None:
        for net in await self._call(self.api.networks, filters={"label": f"{LABEL_JOB}={job_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                await self._call(self.api.remove_network, net["Id"])

    async def create_volume(self, job_id: str, name: str) -> str:
        full = f"{job_id}-{name}"
        await self._call(self.api.create_volume, name=full, labels=self._labels(job_id))
        return full

    async def remove_volumes(self, job_id: str) -> None:
        found = await self._call(self.api.volumes, filters={"label": f"{LABEL_JOB}={job_id}"})
        for vol in found.get("Volumes") or []:
            with contextlib.suppress(docker.errors.NotFound):
                await self._call(self.api.remove_volume, vol["Name"], force=True)

    # --- images -------------------------------------------------------------------------------

    async def has_image(self, image: str) -> bool:
        try:
            await self._call(self.api.inspect_image, image)
        except docker.errors.NotFound:
            return False
        return True

    async def pull(self, image: str, progress: Callable[[PullProgress], None]) -> None:
        repo, tag = image, None
        last = image.rsplit("/", 1)[-1]
        if "@" not in image and ":" in last:
            repo, tag = image.rsplit(":", 1)

        def run() -> None:
            for event in self.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
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
            await asyncio.to_thread(run)
        except BackendError:
            raise
        except docker.errors.APIError as err:
            raise BackendError(f"pull {image}: {err.explanation or err}") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise BackendError(f"pull {image}: {err}") from None

    # --- containers ---------------------------------------------------------------------------

    async def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start the container; the returned state has its published ports."""
        host_config: dict[str, Any] = {
            "port_bindings": {p.container_port: ("127.0.0.1", p.host_port) for p in spec.ports},
            "binds": {vol: {"bind": dest, "mode": "rw"} for vol, dest in spec.volumes},
        }
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
            message = err.explanation or str(err)
            raise BackendError(_gpu_hint(err) if spec.gpu else f"start failed: {message}") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise BackendError(f"start failed: {err}") from None
        return _state(attrs)

    async def _passthrough_env(
        self, image: str, env: dict[str, str], plan: gpu_host.Passthrough
    ) -> dict[str, str]:
        """The op's env plus the plan's, search paths put in front of what the container would
        otherwise have (the op's value, else the image's), not in its place."""
        try:
            config = (await self._call(self.api.inspect_image, image)).get("Config") or {}
        except (BackendError, docker.errors.NotFound):
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
        except docker.errors.NotFound:
            return None

    async def stop(self, container_id: str, timeout: float = 10) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(self.api.stop, container_id, timeout=int(timeout))

    async def remove(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(self.api.remove_container, container_id, force=True, v=True)

    async def containers(self, job_id: str | None = None) -> list[ContainerState]:
        label = f"{LABEL_JOB}={job_id}" if job_id else LABEL_JOB
        found = await self._call(self.api.containers, all=True, filters={"label": label})
        states = []
        for item in found:
            with contextlib.suppress(docker.errors.NotFound):
                states.append(_state(await self._call(self.api.inspect_container, item["Id"])))
        return states

    # --- streams ------------------------------------------------------------------------------

    def follow_logs(self, container_id: str, since: float | None, sink: LogSink) -> _Follower:
        """Two daemon threads (stdout, stderr) that send batches of lines to ``sink``."""
        return _Follower(self.api, container_id, since, sink)

    def watch_events(self, sink: EventSink) -> Callable[[], None]:
        stop = threading.Event()
        holder: list[Any] = []

        def pump() -> None:
            while not stop.is_set():
                try:
                    events = self.api.events(
                        decode=True,
                        filters={"type": "container", "label": LABEL_JOB},
                        since=int(time.time()) - 1,
                    )
                    holder[:] = [events]
                    for event in events:
                        if stop.is_set():
                            return
                        actor = event.get("Actor") or {}
                        action = str(event.get("Action") or event.get("status") or "")
                        sink(
                            str(actor.get("ID") or event.get("id")),
                            action.split(":")[0],
                            dict(actor.get("Attributes") or {}),
                        )
                except (
                    docker.errors.DockerException,
                    requests.exceptions.RequestException,
                    OSError,
                ):
                    if stop.wait(1.0):
                        return

        thread = threading.Thread(target=pump, daemon=True, name="docker-events")
        thread.start()

        def cancel() -> None:
            stop.set()
            for events in holder:
                with contextlib.suppress(Exception):
                    events.close()

        return cancel

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


class _Stream:
    """Where one of a container's streams is: the newest engine timestamp handed on, and how many
    lines carried it, so a second read from that time on can skip what was already delivered."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last: str = ""  # sortable form of the newest timestamp, see ``_sort_key``
        self.last_ts: float | None = None
        self.at_last = 0  # lines handed on with exactly that timestamp
        self.skip = 0  # how many lines stamped ``last`` a second read will see again


class _Follower:
    """Follows a container's stdout and stderr, each in a daemon thread.

    Docker 20.10 can end a ``follow`` stream when the container exits before the reader has
    caught up with the log file (lines are then silently missing: seen here with a slow reader on
    a busy machine). So when the container has stopped, ``finish`` stops following and reads what
    is left with a plain, non-follow read from the last timestamp each stream delivered, which the
    engine serves from the file to its end; lines are de-duplicated by their nanosecond stamps.
    """

    def __init__(self, api: Any, container_id: str, since: float | None, sink: LogSink) -> None:
        self._api, self._id, self._since, self._sink = api, container_id, since, sink
        self._stop = threading.Event()
        self._lock = threading.Lock()  # hand-offs happen one at a time, so no line twice
        self._responses: list[Any] = []
        self._streams = {name: _Stream(name) for name in ("stdout", "stderr")}
        self._threads = [
            threading.Thread(target=self._pump, args=(s,), daemon=True, name=f"logs-{s.name}")
            for s in self._streams.values()
        ]
        for thread in self._threads:
            thread.start()

    def _logs(self, which: _Stream, since: float | None, **kwargs: Any) -> Any:
        """One ``logs`` call for one of the container's streams, with engine timestamps."""
        if since is not None:
            kwargs["since"] = since
        return self._api.logs(
            self._id,
            stdout=which.name == "stdout",
            stderr=which.name == "stderr",
            timestamps=True,
            **kwargs,
        )

    def _pump(self, stream: _Stream) -> None:
        try:
            chunks = self._logs(stream, self._since, stream=True, follow=True)
            self._responses.append(chunks)
            self._deliver(stream, chunks)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
            pass  # the container went away; ``finish`` reads what is left

    def _deliver(self, stream: _Stream, chunks: Any) -> None:
        pending = b""
        for chunk in chunks:
            if self._stop.is_set():
                return
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if complete:
                self._hand_on(stream, [_log_line(stream.name, raw) for raw in complete])
        if pending and not self._stop.is_set():
            self._hand_on(stream, [_log_line(stream.name, pending)])

    def _hand_on(self, stream: _Stream, lines: list[tuple[str, LogLine]]) -> None:
        with self._lock:
            fresh: list[LogLine] = []
            for key, line in lines:
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

    def cancel(self) -> None:
        self._stop.set()
        for response in self._responses:
            with contextlib.suppress(Exception):
                response.close()

    def finish(self, timeout: float, keep: int) -> Drained:
        """The container has stopped: stop following, then read what the follow streams have not
        delivered, at most the newest ``keep`` lines of each stream (one plain read each)."""
        deadline = time.monotonic() + timeout
        self.cancel()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        gaps: list[str] = []

        def catch_up(stream: _Stream) -> None:
            with self._lock:
                stream.skip = stream.at_last
                last = stream.last
            since = stream.last_ts - 0.001 if stream.last_ts is not None else self._since
            try:
                data = self._logs(stream, since, tail=keep)
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
                return  # the container is gone: there is nothing left to read
            raws = data.split(b"\n")
            if raws and not raws[-1]:
                raws.pop()
            lines = [_log_line(stream.name, raw) for raw in raws]
            if len(lines) >= keep and lines[0][0] > last:
                gaps.append(stream.name)  # the tail began after the last line followed
            self._hand_on(stream, lines)

        readers = [
            threading.Thread(target=catch_up, args=(s,), daemon=True, name=f"logs-end-{s.name}")
            for s in self._streams.values()
        ]
        for reader in readers:
            reader.start()
        complete = True
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
            complete = complete and not reader.is_alive()
        return Drained(complete=complete, gap=bool(gaps))


_EPOCH_OF_SECOND: dict[str, float] = {}


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
