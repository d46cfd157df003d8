from corpus.chunking import ChunkingSettings, chunk_document
from corpus.types import Document


def _doc(text: str, section: str | None = None) -> Document:
    return Document(id="d1", title="T", text=text, source_type="label", section=section)


def _check_offsets(doc: Document) -> list:
    chunks = chunk_document(doc, ChunkingSettings(max_chars=200))
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.id == f"d1#{c.start}-{c.end}"
    assert len({c.id for c in chunks}) == len(chunks)
    return chunks


def test_chunks_never_cross_a_heading_and_carry_the_section_path() -> None:
    text = "# Drug\n\n## Dosing\nGive 5 mg.\n\n## Renal\nHalve it below CrCl 30 mL/min.\n"
    chunks = _check_offsets(_doc(text))
    assert [c.section_path for c in chunks] == [("Drug", "Dosing"), ("Drug", "Renal")]
    assert chunks[0].text.startswith("# Drug")  # a bare title joins the first section
    assert "CrCl 30" not in chunks[0].text


def test_a_table_is_never_split_even_when_larger_than_max() -> None:
    rows = "\n".join(f"| {w} kg | {w // 10} mg |" for w in range(40, 140, 5))
    text = f"## Weight bands\n| Weight | Dose |\n|---|---|\n{rows}\n\nAfter the table."
    chunks = _check_offsets(_doc(text))
    table_chunks = [c for c in chunks if "| Weight | Dose |" in c.text]
    assert len(table_chunks) == 1
    assert "| 135 kg | 13 mg |" in table_chunks[0].text  # last dose row stays with its header


def test_long_paragraph_is_cut_at_sentences_not_inside_decimals() -> None:
    sentence = (
        "Argatroban is started at 0.5 mcg/kg/min in hepatic impairment, e.g. moderate disease. "
    )
    text = "## Hepatic\n" + sentence * 8
    chunks = _check_offsets(_doc(text.strip()))
    assert len(chunks) > 1
    for c in chunks:
        assert "0." not in c.text[-3:]  # no chunk ends in the middle of "0.5"
        assert c.text.endswith("disease.")


def test_a_sentence_longer_than_max_is_cut_at_whitespace() -> None:
    text = "word " * 200
    chunks = _check_offsets(_doc(text.strip()))
    assert all(len(c.text) <= 200 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_plain_text_keeps_the_document_section_as_path() -> None:
    chunks = _check_offsets(_doc("Line one.\nLine two.", section="Dosage"))
    assert chunks[0].section_path == ("Dosage",)


def test_chunk_ids_are_stable_across_runs() -> None:
    doc = _doc("## A\ntext one\n## B\ntext two")
    assert [c.id for c in chunk_document(doc)] == [c.id for c in chunk_document(doc)]
