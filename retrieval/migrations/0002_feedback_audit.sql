-- Feedback (same columns as the SQLite store) and the audit log, shared by every replica.
CREATE TABLE bedside.feedback (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    answer_id text NOT NULL,
    rating text NOT NULL CHECK (rating IN ('up', 'down')),
    comment text NOT NULL DEFAULT '',
    settings_digest text NOT NULL,
    index_digest text NOT NULL,
    question text
);

CREATE TABLE bedside.audit_log (
    id bigserial PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    replica text NOT NULL,
    event jsonb NOT NULL
);
CREATE INDEX audit_log_recorded_at ON bedside.audit_log (recorded_at);
