"""Product-leaflet passages (one paragraph a line, sub-headings as bare lines, ingredient
lists, waiting times): each quoted word for word from its own passage passes; the same
passage with a real error next to it still blocks."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.extraction import extract
from guardrails.types import SourceText

_HOW_MUCH = SourceText(
    "How much to take\n"
    "The recommended dose is 25 mg once every 3 months.\n"
    "Adults donating their own blood\n"
    "The usual dose is 600 IU per kilogram body weight twice a week.\n"
    "For CrCl below 30 mL/min, give\n"
    "enoxaparin 1 mg/kg once daily.",
    "Zorvex — 3. How to take Zorvex",
)
_INGREDIENTS = SourceText(
    "What Zorvex contains\n"
    "The other ingredients are macrogol 4000, hypromellose 2910 (E464), polysorbate 80 and "
    "talc.\n"
    "The solution contains 10 000 IU epoetin zeta per mL.\n"
    "After swallowing your tablet of alendronic acid, wait at least 30 minutes before "
    "eating.\n"
    "Zorvex blocks a protein called interleukin-2.",
    "Zorvex — 6. Contents of the pack and other information",
)
_SUBJECT = SourceText(
    "If you have kidney problems, your doctor may prescribe a lower dose (such as 2.5 mg "
    "twice daily). It is important to take every dose of Eliquis.",
    "Eliquis — 3. How to take Eliquis",
)

_APPEARANCE = SourceText(
    "What Zorvex contains\n"
    "The active substances are hydrocortisone and zorbamide.\n"
    "Zorvex 0.5 mg granules: the capsule (approx. 25.3 mm long) is printed in red.",
    "Zorvex — 6. Contents of the pack and other information",
)


def _verdict(answer: str, passage: SourceText):  # type: ignore[no-untyped-def]
    return check(f"{answer} [1]", {1: "p"}, {"p": passage})


@pytest.mark.parametrize(
    ("answer", "passage", "allowed"),
    [
        # a sub-heading line above the quoted sentence does not run on into it
        pytest.param(
            "The recommended dose is 25 mg once every 3 months.", _HOW_MUCH, True, id="heading"
        ),
        pytest.param(
            "The usual dose is 600 IU per kilogram body weight twice a week.",
            _HOW_MUCH,
            True,
            id="heading-per-kg",
        ),
        pytest.param(
            "The recommended dose is 250 mg once every 3 months.",
            _HOW_MUCH,
            False,
            id="heading-changed-number",
        ),
        # a wrapped line in lower case is still the end of the sentence above it
        pytest.param(
            "Enoxaparin 1 mg/kg once daily.", _HOW_MUCH, False, id="wrapped-line-still-blocks"
        ),
        # an excipient's grade, a waiting time, a name's number: no dose at all
        pytest.param(
            "The other ingredients are macrogol 4000, hypromellose 2910 (E464), polysorbate 80 "
            "and talc.",
            _INGREDIENTS,
            True,
            id="excipient-grades",
        ),
        pytest.param(
            "After swallowing your tablet of alendronic acid, wait at least 30 minutes before "
            "eating.",
            _INGREDIENTS,
            True,
            id="waiting-time",
        ),
        pytest.param(
            "Zorvex blocks a protein called interleukin-2.", _INGREDIENTS, True, id="name-number"
        ),
        # a number grouped by spaces, as the source writes it
        pytest.param(
            "The solution contains 10 000 IU epoetin zeta per mL.",
            _INGREDIENTS,
            True,
            id="space-grouped",
        ),
        pytest.param(
            "The solution contains 10 000 IU epoetin zeta per mL.",
            SourceText("The solution contains 1 000 IU epoetin zeta per mL.", "Zorvex"),
            False,
            id="space-grouped-not-verbatim",
        ),
        # a sentence cited only at the end of its quoted unit takes the drug from the title
        pytest.param(
            "If you have kidney problems, your doctor may prescribe a lower dose (such as 2.5 mg "
            "twice daily). It is important to take every dose of Eliquis.",
            _SUBJECT,
            True,
            id="unit-cited-at-its-end",
        ),
        pytest.param(
            "If you have kidney problems, your doctor may prescribe a lower dose (such as 25 mg "
            "twice daily). It is important to take every dose of Eliquis.",
            _SUBJECT,
            False,
            id="unit-cited-at-its-end-changed",
        ),
        # an abbreviation's full stop ends no statement: the quote is the whole line, cited
        # at its end, however the sentences are cut
        pytest.param(
            "Zorvex 0.5 mg granules: the capsule (approx. 25.3 mm long) is printed in red.",
            _APPEARANCE,
            True,
            id="abbreviation-inside-quote",
        ),
        pytest.param(
            "Zorvex 0.5 mg granules: the capsule (approx. 25.3 mm long) is printed in blue.",
            _APPEARANCE,
            False,
            id="abbreviation-inside-changed-quote",
        ),
    ],
)
def test_leaflet_quotes_pass_and_errors_beside_them_block(
    answer: str, passage: SourceText, allowed: bool
) -> None:
    verdict = _verdict(answer, passage)
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]


@pytest.mark.parametrize(
    ("text", "unparsed"),
    [
        pytest.param("The tablet coating contains macrogol 4000 and talc.", 0, id="grade"),
        pytest.param("Wait at least 36 hours after the last dose of sacubitril.", 0, id="wait"),
        pytest.param("You may have to wait 2-3 months after a dose of rituximab.", 0, id="range"),
        pytest.param("Enoxaparin 1 mg/kg. No wait, 10.", 1, id="correction-still-refused"),
        pytest.param("Give enoxaparin 1 mg/kg, actually make it 10.", 1, id="correction-inline"),
        pytest.param("Give warfarin 5, then recheck the INR.", 1, id="bare-dose-still-refused"),
    ],
)
def test_numbers_that_are_no_dose(text: str, unparsed: int) -> None:
    assert len(extract(text)[1]) == unparsed
