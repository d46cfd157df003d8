"""Retrieval settings section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PostgresSettings(BaseModel):
    """The shared PostgreSQL + pgvector database (``retrieval.backend = postgres``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn: str = Field(
        default="",
        description="libpq connection string or URI without the password "
        "(e.g. postgresql://bedside@db.example:5432/bedside)",
    )
    password_env: str = Field(
        default="BEDSIDE_PG_PASSWORD",
        description="environment variable holding the database password (never logged)",
    )
    poll_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="seconds between a replica's checks for a newly activated index version",
    )
    keep_versions: int = Field(
        default=2,
        ge=1,
        le=100,
        description="index versions kept after a build (the active one included); older "
        "ones are dropped",
    )
    connect_timeout_s: int = Field(
        default=10, ge=1, le=600, description="seconds to wait for a database connection"
    )


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        default="minilm",
        description="embedder name: minilm (OpenVINO) | minilm-int8 (onnxruntime) | minilm-torch | hash",
    )
    precision: Literal["auto", "f32", "bf16"] = Field(
        default="auto",
        description="arithmetic of the minilm embedder (OpenVINO): auto = bf16 where the CPU "
        "computes bfloat16 natively (AVX-512 BF16, AMX), else f32; part of the embedder id, "
        "so changing it rebuilds the index",
    )
    batch_size: int = Field(default=64, ge=1, le=4096, description="texts per embedding batch")
    dense_index: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        default="auto", description="FAISS index kind; auto = flat below hnsw_threshold chunks"
    )
    hnsw_threshold: int = Field(
        default=250_000, ge=1, description="chunk count at which auto picks HNSW"
    )
    candidates: int = Field(
        default=100, ge=1, le=10_000, description="hits taken from each retriever before fusion"
    )
    fusion: Literal["convex", "rrf"] = Field(
        default="convex",
        description="convex: alpha-weighted sum of min-max normalised scores; rrf: reciprocal rank",
    )
    alpha: float = Field(
        default=0.5, ge=0, le=1, description="weight of the dense score in convex fusion"
    )
    rrf_k: int = Field(default=60, ge=1, description="reciprocal-rank fusion constant")
    k: int = Field(default=8, ge=1, le=200, description="passages returned per question")
    # How often the served index is verified again changes no answer: excluded from digests.
    verify_every_s: float = Field(
        default=120,
        ge=0,
        le=86_400,
        description="seconds between a server's re-verifications of the index it serves "
        "(every file's or table's hash, and the digest it started with); 0 = only on SIGUSR1",
    )
    # The backend decides where the index lives, not what it returns: excluded from digests.
    backend: Literal["local", "postgres"] = Field(
        default="local",
        description="where the index lives: local (files under index_dir) | postgres "
        "(shared database, retrieval.postgres)",
    )
    postgres: PostgresSettings = Field(
        default_factory=PostgresSettings,
        description="database for the postgres backend (index, feedback, audit)",
    )
