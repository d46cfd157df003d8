import pytest

from retrieval.tokenize import tokenize


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("argatroban and bivalirudin", ["argatroban", "bivalirudin"]),
        ("0.15 mg/kg/h", ["0.15", "mg", "kg", "h"]),
        ("CrCl < 30 mL/min", ["crcl", "30", "ml", "min"]),
        ("more than 35,000 units/day", ["35000", "unit"]),
        ("5 µg", ["5", "μg"]),
        ("q12h dosing", ["q12h", "dose"]),
        ("anti-Xa level", ["anti", "xa", "level"]),
    ],
    ids=["drug-names", "decimal", "crcl", "thousands", "micro-sign", "frequency", "hyphen"],
)
def test_clinical_tokens_survive(text: str, must_contain: list[str]) -> None:
    tokens = tokenize(text)
    for tok in must_contain:
        assert tok in tokens


def test_question_words_and_stopwords_are_dropped() -> None:
    assert tokenize("What is the dose of the drug?") == ["dose", "drug"]


def test_a_typing_slip_is_read_as_the_word_it_slipped_from() -> None:
    from retrieval.bm25 import BM25Index
    from retrieval.tokenize import tokenize

    index = BM25Index.build(
        [
            "Pyroptosis is a lytic form of programmed cell death.",
            "Proptosis is a forward displacement of the eye.",
        ]
    )
    typed = tokenize("pryoptosis")[0]  # two letters swapped
    assert index.near(typed) == tokenize("pyroptosis")[0]
    assert index.near(tokenize("zzzzzzzz")[0]) is None


def test_tokenize_from_many_threads_matches_one_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [
        f"patients receiving doses {i} of anticoagulants, stopping bleeding" for i in range(400)
    ]
    alone = [tokenize(t) for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(tokenize, texts))
    assert together == alone
