"""A table row's label that names a drug with its own amount ("Examplamab <= 10 mg": the dose
the patient took) describes the patient: the amounts in the row's other cells belong to the
drug the table is about, named by its column headers, caption or heading. Only where nothing
else names a drug does the label drug keep them ("| Examplamab 10 mg | 5 mg if ... |")."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.context import drug_lexicon
from guardrails.extraction import extract
from guardrails.reference import (
    Citation,
    DoseEntry,
    DoseSpec,
    Drug,
    ReferenceTable,
    default_reference,
)
from guardrails.types import Finding, SourceText, Verdict

# Fictional drugs: examplamab is taken daily up to 10 mg; reversamab, which reverses it, is
# given as a 400 mg IV bolus.
_CITE = Citation(doc="fixture-examplamab", quote="Test fixture text for fictional drugs.")


def _table() -> ReferenceTable:
    base = default_reference()
    drugs = [
        Drug(name="examplamab", names=["examplamab"]),
        Drug(name="reversamab", names=["reversamab"]),
    ]
    doses = [
        DoseEntry(
            id="examplamab.vte-treatment",
            drug="examplamab",
            indication="vte-treatment",
            route="po",
            dose=DoseSpec(low=5, high=10, unit="mg"),
            interval_h=[24],
            cite=_CITE,
        ),
        DoseEntry(
            id="reversamab.reversal.bolus",
            drug="reversamab",
            indication="reversal",
            reverses=["examplamab"],
            phase="bolus",
            route="iv",
            dose=DoseSpec(low=400, high=400, unit="mg"),
            cite=_CITE,
        ),
    ]
    return base.model_copy(update={"drugs": [*base.drugs, *drugs], "doses": [*base.doses, *doses]})


TABLE = _table()

HEADER = "| Last dose taken | Timing | Bolus |\n|---|---|---|\n"
ROW = "| **Examplamab <= 10 mg** | >= 8 hours | 400 mg IV |"


def _quote(
    sentence: str,
    passage: str,
    title: str = "Anticoagulant reversal",
    headings: tuple[str, ...] = (),
) -> Verdict:
    source = SourceText(passage, title, headings)
    return check(f"{sentence} [1]", {1: "p"}, {"p": source}, reference=TABLE)


def _about(verdict: Verdict, written: str) -> Finding:
    """The finding that judged the amount ``written`` against a drug's dose."""
    (found,) = [f for f in verdict.findings if f.text == written and f.drug is not None]
    return found


def _blocks(verdict: Verdict) -> list[str]:
    return sorted({f.rule_id for f in verdict.by_severity("block")})


def test_extraction_sets_the_label_drug_aside_for_other_cells() -> None:
    mentions, _ = extract(ROW, drug_lexicon(TABLE))
    by_amount = {ROW[m.span[0] : m.span[1]]: m for m in mentions}
    # The label's own amount stays its drug's; the bolus cell's amount has none of its own.
    assert by_amount["10 mg"].drug == "examplamab" and by_amount["10 mg"].set_aside == ()
    assert by_amount["400 mg"].drug is None
    assert by_amount["400 mg"].set_aside == ("examplamab",)


# The table's own drug named by its caption, by a column header, or by the heading above.
TABLES = [
    ("caption", f"## Bleeding\n\n**Reversamab dosing:**\n\n{HEADER}{ROW}\n", "previous sentence"),
    (
        "column-header",
        f"## Bleeding\n\n| Last examplamab dose | Timing | Reversamab bolus |\n|---|---|---|\n{ROW}\n",
        "table row",
    ),
    ("heading", f"## Reversamab\n\n{HEADER}{ROW}\n", "heading"),
]


@pytest.mark.parametrize(("passage", "how"), [t[1:] for t in TABLES], ids=[t[0] for t in TABLES])
def test_the_row_amount_is_the_tables_drug(passage: str, how: str) -> None:
    verdict = _quote(ROW, passage)
    assert verdict.allowed, [f.message for f in verdict.findings]
    bolus = _about(verdict, "400 mg")
    assert (bolus.rule_id, bolus.drug) == ("DOSE_OK", "reversamab")
    assert bolus.drug_from == f"cited passage: {how}"
    # The label's amount is still read as the dose of the drug it names.
    assert _about(verdict, "10 mg").drug == "examplamab"


def test_a_wrong_amount_in_the_row_blocks_as_the_tables_drug() -> None:
    # The changed row is no quote of its passage: its drug is read from the heading path.
    passage = f"## Reversamab\n\n**Reversamab dosing:**\n\n{HEADER}{ROW}\n"
    verdict = _quote(ROW.replace("400 mg", "4000 mg"), passage, headings=("Reversamab",))
    assert "DOSE_RANGE" in _blocks(verdict)
    assert _about(verdict, "4000 mg").drug == "reversamab"
    # Where nothing it stands under names the table's drug, the label drug judges it: still
    # blocked.
    assert "DOSE_RANGE" in _blocks(_quote(ROW.replace("400 mg", "4000 mg"), passage))


def test_with_no_other_drug_named_the_label_drug_keeps_the_amount() -> None:
    # A dose-reduction table: the other cell is the same drug's reduced dose.
    passage = "## Dose adjustment\n\n| Usual dose | Reduced dose |\n|---|---|\n{row}\n"
    row = "| Examplamab 10 mg | 5 mg if over 80 years |"
    verdict = _quote(row, passage.format(row=row), title="Dosing")
    assert verdict.allowed
    reduced = _about(verdict, "5 mg")
    assert (reduced.drug, reduced.drug_from) == ("examplamab", "sentence")
    wrong = row.replace("5 mg", "500 mg")
    blocked = _quote(wrong, passage.format(row=wrong), title="Dosing")
    assert "DOSE_RANGE" in _blocks(blocked)
    assert _about(blocked, "500 mg").drug == "examplamab"


def test_a_drug_named_in_the_amounts_own_cell_keeps_it() -> None:
    row = "| **Examplamab <= 10 mg** | >= 8 hours | Reversamab 400 mg IV |"
    verdict = _quote(row, f"## Anticoagulants\n\n**Examplamab dosing:**\n\n{HEADER}{row}\n")
    bolus = _about(verdict, "400 mg")
    assert (bolus.rule_id, bolus.drug, bolus.drug_from) == ("DOSE_OK", "reversamab", "sentence")


def test_a_label_drug_named_without_an_amount_is_the_rows_drug() -> None:
    # "| Examplamab | 4000 mg |": the label names the drug dosed, not what the patient took.
    row = "| Examplamab | once daily | 4000 mg |"
    verdict = _quote(row, f"## Reversamab\n\n{HEADER}{row}\n")
    assert "DOSE_RANGE" in _blocks(verdict)
    assert _about(verdict, "4000 mg").drug == "examplamab"


# ------------------------------------------------------------------ the real table

# An open-medicine guideline's dosing table: the rows name the factor Xa inhibitor being
# reversed with the patient's last dose; the bolus and infusion are andexanet alfa's.
GUIDELINE = (
    "## Direct Factor Xa Inhibitor-Associated ICH\n\n### Andexanet Alfa\n\n"
    "- In patients with direct factor Xa inhibitor-associated spontaneous ICH (e.g., apixaban, "
    "rivaroxaban, edoxaban), **andexanet alfa** is reasonable to reverse the anticoagulant "
    "effect (Class IIa, LOE B-NR).\n"
    "- Andexanet alfa is a recombinant modified factor Xa protein that acts as a decoy to "
    "sequester factor Xa inhibitors.\n\n"
    "**Andexanet Alfa Dosing:**\n\n"
    "| Factor Xa Inhibitor | Last Dose Timing | Bolus | Infusion |\n"
    "|--------------------|--------------------|-------|----------|\n"
    "| **Apixaban <= 5 mg** or **Rivaroxaban <= 10 mg** | >= 8 hours or unknown "
    "| 400 mg IV at 30 mg/min | 4 mg/min for 120 min (480 mg) |\n"
    "| **Apixaban > 5 mg** or **Rivaroxaban > 10 mg** | < 8 hours "
    "| 800 mg IV at 30 mg/min | 8 mg/min for 120 min (960 mg) |"
)
GUIDELINE_SOURCE = SourceText(
    GUIDELINE,
    "Hemostatic Therapy and Anticoagulant Reversal in Spontaneous ICH — AHA/ASA 2022",
    ("Direct Factor Xa Inhibitor-Associated ICH", "Andexanet Alfa"),
)
ROWS = [line for line in GUIDELINE.splitlines() if line.startswith("| **")]


@pytest.mark.parametrize("row", ROWS, ids=["low-dose", "high-dose"])
def test_the_guidelines_rows_are_andexanet_doses(row: str) -> None:
    verdict = check(f"{row} [1]", {1: "p"}, {"p": GUIDELINE_SOURCE})
    assert verdict.allowed, [f.message for f in verdict.by_severity("block")]
    bolus = next(f for f in verdict.findings if f.text in ("400 mg", "800 mg"))
    assert (bolus.rule_id, bolus.drug) == ("DOSE_OK", "andexanet alfa")


def test_a_changed_bolus_in_the_guidelines_row_still_blocks() -> None:
    wrong = ROWS[0].replace("400 mg IV", "4000 mg IV")
    verdict = check(f"{wrong} [1]", {1: "p"}, {"p": GUIDELINE_SOURCE})
    assert "DOSE_RANGE" in _blocks(verdict)
    assert _about(verdict, "4000 mg").drug == "andexanet alfa"
