"""Cached resource volumes on the Docker engine (``engine.resources``): made, filled, marked,
listed and removed, for ``DockerBackend`` (a mixin of it).

A volume is filled without any image from a registry: the agent makes itself an empty image
(``docker import`` of an empty tar, once), *creates* a container of it with the volume mounted
(it is never started: it has nothing to run) and copies a tar into the volume through it
(``put_archive``), then the completion marker, then removes the container. The tar is streamed
from the download folder as it is read, so a model of many GB never sits on disk twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions

from nosana_tui.engine.backend import (
    LABEL_RESOURCE,
    LABEL_RESOURCE_OWNER,
    BackendError,
    CachedVolume,
)
from nosana_tui.engine.threads import in_own_thread

HOLDER_IMAGE = "nosana-tui/resource-holder:1"
LABEL_HOLDER = "nosana-tui.resource.holder"  # the helper container (never started)
MOUNT = "/resource"
MARKER = ".nosana-tui-resource.json"
CHUNK = 1 << 20
STALE_HOLDER_S = 6 * 3600  # a helper container this old was left by an agent that was killed


def _tar_stream(source: Path) -> Iterator[bytes]:
    """A tar of the folder's content (owned by root, as the network's node leaves it), made in
    a thread as it is read."""
    read_fd, write_fd = os.pipe()
    failed: list[BaseException] = []

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def write() -> None:
        try:
            with (
                os.fdopen(write_fd, "wb") as pipe,
                tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                for entry in sorted(source.iterdir()):
                    tar.add(entry, arcname=entry.name, filter=owned_by_root)
        except BaseException as err:  # the reader sees a short tar; the error is raised there
            failed.append(err)

    writer = threading.Thread(target=write, name="resource-tar", daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        while chunk := pipe.read(CHUNK):
            yield chunk
    writer.join()
    if failed:
        raise BackendError(f"could not read the download: {failed[0]}")


def _marker_tar(marker: dict[str, object]) -> bytes:
    data = json.dumps(marker, sort_keys=True).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(MARKER)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class ResourceVolumes:
    """The Backend's cached-volume calls over the Docker SDK (``self.api``, an ``APIClient``)."""

    api: Any
    engine: str

    def _volume_error(self, err: Exception, doing: str) -> BackendError:
        if isinstance(err, docker.errors.APIError):
            return BackendError(f"{doing}: {err.explanation or err}")
        return BackendError(f"{doing}: the Docker engine at {self.engine} does not answer: {err}")

    # --- the helper container ---------------------------------------------------------------

    def _ensure_holder_image(self) -> None:
        try:
            self.api.inspect_image(HOLDER_IMAGE)
            return
        except docker.errors.ImageNotFound:
            pass
        empty = io.BytesIO()
        tarfile.open(fileobj=empty, mode="w").close()
        repo, tag = HOLDER_IMAGE.split(":")
        self.api.import_image_from_data(empty.getvalue(), repository=repo, tag=tag)

    @contextlib.contextmanager
    def _holder(self, volume: str) -> Iterator[str]:
        """A created (never started) container with ``volume`` at ``MOUNT``; removed after."""
        self._ensure_holder_image()
        # a name of its own: two agents on one engine may look into one volume at once
        name = f"nosana-tui-holder-{secrets.token_hex(4)}-{volume}"[:120]
        created = self.api.create_container(
            HOLDER_IMAGE,
            command=["/none"],  # never run: the image is empty
            name=name,
            labels={LABEL_HOLDER: volume},
            network_disabled=True,
            host_config=self.api.create_host_config(binds={volume: {"bind": MOUNT, "mode": "rw"}}),
        )
        try:
            yield created["Id"]
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(created["Id"], force=True)

    def _read_marker(self, volume: str) -> dict[str, object] | None:
        with self._holder(volume) as holder:
            try:
                stream, _ = self.api.get_archive(holder, f"{MOUNT}/{MARKER}")
            except docker.errors.NotFound:
                return None
            data = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(MARKER)
            if member is None:
                return None
            try:
                found = json.loads(member.read())
            except ValueError:
                return None
        return found if isinstance(found, dict) else None

    def _in_use(self, volume: str) -> bool:
        users = self.api.containers(all=True, filters={"volume": volume})
        return any(LABEL_HOLDER not in (c.get("Labels") or {}) for c in users)

    def _cached(self, attrs: dict[str, Any]) -> CachedVolume:
        name = attrs["Name"]
        return CachedVolume(
            name=name,
            labels=dict(attrs.get("Labels") or {}),
            marker=self._read_marker(name),
            in_use=self._in_use(name),
        )

    # --- the Backend's calls ----------------------------------------------------------------

    async def cached_volume(self, name: str) -> CachedVolume | None:
        def look() -> CachedVolume | None:
            try:
                attrs = self.api.inspect_volume(name)
            except docker.errors.NotFound:
                return None
            return self._cached(attrs)

        try:
            return await asyncio.to_thread(look)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise self._volume_error(err, f"volume {name}") from None

    async def cached_volumes(self, owner: str | None = None) -> list[CachedVolume]:
        def look() -> list[CachedVolume]:
            found = self.api.volumes(filters={"label": [LABEL_RESOURCE]})
            out = []
            for attrs in found.get("Volumes") or []:
                maker = (attrs.get("Labels") or {}).get(LABEL_RESOURCE_OWNER)
                if owner is not None and maker not in (owner, None):
                    continue  # another agent's: not looked into
                try:
                    out.append(self._cached(attrs))
                except docker.errors.NotFound:
                    continue  # removed meanwhile
                except docker.errors.APIError:
                    continue  # being removed by another agent: not listed this time
            return out

        try:
            return await asyncio.to_thread(look)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise self._volume_error(err, "cached volumes") from None

    async def fill_cached_volume(
        self, name: str, labels: dict[str, str], source: Path, marker: dict[str, object]
    ) -> None:
        def fill() -> None:
            self.api.create_volume(name=name, labels=labels)
            try:
                with self._holder(name) as holder:
                    if not self.api.put_archive(holder, MOUNT, _tar_stream(source)):
                        raise BackendError(f"the engine did not take the files of volume {name}")
                    self.api.put_archive(holder, MOUNT, _marker_tar(marker))  # last
            except BaseException:
                with contextlib.suppress(docker.errors.APIError):
                    self.api.remove_volume(name, force=True)  # never a half-made volume
                raise

        try:
            await in_own_thread(fill, f"volume-fill {name}")
        except BackendError:
            raise
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise self._volume_error(err, f"filling volume {name}") from None

    async def mark_cached_volume(self, name: str, marker: dict[str, object]) -> None:
        def mark() -> None:
            with self._holder(name) as holder:
                self.api.put_archive(holder, MOUNT, _marker_tar(marker))

        try:
            await asyncio.to_thread(mark)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise self._volume_error(err, f"volume {name}") from None

    async def remove_cached_volume(self, name: str) -> bool:
        def remove() -> bool:
            # a helper left by an agent killed while it filled the volume would hold it for
            # ever; a younger one may be filling it now (another agent on this engine)
            helpers = self.api.containers(all=True, filters={"label": f"{LABEL_HOLDER}={name}"})
            for holder in helpers:
                if time.time() - float(holder.get("Created") or 0) > STALE_HOLDER_S:
                    with contextlib.suppress(docker.errors.NotFound):
                        self.api.remove_container(holder["Id"], force=True)
            try:
                self.api.remove_volume(name)
            except docker.errors.NotFound:
                return True
            except docker.errors.APIError as err:
                if err.status_code == 409:  # "volume is in use"
                    return False
                raise
            return True

        try:
            return await asyncio.to_thread(remove)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
            raise self._volume_error(err, f"removing volume {name}") from None
