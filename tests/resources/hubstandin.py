"""The smallest faithful stand-in of the Hugging Face hub's file routes, for the agent's
``huggingface_hub`` to download from through ``HF_ENDPOINT``.

Why a stand-in: the hub's server is not published (neither as a package nor as an image), and
the tests have no internet. So this answers, as the hub does, the routes ``snapshot_download``
calls, with the headers it reads:

- ``GET /api/models/{repo}/revision/{rev}``: the repository at a revision (``sha``, ``siblings``
  with sizes when ``blobs`` is asked);
- ``GET /api/models/{repo}/tree/{rev}``: its files (``recursive``), one page;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: a file, with ``X-Repo-Commit``, ``ETag``
  (``X-Linked-Etag`` for LFS files) and ``Content-Length``; no ``X-Xet-Hash``, so the client
  takes the plain HTTP download path, as for any file not stored with Xet.

Errors carry the hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) and ``X-Error-Message``; a private repository answers 401 ``RepoNotFound`` to
a request without its token, and 401 "Invalid credentials in Authorization header" to a wrong
one, as the hub does. ``Range: bytes=N-`` is honoured (206), as the client resumes with it.
``broken`` files break off (the connection closes), once or always, for the interrupted- and
broken-download tests.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


@dataclass
class Repo:
    files: dict[str, bytes]
    token: str | None = None  # private: only this token opens it
    commit: str = ""
    # file -> "once" (the first download breaks off half-way; a resumed one, with Range, ends
    # well) or "always" (every download breaks off before its first byte)
    broken: dict[str, str] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # served at 10 MiB/s (progress to watch)

    def __post_init__(self) -> None:
        digest = hashlib.sha1()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name])
        self.commit = self.commit or digest.hexdigest()


class Hub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                hub.requests.append(f"{self.command} {self.path}")

            def do_HEAD(self) -> None:
                self._route(body=False)

            def do_GET(self) -> None:
                self._route(body=True)

            def _error(self, status: int, code: str | None, message: str) -> None:
                data = json.dumps({"error": message}).encode()
                self.send_response(status)
                if code:
                    self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _json(self, value: object) -> None:
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _repo(self, name: str) -> Repo | None:
                """The repository, or None when an error was sent."""
                repo = hub.repos.get(name)
                auth = self.headers.get("Authorization", "")
                given = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
                if repo is not None and repo.token is not None and given != repo.token:
                    if given:
                        self._error(401, None, "Invalid credentials in Authorization header")
                    else:
                        self._error(401, "RepoNotFound", "Repository not found")
                    return None
                if repo is None:
                    self._error(404, "RepoNotFound", "Repository not found")
                return repo

            def _revision(self, repo: Repo, rev: str) -> bool:
                if rev in ("main", repo.commit):
                    return True
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                return False

            def _route(self, body: bool) -> None:
                url = urlparse(self.path)
                path = unquote(url.path)
                query = parse_qs(url.query)
                info = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/]+)", path)
                tree = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path)
                resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if info and body:
                    repo = self._repo(info.group(1))
                    if repo is None or not self._revision(repo, info.group(2)):
                        return
                    blobs = query.get("blobs", ["false"])[0].lower() == "true"
                    siblings = [
                        {"rfilename": name, **({"size": len(data)} if blobs else {})}
                        for name, data in sorted(repo.files.items())
                    ]
                    self._json(
                        {
                            "id": info.group(1),
                            "modelId": info.group(1),
                            "sha": repo.commit,
                            "private": repo.token is not None,
                            "siblings": siblings,
                        }
                    )
                elif tree and body:
                    repo = self._repo(tree.group(1))
                    if repo is None or not self._revision(repo, tree.group(2)):
                        return
                    self._json(
                        [
                            {
                                "type": "file",
                                "path": name,
                                "size": len(data),
                                "oid": hashlib.sha1(data).hexdigest(),
                            }
                            for name, data in sorted(repo.files.items())
                        ]
                    )
                elif resolve:
                    repo = self._repo(resolve.group(1))
                    if repo is None or not self._revision(repo, resolve.group(2)):
                        return
                    name = resolve.group(3)
                    data = repo.files.get(name)
                    if data is None:
                        self._error(404, "EntryNotFound", f"{name} does not exist")
                        return
                    start = 0
                    ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                    if ranged and body:
                        start = int(ranged.group(1))
                    self.send_response(206 if start else 200)
                    self.send_header("X-Repo-Commit", repo.commit)
                    self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("Content-Length", str(len(data) - start))
                    if start:
                        self.send_header(
                            "Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}"
                        )
                    self.send_header("Content-Type", "application/octet-stream")
                    mode = repo.broken.get(name) if body else None
                    if mode:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if not body:
                        return
                    if mode:
                        if mode == "once":
                            del repo.broken[name]
                            self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if name in repo.slow:
                        for at in range(start, len(data), 512 << 10):
                            self.wfile.write(data[at : at + (512 << 10)])
                            self.wfile.flush()
                            time.sleep(0.05)
                        return
                    self.wfile.write(data[start:])
                else:
                    self._error(404, None, f"no route {self.command} {path}")

        return Handler
