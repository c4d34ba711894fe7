"""The agent's store (no Docker): jobs and ops in SQLite, buffered logs in chunk files, retention by
size, subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nosana_tui.api.models import (
    Endpoint,
    Health,
    JobStatus,
    JobView,
    LogEntry,
    OpStatus,
    OpView,
)
from nosana_tui.engine.backend import LogLine
from nosana_tui.node import store as store_mod
from nosana_tui.node.store import CHUNK_BYTES, Store, StoredLine, text_line

pytestmark = pytest.mark.anyio


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "deep" / "agent.sqlite3")
    yield s
    with contextlib.suppress(sqlite3.ProgrammingError):  # the test closed it
        s.close()


def view(job_id: str = "job1", created_at: float = 1000.0) -> JobView:
    return JobView(
        id=job_id,
        name="a job",
        source="template:busybox-hello",
        created_at=created_at,
        groups=["g1", "g2"],
        ops=[
            OpView(id="first", index=0, group="g1", type="container/run", image="busybox"),
            OpView(id="second", index=1, group="g2", type="container/run", depends_on=[]),
            OpView(id="vol", index=2, group="g1", type="container/create-volume"),
        ],
    )


def lines(texts: list[str], stream: str = "stdout", ts: float | None = None) -> list[LogLine]:
    now = time.time() if ts is None else ts
    return [LogLine(stream, now, t) for t in texts]


def rows_in_db(store: Store) -> int:
    """Lines actually written (indexed), read past the store (which would flush first)."""
    db = sqlite3.connect(store.path)
    try:
        sql = "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM log_chunks"
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


# --- jobs and ops ---------------------------------------------------------------------------------


def test_jobs_round_trip(store: Store) -> None:
    definition: dict[str, object] = {"version": "0.1", "type": "container", "ops": [{"id": "x"}]}
    store.add_job(view("later", 2000.0), {"n": 2})
    store.add_job(view("job1", 1000.0), definition)
    loaded = store.jobs()
    assert [j.id for j, _ in loaded] == ["job1", "later"]  # oldest first
    job, stored_definition = loaded[0]
    assert stored_definition == definition
    assert job == view("job1", 1000.0)
    assert [o.id for o in job.ops] == ["first", "second", "vol"]


def test_save_op_and_save_job_are_read_back(store: Store, tmp_path: Path) -> None:
    v = view()
    store.add_job(v, {})
    op = v.op("second").model_copy(
        update={
            "status": OpStatus.RUNNING,
            "health": Health.HEALTHY,
            "ready": True,
            "restarts": 2,
            "container_id": "abc",
            "endpoints": [Endpoint(op_id="second", port=80, host_port=32768, url="http://x")],
            "results": {"k": ["v1", "v2"]},
        }
    )
    store.save_op("job1", op)
    head = v.model_copy(
        update={"status": JobStatus.FAILED, "message": "op x failed", "current_group": "g2"}
    )
    store.save_job(head)
    job, _ = store.jobs()[0]
    assert job.status is JobStatus.FAILED
    assert job.message == "op x failed" and job.current_group == "g2"
    assert job.op("second") == op
    assert job.op("first") == v.op("first")  # untouched
    assert [o.index for o in job.ops] == [0, 1, 2]
    # written at once: another connection (a restarted agent) sees it
    store.close()
    again = Store(store.path)
    try:
        job, _ = again.jobs()[0]
        assert job.op("second").status is OpStatus.RUNNING
        assert job.status is JobStatus.FAILED
    finally:
        again.close()


def test_delete_job_removes_its_ops_logs_and_pending_lines(store: Store) -> None:
    store.add_job(view("a"), {})
    store.add_job(view("b"), {})
    store.append_logs("a", "first", lines(["a1"]))
    store.append_logs("b", "first", lines(["b1"]))
    store.flush()
    store.append_logs("a", "first", lines(["a2 (pending)"]))
    store.delete_job("a")
    assert [j.id for j, _ in store.jobs()] == ["b"]
    assert store.logs("a") == []
    assert [e.text for e in store.logs("b")] == ["b1"]


def test_a_removed_jobs_log_files_and_pages_are_given_back(store: Store) -> None:
    """The database was never vacuumed: removing jobs left the file as large as ever. Lines now
    live in the job's own folder, which goes with the job."""
    store.add_job(view("big"), {})
    store.add_job(view("small"), {})
    for _ in range(20):
        store.append_logs("big", "first", lines(["x" * 400] * 1_000))
        store.append_logs("small", "first", lines(["y"]))
        store.flush()  # a flush per batch: many index rows

    def pages() -> tuple[int, int]:
        total = store.db.execute("PRAGMA page_count").fetchone()[0]
        free = store.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(total), int(free)

    folder = store.logs_dir / "big"
    assert sum(f.stat().st_size for f in folder.iterdir()) > 20_000 * 400
    store.delete_job("big")
    assert not folder.exists()
    assert store.logs("big") == []
    assert [e.text for e in store.logs("small")] == ["y"] * 20
    assert pages()[1] == 0


def test_an_old_database_is_made_to_vacuum_itself(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")  # auto_vacuum NONE, as databases made before it were
    db.commit()
    db.close()
    Store(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    db.close()


# --- logs -----------------------------------------------------------------------------------------


def test_append_flush_and_read_logs(store: Store) -> None:
    store.append_logs("job1", "first", lines(["one", "two"], ts=100.0))
    store.append_logs("job1", "system", lines(["sys"], stream="system", ts=150.0))
    store.append_logs("job1", "second", lines(["three", "four"], stream="stderr", ts=200.0))
    store.append_logs("other", "first", lines(["not mine"], ts=200.0))
    assert rows_in_db(store) == 0  # no running loop: buffered until a flush
    store.flush()
    assert rows_in_db(store) == 6
    entries = store.logs("job1")
    assert [(e.op_id, e.stream, e.text) for e in entries] == [
        ("first", "stdout", "one"),
        ("first", "stdout", "two"),
        ("system", "system", "sys"),
        ("second", "stderr", "three"),
        ("second", "stderr", "four"),
    ]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    assert all(isinstance(e, LogEntry) and e.job_id == "job1" for e in entries)

    # op filter
    assert [e.text for e in store.logs("job1", "second")] == ["three", "four"]
    assert [e.text for e in store.logs("job1", "system")] == ["sys"]
    assert store.logs("job1", "nope") == []
    # after: only newer lines
    assert [e.text for e in store.logs("job1", after=seqs[2])] == ["three", "four"]
    assert store.logs("job1", after=seqs[-1]) == []
    # since: at or after a time
    assert [e.text for e in store.logs("job1", since=150.0)] == ["sys", "three", "four"]
    assert [e.text for e in store.logs("job1", since=200.1)] == []
    # tail: the last N, oldest first
    assert [e.text for e in store.logs("job1", tail=2)] == ["three", "four"]
    assert [e.text for e in store.logs("job1", tail=0)] == []
    assert [e.text for e in store.logs("job1", tail=100)] == [e.text for e in entries]
    assert [e.text for e in store.logs("job1", "first", tail=1)] == ["two"]
    # combined
    assert [e.text for e in store.logs("job1", "first", since=100.0, after=seqs[0])] == ["two"]
    assert [e.text for e in store.logs("job1", since=100.0, tail=3, after=seqs[1])] == [
        "sys",
        "three",
        "four",
    ]


def test_reading_flushes_pending_lines(store: Store) -> None:
    store.append_logs("job1", "first", lines(["a", "b"]))
    assert [e.text for e in store.logs("job1")] == ["a", "b"]
    store.append_logs("job1", "first", lines(["c"], ts=123.0))
    assert store.op_log_text("job1", "first") == [("stdout", "a"), ("stdout", "b"), ("stdout", "c")]
    store.append_logs("job1", "first", lines(["d"], ts=99.0))
    assert store.last_log_ts("job1", "first") is not None
    assert store.last_log_ts("job1", "nope") is None


def test_unicode_and_odd_text_round_trip(store: Store) -> None:
    texts = ["héllo wörld 日本 🎉", "", "tab\there", "\x1b[31mred\x1b[0m", "quote ' \" ;--"]
    store.append_logs("job1", "first", lines(texts))
    assert [e.text for e in store.logs("job1")] == texts


def stored_bytes(store: Store, job_id: str) -> int:
    return int(
        store.db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM log_chunks WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
    )


def test_every_line_is_kept_within_the_budget(store: Store) -> None:
    """The store kept the last 25,000 lines of an op; now it keeps what fits in 1 GiB a job."""
    total = 300_000
    for start in range(0, total, 7_000):
        batch = [f"line {i}" for i in range(start, min(total, start + 7_000))]
        store.append_logs("job1", "chatty", lines(batch, ts=float(start)))
        store.flush()
    kept = store.logs("job1", "chatty")
    assert len(kept) == total
    assert [e.text for e in kept[:2]] == ["line 0", "line 1"]
    assert kept[-1].text == f"line {total - 1}"
    seqs = [e.seq for e in kept]
    assert seqs == list(range(seqs[0], seqs[0] + total))
    # tail, after and since across chunk boundaries
    assert [e.text for e in store.logs("job1", tail=3)] == [
        f"line {i}" for i in range(299_997, total)
    ]
    assert len(store.logs("job1", tail=100_000)) == 100_000
    assert store.logs("job1", tail=100_000)[0].text == "line 200000"
    assert store.logs("job1", after=seqs[123_456])[0].text == "line 123457"
    assert store.logs("job1", since=14_000.0)[0].text == "line 14000"
    assert len(store.logs("job1", since=14_000.0, tail=5)) == 5
    assert store.logs("job1", after=seqs[-1]) == []


def budget_store(tmp_path: Path, retention: int = 1 << 20) -> Store:
    return Store(tmp_path / "budget" / "agent.sqlite3", retention=retention)


def test_past_the_budget_the_jobs_oldest_lines_go(tmp_path: Path) -> None:
    store = budget_store(tmp_path)
    try:
        store.append_logs("job1", "quiet", lines(["the first line"], ts=1.0))
        store.append_logs("job2", "other", lines(["another job"], ts=1.0))
        n = 0
        for _ in range(40):  # ~2.6 MiB of 64-byte lines, in many flushes
            store.append_logs(
                "job1", "chatty", lines([f"{n + i:08d} " + "x" * 55 for i in range(1_000)], ts=2.0)
            )
            n += 1_000
            store.flush()
        size = stored_bytes(store, "job1")
        assert store.retention - 2 * CHUNK_BYTES <= size <= store.retention
        kept = store.logs("job1")
        texts = [e.text for e in kept]
        assert texts[-1].startswith(f"{n - 1:08d} ")  # the newest stays
        first = int(texts[0].split()[0])
        assert texts == [f"{i:08d} " + "x" * 55 for i in range(first, n)]  # none missing after
        assert "the first line" not in texts  # the job's oldest, whichever op printed it
        assert len(kept) < n
        # another job keeps its own budget
        assert [e.text for e in store.logs("job2")] == ["another job"]
        # segment files of trimmed chunks are gone: the disk holds about the budget
        on_disk = sum(f.stat().st_size for f in (store.logs_dir / "job1").iterdir())
        assert on_disk <= store.retention + store.segment_bytes
        # what the budget holds of lines this size (64 characters, stored in 75 bytes)
        assert store.lines_kept("job1", "chatty") == store.retention // 75
    finally:
        store.close()


def test_a_line_larger_than_the_budget_is_still_kept(tmp_path: Path) -> None:
    store = budget_store(tmp_path)
    try:
        store.append_logs("job1", "op", lines(["small"]))
        store.flush()
        store.append_logs("job1", "op", lines(["y" * (1 << 21)]))
        store.flush()
        assert [len(e.text) for e in store.logs("job1")] == [1 << 21]
    finally:
        store.close()


def test_lines_and_seq_numbers_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = Store(path)
    first.append_logs("job1", "op", lines(["a", "b"]))
    first.flush()
    seqs = [e.seq for e in first.logs("job1")]
    first.db.close()  # as a kill -9 would leave it (nothing pending)
    # bytes written but never indexed (killed between the two) are never read
    segment = next((tmp_path / "logs" / "job1").iterdir())
    with segment.open("ab") as f:
        f.write(b"half a chunk")
    again = Store(path)
    try:
        again.append_logs("job1", "op", lines(["c"]))
        entries = again.logs("job1")
        assert [e.text for e in entries] == ["a", "b", "c"]
        assert [e.seq for e in entries][:2] == seqs and entries[2].seq > seqs[-1]
    finally:
        again.close()


def test_a_database_of_rows_is_moved_into_chunks(tmp_path: Path) -> None:
    """An older agent kept one row per line: its lines and seq numbers are kept."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL,
        op_id TEXT NOT NULL, stream TEXT NOT NULL, ts REAL NOT NULL, text TEXT NOT NULL);"""
    )
    rows = [
        ("j", "a", "stdout", 1.0, "a1"),
        ("j", "a", "stderr", 2.0, "a2"),
        ("j", "system", "system", 3.0, "sys"),
        ("j", "a", "stdout", 4.0, "a3"),
        ("k", "b", "stdout", 5.0, "b1"),
    ]
    db.executemany(
        "INSERT INTO logs (job_id, op_id, stream, ts, text) VALUES (?, ?, ?, ?, ?)", rows
    )
    db.execute("DELETE FROM logs WHERE seq = 5")  # the newest seq was trimmed away
    db.commit()
    db.close()
    store = Store(path)
    try:
        got = [(e.seq, e.op_id, e.stream, e.ts, e.text) for e in store.logs("j")]
        assert got == [(i + 1, r[1], r[2], r[3], r[4]) for i, r in enumerate(rows[:4])]
        assert (
            store.db.execute("SELECT name FROM sqlite_master WHERE name = 'logs'").fetchone()
            is None
        )
        store.append_logs("k", "b", lines(["new"]))
        assert store.logs("k")[0].seq == 6  # seq numbers never go back
    finally:
        store.close()


async def test_lines_are_written_on_the_next_tick_not_per_line(store: Store) -> None:
    assert store_mod.FLUSH_INTERVAL == 0.1
    for i in range(50):
        store.append_logs("job1", "first", lines([f"l{i}"]))
    await asyncio.sleep(0)
    assert rows_in_db(store) == 0  # buffered
    await asyncio.sleep(0.05)
    assert rows_in_db(store) == 0  # still within the 100 ms
    await asyncio.sleep(0.15)
    assert rows_in_db(store) == 50  # one flush wrote them all
    # the next append schedules the next flush
    store.append_logs("job1", "first", lines(["late"]))
    await asyncio.sleep(0.25)
    assert rows_in_db(store) == 51


async def test_subscribers_receive_batches_of_their_own_lines(store: Store) -> None:
    everything = store.subscribe("job1", None)
    first_only = store.subscribe("job1", "first")
    other_job = store.subscribe("job2", None)
    store.append_logs("job1", "first", lines(["a", "b"]))
    store.append_logs("job1", "second", lines(["c"]))
    batch = await asyncio.wait_for(everything.queue.get(), 2)
    assert [(e.op_id, e.text) for e in batch] == [("first", "a"), ("first", "b"), ("second", "c")]
    assert [e.seq for e in batch] == [e.seq for e in store.logs("job1")]
    mine = await asyncio.wait_for(first_only.queue.get(), 2)
    assert [e.text for e in mine] == ["a", "b"]
    assert other_job.queue.empty()
    # unsubscribed readers get nothing more
    store.unsubscribe(first_only)
    store.unsubscribe(first_only)  # twice is fine
    store.append_logs("job1", "first", lines(["d"]))
    store.flush()
    assert [e.text for e in everything.queue.get_nowait()] == ["d"]
    assert first_only.queue.empty()
    assert everything.dropped == first_only.dropped == 0


async def test_a_slow_subscriber_loses_batches_counted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "SUBSCRIBER_QUEUE", 2)
    slow = store.subscribe("job1", None)
    assert slow.queue.maxsize == 2
    for i in range(5):
        store.append_logs("job1", "first", lines([f"batch {i} a", f"batch {i} b", f"batch {i} c"]))
        store.flush()  # one batch per flush
    assert slow.queue.qsize() == 2
    assert slow.dropped == 9  # three batches of three lines
    kept = [e.text for _ in range(2) for e in slow.queue.get_nowait()]
    assert kept == ["batch 0 a", "batch 0 b", "batch 0 c", "batch 1 a", "batch 1 b", "batch 1 c"]
    # room again: new batches arrive; the store itself lost nothing
    store.append_logs("job1", "first", lines(["after"]))
    store.flush()
    assert [e.text for e in slow.queue.get_nowait()] == ["after"]
    assert slow.dropped == 9
    assert len(store.logs("job1")) == 16


def test_close_flushes_pending_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    s = Store(path)
    s.append_logs("job1", "first", lines(["kept at close"]))
    s.close()
    again = Store(path)
    try:
        assert [e.text for e in again.logs("job1")] == ["kept at close"]
    finally:
        again.close()


def test_read_logs_renders_the_same_entries_as_logs(store: Store) -> None:
    """What reads are served from (rendered a chunk at a time) says what ``logs`` says."""
    texts = ["héllo 日本", "", 'quote " and \\ and \x1b[31mred', "tab\there", "ctl \x07 \x00 end"]
    stamps = [1_763_900_238.153133, 1_763_900_238.9996, 1_763_900_239.0005, 0.0015, 1e9 + 0.5]
    for text, ts in zip(texts, stamps, strict=True):
        store.append_logs("job1", "op", [LogLine("stdout", ts, text)])
        store.append_logs("job1", "op", [LogLine("stderr", ts, text + " (err)")])
    store.append_logs("job1", "system", lines(["sys"], stream="system", ts=1e9))
    for kwargs in ({}, {"tail": 2}, {"since": 1e9}, {"after": 2}, {"op_id": "op"}, {"tail": 0}):
        entries = store.logs("job1", **kwargs)  # type: ignore[arg-type]
        blocks = list(store.read_logs("job1", **kwargs))  # type: ignore[arg-type]
        ndjson = "".join(block for _, block in blocks)
        assert ndjson.endswith("\n") or not entries
        parsed = [LogEntry.model_validate_json(line) for line in ndjson.splitlines()]
        assert [(p.seq, p.job_id, p.op_id, p.stream, p.text) for p in parsed] == [
            (e.seq, e.job_id, e.op_id, e.stream, e.text) for e in entries
        ]
        assert all(abs(p.ts - e.ts) < 1e-6 for p, e in zip(parsed, entries, strict=True))
        assert [seq for seq, _ in blocks][-1:] == [e.seq for e in entries][-1:]
        for timestamps in (False, True):
            for prefix in (False, True):
                text = store.read_logs(
                    "job1", form="text", timestamps=timestamps, prefix=prefix, **kwargs
                )  # type: ignore[arg-type]
                assert "".join(block for _, block in text) == "".join(
                    text_line(e, timestamps=timestamps, prefix=prefix) for e in entries
                )


def test_followed_lines_render_as_stored_ones(store: Store) -> None:
    from nosana_tui.node.store import render_lines

    store.append_logs("job1", "op", [LogLine("stderr", 1_763_900_238.9996, 'a "q" \x1b[0m')])
    stored = store.logs("job1")
    followed = [StoredLine(e.seq, e.job_id, e.op_id, e.stream, e.ts, e.text) for e in stored]
    for form in ("ndjson", "text"):
        for timestamps in (False, True):
            for prefix in (False, True):
                rendered = render_lines(followed, form=form, timestamps=timestamps, prefix=prefix)  # type: ignore[arg-type]
                assert rendered == "".join(
                    b
                    for _, b in store.read_logs(
                        "job1", form=form, timestamps=timestamps, prefix=prefix
                    )  # type: ignore[arg-type]
                )


def test_text_line_layout() -> None:
    entry = LogEntry(
        seq=1, job_id="j", op_id="web", stream="stdout", ts=1_700_000_000.2505, text="hi"
    )
    assert text_line(entry, timestamps=False, prefix=False) == "hi\n"
    assert text_line(entry, timestamps=False, prefix=True) == "web | hi\n"
    assert text_line(entry, timestamps=True, prefix=True) == "2023-11-14T22:13:20.251Z web | hi\n"
