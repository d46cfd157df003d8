"""Sentence spans with exact character offsets, shared by chunking and answer composition."""

from __future__ import annotations

import re

# A boundary is end punctuation, whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"[.!?][\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9\u00c0-\u024f•\-])")
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "vs",
        "approx",
        "dr",
        "mr",
        "mrs",
        "ms",
        "no",
        "fig",
        "figs",
        "al",
        "ca",
        "cf",
        "etc",
        "inc",
        "ltd",
        "st",
        "min",
        "max",
        "mg",
        "mcg",
        "resp",
        "dept",
        "univ",
        "ed",
        "eds",
        "vol",
        "pp",
        "sc",
        "iv",
        "im",
        "po",
    ]
)


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].rstrip(".").lower()


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]`` as absolute offsets, stripped of whitespace.

    Decimal points ("0.15") never split because a boundary needs whitespace after the
    punctuation; common abbreviations and single-letter initials do not end a sentence.
    """
    stop = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, stop):
        punct = match.start()
        word = _word_before(text, punct)
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        _append_stripped(text, cursor, punct + 1 + _closing_len(text, punct), spans)
        cursor = match.end()
    _append_stripped(text, cursor, stop, spans)
    return spans


def _closing_len(text: str, punct: int) -> int:
    nxt = punct + 1
    return 1 if nxt < len(text) and text[nxt] in "\"')]" else 0


def _append_stripped(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))


def split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut one over-long span at whitespace so each piece is at most ``max_chars``."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        _append_stripped(text, start, cut, pieces)
        start = cut
    _append_stripped(text, start, end, pieces)
    return pieces


_LEADING_MARKERS = re.compile(r"(?:\[\d+(?:\s*[,–-]\s*\d+)*\]\s*)+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences line by line: a Markdown bullet or heading never runs into the next line.
    Citation markers written after the full stop ("daily. [1]") stay with their sentence."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        for start, end in split_sentences(text, pos, pos + len(line)):
            lead = _LEADING_MARKERS.match(text, start, end)
            if lead and spans and spans[-1][1] >= pos:
                # markers opening a "sentence" belong to the sentence before them
                marks = text[start : lead.end()].rstrip()
                spans[-1] = (spans[-1][0], start + len(marks))
                start = lead.end()
            if end > start:
                spans.append((start, end))
        pos += len(line)
    return spans
