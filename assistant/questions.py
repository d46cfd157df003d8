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
    question = text.strip()
    if not question:
        raise InputError("the question is empty: type a clinical question")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in question):
        raise InputError("the question has no letters or digits: type a clinical question")
    return question
