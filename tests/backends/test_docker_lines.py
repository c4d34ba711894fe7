"""How the Docker backend turns a container's output into lines.

The engine multiplexes stdout and stderr into frames, one log message each, with a timestamp in
front; its log driver cuts a line longer than 16 KiB into several messages. The unit tests feed
the pieces (HTTP chunks, frames, messages) as the engine sends them, cut at awkward places; the
last tests run real containers on the shared engine.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any

import docker
import pytest

from nosana_tui.backends.docker import (
    LINE_CUT_MARK,
    MAX_LINE_BYTES,
    ORDER_GRACE_S,
    ORDER_SKEW_S,
    DockerBackend,
    _arrivals,
    _frames,
    _Joiner,
    _Merge,
)
from nosana_tui.engine.backend import LogLine
from tests.dockerenv import IMAGE, TEST_LABEL, ensure_docker

STAMP = b"2026-11-30T15:10:17.741574298Z"


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


class Response:
    """What ``_arrivals`` reads: requests' response over urllib3's over http.client's."""

    def __init__(self, blocks: list[bytes], chunked: bool = True) -> None:
        pending = list(blocks)

        def read1(_size: int) -> bytes:
            return pending.pop(0) if pending else b""

        fp = type("Buffered", (), {"read1": staticmethod(read1)})()
        http = type("HTTPResponse", (), {"chunked": chunked, "fp": fp})()
        self.raw = type("Raw", (), {"_fp": http, "read1": staticmethod(read1)})()


def test_http_chunks_are_undone_whatever_the_reads_cut() -> None:
    messages = [frame(1, STAMP + b" out %d\n" % i) for i in range(50)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(m), m) for m in messages) + b"0\r\n\r\n"
    for size in (1, 2, 7, 64, 10_000):
        got = b"".join(_arrivals(Response(cut(body, size))))
        assert got == b"".join(messages), size
    assert b"".join(_arrivals(Response(cut(b"plain body", 3), chunked=False))) == b"plain body"


def test_frames_are_cut_out_whatever_the_blocks_and_tagged_by_stream() -> None:
    data = frame(1, STAMP + b" out\n") + frame(2, STAMP + b" err\n") + frame(1, STAMP + b" 2\n")
    for size in (1, 5, 9, len(data)):
        batches = list(_frames(cut(data, size)))
        assert [f for batch in batches for f in batch] == [
            ("stdout", STAMP + b" out\n"),
            ("stderr", STAMP + b" err\n"),
            ("stdout", STAMP + b" 2\n"),
        ]
    assert len(list(_frames([data]))) == 1  # what arrived together is handed on together


def test_a_tty_stream_without_frames_is_stdout_cut_at_newlines() -> None:
    raw = STAMP + b" one\n" + STAMP + b" two\n"
    frames = [f for batch in _frames(cut(raw, 7)) for f in batch]
    assert frames == [("stdout", STAMP + b" one\n"), ("stdout", STAMP + b" two\n")]


def joined(frames: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    joiner = _Joiner()
    lines = [ln for f in frames for _, _, ln in joiner.lines([f])] + [
        ln for _, _, ln in joiner.rest()
    ]
    return [(ln.stream, ln.text) for ln in lines]


def test_a_long_line_cut_by_the_log_driver_is_joined_without_the_stamps() -> None:
    head, middle, end = b"a" * 16384, b"b" * 16384, b"c" * 7232
    other = STAMP.replace(b"741", b"999")
    frames = [
        ("stdout", STAMP + b" " + head),
        ("stderr", other + b" between\n"),  # the other stream, meanwhile
        ("stdout", other + b" " + middle),
        ("stdout", other + b" " + end + b"\n"),
        ("stdout", other + b" next\n"),
    ]
    assert joined(frames) == [
        ("stderr", "between"),
        ("stdout", "a" * 16384 + "b" * 16384 + "c" * 7232),
        ("stdout", "next"),
    ]
    joiner = _Joiner()
    (_, key, line), *_ = joiner.lines(frames[:1] + frames[2:4])
    assert key == STAMP.decode()[:-1] and line.ts == pytest.approx(1796051417.741574, abs=1e-6)


def test_a_line_without_end_is_handed_on_in_pieces_of_at_most_a_mebibyte() -> None:
    chunk = "é" * 8192  # 16 KiB of two-byte characters: a cut must not split one
    frames = [("stdout", STAMP + b" x" + chunk.encode())]
    frames += [("stdout", STAMP + b" " + chunk.encode()) for _ in range(200)]
    frames += [("stdout", STAMP + b" end\n")]
    texts = [text for _, text in joined(frames)]
    assert len(texts) == 4
    assert all(t.endswith(LINE_CUT_MARK) for t in texts[:-1]) and texts[-1].endswith("end")
    assert all(len(t.removesuffix(LINE_CUT_MARK).encode()) <= MAX_LINE_BYTES for t in texts)
    assert "\ufffd" not in "".join(texts)
    assert "".join(t.removesuffix(LINE_CUT_MARK) for t in texts) == "x" + chunk * 201 + "end"


def stamped(stream: str, ts: float) -> tuple[str, str, LogLine]:
    return (stream, f"{ts:.9f}", LogLine(stream, ts, f"{stream} {ts}"))


def test_lines_the_engine_wrote_out_of_stamp_order_are_handed_on_in_order() -> None:
    """The engine writes a message a moment after stamping it, so a stderr line can come after
    a stdout line stamped later; the merge waits for the other stream before handing on."""
    out: list[list[float]] = []
    merge = _Merge(lambda lines: out.append([ln.ts for _, _, ln in lines]))
    merge.add([stamped("stdout", 1.000), stamped("stdout", 1.002)])
    assert out == []  # stderr may still bring something earlier
    merge.add([stamped("stderr", 1.001)])
    assert out == [[1.000, 1.001]]
    merge.add([stamped("stdout", 1.002 + 2 * ORDER_SKEW_S)])  # much later: the rest is safe
    assert out[-1] == [1.002]
    merge.close(flush=True)
    assert [ts for batch in out for ts in batch] == [1.000, 1.001, 1.002, 1.002 + 2 * ORDER_SKEW_S]


def test_a_line_waits_for_the_other_stream_only_a_moment() -> None:
    got = threading.Event()
    merge = _Merge(lambda lines: got.set())
    waiter = threading.Thread(target=merge.run, daemon=True)
    waiter.start()
    merge.add([stamped("stdout", 5.0)])
    assert got.wait(ORDER_GRACE_S + 5)
    merge.close(flush=False)
    waiter.join(5)
    assert not waiter.is_alive()


# --- on the real engine -----------------------------------------------------------------------


def run_and_read(script: str, readopt: bool = False) -> list[LogLine]:
    """Run ``script`` in busybox to its end and return what the backend's follower handed on:
    following from the start, or (``readopt``) as an agent that adopts it afterwards, from a
    ``since`` before its start."""
    ensure_docker()
    backend = DockerBackend()
    client = docker.from_env()
    container = client.containers.create(
        IMAGE, ["sh", "-c", script], labels={TEST_LABEL: "docker-lines"}
    )
    got: list[LogLine] = []
    lock = threading.Lock()

    def sink(lines: list[LogLine]) -> None:
        with lock:
            got.extend(lines)

    try:
        began = time.time() - 1
        container.start()
        if not readopt:
            follower = backend.follow_logs(container.id, None, sink)
        container.wait(timeout=60)
        if readopt:
            follower = backend.follow_logs(container.id, began, sink)
        assert follower.finish(30, 25_000).complete
    finally:
        container.remove(force=True)
        client.close()
    return got


@pytest.mark.parametrize("readopt", [False, True], ids=["followed", "re-adopted"])
def test_real_engine_a_40kb_line_arrives_as_one_line(readopt: bool) -> None:
    got = run_and_read("head -c 40000 /dev/zero | tr '\\0' x; echo; echo after", readopt)
    assert [(ln.stream, ln.text) for ln in got] == [("stdout", "x" * 40_000), ("stdout", "after")]


def test_real_engine_re_adopted_output_keeps_stdout_and_stderr_in_order() -> None:
    """Read again after the fact (a re-adoption), the two streams come interleaved as the engine
    stamped them, not one stream after the other."""
    script = 'i=1; while [ $i -le 300 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done'
    got = run_and_read(script, readopt=True)
    stamps = [ln.ts for ln in got]
    assert stamps == sorted(stamps)
    assert [ln.text for ln in got if ln.stream == "stdout"] == [f"out {i}" for i in range(1, 301)]
    assert [ln.text for ln in got if ln.stream == "stderr"] == [f"err {i}" for i in range(1, 301)]


def test_the_sdk_response_has_what_arrivals_reads() -> None:
    # _arrivals reads beneath the SDK: the attributes it uses must exist on what the SDK returns
    ensure_docker()
    api: Any = docker.APIClient()
    response = api._get(api._url("/events"), params={"until": int(time.time())}, stream=True)
    try:
        assert hasattr(response.raw._fp, "chunked") and hasattr(response.raw._fp.fp, "read1")
    finally:
        response.close()
        api.close()


def engine_order(container_id: str) -> list[tuple[str, str]]:
    """(stream, text) of a container's lines in the order the engine stamped them: what
    ``docker logs -t`` shows, sorted by its stamps (nanoseconds, so no ties in practice)."""
    api: Any = docker.APIClient()
    try:
        stamped: list[tuple[str, str, str]] = []
        for stream in ("stdout", "stderr"):
            raw = api.logs(
                container_id, stdout=stream == "stdout", stderr=stream == "stderr", timestamps=True
            )
            for row in raw.decode().splitlines():
                stamp, _, text = row.partition(" ")
                stamped.append((stamp, stream, text))
    finally:
        api.close()
    return [(stream, text) for _, stream, text in sorted(stamped)]


def test_real_engine_lines_printed_in_one_instant_come_in_the_engines_order() -> None:
    """Docker reads a container's stdout and stderr pipes in two goroutines and stamps each line
    as it reads it, so ``echo a; echo b >&2`` is often stamped b first (5 runs in 10 here, and
    ``docker logs`` shows it so): the order between the two pipes is lost inside the engine, and
    the best anyone reading the engine can do is its stamps. The follower hands the lines on in
    exactly that order, followed live or read after the fact, every time."""
    ensure_docker()
    backend = DockerBackend()
    client = docker.from_env()
    try:
        for round_ in range(6):
            container = client.containers.create(
                IMAGE,
                [
                    "sh",
                    "-c",
                    "echo about to fail; echo bad >&2; echo after; echo worse >&2; exit 3",
                ],
                labels={TEST_LABEL: "docker-lines"},
            )
            got: list[LogLine] = []
            try:
                began = time.time() - 1
                container.start()
                follower = (
                    backend.follow_logs(container.id, None, got.extend) if round_ % 2 == 0 else None
                )
                container.wait(timeout=60)
                if follower is None:
                    follower = backend.follow_logs(container.id, began, got.extend)
                assert follower.finish(30, 25_000).complete
                assert [(ln.stream, ln.text) for ln in got] == engine_order(container.id)
            finally:
                container.remove(force=True)
    finally:
        client.close()


def test_real_engine_lines_a_moment_apart_keep_the_order_they_were_printed_in() -> None:
    """20 ms between writes is enough for the engine's stamps to be in printed order, and so
    for ours: stdout and stderr interleaved as the program printed them. (2 ms was enough on an
    idle machine and not under a full CI run: the engine's two pipe readers were scheduled late.)"""
    script = (
        'i=1; while [ $i -le 20 ]; do echo "out $i"; usleep 20000; echo "err $i" >&2; '
        "usleep 20000; i=$((i+1)); done"
    )
    for readopt in (False, True):
        got = run_and_read(script, readopt)
        want = [
            line for i in range(1, 21) for line in (("stdout", f"out {i}"), ("stderr", f"err {i}"))
        ]
        assert [(ln.stream, ln.text) for ln in got] == want
