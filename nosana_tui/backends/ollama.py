"""Ollama resources over the registry protocol Ollama itself uses (the OCI distribution API,
with httpx), laid out as Ollama keeps its models, so an ``ollama`` container finds them where
the volume is mounted (``/root/.ollama/models`` by default)::

    manifests/<registry>/<namespace>/<model>/<tag>     the manifest, as the registry served it
    blobs/sha256-<hex>                                  the config and every layer

A model is ``[registry/][namespace/]model[:tag]``: ``registry.ollama.ai``, ``library`` and
``latest`` when left out. A model of ``registry.ollama.ai`` is fetched from the
``ollama_registry`` setting (a mirror, or a test's local registry); the folder keeps the name's
own registry, which is where Ollama looks for it. Every blob is checked against its digest.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nosana_tui.engine.resources import FetchError, FetchProgress
from nosana_tui.jobformat import model as m

DEFAULT_REGISTRY = "registry.ollama.ai"
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)
CHUNK = 1 << 20
ATTEMPTS = 3
_PART = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")


@dataclass(frozen=True)
class ModelName:
    registry: str
    namespace: str
    model: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.namespace}/{self.model}:{self.tag}"


def parse_model(text: str) -> ModelName:
    name, tag = text.strip(), "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) == 1:
        parts = [DEFAULT_REGISTRY, "library", *parts]
    elif len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    if len(parts) != 3 or not all(_PART.match(p) for p in (*parts[1:], tag)) or not parts[0]:
        raise FetchError(
            f"model {text!r} is not an Ollama model name: write [registry/][namespace/]model[:tag]"
        )
    return ModelName(parts[0], parts[1], parts[2], tag)


class OllamaFetcher:
    def __init__(self, registry: str = f"https://{DEFAULT_REGISTRY}") -> None:
        self.registry = registry.rstrip("/")

    def _base(self, name: ModelName) -> str:
        if name.registry == DEFAULT_REGISTRY:
            return self.registry
        scheme = "http" if name.registry.split(":")[0] in ("127.0.0.1", "localhost") else "https"
        return f"{scheme}://{name.registry}"

    def identity(self, resource: m.OllamaResource) -> dict[str, Any]:
        name = parse_model(resource.model)
        return {"registry": self._base(name), "model": str(name)}

    def describe(self, resource: m.OllamaResource) -> str:
        return f"Ollama {resource.model}"

    def authorize(self, resource: m.OllamaResource) -> None:
        """Ollama models carry no credentials: nothing to ask."""

    def fetch(
        self,
        resource: m.OllamaResource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        name = parse_model(resource.model)
        base = self._base(name)
        repo = f"{name.namespace}/{name.model}"
        where = f"model {resource.model} at {base}"
        with httpx.Client(timeout=httpx.Timeout(30.0, read=120.0), follow_redirects=True) as http:
            auth = _Auth(http)
            try:
                response = auth.get(
                    f"{base}/v2/{repo}/manifests/{name.tag}", {"Accept": MANIFEST_TYPES}
                )
                if response.status_code != 200:
                    raise FetchError(f"{where}: {_registry_error(response)}")
                raw = response.content
                try:
                    manifest = response.json()
                    blobs = [manifest["config"], *manifest["layers"]]
                    wanted = [(str(b["digest"]), int(b["size"])) for b in blobs]
                except (ValueError, KeyError, TypeError):
                    raise FetchError(f"{where}: the registry's manifest is not a model's") from None
                total = sum(size for _, size in wanted)
                progress(FetchProgress(0, total, 0, len(wanted)))
                folder = dest / "blobs"
                folder.mkdir(parents=True, exist_ok=True)
                done = 0
                for index, (digest, size) in enumerate(dict.fromkeys(wanted)):
                    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                        raise FetchError(f"{where}: blob digest {digest!r} is not sha256")
                    path = folder / digest.replace(":", "-")
                    self._blob(
                        auth,
                        f"{base}/v2/{repo}/blobs/{digest}",
                        path,
                        digest,
                        size,
                        where,
                        cancel,
                        done,
                        total,
                        index,
                        len(wanted),
                        progress,
                    )
                    done += size
                    progress(FetchProgress(done, total, index + 1, len(wanted)))
            except httpx.HTTPError as err:
                raise FetchError(f"{where}: {err}") from None
        manifest_path = dest / "manifests" / name.registry / name.namespace / name.model / name.tag
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_bytes(raw)

    @staticmethod
    def _blob(
        auth: _Auth,
        url: str,
        path: Path,
        digest: str,
        size: int,
        where: str,
        cancel: threading.Event,
        before: int,
        total: int,
        index: int,
        count: int,
        progress: Callable[[FetchProgress], None],
    ) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            hasher = hashlib.sha256()
            got = 0
            try:
                with auth.stream(url) as response, path.open("wb") as out:
                    if response.status_code != 200:
                        response.read()
                        raise FetchError(f"{where}: blob {digest}: {_registry_error(response)}")
                    for chunk in response.iter_bytes(CHUNK):
                        if cancel.is_set():
                            raise FetchError("stopped")
                        out.write(chunk)
                        hasher.update(chunk)
                        got += len(chunk)
                        progress(FetchProgress(before + got, total, index, count))
            except httpx.TransportError as err:
                if attempt == ATTEMPTS:
                    raise FetchError(
                        f"{where}: blob {digest} broke off after {got} of {size} bytes "
                        f"({ATTEMPTS} tries): {err}"
                    ) from None
                continue
            if got == size and "sha256:" + hasher.hexdigest() == digest:
                return
            if attempt == ATTEMPTS:
                raise FetchError(
                    f"{where}: blob {digest} arrived broken ({got} of {size} bytes, sha256 "
                    f"{hasher.hexdigest()[:12]}…; {ATTEMPTS} tries)"
                )


class _Auth:
    """GETs to a registry, answering its bearer-token challenge (anonymous pulls), as Docker
    and Ollama do."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.token: str | None = None
        self.probed = False

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _answer(self, response: httpx.Response) -> bool:
        challenge = response.headers.get("WWW-Authenticate", "")
        if response.status_code != 401 or not challenge.lower().startswith("bearer "):
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = fields.pop("realm", "")
        if not realm:
            return False
        answer = self.http.get(realm, params=fields)
        if answer.status_code != 200:
            return False
        body = answer.json()
        self.token = body.get("token") or body.get("access_token")
        return bool(self.token)

    def get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        response = self.http.get(url, headers=self._headers(headers))
        if self._answer(response):
            response = self.http.get(url, headers=self._headers(headers))
        return response

    def stream(self, url: str) -> Any:
        if self.token is None and not self.probed:  # a challenge on blobs too: answer it first
            self.probed = True
            self._answer(self.http.head(url))
        return self.http.stream("GET", url, headers=self._headers())


def _registry_error(response: httpx.Response) -> str:
    """The registry's own words (``{"errors": [{"code", "message"}]}``), else its status."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        text = ""
    return f"{response.status_code} {response.reason_phrase}" + (f" ({text})" if text else "")
