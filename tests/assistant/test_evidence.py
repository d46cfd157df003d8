"""assistant.evidence: what a sentence states, read with the patterns of evidence.yaml."""

from __future__ import annotations

import pytest

from assistant.evidence import asked_settings, research_cap, states_target


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        pytest.param(
            "For HIT, the argatroban dose is adjusted to a steady-state aPTT of 1.5 to 3 times "
            "the initial baseline value, not exceeding 100 seconds.",
            True,
            id="aptt-range",
        ),
        pytest.param(
            "For PCI, the activated clotting time (ACT) is checked 5 to 10 minutes after the "
            "argatroban bolus; the target ACT is 300 to 450 seconds.",
            True,
            id="act-range",
        ),
        pytest.param(
            "Anti-Factor Xa monitoring of UFH (target 0.3 to 0.7 IU/mL) is not affected by "
            "factor VIII.",
            True,
            id="anti-xa-range",
        ),
        pytest.param(
            "If anticoagulation is needed after PCI, argatroban may be continued at "
            "2 mcg/kg/min, adjusted to the aPTT.",
            False,
            id="dose-only-no-target",
        ),
        pytest.param(
            "For HIT, the argatroban aPTT is checked 2 hours after starting the infusion.",
            False,
            id="timing-no-target",
        ),
    ],
)
def test_states_target(sentence: str, expected: bool) -> None:
    assert states_target(sentence) is expected


def test_a_question_about_results_may_quote_more_research() -> None:
    assert research_cap("What were the results of the argatroban HIT studies?")
    assert research_cap("How effective is fondaparinux for HIT?")
    assert research_cap("What is the argatroban dose for HIT?") is None


def test_asked_settings_are_read_from_the_question() -> None:
    assert [n for n, _ in asked_settings("Anti-Xa target for heparin on ECMO?")] == ["ECMO"]
    assert [n for n, _ in asked_settings("Enoxaparin dose in pregnancy")] == ["pregnancy"]
    assert asked_settings("What is the apixaban dose for AF?") == []


def _quotable(text: str) -> dict[str, bool]:
    """Each sentence of a passage of ``text`` (a chunk from within a document, so it is not
    read as one short record): quotable alone?"""
    from assistant.evidence import analyse
    from corpus.types import Chunk, DocumentInfo
    from guardrails.reference import default_reference
    from retrieval.types import Passage

    doc = DocumentInfo(id="algorithm", title="A decision algorithm", source_type="guideline")
    start, end = 100, 100 + len(text)
    chunk = Chunk(id=Chunk.make_id("algorithm", start, end), doc_id="algorithm", text=text,
                  start=start, end=end)  # fmt: skip
    infos = analyse(Passage(chunk=chunk, doc=doc, score=1.0, rank=1), default_reference())
    return {text[i.start : i.end]: i.quotable for i in infos}


@pytest.mark.parametrize(
    ("text", "branch", "quotable"),
    [
        pytest.param(
            "Steps to follow:\n\n3. **Three or more risk factors present?**\n"
            "   - Yes: **May be reasonable** to begin the treatment two days before the visit.\n"
            "   - No: Proceed to step 4.\n",
            "Yes: **May be reasonable** to begin the treatment two days before the visit.",
            False,
            id="branch-of-a-numbered-question",
        ),
        pytest.param(
            "- Is the patient already taking the treatment?\n"
            "    * Yes: continue the treatment through the whole of the visit period.\n",
            "Yes: continue the treatment through the whole of the visit period.",
            False,
            id="branch-of-a-bulleted-question",
        ),
        pytest.param(
            "3. **Three or more risk factors present.**\n"
            "   - Yes, it may be reasonable to begin the treatment two days before the visit.\n",
            "Yes, it may be reasonable to begin the treatment two days before the visit.",
            True,
            id="item-under-a-statement",
        ),
        pytest.param(
            "- Is the patient already taking the treatment?\n"
            "- Beginning the treatment two days before the visit may be reasonable.\n",
            "Beginning the treatment two days before the visit may be reasonable.",
            True,
            id="sibling-of-a-question",
        ),
    ],
)
def test_a_branch_that_answers_the_item_above_it_is_not_quoted_alone(
    text: str, branch: str, quotable: bool
) -> None:
    """'Yes: May be reasonable…' under 'Three or more risk factors?' read alone answers the
    user's question instead of its own: a nested item under a question is a branch."""
    seen = {k.lstrip("-* ").strip(): v for k, v in _quotable(text).items()}
    assert seen[branch] is quotable, seen
