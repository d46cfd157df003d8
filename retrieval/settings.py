"""Retrieval settings section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        default="minilm",
        description="embedder name: minilm (OpenVINO) | minilm-int8 (onnxruntime) | minilm-torch | hash",
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
