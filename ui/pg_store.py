"""Feedback and the audit log in the shared PostgreSQL database (``retrieval.backend =
postgres``), so that every replica writes to one place.

``PgFeedbackStore`` keeps the SQLite store's interface and columns (migration
``0002_feedback_audit.sql``); ``PgAuditLog.record(event)`` appends one JSON event with the
replica that wrote it, and ``PgAuditTrail`` is the server's audit log written that way.
``open_feedback_store`` and ``open_audit_log`` pick HOME or PostgreSQL from the settings.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from assistant.settings import Settings
from corpus.errors import ConfigError, StorageError
from retrieval.postgres import SCHEMA, Database, connect, migrate, redacted
from retrieval.settings import PostgresSettings
from ui.audit import AuditEntry, AuditLog
from ui.feedback import FeedbackRow, FeedbackStore

log = logging.getLogger("bedside.audit")
T = TypeVar("T")


def _migrated(settings: PostgresSettings) -> Database:
    with connect(settings) as conn:
        migrate(conn)
    return Database(settings)


class PgFeedbackStore(FeedbackStore):
    """Feedback rows in ``bedside.feedback``; safe to use from the server's threads."""

    def __init__(self, settings: PostgresSettings) -> None:  # no SQLite file to open
        self._pg = _migrated(settings)
        self.where = redacted(settings.dsn)

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
        values = (answer_id, rating, comment.strip(), settings_digest, index_digest, question)
        row = self._pg.run(
            lambda c: c.execute(
                f"INSERT INTO {SCHEMA}.feedback (answer_id, rating, comment, settings_digest,"
                " index_digest, question) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                values,
            ).fetchone()
        )
        return int(row[0]) if row else 0

    def rows(self) -> list[FeedbackRow]:
        found = self._pg.run(
            lambda c: c.execute(
                f"SELECT id, created_at, answer_id, rating, comment, settings_digest,"
                f" index_digest, question FROM {SCHEMA}.feedback ORDER BY id"
            ).fetchall()
        )
        return [
            FeedbackRow(r[0], r[1].isoformat(timespec="seconds"), *r[2:])  # as SQLite keeps it
            for r in found
        ]

    def close(self) -> None:
        self._pg.close()


class PgAuditLog:
    """Append-only audit events (one JSON object each) in ``bedside.audit_log``.

    ``record`` raises when the row cannot be written: an audit trail that silently drops
    events is worse than a refused request."""

    def __init__(self, settings: PostgresSettings, replica: str | None = None) -> None:
        self._db = _migrated(settings)
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"

    def record(self, event: dict[str, Any]) -> int:
        row = self._db.run(
            lambda c: c.execute(
                f"INSERT INTO {SCHEMA}.audit_log (replica, event) VALUES (%s, %s) RETURNING id",
                (self.replica, Jsonb(event)),
            ).fetchone()
        )
        return int(row[0]) if row else 0

    def events(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The latest ``limit`` events, oldest first, each with its replica and time."""
        found = self._db.run(
            lambda c: c.execute(
                f"SELECT id, recorded_at, replica, event FROM {SCHEMA}.audit_log"
                " ORDER BY id DESC LIMIT %s",
                (limit,),
            ).fetchall()
        )
        return [
            {"id": i, "recorded_at": at.isoformat(), "replica": rep, "event": ev}
            for i, at, rep, ev in reversed(found)
        ]

    def close(self) -> None:
        self._db.close()


def _shared(settings: Settings, what: str, make: Callable[[PostgresSettings], T]) -> T:
    """``make`` over the shared database, or a ConfigError that names it (no password)."""
    try:
        return make(settings.retrieval.postgres)
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot open the {what} table at {redacted(settings.retrieval.postgres.dsn)}:"
            f" {str(exc).strip().splitlines()[0]}"
        ) from None


def open_feedback_store(settings: Settings) -> FeedbackStore:
    """The SQLite file under HOME for the local backend, the shared database for postgres."""
    if settings.retrieval.backend == "postgres":
        return _shared(settings, "feedback", PgFeedbackStore)
    return FeedbackStore(settings.home.expanduser() / "feedback.sqlite3")


class PgAuditTrail(AuditLog):
    """The server's audit log kept in the shared database (``bedside.audit_log``): each
    entry is one JSON event; a row that cannot be written withholds the answer, as a line
    that cannot be appended to HOME/audit.jsonl does."""

    def __init__(self, settings: PostgresSettings) -> None:
        super().__init__(Path(f"postgres:{SCHEMA}.audit_log"))
        self.events = PgAuditLog(settings)

    def write(self, entry: AuditEntry) -> None:
        try:
            self.events.record(asdict(entry))
        except psycopg.Error as exc:
            log.error("cannot write the audit log table: %s", str(exc).strip().splitlines()[0])
            raise StorageError(
                "the audit log could not be written, so the answer is withheld; "
                "the server log has the details"
            ) from exc


def open_audit_log(settings: Settings) -> AuditLog:
    """HOME/audit.jsonl for the local backend, the shared database for postgres."""
    if settings.retrieval.backend == "postgres":
        return _shared(settings, "audit", PgAuditTrail)
    return AuditLog(settings.home.expanduser() / "audit.jsonl")
