"""Real exchanges with a small model, replayed: what Bedside makes of them.

Each file in tests/fixtures/llm/ is one exchange recorded by ``bench/generator_real.py
--record`` against llama.cpp's server running SmolLM2-135M-Instruct: the request body
Bedside sent, the server's reply as streamed, and the passages Bedside had given the model.
The reply is served again by the fake endpoint of test_openai_compat.py, streamed as the
real server streams it, and the generator and the guard read it as they would live. A small
model shows what a large one does now and then: sentences without markers, a preamble
instead of a query, passage tags and bare list numbers echoed back, a reply cut off where
the context ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.generators.openai_compat import OpenAICompatGenerator
from assistant.settings import OpenAISettings
from assistant.types import Draft, Statement, Turn
from corpus.text import sentence_spans
from corpus.types import Chunk, DocumentInfo
from guardrails.check import check
from guardrails.support import support
from guardrails.types import SourceText, Verdict
from retrieval.types import Passage
from tests.assistant.test_openai_compat import FakeLLM, Reply, _start, _stop

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
_OPENING = re.compile(r'<passage n="(\d+)" source="([^"]*)" type="([^"]*)">')
_MARKUP = re.compile(r"</?\s*passage\b|<\|[a-z_]+\|>", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")


def load(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return record


def passages_of(record: dict[str, Any]) -> list[Passage]:
    out = []
    for rank, p in enumerate(record["passages"], start=1):
        text = p["text"]
        chunk = Chunk(
            Chunk.make_id(p["doc_id"], 0, len(text)),
            p["doc_id"],
            text,
            0,
            len(text),
            tuple(p["section_path"]),
        )
        doc = DocumentInfo(
            p["doc_id"],
            p["title"],
            p["source_type"],
            organization=p["organization"],
            year=p["year"],
        )
        out.append(Passage(chunk, doc, score=1.0 / rank, rank=rank))
    return out


def history_of(record: dict[str, Any]) -> list[Turn]:
    return [Turn(t["role"], t["content"]) for t in record["history"]]


def recorded_reply(record: dict[str, Any]) -> Reply:
    reply = record["reply"]
    return Reply(content=reply["content"], finish_reason=reply["finish_reason"], events=True)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    fake, thread = _start()
    # Every passage the recording sent fits again: the replay sends the same numbering.
    fake.tokenizer = lambda text: 1
    try:
        yield fake
    finally:
        _stop(fake, thread)
    assert not fake.replies, f"recorded replies never requested: {fake.replies}"


def generator_for(server: FakeLLM, record: dict[str, Any]) -> OpenAICompatGenerator:
    s = record["settings"]
    return OpenAICompatGenerator(
        OpenAISettings(
            base_url=server.base_url,
            model=record["request"]["model"],
            max_tokens=s["max_tokens"],
            context_tokens=s["context_tokens"],
        )
    )


def replay(llm: FakeLLM, name: str) -> tuple[dict[str, Any], list[Passage], Draft]:
    """The recorded generate call again, against the recorded reply; the replayed request
    numbers the same passages as the recorded one did."""
    record = load(name)
    assert record["call"] == "generate"
    passages = passages_of(record)
    llm.script(recorded_reply(record))
    draft = generator_for(llm, record).generate(record["question"], passages, history_of(record))
    (request,) = llm.requests
    sent = request.body["messages"][-1]["content"]
    recorded = record["request"]["messages"][-1]["content"]
    assert _OPENING.findall(sent) == _OPENING.findall(recorded)
    assert request.body["stream"] is True and record["request"]["stream"] is True
    return record, passages, draft


def guard(draft: Draft) -> Verdict:
    """The guard as the pipeline runs it on a writing generator's draft."""
    lead = [draft.bottom_line] if draft.bottom_line else []
    return check(
        draft.raw_text,
        {c.number: c.passage.chunk.id for c in draft.citations},
        {
            c.passage.chunk.id: SourceText(
                c.passage.chunk.text,
                c.passage.doc.title,
                c.passage.chunk.section_path,
                c.passage.doc.id,
                c.passage.chunk.id,
            )
            for c in draft.citations
        },
        own_words=tuple(s.text for s in [*lead, *draft.statements]),
    )


def shown(draft: Draft, verdict: Verdict) -> list[Statement]:
    """The statements the pipeline shows: cited, and no block finding on their line."""
    parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
    out, start = [], 0
    for statement, line in zip(parts, draft.raw_text.split("\n"), strict=True):
        end = start + len(line)
        blocked = any(f.severity == "block" and start <= f.span[0] < end for f in verdict.findings)
        if statement.citations and not blocked:
            out.append(statement)
        start = end + 1
    return out


def supported(statement: Statement, passages: list[Passage]) -> bool:
    """A sentence of a passage it cites says it (word for word or by guardrails.support)."""
    for n in statement.citations:
        if not 1 <= n <= len(passages):
            return False
        text = passages[n - 1].chunk.text
        if statement.text in text:
            return True
        spans = sentence_spans(text) or [(0, len(text))]
        if any(support(statement.text, text[a:b]).supported for a, b in spans):
            return True
    return False


def all_statements(draft: Draft) -> list[Statement]:
    return ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)


# -- the recordings are what they say they are ----------------------------------------------


def test_the_recordings_show_what_they_are_kept_for() -> None:
    marker_free = load("marker_free")
    assert marker_free["reply"]["content"].strip()
    assert not re.search(r"\[\d", marker_free["reply"]["content"])
    condensed = load("condense_answer")
    assert condensed["call"] == "condense"
    for record in (marker_free, condensed):
        assert record["request"]["messages"][0]["role"] == "system"
        assert record["recorded_with"]["server"].startswith("llama-cpp-python")


# -- replays --------------------------------------------------------------------------------


def test_marker_free_sentences_are_shown_only_where_a_passage_supports_them(
    llm: FakeLLM,
) -> None:
    _, passages, draft = replay(llm, "marker_free")
    statements = all_statements(draft)
    assert statements, "the recorded reply has sentences"
    # None carried a marker: each was attributed to a supporting sentence, or kept uncited.
    for s in statements:
        assert s.attributed == bool(s.citations)
    assert any("citation marker" in note for note in draft.notes)
    for s in shown(draft, guard(draft)):
        assert supported(s, passages), s.text


def test_a_condense_reply_that_answers_never_becomes_the_query(llm: FakeLLM) -> None:
    record = load("condense_answer")
    assert record["call"] == "condense"
    llm.script(recorded_reply(record))
    fallback = "the deterministic rewrite"
    query = generator_for(llm, record).condense(
        record["question"], history_of(record), fallback=fallback
    )
    (request,) = llm.requests
    assert request.body["messages"] == record["request"]["messages"]
    assert query == fallback


def test_a_cut_off_reply_is_noted_and_shows_only_supported_statements(llm: FakeLLM) -> None:
    record, passages, draft = replay(llm, "cut_off")
    assert record["reply"]["finish_reason"] == "length"
    context = record["settings"]["context_tokens"]
    assert any("cut off" in n and f"context_tokens={context}" in n for n in draft.notes)
    for s in all_statements(draft):
        assert _LETTER.search(s.text), s.text  # no list number alone
    for s in shown(draft, guard(draft)):
        assert supported(s, passages), s.text
