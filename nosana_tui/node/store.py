"""The agent's state in SQLite: jobs, op states and the last 25,000 log lines of each op.

State changes are written at once (a killed agent loses nothing it had said); log lines are
buffered and written in one transaction every 100 ms, so a chatty op costs one commit per tick,
not one per line. New lines also go to in-memory subscribers (``logs --follow``), each with a
bounded queue: a slow reader loses lines, counted, rather than growing the agent's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nosana_tui.engine.backend import KEPT_LOG_LINES, LogLine
from nosana_tui.spec.status import JobView, LogEntry, OpView

MAX_LINES_PER_OP = KEPT_LOG_LINES
FLUSH_INTERVAL = 0.1
SUBSCRIBER_QUEUE = 10_000

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
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    op_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_op ON logs (job_id, op_id, seq);
"""


@dataclass
class Subscriber:
    job_id: str
    op_id: str | None
    queue: asyncio.Queue[list[LogEntry]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
    )
    dropped: int = 0


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            # a database made before auto_vacuum was set: VACUUM once makes it take effect
            self.db.execute("VACUUM")
        self._pending: list[tuple[str, str, str, float, str]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._subscribers: list[Subscriber] = []
        self._since_trim: dict[tuple[str, str], int] = defaultdict(int)

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
            self.db.execute("DELETE FROM logs WHERE job_id = ?", (job_id,))
            self.db.execute("DELETE FROM ops WHERE job_id = ?", (job_id,))
            self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        # (executescript: execute() would step it once, giving back one page)
        self.db.executescript("PRAGMA incremental_vacuum;")  # the removed job's pages back

    # --- logs ---------------------------------------------------------------------------------

    def append_logs(self, job_id: str, op_id: str, lines: list[LogLine]) -> None:
        self._pending.extend((job_id, op_id, ln.stream, ln.ts, ln.text) for ln in lines)
        if self._flusher is None or self._flusher.done():
            with contextlib.suppress(RuntimeError):
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_INTERVAL)
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        with self.db:
            self.db.execute("BEGIN")
            cursor = self.db.executemany(
                "INSERT INTO logs (job_id, op_id, stream, ts, text) VALUES (?, ?, ?, ?, ?)", batch
            )
            del cursor
            last = self.db.execute("SELECT last_insert_rowid()").fetchone()[0]
        if self._subscribers:  # models only for those who follow: most lines only get stored
            first = last - len(batch) + 1
            self._publish(
                LogEntry(seq=first + i, job_id=j, op_id=o, stream=s, ts=t, text=x)
                for i, (j, o, s, t, x) in enumerate(batch)
            )
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for j, o, *_ in batch:
            counts[(j, o)] += 1
        for key, n in counts.items():
            self._since_trim[key] += n
            if self._since_trim[key] >= 2_000:
                self._since_trim[key] = 0
                self._trim(*key)

    def _trim(self, job_id: str, op_id: str) -> None:
        row = self.db.execute(
            "SELECT seq FROM logs WHERE job_id = ? AND op_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (job_id, op_id, MAX_LINES_PER_OP),
        ).fetchone()
        if row:
            self.db.execute(
                "DELETE FROM logs WHERE job_id = ? AND op_id = ? AND seq <= ?",
                (job_id, op_id, row[0]),
            )

    def logs(
        self,
        job_id: str,
        op_id: str | None = None,
        *,
        after: int = 0,
        since: float | None = None,
        tail: int | None = None,
    ) -> list[LogEntry]:
        rows = self._select_logs(
            "seq, job_id, op_id, stream, ts, text", job_id, op_id, after, since, tail
        )
        return [
            LogEntry(seq=r[0], job_id=r[1], op_id=r[2], stream=r[3], ts=r[4], text=r[5])
            for r in rows
        ]

    def _select_logs(
        self,
        columns: str,
        job_id: str,
        op_id: str | None,
        after: int,
        since: float | None,
        tail: int | None,
    ) -> list[tuple[Any, ...]]:
        """``columns`` (the first being ``seq``) of a job's lines, oldest first, filtered."""
        self.flush()
        where = ["job_id = ?", "seq > ?"]
        params: list[object] = [job_id, after]
        if op_id is not None:
            where.append("op_id = ?")
            params.append(op_id)
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        sql = f"SELECT {columns} FROM logs WHERE {' AND '.join(where)}"
        if tail is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?) ORDER BY 1"
            params.append(tail)
        else:
            sql += " ORDER BY seq"
        return self.db.execute(sql, params).fetchall()

    def log_lines(
        self,
        job_id: str,
        op_id: str | None = None,
        *,
        after: int = 0,
        since: float | None = None,
        tail: int | None = None,
        form: str = "ndjson",
        timestamps: bool = False,
        prefix: bool = False,
    ) -> list[tuple[int, str]]:
        """The same lines as :meth:`logs`, already rendered by SQLite: ``(seq, line)`` where a
        line is a ``LogEntry`` as one JSON object (``ndjson``), or as ``text`` laid out by
        :func:`text_line`. No model per line: this is what ``logs`` reads are served from."""
        if form == "ndjson":
            # ts as printed by printf keeps microseconds; json_object alone keeps 15 digits
            rendered = (
                "json_object('seq', seq, 'job_id', job_id, 'op_id', op_id, 'stream', stream,"
                " 'ts', json(printf('%.6f', ts)), 'text', text) || char(10)"
            )
        else:
            rendered = "text || char(10)"
            if prefix:
                rendered = f"op_id || ' | ' || {rendered}"
            if timestamps:
                ms = "CAST(ts * 1000 + 0.5 AS INTEGER)"  # the same arithmetic as text_line
                rendered = (
                    f"strftime('%Y-%m-%dT%H:%M:%S', {ms} / 1000, 'unixepoch')"
                    f" || printf('.%03dZ ', {ms} % 1000) || {rendered}"
                )
        return self._select_logs(f"seq, {rendered}", job_id, op_id, after, since, tail)

    def op_log_text(self, job_id: str, op_id: str) -> list[tuple[str, str]]:
        self.flush()
        return list(
            self.db.execute(
                "SELECT stream, text FROM logs WHERE job_id = ? AND op_id = ? ORDER BY seq",
                (job_id, op_id),
            )
        )

    def last_log_ts(self, job_id: str, op_id: str) -> float | None:
        self.flush()
        row = self.db.execute(
            "SELECT MAX(ts) FROM logs WHERE job_id = ? AND op_id = ?", (job_id, op_id)
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

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

    def _publish(self, entries: Iterable[LogEntry]) -> None:
        if not self._subscribers:
            return
        entries = list(entries)
        for sub in self._subscribers:
            mine = [
                e
                for e in entries
                if e.job_id == sub.job_id and (sub.op_id is None or e.op_id == sub.op_id)
            ]
            if not mine:
                continue
            try:
                sub.queue.put_nowait(mine)
            except asyncio.QueueFull:
                sub.dropped += len(mine)

    def close(self) -> None:
        self.flush()
        self.db.close()


def text_line(entry: LogEntry, *, timestamps: bool, prefix: bool) -> str:
    """One line of the ``text`` form of the logs, as :meth:`Store.log_lines` renders it:
    ``[2026-11-23T12:17:18.153Z ][op | ]text`` and a newline (UTC, milliseconds)."""
    line = entry.text + "\n"
    if prefix:
        line = f"{entry.op_id} | {line}"
    if timestamps:
        ms = int(entry.ts * 1000 + 0.5)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
        line = f"{stamp}.{ms % 1000:03d}Z {line}"
    return line
