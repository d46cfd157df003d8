"""PubMed/MEDLINE XML (efetch output, baseline and update files): one document per abstract.

Streams ``<PubmedArticle>`` elements with ``ElementTree.iterparse`` and frees each one once
read, so a 30,000-article baseline file does not sit in memory. Structured abstracts become
one ``LABEL: text`` line per section, as in the shared PubMedQA corpus. Articles without an
abstract are reported and skipped. A file that breaks off (truncated or malformed XML) keeps
the articles read before the error.

Safety: expat (stdlib) never fetches the DTD or any external entity (a reference to one is a
parse error), and expat >= 2.4 caps internal entity expansion.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document

LICENSE = "PubMed abstract (publisher copyright may apply)"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
_SPACES = re.compile(r"\s+")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
# Top-level records of a PubmedArticleSet; each is dropped from the tree once handled.
_RECORD_TAGS = frozenset({"PubmedArticle", "PubmedBookArticle", "DeleteCitation"})


def flatten_text(elem: ET.Element) -> str:
    """All text inside ``elem`` (inline <i>, <b>, <sub>, MathML...) with spaces collapsed.

    A superscript keeps a caret so "10<sup>9</sup>/L" reads "10^9/L", not "109/L".
    """
    parts: list[str] = []

    def walk(node: ET.Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if child.tag == "sup":
                parts.append("^")
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(elem)
    return _SPACES.sub(" ", "".join(parts)).strip()


def abstract_text(article: ET.Element) -> str:
    """Abstract paragraphs, one per line; labelled ones as ``LABEL: text``."""
    lines: list[str] = []
    for part in article.findall("Abstract/AbstractText"):
        text = flatten_text(part)
        if not text:
            continue
        label = (part.get("Label") or "").strip()
        lines.append(f"{label}: {text}" if label else text)
    return "\n".join(lines)


def _pub_year(article: ET.Element) -> int | None:
    # PubDate has a Year, or a MedlineDate such as "2001 Sep-Oct" or "1998 Dec-1999 Jan".
    candidates = [
        article.findtext("Journal/JournalIssue/PubDate/Year"),
        article.findtext("Journal/JournalIssue/PubDate/MedlineDate"),
        article.findtext("ArticleDate/Year"),
    ]
    for candidate in candidates:
        match = _YEAR.search(candidate or "")
        if match:
            return int(match.group(1))
    return None


def _doi(record: ET.Element, article: ET.Element) -> str | None:
    # Direct children only: ReferenceList entries carry ArticleIdLists of cited papers.
    for node in record.findall("PubmedData/ArticleIdList/ArticleId"):
        if node.get("IdType") == "doi" and (node.text or "").strip():
            return (node.text or "").strip()
    for node in article.findall("ELocationID"):
        if node.get("EIdType") == "doi" and (node.text or "").strip():
            return (node.text or "").strip()
    return None


def _texts(parent: ET.Element, path: str) -> list[str]:
    return [t for t in (flatten_text(node) for node in parent.findall(path)) if t]


def article_document(record: ET.Element) -> Document:
    """The Document of one ``<PubmedArticle>``; raises ValueError when it has none."""
    citation = record.find("MedlineCitation")
    article = None if citation is None else citation.find("Article")
    if citation is None or article is None:
        raise ValueError("no MedlineCitation/Article element; skipped")
    pmid = (citation.findtext("PMID") or "").strip()
    if not pmid:
        raise ValueError("no PMID; skipped")
    text = abstract_text(article)
    if not text:
        raise ValueError(f"PMID {pmid} has no abstract; skipped")
    title_node = article.find("ArticleTitle")
    title = flatten_text(title_node) if title_node is not None else ""
    journal = _SPACES.sub(" ", article.findtext("Journal/Title") or "").strip() or (
        (article.findtext("Journal/ISOAbbreviation") or "").strip() or None
    )
    return Document(
        id=f"pubmed:{pmid}",
        title=title or f"PubMed {pmid}",
        text=text,
        source_type="research",
        organization=journal,
        year=_pub_year(article),
        url=PUBMED_URL.format(pmid=pmid),
        license=LICENSE,
        meta={
            "pmid": pmid,
            "journal": journal,
            "doi": _doi(record, article),
            "mesh": _texts(citation, "MeshHeadingList/MeshHeading/DescriptorName"),
            "publication_types": _texts(article, "PublicationTypeList/PublicationType"),
        },
    )


@dataclass(slots=True)
class _FileState:
    name: str
    records: int = 0


def _handle(elem: ET.Element, state: _FileState, result: LoadResult) -> None:
    if elem.tag == "DeleteCitation":
        return
    state.records += 1
    if elem.tag == "PubmedBookArticle":
        result.problems.append(
            Problem(state.name, f"record {state.records}: book article, not supported; skipped")
        )
        return
    try:
        result.documents.append(article_document(elem))
    except ValueError as exc:
        result.problems.append(Problem(state.name, f"record {state.records}: {exc}"))


def _parse_stream(stream: IO[bytes], state: _FileState, result: LoadResult) -> None:
    open_elements: list[ET.Element] = []
    for event, elem in ET.iterparse(stream, events=("start", "end")):
        if event == "start":
            open_elements.append(elem)
            continue
        open_elements.pop()
        if elem.tag in _RECORD_TAGS:
            _handle(elem, state, result)
            if open_elements:
                open_elements[-1].remove(elem)  # free the article; the set keeps no children


def load_pubmed_file(file: Path, result: LoadResult) -> None:
    """Add one ``.xml`` or ``.xml.gz`` file's abstracts to ``result``."""
    state = _FileState(str(file))
    result.files_read += 1
    problems_before = len(result.problems)
    opener: Callable[[Path], IO[bytes]] = _open_gzip if file.name.endswith(".gz") else _open_plain
    try:
        with opener(file) as stream:
            _parse_stream(stream, state, result)
    except ET.ParseError as exc:
        line, _column = exc.position
        kept = f"; the {state.records} record(s) before it were read" if state.records else ""
        result.problems.append(Problem(f"{state.name}:{line}", f"malformed XML ({exc}){kept}"))
    except (OSError, EOFError, zlib.error) as exc:
        kept = f"; the {state.records} record(s) before it were read" if state.records else ""
        result.problems.append(Problem(state.name, f"cannot read: {exc}{kept}"))
    if state.records == 0 and len(result.problems) == problems_before:
        result.problems.append(Problem(state.name, "no <PubmedArticle> records in this file"))


def _open_plain(file: Path) -> IO[bytes]:
    return file.open("rb")


def _open_gzip(file: Path) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(file, "rb"))


def _xml_files(path: Path) -> list[Path]:
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.name.endswith((".xml", ".xml.gz"))
    )


def load_pubmed(path: Path) -> LoadResult:
    """Load a PubMed XML file (``.xml`` or ``.xml.gz``) or every such file below a directory."""
    result = LoadResult()
    if path.is_dir():
        files = _xml_files(path)
        if not files:
            result.problems.append(Problem(str(path), "no .xml or .xml.gz files in this directory"))
    elif path.is_file():
        files = [path]
    else:
        result.problems.append(Problem(str(path), "file or directory does not exist"))
        return result
    for file in files:
        load_pubmed_file(file, result)
    return result
