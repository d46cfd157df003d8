"""Feedback and the audit log in the shared database: what one replica writes, another reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.settings import Settings
from retrieval.settings import PostgresSettings, RetrievalSettings
from ui.feedback import FeedbackStore
from ui.pg_store import PgAuditLog, PgFeedbackStore, open_feedback_store


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
