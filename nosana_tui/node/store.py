"""The agent's state: jobs and op states in SQLite, log lines in append-only files beside it.

State changes are written at once (a killed agent loses nothing it had said).

Logs. An op can print hundreds of thousands of lines a second, and its user expects to scroll
back through all of it, as ``docker logs`` does. One SQLite row per line cannot keep up with that
(6.5 µs a line with its index, 86 MiB for a million short lines: bench/README.md section 2), and
removing a job of a gigabyte of rows blocks the agent for seconds. So lines are buffered and
written every 100 ms (and before any read) as *chunks*: consecutive lines of one op, up to
``CHUNK_BYTES`` of text, appended to the job's current segment file (``logs/<job>/<n>.log``:
the lines' stamps as 8-byte floats, their streams when they differ, their texts as one JSON
array). SQLite keeps one index row per chunk: its seq range, op, stream, time range, and where it
lies. Seq numbers count lines across all jobs and never go back. A read finds its chunks in the
index (``tail`` from the newest back, ``after`` by seq range, ``since`` by time range), reads each
with one ``pread`` and renders it whole.

Retention is a budget in bytes per job (``NOSANA_TUI_LOG_RETENTION``, 1 GiB by default), counted
as stored (the text, plus about 11 bytes a line): past it the job's oldest chunks go, whichever op
printed them; the newest chunk always stays. A segment file is deleted once none of its chunks is
indexed, so the disk holds at most one segment (1/16 of the budget, at most 64 MiB) more than the
budget. Removing a job deletes its folder.

A chunk's bytes are written before its index row is committed, so the index never points past
what was written; bytes written but never indexed (a kill -9 in between) are never read.

New lines also go to in-memory subscribers (``logs --follow``), each with a bounded queue: a
slow reader loses lines, counted, rather than growing the agent's memory.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import contextlib
import itertools
import json
import operator
import os
import re
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from typing import Literal, NamedTuple

from nosana_tui.api.models import JobView, LogEntry, OpView
from nosana_tui.engine.backend import LogLine

FLUSH_INTERVAL = 0.1
SUBSCRIBER_QUEUE = 10_000
DEFAULT_LOG_RETENTION = 1 << 30
MIN_LOG_RETENTION = 1 << 20
CHUNK_BYTES = 64 << 10
"""A chunk holds consecutive lines of one op, this much text at most (or one longer line): the
unit of reads and of trimming."""
MAX_SEGMENT_BYTES = 64 << 20

LogForm = Literal["ndjson", "text"]

SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    definition TEXT NOT NULL,
    view TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ops (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    op_id TEXT NOT NULL,
    view TEXT NOT NULL,
    PRIMARY KEY (job_id, op_id)
);
CREATE TABLE IF NOT EXISTS log_chunks (
    job_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    op_id TEXT NOT NULL,
    stream TEXT,                -- every line's stream; NULL: the chunk lists them
    min_ts REAL NOT NULL,
    max_ts REAL NOT NULL,
    segment INTEGER NOT NULL,   -- logs/<job>/<segment>.log
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    texts_at INTEGER NOT NULL,  -- where, in the chunk, the JSON array of texts begins
    PRIMARY KEY (job_id, first_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_chunks_by_op ON log_chunks (job_id, op_id, first_seq);
CREATE TABLE IF NOT EXISTS log_seq (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    last INTEGER NOT NULL
);
"""

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
_TEXT = operator.attrgetter("text")
_TS = operator.attrgetter("ts")
_STREAM = operator.attrgetter("stream")


class StoredLine(NamedTuple):
    """A line as followers receive it (the fields of ``LogEntry``, without a model per line)."""

    seq: int
    job_id: str
    op_id: str
    stream: str
    ts: float
    text: str


@dataclass
class Subscriber:
    job_id: str
    op_id: str | None
    queue: asyncio.Queue[list[StoredLine]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
    )
    dropped: int = 0


class _Block(NamedTuple):
    """Some of a chunk's lines, as a read selected them."""

    op_id: str
    seqs: Sequence[int]
    streams: list[str]
    stamps: list[float]
    texts: list[str]


_Run = tuple[str, str, int, list[LogLine]]  # job, op, seq of the first line, the lines
_ChunkRow = tuple[str, int, int, str, str | None, float, float, int, int, int, int]


class Store:
    def __init__(self, path: Path, retention: int = DEFAULT_LOG_RETENTION) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.logs_dir = path.parent / "logs"
        self.retention = retention
        self.segment_bytes = max(CHUNK_BYTES, min(MAX_SEGMENT_BYTES, retention // 16))
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            # a database made before auto_vacuum was set: VACUUM once makes it take effect
            self.db.execute("VACUUM")
        self._pending: list[tuple[str, str, list[LogLine]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._subscribers: list[Subscriber] = []
        self._segments: dict[str, list[int]] = {}  # job -> [current segment, its size]
        row = self.db.execute("SELECT last FROM log_seq").fetchone()
        self._seq = int(row[0]) if row else 0
        self._job_bytes: dict[str, int] = defaultdict(int)
        self._migrate_rows()
        for job_id, size in self.db.execute(
            "SELECT job_id, SUM(size) FROM log_chunks GROUP BY job_id"
        ):
            self._job_bytes[job_id] = int(size)

    # --- jobs and ops -------------------------------------------------------------------------

    def add_job(self, view: JobView, definition: dict[str, object]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO jobs (id, created_at, definition, view) VALUES (?, ?, ?, ?)",
                (view.id, view.created_at, json.dumps(definition), view.model_dump_json()),
            )
            for op in view.ops:
                self.db.execute(
                    "INSERT INTO ops (job_id, op_id, view) VALUES (?, ?, ?)",
                    (view.id, op.id, op.model_dump_json()),
                )

    def save_job(self, view: JobView) -> None:
        head = view.model_copy(update={"ops": []})
        self.db.execute("UPDATE jobs SET view = ? WHERE id = ?", (head.model_dump_json(), view.id))

    def save_op(self, job_id: str, view: OpView) -> None:
        self.db.execute(
            "UPDATE ops SET view = ? WHERE job_id = ? AND op_id = ?",
            (view.model_dump_json(), job_id, view.id),
        )

    def jobs(self) -> list[tuple[JobView, dict[str, object]]]:
        rows = self.db.execute(
            "SELECT id, definition, view FROM jobs ORDER BY created_at"
        ).fetchall()
        out = []
        for job_id, definition, view in rows:
            job = JobView.model_validate_json(view)
            ops = self.db.execute("SELECT view FROM ops WHERE job_id = ?", (job_id,)).fetchall()
            job.ops = sorted((OpView.model_validate_json(v) for (v,) in ops), key=lambda o: o.index)
            out.append((job, json.loads(definition)))
        return out

    def delete_job(self, job_id: str) -> None:
        self._pending = [p for p in self._pending if p[0] != job_id]
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM log_chunks WHERE job_id = ?", (job_id,))
            self.db.execute("DELETE FROM ops WHERE job_id = ?", (job_id,))
            self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self._job_dir(job_id), ignore_errors=True)
        self._segments.pop(job_id, None)
        self._job_bytes.pop(job_id, None)
        # (executescript: execute() would step it once, giving back one page)
        self.db.executescript("PRAGMA incremental_vacuum;")  # the removed job's pages back

    # --- writing logs -------------------------------------------------------------------------

    def append_logs(self, job_id: str, op_id: str, lines: list[LogLine]) -> None:
        if not lines:
            return
        self._pending.append((job_id, op_id, lines))
        if self._flusher is None or self._flusher.done():
            with contextlib.suppress(RuntimeError):
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_INTERVAL)
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        runs: list[_Run] = []
        for job_id, op_id, lines in pending:  # consecutive lines of one op make one run
            if runs and runs[-1][0] == job_id and runs[-1][1] == op_id:
                runs[-1][3].extend(lines)
            else:
                runs.append((job_id, op_id, self._seq + 1, list(lines)))
            self._seq += len(lines)
        self._write(runs)
        if self._subscribers:
            self._publish(runs)
        for job_id in {run[0] for run in runs}:
            if self._job_bytes[job_id] > self.retention:
                self._trim(job_id)

    def _write(self, runs: list[_Run]) -> None:
        """Append the runs' chunks to their jobs' segment files, then index them (one
        transaction, which also records the newest seq)."""
        rows: list[_ChunkRow] = []
        data: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        for job_id, op_id, first, lines in runs:
            for start, end in _pieces(lines):
                piece = lines[start:end]
                record, stream, texts_at, stamps = _encode(piece)
                segment, offset = self._place(job_id, len(record))
                data[(job_id, segment)].append(record)
                rows.append(
                    (job_id, first + start, first + end - 1, op_id, stream, min(stamps),
                     max(stamps), segment, offset, len(record), texts_at)
                )  # fmt: skip
        failed: set[tuple[str, int]] = set()
        for (job_id, segment), records in data.items():
            try:
                self._append(job_id, segment, b"".join(records))
            except OSError as err:  # (a full disk): these lines are lost, the agent goes on
                failed.add((job_id, segment))
                self._segments.pop(job_id, None)  # its size is not known any more
                print(f"nosana-tui node: log lines of job {job_id} lost: {err}", file=sys.stderr)
        if failed:
            rows = [r for r in rows if (r[0], r[7]) not in failed]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO log_chunks (job_id, first_seq, last_seq, op_id, stream,"
                " min_ts, max_ts, segment, offset, size, texts_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.db.execute("INSERT OR REPLACE INTO log_seq (id, last) VALUES (0, ?)", (self._seq,))
        for row in rows:
            self._job_bytes[row[0]] += row[9]

    def _job_dir(self, job_id: str) -> Path:
        name = job_id if _SAFE_NAME.fullmatch(job_id) else "x" + job_id.encode().hex()
        return self.logs_dir / name

    def _place(self, job_id: str, size: int) -> tuple[int, int]:
        """Where a chunk of ``size`` bytes goes: (segment, offset in it)."""
        current = self._segments.get(job_id)
        if current is None:
            numbers = _segment_numbers(self._job_dir(job_id))
            number = numbers[-1] if numbers else 1
            path = self._job_dir(job_id) / f"{number}.log"
            current = self._segments[job_id] = [number, path.stat().st_size if numbers else 0]
        if current[1] and current[1] + size > self.segment_bytes:
            current[0], current[1] = current[0] + 1, 0
        offset = current[1]
        current[1] += size
        return current[0], offset

    def _append(self, job_id: str, segment: int, data: bytes) -> None:
        folder = self._job_dir(job_id)
        if not folder.is_dir():
            self.logs_dir.mkdir(mode=0o700, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder / f"{segment}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def _trim(self, job_id: str) -> None:
        """Remove the job's oldest chunks until it is within its budget (never the newest)."""
        over = self._job_bytes[job_id] - self.retention
        newest = self.db.execute(
            "SELECT MAX(first_seq) FROM log_chunks WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        cursor = self.db.execute(
            "SELECT first_seq, size FROM log_chunks WHERE job_id = ? AND first_seq < ?"
            " ORDER BY first_seq",
            (job_id, newest),
        )
        removed, upto = 0, None
        for first, size in cursor:
            removed, upto = removed + size, first
            if removed >= over:
                break
        cursor.close()
        if upto is None:
            return
        self.db.execute(
            "DELETE FROM log_chunks WHERE job_id = ? AND first_seq <= ?", (job_id, upto)
        )
        self._job_bytes[job_id] -= removed
        oldest = self.db.execute(
            "SELECT MIN(segment) FROM log_chunks WHERE job_id = ?", (job_id,)
        ).fetchone()[0]
        folder = self._job_dir(job_id)
        for number in _segment_numbers(folder):
            if number < oldest:
                with contextlib.suppress(FileNotFoundError):
                    (folder / f"{number}.log").unlink()

    def _migrate_rows(self) -> None:
        """A database of an older agent kept one row per line in ``logs``: into chunks."""
        if not self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'logs'"
        ).fetchone():
            return
        runs: list[_Run] = []
        last = 0
        for seq, job_id, op_id, stream, ts, text in self.db.execute(
            "SELECT seq, job_id, op_id, stream, ts, text FROM logs ORDER BY seq"
        ):
            run = runs[-1] if runs else None
            if run and run[0] == job_id and run[1] == op_id and run[2] + len(run[3]) == seq:
                run[3].append(LogLine(stream, ts, text))
            else:
                runs.append((job_id, op_id, seq, [LogLine(stream, ts, text)]))
            last = seq
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'logs'").fetchone()
        self._seq = max(self._seq, last, int(row[0]) if row else 0)
        self._write(runs)
        self.db.execute("DROP TABLE logs")
        self.db.executescript("PRAGMA incremental_vacuum;")

    # --- reading logs -------------------------------------------------------------------------

    def _blocks(
        self,
        job_id: str,
        op_id: str | None,
        after: int,
        since: float | None,
        tail: int | None,
    ) -> Iterator[_Block]:
        """The job's lines (of one op) with seq above ``after``, stamped at or after ``since``,
        the last ``tail`` of them: oldest first, a chunk at a time. Chunks are looked up now
        and read as the iterator is consumed; one trimmed meanwhile is skipped."""
        self.flush()
        where = ["job_id = ?", "last_seq > ?"]
        params: list[object] = [job_id, after]
        if op_id is not None:
            where.append("op_id = ?")
            params.append(op_id)
        if since is not None:
            where.append("max_ts >= ?")
            params.append(since)
        sql = (
            "SELECT first_seq, last_seq, op_id, stream, min_ts, segment, offset, size, texts_at"
            f" FROM log_chunks WHERE {' AND '.join(where)} ORDER BY first_seq"
        )
        reader = _ChunkReader(self._job_dir(job_id))
        if tail is None:
            rows = self.db.execute(sql, params).fetchall()
            return reader.blocks(rows, after, since)
        if tail <= 0:
            return iter(())
        got: list[_Block] = []
        count = 0
        try:
            for row in self.db.execute(sql + " DESC", params):
                block = reader.read(row, after, since)
                if block is None or not block.seqs:
                    continue
                got.append(block)
                count += len(block.seqs)
                if count >= tail:
                    break
        finally:
            reader.close()
        if count > tail:
            cut, oldest = count - tail, got[-1]
            got[-1] = _Block(
                oldest.op_id,
                oldest.seqs[cut:],
                oldest.streams[cut:],
                oldest.stamps[cut:],
                oldest.texts[cut:],
            )
        return reversed(got)

    def logs(
        self,
        job_id: str,
        op_id: str | None = None,
        *,
        after: int = 0,
        since: float | None = None,
        tail: int | None = None,
    ) -> list[LogEntry]:
        return [
            LogEntry(seq=seq, job_id=job_id, op_id=block.op_id, stream=stream, ts=ts, text=text)
            for block in self._blocks(job_id, op_id, after, since, tail)
            for seq, stream, ts, text in zip(
                block.seqs, block.streams, block.stamps, block.texts, strict=True
            )
        ]

    def read_logs(
        self,
        job_id: str,
        op_id: str | None = None,
        *,
        after: int = 0,
        since: float | None = None,
        tail: int | None = None,
        form: LogForm = "ndjson",
        timestamps: bool = False,
        prefix: bool = False,
    ) -> Iterator[tuple[int, str]]:
        """The same lines as :meth:`logs`, rendered, a chunk at a time: ``(seq of its last
        line, its lines)``, each line a ``LogEntry`` as one JSON object (``ndjson``) or laid out
        as :func:`text_line` does (``text``). No model per line: reads are served from this."""
        for block in self._blocks(job_id, op_id, after, since, tail):
            if block.seqs:
                yield block.seqs[-1], _render(job_id, block, form, timestamps, prefix)

    def op_log_text(self, job_id: str, op_id: str) -> list[tuple[str, str]]:
        return [
            pair
            for block in self._blocks(job_id, op_id, 0, None, None)
            for pair in zip(block.streams, block.texts, strict=True)
        ]

    def last_log_ts(self, job_id: str, op_id: str) -> float | None:
        self.flush()
        row = self.db.execute(
            "SELECT MAX(max_ts) FROM log_chunks WHERE job_id = ? AND op_id = ?", (job_id, op_id)
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def lines_kept(self, job_id: str, op_id: str) -> int:
        """How many lines of the op the job's budget holds, at the op's mean stored size so far
        (at the smallest a line takes when none is stored)."""
        self.flush()
        size, count = self.db.execute(
            "SELECT SUM(size), SUM(last_seq - first_seq + 1) FROM log_chunks"
            " WHERE job_id = ? AND op_id = ?",
            (job_id, op_id),
        ).fetchone()
        per_line = max(11, int(size) // int(count)) if count else 11
        return max(1, self.retention // per_line)

    # --- live subscribers ---------------------------------------------------------------------

    def subscribe(self, job_id: str, op_id: str | None) -> Subscriber:
        sub = Subscriber(job_id, op_id)
        self._subscribers.append(sub)
        return sub

    def end_streams(self, job_id: str) -> None:
        """Wake the job's followers (it was removed): they find their stream over."""
        for sub in self._subscribers:
            if sub.job_id == job_id:
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.put_nowait([])

    def unsubscribe(self, sub: Subscriber) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(sub)

    def _publish(self, runs: Iterable[_Run]) -> None:
        """One batch per subscriber per flush: its lines of the runs (only followed runs are
        turned into entries)."""
        batches: dict[int, list[StoredLine]] = {}
        for job_id, op_id, first, lines in runs:
            subs = [
                s
                for s in self._subscribers
                if s.job_id == job_id and (s.op_id is None or s.op_id == op_id)
            ]
            if not subs:
                continue
            entries = [
                StoredLine(seq, job_id, op_id, ln.stream, ln.ts, ln.text)
                for seq, ln in enumerate(lines, first)
            ]
            for sub in subs:
                batches.setdefault(id(sub), []).extend(entries)
        for sub in self._subscribers:
            batch = batches.get(id(sub))
            if not batch:
                continue
            try:
                sub.queue.put_nowait(batch)
            except asyncio.QueueFull:
                sub.dropped += len(batch)

    def close(self) -> None:
        self.flush()
        self.db.close()


# --- chunks ---------------------------------------------------------------------------------------


def _pieces(lines: list[LogLine]) -> Iterator[tuple[int, int]]:
    """[start, end) of each chunk of ``lines``: up to ``CHUNK_BYTES`` of text (at least a line)."""
    upto = list(itertools.accumulate(map(len, map(_TEXT, lines))))
    start = 0
    while start < len(lines):
        base = upto[start - 1] if start else 0
        end = max(start + 1, bisect.bisect_right(upto, base + CHUNK_BYTES, lo=start))
        yield start, end
        start = end


def _encode(lines: list[LogLine]) -> tuple[bytes, str | None, int, list[float]]:
    """A chunk as stored: the stamps (8-byte floats, this machine's byte order), the streams
    as a JSON array when they differ, the texts as a JSON array. Also: the one stream (or
    None), where the texts begin, the stamps."""
    stamps = list(map(_TS, lines))
    streams = list(map(_STREAM, lines))
    stream: str | None = streams[0]
    head = array.array("d", stamps).tobytes()
    if streams.count(streams[0]) != len(streams):
        stream = None
        head += json.dumps(streams, separators=(",", ":")).encode()
    texts = json.dumps(list(map(_TEXT, lines)), ensure_ascii=False, separators=(",", ":"))
    texts_bytes = texts.encode("utf-8", "replace")
    return head + texts_bytes, stream, len(head), stamps


def _segment_numbers(folder: Path) -> list[int]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())


class _ChunkReader:
    """Reads chunks of one job's segment files, keeping each file open while it reads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[int, int] = {}

    def blocks(
        self, rows: list[tuple[object, ...]], after: int, since: float | None
    ) -> Iterator[_Block]:
        try:
            for row in rows:
                block = self.read(row, after, since)
                if block is not None:
                    yield block
        finally:
            self.close()

    def read(self, row: tuple[object, ...], after: int, since: float | None) -> _Block | None:
        first, last, op_id, stream, min_ts, segment, offset, size, texts_at = row
        assert isinstance(first, int) and isinstance(last, int) and isinstance(segment, int)
        assert isinstance(offset, int) and isinstance(size, int) and isinstance(texts_at, int)
        count = last - first + 1
        try:
            fd = self.files.get(segment)
            if fd is None:
                fd = self.files[segment] = os.open(self.folder / f"{segment}.log", os.O_RDONLY)
            data = os.pread(fd, size, offset)
        except FileNotFoundError:
            return None  # trimmed since it was looked up
        if len(data) != size:
            return None
        stamps_array = array.array("d")
        stamps_array.frombytes(data[: 8 * count])
        stamps = stamps_array.tolist()
        streams = (
            [str(stream)] * count if stream is not None else json.loads(data[8 * count : texts_at])
        )
        texts = json.loads(data[texts_at:])
        seqs: Sequence[int] = range(first, last + 1)
        start = max(0, after + 1 - first)
        if since is not None and isinstance(min_ts, float) and min_ts < since:
            keep = [i for i in range(start, count) if stamps[i] >= since]
            return _Block(
                str(op_id),
                [seqs[i] for i in keep],
                [streams[i] for i in keep],
                [stamps[i] for i in keep],
                [texts[i] for i in keep],
            )
        if start:
            return _Block(str(op_id), seqs[start:], streams[start:], stamps[start:], texts[start:])
        return _Block(str(op_id), seqs, streams, stamps, texts)

    def close(self) -> None:
        for fd in self.files.values():
            os.close(fd)
        self.files.clear()


# --- rendering ------------------------------------------------------------------------------------


def _render(job_id: str, block: _Block, form: LogForm, timestamps: bool, prefix: bool) -> str:
    if form == "ndjson":
        head = f'"job_id":{encode_basestring(job_id)},"op_id":{encode_basestring(block.op_id)}'
        return "".join(
            [
                f'{{"seq":{seq},{head},"stream":{encode_basestring(stream)},"ts":{ts:.6f},'
                f'"text":{encode_basestring(text)}}}\n'
                for seq, stream, ts, text in zip(
                    block.seqs, block.streams, block.stamps, block.texts, strict=True
                )
            ]
        )
    lead = f"{block.op_id} | " if prefix else ""
    if timestamps:
        stamp = _Stamper()
        return "".join(
            [
                f"{stamp(ts)}{lead}{text}\n"
                for ts, text in zip(block.stamps, block.texts, strict=True)
            ]
        )
    if not block.texts:
        return ""
    return lead + ("\n" + lead).join(block.texts) + "\n"


def render_lines(
    lines: Iterable[StoredLine], *, form: LogForm, timestamps: bool, prefix: bool
) -> str:
    """Followed lines, as :meth:`Store.read_logs` renders stored ones."""
    if form == "ndjson":
        return "".join(
            [
                f'{{"seq":{e.seq},"job_id":{encode_basestring(e.job_id)},'
                f'"op_id":{encode_basestring(e.op_id)},"stream":{encode_basestring(e.stream)},'
                f'"ts":{e.ts:.6f},"text":{encode_basestring(e.text)}}}\n'
                for e in lines
            ]
        )
    return "".join([text_line(e, timestamps=timestamps, prefix=prefix) for e in lines])


class _Stamper:
    """``2026-11-23T12:17:18.153Z `` of a time (UTC, milliseconds), the second's part cached."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def __call__(self, ts: float) -> str:
        ms = int(ts * 1000 + 0.5)
        second = ms // 1000
        if second != self.second:
            self.second = second
            self.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.text}.{ms % 1000:03d}Z "


def text_line(entry: LogEntry | StoredLine, *, timestamps: bool, prefix: bool) -> str:
    """One line of the ``text`` form of the logs, as :meth:`Store.read_logs` renders it:
    ``[2026-11-23T12:17:18.153Z ][op | ]text`` and a newline (UTC, milliseconds)."""
    line = entry.text + "\n"
    if prefix:
        line = f"{entry.op_id} | {line}"
    if timestamps:
        ms = int(entry.ts * 1000 + 0.5)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
        line = f"{stamp}.{ms % 1000:03d}Z {line}"
    return line
