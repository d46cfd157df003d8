"""Feedback (👍/👎 and an optional comment) kept in a local SQLite file.

A row holds the answer id, the rating, the comment and the settings and index hashes that
produced the answer. The question text is stored only when the deployment opts in
(``server.feedback_store_questions``); otherwise the column stays empty. The file (and
SQLite's -wal and -shm beside it) is readable by its owner only.

A file deleted or replaced while the server runs is noticed before each write: the store
is opened again (a new, empty file) and the loss is logged. A row that cannot be written
is a ``StorageError``: feedback is never reported stored when it was not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from corpus.errors import ConfigError, StorageError

log = logging.getLogger("bedside.feedback")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    settings_digest TEXT NOT NULL,
    index_digest TEXT NOT NULL,
    question TEXT
)
"""


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    id: int
    created_at: str
    answer_id: str
    rating: Literal["up", "down"]
    comment: str
    settings_digest: str
    index_digest: str
    question: str | None


class FeedbackStore:
    """One SQLite file; safe to use from the server's worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db, self._file = self._open()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the feedback store {path}: {exc}") from exc

    def _open(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Owner only; SQLite gives the -wal and -shm files the database file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        for part in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{self.path}{part}", 0o600)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(_SCHEMA)
        st = os.stat(self.path)
        return db, (st.st_dev, st.st_ino)

    def _same_file(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._file

    def _reopen_if_gone(self) -> None:
        """Writing to a deleted file would succeed and be lost: open the path again."""
        if self._same_file():
            return
        log.error("the feedback store %s was deleted or replaced; starting a new one", self.path)
        self._db.close()
        self._db, self._file = self._open()

    def add(
        self,
        *,
        answer_id: str,
        rating: Literal["up", "down"],
        comment: str,
        settings_digest: str,
        index_digest: str,
        question: str | None = None,
    ) -> int:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            try:
                self._reopen_if_gone()
                cur = self._db.execute(
                    "INSERT INTO feedback (created_at, answer_id, rating, comment,"
                    " settings_digest, index_digest, question) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        answer_id,
                        rating,
                        comment.strip(),
                        settings_digest,
                        index_digest,
                        question,
                    ),
                )
                if not self._same_file():
                    raise OSError("the file was removed during the write")
            except (OSError, sqlite3.Error) as exc:
                log.error("cannot write feedback to %s: %s", self.path, exc)
                raise StorageError(
                    "the feedback could not be stored; the server log has the details"
                ) from exc
            return int(cur.lastrowid or 0)

    def rows(self) -> list[FeedbackRow]:
        with self._lock:
            found = self._db.execute(
                "SELECT id, created_at, answer_id, rating, comment, settings_digest,"
                " index_digest, question FROM feedback ORDER BY id"
            ).fetchall()
        return [FeedbackRow(*row) for row in found]

    def close(self) -> None:
        with self._lock:
            self._db.close()
