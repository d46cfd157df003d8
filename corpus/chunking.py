"""Section-aware chunking with exact character offsets.

A chunk never crosses a Markdown heading, a pipe table is never split (so a dose row
stays with its header row), and long paragraphs are cut at sentence boundaries.
``doc.text[chunk.start:chunk.end] == chunk.text`` holds for every chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from corpus.structure import Block, Flowchart, Heading, Table, parse_structure
from corpus.text import split_long, split_sentences
from corpus.types import Chunk, Document


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(
        default=900,
        ge=200,
        le=8000,
        description="largest chunk in characters (tables may exceed it)",
    )


def _line_spans(text: str, span: tuple[int, int]) -> list[tuple[int, int]]:
    """The non-blank lines of a block, each stripped of surrounding whitespace."""
    out: list[tuple[int, int]] = []
    pos = span[0]
    for line in text[span[0] : span[1]].splitlines(keepends=True):
        body = line.rstrip("\r\n")
        lead = len(body) - len(body.lstrip())
        trail = len(body) - len(body.rstrip())
        if body.strip():
            out.append((pos + lead, pos + len(body) - trail))
        pos += len(line)
    return out


def _units_of(text: str, block: Block) -> list[tuple[int, int]]:
    """The spans a chunk is packed from: a whole table, else a block's lines one by one.

    Lines drawn with pipes inside a flowchart (its connectors) stay together like a table.
    """
    if isinstance(block, Table):
        return [block.span]
    out: list[tuple[int, int]] = []
    drawn = False
    for start, end in _line_spans(text, block.span):
        pipe = isinstance(block, Flowchart) and text[start] == "|"
        if pipe and drawn:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
        drawn = pipe
    return out


def _pieces(text: str, span: tuple[int, int], whole: bool, max_chars: int) -> list[tuple[int, int]]:
    start, end = span
    if whole or end - start <= max_chars:
        return [span]
    out: list[tuple[int, int]] = []
    for s, e in split_sentences(text, start, end):
        out.extend(split_long(text, s, e, max_chars) if e - s > max_chars else [(s, e)])
    return out


def chunk_document(doc: Document, settings: ChunkingSettings | None = None) -> list[Chunk]:
    """Split one document into chunks; see the module docstring for the guarantees."""
    max_chars = (settings or ChunkingSettings()).max_chars
    text = doc.text
    base_path: tuple[str, ...] = (doc.section,) if doc.section else ()
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    current_path: tuple[str, ...] = base_path
    only_headings = True

    def flush() -> None:
        nonlocal current, only_headings
        if current:
            start, end = current[0][0], current[-1][1]
            chunks.append(
                Chunk(
                    Chunk.make_id(doc.id, start, end),
                    doc.id,
                    text[start:end],
                    start,
                    end,
                    current_path,
                )
            )
        current, only_headings = [], True

    for section in parse_structure(text).sections:
        for block in section.blocks:
            if isinstance(block, Heading):
                if not only_headings:  # a heading with no text yet joins the next section's chunk
                    flush()
                current_path = base_path + section.path
                current.append(block.span)
                continue
            for span in _units_of(text, block):
                whole = isinstance(block, Table) or (
                    isinstance(block, Flowchart) and text[span[0]] == "|"
                )
                for piece in _pieces(text, span, whole, max_chars):
                    if current and not only_headings and piece[1] - current[0][0] > max_chars:
                        flush()
                    current.append(piece)
                    only_headings = False
    if not (only_headings and chunks):  # a trailing heading alone is not worth a chunk
        flush()
    return chunks


def chunk_documents(
    docs: Iterable[Document], settings: ChunkingSettings | None = None
) -> list[Chunk]:
    out: list[Chunk] = []
    for doc in docs:
        out.extend(chunk_document(doc, settings))
    return out
