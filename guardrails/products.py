"""Product names: what a corpus says its products are.

A product leaflet or a label names its product ("Vafseo 300 mg film-coated tablets") far
more often than the drug in it. The corpus says which drugs a product is, in its own words:
"The active substance is vadadustat", "ABASAGLAR contains insulin glargine", a title
"Eliquis (apixaban)". ``ProductNames.learn`` reads those statements (the phrasings are data,
``guardrails/data/products.yaml``) from every document whose title opens with the product's
name, and the guard reads that name as those drugs in any passage of a document with that
title (``SourceText.products``). A capitalised word the corpus never says is a drug never
becomes one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from corpus.yamlio import load_yaml
from guardrails.context import drug_hits, drugs_in
from guardrails.reference import ReferenceTable, default_reference

DATA = Path(__file__).resolve().parent / "data" / "products.yaml"


class _Statement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    patterns: list[str] = []
    title_patterns: list[str] = []


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title_separators: list[str]
    max_words: int
    clause_chars: int
    statements: list[_Statement]


@lru_cache(maxsize=1)
def _spec() -> _Spec:
    return _Spec.model_validate(load_yaml(DATA.read_text(encoding="utf-8")))


# where the words naming the drugs stop: the end of the clause or sentence
_CLAUSE_END = re.compile(
    r"[.;\n]|\s(?:and|or)\s(?:the|other|each|is|are)\b|\beach\b", re.IGNORECASE
)


def product_of(title: str) -> str | None:
    """The product a title opens with ("Vafseo — 6. Contents …" -> "Vafseo"), or None where
    the title has no head of at most ``max_words`` words."""
    spec = _spec()
    cut = min((i for sep in spec.title_separators if (i := title.find(sep)) > 0), default=-1)
    head = (title[:cut] if cut > 0 else title).strip()
    paren = head.find("(")
    if paren > 0:
        head = head[:paren].strip()
    if not head or len(head.split()) > spec.max_words or not any(c.isalpha() for c in head):
        return None
    return head


@dataclass(frozen=True, slots=True)
class ProductNames:
    """Product name (case-folded) -> the drugs the corpus says it is."""

    drugs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def of_title(self, title: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The product names that stand for drugs in a passage of a document titled
        ``title``: its own product, when the corpus says what that is."""
        product = product_of(title)
        if product is None:
            return ()
        found = self.drugs.get(product.casefold())
        return ((product, found),) if found else ()

    @staticmethod
    def learn(
        documents: Iterable[tuple[str, str]], table: ReferenceTable | None = None
    ) -> ProductNames:
        """Learn from ``documents`` as (title, text) pairs: per product, the drugs its
        strongest kind of statement names (the first kind in the data that names any)."""
        table = table or default_reference()
        spec = _spec()
        # product -> kind rank -> drugs in order of first statement
        found: dict[str, dict[int, dict[str, None]]] = {}
        for title, text in documents:
            product = product_of(title)
            if product is None or drugs_in(product, table):
                continue  # no product, or the title opens with a drug: nothing to learn
            name = re.escape(product)
            named = product.casefold() in text.casefold()
            for rank, statement in enumerate(spec.statements):
                for pattern in statement.patterns:
                    if "{product}" in pattern and not named:
                        continue
                    regex = _compiled(pattern.replace("{product}", name))
                    for m in regex.finditer(text):
                        _add(found, product, rank, _drugs_after(text, m.end(), spec, table))
                for pattern in statement.title_patterns:
                    head = _compiled(pattern.replace("{product}", name)).search(title)
                    if head:
                        _add(found, product, rank, _only_drugs(title, head.end(), table))
        out: dict[str, tuple[str, ...]] = {}
        for product, by_rank in found.items():
            best = min((r for r, drugs in by_rank.items() if drugs), default=None)
            if best is not None:
                out[product] = tuple(by_rank[best])
        return ProductNames(out)


@lru_cache(maxsize=8192)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){pattern}", re.IGNORECASE | re.MULTILINE)


def _drugs_after(text: str, start: int, spec: _Spec, table: ReferenceTable) -> tuple[str, ...]:
    clause = text[start : start + spec.clause_chars]
    stop = _CLAUSE_END.search(clause)
    return drugs_in(clause[: stop.start()] if stop else clause, table)


def _only_drugs(text: str, start: int, table: ReferenceTable) -> tuple[str, ...]:
    """The drugs a parenthesis from ``start`` names, where it names nothing else ("Eliquis
    (apixaban)"; not "Heparin resistance (UFH non-responders)")."""
    close = text.find(")", start)
    inner = text[start : close if close >= 0 else len(text)]
    rest = inner
    for begin, end, _ in sorted(drug_hits(inner, table), reverse=True):
        rest = rest[:begin] + rest[end:]
    if re.search(r"[^\W\d_]{2,}", re.sub(r"(?i)\b(?:and|with|plus)\b", "", rest)):
        return ()
    return drugs_in(inner, table)


def _add(
    found: dict[str, dict[int, dict[str, None]]], product: str, rank: int, drugs: tuple[str, ...]
) -> None:
    if drugs:
        found.setdefault(product.casefold(), {}).setdefault(rank, {}).update(dict.fromkeys(drugs))
