"""What Bedside knows about a drug, with sources (``bedside reference show DRUG``).

Two layers, as the guard judges a dose: the reviewed dose reference (``guardrails/data``:
every entry's dose, interval, route, use and patient band, and the contraindications, each
with its pack document and exact quote), and the curated corpus itself: every dose a passage
of the served index states for the drug (``guardrails.source_doses``, the same reading the
guard checks a cited dose against), with its document and sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guardrails.context import drugs_in
from guardrails.products import ProductNames
from guardrails.reference import ReferenceTable
from guardrails.rules import describe_entry
from guardrails.source_doses import source_doses
from guardrails.types import SourceText
from retrieval.protocols import Retriever


@dataclass(frozen=True, slots=True)
class ReferenceDose:
    entry_id: str
    indication: str
    dose: str  # "1 mg/kg, every 12 hours, SC (vte-treatment)"
    doc_id: str
    quote: str


@dataclass(frozen=True, slots=True)
class ReferenceRule:
    rule_id: str
    when: str
    message: str
    doc_id: str
    quote: str


@dataclass(frozen=True, slots=True)
class CorpusDose:
    doc_id: str
    title: str
    chunk_id: str
    dose: str  # "300 mg every 24 h (po)"
    sentence: str
    indications: tuple[str, ...]  # the uses it is for, as the reference names them
    patient: str  # whom, as the sentence states it ("CrCl 29.5 mL/min")


@dataclass(frozen=True, slots=True)
class DrugKnowledge:
    """What the reference and the corpus say of one drug."""

    drug: str
    names: tuple[str, ...]  # the reference's names for it (generic, brands, abbreviations)
    products: tuple[str, ...]  # product names the corpus says it is
    reference: tuple[ReferenceDose, ...]
    contraindications: tuple[ReferenceRule, ...]
    corpus: tuple[CorpusDose, ...]
    index_digest: str

    def to_json(self) -> dict[str, Any]:
        return {
            "drug": self.drug,
            "names": list(self.names),
            "products": list(self.products),
            "index_digest": self.index_digest,
            "reference": [vars_of(d) for d in self.reference],
            "contraindications": [vars_of(c) for c in self.contraindications],
            "corpus": [{**vars_of(c), "indications": list(c.indications)} for c in self.corpus],
        }


def vars_of(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


class UnknownDrugError(ValueError):
    """The name is no drug the guard's lexicon or the corpus's product names know."""


def learn_products(retriever: Retriever, table: ReferenceTable) -> ProductNames:
    """What the index's documents say their products are, from every chunk."""
    return ProductNames.learn(
        (
            (doc.title, chunk.text)
            for doc in retriever.documents()
            for chunk in retriever.chunks_of(doc.id)
        ),
        table,
    )


def drug_knowledge(
    name: str, retriever: Retriever, table: ReferenceTable, products: ProductNames | None = None
) -> DrugKnowledge:
    """Everything Bedside knows about the drug ``name`` names (a generic, a brand, or a
    product name its corpus gives it)."""
    products = products or learn_products(retriever, table)
    found = drugs_in(name, table) or products.drugs.get(name.strip().casefold(), ())
    if len(found) != 1:
        raise UnknownDrugError(
            f"{name!r} names {'no drug' if not found else 'several drugs: ' + ', '.join(found)}"
            " the lexicon or the corpus's product names know; name one drug"
        )
    drug = found[0]
    spec = next((d for d in table.drugs if d.name == drug), None)
    entries = table.entries_for(drug)
    reference = tuple(
        ReferenceDose(e.id, e.indication, describe_entry(e), e.cite.doc, e.cite.quote)
        for e in entries
    )
    rules = tuple(
        ReferenceRule(c.id, c.when, c.message, c.cite.doc, c.cite.quote)
        for c in table.contraindications
        if drug in c.drugs
    )
    return DrugKnowledge(
        drug,
        tuple(spec.names) if spec else (),
        tuple(sorted(p for p, drugs in products.drugs.items() if drug in drugs)),
        reference,
        rules,
        tuple(_corpus_doses(drug, retriever, table, products)),
        retriever.digest,
    )


def _corpus_doses(
    drug: str, retriever: Retriever, table: ReferenceTable, products: ProductNames
) -> Iterable[CorpusDose]:
    for doc in retriever.documents():
        names = products.of_title(doc.title)
        for chunk in retriever.chunks_of(doc.id):
            source = SourceText(chunk.text, doc.title, chunk.section_path, doc.id, chunk.id, names)
            for dose in source_doses(source, table):
                if dose.drug == drug:  # a dose the passage leaves open between drugs is not listed
                    sentence = " ".join(chunk.text[slice(*dose.sentence)].split())
                    yield CorpusDose(
                        doc.id,
                        doc.title,
                        chunk.id,
                        dose.describe(),
                        sentence,
                        dose.indications,
                        dose.patient,
                    )
