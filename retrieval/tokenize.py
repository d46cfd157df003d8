"""Lexical tokens for BM25 and the hash embedder.

Drug names, decimals and abbreviations survive: "argatroban", "0.15", "CrCl" -> "crcl",
"35,000" -> "35000", "µg" -> "μg". English words are stemmed so "doses" meets "dose".
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TOKEN = re.compile(r"[^\W_]+(?:\.\d+)?")
# Question words carry no topic; bm25s' English list leaves them in.
_STOP = frozenset(STOPWORDS_EN) | {
    "what",
    "when",
    "which",
    "who",
    "whom",
    "how",
    "why",
    "where",
    "does",
    "do",
    "can",
    "should",
}
# A PyStemmer object keeps state between calls and is not safe to share between threads
# (questions are answered concurrently): one per thread.
_local = threading.local()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return str(stemmer.stemWord(word))


def tokenize(text: str, *, stem: bool = True) -> list[str]:
    norm = _THOUSANDS.sub("", unicodedata.normalize("NFKC", text).lower())
    out: list[str] = []
    for tok in _TOKEN.findall(norm):
        if tok in _STOP:
            continue
        out.append(_stem(tok) if stem and tok.isalpha() else tok)
    return out
