"""Section-aware chunking with exact character offsets.

A chunk never crosses a Markdown heading, a pipe table is never split (so a dose row
stays with its header row), and long paragraphs are cut at sentence boundaries.
``doc.text[chunk.start:chunk.end] == chunk.text`` holds for every chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from corpus.text import split_long, split_sentences
from corpus.types import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")


class ChunkingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(
        default=900,
        ge=200,
        le=8000,
        description="largest chunk in characters (tables may exceed it)",
    )


@dataclass(frozen=True, slots=True)
class _Block:
    start: int
    end: int
    kind: str  # "heading" | "table" | "text"
    level: int = 0
    title: str = ""


def _lines(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        yield pos, pos + len(body)
        pos += len(line)


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    table: list[int] | None = None  # [start, end] of the table being read
    for start, end in _lines(text):
        line = text[start:end]
        stripped = line.strip()
        lead = start + (len(line) - len(line.lstrip()))
        trail = end - (len(line) - len(line.rstrip()))
        if stripped.startswith("|"):
            if table is None:
                table = [lead, trail]
            else:
                table[1] = trail
            continue
        if table is not None:
            blocks.append(_Block(table[0], table[1], "table"))
            table = None
        if not stripped:
            continue
        heading = _HEADING.match(stripped)
        if heading:
            blocks.append(_Block(lead, trail, "heading", len(heading.group(1)), heading.group(2)))
        else:
            blocks.append(_Block(lead, trail, "text"))
    if table is not None:
        blocks.append(_Block(table[0], table[1], "table"))
    return blocks


def _pieces(text: str, block: _Block, max_chars: int) -> list[tuple[int, int]]:
    if block.kind == "table" or block.end - block.start <= max_chars:
        return [(block.start, block.end)]
    out: list[tuple[int, int]] = []
    for s, e in split_sentences(text, block.start, block.end):
        out.extend(split_long(text, s, e, max_chars) if e - s > max_chars else [(s, e)])
    return out


def chunk_document(doc: Document, settings: ChunkingSettings | None = None) -> list[Chunk]:
    """Split one document into chunks; see the module docstring for the guarantees."""
    max_chars = (settings or ChunkingSettings()).max_chars
    text = doc.text
    base_path: tuple[str, ...] = (doc.section,) if doc.section else ()
    headings: list[tuple[int, str]] = []
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

    for block in _blocks(text):
        if block.kind == "heading":
            if not only_headings:  # a heading with no text yet joins the next section's chunk
                flush()
            while headings and headings[-1][0] >= block.level:
                headings.pop()
            headings.append((block.level, block.title))
            current_path = base_path + tuple(title for _, title in headings)
            current.append((block.start, block.end))
            continue
        for piece in _pieces(text, block, max_chars):
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
