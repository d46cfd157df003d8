"""A hospital's own protocol beside the published sources: it takes precedence when it
answers, the answer says which one it follows, and drafts and overdue reviews are marked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

import assistant.pipeline as pipeline
from assistant.pipeline import Assistant, answer_json
from assistant.render import render
from assistant.settings import load_settings
from assistant.types import Citation, Statement
from corpus.types import Chunk, DocumentInfo
from guardrails.types import Verdict
from retrieval.types import Passage

QUESTION = "What is the argatroban dose for heparin-induced thrombocytopenia?"
PROTOCOL = """# Argatroban for heparin-induced thrombocytopenia (HIT)

## Starting the infusion

- In HIT, start argatroban at 2 mcg/kg/min IV, without a bolus, on the ward protocol chart.
- Check the aPTT 2 hours after starting and after each rate change.
"""


def _library(status: str, review_by: str) -> str:
    return (
        "defaults:\n  organisation: Example Hospital\ndocuments:\n  argatroban-hit.md:\n"
        f"    owner: Haemostasis Committee\n    status: {status}\n"
        f"    approved: 2024-05-01\n    review_by: {review_by}\n"
    )


def _assistant(tmp_path: Path, fixture_pack: Path, library: str, **corpus: object) -> Assistant:
    folder = tmp_path / "protocols"
    folder.mkdir(parents=True)
    (folder / "argatroban-hit.md").write_text(PROTOCOL, encoding="utf-8")
    (folder / "library.yaml").write_text(library, encoding="utf-8")
    settings = load_settings(
        "fast",
        home=tmp_path / "home",
        sources=[f"pack:{fixture_pack}", f"dir:{folder}"],
        corpus=corpus or None,
    )
    return Assistant.from_settings(settings)


def _cites_protocol(answer) -> bool:  # type: ignore[no-untyped-def]
    return any(c.passage.doc.id == "argatroban-hit" for c in answer.citations)


def test_an_approved_local_protocol_leads_and_is_named(tmp_path: Path, fixture_pack: Path) -> None:
    answer = _assistant(tmp_path, fixture_pack, _library("approved", "2099-01-01")).ask(QUESTION)
    assert answer.bottom_line is not None
    lead = next(c for c in answer.citations if c.number == answer.bottom_line.citations[0])
    assert lead.passage.doc.id == "argatroban-hit"
    assert lead.passage.doc.source_type == "institution"
    [follows] = answer.source_notices
    assert follows.startswith("Follows the local protocol “Argatroban for heparin-induced")
    assert "Example Hospital" in follows and "Haemostasis Committee" in follows
    assert follows in answer.markdown.replace("\\", "")
    assert answer_json(answer)["source_notices"] == [follows]
    assert "Review overdue" not in answer.markdown


def test_a_protocol_past_its_review_date_says_since_when(
    tmp_path: Path, fixture_pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = _assistant(tmp_path, fixture_pack, _library("approved", "2026-01-31"))
    monkeypatch.setattr(pipeline, "today", lambda: date(2026, 2, 1))
    answer = assistant.ask(QUESTION)
    assert _cites_protocol(answer)
    overdue = [n for n in answer.source_notices if n.startswith("Review overdue")]
    assert overdue == [
        "Review overdue since 2026-01-31: “Argatroban for heparin-induced thrombocytopenia "
        "(HIT)” was due for review by Haemostasis Committee; check that it is still current."
    ]
    monkeypatch.setattr(pipeline, "today", lambda: date(2026, 1, 31))
    assert not any("overdue" in n for n in assistant.ask(QUESTION).source_notices)


def test_a_draft_is_quoted_only_where_drafts_are_allowed(
    tmp_path: Path, fixture_pack: Path
) -> None:
    hidden = _assistant(tmp_path / "a", fixture_pack, _library("draft", "2099-01-01"))
    answer = hidden.ask(QUESTION)
    assert not _cites_protocol(answer) and answer.bottom_line is not None
    # It is not quoted, but the answer says a draft matches.
    assert answer.source_notices == (
        "The draft protocol “Argatroban for heparin-induced thrombocytopenia (HIT)” also "
        "matches this question; drafts are not quoted until approved (corpus.allow_drafts).",
    )
    allowed = _assistant(
        tmp_path / "b", fixture_pack, _library("draft", "2099-01-01"), allow_drafts=True
    )
    answer = allowed.ask(QUESTION)
    assert _cites_protocol(answer)
    assert any("is a draft, not an approved protocol" in n for n in answer.source_notices)
    assert not any("also matches" in n for n in answer.source_notices)


def test_the_priority_setting_decides_who_leads(tmp_path: Path, fixture_pack: Path) -> None:
    assistant = _assistant(
        tmp_path,
        fixture_pack,
        _library("approved", "2099-01-01"),
        priority=["label", "guideline", "institution"],
    )
    answer = assistant.ask(QUESTION)
    assert answer.bottom_line is not None
    lead = next(c for c in answer.citations if c.number == answer.bottom_line.citations[0])
    assert lead.passage.doc.source_type == "label"


def test_a_citation_of_a_paged_source_names_its_page() -> None:
    text = "# Protocol\n\nPage one text.\n\n## Dosing\n\nStart at 2 mg/kg IV."
    doc = DocumentInfo(
        id="p",
        title="Protocol",
        source_type="institution",
        meta={"pages": [[0, 1], [text.index("## Dosing"), 2]]},
    )
    start = text.index("## Dosing")
    chunk = Chunk("p#x", "p", text[start:], start, len(text), ("Protocol", "Dosing"))
    at = chunk.text.index("Start")
    citation = Citation(1, Passage(chunk, doc, 1.0, 1), at, len(chunk.text))
    assert citation.page == 2 and citation.to_json()["page"] == 2
    first = Chunk("p#0", "p", text[:start], 0, start, ("Protocol",))
    assert Citation(1, Passage(first, doc, 1.0, 1), 0, 5).page == 1
    markdown = render(
        bottom_line=Statement("Start at 2 mg/kg IV.", (1,), "institution"),
        statements=(),
        withheld=(),
        citations=(citation,),
        verdict=Verdict((), 0, {}),
        related=(),
        audience="clinician",
        status="approved",
    )
    assert "· Dosing · p. 2" in markdown


def test_a_local_protocol_cited_below_the_bottom_line_is_also_cited_not_followed() -> None:
    from assistant.provenance import source_notices

    doc = DocumentInfo(
        id="p", title="Ward protocol", source_type="institution", organization="Example"
    )
    other = DocumentInfo(id="g", title="Guideline", source_type="guideline")
    chunk = Chunk("p#0", "p", "Start at 2 mg/kg IV.", 0, 20, ())
    gchunk = Chunk("g#0", "g", "Start at 2 mg/kg IV.", 0, 20, ())
    cites = (
        Citation(1, Passage(gchunk, other, 1.0, 1), 0, 20),
        Citation(2, Passage(chunk, doc, 1.0, 2), 0, 20),
    )
    today = date(2026, 1, 1)
    assert source_notices(cites, today, leading=(2,)) == [
        "Follows the local protocol “Ward protocol” (Example)."
    ]
    assert source_notices(cites, today, leading=(1,)) == [
        "Also cites the local protocol “Ward protocol” (Example)."
    ]


def test_a_local_protocol_leads_only_when_it_answers_as_the_lead_does() -> None:
    from assistant.generators.extractive import Candidate, Scored, _by_precedence

    def scored(source: str, text: str, drugs: set[str], amount: bool, score: float) -> Scored:
        doc = DocumentInfo(id=source, title=source, source_type=source)  # type: ignore[arg-type]
        chunk = Chunk(f"{source}#0", source, text, 0, len(text), ())
        candidate = Candidate(
            Passage(chunk, doc, 1.0, 1),
            0,
            len(text),
            frozenset(),
            frozenset(),
            frozenset(drugs),
            amount,
        )
        return Scored(candidate, score, 1.0)

    priority = ("institution", "guideline", "label", "research", "reference")
    lead = scored("label", "Start examplamab at 2 mg/kg IV.", {"examplamab"}, True, 1.0)
    dose = scored("institution", "Examplamab: 2 mg/kg IV on the ward.", {"examplamab"}, True, 0.92)
    check = scored(
        "institution", "Check examplamab levels at 2 hours.", {"examplamab"}, False, 0.97
    )
    other = scored("institution", "Otheramab 5 mg/kg IV.", {"otheramab"}, True, 0.97)
    assert _by_precedence(lead, [lead, dose, check, other], priority) is dose
    # Nearly as good but no dose, or another drug: the lead stays.
    assert _by_precedence(lead, [lead, check, other], priority) is lead
    # Too far below the lead: the lead stays.
    low = scored("institution", "Examplamab 2 mg/kg.", {"examplamab"}, True, 0.85)
    assert _by_precedence(lead, [lead, low], priority) is lead
