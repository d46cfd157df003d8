"""openFDA drug-label loader, on hand-written fixtures in the real openFDA layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from corpus.loaders.openfda import clean_section_text, load_openfda, section_name

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "openfda"
SINGLE = FIXTURES / "label_single.json"
BULK = FIXTURES / "labels_bulk.json"
APIXABAN = "0f3c2a5e-1b7d-4c88-9e21-5a6b7c8d9e01"
METFORMIN = "5c7a1e2b-3d4f-4e6a-8b9c-0d1e2f3a4b51"
LISINOPRIL_SPL_ID = "c0ffee00-1111-4222-8333-444455556666"
WARFARIN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c61"


def test_single_record_gives_one_document_per_text_section() -> None:
    result = load_openfda(SINGLE)

    assert result.problems == []
    assert result.files_read == 1
    fields = [d.meta["section_field"] for d in result.documents]
    assert fields == [
        "boxed_warning",
        "indications_and_usage",
        "dosage_and_administration",
        "dosage_forms_and_strengths",
        "contraindications",
        "warnings_and_cautions",
        "adverse_reactions",
        "use_in_specific_populations",
        "spl_unclassified_section",
    ]
    # Skipped: the HTML table, the empty pregnancy section, carton text, product data.
    assert not {"dosage_and_administration_table", "pregnancy"} & set(fields)
    assert "package_label_principal_display_panel" not in fields
    assert "spl_product_data_elements" not in fields


def test_label_document_fields() -> None:
    docs = {d.id: d for d in load_openfda(SINGLE).documents}
    doc = docs[f"fda:{APIXABAN}:dosage_and_administration"]

    assert doc.title == "ELIQUIS (apixaban) — Dosage and Administration"
    assert doc.section == "Dosage and Administration"
    assert doc.source_type == "label"
    assert doc.organization == "US FDA (DailyMed SPL)"
    assert doc.year == 2023
    assert doc.url == f"https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={APIXABAN}"
    assert doc.license == "Public domain (US FDA labeling)"
    assert doc.meta == {
        "generic_name": "APIXABAN",
        "brand_name": "ELIQUIS",
        "manufacturer": "E.R. Squibb & Sons, L.L.C.",
        "set_id": APIXABAN,
        "effective_time": "20231215",
        "route": ["ORAL"],
        "section_field": "dosage_and_administration",
    }
    warn = docs[f"fda:{APIXABAN}:warnings_and_cautions"]
    assert warn.title == "ELIQUIS (apixaban) — Warnings and Precautions"


def test_section_text_joins_strings_by_line_and_collapses_spaces() -> None:
    docs = {d.id: d for d in load_openfda(SINGLE).documents}
    text = docs[f"fda:{APIXABAN}:dosage_and_administration"].text

    assert text.splitlines() == [
        "2 DOSAGE AND ADMINISTRATION 2.1 Reduction of Risk of Stroke and Systemic Embolism in "
        "Nonvalvular Atrial Fibrillation The recommended dose of ELIQUIS is 5 mg taken orally "
        "twice daily.",
        "2.2 Dosage Adjustments The recommended dose of ELIQUIS is 2.5 mg twice daily in "
        "patients with at least two of the following characteristics:",
        "age ≥ 80 years",
        "body weight ≤ 60 kg",
        "serum creatinine ≥ 1.5 mg/dL",
    ]
    assert "  " not in text


def test_clean_section_text_keeps_paragraphs_and_drops_blank_lines() -> None:
    assert clean_section_text(["a  b\n\n  c\u00a0\u00a0d ", "", "e"]) == "a b\nc d\ne"


def test_section_names() -> None:
    assert section_name("warnings_and_cautions") == "Warnings and Precautions"
    assert section_name("use_in_specific_populations") == "Use in Specific Populations"
    # A field not in the table is still named readably.
    assert section_name("risks_of_use_in_the_field") == "Risks of Use in the Field"


def test_bulk_results_file() -> None:
    result = load_openfda(BULK)
    ids = [d.id for d in result.documents]

    assert result.files_read == 1
    assert f"fda:{METFORMIN}:warnings" in ids
    assert f"fda:{METFORMIN}:precautions" in ids
    assert f"fda:{METFORMIN}:geriatric_use" in ids
    assert {d.id.split(":")[1] for d in result.documents} == {
        METFORMIN,
        LISINOPRIL_SPL_ID,
        WARFARIN,
    }
    metformin = next(d for d in result.documents if d.id == f"fda:{METFORMIN}:warnings")
    # Brand equal to the generic name is not repeated in the title.
    assert metformin.title == "Metformin Hydrochloride — Warnings"
    assert metformin.year == 2019
    dosing = next(
        d for d in result.documents if d.id == f"fda:{METFORMIN}:dosage_and_administration"
    )
    assert dosing.text.splitlines()[1].startswith("The usual starting dose is 500 mg")


def test_record_without_set_id_falls_back_to_id_without_a_dailymed_link() -> None:
    docs = {d.id: d for d in load_openfda(BULK).documents}
    doc = docs[f"fda:{LISINOPRIL_SPL_ID}:dosage_and_administration"]

    assert doc.title == "ZESTRIL (lisinopril) — Dosage and Administration"
    assert doc.url is None  # an SPL document id is not a set id: no page to link to
    assert doc.meta["set_id"] is None
    assert doc.meta["spl_id"] == LISINOPRIL_SPL_ID
    assert doc.year == 2022


def test_set_id_only_in_openfda_block_is_used() -> None:
    docs = {d.id: d for d in load_openfda(BULK).documents}
    doc = docs[f"fda:{WARFARIN}:dosage_and_administration"]

    assert doc.url == f"https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={WARFARIN}"
    assert doc.meta["set_id"] == WARFARIN


def test_record_without_any_id_is_a_problem_with_its_record_number() -> None:
    result = load_openfda(BULK)

    assert [(p.where, p.message) for p in result.problems] == [
        (f"{BULK}:3", "label has neither 'set_id' nor 'id'; skipped")
    ]
    assert not any("ATORVASTATIN" in str(d.meta["generic_name"]) for d in result.documents)


def test_malformed_file_next_to_a_good_one() -> None:
    result = load_openfda(FIXTURES / "mixed")

    assert result.files_read == 2  # notes.txt is not a .json file
    assert [p.where for p in result.problems] == [str(FIXTURES / "mixed" / "broken.json")]
    assert result.problems[0].message.startswith("not valid JSON")
    assert [d.id for d in result.documents] == [
        "fda:3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b:dosage_and_administration",
        "fda:3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b:overdosage",
    ]
    assert result.documents[0].title == "LASIX (furosemide) — Dosage and Administration"


def test_directory_is_read_recursively() -> None:
    result = load_openfda(FIXTURES)

    assert result.files_read == 4
    set_ids = {d.id.split(":")[1] for d in result.documents}
    assert set_ids == {
        APIXABAN,
        METFORMIN,
        LISINOPRIL_SPL_ID,
        WARFARIN,
        "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
    }
    assert sorted(p.where for p in result.problems) == sorted(
        [f"{BULK}:3", str(FIXTURES / "mixed" / "broken.json")]
    )
    assert len({d.id for d in result.documents}) == len(result.documents)


def test_same_label_twice_keeps_the_first(tmp_path: Path) -> None:
    shutil.copy(SINGLE, tmp_path / "a.json")
    shutil.copy(SINGLE, tmp_path / "b.json")

    result = load_openfda(tmp_path)

    assert len(result.documents) == len(load_openfda(SINGLE).documents)
    assert [p.where for p in result.problems] == [str(tmp_path / "b.json")]
    assert "duplicate label" in result.problems[0].message


def test_bad_shapes_are_problems(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps({"results": "not a list"}))
    (tmp_path / "error.json").write_text(
        json.dumps({"error": {"code": "NOT_FOUND", "message": "No matches found!"}})
    )
    (tmp_path / "record.json").write_text(
        json.dumps({"results": ["text", {"set_id": "x-1", "boxed_warning": "not a list"}]})
    )

    result = load_openfda(tmp_path)

    assert result.documents == []
    messages = {p.where: p.message for p in result.problems}
    assert messages[str(tmp_path / "array.json")] == "'results' must be a list of label records"
    assert messages[str(tmp_path / "error.json")] == "openFDA error response: No matches found!"
    assert messages[f"{tmp_path / 'record.json'}:1"] == "a label record must be a JSON object"
    record_2 = [p.message for p in result.problems if p.where == f"{tmp_path / 'record.json'}:2"]
    assert "field 'boxed_warning' is not a list of strings; skipped" in record_2


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    result = load_openfda(tmp_path / "absent.json")

    assert result.documents == []
    assert [p.message for p in result.problems] == ["file or directory does not exist"]
