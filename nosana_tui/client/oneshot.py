"""One GET to this user's own agent, synchronous, on the standard library's ``http.client``: the
fast path of one-shot commands (``ps``, ``logs JOB [OP]``), whose whole run is one request.

httpx, httpcore, anyio and asyncio are most of such a command's start-up (~0.2 s of ~0.3 s on
the 2-core test machine; bench/README.md, "Start-up"), and a request to a loopback port needs
none of them: no TLS, no proxy, no pool, no retry. Only an answer the agent gives with a 2xx
status is taken here; anything else (no agent, another node, no token yet, an error status, a
redirect) is None, and the caller takes the full path (:class:`NodeClient` through
``client.local.connect``), which starts the agent, says the error in the node's own words, and
cleans what it prints the same way (``sanitize.clean_data``, ``sanitize.LineChunks``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlparse

from nosana_tui.config import Paths, is_loopback, local_node_url
from nosana_tui.sanitize import LineChunks, clean_data

# clean_data lived here; it is the sanitising rule's now (sanitize.py), and still importable here
__all__ = ["StreamBroken", "clean_data", "get_json", "text_stream"]

if TYPE_CHECKING:
    from http.client import HTTPConnection, HTTPResponse

TIMEOUT = 30.0  # as NodeClient's


class StreamBroken(Exception):
    """A text stream broke off after it had begun (the caller has printed part of it)."""


def _open(
    paths: Paths, url: str | None, path: str, params: Mapping[str, Any] | None
) -> tuple[HTTPConnection, HTTPResponse] | None:
    """The agent's 2xx answer to ``GET path`` (its body unread), or None."""
    target = (url or local_node_url()).rstrip("/")
    parsed = urlparse(target)
    if parsed.scheme != "http" or not is_loopback(target):
        return None
    from nosana_tui.client.local import read_token, same_node  # no httpx: see client.local

    if not same_node(target, local_node_url()):  # another node: its token is another rule
        return None
    token = read_token(paths)
    if token is None:
        return None
    from http.client import HTTPConnection, HTTPException

    query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
    full = f"{parsed.path}{path}" + (f"?{urlencode(query)}" if query else "")
    connection = HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=TIMEOUT)
    try:
        connection.request("GET", full, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
    except (OSError, HTTPException):
        connection.close()
        return None
    if not 200 <= response.status < 300:
        connection.close()
        return None
    return connection, response


def _param(value: Any) -> str:
    """A query value as httpx writes it (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def get_json(
    paths: Paths, url: str | None, path: str, params: Mapping[str, Any] | None = None
) -> Any | None:
    """The agent's JSON answer to ``GET path``, every string cleaned (``sanitize.clean_data``), or
    None when the full path must answer instead. URL: the ``--node`` given, None for the local one."""
    opened = _open(paths, url, path, params)
    if opened is None:
        return None
    connection, response = opened
    try:
        data = json.loads(response.read())
    except (OSError, ValueError):
        return None
    finally:
        connection.close()
    return clean_data(data)


def text_stream(
    paths: Paths, url: str | None, path: str, params: Mapping[str, Any] | None = None
) -> Iterator[str] | None:
    """The agent's text answer to ``GET path`` in chunks that end at line ends, each cleaned
    (``sanitize.LineChunks``, colour kept), or None when the full path must answer instead.
    A stream that breaks off once begun raises :class:`StreamBroken`."""
    opened = _open(paths, url, path, params)
    if opened is None:
        return None
    return _chunks(*opened)


def _chunks(connection: HTTPConnection, response: HTTPResponse) -> Iterator[str]:
    from codecs import getincrementaldecoder
    from http.client import HTTPException

    decoder = getincrementaldecoder("utf-8")(errors="replace")
    chunks = LineChunks()

    def read() -> bytes:
        try:
            return response.read1(65536)
        except (OSError, HTTPException) as err:
            raise StreamBroken(type(err).__name__) from None

    try:
        while block := read():
            if text := chunks.feed(decoder.decode(block)):
                yield text
        if text := chunks.feed(decoder.decode(b"", final=True)) + chunks.end():
            yield text
    finally:
        connection.close()
