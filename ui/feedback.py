"""Feedback (👍/👎 and an optional comment) kept in a local SQLite file.

A row holds the answer id, the rating, the comment and the settings and index hashes that
produced the answer. The question text is stored only when the deployment opts in
(``server.feedback_store_questions``); otherwise the column stays empty.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from corpus.errors import ConfigError

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
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the feedback store {path}: {exc}") from exc

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
            cur = self._db.execute(
                "INSERT INTO feedback (created_at, answer_id, rating, comment, settings_digest,"
                " index_digest, question) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, answer_id, rating, comment.strip(), settings_digest, index_digest, question),
            )
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
