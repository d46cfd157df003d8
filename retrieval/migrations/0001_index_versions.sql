-- Index versions and the one active pointer. Each version's rows live in its own tables
-- (bedside.v<N>_documents, v<N>_chunks, v<N>_postings, v<N>_terms), created by the build in
-- the same transaction that activates the version, and dropped whole when it is collected.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE bedside.index_versions (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    digest text NOT NULL,
    dense_kind text NOT NULL,
    chunks bigint NOT NULL,
    documents bigint NOT NULL,
    manifest jsonb NOT NULL
);

CREATE TABLE bedside.active_index (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version_id bigint NOT NULL REFERENCES bedside.index_versions (id),
    switched_at timestamptz NOT NULL DEFAULT now()
);
