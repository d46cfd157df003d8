from pathlib import Path

import pytest

from corpus.loaders.pack import load_pack

GOOD_FRONT = """---
id: {id}
title: A title
source_type: guideline
organization: Test Org
year: 2020
doi: 10.1000/xyz123
sources:
  - "A named source."
review_status: pending clinical review
last_reviewed: 2026-11-21
license: CC-BY-4.0
---
# A title

Body text with 5 mg.
"""


def test_fixture_pack_loads_with_citation_data(fixture_pack: Path) -> None:
    result = load_pack(fixture_pack)
    assert result.problems == []
    docs = {d.id: d for d in result.documents}
    assert set(docs) == {
        "fixture-argatroban",
        "fixture-bivalirudin",
        "fixture-heparin-resistance",
        "fixture-warfarin",
    }
    biv = docs["fixture-bivalirudin"]
    assert (
        biv.source_type == "label"
        and biv.year == 2024
        and biv.review_status == "pending clinical review"
    )
    assert biv.text.startswith("# Bivalirudin") and "---" not in biv.text.splitlines()[0]
    # a DOI without url becomes a resolvable doi.org url
    assert docs["fixture-heparin-resistance"].url == "https://doi.org/10.0000/fixture.heparin"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no-front.md", "# Just a title\n", "missing YAML front matter"),
        ("bad-yaml.md", "---\nid: [unclosed\n---\nbody\n", "not valid YAML"),
        (
            "missing.md",
            GOOD_FRONT.format(id="missing").replace("organization: Test Org\n", ""),
            "organization",
        ),
        ("wrong-id.md", GOOD_FRONT.format(id="other-id"), "must equal the file name"),
        (
            "no-source.md",
            GOOD_FRONT.format(id="no-source").replace("doi: 10.1000/xyz123\n", ""),
            "primary source",
        ),
        (
            "bad-type.md",
            GOOD_FRONT.format(id="bad-type").replace("guideline", "blog"),
            "source_type",
        ),
        ("notes.txt", "plain notes", "not a Markdown"),
    ],
    ids=[
        "no-front-matter",
        "bad-yaml",
        "missing-field",
        "id-mismatch",
        "no-primary-source",
        "bad-source-type",
        "not-markdown",
    ],
)
def test_a_bad_file_is_reported_and_the_rest_loads(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / "good.md").write_text(GOOD_FRONT.format(id="good"), encoding="utf-8")
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = load_pack(tmp_path)
    assert [d.id for d in result.documents] == ["good"]
    assert len(result.problems) == 1
    assert name in result.problems[0].where and message in result.problems[0].message


def test_a_binary_file_named_md_is_reported(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(GOOD_FRONT.format(id="good"), encoding="utf-8")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = load_pack(tmp_path)
    assert [d.id for d in result.documents] == ["good"]
    assert "binary" in result.problems[0].message


def test_missing_pack_directory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = load_pack(tmp_path / "nope")
    assert result.documents == [] and "does not exist" in result.problems[0].message
