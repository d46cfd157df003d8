"""Feedback and the audit log in the shared database: what one replica writes, another reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.settings import Settings
from retrieval.settings import PostgresSettings, RetrievalSettings
from ui.access import Identity
from ui.audit import AuditLog
from ui.feedback import FeedbackStore
from ui.pg_store import (
    PgAuditLog,
    PgAuditTrail,
    PgFeedbackStore,
    open_audit_log,
    open_feedback_store,
)


def test_feedback_from_two_replicas_lands_in_one_table(pg_settings: PostgresSettings) -> None:
    a, b = PgFeedbackStore(pg_settings), PgFeedbackStore(pg_settings)
    first = a.add(
        answer_id="ans-1",
        rating="up",
        comment="  clear  ",
        settings_digest="s1",
        index_digest="i1",
    )
    second = b.add(
        answer_id="ans-2",
        rating="down",
        comment="",
        settings_digest="s1",
        index_digest="i1",
        question="apixaban dose?",
    )
    assert second > first
    rows = a.rows()
    assert [(r.answer_id, r.rating, r.comment, r.question) for r in rows] == [
        ("ans-1", "up", "clear", None),
        ("ans-2", "down", "", "apixaban dose?"),
    ]
    assert rows[0].created_at.startswith("20")
    a.close()
    b.close()


def test_the_database_refuses_a_rating_it_does_not_know(pg_settings: PostgresSettings) -> None:
    import psycopg

    store = PgFeedbackStore(pg_settings)
    with pytest.raises(psycopg.errors.CheckViolation):
        store.add(
            answer_id="x",
            rating="meh",  # type: ignore[arg-type]
            comment="",
            settings_digest="s",
            index_digest="i",
        )
    assert store.rows() == []
    store.close()


def test_audit_events_keep_their_replica_and_order(pg_settings: PostgresSettings) -> None:
    one, two = PgAuditLog(pg_settings, replica="r1"), PgAuditLog(pg_settings, replica="r2")
    one.record({"action": "ask", "answer_id": "a1", "status": 200})
    two.record({"action": "feedback", "answer_id": "a1", "rating": "down"})
    events = one.events()
    assert [(e["replica"], e["event"]["action"]) for e in events] == [
        ("r1", "ask"),
        ("r2", "feedback"),
    ]
    assert events[1]["event"] == {"action": "feedback", "answer_id": "a1", "rating": "down"}
    one.close()
    two.close()


def test_the_backend_chooses_the_feedback_store(
    pg_settings: PostgresSettings, tmp_path: Path
) -> None:
    local = open_feedback_store(Settings(home=tmp_path))
    assert type(local) is FeedbackStore and local.path == tmp_path / "feedback.sqlite3"
    local.close()
    shared = open_feedback_store(
        Settings(
            home=tmp_path,
            retrieval=RetrievalSettings(backend="postgres", postgres=pg_settings),
        )
    )
    assert isinstance(shared, PgFeedbackStore)
    shared.close()


def test_the_server_audit_log_goes_to_the_database_with_the_postgres_backend(
    pg_settings: PostgresSettings, tmp_path: Path
) -> None:
    local = Settings(home=tmp_path)
    assert type(open_audit_log(local)) is AuditLog
    shared = Settings(
        home=tmp_path, retrieval=RetrievalSettings(backend="postgres", postgres=pg_settings)
    )
    trail = open_audit_log(shared)
    assert isinstance(trail, PgAuditTrail)
    trail.record(
        Identity(user="dr.a@hospital.example", client="10.0.0.7"),
        "/api/ask",
        answer_id="ans-9",
        allowed=True,
        abstained=False,
        findings=0,
        question=None,
    )
    event = PgAuditLog(pg_settings).events()[-1]["event"]
    assert (event["endpoint"], event["user"], event["client"], event["answer_id"]) == (
        "/api/ask",
        "dr.a@hospital.example",
        "10.0.0.7",
        "ans-9",
    )
    assert event["question"] is None and not (tmp_path / "audit.jsonl").exists()
