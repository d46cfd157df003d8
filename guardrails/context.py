"""What a sentence is about: its indications, and the population it speaks of."""

from __future__ import annotations

import re
from functools import lru_cache

from guardrails.reference import ReferenceTable


@lru_cache(maxsize=8)
def _indication_patterns(
    table_id: int, terms: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for ind_id, words in terms:
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        # Acronyms (all capitals, e.g. HIT, PCI) match case-sensitively; phrases do not.
        flags = 0 if all(w.isupper() for w in words) else re.IGNORECASE
        out.append((ind_id, re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", flags)))
    return out


def _patterns(table: ReferenceTable) -> list[tuple[str, re.Pattern[str]]]:
    out: list[tuple[str, re.Pattern[str]]] = []
    for ind in table.indications:
        acronyms = tuple(t for t in ind.terms if t.isupper())
        phrases = tuple(t for t in ind.terms if not t.isupper())
        for group in (acronyms, phrases):
            if group:
                out.extend(_indication_patterns(id(table), ((ind.id, group),)))
    return out


def find_indications(text: str, table: ReferenceTable) -> set[str]:
    """The most specific indication ids named in ``text`` ("VTE prophylaxis after knee
    replacement" is knee prophylaxis, not every kind of prophylaxis)."""
    found = {ind_id for ind_id, pattern in _patterns(table) if pattern.search(text)}
    covered = set().union(*(ancestors(i, table) for i in found)) if found else set()
    return found - covered


def ancestors(ind_id: str, table: ReferenceTable) -> set[str]:
    parents = {i.id: i.parent for i in table.indications}
    out: set[str] = set()
    current = parents.get(ind_id)
    while current and current not in out:
        out.add(current)
        current = parents.get(current)
    return out


def in_scope(entry_indication: str, detected: set[str], table: ReferenceTable) -> bool:
    """An entry is in scope when nothing was detected, or when its indication is a detected
    one, an ancestor of one, or a descendant of one ("prophylaxis" covers "knee")."""
    if not detected:
        return True
    if entry_indication in detected:
        return True
    if entry_indication in set().union(*(ancestors(d, table) for d in detected)):
        return True
    return bool(ancestors(entry_indication, table) & detected)
