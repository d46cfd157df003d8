"""Checks on a question before any work is done with it."""

from __future__ import annotations

import unicodedata

from corpus.errors import InputError


def clean_question(text: str, max_chars: int) -> str:
    """Return the question with surrounding whitespace removed, or raise InputError."""
    if len(text) > max_chars:
        raise InputError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,} "
            "(setting assistant.max_question_chars). Ask a shorter question."
        )
    for i, ch in enumerate(text):
        if ch == "\x00" or unicodedata.category(ch) == "Cs":
            what = "a NUL character" if ch == "\x00" else "a byte that is not valid UTF-8 text"
            raise InputError(
                f"the question contains {what} at character {i + 1}: retype the question "
                "as plain text"
            )
    question = text.strip()
    if not question:
        raise InputError("the question is empty: type a clinical question")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in question):
        raise InputError("the question has no letters or digits: type a clinical question")
    return question
