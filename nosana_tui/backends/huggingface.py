"""Hugging Face resources over ``huggingface_hub``: a model repository (``repo``) at a
``revision`` (default ``main``), all of it or the ``files`` named (exact names or glob patterns,
as ``allow_patterns``), laid out as in the repository. ``accessToken`` is sent for a private or
gated repository; without it no token is sent (the agent's own is never used for a job).

The hub is the ``hf_endpoint`` setting (``HF_ENDPOINT``), so a mirror works. The revision is
resolved to its commit first, so every file comes from one commit, and the sizes known then are
the totals of the progress.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nosana_tui.engine.resources import FetchError, FetchProgress
from nosana_tui.jobformat import model as m

POLL_S = 0.25
_GLOB = set("*?[")


class HubFetcher:
    def __init__(self, endpoint: str = "https://huggingface.co") -> None:
        self.endpoint = endpoint.rstrip("/")

    def identity(self, resource: m.HFResource) -> dict[str, Any]:
        # the hub's own rule for a repository id, from the huggingface_hub that will fetch it
        # (the rule has changed between its versions: a copy would drift), checked before
        # anything is fetched so that the op's message says what is wrong, in our words
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        repo = resource.repo
        try:
            validate_repo_id(repo)
        except HFValidationError:
            raise FetchError(
                f"repo {repo!r} is not a Hugging Face repository id: write owner/name (letters, "
                "digits, '-', '_' and '.')"
            ) from None
        return {
            "endpoint": self.endpoint,
            "repo": resource.repo,
            "revision": resource.revision or "main",
            "files": sorted(resource.files or []),
        }

    def describe(self, resource: m.HFResource) -> str:
        text = f"HF {resource.repo}"
        if resource.revision:
            text += f"@{resource.revision}"
        if resource.files:
            text += f" ({len(resource.files)} file{'s' if len(resource.files) != 1 else ''})"
        return text

    def authorize(self, resource: m.HFResource) -> None:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        revision = resource.revision or "main"
        try:
            HfApi(endpoint=self.endpoint).model_info(
                resource.repo, revision=revision, token=resource.accessToken or False
            )
        except HfHubHTTPError as err:
            where = f"{resource.repo}@{revision} at {self.endpoint}"
            raise FetchError(f"{where}: {_first_line(err)}") from None
        except OSError:
            return  # unreachable: the cached copy is all there is

    def fetch(
        self,
        resource: m.HFResource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
        from huggingface_hub.utils import filter_repo_objects

        revision = resource.revision or "main"
        where = f"{resource.repo}@{revision} at {self.endpoint}"
        token: str | bool = resource.accessToken or False
        try:
            info = HfApi(endpoint=self.endpoint).model_info(
                resource.repo, revision=revision, files_metadata=True, token=token
            )
            sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
            wanted = list(filter_repo_objects(sizes, allow_patterns=resource.files or None))
            for name in resource.files or []:
                if not _GLOB & set(name) and name not in sizes:
                    raise FetchError(f"{where}: the repository has no file {name}")
            if not wanted:
                raise FetchError(f"{where}: no file of the repository matches {resource.files}")
            total = sum(sizes[n] for n in wanted)
            progress(FetchProgress(0, total, 0, len(wanted)))
            stop = threading.Event()
            watcher = threading.Thread(
                target=_watch, args=(dest, wanted, total, progress, stop, cancel), daemon=True
            )
            watcher.start()
            try:
                snapshot_download(
                    resource.repo,
                    revision=info.sha,  # one commit for every file
                    allow_patterns=wanted,
                    local_dir=dest,
                    cache_dir=dest / ".cache" / "hub",  # nothing in the agent's own HF cache
                    token=token,
                    endpoint=self.endpoint,
                    max_workers=4,
                )
            finally:
                stop.set()
                watcher.join()
        except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as err:
            raise FetchError(f"{where}: {_first_line(err)}") from None
        except LocalEntryNotFoundError as err:
            raise FetchError(f"{where}: {_first_line(err)}") from None
        except HfHubHTTPError as err:
            raise FetchError(f"{where}: {_first_line(err)}") from None
        except FetchError:
            raise
        except Exception as err:  # the transport's own (httpx's): a connection that broke off
            raise FetchError(f"{where}: {type(err).__name__}: {err}") from None
        if cancel.is_set():
            raise FetchError("stopped")
        shutil.rmtree(dest / ".cache", ignore_errors=True)  # the hub's bookkeeping, not the model
        missing = [n for n in wanted if not (dest / n).is_file()]
        if missing:
            raise FetchError(f"{where}: not downloaded: {', '.join(missing)}")
        progress(FetchProgress(total, total, len(wanted), len(wanted)))


def _first_line(err: BaseException) -> str:
    """The library's summary (its first two lines, without its hints) and the hub's own
    message (``X-Error-Message``)."""
    text = str(err).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    summary = " ".join(lines[:2]) if lines else type(err).__name__
    if "For more information check:" in summary:  # httpx's generic text: the status is enough
        summary = summary.split(" For more information check:")[0]
    said = getattr(err, "server_message", None)
    if said and said.strip() and said.strip() not in summary:
        summary += f" (the hub said: {said.strip()})"
    return summary


def _watch(
    dest: Path,
    wanted: list[str],
    total: int,
    progress: Callable[[FetchProgress], None],
    stop: threading.Event,
    cancel: threading.Event,
) -> None:
    """Progress of ``snapshot_download`` from what has reached the disk (the files and the
    hub's ``.incomplete`` parts), a few times a second."""
    while not stop.wait(POLL_S):
        done_bytes, done_files = 0, 0
        for path in dest.rglob("*"):
            try:
                if path.is_file():
                    done_bytes += path.stat().st_size
            except OSError:
                continue
        done_files = sum(1 for n in wanted if (dest / n).is_file())
        progress(FetchProgress(min(done_bytes, total), total, done_files, len(wanted)))
        if cancel.is_set():
            return  # snapshot_download cannot be interrupted; the result is thrown away
