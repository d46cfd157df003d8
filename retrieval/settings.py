"""Retrieval settings section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(default="minilm", description="embedder name: minilm | hash")
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
    rrf_k: int = Field(default=60, ge=1, description="reciprocal-rank fusion constant")
    dense_weight: float = Field(
        default=1.0, ge=0, description="weight of the dense ranking in fusion"
    )
    bm25_weight: float = Field(
        default=1.0, ge=0, description="weight of the BM25 ranking in fusion"
    )
    k: int = Field(default=8, ge=1, le=200, description="passages returned per question")
