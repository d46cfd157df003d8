"""The guard's false alarms on curated text: every unit of an index that states a dose,
quoted verbatim with its own chunk cited, checked as an answer.

    python -m evals.corpus_doses [--index-dir DIR | --source KIND[:PATH] ...] [--preset NAME]
                                 [--out FILE.json] [--markdown FILE.md] [--limit N]

A quote of the corpus with its own passage cited and no patient facts is right by
construction, so every such quote the guard withholds is a false alarm. For every chunk of
the index this tool

1. reads the units inside it from the document's structure (``corpus.structure``: paragraph
   sentences, list items, table rows, flowchart branches whose span lies within the chunk),
   and splits the rest of the chunk (text no whole unit of it covers) into plain sentences;
2. keeps the units that state a dose: the guard's own extraction
   (``guardrails.extraction.extract``) finds a dose in the unit's text, or a number next to
   a drug that it cannot read as one (the guard withholds those as DOSE_UNPARSED);
3. answers with each such unit as the assistant's pipeline would: one statement, the unit's
   own span of the document as written followed by the marker [1], citation [1] = the
   unit's chunk (quote offsets = the span within the chunk), passages = that chunk only
   (with its title and heading path), no patient and no question; and runs
   ``guardrails.check`` on it;
4. reports, per domain (the source the document came from: ``pack``, ``open-medicine``, or
   a ``--source`` as given), the units
   stating a dose, how many were withheld and which block rules fired (a unit counts once
   under each rule that blocked it), and lists every withheld unit with its findings.

The index: by default the one ``bedside ask`` serves (HOME/index, built or refreshed from
the configured sources on first use); ``--index-dir`` opens an index as built; ``--source``
builds one from those sources under HOME/eval/corpus_doses/ (the embedder does not change
this measure: ``--preset fast`` uses the hash embedder). Document texts are read from the
index's sources and must still be the texts it was built from.

The shares are benchmark figures (docs/GUARD.md), never test assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corpus.errors import BedsideError, IndexStoreError
from corpus.structure import parse_structure, units
from corpus.text import split_sentences
from corpus.types import Chunk, Document, DocumentInfo
from guardrails import check
from guardrails.extraction import extract
from guardrails.products import ProductNames
from guardrails.reference import ReferenceTable, default_reference
from guardrails.types import SourceText

Span = tuple[int, int]
Log = Callable[[str], None]


# ------------------------------------------------------------------ units


@dataclass(frozen=True, slots=True)
class QuotedUnit:
    """One unit of a chunk: its kind and its span in the document text."""

    kind: str  # a structure unit kind, or "plain_sentence" where the structure gives none
    span: Span


@dataclass(frozen=True, slots=True)
class DocumentUnits:
    """A document's units, and the text quoted only as their context (heading titles,
    lead-ins, column headers, conditions): never a statement of its own."""

    units: tuple[QuotedUnit, ...]
    context: tuple[Span, ...]

    @staticmethod
    def of(text: str) -> DocumentUnits:
        structure = parse_structure(text)
        found = units(structure, text)
        context = {span for u in found for span in (*u.context, *u.headings)}
        context |= {span for section in structure.sections for span in section.path_spans}
        return DocumentUnits(
            tuple(sorted((QuotedUnit(u.kind, u.span) for u in found), key=lambda u: u.span)),
            tuple(sorted(context)),
        )


# what leads a line as layout: list markers and quote markers, never its words
_LINE_LEAD = re.compile(r"[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?)*")


def chunk_units(text: str, chunk: Chunk, doc: DocumentUnits | None = None) -> list[QuotedUnit]:
    """The units inside ``chunk`` of the document ``text``, in document order: the structure's
    units whose span lies within the chunk, then the plain sentences, line by line, of the
    chunk's text no such unit covers (a unit cut by the chunk's edge), context left out."""
    doc = doc or DocumentUnits.of(text)
    found = [u for u in doc.units if chunk.start <= u.span[0] < u.span[1] <= chunk.end]
    cursor, gaps = chunk.start, []
    for u in found:
        if u.span[0] > cursor:
            gaps.append((cursor, u.span[0]))
        cursor = max(cursor, u.span[1])
    if cursor < chunk.end:
        gaps.append((cursor, chunk.end))
    for lo, hi in gaps:
        for start, end in _line_spans(text, lo, hi):
            if any(s < end and start < e for s, e in doc.context):
                continue
            lead = _LINE_LEAD.match(text, start, end)
            begin = lead.end() if lead else start
            found += [QuotedUnit("plain_sentence", sp) for sp in split_sentences(text, begin, end)]
    return sorted(found, key=lambda u: u.span)


def _line_spans(text: str, lo: int, hi: int) -> Iterable[Span]:
    start = lo
    while start < hi:
        stop = text.find("\n", start, hi)
        end = hi if stop < 0 else stop
        if end > start:
            yield start, end
        start = end + 1


def states_dose(text: str) -> bool:
    """Whether the guard's extraction finds a dose in ``text``: one it reads, or a number next
    to a drug it cannot read as one (which the guard withholds as unreadable)."""
    mentions, unparsed = extract(text)
    return bool(mentions or unparsed)


# ------------------------------------------------------------------ the check


@dataclass(frozen=True, slots=True)
class UnitResult:
    """One unit stating a dose, checked as a quoted answer."""

    domain: str
    doc_id: str
    chunk_id: str
    kind: str
    start: int  # the unit's span in the document
    end: int
    quote_start: int  # ... and within its chunk (the citation's quote offsets)
    quote_end: int
    text: str
    answer: str  # what the guard checked: the text with its citation marker
    allowed: bool
    rule_ids: tuple[str, ...]  # the block rules that fired, sorted, each once
    messages: tuple[str, ...]  # the block findings' messages, in text order


def check_unit(
    domain: str,
    doc: DocumentInfo,
    chunk: Chunk,
    unit: QuotedUnit,
    doc_text: str,
    reference: ReferenceTable,
    products: ProductNames | None = None,
) -> UnitResult:
    """Check one unit the way the pipeline checks a one-statement extractive answer."""
    from assistant.types import Citation, Draft, Statement
    from retrieval.types import Passage

    start, end = unit.span
    text = doc_text[start:end]
    passage = Passage(chunk, doc, score=1.0, rank=1)
    citation = Citation(1, passage, start - chunk.start, end - chunk.start)
    assert citation.quote == text, "a unit's quote is its chunk's own characters"
    statement = Statement(text, (1,), doc.source_type)
    draft = Draft((statement,), (citation,))
    verdict = check(
        draft.raw_text,
        {c.number: c.passage.chunk.id for c in draft.citations},
        {c.passage.chunk.id: _source_text(c.passage, products) for c in draft.citations},
        None,
        "",
        reference,
    )
    blocks = verdict.by_severity("block")
    return UnitResult(
        domain=domain,
        doc_id=doc.id,
        chunk_id=chunk.id,
        kind=unit.kind,
        start=start,
        end=end,
        quote_start=citation.quote_start,
        quote_end=citation.quote_end,
        text=text,
        answer=draft.raw_text,
        allowed=verdict.allowed,
        rule_ids=tuple(sorted({f.rule_id for f in blocks})),
        messages=tuple(f"{f.rule_id}: {f.message}" for f in blocks),
    )


def _source_text(p: Any, products: ProductNames | None) -> SourceText:
    # as the pipeline hands a cited passage to the guard
    from assistant.pipeline import source_text

    return source_text(p, products or ProductNames())


# ------------------------------------------------------------------ the corpus


@dataclass(frozen=True, slots=True)
class Corpus:
    """The index's chunks and the documents they index, each document with its domain."""

    chunks: tuple[Chunk, ...]
    documents: dict[str, Document]
    domains: dict[str, str]  # doc id -> domain
    index: dict[str, Any]  # what identifies the index: path, digest, sources, embedder


def source_domains(loaded: Sequence[tuple[str, Sequence[Document]]]) -> dict[str, str]:
    """Doc id -> domain: the source it came from, as given (``pack``, ``open-medicine``,
    ``jsonl:PATH``). A document id repeated in a later source stays with the first (as the
    index keeps it)."""
    out: dict[str, str] = {}
    for spec, docs in loaded:
        for d in docs:
            out.setdefault(d.id, spec)
    return out


def load_corpus(
    index_dir: Path, chunks: Sequence[Chunk], docs: dict[str, DocumentInfo], sources: list[str]
) -> tuple[dict[str, Document], dict[str, str]]:
    """Read the documents of ``sources`` again and check every chunk is still their text."""
    from corpus.loaders import load_sources

    loaded = [(spec, load_sources([spec]).documents) for spec in sources]
    documents: dict[str, Document] = {}
    for _, found in loaded:
        for d in found:
            documents.setdefault(d.id, d)
    for c in chunks:
        doc = documents.get(c.doc_id)
        if doc is None or doc.text[c.start : c.end] != c.text or c.doc_id not in docs:
            raise IndexStoreError(
                f"the index at {index_dir} was built from other texts than its sources "
                f"({', '.join(sources)}) hold now (chunk {c.id}); rebuild it with "
                "`bedside index`, or pass --source to build one here"
            )
    return documents, source_domains(loaded)


def open_corpus(
    preset: str | None,
    index_dir: Path | None,
    sources: Sequence[str],
    log: Log,
) -> Corpus:
    """The index to measure (see the module docstring for which one) and its documents."""
    from assistant.pipeline import open_retriever
    from assistant.settings import load_settings

    settings = load_settings(preset, index_dir=index_dir, sources=list(sources) or None)
    where = settings.resolved_index_dir
    if sources and index_dir is None:
        name = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:12]
        where = settings.home.expanduser() / "eval" / "corpus_doses" / name
        settings = settings.model_copy(update={"index_dir": where})
    # as `bedside ask`: an explicit index is measured as built
    retriever, report = open_retriever(
        settings, refresh=bool(sources) or index_dir is None, log=log
    )
    if report is not None:
        log(f"index at {where}: {report.reason}")
    index = retriever.index
    m = index.manifest
    documents, domains = load_corpus(where, index.chunks, index.docs, m.sources)
    return Corpus(
        tuple(index.chunks),
        documents,
        domains,
        {
            "path": str(where),
            "digest": m.digest(),
            "corpus_hash": m.corpus_hash,
            "sources": m.sources,
            "embedder": m.embedder_id,
            "documents": m.counts.documents,
            "chunks": m.counts.chunks,
        },
    )


# ------------------------------------------------------------------ the measure


@dataclass(slots=True)
class DomainCount:
    documents: int = 0
    chunks: int = 0
    units: int = 0
    dose_units: int = 0
    withheld: int = 0

    def as_json(self, by_rule: Counter[str]) -> dict[str, Any]:
        return {
            **asdict(self),
            "withheld_share": round(self.withheld / self.dose_units, 4)
            if self.dose_units
            else None,
            "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def measure(
    corpus: Corpus,
    reference: ReferenceTable | None = None,
    limit: int | None = None,
    progress: Log | None = None,
) -> tuple[dict[str, Any], list[UnitResult]]:
    """Check every dose-stating unit of the corpus (the first ``limit`` documents of each
    domain when given): a summary per domain and overall, and every unit's result."""
    table = reference or default_reference()
    products = ProductNames.learn(((d.title, d.text) for d in corpus.documents.values()), table)
    by_doc: dict[str, list[Chunk]] = defaultdict(list)
    for c in corpus.chunks:
        by_doc[c.doc_id].append(c)
    taken: Counter[str] = Counter()
    counts: dict[str, DomainCount] = defaultdict(DomainCount)
    rules: dict[str, Counter[str]] = defaultdict(Counter)
    results: list[UnitResult] = []
    for n, (doc_id, chunks) in enumerate(by_doc.items(), start=1):
        domain = corpus.domains[doc_id]
        if limit is not None and taken[domain] >= limit:
            continue
        taken[domain] += 1
        doc = corpus.documents[doc_id]
        info = DocumentInfo.of(doc)
        count = counts[domain]
        count.documents += 1
        doc_units = DocumentUnits.of(doc.text)
        for chunk in sorted(chunks, key=lambda c: c.start):
            count.chunks += 1
            for unit in chunk_units(doc.text, chunk, doc_units):
                count.units += 1
                if not states_dose(doc.text[unit.span[0] : unit.span[1]]):
                    continue
                count.dose_units += 1
                result = check_unit(domain, info, chunk, unit, doc.text, table, products)
                results.append(result)
                if not result.allowed:
                    count.withheld += 1
                    rules[domain].update(result.rule_ids)
        if progress and n % 50 == 0:
            progress(f"{n}/{len(by_doc)} documents")
    total = DomainCount()
    for each in counts.values():
        for k in ("documents", "chunks", "units", "dose_units", "withheld"):
            setattr(total, k, getattr(total, k) + getattr(each, k))
    summary = {
        "index": corpus.index,
        "reference_digest": table.digest,
        "limit": limit,
        "domains": {d: counts[d].as_json(rules[d]) for d in sorted(counts)},
        "overall": total.as_json(sum(rules.values(), Counter())),
    }
    return summary, results


# ------------------------------------------------------------------ reports


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_json(summary: dict[str, Any], results: Iterable[UnitResult]) -> dict[str, Any]:
    return {**summary, "withheld": [asdict(r) for r in results if not r.allowed]}


def to_markdown(summary: dict[str, Any], results: Iterable[UnitResult]) -> str:
    index = summary["index"]
    lines = [
        "# Curated text withheld by the dose guard",
        "",
        f"Index `{index['digest']}` ({', '.join(index['sources'])}; {index['documents']} "
        f"documents, {index['chunks']} chunks); dose reference `{summary['reference_digest']}`"
        + (f"; first {summary['limit']} documents per domain" if summary["limit"] else "")
        + ".",
        "",
        "| domain | documents | units | units stating a dose | withheld | share | by rule |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    rows = [*summary["domains"].items(), ("all", summary["overall"])]
    for name, d in rows:
        by_rule = ", ".join(f"{r} {n}" for r, n in d["by_rule"].items()) or "–"
        lines.append(
            f"| {name} | {d['documents']} | {d['units']} | {d['dose_units']} | {d['withheld']} "
            f"| {_pct(d['withheld_share'])} | {by_rule} |"
        )
    withheld = [r for r in results if not r.allowed]
    lines += ["", f"## Withheld units ({len(withheld)})", ""]
    if withheld:
        lines += [
            "| domain | doc | chunk | unit | text | rules | findings |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.domain} | `{r.doc_id}` | `{r.chunk_id}` | {r.kind} | {_cell(r.text)} "
            f"| {', '.join(r.rule_ids)} | {_cell(' / '.join(r.messages))} |"
            for r in withheld
        ]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ command


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """--index-dir or --source, and --preset: the index a corpus measure reads
    (``open_corpus``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--index-dir", type=Path, default=None, help="measure this index as built")
    where.add_argument(
        "--source",
        action="append",
        default=None,
        metavar="KIND[:PATH]",
        help="build an index of these sources (repeatable) under HOME/eval/corpus_doses/",
    )
    parser.add_argument("--preset", default=None, help="a settings preset (fast: hash embedder)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.corpus_doses", description=(__doc__ or "").splitlines()[0]
    )
    add_corpus_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON")
    parser.add_argument("--markdown", type=Path, default=None, help="write the report as Markdown")
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N documents per domain"
    )
    return parser


def _stderr(message: str) -> None:
    print(f"bedside: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        build_parser().error(f"--limit must be a whole number of 1 or more, got {args.limit}")
    t0 = time.perf_counter()
    try:
        corpus = open_corpus(args.preset, args.index_dir, args.source or (), _stderr)
    except BedsideError as exc:
        print(f"bedside: {exc}", file=sys.stderr)
        return 2
    summary, results = measure(corpus, limit=args.limit, progress=_stderr)
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    for name, d in [*summary["domains"].items(), ("all", summary["overall"])]:
        print(
            f"{name}: {d['withheld']} of {d['dose_units']} units stating a dose withheld "
            f"({_pct(d['withheld_share'])}); "
            + (", ".join(f"{r} {n}" for r, n in d["by_rule"].items()) or "no block rule")
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(to_json(summary, results), ensure_ascii=False, indent=2)
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(to_markdown(summary, results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
