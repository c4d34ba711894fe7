"""Reading a container's output: the Docker backend's follower.

Docker 20.10 can end a ``follow`` log stream when the container exits before a slow reader has
caught up (the lines after that point never arrive). The follower therefore finishes with a
plain read from the last timestamp it handed on. The unit tests feed it recorded streams through
a fake API; the last test runs a real container on the real engine with a reader made slow on
purpose, and checks that the tail arrives complete, in order, with nothing twice.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import docker
import pytest

from nosana_tui.backends import docker as docker_backend
from nosana_tui.backends.docker import CATCH_UP_FIRST, DockerBackend, _Follower, _log_line
from nosana_tui.engine.backend import LogLine
from tests.dockerenv import IMAGE, TEST_LABEL, ensure_docker


def stamp(i: int, same: int = 1) -> str:
    """Line ``i``'s engine stamp; ``same`` lines in a row share one (a coarse clock)."""
    ns = 1_763_900_000_000_000_000 + (i // same) * 1_000
    second, frac = divmod(ns, 1_000_000_000)
    day = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{frac:09d}Z"


def frames(lines: range, same: int = 1) -> list[bytes]:
    return [f"{stamp(i, same)} line {i}\n".encode() for i in lines]


class FakeAPI:
    """The two calls the follower makes: a follow stream, and a plain read with since/tail."""

    def __init__(self, followed: list[bytes], stored: list[bytes]) -> None:
        self.followed, self.stored = followed, stored
        self.plain_reads: list[dict[str, Any]] = []

    def logs(self, container: str, **kwargs: Any) -> Any:
        if not kwargs["stdout"]:
            return iter([]) if kwargs.get("stream") else b""
        if kwargs.get("follow"):
            return iter(self.followed)  # the stream ends early, as the engine's can
        self.plain_reads.append(kwargs)
        since = kwargs.get("since")
        kept = [
            f
            for f in self.stored
            if since is None or _log_line("stdout", f.rstrip(b"\n"))[1].ts >= since
        ]
        tail = kwargs.get("tail")
        if isinstance(tail, int):
            kept = kept[-tail:] if tail else []
        return b"".join(kept)


def follow(api: FakeAPI, keep: int) -> tuple[list[LogLine], Any]:
    got: list[LogLine] = []
    follower = _Follower(api, "c1", None, got.extend)
    for thread in follower._threads:
        thread.join(5)
    drained = follower.finish(5, keep)
    return got, drained


def numbers(lines: list[LogLine]) -> list[int]:
    return [int(line.text.split()[1]) for line in lines]


def test_log_line_parses_engine_stamps_exactly() -> None:
    key, line = _log_line("stdout", b"2026-11-23T12:17:18.153133416Z hello world")
    assert key == "2026-11-23T12:17:18.153133416"
    assert line.text == "hello world"
    expected = datetime(2026, 11, 23, 12, 17, 18, tzinfo=UTC).timestamp() + 0.153133416
    assert line.ts == pytest.approx(expected, abs=1e-6)
    # short fractions are padded, so keys stay sortable
    assert _log_line("stdout", b"2026-11-23T12:17:18.5Z x")[0] == "2026-11-23T12:17:18.500000000"
    # a line without a stamp keeps its text and gets "now"
    key, line = _log_line("stderr", b"no stamp here")
    assert key == "" and line.text == "no stamp here" and abs(line.ts - time.time()) < 5


def test_stream_cut_short_is_completed_by_the_plain_read() -> None:
    api = FakeAPI(followed=frames(range(1, 401)), stored=frames(range(1, 1001)))
    got, drained = follow(api, keep=25_000)
    assert numbers(got) == list(range(1, 1001))
    assert drained.complete and not drained.gap
    assert [read["tail"] for read in api.plain_reads] == [CATCH_UP_FIRST]  # (the engine reads
    # a log file from that many messages before its end: one read of what the store keeps would
    # decode all of it)


def test_a_reader_far_behind_reads_all_it_missed_that_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More was missed than the first read asks for: the rest is read too, up to ``keep``
    (what the store keeps), not only the newest ``CATCH_UP_FIRST``."""
    monkeypatch.setattr(docker_backend, "CATCH_UP_FIRST", 100)
    api = FakeAPI(followed=frames(range(1, 101)), stored=frames(range(1, 5001)))
    got, drained = follow(api, keep=25_000)
    assert numbers(got) == list(range(1, 5001))
    assert drained.complete and not drained.gap
    assert [read["tail"] for read in api.plain_reads] == [100, 25_000]


def test_lines_sharing_a_stamp_are_neither_lost_nor_doubled() -> None:
    # ten lines per stamp; the follow stream ends in the middle of a group
    api = FakeAPI(followed=frames(range(0, 35), same=10), stored=frames(range(0, 100), same=10))
    got, _ = follow(api, keep=25_000)
    assert numbers(got) == list(range(0, 100))


def test_a_reader_far_behind_reads_only_the_newest_lines_and_says_so() -> None:
    api = FakeAPI(followed=frames(range(1, 101)), stored=frames(range(1, 5001)))
    got, drained = follow(api, keep=1000)
    assert numbers(got) == list(range(1, 101)) + list(range(4001, 5001))
    assert drained.gap


def test_nothing_after_the_follow_stream_means_no_second_copy() -> None:
    api = FakeAPI(followed=frames(range(1, 501)), stored=frames(range(1, 501)))
    got, drained = follow(api, keep=25_000)
    assert numbers(got) == list(range(1, 501))
    assert not drained.gap


def test_real_engine_slow_reader_gets_the_whole_tail() -> None:
    """A container prints 60,000 lines and exits while our reader is kept slow; after
    ``finish`` the lines handed on end with 35,001 … 60,000 complete, in order, none twice."""
    ensure_docker()
    backend = DockerBackend()
    client = docker.from_env()
    container = client.containers.create(
        IMAGE, ["seq", "1", "60000"], labels={TEST_LABEL: "follower"}
    )
    got: list[LogLine] = []
    lock = threading.Lock()

    def slow_sink(lines: list[LogLine]) -> None:
        with lock:
            got.extend(lines)
        time.sleep(0.002)  # a reader that falls behind (an agent on a busy machine)

    try:
        container.start()
        follower = backend.follow_logs(container.id, None, slow_sink)
        container.wait(timeout=60)
        drained = follower.finish(30, 25_000)
        assert drained.complete
        values = numbers_plain(got)
        assert values == sorted(values) and len(values) == len(set(values))
        assert values[-25_000:] == list(range(35_001, 60_001))
        if len(values) < 60_000:
            assert drained.gap  # it said that lines before the tail were not read
    finally:
        container.remove(force=True)
        client.close()


def numbers_plain(lines: list[LogLine]) -> list[int]:
    return [int(line.text) for line in lines]
