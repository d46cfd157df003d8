"""What the chat puts on the page for an answer (pure functions over a real guarded Answer
from the fixture pack with the hash embedder)."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.pipeline import Assistant
from assistant.render import without_sections
from assistant.settings import load_settings
from assistant.types import Answer
from corpus.errors import InputError
from guardrails.check import check
from guardrails.patient import Patient
from guardrails.types import Verdict
from ui.chat import chat_markdown, dose_check_html, patient_input, quote_html, sources_html


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


def test_withheld_statements_are_marked(assistant: Assistant) -> None:
    # The fixture's PCI infusion rate is the reference's for CrCl of 30 mL/min and above.
    answer = assistant.ask("What is the bivalirudin dose for PCI?", patient=Patient(crcl_ml_min=20))
    assert answer.withheld
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
    # A title is escaped; raw HTML put into the Markdown past render is dropped by nh3.
    assert "&lt;script&gt;" in sources_html(bad)
    assert "alert(1)" not in chat_markdown(bad) and "onerror" not in chat_markdown(bad)


def test_without_sections_keeps_everything_else() -> None:
    md = "**Bottom [1]**\n\n#### Dose check\n- ✓ x\n\n#### References\n- [1] A\n\n*Review status: x.*\n\n*Disclaimer.*\n"
    out = without_sections(md, ("Dose check",))
    assert (
        out
        == "**Bottom [1]**\n\n#### References\n- [1] A\n\n*Review status: x.*\n\n*Disclaimer.*\n"
    )
    assert without_sections(md, ("References",)).endswith("*Review status: x.*\n\n*Disclaimer.*\n")


# ------------------------------------------------------------------ display fixes

HEPARIN = "For VTE treatment, give heparin 80 units/kg IV bolus then 25 units/kg/h infusion."


@pytest.fixture(scope="module")
def heparin_verdict() -> Verdict:
    """The real guard on a wrong heparin rate: its messages carry pint's USP_unit."""
    verdict = check(HEPARIN)
    assert any("USP_unit" in (f.message + (f.expected or "")) for f in verdict.findings)
    return verdict


def _visible(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_the_dose_panel_writes_units_as_clinicians_do(
    answer: Answer, heparin_verdict: Verdict
) -> None:
    panel = dose_check_html(dataclasses.replace(answer, verdict=heparin_verdict))
    assert "USP_unit" not in panel and "international_unit" not in panel
    assert "units/kg/h" in _visible(panel)


def test_marks_are_badges_not_glyphs_the_fonts_lack(
    answer: Answer, heparin_verdict: Verdict
) -> None:
    shown = dataclasses.replace(answer, verdict=heparin_verdict)
    panel = dose_check_html(shown)
    for page in (panel, chat_markdown(shown)):
        assert not {"⛔", "✗", "✓"} & set(page)
    assert panel.count('class="bedside-mark mark-') == len(heparin_verdict.findings) + len(
        answer.withheld
    )


MARKDOWN_LINES = [
    ("withheld-line", "- ✗ A statement was withheld: x.", "mark-block"),
    ("withheld-line-old-mark", "- ⛔ A statement was withheld: x.", "mark-block"),
    ("dose-check-line", "- ✓ `DOSE_OK` heparin: 80 USP_unit/kg matches.", "mark-info"),
    ("warning-line", "- ⚠ `DOSE_UNVERIFIED` 2 mg was not verified.", "mark-warn"),
]


@pytest.mark.parametrize(
    ("line", "badge"), [c[1:] for c in MARKDOWN_LINES], ids=[c[0] for c in MARKDOWN_LINES]
)
def test_chat_markdown_marks_and_units(answer: Answer, line: str, badge: str) -> None:
    md = chat_markdown(dataclasses.replace(answer, markdown=f"**Bottom.**\n\n{line}\n"))
    assert f"bedside-mark {badge}" in md
    assert "USP_unit" not in md


@pytest.mark.parametrize(
    "layout", ["**✓ Heparin is safe here. [1]**", "- ✓ Heparin is safe here. [1]"]
)
def test_a_mark_that_opens_a_quoted_sentence_is_no_badge(answer: Answer, layout: str) -> None:
    md = chat_markdown(dataclasses.replace(answer, markdown=f"{layout}\n"))
    assert "bedside-mark" not in md and "✓ Heparin is safe here." in md


def test_chat_markdown_leaves_quoted_sentences_verbatim(answer: Answer) -> None:
    quoted = "- Give 5 micrograms ✓ as written in the source. [1]"
    md = chat_markdown(dataclasses.replace(answer, markdown=f"**Bottom.**\n\n{quoted}\n"))
    assert "Give 5 micrograms ✓ as written in the source." in md


QUOTES = [
    (
        "bold",
        "Reduce to 2.5 mg BID if the patient has **at least two** of these.",
        "<strong>at least two</strong>",
    ),
    ("italic-label", "*Dose Reduction:* Reduce to 2.5 mg BID.", "<em>Dose Reduction:</em>"),
    ("bold-label", "**Apixaban:** Standard dose is 5 mg BID.", "<strong>Apixaban:</strong>"),
    ("cut-in-half", "at least two** of the following", "at least two of the following"),
    ("bullets", "Options:\n- argatroban\n- bivalirudin", "<li>bivalirudin</li>"),
    ("html-stays-text", "<b>not markup</b> & more", "&lt;b&gt;not markup&lt;/b&gt; &amp; more"),
    ("snake-case-kept", "the USP_unit_name stays", "the USP_unit_name stays"),
]


@pytest.mark.parametrize(("quote", "shown"), [c[1:] for c in QUOTES], ids=[c[0] for c in QUOTES])
def test_quotes_render_their_markdown(quote: str, shown: str) -> None:
    out = quote_html(quote)
    assert shown in out
    assert "**" not in out and "<b>" not in out


def test_the_sources_panel_shows_each_exact_quote_without_markdown_syntax(answer: Answer) -> None:
    panel = sources_html(answer)
    assert "**" not in panel
    for c in answer.citations:
        words = re.sub(r"[*_`#]|^\s*[-+]\s+", "", c.quote, flags=re.M).split()
        assert " ".join(words) in " ".join(_visible(panel).split()), c.quote


FACTS = [
    ("all-empty", ("", "", False, False, "", "unknown", ""), {}),
    ("none-values", (None, None, False, False, None, None, None), {}),
    (
        "age-sex-creatinine",
        ("55", "", False, False, "82", "female", "1.6"),
        {"weight_kg": 55, "age": 82, "sex": "female", "serum_creatinine_mg_dl": 1.6},
    ),
    (
        "decimal-comma",
        ("", "", False, False, "", "male", "1,2"),
        {"sex": "male", "serum_creatinine_mg_dl": 1.2},
    ),
    ("crcl-zero-is-a-value", ("", "0", False, False, "", "unknown", ""), {"crcl_ml_min": 0}),
    ("boxes", ("", "", True, True, "", "unknown", ""), {"hepatic_impairment": True, "hit": True}),
]


@pytest.mark.parametrize(("fields", "facts"), [c[1:] for c in FACTS], ids=[c[0] for c in FACTS])
def test_patient_facts_fields(fields: tuple[Any, ...], facts: dict[str, Any]) -> None:
    given = patient_input(*fields).model_dump(exclude_none=True)
    assert given == facts


BAD_FACTS = [
    ("not-a-number", ("", "", False, False, "eighty", "unknown", ""), InputError),
    ("weight-zero", ("0", "", False, False, "", "unknown", ""), ValidationError),
    ("age-too-high", ("", "", False, False, "300", "unknown", ""), ValidationError),
]


@pytest.mark.parametrize(
    ("fields", "error"), [c[1:] for c in BAD_FACTS], ids=[c[0] for c in BAD_FACTS]
)
def test_patient_facts_that_cannot_be_used(fields: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        patient_input(*fields)


def test_the_dose_panel_says_which_patient_facts_it_used(assistant: Assistant) -> None:
    question = "What is the enoxaparin dose for DVT treatment?"
    none = _visible(dose_check_html(assistant.ask(question), None))
    assert "Patient facts: none given" in none
    facts = patient_input("55", "", False, False, "82", "female", "1.6").to_patient()
    used = _visible(dose_check_html(assistant.ask(question, patient=facts), facts))
    assert "55 kg, 82 years, female, CrCl" in used and "Cockcroft–Gault" in used


def test_two_quotes_from_one_passage_are_both_shown(answer: Answer) -> None:
    first = answer.citations[0]
    text = first.passage.chunk.text
    cut = text.find(" ", len(text) // 2)
    assert 0 < cut < len(text) - 1
    halves = (
        dataclasses.replace(first, quote_start=0, quote_end=cut),
        dataclasses.replace(first, quote_start=cut + 1, quote_end=len(text)),
    )
    panel = sources_html(dataclasses.replace(answer, citations=halves))
    assert panel.count(f'id="src-{first.number}"') == 1
    assert panel.count('<blockquote class="quote">') == 2


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("heparin 5&frac12 mg", "heparin 5&frac12 mg"),  # an HTML parser reads "5½" here
        ("heparin &#53;0 mg", "heparin &#53;0 mg"),
        ("CrCl < 30 & > 15", "CrCl < 30 & > 15"),
        ("heparin <b>5</b>0 mg", "heparin <b>5</b>0 mg"),
    ],
)
def test_the_chat_shows_source_text_as_written(text: str, shown: str) -> None:
    """Through the chat's sanitizer and an HTML parser, source text reads as written."""
    from assistant.markup import inline
    from ui.chat import clean_html

    out = clean_html(inline(text)).replace("&gt;", ">")
    assert html.unescape(out) == shown


def test_the_dose_panel_puts_problems_first_and_folds_the_passed_checks(
    assistant: Assistant,
) -> None:
    answer = assistant.ask("What is the bivalirudin dose for PCI?", patient=Patient(crcl_ml_min=20))
    panel = dose_check_html(answer)
    assert answer.withheld and '<details class="dose-ok">' in panel
    assert "<details open" not in panel
    folded = panel[panel.index("<details") :]
    problems = panel[: panel.index("<details")]
    assert 'class="withheld"' in problems and 'class="withheld"' not in folded
    assert "mark-info" not in problems  # every passed check is folded
    assert panel.count("mark-info") == folded.count("mark-info")
    assert problems.index("dose-summary") < problems.index('class="withheld"')
    if "dose-problems" in problems:  # withheld statements, then blocks and warnings
        assert problems.index('class="withheld"') < problems.index("dose-problems")


def test_the_disclaimer_bar_carries_both_audiences_words() -> None:
    from assistant.render import DISCLAIMER, PATIENT_DISCLAIMER
    from ui.chat import CSS, disclaimer_html

    bar = disclaimer_html("pending clinical review")
    assert f'<span class="bedside-for-patient">{html.escape(PATIENT_DISCLAIMER)}' in bar
    assert f'<span class="bedside-for-clinician">{html.escape(DISCLAIMER)}' in bar
    assert ".bedside-for-patient { display: none; }" in CSS


def test_generator_notes_are_folded_in_the_chat(answer: Answer) -> None:
    noted = dataclasses.replace(
        answer,
        notes=("the answer was cut off at max_tokens=800 <b>",),
        markdown=answer.markdown.replace(
            "\n*Review status:", "\n#### Generator notes\n- cut off\n\n*Review status:"
        ),
    )
    shown = chat_markdown(noted)
    assert '<details class="generator-notes"><summary>Generator notes (1)</summary>' in shown
    assert "cut off at max_tokens=800 &lt;b" in shown and "<b>" not in shown
    assert "#### Generator notes" not in shown
    assert shown.index("generator-notes") < shown.index("Review status")
    assert "generator-notes" not in chat_markdown(answer)
