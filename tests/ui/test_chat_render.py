"""What the chat puts on the page for an answer (pure functions over a real guarded Answer
from the fixture pack with the hash embedder)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from assistant.pipeline import Assistant
from assistant.render import without_sections
from assistant.settings import load_settings
from assistant.types import Answer
from ui.chat import chat_markdown, dose_check_html, sources_html


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Assistant:
    home = tmp_path_factory.mktemp("chat-home")
    return Assistant.from_settings(
        load_settings("fast", home=home, sources=[f"pack:{fixture_pack}"])
    )


@pytest.fixture(scope="module")
def answer(assistant: Assistant) -> Answer:
    return assistant.ask("What is the bivalirudin dose for heparin-induced thrombocytopenia?")


def test_markers_link_to_the_sources_panel(answer: Answer) -> None:
    md = chat_markdown(answer)
    links = re.findall(r'<a class="cite" href="#src-(\d+)">\[\1\]</a>', md)
    assert links
    panel = sources_html(answer)
    for n in set(links):
        assert f'id="src-{n}"' in panel


def test_dose_check_and_related_questions_leave_the_text_for_their_panels(
    answer: Answer,
) -> None:
    md = chat_markdown(answer)
    assert "#### Dose check" not in md and "#### Related questions" not in md
    assert "Review status:" in md and "not a substitute for clinical judgement" in md
    assert "#### References" in md


def test_the_dose_panel_lists_every_finding_with_its_icon(answer: Answer) -> None:
    html = dose_check_html(answer)
    assert html.count('<tr class="finding"') == len(answer.verdict.findings)
    for f in answer.verdict.findings:
        assert f'data-rule="{f.rule_id}"' in html


def test_withheld_statements_are_marked(answer: Answer) -> None:
    assert answer.withheld  # the fixture pack's made-up infusion rate
    html = dose_check_html(answer)
    assert html.count('class="withheld"') == len(answer.withheld)


def test_markup_from_sources_and_questions_is_escaped(answer: Answer) -> None:
    hostile = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"
    first = answer.citations[0]
    doc = dataclasses.replace(first.passage.doc, title=hostile)
    passage = dataclasses.replace(first.passage, doc=doc)
    bad = dataclasses.replace(
        answer,
        citations=(dataclasses.replace(first, passage=passage), *answer.citations[1:]),
        markdown=answer.markdown + "\n" + hostile,
    )
    for page in (sources_html(bad), chat_markdown(bad)):
        assert "<script>" not in page and "<img" not in page
        assert "&lt;script&gt;" in page or "&lt;script>" in page


def test_without_sections_keeps_everything_else() -> None:
    md = "**Bottom [1]**\n\n#### Dose check\n- ✓ x\n\n#### References\n- [1] A\n\n*Review status: x.*\n\n*Disclaimer.*\n"
    out = without_sections(md, ("Dose check",))
    assert (
        out
        == "**Bottom [1]**\n\n#### References\n- [1] A\n\n*Review status: x.*\n\n*Disclaimer.*\n"
    )
    assert without_sections(md, ("References",)).endswith("*Review status: x.*\n\n*Disclaimer.*\n")
