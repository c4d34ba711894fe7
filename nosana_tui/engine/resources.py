"""Resources an op mounts (``args.resources``: S3, Hugging Face, Ollama), as the Nosana node
provides them (reference §1.10): each is fetched into a named volume, kept for later jobs, and
mounted at its ``target``, read-only unless ``allowWrite``.

- A volume is keyed by the resource: a hash of its kind, the endpoint it comes from and what it
  names (bucket and prefix and files; repository, revision and files; model), never of its
  credentials. ``allowWrite`` is part of the key: a writable mount never changes what a
  read-only one sees.
- The download goes to a folder on this machine first (``Fetcher``, over each service's own
  client), then into the volume (``Backend.fill_cached_volume``), whose completion marker is
  written last: a volume without it was being filled when something stopped, so it is removed
  and fetched again, never mounted as complete. A download that fails leaves no volume.
- The marker also says when the volume was last used: ``node prune`` removes those not used for
  a while (and not in use), of those this agent made. Agents on one engine share what they
  fetch (a volume is named by its key), but each volume is labelled with the id of the agent
  that made it (``owner_of`` its data folder), and only that agent prunes it: one agent's
  prune never takes another's cache away. A volume of no agent (made before the label) is
  pruned by any.

Credentials go to the fetcher and nowhere else: not into a log line, the op's state, a label or
the marker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from nosana_tui.api.models import FetchState
from nosana_tui.engine.backend import (
    LABEL_RESOURCE,
    LABEL_RESOURCE_KIND,
    LABEL_RESOURCE_OWNER,
    LABEL_RESOURCE_SOURCE,
    Backend,
    BackendError,
)
from nosana_tui.engine.literals import LiteralContext, interpolate
from nosana_tui.engine.threads import in_own_thread
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.plan import merged_args
from nosana_tui.jobformat.secrets import MASK

OLLAMA_TARGET = "/root/.ollama/models"  # the node's default target of an Ollama resource
VOLUME_PREFIX = "nosana-tui-resource-"
LOG_EVERY_S = 2.0  # a progress line in the system log at most this often
MARKER_VERSION = 1
OWNER_FILE = "resource-owner"  # in the agent's data folder: the id its volumes are labelled with

AnyResource = m.S3Resource | m.HFResource | m.OllamaResource
_ONE = TypeAdapter(m.Resource)


class FetchError(Exception):
    """A download failed; the message is the service's own, with what was asked of it."""


@dataclass(frozen=True)
class FetchProgress:
    """How far a download is: sent by the fetcher as bytes arrive."""

    bytes_done: int
    bytes_total: int | None = None
    files_done: int = 0
    files_total: int | None = None


class Fetcher(Protocol):
    """Downloads resources into a folder of this machine (``backends.downloads``)."""

    def identity(self, resource: AnyResource) -> dict[str, Any]:
        """What the resource names, with the endpoint it comes from: the cache key's input.
        No credentials."""
        ...

    def describe(self, resource: AnyResource) -> str:
        """The resource in a few words, for logs and labels (no credentials)."""
        ...

    def authorize(self, resource: AnyResource) -> None:
        """Ask the service whether the resource's credentials still open it (a cached volume is
        reused only by a job that could have fetched it). Raises ``FetchError`` with the
        service's refusal; returns when it allows it, or cannot be reached to say. Blocking."""
        ...

    def fetch(
        self,
        resource: AnyResource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        """Download everything the resource names into ``dest``, laid out as it is to be
        mounted. Blocking; stops early (``FetchError``) once ``cancel`` is set. Raises
        ``FetchError`` with the service's message."""
        ...


def resources_of(
    definition: m.JobDefinition, op: m.RunOperation, literals: LiteralContext
) -> list[AnyResource]:
    """The op's resources (``global``'s merged in), literals substituted. Raises
    ``UnresolvedLiteral``, and ``BackendError`` for one a literal made invalid."""
    raw = interpolate(merged_args(definition, op), literals).get("resources") or []
    out: list[AnyResource] = []
    for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
        if isinstance(item, m.S3Resource | m.HFResource | m.OllamaResource):
            out.append(item)
            continue
        if item == m.REMOVE_IF_EMPTY or item is None:
            continue
        try:
            parsed = _ONE.validate_python(item)
        except ValidationError as err:
            problem = err.errors()[0].get("msg", str(err))
            raise BackendError(f"resources[{index}] is not a resource: {problem}") from None
        if isinstance(parsed, m.S3Resource | m.HFResource | m.OllamaResource):
            out.append(parsed)
    return out


def without_credentials(data: Any) -> Any:
    """A copy of a job definition (or any part of one) with the credentials of its resources
    (``IAM`` keys, ``accessToken``) masked: what the agent may keep on disk."""
    if isinstance(data, list):
        return [without_credentials(v) for v in data]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key == "resources" and isinstance(value, list):
            out[key] = [_masked(v) for v in value]
        else:
            out[key] = without_credentials(value)
    return out


def _masked(resource: Any) -> Any:
    if not isinstance(resource, dict):
        return resource
    out = dict(resource)
    if out.get("accessToken"):
        out["accessToken"] = MASK
    if isinstance(out.get("IAM"), dict):
        out["IAM"] = {k: (v if k == "REGION" or not v else MASK) for k, v in out["IAM"].items()}
    return out


def _lost_credentials(resource: AnyResource) -> bool:
    """The job was read back from disk after the agent restarted: its credentials are gone."""
    if isinstance(resource, m.HFResource):
        return resource.accessToken == MASK
    if isinstance(resource, m.S3Resource) and resource.IAM is not None:
        return MASK in (resource.IAM.ACCESS_KEY_ID, resource.IAM.SECRET_ACCESS_KEY)
    return False


def target_of(resource: AnyResource) -> str:
    if isinstance(resource, m.OllamaResource):
        return resource.target or OLLAMA_TARGET
    return resource.target


def writable(resource: AnyResource) -> bool:
    return isinstance(resource, m.S3Resource) and bool(resource.allowWrite)


def resource_key(identity: dict[str, Any], resource: AnyResource) -> str:
    body = {**identity, "kind": resource.type, "writable": writable(resource)}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def volume_name(resource: AnyResource, key: str) -> str:
    return f"{VOLUME_PREFIX}{resource.type.lower()}-{key[:24]}"


@dataclass
class _Rate:
    """Bytes per second over the last few seconds of updates."""

    window: float = 3.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, now: float, done: int) -> float | None:
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window:
            self.samples.pop(0)
        first_t, first_done = self.samples[0]
        return (done - first_done) / (now - first_t) if now - first_t > 0.05 else None


@dataclass(frozen=True)
class Pruned:
    removed: list[tuple[str, str]]  # (volume, what it held)
    in_use: list[str]  # old enough, but a container uses it
    kept: int  # used more recently


_OWNER_ID = re.compile(r"[0-9a-f]{32}")
_OWNER_HELP = (
    "it holds the id this agent labels its resource volumes with; remove the file and the "
    "agent makes a new one (the volumes labelled with the old id are then pruned by no agent: "
    "docker volume ls --filter label=nosana-tui.resource.owner lists them)"
)


def owner_of(data_dir: Path) -> str:
    """The id of the agent whose data folder this is: made once, kept in the folder. A random
    id, not the folder's path: agents on other machines (or in other containers) that share one
    engine may have data folders of the same path."""
    path = data_dir / OWNER_FILE
    try:
        found = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        found = ""
    except (OSError, UnicodeDecodeError) as err:
        raise BackendError(f"{path}: cannot be read ({err}); {_OWNER_HELP}") from None
    if found:
        if not _OWNER_ID.fullmatch(found):
            raise BackendError(f"{path}: {found[:40]!r} is not an agent id; {_OWNER_HELP}")
        return found
    made = uuid.uuid4().hex
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{OWNER_FILE}.partial")
    partial.write_text(made + "\n", encoding="utf-8")
    os.replace(partial, path)  # whole or not at all
    return made


class ResourceCache:
    """Cached resource volumes on one backend: provided to ops, pruned by age. ``owner`` is the
    agent's id (``LABEL_RESOURCE_OWNER`` of the volumes it makes, the only ones it prunes); by
    default ``owner_of`` the data folder that holds ``work_dir``."""

    def __init__(
        self, backend: Backend, fetcher: Fetcher, work_dir: Path, owner: str | None = None
    ) -> None:
        self.backend = backend
        self.fetcher = fetcher
        self.work_dir = work_dir  # downloads land here before they go into their volume
        self.owner = owner or owner_of(work_dir.parent)
        # what an agent killed mid-download left: never finished, never to be used
        shutil.rmtree(work_dir, ignore_errors=True)
        self._locks: dict[str, asyncio.Lock] = {}
        self._busy: set[str] = set()  # volumes being checked or filled now: never pruned

    async def provide(
        self,
        resource: AnyResource,
        state: FetchState,
        log: Callable[[str], None],
        changed: Callable[[], None],
        wanted: Callable[[], bool] = lambda: True,
    ) -> tuple[str, str, bool]:
        """The resource's volume, complete, as (volume, target, read-only): found in the cache
        or fetched now. ``state`` is updated as bytes arrive (``changed`` is called, at most a
        few times a second); ``wanted`` turning False (the op was stopped) ends the download.
        Raises ``BackendError`` saying what failed."""
        key = resource_key(self.fetcher.identity(resource), resource)
        name = state.volume
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            self._busy.add(name)
            try:
                await self._provide(resource, key, name, state, log, changed, wanted)
            finally:
                self._busy.discard(name)
        return name, target_of(resource), not writable(resource)

    def state_of(self, resource: AnyResource) -> FetchState:
        """What the op's view shows of the resource; ``BackendError`` when it names nothing
        that can be fetched (an S3 url that is not one, an Ollama name that is not one)."""
        try:
            key = resource_key(self.fetcher.identity(resource), resource)
            source = self.fetcher.describe(resource)
        except FetchError as err:
            raise BackendError(f"{resource.type} resource: {err}") from None
        target = target_of(resource)
        if not target.startswith("/") or target.rstrip("/") == "":
            # Docker would refuse the mount, but only after the download: say so first
            raise BackendError(
                f"{resource.type} resource {source}: target {target!r} is not a folder it can "
                "be mounted at: give an absolute path other than /"
            )
        return FetchState(
            kind=resource.type,
            source=source,
            volume=volume_name(resource, key),
            target=target,
        )

    async def _provide(
        self,
        resource: AnyResource,
        key: str,
        name: str,
        state: FetchState,
        log: Callable[[str], None],
        changed: Callable[[], None],
        wanted: Callable[[], bool],
    ) -> None:
        source = state.source
        found = await self.backend.cached_volume(name)
        if found is not None and found.marker is not None:
            # reused only by a job that could have fetched it: a private bucket or repository
            # stays closed to a job without (or with wrong) credentials
            try:
                await asyncio.to_thread(self.fetcher.authorize, resource)
            except FetchError as err:
                raise BackendError(f"{resource.type} resource {source}: {err}") from None
            used = {**found.marker, "last_used": time.time()}
            await self.backend.mark_cached_volume(name, used)
            state.cached = state.done = True
            state.bytes_done = state.bytes_total = int(str(used.get("bytes") or 0))
            state.files_done = state.files_total = int(str(used.get("files") or 0))
            log(f"reused cached volume {name} ({source}: {state.progress})")
            changed()
            return
        if _lost_credentials(resource):
            raise BackendError(
                f"{source} needs the job's credentials, and the agent keeps them in memory only: "
                "it has restarted since the job was submitted; submit the job again"
            )
        if found is not None:
            log(f"volume {name} was left half-filled (a fetch was interrupted): fetching again")
            if not await self.backend.remove_cached_volume(name):
                raise BackendError(
                    f"volume {name} ({source}) is half-filled and a container still uses it; "
                    "remove that container, then start the op again"
                )
        log(f"fetching {source} into volume {name}")
        started = time.monotonic()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        dest = self.work_dir / f"{name}.partial"
        shutil.rmtree(dest, ignore_errors=True)
        await self._download(resource, dest, state, log, changed, wanted)
        try:
            if not wanted():
                raise BackendError(f"fetching {source} stopped: the op was stopped")
            elapsed = max(time.monotonic() - started, 1e-3)
            state.rate = state.bytes_done / elapsed
            now = time.time()
            marker: dict[str, object] = {
                "version": MARKER_VERSION,
                "key": key,
                "kind": resource.type,
                "source": source,
                "bytes": state.bytes_done,
                "files": state.files_done,
                "completed_at": now,
                "last_used": now,
            }
            labels = {
                LABEL_RESOURCE: key,
                LABEL_RESOURCE_KIND: resource.type,
                LABEL_RESOURCE_SOURCE: source[:250],
                LABEL_RESOURCE_OWNER: self.owner,
            }
            await self.backend.fill_cached_volume(name, labels, dest, marker)
        finally:
            await asyncio.to_thread(shutil.rmtree, dest, True)
        state.done = True
        state.bytes_total = state.bytes_total or state.bytes_done
        log(f"fetched {source} into volume {name}: {state.progress} in {elapsed:.1f} s")
        changed()

    async def _download(
        self,
        resource: AnyResource,
        dest: Path,
        state: FetchState,
        log: Callable[[str], None],
        changed: Callable[[], None],
        wanted: Callable[[], bool],
    ) -> None:
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        rate = _Rate()
        last = {"changed": 0.0, "log": time.monotonic()}

        def apply(p: FetchProgress) -> None:
            if not wanted():
                cancel.set()
            now = time.monotonic()
            state.bytes_done, state.files_done = p.bytes_done, p.files_done
            if p.bytes_total is not None:
                state.bytes_total = p.bytes_total
            if p.files_total is not None:
                state.files_total = p.files_total
            state.rate = rate.add(now, p.bytes_done)
            if now - last["changed"] > 0.2:
                last["changed"] = now
                changed()
            if now - last["log"] > LOG_EVERY_S:
                last["log"] = now
                log(f"fetching {state.source}: {state.progress}")

        def progress(p: FetchProgress) -> None:
            loop.call_soon_threadsafe(apply, p)

        def run() -> None:
            try:
                dest.mkdir(parents=True)
                self.fetcher.fetch(resource, dest, progress, cancel)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)  # nothing half-made stays behind
                raise

        try:
            await in_own_thread(run, f"resource-fetch {state.volume}")
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next chunk and removes what it wrote
            raise
        except FetchError as err:
            raise BackendError(f"{resource.type} resource {state.source}: {err}") from None
        except OSError as err:
            raise BackendError(
                f"{resource.type} resource {state.source}: could not write the download: {err}"
            ) from None
        except Exception as err:  # a client library's own error: the op fails, saying it
            raise BackendError(
                f"{resource.type} resource {state.source}: {type(err).__name__}: {err}"
            ) from None
        await asyncio.sleep(0)  # the last progress updates land first

    async def prune(self, older_than: float) -> Pruned:
        """Remove the cached volumes this agent made that were not used for ``older_than``
        seconds (and half-filled ones), unless a container uses them or they are being filled
        now. Other agents' volumes are theirs to prune, and are not counted; volumes of no
        agent (made before volumes carried their maker's id) are pruned by any."""
        now = time.time()
        removed: list[tuple[str, str]] = []
        in_use: list[str] = []
        kept = 0
        for volume in await self.backend.cached_volumes(owner=self.owner):
            if volume.name in self._busy:
                kept += 1
                continue
            marker = volume.marker or {}
            used = marker.get("last_used") or marker.get("completed_at")
            old = not isinstance(used, int | float) or now - used >= older_than
            if not old:
                kept += 1
                continue
            if volume.in_use or not await self.backend.remove_cached_volume(volume.name):
                in_use.append(volume.name)
                continue
            removed.append((volume.name, volume.labels.get(LABEL_RESOURCE_SOURCE, "")))
        return Pruned(removed, in_use, kept)
