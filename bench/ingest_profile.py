"""Why the agent falls behind a chatty op: its log ingest path, piece by piece, on 1,000,000 lines
(a diagnostic beside logs.py; prints figures; its own container only, removed at the end; the
"prototype" rows are fixes sketched here, not changes to nosana_tui/).

    .venv/bin/python bench/ingest_profile.py [--lines 1000000]

1. reading the engine's stream as ``DockerBackend.follow_logs`` does (docker SDK ``logs(stream=
   True, timestamps=True)``: one frame per line), splitting lines, and ``_log_line`` per line;
   and as one batch per sink call versus one per frame;
2. handing batches to the event loop (``call_soon_threadsafe``) one frame at a time, as now;
3. ``Store.append_logs`` + ``flush`` (SQLite insert, ``LogEntry`` models for subscribers, trim);
4. prototypes: a string-slicing timestamp parser; raw (non-streamed) read + split; a flush
   that builds no ``LogEntry`` when nobody follows;
5. serving 25,000 stored lines as ``GET /api/jobs/J/logs`` + ``nosana-tui logs`` do, step by step.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docker
from _common import print_machine

from nosana_tui.backends.docker import _log_line
from nosana_tui.engine.backend import LogLine
from nosana_tui.node import store as store_mod
from nosana_tui.node.store import Store
from nosana_tui.spec.sanitize import clean_line
from nosana_tui.spec.status import LogEntry

LABEL = "nosana-bench.ingest"


def fast_ts(stamp: str) -> float:
    """Prototype: Docker's ``2024-01-02T03:04:05.123456789Z`` -> epoch seconds, by slicing."""
    base = calendar.timegm(
        (
            int(stamp[0:4]),
            int(stamp[5:7]),
            int(stamp[8:10]),
            int(stamp[11:13]),
            int(stamp[14:16]),
            int(stamp[17:19]),
            0,
            0,
            0,
        )
    )
    frac = stamp[20:-1] if stamp[19:20] == "." else ""
    return base + (int(frac[:6].ljust(6, "0")) / 1e6 if frac else 0.0)


def fast_log_line(stream: str, raw: bytes) -> LogLine:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, sep, rest = text.partition(" ")
    if sep and stamp.endswith("Z") and len(stamp) >= 20 and stamp[10:11] == "T":
        try:
            return LogLine(stream, fast_ts(stamp), rest)
        except ValueError:
            pass
    return _log_line(stream, raw)


def rate(n: int, seconds: float) -> str:
    return f"{seconds:7.3f}s  {n / seconds:>12,.0f} lines/s  {seconds / n * 1e6:6.2f} us/line"


async def loop_handoff(frames: list[bytes]) -> float:
    """call_soon_threadsafe once per frame from a thread (as the pump does), until all ran."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    got = [0]
    total = len(frames)

    def sink(lines: list[LogLine]) -> None:
        got[0] += len(lines)
        if got[0] >= total:
            done.set()

    def pump() -> None:
        for f in frames:
            loop.call_soon_threadsafe(sink, [LogLine("stdout", 0.0, f.decode())])

    t = time.perf_counter()
    await asyncio.gather(asyncio.to_thread(pump), done.wait())
    return time.perf_counter() - t


async def store_path(lines: list[LogLine], batch: int, no_entries: bool) -> float:
    """append_logs in batches of ``batch`` lines, the 100 ms flush forced every 2,000 lines."""
    with tempfile.TemporaryDirectory() as tmp:
        st = Store(Path(tmp) / "s.sqlite3")
        if no_entries:  # prototype: publish only when someone follows
            original = st._publish
            st._publish = lambda entries: None  # type: ignore[method-assign]
            flush_orig = st.flush

            def flush() -> None:
                if not st._pending:
                    return
                if st._subscribers:
                    return flush_orig()
                batch_, st._pending = st._pending, []
                with st.db:
                    st.db.execute("BEGIN")
                    st.db.executemany(
                        "INSERT INTO logs (job_id, op_id, stream, ts, text) VALUES (?,?,?,?,?)",
                        batch_,
                    )
                key = ("j", "op")
                st._since_trim[key] += len(batch_)
                if st._since_trim[key] >= 2_000:
                    st._since_trim[key] = 0
                    st._trim(*key)

            st.flush = flush  # type: ignore[method-assign]
            del original
        t = time.perf_counter()
        since_flush = 0
        for i in range(0, len(lines), batch):
            st.append_logs("j", "op", lines[i : i + batch])
            since_flush += batch
            if since_flush >= 2000:
                st.flush()
                since_flush = 0
        st.flush()
        took = time.perf_counter() - t
        kept = st.db.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
        assert kept <= store_mod.MAX_LINES_PER_OP + 2000, kept
        if st._flusher:
            st._flusher.cancel()
        st.close()
        return took


def serve_path(lines: list[LogLine]) -> None:
    """The read path of 25,000 stored lines, step by step (server, then client); best of 5."""
    import json as _json

    with tempfile.TemporaryDirectory() as tmp:
        st = Store(Path(tmp) / "s.sqlite3")
        st._pending = [("j", "op", ln.stream, ln.ts, ln.text) for ln in lines]
        st.flush()
        n = len(lines)
        sql = (
            "SELECT seq, job_id, op_id, stream, ts, text FROM logs WHERE job_id = ? AND "
            "seq > ? AND op_id = ? ORDER BY seq"
        )
        history = st.logs("j", "op")
        body = "".join(e.model_dump_json() + "\n" for e in history)
        parsed = [LogEntry.model_validate(_json.loads(line)) for line in body.splitlines()]

        json_sql = (
            "SELECT json_object('seq', seq, 'job_id', job_id, 'op_id', op_id, 'stream', "
            "stream, 'ts', ts, 'text', text) FROM logs WHERE job_id = ? AND seq > ? AND "
            "op_id = ? ORDER BY seq"
        )

        def sqlite_json() -> str:
            return "".join(r[0] + "\n" for r in st.db.execute(json_sql, ("j", 0, "op")))

        steps = [
            ("server: SQL query only", lambda: list(st.db.execute(sql, ("j", 0, "op")))),
            ("server: Store.logs (SQL + LogEntry per row)", lambda: st.logs("j", "op")),
            (
                "server: model_dump_json per line",
                lambda: "".join(e.model_dump_json() + "\n" for e in history),
            ),
            ("prototype server: NDJSON straight from SQLite (json_object)", sqlite_json),
            (
                "client: json.loads + LogEntry.model_validate (now)",
                lambda: [LogEntry.model_validate(_json.loads(x)) for x in body.splitlines()],
            ),
            (
                "client: clean_line + join",
                lambda: "".join(clean_line(e.text) + "\n" for e in parsed),
            ),
            (
                "prototype client: model_validate_json + clean_line",
                lambda: "".join(
                    clean_line(LogEntry.model_validate_json(x).text) + "\n"
                    for x in body.splitlines()
                ),
            ),
        ]
        assert [_json.loads(x)["text"] for x in sqlite_json().splitlines()] == [
            e.text for e in history
        ]
        for name, fn in steps:
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            print(f"  {name:52} {best * 1000:7.1f} ms  {n / best:>11,.0f} lines/s")
        st.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    print_machine()
    client = docker.from_env()
    api = client.api
    n = args.lines
    cid = api.create_container("busybox:latest", command=["seq", "1", str(n)], labels={LABEL: "1"})[
        "Id"
    ]
    try:
        t = time.perf_counter()
        api.start(cid)
        api.wait(cid)
        print(f"\ncontainer printed {n:,} lines in {time.perf_counter() - t:.3f}s (start -> exit)")

        print("\n1. reading the engine's log stream (stdout, timestamps), in this process:")
        t = time.perf_counter()
        frames = list(
            api.logs(cid, stdout=True, stderr=False, stream=True, follow=True, timestamps=True)
        )
        took = time.perf_counter() - t
        print(f"  docker SDK stream, frames only ({len(frames):,} frames)     {rate(n, took)}")

        t = time.perf_counter()
        pending = b""
        out: list[LogLine] = []
        for chunk in frames:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if complete:
                out.extend(_log_line("stdout", raw) for raw in complete)
        took_parse = time.perf_counter() - t
        print(f"  split + _log_line (datetime.fromisoformat)         {rate(n, took_parse)}")
        t = time.perf_counter()
        out2 = []
        for chunk in frames:
            out2.append(fast_log_line("stdout", chunk.rstrip(b"\n")))
        took_fast = time.perf_counter() - t
        assert all(
            abs(a.ts - b.ts) < 1e-5 and a.text == b.text for a, b in zip(out, out2, strict=True)
        )
        print(f"  prototype: fast_log_line (slicing, same results)  {rate(n, took_fast)}")
        t = time.perf_counter()
        raw = api.logs(cid, stdout=True, stderr=False, stream=False, timestamps=True)
        raw_lines = raw.split(b"\n")
        took_raw = time.perf_counter() - t
        print(
            f"  prototype: whole log in one read + split ({len(raw_lines) - 1:,})   "
            f"{rate(n, took_raw)}"
        )

        print("\n2. handing lines to the event loop from the pump thread:")
        sub = frames[: min(n, 200_000)]
        took = await loop_handoff(sub)
        print(f"  call_soon_threadsafe per frame (as now), {len(sub):,}    {rate(len(sub), took)}")

        print("\n3. the store (append_logs + flush + trim), 1,000,000 lines:")
        lines = out
        for batch in (1, 2000):
            took = await store_path(lines, batch, no_entries=False)
            print(f"  batches of {batch:>4} lines, LogEntry per line (as now)   {rate(n, took)}")
        took = await store_path(lines, 2000, no_entries=True)
        print(f"  prototype: batches of 2000, no LogEntry unless followed {rate(n, took)}")

        print("\n5. serving the 25,000 lines the agent keeps (in-process, no HTTP):")
        serve_path(lines[-store_mod.MAX_LINES_PER_OP :])
    finally:
        api.remove_container(cid, force=True)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
