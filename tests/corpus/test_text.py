import pytest

from corpus.text import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", ["One.", "Two."]),
        ("Give 0.15 mg/kg/h. Then stop.", ["Give 0.15 mg/kg/h.", "Then stop."]),
        (
            "Use an anticoagulant, e.g. Argatroban, now. Next.",
            ["Use an anticoagulant, e.g. Argatroban, now.", "Next."],
        ),
        ("Warren B. L. et al. reported it. Fine.", ["Warren B. L. et al. reported it.", "Fine."]),
        (
            "Target INR 2.0 to 3.0 (not higher). 5 mg daily.",
            ["Target INR 2.0 to 3.0 (not higher).", "5 mg daily."],
        ),
        ("  padded  ", ["padded"]),
        ("", []),
    ],
    ids=["simple", "decimal", "eg", "initials", "digit-start", "strip", "empty"],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_markers_after_the_full_stop_stay_with_their_sentence() -> None:
    from corpus.text import sentence_spans

    text = "Apixaban 5 mg twice daily. [1]\nNext one. [2][3] And more.\n- Bullet [4]"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Apixaban 5 mg twice daily. [1]",
        "Next one. [2][3]",
        "And more.",
        "- Bullet [4]",
    ]
