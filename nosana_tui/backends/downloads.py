"""The engine's ``Fetcher``: each kind of resource to the client of its service (``s3``,
``huggingface``, ``ollama``), each service's endpoint as the node's settings say."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nosana_tui.backends.huggingface import HubFetcher
from nosana_tui.backends.ollama import OllamaFetcher
from nosana_tui.backends.s3 import S3Fetcher
from nosana_tui.engine.resources import AnyResource, FetchError, FetchProgress
from nosana_tui.jobformat import model as m


@dataclass(frozen=True)
class Endpoints:
    s3: str = ""  # "": AWS
    s3_region: str = "us-east-1"
    hf: str = "https://huggingface.co"
    ollama: str = "https://registry.ollama.ai"


class Downloads:
    def __init__(self, endpoints: Endpoints | None = None) -> None:
        ends = endpoints or Endpoints()
        self.s3 = S3Fetcher(ends.s3, ends.s3_region)
        self.hf = HubFetcher(ends.hf)
        self.ollama = OllamaFetcher(ends.ollama)

    def _of(self, resource: AnyResource) -> Any:
        if isinstance(resource, m.S3Resource):
            return self.s3
        if isinstance(resource, m.HFResource):
            return self.hf
        if isinstance(resource, m.OllamaResource):
            return self.ollama
        raise FetchError(f"no fetcher for a {type(resource).__name__}")  # pragma: no cover

    def identity(self, resource: AnyResource) -> dict[str, Any]:
        return dict(self._of(resource).identity(resource))

    def describe(self, resource: AnyResource) -> str:
        return str(self._of(resource).describe(resource))

    def authorize(self, resource: AnyResource) -> None:
        self._of(resource).authorize(resource)

    def fetch(
        self,
        resource: AnyResource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        self._of(resource).fetch(resource, dest, progress, cancel)
