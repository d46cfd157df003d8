"""BM25 (bm25s) over the same chunks as the dense index, with Bedside's tokenizer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from retrieval.tokenize import tokenize


class BM25Index:
    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self._vocab: list[str] | None = None
        self._model = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> BM25Index:
        model = bm25s.BM25(k1=k1, b=b)
        # An empty token list would make bm25s fail; such a chunk simply never matches.
        model.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return cls(model, len(texts))

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        tokens = [t for t in tokenize(query) if t in self._model.vocab_dict]
        if not tokens or self.size == 0 or k <= 0:
            return []
        scores = self._model.get_scores(tokens)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]

    def knows(self, token: str) -> bool:
        """Whether any indexed chunk contains this (already tokenized) token."""
        return token in self._model.vocab_dict

    def near(self, token: str, cutoff: float = 85.0) -> str | None:
        """An indexed token within a small edit of ``token`` (a misspelling), if any: one
        typing slip first (a swapped, missing, extra or wrong letter: "pryoptosi" is
        "pyroptosi", not "proptosi"), else the closest by ``cutoff``."""
        from rapidfuzz import fuzz, process
        from rapidfuzz.distance import OSA

        if self._vocab is None:
            self._vocab = [t for t in self._model.vocab_dict if isinstance(t, str) and len(t) >= 5]
        slips = process.extract(token, self._vocab, scorer=OSA.distance, score_cutoff=1, limit=None)
        if slips:
            # Of several one-slip words, one of the same length (letters swapped or one
            # wrong) before one a letter longer or shorter.
            return str(min(slips, key=lambda s: (len(s[0]) != len(token), s[1], s[2]))[0])
        found = process.extractOne(token, self._vocab, scorer=fuzz.ratio, score_cutoff=cutoff)
        return found[0] if found else None

    def save(self, path: Path) -> None:
        self._model.save(str(path), show_progress=False)

    @classmethod
    def load(cls, path: Path, size: int) -> BM25Index:
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        # Memory-mapped: processes serving the same index share the score matrix's pages.
        model = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
        return cls(model, size)
